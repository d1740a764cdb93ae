package tests

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

// event is one item of the events feed.
type event struct {
	ID        uint64          `json:"id"`
	Type      string          `json:"type"`
	UserID    uint64          `json:"user_id"`
	CreatedAt string          `json:"created_at"`
	Data      json.RawMessage `json:"data"`
}

// evFeed reads the whole feed at path (a query may follow), page by page.
func evFeed(t *testing.T, s *Server, path string) []event {
	t.Helper()
	var all []event
	cursor := ""
	for {
		sep := "?"
		if strings.Contains(path, "?") {
			sep = "&"
		}
		p := path + sep + "limit=3"
		if cursor != "" {
			p += "&cursor=" + cursor
		}
		r := s.Admin(t, "GET", p, nil)
		if r.Status != http.StatusOK {
			t.Fatalf("GET %s: %d %s", p, r.Status, r.Body)
		}
		var page struct {
			Items      []event `json:"items"`
			NextCursor string  `json:"next_cursor"`
		}
		if err := json.Unmarshal(r.Body, &page); err != nil {
			t.Fatal(err)
		}
		all = append(all, page.Items...)
		if page.NextCursor == "" {
			return all
		}
		cursor = page.NextCursor
	}
}

// evCheck compares the events after the last one seen with want (type and
// data as JSON) and returns the new last ID.
func evCheck(t *testing.T, s *Server, userID string, last uint64, step string, want ...[2]string) uint64 {
	t.Helper()
	got := evFeed(t, s, fmt.Sprintf("/internal/v1/events?user_id=%s&after=%d", userID, last))
	if len(got) != len(want) {
		t.Fatalf("%s: %d new events, want %d: %+v", step, len(got), len(want), got)
	}
	for i, e := range got {
		if e.ID <= last {
			t.Fatalf("%s: event ID %d not above %d", step, e.ID, last)
		}
		last = e.ID
		if e.Type != want[i][0] || !jsonSame(e.Data, want[i][1]) {
			t.Errorf("%s: event %d is %s %s, want %s %s", step, i, e.Type, e.Data, want[i][0], want[i][1])
		}
		if u, _ := strconv.ParseUint(userID, 10, 64); e.UserID != u {
			t.Errorf("%s: event for user %d", step, e.UserID)
		}
		if _, err := time.Parse(time.RFC3339, e.CreatedAt); err != nil {
			t.Errorf("%s: created_at %q", step, e.CreatedAt)
		}
	}
	return last
}

func evStatus(status string, charge string, startCount, remains int) string {
	return fmt.Sprintf(`{"charge":%q,"start_count":"%d","status":%q,"remains":"%d","currency":"CNY"}`, charge, startCount, status, remains)
}

func evOrder(id, prev, status string) string {
	p := "null"
	if prev != "" {
		p = strconv.Quote(prev)
	}
	return fmt.Sprintf(`{"order":%q,"previous_status":%s,"status":%s}`, id, p, status)
}

