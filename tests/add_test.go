package tests

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

// ordNothingWritten snapshots the orders count and a balance, and returns a
// check that neither moved.
func ordNothingWritten(tb testing.TB, s *Server, db *sql.DB, a Account) func() {
	tb.Helper()
	orders := ordCount(tb, db, "SELECT COUNT(*) FROM orders")
	bal := ordBalance(tb, s, a)
	return func() {
		tb.Helper()
		if n := ordCount(tb, db, "SELECT COUNT(*) FROM orders"); n != orders {
			tb.Errorf("orders: %d, want %d (nothing written)", n, orders)
		}
		if got := ordBalance(tb, s, a); got != bal {
			tb.Errorf("balance %s, want %s (nothing written)", ordMoney(got), ordMoney(bal))
		}
	}
}

// add answers {"order":"<ID>"}, byte-exact; IDs are 10 characters of
// [A-Za-z0-9], all distinct.
func TestAddAnswer(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		env := MustEnv(t, b)
		s := MustStart(t, env)
		db := env.DB(t)
		a := ordAccount(t, s, db, "alice", "1000")
		svc := s.MustService(t, map[string]any{"rate": "1.0000"})

		r := ordDo(t, s, a.Key, "add", ordForm("service", svc, "link", "https://instagram.com/p/1", "quantity", "100"))
		id, ok := ordAddID(r)
		if !ok {
			t.Fatalf("add: %s", r.Body)
		}
		// The random ID is replaced by a placeholder before the comparison.
		ordGolden(t, "add.json", r, id, "b76VJizQKZ")

		seen := map[string]bool{id: true}
		for i := range 20 {
			id := mustAdd(t, s, a.Key, ordForm("service", svc, "link", fmt.Sprintf("https://instagram.com/p/x%d", i), "quantity", "10"))
			if seen[id] {
				t.Errorf("order ID %s given twice", id)
			}
			seen[id] = true
		}
	})
}

