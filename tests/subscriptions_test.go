package tests

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// Subscriptions (public API "Subscriptions", internal "Subscriptions
// (admin)"): add and its errors, prepaid and unlimited charging, every end
// state with its refund, pausing on funds, the expiry worker, posts by
// hand, the status shape, refill on the parent and on a child, events.

// subRate is the test service's rate: a post of max 200 costs 0.5000.
const subRate = "2.5000"

// subRig is a server with a Subscriptions service (min 100, max 1000).
type subRig struct {
	s   *Server
	db  *sql.DB
	svc string
}

func subStart(t *testing.T, b Backend) subRig {
	t.Helper()
	s, db := admStart(t, b)
	svc := s.MustService(t, map[string]any{"name": "Auto likes", "type": "Subscriptions", "rate": subRate,
		"min": 100, "max": 1000})
	return subRig{s: s, db: db, svc: svc}
}

// subAdd places a subscription with pairs of parameters beside service.
func (r subRig) subAdd(t *testing.T, key string, kv ...string) string {
	t.Helper()
	return mustAdd(t, r.s, key, ordForm(append([]string{"service", r.svc, "username", "alice"}, kv...)...))
}

// subStatus is the public status of one order, decoded.
func subStatus(t *testing.T, s *Server, key, id string) map[string]any {
	t.Helper()
	return ordDo(t, s, key, "status", ordForm("order", id)).Obj(t)
}

// subPost records a post by hand and returns the child's ID.
func subPost(t *testing.T, s *Server, id string, qty int) string {
	t.Helper()
	out := s.MustAdmin(t, http.StatusCreated, "POST", "/internal/v1/orders/"+id+"/posts",
		map[string]any{"link": fmt.Sprintf("https://instagram.com/p/%s%d", randHex(4), qty), "quantity": qty})
	return fmt.Sprint(out["order"].(map[string]any)["id"])
}

// subWant is a subscription's status object as JSON text.
func subWant(charge, status, expiry, posts string, orders ...string) string {
	ex := "null"
	if expiry != "" {
		ex = fmt.Sprintf("%q", expiry)
	}
	o, _ := json.Marshal(append([]string{}, orders...))
	return fmt.Sprintf(`{"charge":%q,"status":%q,"expiry":%s,"posts":%q,"orders":%s,"currency":"CNY"}`,
		charge, status, ex, posts, o)
}

