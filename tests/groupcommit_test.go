package tests

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Group commit of add (store/placer.go): orders that arrive while a
// placement is in flight share one transaction; every answer is the one
// sequential placement would give.

// gcBatches reads smmapi_order_batch_size from /metrics: how many group
// commits there were and how many orders they held.
func gcBatches(t *testing.T, s *Server) (commits, orders int64) {
	t.Helper()
	f := opsFamilies(t, opsScrape(t, s))["smmapi_order_batch_size"]
	if f == nil || len(f.GetMetric()) == 0 {
		t.Fatal("/metrics has no smmapi_order_batch_size")
	}
	h := f.GetMetric()[0].GetHistogram()
	return int64(h.GetSampleCount()), int64(h.GetSampleSum())
}

// gcRig is a server with limits off (the bursts are about placement, not
// throttling), its database, and a service at 1.0000 per 1000.
type gcRig struct {
	s   *Server
	db  *sql.DB
	svc string
}

func gcStart(t *testing.T, env *Env) gcRig {
	t.Helper()
	s := MustStart(t, env, "SMMAPI_LIMITS_KEY_RATE=0", "SMMAPI_LIMITS_IP_RATE=0")
	return gcRig{s: s, db: env.DB(t), svc: s.MustService(t, map[string]any{"rate": "1.0000", "min": 1, "max": 10000})}
}

// gcAdd is the form of an add of 1000 (1.0000) on link p/<link>.
func (r gcRig) gcAdd(key, link string) url.Values {
	return url.Values{"key": {key}, "action": {"add"}, "service": {r.svc},
		"link": {"https://instagram.com/p/" + link}, "quantity": {"1000"}}
}

// 200 adds at once on one account whose balance covers exactly 100: exactly
// 100 orders, in fewer commits than orders, balance 0.0000, ledger exact, one
// order.created event per order.
func TestGroupCommitHotAccount(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		r := gcStart(t, MustEnv(t, b))
		s, db := r.s, r.db
		a := ordAccount(t, s, db, "hot", "100")
		rs := ordBurst(t, s, 200, func(i int) url.Values { return r.gcAdd(a.Key, fmt.Sprint("hot", i)) })
		ordTallyEqual(t, ordTally(t, rs), map[string]int{"order": 100, "Not enough funds on balance": 100})
		if got := ordBalance(t, s, a); got != 0 {
			t.Errorf("balance %s, want 0.0000", ordMoney(got))
		}
		ordCheckLedger(t, s, db, a)
		if n := ordCount(t, db, "SELECT COUNT(*) FROM events WHERE user_id = ? AND type = 'order.created'", ordUID(t, a)); n != 100 {
			t.Errorf("%d order.created events, want 100", n)
		}
		commits, orders := gcBatches(t, s)
		t.Logf("%d adds in %d commits", orders, commits)
		if orders != 200 || commits >= orders {
			t.Errorf("%d commits for %d adds: no batch held more than one order", commits, orders)
		}
	})
}

// Duplicate links inside batches: 30 links sent three times each by one
// account and once each by another, all at once. The guard lets exactly one
// order per account and link through; the refused never cost their
// batch-mates anything.
func TestGroupCommitDuplicateLinks(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		r := gcStart(t, MustEnv(t, b))
		s, db := r.s, r.db
		a := ordAccount(t, s, db, "dup", "1000")
		c := ordAccount(t, s, db, "other", "1000")
		rs := ordBurst(t, s, 120, func(i int) url.Values {
			key := a.Key
			if i >= 90 {
				key = c.Key
			}
			return r.gcAdd(key, fmt.Sprint("dup", i%30))
		})
		ordTallyEqual(t, ordTally(t, rs), map[string]int{"order": 60,
			"You have active order with this link. Please wait until order being completed.": 60})
		for _, acct := range []Account{a, c} {
			if got := ordBalance(t, s, acct); got != 9700000 {
				t.Errorf("%s: balance %s, want 970.0000", acct.ID, ordMoney(got))
			}
			ordCheckLedger(t, s, db, acct)
		}
		if n := ordCount(t, db, "SELECT COUNT(*) FROM (SELECT DISTINCT user_id, link FROM orders) t"); n != 60 {
			t.Errorf("%d distinct account-link pairs, want 60", n)
		}
	})
}

// Two instances batching against one MariaDB: 200 adds on one account,
// alternately to each, funds for 100. The row lock orders their batches.
func TestGroupCommitTwoInstances(t *testing.T) {
	b := mysqlOnly(t, "two instances share a database only on MySQL")
	env := MustEnv(t, b)
	r := gcStart(t, env)
	s1, db := r.s, r.db
	s2 := MustStart(t, env, "SMMAPI_LIMITS_KEY_RATE=0", "SMMAPI_LIMITS_IP_RATE=0", "SMMAPI_WORKERS_ENABLED=false")
	a := ordAccount(t, s1, db, "shared", "100")
	out := make([]Response, 200)
	var wg sync.WaitGroup
	for half, s := range []*Server{s1, s2} {
		wg.Go(func() {
			rs := ordBurst(t, s, 100, func(i int) url.Values { return r.gcAdd(a.Key, fmt.Sprintf("two%d-%d", half, i)) })
			copy(out[half*100:], rs)
		})
	}
	wg.Wait()
	ordTallyEqual(t, ordTally(t, out), map[string]int{"order": 100, "Not enough funds on balance": 100})
	if got := ordBalance(t, s2, a); got != 0 {
		t.Errorf("balance %s, want 0.0000", ordMoney(got))
	}
	ordCheckLedger(t, s1, db, a)
	for _, s := range []*Server{s1, s2} {
		commits, orders := gcBatches(t, s)
		t.Logf("instance: %d adds in %d commits", orders, commits)
	}
}

