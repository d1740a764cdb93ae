package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net"
	"strings"
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

// Publish delivers topic here at once and to the other instances, and
// returns once every instance that received it has dropped its caches
// (each acknowledges on a list the publisher waits on), so that when the
// admin hears "done" no instance serves the old state. An instance that
// does not confirm within ackWait is logged and left to its cache TTL.
func (b *RedisBus) Publish(ctx context.Context, topic string) error {
	b.deliver(topic)
	var id [8]byte
	_, _ = rand.Read(id[:])
	ack := b.channel + ":ack:" + hex.EncodeToString(id[:])
	n, err := b.rdb.Publish(ctx, b.channel, topic+"|"+ack).Result()
	if err != nil {
		return err
	}
	defer b.rdb.Del(context.WithoutCancel(ctx), ack)
	deadline := time.Now().Add(ackWait)
	for got := int64(0); got < n; {
		left := time.Until(deadline)
		if left <= 0 {
			b.log.Warn("cache invalidation not confirmed by every instance", "topic", topic, "confirmed", got, "receivers", n)
			return nil
		}
		// BLPOP waits in whole seconds; the deadline above bounds the total.
		switch err := b.rdb.BLPop(ctx, max(left, time.Second), ack).Err(); {
		case err == nil:
			got++
		case !errors.Is(err, redis.Nil): // redis.Nil: timed out, the deadline decides
			return err
		}
	}
	return nil
}

// ackWait bounds how long Publish waits for the instances' confirmations.
const ackWait = 2 * time.Second

// receive handles one event: deliver it, then confirm to the publisher.
func (b *RedisBus) receive(ctx context.Context, payload string) {
	topic, ack, _ := strings.Cut(payload, "|")
	switch topic {
	case service.TopicKeys, service.TopicCatalog, service.TopicAll:
	default:
		topic = service.TopicAll // unknown (a newer instance's): drop everything
	}
	b.deliver(topic)
	if ack == "" {
		return
	}
	pipe := b.rdb.Pipeline()
	pipe.RPush(ctx, ack, "1")
	pipe.Expire(ctx, ack, time.Minute)
	if _, err := pipe.Exec(ctx); err != nil {
		b.log.Warn("confirm cache invalidation", "topic", topic, "err", err)
	}
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
			b.receive(ctx, m.Payload)
		}
	}
	b.live.Store(false)
}

func (b *RedisBus) down(err error) {
	if b.live.Swap(false) {
		b.log.Warn("cache invalidation channel lost: caches bypassed until it is back", "err", err)
	}
}
