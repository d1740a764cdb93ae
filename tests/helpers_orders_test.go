package tests

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Helpers for orders: placing them, reading and moving them through the
// public and internal APIs, waiting on them, tickets, money in integer
// units and the ledger invariants, and row counts. The "ord" helpers serve
// the public order actions, the "adm" ones the internal order and ticket
// endpoints, the "ful" ones fulfilment. Orders are placed through the
// public API and move through the internal API; SQL reads invariants and
// writes only what no API can set (each such write says why).

// ordIDPattern is the shape of an order ID.
var ordIDPattern = regexp.MustCompile(`^[A-Za-z0-9]{10}$`)

// ordForm builds a form from name/value pairs.
func ordForm(kv ...string) url.Values {
	f := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		f.Set(kv[i], kv[i+1])
	}
	return f
}

// ordDo sends action with form and key to /api/v2 and checks the transport
// contract every public answer keeps: HTTP 200, JSON, no trailing newline.
func ordDo(tb testing.TB, s *Server, key, action string, form url.Values) Response {
	tb.Helper()
	f := url.Values{}
	for k, v := range form {
		f[k] = v
	}
	f.Set("key", key)
	f.Set("action", action)
	r := s.Post(tb, "/api/v2", f)
	if r.Status != http.StatusOK {
		tb.Errorf("%s: status %d, want 200: %s", action, r.Status, r.Body)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		tb.Errorf("%s: content type %q, want application/json", action, ct)
	}
	if bytes.HasSuffix(r.Body, []byte("\n")) {
		tb.Errorf("%s: body ends with a newline: %q", action, r.Body)
	}
	return r
}

// mustAdd places an order and returns its ID; it fails unless the answer
// is exactly {"order":"<10 characters of [A-Za-z0-9]>"}.
func mustAdd(tb testing.TB, s *Server, key string, form url.Values) string {
	tb.Helper()
	r := ordDo(tb, s, key, "add", form)
	id, ok := ordAddID(r)
	if !ok {
		tb.Fatalf("add %v: %s, want {\"order\":\"<ID>\"}", form, r.Body)
	}
	return id
}

// mustAddOrder places an order of qty on svc through the public API and
// returns its ID (mustAdd with the usual three fields).
func mustAddOrder(tb testing.TB, s *Server, key, svc, link, qty string) string {
	tb.Helper()
	return mustAdd(tb, s, key, ordForm("service", svc, "link", link, "quantity", qty))
}

// ordAddIn places an order of qty on svc and moves it to status with
// ordSetStatus ("Pending": as placed).
func ordAddIn(tb testing.TB, s *Server, key, svc, link, qty, status string) string {
	tb.Helper()
	id := mustAddOrder(tb, s, key, svc, link, qty)
	if status != "Pending" {
		ordSetStatus(tb, s, id, status)
	}
	return id
}

// ordAddID returns the order ID of an add answer, if it is one.
func ordAddID(r Response) (string, bool) {
	var v map[string]any
	dec := json.NewDecoder(bytes.NewReader(r.Body))
	dec.UseNumber()
	if dec.Decode(&v) != nil || len(v) != 1 {
		return "", false
	}
	switch id := v["order"].(type) {
	case string:
		return id, ordIDPattern.MatchString(id)
	case json.Number: // a numeric account's ID: a JSON integer within INT(11)
		n, err := id.Int64()
		return id.String(), err == nil && n >= 1000000000 && n <= 2147483647
	}
	return "", false
}

// mustIntOrder reads an add answer whose order ID must be a JSON integer of
// 10 digits within a signed 32-bit INT.
func mustIntOrder(tb testing.TB, body []byte) int64 {
	tb.Helper()
	var v map[string]json.RawMessage
	if err := json.Unmarshal(body, &v); err != nil || len(v) != 1 {
		tb.Fatalf("add answered %s", body)
	}
	n, err := strconv.ParseInt(string(v["order"]), 10, 64)
	if err != nil || n < 1000000000 || n > 2147483647 {
		tb.Fatalf("add answered %s, want {\"order\":<10-digit integer within INT(11)>}", body)
	}
	return n
}

// ordAccount creates an account and checks its ledger invariant when the
// test ends (cleanups run last-in first-out, so before the server stops).
func ordAccount(t *testing.T, s *Server, db *sql.DB, name, balance string) Account {
	t.Helper()
	a := s.MustAccount(t, name, balance)
	t.Cleanup(func() { ordCheckLedger(t, s, db, a) })
	return a
}

