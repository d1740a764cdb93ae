package store

import (
	"context"
	"slices"
	"testing"
	"time"

	"smmapi/model"
	"smmapi/service"
)

// The two fast paths of webhook delivery lease only what order per order
// allows: fan-out leases the first new delivery of each order with none
// open, within the endpoint's room; recording a success leases the
// endpoint's next due deliveries, the next event of the same order among
// them; an outcome under a lapsed claim is not recorded.
func TestWebhookLeases(t *testing.T) {
	ctx := context.Background()
	for name, db := range mustDBs(t) {
		t.Run(name, func(t *testing.T) {
			u, ep := hooked(t, db, "hooked")
			seq := uint64(0)
			addEvents := func(orders ...string) {
				t.Helper()
				var last uint64
				if err := db.g.WithContext(ctx).Model(&model.Event{}).Select("COALESCE(MAX(seq), 0)").Scan(&last).Error; err != nil {
					t.Fatal(err)
				}
				seq = max(seq, last)
				for _, o := range orders {
					seq++
					s := seq
					e := model.Event{Seq: &s, Type: "order.updated", UserID: u.ID, Order: o, Data: "{}",
						CreatedAt: time.Now().Add(time.Second)}
					if err := db.g.WithContext(ctx).Create(&e).Error; err != nil {
						t.Fatal(err)
					}
				}
			}
			tokens := 0
			room := func(n int) service.HotClaim {
				tokens++
				return service.HotClaim{Token: "tok" + string(rune('a'+tokens)), Until: time.Now().Add(time.Minute),
					Room: func(uint64) int { return n }}
			}
			orders := func(ds []model.WebhookDelivery) []string {
				var out []string
				for _, d := range ds {
					if d.ClaimToken != "" {
						out = append(out, d.OrderRef)
					}
				}
				slices.Sort(out)
				return out
			}

			// A, A, B, C with room 2: A's first and B's; A's second waits
			// for the first, C for room.
			addEvents("A", "A", "B", "C")
			n, created, err := db.FanOutEvents(ctx, time.Now(), time.Hour, 1000, room(2))
			if err != nil || n != 4 || len(created) != 4 {
				t.Fatalf("fan-out: %d events, %d deliveries, %v", n, len(created), err)
			}
			if got := orders(created); !slices.Equal(got, []string{"A", "B"}) {
				t.Fatalf("fan-out leased %v, want [A B]", got)
			}
			var hot, waiting []model.WebhookDelivery
			for _, d := range created {
				if d.ClaimToken != "" {
					hot = append(hot, d)
				} else {
					waiting = append(waiting, d)
				}
			}

			// A lapsed claim records nothing.
			stale := hot[0]
			stale.ClaimToken, stale.Status = "someone-else", model.DeliverySucceeded
			if _, _, err := db.FinishDeliveries(ctx, []model.WebhookDelivery{stale}, 100, nil, room(0)); err != nil {
				t.Fatal(err)
			}
			var still model.WebhookDelivery
			if err := db.g.WithContext(ctx).Take(&still, hot[0].ID).Error; err != nil || still.Status != model.DeliveryPending {
				t.Fatalf("a lapsed claim's outcome was recorded: %+v, %v", still, err)
			}

			// Listed for a lease while A's first is open: only C.
			var ids []uint64
			for _, d := range waiting {
				ids = append(ids, d.ID)
			}
			c := room(0)
			listed, err := db.LeaseListed(ctx, ids, time.Now(), c.Token, c.Until)
			if err != nil || !slices.Equal(orders(listed), []string{"C"}) {
				t.Fatalf("listed leased %v (%v), want [C]", orders(listed), err)
			}
			// Both succeed: A's second, now the oldest open of A, is leased
			// in the same transaction.
			now := time.Now()
			for i := range hot {
				hot[i].Status, hot[i].NextAt, hot[i].DeliveredAt, hot[i].Attempts = model.DeliverySucceeded, nil, &now, 1
			}
			disabled, next, err := db.FinishDeliveries(ctx, hot, 100, nil, room(4))
			if err != nil || len(disabled) != 0 {
				t.Fatalf("finish: %v, disabled %v", err, disabled)
			}
			if got := orders(next); !slices.Equal(got, []string{"A"}) {
				t.Fatalf("after two successes leased %v, want [A]", got)
			}

			// A's second fails (and C): retried later, and while it is open
			// a new event of A is not leased by fan-out (B's new one is).
			next = append(next, listed...)
			for i := range next {
				retry := time.Now().Add(time.Hour)
				next[i].Status, next[i].NextAt, next[i].LastError = model.DeliveryFailed, &retry, "HTTP 500"
			}
			if _, more, err := db.FinishDeliveries(ctx, next, 100, func(model.WebhookDelivery) string { return "x" }, room(4)); err != nil || len(more) != 0 {
				t.Fatalf("after failures: leased %d, %v", len(more), err)
			}
			var e model.WebhookEndpoint
			if err := db.g.WithContext(ctx).Take(&e, ep.ID).Error; err != nil || e.Failures != 2 {
				t.Fatalf("failures %d (%v), want 2", e.Failures, err)
			}
			addEvents("A", "B")
			if _, created, err = db.FanOutEvents(ctx, time.Now(), time.Hour, 1000, room(4)); err != nil {
				t.Fatal(err)
			}
			if got := orders(created); !slices.Equal(got, []string{"B"}) {
				t.Fatalf("with A open, fan-out leased %v, want [B]", got)
			}
			// A success after failures resets the count.
			ok := created[slices.IndexFunc(created, func(d model.WebhookDelivery) bool { return d.ClaimToken != "" })]
			ok.Status, ok.NextAt = model.DeliverySucceeded, nil
			if _, _, err := db.FinishDeliveries(ctx, []model.WebhookDelivery{ok}, 100, nil, room(0)); err != nil {
				t.Fatal(err)
			}
			if err := db.g.WithContext(ctx).Take(&e, ep.ID).Error; err != nil || e.Failures != 0 {
				t.Fatalf("failures %d (%v) after a success, want 0", e.Failures, err)
			}
		})
	}
}

