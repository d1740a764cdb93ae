package service

// Catalog sync: every suppliers.sync_catalog_interval one instance at a time
// per supplier (the claim helper) reads the supplier's services answer,
// without any lock held, and applies what changed to the synced services
// mapped to it, each service in a short transaction of its own with its
// change-log rows. Answers that are empty, unparsable or drop more than
// half of the mapped services are refused whole.

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"smmapi/model"
)

// GoneAtSupplier is the disabled_reason of a service whose supplier
// service vanished; its return re-enables only those.
const GoneAtSupplier = "gone at supplier"

// CatalogSyncStore stores what the catalog sync reads and changes.
type CatalogSyncStore interface {
	// ClaimSuppliers leases enabled suppliers whose catalog read is due.
	ClaimSuppliers(ctx context.Context, now time.Time, n int, token string, until time.Time) ([]model.Supplier, error)
	// ReleaseSupplier ends a claim: the next read at next, and the outcome
	// ("" or why the answer was refused) as catalog_error.
	ReleaseSupplier(ctx context.Context, id uint64, token string, next time.Time, catalogError string) error
	// SyncedServices returns the synced services mapped to a supplier.
	SyncedServices(ctx context.Context, supplierID uint64) ([]model.Service, error)
	// ChangeService runs fn on the service under its row lock and saves
	// it with the changes fn returns, in one transaction. A new rate
	// change, or a held rate released, settles older pending rate changes
	// as rejected.
	ChangeService(ctx context.Context, id uint64, fn func(*model.Service) ([]model.CatalogChange, error)) (model.Service, error)
}

// SyncRecorder counts catalog sync outcomes.
type SyncRecorder interface {
	// CatalogSync counts one supplier's round: "applied", "unchanged",
	// "refused" (empty, unparsable, half dropped) or "failed" (no answer).
	CatalogSync(supplier uint64, outcome string)
}

// CatalogSync applies suppliers' catalog changes to synced services.
type CatalogSync struct {
	store     CatalogSyncStore
	suppliers *Suppliers
	up        Upstream
	inv       *Invalidator
	rec       SyncRecorder
	log       *slog.Logger
	now       Clock
	// Interval is how often each supplier's catalog is read; MaxChange the
	// largest rate change in percent applied without an admin.
	Interval  time.Duration
	MaxChange int64
	Lease     time.Duration
}

// NewCatalogSync returns a CatalogSync.
func NewCatalogSync(store CatalogSyncStore, suppliers *Suppliers, up Upstream, inv *Invalidator, rec SyncRecorder,
	log *slog.Logger, now Clock, interval time.Duration, maxChange int64, upstreamTimeout time.Duration) *CatalogSync {
	return &CatalogSync{store: store, suppliers: suppliers, up: up, inv: inv, rec: rec, log: log, now: now,
		Interval: interval, MaxChange: maxChange, Lease: upstreamTimeout + 2*time.Minute}
}

// Round syncs the suppliers whose catalog read is due; it returns how many.
func (c *CatalogSync) Round(ctx context.Context) (int, error) {
	token, now := claimToken(), c.now()
	sups, err := c.store.ClaimSuppliers(ctx, now, 10, token, now.Add(c.Lease))
	if err != nil {
		return 0, fmt.Errorf("catalog sync: claim: %w", err)
	}
	for _, sup := range sups {
		outcome, refused := c.sync(ctx, sup)
		c.rec.CatalogSync(sup.ID, outcome)
		if err := c.store.ReleaseSupplier(ctx, sup.ID, token, c.now().Add(c.Interval), refused); err != nil {
			c.log.WarnContext(ctx, "catalog sync: release supplier", "supplier", sup.ID, "err", err)
		}
	}
	return len(sups), nil
}

// sync reads one supplier's catalog and applies it. refused is the
// supplier's catalog_error: why the answer was not applied ("" if it was).
func (c *CatalogSync) sync(ctx context.Context, sup model.Supplier) (outcome, refused string) {
	svcs, err := c.store.SyncedServices(ctx, sup.ID)
	if err != nil {
		c.log.WarnContext(ctx, "catalog sync: read services", "supplier", sup.ID, "err", err)
		return "failed", sup.CatalogError
	}
	if len(svcs) == 0 {
		return "unchanged", ""
	}
	ep, err := c.suppliers.Endpoint(ctx, sup.ID)
	if err != nil {
		return "failed", sup.CatalogError
	}
	raw, err := c.up.Services(ctx, ep) // no transaction, no lock
	if ue, ok := asUpstream(err); ok && (ue.Outcome == OutcomeRefused || strings.HasSuffix(ue.Message, "not JSON")) {
		// It answered, but not a catalog (HTML from a proxy, an error).
		c.log.WarnContext(ctx, "catalog sync: answer refused", "supplier", sup.ID, "reason", ue.Message)
		return "refused", "unparsable catalog: " + clipText(ue.Message, 200)
	}
	if err != nil {
		c.log.WarnContext(ctx, "catalog sync: supplier did not answer", "supplier", sup.ID, "err", err)
		return "failed", "no answer: " + clipText(err.Error(), 200)
	}
	byID, why := checkCatalog(raw, svcs)
	if why != "" {
		c.log.WarnContext(ctx, "catalog sync: answer refused", "supplier", sup.ID, "reason", why)
		return "refused", why
	}
	changed := 0
	for _, s := range svcs {
		entry, ok := byID[s.SupplierService]
		var e *SupplierService
		if ok {
			e = &entry
		}
		// Most services are unchanged in a round: those that are by the
		// copy read above open no transaction (one that changes meanwhile
		// is seen by the next round); the others are decided again under
		// the row lock.
		if cp := s; len(syncChanges(&cp, e, sup, c.MaxChange)) == 0 && cp == s {
			continue
		}
		var n int
		_, err := c.store.ChangeService(ctx, s.ID, func(s *model.Service) ([]model.CatalogChange, error) {
			if !s.Sync || s.SupplierID == nil || *s.SupplierID != sup.ID { // changed meanwhile
				return nil, nil
			}
			ch := syncChanges(s, e, sup, c.MaxChange)
			n = len(ch)
			return ch, nil
		})
		if err != nil {
			c.log.WarnContext(ctx, "catalog sync: apply", "supplier", sup.ID, "service", s.ID, "err", err)
			continue
		}
		changed += n
	}
	if changed == 0 {
		return "unchanged", ""
	}
	c.inv.Changed(ctx, TopicCatalog)
	c.log.InfoContext(ctx, "catalog sync applied", "supplier", sup.ID, "changes", changed)
	return "applied", ""
}