func TestSubscriptionAddErrors(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		r := subStart(t, b)
		a := r.s.MustAccount(t, "subbad", "10.0000")
		tomorrow := time.Now().UTC().Add(24 * time.Hour).Format("02/01/2006")
		today := time.Now().UTC().Format("02/01/2006")
		long := strings.Repeat("x", 1025)
		cases := []struct {
			name string
			kv   []string
			want string
		}{
			{"username missing", []string{"username", "", "min", "100", "max", "200"}, "Incorrect request"},
			{"username blank", []string{"username", "   ", "min", "100", "max", "200"}, "Incorrect request"},
			{"username over 1024 bytes", []string{"username", long, "min", "100", "max", "200"}, "Incorrect request"},
			{"min missing", []string{"max", "200"}, "Incorrect request"},
			{"max missing", []string{"min", "100"}, "Incorrect request"},
			{"min not a number", []string{"min", "1e2", "max", "200"}, "Incorrect request"},
			{"max not an integer", []string{"min", "100", "max", "200.5"}, "Incorrect request"},
			{"min over max", []string{"min", "300", "max", "200"}, "Incorrect request"},
			{"min under the service's", []string{"min", "99", "max", "200"}, "Quantity less than minimal 100"},
			{"min zero", []string{"min", "0", "max", "200"}, "Quantity less than minimal 100"},
			{"max over the service's", []string{"min", "100", "max", "1001"}, "Quantity more than maximum 1000"},
			{"posts zero", []string{"min", "100", "max", "200", "posts", "0"}, "Incorrect request"},
			{"posts negative", []string{"min", "100", "max", "200", "posts", "-3"}, "Incorrect request"},
			{"posts not a number", []string{"min", "100", "max", "200", "posts", "ten"}, "Incorrect request"},
			{"old_posts negative", []string{"min", "100", "max", "200", "old_posts", "-1"}, "Incorrect request"},
			{"delay not in the list", []string{"min", "100", "max", "200", "delay", "7"}, "Incorrect request"},
			{"delay over the list", []string{"min", "100", "max", "200", "delay", "601"}, "Incorrect request"},
			{"expiry malformed", []string{"min", "100", "max", "200", "expiry", "2027-01-31"}, "Incorrect request"},
			{"expiry not a date", []string{"min", "100", "max", "200", "expiry", "31/02/2027"}, "Incorrect request"},
			{"expiry past", []string{"min", "100", "max", "200", "expiry", "01/01/2020"}, "Incorrect request"},
			{"expiry today", []string{"min", "100", "max", "200", "expiry", today}, "Incorrect request"},
			{"parameter over 1024 bytes", []string{"min", "100", "max", "200", "delay", long}, "Incorrect request"},
			{"drip-feed", []string{"min", "100", "max", "200", "runs", "2", "interval", "5"}, "Incorrect request"},
			{"prepaid beyond the balance", []string{"min", "100", "max", "1000", "posts", "5"}, "Not enough funds on balance"},
		}
		before := ordBalance(t, r.s, a)
		for _, c := range cases {
			form := ordForm(append([]string{"service", r.svc, "username", "alice"}, c.kv...)...)
			if c.name == "username missing" {
				form.Del("username")
			}
			jsonEqual(t, ordDo(t, r.s, a.Key, "add", form), fmt.Sprintf(`{"error":%q}`, c.want))
		}
		if n := ordCount(t, r.db, "SELECT COUNT(*) FROM orders"); n != 0 {
			t.Errorf("%d orders written by refused adds", n)
		}
		if n := ordCount(t, r.db, "SELECT COUNT(*) FROM events"); n != 0 {
			t.Errorf("%d events written by refused adds", n)
		}
		if got := ordBalance(t, r.s, a); got != before || len(mustLedgerMatches(t, r.s, a.ID)) != 1 {
			t.Errorf("balance %s after refused adds, want %s and only the top-up row", ordMoney(got), ordMoney(before))
		}
		// The same parameters done right are accepted: link and quantity
		// are ignored, the expiry is shown as sent.
		id := r.subAdd(t, a.Key, "min", "100", "max", "200", "posts", "2", "old_posts", "1", "delay", "30",
			"expiry", tomorrow, "link", "https://ignored.example", "quantity", "5")
		jsonEqual(t, ordDo(t, r.s, a.Key, "status", ordForm("order", id)), subWant("1.5000", "Active", tomorrow, "0"))
	})
}

// subMidnight is the start of today (UTC): a subscription ending then
// ran through yesterday.
var subMidnight = time.Now().UTC().Truncate(24 * time.Hour)

