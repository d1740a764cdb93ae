package tests

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// syncServices sets the fake supplier's services answer.
func (f *fulFake) syncServices(body string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Services = body
}

// syncEntry is one entry of a fake supplier catalog.
func syncEntry(id, rate string, min, max int, refill bool) string {
	return fmt.Sprintf(`{"service":%q,"name":"S%s","type":"Default","category":"Up","rate":%q,"min":%d,"max":%d,"refill":%t,"cancel":false}`,
		id, id, rate, min, max, refill)
}

// syncRounds waits until the supplier's catalog was read twice more, so at
// least one whole round ran after the last change of the fake.
func syncRounds(t *testing.T, f *fulFake) {
	t.Helper()
	from := f.Calls("services")
	fulWait(t, 30*time.Second, "two catalog reads", func() bool { return f.Calls("services") >= from+2 })
	time.Sleep(300 * time.Millisecond) // the last read's round applies its changes
}

// syncState is what the test compares of the catalog: service → "rate
// min max refill enabled reason".
func syncState(t *testing.T, s *Server) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, v := range admWalk(t, s, "/internal/v1/services?limit=500") {
		out[fmt.Sprint(v["id"])] = fmt.Sprint(v["rate"], " ", v["min"], " ", v["max"], " ", v["refill"], " ", v["enabled"], " ", v["disabled_reason"])
	}
	return out
}

// syncChanges returns the change log as "service field old→new source status".
func syncChanges(t *testing.T, s *Server) []string {
	t.Helper()
	var out []string
	for _, c := range admWalk(t, s, "/internal/v1/catalog-changes?limit=500") {
		out = append(out, fmt.Sprint(c["service_id"], " ", c["field"], " ", c["old"], "→", c["new"], " ", c["source"], " ", c["status"]))
	}
	return out
}

