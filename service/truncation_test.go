package service

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"
)

func TestTruncatedID(t *testing.T) {
	for id, want := range map[string]bool{
		"0": true, "34": true, "123456789": true, // what an INT column makes of alphanumeric IDs
		"": false, "1234567890": false, "b76VJizQKZ": false, "34P": false, "-1": false, " 34": false,
	} {
		if got := truncatedID(id); got != want {
			t.Errorf("truncatedID(%q) = %v, want %v", id, got, want)
		}
	}
}

// discardTruncations accepts every flush: the benchmark measures the
// in-memory half that runs on the request path.
type discardTruncations struct{}

func (discardTruncations) AddSuspectTruncations(context.Context, uint64, int64, time.Time) error {
	return nil
}

// BenchmarkTruncationWatch: the cost Observe adds to one status look-up,
// for an ordinary ID (every well-behaved client) and for a suspect one (a
// child sending "34", counted under a lock), from all cores at once.
func BenchmarkTruncationWatch(b *testing.B) {
	w := NewTruncationWatch(discardTruncations{}, NopRecorder{}, slog.New(slog.NewTextHandler(io.Discard, nil)), time.Now)
	ctx := context.Background()
	for _, bc := range []struct {
		name string
		ids  []string
	}{{"ordinary", []string{"b76VJizQKZ"}}, {"suspect", []string{"34"}}, {"100 ordinary", hundred("b76VJizQKZ")}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				acct := Account{UserID: 7, OrderIDFormat: FormatAlnum}
				for pb.Next() {
					w.Observe(ctx, acct, bc.ids)
				}
			})
		})
	}
}

func hundred(id string) []string {
	out := make([]string, 100)
	for i := range out {
		out[i] = id
	}
	return out
}
