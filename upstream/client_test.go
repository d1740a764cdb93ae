package upstream

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"smmapi/service"
)

// A supplier's text reaches smmapi with its key and the configured secrets
// taken out, whichever way it comes back: a refusal, a status error, an
// answer passed on raw.
func TestClientRedactsSecrets(t *testing.T) {
	const supKey, token = "5f3c9a7e1b2d4c6f8a0e", "tok-0123456789abcdef"
	var answer string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(strings.NewReplacer("KEY", r.FormValue("key"), "TOKEN", token).Replace(answer)))
	}))
	defer srv.Close()
	c := New(5*time.Second, WithSecrets(token, "short")) // "short" is too short to be redacted
	sup := service.SupplierEndpoint{URL: srv.URL, Key: supKey}
	ctx := context.Background()
	for _, tc := range []struct {
		name, answer string
		call         func() string
	}{
		{"refusal", `{"error":"Invalid key KEY (TOKEN) short"}`, func() string {
			_, err := c.Add(ctx, sup, map[string]string{"service": "1"})
			return err.(*service.UpstreamError).Message
		}},
		{"status error", `{"1":{"error":"order of KEY not found"}}`, func() string {
			st, _ := c.Status(ctx, sup, []string{"1"})
			return st["1"].Error
		}},
		{"raw balance", `{"balance":"1","note":"KEY"}`, func() string {
			b, _ := c.Balance(ctx, sup)
			return string(b)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			answer = tc.answer
			got := tc.call()
			if strings.Contains(got, supKey) || strings.Contains(got, token) || !strings.Contains(got, service.Redacted) {
				t.Errorf("got %q: a secret is left, or nothing was redacted", got)
			}
		})
	}
}
