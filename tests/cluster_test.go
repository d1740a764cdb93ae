package tests

// The cluster suite: smmapi instances each on its own node of a MariaDB
// Galera cluster, with a Redis Cluster, as deploy/cluster/cluster.sh brings
// them up. It runs when SMMAPI_TEST_GALERA_DSNS (root DSNs of the nodes,
// separated by ";") is set, and with SMMAPI_TEST_REDIS_CLUSTER (seed
// addresses, separated by ",") for Redis; it skips otherwise, and under
// CI=true a configured but unreachable cluster fails.

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/redis/go-redis/v9"
)

// Cluster is one test's database on every Galera node (and prefix on the
// Redis Cluster).
type Cluster struct {
	Env   *Env
	DSNs  []string // this test's database, one DSN per node
	redis []string // Redis Cluster seeds; empty: no Redis
}

// MustCluster creates a fresh database on the cluster (created on one node,
// replicated to all), or skips the test when no cluster is configured.
func MustCluster(t *testing.T) *Cluster {
	t.Helper()
	roots := strings.Split(os.Getenv("SMMAPI_TEST_GALERA_DSNS"), ";")
	if roots[0] == "" {
		t.Skip("SMMAPI_TEST_GALERA_DSNS not set (deploy/cluster/cluster.sh up prints it)")
	}
	var seeds []string
	if s := os.Getenv("SMMAPI_TEST_REDIS_CLUSTER"); s != "" {
		seeds = strings.Split(s, ",")
	}
	name := "smmapi_c_" + randHex(6)
	root := mustMySQL(t, roots[0])
	if _, err := root.Exec("CREATE DATABASE " + name + " CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("galera configured but unusable: %v", err)
		}
		t.Skipf("galera: %v", err)
	}
	t.Cleanup(func() {
		root.Exec("DROP DATABASE IF EXISTS " + name)
		root.Close()
	})
	c := &Cluster{redis: seeds}
	for _, r := range roots {
		cfg, err := mysql.ParseDSN(r)
		if err != nil {
			t.Fatalf("SMMAPI_TEST_GALERA_DSNS: %v", err)
		}
		cfg.DBName = name
		c.DSNs = append(c.DSNs, cfg.FormatDSN())
		// The other nodes apply the CREATE DATABASE a moment later.
		node := mustMySQL(t, r)
		fulWait(t, 10*time.Second, "the database on "+cfg.Addr, func() bool {
			var n int
			return node.QueryRow("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", name).Scan(&n) == nil && n == 1
		})
		node.Close()
	}
	e := &Env{Backend: Backend{Name: "galera", MySQLDSN: roots[0]}, Token: randHex(16), Vars: map[string]string{}, mysqlDB: name}
	e.Vars["SMMAPI_INTERNAL_TOKEN"] = e.Token
	e.Secret(e.Token)
	e.Vars["SMMAPI_DATABASE_DRIVER"] = "mysql"
	e.Vars["SMMAPI_DATABASE_DSN"] = c.DSNs[0]
	if len(seeds) > 0 {
		prefix := "smmapi:c:" + randHex(6) + ":"
		e.Vars["SMMAPI_REDIS_ADDRS"] = strings.Join(seeds, ",")
		e.Vars["SMMAPI_REDIS_CLUSTER"] = "true"
		e.Vars["SMMAPI_REDIS_PREFIX"] = prefix
		t.Cleanup(func() { c.flushRedis(t, prefix) })
	}
	c.Env = e
	return c
}

// Start starts one instance on node i (mod the node count).
func (c *Cluster) Start(t testing.TB, i int, extra ...string) *Server {
	t.Helper()
	return MustStart(t, c.Env, append([]string{"SMMAPI_DATABASE_DSN=" + c.DSNs[i%len(c.DSNs)],
		"SMMAPI_LIMITS_KEY_RATE=0", "SMMAPI_LIMITS_IP_RATE=0"}, extra...)...)
}