// Every committed change through the public and admin APIs writes exactly
// one event with the documented data; no-ops and refused changes write
// none, and a change that fails inside its transaction leaves none.
func TestEventsAdminPaths(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		env := MustEnv(t, b)
		s := MustStart(t, env)
		a := s.MustAccount(t, "events", "100")
		svc := s.MustService(t, map[string]any{"rate": "1", "min": 1, "max": 100000, "refill": true, "cancel": true})
		add := func(link string) string {
			return mustAdd(t, s, a.Key, url.Values{"service": {svc}, "link": {link}, "quantity": {"100"}})
		}
		var last uint64

		o := add("https://x/a")
		last = evCheck(t, s, a.ID, last, "add", [2]string{"order.created", evOrder(o, "", evStatus("Pending", "0.1000", 0, 100))})

		s.MustAdmin(t, 200, "PATCH", "/internal/v1/orders/"+o, map[string]any{"status": "In progress", "start_count": "5"})
		last = evCheck(t, s, a.ID, last, "PATCH In progress",
			[2]string{"order.updated", evOrder(o, "Pending", evStatus("In progress", "0.1000", 5, 100))})
		s.MustAdmin(t, 200, "PATCH", "/internal/v1/orders/"+o, map[string]any{"status": "In progress", "start_count": "5"})
		last = evCheck(t, s, a.ID, last, "the same PATCH again")
		s.MustAdmin(t, 200, "PATCH", "/internal/v1/orders/"+o, map[string]any{"remains": "90"})
		last = evCheck(t, s, a.ID, last, "PATCH remains",
			[2]string{"order.updated", evOrder(o, "In progress", evStatus("In progress", "0.1000", 5, 90))})
		s.MustAdmin(t, 200, "PATCH", "/internal/v1/orders/"+o, map[string]any{"status": "Processing"})
		last = evCheck(t, s, a.ID, last, "PATCH Processing",
			[2]string{"order.updated", evOrder(o, "In progress", evStatus("Processing", "0.1000", 5, 90))})
		s.MustAdmin(t, 200, "PATCH", "/internal/v1/orders/"+o, map[string]any{"status": "Partial", "remains": "40"})
		last = evCheck(t, s, a.ID, last, "PATCH Partial",
			[2]string{"order.updated", evOrder(o, "Processing", evStatus("Partial", "0.0600", 5, 40))})
		if r := s.Admin(t, "PATCH", "/internal/v1/orders/"+o, map[string]any{"status": "Canceled"}); r.Status != 409 {
			t.Fatalf("PATCH a final order: %d", r.Status)
		}
		last = evCheck(t, s, a.ID, last, "refused PATCH")

		// A refill ticket: created, rejected; another, completed.
		refill := func() string {
			r := fulPublic(t, s, a.Key, "refill", "order", o)
			var v struct{ Refill json.Number }
			if json.Unmarshal(r.Body, &v) != nil || v.Refill == "" {
				t.Fatalf("refill: %s", r.Body)
			}
			return v.Refill.String()
		}
		tk := refill()
		last = evCheck(t, s, a.ID, last, "refill", [2]string{"refill.created", fmt.Sprintf(`{"refill":%s,"order":%q,"status":"Pending"}`, tk, o)})
		s.MustAdmin(t, 200, "POST", "/internal/v1/tickets/"+tk+"/decision", map[string]any{"decision": "reject"})
		last = evCheck(t, s, a.ID, last, "reject", [2]string{"refill.updated", fmt.Sprintf(`{"refill":%s,"order":%q,"status":"Rejected"}`, tk, o)})
		tk2 := refill()
		s.MustAdmin(t, 200, "POST", "/internal/v1/tickets/"+tk2+"/decision", map[string]any{"decision": "complete"})
		last = evCheck(t, s, a.ID, last, "refill completed",
			[2]string{"refill.created", fmt.Sprintf(`{"refill":%s,"order":%q,"status":"Pending"}`, tk2, o)},
			[2]string{"refill.updated", fmt.Sprintf(`{"refill":%s,"order":%q,"status":"Completed"}`, tk2, o)})
		if r := s.Admin(t, "POST", "/internal/v1/tickets/"+tk2+"/decision", map[string]any{"decision": "reject"}); r.Status != 409 {
			t.Fatalf("second decision: %d", r.Status)
		}
		last = evCheck(t, s, a.ID, last, "refused decision")

		// A cancel ticket completed cancels the order with its refund: the
		// order's event and the ticket's.
		c := add("https://x/c")
		fulPublic(t, s, a.Key, "cancel", "orders", c)
		var cancelID string
		for _, tt := range s.MustAdmin(t, 200, "GET", "/internal/v1/tickets?type=cancel&status=open", nil)["items"].([]any) {
			cancelID = fmt.Sprint(tt.(map[string]any)["id"])
		}
		s.MustAdmin(t, 200, "POST", "/internal/v1/tickets/"+cancelID+"/decision", map[string]any{"decision": "complete"})
		last = evCheck(t, s, a.ID, last, "cancel completed",
			[2]string{"order.created", evOrder(c, "", evStatus("Pending", "0.1000", 0, 100))},
			[2]string{"cancel.created", fmt.Sprintf(`{"cancel":%s,"order":%q,"status":"Pending"}`, cancelID, c)},
			[2]string{"order.updated", evOrder(c, "Pending", evStatus("Canceled", "0.0000", 0, 100))},
			[2]string{"cancel.updated", fmt.Sprintf(`{"cancel":%s,"order":%q,"status":"Completed"}`, cancelID, c)})

		// A change that fails inside its transaction (the refund's ledger
		// row is refused by a trigger) leaves no event, and no refund.
		d := add("https://x/d")
		last = evCheck(t, s, a.ID, last, "add d", [2]string{"order.created", evOrder(d, "", evStatus("Pending", "0.1000", 0, 100))})
		db := env.DB(t)
		trigger := "CREATE TRIGGER evfail BEFORE INSERT ON ledger_entries FOR EACH ROW WHEN NEW.kind = 'refund' BEGIN SELECT RAISE(ABORT, 'forced'); END"
		if b.MySQLDSN != "" {
			trigger = "CREATE TRIGGER evfail BEFORE INSERT ON ledger_entries FOR EACH ROW BEGIN IF NEW.kind = 'refund' THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'forced'; END IF; END"
		}
		if _, err := db.Exec(trigger); err != nil {
			t.Fatal(err)
		}
		if r := s.Admin(t, "PATCH", "/internal/v1/orders/"+d, map[string]any{"status": "Canceled"}); r.Status < 500 {
			t.Fatalf("PATCH with a failing refund: %d %s", r.Status, r.Body)
		}
		last = evCheck(t, s, a.ID, last, "rolled back")
		if _, err := db.Exec("DROP TRIGGER evfail"); err != nil {
			t.Fatal(err)
		}
		s.MustAdmin(t, 200, "PATCH", "/internal/v1/orders/"+d, map[string]any{"status": "Canceled"})
		last = evCheck(t, s, a.ID, last, "after the fault",
			[2]string{"order.updated", evOrder(d, "Pending", evStatus("Canceled", "0.0000", 0, 100))})
		mustLedgerMatches(t, s, a.ID)

		// The feeds: one order's (two ways), by type, another account's.
		byOrder := evFeed(t, s, "/internal/v1/orders/"+o+"/events")
		if len(byOrder) != 9 || len(evFeed(t, s, "/internal/v1/events?order="+o)) != 9 {
			t.Errorf("order %s has %d events, want 9 (created, 4 updates, 2 refill tickets × 2)", o, len(byOrder))
		}
		if n := len(evFeed(t, s, "/internal/v1/events?type=refill.updated")); n != 2 {
			t.Errorf("%d refill.updated events, want 2", n)
		}
		other := s.MustAccount(t, "other", "1")
		if n := len(evFeed(t, s, "/internal/v1/events?user_id="+other.ID)); n != 0 {
			t.Errorf("%d events for an account without orders", n)
		}
		if n := len(evFeed(t, s, "/internal/v1/events?order=ZZZZZZZZZZ")); n != 0 {
			t.Errorf("%d events for an unknown order", n)
		}
		for path, want := range map[string]int{
			"/internal/v1/orders/ZZZZZZZZZZ/events":  404,
			"/internal/v1/events?type=order.deleted": 400,
			"/internal/v1/events?after=x":            400,
			"/internal/v1/events?user_id=0":          400,
		} {
			if r := s.Admin(t, "GET", path, nil); r.Status != want {
				t.Errorf("GET %s: %d, want %d", path, r.Status, want)
			}
		}
	})
}

