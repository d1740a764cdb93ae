package service

// Wire contract (action=refill_status): refill=<id> → {"status":"Completed"};
// refills=<ids> → [{"refill":12,"status":"Completed"},{"refill":13,"status":
// {"error":"Refill not found"}}]. Another account's refill reads as unknown.

import (
	"context"
	"fmt"
	"strings"

	"smmapi/model"
)

// RefillStatusResult is the single refill_status answer.
type RefillStatusResult struct {
	Status string `json:"status"`
}

// RefillStatusItem is one entry of the multiple answer. Refill is the ID as
// a number (or as sent, when it is not one); Status a string or ItemError.
type RefillStatusItem struct {
	Refill any `json:"refill"`
	Status any `json:"status"`
}

// RefillStatus answers the refill_status action.
type RefillStatus struct {
	tickets TicketStore
}

// NewRefillStatus returns a RefillStatus.
func NewRefillStatus(tickets TicketStore) *RefillStatus {
	return &RefillStatus{tickets: tickets}
}

// One returns the status of one refill.
func (r *RefillStatus) One(ctx context.Context, acct Account, id string) (RefillStatusResult, error) {
	items, err := r.lookup(ctx, acct, []string{strings.TrimSpace(id)})
	if err != nil {
		return RefillStatusResult{}, err
	}
	s, ok := items[0].Status.(string)
	if !ok {
		return RefillStatusResult{}, Errorf(ErrNotFound, MsgRefillNotFound)
	}
	return RefillStatusResult{Status: s}, nil
}

// Many returns the statuses of a comma list of refills.
func (r *RefillStatus) Many(ctx context.Context, acct Account, ids string) ([]RefillStatusItem, error) {
	list, err := parseIDList(ids)
	if err != nil {
		return nil, err
	}
	return r.lookup(ctx, acct, list)
}

func (r *RefillStatus) lookup(ctx context.Context, acct Account, ids []string) ([]RefillStatusItem, error) {
	var nums []uint64
	for _, s := range ids {
		if n, ok := parseTicketID(s); ok {
			nums = append(nums, n)
		}
	}
	byID := map[uint64]model.Ticket{}
	if len(nums) > 0 {
		rows, err := r.tickets.UserTickets(ctx, acct.UserID, model.TicketRefill, nums)
		if err != nil {
			return nil, fmt.Errorf("refill_status: %w", err)
		}
		for _, t := range rows {
			byID[t.ID] = t
		}
	}
	out := make([]RefillStatusItem, len(ids))
	for i, s := range ids {
		n, ok := parseTicketID(s)
		out[i].Refill = s
		if ok {
			out[i].Refill = n
		}
		if t, found := byID[n]; ok && found {
			out[i].Status = PublicRefillStatus(t.Status)
		} else {
			out[i].Status = ItemError{Error: MsgRefillNotFound}
		}
	}
	return out, nil
}
