package tests

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// admStep is one PATCH of a scenario and the status it must answer; noop
// marks a 200 that must not change anything (a repeated PATCH).
type admStep struct {
	body string
	code int
	noop bool
}

// PATCH /internal/v1/orders/{id}: the transitions, the refund each one
// writes (charge × remains ÷ quantity half-up for Partial, what is left for
// Canceled), what a refused PATCH leaves (nothing), and what the public
// status then shows (the net charge).
func TestOrdersAdminRefunds(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		s, db := admStart(t, b)
		a := s.MustAccount(t, "alice", "1000")
		svcs := map[string]string{}
		svc := func(rate string) string {
			if svcs[rate] == "" {
				svcs[rate] = s.MustService(t, map[string]any{"rate": rate, "min": 1, "max": 100000})
			}
			return svcs[rate]
		}
		pending := ordStatusWant("1.3345", "0", "Pending", "157")
		bad400 := func(body string) []admStep { return []admStep{{body, 400, false}} }
		tests := []struct {
			name   string
			rate   string // default 8.5
			qty    int    // default 157: the charge is 1.3345
			steps  []admStep
			refund string // total refunded
			status string // the public status afterwards
		}{
			// 1.3345 × 1 ÷ 157 = 0.0085 exactly (157 × 85 = 13345).
			{name: "Partial remains 1", steps: []admStep{{admPartial(`"1"`), 200, false}},
				refund: "0.0085", status: ordStatusWant("1.3260", "3572", "Partial", "1")},
			{name: "Partial remains 156", steps: []admStep{{admPartial(`"156"`), 200, false}},
				refund: "1.3260", status: ordStatusWant("0.0085", "3572", "Partial", "156")},
			{name: "Partial remains as a JSON number", steps: []admStep{{admPartial(`100`), 200, false}},
				refund: "0.8500", status: ordStatusWant("0.4845", "3572", "Partial", "100")},
			{name: "Partial remains 0", steps: bad400(admPartial(`"0"`)), refund: "0.0000", status: pending},
			{name: "Partial remains = quantity", steps: bad400(admPartial(`"157"`)), refund: "0.0000", status: pending},
			{name: "Partial remains > quantity", steps: bad400(admPartial(`"158"`)), refund: "0.0000", status: pending},
			{name: "Partial remains missing", steps: bad400(admPartial(``)), refund: "0.0000", status: pending},
			{name: "Partial remains null", steps: bad400(admPartial(`null`)), refund: "0.0000", status: pending},
			{name: "Partial remains negative", steps: bad400(admPartial(`"-1"`)), refund: "0.0000", status: pending},
			{name: "Partial remains negative number", steps: bad400(admPartial(`-1`)), refund: "0.0000", status: pending},
			{name: "Partial remains abc", steps: bad400(admPartial(`"abc"`)), refund: "0.0000", status: pending},
			{name: "Partial remains fraction", steps: bad400(admPartial(`1.5`)), refund: "0.0000", status: pending},
			{name: "Partial remains empty", steps: bad400(admPartial(`""`)), refund: "0.0000", status: pending},
			{name: "Partial remains a bool", steps: bad400(admPartial(`true`)), refund: "0.0000", status: pending},
			{name: "negative start_count", steps: bad400(`{"status":"In progress","start_count":"-1"}`), refund: "0.0000", status: pending},
			{name: "remains over the quantity while running", steps: bad400(`{"status":"In progress","remains":"158"}`), refund: "0.0000", status: pending},
			{name: "unknown status Cancelled", steps: bad400(`{"status":"Cancelled"}`), refund: "0.0000", status: pending},
			{name: "status in lower case", steps: bad400(`{"status":"partial","remains":"1"}`), refund: "0.0000", status: pending},
			{name: "empty status", steps: bad400(`{"status":""}`), refund: "0.0000", status: pending},
			{name: "status a number", steps: bad400(`{"status":5}`), refund: "0.0000", status: pending},

			{name: "Canceled", steps: []admStep{{admCanceled, 200, false}},
				refund: "1.3345", status: ordStatusWant("0.0000", "0", "Canceled", "157")},
			{name: "Canceled twice", steps: []admStep{{admCanceled, 200, false}, {admCanceled, 200, true}},
				refund: "1.3345", status: ordStatusWant("0.0000", "0", "Canceled", "157")},
			{name: "Partial twice", steps: []admStep{{admPartial(`"1"`), 200, false}, {admPartial(`"1"`), 200, true}},
				refund: "0.0085", status: ordStatusWant("1.3260", "3572", "Partial", "1")},
			{name: "Canceled after Partial", steps: []admStep{{admPartial(`"1"`), 200, false}, {admCanceled, 409, false}},
				refund: "0.0085", status: ordStatusWant("1.3260", "3572", "Partial", "1")},
			{name: "Partial after Canceled", steps: []admStep{{admCanceled, 200, false}, {admPartial(`"1"`), 409, false}},
				refund: "1.3345", status: ordStatusWant("0.0000", "0", "Canceled", "157")},
			{name: "Partial with other remains after Partial", steps: []admStep{{admPartial(`"1"`), 200, false}, {admPartial(`"2"`), 409, false}},
				refund: "0.0085", status: ordStatusWant("1.3260", "3572", "Partial", "1")},
			// Validation comes first: a bad Partial on a final order is 400.
			{name: "bad Partial after Partial", steps: []admStep{{admPartial(`"1"`), 200, false}, {admPartial(`"0"`), 400, false}},
				refund: "0.0085", status: ordStatusWant("1.3260", "3572", "Partial", "1")},
			{name: "Completed is final", steps: []admStep{
				{`{"status":"Completed"}`, 200, false},
				{`{"status":"Completed"}`, 200, true},
				{admPartial(`"1"`), 409, false},
				{admCanceled, 409, false},
				{`{"status":"In progress"}`, 409, false},
				{`{"status":"Pending"}`, 409, false},
				{`{"status":"Processing"}`, 409, false},
				{`{"status":"Completed","start_count":"5"}`, 409, false},
				{`{"remains":"3"}`, 409, false},
				{`{"start_count":"7"}`, 409, false},
			}, refund: "0.0000", status: ordStatusWant("1.3345", "0", "Completed", "0")},
			{name: "running, then Completed", steps: []admStep{
				{`{"status":"In progress","start_count":"3572","remains":"100"}`, 200, false},
				{`{"status":"In progress","start_count":"3572","remains":"100"}`, 200, true},
				{`{"status":"Processing"}`, 200, false},
				{`{"remains":"40"}`, 200, false},
				{`{"status":"Completed"}`, 200, false},
			}, refund: "0.0000", status: ordStatusWant("1.3345", "3572", "Completed", "0")},
			{name: "running, then Canceled keeps the counts", steps: []admStep{
				{`{"status":"In progress","start_count":10,"remains":57}`, 200, false},
				{admCanceled, 200, false},
			}, refund: "1.3345", status: ordStatusWant("0.0000", "10", "Canceled", "57")},
			// Partial without remains uses the remains already set.
			{name: "running, then Partial on the stored remains", steps: []admStep{
				{`{"status":"In progress","remains":"100"}`, 200, false},
				{`{"status":"Partial"}`, 200, false},
			}, refund: "0.8500", status: ordStatusWant("0.4845", "0", "Partial", "100")},

			// Awkward numbers. 0.0002 × 500 ÷ 1000 = 0.0001 exactly.
			{name: "half of two units", rate: "0.0002", qty: 1000, steps: []admStep{{admPartial(`"500"`), 200, false}},
				refund: "0.0001", status: ordStatusWant("0.0001", "3572", "Partial", "500")},
			// 0.0001 × 500 ÷ 1000 = 0.00005: half a unit rounds up, the
			// whole charge, never more.
			{name: "half of one unit rounds up", rate: "0.0001", qty: 1000, steps: []admStep{{admPartial(`"500"`), 200, false}},
				refund: "0.0001", status: ordStatusWant("0.0000", "3572", "Partial", "500")},
			// 0.00004990 rounds down to nothing: Partial with no refund row.
			{name: "under half a unit refunds nothing", rate: "0.0001", qty: 1000, steps: []admStep{{admPartial(`"499"`), 200, false}},
				refund: "0.0000", status: ordStatusWant("0.0001", "3572", "Partial", "499")},
			{name: "one and a half units round up", rate: "0.0003", qty: 1000, steps: []admStep{{admPartial(`"500"`), 200, false}},
				refund: "0.0002", status: ordStatusWant("0.0001", "3572", "Partial", "500")},
			{name: "1.497 units round down", rate: "0.0003", qty: 1000, steps: []admStep{{admPartial(`"499"`), 200, false}},
				refund: "0.0001", status: ordStatusWant("0.0002", "3572", "Partial", "499")},
			{name: "one unit canceled", rate: "0.0001", qty: 1000, steps: []admStep{{admCanceled, 200, false}},
				refund: "0.0001", status: ordStatusWant("0.0000", "0", "Canceled", "1000")},
			// 3.3333 × 999 ÷ 1000 = 3.3299667 → 3.3300; × 998 ÷ 999 =
			// 3.32666… → 3.3267.
			{name: "repeating fraction", rate: "3.3333", qty: 999, steps: []admStep{{admPartial(`"998"`), 200, false}},
				refund: "3.3267", status: ordStatusWant("0.0033", "3572", "Partial", "998")},
		}
		for i, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				rate, qty := tt.rate, tt.qty
				if rate == "" {
					rate, qty = "8.5", 157
				}
				id := mustAddOrder(t, s, a.Key, svc(rate), fmt.Sprint("https://instagram.com/p/r", i), fmt.Sprint(qty))
				for _, st := range tt.steps {
					before := admSnapshot(t, s, db, a, id)
					r := admPatch(t, s, id, st.body)
					what := "PATCH " + st.body
					if st.code != http.StatusOK {
						mustErr(t, r, st.code, what)
						admUnchanged(t, s, db, a, id, before, what)
						continue
					}
					if r.Status != http.StatusOK {
						t.Fatalf("%s: %d %s, want 200", what, r.Status, r.Body)
					}
					// The answer is the order as updated.
					jsonEqual(t, r, admSnapshot(t, s, db, a, id).order)
					if st.noop {
						admUnchanged(t, s, db, a, id, before, what+" (again)")
					}
				}
				n, sum := refundRows(t, db, id)
				want := units(t, tt.refund)
				if sum != want || (want == 0) != (n == 0) || n > 1 {
					t.Errorf("refund rows: %d summing to %s, want one of %s (none for zero)", n, ordMoney(sum), tt.refund)
				}
				if o := getOrder(t, s, id); o["refunded"] != tt.refund {
					t.Errorf("order refunded %v, want %s", o["refunded"], tt.refund)
				}
				jsonEqual(t, ordDo(t, s, a.Key, "status", ordForm("order", id)), tt.status)
			})
		}
	})
}

