package service

import (
	"container/list"
	"io"
	"slices"
	"sync"
	"sync/atomic"

	"smmapi/model"
)

// priceList is an account's price list: what its services answers differ
// by from the common catalog's. It keeps the rates only; its plain answers
// are written from the common answer's pieces with these rates between
// them, exact to the byte what serializing the catalog at these rates
// gives (TestPriceListBytes). Its gzipped answers are compressed on first
// use and kept here.
type priceList struct {
	key    listKey
	p      Pricing
	own    map[uint64]model.Money // for add
	cat    *catalogBodies         // the catalog it was built on
	serial uint64
	// ownAt and ownRate are the own prices in catalog order (positions
	// in cat.rows): without a discount only those rates differ from the
	// common answer.
	ownAt   []int32
	ownRate []model.Money

	// delta is how much longer the list's plain answer is than the common
	// one (the same in both versions: the same rates).
	delta int

	gz   [2]atomic.Pointer[[]byte] // v2, v3
	used atomic.Bool               // read since the LRU's last look at it
	size int                       // guarded by the LRU's lock
}

// buildList returns the price list of p on the catalog b.
func buildList(key listKey, b *catalogBodies, p Pricing, own map[uint64]model.Money) *priceList {
	l := &priceList{key: key, p: p, own: own, cat: b, serial: b.serial}
	for id := range own {
		if i, ok := b.index[id]; ok {
			l.ownAt = append(l.ownAt, i)
		}
	}
	slices.Sort(l.ownAt)
	l.ownRate = make([]model.Money, len(l.ownAt))
	for k, i := range l.ownAt {
		l.ownRate[k] = own[b.rows[i].ID]
	}
	var text [32]byte
	l.splice(2, func(_, rate []byte) error {
		l.delta += len(rate)
		return nil
	})
	for _, r := range l.changed() {
		l.delta -= len(b.rows[r].Rate.AppendText(text[:0]))
	}
	l.size = 48*len(own) + 12*len(l.ownAt) + 256
	return l
}

// changed returns the positions whose rate the list replaces.
func (l *priceList) changed() []int32 {
	if l.p.Discount == 0 {
		return l.ownAt
	}
	all := make([]int32, len(l.cat.rows))
	for i := range all {
		all[i] = int32(i)
	}
	return all
}

// Len is the length of a version's plain answer.
func (l *priceList) Len(version int) int {
	if version == 2 {
		return len(l.cat.v2.JSON) + l.delta
	}
	return len(l.cat.v3.JSON) + l.delta
}

func (l *priceList) gzipped(version int) []byte {
	if z := l.gz[versionIndex(version)].Load(); z != nil {
		return *z
	}
	return nil
}

func (l *priceList) setGzip(version int, z []byte) {
	l.gz[versionIndex(version)].Store(&z)
}

// versionIndex is 0 for v2, 1 for v3 (any other version answers as v3).
func versionIndex(version int) int {
	if version == 2 {
		return 0
	}
	return 1
}

// splice calls emit with the list's answer of a version in order: pieces
// of the common answer (shared, never to be modified) and rate texts (in
// rate, valid until emit returns). A list without a discount replaces its
// own prices only; one with a discount every rate.
func (l *priceList) splice(version int, emit func(common, rate []byte) error) error {
	j, cuts := l.cat.v2.JSON, &l.cat.cuts[versionIndex(version)]
	if version != 2 {
		j = l.cat.v3.JSON
	}
	var text [32]byte
	prev := int32(0)
	put := func(i int32, r model.Money) error {
		err := emit(j[prev:cuts.at[i]], r.AppendText(text[:0]))
		prev = cuts.end[i]
		return err
	}
	if l.p.Discount == 0 {
		for k, i := range l.ownAt {
			if err := put(i, l.ownRate[k]); err != nil {
				return err
			}
		}
	} else {
		k := 0
		for i, r := range l.cat.rows {
			rate := r.Rate
			if k < len(l.ownAt) && l.ownAt[k] == int32(i) {
				rate = l.ownRate[k]
				k++
			} else {
				rate = discounted(rate, l.p.Discount)
			}
			if err := put(int32(i), rate); err != nil {
				return err
			}
		}
	}
	return emit(j[prev:], nil)
}