// checkCatalog parses an answer and refuses it when it is unparsable,
// empty, or lacks more than half of the supplier services the synced
// services map to (not counting those already gone).
func checkCatalog(raw []byte, svcs []model.Service) (map[string]SupplierService, string) {
	cat, err := ParseSupplierCatalog(raw)
	if err != nil {
		return nil, "unparsable catalog: " + err.Error()
	}
	if len(cat) == 0 {
		return nil, "empty catalog"
	}
	byID := make(map[string]SupplierService, len(cat))
	for _, e := range cat {
		byID[e.ID] = e
	}
	mapped, missing := map[string]bool{}, map[string]bool{}
	for _, s := range svcs {
		if s.DisabledReason == GoneAtSupplier {
			continue
		}
		mapped[s.SupplierService] = true
		if _, ok := byID[s.SupplierService]; !ok {
			missing[s.SupplierService] = true
		}
	}
	if 2*len(missing) > len(mapped) {
		return nil, fmt.Sprintf("catalog drops %d of %d mapped services", len(missing), len(mapped))
	}
	return byID, ""
}

// syncChanges applies a supplier entry (nil: gone) to a synced service and
// returns the change-log rows. A rate change beyond maxChange percent of
// the old rate, or a supplier rate of 0, is held as pending instead.
func syncChanges(s *model.Service, e *SupplierService, sup model.Supplier, maxChange int64) []model.CatalogChange {
	var out []model.CatalogChange
	rec := func(field, old, new, status string) {
		out = append(out, model.CatalogChange{ServiceID: s.ID, SupplierID: &sup.ID, Field: field, Old: old, New: new,
			Source: model.ChangeSync, Status: status})
	}
	if e == nil {
		if s.Enabled {
			s.Enabled, s.DisabledReason = false, GoneAtSupplier
			rec("enabled", "true", "false", model.ChangeApplied)
		}
		return out
	}
	if !s.Enabled && s.DisabledReason == GoneAtSupplier {
		s.Enabled, s.DisabledReason = true, ""
		rec("enabled", "false", "true", model.ChangeApplied)
	}
	ints := []struct {
		field    string
		cur      *int64
		supplier int64
	}{{"min", &s.Min, e.Min}, {"max", &s.Max, e.Max}}
	for _, f := range ints {
		if *f.cur != f.supplier {
			rec(f.field, strconv.FormatInt(*f.cur, 10), strconv.FormatInt(f.supplier, 10), model.ChangeApplied)
			*f.cur = f.supplier
		}
	}
	bools := []struct {
		field    string
		cur      *bool
		supplier bool
	}{{"refill", &s.Refill, e.Refill}, {"cancel", &s.Cancel, e.Cancel}, {"dripfeed", &s.Dripfeed, e.Dripfeed}}
	for _, f := range bools {
		if *f.cur != f.supplier {
			rec(f.field, strconv.FormatBool(*f.cur), strconv.FormatBool(f.supplier), model.ChangeApplied)
			*f.cur = f.supplier
		}
	}
	syncRate(s, e.Rate, sup, maxChange, &out)
	return out
}

// syncRate follows the supplier's rate through the service's price rule
// (a service without one keeps its rate).
func syncRate(s *model.Service, supplier decimal.Decimal, sup model.Supplier, maxChange int64, out *[]model.CatalogChange) {
	text := supplier.String()
	r, ok := rule(s)
	switch {
	case !ok || text == s.SupplierRate:
		if ok && s.HeldRate != nil { // back where it was: nothing to decide
			s.HeldRate = nil
		}
		return
	case s.HeldRate != nil && *s.HeldRate == text: // already held for an admin
		return
	}
	rate, err := RuleRate(supplier, sup.CurrencyRate, r)
	if err != nil {
		return // beyond any amount: never applied
	}
	c := model.CatalogChange{ServiceID: s.ID, SupplierID: &sup.ID, Field: "rate", Old: s.Rate.String(), New: rate.String(),
		Source: model.ChangeSync, Status: model.ChangeApplied, SupplierRate: text}
	if rate == 0 || supplier.IsZero() || tooBig(s.Rate, rate, maxChange) {
		c.Status, s.HeldRate = model.ChangePending, &text
	} else {
		s.Rate, s.SupplierRate, s.HeldRate = rate, text, nil
	}
	*out = append(*out, c)
}

// tooBig reports a change from old to new of more than pct percent of old.
func tooBig(old, new model.Money, pct int64) bool {
	d := int64(new - old)
	if d < 0 {
		d = -d
	}
	return old == 0 || d*100 > int64(old)*pct
}
