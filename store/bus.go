package store

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"smmapi/service"
)

var (
	_ service.Bus = (*MemoryBus)(nil)
	_ service.Bus = (*RedisBus)(nil)
)

// handlers is the list of functions an event is delivered to.
type handlers struct {
	mu sync.RWMutex
	fs []func(topic string)
}

// OnEvent registers f for every event.
func (h *handlers) OnEvent(f func(topic string)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.fs = append(h.fs, f)
}

func (h *handlers) deliver(topic string) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	for _, f := range h.fs {
		f(topic)
	}
}

// MemoryBus delivers events within this process: the embedded mode's bus.
type MemoryBus struct{ handlers }

// NewMemoryBus returns a bus that is always live.
func NewMemoryBus() *MemoryBus { return &MemoryBus{} }

// Publish delivers topic at once.
func (b *MemoryBus) Publish(_ context.Context, topic string) error {
	b.deliver(topic)
	return nil
}

// Live is always true in one process.
func (b *MemoryBus) Live() bool { return true }

// RedisBus delivers events to every instance through Redis pub/sub. It is
// live only while its subscription is confirmed and answering pings; each
// (re)subscription delivers TopicAll, since events may have been missed.
type RedisBus struct {
	handlers
	rdb     redis.UniversalClient
	channel string
	live    atomic.Bool
	log     *slog.Logger
}

// NewRedisBus returns a bus on channel prefix + "events"; call Run.
func NewRedisBus(rdb redis.UniversalClient, prefix string, log *slog.Logger) *RedisBus {
	return &RedisBus{rdb: rdb, channel: prefix + "events", log: log}
}

// Publish delivers topic here at once and to the other instances.
func (b *RedisBus) Publish(ctx context.Context, topic string) error {
	b.deliver(topic)
	return b.rdb.Publish(ctx, b.channel, topic).Err()
}

// Live reports whether the subscription is up.
func (b *RedisBus) Live() bool { return b.live.Load() }

// Run keeps the subscription until ctx ends.
func (b *RedisBus) Run(ctx context.Context) {
	sub := b.rdb.Subscribe(ctx, b.channel)
	defer sub.Close()
	for ctx.Err() == nil {
		msg, err := sub.ReceiveTimeout(ctx, 2*time.Second)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				// Quiet channel: make sure the connection still answers.
				if perr := sub.Ping(ctx); perr != nil {
					b.down(perr)
				}
				continue
			}
			b.down(err)
			select { // go-redis reconnects and resubscribes on the next call
			case <-ctx.Done():
			case <-time.After(200 * time.Millisecond):
			}
			continue
		}
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" {
				b.live.Store(true)
				b.deliver(service.TopicAll)
			}
		case *redis.Message:
			b.deliver(m.Payload)
		}
	}
	b.live.Store(false)
}

func (b *RedisBus) down(err error) {
	if b.live.Swap(false) {
		b.log.Warn("cache invalidation channel lost: caches bypassed until it is back", "err", err)
	}
}
