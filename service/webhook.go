package service

// Internal API: webhooks. PUT /users/{id}/webhook {"url","events","enabled"}
// → 201 with the secret (shown once) the first time, 200 after; GET → the
// endpoint (404 when none); DELETE → 204 (pending deliveries dropped);
// POST /rotate-secret → the new secret, the old one signing for 24 h more;
// GET /webhook/deliveries, POST /webhook-deliveries/{id}/redeliver → 202.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"smmapi/model"
)

// WebhookStore stores endpoints and their deliveries.
type WebhookStore interface {
	// CreateWebhook adds an account's endpoint; ErrConflict when it has one.
	CreateWebhook(ctx context.Context, e *model.WebhookEndpoint) error
	Webhook(ctx context.Context, userID uint64) (model.WebhookEndpoint, error)
	UpdateWebhook(ctx context.Context, userID uint64, fn func(*model.WebhookEndpoint) error) (model.WebhookEndpoint, error)
	// DeleteWebhook removes the endpoint and its pending deliveries.
	DeleteWebhook(ctx context.Context, userID uint64) error
	// ListDeliveries returns an account's deliveries with ID < before (0:
	// any), newest first; status "" lists all.
	ListDeliveries(ctx context.Context, userID uint64, status string, before uint64, limit int) ([]model.WebhookDelivery, error)
	// Redeliver makes a delivery pending again, due now, retried until
	// expires; ErrConflict when its endpoint is disabled.
	Redeliver(ctx context.Context, id uint64, now, expires time.Time) (model.WebhookDelivery, error)

	// FanOutEvents turns up to batch numbered events after the fan-out
	// cursor into deliveries, one per matching enabled endpoint, and moves
	// the cursor, in one transaction (one fan-out at a time); it returns
	// how many events it read and the deliveries it created, those it
	// leased by hot carrying hot's token.
	FanOutEvents(ctx context.Context, now time.Time, maxAge time.Duration, batch int, hot HotClaim) (int, []model.WebhookDelivery, error)
	// DueEndpoints returns the enabled endpoints not in skip that have due,
	// unclaimed deliveries.
	DueEndpoints(ctx context.Context, now time.Time, skip []uint64) ([]uint64, error)
	// ClaimDeliveries leases, per endpoint of want, up to its count of due
	// deliveries, each the oldest open one of its order.
	ClaimDeliveries(ctx context.Context, want map[uint64]int, now time.Time, token string, until time.Time) ([]model.WebhookDelivery, error)
	// LeaseListed leases those of ids that are due, free and the oldest
	// open delivery of their order.
	LeaseListed(ctx context.Context, ids []uint64, now time.Time, token string, until time.Time) ([]model.WebhookDelivery, error)
	// DeliveryWork reads the events and endpoints of claimed deliveries.
	DeliveryWork(ctx context.Context, ds []model.WebhookDelivery) (map[uint64]model.Event, map[uint64]model.WebhookEndpoint, error)
	// FinishDeliveries records attempts (each under its claim token) and
	// the endpoints' consecutive failures, in the order given, in one
	// transaction, and leases by next the due deliveries it allows; it
	// returns the endpoints that reached maxFailures and were disabled,
	// with reason(their last failed delivery), and the leased deliveries.
	FinishDeliveries(ctx context.Context, ds []model.WebhookDelivery, maxFailures int64,
		reason func(model.WebhookDelivery) string, next HotClaim) (disabled []uint64, leased []model.WebhookDelivery, err error)
	// ExpireDeliveries marks up to limit open deliveries of disabled
	// endpoints past their expiry dead (those of enabled ones die at their
	// next failed attempt).
	ExpireDeliveries(ctx context.Context, now time.Time, limit int) (int, error)
	// PruneDeliveries deletes up to limit finished deliveries created
	// before t.
	PruneDeliveries(ctx context.Context, before time.Time, limit int) (int, error)
	// WebhookBacklog counts open deliveries and gives the oldest's event
	// time (ok false: none).
	WebhookBacklog(ctx context.Context) (n int64, oldest time.Time, ok bool, err error)
}

