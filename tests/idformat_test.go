package tests

import (
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// orderFormat places an order through key on host and tells which format
// its ID came in: "numeric" (a JSON integer) or "alnum" (a 10-character
// string).
func orderFormat(t *testing.T, s *Server, key, host, svc string) string {
	t.Helper()
	r := mustProvPublic(t, s, host, url.Values{"key": {key}, "action": {"add"}, "service": {svc},
		"link": {"https://x/" + randHex(6)}, "quantity": {"10"}})
	var v map[string]json.RawMessage
	if err := json.Unmarshal(r.Body, &v); err != nil || v["order"] == nil {
		t.Fatalf("add on %q answered %s", host, r.Body)
	}
	if _, err := strconv.ParseInt(string(v["order"]), 10, 64); err == nil {
		mustIntOrder(t, r.Body)
		return "numeric"
	}
	var id string
	if json.Unmarshal(v["order"], &id) != nil || !ordIDPattern.MatchString(id) {
		t.Fatalf("add answered %s", r.Body)
	}
	return "alnum"
}

// An order's ID format is the account's own setting, else the setting of
// the site whose key placed it, else orders.id_format; a change applies at
// once to the next order (the key's cached look-up is dropped).
func TestOrderIDFormatInheritance(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		s := MustStart(t, MustEnv(t, b))
		s.MustAdmin(t, http.StatusCreated, "POST", "/internal/v1/sites", map[string]any{"name": "Child", "domains": []string{"child.example"}})
		svc := s.MustService(t, map[string]any{"rate": "1", "min": 1, "max": 100000})
		main := s.MustAccount(t, "main-acct", "100")
		child := s.MustAccountOn(t, "child-acct", "100", 2)
		if u := s.MustAdmin(t, 200, "GET", "/internal/v1/users/"+child.ID, nil); u["order_id_format"] != nil {
			t.Fatalf("a new account's order_id_format = %v, want null (inherit)", u["order_id_format"])
		}

		for _, tt := range []struct {
			name       string
			path, body string
			main, kid  string // expected formats through each account's key
		}{
			{"defaults", "", "", "alnum", "alnum"},
			{"child site numeric", "/internal/v1/sites/2", `{"order_id_format":"numeric"}`, "alnum", "numeric"},
			{"account overrides its site", "/internal/v1/users/" + child.ID, `{"order_id_format":"alnum"}`, "alnum", "alnum"},
			{"account inherits again", "/internal/v1/users/" + child.ID, `{"order_id_format":null}`, "alnum", "numeric"},
			{"main site numeric", "/internal/v1/sites/1", `{"order_id_format":"numeric"}`, "numeric", "numeric"},
			{"child site inherits the config", "/internal/v1/sites/2", `{"order_id_format":null}`, "numeric", "alnum"},
			{"account numeric on an alnum site", "/internal/v1/users/" + child.ID, `{"order_id_format":"numeric"}`, "numeric", "numeric"},
		} {
			if tt.path != "" {
				s.MustAdmin(t, 200, "PATCH", tt.path, tt.body)
			}
			if got := orderFormat(t, s, main.Key, "", svc); got != tt.main {
				t.Errorf("%s: main site order is %s, want %s", tt.name, got, tt.main)
			}
			if got := orderFormat(t, s, child.Key, "child.example", svc); got != tt.kid {
				t.Errorf("%s: child site order is %s, want %s", tt.name, got, tt.kid)
			}
		}

		// Sites carry the field; bad values and unknown sites are refused.
		r := s.Admin(t, "GET", "/internal/v1/sites", nil)
		jsonEqual(t, r, `{"items":[{"id":1,"name":"Main","domains":[],"is_main":true,"order_id_format":"numeric"},`+
			`{"id":2,"name":"Child","domains":["child.example"],"is_main":false,"order_id_format":null}],"next_cursor":""}`)
		for _, tt := range []struct {
			path, body string
			want       int
		}{
			{"/internal/v1/sites/2", `{"order_id_format":"hex"}`, 400},
			{"/internal/v1/sites/2", `{"order_id_format":10}`, 400},
			{"/internal/v1/sites/2", `{}`, 400},
			{"/internal/v1/sites/2", `{"name":"x"}`, 400},
			{"/internal/v1/sites/9", `{"order_id_format":"numeric"}`, 404},
			{"/internal/v1/users/" + child.ID, `{"order_id_format":""}`, 400},
		} {
			if r := s.Admin(t, "PATCH", tt.path, tt.body); r.Status != tt.want {
				t.Errorf("PATCH %s %s: %d %s, want %d", tt.path, tt.body, r.Status, r.Body, tt.want)
			}
		}
	})
}

// orders.id_format is the last fallback.
func TestOrderIDFormatConfig(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		s := MustStart(t, MustEnv(t, b), "SMMAPI_ORDERS_ID_FORMAT=numeric")
		svc := s.MustService(t, map[string]any{"rate": "1", "min": 1, "max": 100000})
		a := s.MustAccount(t, "inherits", "100")
		if got := orderFormat(t, s, a.Key, "", svc); got != "numeric" {
			t.Errorf("order is %s under orders.id_format=numeric", got)
		}
		s.MustAdmin(t, 200, "PATCH", "/internal/v1/users/"+a.ID, `{"order_id_format":"alnum"}`)
		if got := orderFormat(t, s, a.Key, "", svc); got != "alnum" {
			t.Errorf("order is %s for an account set to alnum", got)
		}
	})
}

