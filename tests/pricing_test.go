package tests

import (
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// priServices returns service ID → rate of an account's services answer,
// read once plain and once gzipped (the two pre-serialized bodies), which
// must agree.
func priServices(tb testing.TB, s *Server, key string) map[string]string {
	tb.Helper()
	var got [2]map[string]string
	for i, enc := range []string{"identity", "gzip"} {
		f := url.Values{"key": {key}, "action": {"services"}}
		req, _ := http.NewRequest("POST", s.Public+"/api/v2", strings.NewReader(f.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Accept-Encoding", enc)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			tb.Fatal(err)
		}
		var r io.Reader = resp.Body
		if resp.Header.Get("Content-Encoding") == "gzip" {
			if r, err = gzip.NewReader(resp.Body); err != nil {
				tb.Fatal(err)
			}
		} else if enc == "gzip" {
			tb.Errorf("services: gzip asked, %q answered", resp.Header.Get("Content-Encoding"))
		}
		var items []struct{ Service, Rate string }
		err = json.NewDecoder(r).Decode(&items)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 {
			tb.Fatalf("services (%s): status %d, %v", enc, resp.StatusCode, err)
		}
		got[i] = map[string]string{}
		for _, it := range items {
			got[i][it.Service] = it.Rate
		}
	}
	if fmt.Sprint(got[0]) != fmt.Sprint(got[1]) {
		tb.Errorf("plain answer %v, gzipped %v", got[0], got[1])
	}
	return got[0]
}

// priCharge places an order and returns the charge of its ledger row.
func priCharge(tb testing.TB, s *Server, a Account, svc, qty string) string {
	tb.Helper()
	id := mustAddOrder(tb, s, a.Key, svc, "https://example.com/"+randHex(4), qty)
	rows := mustLedgerMatches(tb, s, a.ID)
	if rows[0]["ref"] != id || rows[0]["kind"] != "charge" {
		tb.Fatalf("newest ledger row %v, want the charge of %s", rows[0], id)
	}
	return strings.TrimPrefix(fmt.Sprint(rows[0]["amount"]), "-")
}

func TestPricingRatesAndCharges(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		s, _ := admStart(t, b)
		s1 := s.MustService(t, map[string]any{"rate": "8.5000"})
		s2 := s.MustService(t, map[string]any{"rate": "1.2345", "category": "Alpha"})
		plain := s.MustAccount(t, "plain", "1000")
		disc := s.MustAccount(t, "disc", "1000")
		own := s.MustAccount(t, "own", "1000")

		u := s.MustAdmin(t, 200, "PATCH", "/internal/v1/users/"+disc.ID, map[string]any{"discount_percent": "5.00"})
		if u["discount_percent"] != "5.00" {
			t.Errorf("user after PATCH: discount_percent %v, want \"5.00\"", u["discount_percent"])
		}
		s.MustAdmin(t, 200, "PATCH", "/internal/v1/users/"+own.ID, map[string]any{"discount_percent": 10})
		p := s.MustAdmin(t, 200, "PUT", "/internal/v1/users/"+own.ID+"/prices/"+s1, map[string]any{"rate": "7.9000"})
		if p["rate"] != "7.9000" || fmt.Sprint(p["service_id"]) != s1 {
			t.Errorf("PUT price answered %v", p)
		}
		if items, _ := mustProvList(t, s, "/internal/v1/users/"+own.ID+"/prices"); len(items) != 1 || items[0]["rate"] != "7.9000" {
			t.Errorf("prices list %v", items)
		}

		cases := []struct {
			name     string
			a        Account
			rates    map[string]string
			svc, qty string
			charge   string
		}{
			// 1.2345 × 333 ÷ 1000 = 0.41108… → 0.4111
			{"catalog rate", plain, map[string]string{s1: "8.5000", s2: "1.2345"}, s2, "333", "0.4111"},
			// 1.2345 × 0.95 = 1.172775 → 1.1728; × 333 ÷ 1000 = 0.39054… → 0.3905
			{"discount", disc, map[string]string{s1: "8.0750", s2: "1.1728"}, s2, "333", "0.3905"},
			// own price, not discounted: 7.9 × 1234 ÷ 1000 = 9.7486
			{"own price", own, map[string]string{s1: "7.9000", s2: "1.1111"}, s1, "1234", "9.7486"},
			// 1.2345 × 0.9 = 1.11105 → 1.1111 (half-up); × 777 ÷ 1000 = 0.86332… → 0.8633
			{"discount beside own price", own, map[string]string{s1: "7.9000", s2: "1.1111"}, s2, "777", "0.8633"},
		}
		for _, c := range cases {
			if got := priServices(t, s, c.a.Key); fmt.Sprint(got) != fmt.Sprint(c.rates) {
				t.Errorf("%s: services rates %v, want %v", c.name, got, c.rates)
			}
			if got := priCharge(t, s, c.a, c.svc, c.qty); got != c.charge {
				t.Errorf("%s: add charged %s, want %s", c.name, got, c.charge)
			}
		}

		// Changes show at once, in services and in add.
		s.MustAdmin(t, 204, "DELETE", "/internal/v1/users/"+own.ID+"/prices/"+s1, nil)
		s.MustAdmin(t, 200, "PATCH", "/internal/v1/users/"+disc.ID, map[string]any{"discount_percent": "0"})
		s.MustAdmin(t, 200, "PATCH", "/internal/v1/services/"+s2, map[string]any{"rate": "2.0000"})
		after := []struct {
			a      Account
			rates  map[string]string
			charge string // of 100 on s1
		}{
			{own, map[string]string{s1: "7.6500", s2: "1.8000"}, "0.7650"},
			{disc, map[string]string{s1: "8.5000", s2: "2.0000"}, "0.8500"},
		}
		for _, c := range after {
			if got := priServices(t, s, c.a.Key); fmt.Sprint(got) != fmt.Sprint(c.rates) {
				t.Errorf("after changes: user %s rates %v, want %v", c.a.ID, got, c.rates)
			}
			if got := priCharge(t, s, c.a, s1, "100"); got != c.charge {
				t.Errorf("after changes: user %s charged %s, want %s", c.a.ID, got, c.charge)
			}
		}
		// 100 % off: free, and a zero charge is still a ledger row.
		s.MustAdmin(t, 200, "PATCH", "/internal/v1/users/"+disc.ID, map[string]any{"discount_percent": "100.00"})
		if got := priCharge(t, s, disc, s1, "100"); got != "0.0000" {
			t.Errorf("100%% discount charged %s", got)
		}
	})
}

