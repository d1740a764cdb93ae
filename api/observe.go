package api

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"runtime/debug"
	"sync"
	"sync/atomic"
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
	suspectTrunc     prometheus.Counter
	unconfirmed      prometheus.Counter
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
		suspectTrunc: prometheus.NewCounter(prometheus.CounterOpts{Name: "smmapi_suspect_truncated_ids_total",
			Help: "status/refill/cancel look-ups by alphanumeric accounts for an ID of 1-9 digits (a child storing IDs as integers)."}),
		unconfirmed: prometheus.NewCounter(prometheus.CounterOpts{Name: "smmapi_cache_invalidations_unconfirmed_total",
			Help: "Admin changes whose cache invalidation some instance did not confirm (they apply within the epoch poll)."}),
	}
	reg.MustRegister(m.requests, m.duration, m.ordersPlaced, m.charged, m.refunded, m.keyGenerations,
		m.cooldownRefusals, m.limited, m.redisErrors, m.suspectTrunc, m.unconfirmed)
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

// InvalidationUnconfirmed records an unconfirmed cache invalidation.
func (m *Metrics) InvalidationUnconfirmed() { m.unconfirmed.Inc() }

// SuspectTruncatedIDs records look-ups for IDs that look truncated.
func (m *Metrics) SuspectTruncatedIDs(n int64) { m.suspectTrunc.Add(float64(n)) }

// reqInfo is what the handlers learn about a request for its access-log
// line and metrics.
type reqInfo struct {
	api, version, action, outcome, ip string
	account                           uint64
	hasAccount                        bool
}

// reqCtx is the echo.Context the handlers get: Echo's own plus the
// request's reqInfo (Echo's custom-context pattern), pooled: a c.Set map
// per request showed in the profile of cached answers.
type reqCtx struct {
	echo.Context
	ri reqInfo
}

var reqCtxs = sync.Pool{New: func() any { return new(reqCtx) }}

// info returns the request's reqInfo (a throwaway one outside observe).
func info(c echo.Context) *reqInfo {
	if rc, ok := c.(*reqCtx); ok {
		return &rc.ri
	}
	return &reqInfo{}
}

// Option configures NewPublic and NewInternal.
type Option func(*serverOptions)

type serverOptions struct {
	metrics        *Metrics
	metricsHandler http.Handler
	profiling      bool
	accessLog      *accessLog
	bodyTimeout    time.Duration
}

// WithAccessLog writes one JSON line per request to w (without it,
// requests are not logged). w should buffer: it gets one Write per line.
func WithAccessLog(w io.Writer) Option {
	return func(o *serverOptions) { o.accessLog = newAccessLog(w) }
}

// WithProfiling serves net/http/pprof under /debug/pprof (internal API,
// behind the token).
func WithProfiling() Option { return func(o *serverOptions) { o.profiling = true } }

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
// path without the query string: GET clients put their key there. A panic
// below it becomes a 500 with the stack in the log, never a dead process.
func observe(api string, m *Metrics, acc *accessLog) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			start := time.Now()
			rc := reqCtxs.Get().(*reqCtx)
			rc.Context, rc.ri = c, reqInfo{api: api}
			ri := &rc.ri
			if err := serve(next, rc); err != nil {
				// Through rc, so the error handler records the outcome.
				c.Echo().HTTPErrorHandler(err, rc)
			}
			took := time.Since(start)
			if ri.action == "" {
				ri.action = c.Path() // the route template: bounded cardinality
				if ri.action == "" {
					ri.action = "unmatched"
				}
			}
			if ri.outcome == "" {
				ri.outcome = "ok"
			}
			if ri.ip == "" {
				ri.ip = c.RealIP()
			}
			m.requests.WithLabelValues(api, ri.version, ri.action, ri.outcome).Inc()
			m.duration.WithLabelValues(api, ri.version, ri.action).Observe(took.Seconds())
			acc.write(start, took, c, ri)
			rc.Context, rc.ri = nil, reqInfo{}
			reqCtxs.Put(rc)
			return nil
		}
	}
}

// serve runs next and turns a panic into an error (500, logged with its
// stack by the error handler).
func serve(next echo.HandlerFunc, c echo.Context) (err error) {
	defer func() {
		if r := recover(); r != nil {
			if r == http.ErrAbortHandler {
				panic(r)
			}
			stack := debug.Stack()
			err = fmt.Errorf("panic: %v\n%s", r, stack[:min(len(stack), 4096)])
		}
	}()
	return next(c)
}

// requestID keeps a sane X-Request-Id (a proxy's) or makes one: a random
// per-process prefix and a counter, unique across instances without a
// crypto/rand read per request.
func requestID() echo.MiddlewareFunc {
	var seed [8]byte
	_, _ = rand.Read(seed[:]) // crypto/rand.Read never fails (Go ≥ 1.24)
	prefix := hex.EncodeToString(seed[:])
	var n atomic.Uint64
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			id := c.Request().Header.Get(echo.HeaderXRequestID)
			if !saneRequestID(id) {
				var b [32]byte
				copy(b[:], prefix)
				v := n.Add(1)
				for i := 31; i >= 16; i-- {
					b[i] = hexDigits[v&0xf]
					v >>= 4
				}
				id = string(b[:])
			}
			c.Response().Header()[echo.HeaderXRequestID] = []string{id}
			return next(c)
		}
	}
}

const hexDigits = "0123456789abcdef"

// saneRequestID accepts 1–64 characters of [A-Za-z0-9._:-]: anything else
// from a client is replaced, so the log carries no hostile bytes.
func saneRequestID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == ':' || c == '-') {
			return false
		}
	}
	return true
}
