// Command load is smmapi's load harness. It builds and starts the real
// binary on a fresh database, provisions accounts, a catalog and existing
// orders, and measures requests/s and p50/p99 of the public hot paths at 64
// connections. Beside each figure it measures, in the same run, a ceiling: a
// bare Echo + database/sql server doing only the same database work. The
// ratios hold on a noisy machine where absolute numbers do not.
//
//	go run ./tests/load                          # SQLite (embedded mode)
//	go run ./tests/load -backend mysql           # MariaDB/MySQL + Redis
//	go run ./tests/load -backend mysql -scaling  # status and add at 0 and 1 000 000 orders
//	go run ./tests/load -smoke                   # seconds; fails unless every request succeeded
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type options struct {
	backend       string
	mysqlDSN      string
	redis         string
	redisCluster  bool
	orders        int
	scalingOrders int
	duration      time.Duration
	warmup        time.Duration
	rounds        int
	conns         int
	accounts      int
	services      int
	smoke         bool
	scaling       bool
	out           string
	bin           string
	keep          bool
	only          string
	profile       string
	bufferPool    string
	hookAccounts  int
	hookChanges   int
	hookRate      int
	hookBacklog   int
	hookBurst     int
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	var o options
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	fs.StringVar(&o.backend, "backend", "sqlite", "sqlite (embedded) or mysql (MySQL/MariaDB + Redis)")
	fs.StringVar(&o.mysqlDSN, "mysql-dsn", "root@tcp(127.0.0.1:3306)/test", "root DSN; the run creates and drops its own database")
	fs.StringVar(&o.redis, "redis", "127.0.0.1:6379", "Redis address (mysql backend); the run uses its own key prefix")
	fs.BoolVar(&o.redisCluster, "redis-cluster", false, "-redis is a Redis Cluster's comma-separated seeds (deploy/cluster/cluster.sh); -mysql-dsn may then be a Galera node")
	fs.IntVar(&o.orders, "orders", 100_000, "existing orders before the run")
	fs.IntVar(&o.scalingOrders, "scaling-orders", 1_000_000, "existing orders of the -scaling run's second half")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "measured time per scenario")
	fs.DurationVar(&o.warmup, "warmup", time.Second, "unmeasured warm-up before each scenario")
	fs.IntVar(&o.rounds, "rounds", 5, "each scenario and its ceiling run in this many alternating slices of -duration/rounds")
	fs.IntVar(&o.conns, "conns", 64, "concurrent keep-alive connections")
	fs.IntVar(&o.accounts, "accounts", 200, "accounts of the many-accounts scenarios")
	fs.IntVar(&o.services, "services", 3000, "catalog size")
	fs.BoolVar(&o.smoke, "smoke", false, "tiny numbers (1000 orders, 300 services, 20 accounts, 0.5s per scenario); exit non-zero unless every request succeeded")
	fs.BoolVar(&o.scaling, "scaling", false, "measure status and add at 0 and at -scaling-orders existing orders, and print the ratios")
	fs.StringVar(&o.out, "out", "", "also write the table as markdown to this file")
	fs.StringVar(&o.bin, "bin", "", "use this smmapi binary instead of building one")
	fs.StringVar(&o.only, "only", "", "run only the scenarios whose names contain one of these comma-separated words (\"status\", \"add\", \"services\", \"balance\", \"webhooks\")")
	fs.StringVar(&o.bufferPool, "buffer-pool", "", "MySQL: raise innodb_buffer_pool_size to this (e.g. 2G) for the run, as a production server sized to its data would be, and restore it afterwards (default: 2G with -scaling, else unchanged)")
	fs.StringVar(&o.profile, "profile", "", "after each scenario, load smmapi alone for -duration more while taking a CPU profile into this folder (<scenario>.pprof)")
	fs.BoolVar(&o.keep, "keep", false, "keep the MySQL database and the temporary folder (logs, SQLite file) afterwards")
	fs.IntVar(&o.hookAccounts, "hook-accounts", 1000, "webhooks: accounts with an endpoint on the harness's receiver")
	fs.IntVar(&o.hookChanges, "hook-changes", 20_000, "webhooks: order changes made through the admin API (two per order)")
	fs.IntVar(&o.hookRate, "hook-rate", 1250, "webhooks: order changes asked for per second")
	fs.IntVar(&o.hookBacklog, "hook-backlog", 100_000, "webhooks: events for one more account whose endpoint refuses connections (0: none)")
	fs.IntVar(&o.hookBurst, "hook-burst", 3000, "webhooks: after the measured phase, as many changes again at up to this rate with no status load (0: none)")
	serve := fs.Bool("serve-bare", false, "internal: serve the ceiling server")
	bareDSN := fs.String("bare-dsn", "", "internal: the ceiling server's DSN")
	bareBody := fs.String("bare-body", "", "internal: the pre-serialized catalog")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *serve {
		return runBare(o.backend, *bareDSN, *bareBody, 32)
	}
	if o.scaling && o.bufferPool == "" {
		o.bufferPool = "2G"
	}
	if o.smoke {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		for name, v := range map[string]string{"orders": "1000", "scaling-orders": "5000", "services": "300",
			"duration": "500ms", "warmup": "100ms", "accounts": "20", "rounds": "1",
			"hook-accounts": "20", "hook-changes": "400", "hook-rate": "400", "hook-backlog": "1000", "hook-burst": "800"} {
			if !set[name] {
				fs.Set(name, v)
			}
		}
	}
	if o.conns < 1 || o.accounts < 1 || o.services < 1 || o.rounds < 1 || o.orders < 0 || o.duration <= 0 ||
		o.hookAccounts < 1 || o.hookChanges < 2 || o.hookRate < 1 || o.hookBacklog < 0 {
		return errors.New("-conns, -accounts, -services, -rounds, -duration and -hook-* must be positive (-hook-backlog and -orders may be 0)")
	}

	h, err := setUp(ctx, o)
	if h != nil {
		defer h.close()
	}
	if err != nil {
		return err
	}
	if err := h.loadCatalog(ctx); err != nil {
		return err
	}
	if err := h.startBare(ctx); err != nil {
		return err
	}
	// Start-up warnings (configuration) are not the load's business.
	h.smm.drainLog(0)
	var rep *report
	if o.scaling {
		rep, err = h.scalingRun(ctx)
	} else {
		rep, err = h.fullRun(ctx)
	}
	if err != nil {
		return err
	}
	text := rep.String()
	fmt.Fprint(stdout, text)
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("interrupted: the figures above are partial: %w", err)
	}
	if o.out != "" {
		if err := os.WriteFile(o.out, []byte(text), 0o644); err != nil {
			return err
		}
	}
	if !rep.passed() {
		return fmt.Errorf("%w: %d failed requests; checks: %s", errFailed, rep.failures, strings.Join(rep.failedChecks, ", "))
	}
	return nil
}

