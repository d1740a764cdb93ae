package service

// Forwarding: due queued orders are claimed, recorded as "sending", sent to
// their supplier and recorded as sent (In progress), retried with back-off,
// or parked for an admin when the outcome is unknown.

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"smmapi/model"
)

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
			switch ErrorCode(err) {
			case ErrConflict: // disabled supplier: wait for it
				f.settle(ctx, o, token, model.ForwardQueued, ErrorMessage(err), time.Minute)
				return
			case ErrUnavailable: // the database failed a moment (a cluster node lost): not the supplier's fault
				f.settle(ctx, o, token, model.ForwardQueued, ErrorMessage(err), 5*time.Second)
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
	if orderType(&o) == model.OrderSubscription {
		// The supplier's Subscriptions order: username and the stored
		// min, max, posts, old_posts, delay, expiry; no link, no quantity.
		p := map[string]string{"service": o.SupplierService, "username": o.Username}
		var extra map[string]string
		_ = json.Unmarshal([]byte(o.Params), &extra) // written by buildSubscription
		for _, k := range []string{"min", "max", "posts", "old_posts", "delay", "expiry"} {
			if v, ok := extra[k]; ok {
				p[k] = v
			}
		}
		return p
	}
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
