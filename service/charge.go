package service

import (
	"math"
	"math/big"

	"smmapi/model"
)

// Charge is what an order of quantity costs at rate per 1000: rate ×
// quantity ÷ 1000, rounded half-up to 4 decimals. ok is false when the
// amount is beyond any balance.
func Charge(rate model.Money, quantity int64) (charge model.Money, ok bool) {
	return mulDivHalfUp(int64(rate), quantity, 1000)
}

// Refund is what a Partial order gives back: the original charge ×
// remains ÷ quantity, half-up to 4 decimals, never more than left (what is
// not yet refunded of the charge).
func Refund(charge model.Money, remains, quantity int64, left model.Money) model.Money {
	if quantity <= 0 || remains <= 0 {
		return 0
	}
	r, ok := mulDivHalfUp(int64(charge), remains, quantity)
	if !ok {
		return left
	}
	return max(min(r, left), 0)
}

// mulDivHalfUp computes a × b ÷ c for non-negative a, b and positive c,
// rounded half-up, exactly (big integers: no intermediate overflow, no
// decimal division precision to reason about).
func mulDivHalfUp(a, b, c int64) (model.Money, bool) {
	p := new(big.Int).Mul(big.NewInt(a), big.NewInt(b))
	q, r := new(big.Int).QuoRem(p, big.NewInt(c), new(big.Int))
	if r.Lsh(r, 1).Cmp(big.NewInt(c)) >= 0 {
		q.Add(q, big.NewInt(1))
	}
	if !q.IsInt64() || q.Int64() > math.MaxInt64/4 {
		return 0, false
	}
	return model.Money(q.Int64()), true
}
