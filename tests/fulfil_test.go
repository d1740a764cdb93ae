package tests

// Fulfilment end to end: suppliers in the internal API, orders forwarded to
// a scripted supplier (supplier_fake_test.go) or to a second smmapi, status
// sync with its refunds, what happens on every kind of upstream failure,
// ticket forwarding, and several instances sharing one MariaDB.

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// fulState waits until order id is in forward state want.
func fulState(t *testing.T, s *Server, id, want string, within time.Duration) map[string]any {
	t.Helper()
	return fulWaitOrder(t, s, id, within, "forward state "+want, func(o map[string]any) bool { return o["forward_state"] == want })
}

// fulFields checks fields of a decoded object against their textual values.
func fulFields(t *testing.T, what string, o map[string]any, want map[string]string) {
	t.Helper()
	keys := make([]string, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if got := fmt.Sprint(o[k]); got != want[k] {
			t.Errorf("%s: %s = %q, want %q", what, k, got, want[k])
		}
	}
}

// fulMustRefund checks that order id has exactly n refund rows summing to amount.
func fulMustRefund(t *testing.T, db *sql.DB, id string, n int, amount string) {
	t.Helper()
	gn, sum := refundRows(t, db, id)
	if gn != n || sum != units(t, amount) {
		t.Errorf("order %s: %d refund rows summing to %d units, want %d rows of %s", id, gn, sum, n, amount)
	}
}

// fulBalance reads a user's balance.
func fulBalance(t *testing.T, s *Server, userID string) string {
	t.Helper()
	return fmt.Sprint(s.MustAdmin(t, http.StatusOK, "GET", "/internal/v1/users/"+userID, nil)["balance"])
}

// fulRounds waits until the fake has been asked the status of supplier
// order sid n more times: proof that n more sync rounds ran.
func fulRounds(t *testing.T, f *fulFake, sid string, n int) {
	t.Helper()
	want := f.Asked(sid) + n
	fulWait(t, 15*time.Second, fmt.Sprintf("%d more status polls of %s", n, sid), func() bool { return f.Asked(sid) >= want })
}

// An order of a mapped service reaches the supplier within seconds (the
// forwarder is woken by the add, not a minute cron), with the supplier's
// service ID and the order's parameters; the supplier's order ID is stored
// and the order moves to In progress. The latency is logged, not asserted.
func TestFulForwardLatency(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		r := fulStart(t, b)
		a := r.s.MustAccount(t, "alice", "100")
		var lat []time.Duration
		for i := range 5 {
			link := fmt.Sprintf("https://instagram.com/p/lat%d", i)
			start := time.Now()
			id := mustAddOrder(t, r.s, a.Key, r.svc, link, "157")
			o := fulWaitOrder(t, r.s, id, 10*time.Second, "forwarded", func(o map[string]any) bool { return o["supplier_order"] != "" })
			lat = append(lat, time.Since(start))
			fulFields(t, "forwarded order", o, map[string]string{"status": "In progress", "forward_state": "sent",
				"forward_attempts": "1", "last_error": "", "supplier_id": r.sup, "charge": "1.3345", "refunded": "0.0000"})
			fo, ok := r.fake.Order(fmt.Sprint(o["supplier_order"]))
			if !ok {
				t.Fatalf("supplier order %v is not at the supplier", o["supplier_order"])
			}
			if fo.Service != "101" || fo.Link != link || fo.Quantity != "157" {
				t.Errorf("the supplier got service %q link %q quantity %q", fo.Service, fo.Link, fo.Quantity)
			}
			jsonEqual(t, fulPublic(t, r.s, a.Key, "status", "order", id),
				`{"charge":"1.3345","start_count":"0","status":"In progress","remains":"157","currency":"CNY"}`)
		}
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		t.Logf("%s: placed → forwarded (seen in GET /internal/v1/orders/{id}): min %v, median %v, max %v over %d orders",
			b.Name, lat[0].Round(time.Millisecond), lat[len(lat)/2].Round(time.Millisecond), lat[len(lat)-1].Round(time.Millisecond), len(lat))
		if n := r.fake.Adds(); n != 5 {
			t.Errorf("the supplier got %d add requests, want 5", n)
		}
	})
}

// Status, start count and remains flow back; Partial refunds charge ×
// remains ÷ quantity and Canceled the whole charge, each exactly once
// however many more sync rounds see the same answer.
func TestFulSyncRefunds(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		r := fulStart(t, b)
		db := r.env.DB(t)
		a := r.s.MustAccount(t, "alice", "100")
		partial := mustAddOrder(t, r.s, a.Key, r.svc, "https://x.test/partial", "157")
		canceled := mustAddOrder(t, r.s, a.Key, r.svc, "https://x.test/canceled", "157")
		running := mustAddOrder(t, r.s, a.Key, r.svc, "https://x.test/running", "157")
		sp := fmt.Sprint(fulForwarded(t, r.s, partial)["supplier_order"])
		sc := fmt.Sprint(fulForwarded(t, r.s, canceled)["supplier_order"])
		sr := fmt.Sprint(fulForwarded(t, r.s, running)["supplier_order"])

		r.fake.Set(sp, "Partial", "3572", "57")
		r.fake.Set(sc, "Canceled", "3572", "157")
		r.fake.Set(sr, "In progress", "3572", "100")
		fulWaitOrder(t, r.s, partial, 10*time.Second, "Partial", func(o map[string]any) bool { return o["status"] == "Partial" })
		fulWaitOrder(t, r.s, canceled, 10*time.Second, "Canceled", func(o map[string]any) bool { return o["status"] == "Canceled" })
		fulWaitOrder(t, r.s, running, 10*time.Second, "remains 100", func(o map[string]any) bool { return o["remains"] == "100" })

		fulRounds(t, r.fake, sr, 3) // three more rounds answering the same
		jsonEqual(t, fulPublic(t, r.s, a.Key, "status", "order", partial),
			`{"charge":"0.8500","start_count":"3572","status":"Partial","remains":"57","currency":"CNY"}`)
		jsonEqual(t, fulPublic(t, r.s, a.Key, "status", "order", canceled),
			`{"charge":"0.0000","start_count":"3572","status":"Canceled","remains":"157","currency":"CNY"}`)
		jsonEqual(t, fulPublic(t, r.s, a.Key, "status", "order", running),
			`{"charge":"1.3345","start_count":"3572","status":"In progress","remains":"100","currency":"CNY"}`)
		fulFields(t, "partial", getOrder(t, r.s, partial), map[string]string{"refunded": "0.4845", "forward_state": "done", "last_error": ""})
		fulFields(t, "canceled", getOrder(t, r.s, canceled), map[string]string{"refunded": "1.3345", "forward_state": "done"})
		fulMustRefund(t, db, partial, 1, "0.4845")
		fulMustRefund(t, db, canceled, 1, "1.3345")
		fulMustRefund(t, db, running, 0, "0.0000")
		// 100 − 3 × 1.3345 + 0.4845 + 1.3345
		if got := fulBalance(t, r.s, a.ID); got != "97.8155" {
			t.Errorf("balance %s, want 97.8155", got)
		}
		mustLedgerMatches(t, r.s, a.ID)
		if n := r.fake.Adds(); n != 3 {
			t.Errorf("%d add requests at the supplier, want 3", n)
		}
	})
}

