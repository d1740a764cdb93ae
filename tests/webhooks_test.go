package tests

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestWebhookEndpoints: the endpoint's admin API, bad input named by field.
func TestWebhookEndpoints(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		env := fulEnv(t, b)
		s := MustStart(t, env) // no webhooks.allow_private: literal private addresses are refused
		acc := s.MustAccount(t, "hooked", "100")
		path := "/internal/v1/users/" + acc.ID + "/webhook"

		for _, c := range []struct {
			name string
			body any
			word string // the 400 names it
		}{
			{"not http", map[string]any{"url": "ftp://child.example/hook"}, "url"},
			{"no host", map[string]any{"url": "https:///hook"}, "url"},
			{"relative", map[string]any{"url": "/hooks/smm"}, "url"},
			{"user-info", map[string]any{"url": "https://user:pw@child.example/hook"}, "url"},
			{"too long", map[string]any{"url": "https://child.example/" + strings.Repeat("a", 2048)}, "url"},
			{"loopback", map[string]any{"url": "http://127.0.0.1:8080/hook"}, "url"},
			{"loopback v6", map[string]any{"url": "http://[::1]/hook"}, "url"},
			{"private", map[string]any{"url": "https://10.1.2.3/hook"}, "url"},
			{"private 192.168", map[string]any{"url": "https://192.168.0.10/hook"}, "url"},
			{"link-local", map[string]any{"url": "http://169.254.169.254/latest/meta-data"}, "url"},
			{"multicast", map[string]any{"url": "http://224.0.0.1/hook"}, "url"},
			{"unspecified", map[string]any{"url": "http://0.0.0.0/hook"}, "url"},
			{"mapped v6", map[string]any{"url": "http://[::ffff:127.0.0.1]/hook"}, "url"},
			{"no url at creation", map[string]any{"enabled": true}, "url"},
			{"unknown event", map[string]any{"url": "https://child.example/hook", "events": []string{"order.deleted"}}, "events"},
			{"events not a list", `{"url":"https://child.example/hook","events":"order.updated"}`, "events"},
			{"unknown field", `{"url":"https://child.example/hook","secret":"x"}`, "secret"},
		} {
			r := s.Admin(t, "PUT", path, c.body)
			mustErr(t, r, http.StatusBadRequest, c.name)
			if msg := fmt.Sprint(r.Obj(t)["error"]); !strings.Contains(msg, c.word) {
				t.Errorf("%s: error %q does not name %s", c.name, msg, c.word)
			}
		}
		mustErr(t, s.Admin(t, "GET", path, nil), http.StatusNotFound, "no endpoint yet")
		mustErr(t, s.Admin(t, "PUT", "/internal/v1/users/999999/webhook", map[string]any{"url": "https://x.example/"}),
			http.StatusNotFound, "unknown user")

		created := s.MustAdmin(t, http.StatusCreated, "PUT", path,
			map[string]any{"url": "https://child.example/hooks/smm", "events": []string{"order.updated", "refill.updated"}})
		secret := fmt.Sprint(created["secret"])
		env.Secret(secret)
		if !regexp.MustCompile(`^whsec_[0-9a-f]{64}$`).MatchString(secret) {
			t.Fatalf("secret %q", secret)
		}
		hint := fmt.Sprint(created["secret_hint"])
		if hint != "whsec_"+secret[6:10]+"…"+secret[len(secret)-4:] {
			t.Errorf("secret_hint %q for %s…", hint, secret[:10])
		}
		got := s.MustAdmin(t, http.StatusOK, "GET", path, nil)
		if _, ok := got["secret"]; ok {
			t.Errorf("GET shows the secret: %v", got)
		}
		if got["url"] != "https://child.example/hooks/smm" || got["enabled"] != true || got["disabled_reason"] != nil ||
			fmt.Sprint(got["events"]) != "[order.updated refill.updated]" {
			t.Errorf("GET: %v", got)
		}
		// A later PUT changes what it names and shows no secret.
		changed := s.MustAdmin(t, http.StatusOK, "PUT", path, map[string]any{"enabled": false, "events": []string{}})
		if _, ok := changed["secret"]; ok || changed["enabled"] != false || fmt.Sprint(changed["events"]) != "[]" ||
			changed["url"] != "https://child.example/hooks/smm" || changed["secret_hint"] != hint {
			t.Errorf("PUT again: %v", changed)
		}
		rot := s.MustAdmin(t, http.StatusOK, "POST", path+"/rotate-secret", nil)
		env.Secret(fmt.Sprint(rot["secret"]))
		until, err := time.Parse(time.RFC3339, fmt.Sprint(rot["previous_valid_until"]))
		if err != nil || !strings.HasSuffix(fmt.Sprint(rot["previous_valid_until"]), "Z") {
			t.Errorf("previous_valid_until %v", rot["previous_valid_until"])
		}
		if d := time.Until(until); d < 23*time.Hour+50*time.Minute || d > 24*time.Hour+time.Minute {
			t.Errorf("previous_valid_until %v is not now + 24h", until)
		}
		if rot["secret"] == secret || s.MustAdmin(t, http.StatusOK, "GET", path, nil)["secret_hint"] == hint {
			t.Errorf("rotation kept the secret")
		}
		mustErr(t, s.Admin(t, "GET", path+"/deliveries?status=lost", nil), http.StatusBadRequest, "unknown status")
		mustErr(t, s.Admin(t, "POST", "/internal/v1/webhook-deliveries/424242/redeliver", nil), http.StatusNotFound, "unknown delivery")
		if r := s.Admin(t, "DELETE", path, nil); r.Status != http.StatusNoContent {
			t.Fatalf("DELETE: %d %s", r.Status, r.Body)
		}
		mustErr(t, s.Admin(t, "GET", path, nil), http.StatusNotFound, "deleted")
		mustErr(t, s.Admin(t, "DELETE", path, nil), http.StatusNotFound, "deleted twice")
		// Registered again: a new secret, 201.
		again := s.MustAdmin(t, http.StatusCreated, "PUT", path, map[string]any{"url": "https://child.example/hooks/smm"})
		env.Secret(fmt.Sprint(again["secret"]))
	})
}

