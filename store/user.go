package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"gorm.io/gorm"

	"smmapi/model"
	"smmapi/service"
)

var (
	_ service.UserStore       = (*DB)(nil)
	_ service.TruncationStore = (*DB)(nil)
)

// CreateUser inserts an account; a taken username is a conflict.
func (db *DB) CreateUser(ctx context.Context, u *model.User) error {
	// In a transaction of its own so that the insert is retried if
	// concurrent inserts of one name deadlock on the unique index.
	return dbErr(db.transact(ctx, func(tx *gorm.DB) error {
		u.ID = 0 // a run again after a conflict inserts afresh (see PlaceOrder)
		return tx.Create(u).Error
	}), "username")
}

// User returns one account.
func (db *DB) User(ctx context.Context, id uint64) (model.User, error) {
	var u model.User
	err := db.r.WithContext(ctx).Take(&u, "id = ?", id).Error
	return u, dbErr(err, "user")
}

// Balance reads one balance: the balance action's whole query (a GORM
// "SELECT *" into a model.User cost most of its CPU on SQLite).
func (db *DB) Balance(ctx context.Context, id uint64) (model.Money, error) {
	var m model.Money
	err := db.r.WithContext(ctx).Raw("SELECT balance FROM users WHERE id = ?", id).Row().Scan(&m)
	if errors.Is(err, sql.ErrNoRows) {
		err = gorm.ErrRecordNotFound
	}
	return m, dbErr(err, "user")
}

// ListUsers returns accounts matching f with ID > after.
func (db *DB) ListUsers(ctx context.Context, f service.UserFilter, after uint64, limit int) ([]model.User, error) {
	var us []model.User
	q := db.g.WithContext(ctx).Where("id > ?", after)
	if f.SuspectTruncation {
		q = q.Where("suspect_truncated_ids > 0")
	}
	err := q.Order("id").Limit(limit).Find(&us).Error
	return us, dbErr(err, "user")
}

// UpdateUser sets an account's settings; a nil disabled or discount or an
// unset format stays.
func (db *DB) UpdateUser(ctx context.Context, id uint64, disabled *bool, orderIDFormat service.Optional[string], discount *model.Percent) (model.User, error) {
	set := map[string]any{"updated_at": db.now()}
	if discount != nil {
		set["discount"] = int64(*discount)
	}
	if disabled != nil {
		set["disabled"] = *disabled
	}
	if orderIDFormat.Set {
		set["id_format"] = orderIDFormat.Value // nil writes NULL: inherit
	}
	res := db.g.WithContext(ctx).Model(&model.User{}).Where("id = ?", id).Updates(set)
	if res.Error != nil {
		return model.User{}, dbErr(res.Error, "user")
	}
	return db.User(ctx, id)
}

// AdjustBalance moves e.Amount in and out of the balance and writes e as the
// ledger row, in one transaction. The conditional UPDATE never lets the
// balance go below zero, without row locks, on both drivers.
func (db *DB) AdjustBalance(ctx context.Context, e *model.LedgerEntry) error {
	err := db.transact(ctx, func(tx *gorm.DB) error {
		res := tx.Exec("UPDATE users SET balance = balance + ?, updated_at = ? WHERE id = ? AND balance + ? >= 0",
			e.Amount, db.now(), e.UserID, e.Amount)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			var n int64
			if err := tx.Model(&model.User{}).Where("id = ?", e.UserID).Count(&n).Error; err != nil {
				return err
			}
			if n == 0 {
				return gorm.ErrRecordNotFound
			}
			return service.Errorf(service.ErrConflict, "the balance cannot go below zero")
		}
		// The UPDATE holds the row until commit, so this read is our own result.
		if err := tx.Raw("SELECT balance FROM users WHERE id = ?", e.UserID).Row().Scan(&e.BalanceAfter); err != nil {
			return err
		}
		e.ID = 0 // a run again after a conflict inserts afresh (see PlaceOrder)
		return tx.Create(e).Error
	})
	return dbErr(err, "user")
}

// Ledger returns entries with ID < before (0: from the newest), newest first.
func (db *DB) Ledger(ctx context.Context, userID, before uint64, limit int) ([]model.LedgerEntry, error) {
	q := db.g.WithContext(ctx).Where("user_id = ?", userID)
	if before > 0 {
		q = q.Where("id < ?", before)
	}
	var es []model.LedgerEntry
	err := q.Order("id DESC").Limit(limit).Find(&es).Error
	return es, dbErr(err, "ledger")
}

// AddSuspectTruncations adds n suspect look-ups to an account; the last-seen
// time only moves forward, whichever instance flushes first.
func (db *DB) AddSuspectTruncations(ctx context.Context, userID uint64, n int64, at time.Time) error {
	err := db.g.WithContext(ctx).Exec(`UPDATE users SET suspect_truncated_ids = suspect_truncated_ids + ?,
		last_suspect_truncation_at = CASE WHEN last_suspect_truncation_at IS NULL OR last_suspect_truncation_at < ?
		THEN ? ELSE last_suspect_truncation_at END WHERE id = ?`, n, at, at, userID).Error
	return dbErr(err, "user")
}
