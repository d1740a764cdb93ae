package service

// Internal API: the services catalog. POST /services → 201 with id; PATCH
// /services/{id} with any subset of fields; GET one or a list. Invalid
// (min > max, negative rate, unknown type) → 400.

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"smmapi/model"
)

// ServiceTypes are the standard type names of the reseller API.
var ServiceTypes = []string{
	"Default", "Package", "Custom Comments", "Custom Comments Package", "Mentions",
	"Mentions with Hashtags", "Mentions Custom List", "Mentions Hashtag",
	"Mentions User Followers", "Mentions Media Likers", "Comment Likes", "Poll",
	"Invites from Groups", "Subscriptions", "Web Traffic",
}

// ServiceInput creates or patches a service; nil fields are absent. Numbers
// are accepted as JSON numbers or strings.
type ServiceInput struct {
	Name            *string      `json:"name"`
	Type            *string      `json:"type"`
	Category        *string      `json:"category"`
	Rate            *json.Number `json:"rate"`
	Min             *json.Number `json:"min"`
	Max             *json.Number `json:"max"`
	Refill          *bool        `json:"refill"`
	Cancel          *bool        `json:"cancel"`
	Dripfeed        *bool        `json:"dripfeed"`
	Description     *string      `json:"description"`
	Enabled         *bool        `json:"enabled"`
	SupplierID      *uint64      `json:"supplier_id"`
	SupplierService *string      `json:"supplier_service"`
	RefillDays      *json.Number `json:"refill_days"`
	// PriceRule prices the service from its supplier's rate (null: none);
	// Sync lets the catalog sync follow the supplier.
	PriceRule Optional[PriceRuleInput] `json:"price_rule"`
	Sync      *bool                    `json:"sync"`
}

// PriceRuleInput is a price rule as sent: markup_percent (0–10000, 2
// decimals) and markup_fixed (non-negative, 4 decimals).
type PriceRuleInput struct {
	MarkupPercent NumText  `json:"markup_percent"`
	MarkupFixed   *NumText `json:"markup_fixed"`
}

// maxMarkup bounds markup_percent: 10000 % is far past any real margin.
const maxMarkup = 10000_00

func (in PriceRuleInput) rule() (PriceRule, error) {
	pct, err := parsePercent("markup_percent", in.MarkupPercent, 0, maxMarkup)
	if err != nil {
		return PriceRule{}, err
	}
	r := PriceRule{MarkupPercent: pct}
	if in.MarkupFixed != nil {
		if r.MarkupFixed, err = parseRate("markup_fixed", in.MarkupFixed); err != nil {
			return PriceRule{}, err
		}
	}
	return r, nil
}

// ServiceView is a catalog entry as the internal API shows it.
type ServiceView struct {
	ID              uint64      `json:"id"`
	Name            string      `json:"name"`
	Type            string      `json:"type"`
	Category        string      `json:"category"`
	Rate            model.Money `json:"rate"`
	Min             int64       `json:"min"`
	Max             int64       `json:"max"`
	Refill          bool        `json:"refill"`
	Cancel          bool        `json:"cancel"`
	Dripfeed        bool        `json:"dripfeed"`
	Description     string      `json:"description"`
	Enabled         bool        `json:"enabled"`
	SupplierID      *uint64     `json:"supplier_id"`
	SupplierService string      `json:"supplier_service"`
	RefillDays      int64       `json:"refill_days"`
	PriceRule       *PriceRule  `json:"price_rule"`
	Sync            bool        `json:"sync"`
	DisabledReason  string      `json:"disabled_reason"`
	CreatedAt       string      `json:"created_at"`
	UpdatedAt       string      `json:"updated_at"`
}

// Catalog administers services.
type Catalog struct {
	store     CatalogStore
	changes   CatalogSyncStore
	suppliers SupplierStore
	inv       *Invalidator
}

// NewCatalog returns a Catalog; changes drop every instance's cached
// catalog through inv, and are recorded in the change log through changes.
func NewCatalog(store CatalogStore, changes CatalogSyncStore, suppliers SupplierStore, inv *Invalidator) *Catalog {
	return &Catalog{store: store, changes: changes, suppliers: suppliers, inv: inv}
}

