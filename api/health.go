package api

import (
	"context"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
)

// Checks are the dependencies /readyz asks, by name ("database", "redis").
type Checks map[string]func(ctx context.Context) error

// register adds /healthz and /readyz, without authentication.
func (cs Checks) register(e *echo.Echo) {
	e.GET("/healthz", func(c echo.Context) error {
		return writeJSON(c, http.StatusOK, map[string]string{"status": "ok"})
	})
	e.GET("/readyz", func(c echo.Context) error {
		ctx, cancel := context.WithTimeout(c.Request().Context(), 2*time.Second)
		defer cancel()
		body := map[string]any{}
		var down []string
		for name, check := range cs {
			if err := check(ctx); err != nil {
				body[name] = "down"
				down = append(down, name)
			} else {
				body[name] = "up"
			}
		}
		if len(down) > 0 {
			sort.Strings(down)
			body["error"] = "unavailable: " + strings.Join(down, ", ")
			return writeJSON(c, http.StatusServiceUnavailable, body)
		}
		body["status"] = "ready"
		return writeJSON(c, http.StatusOK, body)
	})
}
