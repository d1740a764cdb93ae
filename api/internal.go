package api

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"smmapi/service"
)

// internalAPI serves /internal/v1 for the operator's admin frontend.
type internalAPI struct {
	a *service.Actions
}

// NewInternal returns the internal API server. An empty token refuses
// every request.
func NewInternal(a *service.Actions, token string, checks Checks, log *slog.Logger, opts ...Option) *echo.Echo {
	o := options(opts)
	e := newEcho("internal", o, log)
	if o.metricsHandler != nil {
		e.GET("/metrics", echo.WrapHandler(o.metricsHandler), bearer(token))
	}
	if o.profiling {
		// Profiles of the running process, for whoever holds the token.
		e.GET("/debug/pprof/*", echo.WrapHandler(http.HandlerFunc(pprof.Index)), bearer(token))
		e.GET("/debug/pprof/profile", echo.WrapHandler(http.HandlerFunc(pprof.Profile)), bearer(token))
	}
	e.HTTPErrorHandler = InternalErrorHandler(log)
	checks.register(e)
	h := &internalAPI{a: a}
	g := e.Group("/internal/v1", bearer(token))

	g.POST("/sites", h.createSite)
	g.GET("/sites", h.listSites)
	g.PATCH("/sites/:id", h.patchSite)

	g.POST("/users", h.createUser)
	g.GET("/users", h.listUsers)
	g.GET("/users/:id", h.getUser)
	g.PATCH("/users/:id", h.patchUser)
	g.POST("/users/:id/balance", h.adjustBalance)
	g.GET("/users/:id/ledger", h.ledger)

	g.POST("/users/:id/api-keys", h.generateKey)
	g.GET("/users/:id/api-keys", h.listKeys)
	g.DELETE("/users/:id/api-keys/:site_id", h.revokeKey)

	g.POST("/services", h.createService)
	g.GET("/services", h.listServices)
	g.GET("/services/:id", h.getService)
	g.PATCH("/services/:id", h.patchService)

	h.orderRoutes(g)
	h.eventRoutes(g)
	h.supplierRoutes(g)
	h.pricingRoutes(g)
	g.GET("/reports/sales", h.salesReport)
	h.catalogChangeRoutes(g)
	h.webhookRoutes(g)
	h.docRoutes(g)
	return e
}

var errUnauthorized = echo.NewHTTPError(http.StatusUnauthorized, "unauthorized")

// bearer checks the internal token in constant time.
func bearer(token string) echo.MiddlewareFunc {
	want := []byte(token)
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			got, ok := strings.CutPrefix(c.Request().Header.Get("Authorization"), "Bearer ")
			if !ok || len(want) == 0 || subtle.ConstantTimeCompare([]byte(got), want) != 1 {
				return errUnauthorized
			}
			return next(c)
		}
	}
}

// bindJSON decodes one JSON object strictly: unknown fields, wrong types and
// trailing data are 400s.
func bindJSON(c echo.Context, v any) error {
	body, err := io.ReadAll(io.LimitReader(c.Request().Body, maxBody+1))
	if err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, "cannot read body")
	}
	if len(body) > maxBody {
		return echo.NewHTTPError(http.StatusRequestEntityTooLarge, "body too large")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, jsonProblem(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return echo.NewHTTPError(http.StatusBadRequest, "invalid JSON: trailing data")
	}
	return nil
}

// jsonProblem describes a decode error without Go type names.
func jsonProblem(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		if te.Field == "" {
			return "invalid JSON: expected an object"
		}
		return fmt.Sprintf("invalid value for %s", te.Field)
	}
	if strings.HasPrefix(err.Error(), "json: unknown field") {
		return "unknown field " + strings.TrimPrefix(err.Error(), "json: unknown field ")
	}
	if errors.Is(err, io.EOF) {
		return "invalid JSON: empty body"
	}
	return "invalid JSON"
}

// pathID reads a numeric path parameter; anything else names no object.
func pathID(c echo.Context, name string) (uint64, error) {
	id, err := strconv.ParseUint(c.Param(name), 10, 64)
	if err != nil || id == 0 {
		return 0, echo.NewHTTPError(http.StatusNotFound, "not found")
	}
	return id, nil
}

// page reads limit and cursor.
func page(c echo.Context) (service.Page, error) {
	p := service.Page{Cursor: c.QueryParam("cursor")}
	if l := c.QueryParam("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 {
			return p, echo.NewHTTPError(http.StatusBadRequest, "limit must be a positive whole number")
		}
		p.Limit = n
	}
	return p, nil
}

