package tests

// Cost and the sales report: a forwarded order's cost is the supplier's
// charge × its currency rate, following the supplier's own refunds; the
// report sums orders, revenue, refunds, known cost and profit per day,
// service, supplier, account or site, and equals a direct sum over the
// orders (and the ledger) after a mixed workload on one or two instances.

import (
	"database/sql"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// SetCharge makes the fake report charge (a string, a number, or nil for
// none) for order id.
func (f *fulFake) SetCharge(id string, charge any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	o := f.orders[id]
	if o.Extra == nil {
		o.Extra = map[string]any{}
	}
	o.Extra["charge"] = charge
}

// salesReport reads the report, failing unless it answers 200.
func salesReport(t *testing.T, s *Server, from, to, groupBy string) map[string]any {
	t.Helper()
	q := url.Values{"from": {from}, "to": {to}, "group_by": {groupBy}}
	return s.MustAdmin(t, http.StatusOK, "GET", "/internal/v1/reports/sales?"+q.Encode(), nil)
}

// salesDays is the report range around an order's day: the day itself
// and the next (so that a test run across midnight still sees it).
func salesDays(t *testing.T, createdAt any) (day, from, to string) {
	t.Helper()
	c, err := time.Parse(time.RFC3339Nano, fmt.Sprint(createdAt))
	if err != nil {
		t.Fatalf("created_at %v: %v", createdAt, err)
	}
	d := c.UTC().Truncate(24 * time.Hour)
	return d.Format(time.DateOnly), d.AddDate(0, 0, -1).Format(time.DateOnly), d.AddDate(0, 0, 2).Format(time.DateOnly)
}

// salesLines indexes a report's lines by their key as text.
func salesLines(t *testing.T, rep map[string]any) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	items, _ := rep["items"].([]any)
	for _, it := range items {
		m := it.(map[string]any)
		out[fmt.Sprint(m["key"])] = m
	}
	return out
}

