package service

// Internal API: API keys. POST /users/{id}/api-keys {"site_id"} → 201 with the
// full key, shown once; only its SHA-256 is stored. One generation per account
// per site per cooldown (default 20m) → 429 with retry_after otherwise; the
// cooldown counts from the last generation, whatever was revoked since.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"math"
	"time"

	"smmapi/model"
)

// APIKeyInput asks for a new key on a site.
type APIKeyInput struct {
	SiteID uint64 `json:"site_id"`
}

// NewAPIKey is a freshly generated key: the only time it is shown.
type NewAPIKey struct {
	Key       string `json:"key"`
	SiteID    uint64 `json:"site_id"`
	Hint      string `json:"hint"`
	CreatedAt string `json:"created_at"`
}

// APIKeyView describes a stored key without revealing it.
type APIKeyView struct {
	SiteID     uint64  `json:"site_id"`
	Hint       string  `json:"hint"`
	CreatedAt  string  `json:"created_at"`
	LastUsedAt *string `json:"last_used_at"`
}

// APIKeys generates, lists and revokes API keys.
type APIKeys struct {
	users     UserStore
	sites     SiteStore
	keys      KeyStore
	cooldowns Cooldowns
	cooldown  time.Duration
	now       Clock
	log       *slog.Logger
	rec       Recorder
	inv       *Invalidator // a replaced or revoked key stops working everywhere
}

// NewAPIKeys returns an APIKeys with the given generation cooldown.
func NewAPIKeys(users UserStore, sites SiteStore, keys KeyStore, cooldowns Cooldowns, cooldown time.Duration, now Clock, log *slog.Logger, rec Recorder, inv *Invalidator) *APIKeys {
	return &APIKeys{users: users, sites: sites, keys: keys, cooldowns: cooldowns, cooldown: cooldown, now: now, log: log, rec: rec, inv: inv}
}

// Generate creates the account's key on a site, replacing the previous one.
// The cooldown is gated by Cooldowns first (cheap, shared by instances) and
// enforced by the database, which stays right when Redis lost its data.
func (s *APIKeys) Generate(ctx context.Context, userID uint64, in APIKeyInput) (NewAPIKey, error) {
	if in.SiteID == 0 {
		// A missing site_id is bad input, not a lookup of site 0.
		return NewAPIKey{}, Errorf(ErrInvalid, "site_id is required")
	}
	if _, err := s.users.User(ctx, userID); err != nil {
		return NewAPIKey{}, fmt.Errorf("generate key: user %d: %w", userID, err)
	}
	if ok, err := s.sites.SiteExists(ctx, in.SiteID); err != nil {
		return NewAPIKey{}, fmt.Errorf("generate key: site %d: %w", in.SiteID, err)
	} else if !ok {
		return NewAPIKey{}, Errorf(ErrNotFound, "site not found")
	}
	gate := fmt.Sprintf("apikey:%d:%d", userID, in.SiteID)
	ok, left, err := s.cooldowns.Start(ctx, gate, s.cooldown)
	if err != nil {
		s.log.WarnContext(ctx, "cooldown gate unavailable, using the database", "err", err)
	} else if !ok {
		s.rec.CooldownRefused()
		return NewAPIKey{}, cooldownError(left)
	}

	key, err := randomHex(16)
	if err != nil {
		s.clear(ctx, gate)
		return NewAPIKey{}, fmt.Errorf("generate key: %w", err)
	}
	hash := HashKey(key)
	now := s.now().UTC()
	k := model.APIKey{UserID: userID, SiteID: in.SiteID, KeyHash: &hash, Hint: key[:4] + "…" + key[len(key)-4:], GeneratedAt: now}
	stored, last, err := s.keys.PutKey(ctx, &k, now.Add(-s.cooldown))
	if err != nil {
		s.clear(ctx, gate)
		return NewAPIKey{}, fmt.Errorf("generate key: %w", err)
	}
	if !stored {
		// Another instance may have generated after our now was taken (or
		// a clock may be a little ahead): count from the present and never
		// announce more than the cooldown itself.
		left := min(last.Add(s.cooldown).Sub(s.now()), s.cooldown)
		if err := s.cooldowns.Set(ctx, gate, left); err != nil {
			s.log.WarnContext(ctx, "cooldown gate resync", "err", err)
		}
		s.rec.CooldownRefused()
		return NewAPIKey{}, cooldownError(left)
	}
	s.rec.KeyGenerated()
	s.inv.Changed(ctx, TopicKeys) // the replaced key stops working everywhere
	return NewAPIKey{Key: key, SiteID: in.SiteID, Hint: k.Hint, CreatedAt: FormatTime(now)}, nil
}

// List returns one page of the account's live keys by site, never the keys
// themselves. An account has at most one key per site, so the page is cut
// from the whole (short) list; the cursor is the last site ID.
func (s *APIKeys) List(ctx context.Context, userID uint64, p Page) (List[APIKeyView], error) {
	after, limit, err := p.After()
	if err != nil {
		return List[APIKeyView]{}, err
	}
	if _, err := s.users.User(ctx, userID); err != nil {
		return List[APIKeyView]{}, fmt.Errorf("list keys: user %d: %w", userID, err)
	}
	rows, err := s.keys.Keys(ctx, userID)
	if err != nil {
		return List[APIKeyView]{}, fmt.Errorf("list keys of user %d: %w", userID, err)
	}
	i := 0
	for i < len(rows) && rows[i].SiteID <= after {
		i++
	}
	return pageOf(rows[i:], limit, func(k model.APIKey) uint64 { return k.SiteID }, func(k model.APIKey) APIKeyView {
		v := APIKeyView{SiteID: k.SiteID, Hint: k.Hint, CreatedAt: FormatTime(k.GeneratedAt)}
		if k.LastUsedAt != nil {
			t := FormatTime(*k.LastUsedAt)
			v.LastUsedAt = &t
		}
		return v
	}), nil
}

// Revoke deletes the account's key on a site; it stops working at once.
// The cooldown is not reset.
func (s *APIKeys) Revoke(ctx context.Context, userID, siteID uint64) error {
	if err := s.keys.RevokeKey(ctx, userID, siteID); err != nil {
		return fmt.Errorf("revoke key of user %d on site %d: %w", userID, siteID, err)
	}
	s.inv.Changed(ctx, TopicKeys)
	return nil
}

func (s *APIKeys) clear(ctx context.Context, gate string) {
	if err := s.cooldowns.Clear(ctx, gate); err != nil {
		s.log.WarnContext(ctx, "cooldown gate clear", "err", err)
	}
}

func cooldownError(left time.Duration) *Error {
	secs := int64(math.Ceil(left.Seconds()))
	if secs < 1 {
		secs = 1
	}
	return &Error{Code: ErrRateLimited, RetryAfter: time.Duration(secs) * time.Second,
		Message: fmt.Sprintf("an API key was generated for this account on this site less than the cooldown ago; retry in %d seconds", secs)}
}

func randomHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}
