package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
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

// RedisBus delivers events to every instance through Redis pub/sub.
//
// It is live only while it is sure to hear every event: each instance
// publishes a heartbeat on its own channel every HeartbeatEvery through its
// ordinary connection and must hear it back on its subscription within
// LiveFor. A subscription that went silent (a Redis or a network that holds
// the connection and answers nothing, where a PING is written but never
// answered) thus turns Live false within LiveFor, and the subscription is
// replaced. Live turns true again only once a heartbeat came back and every
// cache has been dropped (TopicAll), since events may have been missed.
// With Epochs the database's counter must be fresh too (see Epochs).
type RedisBus struct {
	handlers
	rdb       redis.UniversalClient
	channel   string
	hbChannel string
	brk       *Breaker // nil: none
	epochs    *Epochs  // nil: Redis only
	log       *slog.Logger
	now       func() time.Time
	base      time.Time
	// heard is when (since base) a heartbeat last came back; 0: not live.
	heard atomic.Int64
	// HeartbeatEvery and LiveFor tune the liveness check; AckWait bounds
	// how long Publish waits for the other instances to confirm.
	HeartbeatEvery, LiveFor, AckWait time.Duration
	// sharded: Redis Cluster, where PUBLISH answers how many subscribers
	// the one node it reached has; sharded pub/sub (SPUBLISH, Redis 7)
	// keeps every subscriber of a channel on the node that owns its slot,
	// so its count is every instance's.
	sharded bool
}

// NewRedisBus returns a bus on channel prefix + "events"; call Run. brk
// (Redis's breaker) and epochs may be nil.
func NewRedisBus(rdb redis.UniversalClient, prefix string, brk *Breaker, epochs *Epochs, now func() time.Time, log *slog.Logger) *RedisBus {
	var id [8]byte
	_, _ = rand.Read(id[:])
	b := &RedisBus{rdb: rdb, channel: prefix + "events", hbChannel: prefix + "events:hb:" + hex.EncodeToString(id[:]),
		brk: brk, epochs: epochs, log: log, now: now, base: now(),
		HeartbeatEvery: 250 * time.Millisecond, LiveFor: time.Second, AckWait: time.Second}
	if _, ok := rdb.(*redis.ClusterClient); ok {
		// One subscription holds both channels, so both must hash to one
		// slot: the heartbeat channel's tag is the events channel (a
		// prefix with its own {tag} decides both), as failKey does.
		b.sharded = true
		b.hbChannel = b.channel + ":hb:{" + b.channel + "}" + hex.EncodeToString(id[:])
	}
	return b
}

// send publishes msg on channel and returns how many subscribers got it.
func (b *RedisBus) send(ctx context.Context, channel, msg string) (int64, error) {
	if b.sharded {
		return b.rdb.SPublish(ctx, channel, msg).Result()
	}
	return b.rdb.Publish(ctx, channel, msg).Result()
}

// ErrUnconfirmed reports an invalidation that some instance may not have
// applied yet: it will, within the epoch poll, or it bypasses its caches.
var ErrUnconfirmed = errors.New("cache invalidation not confirmed by every instance")

