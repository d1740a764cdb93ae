package tests

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// Every /internal/v1 request without the exact "Bearer <token>" header is
// refused with 401 {"error":"unauthorized"}, before routing and before any
// write; the health checks answer without a token on both listeners.
func TestInternalAuth(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		env := MustEnv(t, b)
		s := MustStart(t, env)
		// Objects the routes below would change if a request got through.
		alice := s.MustAccount(t, "alice", "10")
		svc := s.MustService(t, nil)
		tok := env.Token
		routes := []struct {
			method, path string
			body         any
		}{
			{"POST", "/internal/v1/sites", map[string]any{"name": "Evil", "domains": []string{"evil.example"}}},
			{"GET", "/internal/v1/sites", nil},
			{"POST", "/internal/v1/users", map[string]any{"username": "mallory"}},
			{"GET", "/internal/v1/users", nil},
			{"GET", "/internal/v1/users/" + alice.ID, nil},
			{"PATCH", "/internal/v1/users/" + alice.ID, map[string]any{"disabled": true}},
			{"POST", "/internal/v1/users/" + alice.ID + "/balance", map[string]any{"amount": "-10", "reason": "theft"}},
			{"GET", "/internal/v1/users/" + alice.ID + "/ledger", nil},
			{"POST", "/internal/v1/users/" + alice.ID + "/api-keys", map[string]any{"site_id": 1}},
			{"GET", "/internal/v1/users/" + alice.ID + "/api-keys", nil},
			{"DELETE", "/internal/v1/users/" + alice.ID + "/api-keys/1", nil},
			{"POST", "/internal/v1/services", map[string]any{"name": "Evil", "type": "Default", "category": "X", "rate": "1", "min": 1, "max": 2}},
			{"GET", "/internal/v1/services", nil},
			{"GET", "/internal/v1/services/" + svc, nil},
			{"PATCH", "/internal/v1/services/" + svc, map[string]any{"enabled": false}},
			// Neither an unknown path nor a wrong method may tell a
			// stranger which routes exist.
			{"GET", "/internal/v1/nope", nil},
			{"PUT", "/internal/v1/users", map[string]any{"username": "mallory"}},
		}
		auths := []struct {
			name   string
			header string // "" sends no Authorization header
		}{
			{"no header", ""},
			{"wrong token", "Bearer " + randHex(16)},
			{"token prefix", "Bearer " + tok[:len(tok)-1]},
			{"token plus a character", "Bearer " + tok + "0"},
			{"lower-case scheme", "bearer " + tok},
			{"upper-case scheme", "BEARER " + tok},
			{"no scheme", tok},
			{"no space", "Bearer" + tok},
			{"two spaces", "Bearer  " + tok},
			{"empty token", "Bearer "},
			{"basic auth", "Basic " + tok},
			{"token scheme", "Token " + tok},
		}
		for _, rt := range routes {
			for _, a := range auths {
				t.Run(rt.method+" "+rt.path+"/"+a.name, func(t *testing.T) {
					r := mustProvRaw(t, s.Internal, rt.method, rt.path, a.header, rt.body)
					if r.Status != http.StatusUnauthorized {
						t.Fatalf("status %d, want 401: %s", r.Status, r.Body)
					}
					jsonEqual(t, r, `{"error":"unauthorized"}`)
				})
			}
		}

		// Nothing above was written.
		users := s.MustAdmin(t, http.StatusOK, "GET", "/internal/v1/users", nil)
		if items := users["items"].([]any); len(items) != 1 {
			t.Errorf("users = %v, want alice only", items)
		}
		sites := s.MustAdmin(t, http.StatusOK, "GET", "/internal/v1/sites", nil)
		if items := sites["items"].([]any); len(items) != 1 {
			t.Errorf("sites = %v, want the main site only", items)
		}
		got := s.MustAdmin(t, http.StatusOK, "GET", "/internal/v1/users/"+alice.ID, nil)
		if got["balance"] != "10.0000" || got["disabled"] != false {
			t.Errorf("alice = %v, want balance 10.0000, enabled", got)
		}
		svcs := s.MustAdmin(t, http.StatusOK, "GET", "/internal/v1/services", nil)
		if items := svcs["items"].([]any); len(items) != 1 || items[0].(map[string]any)["enabled"] != true {
			t.Errorf("services = %v, want one enabled service", items)
		}
		mustProvKeyWorks(t, s, alice.Key, "", "10.0000")

		// The right token still works, and the internal API is not served
		// on the public listener.
		r := s.Admin(t, "GET", "/internal/v1/sites", nil)
		if r.Status != http.StatusOK {
			t.Errorf("with the token: status %d: %s", r.Status, r.Body)
		}
		r = mustProvRaw(t, s.Public, "GET", "/internal/v1/sites", "Bearer "+tok, nil)
		if r.Status == http.StatusOK {
			t.Errorf("public listener serves /internal/v1/sites: %s", r.Body)
		}
	})
}