// fulPublic calls a public action with key and pairs of parameters.
func fulPublic(t *testing.T, s *Server, key, action string, kv ...string) Response {
	t.Helper()
	form := url.Values{"key": {key}, "action": {action}}
	for i := 0; i+1 < len(kv); i += 2 {
		form.Set(kv[i], kv[i+1])
	}
	return s.Post(t, "/api/v2", form)
}

// ordStatusWant is the status object of an order, as JSON text.
func ordStatusWant(charge, startCount, status, remains string) string {
	return fmt.Sprintf(`{"charge":%q,"start_count":%q,"status":%q,"remains":%q,"currency":"CNY"}`, charge, startCount, status, remains)
}

// ordDripWant is the status object of a drip-feed order, runs last.
func ordDripWant(charge, startCount, status, remains, runs string) string {
	return strings.TrimSuffix(ordStatusWant(charge, startCount, status, remains), "}") + fmt.Sprintf(`,"runs":%q}`, runs)
}

// ordGolden checks a golden answer: HTTP 200, Content-Type exactly
// application/json, no trailing newline, then the bytes against
// testdata/name after replacing each old with new (pairs). Random order IDs
// and database-assigned refill IDs are replaced this way by fixed
// placeholders so that golden files stay deterministic.
func ordGolden(tb testing.TB, name string, r Response, oldNew ...string) []byte {
	tb.Helper()
	if r.Status != http.StatusOK {
		tb.Errorf("%s: status %d, want 200", name, r.Status)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		tb.Errorf("%s: content type %q, want application/json", name, ct)
	}
	if bytes.HasSuffix(r.Body, []byte("\n")) {
		tb.Errorf("%s: body ends with a newline: %q", name, r.Body)
	}
	body := r.Body
	for i := 0; i+1 < len(oldNew); i += 2 {
		if !bytes.Contains(body, []byte(oldNew[i])) {
			tb.Errorf("%s: %q not in body %s", name, oldNew[i], body)
		}
		body = bytes.ReplaceAll(body, []byte(oldNew[i]), []byte(oldNew[i+1]))
	}
	golden(tb, name, body)
	return body
}

// ordKeys returns the top-level keys of a JSON object in wire order.
func ordKeys(tb testing.TB, body []byte) []string {
	tb.Helper()
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		tb.Fatalf("not an object: %s", body)
	}
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			tb.Fatalf("%s: %v", body, err)
		}
		keys = append(keys, tok.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			tb.Fatalf("%s: %v", body, err)
		}
	}
	return keys
}

// ordArray decodes a list answer.
func ordArray(tb testing.TB, r Response) []map[string]any {
	tb.Helper()
	l, ok := r.JSON(tb).([]any)
	if !ok {
		tb.Fatalf("answer is not an array: %s", r.Body)
	}
	out := make([]map[string]any, len(l))
	for i, e := range l {
		if out[i], ok = e.(map[string]any); !ok {
			tb.Fatalf("entry %d is not an object: %s", i, r.Body)
		}
	}
	return out
}

// ordFlipCase flips the case of the first letter of id (id itself when it
// has none).
func ordFlipCase(id string) string {
	for i, c := range id {
		switch {
		case c >= 'a' && c <= 'z':
			return id[:i] + strings.ToUpper(string(c)) + id[i+1:]
		case c >= 'A' && c <= 'Z':
			return id[:i] + strings.ToLower(string(c)) + id[i+1:]
		}
	}
	return id
}

// ordRefillID returns the refill ID of a single refill answer, failing
// unless the answer is {"refill":<positive JSON integer>}.
func ordRefillID(tb testing.TB, r Response) int64 {
	tb.Helper()
	m := r.Obj(tb)
	n, ok := m["refill"].(json.Number)
	if !ok || len(m) != 1 {
		tb.Fatalf("refill answer %s, want {\"refill\":<number>}", r.Body)
	}
	id, err := strconv.ParseInt(n.String(), 10, 64)
	if err != nil || id < 1 {
		tb.Fatalf("refill ID %s is not a positive integer", n)
	}
	return id
}

