package service

// Internal API: sites. POST /internal/v1/sites {"name","domains"} → 201 with
// id and is_main; a domain already used → 409. GET lists them.

import (
	"context"
	"fmt"
	"strings"

	"smmapi/model"
)

// SiteInput creates a site.
type SiteInput struct {
	Name    string   `json:"name"`
	Domains []string `json:"domains"`
}

// SitePatch changes a site; unset fields stay.
type SitePatch struct {
	// OrderIDFormat is the default order ID format of accounts that
	// inherit, for orders placed through this site's keys; null inherits
	// the configuration's orders.id_format.
	OrderIDFormat Optional[string] `json:"order_id_format"`
}

// SiteView is a site as the internal API shows it.
type SiteView struct {
	ID            uint64   `json:"id"`
	Name          string   `json:"name"`
	Domains       []string `json:"domains"`
	IsMain        bool     `json:"is_main"`
	OrderIDFormat *string  `json:"order_id_format"`
}

// Sites administers sites.
type Sites struct {
	store SiteStore
	inv   *Invalidator
}

// NewSites returns a Sites; a new or changed site drops every instance's
// cached key and host look-ups through inv.
func NewSites(store SiteStore, inv *Invalidator) *Sites { return &Sites{store: store, inv: inv} }

// Create adds a child site.
func (s *Sites) Create(ctx context.Context, in SiteInput) (SiteView, error) {
	name := strings.TrimSpace(in.Name)
	if name == "" || len(name) > 128 {
		return SiteView{}, Errorf(ErrInvalid, "name must be 1 to 128 characters")
	}
	if len(in.Domains) > 50 {
		return SiteView{}, Errorf(ErrInvalid, "at most 50 domains")
	}
	seen := map[string]bool{}
	var domains []string
	for _, raw := range in.Domains {
		d, ok := normalizeDomain(raw)
		if !ok {
			return SiteView{}, Errorf(ErrInvalid, "invalid domain %q", raw)
		}
		if !seen[d] {
			seen[d] = true
			domains = append(domains, d)
		}
	}
	site := model.Site{Name: name}
	if err := s.store.CreateSite(ctx, &site, domains); err != nil {
		return SiteView{}, fmt.Errorf("create site: %w", err)
	}
	s.inv.Changed(ctx, TopicKeys) // hosts that belonged to the main site
	return siteView(site, domains), nil
}

// Patch changes a site's settings. Accounts that inherit take a new format
// for orders placed after it, on every instance (their keys' cached
// look-ups are dropped with the admin answer).
func (s *Sites) Patch(ctx context.Context, id uint64, in SitePatch) (SiteView, error) {
	if !validFormat(in.OrderIDFormat.Value) {
		return SiteView{}, Errorf(ErrInvalid, "order_id_format must be alnum, numeric or null")
	}
	if !in.OrderIDFormat.Set {
		return SiteView{}, Errorf(ErrInvalid, "nothing to change")
	}
	site, domains, err := s.store.SetSiteFormat(ctx, id, in.OrderIDFormat.Value)
	if err != nil {
		return SiteView{}, fmt.Errorf("patch site %d: %w", id, err)
	}
	s.inv.Changed(ctx, TopicKeys) // accounts that inherit its ID format
	return siteView(site, domains), nil
}

func siteView(s model.Site, domains []string) SiteView {
	return SiteView{ID: s.ID, Name: s.Name, Domains: nonNil(domains), IsMain: s.IsMain, OrderIDFormat: s.OrderIDFormat}
}

// List returns one page of sites.
func (s *Sites) List(ctx context.Context, p Page) (List[SiteView], error) {
	after, limit, err := p.After()
	if err != nil {
		return List[SiteView]{}, err
	}
	rows, domains, err := s.store.ListSites(ctx, after, limit+1)
	if err != nil {
		return List[SiteView]{}, fmt.Errorf("list sites: %w", err)
	}
	return pageOf(rows, limit, func(r model.Site) uint64 { return r.ID }, func(r model.Site) SiteView {
		return siteView(r, domains[r.ID])
	}), nil
}

// NormalizeHost lowercases a Host header value and drops its port.
func NormalizeHost(h string) string {
	h = strings.ToLower(strings.TrimSpace(h))
	if strings.HasPrefix(h, "[") { // IPv6 literal
		if i := strings.Index(h, "]"); i > 0 {
			return h[:i+1]
		}
		return h
	}
	if i := strings.LastIndexByte(h, ':'); i >= 0 {
		h = h[:i]
	}
	return strings.TrimSuffix(h, ".")
}

// normalizeDomain reads a domain as an admin may write it: any case, with a
// numeric port or a trailing dot, which Host matching ignores anyway. It is
// stricter than NormalizeHost: "http://x.example" must not become "http".
func normalizeDomain(d string) (string, bool) {
	d = strings.ToLower(strings.TrimSpace(d))
	if i := strings.LastIndexByte(d, ':'); i >= 0 {
		if port := d[i+1:]; port == "" || strings.Trim(port, "0123456789") != "" {
			return "", false
		}
		d = d[:i]
	}
	d = strings.TrimSuffix(d, ".")
	return d, validDomain(d)
}

func validDomain(d string) bool {
	if d == "" || len(d) > 253 {
		return false
	}
	for _, r := range d {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '.') {
			return false
		}
	}
	return true
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
