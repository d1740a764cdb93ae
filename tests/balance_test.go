package tests

import (
	"net/http"
	"net/url"
	"testing"
)

// balance: {"balance":"100.8429","currency":"CNY"}, byte-exact.
func TestBalance(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		env := MustEnv(t, b)
		s := MustStart(t, env)
		alice := s.MustAccount(t, "alice", "100.8429")
		for _, path := range []string{"/api/v2", "/api/v2/", "/api/v3", "/api/v3/"} {
			r := s.Post(t, path, url.Values{"key": {alice.Key}, "action": {"balance"}})
			if r.Status != http.StatusOK || r.Header.Get("Content-Type") != "application/json" {
				t.Errorf("%s: status %d, content type %q", path, r.Status, r.Header.Get("Content-Type"))
			}
			golden(t, "balance.json", r.Body)
		}
		empty := s.MustAccount(t, "bob", "")
		r := s.Post(t, "/api/v2", url.Values{"key": {empty.Key}, "action": {"balance"}})
		jsonEqual(t, r, `{"balance":"0.0000","currency":"CNY"}`)
	})
}
