package store

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"gorm.io/gorm"

	"smmapi/service"
)

// cacheEpoch is the one row behind Epochs: infrastructure of the cache
// invalidation, not data of the domain, hence here and not in model.
type cacheEpoch struct {
	ID    uint64 `gorm:"primaryKey;autoIncrement:false"`
	Epoch uint64 `gorm:"not null;default:0"`
}

func (cacheEpoch) TableName() string { return "cache_epochs" }

// Epochs is the database's copy of the invalidation bus: a counter every
// cache-relevant change bumps and every instance polls. Redis pub/sub stays
// the fast path (the admin answer waits for the other instances to drop
// their caches); this one makes revocation independent of Redis: when the
// publisher cannot reach Redis, or a receiver's events are lost, every
// instance that reaches the database still drops its caches within one
// poll (PollEvery). An instance that cannot poll trusts no cache (Fresh).
type Epochs struct {
	db   *DB
	now  func() time.Time
	base time.Time
	log  *slog.Logger
	// PollEvery is the poll interval; FreshFor how long a poll is trusted.
	PollEvery, FreshFor time.Duration
	// okAt is when (since base) the last poll succeeded; 0: never or stale.
	okAt atomic.Int64
}

// NewEpochs returns the poller; call Run.
func NewEpochs(db *DB, now func() time.Time, log *slog.Logger) *Epochs {
	return &Epochs{db: db, now: now, base: now(), log: log, PollEvery: 250 * time.Millisecond, FreshFor: time.Second}
}

// Bump records a change: every instance drops its caches at its next poll.
func (e *Epochs) Bump(ctx context.Context) error {
	// A transaction, for its conflict retries: bumps on two Galera nodes
	// at once conflict.
	return e.db.transact(ctx, func(tx *gorm.DB) error {
		return tx.Exec("UPDATE cache_epochs SET epoch = epoch + 1 WHERE id = 1").Error
	})
}

// Fresh reports whether a poll succeeded within FreshFor.
func (e *Epochs) Fresh() bool {
	at := e.okAt.Load()
	return at != 0 && time.Duration(int64(e.now().Sub(e.base))-at) < e.FreshFor
}

// Run polls until ctx ends, calling deliver(TopicAll) when the counter
// moved, and also when a poll succeeds after a stale spell (whatever
// happened meanwhile was not seen), always before Fresh turns true.
func (e *Epochs) Run(ctx context.Context, deliver func(topic string)) {
	var seen uint64
	t := time.NewTicker(e.PollEvery)
	defer t.Stop()
	for {
		pctx, cancel := context.WithTimeout(ctx, e.FreshFor)
		var cur uint64
		err := e.db.r.WithContext(pctx).Raw("SELECT epoch FROM cache_epochs WHERE id = 1").Row().Scan(&cur)
		cancel()
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			if e.okAt.Swap(0) != 0 {
				e.log.Warn("cache epoch unreadable: caches bypassed until it is", "err", err)
			}
		default:
			if !e.Fresh() || cur != seen {
				deliver(service.TopicAll)
				seen = cur
			}
			e.okAt.Store(max(int64(e.now().Sub(e.base)), 1))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
