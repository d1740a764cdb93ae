package service

import (
	"context"
	"errors"
	"testing"
	"time"

	"smmapi/model"
)

// failingOrders fails every order write as a dropped connection would.
type failingOrders struct {
	FulfilStore
	calls int
}

func (s *failingOrders) ChangeOrder(context.Context, string, func(*model.Order) (OrderChange, error)) (model.Order, error) {
	s.calls++
	return model.Order{}, Errorf(ErrUnavailable, MsgUnavailable)
}

// The retries of a failed write wait through f.pause and stop when the
// context ends (they slept with time.Sleep, deaf to both).
func TestChangeRetriesHonourContext(t *testing.T) {
	st := &failingOrders{}
	f := &Fulfil{store: st}
	var waited []time.Duration
	f.pause = func(ctx context.Context, d time.Duration) error {
		waited = append(waited, d)
		return nil
	}
	if _, err := f.change(context.Background(), "x", nil); ErrorCode(err) != ErrUnavailable {
		t.Fatalf("err = %v", err)
	}
	if st.calls != 5 || len(waited) != 4 || waited[0] != 25*time.Millisecond || waited[3] != 200*time.Millisecond {
		t.Fatalf("calls %d, waits %v", st.calls, waited)
	}

	st.calls = 0
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	f.pause = sleepCtx
	_, err := f.change(ctx, "x", nil)
	if st.calls != 1 || !errors.Is(err, context.Canceled) {
		t.Fatalf("after cancel: %d calls, err %v", st.calls, err)
	}
}
