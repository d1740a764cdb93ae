package service

import (
	"testing"

	"smmapi/model"
)

func mustMoney(t *testing.T, s string) model.Money {
	t.Helper()
	m, err := model.ParseMoney(s)
	if err != nil {
		t.Fatalf("ParseMoney(%q): %v", s, err)
	}
	return m
}

// Charges computed by hand: rate × quantity ÷ 1000, half-up to 4 decimals.
func TestCharge(t *testing.T) {
	tests := []struct {
		rate     string
		quantity int64
		want     string
	}{
		{"0.0001", 1, "0.0000"},               // 0.0000001
		{"0.0001", 1000, "0.0001"},            // exact
		{"0.0001", 5000, "0.0005"},            // exact
		{"0.0001", 500, "0.0001"},             // 0.00005 → half-up
		{"0.0001", 499, "0.0000"},             // 0.0000499
		{"8.5000", 157, "1.3345"},             // 1.3345
		{"8.5000", 1000, "8.5000"},            // one rate
		{"1.7721", 157, "0.2782"},             // 0.2782197
		{"1234.5678", 999999, "1234566.5654"}, // 1234567.8 - 1.2345678 = 1234566.5654322
		{"1234.5678", 1, "1.2346"},            // 1.2345678
		{"0.3333", 3, "0.0010"},               // 0.0009999
		{"2.5", 1, "0.0025"},                  // exact
		{"0.0005", 100, "0.0001"},             // 0.00005 → half-up
		{"0", 100000, "0.0000"},
		{"10000000000", 1000000000, ""}, // 10^16 CNY: beyond any balance
	}
	for _, tt := range tests {
		got, ok := Charge(mustMoney(t, tt.rate), tt.quantity)
		if tt.want == "" {
			if ok {
				t.Errorf("Charge(%s, %d) = %s, want refusal", tt.rate, tt.quantity, got)
			}
			continue
		}
		if !ok || got.String() != tt.want {
			t.Errorf("Charge(%s, %d) = %s, %v; want %s", tt.rate, tt.quantity, got, ok, tt.want)
		}
	}
}

// Refunds computed by hand: charge × remains ÷ quantity, half-up, capped.
func TestRefund(t *testing.T) {
	tests := []struct {
		charge            string
		remains, quantity int64
		left              string
		want              string
	}{
		{"1.3345", 1, 157, "1.3345", "0.0085"},   // 0.00849999 → 0.0085
		{"1.3345", 156, 157, "1.3345", "1.3260"}, // exactly 1.3260
		{"0.0001", 1, 3, "0.0001", "0.0000"},     // 0.0000333
		{"0.0002", 1, 2, "0.0002", "0.0001"},     // exact half
		{"0.0001", 1, 2, "0.0001", "0.0001"},     // 0.00005 → half-up
		{"10.0000", 5, 10, "3.0000", "3.0000"},   // capped by what is left
		{"10.0000", 0, 10, "10.0000", "0.0000"},
		{"10.0000", 3, 0, "10.0000", "0.0000"},
	}
	for _, tt := range tests {
		got := Refund(mustMoney(t, tt.charge), tt.remains, tt.quantity, mustMoney(t, tt.left))
		if got.String() != tt.want {
			t.Errorf("Refund(%s, %d, %d, %s) = %s, want %s", tt.charge, tt.remains, tt.quantity, tt.left, got, tt.want)
		}
	}
}
