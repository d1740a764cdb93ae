package store

import (
	"context"

	"gorm.io/gorm"

	"smmapi/model"
	"smmapi/service"
)

var (
	_ service.OrderAdminStore  = (*DB)(nil)
	_ service.TicketAdminStore = (*DB)(nil)
)

// ListOrders returns orders matching f, newest first. Every filter column is
// indexed and InnoDB and SQLite append the row ID to secondary indexes, so
// "filter AND id < cursor ORDER BY id DESC" is an index range scan.
func (db *DB) ListOrders(ctx context.Context, f service.OrderFilter, before uint64, limit int) ([]model.Order, error) {
	q := db.g.WithContext(ctx).Model(&model.Order{})
	if f.UserID != 0 {
		q = q.Where("user_id = ?", f.UserID)
	}
	if f.ServiceID != 0 {
		q = q.Where("service_id = ?", f.ServiceID)
	}
	if f.SiteID != 0 {
		q = q.Where("site_id = ?", f.SiteID)
	}
	if f.Status != "" {
		q = q.Where("status = ?", f.Status)
	}
	if before != 0 {
		q = q.Where("id < ?", before)
	}
	var os []model.Order
	err := q.Order("id DESC").Limit(limit).Find(&os).Error
	return os, dbErr(err, "order")
}

// Order returns one order by public ID.
func (db *DB) Order(ctx context.Context, publicID string) (model.Order, error) {
	var o model.Order
	return o, dbErr(db.g.WithContext(ctx).Take(&o, "public_id = ?", publicID).Error, "order")
}

// ChangeOrder locks the order, lets fn decide, and saves the order and its
// refund together. The lock (MySQL) or the single connection (SQLite) makes
// fn see the latest state, so a refund can only be decided once.
func (db *DB) ChangeOrder(ctx context.Context, publicID string, fn func(*model.Order) (service.OrderChange, error)) (model.Order, error) {
	var o model.Order
	err := db.transact(ctx, func(tx *gorm.DB) error {
		if err := db.forUpdate(tx).Take(&o, "public_id = ?", publicID).Error; err != nil {
			return err
		}
		before := salesOf(&o)
		ch, err := fn(&o)
		if err != nil {
			return err
		}
		return db.saveOrderChange(tx, &o, before, ch, nil)
	})
	return o, dbErr(err, "order")
}

// saveOrderChange writes a changed order, credits its refund with a ledger
// row and adds what changed of its refund and cost since before to the
// sales aggregates, with sums (what else the transaction adds: nil, or a
// new child order), in one upsert, inside tx.
func (db *DB) saveOrderChange(tx *gorm.DB, o *model.Order, before salesState, ch service.OrderChange, sums salesSums) error {
	if err := insertEvents(tx, ch.Events...); err != nil {
		return err
	}
	if sums == nil {
		sums = salesSums{}
	}
	if !ch.Changed && ch.Refund == 0 {
		return db.writeSales(tx, sums)
	}
	o.UpdatedAt = db.now()
	if err := tx.Save(o).Error; err != nil {
		return err
	}
	if ch.Refund > 0 {
		if err := db.credit(tx, &model.LedgerEntry{UserID: o.UserID, Amount: ch.Refund, Kind: model.LedgerRefund, Ref: o.PublicID}); err != nil {
			return err
		}
	}
	sums.changed(before, o)
	return db.writeSales(tx, sums)
}

// credit adds e.Amount (positive) to the user's balance and writes e.
func (db *DB) credit(tx *gorm.DB, e *model.LedgerEntry) error {
	if err := tx.Exec("UPDATE users SET balance = balance + ?, updated_at = ? WHERE id = ?", e.Amount, db.now(), e.UserID).Error; err != nil {
		return err
	}
	if err := tx.Raw("SELECT balance FROM users WHERE id = ?", e.UserID).Row().Scan(&e.BalanceAfter); err != nil {
		return err
	}
	return tx.Create(e).Error
}

// ListTickets returns tickets matching f with their orders' public IDs,
// newest first.
func (db *DB) ListTickets(ctx context.Context, f service.TicketFilter, before uint64, limit int) ([]service.TicketWithOrder, error) {
	q := db.g.WithContext(ctx).Model(&model.Ticket{})
	if f.Type != "" {
		q = q.Where("type = ?", f.Type)
	}
	if f.Status != "" {
		q = q.Where("status = ?", f.Status)
	}
	if f.UserID != 0 {
		q = q.Where("user_id = ?", f.UserID)
	}
	if before != 0 {
		q = q.Where("id < ?", before)
	}
	var ts []model.Ticket
	if err := q.Order("id DESC").Limit(limit).Find(&ts).Error; err != nil {
		return nil, dbErr(err, "ticket")
	}
	ids := make([]uint64, len(ts))
	for i, t := range ts {
		ids[i] = t.OrderID
	}
	pub := map[uint64]string{}
	if len(ids) > 0 {
		var rows []struct {
			ID       uint64
			PublicID string
		}
		if err := db.g.WithContext(ctx).Model(&model.Order{}).Select("id, public_id").Where("id IN ?", ids).Scan(&rows).Error; err != nil {
			return nil, dbErr(err, "ticket")
		}
		for _, r := range rows {
			pub[r.ID] = r.PublicID
		}
	}
	out := make([]service.TicketWithOrder, len(ts))
	for i, t := range ts {
		out[i] = service.TicketWithOrder{Ticket: t, PublicID: pub[t.OrderID]}
	}
	return out, nil
}

// DecideTicket locks the ticket, then its order (always in that order, so
// two decisions cannot deadlock), lets fn decide and saves both.
func (db *DB) DecideTicket(ctx context.Context, id uint64, fn func(*model.Ticket, *model.Order) (service.OrderChange, error)) (service.TicketWithOrder, error) {
	var t model.Ticket
	var o model.Order
	err := db.transact(ctx, func(tx *gorm.DB) error {
		if err := db.forUpdate(tx).Take(&t, "id = ?", id).Error; err != nil {
			return err
		}
		if err := db.forUpdate(tx).Take(&o, "id = ?", t.OrderID).Error; err != nil {
			return err
		}
		before, sold := t, salesOf(&o)
		ch, err := fn(&t, &o)
		if err != nil {
			return err
		}
		// A look that changes nothing (a forward refused after reading the
		// ticket) writes nothing, updated_at included.
		if t != before {
			t.UpdatedAt = db.now()
			if err := tx.Save(&t).Error; err != nil {
				return err
			}
		}
		return db.saveOrderChange(tx, &o, sold, ch, nil)
	})
	return service.TicketWithOrder{Ticket: t, PublicID: o.PublicID}, dbErr(err, "ticket")
}
