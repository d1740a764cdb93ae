package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/bits"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/redis/go-redis/v9"
)

// Money of the run, in units of 0.0001.
const (
	accountBalance = "10000000.0000" // per account: never the limit
	addRate        = "1.2345"        // the add scenarios' service
	addRateUnits   = 12345
	addQuantity    = 100
)

// addCharge is smmapi's charge for addQuantity at addRate: rate × q ÷ 1000,
// rounded half-up to a unit (0.12345 → 0.1235).
const addCharge = (addRateUnits*addQuantity + 500) / 1000

// harness is one run's world: the smmapi process, the bare server, the
// database they share and the accounts provisioned in it.
type harness struct {
	o        options
	tmp      string
	driver   string
	dsn      string // the DSN smmapi is configured with
	token    string
	mysqlDB  string
	rootDSN  string
	prefix   string
	smm      *proc
	bare     *proc
	db       *sql.DB // direct handle: seeding and invariant checks
	public   string  // host:port
	internal string  // base URL
	bareAddr string

	keys    []string // many accounts
	ids     []uint64
	bareIDs []uint64 // the bare server's accounts (same balances, no keys)
	hotKey  string
	hotID   uint64
	bareHot uint64
	histKey string
	histID  uint64
	addSvc  uint64

	ids62  idGen  // history order IDs
	seeded uint64 // history orders inserted so far
	// linkSeq numbers the links of placed orders across the whole run: a
	// link is never used twice, so the duplicate-link guard never refuses.
	linkSeq atomic.Int64
	svc     []byte // the services v2 answer, as smmapi serialises it

	warnCount int      // smmapi's warning and error log lines
	warnLines []string // the first few of them

	cleanups []func()
}

func (h *harness) close() {
	for i := len(h.cleanups) - 1; i >= 0; i-- {
		h.cleanups[i]()
	}
}

func (h *harness) defer_(f func()) { h.cleanups = append(h.cleanups, f) }

// setUp builds and starts smmapi on a fresh database and provisions it.
func setUp(ctx context.Context, o options) (*harness, error) {
	h := &harness{o: o, driver: o.backend, token: randHex(16)}
	var err error
	if h.tmp, err = os.MkdirTemp("", "smmapi-load-"); err != nil {
		return nil, err
	}
	h.defer_(func() {
		if o.keep {
			fmt.Fprintf(os.Stderr, "kept %s\n", h.tmp)
		} else {
			os.RemoveAll(h.tmp)
		}
	})
	if err := h.start(ctx); err != nil {
		return h, err
	}
	if err := h.provision(ctx); err != nil {
		return h, err
	}
	return h, nil
}