// TestPricingTwoInstances: a price set through one instance is what the
// other's services answer and add charge as soon as the call returned.
func TestPricingTwoInstances(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		if b.MySQLDSN == "" {
			t.Skip("two instances share MySQL + Redis; the embedded mode runs one")
		}
		env := MustEnv(t, b)
		a := MustStart(t, env, "SMMAPI_LIMITS_KEY_RATE=0", "SMMAPI_LIMITS_IP_RATE=0")
		bb := MustStart(t, env, "SMMAPI_LIMITS_KEY_RATE=0", "SMMAPI_LIMITS_IP_RATE=0")
		svc := a.MustService(t, map[string]any{"rate": "3.3333"})
		acct := a.MustAccount(t, "two", "100")
		for round, rate := range []string{"3.0000", "2.5000", "0.0001"} {
			priServices(t, bb, acct.Key) // cached on b
			a.MustAdmin(t, 200, "PUT", "/internal/v1/users/"+acct.ID+"/prices/"+svc, map[string]any{"rate": rate})
			if got := priServices(t, bb, acct.Key)[svc]; got != rate {
				t.Errorf("round %d: the other instance shows %s, want %s", round, got, rate)
			}
		}
		a.MustAdmin(t, 200, "PATCH", "/internal/v1/users/"+acct.ID, map[string]any{"discount_percent": "50"})
		a.MustAdmin(t, 204, "DELETE", "/internal/v1/users/"+acct.ID+"/prices/"+svc, nil)
		if got := priServices(t, bb, acct.Key)[svc]; got != "1.6667" { // 3.3333 ÷ 2 = 1.66665 → 1.6667
			t.Errorf("after delete: the other instance shows %s, want 1.6667", got)
		}
		if got := priCharge(t, bb, acct, svc, "1000"); got != "1.6667" {
			t.Errorf("the other instance charged %s, want 1.6667", got)
		}
	})
}

func TestPricingBadInput(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		s, _ := admStart(t, b)
		svc := s.MustService(t, nil)
		a := s.MustAccount(t, "bad", "10")
		before := s.MustAdmin(t, 200, "GET", "/internal/v1/users/"+a.ID, nil)
		cases := []struct {
			name, method, path string
			body               any
			status             int
			field              string
		}{
			{"negative discount", "PATCH", "/internal/v1/users/" + a.ID, map[string]any{"discount_percent": "-1"}, 400, "discount_percent"},
			{"discount over 100", "PATCH", "/internal/v1/users/" + a.ID, map[string]any{"discount_percent": "100.01"}, 400, "discount_percent"},
			{"over-precise discount", "PATCH", "/internal/v1/users/" + a.ID, map[string]any{"discount_percent": "5.125"}, 400, "discount_percent"},
			{"discount not a number", "PATCH", "/internal/v1/users/" + a.ID, map[string]any{"discount_percent": "five"}, 400, "discount_percent"},
			{"negative rate", "PUT", "/internal/v1/users/" + a.ID + "/prices/" + svc, map[string]any{"rate": "-1"}, 400, "rate"},
			{"over-precise rate", "PUT", "/internal/v1/users/" + a.ID + "/prices/" + svc, map[string]any{"rate": "1.00001"}, 400, "rate"},
			{"missing rate", "PUT", "/internal/v1/users/" + a.ID + "/prices/" + svc, map[string]any{}, 400, "rate"},
			{"unknown service", "PUT", "/internal/v1/users/" + a.ID + "/prices/99999", map[string]any{"rate": "1"}, 400, "service_id"},
			{"unknown user", "PUT", "/internal/v1/users/99999/prices/" + svc, map[string]any{"rate": "1"}, 404, ""},
			{"no such price", "DELETE", "/internal/v1/users/" + a.ID + "/prices/" + svc, nil, 404, ""},
			{"prices of unknown user", "GET", "/internal/v1/users/99999/prices", nil, 404, ""},
		}
		for _, c := range cases {
			r := s.Admin(t, c.method, c.path, c.body)
			mustErr(t, r, c.status, c.name)
			if c.field != "" && !strings.Contains(string(r.Body), c.field) {
				t.Errorf("%s: error %s does not name %s", c.name, r.Body, c.field)
			}
		}
		after := s.MustAdmin(t, 200, "GET", "/internal/v1/users/"+a.ID, nil)
		if fmt.Sprint(before) != fmt.Sprint(after) {
			t.Errorf("refused changes changed the user: %v → %v", before, after)
		}
		if items, _ := mustProvList(t, s, "/internal/v1/users/"+a.ID+"/prices"); len(items) != 0 {
			t.Errorf("refused changes left prices %v", items)
		}
		if got := priServices(t, s, a.Key)[svc]; got != "8.5000" {
			t.Errorf("services rate %s after refused changes", got)
		}
	})
}
