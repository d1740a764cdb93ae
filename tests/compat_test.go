package tests

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

// An account switched to numeric IDs runs the whole flow with every order ID
// arriving as a JSON integer, as typed clients need (the PHP class's
// refill(int $orderId) under strict_types, SmartPanel's INT(11) column).
func TestNumericOrderIDs(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		s := MustStart(t, MustEnv(t, b))
		a := s.MustAccount(t, "smartpanel", "1000")
		svc := s.MustService(t, map[string]any{"rate": "1", "min": 1, "max": 100000, "refill": true, "cancel": true})
		old := mustAdd(t, s, a.Key, url.Values{"service": {svc}, "link": {"https://x/old"}, "quantity": {"100"}})
		if _, err := strconv.Atoi(old); err == nil || len(old) != 10 {
			t.Fatalf("a new account's first order %q is not alphanumeric", old)
		}

		for _, tt := range []struct {
			body string
			want int
		}{{`{"order_id_format":"hex"}`, 400}, {`{"order_id_format":7}`, 400}, {`{"order_id_format":"numeric"}`, 200}} {
			if r := s.Admin(t, "PATCH", "/internal/v1/users/"+a.ID, tt.body); r.Status != tt.want {
				t.Fatalf("PATCH %s: %d %s", tt.body, r.Status, r.Body)
			}
		}
		if u := s.MustAdmin(t, 200, "GET", "/internal/v1/users/"+a.ID, nil); u["order_id_format"] != "numeric" {
			t.Fatalf("user = %v", u)
		}

		// add: a JSON integer of 10 digits within INT(11), nothing else.
		r := jsonPost(t, s, map[string]any{"key": a.Key, "action": "add", "service": json.Number(svc), "link": "https://x/1", "quantity": 100})
		n := mustIntOrder(t, r.Body)
		id := strconv.FormatInt(n, 10)
		if !bytes.Equal(r.Body, []byte(`{"order":`+id+`}`)) {
			t.Errorf("add body %s", r.Body)
		}
		// The PHP class's form body answers the same shape.
		r = phpClientPost(t, s, [][2]string{{"key", a.Key}, {"action", "add"}, {"service", svc}, {"link", "https://x/php"}, {"quantity", "100"}})
		mustIntOrder(t, r.Body)

		// status single and multi with the ID as a JSON number; multi keys
		// stay strings, as sent.
		r = jsonPost(t, s, map[string]any{"key": a.Key, "action": "status", "order": n})
		jsonEqual(t, r, `{"charge":"0.1000","start_count":"0","status":"Pending","remains":"100","currency":"CNY"}`)
		r = jsonPost(t, s, map[string]any{"key": a.Key, "action": "status", "orders": []any{n, old}})
		jsonEqual(t, r, fmt.Sprintf(`{%q:{"charge":"0.1000","start_count":"0","status":"Pending","remains":"100","currency":"CNY"},%q:{"charge":"0.1000","start_count":"0","status":"Pending","remains":"100","currency":"CNY"}}`, id, old))

		// refill single and multi: the ticket ID and the order are integers;
		// the older alphanumeric order stays a string.
		s.MustAdmin(t, 200, "PATCH", "/internal/v1/orders/"+id, map[string]any{"status": "Completed"})
		r = jsonPost(t, s, map[string]any{"key": a.Key, "action": "refill", "order": n})
		var refill struct{ Refill json.Number }
		if err := json.Unmarshal(r.Body, &refill); err != nil || refill.Refill == "" {
			t.Fatalf("refill answered %s", r.Body)
		}
		refillID, err := refill.Refill.Int64()
		if err != nil {
			t.Fatalf("refill ID %s is not an integer", refill.Refill)
		}
		r = jsonPost(t, s, map[string]any{"key": a.Key, "action": "refill_status", "refill": refillID})
		jsonEqual(t, r, `{"status":"Pending"}`)
		r = jsonPost(t, s, map[string]any{"key": a.Key, "action": "refill_status", "refills": []any{refillID}})
		jsonEqual(t, r, fmt.Sprintf(`[{"refill":%d,"status":"Pending"}]`, refillID))
		r = jsonPost(t, s, map[string]any{"key": a.Key, "action": "refill", "orders": []any{n, old, 1999999999}})
		jsonEqual(t, r, fmt.Sprintf(`[{"order":%d,"refill":{"error":"Refill already requested for this order"}},`+
			`{"order":%q,"refill":{"error":"Order is not eligible for refill"}},{"order":1999999999,"refill":{"error":"Incorrect order ID"}}]`, n, old))

		// cancel with integers answers integers, in the order sent.
		second := mustAdd(t, s, a.Key, url.Values{"service": {svc}, "link": {"https://x/2"}, "quantity": {"100"}})
		n2, _ := strconv.ParseInt(second, 10, 64)
		r = jsonPost(t, s, map[string]any{"key": a.Key, "action": "cancel", "orders": []any{n2, old}})
		jsonEqual(t, r, fmt.Sprintf(`[{"order":%d,"cancel":1},{"order":%q,"cancel":1}]`, n2, old))
		r = s.Post(t, "/api/v2", url.Values{"key": {a.Key}, "action": {"cancel"}, "order": {id}})
		jsonEqual(t, r, fmt.Sprintf(`[{"order":%d,"cancel":{"error":"Order is not eligible for cancel"}}]`, n))
		mustLedgerMatches(t, s, a.ID)
	})
}

