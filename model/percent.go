package model

import (
	"strconv"
	"strings"
)

// Percent is a percentage in hundredths (5.00 % = 500): discounts and
// markups carry 2 decimals on the wire ("5.00"), exactly.
type Percent int64

// ParsePercent reads a plain decimal with at most 2 decimals ("5", "5.5",
// "30.00"); signs, exponents and more decimals are refused.
func ParsePercent(s string) (Percent, bool) {
	s = strings.TrimSpace(s)
	whole, frac, _ := strings.Cut(s, ".")
	if whole == "" || len(whole) > 9 || len(frac) > 2 || strings.Contains(s, ".") && frac == "" {
		return 0, false
	}
	for _, r := range whole + frac {
		if r < '0' || r > '9' {
			return 0, false
		}
	}
	frac += "00"[:2-len(frac)]
	n, err := strconv.ParseInt(whole+frac, 10, 64)
	return Percent(n), err == nil
}

// String writes p with exactly 2 decimals.
func (p Percent) String() string {
	neg := ""
	if p < 0 {
		neg, p = "-", -p
	}
	f := strconv.FormatInt(int64(p%100), 10)
	if len(f) < 2 {
		f = "0" + f
	}
	return neg + strconv.FormatInt(int64(p/100), 10) + "." + f
}

// MarshalJSON writes p as a quoted 2-decimal string.
func (p Percent) MarshalJSON() ([]byte, error) {
	return []byte(`"` + p.String() + `"`), nil
}
