package store

import (
	"context"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"smmapi/model"
	"smmapi/service"
)

var _ service.PriceStore = (*DB)(nil)

// UserPrices returns the account's own rates by service ID.
func (db *DB) UserPrices(ctx context.Context, userID uint64) (map[uint64]model.Money, error) {
	var ps []model.UserPrice
	if err := db.r.WithContext(ctx).Where("user_id = ?", userID).Find(&ps).Error; err != nil {
		return nil, dbErr(err, "price")
	}
	out := make(map[uint64]model.Money, len(ps))
	for _, p := range ps {
		out[p.ServiceID] = p.Rate
	}
	return out, nil
}

// UserPrice returns one own rate.
func (db *DB) UserPrice(ctx context.Context, userID, serviceID uint64) (model.Money, bool, error) {
	var ps []model.UserPrice
	err := db.r.WithContext(ctx).Where("user_id = ? AND service_id = ?", userID, serviceID).Limit(1).Find(&ps).Error
	if err != nil || len(ps) == 0 {
		return 0, false, dbErr(err, "price")
	}
	return ps[0].Rate, true, nil
}

// PutUserPrice upserts an own rate. The account's row is updated first
// (its revision bumped), which also serialises one account's price changes
// on MySQL, so its count stays right.
func (db *DB) PutUserPrice(ctx context.Context, p *model.UserPrice) error {
	p.UpdatedAt = db.now()
	return dbErr(db.changePrices(ctx, p.UserID, func(tx *gorm.DB) error {
		var n int64
		if err := tx.Model(&model.Service{}).Where("id = ?", p.ServiceID).Count(&n).Error; err != nil {
			return err
		}
		if n == 0 {
			return service.Errorf(service.ErrInvalid, "unknown service_id %d", p.ServiceID)
		}
		return tx.Clauses(clause.OnConflict{
			Columns:   []clause.Column{{Name: "user_id"}, {Name: "service_id"}},
			DoUpdates: clause.AssignmentColumns([]string{"rate", "updated_at"}),
		}).Create(p).Error
	}), "user")
}

// DeleteUserPrice removes an own rate.
func (db *DB) DeleteUserPrice(ctx context.Context, userID, serviceID uint64) error {
	return dbErr(db.changePrices(ctx, userID, func(tx *gorm.DB) error {
		res := tx.Where("user_id = ? AND service_id = ?", userID, serviceID).Delete(&model.UserPrice{})
		if res.Error == nil && res.RowsAffected == 0 {
			return service.Errorf(service.ErrNotFound, "price not found")
		}
		return res.Error
	}), "user")
}

// changePrices runs fn between bumping the account's price revision and
// recounting its prices, in one transaction.
func (db *DB) changePrices(ctx context.Context, userID uint64, fn func(tx *gorm.DB) error) error {
	return db.transact(ctx, func(tx *gorm.DB) error {
		res := tx.Exec("UPDATE users SET price_rev = price_rev + 1, updated_at = ? WHERE id = ?", db.now(), userID)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return gorm.ErrRecordNotFound
		}
		if err := fn(tx); err != nil {
			return err
		}
		return tx.Exec("UPDATE users SET price_count = (SELECT COUNT(*) FROM user_prices WHERE user_id = ?) WHERE id = ?",
			userID, userID).Error
	})
}

// ListUserPrices returns own rates with service ID > after.
func (db *DB) ListUserPrices(ctx context.Context, userID, after uint64, limit int) ([]model.UserPrice, error) {
	var ps []model.UserPrice
	err := db.g.WithContext(ctx).Where("user_id = ? AND service_id > ?", userID, after).
		Order("service_id").Limit(limit).Find(&ps).Error
	return ps, dbErr(err, "price")
}
