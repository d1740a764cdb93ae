package model

import "testing"

// FuzzParseMoney: anything that parses prints back to the same amount.
func FuzzParseMoney(f *testing.F) {
	for _, s := range []string{"8.5", "0.0001", "-1", "1e3", "", "1.00001", "99999999999", ".", "+.5", "٣", "0x1", "1_000"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseMoney(s)
		if err != nil {
			return
		}
		back, err := ParseMoney(m.String())
		if err != nil || back != m {
			t.Fatalf("%q → %s → %d, %v", s, m, back, err)
		}
	})
}
