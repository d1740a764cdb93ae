package store

import (
	"context"
	"errors"
	"time"

	"gorm.io/gorm"

	"smmapi/model"
	"smmapi/service"
)

var _ service.KeyStore = (*DB)(nil)

// PutKey installs k unless the slot's last generation is after notAfter.
// The conditional UPDATE (or the unique index on a first INSERT) makes the
// cooldown hold when instances race.
func (db *DB) PutKey(ctx context.Context, k *model.APIKey, notAfter time.Time) (bool, time.Time, error) {
	g := db.g.WithContext(ctx)
	res := g.Model(&model.APIKey{}).
		Where("user_id = ? AND site_id = ? AND generated_at <= ?", k.UserID, k.SiteID, notAfter).
		Updates(map[string]any{"key_hash": k.KeyHash, "hint": k.Hint, "generated_at": k.GeneratedAt, "last_used_at": nil})
	if res.Error != nil {
		return false, time.Time{}, dbErr(res.Error, "api key")
	}
	if res.RowsAffected == 1 {
		return true, time.Time{}, nil
	}
	last, found, err := db.lastGeneration(ctx, k.UserID, k.SiteID)
	if err != nil || found {
		return false, last, err
	}
	err = g.Create(k).Error
	if errors.Is(err, gorm.ErrDuplicatedKey) {
		// Another instance generated first.
		last, _, err = db.lastGeneration(ctx, k.UserID, k.SiteID)
		return false, last, err
	}
	return err == nil, time.Time{}, dbErr(err, "api key")
}

func (db *DB) lastGeneration(ctx context.Context, userID, siteID uint64) (time.Time, bool, error) {
	var k model.APIKey
	err := db.g.WithContext(ctx).Select("generated_at").Where("user_id = ? AND site_id = ?", userID, siteID).Take(&k).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return time.Time{}, false, nil
	}
	return k.GeneratedAt, err == nil, dbErr(err, "api key")
}

// RevokeKey forgets the key's hash but keeps the slot and its generation time.
func (db *DB) RevokeKey(ctx context.Context, userID, siteID uint64) error {
	res := db.g.WithContext(ctx).Model(&model.APIKey{}).
		Where("user_id = ? AND site_id = ? AND key_hash IS NOT NULL", userID, siteID).
		Update("key_hash", nil)
	if res.Error != nil {
		return dbErr(res.Error, "api key")
	}
	if res.RowsAffected == 0 {
		return service.Errorf(service.ErrNotFound, "api key not found")
	}
	return nil
}

// Keys returns the live keys of a user, by site.
func (db *DB) Keys(ctx context.Context, userID uint64) ([]model.APIKey, error) {
	var ks []model.APIKey
	err := db.g.WithContext(ctx).Where("user_id = ? AND key_hash IS NOT NULL", userID).Order("site_id").Find(&ks).Error
	return ks, dbErr(err, "api key")
}

// KeyByHash finds the key with hash and its owner's state, in one query.
func (db *DB) KeyByHash(ctx context.Context, hash string) (service.KeyOwner, error) {
	var o service.KeyOwner
	res := db.r.WithContext(ctx).Raw(`SELECT k.id AS key_id, k.user_id, k.site_id, k.last_used_at, u.disabled AS user_disabled,
		u.id_format AS order_id_format, s.order_id_format AS site_order_id_format,
		u.discount, u.price_rev, u.price_count
		FROM api_keys k JOIN users u ON u.id = k.user_id LEFT JOIN sites s ON s.id = k.site_id
		WHERE k.key_hash = ?`, hash).Scan(&o)
	if res.Error != nil {
		return o, dbErr(res.Error, "api key")
	}
	if res.RowsAffected == 0 {
		return o, service.Errorf(service.ErrNotFound, "api key not found")
	}
	return o, nil
}

// TouchKey records that a key was used.
func (db *DB) TouchKey(ctx context.Context, keyID uint64, at time.Time) error {
	return dbErr(db.g.WithContext(ctx).Model(&model.APIKey{}).Where("id = ?", keyID).Update("last_used_at", at.UTC()).Error, "api key")
}
