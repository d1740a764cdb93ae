package service

import (
	"context"
	"sync"
	"time"
)

// Bus carries cache invalidations between instances: Redis pub/sub in
// production, in-process in the embedded mode.
type Bus interface {
	// Publish tells every instance, this one included, that topic changed.
	Publish(ctx context.Context, topic string) error
	// Live reports whether this instance receives every event right now;
	// while it does not, caches are bypassed, never trusted.
	Live() bool
}

// Invalidation topics.
const (
	// TopicKeys: a key, an account's state or a site's domains changed.
	TopicKeys = "keys"
	// TopicCatalog: a service changed.
	TopicCatalog = "catalog"
	// TopicAll: events may have been missed (a reconnect); drop everything.
	TopicAll = "*"
)

// cacheTTL bounds how long an entry lives even if an event is lost.
const cacheTTL = time.Minute

// maxCached bounds each map; past it the map is simply dropped and refilled.
const maxCached = 200_000

type cached[T any] struct {
	v   T
	exp time.Time
}

// keyCache caches key look-ups and host → site mappings for Auth.
// A generation counter stops a look-up that raced an invalidation from
// storing what it read before it.
type keyCache struct {
	mu    sync.RWMutex
	gen   uint64
	keys  map[string]cached[KeyOwner]
	hosts map[string]cached[uint64]
}

func newKeyCache() *keyCache {
	return &keyCache{keys: map[string]cached[KeyOwner]{}, hosts: map[string]cached[uint64]{}}
}

func (c *keyCache) generation() uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.gen
}

// get reads a live entry of m under the read lock.
func get[T any](c *keyCache, m func() map[string]cached[T], k string, now time.Time) (T, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	e, ok := m()[k]
	return e.v, ok && now.Before(e.exp)
}

// put stores an entry unless an invalidation happened since gen was read.
func put[T any](c *keyCache, m *map[string]cached[T], gen uint64, k string, v T, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if len(*m) >= maxCached {
		*m = map[string]cached[T]{}
	}
	(*m)[k] = cached[T]{v: v, exp: now.Add(cacheTTL)}
}

func (c *keyCache) key(hash string, now time.Time) (KeyOwner, bool) {
	return get(c, func() map[string]cached[KeyOwner] { return c.keys }, hash, now)
}

func (c *keyCache) putKey(gen uint64, hash string, o KeyOwner, now time.Time) {
	put(c, &c.keys, gen, hash, o, now)
}

func (c *keyCache) host(h string, now time.Time) (uint64, bool) {
	return get(c, func() map[string]cached[uint64] { return c.hosts }, h, now)
}

func (c *keyCache) putHost(gen uint64, h string, site uint64, now time.Time) {
	put(c, &c.hosts, gen, h, site, now)
}

// touched records a last_used_at write in an entry still cached (never
// re-adding one an invalidation removed).
func (c *keyCache) touched(hash string, at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.keys[hash]; ok {
		e.v.LastUsedAt = &at
		c.keys[hash] = e
	}
}

func (c *keyCache) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.keys = map[string]cached[KeyOwner]{}
	c.hosts = map[string]cached[uint64]{}
}
