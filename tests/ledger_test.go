package tests

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// POST /internal/v1/users/{id}/balance moves money with one ledger row; a
// refused adjustment writes nothing, and the balance always equals the sum
// of the ledger.
func TestBalanceAdjust(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		s := MustStart(t, MustEnv(t, b))
		id := mustProvUser(t, s, "alice")
		path := "/internal/v1/users/" + id + "/balance"
		tests := []struct {
			name       string
			body       any
			wantStatus int
			wantBal    string // balance after, for 200s
		}{
			{"credit", `{"amount":"100.0000","reason":"bank transfer #123"}`, 200, "100.0000"},
			{"smallest credit", `{"amount":"0.0001","reason":"r"}`, 200, "100.0001"},
			{"smallest deduction", `{"amount":"-0.0001","reason":"r"}`, 200, "100.0000"},
			{"JSON number", `{"amount":100,"reason":"r"}`, 200, "200.0000"},
			{"fewer decimals", `{"amount":"0.5","reason":"r"}`, 200, "200.5000"},
			{"JSON number with decimals", `{"amount":-0.25,"reason":"r"}`, 200, "200.2500"},
			{"no reason", `{"amount":"0.7500"}`, 200, "201.0000"},
			{"5 decimals", `{"amount":"1.00001","reason":"r"}`, 400, ""},
			{"5 decimals as a number", `{"amount":1.00001,"reason":"r"}`, 400, ""},
			{"letters", `{"amount":"abc","reason":"r"}`, 400, ""},
			{"zero", `{"amount":"0","reason":"r"}`, 400, ""},
			{"zero with decimals", `{"amount":"-0.0000","reason":"r"}`, 400, ""},
			{"exponent", `{"amount":"1e3","reason":"r"}`, 400, ""},
			{"exponent as a number", `{"amount":1e3,"reason":"r"}`, 400, ""},
			{"comma", `{"amount":"1,5","reason":"r"}`, 400, ""},
			{"empty", `{"amount":"","reason":"r"}`, 400, ""},
			{"missing", `{"reason":"r"}`, 400, ""},
			{"null", `{"amount":null,"reason":"r"}`, 400, ""},
			{"boolean", `{"amount":true,"reason":"r"}`, 400, ""},
			{"huge", `{"amount":"100000000000000000000","reason":"r"}`, 400, ""},
			{"reason too long", map[string]any{"amount": "1", "reason": strings.Repeat("r", 256)}, 400, ""},
			{"reason of wrong type", `{"amount":"1","reason":5}`, 400, ""},
			{"unknown field", `{"amount":"1","reason":"r","kind":"refund"}`, 400, ""},
			{"not JSON", `{"amount":"1"`, 400, ""},
			{"trailing data", `{"amount":"1"} 1`, 400, ""},
			{"empty body", ``, 400, ""},
			{"beyond the balance", `{"amount":"-201.0001","reason":"r"}`, 409, ""},
			{"far beyond the balance", `{"amount":"-1000000","reason":"r"}`, 409, ""},
			{"down to zero", `{"amount":"-201.0000","reason":"all of it"}`, 200, "0.0000"},
			{"below zero from zero", `{"amount":"-0.0001","reason":"r"}`, 409, ""},
		}
		rows := 0
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				before := mustProvLedger(t, s, id)
				r := s.Admin(t, "POST", path, tt.body)
				if tt.wantStatus != http.StatusOK {
					mustErr(t, r, tt.wantStatus, "")
					after := mustProvLedger(t, s, id)
					if a, b := mustProvJSON(t, after), mustProvJSON(t, before); a != b {
						t.Errorf("ledger changed by a %d:\n got: %s\nwant: %s", tt.wantStatus, a, b)
					}
					mustLedgerMatches(t, s, id)
					return
				}
				if r.Status != http.StatusOK {
					t.Fatalf("status %d, want 200: %s", r.Status, r.Body)
				}
				rows++
				ledger := mustProvLedger(t, s, id)
				if len(ledger) != rows {
					t.Fatalf("%d ledger rows, want %d", len(ledger), rows)
				}
				newest := ledger[0]
				jsonEqual(t, r, fmt.Sprintf(`{"balance":%q,"currency":"CNY","ledger_id":%s}`, tt.wantBal, newest["id"]))
				if newest["balance_after"] != tt.wantBal || newest["kind"] != "adjustment" {
					t.Errorf("newest ledger row = %v", newest)
				}
				if u := s.MustAdmin(t, http.StatusOK, "GET", "/internal/v1/users/"+id, nil); u["balance"] != tt.wantBal {
					t.Errorf("user balance = %v, want %s", u["balance"], tt.wantBal)
				}
				mustLedgerMatches(t, s, id)
			})
		}

		// An unknown user is 404 and gets no ledger row anywhere.
		mustErr(t, s.Admin(t, "POST", "/internal/v1/users/999/balance", `{"amount":"1","reason":"r"}`), http.StatusNotFound, "")
		var n int
		if err := s.env.DB(t).QueryRow("SELECT COUNT(*) FROM ledger_entries WHERE user_id = 999").Scan(&n); err != nil || n != 0 {
			t.Errorf("ledger rows of user 999 = %d (%v), want 0", n, err)
		}
	})
}