// Suppliers write statuses and counts in many ways: IDs and counts as JSON
// numbers, "Cancelled", lower or upper case, "In Progress", decimals.
func TestFulOddSpellings(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		r := fulStart(t, b)
		r.fake.Numeric(true)
		db := r.env.DB(t)
		a := r.s.MustAccount(t, "alice", "100")
		tests := []struct {
			name               string
			status             string
			start, remains     any
			want, sc, rem, net string
			refund             string
		}{
			{"In Progress capitalised, counts as numbers", "In Progress", 3572, 150, "In progress", "3572", "150", "1.3345", ""},
			{"in progress lower case", "in progress", "10", "7", "In progress", "10", "7", "1.3345", ""},
			{"processing", "processing", "11", "157", "Processing", "11", "157", "1.3345", ""},
			{"Cancelled with two Ls, numbers", "Cancelled", 3572, 157, "Canceled", "3572", "157", "0.0000", "1.3345"},
			{"canceled lower case, no counts", "canceled", nil, nil, "Canceled", "0", "157", "0.0000", "1.3345"},
			{"partial lower case, numbers", "partial", 3572, 57, "Partial", "3572", "57", "0.8500", "0.4845"},
			{"Partial with decimal text counts", "Partial", "3572.0", "57.00", "Partial", "3572", "57", "0.8500", "0.4845"},
			{"COMPLETED upper case", "COMPLETED", 3572, 0, "Completed", "3572", "0", "1.3345", ""},
			{"Completed without remains", "Completed", "9", nil, "Completed", "9", "0", "1.3345", ""},
			{"status with spaces around", " Completed ", 3572, "0", "Completed", "3572", "0", "1.3345", ""},
		}
		ids := make([]string, len(tests))
		sids := make([]string, len(tests))
		for i := range tests {
			ids[i] = mustAddOrder(t, r.s, a.Key, r.svc, fmt.Sprintf("https://x.test/odd/%d", i), "157")
		}
		for i := range tests {
			sids[i] = fmt.Sprint(fulForwarded(t, r.s, ids[i])["supplier_order"])
			if !strings.HasPrefix(sids[i], "90") {
				t.Errorf("numeric supplier order ID stored as %q", sids[i])
			}
		}
		for i, tt := range tests {
			r.fake.Set(sids[i], tt.status, tt.start, tt.remains)
		}
		for i, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				fulWaitOrder(t, r.s, ids[i], 10*time.Second, tt.want, func(o map[string]any) bool {
					return o["status"] == tt.want && o["start_count"] == tt.sc && o["remains"] == tt.rem
				})
				jsonEqual(t, fulPublic(t, r.s, a.Key, "status", "order", ids[i]),
					fmt.Sprintf(`{"charge":%q,"start_count":%q,"status":%q,"remains":%q,"currency":"CNY"}`, tt.net, tt.sc, tt.want, tt.rem))
				if tt.refund == "" {
					fulMustRefund(t, db, ids[i], 0, "0.0000")
				} else {
					fulMustRefund(t, db, ids[i], 1, tt.refund)
				}
				if le := getOrder(t, r.s, ids[i])["last_error"]; le != "" {
					t.Errorf("last_error %q", le)
				}
			})
		}
		mustLedgerMatches(t, r.s, a.ID)
	})
}

// A supplier that still reports Pending for an order it has leaves it In
// progress here: moving it back to Pending would invite a second forward.
func TestFulPendingStaysInProgress(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		r := fulStart(t, b)
		a := r.s.MustAccount(t, "alice", "100")
		id := mustAddOrder(t, r.s, a.Key, r.svc, "https://x.test/pending", "157")
		sid := fmt.Sprint(fulForwarded(t, r.s, id)["supplier_order"])
		r.fake.Set(sid, "pending", "0", "157")
		fulRounds(t, r.fake, sid, 3)
		fulFields(t, "order", getOrder(t, r.s, id), map[string]string{"status": "In progress", "forward_state": "sent", "last_error": "", "supplier_order": sid})
		jsonEqual(t, fulPublic(t, r.s, a.Key, "status", "order", id),
			`{"charge":"1.3345","start_count":"0","status":"In progress","remains":"157","currency":"CNY"}`)
		if n := r.fake.Adds(); n != 1 {
			t.Errorf("%d add requests, want 1", n)
		}
	})
}

