package tests

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	"github.com/pb33f/libopenapi-validator/config"
	vErrors "github.com/pb33f/libopenapi-validator/errors"
	"github.com/pb33f/libopenapi-validator/helpers"

	"smmapi/api"
	"smmapi/service"
)

// The OpenAPI documents in api/openapi/ are checked against every exchange
// the suite makes through Do: each response against the document of the
// listener that answered, and each request the server accepted (2xx, and for
// the public API not a business error) too. Requests are not checked
// otherwise: tests send malformed ones on purpose.

const (
	publicDocFile   = "../api/openapi/public.json"
	internalDocFile = "../api/openapi/internal.json"
)

// STYLE 6 keeps init() out of the product code; in the tests it is how the
// check reaches every exchange without touching each test.
func init() {
	exchangeHooks = append(exchangeHooks, checkOpenAPI)
}

// openAPI holds one validator per document, built once for the whole run:
// compiling the schemas is the slow part, validating is cheap.
var openAPI struct {
	once             sync.Once
	public, internal validator.Validator
	err              error
}

func openAPIValidators() (public, internal validator.Validator, err error) {
	openAPI.once.Do(func() {
		if openAPI.public, openAPI.err = newOpenAPIValidator(publicDocFile); openAPI.err != nil {
			return
		}
		openAPI.internal, openAPI.err = newOpenAPIValidator(internalDocFile)
	})
	return openAPI.public, openAPI.internal, openAPI.err
}

func newOpenAPIValidator(path string) (validator.Validator, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	doc, err := libopenapi.NewDocument(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	v, errs := validator.NewValidator(doc, config.WithFormatAssertions(), config.WithURLEncodedBodyValidation())
	if len(errs) > 0 {
		return nil, fmt.Errorf("%s: %v", path, errs)
	}
	return v, nil
}

// checkOpenAPI is the exchange hook: it fails tb when the response (or an
// accepted request) disagrees with its document.
func checkOpenAPI(tb testing.TB, req *http.Request, reqBody []byte, resp Response) {
	tb.Helper()
	path := req.URL.Path
	var public bool
	switch {
	case strings.HasPrefix(path, "/api/"):
		public = true
	case path == "/internal/v1" || strings.HasPrefix(path, "/internal/v1/"):
	case path == "/healthz" || path == "/readyz":
		// Both listeners answer these alike; both documents describe them
		// alike, so the internal one serves for either.
	default:
		return // /metrics and anything else no document describes
	}
	if resp.Status == http.StatusNotFound && path != "/healthz" && path != "/readyz" {
		// A path of one API sent to the other API's listener ("the public
		// listener does not serve /internal/v1") is described by neither.
		if internal, ok := openAPIInternalListener(req.URL); !ok || internal == public {
			return
		}
	}
	pub, in, err := openAPIValidators()
	if err != nil {
		tb.Errorf("OpenAPI: %v", err)
		return
	}
	v, name := in, "internal.json"
	if public {
		v, name = pub, "public.json"
	}

	// The request was sent already: validate a copy with the body as sent.
	// A body Do could not capture (no GetBody) is not validated.
	bodyKnown := req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
	vreq := func() *http.Request {
		r := req.Clone(context.Background())
		r.Body = io.NopCloser(bytes.NewReader(reqBody))
		r.ContentLength = int64(len(reqBody))
		return r
	}
	body := resp.Body
	if resp.Header.Get("Content-Encoding") == "gzip" {
		// A client that asked for gzip itself gets it undecoded.
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err == nil {
			body, err = io.ReadAll(zr)
		}
		if err != nil {
			tb.Errorf("OpenAPI: %s %s: gzip body: %v", req.Method, req.URL.RequestURI(), err)
			return
		}
	}
	r := vreq()
	httpResp := &http.Response{StatusCode: resp.Status, Header: resp.Header,
		Body: io.NopCloser(bytes.NewReader(body)), Request: r}
	if ok, errs := v.ValidateHttpResponse(r, httpResp); !ok {
		if openAPIUndescribed(errs) {
			return
		}
		tb.Errorf("OpenAPI %s: response to %s %s (status %d) disagrees:%s\nbody: %s",
			name, req.Method, req.URL.RequestURI(), resp.Status, openAPIErrors(errs), openAPIClip(body))
		return
	}
	accepted := resp.Status >= 200 && resp.Status < 300 && !(public && bytes.HasPrefix(body, []byte(`{"error":`)))
	if !accepted || !bodyKnown {
		return
	}
	if ok, errs := v.ValidateHttpRequestSync(vreq()); !ok {
		tb.Errorf("OpenAPI %s: request %s %s (answered %d) disagrees:%s\nrequest body: %s",
			name, req.Method, req.URL.RequestURI(), resp.Status, openAPIErrors(errs), openAPIClip(reqBody))
	}
}

// openAPIUndescribed reports errors that only say the path or method is not in
// the document (an unknown route tested on purpose, a 405).
func openAPIUndescribed(errs []*vErrors.ValidationError) bool {
	for _, e := range errs {
		if e.ValidationType != helpers.PathValidation ||
			e.ValidationSubType != helpers.ValidationMissing && e.ValidationSubType != helpers.ValidationMissingOperation {
			return false
		}
	}
	return len(errs) > 0
}

func openAPIErrors(errs []*vErrors.ValidationError) string {
	var b strings.Builder
	for _, e := range errs {
		fmt.Fprintf(&b, "\n  - %s: %s", e.Message, e.Reason)
		for _, f := range e.SchemaValidationErrors {
			loc := f.FieldPath
			if loc == "" {
				loc = "/" + strings.Join(f.InstancePath, "/")
			}
			fmt.Fprintf(&b, "\n      %s: %s (schema %s)", loc, f.Reason, f.KeywordLocation)
		}
	}
	return b.String()
}

func openAPIClip(b []byte) string {
	if len(b) > 600 {
		return string(b[:600]) + "…"
	}
	return string(b)
}

// openAPIInternalListener tells which listener serves u's host: the internal one
// answers an unauthenticated /internal/v1 request with 401, the public one
// with 404. ok is false when it cannot tell (the server is gone).
func openAPIInternalListener(u *url.URL) (internal, ok bool) {
	resp, err := client.Get(u.Scheme + "://" + u.Host + "/internal/v1/openapi.json")
	if err != nil {
		return false, false
	}
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusUnauthorized:
		return true, true
	case http.StatusNotFound:
		return false, true
	}
	return false, false
}