func TestCatalogImportAndSync(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		env := fulEnv(t, b)
		every := "SMMAPI_SUPPLIERS_SYNC_CATALOG_INTERVAL=1s"
		s := MustStart(t, env, every)
		servers := []*Server{s}
		if b.MySQLDSN != "" { // a second instance races for the same supplier
			servers = append(servers, MustStart(t, env, every))
		}
		fake := newFulFake(t)
		env.Secret(fake.Key)
		fake.syncServices("[" + strings.Join([]string{syncEntry("101", "0.90", 10, 100000, true), syncEntry("102", "0.1", 10, 5000, false),
			syncEntry("103", "1.23456", 5, 500, false), syncEntry("104", "2", 1, 10, false)}, ",") + "]")
		sup := fulSupplier(t, s, fake.URL, fake.Key)
		out := s.MustAdmin(t, 200, "PATCH", "/internal/v1/suppliers/"+sup, map[string]any{"currency": "usd", "currency_rate": "7.2000"})
		if out["currency"] != "USD" || out["currency_rate"] != "7.2000" || out["catalog_error"] != "" {
			t.Fatalf("supplier after PATCH: %v", out)
		}

		imp := s.MustAdmin(t, 201, "POST", "/internal/v1/suppliers/"+sup+"/import", map[string]any{
			"services": []string{"101", "102", "103", "104"}, "category": "IG", "markup_percent": "30.00", "markup_fixed": "0.0500", "sync": true})
		ids := map[string]string{}
		for _, it := range imp["items"].([]any) {
			m := it.(map[string]any)
			ids[fmt.Sprint(m["supplier_service"])] = fmt.Sprint(m["id"])
			if m["category"] != "IG" || m["sync"] != true || fmt.Sprint(m["price_rule"]) != "map[markup_fixed:0.0500 markup_percent:30.00]" {
				t.Errorf("imported %v", m)
			}
		}
		want := map[string]string{
			// supplier rate × 7.2 × 1.3 + 0.05, half-up to 4 decimals
			ids["101"]: "8.4740 10 100000 true true ",
			ids["102"]: "0.9860 10 5000 false true ",
			ids["103"]: "11.6055 5 500 false true ", // 11.6054816
			ids["104"]: "18.7700 1 10 false true ",
		}
		check := func(what string) {
			t.Helper()
			if got := syncState(t, s); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("%s: catalog\n got %v\nwant %v", what, got, want)
			}
		}
		check("after import")

		// Round 1: a rate and a limit change, 103 vanishes.
		fake.syncServices("[" + strings.Join([]string{syncEntry("101", "1.00", 10, 100000, true), syncEntry("102", "0.1", 10, 8000, false),
			syncEntry("104", "2", 1, 10, false)}, ",") + "]")
		syncRounds(t, fake)
		want[ids["101"]] = "9.4100 10 100000 true true "
		want[ids["102"]] = "0.9860 10 8000 false true "
		want[ids["103"]] = "11.6055 5 500 false false gone at supplier"
		check("round 1")
		if got := priServices(t, s, s.MustAccount(t, "buyer", "0").Key); got[ids["103"]] != "" || got[ids["101"]] != "9.4100" {
			t.Errorf("public services after round 1: %v", got)
		}

		// Round 2: 103 is back with a new refill flag; 104 jumps +150 %
		// (held), then 102 drops to 0 (held).
		fake.syncServices("[" + strings.Join([]string{syncEntry("101", "1.00", 10, 100000, true), syncEntry("102", "0", 10, 8000, false),
			syncEntry("103", "1.23456", 5, 500, true), syncEntry("104", "5", 1, 10, false)}, ",") + "]")
		syncRounds(t, fake)
		syncRounds(t, fake) // held changes are not asked again
		want[ids["103"]] = "11.6055 5 500 true true "
		check("round 2")

		wantLog := []string{
			ids["104"] + " rate 18.7700→46.8500 supplier_sync pending",
			ids["103"] + " refill false→true supplier_sync applied",
			ids["103"] + " enabled false→true supplier_sync applied",
			ids["102"] + " rate 0.9860→0.0500 supplier_sync pending",
			ids["103"] + " enabled true→false supplier_sync applied",
			ids["102"] + " max 5000→8000 supplier_sync applied",
			ids["101"] + " rate 8.4740→9.4100 supplier_sync applied",
		}
		got := syncChanges(t, s)
		sortTail := func(l []string) string { // one round's rows may come in any service order
			c := append([]string(nil), l...)
			for i := range c {
				for j := i + 1; j < len(c); j++ {
					if c[j] < c[i] {
						c[i], c[j] = c[j], c[i]
					}
				}
			}
			return strings.Join(c, "\n")
		}
		if len(got) < 4 || sortTail(got[:len(got)-4]) != sortTail(wantLog) {
			t.Errorf("change log (newest first):\n%s\nwant, before the 4 import rows:\n%s", strings.Join(got, "\n"), strings.Join(wantLog, "\n"))
		}

		// The admin applies the held +150 %; deciding again is a conflict.
		pend := admWalk(t, s, "/internal/v1/catalog-changes?status=pending&service_id="+ids["104"])
		if len(pend) != 1 {
			t.Fatalf("pending changes of 104: %v", pend)
		}
		pid := fmt.Sprint(pend[0]["id"])
		if d := s.MustAdmin(t, 200, "POST", "/internal/v1/catalog-changes/"+pid+"/decision", map[string]any{"decision": "apply"}); d["status"] != "applied" {
			t.Errorf("decision answered %v", d)
		}
		mustErr(t, s.Admin(t, "POST", "/internal/v1/catalog-changes/"+pid+"/decision", map[string]any{"decision": "reject"}), 409, "second decision")
		want[ids["104"]] = "46.8500 1 10 false true "
		for _, other := range servers { // every instance serves the decided rate
			if r := priServices(t, other, s.MustAccount(t, "b"+randHex(3), "0").Key)[ids["104"]]; r != "46.8500" {
				t.Errorf("an instance's public rate of 104 after the decision: %s", r)
			}
		}

		// Refused answers change nothing and show on the supplier.
		before := syncChanges(t, s)
		guards := []struct{ name, body, err string }{
			{"empty", "[]", "empty catalog"},
			{"garbage", "<html><body>502 Bad Gateway</body></html>", "unparsable catalog"},
			{"half dropped", "[" + syncEntry("101", "1.00", 10, 100000, true) + "]", "catalog drops 3 of 4 mapped services"},
		}
		for _, g := range guards {
			fake.syncServices(g.body)
			syncRounds(t, fake)
			check(g.name)
			sv := s.MustAdmin(t, 200, "GET", "/internal/v1/suppliers?limit=500", nil)["items"].([]any)[0].(map[string]any)
			if !strings.HasPrefix(fmt.Sprint(sv["catalog_error"]), g.err) {
				t.Errorf("%s: catalog_error %q, want %q", g.name, sv["catalog_error"], g.err)
			}
		}
		if after := syncChanges(t, s); len(after) != len(before) {
			t.Errorf("refused answers recorded changes: %v", after[:len(after)-len(before)])
		}
		fake.syncServices("[" + strings.Join([]string{syncEntry("101", "1.00", 10, 100000, true), syncEntry("102", "0.1", 10, 8000, false),
			syncEntry("103", "1.23456", 5, 500, true), syncEntry("104", "5", 1, 10, false)}, ",") + "]")
		syncRounds(t, fake)
		sv := s.MustAdmin(t, 200, "GET", "/internal/v1/suppliers?limit=500", nil)["items"].([]any)[0].(map[string]any)
		if sv["catalog_error"] != "" {
			t.Errorf("catalog_error after a good answer: %q", sv["catalog_error"])
		}
		// 102 back at its applied rate: its held change to 0 is void.
		if p := admWalk(t, s, "/internal/v1/catalog-changes?status=pending"); len(p) != 0 {
			t.Errorf("pending changes after the supplier went back: %v", p)
		}
		check("restored")
		if !strings.Contains(string(s.Admin(t, "GET", "/metrics", nil).Body), `smmapi_catalog_sync_total{outcome="refused",supplier="`+sup+`"}`) {
			t.Errorf("no refused catalog sync counted")
		}
	})
}