// A supplier that takes the order but answers after the timeout: the
// outcome is unknown, so the order is parked for reconciliation and never
// sent again by itself. An admin's retry sends it once more; reconcile on an
// order that is not waiting answers 409.
func TestFulTimeoutReconcile(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		r := fulStart(t, b, "SMMAPI_UPSTREAM_TIMEOUT=1s")
		a := r.s.MustAccount(t, "alice", "100")
		r.fake.Next("add", fulDelay)
		id := mustAddOrder(t, r.s, a.Key, r.svc, "https://x.test/slow", "157")
		o := fulState(t, r.s, id, "reconcile", 10*time.Second)
		fulFields(t, "timed out", o, map[string]string{"status": "Pending", "supplier_order": "", "forward_attempts": "1"})
		if le := fmt.Sprint(o["last_error"]); !strings.HasPrefix(le, "outcome unknown") {
			t.Errorf("last_error %q, want it to say the outcome is unknown", le)
		}
		time.Sleep(4 * time.Second) // four forwarder ticks
		if n := r.fake.Adds(); n != 1 {
			t.Fatalf("the supplier got %d add requests after a timeout, want 1 (never re-sent blindly)", n)
		}
		fulFields(t, "after 4 s", getOrder(t, r.s, id), map[string]string{"forward_state": "reconcile", "status": "Pending"})

		for _, bad := range []struct {
			id, body string
			want     int
		}{
			{id, `{"action":"maybe"}`, http.StatusBadRequest},
			{id, `{}`, http.StatusBadRequest},
			{"zzzzzzzzzz", `{"action":"retry"}`, http.StatusNotFound},
		} {
			if resp := r.s.Admin(t, "POST", "/internal/v1/orders/"+bad.id+"/reconcile", bad.body); resp.Status != bad.want {
				t.Errorf("reconcile %s %s: %d %s, want %d", bad.id, bad.body, resp.Status, resp.Body, bad.want)
			}
		}
		out := r.s.MustAdmin(t, http.StatusOK, "POST", "/internal/v1/orders/"+id+"/reconcile", map[string]any{"action": "retry"})
		fulFields(t, "retry answer", out, map[string]string{"id": id, "forward_state": "queued"})
		o = fulForwarded(t, r.s, id)
		fulFields(t, "retried", o, map[string]string{"status": "In progress", "last_error": ""})
		if n := r.fake.Adds(); n != 2 {
			t.Errorf("%d add requests after the admin's retry, want 2", n)
		}
		resp := r.s.Admin(t, "POST", "/internal/v1/orders/"+id+"/reconcile", `{"action":"fail"}`)
		if resp.Status != http.StatusConflict {
			t.Errorf("reconcile of a forwarded order: %d %s, want 409", resp.Status, resp.Body)
		}
		fulFields(t, "after the refused reconcile", getOrder(t, r.s, id), map[string]string{"status": "In progress", "forward_state": "sent", "refunded": "0.0000"})
		mustLedgerMatches(t, r.s, a.ID)
	})
}

// HTTP 500 (plain or with smmapi's own {"error":"Internal error"}) and a
// 200 without an order ID leave the outcome unknown: reconcile, never
// re-sent. "fail" cancels with a full refund, once; "retry" forwards.
func TestFulUnknownOutcomes(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		r := fulStart(t, b)
		db := r.env.DB(t)
		a := r.s.MustAccount(t, "alice", "100")
		faults := []struct {
			name  string
			fault fulFault
		}{{"500", ful500}, {"500 with a JSON error", ful500JSON}, {"200 without an ID", fulNoID}}
		ids := make([]string, len(faults))
		for i, f := range faults {
			r.fake.Next("add", f.fault)
			ids[i] = mustAddOrder(t, r.s, a.Key, r.svc, fmt.Sprintf("https://x.test/unknown/%d", i), "157")
			o := fulState(t, r.s, ids[i], "reconcile", 10*time.Second)
			if o["last_error"] == "" || o["status"] != "Pending" || o["supplier_order"] != "" {
				t.Errorf("%s: %s", f.name, fulJSON(o))
			}
		}
		time.Sleep(3 * time.Second)
		if n := r.fake.Adds(); n != len(faults) {
			t.Fatalf("%d add requests, want %d (an unknown outcome is never re-sent)", n, len(faults))
		}

		out := r.s.MustAdmin(t, http.StatusOK, "POST", "/internal/v1/orders/"+ids[0]+"/reconcile", map[string]any{"action": "fail", "note": "not at the supplier"})
		fulFields(t, "failed", out, map[string]string{"status": "Canceled", "forward_state": "done", "refunded": "1.3345"})
		jsonEqual(t, fulPublic(t, r.s, a.Key, "status", "order", ids[0]),
			`{"charge":"0.0000","start_count":"0","status":"Canceled","remains":"157","currency":"CNY"}`)
		if resp := r.s.Admin(t, "POST", "/internal/v1/orders/"+ids[0]+"/reconcile", `{"action":"fail"}`); resp.Status != http.StatusConflict {
			t.Errorf("second fail: %d %s, want 409", resp.Status, resp.Body)
		}
		fulMustRefund(t, db, ids[0], 1, "1.3345")

		r.s.MustAdmin(t, http.StatusOK, "POST", "/internal/v1/orders/"+ids[1]+"/reconcile", map[string]any{"action": "retry"})
		fulForwarded(t, r.s, ids[1])
		fulFields(t, "still parked", getOrder(t, r.s, ids[2]), map[string]string{"forward_state": "reconcile"})
		if n := r.fake.Adds(); n != len(faults)+1 {
			t.Errorf("%d add requests, want %d", n, len(faults)+1)
		}
		// 100 − 3 × 1.3345 + 1.3345
		if got := fulBalance(t, r.s, a.ID); got != "97.3310" {
			t.Errorf("balance %s, want 97.3310", got)
		}
		mustLedgerMatches(t, r.s, a.ID)
	})
}

