package main

// The wiring steps of run, in order: the database, the metrics, Redis (or
// the in-process stand-ins), the service's use cases, the HTTP servers.
// Nothing is set on a shared object once serving has begun.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
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
	"smmapi/webhook"
)

// eventBus is a bus whose events this process can also hear.
type eventBus interface {
	service.Bus
	OnEvent(func(string))
}

// app holds what the wiring steps build, and what close undoes.
type app struct {
	cfg Config
	log *slog.Logger
	out io.Writer // the buffered log writer, for access lines

	db  *store.DB
	reg *prometheus.Registry
	// batchSizes observes add's group commits; made before the database opens.
	batchSizes prometheus.Histogram
	metrics    *api.Metrics
	ops        *api.OpsMetrics
	hookStats  *api.WebhookMetrics
	checks     api.Checks
	cooldowns  service.Cooldowns
	limiter    api.Limiter
	bus        eventBus // nil: no cache
	token      string
	sealer     service.Sealer

	actions  *service.Actions
	workers  *service.Workers
	watch    *service.TruncationWatch
	servers  []namedServer
	stopBase context.CancelFunc // ends the breakers and the bus
	closers  []func()
}

type namedServer struct {
	name, addr string
	e          *echo.Echo
}

// close undoes the steps, last first.
func (a *app) close() {
	for i := len(a.closers) - 1; i >= 0; i-- {
		a.closers[i]()
	}
}

func (a *app) openDatabase(ctx context.Context) error {
	a.batchSizes = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "smmapi_order_batch_size",
		Help:    "Orders per group commit of add (1: an order that arrived while no placement was in flight).",
		Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256, 512}})
	opt := store.Options{MaxOpenConns: a.cfg.Database.MaxOpenConns, MaxIdleConns: a.cfg.Database.MaxOpenConns, Now: time.Now,
		PlaceBatch: a.cfg.Orders.BatchMax, PlaceShards: a.cfg.Orders.BatchShards,
		OnBatch: func(n int) { a.batchSizes.Observe(float64(n)) }, BackgroundConns: a.cfg.Database.BackgroundConns}
	for _, d := range strings.Split(a.cfg.Database.FallbackDSNs, ";") {
		if d = strings.TrimSpace(d); d != "" {
			opt.FallbackDSNs = append(opt.FallbackDSNs, d)
		}
	}
	db, err := store.Open(ctx, a.cfg.Database.Driver, a.cfg.Database.DSN, opt, a.log)
	if err != nil {
		return err
	}
	a.db = db
	a.closers = append(a.closers, func() { db.Close() })
	base, stop := context.WithCancel(context.Background())
	a.stopBase = stop
	a.closers = append(a.closers, stop)
	if brk := db.Breaker(); brk != nil {
		go brk.Run(base)
	}
	a.checks = api.Checks{"database": db.Ping}
	return nil
}

func (a *app) openMetrics(context.Context) error {
	db := a.db
	a.reg = prometheus.NewRegistry()
	a.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if sqlDB, err := db.Gorm().DB(); err == nil {
		a.reg.MustRegister(collectors.NewDBStatsCollector(sqlDB, "smmapi"))
	}
	a.metrics = api.NewMetrics(a.reg)
	a.reg.MustRegister(a.batchSizes)
	a.reg.MustRegister(
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
	a.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "smmapi_services_disabled_by_sync",
		Help: "Services the catalog sync disabled because their supplier service vanished."}, func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		n, _ := db.ServicesGone(ctx)
		return float64(n)
	}))
	a.ops = api.NewOpsMetrics(a.reg, db, a.checks, time.Now, a.log)
	a.hookStats = api.NewWebhookMetrics(a.reg, db, time.Now)
	return nil
}

// openRedis connects Redis for limits, cooldowns and the cache bus, or
// sets up their in-process stand-ins. Caches need a bus that reaches every
// instance: in-process for the embedded mode, Redis pub/sub otherwise;
// MySQL without Redis has none and caches nothing.
func (a *app) openRedis(ctx context.Context) error {
	a.cooldowns = store.NewMemoryCooldowns(time.Now)
	a.limiter = store.NewMemoryLimiter(time.Now)
	if a.cfg.Database.Driver == store.SQLite {
		a.bus = store.NewMemoryBus()
	}
	rc := store.RedisConfig{Cluster: a.cfg.Redis.Cluster, Password: a.cfg.Redis.Password, DB: a.cfg.Redis.DB}
	for _, addr := range append(strings.Split(a.cfg.Redis.Addrs, ","), a.cfg.Redis.Addr) {
		if addr = strings.TrimSpace(addr); addr != "" {
			rc.Addrs = append(rc.Addrs, addr)
		}
	}
	if len(rc.Addrs) == 0 {
		return nil
	}
	rdb, err := store.OpenRedis(ctx, rc)
	if err != nil {
		return err
	}
	a.closers = append(a.closers, func() { rdb.Close() })
	base, stop := context.WithCancel(context.Background())
	a.closers = append(a.closers, stop)
	brk := store.NewRedisBreaker(rdb, a.log)
	go brk.Run(base)
	a.cooldowns = store.NewRedisCooldowns(rdb, a.cfg.Redis.Prefix, brk)
	a.limiter = store.NewRedisLimiter(rdb, a.cfg.Redis.Prefix, brk)
	rb := store.NewRedisBus(rdb, a.cfg.Redis.Prefix, brk, store.NewEpochs(a.db, time.Now, a.log), time.Now, a.log)
	go rb.Run(base)
	a.bus = rb
	a.checks["redis"] = brk.Check
	return nil
}

