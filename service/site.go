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

// SiteView is a site as the internal API shows it.
type SiteView struct {
	ID      uint64   `json:"id"`
	Name    string   `json:"name"`
	Domains []string `json:"domains"`
	IsMain  bool     `json:"is_main"`
}

// Sites administers sites.
type Sites struct {
	store SiteStore
}

// NewSites returns a Sites.
func NewSites(store SiteStore) *Sites { return &Sites{store: store} }

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
	return SiteView{ID: site.ID, Name: site.Name, Domains: nonNil(domains), IsMain: site.IsMain}, nil
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
		return SiteView{ID: r.ID, Name: r.Name, Domains: nonNil(domains[r.ID]), IsMain: r.IsMain}
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