// hookOrders places n orders for acc and moves each through In progress
// to a final status: three order events each (created, two updated).
func hookOrders(t *testing.T, s *Server, acc Account, svc string, n int) []string {
	t.Helper()
	var ids []string
	for i := range n {
		ids = append(ids, mustAddOrder(t, s, acc.Key, svc, fmt.Sprintf("https://instagram.com/p/%s-%d", acc.ID, i), "100"))
	}
	for i, id := range ids {
		admMustPatch(t, s, id, `{"status":"In progress","start_count":"10"}`)
		if i%2 == 0 {
			admMustPatch(t, s, id, `{"status":"Completed","remains":"0"}`)
		} else {
			admMustPatch(t, s, id, admPartial(`"40"`))
		}
	}
	return ids
}

// hookWaitAll waits until the receiver has every event of the account's
// feed answered, and returns the feed.
func hookWaitAll(t *testing.T, s *Server, r *hookReceiver, userID string, within time.Duration) []event {
	t.Helper()
	feed := evFeed(t, s, "/internal/v1/events?user_id="+userID)
	fulWait(t, within, fmt.Sprintf("%d events delivered", len(feed)), func() bool { return r.distinct() >= len(feed) })
	return feed
}

// TestWebhookDelivery: every event of the account arrives once, signed,
// with the contract's headers and body, in order per order; the log shows
// each succeeded.
func TestWebhookDelivery(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		env, s := hookStart(t, b)
		r := newHookReceiver(t, nil)
		acc := s.MustAccount(t, "child", "1000")
		other := s.MustAccount(t, "quiet", "1000") // no endpoint: nothing of it is sent
		r.trust(mustHook(t, s, env, acc, r.URL+"/hooks/smm"))
		svc := s.MustService(t, nil)
		hookOrders(t, s, acc, svc, 6)
		hookOrders(t, s, other, svc, 1)
		feed := hookWaitAll(t, s, r, acc.ID, 20*time.Second)
		if len(feed) != 18 {
			t.Fatalf("feed has %d events, want 18", len(feed))
		}
		time.Sleep(300 * time.Millisecond) // a duplicate or a stray event would arrive meanwhile
		got, dups, ooo, bad := r.snapshot()
		if dups != 0 || len(ooo) > 0 || len(bad) > 0 || len(got) != len(feed) {
			t.Fatalf("%d requests for %d events, %d duplicates, out of order %v, bad signatures %v", len(got), len(feed), dups, ooo, bad)
		}
		byID := map[uint64]hookDelivery{}
		for _, d := range got {
			byID[d.EventID] = d
		}
		for _, e := range feed {
			d, ok := byID[e.ID]
			if !ok {
				t.Fatalf("event %d not delivered", e.ID)
			}
			want, _ := json.Marshal(map[string]any{"id": e.ID, "type": e.Type, "created_at": e.CreatedAt, "data": e.Data})
			var compact bytes.Buffer
			json.Compact(&compact, d.Body)
			if !jsonSame(d.Body, string(want)) || !bytes.Equal(compact.Bytes(), d.Body) {
				t.Errorf("event %d body %s, want %s (compact)", e.ID, d.Body, want)
			}
			if keys := ordKeys(t, d.Body); strings.Join(keys, ",") != "id,type,created_at,data" {
				t.Errorf("event %d body keys %v", e.ID, keys)
			}
			for h, v := range map[string]string{"Content-Type": "application/json", "User-Agent": "smmapi-webhooks/1",
				"Smmapi-Event-Id": fmt.Sprint(e.ID)} {
				if d.Header.Get(h) != v {
					t.Errorf("event %d %s %q, want %q", e.ID, h, d.Header.Get(h), v)
				}
			}
		}
		fulWait(t, 5*time.Second, "every delivery logged succeeded", func() bool {
			return len(hookDeliveries(t, s, acc.ID, "succeeded")) == len(feed)
		})
		log := hookDeliveries(t, s, acc.ID, "")
		first := log[0]
		if hookNum(first["attempts"]) != 1 || hookNum(first["last_status_code"]) != 200 || first["delivered_at"] == nil ||
			first["next_attempt_at"] != nil || first["last_error"] != nil || hookNum(first["event_id"]) != int64(feed[len(feed)-1].ID) {
			t.Errorf("newest delivery %v (feed's last event %d)", first, feed[len(feed)-1].ID)
		}
		if n := len(hookDeliveries(t, s, other.ID, "")); n != 0 {
			t.Errorf("account without endpoint has %d deliveries", n)
		}
	})
}

