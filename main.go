// Command smmapi serves the reseller API of an SMM panel operator:
// /api/v2 and /api/v3 on the public listener, the admin JSON API on the
// internal one. `go run .` serves at once on an embedded SQLite file.
package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/net/netutil"

	"smmapi/api"
	"smmapi/service"
	"smmapi/store"
	"smmapi/upstream"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Getenv); err != nil {
		fmt.Fprintln(os.Stderr, "smmapi:", err)
		os.Exit(1)
	}
}

// run is the whole program, minus the process: tests and main share it.
func run(ctx context.Context, args []string, stdout io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("smmapi", flag.ContinueOnError)
	fs.SetOutput(stdout)
	configPath := fs.String("config", "", "config file (default: ./config.yaml if present)")
	healthcheck := fs.Bool("healthcheck", false, "GET /healthz on the public listener and exit 0 if it answers 200")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *configPath == "" {
		if _, err := os.Stat("config.yaml"); err == nil {
			*configPath = "config.yaml"
		}
	}
	cfg, err := loadConfig(*configPath, getenv)
	if err != nil {
		return err
	}
	if *healthcheck {
		return probe(ctx, cfg.HTTP.Addr)
	}

	out := newLogWriter(stdout, 100*time.Millisecond)
	defer out.Close()
	log := slog.New(slog.NewJSONHandler(out, &slog.HandlerOptions{Level: logLevel(cfg.Log.Level)}))
	routeDriverLogs(log)
	log.Info("config", "config", cfg.redacted())

	db, err := store.Open(ctx, cfg.Database.Driver, cfg.Database.DSN,
		store.Options{MaxOpenConns: cfg.Database.MaxOpenConns, MaxIdleConns: cfg.Database.MaxOpenConns}, log)
	if err != nil {
		return err
	}
	defer db.Close()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if sqlDB, err := db.Gorm().DB(); err == nil {
		reg.MustRegister(collectors.NewDBStatsCollector(sqlDB, "smmapi"))
	}
	metrics := api.NewMetrics(reg)
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "smmapi_forward_oldest_waiting_seconds",
			Help: "Age of the oldest order waiting to be forwarded to its supplier (0: none)."}, func() float64 {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			placed, ok, err := db.OldestWaiting(ctx)
			if err != nil || !ok {
				return 0
			}
			return time.Since(placed).Seconds()
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "smmapi_forward_parked_orders",
			Help: "Orders whose forwarding waits for an admin (reconcile or error)."}, func() float64 {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			n, _ := db.ParkedOrders(ctx)
			return float64(n)
		}))

	checks := api.Checks{"database": db.Ping}
	ops := api.NewOpsMetrics(reg, db, checks, time.Now, log)
	var cooldowns service.Cooldowns = store.NewMemoryCooldowns(time.Now)
	var limiter api.Limiter = store.NewMemoryLimiter(time.Now)
	// Caches need a bus that reaches every instance: in-process for the
	// embedded mode, Redis pub/sub otherwise; MySQL without Redis has none
	// and caches nothing.
	var bus interface {
		service.Bus
		OnEvent(func(string))
	}
	if cfg.Database.Driver == store.SQLite {
		bus = store.NewMemoryBus()
	}
	busCtx, stopBus := context.WithCancel(context.Background())
	defer stopBus()
	if brk := db.Breaker(); brk != nil {
		go brk.Run(busCtx)
	}
	if cfg.Redis.Addr != "" {
		rdb, err := store.OpenRedis(ctx, cfg.Redis.Addr, cfg.Redis.Password, cfg.Redis.DB)
		if err != nil {
			return err
		}
		defer rdb.Close()
		brk := store.NewRedisBreaker(rdb, log)
		go brk.Run(busCtx)
		cooldowns = store.NewRedisCooldowns(rdb, cfg.Redis.Prefix, brk)
		limiter = store.NewRedisLimiter(rdb, cfg.Redis.Prefix, brk)
		rb := store.NewRedisBus(rdb, cfg.Redis.Prefix, brk, store.NewEpochs(db, time.Now, log), time.Now, log)
		go rb.Run(busCtx)
		bus = rb
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "smmapi_cache_invalidation_live",
			Help: "1 while this instance hears every cache invalidation (caches used), 0 while it bypasses its caches."},
			func() float64 { return map[bool]float64{true: 1}[rb.Live()] }))
		checks["redis"] = brk.Check
	}

	token, err := internalToken(cfg, log)
	if err != nil {
		return err
	}

	sealer, err := secretsSealer(cfg, log)
	if err != nil {
		return err
	}
	now := func() time.Time { return time.Now().UTC() }
	up := upstream.New(time.Duration(cfg.Upstream.Timeout), upstream.WithObserver(ops),
		upstream.WithSecrets(token, cfg.Secrets.Key, cfg.Redis.Password))
	suppliers := service.NewSuppliers(db, sealer, up)
	events := service.NewEventLog(cfg.Currency, now)
	fulfil := service.NewFulfil(db, suppliers, up, metrics, events, now, log,
		time.Duration(cfg.Workers.SyncInterval), time.Duration(cfg.Upstream.Timeout))
	services := service.NewServices(db, serviceBus(bus), now)
	watch := service.NewTruncationWatch(db, metrics, log, now)
	actions := &service.Actions{
		Auth:         service.NewAuth(db, db, now, log, serviceBus(bus), cfg.Orders.IDFormat),
		Services:     services,
		Add:          service.NewAdd(services, db, cfg.Orders.DuplicateLinkGuard, service.NewOrderIDIn, metrics, events, now),
		Status:       service.NewStatus(db, cfg.Currency, watch),
		Refill:       service.NewRefill(db, db, db, now, watch, events),
		RefillStatus: service.NewRefillStatus(db),
		Cancel:       service.NewCancel(db, db, db, watch, events),
		Balance:      service.NewBalance(db, cfg.Currency),
		Sites:        service.NewSites(db),
		Users:        service.NewUsers(db, cfg.Currency),
		APIKeys:      service.NewAPIKeys(db, db, db, cooldowns, time.Duration(cfg.APIKeys.Cooldown), now, log, metrics),
		Catalog:      service.NewCatalog(db, db),
		Orders:       service.NewOrders(db, cfg.Currency, now, events),
		Tickets:      service.NewTickets(db, events, now, fulfil.ForwardTicket),
		Events:       service.NewEvents(db, now, log, time.Duration(cfg.Events.Retention)),
		Suppliers:    suppliers,
		Fulfil:       fulfil,
	}

	// Access lines go straight to the buffered writer, at level info.
	var access io.Writer
	if logLevel(cfg.Log.Level) <= slog.LevelInfo {
		access = out
	}
	servers := []struct {
		name string
		addr string
		e    *echo.Echo
	}{
		{"public", cfg.HTTP.Addr, api.NewPublic(actions, limiter, limits(cfg), checks, log, api.WithMetrics(metrics), api.WithAccessLog(access),
			api.WithBodyTimeout(time.Duration(cfg.HTTP.BodyTimeout)))},
		{"internal", cfg.Internal.Addr, api.NewInternal(actions, token, checks, log, api.WithMetrics(metrics), api.WithAccessLog(access), api.WithBus(serviceBus(bus)), api.WithProfiling(),
			api.WithMetricsHandler(promhttp.HandlerFor(reg, promhttp.HandlerOpts{})))},
	}
	errc := make(chan error, len(servers))
	var https []*http.Server
	for _, s := range servers {
		ln, err := net.Listen("tcp", s.addr)
		if err != nil {
			return fmt.Errorf("listen %s (%s): %w", s.name, s.addr, err)
		}
		if s.name == "public" && cfg.HTTP.MaxConnections > 0 {
			// Past the limit new connections wait in the kernel's backlog
			// instead of each costing memory (buffers, a goroutine).
			ln = netutil.LimitListener(ln, cfg.HTTP.MaxConnections)
		}
		srv := &http.Server{
			Handler:           s.e,
			ReadHeaderTimeout: 5 * time.Second,
			ReadTimeout:       30 * time.Second,
			WriteTimeout:      60 * time.Second,
			IdleTimeout:       120 * time.Second,
			MaxHeaderBytes:    64 << 10,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		}
		https = append(https, srv)
		log.Info("listening", "listener", s.name, "addr", ln.Addr().String())
		go func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("serve %s: %w", s.name, err)
			}
		}()
	}

	if bus != nil {
		bus.OnEvent(func(topic string) {
			actions.Auth.Invalidate(topic)
			actions.Services.Invalidate(topic)
		})
	}

	workers := service.NewWorkers(fulfil, log)
	actions.Add.OnQueued = workers.Kick
	wctx, stopWorkers := context.WithCancel(context.Background())
	workersDone := make(chan struct{})
	switch {
	case !cfg.Workers.Enabled:
		close(workersDone)
		log.Info("workers switched off on this instance")
	case sealer == nil:
		close(workersDone)
		log.Warn("secrets.key is not configured: forwarding to suppliers is paused")
	default:
		go func() { workers.Run(wctx); close(workersDone) }()
		// Balances are read only: nothing to wait for at stop.
		floors, _ := service.ParseBalanceFloors(cfg.Suppliers.BalanceFloor) // checked by Validate
		go service.NewBalanceWatch(suppliers, ops, floors, log).Run(wctx, time.Duration(cfg.Suppliers.BalanceInterval))
	}

	// Suspect truncated IDs are counted in memory and written every 2 s,
	// and once more at stop.
	watchCtx, stopWatch := context.WithCancel(context.Background())
	watchDone := make(chan struct{})
	go func() { watch.Run(watchCtx, 2*time.Second); close(watchDone) }()
	// Events are numbered within 200 ms of their commit (and at once when
	// the feed is read), and pruned past events.retention.
	go actions.Events.Run(watchCtx, 200*time.Millisecond)

	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case err = <-errc:
		log.Error("server failed", "err", err)
	}
	sctx, cancel := context.WithTimeout(context.Background(), time.Duration(cfg.ShutdownTimeout))
	defer cancel()
	for _, srv := range https {
		if serr := srv.Shutdown(sctx); serr != nil {
			log.Warn("shutdown", "err", serr)
		}
	}
	stopWorkers()
	stopWatch()
	<-watchDone // bounded by its flush timeout
	select {
	case <-workersDone:
	case <-sctx.Done():
		log.Warn("workers still busy at the shutdown timeout; their claims lapse with their lease")
	}
	log.Info("stopped")
	return err
}

