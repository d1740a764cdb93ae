package service

// Internal API: GET /reports/sales?from=YYYY-MM-DD&to=YYYY-MM-DD&group_by=
// day|service|supplier|user|site → {"items":[…],"totals":{…}}: the orders
// placed from `from` (inclusive) to `to` (exclusive), UTC days, with their
// charges, refunds, known costs and profit, read from daily aggregates.

import (
	"context"
	"fmt"
	"time"

	"smmapi/model"
)

// SalesRow is one key's sums over the report's days. Key is the day as
// yyyymmdd, or the ID of the service, supplier (0: none), account or site.
type SalesRow struct {
	Key                    int64
	Orders, Quantity       int64
	Revenue, Refunds, Cost model.Money
	CostUnknown            int64
}

// SalesStore reads the sales aggregates.
type SalesStore interface {
	// Sales sums dimension dim's aggregates over the days [from, to)
	// (yyyymmdd), per key, or per day when byDay; rows in key order.
	Sales(ctx context.Context, dim uint8, byDay bool, from, to int32) ([]SalesRow, error)
}

// SalesReportInput is the query, as sent.
type SalesReportInput struct {
	From, To, GroupBy string
}

// SalesSums are the figures of a line or of the totals. Profit is revenue
// − refunds − the known cost; CostUnknown counts the orders whose cost is
// not known (manual orders, or no charge reported yet), whose cost is
// therefore not in Cost.
type SalesSums struct {
	Orders      int64       `json:"orders"`
	Quantity    int64       `json:"quantity"`
	Revenue     model.Money `json:"revenue"`
	Refunds     model.Money `json:"refunds"`
	Cost        model.Money `json:"cost"`
	Profit      model.Money `json:"profit"`
	CostUnknown int64       `json:"cost_unknown_orders"`
}

// SalesLine is one line of the report: Key is the day ("2026-11-28") or
// the ID of the service, supplier (null: manual orders), account or site.
type SalesLine struct {
	Key any `json:"key"`
	SalesSums
}

// SalesReport is the report's answer.
type SalesReport struct {
	Items  []SalesLine `json:"items"`
	Totals SalesSums   `json:"totals"`
}

// MaxReportDays bounds a report's range: the aggregates make a long range
// cheap, but an unbounded one is a mistake more often than a question.
const MaxReportDays = 400

// salesDims maps group_by to the aggregate dimension it reads; day totals
// are the site rows summed per day (every order has a site).
var salesDims = map[string]uint8{
	"day": model.SalesSite, "service": model.SalesService, "supplier": model.SalesSupplier,
	"user": model.SalesUser, "site": model.SalesSite,
}

// Sales answers the sales report.
type Sales struct {
	store SalesStore
}

// NewSales returns a Sales.
func NewSales(store SalesStore) *Sales { return &Sales{store: store} }

// Do reads the report.
func (s *Sales) Do(ctx context.Context, in SalesReportInput) (SalesReport, error) {
	from, err := reportDate("from", in.From)
	if err != nil {
		return SalesReport{}, err
	}
	to, err := reportDate("to", in.To)
	if err != nil {
		return SalesReport{}, err
	}
	if !to.After(from) {
		return SalesReport{}, Errorf(ErrInvalid, "to must be after from")
	}
	if to.Sub(from) > MaxReportDays*24*time.Hour {
		return SalesReport{}, Errorf(ErrInvalid, "to must be at most %d days after from", MaxReportDays)
	}
	dim, ok := salesDims[in.GroupBy]
	if !ok {
		return SalesReport{}, Errorf(ErrInvalid, "group_by must be one of day, service, supplier, user, site")
	}
	byDay := in.GroupBy == "day"
	rows, err := s.store.Sales(ctx, dim, byDay, yyyymmdd(from), yyyymmdd(to))
	if err != nil {
		return SalesReport{}, fmt.Errorf("sales report: %w", err)
	}
	out := SalesReport{Items: make([]SalesLine, 0, len(rows))}
	for _, r := range rows {
		l := SalesLine{SalesSums: SalesSums{Orders: r.Orders, Quantity: r.Quantity, Revenue: r.Revenue, Refunds: r.Refunds,
			Cost: r.Cost, Profit: r.Revenue - r.Refunds - r.Cost, CostUnknown: r.CostUnknown}}
		switch {
		case byDay:
			l.Key = fmt.Sprintf("%04d-%02d-%02d", r.Key/10000, r.Key/100%100, r.Key%100)
		case dim == model.SalesSupplier && r.Key == 0:
			l.Key = nil // manual orders: no supplier
		default:
			l.Key = r.Key
		}
		out.Items = append(out.Items, l)
		out.Totals.Orders += l.Orders
		out.Totals.Quantity += l.Quantity
		out.Totals.Revenue += l.Revenue
		out.Totals.Refunds += l.Refunds
		out.Totals.Cost += l.Cost
		out.Totals.Profit += l.Profit
		out.Totals.CostUnknown += l.CostUnknown
	}
	return out, nil
}

// reportDate reads a UTC day, YYYY-MM-DD.
func reportDate(field, s string) (time.Time, error) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return t, Errorf(ErrInvalid, "%s must be a date YYYY-MM-DD", field)
	}
	return t, nil
}

func yyyymmdd(t time.Time) int32 {
	y, m, d := t.Date()
	return int32(y*10000 + int(m)*100 + d)
}
