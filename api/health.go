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

// run asks every dependency at once, each within timeout, and reports
// which answered: /readyz and the smmapi_dependency_up gauge both ask this way.
func (cs Checks) run(ctx context.Context, timeout time.Duration) map[string]bool {
	out := make(map[string]bool, len(cs))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for name, check := range cs {
		wg.Go(func() {
			cctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			up := check(cctx) == nil
			mu.Lock()
			defer mu.Unlock()
			out[name] = up
		})
	}
	wg.Wait()
	return out
}

// register adds /healthz and /readyz, without authentication.
func (cs Checks) register(e *echo.Echo) {
	e.GET("/healthz", func(c echo.Context) error {
		return writeJSON(c, http.StatusOK, map[string]string{"status": "ok"})
	})
	e.GET("/readyz", func(c echo.Context) error {
		body := map[string]any{}
		var down []string
		for name, up := range cs.run(c.Request().Context(), checkTimeout) {
			body[name] = map[bool]string{true: "up", false: "down"}[up]
			if !up {
				down = append(down, name)
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