// The workers' changes write their events too: forwarding (Pending → In
// progress), a supplier's Completed, Partial and Canceled, reconcile, and a
// forwarded refill followed to the supplier's answer.
func TestEventsWorkerPaths(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		r := fulStart(t, b)
		s := r.s
		a := s.MustAccount(t, "worker-events", "1000")
		var last uint64
		ids := map[string]string{}
		for _, name := range []string{"done", "partial", "canceled"} {
			ids[name] = mustAddOrder(t, s, a.Key, r.svc, "https://x/"+name, "100")
		}
		for _, id := range ids {
			fulForwarded(t, s, id)
		}
		got := evFeed(t, s, fmt.Sprintf("/internal/v1/events?user_id=%s", a.ID))
		if len(got) != 6 {
			t.Fatalf("after placing and forwarding: %d events, want 6: %+v", len(got), got)
		}
		forwarded := 0
		for _, e := range got {
			if e.Type == "order.updated" && jsonHas(e.Data, `"previous_status":"Pending"`) {
				forwarded++
			}
			last = e.ID
		}
		if forwarded != 3 {
			t.Errorf("%d forwarding events", forwarded)
		}
		sup := func(name string) string { return fmt.Sprint(getOrder(t, s, ids[name])["supplier_order"]) }
		r.fake.Set(sup("done"), "Completed", "10", "0")
		r.fake.Set(sup("partial"), "Partial", "10", "25")
		r.fake.Set(sup("canceled"), "Canceled", "10", "100")
		for name, st := range map[string]string{"done": "Completed", "partial": "Partial", "canceled": "Canceled"} {
			fulWaitOrder(t, s, ids[name], 15*time.Second, st, func(o map[string]any) bool { return o["status"] == st })
		}
		want := map[string]string{
			ids["done"]:     evOrder(ids["done"], "In progress", evStatus("Completed", "0.8500", 10, 0)),
			ids["partial"]:  evOrder(ids["partial"], "In progress", evStatus("Partial", "0.6375", 10, 25)),
			ids["canceled"]: evOrder(ids["canceled"], "In progress", evStatus("Canceled", "0.0000", 10, 100)),
		}
		got = evFeed(t, s, fmt.Sprintf("/internal/v1/events?user_id=%s&after=%d", a.ID, last))
		if len(got) != 3 {
			t.Fatalf("after the supplier's answers: %d events, want 3: %+v", len(got), got)
		}
		for _, e := range got {
			var d struct{ Order string }
			json.Unmarshal(e.Data, &d)
			if e.Type != "order.updated" || !jsonSame(e.Data, want[d.Order]) {
				t.Errorf("event %s %s, want %s", e.Type, e.Data, want[d.Order])
			}
			last = e.ID
		}
		// Synced again with nothing new: no event.
		time.Sleep(2500 * time.Millisecond)
		last = evCheck(t, s, a.ID, last, "nothing new")

		// A forwarded refill, followed until the supplier completes it.
		tk := fulPublic(t, s, a.Key, "refill", "order", ids["done"])
		var v struct{ Refill json.Number }
		json.Unmarshal(tk.Body, &v)
		s.MustAdmin(t, 200, "POST", "/internal/v1/tickets/"+v.Refill.String()+"/decision", map[string]any{"decision": "forward"})
		supRefill := fmt.Sprint(s.MustAdmin(t, 200, "GET", "/internal/v1/tickets?type=refill", nil)["items"].([]any)[0].(map[string]any)["supplier_ref"])
		r.fake.SetRefill(supRefill, "Completed")
		fulWait(t, 15*time.Second, "refill completed", func() bool {
			return jsonHas(s.Admin(t, "GET", "/internal/v1/tickets?type=refill", nil).Body, `"status":"completed"`)
		})
		refill := func(st string) [2]string {
			return [2]string{"refill.updated", fmt.Sprintf(`{"refill":%s,"order":%q,"status":%q}`, v.Refill, ids["done"], st)}
		}
		created := refill("Pending")
		created[0] = "refill.created"
		evCheck(t, s, a.ID, last, "forwarded refill", created, refill("In progress"), refill("Completed"))
		mustLedgerMatches(t, s, a.ID)
	})
}

func jsonHas(b []byte, sub string) bool { return strings.Contains(string(b), sub) }
