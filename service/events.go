package service

// Order events: every change of an order, a refill ticket or a cancel
// ticket is recorded in the transaction of the change itself (a rolled-back
// change leaves no event; a committed one always has its event). The
// lifecycle says what changed; this file turns it into event rows, and
// serves the feed GET /internal/v1/events and GET /orders/{id}/events.

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"smmapi/model"
)

// EventStore stores and reads events.
type EventStore interface {
	// SequenceEvents gives the next public IDs to events committed since
	// the last call, in the order they became visible; one caller at a time
	// across instances. It returns how many it numbered.
	SequenceEvents(ctx context.Context) (int, error)
	// ListEvents returns numbered events matching f with Seq > after,
	// oldest first.
	ListEvents(ctx context.Context, f EventFilter, after uint64, limit int) ([]model.Event, error)
	// PruneEvents deletes up to limit numbered events created before t.
	PruneEvents(ctx context.Context, before time.Time, limit int) (int, error)
	// OrderRowID returns an order's internal ID by its public ID.
	OrderRowID(ctx context.Context, publicID string) (uint64, error)
}

// EventFilter narrows the feed; zero values do not filter.
type EventFilter struct {
	UserID uint64
	Order  string // public ID
	Type   string
}

// EventView is one event as the feed shows it.
type EventView struct {
	ID        uint64          `json:"id"`
	Type      string          `json:"type"`
	UserID    uint64          `json:"user_id"`
	CreatedAt string          `json:"created_at"`
	Data      json.RawMessage `json:"data"`
}

// EventLog builds the event rows of changes; the order's public status
// object inside them needs the currency.
type EventLog struct {
	currency string
	now      Clock
}

// NewEventLog returns an EventLog.
func NewEventLog(currency string, now Clock) *EventLog {
	return &EventLog{currency: currency, now: now}
}

// orderData is the data of order.* events: the ID as the public API shows
// it, the previous status (null on creation), and exactly the object the
// public status action answers for the order (same keys, same order).
type orderData struct {
	Order          OrderRef      `json:"order"`
	PreviousStatus *model.Status `json:"previous_status"`
	Status         statusData    `json:"status"`
}

type statusData struct {
	Charge     model.Money  `json:"charge"`
	StartCount string       `json:"start_count"`
	Status     model.Status `json:"status"`
	Remains    string       `json:"remains"`
	Currency   string       `json:"currency"`
	Runs       *string      `json:"runs,omitempty"` // drip-feed orders only
}

// ticketData is the data of refill.* and cancel.* events, in the
// vocabulary of the public refill_status.
type ticketData struct {
	Refill uint64   `json:"refill,omitempty"`
	Cancel uint64   `json:"cancel,omitempty"`
	Order  OrderRef `json:"order"`
	Status string   `json:"status"`
}

// subStatusData is a subscription's public status object in events.
type subStatusData struct {
	Charge   model.Money  `json:"charge"`
	Status   model.Status `json:"status"`
	Expiry   *string      `json:"expiry"`
	Posts    string       `json:"posts"`
	Orders   []OrderRef   `json:"orders"`
	Currency string       `json:"currency"`
}

// subOrderData is orderData for a subscription.
type subOrderData struct {
	Order          OrderRef      `json:"order"`
	PreviousStatus *model.Status `json:"previous_status"`
	Status         subStatusData `json:"status"`
}

