package tests

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
)

// status, single: the spec's key order byte for byte, every status value as
// spelled, the net charge of a Partial order, unknown IDs.
func TestStatus(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		env := MustEnv(t, b)
		s := MustStart(t, env)
		db := env.DB(t)
		a := ordAccount(t, s, db, "alice", "100")
		svc := s.MustService(t, map[string]any{"rate": "0.3000"})
		id := mustAdd(t, s, a.Key, ordForm("service", svc, "link", "https://instagram.com/p/1", "quantity", "1000"))

		// A new order: start_count 0, remains its quantity, the full charge.
		jsonEqual(t, ordDo(t, s, a.Key, "status", ordForm("order", id)), ordStatusWant("0.3000", "0", "Pending", "1000"))

		// Raw SQL: every status on one order with its charge kept, back to
		// Pending at the end; the lifecycle allows neither (Canceled refunds).
		for _, st := range []string{"In progress", "Processing", "Completed", "Canceled", "Pending"} {
			ordExec(t, db, "UPDATE orders SET status = ? WHERE public_id = ?", st, id)
			jsonEqual(t, ordDo(t, s, a.Key, "status", ordForm("order", id)), ordStatusWant("0.3000", "0", st, "1000"))
		}

		// The spec's own example: a Partial order whose charge 0.3000 was
		// refunded 0.0218 shows the net 0.2782. No ID is in the body. Raw
		// SQL: our refund rule (charge × remains ÷ quantity) pays 0.0471 here.
		ordExec(t, db, "UPDATE orders SET status = 'Partial', start_count = 3572, remains = 157, refunded = 218, finished_at = ? WHERE public_id = ?", ordNow(), id)
		r := ordDo(t, s, a.Key, "status", ordForm("order", id))
		got := ordGolden(t, "status.json", r)
		if want := `{"charge":"0.2782","start_count":"3572","status":"Partial","remains":"157","currency":"CNY"}`; string(got) != want {
			t.Errorf("status = %s, want the spec's example %s", got, want)
		}

		flipped := ordFlipCase(id)
		tests := []struct {
			name string
			form url.Values
			want string
		}{
			{"unknown", ordForm("order", "Zz9Yy8Xx7W"), `{"error":"Incorrect order ID"}`},
			{"case differs", ordForm("order", flipped), `{"error":"Incorrect order ID"}`},
			{"prefix", ordForm("order", id[:9]), `{"error":"Incorrect order ID"}`},
			{"suffix added", ordForm("order", id+"A"), `{"error":"Incorrect order ID"}`},
			{"internal row ID", ordForm("order", "1"), `{"error":"Incorrect order ID"}`},
			{"not an ID", ordForm("order", "x' OR '1'='1"), `{"error":"Incorrect order ID"}`},
			{"very long", ordForm("order", strings.Repeat("A", 300)), `{"error":"Incorrect order ID"}`},
			{"no order parameter", ordForm(), `{"error":"Incorrect request"}`},
			{"empty order", ordForm("order", ""), `{"error":"Incorrect request"}`},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				if tt.name == "case differs" && flipped == id {
					t.Skip("the ID has no letter")
				}
				r := ordDo(t, s, a.Key, "status", tt.form)
				jsonEqual(t, r, tt.want)
				if string(r.Body) != tt.want {
					t.Errorf("body %s, want exactly %s", r.Body, tt.want)
				}
			})
		}
	})
}