// Both documents are valid OpenAPI, every route either API registers is in
// its document (and nothing else is), and the server serves the embedded
// files byte for byte.
func TestOpenAPIDocuments(t *testing.T) {
	t.Parallel()
	log := slog.New(slog.DiscardHandler)
	// Handlers are never called: empty actions and no limiter do.
	public := api.NewPublic(&service.Actions{}, nil, api.Limits{}, api.Checks{}, log)
	internal := api.NewInternal(&service.Actions{}, "t", api.Checks{}, log)
	for _, d := range []struct {
		file string
		e    *echo.Echo
	}{{publicDocFile, public}, {internalDocFile, internal}} {
		t.Run(filepath.Base(d.file), func(t *testing.T) {
			b, err := os.ReadFile(d.file)
			if err != nil {
				t.Fatal(err)
			}
			doc, err := libopenapi.NewDocument(b)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			model, err := doc.BuildV3Model()
			if err != nil {
				t.Fatalf("build model: %v", err)
			}
			v, errs := validator.NewValidator(doc)
			if len(errs) > 0 {
				t.Fatalf("validator: %v", errs)
			}
			if ok, verrs := v.ValidateDocument(); !ok {
				t.Errorf("not valid OpenAPI:%s", openAPIErrors(verrs))
			}

			documented := map[string]bool{}
			for path, item := range model.Model.Paths.PathItems.FromOldest() {
				for method := range item.GetOperations().FromOldest() {
					documented[strings.ToUpper(method)+" "+path] = true
				}
			}
			registered := map[string]bool{}
			for _, r := range d.e.Routes() {
				if !slices.Contains(openAPIMethods, r.Method) || r.Path == "/metrics" {
					continue // Echo's not-found routes for group middleware; Prometheus
				}
				op := r.Method + " " + openAPIEchoParam.ReplaceAllString(r.Path, "{$1}")
				registered[op] = true
				if !documented[op] {
					t.Errorf("route %s is not in %s", op, d.file)
				}
			}
			for op := range documented {
				if !registered[op] {
					t.Errorf("%s documents %s, which is not a route", d.file, op)
				}
			}
		})
	}

	t.Run("served", func(t *testing.T) {
		t.Parallel()
		s := MustStart(t, MustEnv(t, Backend{Name: "sqlite"}))
		for _, d := range []struct{ path, file string }{
			{"/internal/v1/openapi.json", internalDocFile},
			{"/internal/v1/openapi-public.json", publicDocFile},
		} {
			want, err := os.ReadFile(d.file)
			if err != nil {
				t.Fatal(err)
			}
			r := s.Admin(t, "GET", d.path, nil)
			if r.Status != http.StatusOK || r.Header.Get("Content-Type") != "application/json" {
				t.Errorf("GET %s: status %d, content type %q", d.path, r.Status, r.Header.Get("Content-Type"))
			}
			if !bytes.Equal(r.Body, want) {
				t.Errorf("GET %s is not %s byte for byte (%d bytes, want %d)", d.path, d.file, len(r.Body), len(want))
			}
			if r := s.AdminAs(t, "", "GET", d.path, nil); r.Status != http.StatusUnauthorized {
				t.Errorf("GET %s without the token: status %d, want 401", d.path, r.Status)
			}
		}
	})
}

var openAPIMethods = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut,
	http.MethodPatch, http.MethodDelete, http.MethodOptions, http.MethodTrace}

// openAPIEchoParam turns Echo's ":id" into OpenAPI's "{id}".
var openAPIEchoParam = regexp.MustCompile(`:([A-Za-z0-9_]+)`)
