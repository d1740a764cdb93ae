package service

// Reconciliation: POST /internal/v1/orders/{id}/reconcile {"action":
// "retry"|"fail"} decides an order whose forwarding an admin must settle.

import (
	"context"
	"fmt"

	"smmapi/model"
)

// ReconcileInput is an admin's decision on an order whose forwarding needs
// one: "retry" sends it again, "fail" cancels it with a full refund.
type ReconcileInput struct {
	Action string `json:"action"`
	Note   string `json:"note"`
}

// Reconcile applies an admin's decision to an order parked in reconcile or
// error; other orders answer 409.
func (f *Fulfil) Reconcile(ctx context.Context, publicID string, in ReconcileInput) (model.Order, error) {
	if in.Action != "retry" && in.Action != "fail" {
		return model.Order{}, Errorf(ErrInvalid, "action must be retry or fail")
	}
	if !plausibleOrderID(publicID) {
		return model.Order{}, Errorf(ErrNotFound, "order not found")
	}
	var refund model.Money
	o, err := f.store.ChangeOrder(ctx, publicID, f.ev.Order(func(o *model.Order) (OrderChange, error) {
		if o.ForwardState != model.ForwardReconcile && o.ForwardState != model.ForwardError {
			return OrderChange{}, Errorf(ErrConflict, "order is not waiting for reconciliation (forward state %q)", o.ForwardState)
		}
		now := f.now()
		if in.Action == "retry" {
			o.ForwardState, o.NextAt, o.LastError = model.ForwardQueued, &now, ""
			return OrderChange{Changed: true}, nil
		}
		ch, err := Transition(o, OrderCommand{By: ActorAdmin, Status: model.StatusCanceled}, now)
		if err != nil {
			return OrderChange{}, err
		}
		o.ForwardState, o.LastError = model.ForwardDone, clipText("failed by admin: "+in.Note, 500)
		ch.Changed, refund = true, ch.Refund
		return ch, nil
	}))
	if err != nil {
		return model.Order{}, fmt.Errorf("reconcile order %s: %w", publicID, err)
	}
	if refund > 0 {
		f.rec.Refunded(refund)
	}
	return o, nil
}