// /healthz and /readyz answer without a token on both listeners.
func TestInternalHealth(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		env := MustEnv(t, b)
		s := MustStart(t, env)
		for _, base := range []struct{ name, url string }{{"public", s.Public}, {"internal", s.Internal}} {
			r := mustProvRaw(t, base.url, "GET", "/healthz", "", nil)
			if r.Status != http.StatusOK {
				t.Errorf("%s /healthz: status %d: %s", base.name, r.Status, r.Body)
			}
			r = mustProvRaw(t, base.url, "GET", "/readyz", "", nil)
			if r.Status != http.StatusOK {
				t.Errorf("%s /readyz: status %d: %s", base.name, r.Status, r.Body)
				continue
			}
			body := r.Obj(t)
			if body["database"] != "up" {
				t.Errorf("%s /readyz: database = %v, want up: %s", base.name, body["database"], r.Body)
			}
			redis, ok := body["redis"]
			if b.RedisAddr != "" && redis != "up" {
				t.Errorf("%s /readyz: redis = %v, want up: %s", base.name, redis, r.Body)
			}
			if b.RedisAddr == "" && ok {
				t.Errorf("%s /readyz: redis reported without Redis configured: %s", base.name, r.Body)
			}
			if _, ok := body["error"]; ok {
				t.Errorf("%s /readyz: error in a ready answer: %s", base.name, r.Body)
			}
		}
	})
}

// An empty configured token refuses every request, whatever is sent.
func TestInternalEmptyToken(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		if b.MySQLDSN == "" {
			// In the embedded mode an empty token is not "refuse all": a
			// token is generated into a file beside the database instead.
			t.Skip("sqlite: an empty internal.token generates a token file")
		}
		env := MustEnv(t, b)
		// env.Vars sets the token first; exec keeps the last duplicate, and
		// the config loader reads an empty variable as unset.
		s := MustStart(t, env, "SMMAPI_INTERNAL_TOKEN=")
		for _, h := range []string{"", "Bearer ", "Bearer " + env.Token} {
			for _, rt := range []struct{ method, path string }{
				{"GET", "/internal/v1/sites"},
				{"POST", "/internal/v1/users"},
				{"GET", "/internal/v1/services"},
			} {
				r := mustProvRaw(t, s.Internal, rt.method, rt.path, h, map[string]any{"username": "mallory"})
				if r.Status != http.StatusUnauthorized {
					t.Errorf("%s %s with %q: status %d, want 401: %s", rt.method, rt.path, h, r.Status, r.Body)
					continue
				}
				jsonEqual(t, r, `{"error":"unauthorized"}`)
			}
		}
		// The service says why at start.
		var warned bool
		for _, line := range strings.Split(s.Logs(), "\n") {
			var l struct{ Level, Msg string }
			if json.Unmarshal([]byte(line), &l) == nil && l.Level == "WARN" && strings.Contains(l.Msg, "internal.token") {
				warned = true
			}
		}
		if !warned {
			t.Errorf("no start-up warning about the empty internal.token:\n%s", s.Logs())
		}
		// The health checks stay open.
		if r := mustProvRaw(t, s.Internal, "GET", "/readyz", "", nil); r.Status != http.StatusOK {
			t.Errorf("/readyz: status %d: %s", r.Status, r.Body)
		}
	})
}