// began is when the program started, for the progress lines.
var began = time.Now()

// step prints progress to stderr; the table goes to stdout.
func step(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "load %6.1fs: "+format+"\n", append([]any{time.Since(began).Seconds()}, a...)...)
}

// measured is one scenario's measurement and its warm-up's counts.
type measured struct {
	result
	warmOK, warmFail int64
}

// measure warms t up, then measures it for the whole duration.
func (h *harness) measure(ctx context.Context, t target) measured {
	w := runLoad(ctx, t, h.o.conns, h.o.warmup)
	r := runLoad(ctx, t, h.o.conns, h.o.duration)
	m := measured{result: r, warmOK: w.ok, warmFail: w.fail}
	m.log()
	return m
}

func (m measured) log() {
	step("  %-28s %8.0f req/s  p50 %-9s p99 %-9s failed %d", m.name, m.rps, ms(m.p50), ms(m.p99), m.failed())
}

// interleave measures a and b in turns of duration/rounds each after one
// warm-up each: noise from the rest of the machine falls on both alike.
func (h *harness) interleave(ctx context.Context, a, b target) (measured, measured) {
	ma, mb := measured{result: result{name: a.name}}, measured{result: result{name: b.name}}
	w := runLoad(ctx, a, h.o.conns, h.o.warmup)
	ma.warmOK, ma.warmFail, ma.firstErr = w.ok, w.fail, w.firstErr
	w = runLoad(ctx, b, h.o.conns, h.o.warmup)
	mb.warmOK, mb.warmFail, mb.firstErr = w.ok, w.fail, w.firstErr
	slice := h.o.duration / time.Duration(h.o.rounds)
	for range h.o.rounds {
		ma.result = ma.merge(runLoad(ctx, a, h.o.conns, slice))
		mb.result = mb.merge(runLoad(ctx, b, h.o.conns, slice))
	}
	ma.log()
	mb.log()
	return ma, mb
}