func (h *harness) start(ctx context.Context) error {
	bin := h.o.bin
	if bin == "" {
		bin = filepath.Join(h.tmp, "smmapi")
		step("building smmapi")
		build := exec.CommandContext(ctx, "go", "build", "-o", bin, "smmapi")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			return fmt.Errorf("build smmapi: %w", err)
		}
	}
	env := []string{"PATH=" + os.Getenv("PATH"),
		"SMMAPI_HTTP_ADDR=127.0.0.1:0", "SMMAPI_INTERNAL_ADDR=127.0.0.1:0",
		"SMMAPI_INTERNAL_TOKEN=" + h.token,
		// info, as in production: one access-log line per request, and the
		// "listening" lines the ports are read from.
		"SMMAPI_LOG_LEVEL=info",
		"SMMAPI_LIMITS_KEY_RATE=0", "SMMAPI_LIMITS_IP_RATE=0", "SMMAPI_LIMITS_AUTH_FAILURES=0",
		// Webhooks: sealed secrets, and the harness's receiver on loopback.
		"SMMAPI_SECRETS_KEY=" + randHex(32), "SMMAPI_WEBHOOKS_ALLOW_PRIVATE=127.0.0.0/8",
		// The dead endpoint stays enabled: its backlog keeps being retried.
		"SMMAPI_WEBHOOKS_MAX_FAILURES=1000000000"}
	switch h.driver {
	case "sqlite":
		h.dsn = filepath.Join(h.tmp, "smmapi.db")
	case "mysql":
		if err := h.createMySQL(ctx); err != nil {
			return err
		}
		if err := h.checkRedis(ctx); err != nil {
			return err
		}
		env = append(env, "SMMAPI_REDIS_ADDRS="+h.o.redis, "SMMAPI_REDIS_PREFIX="+h.prefix)
		if h.o.redisCluster {
			env = append(env, "SMMAPI_REDIS_CLUSTER=true")
		}
	default:
		return fmt.Errorf("-backend %q: sqlite or mysql", h.driver)
	}
	env = append(env, "SMMAPI_DATABASE_DRIVER="+h.driver, "SMMAPI_DATABASE_DSN="+h.dsn)
	cmd := exec.Command(bin)
	cmd.Dir, cmd.Env = h.tmp, env
	step("starting smmapi (%s)", h.driver)
	p, err := startProc("smmapi", cmd, filepath.Join(h.tmp, "smmapi.log"), "public", "internal")
	if err != nil {
		return err
	}
	h.smm = p
	h.defer_(p.stop)
	h.public = p.addrs["public"]
	h.internal = "http://" + p.addrs["internal"] + "/internal/v1"
	db, err := openPool(h.driver, h.dsn, 8)
	if err != nil {
		return err
	}
	h.db = db
	h.defer_(func() { db.Close() })
	return nil
}

