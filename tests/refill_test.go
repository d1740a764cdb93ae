package tests

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

// refill, single: {"refill":<ticket id>} for a Completed or Partial order,
// the spec's texts for every refusal, and one live ticket per order.
func TestRefill(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		env := MustEnv(t, b)
		s := MustStart(t, env)
		db := env.DB(t)
		a := ordAccount(t, s, db, "alice", "1000")
		svc := s.MustService(t, map[string]any{"rate": "1.0000", "refill": true})
		noRefill := s.MustService(t, map[string]any{"rate": "1.0000", "refill": false})
		n := 0
		order := func(svc, status string) string {
			n++
			return ordAddIn(t, s, a.Key, svc, fmt.Sprintf("https://instagram.com/p/r%d", n), "100", status)
		}
		completed := order(svc, "Completed")
		before := ordBalance(t, s, a)

		r := ordDo(t, s, a.Key, "refill", ordForm("order", completed))
		refill := ordRefillID(t, r)
		// The refill ID is assigned by the database; it becomes the spec's
		// example value 1 before the byte comparison.
		ordGolden(t, "refill.json", r, fmt.Sprintf(`"refill":%d`, refill), `"refill":1`)
		if got, want := ordTicketRow(t, db, refill), (ordTicket{"refill", "open", ordRowID(t, db, completed), ordUID(t, a), true}); got != want {
			t.Errorf("ticket %d = %+v, want %+v", refill, got, want)
		}
		jsonEqual(t, ordDo(t, s, a.Key, "refill_status", ordForm("refill", strconv.FormatInt(refill, 10))), `{"status":"Pending"}`)
		if got := ordBalance(t, s, a); got != before {
			t.Errorf("balance moved on refill: %s, want %s", ordMoney(got), ordMoney(before))
		}
		jsonEqual(t, ordDo(t, s, a.Key, "status", ordForm("order", completed)), ordStatusWant("0.1000", "0", "Completed", "100"))

		partial := order(svc, "Partial")
		if p := mustRefill(t, s, a.Key, partial); p == refill {
			t.Errorf("second ticket has the same ID %d", p)
		}

		const (
			already    = `{"error":"Refill already requested for this order"}`
			ineligible = `{"error":"Order is not eligible for refill"}`
			disabled   = `{"error":"Refill is disabled for this service"}`
			unknown    = `{"error":"Incorrect order ID"}`
		)
		tests := []struct {
			name string
			form url.Values
			want string
		}{
			{"already requested", ordForm("order", completed), already},
			{"already requested, Partial", ordForm("order", partial), already},
			{"Pending", ordForm("order", order(svc, "Pending")), ineligible},
			{"In progress", ordForm("order", order(svc, "In progress")), ineligible},
			{"Processing", ordForm("order", order(svc, "Processing")), ineligible},
			{"Canceled", ordForm("order", order(svc, "Canceled")), ineligible},
			{"service without refill", ordForm("order", order(noRefill, "Completed")), disabled},
			{"unknown", ordForm("order", "Zz9Yy8Xx7W"), unknown},
			{"internal row ID", ordForm("order", strconv.FormatInt(ordRowID(t, db, completed), 10)), unknown},
			{"no order parameter", ordForm(), `{"error":"Incorrect request"}`},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				tickets := ordCount(t, db, "SELECT COUNT(*) FROM tickets")
				jsonEqual(t, ordDo(t, s, a.Key, "refill", tt.form), tt.want)
				if got := ordCount(t, db, "SELECT COUNT(*) FROM tickets"); got != tickets {
					t.Errorf("tickets %d, want %d: a refused refill wrote one", got, tickets)
				}
			})
		}
	})
}