// TestWebhookEventFilter: an endpoint gets the event types it lists only.
func TestWebhookEventFilter(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		env, s := hookStart(t, b)
		r := newHookReceiver(t, nil)
		acc := s.MustAccount(t, "picky", "1000")
		r.trust(mustHook(t, s, env, acc, r.URL, "order.updated"))
		hookOrders(t, s, acc, s.MustService(t, nil), 2)
		fulWait(t, 20*time.Second, "4 updates delivered", func() bool { return r.distinct() >= 4 })
		time.Sleep(300 * time.Millisecond)
		got, _, _, _ := r.snapshot()
		for _, d := range got {
			if d.Type != "order.updated" {
				t.Errorf("got a %s event", d.Type)
			}
		}
		if len(got) != 4 {
			t.Errorf("%d deliveries, want 4", len(got))
		}
	})
}

// TestWebhookRetry: a receiver failing twice per event sees back-off, then
// success; the next event of an order waits for the older one.
func TestWebhookRetry(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		env, s := hookStart(t, b)
		r := newHookReceiver(t, func(w http.ResponseWriter, seen int) {
			if seen < 2 {
				http.Error(w, "try later", http.StatusServiceUnavailable)
			}
		})
		acc := s.MustAccount(t, "flaky", "1000")
		r.trust(mustHook(t, s, env, acc, r.URL))
		hookOrders(t, s, acc, s.MustService(t, nil), 2)
		feed := evFeed(t, s, "/internal/v1/events?user_id="+acc.ID)
		fulWait(t, 30*time.Second, "every event succeeded", func() bool {
			return len(hookDeliveries(t, s, acc.ID, "succeeded")) == len(feed)
		})
		got, _, ooo, bad := r.snapshot()
		if len(ooo) > 0 || len(bad) > 0 || len(got) != 3*len(feed) {
			t.Fatalf("%d requests for %d events (want 3 each), out of order %v, bad %v", len(got), len(feed), ooo, bad)
		}
		// Back-off: 100ms then 200ms, each drawn between half and all.
		times := map[uint64][]time.Time{}
		for _, d := range got {
			times[d.EventID] = append(times[d.EventID], d.At)
		}
		for id, ts := range times {
			if g1, g2 := ts[1].Sub(ts[0]), ts[2].Sub(ts[1]); g1 < 50*time.Millisecond || g2 < 100*time.Millisecond {
				t.Errorf("event %d retried after %v then %v, want ≥ 50ms then ≥ 100ms", id, g1, g2)
			}
		}
		for _, d := range hookDeliveries(t, s, acc.ID, "") {
			if hookNum(d["attempts"]) != 3 || d["status"] != "succeeded" {
				t.Errorf("delivery %v", d)
			}
		}
		// The metrics say the same; the backlog gauge is read every 5 s.
		n := float64(len(feed))
		fulWait(t, 10*time.Second, "backlog gauge at 0", func() bool {
			return opsValues(t, opsScrape(t, s))["smmapi_webhook_pending_deliveries"] == 0
		})
		body := opsScrape(t, s)
		vals := opsValues(t, body)
		for series, want := range map[string]float64{
			`smmapi_webhook_deliveries_total{outcome="succeeded"}`: n,
			`smmapi_webhook_deliveries_total{outcome="failed"}`:    2 * n,
			`smmapi_webhook_deliveries_total{outcome="dead"}`:      0,
			`smmapi_webhook_oldest_pending_seconds`:                0,
		} {
			if vals[series] != want {
				t.Errorf("%s = %v, want %v", series, vals[series], want)
			}
		}
		h := opsFamilies(t, body)["smmapi_webhook_delivery_latency_seconds"].GetMetric()[0].GetHistogram()
		if float64(h.GetSampleCount()) != n || h.GetSampleSum() <= 0 {
			t.Errorf("latency histogram: %d samples, sum %v; want %v samples", h.GetSampleCount(), h.GetSampleSum(), n)
		}
	})
}

