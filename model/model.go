// Package model holds the tables: plain data with no behaviour beyond
// formatting. Status enums equal their wire strings.
package model

import "time"

// Site is the main site (ID 1) or a child site. A public request belongs to
// the site whose domain matches its Host header.
type Site struct {
	ID     uint64 `gorm:"primaryKey"`
	Name   string `gorm:"size:128;not null"`
	IsMain bool   `gorm:"not null;default:false"`
	// OrderIDFormat is the default order ID format ("alnum", "numeric") of
	// accounts ordering through this site's keys; nil inherits the config.
	OrderIDFormat *string `gorm:"size:16"`
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// SiteDomain maps one host name to one site; a domain belongs to at most one
// site, which the unique index enforces across instances.
type SiteDomain struct {
	ID     uint64 `gorm:"primaryKey"`
	SiteID uint64 `gorm:"not null;index"`
	Domain string `gorm:"size:253;not null;uniqueIndex"`
}

// User is an account. It is global across sites and holds one API key per site.
type User struct {
	ID       uint64 `gorm:"primaryKey"`
	Username string `gorm:"size:64;not null;uniqueIndex"`
	Balance  Money  `gorm:"not null;default:0"`
	Disabled bool   `gorm:"not null;default:false"`
	// OrderIDFormat is the account's own order ID format; nil inherits
	// from the site whose key placed the order, then the configuration.
	// (Column id_format: the older NOT NULL order_id_format is migrated.)
	OrderIDFormat *string `gorm:"column:id_format;size:16"`
	// SuspectTruncatedIDs counts look-ups for IDs a child that casts
	// alphanumeric IDs into an INT column sends ("0", 1–9 digits).
	SuspectTruncatedIDs     int64 `gorm:"not null;default:0"`
	LastSuspectTruncationAt *time.Time
	// Discount is the account-wide discount on catalog rates (hundredths
	// of a percent). PriceRev counts changes of its own prices and
	// PriceCount says how many it has: with the discount they name the
	// account's price list, so a cached serialized catalog is found (and
	// outdated) without reading the prices.
	Discount   Percent `gorm:"column:discount;not null;default:0"`
	PriceRev   int64   `gorm:"not null;default:0"`
	PriceCount int64   `gorm:"not null;default:0"`
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// UserPrice is an account's own rate for one service, replacing the
// catalog rate (and the account's discount) for that service.
type UserPrice struct {
	UserID    uint64 `gorm:"primaryKey;autoIncrement:false"`
	ServiceID uint64 `gorm:"primaryKey;autoIncrement:false;index"`
	Rate      Money  `gorm:"not null"`
	UpdatedAt time.Time
}

// APIKey is the single key slot of a user on a site. KeyHash is NULL once the
// key is revoked, but the row stays: GeneratedAt is the database's truth for
// the generation cooldown, which revoking must not reset.
type APIKey struct {
	ID          uint64     `gorm:"primaryKey"`
	UserID      uint64     `gorm:"not null;uniqueIndex:idx_api_keys_user_site"`
	SiteID      uint64     `gorm:"not null;uniqueIndex:idx_api_keys_user_site"`
	KeyHash     *string    `gorm:"size:64;uniqueIndex"`
	Hint        string     `gorm:"size:16;not null"`
	GeneratedAt time.Time  `gorm:"not null"`
	LastUsedAt  *time.Time `gorm:""`
}

// LedgerKind says why a balance moved.
const (
	LedgerAdjustment = "adjustment"
	LedgerCharge     = "charge"
	LedgerRefund     = "refund"
)

// LedgerEntry is one balance movement. A user's balance always equals the sum
// of their entries' amounts.
type LedgerEntry struct {
	ID           uint64 `gorm:"primaryKey"`
	UserID       uint64 `gorm:"not null;index:idx_ledger_user_id,priority:1"`
	Amount       Money  `gorm:"not null"`
	BalanceAfter Money  `gorm:"not null"`
	Kind         string `gorm:"size:16;not null"`
	Ref          string `gorm:"size:64;not null;default:''"`
	Reason       string `gorm:"size:255;not null;default:''"`
	CreatedAt    time.Time
}

// Service is one entry of the catalog. Rate is the price per 1000.
type Service struct {
	ID              uint64  `gorm:"primaryKey"`
	Name            string  `gorm:"size:255;not null"`
	Type            string  `gorm:"size:32;not null"`
	Category        string  `gorm:"size:255;not null;index:idx_services_category_id,priority:1"`
	Rate            Money   `gorm:"not null"`
	Min             int64   `gorm:"not null"`
	Max             int64   `gorm:"not null"`
	Refill          bool    `gorm:"not null;default:false"`
	Cancel          bool    `gorm:"not null;default:false"`
	Dripfeed        bool    `gorm:"not null;default:false"`
	Description     string  `gorm:"type:text"`
	Enabled         bool    `gorm:"not null"`
	SupplierID      *uint64 `gorm:""`
	SupplierService string  `gorm:"size:64;not null;default:''"`
	RefillDays      int64   `gorm:"not null;default:0"`
	// MarkupPercent and MarkupFixed are the price rule of a service priced
	// from its supplier's rate (nil percent: no rule). With Sync the
	// catalog sync follows the supplier: SupplierRate is the supplier's
	// rate last applied (its own text: suppliers send more than 4
	// decimals), HeldRate one held for an admin (pending change).
	MarkupPercent  *Percent `gorm:""`
	MarkupFixed    Money    `gorm:"not null;default:0"`
	Sync           bool     `gorm:"not null;default:false"`
	SupplierRate   string   `gorm:"size:32;not null;default:''"`
	HeldRate       *string  `gorm:"size:32"`
	DisabledReason string   `gorm:"size:64;not null;default:''"`
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// Catalog change sources and statuses.
const (
	ChangeSync   = "supplier_sync"
	ChangeAdmin  = "admin"
	ChangeImport = "import"

	ChangeApplied  = "applied"
	ChangePending  = "pending"
	ChangeRejected = "rejected"
)

// CatalogChange is one change of a service's field, recorded with the
// change itself (or held: pending, for a rate the sync would not apply).
type CatalogChange struct {
	ID         uint64  `gorm:"primaryKey"`
	ServiceID  uint64  `gorm:"not null;index"`
	SupplierID *uint64 `gorm:"index"`
	Field      string  `gorm:"size:16;not null"`
	Old        string  `gorm:"size:64;not null;default:''"`
	New        string  `gorm:"size:64;not null;default:''"`
	Source     string  `gorm:"size:16;not null"`
	Status     string  `gorm:"size:16;not null;index"`
	// SupplierRate is the supplier's rate a held rate change comes from,
	// applied with it.
	SupplierRate string `gorm:"size:32;not null;default:''"`
	CreatedAt    time.Time
}

// Status is an order's status, spelled as on the wire. Which status may
// follow which, and who may move it, is the lifecycle's transition table
// (service/lifecycle.go), not this type.
type Status string

// Order statuses, spelled as on the wire.
const (
	StatusPending    Status = "Pending"
	StatusInProgress Status = "In progress"
	StatusProcessing Status = "Processing"
	StatusCompleted  Status = "Completed"
	StatusPartial    Status = "Partial"
	StatusCanceled   Status = "Canceled"

	// Subscriptions only (Completed and Canceled are shared).
	StatusActive  Status = "Active"
	StatusPaused  Status = "Paused"
	StatusExpired Status = "Expired"
)

// OrderType says which lifecycle an order follows: its row set in the
// transition table.
type OrderType string

// Order types.
const (
	// OrderDefault is a one-off order (drip-feed included): every service
	// type but Subscriptions.
	OrderDefault OrderType = "default"
	// OrderSubscription is a Subscriptions order: it watches an account
	// and gets one child order (a default order) per delivered post.
	OrderSubscription OrderType = "subscription"
)

// Pause reasons of a subscription: only a pause for funds is lifted by
// the worker when the balance covers a post again.
const (
	PauseFunds = "funds"
	PauseAdmin = "admin"
)

// OrderState is what the status action reads of an order: a narrow
// projection, so a 100-ID status allocates a hundred small rows instead of
// a hundred whole orders.
type OrderState struct {
	PublicID            string
	UserID              uint64
	Charge, Refunded    Money
	StartCount, Remains int64
	Status              Status
	Runs, RunsDone      int64
	// Subscriptions: Type, posts delivered, the expiry and the children.
	Type      OrderType
	PostsDone int64
	ExpiresAt *time.Time
	Children  string
}

// InternStatus returns the constant for a known status spelling, so that
// scanning one allocates nothing; anything else is copied.
func InternStatus(b []byte) Status {
	switch string(b) { // no allocation: the compiler compares in place
	case string(StatusPending):
		return StatusPending
	case string(StatusInProgress):
		return StatusInProgress
	case string(StatusProcessing):
		return StatusProcessing
	case string(StatusCompleted):
		return StatusCompleted
	case string(StatusPartial):
		return StatusPartial
	case string(StatusCanceled):
		return StatusCanceled
	case string(StatusActive):
		return StatusActive
	case string(StatusPaused):
		return StatusPaused
	case string(StatusExpired):
		return StatusExpired
	}
	return Status(b)
}

// Forwarding states of an order with a supplier.
const (
	// ForwardQueued waits to be sent (again) at NextAt.
	ForwardQueued = "queued"
	// ForwardSending is in flight: if its claim lapses, the outcome is
	// unknown and the order goes to reconciliation, never sent again blindly.
	ForwardSending = "sending"
	// ForwardSent is at the supplier; its status is synced at NextAt.
	ForwardSent = "sent"
	// ForwardReconcile needs an admin: the supplier may or may not have it.
	ForwardReconcile = "reconcile"
	// ForwardError needs an admin: the supplier refused it.
	ForwardError = "error"
	// ForwardDone is final: nothing more to sync.
	ForwardDone = "done"
)

// Order is one order. PublicID is the random ID clients see; the numeric ID
// is internal and never exposed or looked up on the public API.
type Order struct {
	ID        uint64 `gorm:"primaryKey"`
	PublicID  string `gorm:"size:16;not null;uniqueIndex"`
	UserID    uint64 `gorm:"not null;index:idx_orders_user_id,priority:1;uniqueIndex:idx_orders_live_link,priority:1"`
	SiteID    uint64 `gorm:"not null;index"`
	ServiceID uint64 `gorm:"not null;index;uniqueIndex:idx_orders_live_link,priority:2"`
	Link      string `gorm:"size:1024;not null;default:''"`
	LinkHash  string `gorm:"size:64;not null;default:''"`
	// LiveLink is LinkHash while the order is not final (and the duplicate
	// link guard is on), NULL after: its unique index allows one live order
	// per account, service and link, enforced by the database itself.
	LiveLink   *string `gorm:"size:64;uniqueIndex:idx_orders_live_link,priority:3"`
	Quantity   int64   `gorm:"not null"`
	Runs       int64   `gorm:"not null;default:0"`
	Interval   int64   `gorm:"not null;default:0"`
	RunsDone   int64   `gorm:"not null;default:0"`
	Comments   string  `gorm:"size:16777215"`
	Username   string  `gorm:"size:1024;not null;default:''"`
	Params     string  `gorm:"size:16777215"`
	Charge     Money   `gorm:"not null"`
	Refunded   Money   `gorm:"not null;default:0"`
	StartCount int64   `gorm:"not null;default:0"`
	Remains    int64   `gorm:"not null;default:0"`
	Status     Status  `gorm:"size:16;not null;index;index:idx_orders_expiry,priority:1"`
	// Type picks the order's rows of the lifecycle table.
	Type          OrderType `gorm:"size:16;not null;default:default"`
	SupplierID    *uint64
	SupplierOrder string `gorm:"size:64;not null;default:''"`
	// FinishedAt is when the order reached a final status; refill windows
	// count from it.
	FinishedAt *time.Time

	// Subscriptions. A subscription keeps Rate (per 1000, at placement),
	// Posts (the prepaid posts, posts + old_posts; 0 = unlimited), the
	// posts delivered, its expiry (the end of the date sent, UTC) and its
	// children's public IDs oldest first (comma list, written under the
	// parent's row lock with each child). A child has ParentID; ChildKey
	// ("<parent row ID>:<supplier child ID>") is unique, so an upstream
	// child is created once whichever instance sees it first.
	Rate        Money      `gorm:"not null;default:0"`
	Posts       int64      `gorm:"not null;default:0"`
	PostsDone   int64      `gorm:"not null;default:0"`
	ExpiresAt   *time.Time `gorm:"index:idx_orders_expiry,priority:2"`
	PauseReason string     `gorm:"size:16;not null;default:''"`
	Children    string     `gorm:"size:16777215"`
	ParentID    *uint64    `gorm:"index"`
	ChildKey    *string    `gorm:"size:96;uniqueIndex"`

	// Cost is what the supplier charged for the order in the service
	// currency (its charge × the supplier's currency rate, net of its own
	// refunds); nil until a supplier's answer carried it. SupplierCharge
	// is that charge as the supplier wrote it, so an unchanged charge is
	// not converted again at a later currency rate.
	Cost           *Money `gorm:""`
	SupplierCharge string `gorm:"size:32;not null;default:''"`

	// Fulfilment upstream. ForwardState is "" for manual orders, else one
	// of the Forward* states; work is claimed with a lease (ClaimToken
	// until ClaimUntil) so that one instance handles an order at a time.
	SupplierService string     `gorm:"size:64;not null;default:''"`
	ForwardState    string     `gorm:"size:16;not null;default:'';index:idx_orders_forward,priority:1"`
	NextAt          *time.Time `gorm:"index:idx_orders_forward,priority:2"`
	Attempts        int64      `gorm:"not null;default:0"`
	LastError       string     `gorm:"size:512;not null;default:''"`
	ClaimToken      string     `gorm:"size:32;not null;default:''"` // read only with "id IN …": no index
	ClaimUntil      *time.Time
	CreatedAt       time.Time
	UpdatedAt       time.Time
}

// TicketType is what a ticket asks for: a refill or a cancel.
type TicketType string

// TicketStatus is where an admin's decision on a ticket stands.
type TicketStatus string

// Ticket types and statuses.
const (
	TicketRefill TicketType = "refill"
	TicketCancel TicketType = "cancel"

	TicketOpen      TicketStatus = "open"
	TicketForwarded TicketStatus = "forwarded"
	TicketCompleted TicketStatus = "completed"
	TicketRejected  TicketStatus = "rejected"
)

// Ticket is a refill or cancel request an admin decides on. OpenKey is set
// while the ticket is open or forwarded and NULL after, so its unique index
// allows one live ticket per order and type even when requests race.
type Ticket struct {
	ID          uint64       `gorm:"primaryKey"`
	Type        TicketType   `gorm:"size:8;not null;index:idx_tickets_type_status,priority:1"`
	OrderID     uint64       `gorm:"not null;index"`
	UserID      uint64       `gorm:"not null;index"`
	Status      TicketStatus `gorm:"size:16;not null;index:idx_tickets_type_status,priority:2"`
	OpenKey     *string      `gorm:"size:40;uniqueIndex"`
	Note        string       `gorm:"size:1024;not null;default:''"`
	SupplierRef string       `gorm:"size:64;not null;default:''"`
	// NextAt is when a forwarded refill's status is next asked upstream.
	NextAt     *time.Time `gorm:"index"`
	ClaimToken string     `gorm:"size:32;not null;default:''"`
	ClaimUntil *time.Time
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// Supplier is an upstream provider speaking the standard API. Its key is
// stored encrypted (AES-GCM) and never returned.
type Supplier struct {
	ID        uint64 `gorm:"primaryKey"`
	Name      string `gorm:"size:128;not null"`
	APIURL    string `gorm:"size:512;not null"`
	KeyCipher []byte `gorm:"size:512;not null"`
	Enabled   bool   `gorm:"not null"`
	// Currency is what the supplier charges in ("" = the service
	// currency); CurrencyRate converts: service currency per supplier unit.
	Currency     string `gorm:"size:8;not null;default:''"`
	CurrencyRate Money  `gorm:"not null;default:10000"`
	// CatalogError is why the last catalog answer was not applied ("":
	// it was). NextAt is when its catalog is read next, by the instance
	// holding the claim (ClaimToken until ClaimUntil).
	CatalogError string     `gorm:"size:512;not null;default:''"`
	NextAt       *time.Time `gorm:"index"`
	ClaimToken   string     `gorm:"size:32;not null;default:''"`
	ClaimUntil   *time.Time
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// All lists every table, for migration.
func All() []any {
	return []any{&Site{}, &SiteDomain{}, &User{}, &APIKey{}, &LedgerEntry{}, &Service{}, &Order{}, &Ticket{}, &Supplier{},
		&Event{}, &EventCursor{}, &UserPrice{}, &CatalogChange{}, &WebhookEndpoint{}, &WebhookDelivery{}, &SalesDay{}}
}

// Dimensions of the sales aggregates: every order counts once in each.
const (
	SalesService  uint8 = 1
	SalesSupplier uint8 = 2 // key 0: a manual order, no supplier
	SalesUser     uint8 = 3
	SalesSite     uint8 = 4 // also the day totals: every order has a site
)

// SalesDay holds the sums of the orders placed on one UTC day (Day as
// yyyymmdd) that share one key of one dimension, written in the same
// transaction as every change of them (placement, refund, cost). A key is
// spread over a few Slots, each transaction adding to one of them, so
// that concurrent placements of one site or service do not queue on one
// row lock; a report sums the slots. Refunds and costs count on the
// order's own day, whenever they happen.
type SalesDay struct {
	Dim      uint8  `gorm:"primaryKey;autoIncrement:false"`
	Day      int32  `gorm:"primaryKey;autoIncrement:false"`
	Key      uint64 `gorm:"column:key_id;primaryKey;autoIncrement:false"`
	Slot     uint8  `gorm:"primaryKey;autoIncrement:false"`
	Orders   int64  `gorm:"not null;default:0"`
	Quantity int64  `gorm:"not null;default:0"`
	Revenue  Money  `gorm:"not null;default:0"`
	Refunds  Money  `gorm:"not null;default:0"`
	// Cost sums the known costs; CostUnknown counts orders without one.
	Cost        Money `gorm:"not null;default:0"`
	CostUnknown int64 `gorm:"not null;default:0"`
}

// SalesBackfillCursor is the EventCursor row that records that the sales
// aggregates were built from the orders placed before they existed (Last:
// the highest order row ID the backfill read).
const SalesBackfillCursor = 3

// Event types: every change of an order, a refill ticket or a cancel ticket.
const (
	EventOrderCreated  = "order.created"
	EventOrderUpdated  = "order.updated"
	EventRefillCreated = "refill.created"
	EventRefillUpdated = "refill.updated"
	EventCancelCreated = "cancel.created"
	EventCancelUpdated = "cancel.updated"
)

// Event is one change, written in the transaction of the change itself (a
// rolled-back change leaves none). Seq is the public event ID, given after
// commit by the sequencer in the order events became visible, so a reader
// following "seq > last" never misses one that committed late; it is NULL
// until then.
type Event struct {
	ID     uint64  `gorm:"primaryKey"`
	Seq    *uint64 `gorm:"uniqueIndex"`
	Type   string  `gorm:"size:32;not null"`
	UserID uint64  `gorm:"not null;index"`
	// Order is the order's public ID, for the per-order feed: known before
	// the order row is written, so placement can write its event first,
	// outside the account's row lock.
	Order     string `gorm:"column:order_ref;size:16;not null;index"`
	Data      string `gorm:"type:text;not null"`
	CreatedAt time.Time
}

// EventCursor is the sequencer's single row: the last Seq given. Locking it
// makes one sequencer run at a time, on any instance.
type EventCursor struct {
	ID   uint64 `gorm:"primaryKey"`
	Last uint64 `gorm:"not null;default:0"`
}

// WebhookFanoutCursor is the EventCursor row of the webhook fan-out: the
// last event Seq turned into deliveries (row 1 is the sequencer's).
const WebhookFanoutCursor = 2

// WebhookEndpoint is an account's one webhook endpoint. Secrets are sealed
// with secrets.key; the previous one still signs until PrevValidUntil.
type WebhookEndpoint struct {
	ID             uint64 `gorm:"primaryKey"`
	UserID         uint64 `gorm:"not null;uniqueIndex"`
	URL            string `gorm:"size:2048;not null"`
	Events         string `gorm:"size:255;not null;default:''"` // comma list; empty: all
	Enabled        bool   `gorm:"not null"`
	DisabledReason string `gorm:"size:512;not null;default:''"`
	SecretCipher   []byte `gorm:"size:256;not null"`
	SecretHint     string `gorm:"size:32;not null"`
	PrevCipher     []byte `gorm:"size:256"`
	PrevValidUntil *time.Time
	// Failures counts consecutive failed attempts; a success resets it.
	Failures  int64 `gorm:"not null;default:0"`
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Webhook delivery statuses: pending (not tried yet, or redelivered),
// failed (tried, will be retried), succeeded, dead (given up).
const (
	DeliveryPending   = "pending"
	DeliveryFailed    = "failed"
	DeliverySucceeded = "succeeded"
	DeliveryDead      = "dead"
)

// WebhookDelivery is one event to send to one endpoint, claimed with a
// lease like fulfilment work. OrderRef and EventSeq order the deliveries
// of one order: none is sent while an older one of the same order and
// endpoint is still pending or failed. NextAt is NULL once it succeeded or
// died, so the (endpoint, next_at) index holds only work to do, in order.
type WebhookDelivery struct {
	ID         uint64     `gorm:"primaryKey"`
	EndpointID uint64     `gorm:"not null;index:idx_wh_deliveries_chain,priority:1;index:idx_wh_deliveries_due,priority:1"`
	UserID     uint64     `gorm:"not null;index:idx_wh_deliveries_user,priority:1"`
	EventRow   uint64     `gorm:"not null;index"` // events.id
	EventSeq   uint64     `gorm:"not null;index:idx_wh_deliveries_chain,priority:3"`
	Type       string     `gorm:"size:32;not null"`
	OrderRef   string     `gorm:"size:16;not null;index:idx_wh_deliveries_chain,priority:2"`
	Status     string     `gorm:"size:16;not null;index:idx_wh_deliveries_user,priority:2;index:idx_wh_deliveries_open,priority:1"`
	Attempts   int64      `gorm:"not null;default:0"`
	NextAt     *time.Time `gorm:"index:idx_wh_deliveries_due,priority:2"`
	// ExpiresAt is when retries stop (event time, or redelivery, + max_age).
	ExpiresAt      time.Time
	EventAt        time.Time `gorm:"index:idx_wh_deliveries_open,priority:2"`
	LastStatusCode int       `gorm:"not null;default:0"`
	LastError      string    `gorm:"size:512;not null;default:''"`
	LastResponse   string    `gorm:"size:1024;not null;default:''"`
	LatencyMS      int64     `gorm:"not null;default:0"`
	ClaimToken     string    `gorm:"size:32;not null;default:''"`
	ClaimUntil     *time.Time
	CreatedAt      time.Time
	DeliveredAt    *time.Time
	UpdatedAt      time.Time
}
