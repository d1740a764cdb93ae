package service

// Wire contract (action=balance): {"balance":"100.8429","currency":"CNY"},
// the balance with exactly 4 decimals.

import (
	"context"
	"fmt"

	"smmapi/model"
)

// BalanceResult is the balance action's answer.
type BalanceResult struct {
	Balance  model.Money `json:"balance"`
	Currency string      `json:"currency"`
}

// Balance answers the balance action.
type Balance struct {
	users    UserStore
	currency string
}

// NewBalance returns a Balance.
func NewBalance(users UserStore, currency string) *Balance {
	return &Balance{users: users, currency: currency}
}

// Do returns the caller's balance.
func (b *Balance) Do(ctx context.Context, acct Account) (BalanceResult, error) {
	bal, err := b.users.Balance(ctx, acct.UserID)
	if err != nil {
		return BalanceResult{}, fmt.Errorf("balance: user %d: %w", acct.UserID, err)
	}
	return BalanceResult{Balance: bal, Currency: b.currency}, nil
}
