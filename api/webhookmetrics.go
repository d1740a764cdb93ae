package api

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"smmapi/model"
	"smmapi/service"
)

// WebhookBacklog reads the open deliveries (service.WebhookStore has it).
type WebhookBacklog interface {
	WebhookBacklog(ctx context.Context) (n int64, oldest time.Time, ok bool, err error)
}

// WebhookMetrics are the webhook series: attempts by outcome, event → 2xx
// latency, and the backlog from the database (read at most every 5 s).
type WebhookMetrics struct {
	outcomes *prometheus.CounterVec
	latency  prometheus.Histogram

	backlog WebhookBacklog
	now     func() time.Time
	pending *prometheus.Desc
	oldest  *prometheus.Desc

	mu     sync.Mutex
	readAt time.Time
	n      int64
	age    float64
	ok     bool
}

var _ service.HookRecorder = (*WebhookMetrics)(nil)

// NewWebhookMetrics creates the series and registers them on reg.
func NewWebhookMetrics(reg prometheus.Registerer, backlog WebhookBacklog, now func() time.Time) *WebhookMetrics {
	m := &WebhookMetrics{
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "smmapi_webhook_deliveries_total",
			Help: "Webhook delivery attempts by outcome (succeeded, failed), and deliveries given up (dead)."}, []string{"outcome"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "smmapi_webhook_delivery_latency_seconds",
			Help:    "Time from an event to its receiver's 2xx answer.",
			Buckets: []float64{0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 1800, 3600, 21600, 86400}}),
		backlog: backlog, now: now,
		pending: prometheus.NewDesc("smmapi_webhook_pending_deliveries",
			"Webhook deliveries not yet succeeded or dead (pending or failed, to be retried).", nil, nil),
		oldest: prometheus.NewDesc("smmapi_webhook_oldest_pending_seconds",
			"Age of the event of the oldest pending webhook delivery (0: none).", nil, nil),
	}
	for _, o := range []string{model.DeliverySucceeded, model.DeliveryFailed, model.DeliveryDead} {
		m.outcomes.WithLabelValues(o) // every outcome exported from the start
	}
	reg.MustRegister(m.outcomes, m.latency, m)
	return m
}

// HookAttempt counts one outcome.
func (m *WebhookMetrics) HookAttempt(outcome string) { m.outcomes.WithLabelValues(outcome).Inc() }

// HookDelivered observes the time from an event to its 2xx.
func (m *WebhookMetrics) HookDelivered(d time.Duration) { m.latency.Observe(d.Seconds()) }

// Describe sends the backlog gauges' descriptions.
func (m *WebhookMetrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- m.pending
	ch <- m.oldest
}

// Collect sends the backlog, read at most every 5 s.
func (m *WebhookMetrics) Collect(ch chan<- prometheus.Metric) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	if now.Sub(m.readAt) >= 5*time.Second {
		m.readAt = now
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		n, oldest, ok, err := m.backlog.WebhookBacklog(ctx)
		cancel()
		m.ok = err == nil
		m.n, m.age = n, 0
		if ok {
			m.age = max(now.Sub(oldest).Seconds(), 0)
		}
	}
	if !m.ok {
		return // a gauge that silently stops moving is worse than none
	}
	ch <- prometheus.MustNewConstMetric(m.pending, prometheus.GaugeValue, float64(m.n))
	ch <- prometheus.MustNewConstMetric(m.oldest, prometheus.GaugeValue, m.age)
}
