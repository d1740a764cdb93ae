package api

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

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
	guard   *guard
	// bodyTimeout bounds the body's arrival (DefaultBodyTimeout when 0).
	bodyTimeout time.Duration
}

// NewPublic returns the public reseller API server.
func NewPublic(a *service.Actions, lim Limiter, limits Limits, checks Checks, log *slog.Logger, opts ...Option) *echo.Echo {
	o := options(opts)
	e := newEcho("public", o, log)
	e.HTTPErrorHandler = PublicErrorHandler(log)
	p := &publicAPI{a: a, guard: &guard{lim: lim, limits: limits, log: log, m: o.metrics}, bodyTimeout: o.bodyTimeout}
	// The action table: every public action and the adapter serving it.
	p.actions = map[string]adapter{
		"services":      p.services,
		"add":           p.add,
		"status":        p.status,
		"refill":        p.refill,
		"refill_status": p.refillStatus,
		"cancel":        p.cancel,
		"balance":       p.balance,
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

func newEcho(api string, o serverOptions, log *slog.Logger) *echo.Echo {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.Logger.SetOutput(slog.NewLogLogger(log.Handler(), slog.LevelWarn).Writer())
	// The peer address, never a header anyone can forge; the public API
	// resolves trusted proxies itself.
	e.IPExtractor = echo.ExtractIPDirect()
	e.Use(requestID())
	e.Use(observe(api, o.metrics, o.accessLog))
	e.Use(requestTimeout(requestBudget))
	return e
}

// dispatch checks, in the spec's order: body, key, action, then parameters;
// lockouts and the per-IP limit come first, so abuse never reaches the
// database, and the per-key limit right after authentication.
func (p *publicAPI) dispatch(version int) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		ctx := req.Context()
		ip := clientIP(req, p.guard.limits.TrustedProxies)
		ri := info(c)
		ri.version, ri.ip = versions[version], ip
		if err := p.guard.before(ctx, ip); err != nil {
			return err
		}
		bodyDeadline(c, p.bodyTimeout)
		ps, err := parseParams(req)
		if err != nil {
			return err
		}
		acct, err := p.a.Auth.Authenticate(ctx, ps["key"], service.NormalizeHost(req.Host))
		if service.ErrorCode(err) == service.ErrUnauthorized {
			p.guard.authFailed(ctx, ip)
		}
		if err != nil {
			return err
		}
		ri.account, ri.hasAccount = acct.UserID, true
		if err := p.guard.after(ctx, acct); err != nil {
			return err
		}
		run, ok := p.actions[ps["action"]]
		if !ok {
			ri.action = "unknown"
			return errIncorrectRequest
		}
		ri.action = ps["action"]
		return run(c, request{version: version, acct: acct, p: ps})
	}
}

// services writes the pre-serialized catalog, gzipped when the client
// accepts it.
func (p *publicAPI) services(c echo.Context, r request) error {
	gz := acceptsGzip(c.Request().Header.Get("Accept-Encoding"))
	b, err := p.a.Services.Do(c.Request().Context(), r.acct.Pricing, r.version, gz)
	if err != nil {
		return err
	}
	h := c.Response().Header()
	h.Add("Vary", "Accept-Encoding")
	if gz {
		h.Set("Content-Encoding", "gzip")
		return c.Blob(http.StatusOK, "application/json", b.Gzip)
	}
	if b.JSON != nil {
		return c.Blob(http.StatusOK, "application/json", b.JSON)
	}
	// A price list's answer: the common answer's pieces and its rates.
	h.Set(echo.HeaderContentType, "application/json")
	h.Set(echo.HeaderContentLength, strconv.Itoa(b.Len()))
	c.Response().WriteHeader(http.StatusOK)
	return b.WriteJSON(c.Response())
}

// acceptsGzip reads Accept-Encoding, honouring "gzip;q=0".
func acceptsGzip(ae string) bool {
	for _, part := range strings.Split(ae, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(name), "gzip") {
			q := strings.ReplaceAll(strings.TrimSpace(params), " ", "")
			return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
		}
	}
	return false
}

func (p *publicAPI) add(c echo.Context, r request) error {
	in := service.AddInput{Service: r.p["service"], Link: r.p["link"], Quantity: r.p["quantity"],
		Runs: r.p["runs"], Interval: r.p["interval"], Comments: r.p["comments"], Username: r.p["username"],
		Extra: map[string]string{}}
	for _, k := range service.ExtraParams {
		if v, ok := r.p[k]; ok {
			in.Extra[k] = v
		}
	}
	out, err := p.a.Add.Do(c.Request().Context(), r.acct, in)
	return respond(c, http.StatusOK, out, err)
}

// status, refill and refill_status take a list (orders, refills) or one ID
// (order, refill); a non-empty list wins.
func (p *publicAPI) status(c echo.Context, r request) error {
	return oneOrMany(c, r, "orders", "order", p.a.Status.Many, p.a.Status.One)
}

func (p *publicAPI) refill(c echo.Context, r request) error {
	return oneOrMany(c, r, "orders", "order", p.a.Refill.Many, p.a.Refill.One)
}

func (p *publicAPI) refillStatus(c echo.Context, r request) error {
	return oneOrMany(c, r, "refills", "refill", p.a.RefillStatus.Many, p.a.RefillStatus.One)
}

// oneOrMany answers with many when the list parameter has content, else
// with one when the single parameter does, else "Incorrect request".
func oneOrMany[M, O any](c echo.Context, r request, list, single string,
	many func(context.Context, service.Account, string) (M, error),
	one func(context.Context, service.Account, string) (O, error)) error {
	ctx := c.Request().Context()
	if ids, ok := r.list(list); ok {
		out, err := many(ctx, r.acct, ids)
		return respond(c, http.StatusOK, out, err)
	}
	if id, ok := r.one(single); ok {
		out, err := one(ctx, r.acct, id)
		return respond(c, http.StatusOK, out, err)
	}
	return errIncorrectRequest
}

// cancel always answers a list, also for a lone order.
func (p *publicAPI) cancel(c echo.Context, r request) error {
	ids, ok := r.list("orders")
	if !ok {
		if ids, ok = r.one("order"); !ok {
			return errIncorrectRequest
		}
	}
	out, err := p.a.Cancel.Do(c.Request().Context(), r.acct, ids)
	return respond(c, http.StatusOK, out, err)
}

func (p *publicAPI) balance(c echo.Context, r request) error {
	out, err := p.a.Balance.Do(c.Request().Context(), r.acct)
	return respond(c, http.StatusOK, out, err)
}

// list returns a list parameter when it has any content.
func (r request) list(name string) (string, bool) {
	v := r.p[name]
	return v, strings.TrimSpace(v) != ""
}

// one returns a single-ID parameter when it is not blank.
func (r request) one(name string) (string, bool) {
	v := strings.TrimSpace(r.p[name])
	return v, v != ""
}

var versions = map[int]string{2: "v2", 3: "v3"}

// requestBudget bounds the work one request may cause: past it, database
// calls fail with a deadline and the client gets a 503 instead of a hang.
const requestBudget = 20 * time.Second

func requestTimeout(d time.Duration) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			req := c.Request()
			b := newBudget(req.Context(), time.Now().Add(d))
			defer b.stop()
			c.SetRequest(req.WithContext(b))
			return next(c)
		}
	}
}
