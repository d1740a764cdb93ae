package service

// Wire contract (action=refill): order=<id> → {"refill":<ticket ID>};
// orders=<ids> → [{"order":"…","refill":12},{"order":"…","refill":{"error":"…"}}].
// It opens a refill ticket for the admins; it does not refill by itself.

import (
	"context"
	"time"

	"smmapi/model"
)

// RefillResult is the single refill answer.
type RefillResult struct {
	Refill uint64 `json:"refill"`
}

// RefillItem is one entry of a multiple refill answer; Refill is the ticket
// ID or an ItemError.
type RefillItem struct {
	Order  OrderRef `json:"order"`
	Refill any      `json:"refill"`
}

// Refill answers the refill action.
type Refill struct {
	t ticketOpener
}

// NewRefill returns a Refill.
func NewRefill(orders OrderStore, catalog CatalogStore, tickets TicketStore, now Clock, watch *TruncationWatch, ev *EventLog) *Refill {
	return &Refill{t: ticketOpener{orders: orders, catalog: catalog, tickets: tickets, typ: model.TicketRefill, watch: watch, ev: ev,
		already: MsgRefillRequested,
		refusal: func(o model.Order, svc model.Service) string {
			switch {
			case !svc.Refill:
				return MsgRefillDisabled
			case !refillable(o):
				return MsgRefillIneligible
			case svc.RefillDays > 0 && o.FinishedAt != nil &&
				now().After(o.FinishedAt.Add(time.Duration(svc.RefillDays)*24*time.Hour)):
				return MsgRefillIneligible
			}
			return ""
		}}}
}

// One opens a refill ticket for one order.
func (r *Refill) One(ctx context.Context, acct Account, id string) (RefillResult, error) {
	out, err := r.t.open(ctx, acct, []string{id})
	if err != nil {
		return RefillResult{}, err
	}
	if out[0].err != "" {
		return RefillResult{}, Errorf(ErrInvalid, "%s", out[0].err)
	}
	return RefillResult{Refill: out[0].ticketID}, nil
}

// Many opens refill tickets for a comma list of orders.
func (r *Refill) Many(ctx context.Context, acct Account, ids string) ([]RefillItem, error) {
	list, err := parseIDList(ids)
	if err != nil {
		return nil, err
	}
	out, err := r.t.open(ctx, acct, list)
	if err != nil {
		return nil, err
	}
	items := make([]RefillItem, len(out))
	for i, o := range out {
		items[i] = RefillItem{Order: refFor(acct, o.order), Refill: o.ticketID}
		if o.err != "" {
			items[i].Refill = ItemError{Error: o.err}
		}
	}
	return items, nil
}
