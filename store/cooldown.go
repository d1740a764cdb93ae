package store

import (
	"context"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"smmapi/service"
)

var (
	_ service.Cooldowns = (*RedisCooldowns)(nil)
	_ service.Cooldowns = (*MemoryCooldowns)(nil)
)

// RedisCooldowns keeps cooldowns in Redis, shared by every instance.
type RedisCooldowns struct {
	rdb    redis.UniversalClient
	prefix string
	gate   redisGate
}

// NewRedisCooldowns returns cooldowns under prefix + "cooldown:"; while brk
// (may be nil) is open every call fails at once and the caller falls back
// to the database.
func NewRedisCooldowns(rdb redis.UniversalClient, prefix string, brk *Breaker) *RedisCooldowns {
	// An admin call, not the hot path: a more patient bound than limits.
	return &RedisCooldowns{rdb: rdb, prefix: prefix + "cooldown:", gate: redisGate{brk: brk, timeout: 250 * time.Millisecond}}
}

// Start sets the cooldown with SET NX, so exactly one racer wins.
func (r *RedisCooldowns) Start(ctx context.Context, name string, d time.Duration) (bool, time.Duration, error) {
	key := r.prefix + name
	var ok bool
	var left time.Duration
	err := r.gate.do(ctx, func(ctx context.Context) (err error) {
		if ok, err = r.rdb.SetNX(ctx, key, 1, d).Result(); err != nil || ok {
			return err
		}
		left, err = r.rdb.PTTL(ctx, key).Result()
		return err
	})
	if err != nil || ok {
		return ok, 0, err
	}
	if left <= 0 { // expired between the two calls: let the database decide
		return true, 0, nil
	}
	return false, left, nil
}

// Set overwrites the cooldown.
func (r *RedisCooldowns) Set(ctx context.Context, name string, d time.Duration) error {
	if d <= 0 {
		return r.Clear(ctx, name)
	}
	return r.gate.do(ctx, func(ctx context.Context) error { return r.rdb.Set(ctx, r.prefix+name, 1, d).Err() })
}

// Clear removes the cooldown.
func (r *RedisCooldowns) Clear(ctx context.Context, name string) error {
	return r.gate.do(ctx, func(ctx context.Context) error { return r.rdb.Del(ctx, r.prefix+name).Err() })
}

// MemoryCooldowns keeps cooldowns in this process, for the embedded mode.
type MemoryCooldowns struct {
	mu    sync.Mutex
	until map[string]time.Time
	now   func() time.Time
}

// NewMemoryCooldowns returns empty in-process cooldowns.
func NewMemoryCooldowns(now func() time.Time) *MemoryCooldowns {
	return &MemoryCooldowns{until: map[string]time.Time{}, now: now}
}

// Start begins a cooldown unless one runs.
func (m *MemoryCooldowns) Start(_ context.Context, name string, d time.Duration) (bool, time.Duration, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	if u, ok := m.until[name]; ok && u.After(now) {
		return false, u.Sub(now), nil
	}
	m.until[name] = now.Add(d)
	m.gc(now)
	return true, 0, nil
}

// Set overwrites a cooldown.
func (m *MemoryCooldowns) Set(_ context.Context, name string, d time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.until[name] = m.now().Add(d)
	return nil
}

// Clear removes a cooldown.
func (m *MemoryCooldowns) Clear(_ context.Context, name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.until, name)
	return nil
}

// gc drops expired entries once the map grows, keeping memory bounded.
func (m *MemoryCooldowns) gc(now time.Time) {
	if len(m.until) < 1024 {
		return
	}
	for k, u := range m.until {
		if !u.After(now) {
			delete(m.until, k)
		}
	}
}
