package tests

import (
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"
)

// admCancel asks for a cancel through the public API and returns the ticket.
func admCancel(t *testing.T, s *Server, a Account, order string) string {
	t.Helper()
	jsonEqual(t, ordDo(t, s, a.Key, "cancel", ordForm("order", order)), fmt.Sprintf(`[{"order":%q,"cancel":1}]`, order))
	return admOpenTicket(t, s, "cancel", order)
}

// admRefill asks for a refill through the public API and returns the ticket
// (the refill ID is the ticket ID).
func admRefill(t *testing.T, s *Server, a Account, order string) string {
	t.Helper()
	return strconv.FormatInt(mustRefill(t, s, a.Key, order), 10)
}

// admRefillStatus checks the public refill_status of a refill.
func admRefillStatus(t *testing.T, s *Server, a Account, refill, want string) {
	t.Helper()
	jsonEqual(t, ordDo(t, s, a.Key, "refill_status", ordForm("refill", refill)), fmt.Sprintf(`{"status":%q}`, want))
}

// POST /internal/v1/tickets/{id}/decision: complete and reject on refill
// and cancel tickets, what each does to the order and the money, and what
// is refused.
func TestTicketsDecision(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		s, db := admStart(t, b)
		a := s.MustAccount(t, "alice", "1000")
		svc := s.MustService(t, nil)
		n := 0
		order := func(t *testing.T) string {
			t.Helper()
			n++
			return mustAddOrder(t, s, a.Key, svc, fmt.Sprint("https://instagram.com/p/t", n), "157")
		}
		// decided checks a 200 decision answer: the ticket as decided.
		decided := func(t *testing.T, r Response, ticket, typ, order, status, note string) {
			t.Helper()
			if r.Status != http.StatusOK {
				t.Fatalf("decision: %d %s", r.Status, r.Body)
			}
			m := r.Obj(t)
			for k, v := range map[string]string{"id": ticket, "type": typ, "order": order, "user_id": a.ID,
				"status": status, "note": note, "supplier_ref": ""} {
				if fmt.Sprint(m[k]) != v {
					t.Errorf("decision answer %s = %v, want %q", k, m[k], v)
				}
			}
			admTime(t, m["created_at"], "created_at")
			admTime(t, m["updated_at"], "updated_at")
			// The list shows the same ticket, note included.
			got := admTicket(t, s, ticket)
			for k, v := range m {
				if fmt.Sprint(got[k]) != fmt.Sprint(v) {
					t.Errorf("listed ticket %s = %v, the decision answered %v", k, got[k], v)
				}
			}
		}
		// refused checks that a decision is refused with want and that the
		// ticket, the order and the money stay as they were.
		refused := func(t *testing.T, ticket, id, body string, want int) {
			t.Helper()
			before, tk := admSnapshot(t, s, db, a, id), admTicket(t, s, ticket)
			stamp := admStamp(t, db, "tickets", "id", ticket)
			mustErr(t, admDecide(t, s, ticket, body), want, "decision "+body)
			admUnchanged(t, s, db, a, id, before, "decision "+body)
			if got := admTicket(t, s, ticket); fmt.Sprint(got) != fmt.Sprint(tk) {
				t.Errorf("refused decision %s changed the ticket: %v → %v", body, tk, got)
			}
			if got := admStamp(t, db, "tickets", "id", ticket); got != stamp {
				t.Errorf("refused decision %s wrote the ticket: updated_at %s → %s", body, stamp, got)
			}
		}

		t.Run("refill complete", func(t *testing.T) {
			id := order(t)
			admMustPatch(t, s, id, `{"status":"Completed","start_count":"3572"}`)
			refill := admRefill(t, s, a, id)
			admRefillStatus(t, s, a, refill, "Pending")
			before := admSnapshot(t, s, db, a, id)
			decided(t, admDecide(t, s, refill, `{"decision":"complete","note":"refilled by hand, 157 drops"}`),
				refill, "refill", id, "completed", "refilled by hand, 157 drops")
			admUnchanged(t, s, db, a, id, before, "completing a refill")
			admRefillStatus(t, s, a, refill, "Completed")
			for _, d := range []string{"complete", "reject", "forward"} {
				refused(t, refill, id, fmt.Sprintf(`{"decision":%q}`, d), 409)
			}
			// The ticket is closed, so the order may be refilled again.
			again := admRefill(t, s, a, id)
			if again == refill {
				t.Errorf("a new refill reuses ticket %s", refill)
			}
			admRefillStatus(t, s, a, again, "Pending")
			admRefillStatus(t, s, a, refill, "Completed")
			jsonEqual(t, ordDo(t, s, a.Key, "status", ordForm("order", id)), ordStatusWant("1.3345", "3572", "Completed", "0"))
		})

		t.Run("refill reject", func(t *testing.T) {
			id := order(t)
			admMustPatch(t, s, id, `{"status":"Partial","remains":"1"}`)
			refill := admRefill(t, s, a, id)
			before := admSnapshot(t, s, db, a, id)
			decided(t, admDecide(t, s, refill, `{"decision":"reject","note":"no drop seen"}`),
				refill, "refill", id, "rejected", "no drop seen")
			admUnchanged(t, s, db, a, id, before, "rejecting a refill")
			admRefillStatus(t, s, a, refill, "Rejected")
			refused(t, refill, id, `{"decision":"complete"}`, 409)
			refused(t, refill, id, `{"decision":"reject"}`, 409)
			admRefillStatus(t, s, a, admRefill(t, s, a, id), "Pending")
			jsonEqual(t, ordDo(t, s, a.Key, "status", ordForm("order", id)), ordStatusWant("1.3260", "0", "Partial", "1"))
		})

		t.Run("cancel complete", func(t *testing.T) {
			id := order(t)
			ticket := admCancel(t, s, a, id)
			bal := ordBalance(t, s, a)
			decided(t, admDecide(t, s, ticket, `{"decision":"complete","note":"canceled at the supplier"}`),
				ticket, "cancel", id, "completed", "canceled at the supplier")
			if got := ordBalance(t, s, a) - bal; got != 13345 {
				t.Errorf("balance moved by %s, want the whole charge 1.3345 back", ordMoney(got))
			}
			if n, sum := refundRows(t, db, id); n != 1 || sum != 13345 {
				t.Errorf("%d refund rows summing to %s, want one of 1.3345", n, ordMoney(sum))
			}
			o := getOrder(t, s, id)
			if o["status"] != "Canceled" || o["refunded"] != "1.3345" {
				t.Errorf("order after the cancel: status %v, refunded %v", o["status"], o["refunded"])
			}
			jsonEqual(t, ordDo(t, s, a.Key, "status", ordForm("order", id)), ordStatusWant("0.0000", "0", "Canceled", "157"))
			refused(t, ticket, id, `{"decision":"complete"}`, 409)
			refused(t, ticket, id, `{"decision":"reject"}`, 409)
			// The order is final now: PATCH restating it is a no-op.
			before := admSnapshot(t, s, db, a, id)
			admMustPatch(t, s, id, admCanceled)
			admUnchanged(t, s, db, a, id, before, "PATCH Canceled after the ticket")
			jsonEqual(t, ordDo(t, s, a.Key, "cancel", ordForm("order", id)),
				fmt.Sprintf(`[{"order":%q,"cancel":{"error":"Order is not eligible for cancel"}}]`, id))
		})

		t.Run("cancel complete on a running order", func(t *testing.T) {
			id := order(t)
			admMustPatch(t, s, id, `{"status":"In progress","start_count":"10","remains":"57"}`)
			ticket := admCancel(t, s, a, id)
			decided(t, admDecide(t, s, ticket, `{"decision":"complete"}`), ticket, "cancel", id, "completed", "")
			jsonEqual(t, ordDo(t, s, a.Key, "status", ordForm("order", id)), ordStatusWant("0.0000", "10", "Canceled", "57"))
		})

		t.Run("cancel reject", func(t *testing.T) {
			id := order(t)
			ticket := admCancel(t, s, a, id)
			before := admSnapshot(t, s, db, a, id)
			decided(t, admDecide(t, s, ticket, `{"decision":"reject","note":"already delivering"}`),
				ticket, "cancel", id, "rejected", "already delivering")
			admUnchanged(t, s, db, a, id, before, "rejecting a cancel")
			if n, _ := refundRows(t, db, id); n != 0 {
				t.Errorf("%d refund rows after a rejected cancel", n)
			}
			jsonEqual(t, ordDo(t, s, a.Key, "status", ordForm("order", id)), ordStatusWant("1.3345", "0", "Pending", "157"))
			refused(t, ticket, id, `{"decision":"complete"}`, 409)
			// The ticket is closed: the customer may ask again.
			if again := admCancel(t, s, a, id); again == ticket {
				t.Errorf("a new cancel reuses ticket %s", ticket)
			}
		})

		t.Run("forward", func(t *testing.T) {
			// No order has a supplier yet: forward is a conflict, and the
			// ticket stays open for another decision.
			id := order(t)
			cancel := admCancel(t, s, a, id)
			refused(t, cancel, id, `{"decision":"forward"}`, 409)
			done := order(t)
			admMustPatch(t, s, done, `{"status":"Completed"}`)
			refill := admRefill(t, s, a, done)
			refused(t, refill, done, `{"decision":"forward","note":"to upstream"}`, 409)
			admRefillStatus(t, s, a, refill, "Pending")
			decided(t, admDecide(t, s, refill, `{"decision":"reject"}`), refill, "refill", done, "rejected", "")
			decided(t, admDecide(t, s, cancel, `{"decision":"reject"}`), cancel, "cancel", id, "rejected", "")
		})

		t.Run("bad decisions", func(t *testing.T) {
			id := order(t)
			ticket := admCancel(t, s, a, id)
			for _, body := range []string{`{"decision":"approve"}`, `{"decision":""}`, `{"decision":"Complete"}`,
				`{"note":"no decision"}`, `{"decision":"complete","refund":"1"}`, `{"decision":`, ``, `[]`,
				`{"decision":1}`, `{"decision":"complete"} {}`,
				fmt.Sprintf(`{"decision":"complete","note":%q}`, string(make([]byte, 1025)))} {
				refused(t, ticket, id, body, 400)
			}
			for _, path := range []string{"999999", "abc", "0", "-1", "1.5"} {
				mustErr(t, admDecide(t, s, path, `{"decision":"complete"}`), 404, "decision on ticket "+path)
				mustErr(t, admDecide(t, s, path, `{"decision":"forward"}`), 404, "forward on ticket "+path)
			}
			decided(t, admDecide(t, s, ticket, `{"decision":"reject"}`), ticket, "cancel", id, "rejected", "")
		})

		// An order that became final by PATCH cannot be canceled by its
		// ticket: 409, the ticket stays open (an admin rejects it).
		for _, final := range []string{`{"status":"Completed"}`, `{"status":"Partial","remains":"100"}`, admCanceled} {
			t.Run("cancel complete after PATCH "+final, func(t *testing.T) {
				id := order(t)
				ticket := admCancel(t, s, a, id)
				admMustPatch(t, s, id, final)
				refused(t, ticket, id, `{"decision":"complete"}`, 409)
				if tk := admTicket(t, s, ticket); tk["status"] != "open" {
					t.Errorf("ticket is %v after a refused decision, want open", tk["status"])
				}
				decided(t, admDecide(t, s, ticket, `{"decision":"reject","note":"order finished first"}`),
					ticket, "cancel", id, "rejected", "order finished first")
			})
		}
	})
}

