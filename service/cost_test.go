package service

import (
	"testing"

	"smmapi/model"
)

func TestSupplierCost(t *testing.T) {
	cases := []struct {
		charge string
		rate   model.Money
		want   string
		ok     bool
	}{
		{"0.123456", 7_1234, "0.8794", true}, // 0.87941…
		{"0.05", 7_1234, "0.3562", true},     // 0.35617
		{"0.00005", 1_0000, "0.0001", true},  // half-up
		{"0.000049", 1_0000, "0.0000", true},
		{"1.5", 6_8913, "10.3370", true}, // 10.33695 → half-up
		{"0", 7_1234, "0.0000", true},
		{" 2 ", 1_0000, "2.0000", true},
		{"-0.1", 7_1234, "", false},
		{"abc", 7_1234, "", false},
		{"", 7_1234, "", false},
	}
	for _, c := range cases {
		got, ok := SupplierCost(c.charge, c.rate)
		if ok != c.ok || ok && got.String() != c.want {
			t.Errorf("SupplierCost(%q, %s) = %s, %v; want %s, %v", c.charge, c.rate, got, ok, c.want, c.ok)
		}
	}
}

func TestNoteCost(t *testing.T) {
	ep := SupplierEndpoint{Currency: "USD", CurrencyRate: 7_1234}
	known := model.Money(1234)
	cases := []struct {
		name  string
		cost  *model.Money
		prev  string
		st    UpstreamStatus
		want  string // "<nil>" unknown
		taken bool   // no complaint
	}{
		{"charge", nil, "", UpstreamStatus{Status: model.StatusInProgress, Charge: "0.05", Currency: "USD"}, "0.3562", true},
		{"currency in other case", nil, "", UpstreamStatus{Charge: "0.05", Currency: "usd"}, "0.3562", true},
		{"no currency said", nil, "", UpstreamStatus{Charge: "0.05"}, "0.3562", true},
		{"another currency", nil, "", UpstreamStatus{Charge: "0.05", Currency: "EUR"}, "<nil>", false},
		{"no charge yet", nil, "", UpstreamStatus{Status: model.StatusInProgress}, "<nil>", true},
		{"canceled without a charge", &known, "0.01", UpstreamStatus{Status: model.StatusCanceled}, "0.0000", true},
		{"partial without a charge keeps the last", &known, "0.01", UpstreamStatus{Status: model.StatusPartial, Remains: 5, HasRemains: true}, "0.1234", true},
		{"partial with all remaining is a cancel", &known, "0.01", UpstreamStatus{Status: model.StatusPartial, Remains: 10, HasRemains: true}, "0.0000", true},
		{"same charge is not converted again", &known, "0.05", UpstreamStatus{Charge: "0.05"}, "0.1234", true},
		{"lower charge", &known, "0.05", UpstreamStatus{Status: model.StatusPartial, Charge: "0.02"}, "0.1425", true},
		{"garbage", nil, "", UpstreamStatus{Charge: "n/a"}, "<nil>", false},
	}
	for _, c := range cases {
		o := model.Order{Quantity: 10, Cost: c.cost, SupplierCharge: c.prev}
		msg := noteCost(&o, c.st, ep)
		got := "<nil>"
		if o.Cost != nil {
			got = o.Cost.String()
		}
		if got != c.want || (msg == "") != c.taken {
			t.Errorf("%s: cost %s (%q), want %s (complaint: %v)", c.name, got, msg, c.want, !c.taken)
		}
	}
}
