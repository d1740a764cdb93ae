package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"smmapi/model"
	"smmapi/service"
)

var _ service.WebhookStore = (*DB)(nil)

// openDeliveries are the statuses of deliveries still to send.
var openDeliveries = []string{model.DeliveryPending, model.DeliveryFailed}

// CreateWebhook adds an account's endpoint (one per account: unique index).
func (db *DB) CreateWebhook(ctx context.Context, e *model.WebhookEndpoint) error {
	now := db.now()
	e.CreatedAt, e.UpdatedAt = now, now
	return dbErr(db.g.WithContext(ctx).Create(e).Error, "webhook")
}

// Webhook returns an account's endpoint.
func (db *DB) Webhook(ctx context.Context, userID uint64) (model.WebhookEndpoint, error) {
	var e model.WebhookEndpoint
	return e, dbErr(db.g.WithContext(ctx).Take(&e, "user_id = ?", userID).Error, "webhook")
}

// UpdateWebhook changes an account's endpoint under its row lock.
func (db *DB) UpdateWebhook(ctx context.Context, userID uint64, fn func(*model.WebhookEndpoint) error) (model.WebhookEndpoint, error) {
	var e model.WebhookEndpoint
	err := db.transact(ctx, func(tx *gorm.DB) error {
		if err := db.forUpdate(tx).Take(&e, "user_id = ?", userID).Error; err != nil {
			return err
		}
		if err := fn(&e); err != nil {
			return err
		}
		e.UpdatedAt = db.now()
		return tx.Save(&e).Error
	})
	return e, dbErr(err, "webhook")
}

// DeleteWebhook removes the endpoint, then its open deliveries in batches
// by primary key (a backlog may hold many; finished ones stay in the log).
// Claims stop at once: only enabled endpoints' deliveries are claimed.
func (db *DB) DeleteWebhook(ctx context.Context, userID uint64) error {
	var e model.WebhookEndpoint
	g := db.g.WithContext(ctx)
	if err := g.Take(&e, "user_id = ?", userID).Error; err != nil {
		return dbErr(err, "webhook")
	}
	if err := g.Delete(&model.WebhookEndpoint{}, e.ID).Error; err != nil {
		return dbErr(err, "webhook")
	}
	for {
		var ids []uint64
		err := g.Model(&model.WebhookDelivery{}).Where("endpoint_id = ? AND status IN ?", e.ID, openDeliveries).
			Limit(1000).Pluck("id", &ids).Error
		if err != nil || len(ids) == 0 {
			return dbErr(err, "delivery")
		}
		if err := g.Where("id IN ?", ids).Delete(&model.WebhookDelivery{}).Error; err != nil {
			return dbErr(err, "delivery")
		}
	}
}

// ListDeliveries returns an account's deliveries, newest first.
func (db *DB) ListDeliveries(ctx context.Context, userID uint64, status string, before uint64, limit int) ([]model.WebhookDelivery, error) {
	q := db.g.WithContext(ctx).Where("user_id = ?", userID)
	if status != "" {
		q = q.Where("status = ?", status)
	}
	if before > 0 {
		q = q.Where("id < ?", before)
	}
	var ds []model.WebhookDelivery
	err := q.Order("id DESC").Limit(limit).Find(&ds).Error
	return ds, dbErr(err, "delivery")
}

// Redeliver makes a delivery pending and due now. Its claim is cleared: a
// send under way may still finish, and the delivery goes out once more.
func (db *DB) Redeliver(ctx context.Context, id uint64, now, expires time.Time) (model.WebhookDelivery, error) {
	var d model.WebhookDelivery
	err := db.transact(ctx, func(tx *gorm.DB) error {
		if err := db.forUpdate(tx).Take(&d, "id = ?", id).Error; err != nil {
			return err
		}
		var e model.WebhookEndpoint
		if err := tx.Take(&e, "id = ?", d.EndpointID).Error; err != nil {
			if errors.Is(err, gorm.ErrRecordNotFound) {
				return service.Errorf(service.ErrConflict, "the delivery's webhook endpoint was deleted")
			}
			return err
		}
		if !e.Enabled {
			return service.Errorf(service.ErrConflict, "the webhook endpoint is disabled; enable it first")
		}
		d.Status, d.NextAt, d.ExpiresAt, d.ClaimToken, d.ClaimUntil, d.UpdatedAt =
			model.DeliveryPending, &now, expires, "", nil, now
		return tx.Save(&d).Error
	})
	return d, dbErr(err, "delivery")
}