// checkSupplier refuses a supplier_id that names no supplier. It runs
// before the update's transaction: SQLite has one connection.
func (c *Catalog) checkSupplier(ctx context.Context, in ServiceInput) error {
	if in.SupplierID == nil || *in.SupplierID == 0 {
		return nil
	}
	if _, err := c.suppliers.Supplier(ctx, *in.SupplierID); err != nil {
		if ErrorCode(err) == ErrNotFound {
			return Errorf(ErrInvalid, "unknown supplier_id")
		}
		return err
	}
	return nil
}

// maxQuantity bounds min and max so that quantity × runs × rate stays far
// from int64 overflow.
const maxQuantity = 1_000_000_000

// Create adds a service. Name, type, category, rate, min and max are required.
func (c *Catalog) Create(ctx context.Context, in ServiceInput) (ServiceView, error) {
	if in.Name == nil || in.Type == nil || in.Category == nil || in.Rate == nil || in.Min == nil || in.Max == nil {
		return ServiceView{}, Errorf(ErrInvalid, "name, type, category, rate, min and max are required")
	}
	if err := c.checkSupplier(ctx, in); err != nil {
		return ServiceView{}, err
	}
	s := model.Service{Enabled: true}
	if err := applyService(&s, in); err != nil {
		return ServiceView{}, err
	}
	if err := c.store.CreateService(ctx, &s); err != nil {
		return ServiceView{}, fmt.Errorf("create service: %w", err)
	}
	c.inv.Changed(ctx, TopicCatalog)
	return serviceView(s), nil
}

// Patch changes any subset of a service's fields.
func (c *Catalog) Patch(ctx context.Context, id uint64, in ServiceInput) (ServiceView, error) {
	if err := c.checkSupplier(ctx, in); err != nil {
		return ServiceView{}, err
	}
	s, err := c.changes.ChangeService(ctx, id, func(s *model.Service) ([]model.CatalogChange, error) {
		old := *s
		if err := applyService(s, in); err != nil {
			return nil, err
		}
		if in.Enabled != nil && *in.Enabled {
			s.DisabledReason = "" // an admin's decision, not the sync's
		}
		return adminChanges(old, *s), nil
	})
	if err != nil {
		return ServiceView{}, fmt.Errorf("patch service %d: %w", id, err)
	}
	c.inv.Changed(ctx, TopicCatalog)
	return serviceView(s), nil
}

// Get returns one service.
func (c *Catalog) Get(ctx context.Context, id uint64) (ServiceView, error) {
	s, err := c.store.Service(ctx, id)
	if err != nil {
		return ServiceView{}, fmt.Errorf("get service %d: %w", id, err)
	}
	return serviceView(s), nil
}

// List returns one page of services, by ID.
func (c *Catalog) List(ctx context.Context, p Page) (List[ServiceView], error) {
	after, limit, err := p.After()
	if err != nil {
		return List[ServiceView]{}, err
	}
	rows, err := c.store.ListServices(ctx, after, limit+1)
	if err != nil {
		return List[ServiceView]{}, fmt.Errorf("list services: %w", err)
	}
	return pageOf(rows, limit, func(s model.Service) uint64 { return s.ID }, serviceView), nil
}