// WebhookInput is the body of PUT /users/{id}/webhook; nil fields are
// absent (unchanged on an existing endpoint).
type WebhookInput struct {
	URL     *string   `json:"url"`
	Events  *[]string `json:"events"`
	Enabled *bool     `json:"enabled"`
}

// WebhookView is an endpoint as the internal API shows it; Secret only in
// the answer that created it.
type WebhookView struct {
	URL            string   `json:"url"`
	Events         []string `json:"events"`
	Enabled        bool     `json:"enabled"`
	SecretHint     string   `json:"secret_hint"`
	DisabledReason *string  `json:"disabled_reason"`
	CreatedAt      string   `json:"created_at"`
	UpdatedAt      string   `json:"updated_at"`
	Secret         string   `json:"secret,omitempty"`
}

// RotatedSecret is the answer of rotate-secret.
type RotatedSecret struct {
	Secret             string `json:"secret"`
	PreviousValidUntil string `json:"previous_valid_until"`
}

// DeliveryView is one delivery of the log.
type DeliveryView struct {
	ID             uint64  `json:"id"`
	EventID        uint64  `json:"event_id"`
	Type           string  `json:"type"`
	Status         string  `json:"status"`
	Attempts       int64   `json:"attempts"`
	NextAttemptAt  *string `json:"next_attempt_at"`
	LastStatusCode *int    `json:"last_status_code"`
	LastError      *string `json:"last_error"`
	LastResponse   *string `json:"last_response"`
	LatencyMS      *int64  `json:"latency_ms"`
	CreatedAt      string  `json:"created_at"`
	DeliveredAt    *string `json:"delivered_at"`
}

// WebhookConfig holds the webhooks.* settings.
type WebhookConfig struct {
	Timeout     time.Duration
	MaxAge      time.Duration
	MaxFailures int64
	// Backoff is the first retry's delay; it doubles per attempt up to
	// MaxBackoff, each drawn between half and all of it (jitter).
	Backoff     time.Duration
	MaxBackoff  time.Duration
	Concurrency int // deliveries in flight per instance
	PerEndpoint int // per endpoint per instance
}

// Webhooks administers accounts' endpoints and their delivery log.
type Webhooks struct {
	store  WebhookStore
	users  UserStore
	sealer Sealer // nil: no secrets.key, every endpoint call is 409
	policy *AddrPolicy
	cfg    WebhookConfig
	now    Clock
}

// NewWebhooks returns a Webhooks.
func NewWebhooks(store WebhookStore, users UserStore, sealer Sealer, policy *AddrPolicy, cfg WebhookConfig, now Clock) *Webhooks {
	return &Webhooks{store: store, users: users, sealer: sealer, policy: policy, cfg: cfg, now: now}
}

// secretOverlap is how long a rotated-out secret still signs.
const secretOverlap = 24 * time.Hour

// Put creates the account's endpoint (created true, the secret in the
// view) or changes it. enabled true turns an endpoint disabled by failures
// on again.
func (w *Webhooks) Put(ctx context.Context, userID uint64, in WebhookInput) (v WebhookView, created bool, err error) {
	if w.sealer == nil {
		return v, false, errNoSecrets
	}
	if _, err := w.users.User(ctx, userID); err != nil {
		return v, false, fmt.Errorf("webhook of user %d: %w", userID, err)
	}
	if in.URL != nil {
		if err := w.policy.CheckURL(*in.URL); err != nil {
			return v, false, err
		}
	}
	var events string
	if in.Events != nil {
		if events, err = webhookEvents(*in.Events); err != nil {
			return v, false, err
		}
	}
	e, err := w.store.UpdateWebhook(ctx, userID, func(e *model.WebhookEndpoint) error {
		if in.URL != nil {
			e.URL = *in.URL
		}
		if in.Events != nil {
			e.Events = events
		}
		if in.Enabled != nil {
			if *in.Enabled && !e.Enabled {
				e.Failures, e.DisabledReason = 0, ""
			}
			e.Enabled = *in.Enabled
		}
		return nil
	})
	if err == nil {
		return webhookView(e), false, nil
	}
	if ErrorCode(err) != ErrNotFound {
		return v, false, fmt.Errorf("update webhook: %w", err)
	}
	if in.URL == nil {
		return v, false, Errorf(ErrInvalid, "url is required")
	}
	secret, sealed, err := w.newSecret()
	if err != nil {
		return v, false, err
	}
	e = model.WebhookEndpoint{UserID: userID, URL: *in.URL, Events: events, Enabled: in.Enabled == nil || *in.Enabled,
		SecretCipher: sealed, SecretHint: secretHint(secret)}
	if err := w.store.CreateWebhook(ctx, &e); err != nil {
		// A racing PUT created it first: this one is a change of it.
		if ErrorCode(err) == ErrConflict {
			return w.Put(ctx, userID, in)
		}
		return v, false, fmt.Errorf("create webhook: %w", err)
	}
	v = webhookView(e)
	v.Secret = secret
	return v, true, nil
}