// PATCH and GET of an unknown order are 404; a body that is not the patch
// object is 400; none of them writes anything.
func TestOrdersAdminBadRequests(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		s, db := admStart(t, b)
		a := s.MustAccount(t, "alice", "100")
		svc := s.MustService(t, nil)
		id := mustAddOrder(t, s, a.Key, svc, "https://instagram.com/p/1", "157")
		before := admSnapshot(t, s, db, a, id)
		for _, tt := range []struct {
			name, id, body string
			want           int
		}{
			{"unknown order", "ZZZZZZZZZZ", admCanceled, 404},
			{"implausible order ID", "nope", admCanceled, 404},
			{"numeric row ID", "1", admCanceled, 404},
			{"order ID in another case", ordFlipCase(id), admCanceled, 404},
			{"bad JSON", id, `{"status":`, 400},
			{"unknown field", id, `{"status":"Canceled","refund":"1.3345"}`, 400},
			{"empty body", id, ``, 400},
			{"an array", id, `[{"status":"Canceled"}]`, 400},
			{"a string", id, `"Canceled"`, 400},
			{"trailing data", id, `{"status":"Canceled"} {}`, 400},
		} {
			t.Run(tt.name, func(t *testing.T) {
				mustErr(t, admPatch(t, s, tt.id, tt.body), tt.want, "PATCH "+tt.body)
				if tt.want == 404 {
					mustErr(t, s.Admin(t, "GET", "/internal/v1/orders/"+tt.id, nil), 404, "GET")
				}
				admUnchanged(t, s, db, a, id, before, tt.name)
			})
		}
	})
}

