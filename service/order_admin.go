package service

// Internal API: orders. GET /orders (filters, newest first), GET /orders/{id},
// PATCH /orders/{id} {"status","start_count","remains"}. Partial refunds
// charge × remains ÷ quantity, Canceled what is left; each refund is written
// exactly once, however often or concurrently the PATCH is sent.

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	"smmapi/model"
)

// OrderFilter narrows the order list; zero values do not filter.
type OrderFilter struct {
	UserID    uint64
	ServiceID uint64
	SiteID    uint64
	Status    model.Status
}

// OrderPatch changes an order; nil fields stay. Counts are accepted as JSON
// numbers or strings.
type OrderPatch struct {
	Status     *string      `json:"status"`
	StartCount *json.Number `json:"start_count"`
	Remains    *json.Number `json:"remains"`
}

// OrderView is an order as the internal API shows it. Charge is the original
// charge; Refunded what went back; the public status shows the difference.
type OrderView struct {
	ID        string          `json:"id"`
	UserID    uint64          `json:"user_id"`
	SiteID    uint64          `json:"site_id"`
	ServiceID uint64          `json:"service_id"`
	Link      string          `json:"link"`
	Quantity  int64           `json:"quantity"`
	Runs      int64           `json:"runs"`
	Interval  int64           `json:"interval"`
	RunsDone  int64           `json:"runs_done"`
	Comments  string          `json:"comments"`
	Username  string          `json:"username"`
	Params    json.RawMessage `json:"params"`
	Charge    model.Money     `json:"charge"`
	Refunded  model.Money     `json:"refunded"`
	// Cost is what the supplier charged, in the service currency; null
	// until a supplier's answer said it (and for manual orders).
	Cost          *model.Money `json:"cost"`
	StartCount    string       `json:"start_count"`
	Remains       string       `json:"remains"`
	Status        model.Status `json:"status"`
	Currency      string       `json:"currency"`
	SupplierID    *uint64      `json:"supplier_id"`
	SupplierOrder string       `json:"supplier_order"`
	// ForwardState is "" (manual), queued, sending, sent, reconcile,
	// error or done; LastError says what went wrong upstream.
	ForwardState string `json:"forward_state"`
	Attempts     int64  `json:"forward_attempts"`
	LastError    string `json:"last_error"`
	CreatedAt    string `json:"created_at"`
	UpdatedAt    string `json:"updated_at"`
	// Subscription is set on subscriptions only.
	Subscription *SubscriptionView `json:"subscription,omitempty"`
}

// SubscriptionView is a subscription's own part of the internal order
// object; Posts is null when unlimited, Orders the children oldest first.
type SubscriptionView struct {
	Min       int64    `json:"min"`
	Max       int64    `json:"max"`
	Posts     *int64   `json:"posts"`
	OldPosts  int64    `json:"old_posts"`
	Delay     int64    `json:"delay"`
	Expiry    *string  `json:"expiry"`
	PostsDone int64    `json:"posts_done"`
	Prepaid   bool     `json:"prepaid"`
	Orders    []string `json:"orders"`
}

// Orders administers orders.
type Orders struct {
	store    OrderAdminStore
	currency string
	now      Clock
	ev       *EventLog
}

// NewOrders returns an Orders.
func NewOrders(store OrderAdminStore, currency string, now Clock, ev *EventLog) *Orders {
	return &Orders{store: store, currency: currency, now: now, ev: ev}
}

// List returns one page of orders, newest first.
func (s *Orders) List(ctx context.Context, f OrderFilter, p Page) (List[OrderView], error) {
	before, limit, err := p.After()
	if err != nil {
		return List[OrderView]{}, err
	}
	if f.Status != "" && !knownStatus(f.Status) {
		return List[OrderView]{}, Errorf(ErrInvalid, "unknown status %q", f.Status)
	}
	rows, err := s.store.ListOrders(ctx, f, before, limit+1)
	if err != nil {
		return List[OrderView]{}, fmt.Errorf("list orders: %w", err)
	}
	return pageOf(rows, limit, func(o model.Order) uint64 { return o.ID }, s.View), nil
}

