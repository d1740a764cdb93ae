package store

import (
	"context"
	"time"

	"gorm.io/gorm"

	"smmapi/model"
	"smmapi/service"
)

var _ service.CatalogSyncStore = (*DB)(nil)

// ClaimSuppliers leases enabled suppliers whose catalog read is due, through
// the one claim helper: one instance reads a supplier's catalog at a time.
func (db *DB) ClaimSuppliers(ctx context.Context, now time.Time, n int, token string, until time.Time) ([]model.Supplier, error) {
	ss, err := claim[model.Supplier](ctx, db, lease{"enabled = ?", []any{true}}, now, n, token, until)
	return ss, dbErr(err, "supplier")
}

// ReleaseSupplier ends a claim and records the round's outcome.
func (db *DB) ReleaseSupplier(ctx context.Context, id uint64, token string, next time.Time, catalogError string) error {
	err := db.g.WithContext(ctx).Model(&model.Supplier{}).Where("id = ? AND claim_token = ?", id, token).
		Updates(map[string]any{"claim_token": "", "claim_until": nil, "next_at": next, "catalog_error": catalogError}).Error
	return dbErr(err, "supplier")
}

// SyncedServices returns the synced services mapped to a supplier.
func (db *DB) SyncedServices(ctx context.Context, supplierID uint64) ([]model.Service, error) {
	var ss []model.Service
	err := db.g.WithContext(ctx).Where("supplier_id = ? AND sync = ? AND supplier_service <> ''", supplierID, true).
		Order("id").Find(&ss).Error
	return ss, dbErr(err, "service")
}

// ChangeService changes a service under its row lock and records fn's
// changes, in one transaction.
func (db *DB) ChangeService(ctx context.Context, id uint64, fn func(*model.Service) ([]model.CatalogChange, error)) (model.Service, error) {
	var s model.Service
	err := db.transact(ctx, func(tx *gorm.DB) error {
		if err := db.forUpdate(tx).Take(&s, "id = ?", id).Error; err != nil {
			return err
		}
		before := s
		changes, err := fn(&s)
		if err != nil || s == before && len(changes) == 0 {
			return err
		}
		s.UpdatedAt = db.now()
		if err := tx.Save(&s).Error; err != nil {
			return err
		}
		return db.recordChanges(tx, s.ID, changes, before.HeldRate != s.HeldRate)
	})
	return s, dbErr(err, "service")
}

// recordChanges inserts changes; a new rate change (or a held rate
// released) settles the service's older pending rate changes as rejected:
// they no longer say what the supplier asks.
func (db *DB) recordChanges(tx *gorm.DB, serviceID uint64, changes []model.CatalogChange, heldChanged bool) error {
	settle := heldChanged
	for i := range changes {
		changes[i].CreatedAt = db.now()
		settle = settle || changes[i].Field == "rate"
	}
	if settle {
		err := tx.Model(&model.CatalogChange{}).Where("service_id = ? AND field = ? AND status = ?", serviceID, "rate", model.ChangePending).
			Update("status", model.ChangeRejected).Error
		if err != nil {
			return err
		}
	}
	if len(changes) == 0 {
		return nil
	}
	return tx.Create(&changes).Error
}

// ServicesGone counts the services the sync disabled as gone at their
// supplier.
func (db *DB) ServicesGone(ctx context.Context) (int64, error) {
	var n int64
	err := db.r.WithContext(ctx).Model(&model.Service{}).Where("disabled_reason = ?", service.GoneAtSupplier).Count(&n).Error
	return n, dbErr(err, "service")
}

// ImportServices creates services imported from a supplier, each with its
// "import" change row, all or none; with sync the supplier's catalog read
// is due at once.
func (db *DB) ImportServices(ctx context.Context, supplierID uint64, ss []model.Service, sync bool) error {
	return dbErr(db.transact(ctx, func(tx *gorm.DB) error {
		for i := range ss {
			ss[i].ID = 0 // a retried transaction inserts again
			if err := tx.Create(&ss[i]).Error; err != nil {
				return err
			}
			c := []model.CatalogChange{{ServiceID: ss[i].ID, SupplierID: &supplierID, Field: "rate", New: ss[i].Rate.String(),
				Source: model.ChangeImport, Status: model.ChangeApplied, SupplierRate: ss[i].SupplierRate}}
			if err := db.recordChanges(tx, ss[i].ID, c, false); err != nil {
				return err
			}
		}
		if !sync {
			return nil
		}
		return tx.Model(&model.Supplier{}).Where("id = ?", supplierID).Update("next_at", db.now()).Error
	}), "service")
}

// ListCatalogChanges returns changes matching f with ID < before (0:
// newest), newest first.
func (db *DB) ListCatalogChanges(ctx context.Context, f service.CatalogChangeFilter, before uint64, limit int) ([]model.CatalogChange, error) {
	q := db.g.WithContext(ctx).Model(&model.CatalogChange{})
	if before > 0 {
		q = q.Where("id < ?", before)
	}
	if f.ServiceID != 0 {
		q = q.Where("service_id = ?", f.ServiceID)
	}
	if f.SupplierID != 0 {
		q = q.Where("supplier_id = ?", f.SupplierID)
	}
	if f.Status != "" {
		q = q.Where("status = ?", f.Status)
	}
	var cs []model.CatalogChange
	err := q.Order("id DESC").Limit(limit).Find(&cs).Error
	return cs, dbErr(err, "catalog change")
}

// DecideCatalogChange settles a pending change under the locks of the
// change and its service: fn changes the service (apply) or not (reject)
// and returns the status.
func (db *DB) DecideCatalogChange(ctx context.Context, id uint64, fn func(*model.CatalogChange, *model.Service) error) (model.CatalogChange, error) {
	var c model.CatalogChange
	err := db.transact(ctx, func(tx *gorm.DB) error {
		if err := db.forUpdate(tx).Take(&c, "id = ?", id).Error; err != nil {
			return err
		}
		var s model.Service
		if err := db.forUpdate(tx).Take(&s, "id = ?", c.ServiceID).Error; err != nil {
			return err
		}
		before := s
		if err := fn(&c, &s); err != nil {
			return err
		}
		if err := tx.Model(&c).Update("status", c.Status).Error; err != nil {
			return err
		}
		if s == before {
			return nil
		}
		s.UpdatedAt = db.now()
		return tx.Save(&s).Error
	})
	return c, dbErr(err, "catalog change")
}
