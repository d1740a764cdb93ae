package api

import (
	"context"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
)

// Checks are the dependencies /readyz asks, by name ("database", "redis").
type Checks map[string]func(ctx context.Context) error

// checkTimeout bounds each check on its own: they run in parallel, so a
// silent database can never use up Redis's time and get Redis blamed.
const checkTimeout = 1500 * time.Millisecond

// register adds /healthz and /readyz, without authentication.
func (cs Checks) register(e *echo.Echo) {
	e.GET("/healthz", func(c echo.Context) error {
		return writeJSON(c, http.StatusOK, map[string]string{"status": "ok"})
	})
	e.GET("/readyz", func(c echo.Context) error {
		body := map[string]any{}
		var down []string
		var mu sync.Mutex
		var wg sync.WaitGroup
		for name, check := range cs {
			wg.Go(func() {
				ctx, cancel := context.WithTimeout(c.Request().Context(), checkTimeout)
				defer cancel()
				state := "up"
				if check(ctx) != nil {
					state = "down"
				}
				mu.Lock()
				defer mu.Unlock()
				body[name] = state
				if state == "down" {
					down = append(down, name)
				}
			})
		}
		wg.Wait()
		if len(down) > 0 {
			sort.Strings(down)
			body["error"] = "unavailable: " + strings.Join(down, ", ")
			return writeJSON(c, http.StatusServiceUnavailable, body)
		}
		body["status"] = "ready"
		return writeJSON(c, http.StatusOK, body)
	})
}