// GET /internal/v1/tickets: newest first, filters by type, status and user,
// cursor pages, bad filters 400.
func TestTicketsList(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		s, _ := admStart(t, b)
		alice := s.MustAccount(t, "alice", "1000")
		bob := s.MustAccount(t, "bob", "1000")
		svc := s.MustService(t, nil)
		n := 0
		order := func(a Account, final bool) string {
			n++
			id := mustAddOrder(t, s, a.Key, svc, fmt.Sprint("https://instagram.com/p/l", n), "157")
			if final {
				admMustPatch(t, s, id, `{"status":"Completed"}`)
			}
			return id
		}
		a1, a2, b1, b2, a3 := order(alice, true), order(alice, false), order(bob, true), order(bob, false), order(alice, true)
		t1 := admRefill(t, s, alice, a1)
		t2 := admCancel(t, s, alice, a2)
		t3 := admRefill(t, s, bob, b1)
		t4 := admCancel(t, s, bob, b2)
		t5 := admRefill(t, s, alice, a3)
		for ticket, body := range map[string]string{t1: `{"decision":"complete","note":"done"}`, t5: `{"decision":"reject","note":"no"}`} {
			if r := admDecide(t, s, ticket, body); r.Status != http.StatusOK {
				t.Fatalf("decision on %s: %d %s", ticket, r.Status, r.Body)
			}
		}
		all := []string{t5, t4, t3, t2, t1}
		for _, tt := range []struct {
			query string
			want  []string
		}{
			{"", all},
			{"type=refill", []string{t5, t3, t1}},
			{"type=cancel", []string{t4, t2}},
			{"status=open", []string{t4, t3, t2}},
			{"status=completed", []string{t1}},
			{"status=rejected", []string{t5}},
			{"status=forwarded", nil},
			{"user_id=" + alice.ID, []string{t5, t2, t1}},
			{"user_id=" + bob.ID + "&type=cancel", []string{t4}},
			{"type=refill&status=open", []string{t3}},
			{"type=cancel&status=open&user_id=" + alice.ID, []string{t2}},
			{"user_id=999999", nil},
		} {
			t.Run(tt.query, func(t *testing.T) {
				one := s.MustAdmin(t, http.StatusOK, "GET", "/internal/v1/tickets?"+tt.query, nil)
				if one["next_cursor"] != "" {
					t.Errorf("next_cursor %v on the only page", one["next_cursor"])
				}
				items, ok := one["items"].([]any)
				if !ok {
					t.Fatalf("items = %v, want a list (never null)", one["items"])
				}
				var got []string
				for _, it := range items {
					got = append(got, fmt.Sprint(it.(map[string]any)["id"]))
				}
				if fmt.Sprint(got) != fmt.Sprint(tt.want) {
					t.Errorf("ids = %v, want %v", got, tt.want)
				}
				if paged := admIDs(admWalk(t, s, "/internal/v1/tickets?limit=2&"+tt.query)); fmt.Sprint(paged) != fmt.Sprint(tt.want) {
					t.Errorf("with limit=2: ids = %v, want %v", paged, tt.want)
				}
			})
		}
		// Every field of the spec.
		for ticket, want := range map[string]map[string]string{
			t1: {"type": "refill", "order": a1, "user_id": alice.ID, "status": "completed", "note": "done"},
			t2: {"type": "cancel", "order": a2, "user_id": alice.ID, "status": "open", "note": ""},
			t4: {"type": "cancel", "order": b2, "user_id": bob.ID, "status": "open", "note": ""},
			t5: {"type": "refill", "order": a3, "user_id": alice.ID, "status": "rejected", "note": "no"},
		} {
			tk := admTicket(t, s, ticket)
			want["id"], want["supplier_ref"] = ticket, ""
			for k, v := range want {
				if got, ok := tk[k]; !ok || fmt.Sprint(got) != v {
					t.Errorf("ticket %s: %s = %v, want %q", ticket, k, got, v)
				}
			}
			admTime(t, tk["created_at"], "created_at")
			admTime(t, tk["updated_at"], "updated_at")
		}
		if l := s.MustAdmin(t, http.StatusOK, "GET", "/internal/v1/tickets?limit=100000", nil); len(l["items"].([]any)) != len(all) {
			t.Errorf("limit=100000: %d items, want %d", len(l["items"].([]any)), len(all))
		}
		for _, q := range []string{"type=bogus", "type=Refill", "status=closed", "status=Open", "status=Pending",
			"user_id=abc", "user_id=0", "limit=0", "limit=x", "cursor=x", "cursor=0"} {
			mustErr(t, s.Admin(t, "GET", "/internal/v1/tickets?"+q, nil), 400, q)
		}
	})
}

