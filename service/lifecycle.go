package service

// The lifecycle of orders and tickets, in one place: which status may follow
// which, who may make each move, what a move refunds, and how suppliers'
// spellings map onto it. Every change of an order or a ticket — an admin's
// PATCH, a supplier's report, a ticket decision, a worker — is a plain
// command applied by Transition or TicketTransition; nobody else assigns a
// status. A new status or order type is a row in these tables.

import (
	"strings"
	"time"

	"smmapi/model"
)

// Actor is who asks for a change.
type Actor uint8

// Actors, as bits so that a move lists everyone allowed to make it.
const (
	ActorPublic   Actor = 1 << iota // a downstream panel through the public API
	ActorAdmin                      // the operator through the internal API
	ActorSupplier                   // a supplier's report, read by the sync worker
	ActorTicket                     // the decision on a refill or cancel ticket
	ActorSystem                     // a worker acting on its own (forwarding)
)

// orderMoves is the transition table: per order type, the statuses each
// status may move to, and who may make that move. A status with no moves is
// final. A supplier never moves an order back to Pending (its "Pending" for
// an order already forwarded reads as In progress: see SupplierCommand).
var orderMoves = map[model.OrderType]map[model.Status]map[model.Status]Actor{
	model.OrderDefault: {
		model.StatusPending: {
			model.StatusInProgress: ActorAdmin | ActorSupplier | ActorSystem,
			model.StatusProcessing: ActorAdmin | ActorSupplier,
			model.StatusCompleted:  ActorAdmin | ActorSupplier,
			model.StatusPartial:    ActorAdmin | ActorSupplier,
			model.StatusCanceled:   ActorAdmin | ActorSupplier | ActorTicket,
		},
		model.StatusInProgress: {
			model.StatusPending:    ActorAdmin,
			model.StatusProcessing: ActorAdmin | ActorSupplier,
			model.StatusCompleted:  ActorAdmin | ActorSupplier,
			model.StatusPartial:    ActorAdmin | ActorSupplier,
			model.StatusCanceled:   ActorAdmin | ActorSupplier | ActorTicket,
		},
		model.StatusProcessing: {
			model.StatusPending:    ActorAdmin,
			model.StatusInProgress: ActorAdmin | ActorSupplier,
			model.StatusCompleted:  ActorAdmin | ActorSupplier,
			model.StatusPartial:    ActorAdmin | ActorSupplier,
			model.StatusCanceled:   ActorAdmin | ActorSupplier | ActorTicket,
		},
		model.StatusCompleted: {},
		model.StatusPartial:   {},
		model.StatusCanceled:  {},
	},
	// A subscription is Active or Paused until it ends Completed (every
	// paid post delivered), Expired (past its date) or Canceled. The
	// worker (ActorSystem) pauses on funds, resumes, completes and
	// expires; a supplier reports its own subscription's moves.
	model.OrderSubscription: {
		model.StatusActive: {
			model.StatusPaused:    ActorAdmin | ActorSupplier | ActorSystem,
			model.StatusCompleted: ActorAdmin | ActorSupplier | ActorSystem,
			model.StatusExpired:   ActorAdmin | ActorSupplier | ActorSystem,
			model.StatusCanceled:  ActorAdmin | ActorSupplier | ActorTicket,
		},
		model.StatusPaused: {
			model.StatusActive:    ActorAdmin | ActorSupplier | ActorSystem,
			model.StatusCompleted: ActorAdmin | ActorSupplier | ActorSystem,
			model.StatusExpired:   ActorAdmin | ActorSupplier | ActorSystem,
			model.StatusCanceled:  ActorAdmin | ActorSupplier | ActorTicket,
		},
		model.StatusCompleted: {},
		model.StatusExpired:   {},
		model.StatusCanceled:  {},
	},
}

