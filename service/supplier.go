package service

// Internal API: suppliers (货源). POST /suppliers {"name","api_url","api_key",
// "enabled"} → 201; the key is stored encrypted and never returned. GET list,
// PATCH, GET /{id}/balance and /{id}/services ask the supplier live. Without
// secrets.key every supplier endpoint answers 409.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"

	"smmapi/model"
)

// SupplierInput creates or patches a supplier; nil fields are absent.
type SupplierInput struct {
	Name    *string `json:"name"`
	APIURL  *string `json:"api_url"`
	APIKey  *string `json:"api_key"`
	Enabled *bool   `json:"enabled"`
	// Currency is what the supplier charges in; CurrencyRate the service
	// currency per supplier unit (> 0, at most 4 decimals).
	Currency     *string  `json:"currency"`
	CurrencyRate *NumText `json:"currency_rate"`
}

// SupplierView is a supplier without its key.
type SupplierView struct {
	ID       uint64 `json:"id"`
	Name     string `json:"name"`
	APIURL   string `json:"api_url"`
	Enabled  bool   `json:"enabled"`
	Currency string `json:"currency"`
	// CurrencyRate is a rate, not an amount, on the money grid.
	CurrencyRate model.Money `json:"currency_rate"`
	// CatalogError is why the last catalog answer was refused ("": none).
	CatalogError string `json:"catalog_error"`
	CreatedAt    string `json:"created_at"`
	UpdatedAt    string `json:"updated_at"`
}

// SupplierStore stores suppliers.
type SupplierStore interface {
	CreateSupplier(ctx context.Context, s *model.Supplier) error
	Supplier(ctx context.Context, id uint64) (model.Supplier, error)
	UpdateSupplier(ctx context.Context, id uint64, fn func(*model.Supplier) error) (model.Supplier, error)
	ListSuppliers(ctx context.Context, after uint64, limit int) ([]model.Supplier, error)
}

// Suppliers administers suppliers.
type Suppliers struct {
	store    SupplierStore
	sealer   Sealer // nil when secrets.key is not configured
	upstream Upstream
	currency string // the service currency, a supplier's default
	now      Clock
}

// NewSuppliers returns a Suppliers; sealer may be nil (no secrets.key).
func NewSuppliers(store SupplierStore, sealer Sealer, upstream Upstream, currency string, now Clock) *Suppliers {
	return &Suppliers{store: store, sealer: sealer, upstream: upstream, currency: currency, now: now}
}

var errNoSecrets = Errorf(ErrConflict, "secrets.key is not configured")

// Create adds a supplier.
func (s *Suppliers) Create(ctx context.Context, in SupplierInput) (SupplierView, error) {
	if s.sealer == nil {
		return SupplierView{}, errNoSecrets
	}
	if in.Name == nil || in.APIURL == nil || in.APIKey == nil {
		return SupplierView{}, Errorf(ErrInvalid, "name, api_url and api_key are required")
	}
	now := s.now()
	sup := model.Supplier{Enabled: true, Currency: s.currency, CurrencyRate: 1_0000, NextAt: &now}
	if err := s.apply(&sup, in); err != nil {
		return SupplierView{}, err
	}
	if err := s.store.CreateSupplier(ctx, &sup); err != nil {
		return SupplierView{}, fmt.Errorf("create supplier: %w", err)
	}
	return s.view(sup), nil
}

// Patch changes a supplier.
func (s *Suppliers) Patch(ctx context.Context, id uint64, in SupplierInput) (SupplierView, error) {
	if s.sealer == nil {
		return SupplierView{}, errNoSecrets
	}
	sup, err := s.store.UpdateSupplier(ctx, id, func(sup *model.Supplier) error { return s.apply(sup, in) })
	if err != nil {
		return SupplierView{}, fmt.Errorf("patch supplier %d: %w", id, err)
	}
	return s.view(sup), nil
}

// List returns one page of suppliers.
func (s *Suppliers) List(ctx context.Context, p Page) (List[SupplierView], error) {
	if s.sealer == nil {
		return List[SupplierView]{}, errNoSecrets
	}
	after, limit, err := p.After()
	if err != nil {
		return List[SupplierView]{}, err
	}
	rows, err := s.store.ListSuppliers(ctx, after, limit+1)
	if err != nil {
		return List[SupplierView]{}, fmt.Errorf("list suppliers: %w", err)
	}
	return pageOf(rows, limit, func(s model.Supplier) uint64 { return s.ID }, s.view), nil
}

// Balance asks the supplier its balance, live.
func (s *Suppliers) Balance(ctx context.Context, id uint64) (json.RawMessage, error) {
	ep, err := s.Endpoint(ctx, id)
	if err != nil {
		return nil, err
	}
	out, err := s.upstream.Balance(ctx, ep)
	return out, upstreamHTTPError(err)
}

