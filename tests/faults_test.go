package tests

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// mustRedisServer starts a private redis-server on port; stop kills it.
func mustRedisServer(t *testing.T, port int) (stop func()) {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("redis-server not installed")
		}
		t.Skip("redis-server not installed")
	}
	cmd := exec.Command(bin, "--port", fmt.Sprint(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(&redis.Options{Addr: fmt.Sprint("127.0.0.1:", port)})
	defer rdb.Close()
	for i := 0; rdb.Ping(context.Background()).Err() != nil; i++ {
		if i > 100 {
			t.Fatal("redis-server did not start")
		}
		time.Sleep(50 * time.Millisecond)
	}
	var once sync.Once
	stop = func() { once.Do(func() { cmd.Process.Kill(); cmd.Wait() }) }
	t.Cleanup(stop)
	return stop
}

// Redis dies mid-run: orders keep flowing (limits fail open, the key
// cooldown falls back to the database), /readyz names Redis, and once Redis
// is back the limits work again.
func TestRedisDown(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		port := freePort(t)
		stop := mustRedisServer(t, port)
		env := MustEnv(t, b)
		env.Vars["SMMAPI_REDIS_ADDR"] = fmt.Sprint("127.0.0.1:", port)
		env.Vars["SMMAPI_REDIS_PREFIX"] = "smmapi:f:" + randHex(4) + ":"
		s := MustStart(t, env, "SMMAPI_LIMITS_KEY_RATE=2", "SMMAPI_LIMITS_KEY_BURST=3")
		a := s.MustAccount(t, "alice", "100")
		svc := s.MustService(t, map[string]any{"rate": "1", "min": 1, "max": 1000})
		add := func(i int) Response {
			return s.Post(t, "/api/v2", url.Values{"key": {a.Key}, "action": {"add"}, "service": {svc}, "link": {fmt.Sprint("https://x/", i)}, "quantity": {"1000"}})
		}
		if r := add(0); r.Status != 200 {
			t.Fatalf("add before the fault: %d %s", r.Status, r.Body)
		}
		stop()
		placed := 1
		for i := 1; i <= 6; i++ { // over the key limit: fail-open lets them all through
			r := add(i)
			if r.Status != 200 || !strings.HasPrefix(string(r.Body), `{"order":`) {
				t.Fatalf("add %d with Redis down: %d %s", i, r.Status, r.Body)
			}
			placed++
		}
		if r := Do(t, mustGet(t, s.Public+"/readyz")); r.Status != 503 || r.Obj(t)["redis"] != "down" || r.Obj(t)["database"] != "up" {
			t.Errorf("readyz with Redis down: %d %s", r.Status, r.Body)
		}
		u := s.MustAdmin(t, http.StatusCreated, "POST", "/internal/v1/users", map[string]any{"username": "bob"})
		path := fmt.Sprint("/internal/v1/users/", u["id"], "/api-keys")
		s.MustAdmin(t, http.StatusCreated, "POST", path, map[string]any{"site_id": 1})
		if r := s.Admin(t, "POST", path, map[string]any{"site_id": 1}); r.Status != http.StatusTooManyRequests {
			t.Errorf("cooldown without Redis: %d %s, want 429 from the database", r.Status, r.Body)
		}

		mustRedisServer(t, port)
		ok := false
		for i := 0; i < 100 && !ok; i++ { // go-redis reconnects on its own
			ok = Do(t, mustGet(t, s.Public+"/readyz")).Status == 200
			if !ok {
				time.Sleep(100 * time.Millisecond)
			}
		}
		if !ok {
			t.Fatal("readyz did not recover after Redis came back")
		}
		throttled := false
		for i := 0; i < 10 && !throttled; i++ {
			r := s.Post(t, "/api/v2", url.Values{"key": {a.Key}, "action": {"balance"}})
			throttled = r.Status == http.StatusTooManyRequests
		}
		if !throttled {
			t.Error("limits do not work again after Redis came back")
		}
		mustLedgerMatches(t, s, a.ID)
		if n := ordCount(t, env.DB(t), "SELECT COUNT(*) FROM orders"); n != placed {
			t.Errorf("%d orders, want %d", n, placed)
		}
	})
}

// MySQL goes away: requests answer 503 "Service temporarily unavailable"
// at once, /readyz names the database, nothing is half-written, and service
// resumes by itself when the database is back.
func TestDatabaseDown(t *testing.T) {
	t.Parallel()
	env := MustEnv(t, mysqlOnly(t, "SQLite cannot go away"))
	p := mustFaultProxy(t, mysqlAddr(t, env.Vars["SMMAPI_DATABASE_DSN"]))
	env.Vars["SMMAPI_DATABASE_DSN"] = viaProxy(t, env.Vars["SMMAPI_DATABASE_DSN"], p.Addr)
	s := MustStart(t, env)
	a := s.MustAccount(t, "alice", "100")
	svc := s.MustService(t, map[string]any{"rate": "1", "min": 1, "max": 1000})
	placed := 0
	add := func(i int) Response {
		r := s.Post(t, "/api/v2", url.Values{"key": {a.Key}, "action": {"add"}, "service": {svc}, "link": {fmt.Sprint("https://x/", i)}, "quantity": {"1000"}})
		if r.Status == 200 && strings.HasPrefix(string(r.Body), `{"order":`) {
			placed++
		}
		return r
	}
	if r := add(0); r.Status != 200 {
		t.Fatalf("add before the fault: %d %s", r.Status, r.Body)
	}

	p.Set(proxyRefuse)
	for i, action := range []string{"add", "balance", "status"} {
		form := url.Values{"key": {a.Key}, "action": {action}, "order": {"abcdefghij"}}
		if action == "add" {
			r := add(100 + i)
			form = nil
			if r.Status != http.StatusServiceUnavailable || string(r.Body) != `{"error":"Service temporarily unavailable"}` {
				t.Errorf("add with the database down: %d %s", r.Status, r.Body)
			}
			continue
		}
		r := s.Post(t, "/api/v2", form)
		if r.Status != http.StatusServiceUnavailable || string(r.Body) != `{"error":"Service temporarily unavailable"}` {
			t.Errorf("%s with the database down: %d %s", action, r.Status, r.Body)
		}
	}
	if r := Do(t, mustGet(t, s.Public+"/readyz")); r.Status != 503 || r.Obj(t)["database"] != "down" {
		t.Errorf("readyz with the database down: %d %s", r.Status, r.Body)
	}
	if r := s.Admin(t, "GET", "/internal/v1/users/"+a.ID, nil); r.Status != http.StatusServiceUnavailable {
		t.Errorf("internal API with the database down: %d %s", r.Status, r.Body)
	}

	p.Set(proxyPass)
	ok := false
	for i := 0; i < 100 && !ok; i++ {
		ok = add(200+i).Status == 200
		if !ok {
			time.Sleep(100 * time.Millisecond)
		}
	}
	if !ok {
		t.Fatal("service did not resume after the database came back")
	}
	mustLedgerMatches(t, s, a.ID)
	if n := ordCount(t, env.DB(t), "SELECT COUNT(*) FROM orders"); n != placed {
		t.Errorf("%d orders in the database, %d answered with an ID", n, placed)
	}
}
