package tests

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// POST /internal/v1/users → 201 with the account; GET answers the same
// object; a taken username → 409.
func TestUsersCreate(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		s := MustStart(t, MustEnv(t, b))
		start := time.Now().UTC().Truncate(time.Second)
		r := s.Admin(t, "POST", "/internal/v1/users", map[string]any{"username": "alice"})
		if r.Status != http.StatusCreated {
			t.Fatalf("status %d: %s", r.Status, r.Body)
		}
		u := r.Obj(t)
		if len(u) != 10 || u["discount_percent"] != "0.00" {
			t.Errorf("fields of %s, want id, username, balance, currency, disabled, order_id_format, suspect_truncated_ids, last_suspect_truncation_at, discount_percent (\"0.00\"), created_at", r.Body)
		}
		id, ok := u["id"].(json.Number)
		if n, err := id.Int64(); !ok || err != nil || n < 1 {
			t.Errorf("id = %v, want a positive whole number", u["id"])
		}
		if u["username"] != "alice" || u["balance"] != "0.0000" || u["currency"] != "CNY" || u["disabled"] != false ||
			u["order_id_format"] != nil || u["suspect_truncated_ids"] != json.Number("0") || u["last_suspect_truncation_at"] != nil {
			t.Errorf("user = %s", r.Body)
		}
		mustProvTime(t, u["created_at"], start)

		got := s.Admin(t, "GET", "/internal/v1/users/"+id.String(), nil)
		if got.Status != http.StatusOK {
			t.Fatalf("get: status %d: %s", got.Status, got.Body)
		}
		jsonEqual(t, got, string(r.Body))

		r = s.Admin(t, "POST", "/internal/v1/users", map[string]any{"username": "alice"})
		mustErr(t, r, http.StatusConflict, "")
		if items, _ := mustProvList(t, s, "/internal/v1/users"); len(items) != 1 {
			t.Errorf("users after a 409 = %v, want alice only", items)
		}
	})
}

// Concurrent creations of one username: exactly one account.
func TestUsersCreateConcurrent(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		s := MustStart(t, MustEnv(t, b))
		const n = 10
		resps := make([]Response, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				resps[i], errs[i] = provSend(s, "POST", "/internal/v1/users", map[string]any{"username": "carol"})
			})
		}
		close(start)
		wg.Wait()
		// Parallel requests leave dialled but unused connections, which
		// the server's graceful stop would wait 5 s for.
		client.CloseIdleConnections()
		count := map[int]int{}
		for i, r := range resps {
			if errs[i] != nil {
				t.Fatalf("request %d: %v", i, errs[i])
			}
			count[r.Status]++
			if r.Status == http.StatusConflict {
				mustErr(t, r, http.StatusConflict, "")
			}
		}
		if count[http.StatusCreated] != 1 || count[http.StatusConflict] != n-1 {
			t.Errorf("statuses = %v, want 1×201 and %d×409", count, n-1)
		}
		if items, _ := mustProvList(t, s, "/internal/v1/users"); len(items) != 1 {
			t.Errorf("users = %v, want one carol", items)
		}
	})
}

// Bad input → 400 and nothing written.
func TestUsersBadInput(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		s := MustStart(t, MustEnv(t, b))
		tests := []struct {
			name string
			body any
		}{
			{"empty username", `{"username":""}`},
			{"blank username", `{"username":"   "}`},
			{"space inside", `{"username":"al ice"}`},
			{"tab inside", `{"username":"al\tice"}`},
			{"control character", `{"username":"al\u0000ice"}`},
			{"65 characters", map[string]any{"username": strings.Repeat("a", 65)}},
			{"missing username", `{}`},
			{"null", `null`},
			{"number", `{"username":5}`},
			{"boolean", `{"username":true}`},
			{"unknown field", `{"username":"bob","admin":true}`},
			{"trailing garbage", `{"username":"bob"}x`},
			{"two objects", `{"username":"bob"}{"username":"carol"}`},
			{"not JSON", `{"username":`},
			{"JSON array", `[{"username":"bob"}]`},
			{"empty body", ``},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				mustErr(t, s.Admin(t, "POST", "/internal/v1/users", tt.body), http.StatusBadRequest, "")
				if items, _ := mustProvList(t, s, "/internal/v1/users"); len(items) != 0 {
					t.Fatalf("users after a 400 = %v, want none", items)
				}
			})
		}
		// 64 characters is the longest name.
		long := strings.Repeat("a", 64)
		u := s.MustAdmin(t, http.StatusCreated, "POST", "/internal/v1/users", map[string]any{"username": long})
		if u["username"] != long {
			t.Errorf("username = %v, want %s", u["username"], long)
		}
	})
}

