package store

import (
	"context"
	"slices"
	"time"

	"gorm.io/gorm"

	"smmapi/model"
	"smmapi/service"
)

var _ service.FulfilStore = (*DB)(nil)

// lease says which rows of a table are work to claim: those matching cond
// (with args) whose next_at is due and whose claim is free.
type lease struct {
	cond string
	args []any
}

// claim is the one lease helper for work that instances take from the
// database (forwarding, sync, forwarded tickets). Candidates are read
// without locks first, then claimed in one transaction, row by row in ID
// order, each with a conditional UPDATE on the primary key: on MySQL a
// racing instance blocks on that row's lock and then finds the claim
// taken, on SQLite the single writer serialises; either way each row has
// one owner until until.
//
// One UPDATE over "id IN (…) AND forward_state = ?" was measured to
// deadlock on MariaDB with three instances: InnoDB may walk the
// (forward_state, next_at) index and lock every entry of the state, while
// an order's ChangeOrder holds its row and moves its entry in that index.
// An UPDATE by primary key locks that one row and nothing else.
func claim[T any](ctx context.Context, db *DB, l lease, now time.Time, n int, token string, until time.Time) ([]T, error) {
	var row T
	var ids []uint64
	err := db.g.WithContext(ctx).Model(&row).Where(l.cond+" AND next_at <= ?"+freeClaim, append(append([]any{}, l.args...), now, now)...).
		Order("next_at").Limit(n).Pluck("id", &ids).Error
	if err != nil {
		return nil, err
	}
	return claimIDs[T](ctx, db, l, ids, now, token, until)
}

// freeClaim is the condition of a row nobody holds.
const freeClaim = " AND (claim_until IS NULL OR claim_until < ?)"

// claimIDs is claim's second half, for callers that read their candidates
// themselves (webhook deliveries, a few per endpoint): each row is claimed
// by primary key if it still matches l.cond and its claim is free.
func claimIDs[T any](ctx context.Context, db *DB, l lease, ids []uint64, now time.Time, token string, until time.Time) ([]T, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	var row T
	slices.Sort(ids) // every claimer locks in the same order: no cycle
	var claimed []uint64
	err := db.transact(ctx, func(tx *gorm.DB) error {
		claimed = claimed[:0]
		for _, id := range ids {
			res := tx.Model(&row).Where("id = ? AND "+l.cond+freeClaim, append(append([]any{id}, l.args...), now)...).
				Updates(map[string]any{"claim_token": token, "claim_until": until})
			if res.Error != nil {
				return res.Error
			}
			if res.RowsAffected == 1 {
				claimed = append(claimed, id)
			}
		}
		return nil
	})
	if err != nil || len(claimed) == 0 {
		return nil, err
	}
	var rows []T
	err = db.g.WithContext(ctx).Where("id IN ? AND claim_token = ?", claimed, token).Order("next_at").Find(&rows).Error
	return rows, err
}

// ClaimOrders leases due orders in one forward state.
func (db *DB) ClaimOrders(ctx context.Context, state string, now time.Time, n int, token string, until time.Time) ([]model.Order, error) {
	os, err := claim[model.Order](ctx, db, lease{cond: "forward_state = ?", args: []any{state}}, now, n, token, until)
	return os, dbErr(err, "order")
}

// ExpireSending parks interrupted sends for reconciliation. The expired
// sends are found without locks and parked one by one by primary key: a
// single UPDATE over forward_state = 'sending' locked every order in
// flight on MariaDB, on every forward round of every instance, and
// deadlocked with the sends recording their outcome.
func (db *DB) ExpireSending(ctx context.Context, now time.Time) (int64, error) {
	g := db.g.WithContext(ctx)
	var ids []uint64
	err := g.Model(&model.Order{}).
		Where("forward_state = ? AND claim_until < ?", model.ForwardSending, now).Pluck("id", &ids).Error
	if err != nil || len(ids) == 0 {
		return 0, dbErr(err, "order")
	}
	var n int64
	for _, id := range ids {
		res := g.Model(&model.Order{}).
			Where("id = ? AND forward_state = ? AND claim_until < ?", id, model.ForwardSending, now).
			Updates(map[string]any{"forward_state": model.ForwardReconcile, "claim_token": "", "claim_until": nil,
				"last_error": "outcome unknown: the instance stopped while sending"})
		if res.Error != nil {
			return n, dbErr(res.Error, "order")
		}
		n += res.RowsAffected
	}
	return n, nil
}

// ClaimTickets leases due forwarded refill tickets.
func (db *DB) ClaimTickets(ctx context.Context, now time.Time, n int, token string, until time.Time) ([]model.Ticket, error) {
	ts, err := claim[model.Ticket](ctx, db, lease{cond: "status = ? AND type = ?", args: []any{model.TicketForwarded, model.TicketRefill}},
		now, n, token, until)
	return ts, dbErr(err, "ticket")
}

// OrderTickets returns the IDs of an order's tickets of a type and status.
func (db *DB) OrderTickets(ctx context.Context, orderID uint64, typ model.TicketType, status model.TicketStatus) ([]uint64, error) {
	var ids []uint64
	err := db.g.WithContext(ctx).Model(&model.Ticket{}).
		Where("order_id = ? AND type = ? AND status = ?", orderID, typ, status).Order("id").Pluck("id", &ids).Error
	return ids, dbErr(err, "ticket")
}

// TicketOrder reads a ticket and its order, without locks: a look before a
// supplier call, which must not hold any.
func (db *DB) TicketOrder(ctx context.Context, id uint64) (model.Ticket, model.Order, error) {
	var t model.Ticket
	var o model.Order
	g := db.g.WithContext(ctx)
	if err := g.Take(&t, "id = ?", id).Error; err != nil {
		return t, o, dbErr(err, "ticket")
	}
	return t, o, dbErr(g.Take(&o, "id = ?", t.OrderID).Error, "order")
}
