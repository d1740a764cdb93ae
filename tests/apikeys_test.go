package tests

import (
	"bytes"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"
)

var provKeyShape = regexp.MustCompile(`^[0-9a-f]{32}$`)

// POST /internal/v1/users/{id}/api-keys → 201 with the key, shown once; the
// list shows hint and times, never the key.
func TestAPIKeysGenerate(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		s := MustStart(t, MustEnv(t, b))
		id := mustProvUser(t, s, "alice")
		s.MustAdmin(t, http.StatusOK, "POST", "/internal/v1/users/"+id+"/balance", map[string]any{"amount": "2", "reason": "r"})
		start := time.Now().UTC().Truncate(time.Second)

		if items, next := mustProvList(t, s, "/internal/v1/users/"+id+"/api-keys"); len(items) != 0 || next != "" {
			t.Errorf("keys before generation = %v, next %q", items, next)
		}
		key, created := mustProvGenerate(t, s, id, 1)
		mustProvKeyWorks(t, s, key, "", "2.0000")

		r := s.Admin(t, "GET", "/internal/v1/users/"+id+"/api-keys", nil)
		if r.Status != http.StatusOK {
			t.Fatalf("list: status %d: %s", r.Status, r.Body)
		}
		if bytes.Contains(r.Body, []byte(key)) {
			t.Fatalf("the key list reveals the key: %s", r.Body)
		}
		items, next := mustProvList(t, s, "/internal/v1/users/"+id+"/api-keys")
		if len(items) != 1 || next != "" {
			t.Fatalf("keys = %v, next %q, want one", items, next)
		}
		k := items[0]
		if len(k) != 4 || fmt.Sprint(k["site_id"]) != "1" || k["hint"] != created["hint"] || k["created_at"] != created["created_at"] {
			t.Errorf("listed key = %v, want site_id, hint, created_at as generated, last_used_at", k)
		}
		// The balance call above used the key.
		used := mustProvTime(t, k["last_used_at"], start)
		if c, _ := time.Parse(time.RFC3339, fmt.Sprint(k["created_at"])); used.Before(c) {
			t.Errorf("last_used_at %v before created_at %v", used, c)
		}
		mustProvTime(t, created["created_at"], start)
	})
}

// A second generation within the cooldown → 429 with retry_after and
// Retry-After, across restarts and (MySQL + Redis) after Redis lost its
// data; a cooldown on one site does not block another.
func TestAPIKeysCooldown(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		env := MustEnv(t, b)
		s := MustStart(t, env)
		id := mustProvUser(t, s, "alice")
		key, _ := mustProvGenerate(t, s, id, 1)

		mustProvCooldown(t, s, id, 1, 1190, 1200)
		mustProvKeyWorks(t, s, key, "", "0.0000") // a refused generation replaces nothing

		s.Stop(t)
		s = MustStart(t, env)
		mustProvCooldown(t, s, id, 1, 1190, 1200)
		if b.RedisAddr != "" {
			env.FlushRedis(t)
			mustProvCooldown(t, s, id, 1, 1190, 1200)
			s.Stop(t)
			env.FlushRedis(t)
			s = MustStart(t, env)
			mustProvCooldown(t, s, id, 1, 1190, 1200)
			// The database's answer restored the gate: the next call is
			// refused by Redis alone and agrees.
			mustProvCooldown(t, s, id, 1, 1190, 1200)
		}
		mustProvKeyWorks(t, s, key, "", "0.0000")

		// Another site and another account have their own cooldowns.
		s.MustAdmin(t, http.StatusCreated, "POST", "/internal/v1/sites", map[string]any{"name": "Child A", "domains": []string{"child-a.example"}})
		key2, _ := mustProvGenerate(t, s, id, 2)
		mustProvKeyWorks(t, s, key2, "child-a.example", "0.0000")
		mustProvCooldown(t, s, id, 2, 1190, 1200)
		mustProvCooldown(t, s, id, 1, 1190, 1200)
		bob := mustProvUser(t, s, "bob")
		mustProvGenerate(t, s, bob, 1)

		items, _ := mustProvList(t, s, "/internal/v1/users/"+id+"/api-keys")
		if len(items) != 2 || fmt.Sprint(items[0]["site_id"]) != "1" || fmt.Sprint(items[1]["site_id"]) != "2" {
			t.Errorf("keys = %v, want one on site 1 and one on site 2", items)
		}
		// The key list pages like every list.
		pages := mustProvWalk(t, s, "/internal/v1/users/"+id+"/api-keys", 1)
		if len(pages) != 2 || len(pages[0]) != 1 || len(pages[1]) != 1 || fmt.Sprint(pages[1][0]["site_id"]) != "2" {
			t.Errorf("pages of 1 = %v, want site 1 then site 2", pages)
		}
		for _, q := range []string{"limit=0", "limit=x", "cursor=x"} {
			mustErr(t, s.Admin(t, "GET", "/internal/v1/users/"+id+"/api-keys?"+q, nil), http.StatusBadRequest, "")
		}
	})
}

