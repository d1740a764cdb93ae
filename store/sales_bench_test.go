package store

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"gorm.io/gorm"

	"smmapi/model"
	"smmapi/service"
)

// BenchmarkSalesReport measures the sales report (its service object over
// the store) on MariaDB with SMMAPI_BENCH_SALES_ORDERS orders (default
// 1 000 000) placed over the last 365 days: 2000 accounts, 500 services,
// 5 suppliers and manual orders, 3 sites, a tenth refunded, 60 % with a
// cost. The orders are inserted with multi-row INSERTs; their aggregates
// are the rows the write path makes (the orders summed per group commit of
// 128, each batch on a random slot, by the same salesSums code), then the
// same after RebuildSales (the backfill, one slot: the compact case), whose
// time is logged. Needs SMMAPI_TEST_MYSQL_DSN; the seeding takes a minute
// or two. Run:
//
//	go test ./store -run '^$' -bench SalesReport -benchtime 20x
func BenchmarkSalesReport(b *testing.B) {
	if os.Getenv("SMMAPI_TEST_MYSQL_DSN") == "" {
		b.Skip("SMMAPI_TEST_MYSQL_DSN not set: the report's target is on MariaDB")
	}
	n := 1_000_000
	if v := os.Getenv("SMMAPI_BENCH_SALES_ORDERS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			b.Fatal(err)
		}
	}
	ctx := context.Background()
	db := mustDBs(b)[MySQL] // a fresh MariaDB database, dropped after
	now := time.Now().UTC()
	start := time.Now()
	if err := seedSales(ctx, db, n, now); err != nil {
		b.Fatal(err)
	}
	b.Logf("seeded %d orders and their aggregates in %v", n, time.Since(start).Round(time.Millisecond))
	sales := service.NewSales(db)
	day := func(d int) string { return now.AddDate(0, 0, d).Format(time.DateOnly) }
	run := func(name string) {
		var rows int64
		if err := db.g.WithContext(ctx).Model(&model.SalesDay{}).Count(&rows).Error; err != nil {
			b.Fatal(err)
		}
		b.Logf("%s: %d aggregate rows", name, rows)
		for _, span := range []int{365, 30} {
			for _, g := range []string{"day", "service", "supplier", "user", "site"} {
				b.Run(fmt.Sprintf("%s/%dd/%s", name, span, g), func(b *testing.B) {
					in := service.SalesReportInput{From: day(-span), To: day(1), GroupBy: g} // the first order is span days old
					for b.Loop() {
						out, err := sales.Do(ctx, in)
						if err != nil {
							b.Fatal(err)
						}
						if span == 365 && out.Totals.Orders != int64(n) {
							b.Fatalf("%d orders in the report, %d placed", out.Totals.Orders, n)
						}
					}
				})
			}
		}
	}
	run("batches")
	start = time.Now()
	if err := db.RebuildSales(ctx); err != nil {
		b.Fatal(err)
	}
	b.Logf("RebuildSales (the backfill) over %d orders: %v", n, time.Since(start).Round(time.Millisecond))
	run("backfill")
}

// seedSales inserts n orders, oldest first, and the aggregates the write
// path would have made for them.
func seedSales(ctx context.Context, db *DB, n int, now time.Time) error {
	r := rand.New(rand.NewPCG(1, 2))
	first := now.Add(-365 * 24 * time.Hour)
	step := 365 * 24 * time.Hour / time.Duration(n)
	all := map[model.SalesDay]*model.SalesDay{} // by key and slot, sums zeroed
	const chunk = 1000
	cols := "INSERT INTO orders (public_id, user_id, site_id, service_id, supplier_id, quantity, charge, refunded, cost, status, created_at, updated_at)"
	batch := make([]*model.Order, 0, 128)
	flush := func() {
		sums := placedSales(batch...)
		slot := uint8(r.IntN(salesSlots))
		for _, s := range sums {
			s.Slot = slot
			if s.Dim == model.SalesUser {
				s.Slot = 0
			}
			k := model.SalesDay{Dim: s.Dim, Day: s.Day, Key: s.Key, Slot: s.Slot}
			if a := all[k]; a != nil {
				a.Orders += s.Orders
				a.Quantity += s.Quantity
				a.Revenue += s.Revenue
				a.Refunds += s.Refunds
				a.Cost += s.Cost
				a.CostUnknown += s.CostUnknown
			} else {
				all[k] = s
			}
		}
		batch = batch[:0]
	}
	for lo := 0; lo < n; lo += chunk {
		rows := make([][]any, 0, chunk)
		for i := lo; i < min(lo+chunk, n); i++ {
			o := &model.Order{PublicID: fmt.Sprintf("s%09d", i), UserID: uint64(r.IntN(2000) + 1), SiteID: uint64(r.IntN(3) + 1),
				ServiceID: uint64(r.IntN(500) + 1), Quantity: int64(100 + r.IntN(5000)), Status: model.StatusCompleted,
				CreatedAt: first.Add(time.Duration(i) * step)}
			o.Charge = model.Money(o.Quantity * int64(1+r.IntN(90000)) / 1000)
			if s := r.IntN(6); s > 0 {
				sup := uint64(s)
				o.SupplierID = &sup
				if r.IntN(10) < 7 {
					c := o.Charge * model.Money(40+r.IntN(40)) / 100
					o.Cost = &c
				}
			}
			if r.IntN(10) == 0 {
				o.Refunded = o.Charge / 2
			}
			rows = append(rows, []any{o.PublicID, o.UserID, o.SiteID, o.ServiceID, o.SupplierID, o.Quantity, o.Charge, o.Refunded, o.Cost,
				o.Status, o.CreatedAt, o.CreatedAt})
			// A batch of add holds up to 128 orders of a moment.
			if batch = append(batch, o); len(batch) == cap(batch) {
				flush()
			}
		}
		if err := db.g.WithContext(ctx).Transaction(func(tx *gorm.DB) error { return insertRows(tx, cols, rows) }); err != nil {
			return err
		}
	}
	flush()
	rows := make([]*model.SalesDay, 0, len(all))
	for _, a := range all {
		rows = append(rows, a)
	}
	for len(rows) > 0 {
		k := min(len(rows), 1000)
		if err := upsertSales(db.g.WithContext(ctx), db.driver, rows[:k]); err != nil {
			return err
		}
		rows = rows[k:]
	}
	return nil
}
