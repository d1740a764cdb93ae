package tests

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
)

// cancel: always an array in the order sent; cancel:1 opens a ticket and
// refunds nothing; the spec's texts per order.
func TestCancel(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		env := MustEnv(t, b)
		s := MustStart(t, env)
		db := env.DB(t)
		a := ordAccount(t, s, db, "alice", "1000")
		svc := s.MustService(t, map[string]any{"rate": "1.0000", "cancel": true})
		noCancel := s.MustService(t, map[string]any{"rate": "1.0000", "cancel": false})
		n := 0
		order := func(svc, status string) string {
			n++
			return ordAddIn(t, s, a.Key, svc, fmt.Sprintf("https://instagram.com/p/c%d", n), "100", status)
		}

		// Golden: the spec's example. b76VJizQKZ is sent as is (unknown);
		// the real order's random ID becomes a1B2c3D4e5.
		p := order(svc, "Pending")
		before := ordBalance(t, s, a)
		r := ordDo(t, s, a.Key, "cancel", ordForm("orders", "b76VJizQKZ,"+p))
		got := ordGolden(t, "cancel.json", r, p, "a1B2c3D4e5")
		if want := `[{"order":"b76VJizQKZ","cancel":{"error":"Incorrect order ID"}},{"order":"a1B2c3D4e5","cancel":1}]`; string(got) != want {
			t.Errorf("cancel = %s, want the spec's example %s", got, want)
		}
		tk := ordTicketRow(t, db, ordInt(t, db, "SELECT id FROM tickets WHERE order_id = ?", ordRowID(t, db, p)))
		if want := (ordTicket{"cancel", "open", ordRowID(t, db, p), ordUID(t, a), true}); tk != want {
			t.Errorf("ticket = %+v, want %+v", tk, want)
		}
		// A ticket, not a cancellation: no refund, the order unchanged.
		if got := ordBalance(t, s, a); got != before {
			t.Errorf("balance %s after cancel, want %s unchanged", ordMoney(got), ordMoney(before))
		}
		if refunded := ordInt(t, db, "SELECT refunded FROM orders WHERE public_id = ?", p); refunded != 0 {
			t.Errorf("refunded %d, want 0", refunded)
		}
		jsonEqual(t, ordDo(t, s, a.Key, "status", ordForm("order", p)), ordStatusWant("0.1000", "0", "Pending", "100"))

		const (
			already    = `{"error":"Cancel already requested for this order"}`
			ineligible = `{"error":"Order is not eligible for cancel"}`
			disabled   = `{"error":"Cancel is disabled for this service"}`
			unknown    = `{"error":"Incorrect order ID"}`
		)
		one := func(id, result string) string { return fmt.Sprintf(`[{"order":%q,"cancel":%s}]`, id, result) }
		var fakes []string
		for i := range 101 {
			fakes = append(fakes, fmt.Sprintf("Fake%06d", i))
		}
		p2, p3, inProgress, processing := order(svc, "Pending"), order(svc, "Pending"), order(svc, "In progress"), order(svc, "Processing")
		completed, partial, canceled, off := order(svc, "Completed"), order(svc, "Partial"), order(svc, "Canceled"), order(noCancel, "Pending")
		tests := []struct {
			name    string
			form    url.Values
			want    string
			tickets int // tickets the call opens
		}{
			{"lone order answers a list", ordForm("order", p2), one(p2, "1"), 1},
			{"already requested", ordForm("orders", p), one(p, already), 0},
			{"already requested, lone order", ordForm("order", p2), one(p2, already), 0},
			{"In progress", ordForm("orders", inProgress), one(inProgress, "1"), 1},
			{"Processing", ordForm("order", processing), one(processing, "1"), 1},
			{"Completed", ordForm("orders", completed), one(completed, ineligible), 0},
			{"Partial", ordForm("orders", partial), one(partial, ineligible), 0},
			{"Canceled", ordForm("orders", canceled), one(canceled, ineligible), 0},
			{"service without cancel", ordForm("orders", off), one(off, disabled), 0},
			{"unknown", ordForm("order", "Zz9Yy8Xx7W"), one("Zz9Yy8Xx7W", unknown), 0},
			{"internal row ID", ordForm("orders", fmt.Sprint(ordRowID(t, db, p3))), one(fmt.Sprint(ordRowID(t, db, p3)), unknown), 0},
			{"many in order, repeats once", ordForm("orders", " "+p3+" ,Zz9Yy8Xx7W,,"+completed+","+p3+","+p),
				fmt.Sprintf(`[{"order":%q,"cancel":1},{"order":"Zz9Yy8Xx7W","cancel":%s},{"order":%q,"cancel":%s},{"order":%q,"cancel":%s}]`,
					p3, unknown, completed, ineligible, p, already), 1},
			{"101 distinct", ordForm("orders", strings.Join(fakes, ",")), `{"error":"Incorrect request"}`, 0},
			{"only commas", ordForm("orders", ",,,"), `{"error":"Incorrect request"}`, 0},
			{"no orders parameter", ordForm(), `{"error":"Incorrect request"}`, 0},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				before := ordCount(t, db, "SELECT COUNT(*) FROM tickets WHERE type = 'cancel'")
				jsonEqual(t, ordDo(t, s, a.Key, "cancel", tt.form), tt.want)
				if got := ordCount(t, db, "SELECT COUNT(*) FROM tickets WHERE type = 'cancel'"); got != before+tt.tickets {
					t.Errorf("cancel tickets %d, want %d", got, before+tt.tickets)
				}
			})
		}

		r = ordDo(t, s, a.Key, "cancel", ordForm("orders", strings.Join(fakes[:100], ",")))
		if items := ordArray(t, r); len(items) != 100 || items[99]["order"] != fakes[99] {
			t.Errorf("100 IDs: %d entries", len(items))
		}
	})
}
