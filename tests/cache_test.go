package tests

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// Keys and the catalog are cached per instance; every change through the
// internal API of one instance is seen at once by the others (Redis pub/sub),
// and by itself in the embedded mode.
func TestCacheInvalidation(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		env := MustEnv(t, b)
		s1 := MustStart(t, env, "SMMAPI_API_KEYS_COOLDOWN=1ms")
		s2 := s1
		if b.MySQLDSN != "" {
			s2 = MustStart(t, env, "SMMAPI_API_KEYS_COOLDOWN=1ms") // a second instance
		}
		a := s1.MustAccount(t, "alice", "5")
		bal := func(s *Server, key string) string {
			return string(s.Post(t, "/api/v2", url.Values{"key": {key}, "action": {"balance"}}).Body)
		}
		const ok, invalid = `{"balance":"5.0000","currency":"CNY"}`, `{"error":"Invalid API key"}`
		for i := 0; i < 3; i++ { // warm both caches
			if got := bal(s2, a.Key); got != ok {
				t.Fatalf("balance on the second instance: %s", got)
			}
		}

		// Disable on s1 → refused on s2 at once; enable → served again.
		s1.MustAdmin(t, 200, "PATCH", "/internal/v1/users/"+a.ID, map[string]any{"disabled": true})
		if got := bal(s2, a.Key); got != invalid {
			t.Fatalf("disabled account still served by the other instance: %s", got)
		}
		s1.MustAdmin(t, 200, "PATCH", "/internal/v1/users/"+a.ID, map[string]any{"disabled": false})
		if got := bal(s2, a.Key); got != ok {
			t.Fatalf("re-enabled account refused: %s", got)
		}

		// Replace on s1 → the old key is refused on s2 at once.
		time.Sleep(5 * time.Millisecond) // past the 1ms cooldown
		k := s1.MustAdmin(t, http.StatusCreated, "POST", "/internal/v1/users/"+a.ID+"/api-keys", map[string]any{"site_id": 1})
		newKey := fmt.Sprint(k["key"])
		env.Secret(newKey)
		if got := bal(s2, a.Key); got != invalid {
			t.Fatalf("replaced key still served by the other instance: %s", got)
		}
		if got := bal(s2, newKey); got != ok {
			t.Fatalf("new key refused: %s", got)
		}

		// Revoke on s1 → refused on s2 at once.
		for i := 0; i < 3; i++ {
			bal(s2, newKey)
		}
		if r := s1.Admin(t, "DELETE", "/internal/v1/users/"+a.ID+"/api-keys/1", nil); r.Status != http.StatusNoContent {
			t.Fatalf("revoke: %d %s", r.Status, r.Body)
		}
		if got := bal(s2, newKey); got != invalid {
			t.Fatalf("revoked key still served by the other instance: %s", got)
		}

		// The catalog: a change on s1 shows on s2 at once, gzipped or not.
		b2 := s2.MustAccount(t, "bob", "1")
		svc := s1.MustService(t, map[string]any{"name": "Before"})
		services := func() string {
			return string(s2.Post(t, "/api/v2", url.Values{"key": {b2.Key}, "action": {"services"}}).Body)
		}
		if got := services(); !strings.Contains(got, `"name":"Before"`) {
			t.Fatalf("new service missing: %s", got)
		}
		s1.MustAdmin(t, 200, "PATCH", "/internal/v1/services/"+svc, map[string]any{"name": "After"})
		if got := services(); !strings.Contains(got, `"name":"After"`) {
			t.Fatalf("renamed service not seen by the other instance: %s", got)
		}
		// add reads the cached service too: a new rate applies at once.
		s1.MustAdmin(t, 200, "PATCH", "/internal/v1/services/"+svc, map[string]any{"rate": "1000", "min": 1})
		add := s2.Post(t, "/api/v2", url.Values{"key": {b2.Key}, "action": {"add"}, "service": {svc}, "link": {"https://x/1"}, "quantity": {"1"}})
		id, placed := ordAddID(add)
		if !placed {
			t.Fatalf("add: %s", add.Body)
		}
		if st := s2.Post(t, "/api/v2", url.Values{"key": {b2.Key}, "action": {"status"}, "order": {id}}); !strings.Contains(string(st.Body), `"charge":"1.0000"`) {
			t.Fatalf("add on the other instance used a stale rate: %s", st.Body)
		}
		s1.MustAdmin(t, 200, "PATCH", "/internal/v1/services/"+svc, map[string]any{"enabled": false})
		if got := services(); got != "[]" {
			t.Fatalf("disabled service still listed by the other instance: %s", got)
		}
		add = s2.Post(t, "/api/v2", url.Values{"key": {b2.Key}, "action": {"add"}, "service": {svc}, "link": {"https://x/2"}, "quantity": {"1"}})
		if string(add.Body) != `{"error":"Incorrect service ID"}` {
			t.Fatalf("add on a disabled service via the other instance: %s", add.Body)
		}
	})
}

// services answers gzip to clients that accept it, the same JSON inside.
func TestServicesGzip(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		s := MustStart(t, MustEnv(t, b))
		a := s.MustAccount(t, "alice", "1")
		s.MustService(t, map[string]any{"name": "Followers"})
		form := url.Values{"key": {a.Key}, "action": {"services"}}.Encode()
		plain := s.Post(t, "/api/v3", url.Values{"key": {a.Key}, "action": {"services"}})
		req, _ := http.NewRequest(http.MethodPost, s.Public+"/api/v3", strings.NewReader(form))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Accept-Encoding", "gzip") // set by hand: Go then leaves the body compressed
		r := Do(t, req)
		if r.Header.Get("Content-Encoding") != "gzip" {
			t.Fatalf("no gzip: %v", r.Header)
		}
		if got := gunzip(t, r.Body); got != string(plain.Body) {
			t.Errorf("gzipped body %s differs from plain %s", got, plain.Body)
		}
		req, _ = http.NewRequest(http.MethodPost, s.Public+"/api/v3", strings.NewReader(form))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Accept-Encoding", "gzip;q=0, identity")
		if r := Do(t, req); r.Header.Get("Content-Encoding") != "" || string(r.Body) != string(plain.Body) {
			t.Errorf("gzip;q=0 answered %v", r.Header)
		}
	})
}

func gunzip(t *testing.T, b []byte) string {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}
