package api

import (
	"log/slog"
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"smmapi/service"
)

// request is what an action adapter gets: the API version, the caller and
// the parsed parameters.
type request struct {
	version int
	acct    service.Account
	p       params
}

// adapter runs one action for an authenticated request.
type adapter func(c echo.Context, r request) error

// publicAPI dispatches /api/v2 and /api/v3 on the action parameter.
type publicAPI struct {
	a       *service.Actions
	actions map[string]adapter
}

// NewPublic returns the public reseller API server.
func NewPublic(a *service.Actions, checks Checks, log *slog.Logger) *echo.Echo {
	e := newEcho(log)
	e.HTTPErrorHandler = PublicErrorHandler(log)
	p := &publicAPI{a: a}
	// The action table: every public action and the adapter serving it.
	p.actions = map[string]adapter{
		"services": p.services,
		"balance":  p.balance,
	}
	for _, v := range []struct {
		path    string
		version int
	}{{"/api/v2", 2}, {"/api/v2/", 2}, {"/api/v3", 3}, {"/api/v3/", 3}} {
		e.Match([]string{http.MethodGet, http.MethodPost}, v.path, p.dispatch(v.version))
	}
	checks.register(e)
	return e
}

func newEcho(log *slog.Logger) *echo.Echo {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.Logger.SetOutput(slog.NewLogLogger(log.Handler(), slog.LevelWarn).Writer())
	e.Use(middleware.RequestID())
	e.Use(middleware.RecoverWithConfig(middleware.RecoverConfig{DisablePrintStack: true}))
	return e
}

// dispatch checks, in the spec's order: body, key, action, then parameters.
func (p *publicAPI) dispatch(version int) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		ps, err := parseParams(req)
		if err != nil {
			return err
		}
		acct, err := p.a.Auth.Authenticate(req.Context(), ps["key"], service.NormalizeHost(req.Host))
		if err != nil {
			return err
		}
		run, ok := p.actions[ps["action"]]
		if !ok {
			return errIncorrectRequest
		}
		return run(c, request{version: version, acct: acct, p: ps})
	}
}

func (p *publicAPI) services(c echo.Context, r request) error {
	out, err := p.a.Services.Do(c.Request().Context(), r.version)
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, out)
}

func (p *publicAPI) balance(c echo.Context, r request) error {
	out, err := p.a.Balance.Do(c.Request().Context(), r.acct)
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, out)
}
