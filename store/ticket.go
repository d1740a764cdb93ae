package store

import (
	"context"

	"gorm.io/gorm"

	"smmapi/model"
	"smmapi/service"
)

var _ service.TicketStore = (*DB)(nil)

// OpenTicket inserts a ticket; the unique open_key refuses a second live
// ticket of the same type for the same order, even between instances.
func (db *DB) OpenTicket(ctx context.Context, t *model.Ticket, event func(*model.Ticket) model.Event) error {
	return dbErr(db.transact(ctx, func(tx *gorm.DB) error {
		t.ID = 0 // a run again after a conflict inserts afresh (see PlaceOrder)
		if err := tx.Create(t).Error; err != nil {
			return err
		}
		return insertEvents(tx, event(t))
	}), "ticket")
}

// UserTickets returns the user's tickets of type typ among ids.
func (db *DB) UserTickets(ctx context.Context, userID uint64, typ model.TicketType, ids []uint64) ([]model.Ticket, error) {
	var ts []model.Ticket
	err := db.r.WithContext(ctx).Where("user_id = ? AND type = ? AND id IN ?", userID, typ, ids).Find(&ts).Error
	return ts, dbErr(err, "ticket")
}
