package api

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"smmapi/service"
)

// eventRoutes serves the order events feeds, oldest first.
func (h *internalAPI) eventRoutes(g *echo.Group) {
	g.GET("/events", h.listEvents)
	g.GET("/orders/:id/events", h.orderEvents)
}

func (h *internalAPI) listEvents(c echo.Context) error {
	p, err := page(c)
	if err != nil {
		return err
	}
	f := service.EventFilter{Type: c.QueryParam("type")}
	if f.UserID, err = queryID(c, "user_id"); err != nil {
		return err
	}
	after := c.QueryParam("after")
	if after != "" && after != "0" {
		if _, err := queryID(c, "after"); err != nil {
			return err
		}
	}
	out, err := h.a.Events.List(c.Request().Context(), f, c.QueryParam("order"), after, p)
	return respond(c, http.StatusOK, out, err)
}

func (h *internalAPI) orderEvents(c echo.Context) error {
	p, err := page(c)
	if err != nil {
		return err
	}
	out, err := h.a.Events.ForOrder(c.Request().Context(), c.Param("id"), p)
	return respond(c, http.StatusOK, out, err)
}