// After the cooldown a new key replaces the old one, which stops working
// at once.
func TestAPIKeysReplace(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		s := MustStart(t, MustEnv(t, b), "SMMAPI_API_KEYS_COOLDOWN=1s")
		id := mustProvUser(t, s, "alice")
		old, _ := mustProvGenerate(t, s, id, 1)
		mustProvCooldown(t, s, id, 1, 1, 1) // the configured 1 s, not 20 min
		mustProvKeyWorks(t, s, old, "", "0.0000")
		// A real expiry: the cooldown is 1 s, measured by the server's clock.
		time.Sleep(1100 * time.Millisecond)
		key, created := mustProvGenerate(t, s, id, 1)
		if key == old {
			t.Fatal("the new key equals the old one")
		}
		// The new key has not been used: the old key's last_used_at must
		// not carry over.
		items, _ := mustProvList(t, s, "/internal/v1/users/"+id+"/api-keys")
		if len(items) != 1 || items[0]["hint"] != created["hint"] || items[0]["last_used_at"] != nil {
			t.Errorf("keys = %v, want only the new key (%v), never used", items, created["hint"])
		}
		mustProvKeyInvalid(t, s, old, "")
		mustProvKeyWorks(t, s, key, "", "0.0000")

		// A revoked slot takes a new key once the cooldown is over.
		s.MustAdmin(t, http.StatusNoContent, "DELETE", "/internal/v1/users/"+id+"/api-keys/1", nil)
		time.Sleep(1100 * time.Millisecond)
		again, _ := mustProvGenerate(t, s, id, 1)
		mustProvKeyWorks(t, s, again, "", "0.0000")
		mustProvKeyInvalid(t, s, key, "")
	})
}

// DELETE /internal/v1/users/{id}/api-keys/{site_id} → 204; the key stops
// working at once; revoking does not reset the cooldown.
func TestAPIKeysRevoke(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		s := MustStart(t, MustEnv(t, b))
		alice := s.MustAccount(t, "alice", "1")
		bob := s.MustAccount(t, "bob", "2")
		path := "/internal/v1/users/" + alice.ID + "/api-keys/1"

		r := s.Admin(t, "DELETE", path, nil)
		if r.Status != http.StatusNoContent || len(r.Body) != 0 {
			t.Fatalf("revoke: status %d, body %q, want 204 and no body", r.Status, r.Body)
		}
		mustProvKeyInvalid(t, s, alice.Key, "")
		mustProvKeyWorks(t, s, bob.Key, "", "2.0000")
		if items, next := mustProvList(t, s, "/internal/v1/users/"+alice.ID+"/api-keys"); len(items) != 0 || next != "" {
			t.Errorf("keys after revoke = %v, next %q", items, next)
		}
		mustErr(t, s.Admin(t, "DELETE", path, nil), http.StatusNotFound, "")
		mustProvCooldown(t, s, alice.ID, 1, 1190, 1200)
		mustProvKeyInvalid(t, s, alice.Key, "")

		for _, p := range []string{
			"/internal/v1/users/" + alice.ID + "/api-keys/2",   // no key there
			"/internal/v1/users/" + alice.ID + "/api-keys/99",  // no such site
			"/internal/v1/users/" + alice.ID + "/api-keys/abc", // not an ID
			"/internal/v1/users/" + alice.ID + "/api-keys/0",
			"/internal/v1/users/999/api-keys/1",
		} {
			mustErr(t, s.Admin(t, "DELETE", p, nil), http.StatusNotFound, "")
		}
		mustProvKeyWorks(t, s, bob.Key, "", "2.0000")
	})
}