// applyService validates in and applies it to s; s is unchanged on error.
func applyService(s *model.Service, in ServiceInput) error {
	n := *s
	if in.Name != nil {
		n.Name = strings.TrimSpace(*in.Name)
	}
	if in.Type != nil {
		n.Type = *in.Type
	}
	if in.Category != nil {
		n.Category = strings.TrimSpace(*in.Category)
	}
	if in.Rate != nil {
		r, err := model.ParseMoney(string(*in.Rate))
		if err != nil || r < 0 {
			return Errorf(ErrInvalid, "rate must be a non-negative decimal with at most 4 decimals")
		}
		n.Rate = r
	}
	var err error
	if n.Min, err = intField("min", in.Min, n.Min); err != nil {
		return err
	}
	if n.Max, err = intField("max", in.Max, n.Max); err != nil {
		return err
	}
	if n.RefillDays, err = intField("refill_days", in.RefillDays, n.RefillDays); err != nil {
		return err
	}
	for _, b := range []struct {
		in  *bool
		out *bool
	}{{in.Refill, &n.Refill}, {in.Cancel, &n.Cancel}, {in.Dripfeed, &n.Dripfeed}, {in.Enabled, &n.Enabled}} {
		if b.in != nil {
			*b.out = *b.in
		}
	}
	if in.Description != nil {
		n.Description = *in.Description
	}
	if in.SupplierService != nil {
		n.SupplierService = strings.TrimSpace(*in.SupplierService)
	}
	if in.Sync != nil {
		n.Sync = *in.Sync
	}
	if in.PriceRule.Set {
		n.MarkupPercent, n.MarkupFixed = nil, 0
		if in.PriceRule.Value != nil {
			r, err := in.PriceRule.Value.rule()
			if err != nil {
				return err
			}
			n.MarkupPercent, n.MarkupFixed = &r.MarkupPercent, r.MarkupFixed
		}
	}
	if in.SupplierID != nil {
		// 0 unmaps the service (JSON null cannot be told from absent).
		n.SupplierID = nil
		if *in.SupplierID != 0 {
			id := *in.SupplierID
			n.SupplierID = &id
		}
	}

	switch {
	case n.Name == "" || len(n.Name) > 255:
		return Errorf(ErrInvalid, "name must be 1 to 255 characters")
	case !validServiceType(n.Type):
		return Errorf(ErrInvalid, "unknown type %q", n.Type)
	case n.Category == "" || len(n.Category) > 255:
		return Errorf(ErrInvalid, "category must be 1 to 255 characters")
	case n.Min < 1 || n.Max > maxQuantity:
		return Errorf(ErrInvalid, "min and max must be between 1 and %d", maxQuantity)
	case n.Min > n.Max:
		return Errorf(ErrInvalid, "min must not exceed max")
	case n.RefillDays < 0 || n.RefillDays > 36500:
		return Errorf(ErrInvalid, "refill_days must be between 0 and 36500")
	case len(n.Description) > 65535:
		return Errorf(ErrInvalid, "description is too long")
	case len(n.SupplierService) > 64:
		return Errorf(ErrInvalid, "supplier_service is too long")
	case n.Sync && (n.SupplierID == nil || n.SupplierService == ""):
		return Errorf(ErrInvalid, "sync needs supplier_id and supplier_service")
	}
	*s = n
	return nil
}

func intField(name string, in *json.Number, cur int64) (int64, error) {
	if in == nil {
		return cur, nil
	}
	v, err := strconv.ParseInt(string(*in), 10, 64)
	if err != nil {
		return 0, Errorf(ErrInvalid, "%s must be a whole number", name)
	}
	return v, nil
}

func validServiceType(t string) bool {
	for _, s := range ServiceTypes {
		if s == t {
			return true
		}
	}
	return false
}

func serviceView(s model.Service) ServiceView {
	return ServiceView{ID: s.ID, Name: s.Name, Type: s.Type, Category: s.Category, Rate: s.Rate,
		Min: s.Min, Max: s.Max, Refill: s.Refill, Cancel: s.Cancel, Dripfeed: s.Dripfeed,
		Description: s.Description, Enabled: s.Enabled, SupplierID: s.SupplierID,
		SupplierService: s.SupplierService, RefillDays: s.RefillDays, PriceRule: priceRule(s), Sync: s.Sync,
		DisabledReason: s.DisabledReason, CreatedAt: FormatTime(s.CreatedAt), UpdatedAt: FormatTime(s.UpdatedAt)}
}

func priceRule(s model.Service) *PriceRule {
	if r, ok := rule(&s); ok {
		return &r
	}
	return nil
}

// adminChanges lists what an admin changed of the fields the catalog sync
// also follows, for the change log.
func adminChanges(old, n model.Service) []model.CatalogChange {
	var out []model.CatalogChange
	for _, f := range []struct{ field, old, new string }{
		{"rate", old.Rate.String(), n.Rate.String()},
		{"min", strconv.FormatInt(old.Min, 10), strconv.FormatInt(n.Min, 10)},
		{"max", strconv.FormatInt(old.Max, 10), strconv.FormatInt(n.Max, 10)},
		{"refill", strconv.FormatBool(old.Refill), strconv.FormatBool(n.Refill)},
		{"cancel", strconv.FormatBool(old.Cancel), strconv.FormatBool(n.Cancel)},
		{"dripfeed", strconv.FormatBool(old.Dripfeed), strconv.FormatBool(n.Dripfeed)},
		{"enabled", strconv.FormatBool(old.Enabled), strconv.FormatBool(n.Enabled)},
	} {
		if f.old != f.new {
			out = append(out, model.CatalogChange{ServiceID: n.ID, SupplierID: n.SupplierID, Field: f.field,
				Old: f.old, New: f.new, Source: model.ChangeAdmin, Status: model.ChangeApplied})
		}
	}
	return out
}
