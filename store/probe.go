package store

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"
)

// ErrDown is returned at once, without touching the dependency, while a
// Breaker knows it is unreachable.
var ErrDown = errors.New("dependency known to be unreachable")

// Breaker remembers that a dependency (the database, Redis) is unreachable,
// so that callers fail at once instead of each waiting out a read timeout
// (15 s for a silent MySQL), and probes it in the background to notice when
// it is back. The probe decides, never a single failed call: a call that
// failed as if the dependency were gone only asks for a probe now (Suspect),
// so one connection killed by the server does not open the breaker.
type Breaker struct {
	name  string
	probe func(ctx context.Context) error
	log   *slog.Logger
	// UpEvery is the probe interval while the dependency answers: it bounds
	// how long a dependency that went silent (no error, no answer) goes
	// unnoticed; DownEvery the interval while it does not, which bounds
	// how late its return is noticed. Timeout bounds one probe.
	UpEvery, DownEvery, Timeout time.Duration
	down                        atomic.Bool
	kick                        chan struct{}
	// Trips counts the times the breaker opened.
	Trips atomic.Int64
}

// NewBreaker returns a closed breaker; call Run. A nil *Breaker is never open.
func NewBreaker(name string, probe func(ctx context.Context) error, log *slog.Logger) *Breaker {
	return &Breaker{name: name, probe: probe, log: log, UpEvery: time.Second, DownEvery: 250 * time.Millisecond,
		Timeout: time.Second, kick: make(chan struct{}, 1)}
}

// Open reports whether the dependency is known to be unreachable.
func (b *Breaker) Open() bool { return b != nil && b.down.Load() }

// Suspect asks for a probe now: a call failed in a way that may mean the
// dependency is gone. It never blocks.
func (b *Breaker) Suspect() {
	if b == nil || b.down.Load() { // while down it probes on its own
		return
	}
	select {
	case b.kick <- struct{}{}:
	default:
	}
}

// Run probes until ctx ends.
func (b *Breaker) Run(ctx context.Context) {
	t := time.NewTimer(b.UpEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-b.kick:
		}
		timeout := b.Timeout
		if b.down.Load() { // a short probe, so that a return is noticed soon
			timeout = min(timeout, 2*b.DownEvery)
		}
		pctx, cancel := context.WithTimeout(ctx, timeout)
		err := b.probe(pctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		b.record(err)
		every := b.UpEvery
		if b.down.Load() {
			every = b.DownEvery
		}
		if !t.Stop() {
			select {
			case <-t.C:
			default:
			}
		}
		t.Reset(every)
	}
}

// Check probes now with ctx and records the result, for /readyz: a
// dependency it reports down is one every caller already fails fast on.
func (b *Breaker) Check(ctx context.Context) error {
	err := b.probe(ctx)
	if !errors.Is(ctx.Err(), context.Canceled) { // the caller left: says nothing
		b.record(err)
	}
	return err
}

// record opens or closes the breaker on a probe's result.
func (b *Breaker) record(err error) {
	switch {
	case err != nil && !b.down.Swap(true):
		b.Trips.Add(1)
		b.log.Warn("dependency unreachable: failing fast until it answers again", "dependency", b.name, "err", err)
	case err == nil && b.down.Swap(false):
		b.log.Info("dependency answers again", "dependency", b.name)
	}
}
