package api

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"smmapi/service"
)

// supplierRoutes adds suppliers and order reconciliation to the internal API.
func (h *internalAPI) supplierRoutes(g *echo.Group) {
	g.POST("/suppliers", h.createSupplier)
	g.GET("/suppliers", h.listSuppliers)
	g.PATCH("/suppliers/:id", h.patchSupplier)
	g.GET("/suppliers/:id/balance", h.supplierBalance)
	g.GET("/suppliers/:id/services", h.supplierServices)
	g.POST("/orders/:id/reconcile", h.reconcileOrder)
}

func (h *internalAPI) createSupplier(c echo.Context) error {
	var in service.SupplierInput
	if err := bindJSON(c, &in); err != nil {
		return err
	}
	out, err := h.a.Suppliers.Create(c.Request().Context(), in)
	return respond(c, http.StatusCreated, out, err)
}

func (h *internalAPI) listSuppliers(c echo.Context) error {
	p, err := page(c)
	if err != nil {
		return err
	}
	out, err := h.a.Suppliers.List(c.Request().Context(), p)
	return respond(c, http.StatusOK, out, err)
}

func (h *internalAPI) patchSupplier(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	var in service.SupplierInput
	if err := bindJSON(c, &in); err != nil {
		return err
	}
	out, err := h.a.Suppliers.Patch(c.Request().Context(), id, in)
	return respond(c, http.StatusOK, out, err)
}

// supplierBalance and supplierServices relay the supplier's live JSON.
func (h *internalAPI) supplierBalance(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	out, err := h.a.Suppliers.Balance(c.Request().Context(), id)
	if err != nil {
		return err
	}
	return c.Blob(http.StatusOK, "application/json", out)
}

func (h *internalAPI) supplierServices(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	out, err := h.a.Suppliers.Services(c.Request().Context(), id)
	if err != nil {
		return err
	}
	return c.Blob(http.StatusOK, "application/json", out)
}

func (h *internalAPI) reconcileOrder(c echo.Context) error {
	var in service.ReconcileInput
	if err := bindJSON(c, &in); err != nil {
		return err
	}
	o, err := h.a.Fulfil.Reconcile(c.Request().Context(), c.Param("id"), in)
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, h.a.Orders.View(o))
}