// TestSubscriptionPrepaidEnds drives a prepaid subscription (posts 4 +
// old_posts 1, max 200: 5 × 0.5000 = 2.5000) to each end state and checks
// the refund of the posts not delivered, once, against the SmartPanel
// computation from the status answers.
func TestSubscriptionPrepaidEnds(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		r := subStart(t, b)
		cases := []struct {
			name      string
			delivered int
			end       func(t *testing.T, a Account, id string)
			status    string
		}{
			{"admin completes", 2, func(t *testing.T, _ Account, id string) {
				admMustPatch(t, r.s, id, `{"status":"Completed"}`)
			}, "Completed"},
			{"admin expires", 1, func(t *testing.T, _ Account, id string) {
				admMustPatch(t, r.s, id, `{"status":"Expired"}`)
			}, "Expired"},
			{"admin cancels a paused one", 0, func(t *testing.T, _ Account, id string) {
				admMustPatch(t, r.s, id, `{"status":"Paused"}`)
				admMustPatch(t, r.s, id, `{"status":"Canceled"}`)
			}, "Canceled"},
			{"cancel ticket completed", 3, func(t *testing.T, a Account, id string) {
				jsonEqual(t, ordDo(t, r.s, a.Key, "cancel", ordForm("orders", id)), fmt.Sprintf(`[{"order":%q,"cancel":1}]`, id))
				admMustDecide(t, r.s, admOpenTicket(t, r.s, "cancel", id), "complete")
			}, "Canceled"},
			{"every post delivered", 5, func(*testing.T, Account, string) {}, "Completed"},
			{"expiry worker", 4, func(t *testing.T, a Account, id string) {
				// Raw SQL: add only takes a date after today.
				ordExec(t, r.db, "UPDATE orders SET expires_at = ? WHERE public_id = ?", subMidnight, id)
				fulWait(t, 30*time.Second, "the worker expires it", func() bool {
					return subStatus(t, r.s, a.Key, id)["status"] == "Expired"
				})
			}, "Expired"},
		}
		for i, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				a := r.s.MustAccount(t, fmt.Sprintf("subpre%d", i), "10.0000")
				id := r.subAdd(t, a.Key, "min", "100", "max", "200", "posts", "4", "old_posts", "1")
				var kids []string
				for range c.delivered {
					kids = append(kids, subPost(t, r.s, id, 150))
				}
				st := subStatus(t, r.s, a.Key, id)
				if c.delivered < 5 {
					jsonEqual(t, ordDo(t, r.s, a.Key, "status", ordForm("order", id)),
						subWant("2.5000", "Active", "", fmt.Sprint(c.delivered), kids...))
				}
				for _, k := range kids {
					jsonEqual(t, ordDo(t, r.s, a.Key, "status", ordForm("order", k)), ordStatusWant("0.0000", "0", "Pending", "150"))
				}
				c.end(t, a, id)
				// What a SmartPanel-family child refunds from our answers:
				// charge × (1 − posts ÷ ordered posts).
				charge := units(t, st["charge"])
				var posts int64
				fmt.Sscan(fmt.Sprint(subStatus(t, r.s, a.Key, id)["posts"]), &posts)
				smart := float64(charge) * (1 - float64(posts)/5)
				want := int64(5-c.delivered) * 5000 // rate × max × undelivered ÷ 1000
				n, refund := refundRows(t, r.db, id)
				if refund != want || (want > 0) != (n == 1) || n > 1 {
					t.Errorf("refund %s in %d rows, want %s once", ordMoney(refund), n, ordMoney(want))
				}
				if d := smart - float64(refund); d > 1 || d < -1 {
					t.Errorf("SmartPanel refund %.0f units, ours %d", smart, refund)
				}
				expiry := ""
				if c.name == "expiry worker" { // the day before the end set above
					expiry = subMidnight.Add(-24 * time.Hour).Format("02/01/2006")
				}
				jsonEqual(t, ordDo(t, r.s, a.Key, "status", ordForm("order", id)),
					subWant(ordMoney(25000-want), c.status, expiry, fmt.Sprint(c.delivered), kids...))
				if got := ordBalance(t, r.s, a); got != 100000-25000+want {
					t.Errorf("balance %s, want %s", ordMoney(got), ordMoney(100000-25000+want))
				}
				// Final: the same move again is a no-op, any other 409, no
				// second refund, no post.
				if p := admPatch(t, r.s, id, fmt.Sprintf(`{"status":%q}`, c.status)); p.Status != http.StatusOK {
					t.Errorf("same status again: %d %s", p.Status, p.Body)
				}
				if p := admPatch(t, r.s, id, `{"status":"Active"}`); p.Status != http.StatusConflict {
					t.Errorf("final → Active: %d %s", p.Status, p.Body)
				}
				mustErr(t, r.s.Admin(t, "POST", "/internal/v1/orders/"+id+"/posts", map[string]any{"link": "https://x.example/p/1", "quantity": 150}),
					http.StatusConflict, "post on an ended subscription")
				if n2, _ := refundRows(t, r.db, id); n2 != n {
					t.Errorf("refund rows %d after repeats, want %d", n2, n)
				}
				mustLedgerMatches(t, r.s, a.ID)
			})
		}
	})
}

