package service

import (
	"context"
	"encoding/json"
	"errors"

	"smmapi/model"
)

// SupplierEndpoint is where and how to call a supplier: its API URL and
// its decrypted key.
type SupplierEndpoint struct {
	ID  uint64 // the supplier's ID here, for metrics
	URL string
	Key string
	// Currency and CurrencyRate convert its charges into the service
	// currency (orders' cost).
	Currency     string
	CurrencyRate model.Money
}

// Outcome classifies a failed upstream call by what the supplier may have
// done with it.
type Outcome int

// Outcomes of a failed upstream call.
const (
	// OutcomeNotSent: the request never reached the supplier; safe to retry.
	OutcomeNotSent Outcome = iota + 1
	// OutcomeRefused: the supplier answered with an error; nothing was done.
	OutcomeRefused
	// OutcomeUnknown: sent, but no usable answer; it may have been done.
	OutcomeUnknown
)

// UpstreamError is a failed upstream call.
type UpstreamError struct {
	Outcome Outcome
	Message string
	// OutOfFunds marks a refusal for the supplier's own balance: retryable.
	OutOfFunds bool
}

func (e *UpstreamError) Error() string { return "upstream: " + e.Message }

// UpstreamStatus is one order's status as a supplier reports it, with the
// status normalised to the wire spelling ("" with Error when unknown).
type UpstreamStatus struct {
	Status        model.Status
	StartCount    int64
	HasStartCount bool
	Remains       int64
	HasRemains    bool
	// Charge is what the supplier says it charged for the order, as it
	// wrote it ("": not said), in Currency ("": not said).
	Charge   string
	Currency string
	Error    string
	// A subscription's answer: the status as sent (read with
	// ParseSupplierSubStatus), the posts delivered and the child orders.
	Text     string
	Posts    int64
	HasPosts bool
	Orders   []string
}

// Upstream calls suppliers' standard APIs.
type Upstream interface {
	Add(ctx context.Context, sup SupplierEndpoint, params map[string]string) (string, error)
	Status(ctx context.Context, sup SupplierEndpoint, ids []string) (map[string]UpstreamStatus, error)
	Refill(ctx context.Context, sup SupplierEndpoint, order string) (string, error)
	RefillStatus(ctx context.Context, sup SupplierEndpoint, refill string) (string, error)
	Cancel(ctx context.Context, sup SupplierEndpoint, order string) error
	Balance(ctx context.Context, sup SupplierEndpoint) (json.RawMessage, error)
	Services(ctx context.Context, sup SupplierEndpoint) (json.RawMessage, error)
}

// Sealer encrypts supplier keys at rest.
type Sealer interface {
	Seal(plain []byte) ([]byte, error)
	Open(sealed []byte) ([]byte, error)
}

// asUpstream finds a supplier failure in err, wrapped or not: a type
// assertion would read a wrapped refusal as "outcome unknown".
func asUpstream(err error) (*UpstreamError, bool) {
	var ue *UpstreamError
	return ue, errors.As(err, &ue)
}
