package service

// Wire contract (action=services): a JSON array of enabled services by
// category then ID. v2 fields: service, name, type, category, rate, min, max,
// refill, cancel (IDs and numbers as strings); v3 adds dripfeed and desc.

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"smmapi/model"
)

// ServiceV2 is one entry of the v2 catalog, fields in wire order.
type ServiceV2 struct {
	Service  string      `json:"service"`
	Name     string      `json:"name"`
	Type     string      `json:"type"`
	Category string      `json:"category"`
	Rate     model.Money `json:"rate"`
	Min      string      `json:"min"`
	Max      string      `json:"max"`
	Refill   bool        `json:"refill"`
	Cancel   bool        `json:"cancel"`
}

// ServiceV3 is one entry of the v3 catalog: v2 plus dripfeed and desc.
type ServiceV3 struct {
	ServiceV2
	Dripfeed bool   `json:"dripfeed"`
	Desc     string `json:"desc"`
}

// Body is a serialized answer, plain and gzipped.
type Body struct {
	JSON []byte
	Gzip []byte
}

// catalogBodies are both versions' answers, built once per catalog change,
// and the enabled services in catalog order and by ID for add.
type catalogBodies struct {
	v2, v3 Body
	rows   []model.Service
	byID   map[uint64]model.Service
	exp    time.Time
}

// Services answers the services action. The catalog changes rarely and is
// read often and big (thousands of rows), so both versions' answers are
// serialized and gzipped once and served as bytes until a TopicCatalog
// event (or the TTL) drops them.
type Services struct {
	catalog CatalogStore
	prices  PriceStore
	bus     Bus // nil: no cache
	now     Clock
	// lists holds the answers of accounts with prices of their own or a
	// discount, one per distinct price list, bounded in bytes.
	lists  *priceLists
	listMu sync.Mutex // one price list build at a time

	mu      sync.Mutex // guards gen and the storing of bodies
	buildMu sync.Mutex // one rebuild at a time: no stampede on expiry
	gen     uint64
	// bodies is read without the lock: every services and add request
	// reads it, and a mutex there showed in the profile.
	bodies atomic.Pointer[catalogBodies]
}

// NewServices returns a Services; with a nil bus nothing is cached.
// listBytes bounds the serialized price lists kept (LRU).
func NewServices(catalog CatalogStore, prices PriceStore, bus Bus, now Clock, listBytes int) *Services {
	return &Services{catalog: catalog, prices: prices, bus: bus, now: now, lists: newPriceLists(listBytes)}
}

// Invalidate drops the cached answers for an event topic. A change of an
// account's own prices needs nothing here: it names a new price list (see
// Pricing.key), which the key cache learns on TopicKeys.
func (s *Services) Invalidate(topic string) {
	if topic == TopicCatalog || topic == TopicAll {
		s.mu.Lock()
		s.gen++
		s.bodies.Store(nil)
		s.lists.clear()
		s.mu.Unlock()
	}
}

// Do returns the public catalog of API version 2 or 3 at the account's
// rates, serialized.
func (s *Services) Do(ctx context.Context, p Pricing, version int) (Body, error) {
	if !p.Common() {
		l, err := s.list(ctx, p)
		if err != nil {
			return Body{}, err
		}
		return l.pick(version), nil
	}
	b, err := s.load(ctx)
	if err != nil {
		return Body{}, err
	}
	if version == 2 {
		return b.v2, nil
	}
	return b.v3, nil
}

// list returns the answers at an account's rates: from the LRU, or built
// from the common catalog and the account's own prices.
func (s *Services) list(ctx context.Context, p Pricing) (*priceList, error) {
	cacheOn := s.bus != nil && s.bus.Live()
	key := p.key()
	if cacheOn {
		if l := s.lists.get(key); l != nil && s.now().Before(l.exp) {
			return l, nil
		}
		// Builds queue, so a burst on one account builds its list once.
		s.listMu.Lock()
		defer s.listMu.Unlock()
		if l := s.lists.get(key); l != nil && s.now().Before(l.exp) {
			return l, nil
		}
	}
	s.mu.Lock()
	gen := s.gen
	s.mu.Unlock()
	b, err := s.load(ctx)
	if err != nil {
		return nil, err
	}
	var own map[uint64]model.Money
	if p.Own {
		if own, err = s.prices.UserPrices(ctx, p.UserID); err != nil {
			return nil, fmt.Errorf("services: prices of user %d: %w", p.UserID, err)
		}
	}
	l, err := buildList(key, b, p, own, s.now())
	if err != nil {
		return nil, err
	}
	if cacheOn {
		s.mu.Lock()
		if gen == s.gen { // built from the catalog still current
			s.lists.put(l)
		}
		s.mu.Unlock()
	}
	return l, nil
}