// A SmartPanel-family child on alphanumeric IDs stores them in an INT
// column and then polls "0" (an ID starting with a letter) or the digit
// prefix ("34P8Y0jiIr" → 34). Those look-ups are counted per account,
// listed, exported as a metric and warned about once; numeric accounts and
// ordinary IDs are not counted; counts survive a restart.
func TestTruncationWatch(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		env := MustEnv(t, b)
		s := MustStart(t, env)
		svc := s.MustService(t, map[string]any{"rate": "1", "min": 1, "max": 100000, "refill": true, "cancel": true})
		child := s.MustAccount(t, "smartpanel-child", "100")
		numeric := s.MustAccount(t, "numeric-child", "100")
		quiet := s.MustAccount(t, "quiet", "100")
		s.MustAdmin(t, 200, "PATCH", "/internal/v1/users/"+numeric.ID, `{"order_id_format":"numeric"}`)
		id := mustAdd(t, s, child.Key, url.Values{"service": {svc}, "link": {"https://x/1"}, "quantity": {"10"}})

		// What the child's crons send, as the PHP class sends it.
		for _, req := range [][][2]string{
			{{"action", "status"}, {"order", "0"}},
			{{"action", "status"}, {"order", "34"}},
			{{"action", "status"}, {"orders", "0,34," + id}}, // two suspects, one real ID
			{{"action", "refill"}, {"order", "34"}},
			{{"action", "cancel"}, {"orders", "0"}},
			{{"action", "status"}, {"order", id}},           // not counted
			{{"action", "status"}, {"order", "1234567890"}}, // 10 digits: a numeric-format ID, not counted
		} {
			r := phpClientPost(t, s, append([][2]string{{"key", child.Key}}, req...))
			if r.Status != 200 {
				t.Fatalf("%v: %d %s", req, r.Status, r.Body)
			}
		}
		r := phpClientPost(t, s, [][2]string{{"key", child.Key}, {"action", "status"}, {"order", "34"}})
		jsonEqual(t, r, `{"error":"Incorrect order ID"}`)
		phpClientPost(t, s, [][2]string{{"key", numeric.Key}, {"action", "status"}, {"order", "34"}})
		phpClientPost(t, s, [][2]string{{"key", quiet.Key}, {"action", "status"}, {"order", id}})
		const want = 7 // 1 + 1 + 2 + 1 + 1 + the one just above

		// The count reaches the database within the flush interval (2 s).
		var listed []any
		deadline := time.Now().Add(15 * time.Second)
		for {
			l := s.MustAdmin(t, 200, "GET", "/internal/v1/users?suspect_truncation=true", nil)
			listed, _ = l["items"].([]any)
			if len(listed) == 1 && listed[0].(map[string]any)["suspect_truncated_ids"] == json.Number(strconv.Itoa(want)) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("?suspect_truncation=true lists %v, want only %s with %d", listed, child.ID, want)
			}
			time.Sleep(200 * time.Millisecond)
		}
		u := listed[0].(map[string]any)
		if u["id"] != json.Number(child.ID) {
			t.Fatalf("listed %v, want account %s", u, child.ID)
		}
		if at, _ := u["last_suspect_truncation_at"].(string); at == "" {
			t.Errorf("last_suspect_truncation_at = %v", u["last_suspect_truncation_at"])
		}
		for _, other := range []string{numeric.ID, quiet.ID} {
			if o := s.MustAdmin(t, 200, "GET", "/internal/v1/users/"+other, nil); o["suspect_truncated_ids"] != json.Number("0") || o["last_suspect_truncation_at"] != nil {
				t.Errorf("account %s: %v", other, o)
			}
		}
		if all := s.MustAdmin(t, 200, "GET", "/internal/v1/users?suspect_truncation=false", nil); len(all["items"].([]any)) != 3 {
			t.Errorf("?suspect_truncation=false lists %d accounts, want all 3", len(all["items"].([]any)))
		}
		if r := s.Admin(t, "GET", "/internal/v1/users?suspect_truncation=yes", nil); r.Status != 400 {
			t.Errorf("?suspect_truncation=yes: %d", r.Status)
		}

		m := s.Admin(t, "GET", "/metrics", nil)
		if !regexp.MustCompile(`(?m)^smmapi_suspect_truncated_ids_total ` + strconv.Itoa(want) + `$`).Match(m.Body) {
			t.Errorf("metric smmapi_suspect_truncated_ids_total is not %d", want)
		}

		// One warn line for the account (not per look-up), naming it and
		// never its key.
		warns := 0
		for _, line := range strings.Split(s.Logs(), "\n") {
			if strings.Contains(line, "suspect truncated order IDs") {
				warns++
				var l struct {
					Level     string
					AccountID json.Number `json:"account_id"`
				}
				if json.Unmarshal([]byte(line), &l) != nil || l.Level != "WARN" || l.AccountID.String() != child.ID {
					t.Errorf("warn line %s", line)
				}
			}
		}
		if warns != 1 {
			t.Errorf("%d warn lines, want 1", warns)
		}

		// Counted and not yet flushed at stop: written by the stop.
		for i := 0; i < 3; i++ {
			phpClientPost(t, s, [][2]string{{"key", child.Key}, {"action", "status"}, {"order", "0"}})
		}
		s.Stop(t)
		s2 := MustStart(t, env)
		if u := s2.MustAdmin(t, 200, "GET", "/internal/v1/users/"+child.ID, nil); u["suspect_truncated_ids"] != json.Number(strconv.Itoa(want+3)) {
			t.Errorf("after a restart: %v, want %d", u["suspect_truncated_ids"], want+3)
		}
	})
}