// StartAll starts one instance per node.
func (c *Cluster) StartAll(t testing.TB, extra ...string) []*Server {
	t.Helper()
	ss := make([]*Server, len(c.DSNs))
	for i := range ss {
		ss[i] = c.Start(t, i, extra...)
	}
	return ss
}

// Node opens this test's database on node i directly.
func (c *Cluster) Node(t testing.TB, i int) *sql.DB {
	t.Helper()
	db := mustMySQL(t, c.DSNs[i])
	t.Cleanup(func() { db.Close() })
	return db
}

// Redis returns a cluster client, or nil without Redis.
func (c *Cluster) Redis(t testing.TB) *redis.ClusterClient {
	if len(c.redis) == 0 {
		return nil
	}
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.redis})
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

func (c *Cluster) flushRedis(t testing.TB, prefix string) {
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.redis})
	defer rdb.Close()
	ctx := context.Background()
	err := rdb.ForEachMaster(ctx, func(ctx context.Context, n *redis.Client) error {
		iter := n.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			n.Del(ctx, iter.Val())
		}
		return iter.Err()
	})
	if err != nil {
		t.Logf("flush redis cluster: %v", err)
	}
}

// mustLedgerEveryNode checks on every node's copy that each user's balance
// is the sum of its ledger and never went below zero, and that every node
// holds the same balances, orders and ledger rows.
func (c *Cluster) mustLedgerEveryNode(t testing.TB) {
	t.Helper()
	var first string
	for i := range c.DSNs {
		db := c.Node(t, i)
		var bad int
		err := db.QueryRow(`SELECT COUNT(*) FROM users u WHERE u.balance <> (SELECT COALESCE(SUM(amount), 0)
			FROM ledger_entries l WHERE l.user_id = u.id) OR u.balance < 0`).Scan(&bad)
		if err != nil {
			t.Fatalf("node %d: %v", i+1, err)
		}
		if bad != 0 {
			t.Errorf("node %d: %d users whose balance is not the sum of their ledger", i+1, bad)
		}
		var sum string
		err = db.QueryRow(`SELECT CONCAT((SELECT COUNT(*) FROM orders), '/', (SELECT COUNT(*) FROM ledger_entries), '/',
			(SELECT COALESCE(SUM(balance), 0) FROM users))`).Scan(&sum)
		if err != nil {
			t.Fatalf("node %d: %v", i+1, err)
		}
		if i == 0 {
			first = sum
		} else if sum != first {
			t.Errorf("node %d holds orders/ledger rows/balances %s, node 1 %s", i+1, sum, first)
		}
	}
}

var clusterClient = &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

