package api

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"time"
)

func TestBudget(t *testing.T) {
	t.Run("unarmed: reports its deadline and expires without a timer", func(t *testing.T) {
		b := newBudget(context.Background(), time.Now().Add(30*time.Millisecond))
		defer b.stop()
		if d, ok := b.Deadline(); !ok || time.Until(d) > 30*time.Millisecond {
			t.Fatalf("Deadline() = %v, %v", d, ok)
		}
		if b.Err() != nil || b.on.Load() {
			t.Fatalf("fresh budget: Err %v, armed %v", b.Err(), b.on.Load())
		}
		time.Sleep(40 * time.Millisecond)
		if !errors.Is(b.Err(), context.DeadlineExceeded) || b.on.Load() {
			t.Fatalf("past its deadline: Err %v, armed %v", b.Err(), b.on.Load())
		}
	})
	t.Run("Done fires at the deadline", func(t *testing.T) {
		b := newBudget(context.Background(), time.Now().Add(20*time.Millisecond))
		defer b.stop()
		select {
		case <-b.Done():
		case <-time.After(2 * time.Second):
			t.Fatal("Done did not fire")
		}
		if !errors.Is(b.Err(), context.DeadlineExceeded) {
			t.Fatalf("Err = %v", b.Err())
		}
	})
	t.Run("a child context ends with it, without a goroutine", func(t *testing.T) {
		b := newBudget(context.Background(), time.Now().Add(50*time.Millisecond))
		defer b.stop()
		before := runtime.NumGoroutine()
		children := make([]context.Context, 100)
		for i := range children {
			var cancel context.CancelFunc
			children[i], cancel = context.WithCancel(b)
			defer cancel()
		}
		if n := runtime.NumGoroutine(); n > before+5 {
			t.Errorf("%d goroutines for 100 children (was %d): children do not register with the armed context", n, before)
		}
		for _, c := range children {
			select {
			case <-c.Done():
			case <-time.After(2 * time.Second):
				t.Fatal("child not cancelled at the budget's deadline")
			}
		}
	})
	t.Run("the parent's cancel and values come through, armed or not", func(t *testing.T) {
		type key struct{}
		for _, armFirst := range []bool{false, true} {
			parent, cancel := context.WithCancel(context.WithValue(context.Background(), key{}, "v"))
			b := newBudget(parent, time.Now().Add(time.Hour))
			if armFirst {
				b.Done()
			}
			if b.Value(key{}) != "v" {
				t.Errorf("armed %v: Value = %v", armFirst, b.Value(key{}))
			}
			cancel()
			if !errors.Is(b.Err(), context.Canceled) {
				t.Errorf("armed %v: Err after the parent's cancel = %v", armFirst, b.Err())
			}
			select {
			case <-b.Done():
			case <-time.After(2 * time.Second):
				t.Errorf("armed %v: Done not closed after the parent's cancel", armFirst)
			}
			b.stop()
		}
	})
	t.Run("an earlier parent deadline wins", func(t *testing.T) {
		parent, cancel := context.WithTimeout(context.Background(), time.Millisecond)
		defer cancel()
		b := newBudget(parent, time.Now().Add(time.Hour))
		defer b.stop()
		if d, _ := b.Deadline(); time.Until(d) > time.Second {
			t.Fatalf("Deadline = %v, want the parent's", d)
		}
	})
}