// mustRefill opens a refill for a Completed or Partial order.
func mustRefill(tb testing.TB, s *Server, key, id string) int64 {
	tb.Helper()
	return ordRefillID(tb, ordDo(tb, s, key, "refill", ordForm("order", id)))
}

// getOrder is GET /internal/v1/orders/{id}.
func getOrder(tb testing.TB, s *Server, id string) map[string]any {
	tb.Helper()
	return s.MustAdmin(tb, http.StatusOK, "GET", "/internal/v1/orders/"+id, nil)
}

// ordSetStatus moves an order to status with the internal API's PATCH, as
// an admin does: a final status sets finished_at and frees the link, Partial
// and Canceled refund. Remains stay as the order shows them (Completed
// included), except that Partial needs part delivered: half remains.
func ordSetStatus(tb testing.TB, s *Server, id, status string) {
	tb.Helper()
	body := map[string]any{"status": status}
	remains := getOrder(tb, s, id)["remains"]
	switch status {
	case "Completed":
		body["remains"] = remains
	case "Partial":
		body["remains"] = fmt.Sprint(ordMustInt(tb, fmt.Sprint(remains)) / 2)
	}
	s.MustAdmin(tb, http.StatusOK, "PATCH", "/internal/v1/orders/"+id, body)
}

// admPatch sends body (raw JSON text) as PATCH /internal/v1/orders/{id}.
func admPatch(t testing.TB, s *Server, id, body string) Response {
	t.Helper()
	return s.Admin(t, "PATCH", "/internal/v1/orders/"+id, body)
}

// admMustPatch PATCHes an order and fails unless it answers 200.
func admMustPatch(t testing.TB, s *Server, id, body string) {
	t.Helper()
	if r := admPatch(t, s, id, body); r.Status != http.StatusOK {
		t.Fatalf("PATCH %s %s: %d %s", id, body, r.Status, r.Body)
	}
}

// admPartial is a PATCH body moving an order to Partial; remains is raw
// JSON ("\"1\"", "1", or "" for none).
func admPartial(remains string) string {
	if remains == "" {
		return `{"status":"Partial","start_count":"3572"}`
	}
	return `{"status":"Partial","start_count":"3572","remains":` + remains + `}`
}

const admCanceled = `{"status":"Canceled"}`

// admStart starts a server with the public rate limits off (these tests
// place many orders) and checks the money invariants of every user and
// order when the test ends, while the server still runs.
func admStart(t *testing.T, b Backend) (*Server, *sql.DB) {
	t.Helper()
	env := MustEnv(t, b)
	s := MustStart(t, env, "SMMAPI_LIMITS_KEY_RATE=0", "SMMAPI_LIMITS_IP_RATE=0")
	db := env.DB(t)
	t.Cleanup(func() { admInvariants(t, s, db) })
	return s, db
}

// admInvariants checks, for every user, that the balance is the sum of the
// ledger and, for every order, that it never got back more than it paid
// and that its refund is one ledger row (ref = the order's public ID)
// whose amount is what the order shows as refunded.
func admInvariants(t *testing.T, s *Server, db *sql.DB) {
	t.Helper()
	rows, err := db.Query("SELECT id FROM users")
	if err != nil {
		t.Fatalf("users: %v", err)
	}
	var users []string
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		users = append(users, fmt.Sprint(id))
	}
	rows.Close()
	for _, u := range users {
		mustLedgerMatches(t, s, u)
	}
	refunds := 0
	for _, o := range admWalk(t, s, "/internal/v1/orders?limit=500") {
		id := fmt.Sprint(o["id"])
		charge, refunded := units(t, fmt.Sprint(o["charge"])), units(t, fmt.Sprint(o["refunded"]))
		if refunded < 0 || refunded > charge {
			t.Errorf("order %s: refunded %s of a charge of %s", id, o["refunded"], o["charge"])
		}
		n, sum := refundRows(t, db, id)
		refunds += n
		if n > 1 {
			t.Errorf("order %s: %d refund rows, want at most one", id, n)
		}
		if sum != refunded {
			t.Errorf("order %s: refund rows sum to %s, the order shows %s refunded", id, ordMoney(sum), o["refunded"])
		}
	}
	if n := ordCount(t, db, "SELECT COUNT(*) FROM ledger_entries WHERE kind = ?", "refund"); n != refunds {
		t.Errorf("%d refund rows in the ledger, %d reference an order", n, refunds)
	}
}

