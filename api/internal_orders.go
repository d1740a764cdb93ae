package api

import (
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"smmapi/model"
	"smmapi/service"
)

// orderRoutes adds orders and tickets to the internal API.
func (h *internalAPI) orderRoutes(g *echo.Group) {
	g.GET("/orders", h.listOrders)
	g.GET("/orders/:id", h.getOrder)
	g.PATCH("/orders/:id", h.patchOrder)
	g.POST("/orders/:id/posts", h.recordPost)
	g.GET("/tickets", h.listTickets)
	g.POST("/tickets/:id/decision", h.decideTicket)
}

// queryID reads an optional numeric filter; 0 when absent.
func queryID(c echo.Context, name string) (uint64, error) {
	s := c.QueryParam(name)
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || n == 0 {
		return 0, echo.NewHTTPError(http.StatusBadRequest, name+" must be a positive whole number")
	}
	return n, nil
}

func (h *internalAPI) listOrders(c echo.Context) error {
	p, err := page(c)
	if err != nil {
		return err
	}
	f := service.OrderFilter{Status: model.Status(c.QueryParam("status"))}
	for _, q := range []struct {
		name string
		dst  *uint64
	}{{"user_id", &f.UserID}, {"service_id", &f.ServiceID}, {"site_id", &f.SiteID}} {
		if *q.dst, err = queryID(c, q.name); err != nil {
			return err
		}
	}
	out, err := h.a.Orders.List(c.Request().Context(), f, p)
	return respond(c, http.StatusOK, out, err)
}

func (h *internalAPI) getOrder(c echo.Context) error {
	out, err := h.a.Orders.Get(c.Request().Context(), c.Param("id"))
	return respond(c, http.StatusOK, out, err)
}

func (h *internalAPI) patchOrder(c echo.Context) error {
	var in service.OrderPatch
	if err := bindJSON(c, &in); err != nil {
		return err
	}
	out, err := h.a.Orders.Patch(c.Request().Context(), c.Param("id"), in)
	return respond(c, http.StatusOK, out, err)
}

func (h *internalAPI) recordPost(c echo.Context) error {
	var in service.PostInput
	if err := bindJSON(c, &in); err != nil {
		return err
	}
	out, err := h.a.Subscriptions.RecordPost(c.Request().Context(), c.Param("id"), in)
	return respond(c, http.StatusCreated, out, err)
}

func (h *internalAPI) listTickets(c echo.Context) error {
	p, err := page(c)
	if err != nil {
		return err
	}
	f := service.TicketFilter{Type: model.TicketType(c.QueryParam("type")),
		Status: model.TicketStatus(c.QueryParam("status"))}
	if f.UserID, err = queryID(c, "user_id"); err != nil {
		return err
	}
	out, err := h.a.Tickets.List(c.Request().Context(), f, p)
	return respond(c, http.StatusOK, out, err)
}

func (h *internalAPI) decideTicket(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	var in service.Decision
	if err := bindJSON(c, &in); err != nil {
		return err
	}
	out, err := h.a.Tickets.Decide(c.Request().Context(), id, in)
	return respond(c, http.StatusOK, out, err)
}
