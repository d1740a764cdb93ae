package store

// The library-based limiters measured against the hand-written ones by
// limiter_bench_test.go, and not adopted (see gcraScript and MemoryLimiter
// for the figures). They stay here so that the comparison can be rerun.

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"
	"golang.org/x/time/rate"
)

// libRedisLimiter is RedisLimiter.Allow on go-redis/redis_rate/v10. Its keys
// are prefix + "rate:" + name (the library adds "rate:").
type libRedisLimiter struct {
	rl   *redis_rate.Limiter
	gate redisGate
}

func newLibRedisLimiter(rdb redis.UniversalClient, prefix string, brk *Breaker) *libRedisLimiter {
	return &libRedisLimiter{rl: redis_rate.NewLimiter(prefixed{rdb, prefix}), gate: redisGate{brk: brk, timeout: limiterTimeout}}
}

func (r *libRedisLimiter) Allow(ctx context.Context, name string, perSecond, burst int) (bool, time.Duration, error) {
	var res *redis_rate.Result
	err := r.gate.do(ctx, func(ctx context.Context) (err error) {
		res, err = r.rl.Allow(ctx, name, redis_rate.Limit{Rate: perSecond, Burst: burst, Period: time.Second})
		return err
	})
	if err != nil {
		return false, 0, err
	}
	if res.Allowed > 0 {
		return true, 0, nil
	}
	return false, res.RetryAfter, nil
}

// prefixed puts smmapi's key prefix in front of the keys redis_rate names
// (it adds only its own "rate:"), so that its keys stay in our namespace.
type prefixed struct {
	redis.UniversalClient
	prefix string
}

func (p prefixed) keys(keys []string) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = p.prefix + k
	}
	return out
}

func (p prefixed) Eval(ctx context.Context, script string, keys []string, args ...any) *redis.Cmd {
	return p.UniversalClient.Eval(ctx, script, p.keys(keys), args...)
}

func (p prefixed) EvalSha(ctx context.Context, sha1 string, keys []string, args ...any) *redis.Cmd {
	return p.UniversalClient.EvalSha(ctx, sha1, p.keys(keys), args...)
}

func (p prefixed) EvalRO(ctx context.Context, script string, keys []string, args ...any) *redis.Cmd {
	return p.UniversalClient.EvalRO(ctx, script, p.keys(keys), args...)
}

func (p prefixed) EvalShaRO(ctx context.Context, sha1 string, keys []string, args ...any) *redis.Cmd {
	return p.UniversalClient.EvalShaRO(ctx, sha1, p.keys(keys), args...)
}

func (p prefixed) Del(ctx context.Context, keys ...string) *redis.IntCmd {
	return p.UniversalClient.Del(ctx, p.keys(keys)...)
}

// libMemoryLimiter is MemoryLimiter.Allow on x/time/rate, with the same
// bounding: every 10 s it drops the buckets that are full again.
type libMemoryLimiter struct {
	mu      sync.Mutex
	now     func() time.Time
	buckets map[string]*rate.Limiter
	sweep   time.Time
}

func newLibMemoryLimiter(now func() time.Time) *libMemoryLimiter {
	return &libMemoryLimiter{now: now, buckets: map[string]*rate.Limiter{}}
}

func (m *libMemoryLimiter) Allow(_ context.Context, name string, perSecond, burst int) (bool, time.Duration, error) {
	now := m.now()
	m.mu.Lock()
	m.gc(now)
	lim, ok := m.buckets[name]
	if !ok {
		lim = rate.NewLimiter(rate.Limit(perSecond), burst)
		m.buckets[name] = lim
	}
	m.mu.Unlock()
	if lim.AllowN(now, 1) {
		return true, 0, nil
	}
	return false, time.Duration((1 - lim.TokensAt(now)) / float64(perSecond) * float64(time.Second)), nil
}

func (m *libMemoryLimiter) gc(now time.Time) {
	if now.Sub(m.sweep) < 10*time.Second {
		return
	}
	m.sweep = now
	for k, lim := range m.buckets {
		if lim.TokensAt(now) >= float64(lim.Burst()) {
			delete(m.buckets, k)
		}
	}
}

// syncMapLimiter is libMemoryLimiter with a sync.Map, so that look-ups of
// known keys take no shared lock.
type syncMapLimiter struct {
	now     func() time.Time
	buckets sync.Map // string → *rate.Limiter
	sweep   atomic.Int64
}

func (m *syncMapLimiter) Allow(_ context.Context, name string, perSecond, burst int) (bool, time.Duration, error) {
	now := m.now()
	if last := m.sweep.Load(); now.UnixNano()-last >= int64(10*time.Second) && m.sweep.CompareAndSwap(last, now.UnixNano()) {
		m.buckets.Range(func(k, v any) bool {
			if lim := v.(*rate.Limiter); lim.TokensAt(now) >= float64(lim.Burst()) {
				m.buckets.Delete(k)
			}
			return true
		})
	}
	v, ok := m.buckets.Load(name)
	if !ok {
		v, _ = m.buckets.LoadOrStore(name, rate.NewLimiter(rate.Limit(perSecond), burst))
	}
	lim := v.(*rate.Limiter)
	if lim.AllowN(now, 1) {
		return true, 0, nil
	}
	return false, time.Duration((1 - lim.TokensAt(now)) / float64(perSecond) * float64(time.Second)), nil
}