// TestWebhookDead: a receiver that always fails: past max_age the delivery
// is dead; at max_failures the endpoint is disabled, and a PUT with
// enabled true turns it on again.
func TestWebhookDead(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		t.Run("dead past max_age", func(t *testing.T) {
			env, s := hookStart(t, b, "SMMAPI_WEBHOOKS_MAX_AGE=1s")
			r := newHookReceiver(t, func(w http.ResponseWriter, _ int) { http.Error(w, "broken", http.StatusInternalServerError) })
			acc := s.MustAccount(t, "dead", "1000")
			r.trust(mustHook(t, s, env, acc, r.URL))
			mustAddOrder(t, s, acc.Key, s.MustService(t, nil), "https://instagram.com/dead", "100")
			fulWait(t, 15*time.Second, "delivery dead", func() bool { return len(hookDeliveries(t, s, acc.ID, "dead")) == 1 })
			d := hookDeliveries(t, s, acc.ID, "dead")[0]
			if hookNum(d["last_status_code"]) != 500 || d["last_error"] != "HTTP 500" || d["last_response"] != "broken\n" ||
				hookNum(d["attempts"]) < 2 || d["next_attempt_at"] != nil {
				t.Errorf("dead delivery %v", d)
			}
			if ep := s.MustAdmin(t, http.StatusOK, "GET", "/internal/v1/users/"+acc.ID+"/webhook", nil); ep["enabled"] != true {
				t.Errorf("endpoint disabled under max_failures: %v", ep)
			}
		})
		t.Run("disabled at max_failures", func(t *testing.T) {
			env, s := hookStart(t, b, "SMMAPI_WEBHOOKS_MAX_FAILURES=3")
			var fail atomic.Bool
			fail.Store(true)
			r := newHookReceiver(t, func(w http.ResponseWriter, _ int) {
				if fail.Load() {
					w.WriteHeader(http.StatusBadGateway)
				}
			})
			acc := s.MustAccount(t, "down", "1000")
			r.trust(mustHook(t, s, env, acc, r.URL))
			svc := s.MustService(t, nil)
			ids := hookOrders(t, s, acc, svc, 2)
			path := "/internal/v1/users/" + acc.ID + "/webhook"
			fulWait(t, 15*time.Second, "endpoint disabled", func() bool {
				return s.MustAdmin(t, http.StatusOK, "GET", path, nil)["enabled"] == false
			})
			ep := s.MustAdmin(t, http.StatusOK, "GET", path, nil)
			if reason := fmt.Sprint(ep["disabled_reason"]); !strings.Contains(reason, "3 consecutive failed") || !strings.Contains(reason, "HTTP 502") {
				t.Errorf("disabled_reason %q", reason)
			}
			// Two orders' first events are tried side by side: the attempt
			// beside the third may have been under way.
			atDisable, _, _, _ := r.snapshot()
			time.Sleep(500 * time.Millisecond)
			got, _, _, _ := r.snapshot()
			if len(atDisable) < 3 || len(atDisable) > 4 || len(got) != len(atDisable) {
				t.Errorf("%d attempts when disabled (want 3, or 4 with one in flight), %d after", len(atDisable), len(got))
			}
			fail.Store(false)
			on := s.MustAdmin(t, http.StatusOK, "PUT", path, map[string]any{"enabled": true})
			if on["enabled"] != true || on["disabled_reason"] != nil {
				t.Errorf("re-enabled: %v", on)
			}
			hookWaitAll(t, s, r, acc.ID, 20*time.Second)
			_, _, ooo, bad := r.snapshot()
			if len(ooo) > 0 || len(bad) > 0 {
				t.Errorf("out of order %v, bad %v (orders %v)", ooo, bad, ids)
			}
		})
	})
}