// Costs come from a USD supplier's charges at a currency rate: exact to
// 0.0001 half-up, lowered by the supplier's Partial, zero for a cancel
// without a charge, unknown (null) until a charge is reported and for
// manual orders; the report's cost and profit follow exactly, per day and
// per each dimension.
func TestSalesCostAndProfit(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		r := fulStart(t, b)
		r.s.MustAdmin(t, http.StatusOK, "PATCH", "/internal/v1/suppliers/"+r.sup,
			map[string]any{"currency": "USD", "currency_rate": "7.1234"})
		manual := r.s.MustService(t, map[string]any{"rate": "2.0000"})
		alice := r.s.MustAccount(t, "alice", "100")
		bob := r.s.MustAccount(t, "bob", "100")

		done := mustAddOrder(t, r.s, alice.Key, r.svc, "https://x.test/c/done", "1000")      // 8.5000
		partial := mustAddOrder(t, r.s, alice.Key, r.svc, "https://x.test/c/partial", "500") // 4.2500
		canceled := mustAddOrder(t, r.s, bob.Key, r.svc, "https://x.test/c/canceled", "200") // 1.7000
		running := mustAddOrder(t, r.s, bob.Key, r.svc, "https://x.test/c/running", "100")   // 0.8500
		hand := mustAddOrder(t, r.s, bob.Key, manual, "https://x.test/c/manual", "1000")     // 2.0000
		sup := map[string]string{}
		for _, id := range []string{done, partial, canceled, running} {
			sup[id] = fmt.Sprint(fulForwarded(t, r.s, id)["supplier_order"])
		}
		r.fake.SetCharge(sup[done], "0.123456") // × 7.1234 = 0.87941… → 0.8794
		r.fake.SetCharge(sup[partial], 0.05)    // a number: 0.35617 → 0.3562
		r.fake.SetCharge(sup[canceled], nil)    // Canceled, no charge: 0
		r.fake.SetCharge(sup[running], nil)     // nothing said yet: unknown
		r.fake.Set(sup[done], "Completed", "10", "0")
		r.fake.Set(sup[partial], "Partial", "10", "250")
		r.fake.Set(sup[canceled], "Canceled", "10", "200")
		r.fake.Set(sup[running], "In progress", "10", "100")
		for id, st := range map[string]string{done: "Completed", partial: "Partial", canceled: "Canceled"} {
			fulWaitOrder(t, r.s, id, 10*time.Second, st, func(o map[string]any) bool { return o["status"] == st })
		}
		fulRounds(t, r.fake, sup[running], 2)

		wantCost := map[string]any{done: "0.8794", partial: "0.3562", canceled: "0.0000", running: nil, hand: nil}
		for id, want := range wantCost {
			if got := getOrder(t, r.s, id)["cost"]; got != want {
				t.Errorf("order %s: cost %v, want %v", id, got, want)
			}
		}
		day, from, to := salesDays(t, getOrder(t, r.s, done)["created_at"])
		// revenue 17.3000, refunds 2.1250 + 1.7000, cost 0.8794 + 0.3562
		totals := `{"orders":5,"quantity":2800,"revenue":"17.3000","refunds":"3.8250","cost":"1.2356","profit":"12.2394","cost_unknown_orders":2}`
		jsonEqual(t, Response{Status: 200, Body: []byte(fulJSON(salesReport(t, r.s, from, to, "day")))},
			`{"items":[{"key":"`+day+`","orders":5,"quantity":2800,"revenue":"17.3000","refunds":"3.8250","cost":"1.2356","profit":"12.2394","cost_unknown_orders":2}],"totals":`+totals+`}`)

		// The supplier now says what the running order cost, then less.
		for _, c := range []struct{ charge, cost, profit string }{{"0.0333", "0.2372", "12.0022"}, {"0.02", "0.1425", "12.0969"}} {
			r.fake.SetCharge(sup[running], c.charge)
			fulWaitOrder(t, r.s, running, 10*time.Second, "cost "+c.cost, func(o map[string]any) bool { return o["cost"] == c.cost })
			tot := salesReport(t, r.s, from, to, "day")["totals"].(map[string]any)
			fulFields(t, "totals after a charge of "+c.charge, tot, map[string]string{"profit": c.profit, "cost_unknown_orders": "1"})
		}

		cases := []struct {
			groupBy string
			want    map[string]map[string]string
		}{
			{"service", map[string]map[string]string{
				r.svc:  {"orders": "4", "quantity": "1800", "revenue": "15.3000", "refunds": "3.8250", "cost": "1.3781", "profit": "10.0969", "cost_unknown_orders": "0"},
				manual: {"orders": "1", "quantity": "1000", "revenue": "2.0000", "refunds": "0.0000", "cost": "0.0000", "profit": "2.0000", "cost_unknown_orders": "1"}}},
			{"supplier", map[string]map[string]string{
				r.sup:   {"orders": "4", "revenue": "15.3000", "cost": "1.3781", "cost_unknown_orders": "0"},
				"<nil>": {"orders": "1", "revenue": "2.0000", "cost": "0.0000", "cost_unknown_orders": "1"}}},
			{"user", map[string]map[string]string{
				alice.ID: {"orders": "2", "quantity": "1500", "revenue": "12.7500", "refunds": "2.1250", "cost": "1.2356", "profit": "9.3894"},
				bob.ID:   {"orders": "3", "quantity": "1300", "revenue": "4.5500", "refunds": "1.7000", "cost": "0.1425", "profit": "2.7075", "cost_unknown_orders": "1"}}},
			{"site", map[string]map[string]string{
				"1": {"orders": "5", "revenue": "17.3000", "refunds": "3.8250", "cost": "1.3781", "profit": "12.0969", "cost_unknown_orders": "1"}}},
		}
		for _, c := range cases {
			lines := salesLines(t, salesReport(t, r.s, from, to, c.groupBy))
			if len(lines) != len(c.want) {
				t.Errorf("group_by=%s: keys %v, want %d", c.groupBy, lines, len(c.want))
			}
			for k, want := range c.want {
				fulFields(t, "group_by="+c.groupBy+" key "+k, lines[k], want)
			}
		}
		// Other days hold none of them.
		empty := salesReport(t, r.s, "2020-01-01", "2020-02-01", "day")
		jsonEqual(t, Response{Status: 200, Body: []byte(fulJSON(empty))},
			`{"items":[],"totals":{"orders":0,"quantity":0,"revenue":"0.0000","refunds":"0.0000","cost":"0.0000","profit":"0.0000","cost_unknown_orders":0}}`)
	})
}