// idPage reads the path's "id" and the page of a list under it.
func idPage(c echo.Context) (uint64, service.Page, error) {
	id, err := pathID(c, "id")
	if err != nil {
		return 0, service.Page{}, err
	}
	p, err := page(c)
	return id, p, err
}

func (h *internalAPI) createSite(c echo.Context) error {
	var in service.SiteInput
	if err := bindJSON(c, &in); err != nil {
		return err
	}
	out, err := h.a.Sites.Create(c.Request().Context(), in)
	return respond(c, http.StatusCreated, out, err)
}

func (h *internalAPI) listSites(c echo.Context) error {
	p, err := page(c)
	if err != nil {
		return err
	}
	out, err := h.a.Sites.List(c.Request().Context(), p)
	return respond(c, http.StatusOK, out, err)
}

func (h *internalAPI) patchSite(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	var in service.SitePatch
	if err := bindJSON(c, &in); err != nil {
		return err
	}
	out, err := h.a.Sites.Patch(c.Request().Context(), id, in)
	return respond(c, http.StatusOK, out, err)
}

func (h *internalAPI) createUser(c echo.Context) error {
	var in service.UserInput
	if err := bindJSON(c, &in); err != nil {
		return err
	}
	out, err := h.a.Users.Create(c.Request().Context(), in)
	return respond(c, http.StatusCreated, out, err)
}

func (h *internalAPI) listUsers(c echo.Context) error {
	p, err := page(c)
	if err != nil {
		return err
	}
	var f service.UserFilter
	switch c.QueryParam("suspect_truncation") {
	case "", "false":
	case "true":
		f.SuspectTruncation = true
	default:
		return echo.NewHTTPError(http.StatusBadRequest, "suspect_truncation must be true or false")
	}
	out, err := h.a.Users.List(c.Request().Context(), f, p)
	return respond(c, http.StatusOK, out, err)
}

func (h *internalAPI) getUser(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	out, err := h.a.Users.Get(c.Request().Context(), id)
	return respond(c, http.StatusOK, out, err)
}

func (h *internalAPI) patchUser(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	var in service.UserPatch
	if err := bindJSON(c, &in); err != nil {
		return err
	}
	out, err := h.a.Users.Patch(c.Request().Context(), id, in)
	return respond(c, http.StatusOK, out, err)
}

func (h *internalAPI) adjustBalance(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	var in service.BalanceInput
	if err := bindJSON(c, &in); err != nil {
		return err
	}
	out, err := h.a.Users.AdjustBalance(c.Request().Context(), id, in)
	return respond(c, http.StatusOK, out, err)
}

func (h *internalAPI) ledger(c echo.Context) error {
	id, p, err := idPage(c)
	if err != nil {
		return err
	}
	out, err := h.a.Users.Ledger(c.Request().Context(), id, p)
	return respond(c, http.StatusOK, out, err)
}

func (h *internalAPI) generateKey(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	var in service.APIKeyInput
	if err := bindJSON(c, &in); err != nil {
		return err
	}
	out, err := h.a.APIKeys.Generate(c.Request().Context(), id, in)
	return respond(c, http.StatusCreated, out, err)
}

func (h *internalAPI) listKeys(c echo.Context) error {
	id, p, err := idPage(c)
	if err != nil {
		return err
	}
	out, err := h.a.APIKeys.List(c.Request().Context(), id, p)
	return respond(c, http.StatusOK, out, err)
}

func (h *internalAPI) revokeKey(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	site, err := pathID(c, "site_id")
	if err != nil {
		return err
	}
	if err := h.a.APIKeys.Revoke(c.Request().Context(), id, site); err != nil {
		return err
	}
	return noContent(c)
}

func (h *internalAPI) createService(c echo.Context) error {
	var in service.ServiceInput
	if err := bindJSON(c, &in); err != nil {
		return err
	}
	out, err := h.a.Catalog.Create(c.Request().Context(), in)
	return respond(c, http.StatusCreated, out, err)
}

func (h *internalAPI) listServices(c echo.Context) error {
	p, err := page(c)
	if err != nil {
		return err
	}
	out, err := h.a.Catalog.List(c.Request().Context(), p)
	return respond(c, http.StatusOK, out, err)
}

func (h *internalAPI) getService(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	out, err := h.a.Catalog.Get(c.Request().Context(), id)
	return respond(c, http.StatusOK, out, err)
}

func (h *internalAPI) patchService(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	var in service.ServiceInput
	if err := bindJSON(c, &in); err != nil {
		return err
	}
	out, err := h.a.Catalog.Patch(c.Request().Context(), id, in)
	return respond(c, http.StatusOK, out, err)
}