// Every type of the spec's table: what it needs, and how it counts its
// quantity and charge, read back through status.
func TestAddTypes(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		env := MustEnv(t, b)
		s := MustStart(t, env)
		db := env.DB(t)
		a := ordAccount(t, s, db, "alice", "100000")
		svc := map[string]string{}
		for _, typ := range []string{"Default", "Package", "Custom Comments", "Custom Comments Package", "Mentions",
			"Mentions with Hashtags", "Mentions Custom List", "Mentions Hashtag", "Mentions User Followers",
			"Mentions Media Likers", "Comment Likes", "Poll", "Invites from Groups", "Web Traffic"} {
			svc[typ] = s.MustService(t, map[string]any{"name": typ, "type": typ, "rate": "2.0000", "min": 1, "max": 10000,
				"dripfeed": typ == "Web Traffic"})
		}
		drip := s.MustService(t, map[string]any{"name": "Drip", "rate": "2.0000", "min": 10, "max": 1000, "dripfeed": true})

		tests := []struct {
			name    string
			form    url.Values
			remains string
			charge  string
			runs    string // "" for an order without drip-feed
		}{
			{"Default", ordForm("service", svc["Default"], "quantity", "1000"), "1000", "2.0000", ""},
			{"Default runs=0 interval=0 is no drip-feed", ordForm("service", svc["Default"], "quantity", "1000", "runs", "0", "interval", "0"), "1000", "2.0000", ""},
			{"Default empty runs and interval", ordForm("service", svc["Default"], "quantity", "1000", "runs", "", "interval", ""), "1000", "2.0000", ""},
			{"Default drip-feed", ordForm("service", drip, "quantity", "100", "runs", "5", "interval", "10"), "500", "1.0000", "0"},
			{"drip-feed max applies per run", ordForm("service", drip, "quantity", "1000", "runs", "3", "interval", "1"), "3000", "6.0000", "0"},
			{"drip-feed min applies per run", ordForm("service", drip, "quantity", "10", "runs", "2", "interval", "1"), "20", "0.0400", "0"},
			{"Package flat, quantity ignored", ordForm("service", svc["Package"], "quantity", "500"), "1", "2.0000", ""},
			{"Package without quantity", ordForm("service", svc["Package"]), "1", "2.0000", ""},
			{"Custom Comments Package", ordForm("service", svc["Custom Comments Package"], "comments", "one\ntwo\nthree", "quantity", "70"), "1", "2.0000", ""},
			{"Custom Comments counts non-blank lines", ordForm("service", svc["Custom Comments"], "comments", "a\r\n\r\n  \r\nb\nc", "quantity", "50"), "3", "0.0060", ""},
			{"Custom Comments ignores a malformed quantity", ordForm("service", svc["Custom Comments"], "comments", "a\nb", "quantity", "many"), "2", "0.0040", ""},
			{"Custom Comments trailing newline", ordForm("service", svc["Custom Comments"], "comments", "a\nb\n"), "2", "0.0040", ""},
			{"Mentions", ordForm("service", svc["Mentions"], "quantity", "1000", "usernames", "alice\nbob"), "1000", "2.0000", ""},
			{"Mentions with Hashtags", ordForm("service", svc["Mentions with Hashtags"], "quantity", "1000", "usernames", "alice\nbob", "hashtags", "#a\n#b"), "1000", "2.0000", ""},
			{"Mentions Custom List counts usernames", ordForm("service", svc["Mentions Custom List"], "usernames", "alice\r\n\r\nbob\n  \ncarol\n", "quantity", "999"), "3", "0.0060", ""},
			{"Mentions Hashtag", ordForm("service", svc["Mentions Hashtag"], "quantity", "1000", "hashtag", "#go"), "1000", "2.0000", ""},
			{"Mentions User Followers", ordForm("service", svc["Mentions User Followers"], "quantity", "1000", "username", "alice"), "1000", "2.0000", ""},
			{"Mentions Media Likers", ordForm("service", svc["Mentions Media Likers"], "quantity", "1000", "media", "https://instagram.com/p/m"), "1000", "2.0000", ""},
			{"Comment Likes", ordForm("service", svc["Comment Likes"], "quantity", "1000", "username", "alice"), "1000", "2.0000", ""},
			{"Poll", ordForm("service", svc["Poll"], "quantity", "1000", "answer_number", "2"), "1000", "2.0000", ""},
			{"Invites from Groups", ordForm("service", svc["Invites from Groups"], "quantity", "1000", "groups", "g1\ng2"), "1000", "2.0000", ""},
			{"Web Traffic google", ordForm("service", svc["Web Traffic"], "quantity", "1000", "country", "US", "device", "1", "type_of_traffic", "1", "google_keyword", "smm"), "1000", "2.0000", ""},
			{"Web Traffic referrer", ordForm("service", svc["Web Traffic"], "quantity", "1000", "country", "US", "device", "5", "type_of_traffic", "2", "referring_url", "https://example.com"), "1000", "2.0000", ""},
			{"Web Traffic direct", ordForm("service", svc["Web Traffic"], "quantity", "1000", "country", "DE", "device", "3", "type_of_traffic", "3"), "1000", "2.0000", ""},
			{"Web Traffic drip-feed", ordForm("service", svc["Web Traffic"], "quantity", "100", "runs", "2", "interval", "5", "country", "US", "device", "2", "type_of_traffic", "3"), "200", "0.4000", "0"},
		}
		for i, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				tt.form.Set("link", fmt.Sprintf("https://instagram.com/p/types%d", i))
				before := ordBalance(t, s, a)
				id := mustAdd(t, s, a.Key, tt.form)
				r := ordDo(t, s, a.Key, "status", ordForm("order", id))
				if tt.runs == "" {
					jsonEqual(t, r, ordStatusWant(tt.charge, "0", "Pending", tt.remains))
				} else {
					jsonEqual(t, r, ordDripWant(tt.charge, "0", "Pending", tt.remains, tt.runs))
					if !bytes.HasSuffix(r.Body, []byte(`"currency":"CNY","runs":"0"}`)) {
						t.Errorf("runs is not the last key: %s", r.Body)
					}
				}
				if got, want := ordBalance(t, s, a), before-units(t, tt.charge); got != want {
					t.Errorf("balance %s, want %s", ordMoney(got), ordMoney(want))
				}
				if q := ordInt(t, db, "SELECT quantity FROM orders WHERE public_id = ?", id); strconv.FormatInt(q, 10) != tt.remains {
					t.Errorf("stored quantity %d, want %s", q, tt.remains)
				}
			})
		}
	})
}