// Failures where the supplier did nothing are retried with back-off (5 s
// first): 503, 502, 429, out of funds, and a supplier that refuses the
// connection. Each records its error on the order meanwhile, and each order
// reaches the supplier exactly once.
func TestFulRetried(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		r := fulStart(t, b)
		a := r.s.MustAccount(t, "alice", "100")
		// A second supplier that is down (nothing listens on its port).
		down := fulSupplier(t, r.s, fmt.Sprintf("http://127.0.0.1:%d/api/v2", freePort(t)), r.fake.Key)
		downSvc := r.s.MustService(t, map[string]any{"supplier_id": fulNum(down), "supplier_service": "101"})
		tests := []struct {
			name  string
			fault fulFault
			svc   string
			err   string // what last_error says meanwhile
		}{
			{"503", ful503, r.svc, "503"},
			{"502 from a proxy", ful502, r.svc, "502"},
			{"429", ful429, r.svc, "429"},
			{"out of funds", fulNoFunds, r.svc, "not_enough_funds"},
			{"connection refused", fulNone, downSvc, "unreachable"},
		}
		ids := make([]string, len(tests))
		// Orders are placed one by one, each failing once before the next
		// is placed; all retry 5 s later, well after the last is placed.
		for i, tt := range tests {
			if tt.fault != fulNone {
				r.fake.Next("add", tt.fault)
			}
			ids[i] = mustAddOrder(t, r.s, a.Key, tt.svc, fmt.Sprintf("https://x.test/retry/%d", i), "157")
			o := fulWaitOrder(t, r.s, ids[i], 10*time.Second, "first attempt failed", func(o map[string]any) bool {
				return fmt.Sprint(o["forward_attempts"]) == "1"
			})
			fulFields(t, tt.name, o, map[string]string{"forward_state": "queued", "status": "Pending", "supplier_order": ""})
			if le := fmt.Sprint(o["last_error"]); !strings.Contains(le, tt.err) {
				t.Errorf("%s: last_error %q, want it to mention %q", tt.name, le, tt.err)
			}
		}
		// The down supplier comes back (the admin points it at the fake).
		r.s.MustAdmin(t, http.StatusOK, "PATCH", "/internal/v1/suppliers/"+down, map[string]any{"api_url": r.fake.URL})
		for i, tt := range tests {
			o := fulWaitOrder(t, r.s, ids[i], 15*time.Second, "forwarded after back-off", func(o map[string]any) bool { return o["forward_state"] == "sent" })
			fulFields(t, tt.name, o, map[string]string{"status": "In progress", "last_error": "", "forward_attempts": "2"})
		}
		if n := r.fake.Placed(); n != len(tests) {
			t.Errorf("the supplier holds %d orders, want %d (each exactly once)", n, len(tests))
		}
		links := r.fake.Links()
		sort.Strings(links)
		for i := 1; i < len(links); i++ {
			if links[i] == links[i-1] {
				t.Errorf("%s reached the supplier twice", links[i])
			}
		}
	})
}

// A supplier that lost an order (status answers "Incorrect order ID"): the
// error is recorded on the order, which is not touched otherwise; once the
// supplier finds it again, sync resumes.
func TestFulLostOrder(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		r := fulStart(t, b)
		db := r.env.DB(t)
		a := r.s.MustAccount(t, "alice", "100")
		id := mustAddOrder(t, r.s, a.Key, r.svc, "https://x.test/lost", "157")
		sid := fmt.Sprint(fulForwarded(t, r.s, id)["supplier_order"])
		r.fake.Set(sid, "In progress", "3572", "100")
		fulWaitOrder(t, r.s, id, 10*time.Second, "remains 100", func(o map[string]any) bool { return o["remains"] == "100" })
		r.fake.Lose(sid, true)
		o := fulWaitOrder(t, r.s, id, 10*time.Second, "last_error set", func(o map[string]any) bool { return o["last_error"] != "" })
		fulFields(t, "lost", o, map[string]string{"last_error": "status: Incorrect order ID", "status": "In progress",
			"forward_state": "sent", "start_count": "3572", "remains": "100", "refunded": "0.0000", "supplier_order": sid})
		time.Sleep(2500 * time.Millisecond) // more rounds with the same answer
		fulFields(t, "still lost", getOrder(t, r.s, id), map[string]string{"last_error": "status: Incorrect order ID", "status": "In progress", "remains": "100"})
		fulMustRefund(t, db, id, 0, "0.0000")
		if n := r.fake.Adds(); n != 1 {
			t.Errorf("%d add requests, want 1 (a lost order is not re-sent)", n)
		}

		r.fake.Lose(sid, false)
		r.fake.Set(sid, "Completed", "3572", "0")
		o = fulWaitOrder(t, r.s, id, 10*time.Second, "Completed", func(o map[string]any) bool { return o["status"] == "Completed" })
		fulFields(t, "found again", o, map[string]string{"last_error": "", "remains": "0", "forward_state": "done"})
	})
}

// A refill ticket forwarded to the supplier stores the supplier's refill ID
// and follows its status until Completed; a ticket of an order with no
// supplier cannot be forwarded (409).
func TestFulTicketRefill(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		r := fulStart(t, b)
		r.fake.Numeric(true) // refill IDs come as numbers too
		a := r.s.MustAccount(t, "alice", "100")
		id := mustAddOrder(t, r.s, a.Key, r.svc, "https://x.test/refill", "157")
		sid := fmt.Sprint(fulForwarded(t, r.s, id)["supplier_order"])
		r.fake.Set(sid, "Completed", "3572", "0")
		fulWaitOrder(t, r.s, id, 10*time.Second, "Completed", func(o map[string]any) bool { return o["status"] == "Completed" })

		var ref struct{ Refill int64 }
		resp := fulPublic(t, r.s, a.Key, "refill", "order", id)
		if err := json.Unmarshal(resp.Body, &ref); err != nil || ref.Refill <= 0 {
			t.Fatalf("refill: %s", resp.Body)
		}
		tid := fmt.Sprint(ref.Refill)
		out := r.s.MustAdmin(t, http.StatusOK, "POST", "/internal/v1/tickets/"+tid+"/decision", map[string]any{"decision": "forward", "note": "sent upstream"})
		fulFields(t, "forwarded ticket", out, map[string]string{"status": "forwarded", "supplier_ref": "700", "order": id, "type": "refill"})
		fulFields(t, "listed", admTicket(t, r.s, tid), map[string]string{"status": "forwarded", "supplier_ref": "700"})
		jsonEqual(t, fulPublic(t, r.s, a.Key, "refill_status", "refill", tid), `{"status":"In progress"}`)

		polls := r.fake.Calls("refill_status")
		fulWait(t, 10*time.Second, "two refill status polls", func() bool { return r.fake.Calls("refill_status") >= polls+2 })
		fulFields(t, "while pending upstream", admTicket(t, r.s, tid), map[string]string{"status": "forwarded"})
		r.fake.SetRefill("700", "Completed")
		fulWait(t, 10*time.Second, "ticket completed", func() bool { return admTicket(t, r.s, tid)["status"] == "completed" })
		jsonEqual(t, fulPublic(t, r.s, a.Key, "refill_status", "refill", tid), `{"status":"Completed"}`)
		if resp := r.s.Admin(t, "POST", "/internal/v1/tickets/"+tid+"/decision", `{"decision":"forward"}`); resp.Status != http.StatusConflict {
			t.Errorf("forward of a completed ticket: %d %s, want 409", resp.Status, resp.Body)
		}

		manual := r.s.MustService(t, map[string]any{"name": "Manual"})
		mid := mustAddOrder(t, r.s, a.Key, manual, "https://x.test/manual", "157")
		r.s.MustAdmin(t, http.StatusOK, "PATCH", "/internal/v1/orders/"+mid, map[string]any{"status": "Completed"})
		resp = fulPublic(t, r.s, a.Key, "refill", "order", mid)
		if err := json.Unmarshal(resp.Body, &ref); err != nil || ref.Refill <= 0 {
			t.Fatalf("refill: %s", resp.Body)
		}
		if resp := r.s.Admin(t, "POST", fmt.Sprint("/internal/v1/tickets/", ref.Refill, "/decision"), `{"decision":"forward"}`); resp.Status != http.StatusConflict {
			t.Errorf("forward without a supplier: %d %s, want 409", resp.Status, resp.Body)
		}
		if n := r.fake.Calls("refill"); n != 1 {
			t.Errorf("%d refill requests at the supplier, want 1", n)
		}
	})
}