func TestCatalogSyncBadInput(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		env := fulEnv(t, b)
		s := MustStart(t, env)
		fake := newFulFake(t)
		env.Secret(fake.Key)
		sup := fulSupplier(t, s, fake.URL, fake.Key)
		imp := "/internal/v1/suppliers/" + sup + "/import"
		cases := []struct {
			name, method, path string
			body               any
			field              string
		}{
			{"currency rate 0", "PATCH", "/internal/v1/suppliers/" + sup, map[string]any{"currency_rate": "0"}, "currency_rate"},
			{"negative currency rate", "PATCH", "/internal/v1/suppliers/" + sup, map[string]any{"currency_rate": "-7.2"}, "currency_rate"},
			{"bad currency", "PATCH", "/internal/v1/suppliers/" + sup, map[string]any{"currency": "dollars"}, "currency"},
			{"negative markup", "POST", imp, map[string]any{"services": "all", "markup_percent": "-1"}, "markup_percent"},
			{"over-precise markup", "POST", imp, map[string]any{"services": "all", "markup_percent": "30.001"}, "markup_percent"},
			{"over-precise fixed markup", "POST", imp, map[string]any{"services": "all", "markup_percent": "30", "markup_fixed": "0.00001"}, "markup_fixed"},
			{"unknown supplier service", "POST", imp, map[string]any{"services": []string{"101", "999"}, "markup_percent": "30"}, "services"},
			{"no services", "POST", imp, map[string]any{"services": []string{}, "markup_percent": "30"}, "services"},
			{"bad decision", "POST", "/internal/v1/catalog-changes/1/decision", map[string]any{"decision": "maybe"}, "decision"},
			{"bad status filter", "GET", "/internal/v1/catalog-changes?status=done", nil, "status"},
			{"rule on a patch", "PATCH", "/internal/v1/services/1", map[string]any{"price_rule": map[string]any{"markup_percent": "-5"}}, ""},
		}
		for _, c := range cases {
			r := s.Admin(t, c.method, c.path, c.body)
			want := 400
			if c.field == "" {
				want = 404 // no service 1
			}
			mustErr(t, r, want, c.name)
			if c.field != "" && !strings.Contains(string(r.Body), c.field) {
				t.Errorf("%s: error %s does not name %s", c.name, r.Body, c.field)
			}
		}
		if items := admWalk(t, s, "/internal/v1/services?limit=500"); len(items) != 0 {
			t.Errorf("refused imports created services: %v", items)
		}
		if r := s.Admin(t, "GET", "/internal/v1/suppliers?limit=5", nil); r.Status != http.StatusOK || !strings.Contains(string(r.Body), `"currency_rate":"1.0000"`) {
			t.Errorf("supplier after refused patches: %s", r.Body)
		}
	})
}