// appendJSON appends a version's plain answer to dst.
func (l *priceList) appendJSON(dst []byte, version int) []byte {
	l.splice(version, func(common, rate []byte) error {
		dst = append(append(dst, common...), rate...)
		return nil
	})
	return dst
}

// writeJSON writes a version's plain answer to w in writes of at least
// chunkSize (but the last): the rates and the common answer's pieces are
// gathered in a pooled buffer that stays in the CPU's cache, and a long
// piece fills the buffer, then goes as it is. A list with a few own prices
// costs a few more writes than the common answer; one with a rate in every
// object a copy of the answer through the buffer.
func (l *priceList) writeJSON(w io.Writer, version int) error {
	bp := chunkPool.Get().(*[]byte)
	defer chunkPool.Put(bp)
	buf := (*bp)[:0]
	// Between calls len(buf) < chunkSize.
	err := l.splice(version, func(common, rate []byte) error {
		if len(buf)+len(common) > chunkSize {
			n := chunkSize - len(buf)
			buf = append(buf, common[:n]...)
			if _, err := w.Write(buf); err != nil {
				return err
			}
			buf, common = buf[:0], common[n:]
			if len(common) >= chunkSize {
				if _, err := w.Write(common); err != nil {
					return err
				}
				common = nil
			}
		}
		buf = append(append(buf, common...), rate...)
		if len(buf) >= chunkSize {
			_, err := w.Write(buf)
			buf = buf[:0]
			return err
		}
		return nil
	})
	if err == nil && len(buf) > 0 {
		_, err = w.Write(buf)
	}
	*bp = buf[:0]
	return err
}

// writeJSON's buffer.
const chunkSize = 64 << 10

var chunkPool = sync.Pool{New: func() any { b := make([]byte, 0, chunkSize); return &b }}

// priceLists keeps price lists bounded by their bytes, evicting the least
// recently used first, approximately (second chance): a hit takes only the
// read lock and marks the list used; eviction, under the lock, moves a used
// list from the back to the front once instead of evicting it. A thousand
// accounts' requests rotating over their lists hit it tens of thousands of
// times a second, and a move to the front under one lock per hit showed.
type priceLists struct {
	mu    sync.RWMutex
	max   int
	size  int
	order *list.List // front: most recently added or spared
	byKey map[listKey]*list.Element
}

func newPriceLists(maxBytes int) *priceLists {
	return &priceLists{max: maxBytes, order: list.New(), byKey: map[listKey]*list.Element{}}
}

func (c *priceLists) get(key listKey) *priceList {
	c.mu.RLock()
	e, ok := c.byKey[key]
	c.mu.RUnlock()
	if !ok {
		return nil
	}
	l := e.Value.(*priceList)
	if !l.used.Load() {
		l.used.Store(true)
	}
	return l
}

// put adds l, evicting past the bound. A list bigger than the whole bound
// is not kept.
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
	c.evict()
}

// grew adds n bytes to a kept list's size (its gzipped answer, built
// after it was put), evicting past the bound; a list no longer kept is
// left alone.
func (c *priceLists) grew(l *priceList, n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.byKey[l.key]
	if !ok || e.Value.(*priceList) != l {
		return
	}
	l.size += n
	c.size += n
	c.evict()
}

// evict removes lists from the back until the bound holds, sparing once
// each list used since it was last looked at. Under the lock.
func (c *priceLists) evict() {
	for c.size > c.max && c.order.Len() > 0 {
		e := c.order.Back()
		old := e.Value.(*priceList)
		if old.used.Swap(false) {
			c.order.MoveToFront(e)
			continue
		}
		c.order.Remove(e)
		delete(c.byKey, old.key)
		c.size -= old.size
	}
}

func (c *priceLists) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.order.Init()
	c.byKey = map[listKey]*list.Element{}
	c.size = 0
}

// len reports how many lists are kept, and their bytes.
func (c *priceLists) len() (n, bytes int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.byKey), c.size
}
