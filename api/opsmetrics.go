package api

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"smmapi/model"
	"smmapi/service"
)

// OpsMetrics are the operator's series beyond the request path: supplier
// calls and balances, live orders from the database, readiness per
// dependency. The database gauges come from one aggregate read at most once
// per ttl, however often and however many scrapers ask.
type OpsMetrics struct {
	calls    *prometheus.CounterVec
	callTime *prometheus.HistogramVec
	syncs    *prometheus.CounterVec

	stats  service.OrderStatsStore
	checks Checks
	now    func() time.Time
	log    *slog.Logger
	ttl    time.Duration

	up, open, forward, supOpen, supOldest, balance, floor *prometheus.Desc

	mu       sync.Mutex
	readAt   time.Time // last attempt, failed or not
	goodAt   time.Time // last success
	last     service.OrderStats
	balances []service.SupplierBalance
}

var (
	_ service.BalanceRecorder = (*OpsMetrics)(nil)
	_ service.SyncRecorder    = (*OpsMetrics)(nil)
)

// Stats older than this (the database failing meanwhile) are not exported:
// a gauge that silently stops moving is worse than a missing one.
const maxStatsAge = 2 * time.Minute

// NewOpsMetrics creates the series and registers them on reg. checks is
// read at each scrape, so dependencies added to it later are included.
func NewOpsMetrics(reg prometheus.Registerer, stats service.OrderStatsStore, checks Checks, now func() time.Time, log *slog.Logger) *OpsMetrics {
	sup := []string{"supplier"}
	m := &OpsMetrics{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "smmapi_supplier_requests_total",
			Help: "Calls to suppliers by supplier ID, action and outcome (ok, not_sent, refused, unknown)."},
			[]string{"supplier", "action", "outcome"}),
		callTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "smmapi_supplier_request_duration_seconds",
			Help: "Latency of calls to suppliers by supplier ID and action.", Buckets: prometheus.ExponentialBuckets(0.05, 2.5, 8)},
			[]string{"supplier", "action"}),
		syncs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "smmapi_catalog_sync_total",
			Help: "Catalog sync rounds by supplier ID and outcome (applied, unchanged, refused: empty, unparsable or half dropped; failed: no answer)."},
			[]string{"supplier", "outcome"}),
		stats: stats, checks: checks, now: now, log: log, ttl: 15 * time.Second,
		up: prometheus.NewDesc("smmapi_dependency_up",
			"Whether a dependency answers (1) or not (0), as /readyz asks it: database, redis.", []string{"dependency"}, nil),
		open: prometheus.NewDesc("smmapi_orders_open",
			"Orders not final, by status (refreshed at most every 15 s).", []string{"status"}, nil),
		forward: prometheus.NewDesc("smmapi_orders_forward",
			"Orders not final, by forward state (none: a manual service).", []string{"state"}, nil),
		supOpen: prometheus.NewDesc("smmapi_supplier_open_orders",
			"Orders at a supplier and not final (forward state sent).", sup, nil),
		supOldest: prometheus.NewDesc("smmapi_supplier_oldest_order_seconds",
			"Age of the oldest order at a supplier that is not final, drip-feed orders left out.", sup, nil),
		balance: prometheus.NewDesc("smmapi_supplier_balance",
			"A supplier's balance in its own currency, as last polled.", sup, nil),
		floor: prometheus.NewDesc("smmapi_supplier_balance_floor",
			"The balance under which a supplier needs topping up (suppliers.balance_floor; 0: not watched).", sup, nil),
	}
	reg.MustRegister(m.calls, m.callTime, m.syncs, m)
	return m
}

// SupplierCall records one call to a supplier (upstream.Observer).
func (m *OpsMetrics) SupplierCall(supplier uint64, action, outcome string, took time.Duration) {
	id := strconv.FormatUint(supplier, 10)
	m.calls.WithLabelValues(id, action, outcome).Inc()
	m.callTime.WithLabelValues(id, action).Observe(took.Seconds())
}

// CatalogSync counts one supplier's catalog sync round.
func (m *OpsMetrics) CatalogSync(supplier uint64, outcome string) {
	m.syncs.WithLabelValues(strconv.FormatUint(supplier, 10), outcome).Inc()
}

// SupplierBalances replaces the exported balances.
func (m *OpsMetrics) SupplierBalances(bs []service.SupplierBalance) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.balances = bs
}

// Describe sends the fixed descriptions.
func (m *OpsMetrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{m.up, m.open, m.forward, m.supOpen, m.supOldest, m.balance, m.floor} {
		ch <- d
	}
}

// Collect asks the dependencies and sends the (cached) aggregates.
func (m *OpsMetrics) Collect(ch chan<- prometheus.Metric) {
	for name, up := range m.checks.run(context.Background(), time.Second) {
		v := 0.0
		if up {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(m.up, prometheus.GaugeValue, v, name)
	}

	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	for _, b := range m.balances {
		id := strconv.FormatUint(b.Supplier, 10)
		ch <- prometheus.MustNewConstMetric(m.balance, prometheus.GaugeValue, b.Balance, id)
		ch <- prometheus.MustNewConstMetric(m.floor, prometheus.GaugeValue, b.Floor, id)
	}
	if now.Sub(m.readAt) >= m.ttl {
		m.readAt = now
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		st, err := m.stats.OrderStats(ctx)
		cancel()
		if err != nil {
			m.log.Warn("order stats for metrics", "err", err)
		} else {
			m.last, m.goodAt = st, now
		}
	}
	if now.Sub(m.goodAt) > maxStatsAge {
		return
	}
	st := m.last
	for _, s := range service.OpenStatuses() {
		ch <- prometheus.MustNewConstMetric(m.open, prometheus.GaugeValue, float64(st.ByStatus[string(s)]), string(s))
	}
	// Every state always, so a rule reads 0 rather than nothing.
	states := map[string]int64{model.ForwardQueued: 0, model.ForwardSending: 0, model.ForwardSent: 0,
		model.ForwardReconcile: 0, model.ForwardError: 0, "none": 0}
	for s, n := range st.ByForward {
		if s == "" {
			s = "none"
		}
		states[s] += n
	}
	for s, n := range states {
		ch <- prometheus.MustNewConstMetric(m.forward, prometheus.GaugeValue, float64(n), s)
	}
	for id, so := range st.Suppliers {
		label := strconv.FormatUint(id, 10)
		ch <- prometheus.MustNewConstMetric(m.supOpen, prometheus.GaugeValue, float64(so.Open), label)
		if !so.Oldest.IsZero() {
			ch <- prometheus.MustNewConstMetric(m.supOldest, prometheus.GaugeValue, now.Sub(so.Oldest).Seconds(), label)
		}
	}
}