// TestSubscriptionUnlimited: pay as you go, pausing when a post cannot be
// paid and resuming once the balance covers one; an admin's pause stays.
func TestSubscriptionUnlimited(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		r := subStart(t, b)
		a := r.s.MustAccount(t, "subunl", "1.0000")
		id := r.subAdd(t, a.Key, "min", "100", "max", "200")
		held := r.subAdd(t, a.Key, "min", "100", "max", "200")
		jsonEqual(t, ordDo(t, r.s, a.Key, "status", ordForm("order", id)), subWant("0.0000", "Active", "", "0"))
		k1 := subPost(t, r.s, id, 200) // 0.5000
		k2 := subPost(t, r.s, id, 120) // 0.3000
		jsonEqual(t, ordDo(t, r.s, a.Key, "status", ordForm("order", k1)), ordStatusWant("0.5000", "0", "Pending", "200"))
		jsonEqual(t, ordDo(t, r.s, a.Key, "status", ordForm("order", id)), subWant("0.8000", "Active", "", "2", k1, k2))
		// 0.2000 left: a post of 100 (0.2500) cannot be paid.
		p := r.s.Admin(t, "POST", "/internal/v1/orders/"+id+"/posts", map[string]any{"link": "https://x.example/p/3", "quantity": 100})
		if p.Status != http.StatusConflict || !jsonSame(p.Body, `{"error":"not enough funds"}`) {
			t.Fatalf("unpaid post: %d %s", p.Status, p.Body)
		}
		jsonEqual(t, ordDo(t, r.s, a.Key, "status", ordForm("order", id)), subWant("0.8000", "Paused", "", "2", k1, k2))
		mustErr(t, r.s.Admin(t, "POST", "/internal/v1/orders/"+id+"/posts", map[string]any{"link": "https://x.example/p/4", "quantity": 100}),
			http.StatusConflict, "post on a paused subscription")
		admMustPatch(t, r.s, held, `{"status":"Paused"}`) // an admin's pause
		// A top-up that covers a post at max (0.5000) lets the worker resume.
		r.s.MustAdmin(t, http.StatusOK, "POST", "/internal/v1/users/"+a.ID+"/balance", map[string]any{"amount": "0.3000", "reason": "top-up"})
		fulWait(t, 30*time.Second, "resumed", func() bool { return subStatus(t, r.s, a.Key, id)["status"] == "Active" })
		if st := subStatus(t, r.s, a.Key, held)["status"]; st != "Paused" {
			t.Errorf("the admin's pause became %v", st)
		}
		k3 := subPost(t, r.s, id, 100)
		jsonEqual(t, ordDo(t, r.s, a.Key, "status", ordForm("order", id)), subWant("1.0500", "Active", "", "3", k1, k2, k3))
		// Ending an unlimited subscription refunds nothing: each post was
		// its own order.
		admMustPatch(t, r.s, id, `{"status":"Canceled"}`)
		if n, _ := refundRows(t, r.db, id); n != 0 {
			t.Errorf("%d refund rows for an unlimited subscription", n)
		}
		if got := ordBalance(t, r.s, a); got != 2500 {
			t.Errorf("balance %s, want 0.2500", ordMoney(got))
		}

		// A zero balance: accepted at 0.0000, paused at its first post.
		z := r.s.MustAccount(t, "subzero", "")
		zid := r.subAdd(t, z.Key, "min", "100", "max", "200")
		jsonEqual(t, ordDo(t, r.s, z.Key, "status", ordForm("order", zid)), subWant("0.0000", "Active", "", "0"))
		mustErr(t, r.s.Admin(t, "POST", "/internal/v1/orders/"+zid+"/posts", map[string]any{"link": "https://x.example/p/z", "quantity": 100}),
			http.StatusConflict, "first post on a zero balance")
		jsonEqual(t, ordDo(t, r.s, z.Key, "status", ordForm("order", zid)), subWant("0.0000", "Paused", "", "0"))
		mustLedgerMatches(t, r.s, z.ID)
	})
}