// A cancel ticket forwarded to the supplier: the order is refunded only when
// the supplier reports it Canceled (all) or Partial (the rest), and the
// ticket completes then; a supplier that completes the order anyway
// rejects the ticket with no refund.
func TestFulTicketCancel(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		r := fulStart(t, b)
		db := r.env.DB(t)
		a := r.s.MustAccount(t, "alice", "100")
		tests := []struct {
			name, status, remains string
			ticket, refund, net   string
		}{
			{"canceled", "Canceled", "157", "completed", "1.3345", "0.0000"},
			{"partly", "Partial", "57", "completed", "0.4845", "0.8500"},
			{"completed anyway", "Completed", "0", "rejected", "", "1.3345"},
		}
		ids, sids, tids := make([]string, len(tests)), make([]string, len(tests)), make([]string, len(tests))
		for i := range tests {
			ids[i] = mustAddOrder(t, r.s, a.Key, r.svc, fmt.Sprintf("https://x.test/cancel/%d", i), "157")
		}
		for i := range tests {
			sids[i] = fmt.Sprint(fulForwarded(t, r.s, ids[i])["supplier_order"])
			r.fake.Set(sids[i], "In progress", "3572", "157")
			jsonEqual(t, fulPublic(t, r.s, a.Key, "cancel", "order", ids[i]), fmt.Sprintf(`[{"order":%q,"cancel":1}]`, ids[i]))
			tids[i] = admOpenTicket(t, r.s, "cancel", ids[i])
			out := r.s.MustAdmin(t, http.StatusOK, "POST", "/internal/v1/tickets/"+tids[i]+"/decision", map[string]any{"decision": "forward"})
			fulFields(t, "forwarded", out, map[string]string{"status": "forwarded", "type": "cancel"})
		}
		if got := r.fake.Cancels(); fmt.Sprint(got) != fmt.Sprint(sids) {
			t.Errorf("the supplier was asked to cancel %v, want %v", got, sids)
		}
		fulRounds(t, r.fake, sids[0], 2)
		for i := range tests {
			fulFields(t, "before the supplier decides", getOrder(t, r.s, ids[i]), map[string]string{"status": "In progress", "refunded": "0.0000"})
			fulMustRefund(t, db, ids[i], 0, "0.0000")
			fulFields(t, "ticket before the supplier decides", admTicket(t, r.s, tids[i]), map[string]string{"status": "forwarded"})
		}
		for i, tt := range tests {
			r.fake.Set(sids[i], tt.status, "3572", tt.remains)
		}
		for i, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				fulWaitOrder(t, r.s, ids[i], 10*time.Second, tt.status, func(o map[string]any) bool { return o["status"] == tt.status })
				fulWait(t, 5*time.Second, "ticket "+tt.ticket, func() bool { return admTicket(t, r.s, tids[i])["status"] == tt.ticket })
				if tt.refund == "" {
					fulMustRefund(t, db, ids[i], 0, "0.0000")
				} else {
					fulMustRefund(t, db, ids[i], 1, tt.refund)
				}
				jsonEqual(t, fulPublic(t, r.s, a.Key, "status", "order", ids[i]),
					fmt.Sprintf(`{"charge":%q,"start_count":"3572","status":%q,"remains":%q,"currency":"CNY"}`, tt.net, tt.status, tt.remains))
			})
		}
		mustLedgerMatches(t, r.s, a.ID)
	})
}

// In mysql mode without SMMAPI_SECRETS_KEY every supplier endpoint answers
// 409, the start-up log says why, and forwarding is paused: an order placed
// meanwhile waits, and goes out once an instance with the key runs.
func TestSupplierNoSecrets(t *testing.T) {
	t.Parallel()
	env := MustEnv(t, mysqlOnly(t, "the embedded mode always has a key, generated beside the database"))
	env.Vars["SMMAPI_DATABASE_MAX_OPEN_CONNS"] = "8"
	key := randHex(32)
	env.Secret(key)
	fake := newFulFake(t)
	env.Secret(fake.Key)
	s1 := MustStart(t, env, fulSyncEvery, "SMMAPI_SECRETS_KEY="+key)
	sup := fulSupplier(t, s1, fake.URL, fake.Key)
	svc := s1.MustService(t, map[string]any{"supplier_id": fulNum(sup), "supplier_service": "101"})
	a := s1.MustAccount(t, "alice", "100")
	s1.Stop(t)

	s2 := MustStart(t, env, fulSyncEvery)
	for _, c := range []struct{ method, path, body string }{
		{"POST", "/internal/v1/suppliers", `{"name":"X","api_url":"http://x.test/api/v2","api_key":"k","enabled":true}`},
		{"GET", "/internal/v1/suppliers", ""},
		{"PATCH", "/internal/v1/suppliers/" + sup, `{"name":"Y"}`},
		{"GET", "/internal/v1/suppliers/" + sup + "/balance", ""},
		{"GET", "/internal/v1/suppliers/" + sup + "/services", ""},
	} {
		var body any
		if c.body != "" {
			body = c.body
		}
		resp := s2.Admin(t, c.method, c.path, body)
		if resp.Status != http.StatusConflict {
			t.Errorf("%s %s without secrets.key: %d %s, want 409", c.method, c.path, resp.Status, resp.Body)
			continue
		}
		jsonEqual(t, resp, `{"error":"secrets.key is not configured"}`)
	}
	if !strings.Contains(s2.Logs(), "secrets.key is not configured") {
		t.Error("the start-up log does not say secrets.key is missing")
	}
	id := mustAddOrder(t, s2, a.Key, svc, "https://x.test/paused", "157")
	time.Sleep(3 * time.Second)
	fulFields(t, "paused", getOrder(t, s2, id), map[string]string{"forward_state": "queued", "status": "Pending", "forward_attempts": "0"})
	if n := fake.Adds(); n != 0 {
		t.Errorf("%d add requests while forwarding is paused", n)
	}
	s2.Stop(t)

	s3 := MustStart(t, env, fulSyncEvery, "SMMAPI_SECRETS_KEY="+key)
	fulForwarded(t, s3, id)
	if n := fake.Adds(); n != 1 {
		t.Errorf("%d add requests, want 1", n)
	}
}