func (m measured) failed() int64 { return m.fail + m.warmFail }

// bodies builds the request forms of every scenario.
type bodies struct {
	h *harness
	// span, when set, limits status to the first span history orders:
	// the scaling run's "same orders" rows poll the phase-1 orders again.
	span uint64
}

func formOf(kv ...string) string {
	var b strings.Builder
	for i := 0; i < len(kv); i += 2 {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(kv[i] + "=" + kv[i+1])
	}
	return b.String()
}

// history returns a random existing order of the history account.
func (b *bodies) history() string {
	n := b.h.seeded
	if b.span > 0 {
		n = min(n, b.span)
	}
	return b.h.ids62.id(mrand.Uint64N(n))
}

// status1 forms one-ID status; bare adds the owner for the ceiling.
func (b *bodies) status1(bare bool) [][]byte {
	out := make([][]byte, 4096)
	for i := range out {
		f := formOf("key", b.h.histKey, "action", "status", "order", b.history())
		if bare {
			f += "&u=" + strconv.FormatUint(b.h.histID, 10)
		}
		out[i] = []byte(f)
	}
	return out
}

func (b *bodies) status100(bare bool) [][]byte {
	out := make([][]byte, 512)
	for i := range out {
		ids := make([]string, 0, 100)
		seen := map[string]bool{}
		for len(ids) < min(100, int(b.h.seeded)) {
			if id := b.history(); !seen[id] {
				seen[id] = true
				ids = append(ids, id)
			}
		}
		f := formOf("key", b.h.histKey, "action", "status", "orders", strings.Join(ids, ","))
		if bare {
			f += "&u=" + strconv.FormatUint(b.h.histID, 10)
		}
		out[i] = []byte(f)
	}
	return out
}

// perAccount forms action for every many-account (bare: with its ID).
func (b *bodies) perAccount(action string, bare bool) [][]byte {
	out := make([][]byte, len(b.h.keys))
	for i, k := range b.h.keys {
		f := formOf("key", k, "action", action)
		if bare {
			f += "&u=" + strconv.FormatUint(b.h.ids[i], 10)
		}
		out[i] = []byte(f)
	}
	return out
}

// add places an order with a link never used before (the duplicate-link
// guard stays out of the way) for keys[i] / ids[i] in turn.
func (b *bodies) add(keys []string, ids []uint64) func(worker, seq int, dst []byte) []byte {
	svc := strconv.FormatUint(b.h.addSvc, 10)
	q := strconv.Itoa(addQuantity)
	return func(worker, seq int, dst []byte) []byte {
		n := b.h.linkSeq.Add(1)
		i := int(n % int64(len(keys)))
		dst = append(dst, "key="...)
		dst = append(dst, keys[i]...)
		dst = append(dst, "&action=add&service="+svc+"&link=https%3A%2F%2Finstagram.com%2Fp%2FL"...)
		dst = strconv.AppendInt(dst, n, 10)
		dst = append(dst, "&quantity="+q...)
		if ids != nil {
			dst = append(dst, "&u="...)
			dst = strconv.AppendUint(dst, ids[i], 10)
			dst = append(dst, "&c="+strconv.Itoa(addCharge)...)
		}
		return dst
	}
}

