package api

import (
	"errors"
	"net/http"
	"os"
	"time"

	"github.com/labstack/echo/v4"

	"smmapi/service"
)

// DefaultBodyTimeout bounds how long a public request's body may take to
// arrive once its headers have: an honest client sends a form of a few
// hundred bytes at once, and a stalled one must not hold a connection and
// its buffers for the server's whole read timeout.
const DefaultBodyTimeout = 10 * time.Second

// errBodyTimeout answers a body that stalled: 408 with the spec's text.
var errBodyTimeout = echo.NewHTTPError(http.StatusRequestTimeout, service.MsgIncorrectRequest)

// WithBodyTimeout sets the public API's body timeout (0: DefaultBodyTimeout).
func WithBodyTimeout(d time.Duration) Option {
	return func(o *serverOptions) { o.bodyTimeout = d }
}

// bodyDeadline sets the connection's read deadline for the body; a writer
// that cannot (a test recorder) keeps the server's own read timeout. A
// request without a body (GET with a query) has nothing to wait for.
func bodyDeadline(c echo.Context, d time.Duration) {
	if b := c.Request().Body; b == nil || b == http.NoBody {
		return
	}
	if d <= 0 {
		d = DefaultBodyTimeout
	}
	_ = http.NewResponseController(c.Response()).SetReadDeadline(time.Now().Add(d))
}

// bodyTimedOut tells a body read that hit the deadline from a malformed one.
func bodyTimedOut(err error) bool { return errors.Is(err, os.ErrDeadlineExceeded) }
