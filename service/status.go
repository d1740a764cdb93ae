package service

// Wire contract (action=status): order=<id> → {"charge","start_count",
// "status","remains","currency"} (+ "runs" last on drip-feed orders);
// orders=<ids> → an object keyed by each ID as sent, in the order sent, each
// value that object or {"error":"Incorrect order ID"}. Foreign = missing.

import (
	"context"
	"fmt"
	"strconv"

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
}

// StatusEntry is one ID of a multi-status answer: Order or Error is set.
type StatusEntry struct {
	ID    string
	Order *OrderStatus
	Error string
}

// StatusList is a multi-status answer; it marshals as an object whose keys
// keep the order the IDs were sent in.
type StatusList []StatusEntry

// MarshalJSON writes the entries as one object, in order.
func (l StatusList) MarshalJSON() ([]byte, error) { return l.AppendJSON(nil), nil }

// AppendJSON appends the entries as one object, in order. A 100-ID status
// spent a fifth of its CPU in reflective marshalling before this.
func (l StatusList) AppendJSON(b []byte) []byte {
	b = append(b, '{')
	for i, e := range l {
		if i > 0 {
			b = append(b, ',')
		}
		b = AppendJSONString(b, e.ID)
		b = append(b, ':')
		if e.Order != nil {
			b = e.Order.AppendJSON(b)
		} else {
			b = ItemError{Error: e.Error}.AppendJSON(b)
		}
	}
	return append(b, '}')
}

// MarshalJSON writes the order's status object.
func (s OrderStatus) MarshalJSON() ([]byte, error) { return s.AppendJSON(nil), nil }

// AppendJSON appends the status object, fields in the wire's order.
func (s OrderStatus) AppendJSON(b []byte) []byte {
	b = append(b, `{"charge":"`...)
	b = s.Charge.AppendText(b)
	b = append(b, `","start_count":"`...)
	b = strconv.AppendInt(b, s.StartCount, 10)
	b = append(b, `","status":`...)
	b = AppendJSONString(b, string(s.Status))
	b = append(b, `,"remains":"`...)
	b = strconv.AppendInt(b, s.Remains, 10)
	b = append(b, `","currency":`...)
	b = AppendJSONString(b, s.Currency)
	if s.HasRuns {
		b = append(b, `,"runs":"`...)
		b = strconv.AppendInt(b, s.Runs, 10)
		b = append(b, '"')
	}
	return append(b, '}')
}

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
		views[j] = s.view(rows[j])
		out[i].Order = &views[j]
	}
	return out, nil
}

func (s *Status) view(o model.OrderState) OrderStatus {
	return OrderStatus{
		Charge:     o.Charge - o.Refunded,
		StartCount: o.StartCount,
		Status:     o.Status,
		Remains:    o.Remains,
		Currency:   s.currency,
		HasRuns:    o.Runs > 0,
		Runs:       o.RunsDone,
	}
}
