package service

// Internal API: accounts and their money. POST /users {"username"} → 201;
// GET/PATCH /users/{id}; POST /users/{id}/balance {"amount","reason"} moves
// money with a ledger row; GET /users/{id}/ledger lists the rows.

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode"

	"smmapi/model"
)

// UserInput creates an account.
type UserInput struct {
	Username string `json:"username"`
}

// UserPatch changes an account; nil fields stay.
type UserPatch struct {
	Disabled *bool `json:"disabled"`
	// OrderIDFormat is "alnum" (the document's 10-character IDs),
	// "numeric" (10 digits that fit a signed 32-bit INT, for clients that
	// store upstream IDs as integers) or null (inherit from the site, then
	// the configuration). It applies to orders placed after.
	OrderIDFormat Optional[string] `json:"order_id_format"`
	// DiscountPercent is the account-wide discount on catalog rates,
	// "0.00" to "100.00"; its own prices are not discounted.
	DiscountPercent *NumText `json:"discount_percent"`
}

// UserView is an account as the internal API shows it.
type UserView struct {
	ID            uint64      `json:"id"`
	Username      string      `json:"username"`
	Balance       model.Money `json:"balance"`
	Currency      string      `json:"currency"`
	Disabled      bool        `json:"disabled"`
	OrderIDFormat *string     `json:"order_id_format"`
	// SuspectTruncatedIDs counts look-ups that look like a child casting
	// this account's alphanumeric IDs into an INT column (see truncation.go).
	SuspectTruncatedIDs     int64         `json:"suspect_truncated_ids"`
	LastSuspectTruncationAt *string       `json:"last_suspect_truncation_at"`
	DiscountPercent         model.Percent `json:"discount_percent"`
	CreatedAt               string        `json:"created_at"`
}

// UserFilter narrows the account list.
type UserFilter struct {
	// SuspectTruncation keeps accounts with suspect truncated IDs.
	SuspectTruncation bool
}

// BalanceInput adjusts a balance. Amount may be negative; at most 4 decimals.
type BalanceInput struct {
	Amount json.Number `json:"amount"`
	Reason string      `json:"reason"`
}

// BalanceChange is the answer to a balance adjustment.
type BalanceChange struct {
	Balance  model.Money `json:"balance"`
	Currency string      `json:"currency"`
	LedgerID uint64      `json:"ledger_id"`
}

// LedgerView is one ledger row.
type LedgerView struct {
	ID           uint64      `json:"id"`
	Amount       model.Money `json:"amount"`
	BalanceAfter model.Money `json:"balance_after"`
	Kind         string      `json:"kind"`
	Ref          string      `json:"ref"`
	Reason       string      `json:"reason"`
	CreatedAt    string      `json:"created_at"`
}

// Users administers accounts.
type Users struct {
	store    UserStore
	currency string
	inv      *Invalidator
}

// NewUsers returns a Users; a changed account drops every instance's
// cached key look-ups through inv.
func NewUsers(store UserStore, currency string, inv *Invalidator) *Users {
	return &Users{store: store, currency: currency, inv: inv}
}

// Create adds an account with a zero balance.
func (s *Users) Create(ctx context.Context, in UserInput) (UserView, error) {
	name := strings.TrimSpace(in.Username)
	if name == "" || len(name) > 64 || strings.IndexFunc(name, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r) || r == unicode.ReplacementChar
	}) >= 0 {
		return UserView{}, Errorf(ErrInvalid, "username must be 1 to 64 characters without spaces")
	}
	u := model.User{Username: name} // order ID format: inherit
	if err := s.store.CreateUser(ctx, &u); err != nil {
		return UserView{}, fmt.Errorf("create user: %w", err)
	}
	return s.view(u), nil
}

// Get returns one account.
func (s *Users) Get(ctx context.Context, id uint64) (UserView, error) {
	u, err := s.store.User(ctx, id)
	if err != nil {
		return UserView{}, fmt.Errorf("get user %d: %w", id, err)
	}
	return s.view(u), nil
}

