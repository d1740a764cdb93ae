package service

// Supplier balances for the operator: every enabled supplier's balance is
// polled in the background and exported beside its floor, so an alert says
// "top up supplier 3" before its orders fail with "not enough funds".

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"time"
)

// SupplierBalance is one supplier's last known balance, in the supplier's
// own currency, and the floor under which the operator wants to know.
type SupplierBalance struct {
	Supplier uint64
	Balance  float64
	Floor    float64
}

// BalanceRecorder publishes the balances of one round: the whole set, so a
// supplier disabled or deleted disappears from it.
type BalanceRecorder interface {
	SupplierBalances(bs []SupplierBalance)
}

// BalanceFloors are the floors: Default for every supplier, PerSupplier
// over it.
type BalanceFloors struct {
	Default     float64
	PerSupplier map[uint64]float64
}

// ParseBalanceFloors reads "50" or "50,3=200,7=0": a default floor, then
// floors of single suppliers by ID.
func ParseBalanceFloors(s string) (BalanceFloors, error) {
	f := BalanceFloors{PerSupplier: map[uint64]float64{}}
	if strings.TrimSpace(s) == "" {
		return f, nil
	}
	for i, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		idText, amount, per := strings.Cut(part, "=")
		if !per {
			amount = part
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(amount), 64)
		if err != nil || !(v >= 0) || math.IsInf(v, 1) {
			return f, fmt.Errorf("%q is not an amount of 0 or more", amount)
		}
		switch {
		case !per && i == 0:
			f.Default = v
		case !per:
			return f, fmt.Errorf("only the first item may be a plain default, not %q", part)
		default:
			id, err := strconv.ParseUint(strings.TrimSpace(idText), 10, 64)
			if err != nil || id == 0 {
				return f, fmt.Errorf("%q is not a supplier ID", idText)
			}
			f.PerSupplier[id] = v
		}
	}
	return f, nil
}

// floor returns the floor of supplier id.
func (f BalanceFloors) floor(id uint64) float64 {
	if v, ok := f.PerSupplier[id]; ok {
		return v
	}
	return f.Default
}

// BalanceWatch polls suppliers' balances.
type BalanceWatch struct {
	suppliers *Suppliers
	rec       BalanceRecorder
	floors    BalanceFloors
	log       *slog.Logger
	last      map[uint64]float64 // last balance read per supplier
}

// NewBalanceWatch returns a watch over the enabled suppliers of s.
func NewBalanceWatch(s *Suppliers, rec BalanceRecorder, floors BalanceFloors, log *slog.Logger) *BalanceWatch {
	return &BalanceWatch{suppliers: s, rec: rec, floors: floors, log: log, last: map[uint64]float64{}}
}

// Run polls at once, then every interval, until ctx ends.
func (w *BalanceWatch) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if err := w.Round(ctx); err != nil && ctx.Err() == nil {
			w.log.Warn("supplier balances", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Round asks every enabled supplier once and records the set. A supplier
// that does not answer keeps its last balance (its failure shows in the
// supplier call metrics); one never read yet is left out.
func (w *BalanceWatch) Round(ctx context.Context) error {
	if w.suppliers.sealer == nil {
		return nil
	}
	var out []SupplierBalance
	seen := map[uint64]float64{}
	var after uint64
	for {
		page, err := w.suppliers.store.ListSuppliers(ctx, after, 100)
		if err != nil {
			return fmt.Errorf("list suppliers: %w", err)
		}
		for _, s := range page {
			after = s.ID
			if !s.Enabled {
				continue
			}
			v, err := w.balance(ctx, s.ID)
			if err != nil {
				w.log.Debug("supplier balance", "supplier", s.ID, "err", err)
				var ok bool
				if v, ok = w.last[s.ID]; !ok {
					continue
				}
			}
			seen[s.ID] = v
			out = append(out, SupplierBalance{Supplier: s.ID, Balance: v, Floor: w.floors.floor(s.ID)})
		}
		if len(page) < 100 {
			break
		}
	}
	w.last = seen
	w.rec.SupplierBalances(out)
	return nil
}

func (w *BalanceWatch) balance(ctx context.Context, id uint64) (float64, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	raw, err := w.suppliers.Balance(ctx, id)
	if err != nil {
		return 0, err
	}
	return parseBalance(raw)
}

// parseBalance reads {"balance":"100.84","currency":"USD"}, the balance a
// string or a number. A float64 is fine here: it feeds a gauge and is never
// money smmapi accounts.
func parseBalance(raw []byte) (float64, error) {
	var b struct {
		Balance json.RawMessage `json:"balance"`
	}
	if err := json.Unmarshal(raw, &b); err != nil || len(b.Balance) == 0 {
		return 0, fmt.Errorf("no balance in the answer")
	}
	text := string(bytes.Trim(b.Balance, `"`))
	v, err := strconv.ParseFloat(strings.TrimSpace(text), 64)
	if err != nil {
		return 0, fmt.Errorf("balance %q is not a number", text)
	}
	return v, nil
}