// Services returns the supplier's live catalog, to map services onto it.
func (s *Suppliers) Services(ctx context.Context, id uint64) (json.RawMessage, error) {
	ep, err := s.Endpoint(ctx, id)
	if err != nil {
		return nil, err
	}
	out, err := s.upstream.Services(ctx, ep)
	return out, upstreamHTTPError(err)
}

// Endpoint returns where to call supplier id, with its key decrypted.
func (s *Suppliers) Endpoint(ctx context.Context, id uint64) (SupplierEndpoint, error) {
	return s.endpoint(ctx, id, false)
}

// ForwardEndpoint is Endpoint for sending new orders: a disabled supplier
// gets none (ErrConflict), while its orders already there keep syncing.
func (s *Suppliers) ForwardEndpoint(ctx context.Context, id uint64) (SupplierEndpoint, error) {
	return s.endpoint(ctx, id, true)
}

func (s *Suppliers) endpoint(ctx context.Context, id uint64, forwarding bool) (SupplierEndpoint, error) {
	if s.sealer == nil {
		return SupplierEndpoint{}, errNoSecrets
	}
	sup, err := s.store.Supplier(ctx, id)
	if err != nil {
		return SupplierEndpoint{}, fmt.Errorf("supplier %d: %w", id, err)
	}
	if forwarding && !sup.Enabled {
		return SupplierEndpoint{}, Errorf(ErrConflict, "supplier %d is disabled", id)
	}
	key, err := s.sealer.Open(sup.KeyCipher)
	if err != nil {
		return SupplierEndpoint{}, fmt.Errorf("supplier %d key (was secrets.key changed?): %w", id, err)
	}
	return SupplierEndpoint{ID: sup.ID, URL: sup.APIURL, Key: string(key), Currency: sup.Currency, CurrencyRate: sup.CurrencyRate}, nil
}

// upstreamHTTPError turns an upstream failure into a 503 naming it.
func upstreamHTTPError(err error) error {
	if ue, ok := asUpstream(err); ok {
		if ue.Outcome == OutcomeRefused {
			return Errorf(ErrConflict, "supplier refused: %s", ue.Message)
		}
		return Errorf(ErrUnavailable, "%s", ue.Message)
	}
	return err
}

func (s *Suppliers) apply(sup *model.Supplier, in SupplierInput) error {
	n := *sup
	if in.Name != nil {
		n.Name = strings.TrimSpace(*in.Name)
	}
	if in.APIURL != nil {
		n.APIURL = strings.TrimSpace(*in.APIURL)
	}
	if in.Enabled != nil {
		n.Enabled = *in.Enabled
	}
	if in.Currency != nil {
		n.Currency = strings.ToUpper(strings.TrimSpace(*in.Currency))
		if len(n.Currency) != 3 || strings.IndexFunc(n.Currency, func(r rune) bool { return r < 'A' || r > 'Z' }) >= 0 {
			return Errorf(ErrInvalid, "currency must be a 3-letter code")
		}
	}
	if in.CurrencyRate != nil {
		r, err := model.ParseMoney(string(*in.CurrencyRate))
		if err != nil || r <= 0 {
			return Errorf(ErrInvalid, "currency_rate must be a positive decimal with at most 4 decimals")
		}
		n.CurrencyRate = r
	}
	if n.Name == "" || len(n.Name) > 128 {
		return Errorf(ErrInvalid, "name must be 1 to 128 characters")
	}
	u, err := url.Parse(n.APIURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || len(n.APIURL) > 512 {
		return Errorf(ErrInvalid, "api_url must be an http or https URL")
	}
	if in.APIKey != nil {
		key := strings.TrimSpace(*in.APIKey)
		if key == "" || len(key) > 256 {
			return Errorf(ErrInvalid, "api_key must be 1 to 256 characters")
		}
		sealed, err := s.sealer.Seal([]byte(key))
		if err != nil {
			return err
		}
		n.KeyCipher = sealed
	}
	*sup = n
	return nil
}

func (s *Suppliers) view(sup model.Supplier) SupplierView {
	cur := sup.Currency
	if cur == "" { // added before suppliers had a currency
		cur = s.currency
	}
	return SupplierView{ID: sup.ID, Name: sup.Name, APIURL: sup.APIURL, Enabled: sup.Enabled, Currency: cur,
		CurrencyRate: sup.CurrencyRate, CatalogError: sup.CatalogError,
		CreatedAt: FormatTime(sup.CreatedAt), UpdatedAt: FormatTime(sup.UpdatedAt)}
}
