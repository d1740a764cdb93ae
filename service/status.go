package service

// Wire contract (action=status): order=<id> → {"charge","start_count",
// "status","remains","currency"} (+ "runs" last on drip-feed orders);
// orders=<ids> → an object keyed by each ID as sent, in the order sent, each
// value that object or {"error":"Incorrect order ID"}. Foreign = missing.

import (
	"context"
	"fmt"

	"smmapi/model"
)

// OrderStatus is one order's status as the public API shows it.
// The counts are numbers here and strings on the wire; runs appears only on
// drip-feed orders (HasRuns).
type OrderStatus struct {
	Charge     model.Money
	StartCount int64
	Status     model.Status
	Remains    int64
	Currency   string
	HasRuns    bool
	Runs       int64
	// Subscription: the status answers {"charge","status","expiry",
	// "posts","orders","currency"}; Expiry "" is null.
	Sub    bool
	Expiry string
	Posts  int64
	Orders []OrderRef
}

// StatusEntry is one ID of a multi-status answer: Order or Error is set.
type StatusEntry struct {
	ID    string
	Order *OrderStatus
	Error string
}

// StatusList is a multi-status answer: on the wire one object whose keys
// keep the order the IDs were sent in (written by the API layer).
type StatusList []StatusEntry

// Status answers the status action.
type Status struct {
	orders   OrderStore
	currency string
	watch    *TruncationWatch
}

// NewStatus returns a Status; watch (may be nil) counts look-ups for
// truncated IDs.
func NewStatus(orders OrderStore, currency string, watch *TruncationWatch) *Status {
	return &Status{orders: orders, currency: currency, watch: watch}
}

// One returns the status of one of the caller's orders.
func (s *Status) One(ctx context.Context, acct Account, id string) (OrderStatus, error) {
	l, err := s.lookup(ctx, acct, []string{id})
	if err != nil {
		return OrderStatus{}, err
	}
	if l[0].Order == nil {
		return OrderStatus{}, Errorf(ErrNotFound, MsgIncorrectOrder)
	}
	return *l[0].Order, nil
}

// Many returns the statuses of a comma list of IDs, in one query.
func (s *Status) Many(ctx context.Context, acct Account, ids string) (StatusList, error) {
	list, err := parseIDList(ids)
	if err != nil {
		return nil, err
	}
	return s.lookup(ctx, acct, list)
}

func (s *Status) lookup(ctx context.Context, acct Account, ids []string) (StatusList, error) {
	s.watch.Observe(ctx, acct, ids)
	query := plausibleOrderIDs(ids)
	var rows []model.OrderState
	if len(query) > 0 {
		var err error
		if rows, err = s.orders.OrderStates(ctx, acct.UserID, query); err != nil {
			return nil, fmt.Errorf("status: %w", err)
		}
	}
	at := make(map[string]int, len(rows))
	for i, o := range rows {
		at[o.PublicID] = i
	}
	out := make(StatusList, len(ids))
	views := make([]OrderStatus, len(rows)) // one allocation for every found order
	for i, id := range ids {
		out[i].ID = id
		j, ok := at[id]
		if !ok {
			out[i].Error = MsgIncorrectOrder
			continue
		}
		views[j] = statusView(rows[j], s.currency, func(id string) OrderRef { return refFor(acct, id) })
		out[i].Order = &views[j]
	}
	return out, nil
}

// statusView is an order's public status object: the net charge, the
// counts, runs on drip-feed orders; a subscription's expiry, posts and
// children (ref shows each child's ID). The status action and the events
// both build it here.
func statusView(o model.OrderState, currency string, ref func(string) OrderRef) OrderStatus {
	if o.Type == model.OrderSubscription {
		ids := childIDs(o.Children)
		refs := make([]OrderRef, len(ids))
		for i, id := range ids {
			refs[i] = ref(id)
		}
		return OrderStatus{Charge: o.Charge - o.Refunded, Status: o.Status, Currency: currency, Sub: true,
			Expiry: expiryText(o.ExpiresAt), Posts: o.PostsDone, Orders: refs}
	}
	return OrderStatus{
		Charge:     o.Charge - o.Refunded,
		StartCount: o.StartCount,
		Status:     o.Status,
		Remains:    o.Remains,
		Currency:   currency,
		HasRuns:    o.Runs > 0,
		Runs:       o.RunsDone,
	}
}