// TestSubscriptionPostErrors: the admin's post is checked before anything
// is written.
func TestSubscriptionPostErrors(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		r := subStart(t, b)
		a := r.s.MustAccount(t, "subposterr", "10.0000")
		id := r.subAdd(t, a.Key, "min", "100", "max", "200", "posts", "3")
		plain := r.s.MustService(t, nil)
		other := mustAddOrder(t, r.s, a.Key, plain, "https://instagram.com/x", "100")
		before := admSnapshot(t, r.s, r.db, a, id)
		cases := []struct {
			name, id string
			body     any
			want     int
		}{
			{"quantity under min", id, map[string]any{"link": "https://x.example/p", "quantity": 99}, 400},
			{"quantity over max", id, map[string]any{"link": "https://x.example/p", "quantity": 201}, 400},
			{"quantity not a number", id, map[string]any{"link": "https://x.example/p", "quantity": "many"}, 400},
			{"quantity missing", id, map[string]any{"link": "https://x.example/p"}, 400},
			{"link missing", id, map[string]any{"quantity": 150}, 400},
			{"link too long", id, map[string]any{"link": strings.Repeat("x", 1025), "quantity": 150}, 400},
			{"unknown field", id, map[string]any{"link": "https://x.example/p", "quantity": 150, "posts": 1}, 400},
			{"not a subscription", other, map[string]any{"link": "https://x.example/p", "quantity": 150}, 409},
			{"unknown order", "ZZZZZZZZZZ", map[string]any{"link": "https://x.example/p", "quantity": 150}, 404},
		}
		for _, c := range cases {
			mustErr(t, r.s.Admin(t, "POST", "/internal/v1/orders/"+c.id+"/posts", c.body), c.want, c.name)
		}
		admUnchanged(t, r.s, r.db, a, id, before, "refused posts")
		if p := admPatch(t, r.s, id, `{"status":"Partial","remains":"1"}`); p.Status != http.StatusBadRequest {
			t.Errorf("remains on a subscription: %d %s", p.Status, p.Body)
		}
		if p := admPatch(t, r.s, id, `{"status":"In progress"}`); p.Status != http.StatusConflict {
			t.Errorf("Active → In progress: %d %s", p.Status, p.Body)
		}
	})
}

// TestSubscriptionRefillAndEvents: refill is refused on the parent and
// allowed on a delivered child; each post writes the child's
// order.created and the parent's order.updated with the status object.
func TestSubscriptionRefillAndEvents(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		r := subStart(t, b)
		a := r.s.MustAccount(t, "subrefill", "10.0000")
		id := r.subAdd(t, a.Key, "min", "100", "max", "200", "posts", "1")
		kid := subPost(t, r.s, id, 150) // the only post: Completed
		jsonEqual(t, ordDo(t, r.s, a.Key, "refill", ordForm("order", id)), `{"error":"Order is not eligible for refill"}`)
		ordSetStatus(t, r.s, kid, "Completed")
		if rid := mustRefill(t, r.s, a.Key, kid); rid <= 0 {
			t.Errorf("refill of a child: %d", rid)
		}
		evs := evFeed(t, r.s, "/internal/v1/events?user_id="+a.ID)
		var got []string
		for _, e := range evs {
			var d struct {
				Order  string          `json:"order"`
				Status json.RawMessage `json:"status"`
			}
			json.Unmarshal(e.Data, &d)
			got = append(got, e.Type+" "+d.Order+" "+string(d.Status))
		}
		want := []string{
			"order.created " + id + " " + subWant("0.5000", "Active", "", "0"),
			"order.created " + kid + " " + ordStatusWant("0.0000", "0", "Pending", "150"),
			"order.updated " + id + " " + subWant("0.5000", "Completed", "", "1", kid),
			"order.updated " + kid + " " + ordStatusWant("0.0000", "0", "Completed", "150"),
		}
		if len(got) < len(want) {
			t.Fatalf("events %q, want %q first", got, want)
		}
		for i := range want {
			if !strings.HasPrefix(got[i], strings.SplitN(want[i], " {", 2)[0]) ||
				!jsonSame([]byte(strings.SplitN(got[i], " ", 3)[2]), strings.SplitN(want[i], " ", 3)[2]) {
				t.Errorf("event %d = %s, want %s", i, got[i], want[i])
			}
		}
	})
}