// createMySQL creates the run's own database from the root DSN.
func (h *harness) createMySQL(ctx context.Context) error {
	cfg, err := mysql.ParseDSN(h.o.mysqlDSN)
	if err != nil {
		return fmt.Errorf("-mysql-dsn: %w", err)
	}
	root, err := sql.Open("mysql", h.o.mysqlDSN)
	if err != nil {
		return err
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := root.PingContext(pctx); err != nil {
		root.Close()
		return fmt.Errorf("mysql %s: %w", cfg.Addr, err)
	}
	h.mysqlDB = "smmapi_load_" + randHex(6)
	if _, err := root.ExecContext(ctx, "CREATE DATABASE "+h.mysqlDB+" CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"); err != nil {
		root.Close()
		return fmt.Errorf("create database: %w", err)
	}
	h.defer_(func() {
		if h.o.keep {
			fmt.Fprintf(os.Stderr, "kept database %s\n", h.mysqlDB)
		} else if _, err := root.Exec("DROP DATABASE IF EXISTS " + h.mysqlDB); err != nil {
			fmt.Fprintf(os.Stderr, "drop database %s: %v\n", h.mysqlDB, err)
		}
		root.Close()
	})
	cfg.DBName = h.mysqlDB
	h.dsn = cfg.FormatDSN()
	return h.sizeBufferPool(ctx, root)
}

// sizeBufferPool raises innodb_buffer_pool_size to -buffer-pool for the
// run (MariaDB and MySQL resize it online) and puts it back at the end. At
// the default 128 MiB a million orders do not fit, and every status of
// random old orders reads pages from outside the pool: the bare select
// falls as much as smmapi does, which measures the server's setting.
func (h *harness) sizeBufferPool(ctx context.Context, root *sql.DB) error {
	if h.o.bufferPool == "" {
		return nil
	}
	want, err := parseSize(h.o.bufferPool)
	if err != nil {
		return fmt.Errorf("-buffer-pool: %w", err)
	}
	var was int64
	if err := root.QueryRowContext(ctx, "SELECT @@innodb_buffer_pool_size").Scan(&was); err != nil {
		return err
	}
	if was >= want {
		return nil
	}
	if _, err := root.ExecContext(ctx, fmt.Sprintf("SET GLOBAL innodb_buffer_pool_size = %d", want)); err != nil {
		return fmt.Errorf("raise innodb_buffer_pool_size: %w", err)
	}
	step("innodb_buffer_pool_size %d MiB → %d MiB for the run", was>>20, want>>20)
	h.defer_(func() {
		if _, err := root.Exec(fmt.Sprintf("SET GLOBAL innodb_buffer_pool_size = %d", was)); err != nil {
			fmt.Fprintf(os.Stderr, "restore innodb_buffer_pool_size: %v\n", err)
		}
	})
	return nil
}

// parseSize reads 512M, 2G or a byte count.
func parseSize(s string) (int64, error) {
	mult := int64(1)
	switch {
	case strings.HasSuffix(s, "G"), strings.HasSuffix(s, "g"):
		mult, s = 1<<30, s[:len(s)-1]
	case strings.HasSuffix(s, "M"), strings.HasSuffix(s, "m"):
		mult, s = 1<<20, s[:len(s)-1]
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%q is not a size like 512M or 2G", s)
	}
	return n * mult, nil
}

// checkRedis pings Redis and removes the run's keys at the end.
func (h *harness) checkRedis(ctx context.Context) error {
	var rdb redis.UniversalClient = redis.NewClient(&redis.Options{Addr: h.o.redis})
	if h.o.redisCluster {
		rdb = redis.NewClusterClient(&redis.ClusterOptions{Addrs: strings.Split(h.o.redis, ",")})
	}
	if err := rdb.Ping(ctx).Err(); err != nil {
		rdb.Close()
		return fmt.Errorf("redis %s: %w", h.o.redis, err)
	}
	h.prefix = "smmapi:load:" + randHex(6) + ":"
	h.defer_(func() {
		del := func(ctx context.Context, n *redis.Client) error {
			iter := n.Scan(ctx, 0, h.prefix+"*", 1000).Iterator()
			for iter.Next(ctx) {
				n.Del(ctx, iter.Val())
			}
			return iter.Err()
		}
		if c, ok := rdb.(*redis.ClusterClient); ok {
			c.ForEachMaster(context.Background(), del)
		} else {
			del(context.Background(), rdb.(*redis.Client))
		}
		rdb.Close()
	})
	return nil
}

// startBare starts the ceiling server on the same database, serving the
// catalog body fetched from smmapi.
func (h *harness) startBare(ctx context.Context) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	bodyPath := filepath.Join(h.tmp, "services-v2.json")
	if err := os.WriteFile(bodyPath, h.svc, 0o600); err != nil {
		return err
	}
	cmd := exec.Command(self, "-serve-bare", "-backend", h.driver, "-bare-dsn", h.dsn, "-bare-body", bodyPath)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	step("starting the bare ceiling server")
	p, err := startProc("bare", cmd, filepath.Join(h.tmp, "bare.log"), "bare")
	if err != nil {
		return err
	}
	h.bare = p
	h.defer_(p.stop)
	h.bareAddr = p.addrs["bare"]
	return nil
}

// admin calls the internal API and decodes the answer into out.
func (h *harness) admin(ctx context.Context, path string, in, out any, want int) error {
	b, _ := json.Marshal(in)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.internal+path, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+h.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		return fmt.Errorf("POST %s: %d, want %d: %s", path, resp.StatusCode, want, body)
	}
	if out != nil {
		return json.Unmarshal(body, out)
	}
	return nil
}

// adminDo calls the internal API with any method through c and decodes
// the answer into out; want 0 takes any 2xx.
func (h *harness) adminDo(ctx context.Context, c *http.Client, method, path string, in, out any, want int) error {
	b, _ := json.Marshal(in)
	req, err := http.NewRequestWithContext(ctx, method, h.internal+path, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+h.token)
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want && (want != 0 || resp.StatusCode/100 != 2) {
		return fmt.Errorf("%s %s: %d, want %d: %.300s", method, path, resp.StatusCode, want, body)
	}
	if out != nil {
		return json.Unmarshal(body, out)
	}
	return nil
}

