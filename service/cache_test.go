package service

import (
	"testing"
	"time"
)

// A look-up that raced an invalidation must not store what it read before.
func TestKeyCacheGeneration(t *testing.T) {
	now := time.Now()
	c := newKeyCache()
	gen := c.generation()
	c.clear() // an invalidation lands while the look-up is in flight
	c.putKey(gen, "h", KeyOwner{KeyID: 1}, now)
	if _, ok := c.key("h", now); ok {
		t.Fatal("stale look-up was cached")
	}
	c.putKey(c.generation(), "h", KeyOwner{KeyID: 2}, now)
	if o, ok := c.key("h", now); !ok || o.KeyID != 2 {
		t.Fatalf("fresh look-up not cached: %v %v", o, ok)
	}
	if _, ok := c.key("h", now.Add(cacheTTL+time.Second)); ok {
		t.Fatal("entry outlived its TTL")
	}
	c.touched("h", now)
	if o, _ := c.key("h", now); o.LastUsedAt == nil {
		t.Fatal("touch not recorded")
	}
	c.clear()
	c.touched("h", now) // must not re-add a removed entry
	if _, ok := c.key("h", now); ok {
		t.Fatal("touch re-added an invalidated entry")
	}
	gen = c.generation()
	c.putHost(gen, "child.example", 2, now)
	if id, ok := c.host("child.example", now); !ok || id != 2 {
		t.Fatalf("host = %d, %v", id, ok)
	}
}
