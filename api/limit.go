package api

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"smmapi/service"
)

// Limiter throttles the public API: Redis-backed in production, in-process
// in the embedded mode.
type Limiter interface {
	// Allow takes one request from name's bucket (rate per second, burst).
	Allow(ctx context.Context, name string, rate, burst int) (ok bool, retryAfter time.Duration, err error)
	// Locked returns how long a client stays locked out; 0 when it is not.
	Locked(ctx context.Context, client string) (time.Duration, error)
	// Fail records an authentication failure; the max-th within window
	// locks the client out for lockout.
	Fail(ctx context.Context, client string, max int, window, lockout time.Duration) error
}

// Limits configures throttling. A rate or a failure count of 0 switches
// that limit off.
type Limits struct {
	KeyRate, KeyBurst int
	IPRate, IPBurst   int
	AuthFailures      int
	AuthWindow        time.Duration
	AuthLockout       time.Duration
	// TrustedProxies are the peers whose X-Forwarded-For is believed.
	TrustedProxies []*net.IPNet
}

// guard applies limits around authentication. A limiter fault fails open:
// honest clients keep being served while Redis is away. A dead or silent
// Redis costs a request little: each call is bounded, and the limiter's
// breaker (store.Breaker) answers at once while Redis is known down.
type guard struct {
	lim    Limiter
	limits Limits
	log    *slog.Logger
	m      *Metrics
	// FailOpen counts limiter faults that let a request through.
	FailOpen atomic.Int64
	lastLog  atomic.Int64
}

func tooMany(d time.Duration) error {
	if d < time.Second {
		d = time.Second
	}
	return &service.Error{Code: service.ErrRateLimited, Message: service.MsgTooManyRequests, RetryAfter: d.Round(time.Second)}
}

// before runs ahead of the key look-up: a locked-out client and the per-IP
// limit are refused without touching the database.
func (g *guard) before(ctx context.Context, ip string) error {
	if g.limits.AuthFailures > 0 {
		d, err := g.lim.Locked(ctx, ip)
		if err != nil {
			g.fault(ctx, err)
		} else if d > 0 {
			g.m.limited.WithLabelValues("lockout").Inc()
			return tooMany(d)
		}
	}
	if g.limits.IPRate > 0 {
		return g.allow(ctx, "ip", ip, g.limits.IPRate, g.limits.IPBurst)
	}
	return nil
}

// authFailed counts an invalid or missing key against the client.
func (g *guard) authFailed(ctx context.Context, ip string) {
	if g.limits.AuthFailures <= 0 {
		return
	}
	if err := g.lim.Fail(ctx, ip, g.limits.AuthFailures, g.limits.AuthWindow, g.limits.AuthLockout); err != nil {
		g.fault(ctx, err)
	}
}

// after runs once the key is known: the per-key limit.
func (g *guard) after(ctx context.Context, acct service.Account) error {
	if g.limits.KeyRate > 0 {
		return g.allow(ctx, "key", uitoa(acct.KeyID), g.limits.KeyRate, g.limits.KeyBurst)
	}
	return nil
}

func (g *guard) allow(ctx context.Context, kind, who string, rate, burst int) error {
	ok, d, err := g.lim.Allow(ctx, kind+":"+who, rate, max(burst, 1))
	if err != nil {
		g.fault(ctx, err)
		return nil
	}
	if !ok {
		g.m.limited.WithLabelValues(kind).Inc()
		return tooMany(d)
	}
	return nil
}

// fault counts a fail-open and logs at most once per 10 seconds.
func (g *guard) fault(ctx context.Context, err error) {
	g.FailOpen.Add(1)
	g.m.redisErrors.Inc()
	now := time.Now().Unix()
	if last := g.lastLog.Load(); now-last >= 10 && g.lastLog.CompareAndSwap(last, now) {
		g.log.WarnContext(ctx, "rate limiter unavailable, failing open", "err", err, "fail_open_total", g.FailOpen.Load())
	}
}

// clientIP is the peer address, or, when the peer is a trusted proxy, the
// right-most X-Forwarded-For address that is not itself a trusted proxy.
func clientIP(r *http.Request, trusted []*net.IPNet) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if len(trusted) == 0 || !inNets(net.ParseIP(host), trusted) {
		return host
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		ip := net.ParseIP(strings.TrimSpace(hops[i]))
		if ip == nil {
			break
		}
		if !inNets(ip, trusted) {
			return ip.String()
		}
		host = ip.String()
	}
	return host
}

func inNets(ip net.IP, nets []*net.IPNet) bool {
	if ip == nil {
		return false
	}
	for _, n := range nets {
		if n.Contains(ip) {
			return true
		}
	}
	return false
}

// ParseCIDRs reads a comma list of CIDRs or bare IPs.
func ParseCIDRs(s string) ([]*net.IPNet, error) {
	var out []*net.IPNet
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if !strings.Contains(part, "/") {
			if ip := net.ParseIP(part); ip != nil && ip.To4() != nil {
				part += "/32"
			} else {
				part += "/128"
			}
		}
		_, n, err := net.ParseCIDR(part)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, nil
}

func uitoa(n uint64) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(b[i:])
		}
	}
}