func (s *Services) load(ctx context.Context) (*catalogBodies, error) {
	cacheOn := s.bus != nil && s.bus.Live()
	if b := s.cached(cacheOn); b != nil {
		return b, nil
	}
	if cacheOn {
		// Requests arriving during a rebuild wait for it and share it,
		// instead of each loading and serializing the whole catalog.
		s.buildMu.Lock()
		defer s.buildMu.Unlock()
		if b := s.cached(cacheOn); b != nil {
			return b, nil
		}
	}
	now := s.now()
	s.mu.Lock()
	gen := s.gen
	s.mu.Unlock()

	b, err := s.build(ctx, now)
	if err != nil {
		return nil, err
	}
	if cacheOn {
		s.mu.Lock()
		if gen == s.gen { // no invalidation raced the build
			s.bodies.Store(b)
		}
		s.mu.Unlock()
	}
	return b, nil
}

// cached returns the current answers when they may be served.
func (s *Services) cached(cacheOn bool) *catalogBodies {
	if b := s.bodies.Load(); cacheOn && b != nil && s.now().Before(b.exp) {
		return b
	}
	return nil
}

func (s *Services) build(ctx context.Context, now time.Time) (*catalogBodies, error) {
	rows, err := s.catalog.EnabledServices(ctx)
	if err != nil {
		return nil, fmt.Errorf("services: %w", err)
	}
	v2 := make([]ServiceV2, len(rows))
	v3 := make([]ServiceV3, len(rows))
	for i, r := range rows {
		v2[i] = serviceV2(r)
		v3[i] = ServiceV3{ServiceV2: v2[i], Dripfeed: r.Dripfeed, Desc: r.Description}
	}
	b := &catalogBodies{exp: now.Add(cacheTTL), rows: rows, byID: make(map[uint64]model.Service, len(rows))}
	for _, r := range rows {
		b.byID[r.ID] = r
	}
	if b.v2, err = body(v2, gzip.BestCompression); err != nil { // compressed once per change
		return nil, err
	}
	if b.v3, err = body(v3, gzip.BestCompression); err != nil {
		return nil, err
	}
	return b, nil
}

func body(v any, level int) (Body, error) {
	j, err := json.Marshal(v)
	if err != nil {
		return Body{}, err
	}
	var gz bytes.Buffer
	w, _ := gzip.NewWriterLevel(&gz, level)
	w.Write(j)
	if err := w.Close(); err != nil {
		return Body{}, err
	}
	return Body{JSON: j, Gzip: gz.Bytes()}, nil
}

// ServiceFor returns a service as Service does, at the account's rate.
func (s *Services) ServiceFor(ctx context.Context, p Pricing, id uint64) (model.Service, error) {
	svc, err := s.Service(ctx, id)
	if err != nil || p.Common() {
		return svc, err
	}
	own, ok := model.Money(0), false
	if p.Own {
		if l := s.lists.get(p.key()); l != nil && s.bus != nil && s.bus.Live() {
			own, ok = l.own[id]
		} else if own, ok, err = s.prices.UserPrice(ctx, p.UserID, id); err != nil {
			return model.Service{}, fmt.Errorf("price of user %d for service %d: %w", p.UserID, id, err)
		}
	}
	svc.Rate = p.Rate(svc.Rate, own, ok)
	return svc, nil
}

// Service returns an enabled service from the cached catalog, saving add a
// database round trip; a service missing there is not found. Without a
// trusted cache it asks the store (which also finds disabled services; add
// refuses those itself).
func (s *Services) Service(ctx context.Context, id uint64) (model.Service, error) {
	if s.bus == nil || !s.bus.Live() {
		return s.catalog.Service(ctx, id)
	}
	b, err := s.load(ctx)
	if err != nil {
		return model.Service{}, err
	}
	svc, ok := b.byID[id]
	if !ok {
		return model.Service{}, Errorf(ErrNotFound, "service not found")
	}
	return svc, nil
}

func serviceV2(r model.Service) ServiceV2 {
	return ServiceV2{
		Service:  strconv.FormatUint(r.ID, 10),
		Name:     r.Name,
		Type:     r.Type,
		Category: r.Category,
		Rate:     r.Rate,
		Min:      strconv.FormatInt(r.Min, 10),
		Max:      strconv.FormatInt(r.Max, 10),
		Refill:   r.Refill,
		Cancel:   r.Cancel,
	}
}
