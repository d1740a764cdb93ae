package service

// Fulfilment: orders of services mapped to a supplier are forwarded
// upstream within seconds, their status, start count and remains are polled
// back in batches of up to 100, and forwarded refill tickets are followed.
// Work is claimed with leases in the database, so any number of instances
// may run it; an order whose forwarding outcome is unknown is never sent
// again blindly but parked for an admin (reconcile).

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
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
	// Interval is the shortest poll interval, for fresh orders.
	Interval time.Duration
	// Lease bounds how long a claim holds: longer than one upstream call.
	Lease time.Duration
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
		Interval: interval, Lease: upstreamTimeout + 30*time.Second, pause: sleepCtx}
}

// batch is how many orders one round claims; status calls carry up to 100.
const batch = 100

func claimToken() string {
	s, _ := randomHex(12)
	return s
}

// ForwardRound sends due queued orders upstream; it returns how many it
// handled.
func (f *Fulfil) ForwardRound(ctx context.Context) (int, error) {
	now := f.now()
	if _, err := f.store.ExpireSending(ctx, now); err != nil {
		return 0, fmt.Errorf("expire sending: %w", err)
	}
	token := claimToken()
	orders, err := f.store.ClaimOrders(ctx, model.ForwardQueued, now, batch, token, now.Add(f.Lease))
	if err != nil {
		return 0, fmt.Errorf("claim orders: %w", err)
	}
	eps := map[uint64]SupplierEndpoint{}
	for _, o := range orders {
		f.forward(ctx, o, token, eps)
	}
	return len(orders), nil
}

