package store

import (
	"context"
	"time"

	"smmapi/model"
	"smmapi/service"
)

// OldestWaiting returns when the oldest order still waiting to be forwarded
// (queued or being sent) was placed; ok is false when none waits.
func (db *DB) OldestWaiting(ctx context.Context) (placed time.Time, ok bool, err error) {
	var o model.Order
	res := db.g.WithContext(ctx).Select("created_at").
		Where("forward_state IN ?", []string{model.ForwardQueued, model.ForwardSending}).
		Order("id").Limit(1).Find(&o)
	if res.Error != nil || res.RowsAffected == 0 {
		return time.Time{}, false, dbErr(res.Error, "order")
	}
	return o.CreatedAt, true, nil
}

// ParkedOrders counts orders waiting for an admin (reconcile or error).
func (db *DB) ParkedOrders(ctx context.Context) (int64, error) {
	var n int64
	err := db.g.WithContext(ctx).Model(&model.Order{}).
		Where("forward_state IN ?", []string{model.ForwardReconcile, model.ForwardError}).Count(&n).Error
	return n, dbErr(err, "order")
}

var _ service.OrderStatsStore = (*DB)(nil)

// OrderStats aggregates the live orders in one GROUP BY (the status index
// bounds it to orders not final), then reads the placing time of each
// supplier's oldest one by primary key.
func (db *DB) OrderStats(ctx context.Context) (service.OrderStats, error) {
	var rows []struct {
		Status       string
		ForwardState string
		SupplierID   *uint64
		N            int64
		Oldest       *uint64
	}
	err := db.g.WithContext(ctx).Model(&model.Order{}).
		Select("status, forward_state, supplier_id, COUNT(*) AS n, MIN(CASE WHEN runs = 0 THEN id END) AS oldest").
		Where("status IN ?", service.OpenStatuses()).
		Group("status, forward_state, supplier_id").Scan(&rows).Error
	if err != nil {
		return service.OrderStats{}, dbErr(err, "order")
	}
	st := service.OrderStats{ByStatus: map[string]int64{}, ByForward: map[string]int64{}, Suppliers: map[uint64]service.SupplierOrders{}}
	oldest := map[uint64]uint64{} // supplier → ID of its oldest open order
	for _, r := range rows {
		st.ByStatus[r.Status] += r.N
		st.ByForward[r.ForwardState] += r.N
		if r.ForwardState != model.ForwardSent || r.SupplierID == nil {
			continue
		}
		so := st.Suppliers[*r.SupplierID]
		so.Open += r.N
		st.Suppliers[*r.SupplierID] = so
		if r.Oldest != nil && (oldest[*r.SupplierID] == 0 || *r.Oldest < oldest[*r.SupplierID]) {
			oldest[*r.SupplierID] = *r.Oldest
		}
	}
	if len(oldest) == 0 {
		return st, nil
	}
	ids := make([]uint64, 0, len(oldest))
	for _, id := range oldest {
		ids = append(ids, id)
	}
	var orders []model.Order
	if err := db.g.WithContext(ctx).Select("id, supplier_id, created_at").Where("id IN ?", ids).Find(&orders).Error; err != nil {
		return service.OrderStats{}, dbErr(err, "order")
	}
	for _, o := range orders {
		if o.SupplierID != nil {
			so := st.Suppliers[*o.SupplierID]
			so.Oldest = o.CreatedAt
			st.Suppliers[*o.SupplierID] = so
		}
	}
	return st, nil
}