// Every refusal of add answers the spec's exact text and writes nothing:
// no order row, no balance change.
func TestAddErrors(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		env := MustEnv(t, b)
		s := MustStart(t, env)
		db := env.DB(t)
		rich := ordAccount(t, s, db, "rich", "1000")
		poor := ordAccount(t, s, db, "poor", "1.0000")
		mk := func(typ string, extra ...any) string {
			f := map[string]any{"name": typ, "type": typ}
			for i := 0; i+1 < len(extra); i += 2 {
				f[extra[i].(string)] = extra[i+1]
			}
			return s.MustService(t, f)
		}
		def := mk("Default") // rate 8.5000, min 10, max 10000, no drip-feed
		drip := mk("Default", "dripfeed", true, "rate", "1.0000")
		min50 := mk("Default", "min", 50)
		disabled := mk("Default", "enabled", false)
		pkg := mk("Package", "rate", "1.5000", "min", 1, "max", 1)
		cc := mk("Custom Comments", "min", 2, "max", 3)
		ccp := mk("Custom Comments Package", "min", 1, "max", 1)
		mentions := mk("Mentions")
		mwh := mk("Mentions with Hashtags")
		mcl := mk("Mentions Custom List", "min", 1)
		mh := mk("Mentions Hashtag")
		muf := mk("Mentions User Followers")
		mml := mk("Mentions Media Likers")
		cl := mk("Comment Likes")
		poll := mk("Poll")
		inv := mk("Invites from Groups")
		web := mk("Web Traffic", "dripfeed", true)
		sub := mk("Subscriptions")

		const (
			badService = `{"error":"Incorrect service ID"}`
			badLink    = `{"error":"Bad link"}`
			badRequest = `{"error":"Incorrect request"}`
			tooFew     = `{"error":"Quantity less than minimal 10"}`
			tooMany    = `{"error":"Quantity more than maximum 10000"}`
			noFunds    = `{"error":"Not enough funds on balance"}`
		)
		const link = "https://instagram.com/p/err"
		webForm := func(kv ...string) url.Values {
			f := ordForm("service", web, "link", link, "quantity", "100", "country", "US", "device", "1", "type_of_traffic", "3")
			for i := 0; i+1 < len(kv); i += 2 {
				if kv[i+1] == "" {
					f.Del(kv[i])
				} else {
					f.Set(kv[i], kv[i+1])
				}
			}
			return f
		}
		tests := []struct {
			name string
			poor bool
			form url.Values
			want string
		}{
			{"service missing", false, ordForm("link", link, "quantity", "100"), badService},
			{"service empty", false, ordForm("service", "", "link", link, "quantity", "100"), badService},
			{"service not numeric", false, ordForm("service", "abc", "link", link, "quantity", "100"), badService},
			{"service numeric prefix", false, ordForm("service", def+"x", "link", link, "quantity", "100"), badService},
			{"service negative", false, ordForm("service", "-1", "link", link, "quantity", "100"), badService},
			{"service zero", false, ordForm("service", "0", "link", link, "quantity", "100"), badService},
			{"service unknown", false, ordForm("service", "999999", "link", link, "quantity", "100"), badService},
			{"service disabled", false, ordForm("service", disabled, "link", link, "quantity", "100"), badService},
			{"link missing", false, ordForm("service", def, "quantity", "100"), badLink},
			{"link empty", false, ordForm("service", def, "link", "", "quantity", "100"), badLink},
			{"link blank", false, ordForm("service", def, "link", "  \t ", "quantity", "100"), badLink},
			{"Package link missing", false, ordForm("service", pkg), badLink},
			{"quantity missing", false, ordForm("service", def, "link", link), badRequest},
			{"quantity empty", false, ordForm("service", def, "link", link, "quantity", ""), badRequest},
			{"quantity not numeric", false, ordForm("service", def, "link", link, "quantity", "abc"), badRequest},
			{"quantity decimal", false, ordForm("service", def, "link", link, "quantity", "100.5"), badRequest},
			{"quantity under min", false, ordForm("service", def, "link", link, "quantity", "9"), tooFew},
			{"quantity negative", false, ordForm("service", def, "link", link, "quantity", "-5"), tooFew},
			{"quantity zero", false, ordForm("service", def, "link", link, "quantity", "0"), tooFew},
			{"quantity over max", false, ordForm("service", def, "link", link, "quantity", "10001"), tooMany},
			{"quantity under the service's min", false, ordForm("service", min50, "link", link, "quantity", "49"), `{"error":"Quantity less than minimal 50"}`},
			{"Custom Comments under min", false, ordForm("service", cc, "link", link, "comments", "only one"), `{"error":"Quantity less than minimal 2"}`},
			{"Custom Comments over max", false, ordForm("service", cc, "link", link, "comments", "1\n2\n3\n4"), `{"error":"Quantity more than maximum 3"}`},
			{"runs without interval", false, ordForm("service", drip, "link", link, "quantity", "100", "runs", "5"), badRequest},
			{"interval without runs", false, ordForm("service", drip, "link", link, "quantity", "100", "interval", "5"), badRequest},
			{"runs 1", false, ordForm("service", drip, "link", link, "quantity", "100", "runs", "1", "interval", "5"), badRequest},
			{"interval 0", false, ordForm("service", drip, "link", link, "quantity", "100", "runs", "5", "interval", "0"), badRequest},
			{"runs not numeric", false, ordForm("service", drip, "link", link, "quantity", "100", "runs", "x", "interval", "5"), badRequest},
			{"drip-feed on a service without it", false, ordForm("service", def, "link", link, "quantity", "100", "runs", "5", "interval", "5"), badRequest},
			{"drip-feed quantity per run under min", false, ordForm("service", drip, "link", link, "quantity", "9", "runs", "5", "interval", "5"), tooFew},
			{"drip-feed quantity per run over max", false, ordForm("service", drip, "link", link, "quantity", "10001", "runs", "2", "interval", "5"), tooMany},
			{"Mentions without usernames", false, ordForm("service", mentions, "link", link, "quantity", "100"), badRequest},
			{"Mentions blank usernames", false, ordForm("service", mentions, "link", link, "quantity", "100", "usernames", " \n "), badRequest},
			{"Mentions with Hashtags without hashtags", false, ordForm("service", mwh, "link", link, "quantity", "100", "usernames", "a"), badRequest},
			{"Mentions Custom List without usernames", false, ordForm("service", mcl, "link", link), badRequest},
			{"Mentions Custom List blank usernames", false, ordForm("service", mcl, "link", link, "usernames", "\r\n \n"), badRequest},
			{"Mentions Hashtag without hashtag", false, ordForm("service", mh, "link", link, "quantity", "100"), badRequest},
			{"Mentions User Followers without username", false, ordForm("service", muf, "link", link, "quantity", "100"), badRequest},
			{"Mentions Media Likers without media", false, ordForm("service", mml, "link", link, "quantity", "100"), badRequest},
			{"Comment Likes without username", false, ordForm("service", cl, "link", link, "quantity", "100"), badRequest},
			{"Custom Comments without comments", false, ordForm("service", cc, "link", link, "quantity", "100"), badRequest},
			{"Custom Comments blank comments", false, ordForm("service", cc, "link", link, "comments", "\r\n  \n\t"), badRequest},
			{"Custom Comments Package without comments", false, ordForm("service", ccp, "link", link), badRequest},
			{"Poll without answer_number", false, ordForm("service", poll, "link", link, "quantity", "100"), badRequest},
			{"Invites from Groups without groups", false, ordForm("service", inv, "link", link, "quantity", "100"), badRequest},
			{"Web Traffic device 0", false, webForm("device", "0"), badRequest},
			{"Web Traffic device 6", false, webForm("device", "6"), badRequest},
			{"Web Traffic device missing", false, webForm("device", ""), badRequest},
			{"Web Traffic country missing", false, webForm("country", ""), badRequest},
			{"Web Traffic type_of_traffic 0", false, webForm("type_of_traffic", "0"), badRequest},
			{"Web Traffic type_of_traffic 4", false, webForm("type_of_traffic", "4"), badRequest},
			{"Web Traffic type 1 without google_keyword", false, webForm("type_of_traffic", "1"), badRequest},
			{"Web Traffic type 2 without referring_url", false, webForm("type_of_traffic", "2"), badRequest},
			{"Web Traffic quantity missing", false, webForm("quantity", ""), badRequest},
			{"Subscriptions without min", false, ordForm("service", sub, "link", link, "username", "alice", "max", "100"), badRequest},
			{"not enough funds", true, ordForm("service", def, "link", link, "quantity", "1000"), noFunds},
			{"not enough funds just over the balance", true, ordForm("service", drip, "link", link, "quantity", "1001"), noFunds},
			{"not enough funds on the drip-feed total", true, ordForm("service", drip, "link", link, "quantity", "600", "runs", "2", "interval", "5"), noFunds},
			{"not enough funds for a Package", true, ordForm("service", pkg, "link", link), noFunds},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				a := rich
				if tt.poor {
					a = poor
				}
				unchanged := ordNothingWritten(t, s, db, a)
				jsonEqual(t, ordDo(t, s, a.Key, "add", tt.form), tt.want)
				unchanged()
			})
		}

		// The bounds themselves are allowed, and the poor account can
		// spend its balance to the last unit.
		mustAdd(t, s, rich.Key, ordForm("service", def, "link", link+"/min", "quantity", "10"))
		mustAdd(t, s, rich.Key, ordForm("service", def, "link", link+"/max", "quantity", "10000"))
		mustAdd(t, s, poor.Key, ordForm("service", drip, "link", link, "quantity", "1000"))
		if got := ordBalance(t, s, poor); got != 0 {
			t.Errorf("poor balance %s, want 0.0000", ordMoney(got))
		}
	})
}