// limits converts the limits section; Validate has checked the CIDRs.
func limits(cfg Config) api.Limits {
	l := cfg.Limits
	proxies, _ := api.ParseCIDRs(l.TrustedProxies)
	return api.Limits{KeyRate: l.KeyRate, KeyBurst: l.KeyBurst, IPRate: l.IPRate, IPBurst: l.IPBurst,
		AuthFailures: l.AuthFailures, AuthWindow: time.Duration(l.AuthWindow), AuthLockout: time.Duration(l.AuthLockout),
		TrustedProxies: proxies}
}

// internalToken returns the configured token. In the embedded mode an empty
// one is generated once into a 0600 file beside the database, so a newcomer
// can use the internal API without editing anything.
func internalToken(cfg Config, log *slog.Logger) (string, error) {
	if cfg.Internal.Token != "" {
		return cfg.Internal.Token, nil
	}
	if cfg.Database.Driver != store.SQLite {
		log.Warn("internal.token is empty: every internal API request is refused (set SMMAPI_INTERNAL_TOKEN)")
		return "", nil
	}
	path := sqliteFile(cfg.Database.DSN) + ".internal-token"
	if b, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(b))) > 0 {
		log.Info("internal token read from file", "path", path)
		return strings.TrimSpace(string(b)), nil
	}
	buf := make([]byte, 32)
	if _, err := rand.Read(buf); err != nil {
		return "", err
	}
	tok := hex.EncodeToString(buf)
	if err := os.WriteFile(path, []byte(tok+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write internal token: %w", err)
	}
	log.Info("internal token generated", "path", path)
	return tok, nil
}

