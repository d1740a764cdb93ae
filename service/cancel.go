package service

// Wire contract (action=cancel): orders=<ids> (or a lone order=<id>) →
// [{"order":"…","cancel":1},{"order":"…","cancel":{"error":"…"}}] in the
// order sent. cancel:1 means a ticket was opened, not that it is cancelled.

import (
	"context"

	"smmapi/model"
)

// CancelItem is one entry of the cancel answer; Cancel is 1 or an ItemError.
type CancelItem struct {
	Order  OrderRef `json:"order"`
	Cancel any      `json:"cancel"`
}

// Cancel answers the cancel action.
type Cancel struct {
	t ticketOpener
}

// NewCancel returns a Cancel.
func NewCancel(orders OrderStore, catalog CatalogStore, tickets TicketStore, watch *TruncationWatch, ev *EventLog) *Cancel {
	return &Cancel{t: ticketOpener{orders: orders, catalog: catalog, tickets: tickets, typ: model.TicketCancel, watch: watch, ev: ev,
		already: MsgCancelRequested,
		refusal: func(o model.Order, svc model.Service) string {
			switch {
			case !svc.Cancel:
				return MsgCancelDisabled
			case finalStatus(o.Status):
				return MsgCancelIneligible
			}
			return ""
		}}}
}

// Do opens cancel tickets for a comma list of orders.
func (c *Cancel) Do(ctx context.Context, acct Account, ids string) ([]CancelItem, error) {
	list, err := parseIDList(ids)
	if err != nil {
		return nil, err
	}
	out, err := c.t.open(ctx, acct, list)
	if err != nil {
		return nil, err
	}
	items := make([]CancelItem, len(out))
	for i, o := range out {
		items[i] = CancelItem{Order: refFor(acct, o.order), Cancel: 1}
		if o.err != "" {
			items[i].Cancel = ItemError{Error: o.err}
		}
	}
	return items, nil
}