// clusterPost sends one public request; safe off the test's goroutine.
func clusterPost(s *Server, form url.Values) (Response, error) {
	resp, err := clusterClient.PostForm(s.Public+"/api/v2", form)
	if err != nil {
		return Response{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return Response{Status: resp.StatusCode, Header: resp.Header, Body: body}, err
}

// clusterBurst sends n public requests at once, request i to servers[i mod
// len]; every answer must be HTTP 200.
func clusterBurst(t *testing.T, servers []*Server, n int, form func(i int) url.Values) []Response {
	t.Helper()
	out := make([]Response, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			out[i], errs[i] = clusterPost(servers[i%len(servers)], form(i))
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		if out[i].Status != http.StatusOK {
			t.Errorf("request %d (node %d): status %d: %s", i, i%len(servers)+1, out[i].Status, out[i].Body)
		}
	}
	return out
}

// 200 adds at once on one account, spread over the three nodes, with funds
// for 100: certification conflicts are retried, never shown; exactly 100
// orders and 100 refusals, a zero balance equal to the ledger everywhere.
func TestClusterAddFunds(t *testing.T) {
	c := MustCluster(t)
	ss := c.StartAll(t)
	a := ss[0].MustAccount(t, "alice", "100")
	svc := ss[0].MustService(t, map[string]any{"rate": "1.0000", "min": 1, "max": 10000})
	rs := clusterBurst(t, ss, 200, func(i int) url.Values {
		return url.Values{"key": {a.Key}, "action": {"add"}, "service": {svc},
			"link": {fmt.Sprintf("https://instagram.com/p/%d", i)}, "quantity": {"1000"}}
	})
	ordTallyEqual(t, ordTally(t, rs), map[string]int{"order": 100, "Not enough funds on balance": 100})
	for i, s := range ss {
		if got := ordBalance(t, s, a); got != 0 {
			t.Errorf("node %d: balance %s, want 0.0000", i+1, ordMoney(got))
		}
	}
	ordCheckLedger(t, ss[1], c.Node(t, 1), a)
	c.mustLedgerEveryNode(t)
}

// 20 identical admin refunds (PATCH Canceled) of one order at once, spread
// over the nodes: one refund row, every PATCH answered 200.
func TestClusterRefundOnce(t *testing.T) {
	c := MustCluster(t)
	ss := c.StartAll(t)
	a := ss[0].MustAccount(t, "alice", "1000")
	svc := ss[0].MustService(t, nil)
	for round := range 3 {
		id := mustAddOrder(t, ss[round%3], a.Key, svc, fmt.Sprint("https://instagram.com/p/r", round), "157")
		reqs := make([]admReq, 20)
		for i := range reqs {
			reqs[i] = admInternal(ss[i%3], "PATCH", "/internal/v1/orders/"+id, admCanceled)
		}
		for i, r := range admBurst(t, reqs) {
			if r.Status != http.StatusOK {
				t.Errorf("round %d: PATCH %d (node %d): %d %s, want 200", round, i, i%3+1, r.Status, r.Body)
			}
		}
		for n := range ss {
			if k, sum := refundRows(t, c.Node(t, n), id); k != 1 || ordMoney(sum) != "1.3345" {
				t.Errorf("round %d, node %d: %d refund rows summing to %s, want one of 1.3345", round, n+1, k, ordMoney(sum))
			}
		}
	}
	mustLedgerMatches(t, ss[2], a.ID)
	c.mustLedgerEveryNode(t)
}

// Three instances started at once on a fresh database, each on its own
// node: all three migrate (one at a time) and serve.
func TestClusterStartAtOnce(t *testing.T) {
	for round := range 3 {
		t.Run(fmt.Sprint("round ", round), func(t *testing.T) {
			c := MustCluster(t)
			for i := range c.DSNs {
				t.Run(fmt.Sprint("node ", i+1), func(t *testing.T) {
					t.Parallel() // released together once the loop is done
					s := c.Start(t, i)
					if r := Do(t, mustGet(t, s.Public+"/readyz")); r.Status != http.StatusOK {
						t.Errorf("readyz: %d %s", r.Status, r.Body)
					}
				})
			}
		})
	}
}

// An order added through one node is found at once through another: 200
// of 200 (wsrep_sync_wait on every session).
func TestClusterReadYourWrites(t *testing.T) {
	c := MustCluster(t)
	ss := c.StartAll(t)
	a := ss[0].MustAccount(t, "alice", "10000")
	svc := ss[0].MustService(t, map[string]any{"rate": "1.0000", "min": 1, "max": 10000})
	var mu sync.Mutex
	missed, failed := 0, 0
	var wg sync.WaitGroup
	for w := range 10 {
		wg.Go(func() {
			for i := range 20 {
				n := w*20 + i
				r, err := clusterPost(ss[n%3], url.Values{"key": {a.Key}, "action": {"add"}, "service": {svc},
					"link": {fmt.Sprintf("https://instagram.com/p/%d", n)}, "quantity": {"100"}})
				id, ok := ordAddID(r)
				var st Response
				if ok {
					st, err = clusterPost(ss[(n+1)%3], url.Values{"key": {a.Key}, "action": {"status"}, "order": {id}})
				}
				mu.Lock()
				switch {
				case !ok || err != nil:
					failed++
				case st.Obj(t)["status"] == nil:
					missed++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if failed != 0 {
		t.Errorf("%d of 200 adds or statuses failed", failed)
	}
	if missed != 0 {
		t.Errorf("%d of 200 orders not found through another node right after their add", missed)
	}
}

// mustRedisCluster skips a test that needs the Redis Cluster when only
// Galera is configured.
func (c *Cluster) mustRedisCluster(t *testing.T) {
	t.Helper()
	if len(c.redis) == 0 {
		t.Skip("SMMAPI_TEST_REDIS_CLUSTER not set")
	}
}

// clusterNoRedisErrors checks that no instance failed open on Redis (a
// limiter that cannot run its scripts on the cluster lets everything by).
func clusterNoRedisErrors(t *testing.T, ss []*Server) {
	t.Helper()
	for i, s := range ss {
		v := opsValues(t, opsScrape(t, s))
		if n := v["smmapi_redis_errors_total"]; n != 0 {
			t.Errorf("instance %d: %v Redis errors (limits failed open)", i+1, n)
		}
		if v["smmapi_cache_invalidations_unconfirmed_total"] != 0 {
			t.Errorf("instance %d: %v cache invalidations unconfirmed", i+1, v["smmapi_cache_invalidations_unconfirmed_total"])
		}
	}
}

// The per-key and per-IP limits and the lockout are shared by the
// instances through the Redis Cluster exactly as through one Redis.
func TestClusterRedisLimits(t *testing.T) {
	c := MustCluster(t)
	c.mustRedisCluster(t)
	const burst = 6
	ss := c.StartAll(t, "SMMAPI_LIMITS_TRUSTED_PROXIES=127.0.0.1/32,::1", "SMMAPI_LIMITS_AUTH_FAILURES=6")
	a := ss[0].MustAccount(t, "alice", "1")
	// passed sends n requests round-robin over the instances and counts
	// those let through; the bucket refills one per second meanwhile.
	passed := func(t *testing.T, ss []*Server, n int, send func(t *testing.T, s *Server) Response) (int, int) {
		start, ok := time.Now(), 0
		for i := range n {
			if r := send(t, ss[i%3]); r.Status == http.StatusOK {
				ok++
			} else {
				mustTooMany(t, r)
			}
		}
		return ok, int(time.Since(start)/time.Second) + 1
	}
	for _, tc := range []struct {
		name string
		env  []string
		send func(t *testing.T, s *Server) Response
	}{
		{"per key", []string{"SMMAPI_LIMITS_KEY_RATE=1", fmt.Sprint("SMMAPI_LIMITS_KEY_BURST=", burst)}, func(t *testing.T, s *Server) Response {
			return s.Post(t, "/api/v2", url.Values{"key": {a.Key}, "action": {"balance"}})
		}},
		{"per IP", []string{"SMMAPI_LIMITS_TRUSTED_PROXIES=127.0.0.1/32,::1", "SMMAPI_LIMITS_IP_RATE=1", fmt.Sprint("SMMAPI_LIMITS_IP_BURST=", burst)},
			func(t *testing.T, s *Server) Response {
				return s.postFrom(t, "198.51.100.7", url.Values{"key": {a.Key}, "action": {"balance"}})
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ss := c.StartAll(t, tc.env...)
			ok, refill := passed(t, ss, burst+6, tc.send)
			if ok < burst || ok >= burst+refill || ok == burst+6 {
				t.Errorf("%d of %d let through, want %d (+%d refilled at most)", ok, burst+6, burst, refill-1)
			}
			clusterNoRedisErrors(t, ss)
		})
	}
	t.Run("lockout", func(t *testing.T) {
		const attacker = "203.0.113.66"
		for i := range 6 { // 6 bad keys spread over the instances
			r := ss[i%3].postFrom(t, attacker, url.Values{"key": {fmt.Sprintf("%032x", i)}, "action": {"balance"}})
			if string(r.Body) != `{"error":"Invalid API key"}` {
				t.Fatalf("failure %d: %d %s", i+1, r.Status, r.Body)
			}
		}
		for i, s := range ss { // locked out on every instance, a valid key too
			r := s.postFrom(t, attacker, url.Values{"key": {a.Key}, "action": {"balance"}})
			if r.Status != http.StatusTooManyRequests {
				t.Errorf("instance %d: %d %s, want the lockout's 429", i+1, r.Status, r.Body)
			}
		}
		if r := ss[1].postFrom(t, "203.0.113.67", url.Values{"key": {a.Key}, "action": {"balance"}}); r.Status != http.StatusOK {
			t.Errorf("another IP locked out: %d %s", r.Status, r.Body)
		}
		clusterNoRedisErrors(t, ss)
	})
}

// A key revoked through one instance is refused by every instance as soon
// as the admin API answered: the sharded pub/sub confirmation counts every
// instance, not one Redis node's subscribers.
func TestClusterRevocation(t *testing.T) {
	c := MustCluster(t)
	c.mustRedisCluster(t)
	ss := c.StartAll(t)
	for i, s := range ss {
		fulWait(t, 10*time.Second, fmt.Sprint("instance ", i+1, " caching"), func() bool {
			return opsValues(t, opsScrape(t, s))["smmapi_cache_invalidation_live"] == 1
		})
	}
	const invalid = `{"error":"Invalid API key"}`
	for round := range 6 {
		a := ss[0].MustAccount(t, fmt.Sprint("user", round), "1")
		for _, s := range ss { // warm every cache
			for range 3 {
				if r := s.Post(t, "/api/v2", url.Values{"key": {a.Key}, "action": {"balance"}}); r.Status != http.StatusOK || string(r.Body) == invalid {
					t.Fatalf("balance: %d %s", r.Status, r.Body)
				}
			}
		}
		ss[round%3].MustAdmin(t, http.StatusNoContent, "DELETE", "/internal/v1/users/"+a.ID+"/api-keys/1", nil)
		for i, s := range ss {
			if r := s.Post(t, "/api/v2", url.Values{"key": {a.Key}, "action": {"balance"}}); string(r.Body) != invalid {
				t.Errorf("round %d: instance %d still serves the revoked key: %s", round, i+1, r.Body)
			}
		}
	}
	clusterNoRedisErrors(t, ss)
}

// One Galera node killed (SIGKILL) during a mixed load (add, status, admin
// PATCH, forwarding to a supplier and its sync) and restarted: every
// instance has the other nodes as fallback_dsns. No accepted order is lost,
// none is charged or forwarded twice, the only errors are retryable ones,
// the node rejoins and every node holds the same ledger, whose invariant
// holds. Needs the cluster script (it kills and restarts the node).
func TestClusterNodeLoss(t *testing.T) {
	c := MustCluster(t)
	script := "../deploy/cluster/cluster.sh"
	c.Env.Vars["SMMAPI_SECRETS_KEY"] = randHex(32)
	c.Env.Secret(c.Env.Vars["SMMAPI_SECRETS_KEY"])
	fake := newFulFake(t)
	c.Env.Secret(fake.Key)
	ss := make([]*Server, len(c.DSNs))
	for i := range ss {
		var others []string
		for k := 1; k < len(c.DSNs); k++ {
			others = append(others, c.DSNs[(i+k)%len(c.DSNs)])
		}
		ss[i] = c.Start(t, i, fulSyncEvery, "SMMAPI_DATABASE_FALLBACK_DSNS="+strings.Join(others, ";"))
	}
	sup := fulSupplier(t, ss[0], fake.URL, fake.Key)
	svc := ss[0].MustService(t, map[string]any{"rate": "1.0000", "min": 1, "max": 10000,
		"supplier_id": fulNum(sup), "supplier_service": "101"})
	a := ss[0].MustAccount(t, "alice", "100000")

	var mu sync.Mutex
	accepted := map[string]bool{}
	answers := map[string]int{} // what came back, by kind
	var unsure []string         // links of adds answered with an error
	note := func(kind string) { mu.Lock(); answers[kind]++; mu.Unlock() }
	kind := func(r Response, err error) string {
		switch {
		case err != nil:
			return "transport error"
		case r.Status != http.StatusOK:
			return fmt.Sprintf("HTTP %d %s", r.Status, r.Body)
		}
		return ""
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Go(func() {
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				s := ss[(w+n)%3]
				link := fmt.Sprintf("https://instagram.com/p/%d-%d", w, n)
				r, err := clusterPost(s, url.Values{"key": {a.Key}, "action": {"add"}, "service": {svc},
					"link": {link}, "quantity": {"100"}})
				if k := kind(r, err); k != "" {
					note(k)
					mu.Lock()
					unsure = append(unsure, link)
					mu.Unlock()
					continue
				}
				id, ok := ordAddID(r)
				if !ok {
					note(string(r.Body))
					continue
				}
				mu.Lock()
				accepted[id] = true
				mu.Unlock()
				note("order")
				r, err = clusterPost(ss[(w+n+1)%3], url.Values{"key": {a.Key}, "action": {"status"}, "order": {id}})
				if k := kind(r, err); k != "" {
					note("status: " + k)
				}
				if n%5 == 0 { // an admin PATCH now and then
					r, err := provSend(ss[(w+n+2)%3], "PATCH", "/internal/v1/services/"+svc, map[string]any{"name": fmt.Sprint("Followers ", n)})
					if err != nil || r.Status != http.StatusOK {
						note(fmt.Sprintf("PATCH: %d %s %v", r.Status, r.Body, err))
					}
				}
			}
		})
	}
	run := func(args ...string) {
		out, err := exec.Command(script, args...).CombinedOutput()
		if err != nil {
			t.Errorf("cluster.sh %v: %v\n%s", args, err, out)
		}
	}
	time.Sleep(4 * time.Second)
	run("kill", "2")
	time.Sleep(6 * time.Second)
	run("start", "2") // waits until the node is Synced again
	time.Sleep(4 * time.Second)
	close(stop)
	wg.Wait()
	t.Logf("answers during the run: %v", answers)
	for k := range answers {
		if k != "order" && !strings.Contains(k, "503") {
			t.Errorf("%d answers %q: only orders and retryable 503s are expected", answers[k], k)
		}
	}

	// A client retries an add answered with an error: it is placed now,
	// or the guard names the order that was committed all the same, and
	// either way the link has one order.
	for _, link := range unsure {
		r := ordDo(t, ss[0], a.Key, "add", ordForm("service", svc, "link", link, "quantity", "100"))
		if id, ok := ordAddID(r); ok {
			accepted[id] = true
		} else if string(r.Body) != `{"error":"You have active order with this link. Please wait until order being completed."}` {
			t.Errorf("retried add of %s: %s", link, r.Body)
		}
		if n := ordCount(t, c.Node(t, 0), "SELECT COUNT(*) FROM orders WHERE link = ?", link); n != 1 {
			t.Errorf("%s: %d orders after the retry, want 1", link, n)
		}
	}

	// Every accepted order forwarded, once.
	fulWait(t, 60*time.Second, "every order forwarded", func() bool { return fake.Placed() >= len(accepted) })
	time.Sleep(2 * time.Second) // a late second forward would show now
	seen := map[string]int{}
	for _, l := range fake.Links() {
		seen[l]++
	}
	for l, n := range seen {
		if n > 1 {
			t.Errorf("%s forwarded %d times", l, n)
		}
	}
	// Every accepted order on every node, each charged once; the node
	// that was killed holds what the others hold.
	for i := range c.DSNs {
		db := c.Node(t, i)
		ids := ordPublicIDs(t, db, "SELECT public_id FROM orders")
		for id := range accepted {
			if !ids[id] {
				t.Errorf("node %d: accepted order %s lost", i+1, id)
			}
		}
		if extra := len(ids) - len(accepted); extra != 0 {
			t.Logf("node %d: %d orders committed whose add was answered with an error (found by its retry)", i+1, extra)
		}
		ordCheckLedger(t, ss[i], db, a)
	}
	c.mustLedgerEveryNode(t)
	t.Logf("%d orders accepted, %d forwarded", len(accepted), fake.Placed())
}
