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
type OrderStatus struct {
	Charge     model.Money `json:"charge"`
	StartCount string      `json:"start_count"`
	Status     string      `json:"status"`
	Remains    string      `json:"remains"`
	Currency   string      `json:"currency"`
	Runs       *string     `json:"runs,omitempty"`
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
			b = append(b, `{"error":`...)
			b = AppendJSONString(b, e.Error)
			b = append(b, '}')
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
	b = append(b, `","start_count":`...)
	b = AppendJSONString(b, s.StartCount)
	b = append(b, `,"status":`...)
	b = AppendJSONString(b, s.Status)
	b = append(b, `,"remains":`...)
	b = AppendJSONString(b, s.Remains)
	b = append(b, `,"currency":`...)
	b = AppendJSONString(b, s.Currency)
	if s.Runs != nil {
		b = append(b, `,"runs":`...)
		b = AppendJSONString(b, *s.Runs)
	}
	return append(b, '}')
}

// Status answers the status action.
type Status struct {
	orders   OrderStore
	currency string
}

// NewStatus returns a Status.
func NewStatus(orders OrderStore, currency string) *Status {
	return &Status{orders: orders, currency: currency}
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
	query := make([]string, 0, len(ids))
	for _, id := range ids {
		if plausibleOrderID(id) {
			query = append(query, id)
		}
	}
	byID := map[string]model.Order{}
	if len(query) > 0 {
		rows, err := s.orders.UserOrders(ctx, acct.UserID, query)
		if err != nil {
			return nil, fmt.Errorf("status: %w", err)
		}
		for _, o := range rows {
			byID[o.PublicID] = o
		}
	}
	out := make(StatusList, len(ids))
	for i, id := range ids {
		out[i].ID = id
		o, ok := byID[id]
		if !ok {
			out[i].Error = MsgIncorrectOrder
			continue
		}
		st := s.view(o)
		out[i].Order = &st
	}
	return out, nil
}

func (s *Status) view(o model.Order) OrderStatus {
	st := OrderStatus{
		Charge:     o.Charge - o.Refunded,
		StartCount: strconv.FormatInt(o.StartCount, 10),
		Status:     o.Status,
		Remains:    strconv.FormatInt(o.Remains, 10),
		Currency:   s.currency,
	}
	if o.Runs > 0 {
		r := strconv.FormatInt(o.RunsDone, 10)
		st.Runs = &r
	}
	return st
}