// admSnap is what an admin request that fails (or does nothing) must leave
// as it was: the order exactly as GET shows it, the balance and the number
// of ledger rows of its owner.
type admSnap struct {
	order   string
	stamp   string // updated_at as stored, finer than the API's seconds
	balance int64
	ledger  int
}

func admSnapshot(t *testing.T, s *Server, db *sql.DB, a Account, id string) admSnap {
	t.Helper()
	r := s.Admin(t, "GET", "/internal/v1/orders/"+id, nil)
	if r.Status != http.StatusOK {
		t.Fatalf("GET order %s: %d %s", id, r.Status, r.Body)
	}
	return admSnap{order: string(r.Body), stamp: admStamp(t, db, "orders", "public_id", id), balance: ordBalance(t, s, a),
		ledger: ordCount(t, db, "SELECT COUNT(*) FROM ledger_entries WHERE user_id = ?", ordUID(t, a))}
}

// admStamp reads a row's updated_at as stored (SQL read): a write that
// changes nothing visible still moves it.
func admStamp(t *testing.T, db *sql.DB, table, key string, id any) string {
	t.Helper()
	var v any
	if err := db.QueryRow("SELECT updated_at FROM "+table+" WHERE "+key+" = ?", id).Scan(&v); err != nil {
		t.Fatalf("updated_at of %s %v: %v", table, id, err)
	}
	if b, ok := v.([]byte); ok {
		return string(b)
	}
	return fmt.Sprint(v)
}

// admUnchanged fails unless nothing moved since before.
func admUnchanged(t *testing.T, s *Server, db *sql.DB, a Account, id string, before admSnap, what string) {
	t.Helper()
	after := admSnapshot(t, s, db, a, id)
	if after.order != before.order || after.stamp != before.stamp {
		t.Errorf("%s changed the order:\n got %s\nwant %s", what, after.order, before.order)
	}
	if after.balance != before.balance || after.ledger != before.ledger {
		t.Errorf("%s moved money: balance %s → %s, ledger rows %d → %d", what,
			ordMoney(before.balance), ordMoney(after.balance), before.ledger, after.ledger)
	}
}