func repeatN(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}

func (h *harness) smmapi(name string, gzip bool, body func(int, int, []byte) []byte) target {
	return newTarget(name, h.public, "/api/v2", gzip, body)
}

func (h *harness) ceiling(name, path string, gzip bool, body func(int, int, []byte) []byte) target {
	return newTarget(name, h.bareAddr, path, gzip, body)
}

// row is one line of the table: an smmapi scenario beside its ceiling.
type row struct {
	name     string
	smm      measured
	ceilName string
	ceil     measured
	target   float64
	p99cap   bool   // met also needs smmapi's p99 not above the ceiling's
	rss      int64  // smmapi's VmHWM after this scenario
	baseName string // scaling: the phase-1 row it compares with, when not its own name
}

// met tells whether the row reached its target.
func (r row) met() bool {
	return r.ratio() >= r.target && (!r.p99cap || r.smm.p99 <= r.ceil.p99)
}

// targetText is the target as the table shows it.
func (r row) targetText() string {
	if r.p99cap {
		return fmt.Sprintf("≥ %.2f, p99 ≤ ceiling's", r.target)
	}
	return fmt.Sprintf("≥ %.2f", r.target)
}

func (r row) ratio() float64 {
	if r.ceil.rps == 0 {
		return 0
	}
	return r.smm.rps / r.ceil.rps
}

// pair measures the ceiling right before its smmapi scenario.
func (h *harness) pair(ctx context.Context, name string, smm target, ceilName string, ceil target, want float64) (row, error) {
	c, s := h.interleave(ctx, ceil, smm)
	h.collectLog()
	if err := h.alive(); err != nil {
		return row{}, err
	}
	rss, err := h.smm.peakRSS()
	return row{name: name, smm: s, ceilName: ceilName, ceil: c, target: want, rss: rss}, err
}

// alive fails the run as soon as a server has died, with its last words.
func (h *harness) alive() error {
	for _, p := range []*proc{h.smm, h.bare} {
		if p.exited() {
			return fmt.Errorf("%s exited (%v):\n%s", p.name, p.cmd.ProcessState, p.tail(4000))
		}
	}
	return nil
}

// collectLog keeps smmapi's warnings and errors and empties its log.
func (h *harness) collectLog() {
	lines, n := h.smm.drainLog(5)
	h.warnCount += n
	for _, l := range lines {
		if len(h.warnLines) < 5 {
			h.warnLines = append(h.warnLines, l)
		}
	}
}

// scenario is one smmapi scenario and its ceiling.
type scenario struct {
	name     string
	smm      target
	ceilName string
	ceil     target
	want     float64
	hot      bool    // add on the hot account: check its money afterwards
	p99cap   bool    // the target also caps p99 at the ceiling's
	also     *target // another ceiling, measured right after, for the notes
	baseName string  // scaling: compare with this phase-1 scenario
	// prepare, when set, runs before the scenario (provisioning it needs).
	prepare func(context.Context) error
}

// runScenarios measures each scenario beside its ceiling.
func (h *harness) runScenarios(ctx context.Context, rep *report, list []scenario) ([]row, error) {
	var rows []row
	for _, s := range list {
		if !h.selected(s.name) {
			continue
		}
		if s.prepare != nil {
			if err := s.prepare(ctx); err != nil {
				return rows, fmt.Errorf("%s: %w", s.name, err)
			}
		}
		var before hotCheck
		if s.hot {
			var err error
			if before, err = h.hotState(ctx); err != nil {
				return rows, err
			}
		}
		r, err := h.pair(ctx, s.name, s.smm, s.ceilName, s.ceil, s.want)
		r.baseName, r.p99cap = s.baseName, s.p99cap
		rows = append(rows, r)
		if err != nil {
			return rows, err
		}
		if h.o.profile != "" {
			if err := h.profile(ctx, s.smm); err != nil {
				return rows, err
			}
		}
		if s.also != nil {
			rep.extra = append(rep.extra, h.measure(ctx, *s.also))
		}
		if s.hot {
			c, err := h.checkHot(ctx, before, r.smm.ok+r.smm.warmOK)
			if err != nil {
				return rows, err
			}
			rep.checks = append(rep.checks, c)
		}
	}
	return rows, nil
}