// List returns one page of accounts, by ID.
func (s *Users) List(ctx context.Context, f UserFilter, p Page) (List[UserView], error) {
	after, limit, err := p.After()
	if err != nil {
		return List[UserView]{}, err
	}
	rows, err := s.store.ListUsers(ctx, f, after, limit+1)
	if err != nil {
		return List[UserView]{}, fmt.Errorf("list users: %w", err)
	}
	return pageOf(rows, limit, func(u model.User) uint64 { return u.ID }, s.view), nil
}

// Patch changes an account. A disabled account's keys stop working at once.
func (s *Users) Patch(ctx context.Context, id uint64, in UserPatch) (UserView, error) {
	if !validFormat(in.OrderIDFormat.Value) {
		return UserView{}, Errorf(ErrInvalid, "order_id_format must be alnum, numeric or null")
	}
	var discount *model.Percent
	if in.DiscountPercent != nil {
		d, err := parsePercent("discount_percent", *in.DiscountPercent, 0, 100_00)
		if err != nil {
			return UserView{}, err
		}
		discount = &d
	}
	if in.Disabled == nil && !in.OrderIDFormat.Set && discount == nil {
		return s.Get(ctx, id)
	}
	u, err := s.store.UpdateUser(ctx, id, in.Disabled, in.OrderIDFormat, discount)
	if err != nil {
		return UserView{}, fmt.Errorf("patch user %d: %w", id, err)
	}
	s.inv.Changed(ctx, TopicKeys) // disabled, numbered or priced differently
	return s.view(u), nil
}

// AdjustBalance credits or debits an account with a ledger row.
func (s *Users) AdjustBalance(ctx context.Context, id uint64, in BalanceInput) (BalanceChange, error) {
	amount, err := model.ParseMoney(string(in.Amount))
	if err != nil {
		return BalanceChange{}, Errorf(ErrInvalid, "amount must be a decimal with at most 4 decimals")
	}
	if amount == 0 {
		return BalanceChange{}, Errorf(ErrInvalid, "amount must not be zero")
	}
	if len(in.Reason) > 255 {
		return BalanceChange{}, Errorf(ErrInvalid, "reason is longer than 255 characters")
	}
	e := model.LedgerEntry{UserID: id, Amount: amount, Kind: model.LedgerAdjustment, Reason: in.Reason}
	if err := s.store.AdjustBalance(ctx, &e); err != nil {
		return BalanceChange{}, fmt.Errorf("adjust balance of user %d: %w", id, err)
	}
	return BalanceChange{Balance: e.BalanceAfter, Currency: s.currency, LedgerID: e.ID}, nil
}

// Ledger returns one page of an account's ledger, newest first.
func (s *Users) Ledger(ctx context.Context, id uint64, p Page) (List[LedgerView], error) {
	before, limit, err := p.After()
	if err != nil {
		return List[LedgerView]{}, err
	}
	if _, err := s.store.User(ctx, id); err != nil {
		return List[LedgerView]{}, fmt.Errorf("ledger of user %d: %w", id, err)
	}
	rows, err := s.store.Ledger(ctx, id, before, limit+1)
	if err != nil {
		return List[LedgerView]{}, fmt.Errorf("ledger of user %d: %w", id, err)
	}
	return pageOf(rows, limit, func(e model.LedgerEntry) uint64 { return e.ID }, func(e model.LedgerEntry) LedgerView {
		return LedgerView{ID: e.ID, Amount: e.Amount, BalanceAfter: e.BalanceAfter, Kind: e.Kind,
			Ref: e.Ref, Reason: e.Reason, CreatedAt: FormatTime(e.CreatedAt)}
	}), nil
}

func (s *Users) view(u model.User) UserView {
	v := UserView{ID: u.ID, Username: u.Username, Balance: u.Balance, Currency: s.currency,
		Disabled: u.Disabled, OrderIDFormat: u.OrderIDFormat, SuspectTruncatedIDs: u.SuspectTruncatedIDs,
		DiscountPercent: u.Discount, CreatedAt: FormatTime(u.CreatedAt)}
	if u.LastSuspectTruncationAt != nil {
		t := FormatTime(*u.LastSuspectTruncationAt)
		v.LastSuspectTruncationAt = &t
	}
	return v
}

// FormatTime writes t as RFC 3339 in UTC with a Z, to the second.
func FormatTime(t time.Time) string {
	return t.UTC().Format(time.RFC3339)
}
