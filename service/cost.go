package service

// An order's cost: what its supplier charged for it, converted into the
// service currency, taken from the supplier's status answers. Suppliers
// lower the charge they report when they refund (Partial) or cancel, so
// the latest charge is the cost, net of their refunds.

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/shopspring/decimal"

	"smmapi/model"
)

// SupplierCost converts a supplier's charge into the service currency:
// charge × rate (service currency per supplier unit), half-up to 4
// decimals. ok is false for a charge that is not a non-negative decimal.
func SupplierCost(charge string, rate model.Money) (model.Money, bool) {
	d, err := decimal.NewFromString(strings.TrimSpace(charge))
	if err != nil || d.IsNegative() {
		return 0, false
	}
	c, err := model.MoneyFromDecimal(d.Mul(rate.Decimal()).Round(model.MoneyScale)) // non-negative: Round is half-up
	return c, err == nil
}

// noteCost takes o's cost from a supplier's report on it: the charge it
// reports × the supplier's currency rate. A cancel reported without a
// charge costs nothing. An unchanged charge is not converted again (the
// cost stays at the rate it was first read at). It returns why a charge
// was not taken ("" when it was, or there was none).
func noteCost(o *model.Order, st UpstreamStatus, ep SupplierEndpoint) string {
	charge := clipText(strings.TrimSpace(st.Charge), 32)
	if charge == "" {
		canceled := st.Status == model.StatusCanceled ||
			st.Status == model.StatusPartial && st.HasRemains && st.Remains >= o.Quantity
		if !canceled {
			return ""
		}
		charge = "0"
	}
	if cur := strings.TrimSpace(st.Currency); cur != "" && ep.Currency != "" && !strings.EqualFold(cur, ep.Currency) {
		return fmt.Sprintf("charge in %s but the supplier's currency is %s", clipText(cur, 8), ep.Currency)
	}
	if o.Cost != nil && o.SupplierCharge == charge {
		return ""
	}
	c, ok := SupplierCost(charge, ep.CurrencyRate)
	if !ok {
		return "unreadable charge " + strconv.Quote(charge)
	}
	o.Cost, o.SupplierCharge = &c, charge
	return ""
}