// Ten identical PATCHes at once refund once and all answer 200; ten mixed
// Partial/Canceled PATCHes at once: one wins, the PATCHes that restate the
// winner answer 200, the others 409, one refund row of the winner's amount.
func TestOrdersAdminConcurrentPatch(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		s, db := admStart(t, b)
		a := s.MustAccount(t, "alice", "1000")
		svc := s.MustService(t, nil)
		partial := admPartial(`"100"`)
		refunds := map[string]string{"Partial": "0.8500", "Canceled": "1.3345"}
		link := 0
		order := func(t *testing.T) string {
			link++
			return mustAddOrder(t, s, a.Key, svc, fmt.Sprint("https://instagram.com/p/c", link), "157")
		}
		burst := func(t *testing.T, id string, body func(i int) string) []Response {
			reqs := make([]admReq, 10)
			for i := range reqs {
				reqs[i] = admInternal(s, "PATCH", "/internal/v1/orders/"+id, body(i))
			}
			return admBurst(t, reqs)
		}
		oneRefund := func(t *testing.T, id, want string) {
			t.Helper()
			if n, sum := refundRows(t, db, id); n != 1 || ordMoney(sum) != want {
				t.Errorf("order %s: %d refund rows summing to %s, want one of %s", id, n, ordMoney(sum), want)
			}
		}
		for round := range 3 {
			t.Run(fmt.Sprint("identical Canceled ", round), func(t *testing.T) {
				id := order(t)
				for i, r := range burst(t, id, func(int) string { return admCanceled }) {
					if r.Status != http.StatusOK {
						t.Errorf("PATCH %d: %d %s, want 200", i, r.Status, r.Body)
					}
				}
				oneRefund(t, id, "1.3345")
			})
			t.Run(fmt.Sprint("identical Partial ", round), func(t *testing.T) {
				id := order(t)
				for i, r := range burst(t, id, func(int) string { return partial }) {
					if r.Status != http.StatusOK {
						t.Errorf("PATCH %d: %d %s, want 200", i, r.Status, r.Body)
					}
				}
				oneRefund(t, id, "0.8500")
			})
		}
		wins := map[string]int{}
		for round := range 6 {
			t.Run(fmt.Sprint("Partial against Canceled ", round), func(t *testing.T) {
				id := order(t)
				kind := func(i int) string {
					if (i+round)%2 == 0 {
						return "Partial"
					}
					return "Canceled"
				}
				rs := burst(t, id, func(i int) string {
					if kind(i) == "Partial" {
						return partial
					}
					return admCanceled
				})
				final := fmt.Sprint(getOrder(t, s, id)["status"])
				if refunds[final] == "" {
					t.Fatalf("order is %s after the burst, want Partial or Canceled", final)
				}
				wins[final]++
				for i, r := range rs {
					want := http.StatusConflict
					if kind(i) == final {
						want = http.StatusOK
					}
					if r.Status != want {
						t.Errorf("PATCH %d (%s) with %s winning: %d %s, want %d", i, kind(i), final, r.Status, r.Body, want)
					}
				}
				oneRefund(t, id, refunds[final])
			})
		}
		t.Logf("mixed bursts won: %v", wins)
	})
}