// registerLive exports whether this instance uses its caches: 1 while it
// hears every invalidation (always, in process), 0 while it bypasses them
// (Redis silent or down, or MySQL without Redis: no bus at all).
func (a *app) registerLive(context.Context) error {
	bus := a.bus
	a.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "smmapi_cache_invalidation_live",
		Help: "1 while this instance hears every cache invalidation (caches used), 0 while it bypasses its caches."},
		func() float64 {
			if bus != nil && bus.Live() {
				return 1
			}
			return 0
		}))
	return nil
}

// buildActions builds every use case and connects them: the cache
// invalidations they hear and the forwarder an order wakes.
func (a *app) buildActions(context.Context) error {
	cfg, db, log := a.cfg, a.db, a.log
	var err error
	if a.token, err = internalToken(cfg, log); err != nil {
		return err
	}
	if a.sealer, err = secretsSealer(cfg, log); err != nil {
		return err
	}
	now := func() time.Time { return time.Now().UTC() }
	up := upstream.New(time.Duration(cfg.Upstream.Timeout), upstream.WithObserver(a.ops),
		upstream.WithSecrets(a.token, cfg.Secrets.Key, cfg.Redis.Password))
	suppliers := service.NewSuppliers(db, a.sealer, up, cfg.Currency, now)
	events := service.NewEventLog(cfg.Currency, now)
	fulfil := service.NewFulfil(db, suppliers, up, a.metrics, events, now, log,
		time.Duration(cfg.Workers.SyncInterval), time.Duration(cfg.Upstream.Timeout))
	bus := serviceBus(a.bus)
	inv := service.NewInvalidator(bus, a.metrics, log)
	services := service.NewServices(db, db, bus, now, cfg.Pricing.CacheMB<<20)
	a.watch = service.NewTruncationWatch(db, a.metrics, log, now)
	a.actions = &service.Actions{
		Auth:         service.NewAuth(db, db, now, log, bus, cfg.Orders.IDFormat),
		Services:     services,
		Add:          service.NewAdd(services, db, cfg.Orders.DuplicateLinkGuard, service.NewOrderIDIn, a.metrics, events, now),
		Status:       service.NewStatus(db, cfg.Currency, a.watch),
		Refill:       service.NewRefill(db, db, db, now, a.watch, events),
		RefillStatus: service.NewRefillStatus(db),
		Cancel:       service.NewCancel(db, db, db, a.watch, events),
		Balance:      service.NewBalance(db, cfg.Currency),
		Sites:        service.NewSites(db, inv),
		Users:        service.NewUsers(db, cfg.Currency, inv),
		Prices:       service.NewPrices(db, db, inv),
		APIKeys:      service.NewAPIKeys(db, db, db, a.cooldowns, time.Duration(cfg.APIKeys.Cooldown), now, log, a.metrics, inv),
		Catalog:      service.NewCatalog(db, db, db, inv),
		Orders:       service.NewOrders(db, cfg.Currency, now, events),
		Sales:        service.NewSales(db),
		Tickets:      service.NewTickets(db, events, now, fulfil.ForwardTicket),
		Events:       service.NewEvents(db, now, log, time.Duration(cfg.Events.Retention)),
		Suppliers:    suppliers,
		Fulfil:       fulfil,
	}
	a.actions.Subscriptions = service.NewSubscriptions(db, a.actions.Orders, events, a.metrics, now, log, service.NewOrderIDIn)
	fulfil.Posts = a.actions.Subscriptions
	a.actions.CatalogChanges = service.NewCatalogChanges(db, suppliers, inv)
	catalogSync := service.NewCatalogSync(db, suppliers, up, inv, a.ops, log, now,
		time.Duration(cfg.Suppliers.SyncCatalogInterval), int64(cfg.Suppliers.MaxRateChangePercent), time.Duration(cfg.Upstream.Timeout))
	policy, _ := service.NewAddrPolicy(cfg.Webhooks.AllowPrivate) // checked by Validate
	hookCfg := service.WebhookConfig{Timeout: time.Duration(cfg.Webhooks.Timeout), MaxAge: time.Duration(cfg.Webhooks.MaxAge),
		MaxFailures: int64(cfg.Webhooks.MaxFailures), Backoff: time.Duration(cfg.Webhooks.Backoff),
		MaxBackoff: time.Duration(cfg.Webhooks.MaxBackoff), Concurrency: cfg.Webhooks.Concurrency, PerEndpoint: cfg.Webhooks.PerEndpoint}
	a.actions.Webhooks = service.NewWebhooks(db, db, a.sealer, policy, hookCfg, now)
	var hooks *service.Deliverer
	if a.sealer != nil {
		bg := db.Background() // its own pool: rounds never queue behind requests
		hooks = service.NewDeliverer(bg, bg, a.sealer, webhook.New(hookCfg.Timeout, hookCfg.Concurrency, policy), a.hookStats, hookCfg, now, log)
	}
	a.workers = service.NewWorkers(fulfil, a.actions.Subscriptions, catalogSync, hooks, time.Duration(cfg.Events.Retention), log)
	a.actions.Add.OnQueued = a.workers.Kick
	if a.bus != nil {
		a.bus.OnEvent(func(topic string) {
			a.actions.Auth.Invalidate(topic)
			a.actions.Services.Invalidate(topic)
		})
	}
	return nil
}

