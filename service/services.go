package service

// Wire contract (action=services): a JSON array of enabled services by
// category then ID. v2 fields: service, name, type, category, rate, min, max,
// refill, cancel (IDs and numbers as strings); v3 adds dripfeed and desc.

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
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

// Body is a serialized answer: gzipped when asked so, else plain. The
// common catalog's plain answer is JSON; a price list's is written by
// WriteJSON from the common answer's pieces and the list's rates (JSON is
// nil then).
type Body struct {
	JSON []byte
	Gzip []byte
	list *priceList
	v    int
}

// Len is the length of the plain answer.
func (b Body) Len() int {
	if b.list == nil {
		return len(b.JSON)
	}
	return b.list.Len(b.v)
}

// WriteJSON writes the plain answer.
func (b Body) WriteJSON(w io.Writer) error {
	if b.list == nil {
		_, err := w.Write(b.JSON)
		return err
	}
	return b.list.writeJSON(w, b.v)
}

// AppendJSON appends the plain answer to dst.
func (b Body) AppendJSON(dst []byte) []byte {
	if b.list == nil {
		return append(dst, b.JSON...)
	}
	return b.list.appendJSON(dst, b.v)
}

// catalogBodies are both versions' answers, built once per catalog change,
// and the enabled services in catalog order and by ID for add. serial
// names the catalog's content: a rebuild that serializes the same bytes
// (the TTL's) keeps it, and the price lists built on it stay valid.
type catalogBodies struct {
	v2, v3 Body
	cuts   [2]rateCuts // v2, v3
	rows   []model.Service
	byID   map[uint64]model.Service
	index  map[uint64]int32 // ID → position in rows
	exp    time.Time
	serial uint64
	gen    uint64 // the cache generation it was built in
}

