package store

import (
	"context"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// gcraScript is the generic cell rate algorithm in one atomic step: the key
// holds the theoretical arrival time (TAT) in microseconds of Redis' clock,
// so every instance shares one limit and one clock. One key per limit, so
// it runs on Redis Cluster as it is.
// KEYS[1] limit key; ARGV[1] emission interval µs; ARGV[2] burst.
// Returns {allowed (0/1), retry after µs}.
//
// Kept instead of go-redis/redis_rate/v10 (the same GCRA, in float seconds)
// on measurement (BenchmarkRedisAllow, 8 interleaved rounds, benchstat;
// 2 cores shared with other work): the round trip hides the difference
// (library/script wall time 0.96–1.21, client CPU 1.01–1.16, no row
// significant), but Redis spends 1.30–1.46× as long in the library's script
// on a refusal (p ≤ 0.05; 3–5 µs more, in a flood, on the Redis every
// instance shares), 1.12–1.40× elsewhere (not significant), and each call
// allocates 29 times (1144 B) against 20 (872 B). The library also names its keys "rate:"+key,
// outside our prefix.
var gcraScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval
local allow_at = new_tat - burst * interval
if allow_at > now then
  return {0, allow_at - now}
end
redis.call('SET', KEYS[1], new_tat, 'PX', math.ceil((new_tat - now) / 1000) + 1)
return {1, 0}
`)

// failScript counts a failure in a window and, at max, starts a lockout.
// KEYS[1] counter; KEYS[2] lock; ARGV[1] max; ARGV[2] window ms; ARGV[3] lockout ms.
// The two keys must live in one hash slot for Redis Cluster (failKey).
var failScript = redis.NewScript(`
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
if n >= tonumber(ARGV[1]) then
  redis.call('SET', KEYS[2], 1, 'PX', ARGV[3])
  redis.call('DEL', KEYS[1])
end
return n
`)

// RedisLimiter keeps rate limits and lockouts in Redis, shared by instances.
type RedisLimiter struct {
	rdb    redis.UniversalClient
	prefix string
	gate   redisGate
}

// limiterTimeout bounds one limiter call: Redis answers in well under a
// millisecond on a healthy network, and a request must not wait longer
// than this for a limit that fails open anyway.
const limiterTimeout = 50 * time.Millisecond

// NewRedisLimiter returns a limiter whose keys start with prefix; while brk
// (may be nil) is open every call fails at once with ErrDown.
func NewRedisLimiter(rdb redis.UniversalClient, prefix string, brk *Breaker) *RedisLimiter {
	return &RedisLimiter{rdb: rdb, prefix: prefix, gate: redisGate{brk: brk, timeout: limiterTimeout}}
}

// Allow takes one request from name's bucket of rate per second and burst.
func (r *RedisLimiter) Allow(ctx context.Context, name string, rate, burst int) (bool, time.Duration, error) {
	interval := int64(time.Second/time.Microsecond) / int64(rate)
	var res []int64
	err := r.gate.do(ctx, func(ctx context.Context) (err error) {
		res, err = gcraScript.Run(ctx, r.rdb, []string{r.prefix + "rl:" + name}, interval, burst).Int64Slice()
		return err
	})
	if err != nil {
		return false, 0, err
	}
	return res[0] == 1, time.Duration(res[1]) * time.Microsecond, nil
}

// Locked returns how long client stays locked out (0: not locked).
func (r *RedisLimiter) Locked(ctx context.Context, client string) (time.Duration, error) {
	var d time.Duration
	err := r.gate.do(ctx, func(ctx context.Context) (err error) {
		d, err = r.rdb.PTTL(ctx, r.lockKey(client)).Result()
		return err
	})
	if err != nil || d < 0 {
		return 0, err
	}
	return d, nil
}

// Fail records an authentication failure of client; the max-th within
// window locks it out for lockout.
func (r *RedisLimiter) Fail(ctx context.Context, client string, max int, window, lockout time.Duration) error {
	return r.gate.do(ctx, func(ctx context.Context) error {
		return failScript.Run(ctx, r.rdb, []string{r.failKey(client), r.lockKey(client)},
			max, window.Milliseconds(), lockout.Milliseconds()).Err()
	})
}

// lockKey names client's lockout; its name is unchanged since the first
// release, so a lockout in force survives an upgrade.
func (r *RedisLimiter) lockKey(client string) string { return r.prefix + "lock:" + client }

// failKey names client's failure counter. Its hash tag is the whole lock
// key, so Redis Cluster puts both keys of failScript in the lock key's slot
// (a key without a tag hashes whole); a prefix with its own {tag} puts both
// in that tag's slot. It was prefix + "fail:" + client before Cluster
// support: counts under the old name are forgotten once, at the upgrade.
func (r *RedisLimiter) failKey(client string) string {
	return r.prefix + "fail:{" + r.lockKey(client) + "}"
}

// MemoryLimiter is the in-process limiter of the embedded mode.
//
// Kept instead of a map of golang.org/x/time/rate limiters bounded the same
// way (BenchmarkMemoryAllow, 8 interleaved rounds, CPU time per call):
// x/time/rate/this is 1.29 for one hot key, 1.24 refused, 1.76 and 1.38
// for the same in parallel (all p < 0.01), 1.01–1.05 for 10 000 keys; with
// a sync.Map instead of the mutex it wins only on many keys in parallel
// (0.82) and loses the rest by as much. Neither allocates.
type MemoryLimiter struct {
	mu    sync.Mutex
	now   func() time.Time
	tat   map[string]time.Time
	fails map[string]failCount
	locks map[string]time.Time
	sweep time.Time
}

type failCount struct {
	n     int
	until time.Time
}

// NewMemoryLimiter returns an empty in-process limiter.
func NewMemoryLimiter(now func() time.Time) *MemoryLimiter {
	return &MemoryLimiter{now: now, tat: map[string]time.Time{}, fails: map[string]failCount{}, locks: map[string]time.Time{}}
}

// Allow is GCRA, as in the Redis script.
func (m *MemoryLimiter) Allow(_ context.Context, name string, rate, burst int) (bool, time.Duration, error) {
	interval := time.Second / time.Duration(rate)
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	m.gc(now)
	tat, ok := m.tat[name]
	if !ok || tat.Before(now) {
		tat = now
	}
	newTAT := tat.Add(interval)
	allowAt := newTAT.Add(-time.Duration(burst) * interval)
	if allowAt.After(now) {
		return false, allowAt.Sub(now), nil
	}
	m.tat[name] = newTAT
	return true, 0, nil
}

// Locked returns how long client stays locked out.
func (m *MemoryLimiter) Locked(_ context.Context, client string) (time.Duration, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if u, ok := m.locks[client]; ok && u.After(m.now()) {
		return u.Sub(m.now()), nil
	}
	return 0, nil
}

// Fail counts a failure and locks client out at max.
func (m *MemoryLimiter) Fail(_ context.Context, client string, max int, window, lockout time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	f := m.fails[client]
	if !f.until.After(now) {
		f = failCount{until: now.Add(window)}
	}
	f.n++
	if f.n >= max {
		m.locks[client] = now.Add(lockout)
		delete(m.fails, client)
		return nil
	}
	m.fails[client] = f
	return nil
}

// gc drops expired state every few seconds, so memory stays bounded by the
// clients seen recently.
func (m *MemoryLimiter) gc(now time.Time) {
	if now.Sub(m.sweep) < 10*time.Second {
		return
	}
	m.sweep = now
	for k, t := range m.tat {
		if t.Before(now) {
			delete(m.tat, k)
		}
	}
	for k, f := range m.fails {
		if !f.until.After(now) {
			delete(m.fails, k)
		}
	}
	for k, u := range m.locks {
		if !u.After(now) {
			delete(m.locks, k)
		}
	}
}