// serviceBus converts a possibly nil concrete bus into a nil-able interface.
func serviceBus(b interface {
	service.Bus
	OnEvent(func(string))
}) service.Bus {
	if b == nil {
		return nil
	}
	return b
}

// secretsSealer returns the sealer of supplier keys: from secrets.key, or in
// the embedded mode from a generated 0600 file beside the database. In
// mysql mode without a key it returns nil: supplier endpoints answer 409
// and forwarding is paused.
func secretsSealer(cfg Config, log *slog.Logger) (service.Sealer, error) {
	key := cfg.Secrets.Key
	if key == "" && cfg.Database.Driver == store.SQLite {
		path := sqliteFile(cfg.Database.DSN) + ".secrets-key"
		b, err := os.ReadFile(path)
		if err == nil && len(strings.TrimSpace(string(b))) == 64 {
			key = strings.TrimSpace(string(b))
		} else {
			buf := make([]byte, 32)
			if _, err := rand.Read(buf); err != nil {
				return nil, err
			}
			key = hex.EncodeToString(buf)
			if err := os.WriteFile(path, []byte(key+"\n"), 0o600); err != nil {
				return nil, fmt.Errorf("write secrets key: %w", err)
			}
			log.Info("secrets key generated", "path", path)
		}
	}
	if key == "" {
		log.Warn("secrets.key is not configured: supplier endpoints answer 409 and forwarding is paused (set SMMAPI_SECRETS_KEY)")
		return nil, nil
	}
	s, err := store.NewSealer(key)
	if err != nil {
		return nil, fmt.Errorf("config: secrets.key: %w", err)
	}
	return s, nil
}