// A cancel ticket completed while a PATCH to Partial races it: per order
// exactly one of them wins and refunds, the other answers 409, and the
// money adds up.
func TestTicketsCancelRacesPatch(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		s, db := admStart(t, b)
		a := s.MustAccount(t, "alice", "1000")
		svc := s.MustService(t, nil)
		const orders = 20
		ids, tickets := make([]string, orders), make([]string, orders)
		for i := range orders {
			ids[i] = mustAddOrder(t, s, a.Key, svc, fmt.Sprint("https://instagram.com/p/x", i), "157")
			tickets[i] = admCancel(t, s, a, ids[i])
		}
		start := ordBalance(t, s, a)
		var refunded int64
		wins := map[string]int{}
		for i, id := range ids {
			decision := admInternal(s, "POST", "/internal/v1/tickets/"+tickets[i]+"/decision", `{"decision":"complete"}`)
			patch := admInternal(s, "PATCH", "/internal/v1/orders/"+id, admPartial(`"100"`))
			reqs := []admReq{decision, patch}
			if i%2 == 1 {
				reqs = []admReq{patch, decision}
			}
			rs := admBurst(t, reqs)
			if i%2 == 1 {
				rs[0], rs[1] = rs[1], rs[0]
			}
			o := getOrder(t, s, id)
			tk := admTicket(t, s, tickets[i])
			var want [2]int
			var refund int64
			switch o["status"] {
			case "Canceled":
				want, refund = [2]int{200, 409}, 13345
				if tk["status"] != "completed" {
					t.Errorf("order %s canceled, its ticket is %v", id, tk["status"])
				}
			case "Partial":
				want, refund = [2]int{409, 200}, 8500
				if tk["status"] != "open" {
					t.Errorf("order %s went Partial, its ticket is %v, want open", id, tk["status"])
				}
			default:
				t.Fatalf("order %s is %v after the race", id, o["status"])
			}
			wins[fmt.Sprint(o["status"])]++
			if rs[0].Status != want[0] || rs[1].Status != want[1] {
				t.Errorf("order %s (%v): decision %d %s, PATCH %d %s; want %d and %d", id, o["status"],
					rs[0].Status, rs[0].Body, rs[1].Status, rs[1].Body, want[0], want[1])
			}
			if n, sum := refundRows(t, db, id); n != 1 || sum != refund {
				t.Errorf("order %s (%v): %d refund rows summing to %s, want one of %s", id, o["status"], n, ordMoney(sum), ordMoney(refund))
			}
			refunded += refund
		}
		if got := ordBalance(t, s, a) - start; got != refunded {
			t.Errorf("the races refunded %s, want %s", ordMoney(got), ordMoney(refunded))
		}
		t.Logf("won: %v", wins)
	})
}