// An unknown or non-numeric user ID names no object: 404 on every route.
func TestUsersUnknown(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		s := MustStart(t, MustEnv(t, b))
		mustProvUser(t, s, "alice")
		for _, id := range []string{"999", "0", "abc", "-1", "1.5", "18446744073709551616"} {
			for _, rt := range []struct {
				method, path string
				body         any
			}{
				{"GET", "", nil},
				{"PATCH", "", map[string]any{"disabled": true}},
				{"POST", "/balance", map[string]any{"amount": "1.0000", "reason": "x"}},
				{"GET", "/ledger", nil},
				{"POST", "/api-keys", map[string]any{"site_id": 1}},
				{"GET", "/api-keys", nil},
				{"DELETE", "/api-keys/1", nil},
			} {
				path := "/internal/v1/users/" + id + rt.path
				t.Run(rt.method+" "+path, func(t *testing.T) {
					mustErr(t, s.Admin(t, rt.method, path, rt.body), http.StatusNotFound, "")
				})
			}
		}
		// Nothing was written for user 999 by the refused calls.
		if items, _ := mustProvList(t, s, "/internal/v1/users"); len(items) != 1 {
			t.Errorf("users = %v, want alice only", items)
		}
	})
}

// GET /internal/v1/users pages by limit and cursor; next_cursor is "" on
// the last page.
func TestUsersList(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		s := MustStart(t, MustEnv(t, b))
		var want []string
		for i := range 5 {
			name := fmt.Sprintf("user%d", i)
			mustProvUser(t, s, name)
			want = append(want, name)
		}
		pages := mustProvWalk(t, s, "/internal/v1/users", 2)
		if len(pages) != 3 || len(pages[0]) != 2 || len(pages[1]) != 2 || len(pages[2]) != 1 {
			t.Fatalf("pages = %v, want 2+2+1 users", pages)
		}
		var got []string
		for _, p := range pages {
			for _, u := range p {
				got = append(got, fmt.Sprint(u["username"]))
			}
		}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("users = %v, want %v in creation order", got, want)
		}
		// A page that ends exactly at the last user has no next page.
		if pages := mustProvWalk(t, s, "/internal/v1/users", 5); len(pages) != 1 || len(pages[0]) != 5 {
			t.Errorf("limit=5: pages = %v, want one page of 5", pages)
		}
		for _, q := range []string{"", "?limit=500", "?limit=1000"} {
			items, next := mustProvList(t, s, "/internal/v1/users"+q)
			if len(items) != 5 || next != "" {
				t.Errorf("%q: %d users, next %q, want 5 and \"\"", q, len(items), next)
			}
		}
		for _, q := range []string{"limit=0", "limit=-1", "limit=abc", "limit=1.5", "cursor=abc", "cursor=-1", "cursor=0", "limit=2&cursor=x"} {
			mustErr(t, s.Admin(t, "GET", "/internal/v1/users?"+q, nil), http.StatusBadRequest, "")
		}
	})
}

// PATCH {"disabled":true} turns the account's keys into invalid keys at
// once; {"disabled":false} restores them.
func TestUsersDisable(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		s := MustStart(t, MustEnv(t, b))
		alice := s.MustAccount(t, "alice", "3")
		bob := s.MustAccount(t, "bob", "4")
		mustProvKeyWorks(t, s, alice.Key, "", "3.0000")
		path := "/internal/v1/users/" + alice.ID

		u := s.MustAdmin(t, http.StatusOK, "PATCH", path, map[string]any{"disabled": true})
		if u["disabled"] != true || u["username"] != "alice" || u["balance"] != "3.0000" {
			t.Errorf("patched = %v, want alice disabled", u)
		}
		mustProvKeyInvalid(t, s, alice.Key, "")
		mustProvKeyWorks(t, s, bob.Key, "", "4.0000")
		if g := s.MustAdmin(t, http.StatusOK, "GET", path, nil); g["disabled"] != true {
			t.Errorf("get after disable = %v", g)
		}
		// Disabling does not reset the key generation cooldown.
		mustProvCooldown(t, s, alice.ID, 1, 1190, 1200)
		// Disabling twice is no conflict.
		s.MustAdmin(t, http.StatusOK, "PATCH", path, map[string]any{"disabled": true})

		u = s.MustAdmin(t, http.StatusOK, "PATCH", path, map[string]any{"disabled": false})
		if u["disabled"] != false {
			t.Errorf("patched = %v, want enabled", u)
		}
		mustProvKeyWorks(t, s, alice.Key, "", "3.0000")

		// An empty patch changes nothing.
		before := s.Admin(t, "GET", path, nil).Body
		r := s.Admin(t, "PATCH", path, map[string]any{})
		if r.Status != http.StatusOK {
			t.Errorf("empty patch: status %d: %s", r.Status, r.Body)
		}
		jsonEqual(t, r, string(before))

		for _, body := range []string{`{"disabled":"yes"}`, `{"disabled":1}`, `{"username":"eve"}`, `{"balance":"100"}`, `[]`, `{`, ``} {
			mustErr(t, s.Admin(t, "PATCH", path, body), http.StatusBadRequest, "")
		}
		if after := s.Admin(t, "GET", path, nil).Body; !bytes.Equal(after, before) {
			t.Errorf("user changed by refused patches:\n got: %s\nwant: %s", after, before)
		}
		mustProvKeyWorks(t, s, alice.Key, "", "3.0000")
	})
}
