package service

import (
	"context"
	"fmt"

	"smmapi/model"
)

// ticketOpener opens refill or cancel tickets for a list of the caller's
// orders: the shared half of the refill and cancel actions.
type ticketOpener struct {
	orders  OrderStore
	catalog CatalogStore
	tickets TicketStore
	typ     model.TicketType
	// refusal returns the spec's error text when o may not get a ticket.
	refusal func(o model.Order, svc model.Service) string
	// already is the text for an order with a live ticket of this type.
	already string
	// watch counts look-ups for truncated IDs (nil: not counted).
	watch *TruncationWatch
	ev    *EventLog
}

// ticketOutcome is one order's result: a ticket ID or an error text.
type ticketOutcome struct {
	order    string
	ticketID uint64
	err      string
}

// open answers each ID in order; one query for the orders, one for their
// services, one insert per eligible order.
func (t *ticketOpener) open(ctx context.Context, acct Account, ids []string) ([]ticketOutcome, error) {
	t.watch.Observe(ctx, acct, ids)
	query := plausibleOrderIDs(ids)
	byID := map[string]model.Order{}
	var svcIDs []uint64
	if len(query) > 0 {
		rows, err := t.orders.UserOrders(ctx, acct.UserID, query)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", t.typ, err)
		}
		for _, o := range rows {
			byID[o.PublicID] = o
			svcIDs = append(svcIDs, o.ServiceID)
		}
	}
	svcs := map[uint64]model.Service{}
	if len(svcIDs) > 0 {
		var err error
		if svcs, err = t.catalog.ServicesByID(ctx, svcIDs); err != nil {
			return nil, fmt.Errorf("%s: %w", t.typ, err)
		}
	}
	out := make([]ticketOutcome, len(ids))
	for i, id := range ids {
		out[i].order = id
		o, ok := byID[id]
		if !ok {
			out[i].err = MsgIncorrectOrder
			continue
		}
		if msg := t.refusal(o, svcs[o.ServiceID]); msg != "" {
			out[i].err = msg
			continue
		}
		key := fmt.Sprintf("%s:%d", t.typ, o.ID)
		tk := model.Ticket{Type: t.typ, OrderID: o.ID, UserID: acct.UserID, Status: model.TicketOpen, OpenKey: &key}
		err := t.tickets.OpenTicket(ctx, &tk, t.ev.ticketCreated(id))
		switch {
		case ErrorCode(err) == ErrConflict:
			out[i].err = t.already
		case err != nil:
			return nil, fmt.Errorf("%s: open ticket for order %s: %w", t.typ, id, err)
		default:
			out[i].ticketID = tk.ID
		}
	}
	return out, nil
}