// GET /internal/v1/orders/{id} shows every field of the spec, as stored.
func TestOrdersAdminGet(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		s, _ := admStart(t, b)
		a := s.MustAccount(t, "alice", "1000")
		drip := s.MustService(t, map[string]any{"dripfeed": true})
		comments := s.MustService(t, map[string]any{"type": "Custom Comments", "rate": "10", "min": 1})
		mentions := s.MustService(t, map[string]any{"type": "Mentions User Followers", "rate": "2"})
		for _, tt := range []struct {
			name string
			svc  string
			form []string
			want map[string]any // the fields that depend on the order
		}{
			{"default", drip, []string{"link", "https://instagram.com/p/g1", "quantity", "157"},
				map[string]any{"link": "https://instagram.com/p/g1", "quantity": "157", "runs": "0", "interval": "0",
					"comments": "", "username": "", "charge": "1.3345", "remains": "157"}},
			{"drip-feed", drip, []string{"link", "https://instagram.com/p/g2", "quantity", "100", "runs", "3", "interval", "5"},
				map[string]any{"link": "https://instagram.com/p/g2", "quantity": "300", "runs": "3", "interval": "5",
					"comments": "", "username": "", "charge": "2.5500", "remains": "300"}},
			{"custom comments", comments, []string{"link", "https://instagram.com/p/g3", "comments", "nice\nwow\n\ngreat"},
				map[string]any{"link": "https://instagram.com/p/g3", "quantity": "3", "runs": "0", "interval": "0",
					"comments": "nice\nwow\n\ngreat", "username": "", "charge": "0.0300", "remains": "3"}},
			{"username", mentions, []string{"link", "https://instagram.com/p/g4", "quantity", "1000", "username", "someone"},
				map[string]any{"link": "https://instagram.com/p/g4", "quantity": "1000", "runs": "0", "interval": "0",
					"comments": "", "username": "someone", "charge": "2.0000", "remains": "1000"}},
		} {
			t.Run(tt.name, func(t *testing.T) {
				id := mustAdd(t, s, a.Key, ordForm(append([]string{"service", tt.svc}, tt.form...)...))
				want := map[string]any{"id": id, "user_id": a.ID, "site_id": "1", "service_id": tt.svc,
					"start_count": "0", "status": "Pending", "currency": "CNY", "supplier_id": "<nil>", "supplier_order": ""}
				for k, v := range tt.want {
					want[k] = v
				}
				o := getOrder(t, s, id)
				for k, v := range want {
					got, ok := o[k]
					if !ok {
						t.Errorf("field %s missing: %v", k, o)
						continue
					}
					if fmt.Sprint(got) != v {
						t.Errorf("%s = %v, want %v", k, got, v)
					}
				}
				// Money is a 4-decimal string, counts are strings as on the
				// public API, numbers are numbers.
				for _, k := range []string{"charge", "start_count", "remains", "id", "link", "status"} {
					if _, ok := o[k].(string); !ok {
						t.Errorf("%s is %T, want a string", k, o[k])
					}
				}
				for _, k := range []string{"user_id", "site_id", "service_id", "quantity", "runs", "interval"} {
					if _, ok := o[k].(json.Number); !ok {
						t.Errorf("%s is %T, want a number", k, o[k])
					}
				}
				created := admTime(t, o["created_at"], "created_at")
				admTime(t, o["updated_at"], "updated_at")

				r := admPatch(t, s, id, `{"status":"In progress","start_count":"3572"}`)
				if r.Status != http.StatusOK {
					t.Fatalf("PATCH: %d %s", r.Status, r.Body)
				}
				p := r.Obj(t)
				if p["status"] != "In progress" || p["start_count"] != "3572" || p["created_at"] != o["created_at"] {
					t.Errorf("PATCH answered %s", r.Body)
				}
				// Times have whole seconds, so a PATCH within the same
				// second shows the same updated_at; never an earlier one.
				if u := admTime(t, p["updated_at"], "updated_at after PATCH"); u.Before(created) {
					t.Errorf("updated_at %v after a PATCH, created_at %v", p["updated_at"], o["created_at"])
				}
				jsonEqual(t, r, string(s.Admin(t, "GET", "/internal/v1/orders/"+id, nil).Body))
			})
		}
	})
}

