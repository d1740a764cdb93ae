// Package service holds the use cases: one small type per action, the
// interfaces it needs from storage, and the one error type. It never imports
// Echo, GORM or go-redis.
package service

import (
	"context"
	"strconv"
	"time"

	"smmapi/model"
)

// Actions lists every use case: the table of contents of the service.
// It is built only in main.go.
type Actions struct {
	Auth *Auth

	// Public API (/api/v2, /api/v3).
	Services     *Services
	Add          *Add
	Status       *Status
	Refill       *Refill
	RefillStatus *RefillStatus
	Cancel       *Cancel
	Balance      *Balance

	// Internal API.
	Sites   *Sites
	Users   *Users
	Prices  *Prices
	APIKeys *APIKeys
	Catalog *Catalog
	Orders  *Orders
	// Sales is the sales report (orders' revenue, refunds, cost, profit).
	Sales *Sales
	// Subscriptions records posts by hand (and runs their worker).
	Subscriptions *Subscriptions
	Tickets       *Tickets
	Events        *Events
	Suppliers     *Suppliers
	// CatalogChanges lists and settles catalog changes and imports.
	CatalogChanges *CatalogChanges
	Fulfil         *Fulfil
	Webhooks       *Webhooks
}

// Account is the authenticated caller of the public API.
type Account struct {
	UserID uint64
	SiteID uint64
	KeyID  uint64
	// OrderIDFormat is how new orders of this account through this key
	// are numbered, resolved (account, site, configuration): "alnum" or
	// "numeric". Its answers carry numeric IDs as JSON numbers.
	OrderIDFormat string
	// Pricing decides the rates its services answer shows and add charges.
	Pricing Pricing
}

// Clock returns the current time; tests inject their own.
type Clock func() time.Time

// Page asks for one page of a list: items after Cursor, at most Limit.
type Page struct {
	Cursor string
	Limit  int
}

// Page limits, shared by every list.
const (
	DefaultPageLimit = 50
	MaxPageLimit     = 500
)

// After returns the numeric cursor and the bounded limit of p.
func (p Page) After() (after uint64, limit int, err error) {
	limit = p.Limit
	if limit <= 0 {
		limit = DefaultPageLimit
	}
	if limit > MaxPageLimit {
		limit = MaxPageLimit
	}
	if p.Cursor != "" {
		after, err = strconv.ParseUint(p.Cursor, 10, 64)
		if err != nil || after == 0 {
			return 0, 0, Errorf(ErrInvalid, "invalid cursor")
		}
	}
	return after, limit, nil
}

// List is one page of a list and the cursor of the next ("" on the last).
type List[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor"`
}

// pageOf trims rows fetched with limit+1 to limit and sets the next cursor.
func pageOf[R any, T any](rows []R, limit int, id func(R) uint64, conv func(R) T) List[T] {
	l := List[T]{Items: make([]T, 0, min(len(rows), limit))}
	for i, r := range rows {
		if i == limit {
			l.NextCursor = strconv.FormatUint(id(rows[i-1]), 10)
			break
		}
		l.Items = append(l.Items, conv(r))
	}
	return l
}

// SiteStore stores sites and their domains.
type SiteStore interface {
	CreateSite(ctx context.Context, s *model.Site, domains []string) error
	// ListSites returns sites with ID > after, ascending, at most limit.
	ListSites(ctx context.Context, after uint64, limit int) ([]model.Site, map[uint64][]string, error)
	// SiteIDByHost returns the site owning host, or the main site.
	SiteIDByHost(ctx context.Context, host string) (uint64, error)
	SiteExists(ctx context.Context, id uint64) (bool, error)
	// SetSiteFormat sets a site's order ID format (nil: inherit) and
	// returns the site and its domains.
	SetSiteFormat(ctx context.Context, id uint64, format *string) (model.Site, []string, error)
}

// UserStore stores accounts and moves their money.
type UserStore interface {
	CreateUser(ctx context.Context, u *model.User) error
	User(ctx context.Context, id uint64) (model.User, error)
	// Balance reads one account's balance alone (the balance action).
	Balance(ctx context.Context, id uint64) (model.Money, error)
	// ListUsers returns users matching f with ID > after, ascending.
	ListUsers(ctx context.Context, f UserFilter, after uint64, limit int) ([]model.User, error)
	// UpdateUser sets an account's settings; a nil disabled or discount
	// or an unset format stays.
	UpdateUser(ctx context.Context, id uint64, disabled *bool, orderIDFormat Optional[string], discount *model.Percent) (model.User, error)
	// AdjustBalance adds amount (negative: deducts) and writes the ledger
	// row in one transaction; it fails with ErrConflict if the balance would
	// go below zero.
	AdjustBalance(ctx context.Context, e *model.LedgerEntry) error
	// Ledger returns entries with ID < before (0: newest), newest first.
	Ledger(ctx context.Context, userID, before uint64, limit int) ([]model.LedgerEntry, error)
}