// deliveryInsertBatch keeps one INSERT's placeholders well under both
// drivers' limits.
const deliveryInsertBatch = 500

// FanOutEvents turns numbered events after the fan-out cursor into
// deliveries. The cursor row's lock makes one fan-out run at a time across
// instances, and the deliveries and the cursor's move commit together: each
// event becomes one delivery per matching endpoint, exactly once. An
// endpoint gets the events created since it was. A delivery that is the
// oldest open one of its order is leased by hot as it is written, within
// hot's room: the caller sends it at once, without polling for it. It
// returns every delivery it created (the leased ones carry hot's token).
func (db *DB) FanOutEvents(ctx context.Context, now time.Time, maxAge time.Duration, batch int, hot service.HotClaim) (int, []model.WebhookDelivery, error) {
	due, err := db.anyRow(ctx, "SELECT e.id FROM events e, event_cursors c WHERE c.id = ? AND e.seq > c.last",
		model.WebhookFanoutCursor)
	if err != nil || !due {
		return 0, nil, dbErr(err, "event")
	}
	var n int
	var rows []model.WebhookDelivery
	err = db.transact(ctx, func(tx *gorm.DB) error {
		n, rows = 0, nil
		var cur model.EventCursor
		if err := db.forUpdate(tx).Take(&cur, "id = ?", model.WebhookFanoutCursor).Error; err != nil {
			return err
		}
		var es []model.Event
		if err := tx.Select("id", "seq", "type", "user_id", "order_ref", "created_at").Where("seq > ?", cur.Last).
			Order("seq").Limit(batch).Find(&es).Error; err != nil {
			return err
		}
		if len(es) == 0 {
			return nil
		}
		n = len(es)
		users := make([]uint64, 0, len(es))
		for _, e := range es {
			users = append(users, e.UserID)
		}
		var eps []model.WebhookEndpoint
		if err := tx.Select("id", "user_id", "events", "created_at").Where("user_id IN ? AND enabled = ?", users, true).
			Find(&eps).Error; err != nil {
			return err
		}
		byUser := make(map[uint64]model.WebhookEndpoint, len(eps))
		for _, ep := range eps {
			byUser[ep.UserID] = ep
		}
		for _, e := range es {
			ep, ok := byUser[e.UserID]
			if !ok || e.CreatedAt.Before(ep.CreatedAt) || !service.WebhookWants(ep.Events, e.Type) {
				continue
			}
			rows = append(rows, model.WebhookDelivery{EndpointID: ep.ID, UserID: e.UserID, EventRow: e.ID, EventSeq: *e.Seq,
				Type: e.Type, OrderRef: e.Order, Status: model.DeliveryPending, NextAt: &now, ExpiresAt: e.CreatedAt.Add(maxAge),
				EventAt: e.CreatedAt, CreatedAt: now, UpdatedAt: now})
		}
		if err := leaseNew(tx, rows, hot); err != nil {
			return err
		}
		for k := 0; k < len(rows); k += deliveryInsertBatch {
			if err := insertDeliveries(tx, rows[k:min(k+deliveryInsertBatch, len(rows))]); err != nil {
				return err
			}
		}
		return tx.Model(&model.EventCursor{}).Where("id = ?", model.WebhookFanoutCursor).Update("last", *es[len(es)-1].Seq).Error
	})
	if err != nil {
		return 0, nil, dbErr(err, "delivery")
	}
	if len(rows) == 0 {
		return n, nil, nil
	}
	evRows := make([]uint64, len(rows))
	for i, r := range rows {
		evRows[i] = r.EventRow
	}
	// Read back for their IDs (the event_row index; one endpoint per
	// account, so an event row names one delivery).
	var created []model.WebhookDelivery
	for k := 0; k < len(evRows); k += deliveryInsertBatch {
		var part []model.WebhookDelivery
		if err := db.g.WithContext(ctx).Where("event_row IN ?", evRows[k:min(k+deliveryInsertBatch, len(evRows))]).
			Order("id").Find(&part).Error; err != nil {
			// Committed: the leases lapse and the poll sends them.
			return n, nil, dbErr(err, "delivery")
		}
		created = append(created, part...)
	}
	return n, created, nil
}