// selected applies -only.
func (h *harness) selected(name string) bool {
	if h.o.only == "" {
		return true
	}
	for _, w := range strings.Split(h.o.only, ",") {
		if w = strings.TrimSpace(w); w != "" && strings.Contains(name, w) {
			return true
		}
	}
	return false
}

// zeroKey stands for the key in the ceiling's forms: it parses a field of
// the same size and ignores it.
var zeroKey = strings.Repeat("0", 32)

// statusScenarios and addScenarios are shared by the full and scaling runs;
// want is the target of the full run (the scaling run has its own).
func (h *harness) statusScenarios(b *bodies, ceil1Name, ceil1Path string, want1 float64) []scenario {
	return []scenario{
		{name: "status (1 ID)", smm: h.smmapi("status (1 ID)", false, pool(b.status1(false))),
			ceilName: ceil1Name, ceil: h.ceiling("ceiling: "+ceil1Name, ceil1Path, false, pool(b.status1(true))), want: want1},
		{name: "status (100 IDs)", smm: h.smmapi("status (100 IDs)", false, pool(b.status100(false))),
			ceilName: "100-ID IN select", ceil: h.ceiling("ceiling: 100-ID IN select", "/in100", false, pool(b.status100(true))), want: 0.80},
	}
}

// addScenarios: the ceiling is one transaction per order; group commit
// (store/placer.go) is to pass it: on MySQL 1.2× for many accounts and 2×
// for one hot account (p99 not above the ceiling's), on SQLite (one
// writer) 1.5× for both.
func (h *harness) addScenarios(b *bodies) []scenario {
	wantMany, wantHot := 1.2, 2.0
	if h.driver == "sqlite" {
		wantMany, wantHot = 1.5, 1.5
	}
	return []scenario{
		{name: "add (many accounts)", smm: h.smmapi("add (many accounts)", false, b.add(h.keys, nil)),
			ceilName: "debit tx", ceil: h.ceiling("ceiling: debit tx", "/debit", false, b.add(repeatN(zeroKey, len(h.keys)), h.bareIDs)), want: wantMany},
		{name: "add (one hot account)", smm: h.smmapi("add (one hot account)", false, b.add([]string{h.hotKey}, nil)),
			ceilName: "debit tx, one row", ceil: h.ceiling("ceiling: debit tx, one row", "/debit", false, b.add([]string{zeroKey}, []uint64{h.bareHot})),
			want: wantHot, hot: true, p99cap: h.driver != "sqlite"},
	}
}