// GET /internal/v1/orders: filters (user, status, service, site), newest
// first, cursor pages, bad filters 400.
func TestOrdersAdminList(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		s, _ := admStart(t, b)
		site := s.MustAdmin(t, http.StatusCreated, "POST", "/internal/v1/sites", map[string]any{"name": "Child A", "domains": []string{"child-a.example"}})
		child := fmt.Sprint(site["id"])
		alice := s.MustAccount(t, "alice", "1000")
		aliceChild := s.MustAdmin(t, http.StatusCreated, "POST", "/internal/v1/users/"+alice.ID+"/api-keys", map[string]any{"site_id": site["id"]})
		bob := s.MustAccountOn(t, "bob", "1000", int(admNumber(t, site["id"])))
		svc1 := s.MustService(t, nil)
		svc2 := s.MustService(t, map[string]any{"name": "Likes", "rate": "1"})

		// addOn places an order through the public API with a Host header,
		// so that it belongs to that host's site.
		n := 0
		addOn := func(key, host, svc string) string {
			t.Helper()
			n++
			form := ordForm("key", key, "action", "add", "service", svc, "link", fmt.Sprint("https://instagram.com/p/l", n), "quantity", "100")
			req, err := http.NewRequest("POST", s.Public+"/api/v2", strings.NewReader(form.Encode()))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Host = host
			id, ok := ordAddID(Do(t, req))
			if !ok {
				t.Fatalf("add on %s failed", host)
			}
			return id
		}
		ck := fmt.Sprint(aliceChild["key"])
		o1 := addOn(alice.Key, "main.example", svc1)
		o2 := addOn(alice.Key, "main.example", svc2)
		o3 := addOn(bob.Key, "child-a.example", svc1)
		o4 := addOn(ck, "Child-A.example:8080", svc1)
		o5 := addOn(bob.Key, "child-a.example", svc2)
		o6 := addOn(alice.Key, "main.example", svc2)
		o7 := addOn(alice.Key, "main.example", svc1)
		for id, body := range map[string]string{o2: `{"status":"Completed"}`, o3: admCanceled,
			o5: `{"status":"Partial","remains":"50"}`, o6: `{"status":"In progress","start_count":"9"}`} {
			if r := admPatch(t, s, id, body); r.Status != http.StatusOK {
				t.Fatalf("PATCH %s %s: %d %s", id, body, r.Status, r.Body)
			}
		}
		all := []string{o7, o6, o5, o4, o3, o2, o1}
		for _, tt := range []struct {
			query string
			want  []string
		}{
			{"", all},
			{"user_id=" + alice.ID, []string{o7, o6, o4, o2, o1}},
			{"user_id=" + bob.ID, []string{o5, o3}},
			{"service_id=" + svc1, []string{o7, o4, o3, o1}},
			{"service_id=" + svc2, []string{o6, o5, o2}},
			{"site_id=1", []string{o7, o6, o2, o1}},
			{"site_id=" + child, []string{o5, o4, o3}},
			{"status=Pending", []string{o7, o4, o1}},
			{"status=In+progress", []string{o6}},
			{"status=In%20progress", []string{o6}},
			{"status=Completed", []string{o2}},
			{"status=Partial", []string{o5}},
			{"status=Canceled", []string{o3}},
			{"status=Processing", nil},
			{"user_id=" + alice.ID + "&service_id=" + svc2 + "&site_id=1", []string{o6, o2}},
			{"user_id=" + alice.ID + "&site_id=" + child, []string{o4}},
			{"user_id=" + bob.ID + "&status=Pending", nil},
			{"service_id=" + svc1 + "&status=Pending", []string{o7, o4, o1}},
			{"user_id=999999", nil},
			{"service_id=999999", nil},
			{"site_id=999", nil},
		} {
			t.Run(tt.query, func(t *testing.T) {
				one := s.MustAdmin(t, http.StatusOK, "GET", "/internal/v1/orders?"+tt.query, nil)
				if one["next_cursor"] != "" {
					t.Errorf("next_cursor %v on the only page", one["next_cursor"])
				}
				items, _ := one["items"].([]any)
				if items == nil {
					t.Fatalf("items = %v, want a list (never null)", one["items"])
				}
				var got []string
				for _, it := range items {
					got = append(got, fmt.Sprint(it.(map[string]any)["id"]))
				}
				if fmt.Sprint(got) != fmt.Sprint(tt.want) {
					t.Errorf("ids = %v, want %v", got, tt.want)
				}
				paged := admIDs(admWalk(t, s, "/internal/v1/orders?limit=2&"+tt.query))
				if fmt.Sprint(paged) != fmt.Sprint(tt.want) {
					t.Errorf("with limit=2: ids = %v, want %v", paged, tt.want)
				}
			})
		}
		// A list item is the same object as GET by ID.
		for _, it := range admWalk(t, s, "/internal/v1/orders?limit=3") {
			id := fmt.Sprint(it["id"])
			got, _ := json.Marshal(it)
			jsonEqual(t, Response{Body: got}, string(s.Admin(t, "GET", "/internal/v1/orders/"+id, nil).Body))
		}
		for id, site := range map[string]string{o1: "1", o3: child, o4: child} {
			if got := fmt.Sprint(getOrder(t, s, id)["site_id"]); got != site {
				t.Errorf("order %s: site_id %s, want %s", id, got, site)
			}
		}
		// A limit over 500 is clamped, not refused (TestOrdersAdminListLimit
		// shows the clamp).
		if l := s.MustAdmin(t, http.StatusOK, "GET", "/internal/v1/orders?limit=100000", nil); len(l["items"].([]any)) != len(all) {
			t.Errorf("limit=100000: %d items, want %d", len(l["items"].([]any)), len(all))
		}
		for _, q := range []string{"status=Bogus", "status=canceled", "status=Cancelled", "user_id=abc", "user_id=0", "user_id=-1",
			"service_id=1.5", "service_id=x", "site_id=x", "site_id=0", "limit=0", "limit=-1", "limit=abc", "cursor=abc", "cursor=0", "cursor=-5"} {
			mustErr(t, s.Admin(t, "GET", "/internal/v1/orders?"+q, nil), 400, q)
		}
	})
}

