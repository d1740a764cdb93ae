package service

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/shopspring/decimal"

	"smmapi/model"
)

func TestPricingRate(t *testing.T) {
	cases := []struct {
		base     model.Money
		discount model.Percent
		own      model.Money
		hasOwn   bool
		want     model.Money
	}{
		{85000, 0, 0, false, 85000},
		{85000, 5_00, 0, false, 80750},
		{12345, 5_00, 0, false, 11728},  // 1.172775 → 1.1728
		{12345, 10_00, 0, false, 11111}, // 1.11105 → 1.1111 (half-up)
		{33333, 50_00, 0, false, 16667}, // 1.66665 → 1.6667
		{1, 50_00, 0, false, 1},         // 0.00005 → 0.0001
		{1, 50_01, 0, false, 0},
		{85000, 100_00, 0, false, 0},
		{85000, 10_00, 79000, true, 79000}, // own price: no discount
		{85000, 0, 0, true, 0},             // an own price of 0 is a price
	}
	for _, c := range cases {
		p := Pricing{Discount: c.discount, Own: c.hasOwn}
		if got := p.Rate(c.base, c.own, c.hasOwn); got != c.want {
			t.Errorf("Rate(%s, -%s%%, own %s %v) = %s, want %s", c.base, c.discount, c.own, c.hasOwn, got, c.want)
		}
	}
}

func TestParsePercent(t *testing.T) {
	cases := []struct {
		in   string
		want model.Percent
		ok   bool
	}{
		{"5", 500, true}, {"5.5", 550, true}, {"5.00", 500, true}, {"100.00", 10000, true}, {"0", 0, true},
		{"5.125", 0, false}, {"-1", 0, false}, {"+1", 0, false}, {"1e2", 0, false}, {"", 0, false}, {".5", 0, false},
		{"5.", 0, false}, {"five", 0, false}, {"1234567890", 0, false},
	}
	for _, c := range cases {
		got, ok := model.ParsePercent(c.in)
		if ok != c.ok || ok && got != c.want {
			t.Errorf("ParsePercent(%q) = %d, %v; want %d, %v", c.in, got, ok, c.want, c.ok)
		}
	}
	if s := model.Percent(505).String(); s != "5.05" {
		t.Errorf("String = %s", s)
	}
}

func TestRuleRate(t *testing.T) {
	cases := []struct {
		supplier string
		currency model.Money
		pct      model.Percent
		fixed    model.Money
		want     string
	}{
		{"0.90", 72000, 30_00, 500, "8.4740"},
		{"1.23456", 72000, 30_00, 500, "11.6055"}, // 11.6054816
		{"0.00125", 10000, 0, 0, "0.0013"},        // half-up
		{"0.00124", 10000, 0, 0, "0.0012"},
		{"3", 10000, 33_33, 0, "3.9999"},
		{"0", 72000, 30_00, 500, "0.0500"},
	}
	for _, c := range cases {
		got, err := RuleRate(decimal.RequireFromString(c.supplier), c.currency, PriceRule{MarkupPercent: c.pct, MarkupFixed: c.fixed})
		if err != nil || got.String() != c.want {
			t.Errorf("RuleRate(%s × %s +%s%% +%s) = %s, %v; want %s", c.supplier, c.currency, c.pct, c.fixed, got, err, c.want)
		}
	}
}

func TestSyncChanges(t *testing.T) {
	pct := model.Percent(0)
	base := func() model.Service {
		return model.Service{ID: 1, Rate: 10000, Min: 10, Max: 100, Enabled: true, Sync: true, MarkupPercent: &pct, SupplierRate: "1"}
	}
	sup := model.Supplier{ID: 2, CurrencyRate: 10000}
	entry := func(rate string, min, max int64) *SupplierService {
		return &SupplierService{ID: "x", Rate: decimal.RequireFromString(rate), Min: min, Max: max}
	}
	cases := []struct {
		name    string
		e       *SupplierService
		want    string // changes: field old new status
		rate    model.Money
		enabled bool
	}{
		{"unchanged", entry("1", 10, 100), "[]", 10000, true},
		{"limits", entry("1", 20, 200), "[min 10 20 applied max 100 200 applied]", 10000, true},
		{"+100 % applies", entry("2", 10, 100), "[rate 1.0000 2.0000 applied]", 20000, true},
		{"+101 % is held", entry("2.01", 10, 100), "[rate 1.0000 2.0100 pending]", 10000, true},
		{"to 0 is held", entry("0", 10, 100), "[rate 1.0000 0.0000 pending]", 10000, true},
		{"-50 % applies", entry("0.5", 10, 100), "[rate 1.0000 0.5000 applied]", 5000, true},
		{"gone", nil, "[enabled true false applied]", 10000, false},
	}
	for _, c := range cases {
		s := base()
		ch := syncChanges(&s, c.e, sup, 100)
		var got []string
		for _, x := range ch {
			got = append(got, x.Field+" "+x.Old+" "+x.New+" "+x.Status)
		}
		if g := fmt.Sprint(got); g != c.want && !(g == "[]" && c.want == "[]") || s.Rate != c.rate || s.Enabled != c.enabled {
			t.Errorf("%s: changes %v rate %s enabled %v; want %s %s %v", c.name, got, s.Rate, s.Enabled, c.want, c.rate, c.enabled)
		}
	}
	// A held rate is not held again; a return re-enables only what the
	// sync disabled.
	s := base()
	syncChanges(&s, entry("5", 10, 100), sup, 100)
	if ch := syncChanges(&s, entry("5", 10, 100), sup, 100); len(ch) != 0 {
		t.Errorf("held rate recorded again: %v", ch)
	}
	s = base()
	s.Enabled = false
	if ch := syncChanges(&s, entry("1", 10, 100), sup, 100); len(ch) != 0 || s.Enabled {
		t.Errorf("an admin-disabled service was re-enabled: %v", ch)
	}
}

func TestPriceListsLRU(t *testing.T) {
	c := newPriceLists(300)
	for i := range 5 {
		c.put(&priceList{key: listKey{user: uint64(i)}, size: 100})
		if i == 2 {
			c.get(listKey{user: 0}) // used: kept over 1
		}
	}
	for k, want := range map[uint64]bool{0: true, 1: false, 2: false, 3: true, 4: true} {
		if got := c.get(listKey{user: k}) != nil; got != want {
			t.Errorf("key %d kept %v, want %v", k, got, want)
		}
	}
	if n, b := c.len(); n != 3 || b != 300 {
		t.Errorf("len %d lists, %d bytes", n, b)
	}
	c.put(&priceList{key: listKey{user: 99}, size: 301})
	if c.get(listKey{user: 99}) != nil {
		t.Errorf("a list over the bound was kept")
	}
}

// The integer fast path of a discount rounds as the big-integer one.
func TestDiscountedExact(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 5))
	bases := []model.Money{0, 1, 4999, 5000, 12345, 99_999_9999, maxMoneyUnits, maxMoneyUnits - 1}
	for range 20000 {
		bases = append(bases, model.Money(r.Int64N(int64(maxMoneyUnits))))
	}
	for i, b := range bases {
		d := model.Percent(r.IntN(100_01))
		if i%7 == 0 {
			d = model.Percent([]int{0, 1, 50_00, 99_99, 100_00}[i%5])
		}
		want, _ := mulDivHalfUp(int64(b), int64(100_00-d), 100_00)
		if got := discounted(b, d); got != want {
			t.Fatalf("discounted(%s, %s%%) = %s, want %s", b, d, got, want)
		}
	}
}

const maxMoneyUnits = model.Money(100_000_000_000_000)
