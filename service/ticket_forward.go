package service

// Tickets at the supplier: an admin forwards an open ticket (ForwardTicket)
// and RefillRound follows a forwarded refill until the supplier settles it.

import (
	"context"
	"fmt"

	"smmapi/model"
)

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
