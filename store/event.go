package store

import (
	"context"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"smmapi/model"
	"smmapi/service"
)

var _ service.EventStore = (*DB)(nil)

// insertEvents writes events inside the transaction of their change
// (GORM's reflective Create cost the add path a measurable share of its
// CPU).
func insertEvents(tx *gorm.DB, es ...model.Event) error {
	rows := make([][]any, len(es))
	for i, e := range es {
		rows[i] = []any{e.Type, e.UserID, e.Order, e.Data, e.CreatedAt}
	}
	return insertRows(tx, "INSERT INTO events (type, user_id, order_ref, data, created_at)", rows)
}

// sequenceBatch bounds the events one sequencer round numbers.
const sequenceBatch = 1000

// SequenceEvents numbers the committed events that have no Seq yet, in ID
// order, after the last number given. Row IDs are taken at insert, not at
// commit, so a transaction may commit an event with a lower ID after one
// with a higher ID was read: numbering after commit, one sequencer at a
// time (the cursor row's lock), keeps the public IDs increasing in the
// order events become visible, and a feed reader following them never
// skips one. Only this round touches the cursor row: the write path never
// waits on it.
func (db *DB) SequenceEvents(ctx context.Context) (int, error) {
	if due, err := db.anyRow(ctx, "SELECT id FROM events WHERE seq IS NULL"); err != nil || !due {
		return 0, dbErr(err, "event")
	}
	var n int
	err := db.transact(ctx, func(tx *gorm.DB) error {
		n = 0
		var cur model.EventCursor
		if err := db.forUpdate(tx).Take(&cur, "id = ?", 1).Error; err != nil {
			return err
		}
		var ids []uint64
		if err := tx.Model(&model.Event{}).Where("seq IS NULL").Order("id").Limit(sequenceBatch).Pluck("id", &ids).Error; err != nil {
			return err
		}
		if len(ids) == 0 {
			return nil
		}
		// One statement: seq = CASE id WHEN … THEN … END.
		var sb strings.Builder
		sb.WriteString("UPDATE events SET seq = CASE id")
		for i, id := range ids {
			sb.WriteString(" WHEN ")
			sb.WriteString(strconv.FormatUint(id, 10))
			sb.WriteString(" THEN ")
			sb.WriteString(strconv.FormatUint(cur.Last+uint64(i)+1, 10))
		}
		sb.WriteString(" END WHERE id IN ?")
		if err := tx.Exec(sb.String(), ids).Error; err != nil {
			return err
		}
		n = len(ids)
		return tx.Model(&model.EventCursor{}).Where("id = ?", 1).Update("last", cur.Last+uint64(n)).Error
	})
	return n, dbErr(err, "event")
}

// ListEvents returns numbered events matching f with Seq > after, oldest
// first.
func (db *DB) ListEvents(ctx context.Context, f service.EventFilter, after uint64, limit int) ([]model.Event, error) {
	q := db.g.WithContext(ctx).Where("seq > ?", after)
	if f.UserID != 0 {
		q = q.Where("user_id = ?", f.UserID)
	}
	if f.Order != "" {
		q = q.Where("order_ref = ?", f.Order)
	}
	if f.Type != "" {
		q = q.Where("type = ?", f.Type)
	}
	var es []model.Event
	err := q.Order("seq").Limit(limit).Find(&es).Error
	return es, dbErr(err, "event")
}

// PruneEvents deletes up to limit numbered events created before t, oldest
// first, by primary key; never one a webhook delivery still has to send.
func (db *DB) PruneEvents(ctx context.Context, before time.Time, limit int) (int, error) {
	g := db.g.WithContext(ctx)
	var ids []uint64
	err := g.Model(&model.Event{}).Where(`created_at < ? AND seq IS NOT NULL AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d
		WHERE d.event_row = events.id AND d.status IN ?)`, before, openDeliveries).Order("id").Limit(limit).Pluck("id", &ids).Error
	if err != nil || len(ids) == 0 {
		return 0, dbErr(err, "event")
	}
	res := g.Where("id IN ?", ids).Delete(&model.Event{})
	return int(res.RowsAffected), dbErr(res.Error, "event")
}

// anyRow reports whether query finds a row, read outside any transaction.
// The rounds that lock a cursor row (numbering, webhook fan-out) run every
// fraction of a second on every instance; looking first keeps an idle
// round from taking that lock, and on SQLite the one writer connection,
// which add's committer waits on.
func (db *DB) anyRow(ctx context.Context, query string, args ...any) (bool, error) {
	var ids []uint64
	err := db.r.WithContext(ctx).Raw(query+" LIMIT 1", args...).Scan(&ids).Error
	return len(ids) > 0, err
}

// OrderRowID returns an order's internal ID.
func (db *DB) OrderRowID(ctx context.Context, publicID string) (uint64, error) {
	var ids []uint64
	err := db.g.WithContext(ctx).Model(&model.Order{}).Where("public_id = ?", publicID).Limit(1).Pluck("id", &ids).Error
	if err == nil && len(ids) == 0 {
		err = gorm.ErrRecordNotFound
	}
	if err != nil {
		return 0, dbErr(err, "order")
	}
	return ids[0], nil
}

// ensureEventCursor creates the sequencer's row and the webhook fan-out's
// once.
func ensureEventCursor(tx *gorm.DB) error {
	if err := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&model.EventCursor{ID: 1}).Error; err != nil {
		return err
	}
	return ensureFanoutCursor(tx)
}
