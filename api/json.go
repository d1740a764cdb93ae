// Package api turns HTTP into service calls: the public reseller API
// (/api/v2, /api/v3) and the internal admin API, each on its own Echo.
// Handlers are thin; errors become HTTP in errors.go only.
package api

import (
	"encoding/json"
	"net/http"

	"github.com/labstack/echo/v4"
)

// writeJSON writes compact JSON with no trailing newline: some clients
// compare bodies byte for byte, and json.Encoder would add "\n".
func writeJSON(c echo.Context, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return c.Blob(status, "application/json", b)
}

// noContent answers 204.
func noContent(c echo.Context) error { return c.NoContent(http.StatusNoContent) }

// respond writes out with status, or passes err on to the error handler.
func respond(c echo.Context, status int, out any, err error) error {
	if err != nil {
		return err
	}
	return writeJSON(c, status, out)
}
