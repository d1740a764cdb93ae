package store

import (
	"context"
	"time"

	"smmapi/model"
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
