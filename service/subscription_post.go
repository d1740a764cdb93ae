package service

// Subscriptions' posts and their worker. POST /internal/v1/orders/{id}/posts
// {"link","quantity"} records a post by hand; a supplier's child orders are
// recorded the same way by the sync. Each post is a child order (a default
// order) written with its charge and the subscription's change in one
// transaction; the worker expires subscriptions past their date and
// resumes those paused for funds once their account covers a post.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"smmapi/model"
)

// SubscriptionStore is what subscriptions need from storage.
type SubscriptionStore interface {
	// AddPost locks the subscription and its account, lets fn decide with
	// the balance and a fresh child ID, and writes the child (nil: none),
	// its debit and ledger row, the subscription's change and the events in
	// one transaction. A child whose ChildKey exists already is skipped
	// (created nil, no error).
	AddPost(ctx context.Context, publicID string, newID func() (string, error),
		fn func(sub *model.Order, balance model.Money, childID string) (*model.Order, OrderChange, error)) (model.Order, *model.Order, error)
	// DueSubscriptions returns subscriptions past their expiry and those
	// paused for funds whose account covers a post now.
	DueSubscriptions(ctx context.Context, now time.Time, limit int) (expired, funded []string, err error)
	// ChildKeys returns the ChildKeys of a subscription's children.
	ChildKeys(ctx context.Context, parentID uint64) (map[string]bool, error)
	ChangeOrder(ctx context.Context, publicID string, fn func(*model.Order) (OrderChange, error)) (model.Order, error)
}

// PostInput is a post recorded by hand; the quantity is a JSON number or
// string.
type PostInput struct {
	Link     *string      `json:"link"`
	Quantity *json.Number `json:"quantity"`
}

// PostResult answers a recorded post: the child order and the
// subscription after it.
type PostResult struct {
	Order        OrderView `json:"order"`
	Subscription OrderView `json:"subscription"`
}

// Subscriptions records posts and runs the subscriptions' worker.
type Subscriptions struct {
	store  SubscriptionStore
	orders *Orders
	ev     *EventLog
	rec    Recorder
	now    Clock
	log    *slog.Logger
	newID  func(format string) (string, error)
}

// NewSubscriptions returns a Subscriptions; orders renders answers.
func NewSubscriptions(store SubscriptionStore, orders *Orders, ev *EventLog, rec Recorder, now Clock, log *slog.Logger,
	newID func(format string) (string, error)) *Subscriptions {
	return &Subscriptions{store: store, orders: orders, ev: ev, rec: rec, now: now, log: log, newID: newID}
}

// post is one post to record: by an admin (checked against min–max and
// Active) or reported by a supplier (taken as it comes, once per key).
type post struct {
	link       string
	qty        int64
	bySupplier bool
	childKey   *string
	supOrder   string
}

// errPostFunds is the admin's answer when an unlimited subscription could
// not pay a post (and paused).
var errPostFunds = Errorf(ErrConflict, "not enough funds")

// RecordPost records a post by hand.
func (s *Subscriptions) RecordPost(ctx context.Context, id string, in PostInput) (PostResult, error) {
	if !plausibleOrderID(id) {
		return PostResult{}, Errorf(ErrNotFound, "order not found")
	}
	if in.Link == nil || strings.TrimSpace(*in.Link) == "" || len(strings.TrimSpace(*in.Link)) > maxLink || !utf8.ValidString(*in.Link) {
		return PostResult{}, Errorf(ErrInvalid, "link is required: at most %d bytes of UTF-8", maxLink)
	}
	if in.Quantity == nil {
		return PostResult{}, Errorf(ErrInvalid, "quantity is required")
	}
	qty, err := strconv.ParseInt(string(*in.Quantity), 10, 64)
	if err != nil || qty <= 0 {
		return PostResult{}, Errorf(ErrInvalid, "quantity must be a positive whole number")
	}
	sub, child, err := s.record(ctx, id, post{link: strings.TrimSpace(*in.Link), qty: qty})
	if err != nil {
		return PostResult{}, err
	}
	if child == nil {
		return PostResult{}, errPostFunds
	}
	return PostResult{Order: s.orders.View(*child), Subscription: s.orders.View(sub)}, nil
}

// record writes one post under the subscription's lock. child is nil when
// nothing was created: a supplier's child seen before, or an unlimited
// subscription that could not pay (it is Paused now).
func (s *Subscriptions) record(ctx context.Context, id string, p post) (model.Order, *model.Order, error) {
	format := FormatAlnum
	if numericID(id) { // the children of a numeric account are numeric too
		format = FormatNumeric
	}
	now := s.now()
	var refund model.Money
	sub, child, err := s.store.AddPost(ctx, id, func() (string, error) { return s.newID(format) },
		func(sub *model.Order, balance model.Money, childID string) (*model.Order, OrderChange, error) {
			child, ch, err := s.decide(sub, balance, childID, p, now)
			if err == nil && ch.Public {
				ch.Events = append(ch.Events, s.ev.orderEvent(model.EventOrderUpdated, sub, ch.From))
			}
			refund = ch.Refund
			return child, ch, err
		})
	if err != nil {
		return sub, nil, fmt.Errorf("record post of %s: %w", id, err)
	}
	if refund > 0 {
		s.rec.Refunded(refund)
	}
	if child != nil && child.Charge > 0 {
		s.rec.OrderPlaced(child.Charge)
	}
	return sub, child, nil
}