// admNumber reads a JSON number as an int64.
func admNumber(t *testing.T, v any) int64 {
	t.Helper()
	n, ok := v.(json.Number)
	if !ok {
		t.Fatalf("%v is %T, want a number", v, v)
	}
	i, err := n.Int64()
	if err != nil {
		t.Fatal(err)
	}
	return i
}

// A limit above 500 is clamped to 500, not refused: 501 orders come as 500
// and 1.
func TestOrdersAdminListLimit(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		s, _ := admStart(t, b)
		a := s.MustAccount(t, "alice", "1000")
		svc := s.MustService(t, map[string]any{"rate": "1", "min": 1})
		const total = 501
		for start := 0; start < total; start += 50 {
			var reqs []admReq
			for i := start; i < min(start+50, total); i++ {
				form := ordForm("key", a.Key, "action", "add", "service", svc, "link", fmt.Sprint("https://instagram.com/p/m", i), "quantity", "10")
				reqs = append(reqs, admReq{method: "POST", url: s.Public + "/api/v2", body: form.Encode(),
					header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}})
			}
			for _, r := range admBurst(t, reqs) {
				if _, ok := ordAddID(r); !ok {
					t.Fatalf("add: %d %s", r.Status, r.Body)
				}
			}
		}
		for _, tt := range []struct {
			query string
			first int
		}{{"", 50}, {"limit=500", 500}, {"limit=501", 500}, {"limit=100000", 500}} {
			l := s.MustAdmin(t, http.StatusOK, "GET", "/internal/v1/orders?"+tt.query, nil)
			if n := len(l["items"].([]any)); n != tt.first || l["next_cursor"] == "" {
				t.Errorf("%q: %d items, next_cursor %q; want %d and a cursor", tt.query, n, l["next_cursor"], tt.first)
			}
		}
		if ids := admIDs(admWalk(t, s, "/internal/v1/orders?limit=501")); len(ids) != total {
			t.Errorf("walking with limit=501: %d orders, want %d", len(ids), total)
		}
	})
}