func (e *EventLog) orderEvent(typ string, o *model.Order, prev model.Status) model.Event {
	st := publicStatus(*o, e.currency)
	if st.Sub {
		d := subOrderData{Order: eventRef(o.PublicID), Status: subStatusData{Charge: st.Charge, Status: st.Status,
			Posts: strconv.FormatInt(st.Posts, 10), Orders: st.Orders, Currency: st.Currency}}
		if d.Status.Orders == nil {
			d.Status.Orders = []OrderRef{}
		}
		if st.Expiry != "" {
			d.Status.Expiry = &st.Expiry
		}
		if prev != "" {
			d.PreviousStatus = &prev
		}
		return model.Event{Type: typ, UserID: o.UserID, Order: o.PublicID, Data: mustJSON(d), CreatedAt: e.now()}
	}
	d := orderData{Order: eventRef(o.PublicID), Status: statusData{Charge: st.Charge,
		StartCount: strconv.FormatInt(st.StartCount, 10), Status: st.Status, Remains: strconv.FormatInt(st.Remains, 10),
		Currency: st.Currency}}
	if prev != "" {
		d.PreviousStatus = &prev
	}
	if st.HasRuns {
		runs := strconv.FormatInt(st.Runs, 10)
		d.Status.Runs = &runs
	}
	return model.Event{Type: typ, UserID: o.UserID, Order: o.PublicID, Data: mustJSON(d), CreatedAt: e.now()}
}

// ticketEvent is a refill.* or cancel.* event.
func (e *EventLog) ticketEvent(suffix string, t *model.Ticket, orderPublicID string) model.Event {
	d := ticketData{Order: eventRef(orderPublicID), Status: PublicRefillStatus(t.Status)}
	if t.Type == model.TicketRefill {
		d.Refill = t.ID
	} else {
		d.Cancel = t.ID
	}
	return model.Event{Type: string(t.Type) + "." + suffix, UserID: t.UserID, Order: orderPublicID, Data: mustJSON(d),
		CreatedAt: e.now()}
}

// mustJSON marshals event data: plain structs of strings and numbers,
// which always marshal.
func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic("event data: " + err.Error())
	}
	return string(b)
}

// eventRef is an order ID as the public API shows it: numeric-format IDs
// as JSON numbers. Workers that write events do not know the account's
// format, so the ID's shape decides (an alphanumeric ID is all digits in
// that range about once in 10^8).
func eventRef(id string) OrderRef { return OrderRef{ID: id, Numeric: numericID(id)} }

// publicStatus is an order's public status object.
func publicStatus(o model.Order, currency string) OrderStatus {
	return statusView(model.OrderState{PublicID: o.PublicID, UserID: o.UserID, Charge: o.Charge, Refunded: o.Refunded,
		StartCount: o.StartCount, Remains: o.Remains, Status: o.Status, Runs: o.Runs, RunsDone: o.RunsDone,
		Type: o.Type, PostsDone: o.PostsDone, ExpiresAt: o.ExpiresAt, Children: o.Children}, currency, eventRef)
}

// created is the order.created event of a new order.
func (e *EventLog) created(o *model.Order) model.Event {
	return e.orderEvent(model.EventOrderCreated, o, "")
}

// ticketCreated is the refill.created or cancel.created event.
func (e *EventLog) ticketCreated(orderPublicID string) func(*model.Ticket) model.Event {
	return func(t *model.Ticket) model.Event { return e.ticketEvent("created", t, orderPublicID) }
}

// Order wraps an order change: when the public status answer changed, its
// order.updated event joins the change's transaction.
func (e *EventLog) Order(fn func(*model.Order) (OrderChange, error)) func(*model.Order) (OrderChange, error) {
	return func(o *model.Order) (OrderChange, error) {
		ch, err := fn(o)
		if err == nil && ch.Public {
			ch.Events = append(ch.Events, e.orderEvent(model.EventOrderUpdated, o, ch.From))
		}
		return ch, err
	}
}

// Ticket wraps a ticket decision: a change of the ticket's public status
// writes its refill.updated or cancel.updated event, a change of the
// order's public status answer its order.updated event.
func (e *EventLog) Ticket(fn func(*model.Ticket, *model.Order) (OrderChange, error)) func(*model.Ticket, *model.Order) (OrderChange, error) {
	return func(t *model.Ticket, o *model.Order) (OrderChange, error) {
		from := t.Status
		ch, err := fn(t, o)
		if err != nil {
			return ch, err
		}
		if ch.Public {
			ch.Events = append(ch.Events, e.orderEvent(model.EventOrderUpdated, o, ch.From))
		}
		if PublicRefillStatus(from) != PublicRefillStatus(t.Status) {
			ch.Events = append(ch.Events, e.ticketEvent("updated", t, o.PublicID))
		}
		return ch, nil
	}
}

