package api

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"smmapi/service"
)

// changeTopics maps internal routes whose success changes what the public
// API caches to the event that drops those caches on every instance.
var changeTopics = map[string]string{
	http.MethodPatch + " /internal/v1/users/:id":                    service.TopicKeys,
	http.MethodPost + " /internal/v1/users/:id/api-keys":            service.TopicKeys,
	http.MethodDelete + " /internal/v1/users/:id/api-keys/:site_id": service.TopicKeys,
	http.MethodPost + " /internal/v1/sites":                         service.TopicKeys,
	http.MethodPatch + " /internal/v1/sites/:id":                    service.TopicKeys, // accounts that inherit its ID format
	http.MethodPost + " /internal/v1/services":                      service.TopicCatalog,
	http.MethodPatch + " /internal/v1/services/:id":                 service.TopicCatalog,
}

// publishChanges publishes the route's topic once its change succeeded.
func publishChanges(bus service.Bus, log *slog.Logger) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			topic, ok := changeTopics[c.Request().Method+" "+c.Path()]
			if !ok {
				return next(c)
			}
			// Before the status line is written, so that when the admin
			// frontend hears "done" no instance serves the old state.
			c.Response().Before(func() {
				if c.Response().Status >= 300 {
					return
				}
				// Longer than the bus's own wait for confirmations (2 s).
				ctx, cancel := context.WithTimeout(context.WithoutCancel(c.Request().Context()), 5*time.Second)
				defer cancel()
				if err := bus.Publish(ctx, topic); err != nil {
					// Other instances' caches expire within their TTL, and a
					// bus that is down bypasses caches anyway.
					log.WarnContext(ctx, "publish cache invalidation", "topic", topic, "err", err)
				}
			})
			err := next(c)
			return err
		}
	}
}
