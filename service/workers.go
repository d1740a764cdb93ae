package service

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Workers run fulfilment in the background: forwarding, status sync and
// refill follow-up, each a loop of short rounds, and webhook deliveries.
// Stopping waits for the rounds under way; claims are released as each
// order is done, and any a crash leaves behind lapse with their lease.
type Workers struct {
	f     *Fulfil
	subs  *Subscriptions
	cat   *CatalogSync
	hooks *Deliverer // nil: no webhooks
	kick  chan struct{}
	log   *slog.Logger
	// Tick is how often each loop looks for due work; HookTick how often
	// the webhook loop does (its latency target is seconds).
	Tick, HookTick time.Duration
	// Retention bounds the webhook delivery log (events.retention).
	Retention time.Duration
}

// NewWorkers returns workers over f, subs (expiry and resuming), the
// catalog sync cat and the webhook deliverer hooks (nil: none).
func NewWorkers(f *Fulfil, subs *Subscriptions, cat *CatalogSync, hooks *Deliverer, retention time.Duration, log *slog.Logger) *Workers {
	return &Workers{f: f, subs: subs, cat: cat, hooks: hooks, kick: make(chan struct{}, 1), log: log, Tick: time.Second,
		HookTick: 250 * time.Millisecond, Retention: retention}
}

// Kick wakes the forwarder at once, e.g. when an order was just placed.
func (w *Workers) Kick() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// Run loops until ctx ends, then returns once every round under way is done.
// Without fulfil (no secrets.key: suppliers cannot be called) only the
// subscriptions' worker runs: expiry does not depend on a supplier.
func (w *Workers) Run(ctx context.Context, fulfil bool) {
	var wg sync.WaitGroup
	loop := func(name string, round func(context.Context) (int, error), kick <-chan struct{}) {
		defer wg.Done()
		t := time.NewTicker(w.Tick)
		defer t.Stop()
		var lastErr time.Time
		for {
			// A round runs to its end even when ctx ends meanwhile: an
			// upstream call cut short would leave an unknown outcome.
			n, err := round(context.WithoutCancel(ctx))
			if err != nil && time.Since(lastErr) > 30*time.Second {
				lastErr = time.Now()
				w.log.Warn("worker round failed", "worker", name, "err", err)
			}
			if err == nil && n == batch && ctx.Err() == nil {
				continue // more due work waiting
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			case <-kick:
			}
		}
	}
	wg.Add(1)
	go loop("subscriptions", w.subs.Round, nil)
	if fulfil {
		wg.Add(4)
		go loop("catalog", w.cat.Round, nil)
		go loop("forward", w.f.ForwardRound, w.kick)
		go loop("sync", w.f.SyncRound, nil)
		go loop("refill", w.f.RefillRound, nil)
	}
	if w.hooks != nil {
		wg.Add(1)
		go func() { defer wg.Done(); w.runHooks(ctx) }()
	}
	wg.Wait()
}

// runHooks starts due webhook sends every HookTick, and at once when a send
// ends (the next event of its order may be due); housekeeping every minute.
// At stop it waits for the sends under way, each bounded by webhooks.timeout.
func (w *Workers) runHooks(ctx context.Context) {
	defer w.hooks.Wait()
	t := time.NewTicker(w.HookTick)
	defer t.Stop()
	var lastErr, lastHousekeep time.Time
	for {
		n, err := w.hooks.Round(ctx)
		if err == nil && time.Since(lastHousekeep) >= time.Minute {
			lastHousekeep = time.Now()
			err = w.hooks.Housekeep(ctx, w.Retention)
		}
		if err != nil && ctx.Err() == nil && time.Since(lastErr) > 30*time.Second {
			lastErr = time.Now()
			w.log.Warn("worker round failed", "worker", "webhooks", "err", err)
		}
		if err == nil && n > 0 && ctx.Err() == nil {
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-w.hooks.Done():
		}
	}
}
