package store

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"smmapi/model"
	"smmapi/service"
)

var _ service.SalesStore = (*DB)(nil)

// Sales aggregates (model.SalesDay) are kept transactionally: every
// transaction that places an order, refunds one or learns its cost adds its
// difference to the order's day rows, as its last statement (after every
// other lock it takes, in key order, so two transactions never wait on each
// other in a cycle). One multi-row upsert per transaction, one row per
// distinct key: a batch of 128 orders of one site and service writes a
// handful of rows.

// salesSlots spreads the shared keys (site, service, supplier) over a few
// rows: a transaction adds to one slot picked at random, so concurrent
// batches rarely wait on each other's row lock until commit. An account's
// rows need no spreading (its balance row already orders its writes).
const salesSlots = 8

// salesKey names one aggregate row but its slot.
type salesKey struct {
	dim uint8
	day int32
	key uint64
}

// salesSums is what a transaction adds, per key.
type salesSums map[salesKey]*model.SalesDay

// salesDay is t's UTC day as yyyymmdd.
func salesDay(t time.Time) int32 {
	y, m, d := t.UTC().Date()
	return int32(y*10000 + int(m)*100 + d)
}

// add adds d (its sums; keys are ignored) to each of o's four keys.
func (s salesSums) add(o *model.Order, d model.SalesDay) {
	day := salesDay(o.CreatedAt)
	var sup uint64
	if o.SupplierID != nil {
		sup = *o.SupplierID
	}
	for _, k := range [...]salesKey{{model.SalesService, day, o.ServiceID}, {model.SalesSupplier, day, sup},
		{model.SalesUser, day, o.UserID}, {model.SalesSite, day, o.SiteID}} {
		r := s[k]
		if r == nil {
			r = &model.SalesDay{Dim: k.dim, Day: k.day, Key: k.key}
			s[k] = r
		}
		r.Orders += d.Orders
		r.Quantity += d.Quantity
		r.Revenue += d.Revenue
		r.Refunds += d.Refunds
		r.Cost += d.Cost
		r.CostUnknown += d.CostUnknown
	}
}

// placedSales is what new orders add.
func placedSales(os ...*model.Order) salesSums {
	s := salesSums{}
	s.placed(os...)
	return s
}

// placed adds orders as they stand.
func (s salesSums) placed(os ...*model.Order) {
	for _, o := range os {
		d := model.SalesDay{Orders: 1, Quantity: o.Quantity, Revenue: o.Charge, Refunds: o.Refunded}
		if o.Cost == nil {
			d.CostUnknown = 1
		} else {
			d.Cost = *o.Cost
		}
		s.add(o, d)
	}
}

// salesState is what of an order the aggregates follow once it exists.
type salesState struct {
	refunded model.Money
	cost     *model.Money
}

func salesOf(o *model.Order) salesState {
	st := salesState{refunded: o.Refunded}
	if o.Cost != nil {
		c := *o.Cost
		st.cost = &c
	}
	return st
}

// changed adds the difference between an order's state before a change
// and o, if any.
func (s salesSums) changed(before salesState, o *model.Order) {
	d := model.SalesDay{Refunds: o.Refunded - before.refunded}
	if before.cost != nil {
		d.Cost -= *before.cost
	} else {
		d.CostUnknown--
	}
	if o.Cost != nil {
		d.Cost += *o.Cost
	} else {
		d.CostUnknown++
	}
	if d != (model.SalesDay{}) {
		s.add(o, d)
	}
}

// write upserts the sums in one statement, rows in key order.
func (db *DB) writeSales(tx *gorm.DB, s salesSums) error {
	if len(s) == 0 {
		return nil
	}
	slot := uint8(0)
	if db.driver == MySQL { // SQLite has one writer: nothing to spread
		slot = uint8(rand.N(salesSlots))
	}
	rows := make([]*model.SalesDay, 0, len(s))
	for _, r := range s {
		r.Slot = slot
		if r.Dim == model.SalesUser {
			r.Slot = 0
		}
		rows = append(rows, r)
	}
	slices.SortFunc(rows, compareSales)
	return upsertSales(tx, db.driver, rows)
}

// compareSales orders aggregate rows as their primary key.
func compareSales(a, b *model.SalesDay) int {
	return cmp.Or(cmp.Compare(a.Dim, b.Dim), cmp.Compare(a.Day, b.Day), cmp.Compare(a.Key, b.Key), cmp.Compare(a.Slot, b.Slot))
}

// salesCols are the summed columns, in the order of the rows' values.
var salesCols = []string{"orders", "quantity", "revenue", "refunds", "cost", "cost_unknown"}