// The supplier key is stored encrypted: no answer carries it, the key_cipher
// column does not contain it, and the same key sealed twice differs. The
// supplier still receives it. Invalid suppliers are refused.
func TestSupplierKeySecret(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		env := fulEnv(t, b)
		s := MustStart(t, env)
		db := env.DB(t)
		fake := newFulFake(t)
		k1, k2 := fake.Key, randHex(20)
		env.Secret(k1)
		env.Secret(k2)
		var answers []Response
		call := func(want int, method, path string, body any) Response {
			t.Helper()
			resp := s.Admin(t, method, path, body)
			if resp.Status != want {
				t.Fatalf("%s %s: %d %s, want %d", method, path, resp.Status, resp.Body, want)
			}
			answers = append(answers, resp)
			return resp
		}
		created := call(http.StatusCreated, "POST", "/internal/v1/suppliers", map[string]any{"name": "  Upstream A ", "api_url": fake.URL, "api_key": k1, "enabled": true}).Obj(t)
		id := fmt.Sprint(created["id"])
		fulFields(t, "created", created, map[string]string{"name": "Upstream A", "api_url": fake.URL, "enabled": "true"})
		for k := range created {
			if strings.Contains(k, "key") {
				t.Errorf("the supplier answer has a field %q", k)
			}
		}
		twin := fmt.Sprint(call(http.StatusCreated, "POST", "/internal/v1/suppliers", map[string]any{"name": "Twin", "api_url": fake.URL, "api_key": k1}).Obj(t)["id"])
		list := call(http.StatusOK, "GET", "/internal/v1/suppliers", nil).Obj(t)
		if items := list["items"].([]any); len(items) != 2 || list["next_cursor"] != "" {
			t.Errorf("list: %s", fulJSON(list))
		}
		jsonEqual(t, call(http.StatusOK, "GET", "/internal/v1/suppliers/"+id+"/balance", nil), fake.Balance)

		fake.SetKey(k2)
		patched := call(http.StatusOK, "PATCH", "/internal/v1/suppliers/"+id, map[string]any{"api_key": k2}).Obj(t)
		fulFields(t, "patched key", patched, map[string]string{"name": "Upstream A", "api_url": fake.URL, "enabled": "true"})
		jsonEqual(t, call(http.StatusOK, "GET", "/internal/v1/suppliers/"+id+"/balance", nil), fake.Balance)
		patched = call(http.StatusOK, "PATCH", "/internal/v1/suppliers/"+id, map[string]any{"name": "Renamed", "enabled": false}).Obj(t)
		fulFields(t, "patched name", patched, map[string]string{"name": "Renamed", "enabled": "false"})
		jsonEqual(t, call(http.StatusOK, "GET", "/internal/v1/suppliers/"+id+"/balance", nil), fake.Balance) // the key stayed
		call(http.StatusOK, "GET", "/internal/v1/suppliers/"+id+"/services", nil)
		if n := fake.BadKeys(); n != 0 {
			t.Errorf("the supplier saw %d requests with a wrong key", n)
		}
		// The twin still has k1, which the supplier no longer accepts.
		refused := call(http.StatusConflict, "GET", "/internal/v1/suppliers/"+twin+"/balance", nil)
		if msg := fmt.Sprint(refused.Obj(t)["error"]); !strings.Contains(msg, "Invalid API key") {
			t.Errorf("a refused key reads %q", msg)
		}

		for _, resp := range answers {
			for _, k := range []string{k1, k2} {
				if bytes.Contains(resp.Body, []byte(k)) {
					t.Errorf("an answer carries the supplier key: %s", resp.Body)
				}
			}
		}
		ciphers := map[string][]byte{}
		rows, err := db.Query("SELECT id, key_cipher FROM suppliers")
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var sid string
			var c []byte
			if err := rows.Scan(&sid, &c); err != nil {
				t.Fatal(err)
			}
			ciphers[sid] = c
		}
		rows.Close()
		if len(ciphers) != 2 {
			t.Fatalf("%d suppliers in the database", len(ciphers))
		}
		for sid, c := range ciphers {
			if len(c) <= len(k2) {
				t.Errorf("supplier %s: key_cipher of %d bytes", sid, len(c))
			}
			for _, k := range []string{k1, k2} {
				if bytes.Contains(c, []byte(k)) {
					t.Errorf("supplier %s: key_cipher contains the key", sid)
				}
			}
		}
		// Same key (k1) sealed for the twin and at first for id: a fresh
		// nonce each time; compare the twin with a re-seal of k1.
		call(http.StatusOK, "PATCH", "/internal/v1/suppliers/"+id, map[string]any{"api_key": k1})
		var again []byte
		if err := db.QueryRow("SELECT key_cipher FROM suppliers WHERE id = ?", id).Scan(&again); err != nil {
			t.Fatal(err)
		}
		if bytes.Equal(again, ciphers[twin]) {
			t.Error("the same key sealed twice gives the same cipher (no fresh nonce)")
		}

		for _, bad := range []struct {
			method, path, body string
			want               int
		}{
			{"POST", "/internal/v1/suppliers", `{"name":"X","api_url":"http://x.test/api/v2"}`, http.StatusBadRequest},
			{"POST", "/internal/v1/suppliers", `{"name":"X","api_url":"ftp://x.test/api/v2","api_key":"k"}`, http.StatusBadRequest},
			{"POST", "/internal/v1/suppliers", `{"name":"","api_url":"http://x.test/api/v2","api_key":"k"}`, http.StatusBadRequest},
			{"POST", "/internal/v1/suppliers", `{"name":"X","api_url":"http://x.test/api/v2","api_key":"  "}`, http.StatusBadRequest},
			{"PATCH", "/internal/v1/suppliers/" + id, `{"api_url":"not a url"}`, http.StatusBadRequest},
			{"PATCH", "/internal/v1/suppliers/999", `{"name":"Y"}`, http.StatusNotFound},
			{"GET", "/internal/v1/suppliers/999/balance", ``, http.StatusNotFound},
			{"GET", "/internal/v1/suppliers/999/services", ``, http.StatusNotFound},
		} {
			var body any
			if bad.body != "" {
				body = bad.body
			}
			if resp := s.Admin(t, bad.method, bad.path, body); resp.Status != bad.want {
				t.Errorf("%s %s %s: %d %s, want %d", bad.method, bad.path, bad.body, resp.Status, resp.Body, bad.want)
			}
		}
	})
}

