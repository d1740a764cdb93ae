package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"gorm.io/gorm"

	"smmapi/model"
	"smmapi/service"
)

var _ service.OrderStore = (*DB)(nil)

// idAttempts bounds retries on an order ID collision.
const idAttempts = 8

// PlaceOrder places one order: through the group committer when there is
// one (placer.go), else in its own transaction.
func (db *DB) PlaceOrder(ctx context.Context, o *model.Order, newID func() (string, error), event func(*model.Order) model.Event) error {
	if db.placer != nil {
		return db.placer.place(ctx, o, newID, event)
	}
	return db.placeOne(ctx, o, newID, event)
}

// placeOne debits, inserts the order, its event and its ledger row in one
// transaction of four statements, the fewest that keep every guarantee:
// the debit is one conditional UPDATE, which never overdraws however many
// requests race; the duplicate-link guard is the unique index on LiveLink;
// the ledger row reads the new balance in its own INSERT … SELECT.
func (db *DB) placeOne(ctx context.Context, o *model.Order, newID func() (string, error), event func(*model.Order) model.Event) error {
	for attempt := 0; ; attempt++ {
		id, err := newID()
		if err != nil {
			return err
		}
		o.PublicID = id
		o.ID = 0
		err = db.transact(ctx, func(tx *gorm.DB) error {
			// The event and the order are written before the debit: the
			// account's row is locked from the debit to the commit, and a
			// hot account's orders queue for that lock, so only the debit
			// and the ledger row (which reads the new balance) are inside
			// it. A refused debit rolls both back.
			now := db.now()
			// A run again after a conflict (transact) inserts afresh: the
			// rolled-back row's ID may since have been given to another
			// order (Galera re-steps auto-increments when a node leaves),
			// and its duplicate key read as the link guard.
			o.ID = 0
			if err := insertEvents(tx, event(o)); err != nil {
				return err
			}
			if err := tx.Create(o).Error; err != nil {
				return err
			}
			res := tx.Exec("UPDATE users SET balance = balance - ?, updated_at = ? WHERE id = ? AND balance >= ?",
				o.Charge, now, o.UserID, o.Charge)
			if res.Error != nil {
				return res.Error
			}
			if res.RowsAffected == 0 {
				return &service.Error{Code: service.ErrInsufficientFunds, Message: service.MsgNotEnoughFunds}
			}
			if err := tx.Exec(`INSERT INTO ledger_entries (user_id, amount, balance_after, kind, ref, reason, created_at)
				SELECT id, ?, balance, ?, ?, '', ? FROM users WHERE id = ?`,
				-o.Charge, model.LedgerCharge, o.PublicID, now, o.UserID).Error; err != nil {
				return err
			}
			return db.writeSales(tx, placedSales(o))
		})
		if err != nil && (isUnavailable(err) || nodeLost(err)) {
			if ok, _ := db.committed(ctx, err, []string{o.PublicID}); ok {
				return nil
			}
		}
		if !errors.Is(err, gorm.ErrDuplicatedKey) {
			return dbErr(err, "order")
		}
		// Two unique keys can refuse the insert: the random ID (retry with
		// another) or a live order on the same link (the guard).
		var taken int64
		if cerr := db.g.WithContext(ctx).Model(&model.Order{}).Where("public_id = ?", o.PublicID).Count(&taken).Error; cerr != nil {
			return dbErr(cerr, "order")
		}
		if taken == 0 && o.LiveLink != nil {
			return &service.Error{Code: service.ErrConflict, Message: service.MsgActiveOrder}
		}
		if attempt+1 >= idAttempts {
			return fmt.Errorf("place order: no free order ID after %d attempts: %w", idAttempts, err)
		}
	}
}

// UserOrders returns the user's orders among publicIDs, with the fields
// refill and cancel need (not link, comments or params). It asks by
// public_id alone and checks the owner here: with "user_id = ? AND …"
// SQLite's planner picks the user index and reads every order of the
// account (measured: 100-ID status 60× slower at 100 000 orders).
func (db *DB) UserOrders(ctx context.Context, userID uint64, publicIDs []string) ([]model.Order, error) {
	// Only the columns refill and cancel read, scanned by hand: the
	// profile of a 100-ID status showed 37% of CPU in GORM scanning whole
	// rows (texts, times) by reflection.
	rows, err := db.r.WithContext(ctx).Raw(`SELECT id, public_id, user_id, service_id, charge, refunded, start_count,
		remains, status, runs, runs_done, finished_at, type FROM orders WHERE public_id IN ?`, publicIDs).Rows()
	if err != nil {
		return nil, dbErr(err, "order")
	}
	defer rows.Close()
	os := make([]model.Order, 0, len(publicIDs))
	for rows.Next() {
		var o model.Order
		var finished sql.NullTime
		if err := rows.Scan(&o.ID, &o.PublicID, &o.UserID, &o.ServiceID, &o.Charge, &o.Refunded, &o.StartCount,
			&o.Remains, &o.Status, &o.Runs, &o.RunsDone, &finished, &o.Type); err != nil {
			return nil, dbErr(err, "order")
		}
		if finished.Valid {
			t := finished.Time
			o.FinishedAt = &t
		}
		os = append(os, o)
	}
	if err := rows.Err(); err != nil {
		return nil, dbErr(err, "order")
	}
	mine := os[:0]
	for _, o := range os {
		if o.UserID == userID {
			mine = append(mine, o)
		}
	}
	return mine, nil
}

// OrderStates returns the status columns of the user's orders among
// publicIDs, in one query. It is status's hot path: the ID and the status
// are scanned as raw bytes (the status interned), so a 100-ID batch costs a
// hundred small allocations, not a whole model.Order each. As UserOrders,
// it asks by public_id alone and checks the owner here.
func (db *DB) OrderStates(ctx context.Context, userID uint64, publicIDs []string) ([]model.OrderState, error) {
	rows, err := db.r.WithContext(ctx).Raw(`SELECT public_id, user_id, charge, refunded, start_count, remains,
		status, runs, runs_done, type, posts_done, expires_at, children FROM orders WHERE public_id IN ?`, publicIDs).Rows()
	if err != nil {
		return nil, dbErr(err, "order")
	}
	defer rows.Close()
	out := make([]model.OrderState, 0, len(publicIDs))
	var id, status, typ, children sql.RawBytes
	var expires sql.NullTime
	for rows.Next() {
		var o model.OrderState
		if err := rows.Scan(&id, &o.UserID, &o.Charge, &o.Refunded, &o.StartCount, &o.Remains,
			&status, &o.Runs, &o.RunsDone, &typ, &o.PostsDone, &expires, &children); err != nil {
			return nil, dbErr(err, "order")
		}
		if o.UserID != userID {
			continue
		}
		o.PublicID, o.Status = string(id), model.InternStatus(status)
		if string(typ) == string(model.OrderSubscription) { // default orders allocate nothing more
			o.Type, o.Children = model.OrderSubscription, string(children)
			if expires.Valid {
				t := expires.Time
				o.ExpiresAt = &t
			}
		}
		out = append(out, o)
	}
	if err := rows.Err(); err != nil {
		return nil, dbErr(err, "order")
	}
	return out, nil
}
