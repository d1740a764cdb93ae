package tests

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// postFrom sends a public form as if from client ip (through a trusted proxy).
func (s *Server) postFrom(t *testing.T, ip string, form url.Values) Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.Public+"/api/v2", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Forwarded-For", ip)
	return Do(t, req)
}

func mustTooMany(t *testing.T, r Response) {
	t.Helper()
	if r.Status != http.StatusTooManyRequests || string(r.Body) != `{"error":"Too many requests"}` || r.Header.Get("Retry-After") == "" {
		t.Fatalf("want 429 Too many requests with Retry-After; got %d %s (Retry-After %q)", r.Status, r.Body, r.Header.Get("Retry-After"))
	}
}

// The per-key limit trips at its burst, leaves other keys alone, and
// recovers at its rate.
func TestKeyRateLimit(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		s := MustStart(t, MustEnv(t, b), "SMMAPI_LIMITS_KEY_RATE=5", "SMMAPI_LIMITS_KEY_BURST=5")
		abuser := s.MustAccount(t, "abuser", "1")
		honest := s.MustAccount(t, "honest", "1")
		bal := func(a Account) Response {
			return s.Post(t, "/api/v2", url.Values{"key": {a.Key}, "action": {"balance"}})
		}
		for i := 0; i < 5; i++ {
			if r := bal(abuser); r.Status != 200 {
				t.Fatalf("request %d within the burst: %d %s", i+1, r.Status, r.Body)
			}
		}
		mustTooMany(t, bal(abuser))
		if r := bal(honest); r.Status != 200 {
			t.Fatalf("another key was throttled: %d %s", r.Status, r.Body)
		}
		time.Sleep(450 * time.Millisecond) // at 5/s, two requests' worth refills
		if r := bal(abuser); r.Status != 200 {
			t.Fatalf("limit did not recover: %d %s", r.Status, r.Body)
		}
	})
}

// The per-IP limit applies before the key is looked up, per client IP as
// told by a trusted proxy.
func TestIPRateLimit(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		s := MustStart(t, MustEnv(t, b), "SMMAPI_LIMITS_IP_RATE=3", "SMMAPI_LIMITS_IP_BURST=3",
			"SMMAPI_LIMITS_TRUSTED_PROXIES=127.0.0.1/32,::1")
		a := s.MustAccount(t, "alice", "1")
		form := url.Values{"key": {a.Key}, "action": {"balance"}}
		for i := 0; i < 3; i++ {
			if r := s.postFrom(t, "198.51.100.7", form); r.Status != 200 {
				t.Fatalf("request %d: %d %s", i+1, r.Status, r.Body)
			}
		}
		mustTooMany(t, s.postFrom(t, "198.51.100.7", form))
		// Even a request without a key is refused before the key check.
		mustTooMany(t, s.postFrom(t, "198.51.100.7", url.Values{"action": {"balance"}}))
		if r := s.postFrom(t, "198.51.100.8", form); r.Status != 200 {
			t.Fatalf("another IP was throttled: %d %s", r.Status, r.Body)
		}
	})
}

// Twenty invalid or missing keys from one IP lock it out, valid keys
// included, from the 21st request on; other IPs are unaffected.
func TestAuthLockout(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		s := MustStart(t, MustEnv(t, b), "SMMAPI_LIMITS_TRUSTED_PROXIES=127.0.0.1/32,::1")
		a := s.MustAccount(t, "alice", "1")
		const attacker = "203.0.113.66"
		for i := 0; i < 20; i++ {
			form := url.Values{"key": {fmt.Sprintf("%032x", i)}, "action": {"balance"}}
			if i%2 == 1 {
				form.Del("key")
			}
			r := s.postFrom(t, attacker, form)
			if r.Status != 200 || string(r.Body) != `{"error":"Invalid API key"}` {
				t.Fatalf("failure %d: %d %s", i+1, r.Status, r.Body)
			}
		}
		r := s.postFrom(t, attacker, url.Values{"key": {a.Key}, "action": {"balance"}})
		mustTooMany(t, r)
		if ra := r.Header.Get("Retry-After"); ra != "900" && ra != "899" {
			t.Errorf("Retry-After %s, want about 900 (15 minutes)", ra)
		}
		if r := s.postFrom(t, "203.0.113.67", url.Values{"key": {a.Key}, "action": {"balance"}}); r.Status != 200 {
			t.Fatalf("another IP locked out: %d %s", r.Status, r.Body)
		}
	})
}

// A rate of 0 switches a limit off.
func TestLimitsOff(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		s := MustStart(t, MustEnv(t, b), "SMMAPI_LIMITS_KEY_RATE=0", "SMMAPI_LIMITS_IP_RATE=0", "SMMAPI_LIMITS_AUTH_FAILURES=0")
		a := s.MustAccount(t, "alice", "1")
		for i := 0; i < 250; i++ {
			form := url.Values{"key": {a.Key}, "action": {"balance"}}
			if i%2 == 0 {
				form.Set("key", "bad")
			}
			if r := s.Post(t, "/api/v2", form); r.Status != 200 {
				t.Fatalf("request %d throttled with limits off: %d %s", i+1, r.Status, r.Body)
			}
		}
	})
}