// leaseNew marks the new deliveries that hot may send at once: the first of
// their order in rows, with no open delivery of the same order already
// stored, within hot's room per endpoint.
func leaseNew(tx *gorm.DB, rows []model.WebhookDelivery, hot service.HotClaim) error {
	if len(rows) == 0 {
		return nil
	}
	type chain struct {
		ep    uint64
		order string
	}
	first := map[chain]int{} // chain → its first row
	used := map[uint64]int{}
	var cand []int
	for i, r := range rows {
		c := chain{r.EndpointID, r.OrderRef}
		if _, ok := first[c]; ok {
			continue
		}
		first[c] = i
		if used[r.EndpointID] < hot.Room(r.EndpointID) {
			used[r.EndpointID]++
			cand = append(cand, i)
		}
	}
	if len(cand) == 0 {
		return nil
	}
	// Chains with an open delivery stored: one look-up of the chain index
	// by its leading columns, in bounded OR-lists.
	open := map[chain]bool{}
	for k := 0; k < len(cand); k += deliveryInsertBatch {
		part := cand[k:min(k+deliveryInsertBatch, len(cand))]
		var sb strings.Builder
		args := make([]any, 0, 2*len(part))
		for j, i := range part {
			if j > 0 {
				sb.WriteString(" OR ")
			}
			sb.WriteString("(endpoint_id = ? AND order_ref = ?)")
			args = append(args, rows[i].EndpointID, rows[i].OrderRef)
		}
		var found []model.WebhookDelivery
		if err := tx.Select("endpoint_id", "order_ref").Where("("+sb.String()+") AND next_at IS NOT NULL", args...).
			Find(&found).Error; err != nil {
			return err
		}
		for _, f := range found {
			open[chain{f.EndpointID, f.OrderRef}] = true
		}
	}
	until := hot.Until
	for _, i := range cand {
		if !open[chain{rows[i].EndpointID, rows[i].OrderRef}] {
			rows[i].ClaimToken, rows[i].ClaimUntil = hot.Token, &until
		}
	}
	return nil
}

// insertDeliveries writes deliveries in one plain multi-row INSERT.
func insertDeliveries(tx *gorm.DB, ds []model.WebhookDelivery) error {
	var sb strings.Builder
	sb.WriteString(`INSERT INTO webhook_deliveries (endpoint_id, user_id, event_row, event_seq, type, order_ref, status,
		next_at, expires_at, event_at, claim_token, claim_until, created_at, updated_at) VALUES `)
	args := make([]any, 0, 14*len(ds))
	for i, d := range ds {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString("(?,?,?,?,?,?,?,?,?,?,?,?,?,?)")
		args = append(args, d.EndpointID, d.UserID, d.EventRow, d.EventSeq, d.Type, d.OrderRef, d.Status,
			d.NextAt, d.ExpiresAt, d.EventAt, d.ClaimToken, d.ClaimUntil, d.CreatedAt, d.UpdatedAt)
	}
	return tx.Exec(sb.String(), args...).Error
}

// DueEndpoints returns the enabled endpoints not in skip with a due,
// unclaimed delivery: one probe of the (endpoint_id, next_at) index each.
func (db *DB) DueEndpoints(ctx context.Context, now time.Time, skip []uint64) ([]uint64, error) {
	q := db.g.WithContext(ctx).Model(&model.WebhookEndpoint{}).Where(`enabled = ? AND EXISTS (SELECT 1 FROM webhook_deliveries d
		WHERE d.endpoint_id = webhook_endpoints.id AND d.next_at <= ? AND (d.claim_until IS NULL OR d.claim_until < ?))`, true, now, now)
	if len(skip) > 0 {
		q = q.Where("id NOT IN ?", skip)
	}
	var ids []uint64
	err := q.Pluck("id", &ids).Error
	return ids, dbErr(err, "webhook")
}

