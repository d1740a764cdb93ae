package model

import (
	"errors"
	"math"
	"strings"

	"github.com/shopspring/decimal"
)

// Money is an amount in minor units of 0.0001 currency units. Integers are
// exact in both SQLite and MySQL, where SQLite's NUMERIC affinity would turn
// decimal text into floating point.
type Money int64

// MoneyScale is the number of decimals money carries on the wire.
const MoneyScale = 4

var (
	// ErrMoneyFormat is returned for text that is not a plain decimal number.
	ErrMoneyFormat = errors.New("not a decimal number")
	// ErrMoneyPrecision is returned for more than 4 decimals.
	ErrMoneyPrecision = errors.New("more than 4 decimals")
	// ErrMoneyRange is returned for amounts that do not fit.
	ErrMoneyRange = errors.New("amount out of range")
)

// maxMoney bounds amounts to 10^14 units (10^10 CNY) so that sums of a few
// amounts never overflow int64.
const maxMoney = Money(100_000_000_000_000)

// ParseMoney reads a plain decimal such as "8.5", "-3" or "0.0001". Exponents,
// more than 4 decimals and amounts beyond ±10^10 are refused.
func ParseMoney(s string) (Money, error) {
	s = strings.TrimSpace(s)
	if s == "" || strings.ContainsAny(s, "eE_ ") || strings.Count(s, ".") > 1 {
		return 0, ErrMoneyFormat
	}
	body := strings.TrimLeft(s, "+-")
	if body == "" || body == "." || len(s)-len(body) > 1 {
		return 0, ErrMoneyFormat
	}
	for _, r := range body {
		if (r < '0' || r > '9') && r != '.' {
			return 0, ErrMoneyFormat
		}
	}
	d, err := decimal.NewFromString(s)
	if err != nil {
		return 0, ErrMoneyFormat
	}
	return MoneyFromDecimal(d)
}

// MoneyFromDecimal converts d exactly, refusing more than 4 decimals.
func MoneyFromDecimal(d decimal.Decimal) (Money, error) {
	units := d.Shift(MoneyScale)
	if !units.Equal(units.Truncate(0)) {
		return 0, ErrMoneyPrecision
	}
	if units.Abs().GreaterThan(decimal.NewFromInt(int64(maxMoney))) {
		return 0, ErrMoneyRange
	}
	return Money(units.IntPart()), nil
}

// Decimal returns m as a decimal number of currency units.
func (m Money) Decimal() decimal.Decimal {
	return decimal.New(int64(m), -MoneyScale)
}

// String formats m with exactly 4 decimals, as the wire wants ("8.5000").
func (m Money) String() string {
	var b [32]byte
	return string(m.AppendText(b[:0]))
}

// AppendText appends the 4-decimal form of m to b without allocating.
func (m Money) AppendText(b []byte) []byte {
	u := uint64(m)
	if m < 0 {
		b = append(b, '-')
		if m == math.MinInt64 {
			u = uint64(math.MaxInt64) + 1
		} else {
			u = uint64(-m)
		}
	}
	var digits [24]byte
	i := len(digits)
	for n := 0; n < MoneyScale || u > 0 || n == MoneyScale; n++ {
		if n == MoneyScale {
			i--
			digits[i] = '.'
		}
		i--
		digits[i] = byte('0' + u%10)
		u /= 10
		if n > MoneyScale && u == 0 {
			break
		}
	}
	return append(b, digits[i:]...)
}

// MarshalJSON writes m as a quoted 4-decimal string.
func (m Money) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, 24)
	b = append(b, '"')
	b = m.AppendText(b)
	return append(b, '"'), nil
}