// The duplicate-link guard refuses a second order on the same service and
// link while the first is not final, and only then.
func TestAddDuplicateLink(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		env := MustEnv(t, b)
		s := MustStart(t, env)
		db := env.DB(t)
		a := ordAccount(t, s, db, "alice", "1000")
		other := ordAccount(t, s, db, "bob", "1000")
		svc := s.MustService(t, map[string]any{"rate": "1.0000"})
		svc2 := s.MustService(t, map[string]any{"rate": "1.0000"})
		const link = "https://instagram.com/p/dup"
		const active = `{"error":"You have active order with this link. Please wait until order being completed."}`
		form := ordForm("service", svc, "link", link, "quantity", "1000")
		refused := func(t *testing.T) {
			t.Helper()
			unchanged := ordNothingWritten(t, s, db, a)
			jsonEqual(t, ordDo(t, s, a.Key, "add", form), active)
			unchanged()
		}

		first := mustAdd(t, s, a.Key, form)
		refused(t) // Pending
		for _, st := range []string{"In progress", "Processing"} {
			ordSetStatus(t, s, first, st)
			refused(t)
		}
		mustAdd(t, s, a.Key, ordForm("service", svc, "link", link+"/other", "quantity", "1000"))
		mustAdd(t, s, a.Key, ordForm("service", svc2, "link", link, "quantity", "1000"))
		mustAdd(t, s, other.Key, form)

		// Final statuses free the link again.
		prev := first
		for _, st := range []string{"Completed", "Partial", "Canceled"} {
			ordSetStatus(t, s, prev, st)
			prev = mustAdd(t, s, a.Key, form)
			refused(t)
		}
	})
}