// GET /internal/v1/users/{id}/ledger lists adjustments newest first with
// kind, reason, balance_after and cursor pagination.
func TestLedgerList(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		s := MustStart(t, MustEnv(t, b))
		id := mustProvUser(t, s, "alice")
		other := mustProvUser(t, s, "bob")
		start := time.Now().UTC().Truncate(time.Second)
		if items, next := mustProvList(t, s, "/internal/v1/users/"+id+"/ledger"); len(items) != 0 || next != "" {
			t.Errorf("empty ledger = %v, next %q", items, next)
		}
		amounts := []string{"10.0000", "-2.5000", "0.0001", "7.1234", "-3.0000"}
		for i, a := range amounts {
			s.MustAdmin(t, http.StatusOK, "POST", "/internal/v1/users/"+id+"/balance", map[string]any{"amount": a, "reason": fmt.Sprintf("r%d", i)})
			s.MustAdmin(t, http.StatusOK, "POST", "/internal/v1/users/"+other+"/balance", map[string]any{"amount": "1", "reason": "other"})
		}
		pages := mustProvWalk(t, s, "/internal/v1/users/"+id+"/ledger", 2)
		if len(pages) != 3 || len(pages[0]) != 2 || len(pages[1]) != 2 || len(pages[2]) != 1 {
			t.Fatalf("pages = %v, want 2+2+1 rows", pages)
		}
		var rows []map[string]any
		for _, p := range pages {
			rows = append(rows, p...)
		}
		wantAfter := []string{"11.6235", "14.6235", "7.5001", "7.5000", "10.0000"}
		lastID := int64(1 << 62)
		for i, row := range rows {
			k := len(amounts) - 1 - i // newest first
			if len(row) != 7 {
				t.Errorf("row %v: want id, amount, balance_after, kind, ref, reason, created_at", row)
			}
			if row["amount"] != amounts[k] || row["balance_after"] != wantAfter[i] || row["kind"] != "adjustment" ||
				row["reason"] != fmt.Sprintf("r%d", k) || row["ref"] != "" {
				t.Errorf("row %d = %v, want amount %s, balance_after %s, reason r%d", i, row, amounts[k], wantAfter[i], k)
			}
			rid, err := row["id"].(json.Number).Int64()
			if err != nil || rid >= lastID {
				t.Errorf("row %d id %v: ids must decrease", i, row["id"])
			}
			lastID = rid
			mustProvTime(t, row["created_at"], start)
		}
		mustLedgerMatches(t, s, id)
		mustLedgerMatches(t, s, other)

		for _, q := range []string{"limit=0", "limit=x", "cursor=x", "cursor=-5"} {
			mustErr(t, s.Admin(t, "GET", "/internal/v1/users/"+id+"/ledger?"+q, nil), http.StatusBadRequest, "")
		}
		if items, next := mustProvList(t, s, "/internal/v1/users/"+id+"/ledger?limit=1000"); len(items) != 5 || next != "" {
			t.Errorf("limit=1000: %d rows, next %q", len(items), next)
		}
	})
}

// 40 parallel deductions of 1.0000 from 25.0000: exactly 25 succeed, the
// balance ends at 0.0000 and still equals the sum of the ledger.
func TestBalanceConcurrentDeductions(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		s := MustStart(t, MustEnv(t, b))
		id := mustProvUser(t, s, "alice")
		s.MustAdmin(t, http.StatusOK, "POST", "/internal/v1/users/"+id+"/balance", map[string]any{"amount": "25.0000", "reason": "top-up"})

		const n = 40
		statuses := make([]int, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				r, err := provSend(s, "POST", "/internal/v1/users/"+id+"/balance", map[string]any{"amount": "-1.0000", "reason": fmt.Sprintf("d%d", i)})
				statuses[i], errs[i] = r.Status, err
			})
		}
		close(start)
		wg.Wait()
		// Parallel requests leave dialled but unused connections, which
		// the server's graceful stop would wait 5 s for.
		client.CloseIdleConnections()
		count := map[int]int{}
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("request %d: %v", i, errs[i])
			}
			count[statuses[i]]++
		}
		if count[http.StatusOK] != 25 || count[http.StatusConflict] != 15 {
			t.Errorf("statuses = %v, want 25×200 and 15×409", count)
		}
		if u := s.MustAdmin(t, http.StatusOK, "GET", "/internal/v1/users/"+id, nil); u["balance"] != "0.0000" {
			t.Errorf("balance = %v, want 0.0000", u["balance"])
		}
		if rows := mustProvLedger(t, s, id); len(rows) != 26 {
			t.Errorf("%d ledger rows, want 26", len(rows))
		}
		mustLedgerMatches(t, s, id)
	})
}

// mustProvJSON re-encodes v for comparison.
func mustProvJSON(tb testing.TB, v any) string {
	tb.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	if err := enc.Encode(v); err != nil {
		tb.Fatal(err)
	}
	return b.String()
}