// orderStart is the status a new order of each type reads.
var orderStart = map[model.OrderType]model.Status{
	model.OrderDefault:      model.StatusPending,
	model.OrderSubscription: model.StatusActive,
}

// orderType reads an order's type; rows read without the column are
// default orders.
func orderType(o *model.Order) model.OrderType {
	if o.Type == "" {
		return model.OrderDefault
	}
	return o.Type
}

// knownStatus reports whether s is a status of any order type.
func knownStatus(s model.Status) bool {
	for _, t := range orderMoves {
		if _, ok := t[s]; ok {
			return true
		}
	}
	return false
}

// finalStatus reports whether a status can no longer change: it is final
// in every order type that has it (the types share their final statuses'
// meaning: Completed and Canceled are final in both).
func finalStatus(s model.Status) bool {
	seen := false
	for _, t := range orderMoves {
		if moves, ok := t[s]; ok {
			if len(moves) > 0 {
				return false
			}
			seen = true
		}
	}
	return seen
}

// OpenStatuses are the statuses of orders that are not final, in the order
// of the table's lifecycles (for gauges and their queries).
func OpenStatuses() []model.Status {
	var out []model.Status
	for _, s := range []model.Status{model.StatusPending, model.StatusInProgress, model.StatusProcessing,
		model.StatusCompleted, model.StatusPartial, model.StatusCanceled,
		model.StatusActive, model.StatusPaused, model.StatusExpired} {
		if !finalStatus(s) {
			out = append(out, s)
		}
	}
	return out
}

// refillable reports whether an order may get a refill ticket: a default
// order delivered, fully or in part (a subscription never: its children
// are refilled).
func refillable(o model.Order) bool {
	return orderType(&o) == model.OrderDefault && (o.Status == model.StatusCompleted || o.Status == model.StatusPartial)
}

// OrderCommand asks for a change of an order's status, start count or
// remains; zero values keep what the order has.
type OrderCommand struct {
	By         Actor
	Status     model.Status // "": keep
	StartCount *int64
	Remains    *int64
}

// OrderChange is what a change did: whether there is anything to write,
// the refund it implies, and the public status before and after.
type OrderChange struct {
	// Changed: the order row must be written.
	Changed bool
	Refund  model.Money
	// From and To are the status before and after (equal when it stayed).
	From, To model.Status
	// Public: a field of the public status answer changed (status, start
	// count, remains or the net charge).
	Public bool
	// Events are written in the change's transaction (see EventLog).
	Events []model.Event
}

