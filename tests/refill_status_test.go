package tests

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

// refill_status, single: {"status":"Pending"} byte for byte; anything that
// is not one of the caller's refills reads "Refill not found".
func TestRefillStatus(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		env := MustEnv(t, b)
		s := MustStart(t, env)
		db := env.DB(t)
		a := ordAccount(t, s, db, "alice", "1000")
		other := ordAccount(t, s, db, "bob", "1000")
		svc := s.MustService(t, map[string]any{"rate": "1.0000", "refill": true, "cancel": true})
		done := mustAdd(t, s, a.Key, ordForm("service", svc, "link", "https://instagram.com/p/1", "quantity", "100"))
		ordSetStatus(t, s, done, "Completed")
		refill := strconv.FormatInt(mustRefill(t, s, a.Key, done), 10)

		// A cancel ticket is a ticket, but not a refill.
		pending := mustAdd(t, s, a.Key, ordForm("service", svc, "link", "https://instagram.com/p/2", "quantity", "100"))
		jsonEqual(t, ordDo(t, s, a.Key, "cancel", ordForm("order", pending)), fmt.Sprintf(`[{"order":%q,"cancel":1}]`, pending))
		cancelTicket := strconv.FormatInt(ordInt(t, db, "SELECT id FROM tickets WHERE type = 'cancel'"), 10)

		ordGolden(t, "refill_status.json", ordDo(t, s, a.Key, "refill_status", ordForm("refill", refill)))

		const notFound = `{"error":"Refill not found"}`
		tests := []struct {
			name string
			key  string
			form url.Values
			want string
		}{
			{"own refill", a.Key, ordForm("refill", refill), `{"status":"Pending"}`},
			{"spaces around", a.Key, ordForm("refill", " "+refill+" "), `{"status":"Pending"}`},
			{"another account's", other.Key, ordForm("refill", refill), notFound},
			{"unknown", a.Key, ordForm("refill", "999999"), notFound},
			{"zero", a.Key, ordForm("refill", "0"), notFound},
			{"negative", a.Key, ordForm("refill", "-"+refill), notFound},
			{"not numeric", a.Key, ordForm("refill", "abc"), notFound},
			{"decimal", a.Key, ordForm("refill", refill+".0"), notFound},
			{"an order ID", a.Key, ordForm("refill", done), notFound},
			{"a cancel ticket", a.Key, ordForm("refill", cancelTicket), notFound},
			{"huge", a.Key, ordForm("refill", "99999999999999999999999"), notFound},
			{"no refill parameter", a.Key, ordForm(), `{"error":"Incorrect request"}`},
			{"empty refill", a.Key, ordForm("refill", ""), `{"error":"Incorrect request"}`},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				jsonEqual(t, ordDo(t, s, tt.key, "refill_status", tt.form), tt.want)
			})
		}
	})
}

