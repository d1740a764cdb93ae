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

// publishWait bounds the wait for an invalidation: the admin answer waits
// for the other instances to drop their caches (the bus's own bound is 1 s),
// but never long on a silent Redis; an unconfirmed one still reaches every
// instance within the database epoch poll (store.Epochs).
const publishWait = 1500 * time.Millisecond

// publishChanges publishes the route's topic once its change succeeded.
func publishChanges(bus service.Bus, log *slog.Logger, m *Metrics) echo.MiddlewareFunc {
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
				ctx, cancel := context.WithTimeout(context.WithoutCancel(c.Request().Context()), publishWait)
				defer cancel()
				if err := bus.Publish(ctx, topic); err != nil {
					// The change stands and answers as usual: instances that
					// missed the event drop their caches at their next epoch
					// poll, or bypass them while they cannot tell.
					m.unconfirmed.Inc()
					log.WarnContext(ctx, "cache invalidation not confirmed", "topic", topic,
						"request_id", c.Response().Header().Get(echo.HeaderXRequestID), "err", err)
				}
			})
			return next(c)
		}
	}
}
