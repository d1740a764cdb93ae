package service

// Status sync: forwarded orders are polled in batches of up to 100 per
// supplier call, and each report becomes a supplier command through the
// lifecycle (refunds exactly once); forwarded cancel tickets close with it.

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"smmapi/model"
)

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
			f.apply(ctx, o, token, st, ep, now)
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

// apply writes one order's upstream status (and the cost its charge says)
// back.
func (f *Fulfil) apply(ctx context.Context, o model.Order, token string, st UpstreamStatus, ep SupplierEndpoint, now time.Time) {
	if orderType(&o) == model.OrderSubscription && st.Error == "" {
		f.addChildren(ctx, o, st)
	}
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
		if msg := noteCost(cur, st, ep); msg != "" { // the cost stays unknown (counted as such in reports)
			f.costLog.Log(ctx, slog.LevelWarn, fmt.Sprint("cost:", ep.ID), "sync: charge not taken as cost",
				"supplier", ep.ID, "order", cur.PublicID, "why", msg)
		}
		if finalStatus(cur.Status) { // settled by an admin meanwhile (its cost still counts)
			cur.ForwardState = model.ForwardDone
			return OrderChange{Changed: true}, nil
		}
		cmd := SupplierCommand(*cur, st)
		posts := cur.PostsDone
		if orderType(cur) == model.OrderSubscription {
			cmd = SupplierSubCommand(*cur, st)
			if st.HasPosts && st.Posts > posts { // the supplier's count is the subscription's
				posts = st.Posts
				if cur.Posts > 0 { // never more than were paid
					posts = min(posts, cur.Posts)
				}
			}
		}
		counted := posts != cur.PostsDone
		cur.PostsDone = posts
		ch, err := Transition(cur, cmd, now)
		if err != nil {
			cur.LastError = clipText("status not applied: "+ErrorMessage(err), 500)
			return OrderChange{Changed: true, Public: counted, From: cur.Status, To: cur.Status}, nil
		}
		ch.Public = ch.Public || counted
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

// addChildren records the supplier's child orders of a subscription that
// are new here, oldest first. Each is keyed by the subscription and the
// supplier's ID (a unique index): whichever instance sees it first creates
// it, the others' inserts find the key and do nothing. The supplier does
// not report a post's link or quantity: the child counts max, what a post
// may get (and what an unlimited subscription pays for it).
func (f *Fulfil) addChildren(ctx context.Context, o model.Order, st UpstreamStatus) {
	if f.Posts == nil || len(st.Orders) == 0 {
		return
	}
	known, err := f.Posts.store.ChildKeys(ctx, o.ID)
	if err != nil {
		f.log.WarnContext(ctx, "sync: children of a subscription", "order", o.PublicID, "err", err)
		return
	}
	for _, up := range st.Orders {
		key := fmt.Sprintf("%d:%s", o.ID, clipText(up, 64))
		if known[key] {
			continue
		}
		_, _, err := f.Posts.record(ctx, o.PublicID, post{qty: o.Quantity, bySupplier: true, childKey: &key, supOrder: clipText(up, 64)})
		if err != nil {
			f.log.WarnContext(ctx, "sync: record a supplier's child", "order", o.PublicID, "child", up, "err", err)
			return // the next round tries again, in order
		}
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