// upsertSales adds rows to the aggregates in one statement.
func upsertSales(tx *gorm.DB, driver string, rows []*model.SalesDay) error {
	var sb strings.Builder
	sb.WriteString("INSERT INTO sales_days (dim, day, key_id, slot, " + strings.Join(salesCols, ", ") + ") VALUES ")
	args := make([]any, 0, 10*len(rows))
	for i, r := range rows {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString("(?,?,?,?,?,?,?,?,?,?)")
		args = append(args, r.Dim, r.Day, r.Key, r.Slot, r.Orders, r.Quantity, r.Revenue, r.Refunds, r.Cost, r.CostUnknown)
	}
	if driver == MySQL {
		sb.WriteString(" ON DUPLICATE KEY UPDATE ")
	} else {
		sb.WriteString(" ON CONFLICT (dim, day, key_id, slot) DO UPDATE SET ")
	}
	for i, c := range salesCols {
		if i > 0 {
			sb.WriteString(", ")
		}
		if driver == MySQL {
			fmt.Fprintf(&sb, "%s = %s + VALUES(%s)", c, c, c)
		} else {
			fmt.Fprintf(&sb, "%s = %s + excluded.%s", c, c, c)
		}
	}
	return tx.Exec(sb.String(), args...).Error
}

// Sales sums the aggregates of dimension dim over the days [from, to),
// per key (per day when byDay).
func (db *DB) Sales(ctx context.Context, dim uint8, byDay bool, from, to int32) ([]service.SalesRow, error) {
	group := "key_id"
	if byDay {
		group = "day"
	}
	var rows []struct {
		K                                                 int64
		Orders, Quantity, Revenue, Refunds, Cost, Unknown int64
	}
	err := db.r.WithContext(ctx).Raw(`SELECT `+group+` AS k, SUM(orders) AS orders, SUM(quantity) AS quantity,
		SUM(revenue) AS revenue, SUM(refunds) AS refunds, SUM(cost) AS cost, SUM(cost_unknown) AS unknown
		FROM sales_days WHERE dim = ? AND day >= ? AND day < ? GROUP BY `+group+` ORDER BY `+group, dim, from, to).
		Scan(&rows).Error
	if err != nil {
		return nil, dbErr(err, "sales")
	}
	out := make([]service.SalesRow, 0, len(rows))
	for _, r := range rows {
		if r.Orders == 0 { // every order of the key is gone (none are deleted today)
			continue
		}
		out = append(out, service.SalesRow{Key: r.K, Orders: r.Orders, Quantity: r.Quantity, Revenue: model.Money(r.Revenue),
			Refunds: model.Money(r.Refunds), Cost: model.Money(r.Cost), CostUnknown: r.Unknown})
	}
	return out, nil
}

// backfillSales builds the aggregates of the orders placed before they
// existed, once (the cursor row says it was done), inside the migration:
// the orders are read in ID order, summed here and upserted by the same
// code as the write path. Orders placed after it by this version count
// themselves; an older instance still placing orders during a rolling
// upgrade would not (stop them first, or rebuild with RebuildSales).
func (db *DB) backfillSales(g *gorm.DB) error {
	var n int64
	if err := g.Model(&model.EventCursor{}).Where("id = ?", model.SalesBackfillCursor).Count(&n).Error; err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	// One transaction with its mark: a backfill cut short is redone whole,
	// never added twice.
	return g.Transaction(func(tx *gorm.DB) error {
		last, err := db.buildSales(tx)
		if err != nil {
			return err
		}
		return tx.Clauses(clause.OnConflict{DoNothing: true}).
			Create(&model.EventCursor{ID: model.SalesBackfillCursor, Last: last}).Error
	})
}

// RebuildSales recomputes every aggregate from the orders in one
// transaction (for a database whose orders were written without them).
func (db *DB) RebuildSales(ctx context.Context) error {
	return db.transact(ctx, func(tx *gorm.DB) error {
		if err := tx.Exec("DELETE FROM sales_days").Error; err != nil {
			return err
		}
		_, err := db.buildSales(tx)
		return err
	})
}

// salesChunk is how many orders one read of the backfill takes.
const salesChunk = 20000

// buildSales adds every order to the aggregates and returns the highest
// order row ID read.
func (db *DB) buildSales(tx *gorm.DB) (uint64, error) {
	sums := salesSums{}
	var after uint64
	for {
		var os []*model.Order
		err := tx.Model(&model.Order{}).Select("id, user_id, site_id, service_id, supplier_id, quantity, charge, refunded, cost, created_at").
			Where("id > ?", after).Order("id").Limit(salesChunk).Find(&os).Error
		if err != nil {
			return 0, err
		}
		if len(os) == 0 {
			break
		}
		sums.placed(os...)
		after = os[len(os)-1].ID
	}
	rows := make([]*model.SalesDay, 0, len(sums))
	for _, r := range sums {
		rows = append(rows, r)
	}
	// In key order, so pages fill one after another; in bounded statements
	// (MySQL's max_allowed_packet, SQLite's variable limit).
	slices.SortFunc(rows, compareSales)
	for len(rows) > 0 {
		n := min(len(rows), 500)
		if err := upsertSales(tx, db.driver, rows[:n]); err != nil {
			return 0, err
		}
		rows = rows[n:]
	}
	return after, nil
}