// Unknown user or site → 404, bad body → 400, and neither starts the
// cooldown.
func TestAPIKeysBadInput(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		s := MustStart(t, MustEnv(t, b))
		id := mustProvUser(t, s, "alice")
		tests := []struct {
			name       string
			path       string
			body       any
			wantStatus int
		}{
			{"unknown user", "/internal/v1/users/999/api-keys", `{"site_id":1}`, 404},
			{"non-numeric user", "/internal/v1/users/abc/api-keys", `{"site_id":1}`, 404},
			{"unknown site", "/internal/v1/users/" + id + "/api-keys", `{"site_id":99}`, 404},
			{"site zero", "/internal/v1/users/" + id + "/api-keys", `{"site_id":0}`, 400},
			{"missing site", "/internal/v1/users/" + id + "/api-keys", `{}`, 400},
			{"negative site", "/internal/v1/users/" + id + "/api-keys", `{"site_id":-1}`, 400},
			{"fractional site", "/internal/v1/users/" + id + "/api-keys", `{"site_id":1.5}`, 400},
			{"site as text", "/internal/v1/users/" + id + "/api-keys", `{"site_id":"one"}`, 400},
			{"unknown field", "/internal/v1/users/" + id + "/api-keys", `{"site_id":1,"key":"0123456789abcdef0123456789abcdef"}`, 400},
			{"not JSON", "/internal/v1/users/" + id + "/api-keys", `{"site_id":`, 400},
			{"JSON array", "/internal/v1/users/" + id + "/api-keys", `[1]`, 400},
			{"trailing data", "/internal/v1/users/" + id + "/api-keys", `{"site_id":1}]`, 400},
			{"empty body", "/internal/v1/users/" + id + "/api-keys", ``, 400},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				mustErr(t, s.Admin(t, "POST", tt.path, tt.body), tt.wantStatus, "")
			})
		}
		mustErr(t, s.Admin(t, "GET", "/internal/v1/users/999/api-keys", nil), http.StatusNotFound, "")
		if items, _ := mustProvList(t, s, "/internal/v1/users/"+id+"/api-keys"); len(items) != 0 {
			t.Errorf("keys after refused generations = %v", items)
		}
		// None of the refusals started a cooldown.
		mustProvGenerate(t, s, id, 1)
	})
}

// 20 concurrent generations for one account and site: exactly one key.
func TestAPIKeysConcurrentGenerate(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		s := MustStart(t, MustEnv(t, b))
		id := mustProvUser(t, s, "alice")
		const n = 20
		resps := make([]Response, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				resps[i], errs[i] = provSend(s, "POST", "/internal/v1/users/"+id+"/api-keys", map[string]any{"site_id": 1})
			})
		}
		close(start)
		wg.Wait()
		// Parallel requests leave dialled but unused connections, which
		// the server's graceful stop would wait 5 s for.
		client.CloseIdleConnections()
		var keys []string
		limited := 0
		for i, r := range resps {
			if errs[i] != nil {
				t.Fatalf("request %d: %v", i, errs[i])
			}
			switch r.Status {
			case http.StatusCreated:
				keys = append(keys, fmt.Sprint(r.Obj(t)["key"]))
			case http.StatusTooManyRequests:
				limited++
				mustProvRetryAfter(t, r, 1190, 1200)
			default:
				t.Errorf("request %d: status %d: %s", i, r.Status, r.Body)
			}
		}
		if len(keys) != 1 || limited != n-1 {
			t.Fatalf("%d×201, %d×429, want 1 and %d", len(keys), limited, n-1)
		}
		mustProvKeyWorks(t, s, keys[0], "", "0.0000")
		items, _ := mustProvList(t, s, "/internal/v1/users/"+id+"/api-keys")
		if len(items) != 1 || items[0]["hint"] != keys[0][:4]+"…"+keys[0][28:] {
			t.Errorf("keys = %v, want the one generated", items)
		}
	})
}

