package service

import (
	"encoding/json"
	"testing"
	"time"

	"smmapi/model"
)

func ptr[T any](v T) *T { return &v }

func num(s string) *json.Number { n := json.Number(s); return &n }

// The transition and refund table, through the admin's PATCH body.
func TestTransitionAdminPatch(t *testing.T) {
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	base := model.Order{Quantity: 157, Remains: 157, Charge: 13345, Status: model.StatusPending}
	tests := []struct {
		name        string
		from        model.Order
		patch       OrderPatch
		wantCode    string
		wantStatus  model.Status
		wantRemains int64
		wantRefund  model.Money
		wantChanged bool
	}{
		{"partial remains 1", base, OrderPatch{Status: ptr("Partial"), Remains: num("1")}, "", "Partial", 1, 85, true},
		{"partial remains q-1", base, OrderPatch{Status: ptr("Partial"), Remains: num("156")}, "", "Partial", 156, 13260, true},
		{"partial remains 0", base, OrderPatch{Status: ptr("Partial"), Remains: num("0")}, ErrInvalid, "", 0, 0, false},
		{"partial remains q", base, OrderPatch{Status: ptr("Partial"), Remains: num("157")}, ErrInvalid, "", 0, 0, false},
		{"partial remains over q", base, OrderPatch{Status: ptr("Partial"), Remains: num("158")}, ErrInvalid, "", 0, 0, false},
		{"partial without remains", base, OrderPatch{Status: ptr("Partial")}, ErrInvalid, "", 0, 0, false},
		{"canceled refunds all", base, OrderPatch{Status: ptr("Canceled")}, "", "Canceled", 157, 13345, true},
		{"canceled after partial refund refunds rest",
			model.Order{Quantity: 157, Remains: 157, Charge: 13345, Refunded: 85, Status: model.StatusInProgress},
			OrderPatch{Status: ptr("Canceled")}, "", "Canceled", 157, 13260, true},
		{"completed sets remains 0", base, OrderPatch{Status: ptr("Completed")}, "", "Completed", 0, 0, true},
		{"in progress with counts", base, OrderPatch{Status: ptr("In progress"), StartCount: num("3572"), Remains: num("100")}, "", "In progress", 100, 0, true},
		{"canceled after partial", model.Order{Quantity: 157, Remains: 1, Charge: 13345, Refunded: 85, Status: model.StatusPartial},
			OrderPatch{Status: ptr("Canceled")}, ErrConflict, "", 0, 0, false},
		{"same partial again", model.Order{Quantity: 157, Remains: 1, Charge: 13345, Refunded: 85, Status: model.StatusPartial},
			OrderPatch{Status: ptr("Partial"), Remains: num("1")}, "", "Partial", 1, 0, false},
		{"same canceled again", model.Order{Quantity: 157, Remains: 157, Charge: 13345, Refunded: 13345, Status: model.StatusCanceled},
			OrderPatch{Status: ptr("Canceled")}, "", "Canceled", 157, 0, false},
		{"completed back to pending", model.Order{Quantity: 10, Charge: 1, Status: model.StatusCompleted},
			OrderPatch{Status: ptr("Pending")}, ErrConflict, "", 0, 0, false},
		{"unknown status", base, OrderPatch{Status: ptr("Cancelled")}, ErrInvalid, "", 0, 0, false},
		{"negative start count", base, OrderPatch{StartCount: num("-1")}, ErrInvalid, "", 0, 0, false},
		{"decimal remains", base, OrderPatch{Remains: num("1.5")}, ErrInvalid, "", 0, 0, false},
		{"nothing", base, OrderPatch{}, "", "Pending", 157, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := tt.from
			cmd, err := tt.patch.Command()
			var ch OrderChange
			if err == nil {
				ch, err = Transition(&o, cmd, now)
			}
			if tt.wantCode != "" {
				if ErrorCode(err) != tt.wantCode {
					t.Fatalf("err = %v, want %s", err, tt.wantCode)
				}
				if o != tt.from {
					t.Fatalf("order changed on error: %+v", o)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if o.Status != tt.wantStatus || o.Remains != tt.wantRemains || ch.Refund != tt.wantRefund || ch.Changed != tt.wantChanged {
				t.Fatalf("got status %s remains %d refund %s changed %v", o.Status, o.Remains, ch.Refund, ch.Changed)
			}
			if o.Refunded > o.Charge {
				t.Fatalf("refunded %s more than charged %s", o.Refunded, o.Charge)
			}
			if finalStatus(o.Status) && ch.Changed && (o.FinishedAt == nil || !o.FinishedAt.Equal(now)) {
				t.Fatalf("finished_at not set")
			}
		})
	}
}

// Who may make which move, and what a supplier's report becomes.
func TestTransitionActors(t *testing.T) {
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	pending := model.Order{Quantity: 100, Remains: 100, Charge: 1000, Status: model.StatusPending}
	inProgress := pending
	inProgress.Status = model.StatusInProgress
	for _, tt := range []struct {
		name     string
		from     model.Order
		cmd      OrderCommand
		wantCode string
		want     model.Status
	}{
		{"worker forwards", pending, OrderCommand{By: ActorSystem, Status: model.StatusInProgress}, "", model.StatusInProgress},
		{"worker cannot complete", pending, OrderCommand{By: ActorSystem, Status: model.StatusCompleted}, ErrConflict, ""},
		{"public cannot move", pending, OrderCommand{By: ActorPublic, Status: model.StatusCanceled}, ErrConflict, ""},
		{"ticket cancels", inProgress, OrderCommand{By: ActorTicket, Status: model.StatusCanceled}, "", model.StatusCanceled},
		{"ticket cannot complete", inProgress, OrderCommand{By: ActorTicket, Status: model.StatusCompleted}, ErrConflict, ""},
		{"supplier cannot move back to pending", inProgress, OrderCommand{By: ActorSupplier, Status: model.StatusPending}, ErrConflict, ""},
		{"admin moves back to pending", inProgress, OrderCommand{By: ActorAdmin, Status: model.StatusPending}, "", model.StatusPending},
		{"supplier Pending reads In progress", inProgress, SupplierCommand(inProgress, SupplierReport{Status: model.StatusPending}), "", model.StatusInProgress},
		{"supplier Partial with 0 remains is Completed", inProgress,
			SupplierCommand(inProgress, SupplierReport{Status: model.StatusPartial, HasRemains: true}), "", model.StatusCompleted},
		{"supplier Partial with all remaining is Canceled", inProgress,
			SupplierCommand(inProgress, SupplierReport{Status: model.StatusPartial, Remains: 500, HasRemains: true}), "", model.StatusCanceled},
	} {
		t.Run(tt.name, func(t *testing.T) {
			o := tt.from
			ch, err := Transition(&o, tt.cmd, now)
			if ErrorCode(err) != tt.wantCode || (err == nil) != (tt.wantCode == "") {
				t.Fatalf("err = %v, want code %q", err, tt.wantCode)
			}
			if err == nil && (o.Status != tt.want || ch.From != tt.from.Status || ch.To != tt.want || ch.Public != (tt.want != tt.from.Status)) {
				t.Fatalf("status %s, change %+v", o.Status, ch)
			}
		})
	}
}

func TestParseSupplierStatus(t *testing.T) {
	for in, want := range map[string]model.Status{"Cancelled": model.StatusCanceled, "in_progress": model.StatusInProgress,
		" IN   PROGRESS ": model.StatusInProgress, "Partially Completed": model.StatusPartial, "weird": ""} {
		if got := ParseSupplierStatus(in); got != want {
			t.Errorf("ParseSupplierStatus(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestTicketTransition(t *testing.T) {
	key := "k"
	for _, tt := range []struct {
		from model.TicketStatus
		to   model.TicketStatus
		by   Actor
		ok   bool
	}{
		{model.TicketOpen, model.TicketForwarded, ActorAdmin, true},
		{model.TicketOpen, model.TicketCompleted, ActorAdmin, true},
		{model.TicketOpen, model.TicketRejected, ActorSupplier, false},
		{model.TicketForwarded, model.TicketCompleted, ActorSupplier, true},
		{model.TicketForwarded, model.TicketRejected, ActorAdmin, false},
		{model.TicketCompleted, model.TicketRejected, ActorAdmin, false},
	} {
		tk := model.Ticket{Status: tt.from, OpenKey: &key}
		_, err := TicketTransition(&tk, tt.to, tt.by)
		if (err == nil) != tt.ok {
			t.Errorf("%s → %s: err %v", tt.from, tt.to, err)
			continue
		}
		settled := tt.to == model.TicketCompleted || tt.to == model.TicketRejected
		if tt.ok && (tk.Status != tt.to || (tk.OpenKey == nil) != settled) {
			t.Errorf("%s → %s: ticket %+v", tt.from, tt.to, tk)
		}
	}
}
