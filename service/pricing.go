package service

// Internal API: per-account prices. PUT /users/{id}/prices/{service_id}
// {"rate"} → 200; DELETE → 204; GET /users/{id}/prices → list of
// {"service_id","rate","updated_at"}. The account-wide discount is a user
// field (discount_percent, PATCH /users/{id}).

import (
	"context"
	"fmt"
	"math"

	"smmapi/model"
)

// Pricing is what decides an account's rates: its discount and whether it
// has prices of its own (Rev changes with each of them).
type Pricing struct {
	UserID   uint64
	Discount model.Percent
	Rev      int64
	Own      bool
}

// Common reports whether the account pays the catalog rates.
func (p Pricing) Common() bool { return p.Discount == 0 && !p.Own }

// listKey names a price list. Accounts with only a discount share the list
// of that discount (user 0); one with prices of its own has its own list,
// named with the revision of its prices so that a change names a new list
// (the old one ages out of the LRU). A struct: no allocation per request.
type listKey struct {
	user     uint64
	rev      int64
	discount model.Percent
}

func (p Pricing) key() listKey {
	if !p.Own {
		return listKey{discount: p.Discount}
	}
	return listKey{user: p.UserID, rev: p.Rev, discount: p.Discount}
}

// Rate is the account's rate for a service of catalog rate base: its own
// price when it has one, else base × (1 − discount ÷ 100), half-up to 4
// decimals.
func (p Pricing) Rate(base, own model.Money, hasOwn bool) model.Money {
	if hasOwn {
		return own
	}
	if p.Discount == 0 {
		return base
	}
	return discounted(base, p.Discount)
}

// discounted is base × (1 − d ÷ 100), half-up to 4 decimals. Rates up to
// the money bound (10^14 units) times 10^4 fit in an int64, so the common
// case is integer arithmetic (a price list with a discount computes every
// rate of the catalog); mulDivHalfUp's big integers take the rest.
func discounted(base model.Money, d model.Percent) model.Money {
	f := int64(100_00 - d)
	if base >= 0 && base <= math.MaxInt64/100_00 && f >= 0 && f <= 100_00 {
		p := int64(base) * f
		q, r := p/100_00, p%100_00
		if 2*r >= 100_00 {
			q++
		}
		return model.Money(q)
	}
	r, _ := mulDivHalfUp(int64(base), f, 100_00) // never above base: no overflow
	return r
}

// PriceStore stores accounts' own prices.
type PriceStore interface {
	// UserPrices returns the account's own rates by service ID.
	UserPrices(ctx context.Context, userID uint64) (map[uint64]model.Money, error)
	// UserPrice returns one own rate, ok false when there is none.
	UserPrice(ctx context.Context, userID, serviceID uint64) (rate model.Money, ok bool, err error)
	// PutUserPrice sets an own rate (ErrNotFound: no such account;
	// ErrInvalid: no such service) and bumps the account's price revision,
	// in one transaction.
	PutUserPrice(ctx context.Context, p *model.UserPrice) error
	// DeleteUserPrice removes an own rate (ErrNotFound when there is none)
	// and bumps the revision.
	DeleteUserPrice(ctx context.Context, userID, serviceID uint64) error
	// ListUserPrices returns own rates with service ID > after, ascending.
	ListUserPrices(ctx context.Context, userID, after uint64, limit int) ([]model.UserPrice, error)
}

// PriceInput sets an account's own rate.
type PriceInput struct {
	Rate *NumText `json:"rate"`
}

// PriceView is one own rate as the internal API shows it.
type PriceView struct {
	ServiceID uint64      `json:"service_id"`
	Rate      model.Money `json:"rate"`
	UpdatedAt string      `json:"updated_at"`
}

// Prices administers accounts' own prices.
type Prices struct {
	store PriceStore
	users UserStore
	inv   *Invalidator
}

// NewPrices returns a Prices; a change drops every instance's cached key
// look-ups (which carry the account's price revision) through inv.
func NewPrices(store PriceStore, users UserStore, inv *Invalidator) *Prices {
	return &Prices{store: store, users: users, inv: inv}
}

// Put sets the account's rate for a service.
func (s *Prices) Put(ctx context.Context, userID, serviceID uint64, in PriceInput) (PriceView, error) {
	rate, err := parseRate("rate", in.Rate)
	if err != nil {
		return PriceView{}, err
	}
	p := model.UserPrice{UserID: userID, ServiceID: serviceID, Rate: rate}
	if err := s.store.PutUserPrice(ctx, &p); err != nil {
		return PriceView{}, fmt.Errorf("put price of user %d: %w", userID, err)
	}
	s.inv.Changed(ctx, TopicKeys)
	return priceView(p), nil
}

// Delete removes the account's rate for a service: it pays the catalog
// rate (less its discount) again.
func (s *Prices) Delete(ctx context.Context, userID, serviceID uint64) error {
	if err := s.store.DeleteUserPrice(ctx, userID, serviceID); err != nil {
		return fmt.Errorf("delete price of user %d: %w", userID, err)
	}
	s.inv.Changed(ctx, TopicKeys)
	return nil
}

// List returns one page of the account's own rates, by service ID.
func (s *Prices) List(ctx context.Context, userID uint64, p Page) (List[PriceView], error) {
	after, limit, err := p.After()
	if err != nil {
		return List[PriceView]{}, err
	}
	if _, err := s.users.User(ctx, userID); err != nil {
		return List[PriceView]{}, fmt.Errorf("prices of user %d: %w", userID, err)
	}
	rows, err := s.store.ListUserPrices(ctx, userID, after, limit+1)
	if err != nil {
		return List[PriceView]{}, fmt.Errorf("prices of user %d: %w", userID, err)
	}
	return pageOf(rows, limit, func(p model.UserPrice) uint64 { return p.ServiceID }, priceView), nil
}

func priceView(p model.UserPrice) PriceView {
	return PriceView{ServiceID: p.ServiceID, Rate: p.Rate, UpdatedAt: FormatTime(p.UpdatedAt)}
}

// parseRate reads a required rate: a non-negative decimal of at most 4
// decimals; the error names the field.
func parseRate(field string, n *NumText) (model.Money, error) {
	if n == nil {
		return 0, Errorf(ErrInvalid, "%s is required", field)
	}
	r, err := model.ParseMoney(string(*n))
	if err != nil || r < 0 {
		return 0, Errorf(ErrInvalid, "%s must be a non-negative decimal with at most 4 decimals", field)
	}
	return r, nil
}

// parsePercent reads a percentage of at most 2 decimals within [lo, hi];
// the error names the field.
func parsePercent(field string, n NumText, lo, hi model.Percent) (model.Percent, error) {
	p, ok := model.ParsePercent(string(n))
	if !ok || p < lo || p > hi {
		return 0, Errorf(ErrInvalid, "%s must be a decimal from %s to %s with at most 2 decimals", field, lo, hi)
	}
	return p, nil
}
