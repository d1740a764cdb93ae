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
// and the enabled services by ID for add.
type catalogBodies struct {
	v2, v3 Body
	byID   map[uint64]model.Service
	exp    time.Time
}

// Services answers the services action. The catalog changes rarely and is
// read often and big (thousands of rows), so both versions' answers are
// serialized and gzipped once and served as bytes until a TopicCatalog
// event (or the TTL) drops them.
type Services struct {
	catalog CatalogStore
	bus     Bus // nil: no cache
	now     Clock

	mu      sync.Mutex // guards gen and the storing of bodies
	buildMu sync.Mutex // one rebuild at a time: no stampede on expiry
	gen     uint64
	// bodies is read without the lock: every services and add request
	// reads it, and a mutex there showed in the profile.
	bodies atomic.Pointer[catalogBodies]
}

// NewServices returns a Services; with a nil bus nothing is cached.
func NewServices(catalog CatalogStore, bus Bus, now Clock) *Services {
	return &Services{catalog: catalog, bus: bus, now: now}
}

// Invalidate drops the cached answers for an event topic.
func (s *Services) Invalidate(topic string) {
	if topic == TopicCatalog || topic == TopicAll {
		s.mu.Lock()
		s.gen++
		s.bodies.Store(nil)
		s.mu.Unlock()
	}
}

// Do returns the public catalog of API version 2 or 3, serialized.
func (s *Services) Do(ctx context.Context, version int) (Body, error) {
	b, err := s.load(ctx)
	if err != nil {
		return Body{}, err
	}
	if version == 2 {
		return b.v2, nil
	}
	return b.v3, nil
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
	b := &catalogBodies{exp: now.Add(cacheTTL), byID: make(map[uint64]model.Service, len(rows))}
	for _, r := range rows {
		b.byID[r.ID] = r
	}
	if b.v2, err = body(v2); err != nil {
		return nil, err
	}
	if b.v3, err = body(v3); err != nil {
		return nil, err
	}
	return b, nil
}

func body(v any) (Body, error) {
	j, err := json.Marshal(v)
	if err != nil {
		return Body{}, err
	}
	var gz bytes.Buffer
	w, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression) // compressed once per change
	w.Write(j)
	if err := w.Close(); err != nil {
		return Body{}, err
	}
	return Body{JSON: j, Gzip: gz.Bytes()}, nil
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
