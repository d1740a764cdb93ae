package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"

	"smmapi/model"
	"smmapi/service"
)

var _ service.SubscriptionStore = (*DB)(nil)

// AddPost records a post of a subscription in one transaction: the
// subscription's row is locked (then its account's, the order every
// change takes), fn decides with the balance it read, and the child, the
// debit of its charge (one conditional UPDATE) with its ledger row, the
// subscription's change and the events are written together. A child
// whose ChildKey exists already (another instance created it first) is a
// no-op answering created = false; a colliding random ID is retried.
func (db *DB) AddPost(ctx context.Context, publicID string, newID func() (string, error),
	fn func(sub *model.Order, balance model.Money, childID string) (*model.Order, service.OrderChange, error)) (model.Order, *model.Order, error) {
	// The row is locked by primary key: a locking read by public_id waits
	// with a next-key lock on that index, which the child's insert into the
	// same index gap then waits on, and MariaDB reports a deadlock
	// (measured with eight posts of one child at once).
	rowID, err := db.OrderRowID(ctx, publicID)
	if err != nil {
		return model.Order{}, nil, err
	}
	for attempt := 0; ; attempt++ {
		childID, err := newID()
		if err != nil {
			return model.Order{}, nil, err
		}
		var sub model.Order
		var child *model.Order
		err = db.transact(ctx, func(tx *gorm.DB) error {
			sub, child = model.Order{}, nil
			if err := db.forUpdate(tx).Take(&sub, "id = ?", rowID).Error; err != nil {
				return err
			}
			var u model.User
			if err := db.forUpdate(tx).Select("id", "balance").Take(&u, "id = ?", sub.UserID).Error; err != nil {
				return err
			}
			var ch service.OrderChange
			before := salesOf(&sub)
			child, ch, err = fn(&sub, u.Balance, childID)
			if err != nil {
				return err
			}
			var sums salesSums
			if child != nil {
				if err := db.insertChild(tx, child); err != nil {
					return err
				}
				sums = placedSales(child)
			}
			return db.saveOrderChange(tx, &sub, before, ch, sums)
		})
		if !errors.Is(err, gorm.ErrDuplicatedKey) {
			return sub, child, dbErr(err, "order")
		}
		if child != nil && child.ChildKey != nil {
			var n int64
			if cerr := db.g.WithContext(ctx).Model(&model.Order{}).Where("child_key = ?", *child.ChildKey).Count(&n).Error; cerr != nil {
				return sub, nil, dbErr(cerr, "order")
			}
			if n > 0 { // created meanwhile by another instance: nothing to do
				return sub, nil, nil
			}
		}
		if attempt+1 >= idAttempts {
			return sub, nil, fmt.Errorf("add post: no free order ID after %d attempts: %w", idAttempts, err)
		}
	}
}

// insertChild writes a child order and debits its charge with a ledger
// row; the account's row is locked by AddPost, and the debit stays
// conditional so that it can never overdraw.
func (db *DB) insertChild(tx *gorm.DB, c *model.Order) error {
	now := db.now()
	c.CreatedAt, c.UpdatedAt = now, now
	if err := tx.Create(c).Error; err != nil {
		return err
	}
	if c.Charge == 0 {
		return nil
	}
	// Conditional even under the row lock AddPost holds: never an overdraft.
	res := tx.Model(&model.User{}).Where("id = ? AND balance >= ?", c.UserID, c.Charge).
		Updates(map[string]any{"balance": gorm.Expr("balance - ?", c.Charge), "updated_at": now})
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 0 {
		return &service.Error{Code: service.ErrInsufficientFunds, Message: service.MsgNotEnoughFunds}
	}
	e := &model.LedgerEntry{UserID: c.UserID, Amount: -c.Charge, Kind: model.LedgerCharge, Ref: c.PublicID, CreatedAt: now}
	if err := tx.Raw("SELECT balance FROM users WHERE id = ?", c.UserID).Row().Scan(&e.BalanceAfter); err != nil {
		return err
	}
	return tx.Create(e).Error
}

// DueSubscriptions returns up to limit subscriptions the worker must look
// at: Active or Paused past their expiry, and those paused for funds whose
// account now covers one post at max (balance × 1000 ≥ rate × max, in
// integer units).
func (db *DB) DueSubscriptions(ctx context.Context, now time.Time, limit int) (expired, funded []string, err error) {
	g := db.g.WithContext(ctx)
	err = g.Model(&model.Order{}).Where("status IN ? AND expires_at <= ? AND type = ?",
		[]model.Status{model.StatusActive, model.StatusPaused}, now, model.OrderSubscription).
		Order("expires_at").Limit(limit).Pluck("public_id", &expired).Error
	if err != nil {
		return nil, nil, dbErr(err, "order")
	}
	err = g.Raw(`SELECT o.public_id FROM orders o JOIN users u ON u.id = o.user_id
		WHERE o.status = ? AND o.pause_reason = ? AND o.type = ? AND u.balance * 1000 >= o.rate * o.quantity
		ORDER BY o.id LIMIT ?`, model.StatusPaused, model.PauseFunds, model.OrderSubscription, limit).
		Scan(&funded).Error
	return expired, funded, dbErr(err, "order")
}

// ChildKeys returns the ChildKeys of a subscription's children.
func (db *DB) ChildKeys(ctx context.Context, parentID uint64) (map[string]bool, error) {
	var keys []string
	err := db.g.WithContext(ctx).Model(&model.Order{}).Where("parent_id = ? AND child_key IS NOT NULL", parentID).
		Pluck("child_key", &keys).Error
	out := make(map[string]bool, len(keys))
	for _, k := range keys {
		out[k] = true
	}
	return out, dbErr(err, "order")
}
