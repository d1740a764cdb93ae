package tests

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// MariaDB goes silent (connections held, nothing answered), as a paused or
// partitioned server does: once that is detected every request answers 503
// at once, /readyz names the database and only it, the log stays JSON and
// does not grow a line per failed request, and service resumes within a
// second of the database answering again, with the ledger intact.
func TestDatabaseSilent(t *testing.T) {
	t.Parallel()
	b := mysqlOnly(t, "SQLite and in-process state cannot fail this way")
	env := MustEnv(t, b)
	p := mustFaultProxy(t, mysqlAddr(t, env.Vars["SMMAPI_DATABASE_DSN"]))
	env.Vars["SMMAPI_DATABASE_DSN"] = viaProxy(t, env.Vars["SMMAPI_DATABASE_DSN"], p.Addr)
	// Limits off: the burst below is about the database, not throttling.
	s := MustStart(t, env, "SMMAPI_LIMITS_KEY_RATE=0", "SMMAPI_LIMITS_IP_RATE=0")
	a := s.MustAccount(t, "alice", "100")
	svc := s.MustService(t, map[string]any{"rate": "1", "min": 1, "max": 1000})
	placed := 0
	add := func(i int) Response {
		r := s.Post(t, "/api/v2", url.Values{"key": {a.Key}, "action": {"add"}, "service": {svc}, "link": {fmt.Sprint("https://x/", i)}, "quantity": {"1000"}})
		if _, ok := ordAddID(r); ok {
			placed++
		}
		return r
	}
	if r := add(0); r.Status != 200 {
		t.Fatalf("add before the fault: %d %s", r.Status, r.Body)
	}

	p.Set(proxySilent)
	silentAt := time.Now()
	detected := time.Duration(-1)
	for time.Since(silentAt) < 10*time.Second {
		r := Do(t, mustGet(t, s.Public+"/readyz"))
		if r.Status == http.StatusServiceUnavailable {
			detected = time.Since(silentAt)
			jsonEqual(t, r, `{"database":"down","redis":"up","error":"unavailable: database"}`)
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if detected < 0 {
		t.Fatal("/readyz never reported the silent database")
	}
	logsBefore := len(strings.Split(s.Logs(), "\n"))

	// Every request now fails fast, also many at once.
	const burst = 200
	var mu sync.Mutex
	var slowest time.Duration
	var wg sync.WaitGroup
	for i := 0; i < burst; i++ {
		action := []string{"add", "balance", "status"}[i%3]
		wg.Go(func() {
			form := url.Values{"key": {a.Key}, "action": {action}, "order": {"abcdefghij"}, "service": {svc}, "link": {fmt.Sprint("https://y/", i)}, "quantity": {"1000"}}
			start := time.Now()
			r := s.Post(t, "/api/v2", form)
			took := time.Since(start)
			if r.Status != http.StatusServiceUnavailable || string(r.Body) != `{"error":"Service temporarily unavailable"}` {
				t.Errorf("%s with the database silent: %d %s", action, r.Status, r.Body)
			}
			mu.Lock()
			slowest = max(slowest, took)
			mu.Unlock()
		})
	}
	wg.Wait()
	if slowest > time.Second {
		t.Errorf("a request took %v to answer 503 once the silent database was known", slowest)
	}
	time.Sleep(300 * time.Millisecond) // the access log is written every 100 ms
	faultLines := strings.Split(s.Logs(), "\n")[logsBefore-1:]
	var failLines int
	for _, l := range faultLines {
		if strings.Contains(l, `"level":"ERROR"`) || strings.Contains(l, `"msg":"request failed`) {
			failLines++
		}
	}
	if failLines > 5 {
		t.Errorf("%d error lines for %d failed requests: the log is not throttled", failLines, burst)
	}

	p.Set(proxyPass)
	back := time.Now()
	resumed := time.Duration(-1)
	for i := 0; time.Since(back) < 10*time.Second; i++ {
		if add(1000+i).Status == 200 {
			resumed = time.Since(back)
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("silence detected after %v; slowest of %d requests %v; %d log lines (%d failure lines) for them; service back %v after the database",
		detected.Round(time.Millisecond), burst, slowest.Round(time.Millisecond), len(faultLines), failLines, resumed.Round(time.Millisecond))
	if resumed < 0 || resumed > 1500*time.Millisecond {
		t.Fatalf("service resumed %v after the database came back", resumed)
	}
	mustLedgerMatches(t, s, a.ID)
	if n := ordCount(t, env.DB(t), "SELECT COUNT(*) FROM orders"); n != placed {
		t.Errorf("%d orders in the database, %d answered with an ID", n, placed)
	}
	mustJSONLog(t, s)
}