// forward sends one claimed order. "sending" is written before the call,
// so a crash mid-call leaves a trace that ExpireSending turns into a
// reconciliation instead of a second order at the supplier.
func (f *Fulfil) forward(ctx context.Context, o model.Order, token string, eps map[uint64]SupplierEndpoint) {
	send := false
	_, err := f.change(ctx, o.PublicID, func(cur *model.Order) (OrderChange, error) {
		if cur.ClaimToken != token || cur.ForwardState != model.ForwardQueued {
			return OrderChange{}, nil // lost the claim: someone else has it
		}
		if finalStatus(cur.Status) { // an admin settled it meanwhile
			cur.ForwardState, cur.ClaimToken, cur.ClaimUntil = model.ForwardDone, "", nil
			return OrderChange{Changed: true}, nil
		}
		cur.ForwardState = model.ForwardSending
		send = true
		return OrderChange{Changed: true}, nil
	})
	if err != nil || !send {
		if err != nil {
			f.log.WarnContext(ctx, "forward: mark sending", "order", o.PublicID, "err", err)
		}
		return
	}
	ep, ok := eps[*o.SupplierID]
	if !ok {
		if ep, err = f.suppliers.ForwardEndpoint(ctx, *o.SupplierID); err != nil {
			if ErrorCode(err) == ErrConflict { // disabled supplier: wait for it
				f.settle(ctx, o, token, model.ForwardQueued, ErrorMessage(err), time.Minute)
				return
			}
			f.settle(ctx, o, token, model.ForwardError, "supplier unusable: "+ErrorMessage(err), 0)
			return
		}
		eps[*o.SupplierID] = ep
	}
	id, err := f.up.Add(context.WithoutCancel(ctx), ep, forwardParams(o))
	if err == nil {
		now := f.now()
		_, err = f.change(ctx, o.PublicID, func(cur *model.Order) (OrderChange, error) {
			cur.SupplierOrder, cur.ForwardState, cur.LastError = id, model.ForwardSent, ""
			cur.Attempts++
			next := now.Add(f.Interval)
			cur.NextAt, cur.ClaimToken, cur.ClaimUntil = &next, "", nil
			ch := OrderChange{From: cur.Status, To: cur.Status}
			if cur.Status == model.StatusPending {
				var err error
				if ch, err = Transition(cur, OrderCommand{By: ActorSystem, Status: model.StatusInProgress}, now); err != nil {
					return ch, err
				}
			}
			ch.Changed = true
			return ch, nil
		})
		if err != nil {
			// The supplier has it but we could not say so: the claim lapses
			// in "sending" and an admin reconciles with the supplier's ID.
			f.log.ErrorContext(ctx, "forward: record supplier order", "order", o.PublicID, "supplier_order", id, "err", err)
		}
		return
	}
	ue, _ := asUpstream(err)
	switch {
	case ue == nil || ue.Outcome == OutcomeUnknown:
		f.settle(ctx, o, token, model.ForwardReconcile, "outcome unknown: "+err.Error(), 0)
	case ue.Outcome == OutcomeNotSent || ue.OutOfFunds:
		f.settle(ctx, o, token, model.ForwardQueued, ue.Message, backoff(o.Attempts+1))
	default:
		f.settle(ctx, o, token, model.ForwardError, "supplier refused: "+ue.Message, 0)
	}
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

// settle records a failed forward: queued again after delay, or parked.
func (f *Fulfil) settle(ctx context.Context, o model.Order, token, state, msg string, delay time.Duration) {
	next := f.now().Add(delay)
	_, err := f.change(ctx, o.PublicID, func(cur *model.Order) (OrderChange, error) {
		if cur.ClaimToken != token {
			// The lease lapsed during the call: ExpireSending has parked
			// the order, or another instance owns it now.
			return OrderChange{}, nil
		}
		cur.ForwardState, cur.LastError = state, clipText(msg, 500)
		cur.Attempts++
		cur.NextAt, cur.ClaimToken, cur.ClaimUntil = &next, "", nil
		return OrderChange{Changed: true}, nil
	})
	if err != nil {
		f.log.WarnContext(ctx, "forward: record failure", "order", o.PublicID, "err", err)
	}
	f.log.WarnContext(ctx, "forward failed", "order", o.PublicID, "state", state, "reason", msg)
}

// backoff grows 5 s, 10 s, 20 s … up to 10 minutes.
func backoff(attempt int64) time.Duration {
	d := 5 * time.Second
	for i := int64(1); i < attempt && d < 10*time.Minute; i++ {
		d *= 2
	}
	return min(d, 10*time.Minute)
}

// forwardParams are the standard add parameters for the supplier: its
// service ID, and for drip-feed the per-run quantity with runs/interval.
func forwardParams(o model.Order) map[string]string {
	p := map[string]string{"service": o.SupplierService, "link": o.Link}
	qty := o.Quantity
	if o.Runs > 0 {
		qty = o.Quantity / o.Runs
		p["runs"] = strconv.FormatInt(o.Runs, 10)
		p["interval"] = strconv.FormatInt(o.Interval, 10)
	}
	p["quantity"] = strconv.FormatInt(qty, 10)
	if o.Comments != "" {
		p["comments"] = o.Comments
	}
	if o.Username != "" {
		p["username"] = o.Username
	}
	if o.Params != "" {
		var extra map[string]string
		if json.Unmarshal([]byte(o.Params), &extra) == nil {
			for k, v := range extra {
				p[k] = v
			}
		}
	}
	return p
}

// SyncRound polls the statuses of due forwarded orders, up to 100 per
// supplier call, and applies them (refunds exactly once, through the same
// path as an admin's PATCH).
func (f *Fulfil) SyncRound(ctx context.Context) (int, error) {
	now := f.now()
	token := claimToken()
	orders, err := f.store.ClaimOrders(ctx, model.ForwardSent, now, batch, token, now.Add(f.Lease))
	if err != nil {
		return 0, fmt.Errorf("claim orders to sync: %w", err)
	}
	bySupplier := map[uint64][]model.Order{}
	for _, o := range orders {
		bySupplier[*o.SupplierID] = append(bySupplier[*o.SupplierID], o)
	}
	for sid, group := range bySupplier {
		ep, err := f.suppliers.Endpoint(ctx, sid)
		var answers map[string]UpstreamStatus
		if err == nil {
			ids := make([]string, len(group))
			for i, o := range group {
				ids[i] = o.SupplierOrder
			}
			answers, err = f.up.Status(context.WithoutCancel(ctx), ep, ids)
		}
		for _, o := range group {
			var st UpstreamStatus
			if err != nil {
				st.Error = ErrorMessage(err)
				if ue, ok := asUpstream(err); ok {
					st.Error = ue.Message
				}
			} else if a, ok := answers[o.SupplierOrder]; ok {
				st = a
			} else {
				st.Error = "missing from the supplier's answer"
			}
			f.apply(ctx, o, token, st, now)
		}
	}
	return len(orders), nil
}

// pollEvery is the sync interval for an order of age: fresh orders often,
// old ones less.
func (f *Fulfil) pollEvery(age time.Duration) time.Duration {
	switch {
	case age < time.Hour:
		return f.Interval
	case age < 6*time.Hour:
		return 5 * f.Interval
	case age < 24*time.Hour:
		return 15 * f.Interval
	}
	return 30 * f.Interval
}

// apply writes one order's upstream status back.
func (f *Fulfil) apply(ctx context.Context, o model.Order, token string, st UpstreamStatus, now time.Time) {
	var refund model.Money
	changed, err := f.change(ctx, o.PublicID, func(cur *model.Order) (OrderChange, error) {
		if cur.ClaimToken != token {
			return OrderChange{}, nil
		}
		next := now.Add(f.pollEvery(now.Sub(cur.CreatedAt)))
		cur.NextAt, cur.ClaimToken, cur.ClaimUntil = &next, "", nil
		if st.Error != "" {
			cur.LastError = clipText("status: "+st.Error, 500)
			return OrderChange{Changed: true}, nil
		}
		cur.LastError = ""
		if finalStatus(cur.Status) { // settled by an admin meanwhile
			cur.ForwardState = model.ForwardDone
			return OrderChange{Changed: true}, nil
		}
		ch, err := Transition(cur, SupplierCommand(*cur, st), now)
		if err != nil {
			cur.LastError = clipText("status not applied: "+ErrorMessage(err), 500)
			return OrderChange{Changed: true}, nil
		}
		if finalStatus(cur.Status) {
			cur.ForwardState = model.ForwardDone
		}
		refund = ch.Refund
		ch.Changed = true
		return ch, nil
	})
	if err != nil {
		f.log.WarnContext(ctx, "sync: apply status", "order", o.PublicID, "err", err)
		return
	}
	if refund > 0 {
		f.rec.Refunded(refund)
	}
	if finalStatus(changed.Status) {
		f.closeCancelTickets(ctx, changed)
	}
}

// closeCancelTickets settles an order's forwarded cancel tickets once the
// supplier has decided: completed when it canceled (fully or partly),
// rejected when it completed the order anyway.
func (f *Fulfil) closeCancelTickets(ctx context.Context, o model.Order) {
	to := model.TicketCompleted
	if o.Status == model.StatusCompleted {
		to = model.TicketRejected
	}
	ids, err := f.store.OrderTickets(ctx, o.ID, model.TicketCancel, model.TicketForwarded)
	for _, id := range ids {
		_, err = f.store.DecideTicket(ctx, id, f.ev.Ticket(func(t *model.Ticket, _ *model.Order) (OrderChange, error) {
			if t.Status != model.TicketForwarded { // settled meanwhile
				return OrderChange{}, nil
			}
			_, err := TicketTransition(t, to, ActorSupplier)
			return OrderChange{}, err
		}))
		if err != nil {
			break
		}
	}
	if err != nil {
		f.log.WarnContext(ctx, "sync: close cancel tickets", "order", o.PublicID, "err", err)
	}
}

// RefillRound follows forwarded refill tickets upstream.
func (f *Fulfil) RefillRound(ctx context.Context) (int, error) {
	now := f.now()
	token := claimToken()
	tickets, err := f.store.ClaimTickets(ctx, now, batch, token, now.Add(f.Lease))
	if err != nil {
		return 0, fmt.Errorf("claim tickets: %w", err)
	}
	for _, t := range tickets {
		status := ""
		_, order, err := f.store.TicketOrder(ctx, t.ID)
		if err == nil && order.SupplierID != nil {
			var ep SupplierEndpoint
			if ep, err = f.suppliers.Endpoint(ctx, *order.SupplierID); err == nil {
				status, err = f.up.RefillStatus(context.WithoutCancel(ctx), ep, t.SupplierRef)
			}
		}
		next := now.Add(f.Interval)
		_, derr := f.store.DecideTicket(ctx, t.ID, f.ev.Ticket(func(cur *model.Ticket, _ *model.Order) (OrderChange, error) {
			if cur.ClaimToken != token || cur.Status != model.TicketForwarded {
				return OrderChange{}, nil
			}
			cur.NextAt, cur.ClaimToken, cur.ClaimUntil = &next, "", nil
			if err != nil {
				return OrderChange{}, nil
			}
			if to := ParseSupplierRefillStatus(status); to != "" {
				if _, err := TicketTransition(cur, to, ActorSupplier); err != nil {
					return OrderChange{}, err
				}
			}
			return OrderChange{}, nil
		}))
		if derr != nil {
			f.log.WarnContext(ctx, "refill sync", "ticket", t.ID, "err", derr)
		}
	}
	return len(tickets), nil
}

func clipText(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// ForwardTicket sends an open ticket's refill or cancel to the order's
// supplier; the ticket becomes forwarded and follows the supplier. The call
// is made before the ticket is updated, outside any database lock.
func (f *Fulfil) ForwardTicket(ctx context.Context, id uint64, note string) (TicketWithOrder, error) {
	ticket, order, err := f.store.TicketOrder(ctx, id)
	if err != nil {
		return TicketWithOrder{}, err
	}
	if ticket.Status != model.TicketOpen {
		return TicketWithOrder{}, Errorf(ErrConflict, "ticket is %s, not open", ticket.Status)
	}
	if order.SupplierID == nil || order.SupplierOrder == "" {
		return TicketWithOrder{}, Errorf(ErrConflict, "the order has no supplier order to forward to")
	}
	ep, err := f.suppliers.Endpoint(ctx, *order.SupplierID)
	if err != nil {
		return TicketWithOrder{}, err
	}
	ref := ""
	if ticket.Type == model.TicketRefill {
		ref, err = f.up.Refill(ctx, ep, order.SupplierOrder)
	} else {
		err = f.up.Cancel(ctx, ep, order.SupplierOrder)
	}
	if err != nil {
		return TicketWithOrder{}, upstreamHTTPError(err)
	}
	next := f.now().Add(f.Interval)
	return f.store.DecideTicket(ctx, id, f.ev.Ticket(func(t *model.Ticket, o *model.Order) (OrderChange, error) {
		if t.Status != model.TicketOpen {
			return OrderChange{}, Errorf(ErrConflict, "ticket is %s, not open", t.Status)
		}
		if _, err := TicketTransition(t, model.TicketForwarded, ActorAdmin); err != nil {
			return OrderChange{}, err
		}
		t.SupplierRef, t.Note = ref, note
		if t.Type == model.TicketRefill {
			t.NextAt = &next
		} else if o.ForwardState == model.ForwardSent {
			// Ask the supplier for the order's status soon.
			o.NextAt = &next
			return OrderChange{Changed: true}, nil
		}
		return OrderChange{}, nil
	}))
}

// ReconcileInput is an admin's decision on an order whose forwarding needs
// one: "retry" sends it again, "fail" cancels it with a full refund.
type ReconcileInput struct {
	Action string `json:"action"`
	Note   string `json:"note"`
}

// Reconcile applies an admin's decision to an order parked in reconcile or
// error; other orders answer 409.
func (f *Fulfil) Reconcile(ctx context.Context, publicID string, in ReconcileInput) (model.Order, error) {
	if in.Action != "retry" && in.Action != "fail" {
		return model.Order{}, Errorf(ErrInvalid, "action must be retry or fail")
	}
	if !plausibleOrderID(publicID) {
		return model.Order{}, Errorf(ErrNotFound, "order not found")
	}
	var refund model.Money
	o, err := f.store.ChangeOrder(ctx, publicID, f.ev.Order(func(o *model.Order) (OrderChange, error) {
		if o.ForwardState != model.ForwardReconcile && o.ForwardState != model.ForwardError {
			return OrderChange{}, Errorf(ErrConflict, "order is not waiting for reconciliation (forward state %q)", o.ForwardState)
		}
		now := f.now()
		if in.Action == "retry" {
			o.ForwardState, o.NextAt, o.LastError = model.ForwardQueued, &now, ""
			return OrderChange{Changed: true}, nil
		}
		ch, err := Transition(o, OrderCommand{By: ActorAdmin, Status: model.StatusCanceled}, now)
		if err != nil {
			return OrderChange{}, err
		}
		o.ForwardState, o.LastError = model.ForwardDone, clipText("failed by admin: "+in.Note, 500)
		ch.Changed, refund = true, ch.Refund
		return ch, nil
	}))
	if err != nil {
		return model.Order{}, fmt.Errorf("reconcile order %s: %w", publicID, err)
	}
	if refund > 0 {
		f.rec.Refunded(refund)
	}
	return o, nil
}
