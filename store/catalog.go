package store

import (
	"context"

	"gorm.io/gorm"

	"smmapi/model"
	"smmapi/service"
)

var _ service.CatalogStore = (*DB)(nil)

// CreateService inserts a catalog entry.
func (db *DB) CreateService(ctx context.Context, s *model.Service) error {
	return dbErr(db.g.WithContext(ctx).Create(s).Error, "service")
}

// Service returns one catalog entry.
func (db *DB) Service(ctx context.Context, id uint64) (model.Service, error) {
	var s model.Service
	return s, dbErr(db.g.WithContext(ctx).Take(&s, "id = ?", id).Error, "service")
}

// UpdateService reads, changes and saves a service under a row lock, so two
// concurrent patches of different fields both survive.
func (db *DB) UpdateService(ctx context.Context, id uint64, fn func(*model.Service) error) (model.Service, error) {
	s, err := updateLocked(ctx, db, id, fn, func(s *model.Service) { s.UpdatedAt = db.now() })
	return s, dbErr(err, "service")
}

// updateLocked loads row id of T under a row lock, applies fn, stamps it and
// saves it, in one transaction.
func updateLocked[T any](ctx context.Context, db *DB, id uint64, fn func(*T) error, stamp func(*T)) (T, error) {
	var row T
	err := db.transact(ctx, func(tx *gorm.DB) error {
		if err := db.forUpdate(tx).Take(&row, "id = ?", id).Error; err != nil {
			return err
		}
		if err := fn(&row); err != nil {
			return err
		}
		stamp(&row)
		return tx.Save(&row).Error
	})
	return row, err
}

// ListServices returns services with ID > after.
func (db *DB) ListServices(ctx context.Context, after uint64, limit int) ([]model.Service, error) {
	var ss []model.Service
	err := db.g.WithContext(ctx).Where("id > ?", after).Order("id").Limit(limit).Find(&ss).Error
	return ss, dbErr(err, "service")
}

// EnabledServices returns the public catalog by category then ID.
func (db *DB) EnabledServices(ctx context.Context) ([]model.Service, error) {
	var ss []model.Service
	err := db.r.WithContext(ctx).Where("enabled = ?", true).Order("category, id").Find(&ss).Error
	return ss, dbErr(err, "service")
}

// ServicesByID returns the services with the given IDs.
func (db *DB) ServicesByID(ctx context.Context, ids []uint64) (map[uint64]model.Service, error) {
	var ss []model.Service
	if err := db.g.WithContext(ctx).Where("id IN ?", ids).Find(&ss).Error; err != nil {
		return nil, dbErr(err, "service")
	}
	out := make(map[uint64]model.Service, len(ss))
	for _, s := range ss {
		out[s.ID] = s
	}
	return out, nil
}
