package service

// Fulfilment: orders of services mapped to a supplier are forwarded
// upstream within seconds, their status, start count and remains are polled
// back in batches of up to 100, and forwarded refill tickets are followed.
// Work is claimed with leases in the database, so any number of instances
// may run it; an order whose forwarding outcome is unknown is never sent
// again blindly but parked for an admin (reconcile).

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"smmapi/model"
)

// FulfilStore is what fulfilment needs from storage.
type FulfilStore interface {
	// ClaimOrders leases up to n orders in forward state whose NextAt is
	// due and whose claim is free, marking them with token until until.
	ClaimOrders(ctx context.Context, state string, now time.Time, n int, token string, until time.Time) ([]model.Order, error)
	// ExpireSending parks orders whose send was interrupted (claim lapsed
	// while "sending") for reconciliation; it returns how many.
	ExpireSending(ctx context.Context, now time.Time) (int64, error)
	// ClaimTickets leases forwarded refill tickets that are due.
	ClaimTickets(ctx context.Context, now time.Time, n int, token string, until time.Time) ([]model.Ticket, error)
	ChangeOrder(ctx context.Context, publicID string, fn func(*model.Order) (OrderChange, error)) (model.Order, error)
	DecideTicket(ctx context.Context, id uint64, fn func(*model.Ticket, *model.Order) (OrderChange, error)) (TicketWithOrder, error)
	// TicketOrder reads a ticket and its order, without locks.
	TicketOrder(ctx context.Context, id uint64) (model.Ticket, model.Order, error)
	// OrderTickets returns the IDs of an order's tickets of a type and
	// status.
	OrderTickets(ctx context.Context, orderID uint64, typ model.TicketType, status model.TicketStatus) ([]uint64, error)
}

// Fulfil forwards orders and syncs them back.
type Fulfil struct {
	store     FulfilStore
	suppliers *Suppliers
	up        Upstream
	rec       Recorder
	ev        *EventLog
	now       Clock
	log       *slog.Logger
	// costLog reports charges that could not be taken as costs: a line a
	// minute per supplier, not one per order and poll.
	costLog *LogThrottle
	// Interval is the shortest poll interval, for fresh orders.
	Interval time.Duration
	// Lease bounds how long a claim holds: longer than one upstream call.
	Lease time.Duration
	// Posts records a supplier's subscription children (set in wiring).
	Posts *Subscriptions
	// pause waits between retries of a failed database write; it returns
	// early with the context's error (tests shorten it).
	pause func(ctx context.Context, d time.Duration) error
}

// sleepCtx waits d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// NewFulfil returns a Fulfil.
func NewFulfil(store FulfilStore, suppliers *Suppliers, up Upstream, rec Recorder, ev *EventLog, now Clock, log *slog.Logger, interval, upstreamTimeout time.Duration) *Fulfil {
	return &Fulfil{store: store, suppliers: suppliers, up: up, rec: rec, ev: ev, now: now, log: log,
		costLog: NewLogThrottle(log, time.Minute, now), Interval: interval, Lease: upstreamTimeout + 30*time.Second, pause: sleepCtx}
}

// batch is how many orders one round claims; status calls carry up to 100.
const batch = 100

func claimToken() string {
	s, _ := randomHex(12)
	return s
}

// change is ChangeOrder tried again a few times when the database itself
// failed (a MySQL deadlock, a dropped connection). Each fn here checks the
// claim and is decided under the order's lock, so running it again is safe;
// giving up instead would leave a send the supplier accepted in "sending",
// to be parked for an admin when its lease lapses.
func (f *Fulfil) change(ctx context.Context, publicID string, fn func(*model.Order) (OrderChange, error)) (model.Order, error) {
	var o model.Order
	var err error
	const tries = 5
	for i := range tries {
		if o, err = f.store.ChangeOrder(ctx, publicID, f.ev.Order(fn)); err == nil {
			return o, nil
		}
		if c := ErrorCode(err); c != ErrInternal && c != ErrUnavailable || i == tries-1 {
			return o, err
		}
		if perr := f.pause(ctx, time.Duration(25<<i)*time.Millisecond); perr != nil {
			return o, errors.Join(err, perr)
		}
	}
	return o, err
}

func clipText(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