func (h *harness) fullRun(ctx context.Context) (*report, error) {
	if err := h.seedOrders(ctx, uint64(max(h.o.orders, 1000))); err != nil {
		return nil, err
	}
	b := &bodies{h: h}
	rep := &report{h: h, title: fmt.Sprintf("smmapi load: %s", h.driver)}
	step("measuring (%d connections, %s per scenario after %s warm-up)", h.o.conns, h.o.duration, h.o.warmup)
	rep.setupRSS, _ = h.smm.peakRSS()

	list := h.statusScenarios(b, "PK select", "/pk", 0.60)
	// The status-1 select itself, beside the PK select the target names.
	st1 := h.ceiling("ceiling: status-1 select", "/status1", false, pool(b.status1(true)))
	list[0].also = &st1
	list = append(list, h.addScenarios(b)...)
	svc, svcBare := pool(b.perAccount("services", false)), pool(b.perAccount("services", true))
	list = append(list,
		scenario{name: "services v2", smm: h.smmapi("services v2", false, svc),
			ceilName: "pre-serialized body", ceil: h.ceiling("ceiling: pre-serialized body", "/body", false, svcBare), want: 0.90},
		scenario{name: "services v2 (gzip)", smm: h.smmapi("services v2 (gzip)", true, svc),
			ceilName: "pre-gzipped body", ceil: h.ceiling("ceiling: pre-gzipped body", "/body", true, svcBare), want: 0.90},
		scenario{name: "balance", smm: h.smmapi("balance", false, pool(b.perAccount("balance", false))),
			ceilName: "PK select", ceil: h.ceiling("ceiling: PK select", "/pk", false, pool(b.perAccount("balance", true))), want: 0.60},
	)
	list = append(list, h.priceListScenarios()...)
	var err error
	if rep.rows, err = h.runScenarios(ctx, rep, list); err != nil {
		return nil, err
	}
	if h.selected("webhooks") {
		if err := h.webhooksScenario(ctx, rep); err != nil {
			return nil, err
		}
	}
	return rep, h.finish(ctx, rep)
}

// scalingRun measures status and add at (about) no existing orders, then
// at -scaling-orders, and compares each with itself.
func (h *harness) scalingRun(ctx context.Context) (*report, error) {
	rep := &report{h: h, scaling: true, title: fmt.Sprintf("smmapi scaling: %s, 0 → %d existing orders", h.driver, h.o.scalingOrders)}
	phase := func(second bool) ([]row, error) {
		b := &bodies{h: h}
		list := append(h.statusScenarios(b, "status-1 select", "/status1", 0.85), h.addScenarios(b)...)
		if second {
			// The same 1000 orders as phase 1, now among a million: what
			// the table's size costs, apart from the polled set's.
			same := h.statusScenarios(&bodies{h: h, span: 1000}, "status-1 select", "/status1", 0.85)
			for i := range same {
				same[i].baseName = same[i].name
				same[i].name += ", same 1000 orders"
				same[i].smm.name += ", same 1000 orders"
				same[i].ceil.name += ", same 1000 orders"
			}
			list = append(list, same...)
		}
		for i := range list {
			list[i].want = 0.85
		}
		return h.runScenarios(ctx, rep, list)
	}
	// "0": only the 1000 orders the status scenarios ask about.
	if err := h.seedOrders(ctx, 1000); err != nil {
		return nil, err
	}
	n0, _ := h.countOrders(ctx)
	step("phase 1: %d existing orders", n0)
	rep.setupRSS, _ = h.smm.peakRSS()
	var err error
	if rep.rows, err = phase(false); err != nil {
		return nil, err
	}
	if err := h.seedOrders(ctx, uint64(h.o.scalingOrders)); err != nil {
		return nil, err
	}
	n1, _ := h.countOrders(ctx)
	step("phase 2: %d existing orders", n1)
	if rep.rows2, err = phase(true); err != nil {
		return nil, err
	}
	rep.phases = [2]int64{n0, n1}
	return rep, h.finish(ctx, rep)
}

// finish adds the end-of-run facts: peak memory, invariants, order count.
func (h *harness) finish(ctx context.Context, rep *report) error {
	var err error
	if rep.rss, err = h.smm.peakRSS(); err != nil {
		return err
	}
	rep.bareRSS, _ = h.bare.peakRSS()
	if rep.badLedger, err = h.checkLedger(ctx); err != nil {
		return err
	}
	rep.orders, _ = h.countOrders(ctx)
	rep.db = h.serverInfo(ctx)
	h.collectLog()
	return nil
}

func ms(d time.Duration) string {
	return fmt.Sprintf("%.2fms", float64(d.Microseconds())/1000)
}

func cpus() string {
	return fmt.Sprintf("%d CPUs", runtime.NumCPU())
}