// GET /suppliers/{id}/balance and /services relay the supplier's JSON as
// it sends it; a supplier that is down, failing or too slow → 503.
func TestSupplierLive(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		r := fulStart(t, b, "SMMAPI_UPSTREAM_TIMEOUT=1s")
		for _, p := range []struct{ path, want string }{{"/balance", r.fake.Balance}, {"/services", r.fake.Services}} {
			resp := r.s.Admin(t, "GET", "/internal/v1/suppliers/"+r.sup+p.path, nil)
			if resp.Status != http.StatusOK {
				t.Fatalf("%s: %d %s", p.path, resp.Status, resp.Body)
			}
			jsonEqual(t, resp, p.want)
		}
		down := fulSupplier(t, r.s, fmt.Sprintf("http://127.0.0.1:%d/api/v2", freePort(t)), "k")
		check := func(what, sup string) {
			t.Helper()
			for _, p := range []string{"/balance", "/services"} {
				resp := r.s.Admin(t, "GET", "/internal/v1/suppliers/"+sup+p, nil)
				if resp.Status != http.StatusServiceUnavailable {
					t.Errorf("%s %s: %d %s, want 503", what, p, resp.Status, resp.Body)
					continue
				}
				if msg, _ := resp.Obj(t)["error"].(string); msg == "" {
					t.Errorf("%s %s: %s", what, p, resp.Body)
				}
			}
		}
		check("connection refused", down)
		for _, f := range []struct {
			name  string
			fault fulFault
		}{{"503", ful503}, {"502", ful502}, {"500", ful500}, {"too slow", fulDelay}} {
			r.fake.All(f.fault)
			check(f.name, r.sup)
		}
		r.fake.All(fulNone)
	})
}

// Two smmapi in a chain: B is A's supplier. An order placed at A appears at
// B; B's admin settles it Partial; A's customer sees Partial with the exact
// refund without anyone touching A.
func TestChain(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		envB := fulEnv(t, b)
		sB := MustStart(t, envB)
		buyer := sB.MustAccount(t, "panel-a", "100") // A's account at B
		svcB := sB.MustService(t, map[string]any{"name": "IG followers wholesale", "rate": "5.0000"})

		envA := fulEnv(t, b)
		envA.Secret(buyer.Key)
		sA := MustStart(t, envA, fulSyncEvery)
		sup := fulSupplier(t, sA, sB.Public+"/api/v2", buyer.Key)
		svcA := sA.MustService(t, map[string]any{"supplier_id": fulNum(sup), "supplier_service": svcB, "rate": "8.5000"})
		cust := sA.MustAccount(t, "alice", "100")

		id := mustAddOrder(t, sA, cust.Key, svcA, "https://instagram.com/p/chain", "157")
		oA := fulForwarded(t, sA, id)
		bid := fmt.Sprint(oA["supplier_order"])
		l := sB.MustAdmin(t, http.StatusOK, "GET", "/internal/v1/orders?user_id="+buyer.ID, nil)
		items := l["items"].([]any)
		if len(items) != 1 {
			t.Fatalf("B holds %d orders of A: %s", len(items), fulJSON(l))
		}
		fulFields(t, "the order at B", items[0].(map[string]any), map[string]string{"id": bid, "service_id": svcB,
			"link": "https://instagram.com/p/chain", "quantity": "157", "charge": "0.7850", "status": "Pending"})
		jsonEqual(t, sA.Admin(t, "GET", "/internal/v1/suppliers/"+sup+"/balance", nil), `{"balance":"99.2150","currency":"CNY"}`)

		time.Sleep(1500 * time.Millisecond) // A polls B, which says Pending
		fulFields(t, "A while B says Pending", getOrder(t, sA, id), map[string]string{"status": "In progress", "last_error": ""})

		sB.MustAdmin(t, http.StatusOK, "PATCH", "/internal/v1/orders/"+bid, map[string]any{"status": "Partial", "start_count": "3572", "remains": "57"})
		since := time.Now()
		fulWaitOrder(t, sA, id, 10*time.Second, "Partial at A", func(o map[string]any) bool { return o["status"] == "Partial" })
		t.Logf("%s: B's Partial reached A %v after B's admin set it", b.Name, time.Since(since).Round(time.Millisecond))
		jsonEqual(t, fulPublic(t, sA, cust.Key, "status", "order", id),
			`{"charge":"0.8500","start_count":"3572","status":"Partial","remains":"57","currency":"CNY"}`)
		fulMustRefund(t, envA.DB(t), id, 1, "0.4845")
		if got := fulBalance(t, sA, cust.ID); got != "99.1500" {
			t.Errorf("customer at A: balance %s, want 99.1500", got)
		}
		// B refunded A: 0.7850 × 57 ÷ 157 = 0.2850.
		if got := fulBalance(t, sB, buyer.ID); got != "99.5000" {
			t.Errorf("A's account at B: balance %s, want 99.5000", got)
		}
		mustLedgerMatches(t, sA, cust.ID)
		mustLedgerMatches(t, sB, buyer.ID)
	})
}