// Get returns the account's endpoint.
func (w *Webhooks) Get(ctx context.Context, userID uint64) (WebhookView, error) {
	e, err := w.store.Webhook(ctx, userID)
	if err != nil {
		return WebhookView{}, fmt.Errorf("webhook of user %d: %w", userID, err)
	}
	return webhookView(e), nil
}

// Delete removes the account's endpoint and drops its pending deliveries.
func (w *Webhooks) Delete(ctx context.Context, userID uint64) error {
	if err := w.store.DeleteWebhook(ctx, userID); err != nil {
		return fmt.Errorf("delete webhook of user %d: %w", userID, err)
	}
	return nil
}

// RotateSecret gives the endpoint a new secret; the current one keeps
// signing (beside it) for 24 hours. A rotation within those hours drops the
// older previous secret: at most two sign.
func (w *Webhooks) RotateSecret(ctx context.Context, userID uint64) (RotatedSecret, error) {
	if w.sealer == nil {
		return RotatedSecret{}, errNoSecrets
	}
	secret, sealed, err := w.newSecret()
	if err != nil {
		return RotatedSecret{}, err
	}
	until := w.now().Add(secretOverlap).UTC()
	_, err = w.store.UpdateWebhook(ctx, userID, func(e *model.WebhookEndpoint) error {
		e.PrevCipher, e.PrevValidUntil = e.SecretCipher, &until
		e.SecretCipher, e.SecretHint = sealed, secretHint(secret)
		return nil
	})
	if err != nil {
		return RotatedSecret{}, fmt.Errorf("rotate webhook secret of user %d: %w", userID, err)
	}
	return RotatedSecret{Secret: secret, PreviousValidUntil: FormatTime(until)}, nil
}

var deliveryStatuses = []string{model.DeliveryPending, model.DeliverySucceeded, model.DeliveryFailed, model.DeliveryDead}

// Deliveries lists an account's delivery log, newest first.
func (w *Webhooks) Deliveries(ctx context.Context, userID uint64, status string, p Page) (List[DeliveryView], error) {
	if status != "" && !slices.Contains(deliveryStatuses, status) {
		return List[DeliveryView]{}, Errorf(ErrInvalid, "status must be one of pending, succeeded, failed, dead")
	}
	before, limit, err := p.After()
	if err != nil {
		return List[DeliveryView]{}, err
	}
	if _, err := w.users.User(ctx, userID); err != nil {
		return List[DeliveryView]{}, fmt.Errorf("deliveries of user %d: %w", userID, err)
	}
	ds, err := w.store.ListDeliveries(ctx, userID, status, before, limit+1)
	if err != nil {
		return List[DeliveryView]{}, fmt.Errorf("list deliveries: %w", err)
	}
	return pageOf(ds, limit, func(d model.WebhookDelivery) uint64 { return d.ID }, deliveryView), nil
}

// Redeliver sends a delivery again now, whatever its status, retried by
// the usual rules for max_age from now.
func (w *Webhooks) Redeliver(ctx context.Context, id uint64) (DeliveryView, error) {
	now := w.now()
	d, err := w.store.Redeliver(ctx, id, now, now.Add(w.cfg.MaxAge))
	if err != nil {
		return DeliveryView{}, fmt.Errorf("redeliver %d: %w", id, err)
	}
	return deliveryView(d), nil
}