// Get returns one order by its public ID.
func (s *Orders) Get(ctx context.Context, id string) (OrderView, error) {
	if !plausibleOrderID(id) {
		return OrderView{}, Errorf(ErrNotFound, "order not found")
	}
	o, err := s.store.Order(ctx, id)
	if err != nil {
		return OrderView{}, fmt.Errorf("get order %s: %w", id, err)
	}
	return s.View(o), nil
}

// Patch changes status, start count and remains, refunding on Partial and
// Canceled. The wire body becomes a command decided by the lifecycle under
// the order's lock in the store.
func (s *Orders) Patch(ctx context.Context, id string, p OrderPatch) (OrderView, error) {
	if !plausibleOrderID(id) {
		return OrderView{}, Errorf(ErrNotFound, "order not found")
	}
	cmd, err := p.Command()
	if err != nil {
		return OrderView{}, err
	}
	o, err := s.store.ChangeOrder(ctx, id, s.ev.Order(func(o *model.Order) (OrderChange, error) {
		return Transition(o, cmd, s.now())
	}))
	if err != nil {
		return OrderView{}, fmt.Errorf("patch order %s: %w", id, err)
	}
	return s.View(o), nil
}

// Command converts the wire body into the admin's command.
func (p OrderPatch) Command() (OrderCommand, error) {
	cmd := OrderCommand{By: ActorAdmin}
	if p.Status != nil {
		cmd.Status = model.Status(*p.Status)
		if !knownStatus(cmd.Status) {
			return cmd, Errorf(ErrInvalid, "unknown status %q", *p.Status)
		}
	}
	var err error
	if cmd.StartCount, err = count("start_count", p.StartCount); err != nil {
		return cmd, err
	}
	cmd.Remains, err = count("remains", p.Remains)
	return cmd, err
}

// count reads a count sent as a JSON number or string; nil stays nil.
func count(name string, in *json.Number) (*int64, error) {
	if in == nil {
		return nil, nil
	}
	n, err := strconv.ParseInt(string(*in), 10, 64)
	if err != nil || n < 0 {
		return nil, Errorf(ErrInvalid, "%s must be a non-negative whole number", name)
	}
	return &n, nil
}

// View renders an order for the internal API.
func (s *Orders) View(o model.Order) OrderView {
	params := json.RawMessage("{}")
	if o.Params != "" {
		params = json.RawMessage(o.Params)
	}
	v := OrderView{ID: o.PublicID, UserID: o.UserID, SiteID: o.SiteID, ServiceID: o.ServiceID, Link: o.Link,
		Quantity: o.Quantity, Runs: o.Runs, Interval: o.Interval, RunsDone: o.RunsDone, Comments: o.Comments,
		Username: o.Username, Params: params, Charge: o.Charge, Refunded: o.Refunded, Cost: o.Cost,
		StartCount: strconv.FormatInt(o.StartCount, 10), Remains: strconv.FormatInt(o.Remains, 10),
		Status: o.Status, Currency: s.currency, SupplierID: o.SupplierID, SupplierOrder: o.SupplierOrder,
		ForwardState: o.ForwardState, Attempts: o.Attempts, LastError: o.LastError,
		CreatedAt: FormatTime(o.CreatedAt), UpdatedAt: FormatTime(o.UpdatedAt)}
	if orderType(&o) == model.OrderSubscription {
		sp := readSubParams(o)
		sv := &SubscriptionView{Min: sp.Min, Max: sp.Max, OldPosts: sp.OldPosts, Delay: sp.Delay, Expiry: sp.Expiry,
			PostsDone: o.PostsDone, Prepaid: o.Posts > 0, Orders: childIDs(o.Children)}
		if sp.HasPosts {
			sv.Posts = &sp.Posts
		}
		if sv.Orders == nil {
			sv.Orders = []string{}
		}
		v.Subscription = sv
	}
	return v
}