// Several instances on one MariaDB share the work through leases: 500
// orders placed concurrently over three instances reach the supplier
// exactly once each, and when the supplier cancels them all, each is
// refunded exactly once. Forwarding and sync throughput are logged.
func TestFulMultiInstance(t *testing.T) {
	t.Parallel()
	// One SQLite file is one process's database: instances sharing a
	// database are the MariaDB deployment.
	mb := mysqlOnly(t, "instances sharing one database")
	const orders, accounts, instances, clients = 500, 10, 3, 24
	env := fulEnv(t, mb)
	var ss []*Server
	for range instances {
		ss = append(ss, MustStart(t, env, fulSyncEvery, "SMMAPI_LIMITS_KEY_RATE=0", "SMMAPI_LIMITS_IP_RATE=0",
			"SMMAPI_DATABASE_MAX_OPEN_CONNS=12"))
	}
	db := env.DB(t)
	count := func(query string) int {
		t.Helper()
		var n int
		if err := db.QueryRow(query).Scan(&n); err != nil {
			t.Fatalf("%s: %v", query, err)
		}
		return n
	}
	fake := newFulFake(t)
	env.Secret(fake.Key)
	sup := fulSupplier(t, ss[0], fake.URL, fake.Key)
	svc := ss[1].MustService(t, map[string]any{"supplier_id": fulNum(sup), "supplier_service": "101"})
	accts := make([]Account, accounts)
	for i := range accts {
		accts[i] = ss[i%instances].MustAccount(t, fmt.Sprint("user", i), "100")
	}
	start := time.Now()
	var wg sync.WaitGroup
	work := make(chan int)
	var failed sync.Map
	for range clients {
		wg.Go(func() {
			for i := range work {
				s, a := ss[i%instances], accts[i%accounts]
				resp := s.Post(t, "/api/v2", url.Values{"key": {a.Key}, "action": {"add"}, "service": {svc},
					"link": {fmt.Sprintf("https://x.test/multi/%d", i)}, "quantity": {"157"}})
				if resp.Status != http.StatusOK || !bytes.HasPrefix(resp.Body, []byte(`{"order":`)) {
					failed.Store(i, fmt.Sprintf("%d %s", resp.Status, resp.Body))
				}
			}
		})
	}
	for i := range orders {
		work <- i
	}
	close(work)
	wg.Wait()
	bad := 0
	failed.Range(func(k, v any) bool { t.Errorf("add %v: %v", k, v); bad++; return true })
	if bad > 0 {
		t.FailNow()
	}
	placed := time.Since(start)
	fulWait(t, 60*time.Second, "every order forwarded", func() bool {
		return count("SELECT COUNT(*) FROM orders WHERE forward_state = 'sent' AND supplier_order <> ''") == orders
	})
	forwarded := time.Since(start)
	t.Logf("%d orders placed over %d instances in %v; all forwarded %v after the first add (%.0f orders/s)",
		orders, instances, placed.Round(time.Millisecond), forwarded.Round(time.Millisecond), orders/forwarded.Seconds())
	if n := fake.Adds(); n != orders {
		t.Errorf("the supplier got %d add requests, want %d", n, orders)
	}
	links := map[string]bool{}
	for _, l := range fake.Links() {
		if links[l] {
			t.Errorf("%s was forwarded twice", l)
		}
		links[l] = true
	}
	if len(links) != orders {
		t.Errorf("%d distinct links at the supplier, want %d", len(links), orders)
	}
	if n := count("SELECT COUNT(DISTINCT supplier_order) FROM orders"); n != orders {
		t.Errorf("%d distinct supplier orders stored, want %d", n, orders)
	}

	fake.SetAll("Canceled", "0", "157")
	syncStart := time.Now()
	fulWait(t, 60*time.Second, "every order refunded", func() bool {
		return count("SELECT COUNT(*) FROM ledger_entries WHERE kind = 'refund'") >= orders
	})
	synced := time.Since(syncStart)
	t.Logf("sync: %d orders Canceled and refunded %v after the supplier said so (%.0f orders/s; largest status batch %d IDs)",
		orders, synced.Round(time.Millisecond), orders/synced.Seconds(), fake.MaxBatch())
	if m := fake.MaxBatch(); m < 2 || m > 100 {
		t.Errorf("largest status batch %d IDs, want 2..100 (multi-status, at most 100)", m)
	}
	time.Sleep(2500 * time.Millisecond) // more rounds on every instance
	if n := count("SELECT COUNT(*) FROM ledger_entries WHERE kind = 'refund'"); n != orders {
		t.Errorf("%d refund rows, want %d", n, orders)
	}
	if n := count("SELECT COUNT(*) FROM (SELECT ref FROM ledger_entries WHERE kind = 'refund' GROUP BY ref HAVING COUNT(*) > 1) d"); n != 0 {
		t.Errorf("%d orders refunded more than once", n)
	}
	if n := count("SELECT COUNT(*) FROM orders WHERE status = 'Canceled' AND forward_state = 'done' AND refunded = charge"); n != orders {
		t.Errorf("%d orders Canceled, done and fully refunded, want %d", n, orders)
	}
	for i, s := range ss {
		// Claims by lease must not deadlock with the orders' own updates
		// (a deadlock that outlives the retries delays work by a lease).
		if n := strings.Count(s.Logs(), "Deadlock found"); n > 0 {
			t.Errorf("instance %d logged %d deadlocks", i, n)
		}
	}
	for _, a := range accts {
		if got := fulBalance(t, ss[0], a.ID); got != "100.0000" {
			t.Errorf("user %s: balance %s after every refund, want 100.0000", a.ID, got)
		}
		mustLedgerMatches(t, ss[0], a.ID)
	}
}
