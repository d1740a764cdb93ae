package tests

import (
	"net/http"
	"net/url"
	"testing"
)

// services: v2 and v3 field sets in wire order, by category then ID,
// byte-exact against golden files.
func TestServices(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		env := MustEnv(t, b)
		s := MustStart(t, env)
		acct := s.MustAccount(t, "alice", "1")
		s.MustService(t, map[string]any{"name": "Followers", "category": "Instagram", "rate": "8.5"})
		s.MustService(t, map[string]any{"name": "Views <fast> & \"cheap\"", "category": "TikTok", "rate": "0.0001", "min": 100, "max": 1000000, "refill": false, "cancel": false, "dripfeed": true, "description": "Line one\nline 二"})
		s.MustService(t, map[string]any{"name": "Comments", "type": "Custom Comments", "category": "Instagram", "rate": "1234.5678", "min": 1, "max": 100})
		s.MustService(t, map[string]any{"name": "Hidden", "category": "Aaa", "enabled": false})
		s.MustService(t, map[string]any{"name": "Package", "type": "Package", "category": "A first", "rate": "100", "min": 1, "max": 1})

		for _, v := range []string{"v2", "v3"} {
			for _, path := range []string{"/api/" + v, "/api/" + v + "/"} {
				r := s.Post(t, path, url.Values{"key": {acct.Key}, "action": {"services"}})
				if r.Status != http.StatusOK || r.Header.Get("Content-Type") != "application/json" {
					t.Errorf("%s: status %d, content type %q", path, r.Status, r.Header.Get("Content-Type"))
				}
				golden(t, "services_"+v+".json", r.Body)
			}
		}
	})
}

// An empty catalog is an empty array, never null.
func TestServicesEmpty(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		s := MustStart(t, MustEnv(t, b))
		acct := s.MustAccount(t, "alice", "")
		r := s.Post(t, "/api/v3", url.Values{"key": {acct.Key}, "action": {"services"}})
		if string(r.Body) != "[]" {
			t.Errorf("body = %s, want []", r.Body)
		}
	})
}