// KeyOwner is what a key lookup needs to authenticate a request.
type KeyOwner struct {
	KeyID        uint64
	UserID       uint64
	SiteID       uint64
	UserDisabled bool
	// OrderIDFormat and SiteOrderIDFormat are the account's and the key's
	// site's own settings (nil: inherit).
	OrderIDFormat     *string
	SiteOrderIDFormat *string
	LastUsedAt        *time.Time
	// Discount, PriceRev and PriceCount are the account's pricing (see
	// model.User).
	Discount   model.Percent
	PriceRev   int64
	PriceCount int64
}

// KeyStore stores API keys (their hashes only).
type KeyStore interface {
	// PutKey installs hash as the user's key on site if the last generation
	// there is not after notAfter. It reports false and the last generation
	// time when the cooldown still runs. Atomic across instances.
	PutKey(ctx context.Context, k *model.APIKey, notAfter time.Time) (ok bool, last time.Time, err error)
	RevokeKey(ctx context.Context, userID, siteID uint64) error
	Keys(ctx context.Context, userID uint64) ([]model.APIKey, error)
	KeyByHash(ctx context.Context, hash string) (KeyOwner, error)
	TouchKey(ctx context.Context, keyID uint64, at time.Time) error
}

// CatalogStore stores the services catalog.
type CatalogStore interface {
	CreateService(ctx context.Context, s *model.Service) error
	Service(ctx context.Context, id uint64) (model.Service, error)
	// UpdateService applies fn to the stored service and saves it, atomically.
	UpdateService(ctx context.Context, id uint64, fn func(*model.Service) error) (model.Service, error)
	ListServices(ctx context.Context, after uint64, limit int) ([]model.Service, error)
	// EnabledServices returns the public catalog, by category then ID.
	EnabledServices(ctx context.Context) ([]model.Service, error)
	// ServicesByID returns the services with the given IDs.
	ServicesByID(ctx context.Context, ids []uint64) (map[uint64]model.Service, error)
}

// Cooldowns is the fast gate for the API-key generation cooldown: Redis in
// production, in-process in the embedded mode. The database stays the truth.
type Cooldowns interface {
	// Start begins a cooldown of d on name unless one runs; it then reports
	// false and the time left.
	Start(ctx context.Context, name string, d time.Duration) (ok bool, left time.Duration, err error)
	// Set (re)starts a cooldown of d on name, overwriting any.
	Set(ctx context.Context, name string, d time.Duration) error
	// Clear ends a cooldown, for a generation that failed to store.
	Clear(ctx context.Context, name string) error
}

// OrderStore stores orders.
type OrderStore interface {
	// PlaceOrder debits o.Charge, inserts o with an ID from newID and
	// writes the charge's ledger row, in one transaction; a colliding ID is
	// retried with a new one, a live order on the same link (o.LiveLink set)
	// is refused with MsgActiveOrder.
	// event builds the order.created event once the order has its IDs.
	PlaceOrder(ctx context.Context, o *model.Order, newID func() (string, error), event func(*model.Order) model.Event) error
	// UserOrders returns the user's orders among publicIDs, in one query.
	UserOrders(ctx context.Context, userID uint64, publicIDs []string) ([]model.Order, error)
	// OrderStates returns the status columns of the user's orders among
	// publicIDs, in one query.
	OrderStates(ctx context.Context, userID uint64, publicIDs []string) ([]model.OrderState, error)
}

// TicketStore stores refill and cancel tickets.
type TicketStore interface {
	// OpenTicket inserts t; ErrConflict when the order already has a live
	// ticket of that type.
	// event builds the ticket's created event once it has its ID; both are
	// written in one transaction.
	OpenTicket(ctx context.Context, t *model.Ticket, event func(*model.Ticket) model.Event) error
	// UserTickets returns the user's tickets of type typ among ids.
	UserTickets(ctx context.Context, userID uint64, typ model.TicketType, ids []uint64) ([]model.Ticket, error)
}

// OrderAdminStore stores orders for the internal API.
type OrderAdminStore interface {
	// ListOrders returns orders matching f with ID < before (0: newest),
	// newest first.
	ListOrders(ctx context.Context, f OrderFilter, before uint64, limit int) ([]model.Order, error)
	Order(ctx context.Context, publicID string) (model.Order, error)
	// ChangeOrder runs fn on the order under its lock and saves what fn
	// changed, with fn's refund as a ledger row, in one transaction.
	ChangeOrder(ctx context.Context, publicID string, fn func(*model.Order) (OrderChange, error)) (model.Order, error)
}

// TicketAdminStore stores tickets for the internal API.
type TicketAdminStore interface {
	ListTickets(ctx context.Context, f TicketFilter, before uint64, limit int) ([]TicketWithOrder, error)
	// DecideTicket runs fn on the ticket and its order under their locks and
	// saves both, with fn's refund, in one transaction.
	DecideTicket(ctx context.Context, id uint64, fn func(*model.Ticket, *model.Order) (OrderChange, error)) (TicketWithOrder, error)
}