// Publish delivers topic here at once and to the other instances: it bumps
// the database epoch, then publishes on Redis and waits (AckWait at most,
// and no longer than ctx) until every instance that received it has
// dropped its caches (each acknowledges on a list). Any step that fails or
// is not confirmed makes it return an error wrapping ErrUnconfirmed (or the
// cause); the change itself stands, and the other instances still drop
// their caches within one epoch poll, or bypass them.
func (b *RedisBus) Publish(ctx context.Context, topic string) error {
	b.deliver(topic)
	var errs []error
	if b.epochs != nil {
		if err := b.epochs.Bump(ctx); err != nil {
			errs = append(errs, fmt.Errorf("bump database epoch: %w", err))
		}
	}
	if err := b.publish(ctx, topic); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (b *RedisBus) publish(ctx context.Context, topic string) error {
	if b.brk.Open() {
		return fmt.Errorf("%w: redis: %w", ErrUnconfirmed, ErrDown)
	}
	var id [8]byte
	_, _ = rand.Read(id[:])
	ack := b.channel + ":ack:" + hex.EncodeToString(id[:])
	n, err := b.send(ctx, b.channel, topic+"|"+ack)
	if err != nil {
		b.brk.Suspect()
		return fmt.Errorf("%w: publish: %w", ErrUnconfirmed, err)
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 200*time.Millisecond)
		defer cancel()
		b.rdb.Del(dctx, ack)
	}()
	// Polled rather than BLPOP: BLPOP waits whole seconds, and a polling
	// loop keeps every call short on a Redis that goes silent meanwhile.
	deadline := b.now().Add(b.AckWait)
	for {
		got, err := b.rdb.LLen(ctx, ack).Result()
		switch {
		case err != nil:
			return fmt.Errorf("%w: read confirmations: %w", ErrUnconfirmed, err)
		case got >= n:
			return nil
		case !b.now().Before(deadline):
			return fmt.Errorf("%w: %d of %d confirmed", ErrUnconfirmed, got, n)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: %d of %d confirmed: %w", ErrUnconfirmed, got, n, ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
}

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
	cctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	pipe := b.rdb.Pipeline()
	pipe.RPush(cctx, ack, "1")
	pipe.Expire(cctx, ack, time.Minute)
	if _, err := pipe.Exec(cctx); err != nil {
		b.log.Warn("confirm cache invalidation", "topic", topic, "err", err)
	}
}

// since returns the bus clock: time since base, monotonic.
func (b *RedisBus) since() int64 { return max(int64(b.now().Sub(b.base)), 1) }

// redisLive reports whether a heartbeat came back within LiveFor.
func (b *RedisBus) redisLive() bool {
	at := b.heard.Load()
	return at != 0 && time.Duration(b.since()-at) < b.LiveFor
}

// Live reports whether this instance hears every invalidation right now.
func (b *RedisBus) Live() bool {
	return b.redisLive() && (b.epochs == nil || b.epochs.Fresh())
}

// Run keeps the subscription, the heartbeats and the epoch poll until ctx
// ends.
func (b *RedisBus) Run(ctx context.Context) {
	if b.epochs != nil {
		go b.epochs.Run(ctx, b.deliver)
	}
	go b.heartbeats(ctx)
	for ctx.Err() == nil {
		b.session(ctx)
		select { // a fresh connection next, after a short pause
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
	b.heard.Store(0)
}

// heartbeats publishes this instance's heartbeat every HeartbeatEvery,
// each bounded by that interval.
func (b *RedisBus) heartbeats(ctx context.Context) {
	t := time.NewTicker(b.HeartbeatEvery)
	defer t.Stop()
	for ticked(ctx, t.C) {
		if b.brk.Open() {
			continue
		}
		hctx, cancel := context.WithTimeout(ctx, b.HeartbeatEvery)
		_, _ = b.send(hctx, b.hbChannel, "1") // silence is what counts, not the error
		cancel()
	}
}

// session is one subscription: it returns when the subscription failed or
// heard no heartbeat for LiveFor, so that the next one starts on a fresh
// connection (go-redis keeps a silent one, since its PING is only written).
func (b *RedisBus) session(ctx context.Context) {
	var sub *redis.PubSub
	if b.sharded {
		sub = b.rdb.SSubscribe(ctx, b.channel, b.hbChannel)
	} else {
		sub = b.rdb.Subscribe(ctx, b.channel, b.hbChannel)
	}
	defer sub.Close()
	start := b.since()
	for ctx.Err() == nil {
		msg, err := sub.ReceiveTimeout(ctx, b.HeartbeatEvery)
		if err != nil {
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() {
				b.down(err)
				return
			}
		}
		if m, ok := msg.(*redis.Message); ok {
			if m.Channel == b.hbChannel {
				b.heardBack()
			} else {
				b.receive(ctx, m.Payload)
			}
		}
		if quiet := time.Duration(b.since() - max(b.heard.Load(), start)); quiet >= b.LiveFor {
			b.down(fmt.Errorf("no heartbeat heard back for %s", quiet.Round(time.Millisecond)))
			return
		}
	}
}

// heardBack records a heartbeat; after a spell of not being live, every
// cache is dropped first.
func (b *RedisBus) heardBack() {
	if !b.redisLive() {
		b.deliver(service.TopicAll)
		b.log.Info("cache invalidation channel live again: caches dropped")
	}
	b.heard.Store(b.since())
}

func (b *RedisBus) down(err error) {
	if b.heard.Swap(0) != 0 {
		b.log.Warn("cache invalidation channel lost: caches bypassed until it is back", "err", err)
	}
}

// ticked waits for the next tick: false once ctx has ended.
func ticked(ctx context.Context, c <-chan time.Time) bool {
	select {
	case <-ctx.Done():
		return false
	case <-c:
		return true
	}
}