// TestSubscriptionStatusShape pins the key order of a subscription's
// status, single and multi, alphanumeric and numeric accounts (children
// as JSON numbers there).
func TestSubscriptionStatusShape(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		r := subStart(t, b)
		for _, numeric := range []bool{false, true} {
			a := r.s.MustAccount(t, fmt.Sprintf("subshape%v", numeric), "10.0000")
			if numeric {
				r.s.MustAdmin(t, http.StatusOK, "PATCH", "/internal/v1/users/"+a.ID, map[string]any{"order_id_format": "numeric"})
			}
			exp := time.Now().UTC().Add(72 * time.Hour).Format("02/01/2006")
			id := r.subAdd(t, a.Key, "min", "100", "max", "200", "posts", "3", "expiry", exp)
			k1, k2 := subPost(t, r.s, id, 100), subPost(t, r.s, id, 200)
			one := ordDo(t, r.s, a.Key, "status", ordForm("order", id))
			if keys := strings.Join(ordKeys(t, one.Body), ","); keys != "charge,status,expiry,posts,orders,currency" {
				t.Errorf("keys %s", keys)
			}
			list := fmt.Sprintf("[%q,%q]", k1, k2)
			if numeric {
				list = fmt.Sprintf("[%s,%s]", k1, k2)
				if !ordIDPattern.MatchString(k1) && len(k1) != 10 {
					t.Errorf("child %s", k1)
				}
			}
			sub := fmt.Sprintf(`{"charge":"1.5000","status":"Active","expiry":%q,"posts":"2","orders":%s,"currency":"CNY"}`, exp, list)
			if string(one.Body) != sub {
				t.Errorf("status = %s, want %s", one.Body, sub)
			}
			multi := ordDo(t, r.s, a.Key, "status", url.Values{"orders": {id + "," + k1 + ",ZZZZZZZZZZ"}})
			want := fmt.Sprintf(`{%q:%s,%q:%s,"ZZZZZZZZZZ":{"error":"Incorrect order ID"}}`, id, sub, k1,
				ordStatusWant("0.0000", "0", "Pending", "100"))
			if string(multi.Body) != want {
				t.Errorf("multi = %s, want %s", multi.Body, want)
			}
		}
	})
}

// TestSubscriptionExpiryTwoInstances: two instances run the worker; a
// subscription past its date expires once (one event, one refund).
func TestSubscriptionExpiryTwoInstances(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		env := MustEnv(t, b)
		s1 := MustStart(t, env, "SMMAPI_LIMITS_KEY_RATE=0", "SMMAPI_LIMITS_IP_RATE=0")
		s2 := s1 // the embedded mode runs one process per database file
		if b.MySQLDSN != "" {
			s2 = MustStart(t, env, "SMMAPI_LIMITS_KEY_RATE=0", "SMMAPI_LIMITS_IP_RATE=0")
		}
		db := env.DB(t)
		svc := s1.MustService(t, map[string]any{"type": "Subscriptions", "rate": subRate, "min": 100, "max": 1000})
		a := s1.MustAccount(t, "subexp", "20.0000")
		var ids []string
		for range 10 {
			ids = append(ids, mustAdd(t, s1, a.Key, ordForm("service", svc, "username", "bob", "min", "100", "max", "200",
				"posts", "3", "expiry", time.Now().UTC().Add(48*time.Hour).Format("02/01/2006"))))
		}
		subPost(t, s2, ids[0], 150)
		// Raw SQL: add only takes a date after today.
		ordExec(t, db, "UPDATE orders SET expires_at = ? WHERE type = 'subscription'", ordNow().Add(-time.Second))
		for _, id := range ids {
			fulWait(t, 30*time.Second, "expired", func() bool { return subStatus(t, s1, a.Key, id)["status"] == "Expired" })
		}
		for i, id := range ids {
			want := int64(15000)
			if i == 0 {
				want = 10000
			}
			if n, sum := refundRows(t, db, id); n != 1 || sum != want {
				t.Errorf("%s: %d refund rows of %s, want one of %s", id, n, ordMoney(sum), ordMoney(want))
			}
			if n := ordCount(t, db, "SELECT COUNT(*) FROM events WHERE order_ref = ? AND data LIKE ?", id, `%"Expired"%`); n != 1 {
				t.Errorf("%s: %d Expired events", id, n)
			}
		}
		mustLedgerMatches(t, s1, a.ID)
	})
}

