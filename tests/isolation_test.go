package tests

import (
	"bytes"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

// Another account's orders and refills are indistinguishable from unknown
// ones, for every action, byte for byte, and nothing is written for the
// caller.
func TestIsolation(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		env := MustEnv(t, b)
		s := MustStart(t, env)
		db := env.DB(t)
		alice := ordAccount(t, s, db, "alice", "1000")
		bob := ordAccount(t, s, db, "bob", "1000")
		svc := s.MustService(t, map[string]any{"rate": "1.0000", "refill": true, "cancel": true})
		pending := mustAdd(t, s, alice.Key, ordForm("service", svc, "link", "https://instagram.com/p/1", "quantity", "100"))
		done := mustAdd(t, s, alice.Key, ordForm("service", svc, "link", "https://instagram.com/p/2", "quantity", "100"))
		ordSetStatus(t, s, done, "Completed")
		refill := strconv.FormatInt(mustRefill(t, s, alice.Key, done), 10)
		// bob has orders and a refill of his own, so that a lookup scoped
		// to the wrong account would have something to find.
		bobs := mustAdd(t, s, bob.Key, ordForm("service", svc, "link", "https://instagram.com/p/1", "quantity", "100"))
		ordSetStatus(t, s, bobs, "Completed")
		mustRefill(t, s, bob.Key, bobs)

		tickets := ordCount(t, db, "SELECT COUNT(*) FROM tickets")
		bobBalance := ordBalance(t, s, bob)

		// Made-up IDs of the same shape as the real ones.
		const fake1, fake2, fakeRefill = "Zz9Yy8Xx7W", "Yy8Xx7Ww6V", "987654321"
		tests := []struct {
			name, action, param string
			real, fake          string
			want                string // bob's answer for the real ID
		}{
			{"status", "status", "order", pending, fake1, `{"error":"Incorrect order ID"}`},
			{"status completed", "status", "order", done, fake1, `{"error":"Incorrect order ID"}`},
			{"status multi", "status", "orders", pending + "," + done, fake1 + "," + fake2,
				fmt.Sprintf(`{%q:{"error":"Incorrect order ID"},%q:{"error":"Incorrect order ID"}}`, pending, done)},
			{"refill", "refill", "order", done, fake1, `{"error":"Incorrect order ID"}`},
			{"refill multi", "refill", "orders", done + "," + pending, fake1 + "," + fake2,
				fmt.Sprintf(`[{"order":%q,"refill":{"error":"Incorrect order ID"}},{"order":%q,"refill":{"error":"Incorrect order ID"}}]`, done, pending)},
			{"cancel", "cancel", "orders", pending, fake1, fmt.Sprintf(`[{"order":%q,"cancel":{"error":"Incorrect order ID"}}]`, pending)},
			{"cancel lone order", "cancel", "order", pending, fake1, fmt.Sprintf(`[{"order":%q,"cancel":{"error":"Incorrect order ID"}}]`, pending)},
			{"refill_status", "refill_status", "refill", refill, fakeRefill, `{"error":"Refill not found"}`},
			{"refill_status multi", "refill_status", "refills", refill, fakeRefill, fmt.Sprintf(`[{"refill":%s,"status":{"error":"Refill not found"}}]`, refill)},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				real := ordDo(t, s, bob.Key, tt.action, url.Values{tt.param: {tt.real}})
				jsonEqual(t, real, tt.want)
				fake := ordDo(t, s, bob.Key, tt.action, url.Values{tt.param: {tt.fake}})
				// Substitute the made-up IDs by the real ones: the bodies
				// must then be identical.
				body := fake.Body
				if tt.param == "orders" {
					first, second, _ := strings.Cut(tt.real, ",")
					body = bytes.ReplaceAll(body, []byte(fake1), []byte(first))
					body = bytes.ReplaceAll(body, []byte(fake2), []byte(second))
				} else {
					body = bytes.ReplaceAll(body, []byte(tt.fake), []byte(tt.real))
				}
				if !bytes.Equal(body, real.Body) || fake.Status != real.Status {
					t.Errorf("another account's ID reads differently from an unknown one:\n real: %d %s\n fake: %d %s", real.Status, real.Body, fake.Status, fake.Body)
				}
			})
		}

		if n := ordCount(t, db, "SELECT COUNT(*) FROM tickets"); n != tickets {
			t.Errorf("tickets %d, want %d: bob's calls wrote some", n, tickets)
		}
		if got := ordBalance(t, s, bob); got != bobBalance {
			t.Errorf("bob's balance %s, want %s", ordMoney(got), ordMoney(bobBalance))
		}
		// alice's orders are untouched: she can still cancel and still sees
		// her refill.
		jsonEqual(t, ordDo(t, s, alice.Key, "cancel", ordForm("order", pending)), fmt.Sprintf(`[{"order":%q,"cancel":1}]`, pending))
		jsonEqual(t, ordDo(t, s, alice.Key, "refill_status", ordForm("refill", refill)), `{"status":"Pending"}`)
		jsonEqual(t, ordDo(t, s, alice.Key, "status", ordForm("order", pending)), ordStatusWant("0.1000", "0", "Pending", "100"))
	})
}