// orders.duplicate_link_guard=false turns the guard off.
func TestAddDuplicateLinkGuardOff(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		env := MustEnv(t, b)
		s := MustStart(t, env, "SMMAPI_ORDERS_DUPLICATE_LINK_GUARD=false")
		db := env.DB(t)
		a := ordAccount(t, s, db, "alice", "10")
		svc := s.MustService(t, map[string]any{"rate": "1.0000"})
		form := ordForm("service", svc, "link", "https://instagram.com/p/dup", "quantity", "1000")
		id1 := mustAdd(t, s, a.Key, form)
		id2 := mustAdd(t, s, a.Key, form)
		if id1 == id2 {
			t.Errorf("same ID %s twice", id1)
		}
		if got := ordBalance(t, s, a); got != 80000 {
			t.Errorf("balance %s, want 8.0000", ordMoney(got))
		}
	})
}

// Charges are rate × total quantity ÷ 1000, half-up to 4 decimals, checked
// against hand-computed values through status and the balance.
func TestAddMoney(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		env := MustEnv(t, b)
		s := MustStart(t, env)
		db := env.DB(t)
		a := ordAccount(t, s, db, "alice", "2000000")
		tests := []struct {
			rate, quantity, runs string
			want                 string
		}{
			{"0.0001", "1", "", "0.0000"},
			{"8.5000", "157", "", "1.3345"},
			// 1234.5678 × 999.999 = 1234567.8 − 1.2345678 = 1234566.5654322
			{"1234.5678", "999999", "", "1234566.5654"},
			{"0.0005", "100", "", "0.0001"}, // 0.00005 half-up
			{"0.0004", "100", "", "0.0000"}, // 0.00004
			{"0.0001", "4500", "", "0.0005"},
			{"0.0001", "4499", "", "0.0004"},
			{"0.3333", "3", "", "0.0010"}, // 0.0009999
			{"0.0015", "1000", "", "0.0015"},
			{"1.0000", "1", "", "0.0010"},
			{"9999.9999", "1000", "", "9999.9999"},
			// Drip-feed rounds the total, not each run: 0.0003 × 3 would be 0.0009.
			{"0.3333", "1", "3", "0.0010"},
			{"8.5000", "157", "3", "4.0035"},
		}
		for i, tt := range tests {
			name := tt.rate + " x " + tt.quantity
			if tt.runs != "" {
				name += " x " + tt.runs + " runs"
			}
			t.Run(name, func(t *testing.T) {
				svc := s.MustService(t, map[string]any{"rate": tt.rate, "min": 1, "max": 1000000, "dripfeed": true})
				form := ordForm("service", svc, "link", fmt.Sprintf("https://instagram.com/p/money%d", i), "quantity", tt.quantity)
				remains, _ := strconv.ParseInt(tt.quantity, 10, 64)
				if tt.runs != "" {
					form.Set("runs", tt.runs)
					form.Set("interval", "1")
					runs, _ := strconv.ParseInt(tt.runs, 10, 64)
					remains *= runs
				}
				before := ordBalance(t, s, a)
				id := mustAdd(t, s, a.Key, form)
				r := ordDo(t, s, a.Key, "status", ordForm("order", id))
				want := ordStatusWant(tt.want, "0", "Pending", strconv.FormatInt(remains, 10))
				if tt.runs != "" {
					want = ordDripWant(tt.want, "0", "Pending", strconv.FormatInt(remains, 10), "0")
				}
				jsonEqual(t, r, want)
				if got, want := ordBalance(t, s, a), before-units(t, tt.want); got != want {
					t.Errorf("balance %s, want %s", ordMoney(got), ordMoney(want))
				}
			})
		}
	})
}

