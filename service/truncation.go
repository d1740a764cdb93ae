package service

// The truncation watch finds accounts whose client stores order IDs in an
// integer column (SmartPanel-family children: INT(11)). Such a child turns
// "b76VJizQKZ" into 0 and "34P8Y0jiIr" into 34, then polls status, refill or
// cancel with that number: the order is lost to it. Counting those look-ups
// per account tells the operator whom to switch to numeric IDs.

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// TruncationStore adds counted suspect look-ups to an account.
type TruncationStore interface {
	// AddSuspectTruncations adds n to the account's count and moves its
	// last-seen time forward to at (never back).
	AddSuspectTruncations(ctx context.Context, userID uint64, n int64, at time.Time) error
}

// warnEvery bounds the warn lines per account (per instance).
const warnEvery = time.Hour

// TruncationWatch counts suspect look-ups in memory and writes them in
// batches, so the status path gains no database write.
type TruncationWatch struct {
	store TruncationStore
	rec   Recorder
	log   *slog.Logger
	now   Clock

	mu      sync.Mutex
	pending map[uint64]suspects  // counted, not yet written
	warned  map[uint64]time.Time // last warn line per account
}

type suspects struct {
	n    int64
	last time.Time
}

// NewTruncationWatch returns a watch writing to store.
func NewTruncationWatch(store TruncationStore, rec Recorder, log *slog.Logger, now Clock) *TruncationWatch {
	return &TruncationWatch{store: store, rec: rec, log: log, now: now,
		pending: map[uint64]suspects{}, warned: map[uint64]time.Time{}}
}

// truncatedID reports whether id is what an INT column makes of an
// alphanumeric ID: "0" or 1–9 digits (no order ID has fewer than 10
// characters, numeric ones included).
func truncatedID(id string) bool {
	if len(id) == 0 || len(id) > 9 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] < '0' || id[i] > '9' {
			return false
		}
	}
	return true
}

// Observe counts the suspect IDs among ids looked up by acct. Only accounts
// whose orders are alphanumeric are watched; a nil watch does nothing.
func (w *TruncationWatch) Observe(ctx context.Context, acct Account, ids []string) {
	if w == nil || acct.OrderIDFormat == FormatNumeric {
		return
	}
	var n int64
	for _, id := range ids {
		if truncatedID(id) {
			n++
		}
	}
	if n == 0 {
		return
	}
	now := w.now()
	w.rec.SuspectTruncatedIDs(n)
	w.mu.Lock()
	p := w.pending[acct.UserID]
	p.n, p.last = p.n+n, now
	w.pending[acct.UserID] = p
	last, seen := w.warned[acct.UserID]
	warn := !seen || now.Sub(last) >= warnEvery
	if warn {
		w.warned[acct.UserID] = now
	}
	w.mu.Unlock()
	if warn {
		w.log.WarnContext(ctx, "suspect truncated order IDs: the account's client seems to store order IDs as integers; set its order_id_format to numeric",
			"account_id", acct.UserID, "site_id", acct.SiteID, "ids", n)
	}
}

// Flush writes what was counted. Counts that fail to write are kept for the
// next flush, so a database outage loses none.
func (w *TruncationWatch) Flush(ctx context.Context) error {
	w.mu.Lock()
	batch := w.pending
	w.pending = map[uint64]suspects{}
	now := w.now()
	for id, t := range w.warned {
		if now.Sub(t) >= warnEvery {
			delete(w.warned, id)
		}
	}
	w.mu.Unlock()
	var first error
	for id, p := range batch {
		err := w.store.AddSuspectTruncations(ctx, id, p.n, p.last)
		if err == nil {
			continue
		}
		if first == nil {
			first = err
		}
		w.mu.Lock()
		q := w.pending[id]
		q.n += p.n
		if p.last.After(q.last) {
			q.last = p.last
		}
		w.pending[id] = q
		w.mu.Unlock()
	}
	return first
}

// Run flushes every interval until ctx ends, then once more.
func (w *TruncationWatch) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			if err := w.Flush(fctx); err != nil {
				w.log.Warn("flush suspect truncations at stop", "err", err)
			}
			return
		case <-t.C:
			if err := w.Flush(ctx); err != nil {
				w.log.Warn("flush suspect truncations", "err", err)
			}
		}
	}
}
