package store

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"smmapi/model"
	"smmapi/service"
)

// A supplier's child reported to several instances at once is created
// once: the unique child_key refuses the others, which are no-ops, and the
// subscription counts it once.
func TestAddPostChildOnce(t *testing.T) {
	ctx := context.Background()
	for name, db := range mustDBs(t) {
		t.Run(name, func(t *testing.T) {
			u := model.User{Username: "subs"}
			if err := db.CreateUser(ctx, &u); err != nil {
				t.Fatal(err)
			}
			sub := model.Order{UserID: u.ID, SiteID: 1, ServiceID: 1, Status: model.StatusActive, Type: model.OrderSubscription,
				Quantity: 200, Rate: 25000}
			ev := func(o *model.Order) model.Event {
				return model.Event{Type: model.EventOrderCreated, UserID: o.UserID, Order: o.PublicID, Data: "{}"}
			}
			err := db.PlaceOrder(ctx, &sub, func() (string, error) { return "SUBSCRIPT1", nil }, ev)
			if err != nil {
				t.Fatal(err)
			}
			// Placement need not give the row ID back (group commit): ask.
			if sub.ID, err = db.OrderRowID(ctx, sub.PublicID); err != nil {
				t.Fatal(err)
			}
			var seq atomic.Int64
			newID := func() (string, error) { return fmt.Sprintf("CHILD%05d", seq.Add(1)), nil }
			key := fmt.Sprintf("%d:9001", sub.ID)
			var wg sync.WaitGroup
			var created atomic.Int64
			for range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, child, err := db.AddPost(ctx, sub.PublicID, newID,
						func(s *model.Order, _ model.Money, id string) (*model.Order, service.OrderChange, error) {
							s.PostsDone++
							s.Children += id
							return &model.Order{PublicID: id, UserID: s.UserID, SiteID: 1, ServiceID: 1, Quantity: 200,
									Status: model.StatusInProgress, Type: model.OrderDefault, ParentID: &s.ID, ChildKey: &key},
								service.OrderChange{Changed: true}, nil
						})
					if err != nil {
						t.Error(err)
					}
					if child != nil {
						created.Add(1)
					}
				}()
			}
			wg.Wait()
			var n int64
			db.g.WithContext(ctx).Model(&model.Order{}).Where("parent_id = ?", sub.ID).Count(&n)
			got, err := db.Order(ctx, sub.PublicID)
			if err != nil {
				t.Fatal(err)
			}
			if n != 1 || created.Load() != 1 || got.PostsDone != 1 {
				t.Errorf("%d children, %d created, posts_done %d; want 1, 1, 1", n, created.Load(), got.PostsDone)
			}
		})
	}
}