// newSecret makes a whsec_ secret and seals it.
func (w *Webhooks) newSecret() (secret string, sealed []byte, err error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", nil, fmt.Errorf("webhook secret: %w", err)
	}
	secret = "whsec_" + hex.EncodeToString(b)
	if sealed, err = w.sealer.Seal([]byte(secret)); err != nil {
		return "", nil, fmt.Errorf("seal webhook secret: %w", err)
	}
	return secret, sealed, nil
}

// secretHint is "whsec_" with the first and last 4 hex characters.
func secretHint(secret string) string {
	h := strings.TrimPrefix(secret, "whsec_")
	return "whsec_" + h[:4] + "…" + h[len(h)-4:]
}

// webhookEvents checks a list of event types; empty means all.
func webhookEvents(in []string) (string, error) {
	var out []string
	for _, t := range in {
		if !eventTypes[t] {
			return "", Errorf(ErrInvalid, "events: unknown event type %q", t)
		}
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return strings.Join(out, ","), nil
}

// WebhookWants reports whether an endpoint's event list takes typ.
func WebhookWants(events, typ string) bool {
	return events == "" || slices.Contains(strings.Split(events, ","), typ)
}

func webhookView(e model.WebhookEndpoint) WebhookView {
	v := WebhookView{URL: e.URL, Events: []string{}, Enabled: e.Enabled, SecretHint: e.SecretHint,
		CreatedAt: FormatTime(e.CreatedAt), UpdatedAt: FormatTime(e.UpdatedAt)}
	if e.Events != "" {
		v.Events = strings.Split(e.Events, ",")
	}
	if e.DisabledReason != "" {
		v.DisabledReason = &e.DisabledReason
	}
	return v
}

func deliveryView(d model.WebhookDelivery) DeliveryView {
	v := DeliveryView{ID: d.ID, EventID: d.EventSeq, Type: d.Type, Status: d.Status, Attempts: d.Attempts,
		CreatedAt: FormatTime(d.CreatedAt)}
	if d.NextAt != nil {
		at := FormatTime(*d.NextAt)
		v.NextAttemptAt = &at
	}
	if d.Attempts > 0 {
		v.LatencyMS = &d.LatencyMS
		if d.LastStatusCode != 0 {
			v.LastStatusCode = &d.LastStatusCode
			r := firstRunes(d.LastResponse, 200)
			v.LastResponse = &r
		}
		if d.LastError != "" {
			v.LastError = &d.LastError
		}
	}
	if d.DeliveredAt != nil {
		at := FormatTime(*d.DeliveredAt)
		v.DeliveredAt = &at
	}
	return v
}

// firstRunes cuts s to n characters.
func firstRunes(s string, n int) string {
	for i := range s {
		if n == 0 {
			return s[:i]
		}
		n--
	}
	return s
}

// maxWebhookURL bounds a URL, as the contract says.
const maxWebhookURL = 2048

// CheckURL validates an endpoint URL: http or https, a host, at most 2048
// bytes, no user-info, and no literal address the policy refuses. Host
// names are checked at send time, on every address they resolve to.
func (p *AddrPolicy) CheckURL(raw string) error {
	bad := func(why string) error { return Errorf(ErrInvalid, "url %s", why) }
	if len(raw) > maxWebhookURL {
		return bad("is longer than 2048 bytes")
	}
	if !utf8.ValidString(raw) {
		return bad("is not valid UTF-8")
	}
	u, err := url.Parse(raw)
	if err != nil || u.Opaque != "" {
		return bad("is not a valid URL")
	}
	if s := strings.ToLower(u.Scheme); s != "http" && s != "https" {
		return bad("must be http or https")
	}
	if u.User != nil {
		return bad("must not contain user-info")
	}
	host := u.Hostname()
	if host == "" {
		return bad("has no host")
	}
	if port := u.Port(); port != "" {
		if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
			return bad("has an invalid port")
		}
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		if why := p.Refused(ip); why != "" {
			return bad(fmt.Sprintf("points to a %s address (%s), which webhooks.allow_private does not allow", why, ip))
		}
	}
	return nil
}
