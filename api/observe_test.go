package api

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
)

// A panicking handler answers 500 with the public error shape, logs the
// panic with its stack and one access line, and the server keeps serving.
func TestObservePanic(t *testing.T) {
	var logs, access bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	e := newEcho("public", options([]Option{WithAccessLog(&access)}), log)
	e.HTTPErrorHandler = PublicErrorHandler(log)
	e.GET("/boom", func(c echo.Context) error { panic("kaboom") })
	e.GET("/fine", func(c echo.Context) error { return c.String(http.StatusOK, "ok") })

	for i := 0; i < 2; i++ {
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/boom", nil))
		if rec.Code != http.StatusInternalServerError || rec.Body.String() != `{"error":"Internal error"}` {
			t.Fatalf("panic answered %d %s", rec.Code, rec.Body)
		}
		rec = httptest.NewRecorder()
		e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/fine", nil))
		if rec.Code != http.StatusOK {
			t.Fatalf("after a panic: %d %s", rec.Code, rec.Body)
		}
	}
	if !strings.Contains(logs.String(), "panic: kaboom") || !strings.Contains(logs.String(), "observe_test.go") {
		t.Errorf("the fault log lacks the panic or its stack:\n%s", logs.String())
	}
	lines := strings.Split(strings.TrimSpace(access.String()), "\n")
	if len(lines) != 4 {
		t.Fatalf("%d access lines, want 4:\n%s", len(lines), access.String())
	}
	var l struct {
		Status  int
		Outcome string
		Action  string
	}
	if err := json.Unmarshal([]byte(lines[0]), &l); err != nil || l.Status != 500 || l.Outcome != "internal" || l.Action != "/boom" {
		t.Errorf("access line of the panic: %+v (%v): %s", l, err, lines[0])
	}
}
