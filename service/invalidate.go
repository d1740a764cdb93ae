package service

import (
	"context"
	"log/slog"
	"time"
)

// publishWait bounds the wait for an invalidation: the change's answer
// waits for the other instances to drop their caches (the bus's own bound
// is 1 s), but never long on a silent Redis; an unconfirmed one still
// reaches every instance within the database epoch poll (store.Epochs).
const publishWait = 1500 * time.Millisecond

// Invalidator tells every instance that something the public API caches
// changed (a key replaced or revoked, an account disabled or renumbered, a
// site's settings, the catalog). It is called from the write path, after
// the change committed, by whoever made it — an admin call or a worker —
// never from an HTTP route.
type Invalidator struct {
	bus Bus // nil: nothing is cached, nothing to tell
	rec Recorder
	log *slog.Logger
}

// NewInvalidator returns an Invalidator over bus (nil: a no-op).
func NewInvalidator(bus Bus, rec Recorder, log *slog.Logger) *Invalidator {
	return &Invalidator{bus: bus, rec: rec, log: log}
}

// Changed publishes topic and waits (bounded) until the instances that
// heard it dropped their caches. A change whose invalidation cannot be
// confirmed stands: it is counted and logged, and instances that missed it
// drop their caches at their next epoch poll, or bypass them meanwhile.
func (v *Invalidator) Changed(ctx context.Context, topic string) {
	if v == nil || v.bus == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), publishWait)
	defer cancel()
	if err := v.bus.Publish(ctx, topic); err != nil {
		v.rec.InvalidationUnconfirmed()
		v.log.WarnContext(ctx, "cache invalidation not confirmed", "topic", topic, "err", err)
	}
}