// TestSubscriptionSupplier: a subscription on a supplier's Subscriptions
// service is forwarded with its parameters and followed over several sync
// rounds (two instances on MySQL): the supplier's posts and children
// become ours, each child once, followed like any forwarded order; the
// supplier's end refunds the posts it did not deliver.
func TestSubscriptionSupplier(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		env := fulEnv(t, b)
		s1 := MustStart(t, env, fulSyncEvery)
		s2 := s1
		if b.MySQLDSN != "" {
			s2 = MustStart(t, env, fulSyncEvery)
		}
		db := env.DB(t)
		fake := newFulFake(t)
		fake.NumericIDs = true
		env.Secret(fake.Key)
		sup := fulSupplier(t, s1, fake.URL, fake.Key)
		svc := s1.MustService(t, map[string]any{"type": "Subscriptions", "rate": subRate, "min": 100, "max": 1000,
			"supplier_id": fulNum(sup), "supplier_service": "101"})
		a := s1.MustAccount(t, "subsup", "10.0000")
		exp := time.Now().UTC().Add(240 * time.Hour).Format("02/01/2006")
		id := mustAdd(t, s1, a.Key, ordForm("service", svc, "username", "https://instagram.com/alice", "min", "100",
			"max", "200", "posts", "3", "old_posts", "1", "delay", "30", "expiry", exp, "link", "https://ignored", "quantity", "7"))
		upID := fmt.Sprint(fulForwarded(t, s1, id)["supplier_order"])
		up, _ := fake.Order(upID)
		want := map[string]string{"action": "add", "service": "101", "username": "https://instagram.com/alice", "min": "100",
			"max": "200", "posts": "3", "old_posts": "1", "delay": "30", "expiry": exp}
		if fmt.Sprint(up.Form) != fmt.Sprint(want) {
			t.Errorf("forwarded %v, want %v", up.Form, want)
		}
		fake.Set(upID, "Active", nil, nil)

		// Round after round the supplier reports more children; both
		// instances sync them.
		var ups []string
		for round, n := range []int{1, 0, 2} {
			for range n {
				ups = append(ups, fake.Deliver(upID))
			}
			srv := []*Server{s1, s2}[round%2]
			fulWait(t, 20*time.Second, fmt.Sprintf("round %d", round), func() bool {
				st := subStatus(t, srv, a.Key, id)
				return st["posts"] == fmt.Sprint(len(ups)) && len(st["orders"].([]any)) == len(ups)
			})
		}
		if n := ordCount(t, db, "SELECT COUNT(*) FROM orders WHERE parent_id = ?", ordRowID(t, db, id)); n != len(ups) {
			t.Errorf("%d children, want %d", n, len(ups))
		}
		kids := subStatus(t, s1, a.Key, id)["orders"].([]any)
		for i, k := range kids {
			got := getOrder(t, s1, fmt.Sprint(k))
			if got["supplier_order"] != ups[i] || got["forward_state"] != "sent" || got["charge"] != "0.0000" {
				t.Errorf("child %d: %v, want supplier order %s, sent, charge 0.0000", i, got, ups[i])
			}
		}
		// A child is followed like any forwarded order.
		fake.Set(ups[0], "Completed", "10", "0")
		fulWaitOrder(t, s1, fmt.Sprint(kids[0]), 20*time.Second, "child completed", func(o map[string]any) bool {
			return o["status"] == "Completed"
		})
		if rid := mustRefill(t, s1, a.Key, fmt.Sprint(kids[0])); rid <= 0 {
			t.Errorf("refill of a supplier's child: %d", rid)
		}
		// The supplier pauses it, then it expires with 1 of its 4 paid
		// posts not delivered: 0.5000 back, once.
		fake.Set(upID, "Paused", nil, nil)
		fulWait(t, 20*time.Second, "paused", func() bool { return subStatus(t, s2, a.Key, id)["status"] == "Paused" })
		charge := units(t, subStatus(t, s1, a.Key, id)["charge"])
		fake.Set(upID, "Expired", nil, nil)
		fulWait(t, 20*time.Second, "expired", func() bool { return subStatus(t, s1, a.Key, id)["status"] == "Expired" })
		n, refund := refundRows(t, db, id)
		if n != 1 || refund != 5000 {
			t.Errorf("%d refund rows of %s, want one of 0.5000", n, ordMoney(refund))
		}
		smart := float64(charge) * (1 - float64(len(ups))/4)
		if d := smart - float64(refund); d > 1 || d < -1 {
			t.Errorf("SmartPanel refund %.0f, ours %d", smart, refund)
		}
		if fake.Adds() != 1 {
			t.Errorf("%d adds at the supplier, want 1", fake.Adds())
		}
		mustLedgerMatches(t, s1, a.ID)
	})
}