// Transition applies cmd to o under the order's lock: it checks the move
// against the table, the counts against the quantity, and computes the
// refund (Partial: charge × remains ÷ quantity; Canceled: what is left),
// which therefore happens once, however often the command is repeated.
// Restating a final order's state is a no-op; any other change of it is a
// conflict.
func Transition(o *model.Order, cmd OrderCommand, now time.Time) (OrderChange, error) {
	ch := OrderChange{From: o.Status, To: o.Status}
	to := o.Status
	if cmd.Status != "" {
		to = cmd.Status
		if !knownStatus(to) {
			return ch, Errorf(ErrInvalid, "unknown status %q", to)
		}
	}
	sub := orderType(o) == model.OrderSubscription
	if sub && (cmd.StartCount != nil || cmd.Remains != nil) {
		return ch, Errorf(ErrInvalid, "a subscription has no start_count or remains")
	}
	startCount, remains := o.StartCount, o.Remains
	if cmd.StartCount != nil {
		startCount = *cmd.StartCount
	}
	if cmd.Remains != nil {
		remains = *cmd.Remains
	}
	if startCount < 0 || remains < 0 {
		return ch, Errorf(ErrInvalid, "start_count and remains must be non-negative whole numbers")
	}
	if remains > o.Quantity {
		return ch, Errorf(ErrInvalid, "remains must not exceed the quantity %d", o.Quantity)
	}
	if to == model.StatusPartial && (remains <= 0 || remains >= o.Quantity) {
		return ch, Errorf(ErrInvalid, "Partial needs 0 < remains < quantity (%d)", o.Quantity)
	}
	moves := orderMoves[orderType(o)][o.Status]
	if len(moves) == 0 { // final
		if to == o.Status && remains == o.Remains && startCount == o.StartCount {
			return ch, nil
		}
		return ch, Errorf(ErrConflict, "order is %s: a final status cannot change", o.Status)
	}
	if to != o.Status && moves[to]&cmd.By == 0 {
		return ch, Errorf(ErrConflict, "an order cannot move from %s to %s this way", o.Status, to)
	}
	if to == model.StatusCompleted && cmd.Remains == nil {
		remains = 0
	}
	left := o.Charge - o.Refunded
	switch {
	case sub:
		if to != o.Status && finalStatus(to) {
			ch.Refund = SubscriptionRefund(*o, left)
		}
		switch {
		case to != model.StatusPaused:
			o.PauseReason = ""
		case to != o.Status:
			o.PauseReason = pauseReason(cmd.By)
		}
	case to == model.StatusPartial:
		ch.Refund = Refund(o.Charge, remains, o.Quantity, left)
	case to == model.StatusCanceled:
		ch.Refund = left
	}
	ch.Public = to != o.Status || remains != o.Remains || startCount != o.StartCount || ch.Refund != 0
	ch.Changed, ch.To = ch.Public, to
	o.Status, o.StartCount, o.Remains = to, startCount, remains
	o.Refunded += ch.Refund
	if finalStatus(to) {
		t := now.UTC()
		o.FinishedAt = &t
		o.LiveLink = nil // the link is free for a new order
	}
	return ch, nil
}

// SubscriptionRefund is what an ending subscription gives back: for a
// prepaid one, the posts not delivered at rate × max × undelivered ÷ 1000
// (half-up), never more than left; an unlimited one paid per post and
// gives nothing back.
func SubscriptionRefund(o model.Order, left model.Money) model.Money {
	undelivered := o.Posts - o.PostsDone
	if o.Posts <= 0 || undelivered <= 0 {
		return 0
	}
	r, ok := Charge(o.Rate, o.Quantity*undelivered)
	if !ok {
		return left
	}
	return max(min(r, left), 0)
}

// pauseReason is why a subscription paused: the worker pauses only for
// funds, and lifts only those pauses.
func pauseReason(by Actor) string {
	switch by {
	case ActorAdmin:
		return model.PauseAdmin
	case ActorSupplier:
		return "supplier"
	}
	return model.PauseFunds
}

// SupplierReport is one order's status as a supplier reported it.
type SupplierReport = UpstreamStatus

// SupplierCommand turns a supplier's report on o into a command, reading
// what real suppliers send: "Pending" for an order already forwarded stays
// In progress (moving it back would invite a second forward), remains
// beyond the quantity are the quantity, Partial with nothing or everything
// remaining is Completed or Canceled.
func SupplierCommand(o model.Order, st SupplierReport) OrderCommand {
	cmd := OrderCommand{By: ActorSupplier, Status: st.Status}
	if cmd.Status == model.StatusPending {
		cmd.Status = model.StatusInProgress
	}
	remains := o.Remains
	if st.HasRemains {
		remains = min(st.Remains, o.Quantity)
		cmd.Remains = &remains
	}
	if cmd.Status == model.StatusPartial {
		switch {
		case remains <= 0:
			cmd.Status = model.StatusCompleted
		case remains >= o.Quantity:
			cmd.Status = model.StatusCanceled
		}
	}
	if st.HasStartCount {
		sc := st.StartCount
		cmd.StartCount = &sc
	}
	return cmd
}

