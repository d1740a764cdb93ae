package api

import (
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"smmapi/service"
)

// pricingRoutes adds accounts' own prices to the internal API.
func (h *internalAPI) pricingRoutes(g *echo.Group) {
	g.GET("/users/:id/prices", h.listPrices)
	g.PUT("/users/:id/prices/:service_id", h.putPrice)
	g.DELETE("/users/:id/prices/:service_id", h.deletePrice)
}

// userService reads the account and service IDs of a price's path.
func userService(c echo.Context) (user, svc uint64, err error) {
	if user, err = pathID(c, "id"); err != nil {
		return 0, 0, err
	}
	svc, err = pathID(c, "service_id")
	return user, svc, err
}

func (h *internalAPI) listPrices(c echo.Context) error {
	id, p, err := idPage(c)
	if err != nil {
		return err
	}
	out, err := h.a.Prices.List(c.Request().Context(), id, p)
	return respond(c, http.StatusOK, out, err)
}

func (h *internalAPI) putPrice(c echo.Context) error {
	user, svc, err := userService(c)
	if err != nil {
		return err
	}
	var in service.PriceInput
	if err := bindJSON(c, &in); err != nil {
		return err
	}
	out, err := h.a.Prices.Put(c.Request().Context(), user, svc, in)
	return respond(c, http.StatusOK, out, err)
}

func (h *internalAPI) deletePrice(c echo.Context) error {
	user, svc, err := userService(c)
	if err != nil {
		return err
	}
	if err := h.a.Prices.Delete(c.Request().Context(), user, svc); err != nil {
		return err
	}
	return noContent(c)
}

// catalogChangeRoutes adds imports and the catalog change log.
func (h *internalAPI) catalogChangeRoutes(g *echo.Group) {
	g.POST("/suppliers/:id/import", h.importServices)
	g.GET("/catalog-changes", h.listCatalogChanges)
	g.POST("/catalog-changes/:id/decision", h.decideCatalogChange)
}

func (h *internalAPI) importServices(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	var in service.ImportInput
	if err := bindJSON(c, &in); err != nil {
		return err
	}
	out, err := h.a.CatalogChanges.Import(c.Request().Context(), id, in)
	return respond(c, http.StatusCreated, out, err)
}

func (h *internalAPI) listCatalogChanges(c echo.Context) error {
	p, err := page(c)
	if err != nil {
		return err
	}
	var f service.CatalogChangeFilter
	for _, q := range []struct {
		name string
		out  *uint64
	}{{"service_id", &f.ServiceID}, {"supplier_id", &f.SupplierID}} {
		if v := c.QueryParam(q.name); v != "" {
			if *q.out, err = strconv.ParseUint(v, 10, 64); err != nil {
				return echo.NewHTTPError(http.StatusBadRequest, q.name+" must be a whole number")
			}
		}
	}
	f.Status = c.QueryParam("status")
	out, err := h.a.CatalogChanges.List(c.Request().Context(), f, p)
	return respond(c, http.StatusOK, out, err)
}

func (h *internalAPI) decideCatalogChange(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	var in service.DecisionInput
	if err := bindJSON(c, &in); err != nil {
		return err
	}
	out, err := h.a.CatalogChanges.Decide(c.Request().Context(), id, in)
	return respond(c, http.StatusOK, out, err)
}
