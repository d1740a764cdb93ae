package service

// Internal API: the catalog change log and imports. GET /catalog-changes
// ?service_id=&supplier_id=&status= → newest first; POST
// /catalog-changes/{id}/decision {"decision":"apply"|"reject"} settles a
// pending one (else 409); POST /suppliers/{id}/import creates services from
// the supplier's live catalog with a markup rule.

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"smmapi/model"
)

// CatalogChangeFilter narrows the change log; zero values match all.
type CatalogChangeFilter struct {
	ServiceID, SupplierID uint64
	Status                string
}

// CatalogChangeStore stores the change log and imports.
type CatalogChangeStore interface {
	ListCatalogChanges(ctx context.Context, f CatalogChangeFilter, before uint64, limit int) ([]model.CatalogChange, error)
	DecideCatalogChange(ctx context.Context, id uint64, fn func(*model.CatalogChange, *model.Service) error) (model.CatalogChange, error)
	ImportServices(ctx context.Context, supplierID uint64, ss []model.Service, sync bool) error
}

// CatalogChangeView is one change as the internal API shows it.
type CatalogChangeView struct {
	ID        uint64 `json:"id"`
	ServiceID uint64 `json:"service_id"`
	Field     string `json:"field"`
	Old       string `json:"old"`
	New       string `json:"new"`
	Source    string `json:"source"`
	Status    string `json:"status"`
	CreatedAt string `json:"created_at"`
}

// DecisionInput settles a pending change.
type DecisionInput struct {
	Decision string `json:"decision"`
}

// ImportInput asks for services of a supplier's catalog: "services" is a
// list of the supplier's service IDs or "all".
type ImportInput struct {
	Services      json.RawMessage `json:"services"`
	Category      *string         `json:"category"`
	MarkupPercent NumText         `json:"markup_percent"`
	MarkupFixed   *NumText        `json:"markup_fixed"`
	Sync          bool            `json:"sync"`
}

// CatalogChanges lists and settles catalog changes and imports services.
type CatalogChanges struct {
	store     CatalogChangeStore
	suppliers *Suppliers
	inv       *Invalidator
}

// NewCatalogChanges returns a CatalogChanges.
func NewCatalogChanges(store CatalogChangeStore, suppliers *Suppliers, inv *Invalidator) *CatalogChanges {
	return &CatalogChanges{store: store, suppliers: suppliers, inv: inv}
}

// List returns one page of changes, newest first.
func (c *CatalogChanges) List(ctx context.Context, f CatalogChangeFilter, p Page) (List[CatalogChangeView], error) {
	switch f.Status {
	case "", model.ChangeApplied, model.ChangePending, model.ChangeRejected:
	default:
		return List[CatalogChangeView]{}, Errorf(ErrInvalid, "status must be applied, pending or rejected")
	}
	before, limit, err := p.After()
	if err != nil {
		return List[CatalogChangeView]{}, err
	}
	rows, err := c.store.ListCatalogChanges(ctx, f, before, limit+1)
	if err != nil {
		return List[CatalogChangeView]{}, fmt.Errorf("list catalog changes: %w", err)
	}
	return pageOf(rows, limit, func(c model.CatalogChange) uint64 { return c.ID }, changeView), nil
}

// Decide applies or rejects a pending change.
func (c *CatalogChanges) Decide(ctx context.Context, id uint64, in DecisionInput) (CatalogChangeView, error) {
	if in.Decision != "apply" && in.Decision != "reject" {
		return CatalogChangeView{}, Errorf(ErrInvalid, "decision must be apply or reject")
	}
	ch, err := c.store.DecideCatalogChange(ctx, id, func(ch *model.CatalogChange, s *model.Service) error {
		if ch.Status != model.ChangePending {
			return Errorf(ErrConflict, "catalog change %d is %s, not pending", ch.ID, ch.Status)
		}
		ch.Status = model.ChangeRejected
		if in.Decision == "reject" {
			return nil // the held rate stays held: the sync does not ask again for it
		}
		r, err := model.ParseMoney(ch.New)
		if err != nil {
			return fmt.Errorf("catalog change %d: new rate %q: %w", ch.ID, ch.New, err)
		}
		ch.Status = model.ChangeApplied
		s.Rate, s.SupplierRate, s.HeldRate = r, ch.SupplierRate, nil
		return nil
	})
	if err != nil {
		return CatalogChangeView{}, fmt.Errorf("decide catalog change %d: %w", id, err)
	}
	if ch.Status == model.ChangeApplied {
		c.inv.Changed(ctx, TopicCatalog)
	}
	return changeView(ch), nil
}