func TestSalesBadInput(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		s, _ := admStart(t, b)
		cases := []struct{ name, query, field string }{
			{"no from", "to=2026-12-01&group_by=day", "from"},
			{"bad from", "from=2026-13-01&to=2026-12-01&group_by=day", "from"},
			{"from with a time", "from=2026-11-01T00:00:00Z&to=2026-12-01&group_by=day", "from"},
			{"no to", "from=2026-11-01&group_by=day", "to"},
			{"bad to", "from=2026-11-01&to=tomorrow&group_by=day", "to"},
			{"to before from", "from=2026-11-02&to=2026-11-01&group_by=day", "to"},
			{"to equal to from", "from=2026-11-01&to=2026-11-01&group_by=day", "to"},
			{"over 400 days", "from=2025-01-01&to=2026-02-06&group_by=day", "400 days"},
			{"no group_by", "from=2026-11-01&to=2026-12-01", "group_by"},
			{"unknown group_by", "from=2026-11-01&to=2026-12-01&group_by=week", "group_by"},
		}
		for _, c := range cases {
			r := s.Admin(t, "GET", "/internal/v1/reports/sales?"+c.query, nil)
			mustErr(t, r, http.StatusBadRequest, c.name)
			if !strings.Contains(string(r.Body), c.field) {
				t.Errorf("%s: error %s does not name %s", c.name, r.Body, c.field)
			}
		}
		// 400 days is allowed.
		salesReport(t, s, "2025-01-01", "2026-02-05", "day")
		if r := s.AdminAs(t, "wrong", "GET", "/internal/v1/reports/sales?from=2026-11-01&to=2026-12-01&group_by=day", nil); r.Status != http.StatusUnauthorized {
			t.Errorf("without the token: %d", r.Status)
		}
	})
}

// salesRow is one key's sums, in minor units.
type salesRow struct {
	orders, quantity, revenue, refunds, cost, unknown int64
}

