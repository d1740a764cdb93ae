package service

// What operators watch of the orders table (exported as gauges): the live
// orders by status and by forwarding state, and what waits at each supplier.

import (
	"context"
	"time"
)

// OrderStats is one aggregate of the orders that are not final.
type OrderStats struct {
	// ByStatus counts live orders by status (Pending, In progress, Processing).
	ByStatus map[string]int64
	// ByForward counts live orders by forward state; "" (manual orders,
	// no supplier) included.
	ByForward map[string]int64
	// Suppliers describes the orders each supplier holds (forward state sent).
	Suppliers map[uint64]SupplierOrders
}

// SupplierOrders is what waits at one supplier.
type SupplierOrders struct {
	Open int64
	// Oldest is when the oldest open order that is not a drip-feed was
	// placed (zero: none). Drip-feed orders last runs × interval by design,
	// so they would make every threshold meaningless.
	Oldest time.Time
}

// OrderStatsStore computes OrderStats in one bounded aggregate.
type OrderStatsStore interface {
	OrderStats(ctx context.Context) (OrderStats, error)
}