// ClaimDeliveries leases, for each endpoint of want, up to its count of due
// deliveries. The candidates are read in one statement, one bounded range
// of the (endpoint_id, next_at) index per endpoint (it holds open
// deliveries only): a large backlog of one endpoint is never read whole.
// Only the oldest open delivery of an order is a candidate (chainFirst):
// an older one leaves the open statuses for good (sent or dead), so that
// can only turn true while a delivery waits, and the lease needs no second
// look.
func (db *DB) ClaimDeliveries(ctx context.Context, want map[uint64]int, now time.Time, token string, until time.Time) ([]model.WebhookDelivery, error) {
	var sb strings.Builder
	args := make([]any, 0, 4*len(want))
	for ep, n := range want {
		if n <= 0 {
			continue
		}
		if sb.Len() > 0 {
			sb.WriteString(" UNION ALL ")
		}
		fmt.Fprintf(&sb, `SELECT id FROM (SELECT d.id FROM webhook_deliveries d WHERE d.endpoint_id = ? AND d.next_at <= ?
			AND (d.claim_until IS NULL OR d.claim_until < ?)%s ORDER BY d.next_at LIMIT %d) AS c%d`, chainFirst, n, ep)
		args = append(args, ep, now, now)
	}
	if len(args) == 0 {
		return nil, nil
	}
	g := db.g.WithContext(ctx)
	var ids []uint64
	if err := g.Raw(sb.String(), args...).Scan(&ids).Error; err != nil {
		return nil, dbErr(err, "delivery")
	}
	ds, err := leaseIDs(g, ids, now, token, until)
	return ds, dbErr(err, "delivery")
}

// chainFirst is the condition that a delivery d is the oldest open one of
// its order at its endpoint (the chain index answers it).
const chainFirst = ` AND NOT EXISTS (SELECT 1 FROM webhook_deliveries o WHERE o.endpoint_id = d.endpoint_id
	AND o.order_ref = d.order_ref AND o.event_seq < d.event_seq AND o.next_at IS NOT NULL)`

// leaseIDs leases the deliveries of ids still open and free in one UPDATE
// by primary key, and reads back what it took by its token.
func leaseIDs(g *gorm.DB, ids []uint64, now time.Time, token string, until time.Time) ([]model.WebhookDelivery, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	slices.Sort(ids)
	res := g.Model(&model.WebhookDelivery{}).Where("id IN ? AND status IN ?"+freeClaim, ids, openDeliveries, now).
		Updates(map[string]any{"claim_token": token, "claim_until": until})
	if res.Error != nil || res.RowsAffected == 0 {
		return nil, res.Error
	}
	var ds []model.WebhookDelivery
	err := g.Where("id IN ? AND claim_token = ?", ids, token).Order("next_at").Find(&ds).Error
	return ds, err
}

// LeaseListed leases those of ids that are due, free and the oldest open
// delivery of their order (the caller's queue of what fan-out wrote).
func (db *DB) LeaseListed(ctx context.Context, ids []uint64, now time.Time, token string, until time.Time) ([]model.WebhookDelivery, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	g := db.g.WithContext(ctx)
	var ok []uint64
	err := g.Raw("SELECT id FROM webhook_deliveries d WHERE id IN ? AND next_at <= ? AND (claim_until IS NULL OR claim_until < ?)"+chainFirst,
		ids, now, now).Scan(&ok).Error
	if err != nil {
		return nil, dbErr(err, "delivery")
	}
	ds, err := leaseIDs(g, ok, now, token, until)
	return ds, dbErr(err, "delivery")
}