// rateCuts locates each service's rate text in a version's common answer:
// service i's rate is JSON[at[i]:end[i]] (inside its quotes). A price list's
// answer is the common one with those pieces replaced.
type rateCuts struct {
	at, end []int32
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
	listMu sync.Mutex // one price list build (or compression) at a time
	// What a compression reuses, under listMu.
	plain []byte
	gzOut bytes.Buffer
	gzw   *gzip.Writer

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
// rates, serialized: gzipped when gz, else plain.
func (s *Services) Do(ctx context.Context, p Pricing, version int, gz bool) (Body, error) {
	if !p.Common() {
		l, err := s.list(ctx, p)
		if err != nil {
			return Body{}, err
		}
		if !gz {
			return Body{list: l, v: version}, nil
		}
		z, err := s.listGzip(l, version)
		return Body{Gzip: z}, err
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

// listGzip returns a list's gzipped answer, compressed on first use and
// kept with the list (its bytes count in the LRU's bound).
func (s *Services) listGzip(l *priceList, version int) ([]byte, error) {
	if z := l.gzipped(version); z != nil {
		return z, nil
	}
	s.listMu.Lock() // one compression at a time, like the builds
	defer s.listMu.Unlock()
	if z := l.gzipped(version); z != nil {
		return z, nil
	}
	// Under listMu: one plain buffer, compressor and output reused.
	s.plain = l.appendJSON(s.plain[:0], version)
	s.gzOut.Reset()
	if s.gzw == nil {
		s.gzw, _ = gzip.NewWriterLevel(&s.gzOut, gzip.DefaultCompression)
	} else {
		s.gzw.Reset(&s.gzOut)
	}
	s.gzw.Write(s.plain)
	if err := s.gzw.Close(); err != nil {
		return nil, err
	}
	z := bytes.Clone(s.gzOut.Bytes()) // exactly its size: the LRU counts it
	l.setGzip(version, z)
	s.lists.grew(l, len(z))
	return z, nil
}

// list returns the account's price list: from the LRU when it was built
// on the current catalog, else built from it and the account's own prices.
// A list is only rates: its answers are the common catalog's with the rates
// replaced (see Body).
func (s *Services) list(ctx context.Context, p Pricing) (*priceList, error) {
	cacheOn := s.bus != nil && s.bus.Live()
	b, err := s.load(ctx)
	if err != nil {
		return nil, err
	}
	key := p.key()
	if cacheOn {
		if l := s.lists.get(key); l != nil && l.serial == b.serial {
			return l, nil
		}
		// Builds queue, so a burst on one account builds its list once.
		s.listMu.Lock()
		defer s.listMu.Unlock()
		if l := s.lists.get(key); l != nil && l.serial == b.serial {
			return l, nil
		}
	}
	s.mu.Lock()
	gen := s.gen
	s.mu.Unlock()
	if gen != b.gen { // the catalog b was dropped meanwhile: build on the new one
		if b, err = s.load(ctx); err != nil {
			return nil, err
		}
	}
	var own map[uint64]model.Money
	if p.Own {
		if own, err = s.prices.UserPrices(ctx, p.UserID); err != nil {
			return nil, fmt.Errorf("services: prices of user %d: %w", p.UserID, err)
		}
	}
	l := buildList(key, b, p, own)
	if cacheOn {
		s.mu.Lock()
		if gen == s.gen && b.gen == gen { // built from the catalog still current
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
	b.gen = gen
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
	b := &catalogBodies{exp: now.Add(cacheTTL), rows: rows, byID: make(map[uint64]model.Service, len(rows)),
		index: make(map[uint64]int32, len(rows))}
	for i, r := range rows {
		b.byID[r.ID] = r
		b.index[r.ID] = int32(i)
	}
	if b.v2.JSON, err = json.Marshal(v2); err != nil {
		return nil, err
	}
	if b.v3.JSON, err = json.Marshal(v3); err != nil {
		return nil, err
	}
	// The TTL's rebuild of an unchanged catalog keeps what was built on
	// it: the gzipped answers and every price list.
	if old := s.bodies.Load(); old != nil && bytes.Equal(old.v2.JSON, b.v2.JSON) && bytes.Equal(old.v3.JSON, b.v3.JSON) {
		b.v2, b.v3, b.cuts, b.serial = old.v2, old.v3, old.cuts, old.serial
		return b, nil
	}
	b.serial = catalogSerial.Add(1)
	for i, body := range []Body{b.v2, b.v3} {
		if b.cuts[i], err = cutRates(body.JSON, rows); err != nil {
			return nil, err
		}
	}
	if b.v2.Gzip, err = gzipped(b.v2.JSON, gzip.BestCompression); err != nil { // compressed once per change
		return nil, err
	}
	if b.v3.Gzip, err = gzipped(b.v3.JSON, gzip.BestCompression); err != nil {
		return nil, err
	}
	return b, nil
}

// catalogSerial numbers catalog contents within the process.
var catalogSerial atomic.Uint64

func gzipped(j []byte, level int) ([]byte, error) {
	var gz bytes.Buffer
	w, _ := gzip.NewWriterLevel(&gz, level)
	w.Write(j)
	if err := w.Close(); err != nil {
		return nil, err
	}
	return gz.Bytes(), nil
}

// rateKey precedes each service's rate in both versions' objects.
var rateKey = []byte(`,"rate":"`)

// cutRates finds each service's rate text in a serialized answer. The
// first `,"rate":"` after an object's start is its rate: a quote inside a
// string value is escaped, so the text cannot occur in the name, type or
// category before it. Each cut is checked against the rate it must hold.
func cutRates(j []byte, rows []model.Service) (rateCuts, error) {
	c := rateCuts{at: make([]int32, len(rows)), end: make([]int32, len(rows))}
	if len(j) > math.MaxInt32 {
		return c, errors.New("services: answer too big to cut")
	}
	var text [32]byte
	pos := 0
	for i, r := range rows {
		k := bytes.Index(j[pos:], rateKey)
		if k < 0 {
			return c, fmt.Errorf("services: no rate for service %d in the answer", r.ID)
		}
		at := pos + k + len(rateKey)
		t := r.Rate.AppendText(text[:0])
		if !bytes.HasPrefix(j[at:], t) || len(j) <= at+len(t) || j[at+len(t)] != '"' {
			return c, fmt.Errorf("services: rate of service %d not where expected in the answer", r.ID)
		}
		c.at[i], c.end[i] = int32(at), int32(at+len(t))
		pos = at + len(t)
	}
	return c, nil
}

// ServiceFor returns a service as Service does, at the account's rate.
func (s *Services) ServiceFor(ctx context.Context, p Pricing, id uint64) (model.Service, error) {
	svc, err := s.Service(ctx, id)
	if err != nil || p.Common() {
		return svc, err
	}
	own, ok := model.Money(0), false
	if p.Own {
		if l := s.lists.get(p.key()); l != nil && s.bus != nil && s.bus.Live() { // keyed by the prices' revision
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