// TestWebhookRotation: during the overlap every delivery carries a
// signature by each secret.
func TestWebhookRotation(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		env, s := hookStart(t, b)
		r := newHookReceiver(t, nil)
		acc := s.MustAccount(t, "rotor", "1000")
		old := mustHook(t, s, env, acc, r.URL)
		r.trust(old)
		svc := s.MustService(t, nil)
		mustAddOrder(t, s, acc.Key, svc, "https://instagram.com/before", "100")
		fulWait(t, 15*time.Second, "first event", func() bool { return r.distinct() == 1 })
		rot := s.MustAdmin(t, http.StatusOK, "POST", "/internal/v1/users/"+acc.ID+"/webhook/rotate-secret", nil)
		r.trust(fmt.Sprint(rot["secret"]))
		env.Secret(fmt.Sprint(rot["secret"]))
		mustAddOrder(t, s, acc.Key, svc, "https://instagram.com/after", "100")
		fulWait(t, 15*time.Second, "second event", func() bool { return r.distinct() == 2 })
		got, _, _, bad := r.snapshot()
		if len(bad) > 0 {
			t.Fatalf("bad signatures %v", bad)
		}
		if fmt.Sprint(got[0].Signers) != "[0]" || fmt.Sprint(got[1].Signers) != "[1 0]" {
			t.Errorf("signed by secrets %v then %v, want [0] then [1 0] (new, then old)", got[0].Signers, got[1].Signers)
		}
	})
}