// DeliveryWork reads the events and endpoints claimed deliveries need.
func (db *DB) DeliveryWork(ctx context.Context, ds []model.WebhookDelivery) (map[uint64]model.Event, map[uint64]model.WebhookEndpoint, error) {
	evIDs, epIDs := make([]uint64, 0, len(ds)), make([]uint64, 0, len(ds))
	for _, d := range ds {
		evIDs, epIDs = append(evIDs, d.EventRow), append(epIDs, d.EndpointID)
	}
	g := db.g.WithContext(ctx)
	var es []model.Event
	if err := g.Where("id IN ?", evIDs).Find(&es).Error; err != nil {
		return nil, nil, dbErr(err, "event")
	}
	var eps []model.WebhookEndpoint
	if err := g.Where("id IN ?", epIDs).Find(&eps).Error; err != nil {
		return nil, nil, dbErr(err, "webhook")
	}
	events := make(map[uint64]model.Event, len(es))
	for _, e := range es {
		events[e.ID] = e
	}
	endpoints := make(map[uint64]model.WebhookEndpoint, len(eps))
	for _, e := range eps {
		endpoints[e.ID] = e
	}
	return events, endpoints, nil
}

// FinishDeliveries records attempts in one transaction, each only under
// the claim it was made with (a lapsed claim's new owner records instead),
// and counts each endpoint's consecutive failures in the order of ds: a
// success resets them, reaching maxFailures disables the endpoint with
// reason(its last failed delivery). An order whose delivery was sent (or
// died) has its next event leased by next, when due. It returns the
// endpoints it disabled and the leased deliveries.
func (db *DB) FinishDeliveries(ctx context.Context, ds []model.WebhookDelivery, maxFailures int64,
	reason func(model.WebhookDelivery) string, next service.HotClaim) ([]uint64, []model.WebhookDelivery, error) {
	ids := make([]uint64, 0, len(ds))
	for _, d := range ds {
		ids = append(ids, d.ID)
	}
	slices.Sort(ids)
	var disabled []uint64
	var leased []model.WebhookDelivery
	err := db.transact(ctx, func(tx *gorm.DB) error {
		disabled, leased = disabled[:0], nil
		var held []model.WebhookDelivery
		if err := db.forUpdate(tx).Select("id", "claim_token").Where("id IN ?", ids).Order("id").Find(&held).Error; err != nil {
			return err
		}
		token := make(map[uint64]string, len(held))
		for _, h := range held {
			token[h.ID] = h.ClaimToken
		}
		mine := make([]model.WebhookDelivery, 0, len(ds))
		for _, d := range ds {
			if t, ok := token[d.ID]; ok && t == d.ClaimToken && t != "" {
				mine = append(mine, d)
			}
		}
		if len(mine) == 0 {
			return nil
		}
		now := db.now()
		if err := finishRows(tx, mine, now); err != nil {
			return err
		}
		if err := countFailures(tx, mine, maxFailures, reason, now, &disabled); err != nil {
			return err
		}
		// The next event of each order whose delivery left the chain (sent
		// or dead), when due, in its endpoint's freed slots.
		var sb strings.Builder
		var args []any
		used := map[uint64]int{}
		for _, d := range mine {
			if d.NextAt != nil || slices.Contains(disabled, d.EndpointID) || used[d.EndpointID] >= next.Room(d.EndpointID) {
				continue
			}
			used[d.EndpointID]++
			if sb.Len() > 0 {
				sb.WriteString(" OR ")
			}
			sb.WriteString("(d.endpoint_id = ? AND d.order_ref = ?)")
			args = append(args, d.EndpointID, d.OrderRef)
		}
		if len(args) == 0 {
			return nil
		}
		var ids []uint64
		err := tx.Raw("SELECT d.id FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id AND e.enabled = ? WHERE ("+
			sb.String()+") AND d.next_at <= ? AND (d.claim_until IS NULL OR d.claim_until < ?)"+chainFirst,
			append(append([]any{true}, args...), now, now)...).Scan(&ids).Error
		if err != nil {
			return err
		}
		leased, err = leaseIDs(tx, ids, now, next.Token, next.Until)
		return err
	})
	if err != nil {
		return nil, nil, dbErr(err, "delivery")
	}
	return disabled, leased, nil
}

