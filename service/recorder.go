package service

import "smmapi/model"

// Recorder observes business events for metrics. Implementations must be
// cheap and safe for concurrent use.
type Recorder interface {
	OrderPlaced(charge model.Money)
	Refunded(amount model.Money)
	KeyGenerated()
	CooldownRefused()
	// SuspectTruncatedIDs counts look-ups for IDs an INT column made of
	// alphanumeric ones.
	SuspectTruncatedIDs(n int64)
	// InvalidationUnconfirmed counts a cache invalidation some instance
	// did not confirm.
	InvalidationUnconfirmed()
}

// NopRecorder ignores every event.
type NopRecorder struct{}

// OrderPlaced does nothing.
func (NopRecorder) OrderPlaced(model.Money) {}

// Refunded does nothing.
func (NopRecorder) Refunded(model.Money) {}

// KeyGenerated does nothing.
func (NopRecorder) KeyGenerated() {}

// CooldownRefused does nothing.
func (NopRecorder) CooldownRefused() {}

// SuspectTruncatedIDs does nothing.
func (NopRecorder) SuspectTruncatedIDs(int64) {}

// InvalidationUnconfirmed does nothing.
func (NopRecorder) InvalidationUnconfirmed() {}