// The database connection is cut (reset) several times while adds pour in:
// every answer is either an order that exists, was charged once and has
// its event, or an error with nothing written: never a charge without an
// order, never an order answered as failed.
func TestGroupCommitConnectionKilled(t *testing.T) {
	b := mysqlOnly(t, "a connection to the embedded file cannot be cut")
	env := MustEnv(t, b)
	p := mustFaultProxy(t, mysqlAddr(t, env.Vars["SMMAPI_DATABASE_DSN"]))
	env.Vars["SMMAPI_DATABASE_DSN"] = viaProxy(t, env.Vars["SMMAPI_DATABASE_DSN"], p.Addr)
	rig := gcStart(t, env)
	s, db := rig.s, rig.db
	a := ordAccount(t, s, db, "cut", "100000")

	var mu sync.Mutex
	placed := map[string]bool{}
	errs := map[string]int{}
	var seq atomic.Int64
	stop := make(chan struct{})
	c := &http.Client{Timeout: 60 * time.Second}
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				i := seq.Add(1)
				resp, err := c.PostForm(s.Public+"/api/v2", rig.gcAdd(a.Key, fmt.Sprint("cut", i)))
				if err != nil {
					t.Errorf("add %d: %v", i, err)
					return
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				r := Response{Status: resp.StatusCode, Body: body}
				mu.Lock()
				if id, ok := ordAddID(r); ok {
					placed[id] = true
				} else {
					errs[fmt.Sprintf("%d %s", r.Status, r.Body)]++
				}
				mu.Unlock()
			}
		})
	}
	for range 4 {
		time.Sleep(300 * time.Millisecond)
		p.Set(proxyRefuse)
		time.Sleep(100 * time.Millisecond)
		p.Set(proxyPass)
	}
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()
	t.Logf("%d orders placed, errors %v", len(placed), errs)
	for e := range errs {
		if e != `503 {"error":"Service temporarily unavailable"}` {
			t.Errorf("error answer %s, want 503 Service temporarily unavailable", e)
		}
	}
	if len(placed) == 0 {
		t.Fatal("no order was placed")
	}
	// Every order in the database was answered as placed, and the reverse.
	inDB := ordPublicIDs(t, db, "SELECT public_id FROM orders WHERE user_id = ?", ordUID(t, a))
	for id := range inDB {
		if !placed[id] {
			t.Errorf("order %s exists but its request was answered with an error", id)
		}
	}
	for id := range placed {
		if !inDB[id] {
			t.Errorf("order %s was answered but does not exist", id)
		}
	}
	ordCheckLedger(t, s, db, a)
	if n := ordCount(t, db, "SELECT COUNT(*) FROM events WHERE user_id = ? AND type = 'order.created'", ordUID(t, a)); n != len(inDB) {
		t.Errorf("%d order.created events for %d orders", n, len(inDB))
	}
}

// Clients that give up while their add waits for its batch: each order is
// then in the database once or not at all, and asking again tells which
// (the order, or the active-order refusal when it was placed meanwhile).
func TestGroupCommitClientLeaves(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		r := gcStart(t, MustEnv(t, b))
		s, db := r.s, r.db
		a := ordAccount(t, s, db, "leaver", "10000")
		const n = 150
		form := func(i int) url.Values { return r.gcAdd(a.Key, fmt.Sprint("leave", i)) }
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				// Deadlines from 1 to 15 ms: some leave before their batch
				// is taken, some during its commit, some get their answer.
				ctx, cancel := context.WithTimeout(context.Background(), time.Duration(1+i%15)*time.Millisecond)
				defer cancel()
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.Public+"/api/v2", strings.NewReader(form(i).Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				if resp, err := http.DefaultClient.Do(req); err == nil {
					resp.Body.Close()
				}
			})
		}
		wg.Wait()
		time.Sleep(500 * time.Millisecond) // batches the server still held have committed
		before := ordCount(t, db, "SELECT COUNT(*) FROM orders WHERE user_id = ?", ordUID(t, a))
		again := map[string]int{}
		for i := range n {
			r := ordDo(t, s, a.Key, "add", form(i))
			if _, ok := ordAddID(r); ok {
				again["order"]++
			} else {
				again[string(r.Body)]++
			}
		}
		t.Logf("%d orders placed by clients that left; asking again: %v", before, again)
		if again["order"] != n-before {
			t.Errorf("asking again placed %d orders, want %d (%d of %d were placed before)", again["order"], n-before, before, n)
		}
		if n := ordCount(t, db, "SELECT COUNT(*) FROM orders WHERE user_id = ?", ordUID(t, a)); n != 150 {
			t.Errorf("%d orders, want one per link (150)", n)
		}
		ordCheckLedger(t, s, db, a)
	})
}