// salesDirect sums the orders table directly per group_by key (day as
// YYYY-MM-DD, supplier "<nil>" for none), as the report names its keys.
func salesDirect(t *testing.T, db *sql.DB) map[string]map[string]salesRow {
	t.Helper()
	rows, err := db.Query(`SELECT created_at, user_id, site_id, service_id, supplier_id, quantity, charge, refunded, cost FROM orders`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]map[string]salesRow{}
	for _, g := range []string{"day", "service", "supplier", "user", "site"} {
		out[g] = map[string]salesRow{}
	}
	for rows.Next() {
		var created any
		var user, site, svc, qty, charge, refunded int64
		var supplier, cost sql.NullInt64
		if err := rows.Scan(&created, &user, &site, &svc, &supplier, &qty, &charge, &refunded, &cost); err != nil {
			t.Fatal(err)
		}
		var day string
		switch c := created.(type) {
		case time.Time:
			day = c.UTC().Format(time.DateOnly)
		case []byte:
			day = string(c[:10])
		case string:
			day = c[:10]
		default:
			t.Fatalf("created_at %T %v", created, created)
		}
		sup := "<nil>"
		if supplier.Valid {
			sup = fmt.Sprint(supplier.Int64)
		}
		for g, k := range map[string]string{"day": day, "service": fmt.Sprint(svc), "supplier": sup, "user": fmt.Sprint(user), "site": fmt.Sprint(site)} {
			r := out[g][k]
			r.orders++
			r.quantity += qty
			r.revenue += charge
			r.refunds += refunded
			if cost.Valid {
				r.cost += cost.Int64
			} else {
				r.unknown++
			}
			out[g][k] = r
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// mustSalesExact compares every grouping of the report with the direct
// sums, and the orders' charges and refunds with the ledger.
func mustSalesExact(t *testing.T, s *Server, db *sql.DB, from, to string) (orders int64) {
	t.Helper()
	direct := salesDirect(t, db)
	for g, want := range direct {
		lines := salesLines(t, salesReport(t, s, from, to, g))
		if len(lines) != len(want) {
			t.Errorf("group_by=%s: %d lines, %d keys in the orders", g, len(lines), len(want))
		}
		for k, w := range want {
			l := lines[k]
			if l == nil {
				t.Errorf("group_by=%s: no line for %s", g, k)
				continue
			}
			got := salesRow{orders: ordMustInt(t, fmt.Sprint(l["orders"])), quantity: ordMustInt(t, fmt.Sprint(l["quantity"])),
				revenue: units(t, l["revenue"]), refunds: units(t, l["refunds"]), cost: units(t, l["cost"]),
				unknown: ordMustInt(t, fmt.Sprint(l["cost_unknown_orders"]))}
			if got != w {
				t.Errorf("group_by=%s key %s: report %+v, orders %+v", g, k, got, w)
			}
			if p := units(t, l["profit"]); p != w.revenue-w.refunds-w.cost {
				t.Errorf("group_by=%s key %s: profit %s, want %s", g, k, ordMoney(p), ordMoney(w.revenue-w.refunds-w.cost))
			}
		}
	}
	var charged, refunded, ledgerCharges, ledgerRefunds int64
	for _, r := range direct["site"] {
		charged += r.revenue
		refunded += r.refunds
		orders += r.orders
	}
	if err := db.QueryRow(`SELECT COALESCE(SUM(CASE WHEN kind = 'charge' THEN -amount ELSE 0 END), 0),
		COALESCE(SUM(CASE WHEN kind = 'refund' THEN amount ELSE 0 END), 0) FROM ledger_entries`).Scan(&ledgerCharges, &ledgerRefunds); err != nil {
		t.Fatal(err)
	}
	if charged != ledgerCharges || refunded != ledgerRefunds {
		t.Errorf("orders charged %s and refunded %s; the ledger %s and %s", ordMoney(charged), ordMoney(refunded), ordMoney(ledgerCharges), ordMoney(ledgerRefunds))
	}
	return orders
}

// After a mixed workload — concurrent adds (group-commit batches) on one
// or two instances, admin Partial and Canceled refunds, a supplier's
// charges, Partials and cancels, on forwarded and manual orders — the
// report equals the direct sums over the orders in every grouping; and a
// database whose aggregates are missing (orders from before the feature)
// gets them back from the backfill at start.
func TestSalesExact(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		env := fulEnv(t, b)
		opts := []string{fulSyncEvery, "SMMAPI_LIMITS_KEY_RATE=0", "SMMAPI_LIMITS_IP_RATE=0"}
		ss := []*Server{MustStart(t, env, opts...)}
		if b.MySQLDSN != "" {
			ss = append(ss, MustStart(t, env, opts...))
		}
		db := env.DB(t)
		fake := newFulFake(t)
		env.Secret(fake.Key)
		sup := fulSupplier(t, ss[0], fake.URL, fake.Key)
		ss[0].MustAdmin(t, http.StatusOK, "PATCH", "/internal/v1/suppliers/"+sup, map[string]any{"currency": "USD", "currency_rate": "6.8913"})
		svcs := []string{
			ss[0].MustService(t, map[string]any{"supplier_id": fulNum(sup), "supplier_service": "101"}),
			ss[0].MustService(t, map[string]any{"supplier_id": fulNum(sup), "supplier_service": "102", "rate": "1.2345"}),
			ss[0].MustService(t, map[string]any{"rate": "3.3333"}), // manual
		}
		const accounts, orders, clients = 5, 240, 16
		accts := make([]Account, accounts)
		for i := range accts {
			accts[i] = ss[0].MustAccount(t, fmt.Sprint("sales", i), "1000")
		}
		work := make(chan int)
		var wg sync.WaitGroup
		var mu sync.Mutex
		var placed []string
		for range clients {
			wg.Go(func() {
				for i := range work {
					s, a := ss[i%len(ss)], accts[i%accounts]
					resp := s.Post(t, "/api/v2", url.Values{"key": {a.Key}, "action": {"add"}, "service": {svcs[i%len(svcs)]},
						"link": {fmt.Sprintf("https://x.test/sales/%d", i)}, "quantity": {fmt.Sprint(100 + i*7)}})
					id, ok := ordAddID(resp)
					if !ok {
						t.Errorf("add %d: %d %s", i, resp.Status, resp.Body)
						continue
					}
					mu.Lock()
					placed = append(placed, id)
					mu.Unlock()
				}
			})
		}
		for i := range orders {
			work <- i
		}
		close(work)
		wg.Wait()
		if t.Failed() {
			return
		}
		var commits, batched int64
		for _, s := range ss {
			c, o := gcBatches(t, s)
			commits, batched = commits+c, batched+o
		}
		t.Logf("%d adds in %d group commits on %d instance(s)", batched, commits, len(ss))
		if commits >= batched {
			t.Errorf("%d commits for %d adds: no batch held more than one order", commits, batched)
		}
		sort.Strings(placed)
		// Admin refunds on one in five (forwarded or not), from either instance.
		for i, id := range placed {
			switch i % 10 {
			case 0:
				ordSetStatus(t, ss[i%len(ss)], id, "Canceled")
			case 5:
				ordSetStatus(t, ss[i%len(ss)], id, "Partial")
			}
		}
		// The supplier charges, refunds in part and cancels.
		type fwd struct{ id, sid, status string }
		var forwarded []fwd
		for _, id := range placed {
			o := getOrder(t, ss[0], id)
			if o["supplier_id"] == nil || o["status"] == "Canceled" || o["status"] == "Partial" {
				continue
			}
			forwarded = append(forwarded, fwd{id: id, sid: fmt.Sprint(fulForwarded(t, ss[0], id)["supplier_order"]), status: "In progress"})
		}
		for i := range forwarded {
			f := &forwarded[i]
			fake.SetCharge(f.sid, fmt.Sprintf("0.%04d7", 1+i*13)) // five decimals: the cost rounds
			switch i % 4 {
			case 1:
				f.status = "Partial"
				fake.Set(f.sid, f.status, "5", "50")
			case 2:
				f.status = "Canceled"
				fake.SetCharge(f.sid, nil)
				fake.Set(f.sid, f.status, "5", "0")
			case 3:
				f.status = "Completed"
				fake.Set(f.sid, f.status, "5", "0")
			}
		}
		for _, f := range forwarded {
			fulWaitOrder(t, ss[0], f.id, 20*time.Second, f.status+" with a cost", func(o map[string]any) bool {
				return o["status"] == f.status && o["cost"] != nil
			})
		}
		// Compare on a quiet database: the instances stopped, one without
		// workers reads the report.
		for _, s := range ss {
			s.Stop(t)
		}
		quiet := MustStart(t, env, "SMMAPI_WORKERS_ENABLED=false")
		_, from, to := salesDays(t, getOrder(t, quiet, placed[0])["created_at"])
		if n := mustSalesExact(t, quiet, db, from, to); n != orders {
			t.Errorf("%d orders summed, %d placed", n, orders)
		}
		var known int
		if err := db.QueryRow(`SELECT COUNT(*) FROM orders WHERE cost IS NOT NULL`).Scan(&known); err != nil || known == 0 {
			t.Errorf("%d orders with a cost (%v): the workload set none", known, err)
		}
		quiet.Stop(t)

		// A database from before the feature: no aggregates, no mark.
		for _, q := range []string{"DELETE FROM sales_days", "DELETE FROM event_cursors WHERE id = 3"} {
			if _, err := db.Exec(q); err != nil {
				t.Fatal(err)
			}
		}
		again := MustStart(t, env, "SMMAPI_WORKERS_ENABLED=false")
		mustSalesExact(t, again, db, from, to)
	})
}