// finishRows writes each delivery's outcome in one UPDATE, a CASE per
// column.
func finishRows(tx *gorm.DB, ds []model.WebhookDelivery, now time.Time) error {
	cols := []struct {
		name string
		val  func(model.WebhookDelivery) any
	}{
		{"status", func(d model.WebhookDelivery) any { return d.Status }},
		{"next_at", func(d model.WebhookDelivery) any { return d.NextAt }},
		{"last_status_code", func(d model.WebhookDelivery) any { return d.LastStatusCode }},
		{"last_error", func(d model.WebhookDelivery) any { return d.LastError }},
		{"last_response", func(d model.WebhookDelivery) any { return d.LastResponse }},
		{"latency_ms", func(d model.WebhookDelivery) any { return d.LatencyMS }},
		{"delivered_at", func(d model.WebhookDelivery) any { return d.DeliveredAt }},
	}
	var sb strings.Builder
	args := make([]any, 0, len(cols)*2*len(ds)+2)
	sb.WriteString("UPDATE webhook_deliveries SET attempts = attempts + 1, claim_token = '', claim_until = NULL, updated_at = ?")
	args = append(args, now)
	for _, c := range cols {
		sb.WriteString(", " + c.name + " = CASE id")
		for _, d := range ds {
			sb.WriteString(" WHEN ? THEN ?")
			args = append(args, d.ID, c.val(d))
		}
		sb.WriteString(" END")
	}
	ids := make([]uint64, len(ds))
	for i, d := range ds {
		ids[i] = d.ID
	}
	sb.WriteString(" WHERE id IN ?")
	return tx.Exec(sb.String(), append(args, ids)...).Error
}

// countFailures moves the endpoints' consecutive failure counts by the
// outcomes of ds (in their order) and disables those that reach max.
func countFailures(tx *gorm.DB, ds []model.WebhookDelivery, max int64, reason func(model.WebhookDelivery) string,
	now time.Time, disabled *[]uint64) error {
	type tally struct {
		reset bool  // a success: the count restarts
		n     int64 // failures after the last success (or all of them)
		last  model.WebhookDelivery
	}
	by := map[uint64]*tally{}
	var order []uint64
	for _, d := range ds {
		t := by[d.EndpointID]
		if t == nil {
			t = &tally{}
			by[d.EndpointID] = t
			order = append(order, d.EndpointID)
		}
		if d.Status == model.DeliverySucceeded {
			t.reset, t.n = true, 0
		} else {
			t.n++
			t.last = d
		}
	}
	slices.Sort(order)
	var zero, set, add, failed []uint64
	var setCase, addCase strings.Builder
	var setArgs, addArgs []any
	for _, ep := range order {
		t := by[ep]
		switch {
		case t.reset && t.n == 0:
			zero = append(zero, ep)
		case t.reset:
			set = append(set, ep)
			setCase.WriteString(" WHEN ? THEN ?")
			setArgs = append(setArgs, ep, t.n)
		default:
			add = append(add, ep)
			addCase.WriteString(" WHEN ? THEN ?")
			addArgs = append(addArgs, ep, t.n)
		}
		if t.n > 0 {
			failed = append(failed, ep)
		}
	}
	if len(zero) > 0 {
		if err := tx.Model(&model.WebhookEndpoint{}).Where("id IN ? AND failures <> 0", zero).Update("failures", 0).Error; err != nil {
			return err
		}
	}
	if len(set) > 0 {
		if err := tx.Exec("UPDATE webhook_endpoints SET failures = CASE id"+setCase.String()+" END WHERE id IN ?",
			append(setArgs, set)...).Error; err != nil {
			return err
		}
	}
	if len(add) > 0 {
		if err := tx.Exec("UPDATE webhook_endpoints SET failures = failures + CASE id"+addCase.String()+" END WHERE id IN ?",
			append(addArgs, add)...).Error; err != nil {
			return err
		}
	}
	if len(failed) == 0 {
		return nil
	}
	var over []uint64
	if err := tx.Model(&model.WebhookEndpoint{}).Where("id IN ? AND enabled = ? AND failures >= ?", failed, true, max).
		Pluck("id", &over).Error; err != nil {
		return err
	}
	for _, ep := range over {
		res := tx.Model(&model.WebhookEndpoint{}).Where("id = ? AND enabled = ?", ep, true).
			Updates(map[string]any{"enabled": false, "disabled_reason": reason(by[ep].last), "updated_at": now})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 1 {
			*disabled = append(*disabled, ep)
		}
	}
	return nil
}