// Failures counted in one batch disable the endpoint at the threshold,
// with the reason of its last failure.
func TestWebhookBatchDisables(t *testing.T) {
	ctx := context.Background()
	for name, db := range mustDBs(t) {
		t.Run(name, func(t *testing.T) {
			u, ep := hooked(t, db, "failing")
			for i := range 5 {
				s := uint64(i + 1)
				e := model.Event{Seq: &s, Type: "order.updated", UserID: u.ID, Order: string(rune('A' + i)), Data: "{}",
					CreatedAt: time.Now().Add(time.Second)}
				if err := db.g.WithContext(ctx).Create(&e).Error; err != nil {
					t.Fatal(err)
				}
			}
			hc := service.HotClaim{Token: "t", Until: time.Now().Add(time.Minute), Room: func(uint64) int { return 5 }}
			_, hot, err := db.FanOutEvents(ctx, time.Now(), time.Hour, 1000, hc)
			if err != nil || len(hot) != 5 || hot[4].ClaimToken != "t" {
				t.Fatalf("leased %d, %v", len(hot), err)
			}
			retry := time.Now().Add(time.Hour)
			for i := range hot {
				hot[i].Status, hot[i].NextAt, hot[i].LastError = model.DeliveryFailed, &retry, "HTTP 50"+string(rune('0'+i))
			}
			reason := func(d model.WebhookDelivery) string { return "last: " + d.LastError }
			disabled, _, err := db.FinishDeliveries(ctx, hot, 4, reason, service.HotClaim{Room: func(uint64) int { return 0 }})
			if err != nil || !slices.Equal(disabled, []uint64{ep.ID}) {
				t.Fatalf("disabled %v, %v", disabled, err)
			}
			var e model.WebhookEndpoint
			if err := db.g.WithContext(ctx).Take(&e, ep.ID).Error; err != nil {
				t.Fatal(err)
			}
			if e.Enabled || e.Failures != 5 || e.DisabledReason != "last: "+hot[4].LastError {
				t.Fatalf("endpoint after 5 failures at max 4: %+v", e)
			}
		})
	}
}

// hooked creates an account with an enabled endpoint.
func hooked(t *testing.T, db *DB, name string) (model.User, model.WebhookEndpoint) {
	t.Helper()
	ctx := context.Background()
	u := model.User{Username: name}
	if err := db.CreateUser(ctx, &u); err != nil {
		t.Fatal(err)
	}
	ep := model.WebhookEndpoint{UserID: u.ID, URL: "http://example.com/h", Enabled: true,
		SecretCipher: []byte("x"), SecretHint: "whsec_x"}
	if err := db.CreateWebhook(ctx, &ep); err != nil {
		t.Fatal(err)
	}
	return u, ep
}