// Two instances on one database: the cooldown holds across them, and a
// key revoked or replaced on one stops working on the other at once.
func TestAPIKeysTwoInstances(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		if b.MySQLDSN == "" {
			t.Skip("the embedded mode serves one database file from one process (TestEmbeddedSingleProcess)")
		}
		env := MustEnv(t, b)
		s1 := MustStart(t, env)
		s2 := MustStart(t, env)
		id := mustProvUser(t, s1, "alice")
		const n = 10
		resps := make([]Response, 2*n)
		errs := make([]error, 2*n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range 2 * n {
			s := s1
			if i%2 == 1 {
				s = s2
			}
			wg.Go(func() {
				<-start
				resps[i], errs[i] = provSend(s, "POST", "/internal/v1/users/"+id+"/api-keys", map[string]any{"site_id": 1})
			})
		}
		close(start)
		wg.Wait()
		// Parallel requests leave dialled but unused connections, which
		// the server's graceful stop would wait 5 s for.
		client.CloseIdleConnections()
		var key string
		created := 0
		for i, r := range resps {
			if errs[i] != nil {
				t.Fatalf("request %d: %v", i, errs[i])
			}
			switch r.Status {
			case http.StatusCreated:
				created++
				key = fmt.Sprint(r.Obj(t)["key"])
			case http.StatusTooManyRequests:
				mustProvRetryAfter(t, r, 1190, 1200)
			default:
				t.Errorf("request %d: status %d: %s", i, r.Status, r.Body)
			}
		}
		if created != 1 {
			t.Fatalf("%d keys generated by two instances, want 1", created)
		}
		mustProvCooldown(t, s1, id, 1, 1190, 1200)
		mustProvCooldown(t, s2, id, 1, 1190, 1200)
		mustProvKeyWorks(t, s1, key, "", "0.0000")
		mustProvKeyWorks(t, s2, key, "", "0.0000")
		s1.MustAdmin(t, http.StatusNoContent, "DELETE", "/internal/v1/users/"+id+"/api-keys/1", nil)
		mustProvKeyInvalid(t, s2, key, "")
		mustProvCooldown(t, s2, id, 1, 1190, 1200)
	})
}

// mustProvGenerate generates a key and checks the 201 answer.
func mustProvGenerate(tb testing.TB, s *Server, userID string, site int) (string, map[string]any) {
	tb.Helper()
	r := s.Admin(tb, "POST", "/internal/v1/users/"+userID+"/api-keys", map[string]any{"site_id": site})
	if r.Status != http.StatusCreated {
		tb.Fatalf("generate for user %s on site %d: status %d: %s", userID, site, r.Status, r.Body)
	}
	k := r.Obj(tb)
	key, _ := k["key"].(string)
	if !provKeyShape.MatchString(key) {
		tb.Fatalf("key %q is not 32 lowercase hex characters", k["key"])
	}
	if len(k) != 4 || k["hint"] != key[:4]+"…"+key[28:] || fmt.Sprint(k["site_id"]) != strconv.Itoa(site) {
		tb.Errorf("generated = %s, want key, site_id %d, hint %s…%s, created_at", r.Body, site, key[:4], key[28:])
	}
	mustProvTime(tb, k["created_at"], time.Now().UTC().Add(-time.Minute))
	return key, k
}