// ExpireDeliveries marks open, unclaimed deliveries of disabled endpoints
// past their expiry dead, one by one by primary key (see ExpireSending for
// why).
func (db *DB) ExpireDeliveries(ctx context.Context, now time.Time, limit int) (int, error) {
	g := db.g.WithContext(ctx)
	free := "next_at IS NOT NULL AND expires_at < ? AND (claim_until IS NULL OR claim_until < ?)"
	var ids []uint64
	err := g.Model(&model.WebhookDelivery{}).Where("endpoint_id IN (SELECT id FROM webhook_endpoints WHERE enabled = ?) AND "+free,
		false, now, now).Limit(limit).Pluck("id", &ids).Error
	if err != nil {
		return 0, dbErr(err, "delivery")
	}
	n := 0
	for _, id := range ids {
		res := g.Model(&model.WebhookDelivery{}).Where("id = ? AND "+free, id, now, now).
			Updates(map[string]any{"status": model.DeliveryDead, "next_at": nil,
				"last_error": "expired: not delivered within webhooks.max_age", "updated_at": now})
		if res.Error != nil {
			return n, dbErr(res.Error, "delivery")
		}
		n += int(res.RowsAffected)
	}
	return n, nil
}

// PruneDeliveries deletes finished deliveries created before t.
func (db *DB) PruneDeliveries(ctx context.Context, before time.Time, limit int) (int, error) {
	g := db.g.WithContext(ctx)
	var ids []uint64
	err := g.Model(&model.WebhookDelivery{}).Where("status IN ? AND created_at < ?",
		[]string{model.DeliverySucceeded, model.DeliveryDead}, before).Order("id").Limit(limit).Pluck("id", &ids).Error
	if err != nil || len(ids) == 0 {
		return 0, dbErr(err, "delivery")
	}
	res := g.Where("id IN ?", ids).Delete(&model.WebhookDelivery{})
	return int(res.RowsAffected), dbErr(res.Error, "delivery")
}

// WebhookBacklog counts open deliveries and finds the oldest one's event
// time, one status at a time: each is a range of the (status, event_at)
// index.
func (db *DB) WebhookBacklog(ctx context.Context) (int64, time.Time, bool, error) {
	g := db.g.WithContext(ctx)
	var total int64
	var oldest time.Time
	for _, st := range openDeliveries {
		var n int64
		var at []time.Time
		if err := g.Model(&model.WebhookDelivery{}).Where("status = ?", st).Count(&n).Error; err != nil {
			return 0, oldest, false, dbErr(err, "delivery")
		}
		if n == 0 {
			continue
		}
		total += n
		if err := g.Model(&model.WebhookDelivery{}).Where("status = ?", st).Order("event_at").Limit(1).Pluck("event_at", &at).Error; err != nil {
			return 0, oldest, false, dbErr(err, "delivery")
		}
		if len(at) > 0 && (oldest.IsZero() || at[0].Before(oldest)) {
			oldest = at[0]
		}
	}
	return total, oldest, !oldest.IsZero(), nil
}

// ensureFanoutCursor creates the fan-out's cursor row once, at the events
// already numbered: a database that had events before webhooks existed
// does not fan out its history.
func ensureFanoutCursor(tx *gorm.DB) error {
	var last uint64
	if err := tx.Model(&model.Event{}).Select("COALESCE(MAX(seq), 0)").Scan(&last).Error; err != nil {
		return err
	}
	return tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&model.EventCursor{ID: model.WebhookFanoutCursor, Last: last}).Error
}