// add and status behave the same whatever the encoding (form, multipart,
// JSON with numbers and arrays, JSON with strings, GET query string) and
// whether v2 or v3 is called.
func TestAddEncodings(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		env := MustEnv(t, b)
		s := MustStart(t, env)
		db := env.DB(t)
		a := ordAccount(t, s, db, "alice", "1000")
		drip := s.MustService(t, map[string]any{"rate": "2.0000", "min": 10, "max": 1000, "dripfeed": true})
		cc := s.MustService(t, map[string]any{"type": "Custom Comments", "rate": "2.0000", "min": 1, "max": 100})
		svcNum, _ := strconv.Atoi(drip)
		ccNum, _ := strconv.Atoi(cc)

		// send encodes params: strings as strings, ints as numbers in JSON
		// (as text elsewhere), []string as a JSON array (a comma list elsewhere).
		send := func(t *testing.T, enc, path string, params map[string]any) Response {
			t.Helper()
			params["key"] = a.Key
			text := map[string]string{}
			for k, v := range params {
				switch v := v.(type) {
				case string:
					text[k] = v
				case int:
					text[k] = strconv.Itoa(v)
				case []string:
					text[k] = strings.Join(v, ",")
				}
			}
			form := url.Values{}
			for k, v := range text {
				form.Set(k, v)
			}
			var req *http.Request
			switch enc {
			case "form":
				req = publicReq(t, s, "POST", path, "application/x-www-form-urlencoded", form.Encode())
			case "multipart":
				ct, body := multipartBody(t, text)
				req = publicReq(t, s, "POST", path, ct, body)
			case "json":
				j, _ := json.Marshal(params)
				req = publicReq(t, s, "POST", path, "application/json", string(j))
			case "json strings":
				j, _ := json.Marshal(text)
				req = publicReq(t, s, "POST", path, "application/json", string(j))
			case "query":
				req = publicReq(t, s, "GET", path+"?"+form.Encode(), "", "")
			}
			r := Do(t, req)
			if r.Status != http.StatusOK || r.Header.Get("Content-Type") != "application/json" {
				t.Errorf("status %d, content type %q: %s", r.Status, r.Header.Get("Content-Type"), r.Body)
			}
			return r
		}
		n := 0
		for _, enc := range []string{"form", "multipart", "json", "json strings", "query"} {
			for _, path := range []string{"/api/v2", "/api/v3"} {
				t.Run(enc+" "+path, func(t *testing.T) {
					n++
					r := send(t, enc, path, map[string]any{"action": "add", "service": svcNum,
						"link": fmt.Sprintf("https://instagram.com/p/enc%d?a=1&b=2", n), "quantity": 100, "runs": 3, "interval": 15})
					id, ok := ordAddID(r)
					if !ok {
						t.Fatalf("add: %s", r.Body)
					}
					if link := ordLink(t, db, id); link != fmt.Sprintf("https://instagram.com/p/enc%d?a=1&b=2", n) {
						t.Errorf("stored link %q", link)
					}
					jsonEqual(t, send(t, enc, path, map[string]any{"action": "status", "order": id}),
						ordDripWant("0.6000", "0", "Pending", "300", "0"))

					r = send(t, enc, path, map[string]any{"action": "status", "orders": []string{id, "Zz9Yy8Xx7W"}})
					jsonEqual(t, r, fmt.Sprintf(`{%q:%s,"Zz9Yy8Xx7W":{"error":"Incorrect order ID"}}`, id, ordDripWant("0.6000", "0", "Pending", "300", "0")))
					if keys := ordKeys(t, r.Body); strings.Join(keys, ",") != id+",Zz9Yy8Xx7W" {
						t.Errorf("keys %v, want the order sent", keys)
					}

					r = send(t, enc, path, map[string]any{"action": "add", "service": ccNum,
						"link": fmt.Sprintf("https://instagram.com/p/encc%d", n), "comments": "first\r\nsecond\n\nthird ✓"})
					id, ok = ordAddID(r)
					if !ok {
						t.Fatalf("add comments: %s", r.Body)
					}
					jsonEqual(t, send(t, enc, path, map[string]any{"action": "status", "order": id}),
						ordStatusWant("0.0060", "0", "Pending", "3"))
				})
			}
		}
	})
}