// TestWebhookRedeliver: a succeeded delivery is sent again on request, with
// the same event ID (the receiver's duplicate).
func TestWebhookRedeliver(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		env, s := hookStart(t, b)
		r := newHookReceiver(t, nil)
		acc := s.MustAccount(t, "again", "1000")
		r.trust(mustHook(t, s, env, acc, r.URL))
		mustAddOrder(t, s, acc.Key, s.MustService(t, nil), "https://instagram.com/again", "100")
		fulWait(t, 15*time.Second, "delivered", func() bool { return len(hookDeliveries(t, s, acc.ID, "succeeded")) == 1 })
		d := hookDeliveries(t, s, acc.ID, "")[0]
		out := s.MustAdmin(t, http.StatusAccepted, "POST", fmt.Sprintf("/internal/v1/webhook-deliveries/%v/redeliver", d["id"]), nil)
		if out["status"] != "pending" || out["next_attempt_at"] == nil {
			t.Errorf("redeliver answered %v", out)
		}
		fulWait(t, 15*time.Second, "sent again", func() bool { _, dups, _, _ := r.snapshot(); return dups == 1 })
		got, _, _, _ := r.snapshot()
		if got[0].EventID != got[1].EventID || !jsonSame(got[0].Body, string(got[1].Body)) {
			t.Errorf("redelivery differs: %s then %s", got[0].Body, got[1].Body)
		}
		fulWait(t, 5*time.Second, "succeeded again", func() bool {
			l := hookDeliveries(t, s, acc.ID, "succeeded")
			return len(l) == 1 && hookNum(l[0]["attempts"]) == 2
		})
	})
}

// TestWebhookTwoInstances: two instances on one database deliver each
// event once, in order per order.
func TestWebhookTwoInstances(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		if b.MySQLDSN == "" {
			t.Skip("one process per SQLite file")
		}
		env, s1 := hookStart(t, b)
		s2 := MustStart(t, env, "SMMAPI_LIMITS_KEY_RATE=0", "SMMAPI_LIMITS_IP_RATE=0")
		r := newHookReceiver(t, nil)
		svc := s1.MustService(t, nil)
		var accs []Account
		for i := range 4 {
			acc := s1.MustAccount(t, fmt.Sprintf("twin%d", i), "1000")
			r.trust(mustHook(t, s1, env, acc, r.URL))
			accs = append(accs, acc)
		}
		for i, acc := range accs {
			s := []*Server{s1, s2}[i%2]
			hookOrders(t, s, acc, svc, 5)
		}
		total := 0
		for _, acc := range accs {
			total += len(evFeed(t, s1, "/internal/v1/events?user_id="+acc.ID))
		}
		fulWait(t, 30*time.Second, fmt.Sprintf("%d events delivered", total), func() bool { return r.distinct() >= total })
		time.Sleep(500 * time.Millisecond)
		got, dups, ooo, bad := r.snapshot()
		if dups != 0 || len(ooo) > 0 || len(bad) > 0 || len(got) != total {
			t.Fatalf("%d requests for %d events: %d duplicates, out of order %v, bad %v", len(got), total, dups, ooo, bad)
		}
	})
}