// fulWait polls cond every 50 ms for up to within.
func fulWait(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// fulWaitOrder polls order id until ok accepts it, for up to within.
func fulWaitOrder(t *testing.T, s *Server, id string, within time.Duration, what string, ok func(o map[string]any) bool) map[string]any {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		o := getOrder(t, s, id)
		if ok(o) {
			return o
		}
		if time.Now().After(deadline) {
			t.Fatalf("order %s: %s not within %v; it reads %s", id, what, within, fulJSON(o))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// fulForwarded waits until order id is at the supplier and returns it.
func fulForwarded(t *testing.T, s *Server, id string) map[string]any {
	t.Helper()
	return fulWaitOrder(t, s, id, 10*time.Second, "forwarded", func(o map[string]any) bool {
		return o["supplier_order"] != "" && o["forward_state"] == "sent"
	})
}

// admDecide posts a decision (raw JSON text) on ticket id.
func admDecide(t *testing.T, s *Server, id, body string) Response {
	t.Helper()
	return s.Admin(t, "POST", "/internal/v1/tickets/"+id+"/decision", body)
}

// admMustDecide posts decision ("complete", "reject") on ticket id and
// fails unless it answers 200.
func admMustDecide(tb testing.TB, s *Server, id, decision string) {
	tb.Helper()
	s.MustAdmin(tb, http.StatusOK, "POST", "/internal/v1/tickets/"+id+"/decision", map[string]any{"decision": decision})
}

// admTicket returns a ticket as the list shows it, found by ID.
func admTicket(t *testing.T, s *Server, id string) map[string]any {
	t.Helper()
	for _, it := range admWalk(t, s, "/internal/v1/tickets?limit=500") {
		if fmt.Sprint(it["id"]) == id {
			return it
		}
	}
	t.Fatalf("ticket %s is not in the list", id)
	return nil
}

// admOpenTicket returns the ID of the open ticket of type typ for order,
// found through the list (the public cancel answer carries no ticket ID).
func admOpenTicket(t *testing.T, s *Server, typ, order string) string {
	t.Helper()
	id := ""
	for _, it := range admWalk(t, s, "/internal/v1/tickets?status=open&type="+typ) {
		if it["order"] == order {
			if id != "" {
				t.Fatalf("two open %s tickets for order %s", typ, order)
			}
			id = fmt.Sprint(it["id"])
		}
	}
	if id == "" {
		t.Fatalf("no open %s ticket for order %s", typ, order)
	}
	return id
}

// ordTicket is a tickets row as the tests read it.
type ordTicket struct {
	Type, Status string
	OrderID      int64
	UserID       int64
	Open         bool // open_key is set
}

func ordTicketRow(tb testing.TB, db *sql.DB, id int64) ordTicket {
	tb.Helper()
	var tk ordTicket
	var key sql.NullString
	err := db.QueryRow("SELECT type, status, order_id, user_id, open_key FROM tickets WHERE id = ?", id).
		Scan(&tk.Type, &tk.Status, &tk.OrderID, &tk.UserID, &key)
	if err != nil {
		tb.Fatalf("ticket %d: %v", id, err)
	}
	tk.Open = key.Valid
	return tk
}

var ordMoneyPattern = regexp.MustCompile(`^(-?)([0-9]+)\.([0-9]{4})$`)

// units parses a wire amount, a 4-decimal string such as "-12.3400", into
// integer minor units of 0.0001, exactly: no floating point anywhere.
func units(tb testing.TB, v any) int64 {
	tb.Helper()
	s, _ := v.(string)
	m := ordMoneyPattern.FindStringSubmatch(s)
	if m == nil {
		tb.Fatalf("amount %v is not a 4-decimal string", v)
	}
	whole, err1 := strconv.ParseInt(m[2], 10, 64)
	frac, err2 := strconv.ParseInt(m[3], 10, 64)
	if err1 != nil || err2 != nil {
		tb.Fatalf("amount %q: %v %v", s, err1, err2)
	}
	u := whole*10000 + frac
	if m[1] == "-" {
		u = -u
	}
	return u
}

// ordMoney formats minor units as the wire does.
func ordMoney(u int64) string {
	sign := ""
	if u < 0 {
		sign, u = "-", -u
	}
	return fmt.Sprintf("%s%d.%04d", sign, u/10000, u%10000)
}

// ordBalance reads a user's balance in minor units from the internal API.
func ordBalance(tb testing.TB, s *Server, a Account) int64 {
	tb.Helper()
	u := s.MustAdmin(tb, http.StatusOK, "GET", "/internal/v1/users/"+a.ID, nil)
	b, _ := u["balance"].(string)
	return units(tb, b)
}

// mustLedgerMatches checks a user's money invariant through the internal
// API: the balance equals the sum of the ledger exactly, each row's
// balance_after is the running sum, and the running sum never goes below
// zero. It returns the ledger rows, newest first.
func mustLedgerMatches(tb testing.TB, s *Server, userID string) []map[string]any {
	tb.Helper()
	u := s.MustAdmin(tb, http.StatusOK, "GET", "/internal/v1/users/"+userID, nil)
	rows := mustProvLedger(tb, s, userID)
	var sum int64
	for i := len(rows) - 1; i >= 0; i-- { // oldest first
		sum += units(tb, rows[i]["amount"])
		if after := units(tb, rows[i]["balance_after"]); after != sum {
			tb.Errorf("user %s: ledger row %v: balance_after is not the running sum %s", userID, rows[i], ordMoney(sum))
		}
		if sum < 0 {
			tb.Errorf("user %s: ledger row %v: balance below zero", userID, rows[i])
		}
	}
	if bal := units(tb, u["balance"]); bal != sum {
		tb.Errorf("user %s: balance %v, ledger sums to %s (%d rows)", userID, u["balance"], ordMoney(sum), len(rows))
	}
	return rows
}

// ordCheckLedger checks mustLedgerMatches and, beyond it, that every order
// of the user has exactly one charge row whose ref is the order ID and whose
// amount is minus the order's charge.
func ordCheckLedger(tb testing.TB, s *Server, db *sql.DB, a Account) {
	tb.Helper()
	charges := 0
	for _, it := range mustLedgerMatches(tb, s, a.ID) {
		if it["kind"] != "charge" {
			continue
		}
		charges++
		var charge int64
		err := db.QueryRow("SELECT charge FROM orders WHERE public_id = ? AND user_id = ?", it["ref"], ordUID(tb, a)).Scan(&charge)
		if err != nil {
			tb.Errorf("charge row %v: ref %v names no order of user %s: %v", it["id"], it["ref"], a.ID, err)
			continue
		}
		if amt := units(tb, it["amount"]); amt != -charge {
			tb.Errorf("charge row of order %v: amount %s, want %s", it["ref"], it["amount"], ordMoney(-charge))
		}
	}
	if n := ordCount(tb, db, "SELECT COUNT(*) FROM orders WHERE user_id = ?", ordUID(tb, a)); n != charges {
		tb.Errorf("user %s: %d orders, %d charge rows", a.ID, n, charges)
	}
}

// mustProvLedger returns every ledger row of a user, newest first.
func mustProvLedger(tb testing.TB, s *Server, id string) []map[string]any {
	tb.Helper()
	var rows []map[string]any
	for _, p := range mustProvWalk(tb, s, "/internal/v1/users/"+id+"/ledger", 500) {
		rows = append(rows, p...)
	}
	return rows
}

// refundRows counts the refund ledger rows of an order and sums their
// amounts (units).
func refundRows(tb testing.TB, db *sql.DB, id string) (int, int64) {
	tb.Helper()
	var n int
	var sum int64
	err := db.QueryRow("SELECT COUNT(*), COALESCE(SUM(amount), 0) FROM ledger_entries WHERE kind = ? AND ref = ?", "refund", id).Scan(&n, &sum)
	if err != nil {
		tb.Fatalf("refund rows of %s: %v", id, err)
	}
	return n, sum
}

// ordExec runs one statement directly against the test's database, to set
// up what no API sets; every caller says why in a comment.
func ordExec(tb testing.TB, db *sql.DB, query string, args ...any) {
	tb.Helper()
	if _, err := db.Exec(query, args...); err != nil {
		tb.Fatalf("%s: %v", query, err)
	}
}

// ordAge moves an order's finished_at ago into the past. Raw SQL: no API
// sets a time, and the server reads its own clock.
func ordAge(tb testing.TB, db *sql.DB, id string, ago time.Duration) {
	tb.Helper()
	ordExec(tb, db, "UPDATE orders SET finished_at = ? WHERE public_id = ?", ordNow().Add(-ago), id)
}

// ordCount runs a COUNT(*) query.
func ordCount(tb testing.TB, db *sql.DB, query string, args ...any) int {
	tb.Helper()
	return int(ordInt(tb, db, query, args...))
}

// ordInt reads one integer column.
func ordInt(tb testing.TB, db *sql.DB, query string, args ...any) int64 {
	tb.Helper()
	var n int64
	if err := db.QueryRow(query, args...).Scan(&n); err != nil {
		tb.Fatalf("%s: %v", query, err)
	}
	return n
}

// ordUID is a user ID as a number, for SQL parameters.
func ordUID(tb testing.TB, a Account) int64 {
	tb.Helper()
	return ordMustInt(tb, a.ID)
}

func ordMustInt(tb testing.TB, s string) int64 {
	tb.Helper()
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		tb.Fatalf("%q: %v", s, err)
	}
	return n
}

// ordRowID is an order's internal row ID.
func ordRowID(tb testing.TB, db *sql.DB, id string) int64 {
	tb.Helper()
	return ordInt(tb, db, "SELECT id FROM orders WHERE public_id = ?", id)
}

// ordLink reads the link stored for an order.
func ordLink(tb testing.TB, db *sql.DB, id string) string {
	tb.Helper()
	var link string
	if err := db.QueryRow("SELECT link FROM orders WHERE public_id = ?", id).Scan(&link); err != nil {
		tb.Fatalf("link of %s: %v", id, err)
	}
	return link
}

// ordNow is the current time as the server stores it.
func ordNow() time.Time { return time.Now().UTC() }

// ordPublicIDs returns the public IDs a query selects, as a set.
func ordPublicIDs(tb testing.TB, db *sql.DB, query string, args ...any) map[string]bool {
	tb.Helper()
	rows, err := db.Query(query, args...)
	if err != nil {
		tb.Fatal(err)
	}
	defer rows.Close()
	ids := map[string]bool{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			tb.Fatal(err)
		}
		ids[id] = true
	}
	if err := rows.Err(); err != nil {
		tb.Fatal(err)
	}
	return ids
}
