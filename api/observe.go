package api

import (
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"smmapi/model"
	"smmapi/service"
)

// Metrics are the Prometheus series smmapi exports at /metrics. It also
// records business events for the service layer (service.Recorder).
type Metrics struct {
	requests         *prometheus.CounterVec
	duration         *prometheus.HistogramVec
	ordersPlaced     prometheus.Counter
	charged          prometheus.Counter
	refunded         prometheus.Counter
	keyGenerations   prometheus.Counter
	cooldownRefusals prometheus.Counter
	limited          *prometheus.CounterVec
	redisErrors      prometheus.Counter
}

var _ service.Recorder = (*Metrics)(nil)

// NewMetrics creates the series and registers them on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "smmapi_http_requests_total",
			Help: "HTTP requests by API, version, action and outcome (ok or an error class)."},
			[]string{"api", "version", "action", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "smmapi_http_request_duration_seconds",
			Help: "HTTP request latency by API, version and action.", Buckets: prometheus.ExponentialBuckets(0.0005, 2.5, 12)},
			[]string{"api", "version", "action"}),
		ordersPlaced: prometheus.NewCounter(prometheus.CounterOpts{Name: "smmapi_orders_placed_total", Help: "Orders placed."}),
		charged: prometheus.NewCounter(prometheus.CounterOpts{Name: "smmapi_money_charged_units_total",
			Help: "Money charged for orders, in units of 0.0001."}),
		refunded: prometheus.NewCounter(prometheus.CounterOpts{Name: "smmapi_money_refunded_units_total",
			Help: "Money refunded, in units of 0.0001."}),
		keyGenerations: prometheus.NewCounter(prometheus.CounterOpts{Name: "smmapi_api_key_generations_total", Help: "API keys generated."}),
		cooldownRefusals: prometheus.NewCounter(prometheus.CounterOpts{Name: "smmapi_api_key_cooldown_refusals_total",
			Help: "API key generations refused by the cooldown."}),
		limited: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "smmapi_rate_limited_total",
			Help: "Public requests refused by a limit (ip, key, lockout)."}, []string{"limit"}),
		redisErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "smmapi_redis_errors_total",
			Help: "Redis calls that failed (limits then fail open)."}),
	}
	reg.MustRegister(m.requests, m.duration, m.ordersPlaced, m.charged, m.refunded, m.keyGenerations,
		m.cooldownRefusals, m.limited, m.redisErrors)
	return m
}

// OrderPlaced records an order and its charge. Prometheus counters are
// float64; whole units of 0.0001 stay exact up to 2^53 units (about 9×10^11
// CNY), and nothing but this metric reads them.
func (m *Metrics) OrderPlaced(charge model.Money) {
	m.ordersPlaced.Inc()
	m.charged.Add(float64(charge))
}

// Refunded records money given back.
func (m *Metrics) Refunded(amount model.Money) { m.refunded.Add(float64(amount)) }

// KeyGenerated records an API key generation.
func (m *Metrics) KeyGenerated() { m.keyGenerations.Inc() }

// CooldownRefused records a generation refused by the cooldown.
func (m *Metrics) CooldownRefused() { m.cooldownRefusals.Inc() }

func remoteIP(c echo.Context) string {
	if ip, ok := c.Get(ctxIP).(string); ok {
		return ip
	}
	return c.RealIP()
}

// Context keys the handlers set for the access log and metrics.
const (
	ctxAPI     = "smmapi.api"
	ctxVersion = "smmapi.version"
	ctxAction  = "smmapi.action"
	ctxAccount = "smmapi.account"
	ctxOutcome = "smmapi.outcome"
	ctxIP      = "smmapi.ip"
)

// Option configures NewPublic and NewInternal.
type Option func(*serverOptions)

type serverOptions struct {
	metrics        *Metrics
	metricsHandler http.Handler
	bus            service.Bus
	profiling      bool
}

// WithProfiling serves net/http/pprof under /debug/pprof (internal API,
// behind the token).
func WithProfiling() Option { return func(o *serverOptions) { o.profiling = true } }

// WithBus publishes cache invalidations after internal changes.
func WithBus(b service.Bus) Option { return func(o *serverOptions) { o.bus = b } }

// WithMetrics records request metrics in m.
func WithMetrics(m *Metrics) Option { return func(o *serverOptions) { o.metrics = m } }

// WithMetricsHandler serves h at /metrics (internal API, behind the token).
func WithMetricsHandler(h http.Handler) Option {
	return func(o *serverOptions) { o.metricsHandler = h }
}

func options(opts []Option) serverOptions {
	var o serverOptions
	for _, f := range opts {
		f(&o)
	}
	if o.metrics == nil {
		// Unexported series on a private registry: tests and tools that
		// build a server without metrics need no nil checks anywhere.
		o.metrics = NewMetrics(prometheus.NewRegistry())
	}
	return o
}

// observe logs one line per request and records its metrics. It logs the
// path without the query string: GET clients put their key there.
func observe(api string, m *Metrics, log *slog.Logger) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			start := time.Now()
			c.Set(ctxAPI, api)
			err := next(c)
			if err != nil {
				c.Error(err) // write the answer now, so its status is known
			}
			took := time.Since(start)
			version, _ := c.Get(ctxVersion).(string)
			action, _ := c.Get(ctxAction).(string)
			if action == "" {
				action = c.Path() // the route template: bounded cardinality
				if action == "" {
					action = "unmatched"
				}
			}
			outcome, _ := c.Get(ctxOutcome).(string)
			if outcome == "" {
				outcome = "ok"
			}
			status := c.Response().Status
			m.requests.WithLabelValues(api, version, action, outcome).Inc()
			m.duration.WithLabelValues(api, version, action).Observe(took.Seconds())
			attrs := []slog.Attr{
				slog.String("request_id", c.Response().Header().Get(echo.HeaderXRequestID)),
				slog.String("api", api),
				slog.String("method", c.Request().Method),
				slog.String("path", c.Request().URL.Path),
				slog.String("action", action),
				slog.Int("status", status),
				slog.String("outcome", outcome),
				slog.Float64("duration_ms", float64(took.Microseconds())/1000),
				slog.String("remote_ip", remoteIP(c)),
			}
			if version != "" {
				attrs = append(attrs, slog.String("version", version))
			}
			if acct, ok := c.Get(ctxAccount).(uint64); ok {
				attrs = append(attrs, slog.String("account_id", strconv.FormatUint(acct, 10)))
			}
			log.LogAttrs(c.Request().Context(), slog.LevelInfo, "request", attrs...)
			return nil
		}
	}
}