// ParseSupplierStatus maps the spellings suppliers use to a status; "" for
// one it does not know.
func ParseSupplierStatus(s string) model.Status {
	switch strings.ToLower(strings.Join(strings.Fields(strings.ReplaceAll(s, "_", " ")), " ")) {
	case "pending", "awaiting", "queued", "new":
		return model.StatusPending
	case "in progress", "inprogress", "processing started", "active", "running":
		return model.StatusInProgress
	case "processing":
		return model.StatusProcessing
	case "completed", "complete", "success", "done", "finished":
		return model.StatusCompleted
	case "partial", "partially completed", "partial completed":
		return model.StatusPartial
	case "canceled", "cancelled", "cancel", "refunded", "rejected", "fail", "failed":
		return model.StatusCanceled
	}
	return ""
}

// ParseSupplierSubStatus maps the spellings suppliers use for a
// subscription's status; "" for one it does not know.
func ParseSupplierSubStatus(s string) model.Status {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "active", "in progress", "running", "pending":
		return model.StatusActive
	case "paused", "pause", "stopped":
		return model.StatusPaused
	case "completed", "complete", "done", "finished":
		return model.StatusCompleted
	case "expired":
		return model.StatusExpired
	case "canceled", "cancelled", "refunded":
		return model.StatusCanceled
	}
	return ""
}

// SupplierSubCommand turns a supplier's report on a subscription into a
// command: its status, unless this subscription is paused for funds here
// (only the balance lifts that pause, whatever the supplier says).
func SupplierSubCommand(o model.Order, st SupplierReport) OrderCommand {
	to := ParseSupplierSubStatus(st.Text)
	if to == model.StatusActive && o.Status == model.StatusPaused && o.PauseReason == model.PauseFunds {
		to = ""
	}
	return OrderCommand{By: ActorSupplier, Status: to}
}

// ticketMoves is the tickets' transition table: an admin forwards, completes
// or rejects an open ticket; the supplier settles a forwarded one.
var ticketMoves = map[model.TicketStatus]map[model.TicketStatus]Actor{
	model.TicketOpen: {
		model.TicketForwarded: ActorAdmin,
		model.TicketCompleted: ActorAdmin,
		model.TicketRejected:  ActorAdmin,
	},
	model.TicketForwarded: {
		model.TicketCompleted: ActorSupplier,
		model.TicketRejected:  ActorSupplier,
	},
	model.TicketCompleted: {},
	model.TicketRejected:  {},
}

// publicTicketStatus is a ticket's status as refill_status (and a
// ticket's events) show it.
var publicTicketStatus = map[model.TicketStatus]string{
	model.TicketOpen:      "Pending",
	model.TicketForwarded: "In progress",
	model.TicketCompleted: "Completed",
	model.TicketRejected:  "Rejected",
}

// PublicRefillStatus maps a ticket status to the public refill status.
func PublicRefillStatus(s model.TicketStatus) string {
	if p, ok := publicTicketStatus[s]; ok {
		return p
	}
	return "Pending"
}

// TicketChange is what a ticket move did.
type TicketChange struct {
	From, To model.TicketStatus
}

// TicketTransition moves t to status to on behalf of by. A ticket that is
// settled frees its order for a new ticket of its type (OpenKey).
func TicketTransition(t *model.Ticket, to model.TicketStatus, by Actor) (TicketChange, error) {
	ch := TicketChange{From: t.Status, To: to}
	if ticketMoves[t.Status][to]&by == 0 {
		return ch, Errorf(ErrConflict, "ticket is %s, not open", t.Status)
	}
	t.Status = to
	if len(ticketMoves[to]) == 0 {
		t.OpenKey = nil
	}
	return ch, nil
}

// ParseSupplierRefillStatus maps suppliers' refill status spellings onto
// the ticket's: completed, rejected, or "" while the supplier works on it.
func ParseSupplierRefillStatus(s string) model.TicketStatus {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "completed", "complete", "success", "done":
		return model.TicketCompleted
	case "rejected", "canceled", "cancelled", "failed", "error", "refused":
		return model.TicketRejected
	}
	return ""
}