// status, multiple: an object keyed by each ID as sent, in the order sent,
// once per ID; errors per entry; at most 100 distinct IDs.
func TestStatusMulti(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		env := MustEnv(t, b)
		s := MustStart(t, env)
		db := env.DB(t)
		a := ordAccount(t, s, db, "alice", "100")
		svc := s.MustService(t, map[string]any{"rate": "8.5000"})
		drip := s.MustService(t, map[string]any{"rate": "1.0000", "dripfeed": true})
		x := mustAdd(t, s, a.Key, ordForm("service", svc, "link", "https://instagram.com/p/1", "quantity", "1000"))
		d := mustAdd(t, s, a.Key, ordForm("service", drip, "link", "https://instagram.com/p/2", "quantity", "100", "runs", "3", "interval", "30"))
		const unknown = "Zz9Yy8Xx7W"
		xWant := ordStatusWant("8.5000", "0", "Pending", "1000")
		dWant := ordDripWant("0.3000", "0", "Pending", "300", "0")
		errWant := `{"error":"Incorrect order ID"}`

		// Golden: a plain order, an unknown ID and a drip-feed order whose
		// "runs" comes last. The two random IDs become fixed placeholders.
		r := ordDo(t, s, a.Key, "status", ordForm("orders", x+","+unknown+","+d))
		jsonEqual(t, r, fmt.Sprintf(`{%q:%s,%q:%s,%q:%s}`, x, xWant, unknown, errWant, d, dWant))
		ordGolden(t, "status_multi.json", r, x, "b76VJizQKZ", d, "a1B2c3D4e5")

		// After one delivered run, runs reads "1". Raw SQL for runs_done
		// only: no API counts drip-feed runs.
		admMustPatch(t, s, d, `{"status":"In progress","start_count":"12","remains":"200"}`)
		ordExec(t, db, "UPDATE orders SET runs_done = 1 WHERE public_id = ?", d)
		dRun := ordDripWant("0.3000", "12", "In progress", "200", "1")

		var fakes []string
		for i := range 101 {
			fakes = append(fakes, fmt.Sprintf("Fake%06d", i))
		}
		type entry struct{ key, want string }
		type multiCase struct {
			name    string
			orders  string
			entries []entry // nil: want is an error object
			want    string
		}
		tests := []multiCase{
			{"one ID still an object", x, []entry{{x, xWant}}, ""},
			{"order sent", d + "," + x, []entry{{d, dRun}, {x, xWant}}, ""},
			{"spaces trimmed", "  " + x + " ,\t" + d + " ", []entry{{x, xWant}, {d, dRun}}, ""},
			{"empty items ignored", ",," + x + ",,," + d + ",", []entry{{x, xWant}, {d, dRun}}, ""},
			{"repeats once at first position", unknown + "," + x + "," + unknown + "," + x + "," + d, []entry{{unknown, errWant}, {x, xWant}, {d, dRun}}, ""},
			{"not IDs keyed as sent", "bad id!," + x + ",1", []entry{{"bad id!", errWant}, {x, xWant}, {"1", errWant}}, ""},
			{"only unknown", unknown, []entry{{unknown, errWant}}, ""},
			{"only commas", ",,,", nil, `{"error":"Incorrect request"}`},
			{"only blanks", " , ", nil, `{"error":"Incorrect request"}`},
			{"101 distinct", x + "," + strings.Join(fakes[:100], ","), nil, `{"error":"Incorrect request"}`},
		}
		hundred := []entry{{x, xWant}, {d, dRun}}
		for _, f := range fakes[:98] {
			hundred = append(hundred, entry{f, errWant})
		}
		ids := make([]string, len(hundred))
		for i, e := range hundred {
			ids[i] = e.key
		}
		tests = append(tests,
			multiCase{"exactly 100", strings.Join(ids, ","), hundred, ""},
			multiCase{"100 distinct among 103", strings.Join(ids, ",") + "," + x + "," + d + "," + x, hundred, ""},
		)
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := ordDo(t, s, a.Key, "status", ordForm("orders", tt.orders))
				if tt.entries == nil {
					jsonEqual(t, r, tt.want)
					return
				}
				parts := make([]string, len(tt.entries))
				keys := make([]string, len(tt.entries))
				for i, e := range tt.entries {
					parts[i] = fmt.Sprintf("%q:%s", e.key, e.want)
					keys[i] = e.key
				}
				jsonEqual(t, r, "{"+strings.Join(parts, ",")+"}")
				if got := ordKeys(t, r.Body); strings.Join(got, "\x00") != strings.Join(keys, "\x00") {
					t.Errorf("keys %q, want %q", got, keys)
				}
			})
		}
	})
}
