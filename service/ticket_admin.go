package service

// Internal API: tickets. GET /tickets?type=&status= lists refill and cancel
// tickets; POST /tickets/{id}/decision {"decision":"forward|complete|reject",
// "note"} decides an open one. Completing a cancel ticket cancels the order
// with its refund, in the same transaction.

import (
	"context"
	"fmt"

	"smmapi/model"
)

// TicketFilter narrows the ticket list; zero values do not filter.
type TicketFilter struct {
	Type   model.TicketType
	Status model.TicketStatus
	UserID uint64
}

// Decision is an admin's decision on a ticket.
type Decision struct {
	Decision string `json:"decision"`
	Note     string `json:"note"`
}

// TicketView is a ticket as the internal API shows it.
type TicketView struct {
	ID          uint64             `json:"id"`
	Type        model.TicketType   `json:"type"`
	Order       string             `json:"order"`
	UserID      uint64             `json:"user_id"`
	Status      model.TicketStatus `json:"status"`
	Note        string             `json:"note"`
	SupplierRef string             `json:"supplier_ref"`
	CreatedAt   string             `json:"created_at"`
	UpdatedAt   string             `json:"updated_at"`
}

// TicketWithOrder is a ticket and its order's public ID.
type TicketWithOrder struct {
	model.Ticket
	PublicID string
}

// Tickets administers refill and cancel tickets.
type Tickets struct {
	store   TicketAdminStore
	ev      *EventLog
	now     Clock
	forward func(ctx context.Context, id uint64, note string) (TicketWithOrder, error)
}

// NewTickets returns a Tickets; forward sends a ticket to the order's
// supplier (Fulfil.ForwardTicket).
func NewTickets(store TicketAdminStore, ev *EventLog, now Clock, forward func(ctx context.Context, id uint64, note string) (TicketWithOrder, error)) *Tickets {
	return &Tickets{store: store, ev: ev, now: now, forward: forward}
}

// List returns one page of tickets, newest first.
func (s *Tickets) List(ctx context.Context, f TicketFilter, p Page) (List[TicketView], error) {
	before, limit, err := p.After()
	if err != nil {
		return List[TicketView]{}, err
	}
	if f.Type != "" && f.Type != model.TicketRefill && f.Type != model.TicketCancel {
		return List[TicketView]{}, Errorf(ErrInvalid, "type must be refill or cancel")
	}
	switch f.Status {
	case "", model.TicketOpen, model.TicketForwarded, model.TicketCompleted, model.TicketRejected:
	default:
		return List[TicketView]{}, Errorf(ErrInvalid, "status must be open, forwarded, completed or rejected")
	}
	rows, err := s.store.ListTickets(ctx, f, before, limit+1)
	if err != nil {
		return List[TicketView]{}, fmt.Errorf("list tickets: %w", err)
	}
	return pageOf(rows, limit, func(t TicketWithOrder) uint64 { return t.ID }, ticketView), nil
}

// Decide applies an admin's decision to an open ticket.
func (s *Tickets) Decide(ctx context.Context, id uint64, d Decision) (TicketView, error) {
	if len(d.Note) > 1024 {
		return TicketView{}, Errorf(ErrInvalid, "note is longer than 1024 characters")
	}
	switch d.Decision {
	case "complete", "reject":
	case "forward":
		// The supplier is called outside any lock; unknown ticket → 404,
		// closed → 409, order without a supplier order → 409.
		t, err := s.forward(ctx, id, d.Note)
		if err != nil {
			return TicketView{}, fmt.Errorf("forward ticket %d: %w", id, err)
		}
		return ticketView(t), nil
	default:
		return TicketView{}, Errorf(ErrInvalid, "decision must be forward, complete or reject")
	}
	t, err := s.store.DecideTicket(ctx, id, s.ev.Ticket(func(t *model.Ticket, o *model.Order) (OrderChange, error) {
		to := model.TicketCompleted
		if d.Decision == "reject" {
			to = model.TicketRejected
		}
		if _, err := TicketTransition(t, to, ActorAdmin); err != nil {
			return OrderChange{}, err
		}
		t.Note = d.Note
		if to == model.TicketRejected || t.Type != model.TicketCancel {
			return OrderChange{}, nil
		}
		if finalStatus(o.Status) {
			return OrderChange{}, Errorf(ErrConflict, "order is already %s", o.Status)
		}
		// A completed cancel ticket cancels the order with its refund.
		return Transition(o, OrderCommand{By: ActorTicket, Status: model.StatusCanceled}, s.now())
	}))
	if err != nil {
		return TicketView{}, fmt.Errorf("decide ticket %d: %w", id, err)
	}
	return ticketView(t), nil
}

func ticketView(t TicketWithOrder) TicketView {
	return TicketView{ID: t.ID, Type: t.Type, Order: t.PublicID, UserID: t.UserID, Status: t.Status, Note: t.Note,
		SupplierRef: t.SupplierRef, CreatedAt: FormatTime(t.CreatedAt), UpdatedAt: FormatTime(t.UpdatedAt)}
}
