package service

import (
	"fmt"
	"testing"
)

// A supplier's refusal keeps its meaning when a caller wrapped it: read
// with a type assertion it became "outcome unknown" (a 503, a reconcile).
func TestUpstreamErrorWrapped(t *testing.T) {
	refused := &UpstreamError{Outcome: OutcomeRefused, Message: "Incorrect service ID"}
	for name, err := range map[string]error{
		"bare":    refused,
		"wrapped": fmt.Errorf("forward order x: %w", refused),
		"twice":   fmt.Errorf("round: %w", fmt.Errorf("call: %w", refused)),
	} {
		ue, ok := asUpstream(err)
		if !ok || ue.Outcome != OutcomeRefused {
			t.Errorf("%s: asUpstream = %v, %v", name, ue, ok)
		}
		if c := ErrorCode(upstreamHTTPError(err)); c != ErrConflict {
			t.Errorf("%s: upstreamHTTPError code %q, want %q", name, c, ErrConflict)
		}
	}
	if _, ok := asUpstream(fmt.Errorf("plain")); ok {
		t.Error("a plain error read as a supplier failure")
	}
}
