package api

import (
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"smmapi/service"
)

// errBodyTooLarge is returned by the parameter parser past the body limit.
var errBodyTooLarge = echo.NewHTTPError(http.StatusRequestEntityTooLarge, service.MsgIncorrectRequest)

// PublicErrorHandler maps errors to the reseller API's shapes: business
// errors answer HTTP 200 {"error":"<text>"}, because many clients drop 4xx
// bodies; only throttling, oversize bodies and faults use other statuses.
func PublicErrorHandler(log *slog.Logger) echo.HTTPErrorHandler {
	faults := newFaultLog(log)
	return func(err error, c echo.Context) {
		if c.Response().Committed {
			return
		}
		status, msg := http.StatusOK, service.ErrorMessage(err)
		info(c).outcome = service.ErrorCode(err)
		var he *echo.HTTPError
		switch {
		case errors.As(err, &he):
			info(c).outcome = "http_" + strconv.Itoa(he.Code)
			status, msg = he.Code, service.MsgIncorrectRequest
			if he.Code == http.StatusNotFound {
				msg = "Not found"
			}
		default:
			switch service.ErrorCode(err) {
			case service.ErrRateLimited:
				status, msg = http.StatusTooManyRequests, service.MsgTooManyRequests
				setRetryAfter(c, err)
			case service.ErrUnavailable:
				status, msg = http.StatusServiceUnavailable, service.MsgUnavailable
				faults.unavailable(c, err)
			case service.ErrInternal:
				status, msg = http.StatusInternalServerError, "Internal error"
				logFault(log, c, err)
			}
		}
		_ = writeJSON(c, status, service.ItemError{Error: msg})
	}
}

// InternalErrorHandler maps errors to the internal API's statuses.
func InternalErrorHandler(log *slog.Logger) echo.HTTPErrorHandler {
	faults := newFaultLog(log)
	return func(err error, c echo.Context) {
		if c.Response().Committed {
			return
		}
		var he *echo.HTTPError
		if errors.As(err, &he) {
			info(c).outcome = "http_" + strconv.Itoa(he.Code)
			msg := http.StatusText(he.Code)
			if m, ok := he.Message.(string); ok {
				msg = m
			}
			_ = writeJSON(c, he.Code, map[string]string{"error": msg})
			return
		}
		status := http.StatusInternalServerError
		body := map[string]any{"error": service.ErrorMessage(err)}
		info(c).outcome = service.ErrorCode(err)
		switch service.ErrorCode(err) {
		case service.ErrInvalid:
			status = http.StatusBadRequest
		case service.ErrUnauthorized:
			status = http.StatusUnauthorized
		case service.ErrNotFound:
			status = http.StatusNotFound
		case service.ErrConflict, service.ErrInsufficientFunds:
			status = http.StatusConflict
		case service.ErrRateLimited:
			status = http.StatusTooManyRequests
			body["retry_after"] = setRetryAfter(c, err)
		case service.ErrUnavailable:
			status = http.StatusServiceUnavailable
			faults.unavailable(c, err)
		default:
			logFault(log, c, err)
		}
		_ = writeJSON(c, status, body)
	}
}

// setRetryAfter sets the Retry-After header and returns its seconds.
func setRetryAfter(c echo.Context, err error) int64 {
	var e *service.Error
	secs := int64(1)
	if errors.As(err, &e) && e.RetryAfter > 0 {
		secs = int64(e.RetryAfter.Seconds())
	}
	c.Response().Header().Set("Retry-After", strconv.FormatInt(secs, 10))
	return secs
}

// faultLog logs 503s throttled: an unreachable dependency fails every
// request with the same cause, which the breaker has logged already; one
// warning per second (with the count suppressed) says it is still so.
type faultLog struct{ t *service.LogThrottle }

func newFaultLog(log *slog.Logger) faultLog {
	return faultLog{t: service.NewLogThrottle(log, time.Second, time.Now)}
}

func (f faultLog) unavailable(c echo.Context, err error) {
	f.t.Log(c.Request().Context(), slog.LevelWarn, "unavailable", "request failed: dependency unavailable",
		"request_id", c.Response().Header().Get(echo.HeaderXRequestID),
		"method", c.Request().Method, "path", c.Request().URL.Path, "err", err)
}

// logFault logs an internal cause once, with the request ID; the client
// only ever sees the generic text.
func logFault(log *slog.Logger, c echo.Context, err error) {
	log.ErrorContext(c.Request().Context(), "request failed",
		"request_id", c.Response().Header().Get(echo.HeaderXRequestID),
		"method", c.Request().Method, "path", c.Request().URL.Path, "err", err)
}
