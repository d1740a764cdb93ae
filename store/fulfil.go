package store

import (
	"context"
	"time"

	"smmapi/model"
	"smmapi/service"
)

var _ service.FulfilStore = (*DB)(nil)

// ClaimOrders leases due orders in one forward state. Candidates are read
// first, then claimed with one conditional UPDATE: on MySQL a racing
// instance blocks on the row locks and then finds the claim taken, on
// SQLite the single writer serialises; either way each order has one owner.
func (db *DB) ClaimOrders(ctx context.Context, state string, now time.Time, n int, token string, until time.Time) ([]model.Order, error) {
	g := db.g.WithContext(ctx)
	var ids []uint64
	err := g.Model(&model.Order{}).
		Where("forward_state = ? AND next_at <= ? AND (claim_until IS NULL OR claim_until < ?)", state, now, now).
		Order("next_at").Limit(n).Pluck("id", &ids).Error
	if err != nil || len(ids) == 0 {
		return nil, dbErr(err, "order")
	}
	err = g.Model(&model.Order{}).
		Where("id IN ? AND forward_state = ? AND (claim_until IS NULL OR claim_until < ?)", ids, state, now).
		Updates(map[string]any{"claim_token": token, "claim_until": until}).Error
	if err != nil {
		return nil, dbErr(err, "order")
	}
	var os []model.Order
	err = g.Where("claim_token = ?", token).Find(&os).Error
	return os, dbErr(err, "order")
}

// ExpireSending parks interrupted sends for reconciliation.
func (db *DB) ExpireSending(ctx context.Context, now time.Time) (int64, error) {
	res := db.g.WithContext(ctx).Model(&model.Order{}).
		Where("forward_state = ? AND claim_until < ?", model.ForwardSending, now).
		Updates(map[string]any{"forward_state": model.ForwardReconcile, "claim_token": "", "claim_until": nil,
			"last_error": "outcome unknown: the instance stopped while sending"})
	return res.RowsAffected, dbErr(res.Error, "order")
}

// ClaimTickets leases due forwarded refill tickets.
func (db *DB) ClaimTickets(ctx context.Context, now time.Time, n int, token string, until time.Time) ([]model.Ticket, error) {
	g := db.g.WithContext(ctx)
	var ids []uint64
	err := g.Model(&model.Ticket{}).
		Where("status = ? AND type = ? AND next_at <= ? AND (claim_until IS NULL OR claim_until < ?)", model.TicketForwarded, model.TicketRefill, now, now).
		Order("next_at").Limit(n).Pluck("id", &ids).Error
	if err != nil || len(ids) == 0 {
		return nil, dbErr(err, "ticket")
	}
	err = g.Model(&model.Ticket{}).
		Where("id IN ? AND status = ? AND (claim_until IS NULL OR claim_until < ?)", ids, model.TicketForwarded, now).
		Updates(map[string]any{"claim_token": token, "claim_until": until}).Error
	if err != nil {
		return nil, dbErr(err, "ticket")
	}
	var ts []model.Ticket
	err = g.Where("claim_token = ?", token).Find(&ts).Error
	return ts, dbErr(err, "ticket")
}

// CloseCancelTickets closes an order's forwarded cancel tickets once the
// supplier has decided: completed when it canceled (fully or partly),
// rejected when it completed the order anyway.
func (db *DB) CloseCancelTickets(ctx context.Context, orderID uint64, orderStatus string) error {
	to := model.TicketCompleted
	if orderStatus == model.StatusCompleted {
		to = model.TicketRejected
	}
	return dbErr(db.g.WithContext(ctx).Model(&model.Ticket{}).
		Where("order_id = ? AND type = ? AND status = ?", orderID, model.TicketCancel, model.TicketForwarded).
		Updates(map[string]any{"status": to, "open_key": nil, "updated_at": time.Now().UTC()}).Error, "ticket")
}
