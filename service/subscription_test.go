package service

import (
	"testing"
	"time"

	"smmapi/model"
)

func TestSubscriptionRefund(t *testing.T) {
	for _, c := range []struct {
		name             string
		rate             model.Money
		max, posts, done int64
		left, want       model.Money
	}{
		{"unlimited gives nothing back", 25000, 200, 0, 3, 90000, 0},
		{"all delivered", 25000, 200, 5, 5, 25000, 0},
		{"none delivered", 25000, 200, 5, 0, 25000, 25000},
		{"awkward rate rounds half-up", 3333, 157, 7, 2, 99999, 2616}, // 0.3333 × 157 × 5 ÷ 1000 = 0.26164…
		{"never more than left", 25000, 200, 5, 0, 1234, 1234},
		{"more delivered than paid", 25000, 200, 2, 3, 10000, 0},
	} {
		o := model.Order{Type: model.OrderSubscription, Rate: c.rate, Quantity: c.max, Posts: c.posts, PostsDone: c.done}
		if got := SubscriptionRefund(o, c.left); got != c.want {
			t.Errorf("%s: %s, want %s", c.name, got, c.want)
		}
	}
}

// TestSubscriptionTransitions walks the subscription rows of the table:
// who may make which move, and that the end refunds once.
func TestSubscriptionTransitions(t *testing.T) {
	now := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		from, to model.Status
		by       Actor
		ok       bool
	}{
		{model.StatusActive, model.StatusPaused, ActorAdmin, true},
		{model.StatusPaused, model.StatusActive, ActorSystem, true},
		{model.StatusActive, model.StatusExpired, ActorSystem, true},
		{model.StatusActive, model.StatusCanceled, ActorTicket, true},
		{model.StatusActive, model.StatusCanceled, ActorSystem, false},
		{model.StatusActive, model.StatusInProgress, ActorAdmin, false},
		{model.StatusActive, model.StatusPartial, ActorAdmin, false},
		{model.StatusExpired, model.StatusActive, ActorAdmin, false},
		{model.StatusCompleted, model.StatusPaused, ActorAdmin, false},
	} {
		o := model.Order{Type: model.OrderSubscription, Status: c.from, Rate: 25000, Quantity: 200, Posts: 4, PostsDone: 1,
			Charge: 20000}
		ch, err := Transition(&o, OrderCommand{By: c.by, Status: c.to}, now)
		if (err == nil) != c.ok {
			t.Errorf("%s → %s by %d: err %v, want ok %v", c.from, c.to, c.by, err, c.ok)
			continue
		}
		if !c.ok {
			continue
		}
		want := model.Money(0)
		if finalStatus(c.to) {
			want = 15000
		}
		if ch.Refund != want || o.Refunded != want {
			t.Errorf("%s → %s: refund %s, want %s", c.from, c.to, ch.Refund, want)
		}
		if again, err := Transition(&o, OrderCommand{By: c.by, Status: c.to}, now); err != nil || again.Refund != 0 {
			t.Errorf("%s → %s again: %v %v", c.from, c.to, again, err)
		}
	}
	o := model.Order{Type: model.OrderSubscription, Status: model.StatusActive}
	if _, err := Transition(&o, OrderCommand{By: ActorAdmin, Remains: new(int64)}, now); ErrorCode(err) != ErrInvalid {
		t.Errorf("remains on a subscription: %v", err)
	}
	if !finalStatus(model.StatusExpired) || finalStatus(model.StatusActive) || finalStatus(model.StatusPaused) {
		t.Error("final statuses of subscriptions")
	}
}

func TestBuildSubscription(t *testing.T) {
	now := time.Date(2026, 12, 2, 15, 0, 0, 0, time.UTC)
	svc := model.Service{ID: 3, Type: typeSubscriptions, Rate: 3333, Min: 100, Max: 1000}
	in := AddInput{Service: "3", Username: " alice ", Extra: map[string]string{"min": "100", "max": "157", "posts": "5",
		"old_posts": "2", "delay": "30", "expiry": "3/12/2026"}}
	o, err := buildSubscription(svc, in, now)
	if err != nil {
		t.Fatal(err)
	}
	end := time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)
	if o.Charge != 3663 || o.Posts != 7 || o.Quantity != 157 || o.Username != "alice" || !o.ExpiresAt.Equal(end) ||
		o.Status != model.StatusActive || o.Rate != 3333 {
		t.Errorf("order %+v", o) // 0.3333 × 157 × 7 ÷ 1000 = 0.36629…
	}
	if got := expiryText(o.ExpiresAt); got != "03/12/2026" {
		t.Errorf("expiry %q", got)
	}
	in.Extra["expiry"] = "2/12/2026" // today
	if _, err := buildSubscription(svc, in, now); ErrorMessage(err) != MsgIncorrectRequest {
		t.Errorf("expiry today: %v", err)
	}
}
