package api

import (
	"context"
	"net/http"

	"github.com/labstack/echo/v4"

	"smmapi/service"
)

// webhookRoutes adds accounts' webhook endpoints and their delivery log.
func (h *internalAPI) webhookRoutes(g *echo.Group) {
	g.PUT("/users/:id/webhook", h.putWebhook)
	g.GET("/users/:id/webhook", h.getWebhook)
	g.DELETE("/users/:id/webhook", h.deleteWebhook)
	g.POST("/users/:id/webhook/rotate-secret", h.rotateWebhookSecret)
	g.GET("/users/:id/webhook/deliveries", h.listDeliveries)
	g.POST("/webhook-deliveries/:id/redeliver", h.redeliver)
}

func (h *internalAPI) putWebhook(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	var in service.WebhookInput
	if err := bindJSON(c, &in); err != nil {
		return err
	}
	out, created, err := h.a.Webhooks.Put(c.Request().Context(), id, in)
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	return respond(c, status, out, err)
}

func (h *internalAPI) getWebhook(c echo.Context) error {
	return byPathID(c, http.StatusOK, h.a.Webhooks.Get)
}

func (h *internalAPI) deleteWebhook(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	if err := h.a.Webhooks.Delete(c.Request().Context(), id); err != nil {
		return err
	}
	return noContent(c)
}

func (h *internalAPI) rotateWebhookSecret(c echo.Context) error {
	return byPathID(c, http.StatusOK, h.a.Webhooks.RotateSecret)
}

func (h *internalAPI) listDeliveries(c echo.Context) error {
	id, p, err := idPage(c)
	if err != nil {
		return err
	}
	out, err := h.a.Webhooks.Deliveries(c.Request().Context(), id, c.QueryParam("status"), p)
	return respond(c, http.StatusOK, out, err)
}

func (h *internalAPI) redeliver(c echo.Context) error {
	return byPathID(c, http.StatusAccepted, h.a.Webhooks.Redeliver)
}

// byPathID answers what fn gives for the path's ID.
func byPathID[T any](c echo.Context, status int, fn func(context.Context, uint64) (T, error)) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	out, err := fn(c.Request().Context(), id)
	return respond(c, status, out, err)
}