// How real clients call: each request exactly as that client sends it.
func TestClientHabits(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		s := MustStart(t, MustEnv(t, b))
		a := s.MustAccount(t, "clients", "1000")
		svc := s.MustService(t, map[string]any{"rate": "1", "min": 1, "max": 100000})
		comments := s.MustService(t, map[string]any{"type": "Custom Comments", "rate": "10", "min": 1, "max": 100})

		// PHP class: urlencoded pairs, comments with \r\n and spaces as "+".
		r := phpClientPost(t, s, [][2]string{{"key", a.Key}, {"action", "add"}, {"service", comments},
			{"link", "https://instagram.com/p/abc?x=1&y=2"}, {"comments", "great post!\r\nlove it 😍\r\n\r\n"}})
		phpID, ok := ordAddID(r)
		if !ok {
			t.Fatalf("PHP add: %s", r.Body)
		}
		r = phpClientPost(t, s, [][2]string{{"key", a.Key}, {"action", "status"}, {"order", phpID}})
		jsonEqual(t, r, `{"charge":"0.0200","start_count":"0","status":"Pending","remains":"2","currency":"CNY"}`)

		// JSON with numbers as numbers, and with numbers as strings.
		numID, ok := ordAddID(jsonPost(t, s, map[string]any{"key": a.Key, "action": "add", "service": json.Number(svc), "quantity": 100, "link": "https://x/n"}))
		if !ok {
			t.Fatal("JSON numbers add failed")
		}
		strID, ok := ordAddID(jsonPost(t, s, map[string]any{"key": a.Key, "action": "add", "service": svc, "quantity": "100", "link": "https://x/s"}))
		if !ok {
			t.Fatal("JSON strings add failed")
		}

		pending := `{"charge":"0.1000","start_count":"0","status":"Pending","remains":"100","currency":"CNY"}`
		both := fmt.Sprintf(`{%q:%s,%q:%s}`, numID, pending, strID, pending)
		for name, form := range map[string]url.Values{
			"trailing comma":     {"orders": {numID + "," + strID + ","}},
			"spaces after comma": {"orders": {numID + ", " + strID}},
		} {
			form.Set("key", a.Key)
			form.Set("action", "status")
			if r := s.Post(t, "/api/v2", form); !jsonSame(r.Body, both) {
				t.Errorf("%s: %s", name, r.Body)
			}
		}
		r = jsonPost(t, s, map[string]any{"key": a.Key, "action": "status", "orders": []any{numID, strID}})
		jsonEqual(t, r, both)

		// cancel with a singular order.
		r = s.Post(t, "/api/v2", url.Values{"key": {a.Key}, "action": {"cancel"}, "order": {numID}})
		jsonEqual(t, r, fmt.Sprintf(`[{"order":%q,"cancel":1}]`, numID))

		// GET with the key in the query string: served, and (checked when the
		// server stops) the key appears in no log line.
		r = Do(t, mustGet(t, s.Public+"/api/v2?key="+a.Key+"&action=status&order="+strID))
		jsonEqual(t, r, pending)
		if strings.Contains(s.Logs(), a.Key) {
			t.Error("the key of a GET request was logged")
		}
	})
}