// Events serves the event feeds and keeps the table numbered and pruned.
type Events struct {
	store     EventStore
	now       Clock
	log       *slog.Logger
	retention time.Duration
}

// NewEvents returns an Events; events older than retention are pruned.
func NewEvents(store EventStore, now Clock, log *slog.Logger, retention time.Duration) *Events {
	return &Events{store: store, now: now, log: log, retention: retention}
}

var eventTypes = map[string]bool{model.EventOrderCreated: true, model.EventOrderUpdated: true,
	model.EventRefillCreated: true, model.EventRefillUpdated: true, model.EventCancelCreated: true, model.EventCancelUpdated: true}

// List returns one page of the feed, oldest first, after the event ID in
// the cursor (or after). It numbers what committed since the last round
// first, so a change the admin API answered is in the next page read.
func (s *Events) List(ctx context.Context, f EventFilter, orderPublicID string, after string, p Page) (List[EventView], error) {
	if f.Type != "" && !eventTypes[f.Type] {
		return List[EventView]{}, Errorf(ErrInvalid, "unknown event type %q", f.Type)
	}
	if after != "" && after != "0" && p.Cursor == "" {
		p.Cursor = after
	}
	from, limit, err := p.After()
	if err != nil {
		return List[EventView]{}, err
	}
	if orderPublicID != "" {
		if !plausibleOrderID(orderPublicID) {
			return List[EventView]{Items: []EventView{}}, nil
		}
		f.Order = orderPublicID
	}
	if _, err := s.store.SequenceEvents(ctx); err != nil {
		return List[EventView]{}, fmt.Errorf("number events: %w", err)
	}
	rows, err := s.store.ListEvents(ctx, f, from, limit+1)
	if err != nil {
		return List[EventView]{}, fmt.Errorf("list events: %w", err)
	}
	return pageOf(rows, limit, func(e model.Event) uint64 { return *e.Seq }, func(e model.Event) EventView {
		return EventView{ID: *e.Seq, Type: e.Type, UserID: e.UserID, CreatedAt: FormatTime(e.CreatedAt), Data: json.RawMessage(e.Data)}
	}), nil
}

// ForOrder returns one order's events, oldest first; an unknown order is
// 404.
func (s *Events) ForOrder(ctx context.Context, publicID string, p Page) (List[EventView], error) {
	if !plausibleOrderID(publicID) {
		return List[EventView]{}, Errorf(ErrNotFound, "order not found")
	}
	if _, err := s.store.OrderRowID(ctx, publicID); err != nil {
		return List[EventView]{}, fmt.Errorf("events of order %s: %w", publicID, err)
	}
	return s.List(ctx, EventFilter{}, publicID, "", p)
}

// pruneBatch bounds one delete, so pruning never holds locks for long.
const pruneBatch = 500

// Run numbers new events every tick and prunes old ones every hour, until
// ctx ends. Any number of instances may run it: the store lets one
// sequencer run at a time.
func (s *Events) Run(ctx context.Context, tick time.Duration) {
	t := time.NewTicker(tick)
	defer t.Stop()
	var lastPrune, lastErr time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		_, err := s.store.SequenceEvents(ctx)
		if err == nil && s.now().Sub(lastPrune) >= time.Hour {
			lastPrune = s.now()
			for err == nil && ctx.Err() == nil {
				var n int
				if n, err = s.store.PruneEvents(ctx, s.now().Add(-s.retention), pruneBatch); n < pruneBatch {
					break
				}
			}
		}
		if err != nil && ctx.Err() == nil && time.Since(lastErr) > 30*time.Second {
			lastErr = time.Now()
			s.log.Warn("events round failed", "err", err)
		}
	}
}