// An admin's decision shows in refill_status; while the ticket is live no
// second refill is opened, once it is closed a new one can be.
func TestRefillTicketLifecycle(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		env := MustEnv(t, b)
		s := MustStart(t, env)
		db := env.DB(t)
		a := ordAccount(t, s, db, "alice", "1000")
		svc := s.MustService(t, map[string]any{"rate": "1.0000", "refill": true})
		id := mustAdd(t, s, a.Key, ordForm("service", svc, "link", "https://instagram.com/p/1", "quantity", "100"))
		ordSetStatus(t, s, id, "Completed")
		refill := mustRefill(t, s, a.Key, id)
		rs := ordForm("refill", strconv.FormatInt(refill, 10))

		for _, tt := range []struct{ ticket, want string }{
			{"forwarded", "In progress"},
			{"rejected", "Rejected"},
			{"completed", "Completed"},
			{"open", "Pending"},
		} {
			// Raw SQL: every status with open_key kept set, back to open at
			// the end; no decision does that (a settled ticket frees its order).
			ordExec(t, db, "UPDATE tickets SET status = ? WHERE id = ?", tt.ticket, refill)
			jsonEqual(t, ordDo(t, s, a.Key, "refill_status", rs), fmt.Sprintf(`{"status":%q}`, tt.want))
			// open_key still set: the ticket is live, no second one.
			jsonEqual(t, ordDo(t, s, a.Key, "refill", ordForm("order", id)), `{"error":"Refill already requested for this order"}`)
		}

		// Closed by an admin's decision: status completed, open_key cleared.
		admMustDecide(t, s, strconv.FormatInt(refill, 10), "complete")
		second := mustRefill(t, s, a.Key, id)
		if second == refill {
			t.Fatalf("new refill reuses ticket %d", refill)
		}
		jsonEqual(t, ordDo(t, s, a.Key, "refill_status", ordForm("refill", strconv.FormatInt(second, 10))), `{"status":"Pending"}`)
		jsonEqual(t, ordDo(t, s, a.Key, "refill_status", rs), `{"status":"Completed"}`)
		jsonEqual(t, ordDo(t, s, a.Key, "refill", ordForm("order", id)), `{"error":"Refill already requested for this order"}`)
		if n := ordCount(t, db, "SELECT COUNT(*) FROM tickets WHERE order_id = ?", ordRowID(t, db, id)); n != 2 {
			t.Errorf("tickets of the order: %d, want 2", n)
		}
	})
}

// refill_days bounds the refill window from the order's finish.
func TestRefillDays(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		env := MustEnv(t, b)
		s := MustStart(t, env)
		db := env.DB(t)
		a := ordAccount(t, s, db, "alice", "1000")
		svc := s.MustService(t, map[string]any{"rate": "1.0000", "refill": true, "refill_days": 1})
		tests := []struct {
			name     string
			finished time.Duration // ago
			ok       bool
		}{
			{"finished 1 hour ago", time.Hour, true},
			{"finished 23 hours ago", 23 * time.Hour, true},
			{"finished 25 hours ago", 25 * time.Hour, false},
			{"finished 2 days ago", 48 * time.Hour, false},
		}
		for i, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				id := mustAdd(t, s, a.Key, ordForm("service", svc, "link", fmt.Sprintf("https://instagram.com/p/d%d", i), "quantity", "100"))
				ordSetStatus(t, s, id, "Completed")
				ordAge(t, db, id, tt.finished)
				r := ordDo(t, s, a.Key, "refill", ordForm("order", id))
				if tt.ok {
					ordRefillID(t, r)
				} else {
					jsonEqual(t, r, `{"error":"Order is not eligible for refill"}`)
				}
			})
		}
	})
}

