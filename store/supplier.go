package store

import (
	"context"

	"smmapi/model"
	"smmapi/service"
)

var _ service.SupplierStore = (*DB)(nil)

// CreateSupplier inserts a supplier.
func (db *DB) CreateSupplier(ctx context.Context, s *model.Supplier) error {
	return dbErr(db.g.WithContext(ctx).Create(s).Error, "supplier")
}

// Supplier returns one supplier.
func (db *DB) Supplier(ctx context.Context, id uint64) (model.Supplier, error) {
	var s model.Supplier
	return s, dbErr(db.g.WithContext(ctx).Take(&s, "id = ?", id).Error, "supplier")
}

// UpdateSupplier changes a supplier under its row lock.
func (db *DB) UpdateSupplier(ctx context.Context, id uint64, fn func(*model.Supplier) error) (model.Supplier, error) {
	s, err := updateLocked(ctx, db, id, fn, func(s *model.Supplier) { s.UpdatedAt = db.now() })
	return s, dbErr(err, "supplier")
}

// ListSuppliers returns suppliers with ID > after.
func (db *DB) ListSuppliers(ctx context.Context, after uint64, limit int) ([]model.Supplier, error) {
	var ss []model.Supplier
	err := db.g.WithContext(ctx).Where("id > ?", after).Order("id").Limit(limit).Find(&ss).Error
	return ss, dbErr(err, "supplier")
}