// refill_status, multiple: [{"refill":12,"status":"Completed"},{"refill":13,
// "status":{"error":"Refill not found"}}], the refill as a JSON number.
func TestRefillStatusMulti(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		env := MustEnv(t, b)
		s := MustStart(t, env)
		db := env.DB(t)
		a := ordAccount(t, s, db, "alice", "1000")
		other := ordAccount(t, s, db, "bob", "1000")
		svc := s.MustService(t, map[string]any{"rate": "1.0000", "refill": true})
		refills := make([]string, 4)
		for i := range refills {
			id := mustAdd(t, s, a.Key, ordForm("service", svc, "link", fmt.Sprintf("https://instagram.com/p/%d", i), "quantity", "100"))
			ordSetStatus(t, s, id, "Completed")
			refills[i] = strconv.FormatInt(mustRefill(t, s, a.Key, id), 10)
		}
		admMustDecide(t, s, refills[0], "complete")
		// Raw SQL: forwarding needs the order at a supplier, and these
		// orders have none.
		ordExec(t, db, "UPDATE tickets SET status = 'forwarded' WHERE id = ?", refills[1])
		admMustDecide(t, s, refills[2], "reject")
		if ordCount(t, db, "SELECT COUNT(*) FROM tickets WHERE id = 13") != 0 {
			t.Fatal("ticket 13 exists; the golden case needs it unknown")
		}

		// Golden: the spec's example. The completed refill's ID becomes 12;
		// 13 is sent as is and is no ticket.
		r := ordDo(t, s, a.Key, "refill_status", ordForm("refills", refills[0]+",13"))
		got := ordGolden(t, "refill_status_multi.json", r, `"refill":`+refills[0]+`,`, `"refill":12,`)
		if want := `[{"refill":12,"status":"Completed"},{"refill":13,"status":{"error":"Refill not found"}}]`; string(got) != want {
			t.Errorf("refill_status = %s, want the spec's example %s", got, want)
		}

		nf := `{"error":"Refill not found"}`
		entry := func(id, status string) string {
			if status == "" {
				return fmt.Sprintf(`{"refill":%s,"status":%s}`, id, nf)
			}
			return fmt.Sprintf(`{"refill":%s,"status":%q}`, id, status)
		}
		var many []string
		for i := range 101 {
			many = append(many, strconv.Itoa(100000+i))
		}
		tests := []struct {
			name    string
			key     string
			refills string
			want    string
		}{
			{"every status", a.Key, strings.Join(refills, ","), "[" + entry(refills[0], "Completed") + "," + entry(refills[1], "In progress") + "," +
				entry(refills[2], "Rejected") + "," + entry(refills[3], "Pending") + "]"},
			{"order sent, spaces, repeats, empty items", a.Key, " " + refills[3] + " ,," + refills[0] + "," + refills[3] + ",",
				"[" + entry(refills[3], "Pending") + "," + entry(refills[0], "Completed") + "]"},
			{"one ID still a list", a.Key, refills[1], "[" + entry(refills[1], "In progress") + "]"},
			// A refill ID that is not a number cannot be written as one: it
			// is echoed as the string sent.
			{"not numeric echoed as sent", a.Key, "abc," + refills[0], `[{"refill":"abc","status":` + nf + `},` + entry(refills[0], "Completed") + `]`},
			{"another account's", other.Key, refills[0] + ",999999", "[" + entry(refills[0], "") + "," + entry("999999", "") + "]"},
			{"only commas", a.Key, ",,,", `{"error":"Incorrect request"}`},
			{"101 distinct", a.Key, strings.Join(many, ","), `{"error":"Incorrect request"}`},
			{"exactly 100", a.Key, refills[0] + "," + strings.Join(many[:99], ","), ""},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := ordDo(t, s, tt.key, "refill_status", ordForm("refills", tt.refills))
				if tt.want != "" {
					jsonEqual(t, r, tt.want)
					return
				}
				items := ordArray(t, r)
				if len(items) != 100 || fmt.Sprint(items[0]["refill"]) != refills[0] || fmt.Sprint(items[0]["status"]) != "Completed" {
					t.Errorf("100 IDs: %d entries, first %v", len(items), items[0])
				}
			})
		}
	})
}

// JSON clients send refill IDs as numbers and lists as arrays; refill and
// cancel take `orders` as an array too.
func TestRefillStatusJSON(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		env := MustEnv(t, b)
		s := MustStart(t, env)
		db := env.DB(t)
		a := ordAccount(t, s, db, "alice", "1000")
		svc := s.MustService(t, map[string]any{"rate": "1.0000", "refill": true, "cancel": true})
		done := mustAdd(t, s, a.Key, ordForm("service", svc, "link", "https://instagram.com/p/1", "quantity", "100"))
		ordSetStatus(t, s, done, "Completed")
		pending := mustAdd(t, s, a.Key, ordForm("service", svc, "link", "https://instagram.com/p/2", "quantity", "100"))
		send := func(t *testing.T, body map[string]any) Response {
			t.Helper()
			body["key"] = a.Key
			j, _ := json.Marshal(body)
			return Do(t, publicReq(t, s, "POST", "/api/v3", "application/json", string(j)))
		}

		r := send(t, map[string]any{"action": "refill", "orders": []string{done, "Zz9Yy8Xx7W"}})
		items := ordArray(t, r)
		refill, ok := items[0]["refill"].(json.Number)
		if !ok {
			t.Fatalf("refill: %s", r.Body)
		}
		jsonEqual(t, r, fmt.Sprintf(`[{"order":%q,"refill":%s},{"order":"Zz9Yy8Xx7W","refill":{"error":"Incorrect order ID"}}]`, done, refill))
		n := ordMustInt(t, refill.String())

		jsonEqual(t, send(t, map[string]any{"action": "refill_status", "refill": n}), `{"status":"Pending"}`)
		jsonEqual(t, send(t, map[string]any{"action": "refill_status", "refills": []int64{n, 999999}}),
			fmt.Sprintf(`[{"refill":%d,"status":"Pending"},{"refill":999999,"status":{"error":"Refill not found"}}]`, n))
		jsonEqual(t, send(t, map[string]any{"action": "cancel", "orders": []string{pending}}), fmt.Sprintf(`[{"order":%q,"cancel":1}]`, pending))
		jsonEqual(t, send(t, map[string]any{"action": "cancel", "order": pending}),
			fmt.Sprintf(`[{"order":%q,"cancel":{"error":"Cancel already requested for this order"}}]`, pending))
	})
}