// account creates a user with a balance, and an API key when withKey.
func (h *harness) account(ctx context.Context, name, balance string, withKey bool) (uint64, string, error) {
	var u struct{ ID uint64 }
	if err := h.admin(ctx, "/users", map[string]any{"username": name}, &u, http.StatusCreated); err != nil {
		return 0, "", err
	}
	if err := h.admin(ctx, fmt.Sprintf("/users/%d/balance", u.ID), map[string]any{"amount": balance, "reason": "load"}, nil, http.StatusOK); err != nil {
		return 0, "", err
	}
	if !withKey {
		return u.ID, "", nil
	}
	var k struct{ Key string }
	err := h.admin(ctx, fmt.Sprintf("/users/%d/api-keys", u.ID), map[string]any{"site_id": 1}, &k, http.StatusCreated)
	return u.ID, k.Key, err
}

// parallel runs fn(0..n-1) on workers goroutines; the first error wins.
func parallel(n, workers int, fn func(i int) error) error {
	var mu sync.Mutex
	var first error
	next := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := fn(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	for i := range n {
		mu.Lock()
		stop := first != nil
		mu.Unlock()
		if stop {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	return first
}

var (
	platforms = []string{"Instagram", "TikTok", "YouTube", "Telegram", "Twitter", "Facebook", "Spotify", "Twitch"}
	kinds     = []string{"Followers", "Likes", "Views", "Comments", "Shares"}
	qualities = []string{"Real", "HQ", "Mixed", "Bots", "Premium", "Targeted"}
)

// serviceSpec is the i-th catalog entry: the first is the add scenarios'
// service, the rest a plausible mix (a fixed seed: the same catalog every run).
func serviceSpec(i int) map[string]any {
	if i == 0 {
		return map[string]any{"name": "Load Followers", "type": "Default", "category": "Instagram Followers",
			"rate": addRate, "min": 10, "max": 1000000, "refill": true, "cancel": true, "dripfeed": false,
			"description": "", "enabled": true}
	}
	r := mrand.New(mrand.NewPCG(uint64(i), 42))
	p, k := platforms[r.IntN(len(platforms))], kinds[r.IntN(len(kinds))]
	q := qualities[r.IntN(len(qualities))]
	return map[string]any{
		"name":     fmt.Sprintf("%s %s [%s] [Start 0-1h] [Speed %dK/day] - #%d", p, k, q, 1+r.IntN(50), i),
		"type":     "Default",
		"category": p + " " + k,
		"rate":     money(int64(100 + r.IntN(500000))),
		"min":      10 * (1 + r.IntN(10)), "max": 10000 * (1 + r.IntN(100)),
		"refill": r.IntN(2) == 0, "cancel": r.IntN(3) == 0, "dripfeed": r.IntN(4) == 0,
		"description": "", "enabled": true,
	}
}

// provision creates the catalog and the accounts through the internal API,
// then seeds the history orders directly.
func (h *harness) provision(ctx context.Context) error {
	workers := 8
	step("provisioning %d services", h.o.services)
	svcIDs := make([]uint64, h.o.services)
	err := parallel(h.o.services, workers, func(i int) error {
		var s struct{ ID uint64 }
		err := h.admin(ctx, "/services", serviceSpec(i), &s, http.StatusCreated)
		svcIDs[i] = s.ID
		return err
	})
	if err != nil {
		return err
	}
	h.addSvc = svcIDs[0]

	step("provisioning %d accounts (+%d for the ceiling, one hot account each, one history account)", h.o.accounts, h.o.accounts)
	h.keys, h.ids, h.bareIDs = make([]string, h.o.accounts), make([]uint64, h.o.accounts), make([]uint64, h.o.accounts)
	err = parallel(2*h.o.accounts, workers, func(i int) error {
		var err error
		if i < h.o.accounts {
			h.ids[i], h.keys[i], err = h.account(ctx, fmt.Sprintf("load-%d", i), accountBalance, true)
		} else {
			h.bareIDs[i-h.o.accounts], _, err = h.account(ctx, fmt.Sprintf("bare-%d", i-h.o.accounts), accountBalance, false)
		}
		return err
	})
	if err != nil {
		return err
	}
	if h.hotID, h.hotKey, err = h.account(ctx, "load-hot", accountBalance, true); err != nil {
		return err
	}
	if h.bareHot, _, err = h.account(ctx, "bare-hot", accountBalance, false); err != nil {
		return err
	}
	if h.histID, h.histKey, err = h.account(ctx, "load-history", accountBalance, true); err != nil {
		return err
	}
	h.ids62 = newIDGen()
	return nil
}

// fetchServices reads the v2 catalog once through smmapi: the ceiling's
// pre-serialized body, and a check that it has every service.
func (h *harness) fetchServices(ctx context.Context, gzip bool) ([]byte, http.Header, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+h.public+"/api/v2",
		strings.NewReader("key="+h.keys[0]+"&action=services"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if gzip {
		req.Header.Set("Accept-Encoding", "gzip")
	}
	tr := &http.Transport{DisableCompression: true}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, nil, err
	}
	if resp.StatusCode != 200 {
		return nil, nil, fmt.Errorf("services: HTTP %d: %.200s", resp.StatusCode, b)
	}
	return b, resp.Header, nil
}

func (h *harness) loadCatalog(ctx context.Context) error {
	b, _, err := h.fetchServices(ctx, false)
	if err != nil {
		return err
	}
	var list []map[string]any
	if err := json.Unmarshal(b, &list); err != nil {
		return fmt.Errorf("services: %w: %.200s", err, b)
	}
	if len(list) != h.o.services {
		return fmt.Errorf("services: %d entries, want %d", len(list), h.o.services)
	}
	h.svc = b
	return nil
}

// idGen maps a counter to a distinct random-looking 10-character order ID:
// i·a + b mod 62^10 is a bijection when a is prime to 62^10 = 2^10·31^10.
// The IDs need no storing, and never collide with each other.
type idGen struct{ a, b uint64 }

const idSpace = 839299365868340224 // 62^10

func newIDGen() idGen {
	a := mrand.Uint64N(idSpace)
	for a%2 == 0 || a%31 == 0 {
		a = mrand.Uint64N(idSpace)
	}
	return idGen{a: a, b: mrand.Uint64N(idSpace)}
}

func (g idGen) id(i uint64) string {
	hi, lo := bits.Mul64(i, g.a)
	_, r := bits.Div64(hi, lo, idSpace)
	r = (r + g.b) % idSpace
	var out [10]byte
	for k := range out {
		out[k] = alnum[r%62]
		r /= 62
	}
	return string(out[:])
}

// histCharge is the charge of history order i, and its quantity.
func histOrder(i uint64) (qty, charge int64) {
	qty = int64(100 + (i*7919)%9901)
	return qty, (addRateUnits*qty + 500) / 1000
}

// seedOrders inserts history orders until the history account has n, with
// multi-row INSERTs of 2000 rows, one ledger row per order and the balance
// moved by their sum: the ledger invariant holds for every account.
func (h *harness) seedOrders(ctx context.Context, n uint64) error {
	if n <= h.seeded {
		return nil
	}
	step("seeding %d existing orders (%d → %d)", n-h.seeded, h.seeded, n)
	start := time.Now()
	var bal int64
	if err := h.db.QueryRowContext(ctx, "SELECT balance FROM users WHERE id = ?", h.histID).Scan(&bal); err != nil {
		return err
	}
	layout := "2006-01-02 15:04:05.000"
	if h.driver == "sqlite" {
		layout = "2006-01-02 15:04:05.999999999-07:00" // as the SQLite driver writes time.Time
	}
	base := time.Now().UTC().Add(-365 * 24 * time.Hour)
	const chunk = 2000
	workers := 4
	if h.driver == "sqlite" {
		workers = 1
	}
	orders, ledger := make(chan string, workers), make(chan string, 2)
	errc := make(chan error, workers+1)
	var wg sync.WaitGroup
	execAll := func(ch chan string) {
		defer wg.Done()
		for q := range ch {
			if _, err := h.db.ExecContext(ctx, q); err != nil {
				errc <- err
				for range ch { // drain
				}
				return
			}
		}
	}
	for range workers {
		wg.Add(1)
		go execAll(orders)
	}
	wg.Add(1)
	go execAll(ledger)

	var ob, lb strings.Builder
	for from := h.seeded; from < n; from += chunk {
		to := min(from+chunk, n)
		ob.Reset()
		lb.Reset()
		ob.WriteString("INSERT INTO orders (public_id, user_id, site_id, service_id, link, link_hash, quantity, runs, `interval`, " +
			"runs_done, comments, username, params, charge, refunded, start_count, remains, status, supplier_order, " +
			"finished_at, supplier_service, forward_state, attempts, last_error, claim_token, created_at, updated_at) VALUES ")
		lb.WriteString("INSERT INTO ledger_entries (user_id, amount, balance_after, kind, ref, reason, created_at) VALUES ")
		for i := from; i < to; i++ {
			if i > from {
				ob.WriteByte(',')
				lb.WriteByte(',')
			}
			id := h.ids62.id(i)
			qty, charge := histOrder(i)
			bal -= charge
			link := "https://instagram.com/p/h" + strconv.FormatUint(i, 10)
			sum := sha256.Sum256([]byte(link))
			created := base.Add(time.Duration(i%31_536_000) * time.Second)
			status, remains, startCount, finished := "Completed", int64(0), int64(1000+i%5000), "'"+created.Add(time.Hour).Format(layout)+"'"
			switch i % 20 {
			case 14, 15:
				status, remains = "Partial", qty/3
			case 16:
				status, remains = "Canceled", qty
			case 17, 18:
				status, remains, finished = "In progress", qty/2, "NULL"
			case 19:
				status, remains, startCount, finished = "Pending", qty, 0, "NULL"
			}
			ts := "'" + created.Format(layout) + "'"
			fmt.Fprintf(&ob, "('%s',%d,1,%d,'%s','%s',%d,0,0,0,'','','',%d,0,%d,%d,'%s','',%s,'','',0,'','',%s,%s)",
				id, h.histID, h.addSvc, link, hex.EncodeToString(sum[:]), qty, charge, startCount, remains, status, finished, ts, ts)
			fmt.Fprintf(&lb, "(%d,%d,%d,'charge','%s','',%s)", h.histID, -charge, bal, id, ts)
		}
		select {
		case orders <- ob.String():
		case err := <-errc:
			close(orders)
			close(ledger)
			wg.Wait()
			return fmt.Errorf("seed orders: %w", err)
		}
		ledger <- lb.String()
	}
	close(orders)
	close(ledger)
	wg.Wait()
	select {
	case err := <-errc:
		return fmt.Errorf("seed orders: %w", err)
	default:
	}
	if _, err := h.db.ExecContext(ctx, "UPDATE users SET balance = ? WHERE id = ?", bal, h.histID); err != nil {
		return err
	}
	step("seeded in %s", time.Since(start).Round(time.Millisecond))
	h.seeded = n
	return h.settle(ctx)
}

// settle waits for InnoDB to write back the pages the seed dirtied: left
// alone, it flushes them during the next scenarios, which then measure the
// flushing (a scaling run read add at 0.70 once, 1.03 the time before).
// The flush is hurried by setting innodb_max_dirty_pages_pct to 0 for the
// wait, then put back.
func (h *harness) settle(ctx context.Context) error {
	if h.driver != "mysql" {
		return nil
	}
	var pct float64
	if err := h.db.QueryRowContext(ctx, "SELECT @@innodb_max_dirty_pages_pct").Scan(&pct); err != nil {
		return err
	}
	if _, err := h.db.ExecContext(ctx, "SET GLOBAL innodb_max_dirty_pages_pct = 0"); err != nil {
		step("cannot hurry InnoDB's flushing (%v): measuring anyway", err)
		return nil
	}
	defer h.db.ExecContext(context.WithoutCancel(ctx), fmt.Sprintf("SET GLOBAL innodb_max_dirty_pages_pct = %g", pct))
	start := time.Now()
	for {
		var name string
		var dirty int64
		if err := h.db.QueryRowContext(ctx, "SHOW GLOBAL STATUS LIKE 'Innodb_buffer_pool_pages_dirty'").Scan(&name, &dirty); err != nil {
			return err
		}
		if dirty < 1000 || time.Since(start) > 2*time.Minute {
			step("InnoDB settled in %s (%d dirty pages left)", time.Since(start).Round(time.Millisecond), dirty)
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// hotCheck verifies the hot account after its run: balance = start − the
// charges of the orders placed in the run = the sum of its ledger, in exact
// units, and every order answered OK is in the table.
type hotCheck struct {
	start, balance, charges, ledger int64
	orders, placed                  int64
}

func (c hotCheck) ok() bool {
	return c.balance == c.start-c.charges && c.balance == c.ledger && c.orders == c.placed
}

func (c hotCheck) String() string {
	verdict := "OK"
	if !c.ok() {
		verdict = "FAIL"
	}
	return fmt.Sprintf("%s (start %s − %d orders' charges %s = %s; balance %s; ledger sum %s; orders answered OK %d)",
		verdict, money(c.start), c.orders, money(c.charges), money(c.start-c.charges), money(c.balance), money(c.ledger), c.placed)
}

func (h *harness) balance(ctx context.Context, uid uint64) (int64, error) {
	var b int64
	err := h.db.QueryRowContext(ctx, "SELECT balance FROM users WHERE id = ?", uid).Scan(&b)
	return b, err
}

// hotState reads the hot account: balance, its orders and their charges,
// its ledger sum.
func (h *harness) hotState(ctx context.Context) (hotCheck, error) {
	var c hotCheck
	var err error
	if c.balance, err = h.balance(ctx, h.hotID); err != nil {
		return c, err
	}
	if err = h.db.QueryRowContext(ctx, "SELECT COUNT(*), COALESCE(SUM(charge), 0) FROM orders WHERE user_id = ?", h.hotID).Scan(&c.orders, &c.charges); err != nil {
		return c, err
	}
	err = h.db.QueryRowContext(ctx, "SELECT COALESCE(SUM(amount), 0) FROM ledger_entries WHERE user_id = ?", h.hotID).Scan(&c.ledger)
	return c, err
}

// checkHot compares the hot account with its state before the run.
func (h *harness) checkHot(ctx context.Context, before hotCheck, placed int64) (hotCheck, error) {
	c, err := h.hotState(ctx)
	c.start, c.placed = before.balance, placed
	c.orders -= before.orders
	c.charges -= before.charges
	return c, err
}

// checkLedger returns the accounts whose balance is not their ledger sum.
func (h *harness) checkLedger(ctx context.Context) (int, error) {
	var bad int
	err := h.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM users u LEFT JOIN
		(SELECT user_id, SUM(amount) AS s FROM ledger_entries GROUP BY user_id) l ON l.user_id = u.id
		WHERE u.balance <> COALESCE(l.s, 0)`).Scan(&bad)
	return bad, err
}

func (h *harness) countOrders(ctx context.Context) (int64, error) {
	var n int64
	err := h.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM orders").Scan(&n)
	return n, err
}

// serverInfo describes the database for the report.
func (h *harness) serverInfo(ctx context.Context) string {
	if h.driver == "sqlite" {
		var v string
		if err := h.db.QueryRowContext(ctx, "SELECT sqlite_version()").Scan(&v); err != nil {
			return "SQLite"
		}
		return "SQLite " + v + " (embedded, WAL, one connection)"
	}
	var v string
	var pool int64
	if err := h.db.QueryRowContext(ctx, "SELECT VERSION(), @@innodb_buffer_pool_size").Scan(&v, &pool); err != nil {
		return "MySQL"
	}
	return fmt.Sprintf("MySQL %s (innodb_buffer_pool_size %d MiB, pool 32) + Redis", v, pool>>20)
}

func randHex(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(mrand.Uint32())
	}
	return hex.EncodeToString(b)
}

var errFailed = errors.New("failed")
