package tests

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"
)

// Hostile input to every action: each answers the documented error with
// HTTP 200 or 4xx (never 500), and writes nothing.
func TestHostileInput(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		env := MustEnv(t, b)
		s := MustStart(t, env, "SMMAPI_LIMITS_KEY_RATE=0", "SMMAPI_LIMITS_IP_RATE=0")
		a := s.MustAccount(t, "alice", "1")
		svc := s.MustService(t, map[string]any{"rate": "1", "min": 10, "max": 1000, "dripfeed": true})
		comments := s.MustService(t, map[string]any{"type": "Custom Comments", "rate": "1", "min": 1, "max": 10})
		long := strings.Repeat("x", 5000)
		many := strings.TrimSuffix(strings.Repeat("abcdefghij,", 101), ",")
		var manyDistinct []string
		for i := 0; i < 101; i++ {
			manyDistinct = append(manyDistinct, randHex(5))
		}
		weird := []string{"", " ", "-1", "0", "1.5", "1e9", "0x10", "９", "NaN", "null", "[]", "{}", "\x00", "'; DROP TABLE orders; --",
			"%00", "\u202e", long, "99999999999999999999999999", "١٢٣"}
		type tc struct {
			action string
			form   url.Values
		}
		var cases []tc
		for _, w := range weird {
			cases = append(cases,
				tc{"add", url.Values{"service": {w}, "link": {"https://x/y"}, "quantity": {"100"}}},
				tc{"add", url.Values{"service": {svc}, "link": {w}, "quantity": {"100"}}},
				tc{"add", url.Values{"service": {svc}, "link": {"https://x/" + randHex(4)}, "quantity": {w}}},
				tc{"add", url.Values{"service": {svc}, "link": {"https://x/" + randHex(4)}, "quantity": {"100"}, "runs": {w}, "interval": {"5"}}},
				tc{"add", url.Values{"service": {svc}, "link": {"https://x/" + randHex(4)}, "quantity": {"100"}, "runs": {"3"}, "interval": {w}}},
				tc{"add", url.Values{"service": {comments}, "link": {"https://x/" + randHex(4)}, "comments": {w}}},
				tc{"status", url.Values{"order": {w}}},
				tc{"status", url.Values{"orders": {w}}},
				tc{"refill", url.Values{"order": {w}}},
				tc{"refill", url.Values{"orders": {w + "," + w}}},
				tc{"refill_status", url.Values{"refill": {w}}},
				tc{"refill_status", url.Values{"refills": {w}}},
				tc{"cancel", url.Values{"orders": {w}}},
				tc{"cancel", url.Values{"order": {w}}},
				tc{"balance", url.Values{"extra": {w}}},
				tc{"services", url.Values{"extra": {w}}},
			)
		}
		for _, action := range []string{"status", "refill", "cancel"} {
			cases = append(cases, tc{action, url.Values{"orders": {many}}}, tc{action, url.Values{"orders": {strings.Join(manyDistinct, ",")}}},
				tc{action, url.Values{"orders": {",,,"}}})
		}
		cases = append(cases, tc{"refill_status", url.Values{"refills": {strings.Join(manyDistinct, ",")}}},
			tc{"add", url.Values{"service": {comments}, "link": {"https://x/c"}, "comments": {strings.Repeat("line\n", 20000)}}})

		count := func() [3]int {
			return [3]int{ordCount(t, env.DB(t), "SELECT COUNT(*) FROM orders"), ordCount(t, env.DB(t), "SELECT COUNT(*) FROM tickets"),
				ordCount(t, env.DB(t), "SELECT COUNT(*) FROM ledger_entries")}
		}
		before := count()
		placed := 0 // a weird but non-empty link or comment line is still a valid order
		for _, c := range cases {
			c.form.Set("key", a.Key)
			c.form.Set("action", c.action)
			r := s.Post(t, "/api/v2", c.form)
			if r.Status >= 500 {
				t.Fatalf("%s %.80q: HTTP %d %s", c.action, c.form.Encode(), r.Status, r.Body)
			}
			var e map[string]any
			if json.Unmarshal(r.Body, &e) == nil && e["error"] != nil && len(e) != 1 {
				t.Errorf("%s: error object with other keys: %s", c.action, r.Body)
			}
			if c.action == "add" && e["order"] != nil {
				placed++
			}
		}
		want := [3]int{before[0] + placed, before[1], before[2] + placed}
		if after := count(); after != want {
			t.Errorf("rows %v → %v with %d orders placed; refused input must write nothing", before, after, placed)
		}
		mustLedgerMatches(t, s, a.ID)
	})
}
