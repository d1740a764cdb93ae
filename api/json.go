// Package api turns HTTP into service calls: the public reseller API
// (/api/v2, /api/v3) and the internal admin API, each on its own Echo.
// Handlers are thin; errors become HTTP in errors.go only.
package api

import (
	"encoding/json"
	"net/http"
	"sync"

	"github.com/labstack/echo/v4"
)

// bufs holds answer buffers: a hot answer is appended into one and the
// buffer is reused once the response has copied it out.
var bufs = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// writeJSON writes compact JSON with no trailing newline: some clients
// compare bodies byte for byte, and json.Encoder would add "\n".
func writeJSON(c echo.Context, status int, v any) error {
	p := bufs.Get().(*[]byte)
	if b, ok := appendAnswer((*p)[:0], v); ok {
		err := c.Blob(status, "application/json", b)
		if cap(b) <= 64<<10 { // keep the pool small: a rare huge answer is let go
			*p = b
			bufs.Put(p)
		}
		return err
	}
	bufs.Put(p)
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