// Import creates services from the supplier's live catalog, priced by the
// markup rule: all of them or none.
func (c *CatalogChanges) Import(ctx context.Context, supplierID uint64, in ImportInput) (List[ServiceView], error) {
	r, err := PriceRuleInput{MarkupPercent: in.MarkupPercent, MarkupFixed: in.MarkupFixed}.rule()
	if err != nil {
		return List[ServiceView]{}, err
	}
	want, all, err := importIDs(in.Services)
	if err != nil {
		return List[ServiceView]{}, err
	}
	if in.Category != nil && (strings.TrimSpace(*in.Category) == "" || len(*in.Category) > 255) {
		return List[ServiceView]{}, Errorf(ErrInvalid, "category must be 1 to 255 characters or null")
	}
	sup, err := c.suppliers.store.Supplier(ctx, supplierID)
	if err != nil {
		return List[ServiceView]{}, fmt.Errorf("import: supplier %d: %w", supplierID, err)
	}
	raw, err := c.suppliers.Services(ctx, supplierID)
	if err != nil {
		return List[ServiceView]{}, err
	}
	cat, err := ParseSupplierCatalog(raw)
	if err != nil {
		return List[ServiceView]{}, Errorf(ErrUnavailable, "supplier catalog: %s", err)
	}
	var ss []model.Service
	found := map[string]bool{}
	for _, e := range cat {
		if !all && !want[e.ID] {
			continue
		}
		found[e.ID] = true
		s, err := importedService(e, sup, r, in)
		if err != nil {
			return List[ServiceView]{}, err
		}
		ss = append(ss, s)
	}
	for id := range want {
		if !found[id] {
			return List[ServiceView]{}, Errorf(ErrInvalid, "services: %q is not in the supplier's catalog", id)
		}
	}
	if len(ss) == 0 {
		return List[ServiceView]{}, Errorf(ErrInvalid, "services: nothing to import")
	}
	if err := c.store.ImportServices(ctx, supplierID, ss, in.Sync); err != nil {
		return List[ServiceView]{}, fmt.Errorf("import from supplier %d: %w", supplierID, err)
	}
	c.inv.Changed(ctx, TopicCatalog)
	out := List[ServiceView]{Items: make([]ServiceView, len(ss))}
	for i, s := range ss {
		out.Items[i] = serviceView(s)
	}
	return out, nil
}

// importIDs reads "services": "all" or a non-empty list of IDs.
func importIDs(raw json.RawMessage) (map[string]bool, bool, error) {
	var s string
	if json.Unmarshal(raw, &s) == nil && s == "all" {
		return nil, true, nil
	}
	var ids []json.Number
	if err := json.Unmarshal(raw, &ids); err != nil || len(ids) == 0 {
		var strs []string
		if err := json.Unmarshal(raw, &strs); err != nil || len(strs) == 0 {
			return nil, false, Errorf(ErrInvalid, `services must be "all" or a non-empty list of supplier service IDs`)
		}
		ids = ids[:0]
		for _, x := range strs {
			ids = append(ids, json.Number(x))
		}
	}
	want := make(map[string]bool, len(ids))
	for _, id := range ids {
		want[strings.TrimSpace(id.String())] = true
	}
	return want, false, nil
}

// importedService builds a catalog entry from a supplier's, checked as an
// admin's would be.
func importedService(e SupplierService, sup model.Supplier, r PriceRule, in ImportInput) (model.Service, error) {
	rate, err := RuleRate(e.Rate, sup.CurrencyRate, r)
	if err != nil {
		return model.Service{}, Errorf(ErrInvalid, "services: %s: rate out of range", e.ID)
	}
	cat := e.Category
	if in.Category != nil {
		cat = strings.TrimSpace(*in.Category)
	}
	pct, id := r.MarkupPercent, sup.ID
	s := model.Service{Enabled: true, SupplierID: &id, SupplierService: e.ID, Sync: in.Sync,
		MarkupPercent: &pct, MarkupFixed: r.MarkupFixed, SupplierRate: e.Rate.String()}
	name, typ, desc := e.Name, e.Type, e.Desc
	min, max := json.Number(fmt.Sprint(e.Min)), json.Number(fmt.Sprint(e.Max))
	rateN := json.Number(rate.String())
	if err := applyService(&s, ServiceInput{Name: &name, Type: &typ, Category: &cat, Rate: &rateN, Min: &min, Max: &max,
		Refill: &e.Refill, Cancel: &e.Cancel, Dripfeed: &e.Dripfeed, Description: &desc}); err != nil {
		return model.Service{}, Errorf(ErrInvalid, "services: %s: %s", e.ID, ErrorMessage(err))
	}
	return s, nil
}

func changeView(c model.CatalogChange) CatalogChangeView {
	return CatalogChangeView{ID: c.ID, ServiceID: c.ServiceID, Field: c.Field, Old: c.Old, New: c.New,
		Source: c.Source, Status: c.Status, CreatedAt: FormatTime(c.CreatedAt)}
}
