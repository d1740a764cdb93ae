package model

import "testing"

func TestInternStatus(t *testing.T) {
	for _, s := range []Status{StatusPending, StatusInProgress, StatusProcessing, StatusCompleted, StatusPartial, StatusCanceled, "Refunded", "", "pending"} {
		b := []byte(string(s))
		if got := InternStatus(b); got != s {
			t.Errorf("InternStatus(%q) = %q", s, got)
		}
	}
	b := []byte(string(StatusInProgress))
	if n := testing.AllocsPerRun(100, func() { _ = InternStatus(b) }); n != 0 {
		t.Errorf("a known status costs %v allocations, want 0", n)
	}
	// An unknown spelling is copied: the scan buffer it came from is reused.
	raw := []byte("Weird")
	got := InternStatus(raw)
	raw[0] = 'X'
	if got != "Weird" {
		t.Errorf("unknown status aliases the scan buffer: %q", got)
	}
}
