package service

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/shopspring/decimal"

	"smmapi/model"
)

// SupplierService is one entry of a supplier's services answer.
type SupplierService struct {
	ID       string
	Name     string
	Type     string
	Category string
	Desc     string
	// Rate is the supplier's price per 1000 in its own currency, exact as
	// sent (suppliers write more than 4 decimals).
	Rate                     decimal.Decimal
	Min, Max                 int64
	Refill, Cancel, Dripfeed bool
}

// ParseSupplierCatalog reads a supplier's services answer. Numbers may come
// as JSON numbers or strings, flags as booleans or 0/1. An entry without an
// ID, or with a rate or limits that cannot be read, makes the whole answer
// unparsable: skipping it would look like a dropped service and disable
// what maps to it.
func ParseSupplierCatalog(raw []byte) ([]SupplierService, error) {
	var items []map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&items); err != nil {
		return nil, fmt.Errorf("not a JSON array of services")
	}
	out := make([]SupplierService, 0, len(items))
	seen := make(map[string]bool, len(items))
	for i, it := range items {
		s := SupplierService{ID: flexText(it["service"]), Name: flexText(it["name"]), Type: flexText(it["type"]),
			Category: flexText(it["category"]), Desc: flexText(it["desc"])}
		if s.Desc == "" {
			s.Desc = flexText(it["description"])
		}
		var err error
		s.Rate, err = decimal.NewFromString(flexText(it["rate"]))
		minOK, maxOK := false, false
		s.Min, minOK = flexInt(it["min"])
		s.Max, maxOK = flexInt(it["max"])
		switch {
		case s.ID == "" || len(s.ID) > 64 || seen[s.ID]:
			return nil, fmt.Errorf("entry %d: missing or repeated service ID", i)
		case err != nil || s.Rate.IsNegative():
			return nil, fmt.Errorf("service %s: bad rate", s.ID)
		case !minOK || !maxOK || s.Min < 1 || s.Max < s.Min || s.Max > maxQuantity:
			return nil, fmt.Errorf("service %s: bad min/max", s.ID)
		}
		seen[s.ID] = true
		s.Refill, s.Cancel, s.Dripfeed = flexBool(it["refill"]), flexBool(it["cancel"]), flexBool(it["dripfeed"])
		out = append(out, s)
	}
	return out, nil
}

func flexText(r json.RawMessage) string {
	var s string
	if json.Unmarshal(r, &s) == nil {
		return strings.TrimSpace(s)
	}
	var n json.Number
	if json.Unmarshal(r, &n) == nil {
		return n.String()
	}
	return ""
}

func flexInt(r json.RawMessage) (int64, bool) {
	n, err := strconv.ParseInt(flexText(r), 10, 64)
	return n, err == nil
}

func flexBool(r json.RawMessage) bool {
	var b bool
	if json.Unmarshal(r, &b) == nil {
		return b
	}
	t := flexText(r)
	return t == "1" || strings.EqualFold(t, "true")
}

// PriceRule prices a service from its supplier's rate.
type PriceRule struct {
	MarkupPercent model.Percent `json:"markup_percent"`
	MarkupFixed   model.Money   `json:"markup_fixed"`
}

// RuleRate is supplier rate × currency_rate × (1 + markup_percent ÷ 100) +
// markup_fixed, half-up to 4 decimals, exactly (decimal arithmetic).
func RuleRate(supplier decimal.Decimal, currencyRate model.Money, r PriceRule) (model.Money, error) {
	d := supplier.Mul(currencyRate.Decimal()).
		Mul(decimal.New(int64(100_00+r.MarkupPercent), -4)).
		Add(r.MarkupFixed.Decimal()).Round(model.MoneyScale) // positive: Round is half-up
	return model.MoneyFromDecimal(d)
}

// rule returns a service's price rule, if it has one.
func rule(s *model.Service) (PriceRule, bool) {
	if s.MarkupPercent == nil {
		return PriceRule{}, false
	}
	return PriceRule{MarkupPercent: *s.MarkupPercent, MarkupFixed: s.MarkupFixed}, true
}