// TestWebhookFaultyReceivers: each misbehaviour is a failed attempt with a
// clear last_error, retried; forbidden addresses are refused at send time
// whether literal or behind a name.
func TestWebhookFaultyReceivers(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		// Loopback allowed except 127.0.0.2–3, whose names must be refused.
		env, s := hookStart(t, b, "SMMAPI_WEBHOOKS_TIMEOUT=1s", "SMMAPI_WEBHOOKS_MAX_AGE=1h")
		svc := s.MustService(t, nil)
		receivers := []struct {
			name   string
			answer func(w http.ResponseWriter, seen int)
			url    func(base string) string
			want   string // in last_error
		}{
			{"redirect", func(w http.ResponseWriter, _ int) {
				w.Header().Set("Location", "http://127.0.0.1:1/")
				w.WriteHeader(http.StatusFound)
			}, nil, "HTTP 302: redirects are not followed"},
			{"4xx", func(w http.ResponseWriter, _ int) { w.WriteHeader(http.StatusNotFound) }, nil, "HTTP 404"},
			{"hangs after headers", func(w http.ResponseWriter, _ int) {
				w.WriteHeader(http.StatusOK)
				w.(http.Flusher).Flush()
				time.Sleep(2 * time.Second) // past webhooks.timeout (1s)
			}, nil, "timed out"},
			{"streams forever", func(w http.ResponseWriter, _ int) {
				w.WriteHeader(http.StatusOK)
				chunk := []byte(strings.Repeat("x", 4096))
				for range 10000 {
					if _, err := w.Write(chunk); err != nil {
						return
					}
				}
			}, nil, "longer than 64 KiB"},
			{"closes mid-body", func(w http.ResponseWriter, _ int) {
				w.Header().Set("Content-Length", "1000")
				w.WriteHeader(http.StatusOK)
				w.Write([]byte("half"))
				w.(http.Flusher).Flush()
				conn, _, _ := w.(http.Hijacker).Hijack()
				conn.Close()
			}, nil, "unexpected EOF"},
			{"connection refused", nil, func(string) string { return "http://127.0.0.1:1/hook" }, "refused"},
		}
		type pending struct {
			name, user, want string
		}
		var all []pending
		for i, c := range receivers {
			acc := s.MustAccount(t, fmt.Sprintf("faulty%d", i), "1000")
			u := ""
			if c.url != nil {
				u = c.url("")
			} else {
				r := newHookReceiver(t, c.answer)
				u = r.URL + "/hook"
			}
			mustHook(t, s, env, acc, u)
			mustAddOrder(t, s, acc.Key, svc, fmt.Sprintf("https://instagram.com/faulty%d", i), "100")
			all = append(all, pending{c.name, acc.ID, c.want})
		}
		for _, p := range all {
			fulWait(t, 20*time.Second, p.name+": failed attempt logged", func() bool {
				l := hookDeliveries(t, s, p.user, "failed")
				return len(l) == 1 && hookNum(l[0]["attempts"]) >= 1
			})
			d := hookDeliveries(t, s, p.user, "failed")[0]
			if msg := fmt.Sprint(d["last_error"]); !strings.Contains(msg, p.want) {
				t.Errorf("%s: last_error %q, want it to say %q", p.name, msg, p.want)
			}
		}
		// Still retried: the worker is not stuck on any of them.
		for _, p := range all {
			fulWait(t, 20*time.Second, p.name+": retried", func() bool {
				l := hookDeliveries(t, s, p.user, "failed")
				return len(l) == 1 && hookNum(l[0]["attempts"]) >= 2
			})
		}
	})
}

// TestWebhookForbiddenAddresses: without webhooks.allow_private, a name
// that resolves to loopback (localhost) is accepted at registration (names
// are checked at send time) and refused when sent.
func TestWebhookForbiddenAddresses(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		env := fulEnv(t, b)
		env.Vars["SMMAPI_WEBHOOKS_BACKOFF"] = "100ms"
		env.Vars["SMMAPI_WEBHOOKS_MAX_BACKOFF"] = "200ms"
		s := MustStart(t, env)
		r := newHookReceiver(t, nil)
		_, port, _ := net.SplitHostPort(r.Listener.Addr().String())
		acc := s.MustAccount(t, "sneaky", "1000")
		mustHook(t, s, env, acc, "http://localhost:"+port+"/hook")
		mustAddOrder(t, s, acc.Key, s.MustService(t, nil), "https://instagram.com/sneaky", "100")
		fulWait(t, 15*time.Second, "refused at send time", func() bool {
			l := hookDeliveries(t, s, acc.ID, "failed")
			return len(l) == 1 && hookNum(l[0]["attempts"]) >= 2
		})
		d := hookDeliveries(t, s, acc.ID, "failed")[0]
		if msg := fmt.Sprint(d["last_error"]); !strings.Contains(msg, "localhost resolves to") || !strings.Contains(msg, "loopback") {
			t.Errorf("last_error %q", msg)
		}
		if d["last_status_code"] != nil {
			t.Errorf("a status code with no request sent: %v", d)
		}
		if got, _, _, _ := r.snapshot(); len(got) != 0 {
			t.Errorf("the loopback receiver got %d requests", len(got))
		}
	})
}