// sqliteFile returns the file path of a SQLite DSN ("file:x.db?..." → "x.db").
func sqliteFile(dsn string) string {
	dsn = strings.TrimPrefix(dsn, "file:")
	if i := strings.IndexByte(dsn, '?'); i >= 0 {
		dsn = dsn[:i]
	}
	return filepath.Clean(dsn)
}

// probe is the container health check: the public /healthz answers 200.
func probe(ctx context.Context, addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://127.0.0.1:"+port+"/healthz", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthz: %s", resp.Status)
	}
	return nil
}

func logLevel(s string) slog.Level {
	var l slog.Level
	_ = l.UnmarshalText([]byte(s))
	return l
}

// logWriter buffers log lines and writes them at most every interval (or
// when 64 KiB pile up): one access-log line per request must not cost a
// write system call per request. Close flushes what is left.
type logWriter struct {
	mu   sync.Mutex
	w    *bufio.Writer
	done chan struct{}
	wg   sync.WaitGroup
}

func newLogWriter(w io.Writer, interval time.Duration) *logWriter {
	lw := &logWriter{w: bufio.NewWriterSize(w, 64<<10), done: make(chan struct{})}
	lw.wg.Add(1)
	go func() {
		defer lw.wg.Done()
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				lw.flush()
			case <-lw.done:
				lw.flush()
				return
			}
		}
	}()
	return lw
}

func (lw *logWriter) Write(p []byte) (int, error) {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	return lw.w.Write(p)
}

func (lw *logWriter) flush() {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	lw.w.Flush()
}

// Close stops the ticker and flushes.
func (lw *logWriter) Close() error {
	close(lw.done)
	lw.wg.Wait()
	return nil
}
