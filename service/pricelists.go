package service

import (
	"compress/gzip"
	"container/list"
	"sync"
	"time"

	"smmapi/model"
)

// priceList is the services answer at one price list's rates, both
// versions, plain and gzipped, and the account's own rates for add.
type priceList struct {
	key    string
	v2, v3 Body
	own    map[uint64]model.Money
	exp    time.Time
	size   int
}

func (l *priceList) pick(version int) Body {
	if version == 2 {
		return l.v2
	}
	return l.v3
}

// buildList serializes the common catalog b at p's rates. Its gzip level is
// the default, not the common catalog's best: a thousand accounts' lists
// are rebuilt after every catalog change, and the best level costs about
// three times the CPU for a few percent.
func buildList(key string, b *catalogBodies, p Pricing, own map[uint64]model.Money, now time.Time) (*priceList, error) {
	v2 := make([]ServiceV2, len(b.rows))
	v3 := make([]ServiceV3, len(b.rows))
	for i, r := range b.rows {
		o, ok := own[r.ID]
		r.Rate = p.Rate(r.Rate, o, ok)
		v2[i] = serviceV2(r)
		v3[i] = ServiceV3{ServiceV2: v2[i], Dripfeed: r.Dripfeed, Desc: r.Description}
	}
	// Its own TTL: a list outlives the common catalog's entry (rebuilt
	// from the same rows until TopicCatalog clears every list).
	l := &priceList{key: key, own: own, exp: now.Add(cacheTTL)}
	var err error
	if l.v2, err = body(v2, gzip.DefaultCompression); err != nil {
		return nil, err
	}
	if l.v3, err = body(v3, gzip.DefaultCompression); err != nil {
		return nil, err
	}
	l.size = len(l.v2.JSON) + len(l.v2.Gzip) + len(l.v3.JSON) + len(l.v3.Gzip) + 48*len(own) + 256
	return l, nil
}

// priceLists is an LRU of price lists bounded by their bytes.
type priceLists struct {
	mu    sync.Mutex
	max   int
	size  int
	order *list.List // front: most recently used
	byKey map[string]*list.Element
}

func newPriceLists(maxBytes int) *priceLists {
	return &priceLists{max: maxBytes, order: list.New(), byKey: map[string]*list.Element{}}
}

func (c *priceLists) get(key string) *priceList {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.byKey[key]
	if !ok {
		return nil
	}
	c.order.MoveToFront(e)
	return e.Value.(*priceList)
}

// put adds l, evicting the least recently used lists past the bound. A
// list bigger than the whole bound is not kept.
func (c *priceLists) put(l *priceList) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if l.size > c.max {
		return
	}
	if e, ok := c.byKey[l.key]; ok {
		c.size -= e.Value.(*priceList).size
		c.order.Remove(e)
	}
	c.byKey[l.key] = c.order.PushFront(l)
	c.size += l.size
	for c.size > c.max {
		e := c.order.Back()
		old := e.Value.(*priceList)
		c.order.Remove(e)
		delete(c.byKey, old.key)
		c.size -= old.size
	}
}

func (c *priceLists) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.order.Init()
	c.byKey = map[string]*list.Element{}
	c.size = 0
}

// len reports how many lists are kept, and their bytes.
func (c *priceLists) len() (n, bytes int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.byKey), c.size
}
