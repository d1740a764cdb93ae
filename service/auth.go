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
}

// NewAuth returns an Auth.
func NewAuth(sites SiteStore, keys KeyStore, now Clock, log *slog.Logger) *Auth {
	return &Auth{sites: sites, keys: keys, now: now, log: log}
}

// touchEvery bounds how often last_used_at is written: a busy panel polling
// status must not turn every read into a write.
const touchEvery = time.Minute

// Authenticate returns the account owning key on the site serving host.
func (a *Auth) Authenticate(ctx context.Context, key, host string) (Account, error) {
	if !validKeyShape(key) {
		return Account{}, &Error{Code: ErrUnauthorized, Message: MsgInvalidKey}
	}
	owner, err := a.keys.KeyByHash(ctx, HashKey(key))
	if ErrorCode(err) == ErrNotFound {
		return Account{}, &Error{Code: ErrUnauthorized, Message: MsgInvalidKey}
	}
	if err != nil {
		return Account{}, err
	}
	siteID, err := a.sites.SiteIDByHost(ctx, host)
	if err != nil {
		return Account{}, err
	}
	if owner.UserDisabled || owner.SiteID != siteID {
		return Account{}, &Error{Code: ErrUnauthorized, Message: MsgInvalidKey}
	}
	now := a.now()
	if owner.LastUsedAt == nil || now.Sub(*owner.LastUsedAt) >= touchEvery {
		if err := a.keys.TouchKey(ctx, owner.KeyID, now); err != nil {
			// Losing a last_used_at update is harmless; failing the call is not.
			a.log.WarnContext(ctx, "touch api key", "key_id", owner.KeyID, "err", err)
		}
	}
	return Account{UserID: owner.UserID, SiteID: owner.SiteID, KeyID: owner.KeyID, OrderIDFormat: owner.OrderIDFormat}, nil
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