// refill_days: a refill is accepted within that many days of the order's
// completion (0 = no limit) and refused after with the public error.
func TestTicketsRefillDays(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		s, db := admStart(t, b)
		a := s.MustAccount(t, "alice", "1000")
		oneDay := s.MustService(t, map[string]any{"refill_days": 1})
		noLimit := s.MustService(t, map[string]any{"refill_days": 0})
		n := 0
		finished := func(t *testing.T, svc, patch string, ago time.Duration) string {
			t.Helper()
			n++
			id := mustAddOrder(t, s, a.Key, svc, fmt.Sprint("https://instagram.com/p/d", n), "157")
			admMustPatch(t, s, id, patch)
			if c := ordCount(t, db, "SELECT COUNT(*) FROM orders WHERE public_id = ? AND finished_at IS NOT NULL", id); c != 1 {
				t.Errorf("PATCH %s set no finished_at", patch)
			}
			if ago > 0 {
				// The only SQL write of these tests: the API cannot move an
				// order's completion into the past.
				ordAge(t, db, id, ago)
			}
			return id
		}
		const completed, partial = `{"status":"Completed"}`, `{"status":"Partial","remains":"100"}`
		for _, tt := range []struct {
			name  string
			svc   string
			patch string
			ago   time.Duration
			ok    bool
		}{
			{"completed now", oneDay, completed, 0, true},
			{"partial now", oneDay, partial, 0, true},
			{"completed 23 hours ago", oneDay, completed, 23 * time.Hour, true},
			{"completed 25 hours ago", oneDay, completed, 25 * time.Hour, false},
			{"partial 2 days ago", oneDay, partial, 48 * time.Hour, false},
			{"no limit, completed 400 days ago", noLimit, completed, 400 * 24 * time.Hour, true},
		} {
			t.Run(tt.name, func(t *testing.T) {
				id := finished(t, tt.svc, tt.patch, tt.ago)
				r := ordDo(t, s, a.Key, "refill", ordForm("order", id))
				if tt.ok {
					ordRefillID(t, r)
				} else {
					jsonEqual(t, r, `{"error":"Order is not eligible for refill"}`)
				}
			})
		}
		// A running order is never eligible, whatever the window.
		id := mustAddOrder(t, s, a.Key, oneDay, "https://instagram.com/p/running", "157")
		admMustPatch(t, s, id, `{"status":"In progress"}`)
		jsonEqual(t, ordDo(t, s, a.Key, "refill", ordForm("order", id)), `{"error":"Order is not eligible for refill"}`)
	})
}
