package service

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"time"
)

// Auth authenticates public API requests by key and Host.
// A missing, unknown, replaced or revoked key, a disabled account, or a key
// of another site all answer "Invalid API key", indistinguishably.
type Auth struct {
	sites SiteStore
	keys  KeyStore
	now   Clock
	log   *slog.Logger
	bus   Bus       // nil: no cache
	cache *keyCache // used only while bus is live
	// defaultFormat is orders.id_format, for accounts and sites that inherit.
	defaultFormat string
}

// NewAuth returns an Auth. With a bus, key look-ups are cached in process
// and dropped on every TopicKeys event, so a replaced, revoked or disabled
// key stops working at once on every instance; without one (or while the
// bus is down) every request asks the database.
func NewAuth(sites SiteStore, keys KeyStore, now Clock, log *slog.Logger, bus Bus, defaultFormat string) *Auth {
	a := &Auth{sites: sites, keys: keys, now: now, log: log, bus: bus, defaultFormat: defaultFormat}
	if bus != nil {
		a.cache = newKeyCache()
	}
	return a
}

// Invalidate drops cached look-ups for an event topic.
func (a *Auth) Invalidate(topic string) {
	if a.cache != nil && (topic == TopicKeys || topic == TopicAll) {
		a.cache.clear()
	}
}

func (a *Auth) cacheOn() bool { return a.cache != nil && a.bus.Live() }

// owner looks a key up, through the cache when it can be trusted.
func (a *Auth) owner(ctx context.Context, hash string, now time.Time) (KeyOwner, error) {
	if !a.cacheOn() {
		return a.keys.KeyByHash(ctx, hash)
	}
	if o, ok := a.cache.key(hash, now); ok {
		return o, nil
	}
	gen := a.cache.generation()
	o, err := a.keys.KeyByHash(ctx, hash)
	if err == nil {
		a.cache.putKey(gen, hash, o, now)
	}
	return o, err
}

// site maps a host to its site, through the cache when it can be trusted.
func (a *Auth) site(ctx context.Context, host string, now time.Time) (uint64, error) {
	if !a.cacheOn() {
		return a.sites.SiteIDByHost(ctx, host)
	}
	if id, ok := a.cache.host(host, now); ok {
		return id, nil
	}
	gen := a.cache.generation()
	id, err := a.sites.SiteIDByHost(ctx, host)
	if err == nil {
		a.cache.putHost(gen, host, id, now)
	}
	return id, err
}

// touchEvery bounds how often last_used_at is written: a busy panel polling
// status must not turn every read into a write.
const touchEvery = time.Minute

// Authenticate returns the account owning key on the site serving host.
func (a *Auth) Authenticate(ctx context.Context, key, host string) (Account, error) {
	if !validKeyShape(key) {
		return Account{}, &Error{Code: ErrUnauthorized, Message: MsgInvalidKey}
	}
	now := a.now()
	hash := HashKey(key)
	owner, err := a.owner(ctx, hash, now)
	if ErrorCode(err) == ErrNotFound {
		return Account{}, &Error{Code: ErrUnauthorized, Message: MsgInvalidKey}
	}
	if err != nil {
		return Account{}, err
	}
	siteID, err := a.site(ctx, host, now)
	if err != nil {
		return Account{}, err
	}
	if owner.UserDisabled || owner.SiteID != siteID {
		return Account{}, &Error{Code: ErrUnauthorized, Message: MsgInvalidKey}
	}
	if owner.LastUsedAt == nil || now.Sub(*owner.LastUsedAt) >= touchEvery {
		if err := a.keys.TouchKey(ctx, owner.KeyID, now); err != nil {
			// Losing a last_used_at update is harmless; failing the call is not.
			a.log.WarnContext(ctx, "touch api key", "key_id", owner.KeyID, "err", err)
		} else if a.cacheOn() {
			a.cache.touched(hash, now)
		}
	}
	return Account{UserID: owner.UserID, SiteID: owner.SiteID, KeyID: owner.KeyID,
		OrderIDFormat: ResolveFormat(owner.OrderIDFormat, owner.SiteOrderIDFormat, a.defaultFormat),
		Pricing:       Pricing{UserID: owner.UserID, Discount: owner.Discount, Rev: owner.PriceRev, Own: owner.PriceCount > 0}}, nil
}

// HashKey returns the stored form of an API key. Keys carry 128 random bits,
// so a fast unsalted hash is safe and lets the lookup use an index.
func HashKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// validKeyShape rejects anything that cannot be a key before touching the
// database: 32 lowercase hex characters.
func validKeyShape(key string) bool {
	if len(key) != 32 {
		return false
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
