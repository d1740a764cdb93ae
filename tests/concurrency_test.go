package tests

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"
)

// ordBurst sends n requests to /api/v2 at once (every goroutine waits on one
// start signal) and returns the answers by index. It does not fail from the
// goroutines: transport errors are reported afterwards.
func ordBurst(tb testing.TB, s *Server, n int, form func(i int) url.Values) []Response {
	tb.Helper()
	out := make([]Response, n)
	errs := make([]error, n)
	start := make(chan struct{})
	// One connection per request, closed after it: no connection is left
	// idle and never used, which would hold up the server's shutdown.
	c := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			resp, err := c.PostForm(s.Public+"/api/v2", form(i))
			if err != nil {
				errs[i] = err
				return
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			out[i], errs[i] = Response{Status: resp.StatusCode, Header: resp.Header, Body: body}, err
		}()
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			tb.Fatalf("request %d: %v", i, err)
		}
		if out[i].Status != http.StatusOK {
			tb.Errorf("request %d: status %d: %s", i, out[i].Status, out[i].Body)
		}
	}
	return out
}

// ordTally counts answers by kind: "order" and "refill" for successes, the
// error text otherwise, the body itself for anything else.
func ordTally(tb testing.TB, rs []Response) map[string]int {
	tb.Helper()
	got := map[string]int{}
	for _, r := range rs {
		if _, ok := ordAddID(r); ok {
			got["order"]++
			continue
		}
		var m map[string]any
		if json.Unmarshal(r.Body, &m) == nil && len(m) == 1 {
			if _, ok := m["refill"].(float64); ok {
				got["refill"]++
				continue
			}
			if e, ok := m["error"].(string); ok {
				got[e]++
				continue
			}
		}
		var l []map[string]any
		if json.Unmarshal(r.Body, &l) == nil && len(l) == 1 {
			if c, ok := l[0]["cancel"].(float64); ok && c == 1 {
				got["cancel"]++
				continue
			}
			if e, ok := l[0]["cancel"].(map[string]any); ok {
				got[fmt.Sprint(e["error"])]++
				continue
			}
		}
		got[string(r.Body)]++
	}
	return got
}

func ordTallyEqual(tb testing.TB, got, want map[string]int) {
	tb.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		tb.Errorf("answers %v, want %v", got, want)
	}
}

// 50 adds at once against a balance that covers exactly 17: 17 orders, 33
// refusals, a zero balance, never an overdraft.
func TestConcurrencyAddFunds(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		env := MustEnv(t, b)
		s := MustStart(t, env)
		db := env.DB(t)
		a := ordAccount(t, s, db, "alice", "17.0000")
		svc := s.MustService(t, map[string]any{"rate": "1.0000", "min": 1, "max": 10000})
		rs := ordBurst(t, s, 50, func(i int) url.Values {
			return url.Values{"key": {a.Key}, "action": {"add"}, "service": {svc},
				"link": {fmt.Sprintf("https://instagram.com/p/%d", i)}, "quantity": {"1000"}}
		})
		ordTallyEqual(t, ordTally(t, rs), map[string]int{"order": 17, "Not enough funds on balance": 33})
		if got := ordBalance(t, s, a); got != 0 {
			t.Errorf("balance %s, want 0.0000", ordMoney(got))
		}
		if n := ordCount(t, db, "SELECT COUNT(*) FROM orders WHERE user_id = ?", ordUID(t, a)); n != 17 {
			t.Errorf("%d orders, want 17", n)
		}
		jsonEqual(t, ordDo(t, s, a.Key, "balance", nil), `{"balance":"0.0000","currency":"CNY"}`)
	})
}

// 20 adds at once on the same service and link: the guard lets one through.
func TestConcurrencyAddSameLink(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		env := MustEnv(t, b)
		s := MustStart(t, env)
		db := env.DB(t)
		a := ordAccount(t, s, db, "alice", "100")
		svc := s.MustService(t, map[string]any{"rate": "1.0000", "min": 1, "max": 10000})
		rs := ordBurst(t, s, 20, func(int) url.Values {
			return url.Values{"key": {a.Key}, "action": {"add"}, "service": {svc},
				"link": {"https://instagram.com/p/same"}, "quantity": {"1000"}}
		})
		ordTallyEqual(t, ordTally(t, rs), map[string]int{"order": 1,
			"You have active order with this link. Please wait until order being completed.": 19})
		if got := ordBalance(t, s, a); got != 990000 {
			t.Errorf("balance %s, want 99.0000", ordMoney(got))
		}
		if n := ordCount(t, db, "SELECT COUNT(*) FROM orders"); n != 1 {
			t.Errorf("%d orders, want 1", n)
		}
	})
}

// Orders that cost nothing (0.0001 per 1000 × 1 rounds to 0.0000) placed at
// once all succeed: a debit of zero is not a lack of funds.
func TestConcurrencyAddFree(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		env := MustEnv(t, b)
		s := MustStart(t, env)
		db := env.DB(t)
		a := ordAccount(t, s, db, "alice", "1")
		svc := s.MustService(t, map[string]any{"rate": "0.0001", "min": 1, "max": 10000})
		rs := ordBurst(t, s, 30, func(i int) url.Values {
			return url.Values{"key": {a.Key}, "action": {"add"}, "service": {svc},
				"link": {fmt.Sprintf("https://instagram.com/p/%d", i)}, "quantity": {"1"}}
		})
		ordTallyEqual(t, ordTally(t, rs), map[string]int{"order": 30})
		if got := ordBalance(t, s, a); got != 10000 {
			t.Errorf("balance %s, want 1.0000", ordMoney(got))
		}
	})
}

// 20 refills of one order at once: one ticket.
func TestConcurrencyRefill(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		env := MustEnv(t, b)
		s := MustStart(t, env)
		db := env.DB(t)
		a := ordAccount(t, s, db, "alice", "100")
		svc := s.MustService(t, map[string]any{"rate": "1.0000", "refill": true})
		id := mustAdd(t, s, a.Key, ordForm("service", svc, "link", "https://instagram.com/p/1", "quantity", "100"))
		ordSetStatus(t, s, id, "Completed")
		rs := ordBurst(t, s, 20, func(int) url.Values {
			return url.Values{"key": {a.Key}, "action": {"refill"}, "order": {id}}
		})
		ordTallyEqual(t, ordTally(t, rs), map[string]int{"refill": 1, "Refill already requested for this order": 19})
		if n := ordCount(t, db, "SELECT COUNT(*) FROM tickets"); n != 1 {
			t.Errorf("%d tickets, want 1", n)
		}
	})
}

// 20 cancels of one order at once: one ticket.
func TestConcurrencyCancel(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		env := MustEnv(t, b)
		s := MustStart(t, env)
		db := env.DB(t)
		a := ordAccount(t, s, db, "alice", "100")
		svc := s.MustService(t, map[string]any{"rate": "1.0000", "cancel": true})
		id := mustAdd(t, s, a.Key, ordForm("service", svc, "link", "https://instagram.com/p/1", "quantity", "100"))
		rs := ordBurst(t, s, 20, func(int) url.Values {
			return url.Values{"key": {a.Key}, "action": {"cancel"}, "order": {id}}
		})
		ordTallyEqual(t, ordTally(t, rs), map[string]int{"cancel": 1, "Cancel already requested for this order": 19})
		if n := ordCount(t, db, "SELECT COUNT(*) FROM tickets WHERE type = 'cancel'"); n != 1 {
			t.Errorf("%d tickets, want 1", n)
		}
	})
}