// refill, multiple: an array in the order sent, per-order errors, repeats
// once, at most 100 distinct IDs.
func TestRefillMulti(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		env := MustEnv(t, b)
		s := MustStart(t, env)
		db := env.DB(t)
		a := ordAccount(t, s, db, "alice", "1000")
		svc := s.MustService(t, map[string]any{"rate": "1.0000", "refill": true})
		noRefill := s.MustService(t, map[string]any{"rate": "1.0000", "refill": false})
		n := 0
		order := func(svc, status string) string {
			n++
			return ordAddIn(t, s, a.Key, svc, fmt.Sprintf("https://instagram.com/p/m%d", n), "100", status)
		}

		// Golden: the spec's example. The order's random ID and the ticket
		// ID become the example's values; a1B2c3D4e5 is sent as is.
		c := order(svc, "Completed")
		r := ordDo(t, s, a.Key, "refill", ordForm("orders", c+",a1B2c3D4e5"))
		items := ordArray(t, r)
		refill, _ := items[0]["refill"].(json.Number)
		got := ordGolden(t, "refill_multi.json", r, c, "b76VJizQKZ", fmt.Sprintf(`"refill":%s}`, refill), `"refill":12}`)
		if want := `[{"order":"b76VJizQKZ","refill":12},{"order":"a1B2c3D4e5","refill":{"error":"Incorrect order ID"}}]`; string(got) != want {
			t.Errorf("refill = %s, want the spec's example %s", got, want)
		}
		if tk := ordTicketRow(t, db, ordMustInt(t, refill.String())); tk.Type != "refill" || tk.OrderID != ordRowID(t, db, c) {
			t.Errorf("ticket %s = %+v, not the refill of %s", refill, tk, c)
		}

		c2, p, pend, off := order(svc, "Completed"), order(svc, "Partial"), order(svc, "Pending"), order(noRefill, "Completed")
		r = ordDo(t, s, a.Key, "refill", ordForm("orders", " "+pend+", "+c2+",,"+off+",Zz9Yy8Xx7W,"+c2+","+c+","+p+" "))
		items = ordArray(t, r)
		if len(items) != 6 {
			t.Fatalf("answer %s, want 6 entries", r.Body)
		}
		jsonEqual(t, r, fmt.Sprintf(`[`+
			`{"order":%q,"refill":{"error":"Order is not eligible for refill"}},`+
			`{"order":%q,"refill":%s},`+
			`{"order":%q,"refill":{"error":"Refill is disabled for this service"}},`+
			`{"order":"Zz9Yy8Xx7W","refill":{"error":"Incorrect order ID"}},`+
			`{"order":%q,"refill":{"error":"Refill already requested for this order"}},`+
			`{"order":%q,"refill":%s}]`,
			pend, c2, items[1]["refill"], off, c, p, items[5]["refill"]))
		for _, i := range []int{1, 5} {
			if _, ok := items[i]["refill"].(json.Number); !ok {
				t.Errorf("entry %d: refill %v is not a number", i, items[i]["refill"])
			}
		}

		// A single ID in orders is still a list.
		c3 := order(svc, "Completed")
		r = ordDo(t, s, a.Key, "refill", ordForm("orders", c3))
		if items := ordArray(t, r); len(items) != 1 || items[0]["order"] != c3 {
			t.Errorf("answer %s, want one entry for %s", r.Body, c3)
		}

		var fakes []string
		for i := range 101 {
			fakes = append(fakes, fmt.Sprintf("Fake%06d", i))
		}
		tickets := ordCount(t, db, "SELECT COUNT(*) FROM tickets")
		c4 := order(svc, "Completed")
		for _, tt := range []struct{ name, orders string }{
			{"only commas", ",,,"},
			{"101 distinct", c4 + "," + strings.Join(fakes[:100], ",")},
		} {
			jsonEqual(t, ordDo(t, s, a.Key, "refill", ordForm("orders", tt.orders)), `{"error":"Incorrect request"}`)
		}
		if got := ordCount(t, db, "SELECT COUNT(*) FROM tickets"); got != tickets {
			t.Errorf("a refused list wrote tickets: %d, want %d", got, tickets)
		}
		r = ordDo(t, s, a.Key, "refill", ordForm("orders", c4+","+strings.Join(fakes[:99], ",")))
		if items := ordArray(t, r); len(items) != 100 || items[0]["order"] != c4 {
			t.Errorf("100 IDs: %d entries, first %v", len(items), items[0])
		}
	})
}