// decide is a post's effect on its subscription: the child order, charged
// (unlimited) or covered by the prepaid charge, the posts count, and the
// end of a prepaid subscription whose posts are all delivered; or, for an
// unlimited one the balance cannot cover, no child and a pause.
func (s *Subscriptions) decide(sub *model.Order, balance model.Money, childID string, p post, now time.Time) (*model.Order, OrderChange, error) {
	if orderType(sub) != model.OrderSubscription {
		return nil, OrderChange{}, Errorf(ErrConflict, "order %s is not a subscription", sub.PublicID)
	}
	if p.bySupplier && finalStatus(sub.Status) {
		return nil, OrderChange{}, nil // ended here: later posts are not ours
	}
	if !p.bySupplier {
		if sub.Status != model.StatusActive {
			return nil, OrderChange{}, Errorf(ErrConflict, "subscription is %s, not Active", sub.Status)
		}
		if sp := readSubParams(*sub); p.qty < sp.Min || p.qty > sp.Max {
			return nil, OrderChange{}, Errorf(ErrInvalid, "quantity must be between min %d and max %d", sp.Min, sp.Max)
		}
	}
	prepaid := sub.Posts > 0
	if prepaid && sub.PostsDone >= sub.Posts {
		return nil, OrderChange{}, Errorf(ErrConflict, "every paid post is delivered")
	}
	var charge model.Money
	if !prepaid {
		c, ok := Charge(sub.Rate, p.qty)
		if !ok || c > balance {
			if sub.Status != model.StatusActive {
				return nil, OrderChange{}, nil
			}
			ch, err := Transition(sub, OrderCommand{By: ActorSystem, Status: model.StatusPaused}, now)
			return nil, ch, err
		}
		charge = c
	}
	sum := sha256.Sum256([]byte(p.link))
	child := &model.Order{PublicID: childID, UserID: sub.UserID, SiteID: sub.SiteID, ServiceID: sub.ServiceID,
		Link: p.link, LinkHash: hex.EncodeToString(sum[:]), Quantity: p.qty, Remains: p.qty,
		Status: orderStart[model.OrderDefault], Type: model.OrderDefault, Charge: charge, ParentID: &sub.ID,
		ChildKey: p.childKey}
	if p.bySupplier { // at the supplier already: followed like any forwarded order
		next := now
		child.Status, child.SupplierID, child.SupplierService = model.StatusInProgress, sub.SupplierID, sub.SupplierService
		child.SupplierOrder, child.ForwardState, child.NextAt = p.supOrder, model.ForwardSent, &next
	}
	sub.PostsDone++
	if sub.Children == "" {
		sub.Children = childID
	} else {
		sub.Children += "," + childID
	}
	sub.Charge += charge
	ch := OrderChange{Changed: true, Public: true, From: sub.Status, To: sub.Status}
	if prepaid && sub.PostsDone >= sub.Posts {
		end, err := Transition(sub, OrderCommand{By: ActorSystem, Status: model.StatusCompleted}, now)
		if err != nil {
			return nil, OrderChange{}, err
		}
		ch.To, ch.Refund = end.To, end.Refund
	}
	ch.Events = []model.Event{s.ev.created(child)}
	return child, ch, nil
}

// subBatch bounds one worker round.
const subBatch = 100

// Round expires subscriptions past their date and resumes those paused for
// funds whose account covers a post again. Any number of instances may run
// it: each move is decided under the order's lock, so one of them makes it
// (with its refund and events) and the others find nothing to do.
func (s *Subscriptions) Round(ctx context.Context) (int, error) {
	now := s.now()
	expired, funded, err := s.store.DueSubscriptions(ctx, now, subBatch)
	if err != nil {
		return 0, fmt.Errorf("due subscriptions: %w", err)
	}
	n := 0
	move := func(id string, to model.Status, due func(*model.Order) bool) {
		var refund model.Money
		_, err := s.store.ChangeOrder(ctx, id, s.ev.Order(func(o *model.Order) (OrderChange, error) {
			if finalStatus(o.Status) || !due(o) {
				return OrderChange{}, nil // moved meanwhile, here or on another instance
			}
			ch, err := Transition(o, OrderCommand{By: ActorSystem, Status: to}, now)
			refund = ch.Refund
			return ch, err
		}))
		if err != nil {
			s.log.WarnContext(ctx, "subscriptions: move", "order", id, "to", to, "err", err)
			return
		}
		if refund > 0 {
			s.rec.Refunded(refund)
		}
		n++
	}
	for _, id := range expired {
		move(id, model.StatusExpired, func(o *model.Order) bool { return o.ExpiresAt != nil && !o.ExpiresAt.After(now) })
	}
	for _, id := range funded {
		move(id, model.StatusActive, func(o *model.Order) bool {
			return o.Status == model.StatusPaused && o.PauseReason == model.PauseFunds
		})
	}
	return n, nil
}