func (a *app) buildServers(context.Context) error {
	// Access lines go straight to the buffered writer, at level info.
	var access io.Writer
	if logLevel(a.cfg.Log.Level) <= slog.LevelInfo {
		access = a.out
	}
	a.servers = []namedServer{
		{"public", a.cfg.HTTP.Addr, api.NewPublic(a.actions, a.limiter, limits(a.cfg), a.checks, a.log, api.WithMetrics(a.metrics),
			api.WithAccessLog(access), api.WithBodyTimeout(time.Duration(a.cfg.HTTP.BodyTimeout)))},
		{"internal", a.cfg.Internal.Addr, api.NewInternal(a.actions, a.token, a.checks, a.log, api.WithMetrics(a.metrics),
			api.WithAccessLog(access), api.WithProfiling(),
			api.WithMetricsHandler(promhttp.HandlerFor(a.reg, promhttp.HandlerOpts{})))},
	}
	return nil
}

// serve listens, runs the background jobs, and stops it all in order when
// ctx ends or a listener fails.
func (a *app) serve(ctx context.Context) error {
	cfg, log := a.cfg, a.log
	errc := make(chan error, len(a.servers))
	var https []*http.Server
	for _, s := range a.servers {
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
	stopJobs := a.startJobs()

	var err error
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
	stopJobs(sctx)
	log.Info("stopped")
	return err
}

// startJobs starts the background work: fulfilment and supplier balances
// (where this instance runs workers), the truncation watch's flushes, the
// events' numbering and pruning. The returned stop waits for them, bounded
// by ctx.
func (a *app) startJobs() (stop func(ctx context.Context)) {
	cfg, log := a.cfg, a.log
	wctx, stopWorkers := context.WithCancel(context.Background())
	workersDone := make(chan struct{})
	switch {
	case !cfg.Workers.Enabled:
		close(workersDone)
		log.Info("workers switched off on this instance")
	case a.sealer == nil:
		go func() { a.workers.Run(wctx, false); close(workersDone) }()
		log.Warn("secrets.key is not configured: forwarding to suppliers is paused")
	default:
		go func() { a.workers.Run(wctx, true); close(workersDone) }()
		// Balances are read only: nothing to wait for at stop.
		floors, _ := service.ParseBalanceFloors(cfg.Suppliers.BalanceFloor) // checked by Validate
		go service.NewBalanceWatch(a.actions.Suppliers, a.ops, floors, log).Run(wctx, time.Duration(cfg.Suppliers.BalanceInterval))
	}
	// Suspect truncated IDs are counted in memory and written every 2 s,
	// and once more at stop.
	watchCtx, stopWatch := context.WithCancel(context.Background())
	watchDone := make(chan struct{})
	go func() { a.watch.Run(watchCtx, 2*time.Second); close(watchDone) }()
	// Events are numbered within a second of their commit (and at once when
	// the feed is read), and pruned past events.retention.
	go a.actions.Events.Run(watchCtx, time.Second)

	return func(ctx context.Context) {
		stopWorkers()
		stopWatch()
		<-watchDone // bounded by its flush timeout
		select {
		case <-workersDone:
		case <-ctx.Done():
			log.Warn("workers still busy at the shutdown timeout; their claims lapse with their lease")
		}
	}
}
