// Package regioncache keeps prepared query regions (engine.Area: a region,
// validated and in fixed point, with the slot ranges the engine found inside
// it) for polygons that come again, keyed by their content: the geometry's
// JSON text as sent but for white space between tokens, and the geometry as
// decoded. The same polygon sent again byte for byte, or with other white
// space, is then neither decoded, validated nor swept again; written
// otherwise (member order or number formatting) it is decoded but not
// validated nor swept again. A hit is
// always checked against the whole key, never a hash alone, so it gives the
// area of exactly that geometry, and hence the answer a miss would give.
// The cache is bounded by memory (each entry's area, texts and positions),
// least recently used out first.
//
// It knows nothing of HTTP, of JSON's grammar but its white space and
// strings (a text is bytes that were one complete JSON value when it was
// added), nor of how an area is swept.
package regioncache

import (
	"bytes"
	"hash/maphash"
	"slices"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/paulmach/orb"
	"github.com/roomstate/roomstate/engine"
)

// PrefixLen is how many leading bytes of a geometry's compact JSON text key
// it: a text is found from the bytes where a geometry starts, before its
// end is known. Shorter texts are kept by their geometry only.
const PrefixLen = 64

// maxTexts bounds the texts kept for one geometry.
const maxTexts = 4

// maxPerPrefix bounds the entries whose texts share a key (their first
// PrefixLen bytes), so that a look-up compares at most this many texts
// (variants of one polygon, edited one vertex at a time, do).
const maxPerPrefix = 4

// Cache is a bounded cache of areas. Its methods are safe for concurrent
// use; a nil *Cache keeps nothing.
type Cache struct {
	max  int64
	seed maphash.Seed

	mu     sync.Mutex          // guards every field below
	bytes  int64               // the entries' sizes summed
	n      int                 // entries
	byText map[uint64][]*entry // hash of a compact text's first PrefixLen bytes → entries with such a text
	byGeom map[uint64][]*entry // hash of the positions → entries
	head   entry               // of the list of entries, most recently used first

	textHits, geomHits, misses atomic.Int64
}

// entry is one geometry's area.
type entry struct {
	area       *engine.Area
	geom       orb.MultiPolygon // a copy
	gkey       uint64
	texts      []text // compact copies, most recent last
	size       int64
	prev, next *entry
}

// New returns a cache of at most maxBytes; nil when maxBytes <= 0 (nothing
// is kept).
func New(maxBytes int64) *Cache {
	if maxBytes <= 0 {
		return nil
	}
	c := &Cache{max: maxBytes, seed: maphash.MakeSeed(), byText: map[uint64][]*entry{}, byGeom: map[uint64][]*entry{}}
	c.head.prev, c.head.next = &c.head, &c.head
	return c
}

// Stats are a cache's counters.
type Stats struct {
	TextHits     int64 // found by the geometry's JSON text (white space aside)
	GeometryHits int64 // found by the decoded geometry
	Misses       int64 // neither: the region was prepared
	Bytes        int64 // held now
	MaxBytes     int64
	Entries      int
}

// Stats returns the counters.
func (c *Cache) Stats() Stats {
	if c == nil {
		return Stats{}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return Stats{TextHits: c.textHits.Load(), GeometryHits: c.geomHits.Load(), Misses: c.misses.Load(),
		Bytes: c.bytes, MaxBytes: c.max, Entries: c.n}
}

// FindText returns the area of a geometry whose JSON text b begins with
// (white space between its tokens aside), and the length of that text in
// b; nil and 0 when there is none. It counts no miss (FindGeometry does).
func (c *Cache) FindText(b []byte) (*engine.Area, int) {
	if c == nil || len(b) < PrefixLen {
		return nil, 0
	}
	k, ok := prefixKey(c.seed, b)
	if !ok {
		return nil, 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range c.byText[k] {
		for i := range e.texts {
			if n, ok := e.texts[i].match(b); ok {
				c.touch(e)
				c.textHits.Add(1)
				return e.area, n
			}
		}
	}
	return nil, 0
}

// FindGeometry returns the area of a geometry equal to mp (every position
// the same float64), counting a miss when there is none; with text (the
// geometry's JSON text as sent this time) the entry keeps it, so that the
// next time it is found by text.
func (c *Cache) FindGeometry(mp orb.MultiPolygon, text []byte) *engine.Area {
	if c == nil {
		return nil
	}
	k := c.geomKey(mp)
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.keptGeometry(k, mp, text); e != nil {
		c.geomHits.Add(1)
		return e.area
	}
	c.misses.Add(1)
	return nil
}

// keptGeometry returns the entry of geometry mp (hashed to k), used now and
// found by text next time, or nil. Caller holds c.mu.
func (c *Cache) keptGeometry(k uint64, mp orb.MultiPolygon, text []byte) *entry {
	for _, e := range c.byGeom[k] {
		if sameGeometry(e.geom, mp) {
			c.touch(e)
			c.addText(e, text)
			return e
		}
	}
	return nil
}

// Add keeps a for the geometry mp, sent as text (its JSON text; nil for
// none). The geometry and text are copied. When mp is kept already, only
// the text is added to it.
func (c *Cache) Add(text []byte, mp orb.MultiPolygon, a *engine.Area) {
	if c == nil {
		return
	}
	k := c.geomKey(mp)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.keptGeometry(k, mp, text) != nil {
		return
	}
	e := &entry{area: a, geom: copyGeometry(mp), gkey: k}
	e.size = e.measure()
	if e.size > c.max {
		return
	}
	c.byGeom[k] = append(c.byGeom[k], e)
	c.bytes += e.size
	c.n++
	c.link(e)
	c.addText(e, text)
	c.evict()
}

// touch makes e the most recently used and measures it again (its area's
// cover may have changed). Caller holds mu.
func (c *Cache) touch(e *entry) {
	c.unlink(e)
	c.link(e)
	if s := e.measure(); s != e.size {
		c.bytes += s - e.size
		e.size = s
		c.evict()
	}
}

// addText keeps raw, compacted, for e, dropping its oldest text beyond
// maxTexts. Caller holds mu.
func (c *Cache) addText(e *entry, raw []byte) {
	if len(raw) < PrefixLen {
		return
	}
	for _, t := range e.texts {
		if bytes.Equal(t.b, raw) {
			return
		}
	}
	t := compact(raw)
	if len(t.b) < PrefixLen {
		return
	}
	for _, u := range e.texts {
		if bytes.Equal(u.b, t.b) {
			return
		}
	}
	if len(e.texts) == maxTexts {
		c.dropText(e, &e.texts[0])
		e.texts = e.texts[1:]
	}
	k := c.textKey(&t)
	if !slices.Contains(c.byText[k], e) {
		if len(c.byText[k]) >= maxPerPrefix { // the oldest gives way: found by geometry still
			old := c.byText[k][0]
			c.byText[k] = c.byText[k][1:]
			old.texts = slices.DeleteFunc(old.texts, func(u text) bool {
				if bytes.Equal(u.b[:PrefixLen], t.b[:PrefixLen]) {
					c.bytes -= u.size()
					old.size -= u.size()
					return true
				}
				return false
			})
		}
		c.byText[k] = append(c.byText[k], e)
	}
	e.texts = append(e.texts, t)
	c.bytes += t.size()
	e.size += t.size()
	c.evict()
}

// textKey is the key of a kept (compact) text.
func (c *Cache) textKey(t *text) uint64 { return maphash.Bytes(c.seed, t.b[:PrefixLen]) }

// size is about the memory t holds.
func (t *text) size() int64 { return int64(len(t.b)) + 4*int64(len(t.strs)) }

// dropText removes e from the text index under t's key. Caller holds mu.
func (c *Cache) dropText(e *entry, t *text) {
	k := c.textKey(t)
	c.byText[k] = without(c.byText[k], e, func(x *entry) bool {
		for _, u := range x.texts {
			if &u.b[0] != &t.b[0] && bytes.Equal(u.b[:PrefixLen], t.b[:PrefixLen]) {
				return true // another of x's texts has the same key
			}
		}
		return false
	})
	if len(c.byText[k]) == 0 {
		delete(c.byText, k)
	}
	c.bytes -= t.size()
	e.size -= t.size()
}

// evict drops the least recently used entries while over the bound.
// Caller holds mu.
func (c *Cache) evict() {
	for c.bytes > c.max && c.head.prev != &c.head {
		e := c.head.prev
		c.unlink(e)
		for i := range e.texts {
			k := c.textKey(&e.texts[i])
			if c.byText[k] = without(c.byText[k], e, nil); len(c.byText[k]) == 0 {
				delete(c.byText, k)
			}
		}
		e.texts = nil
		c.byGeom[e.gkey] = without(c.byGeom[e.gkey], e, nil)
		if len(c.byGeom[e.gkey]) == 0 {
			delete(c.byGeom, e.gkey)
		}
		c.bytes -= e.size
		c.n--
	}
}

// without removes e from list unless keep says e is still listed there
// for another reason.
func without(list []*entry, e *entry, keep func(*entry) bool) []*entry {
	if keep != nil && keep(e) {
		return list
	}
	for i, x := range list {
		if x == e {
			return append(list[:i:i], list[i+1:]...)
		}
	}
	return list
}

func (c *Cache) link(e *entry) {
	e.prev, e.next = &c.head, c.head.next
	c.head.next.prev = e
	c.head.next = e
}

func (c *Cache) unlink(e *entry) {
	e.prev.next = e.next
	e.next.prev = e.prev
	e.prev, e.next = nil, nil
}

// measure is about the memory e holds.
func (e *entry) measure() int64 {
	n := int64(unsafe.Sizeof(*e)) + int64(e.area.Bytes())
	for _, p := range e.geom {
		n += int64(unsafe.Sizeof(orb.Ring{})) * int64(len(p))
		for _, r := range p {
			n += int64(unsafe.Sizeof(orb.Point{})) * int64(len(r))
		}
	}
	for _, t := range e.texts {
		n += t.size() + int64(unsafe.Sizeof(t))
	}
	return n
}

// geomKey hashes a geometry: its positions' bits and its shape (rings per
// polygon, positions per ring).
func (c *Cache) geomKey(mp orb.MultiPolygon) uint64 {
	var h maphash.Hash
	h.SetSeed(c.seed)
	var buf [8]byte
	word := func(v uint64) {
		for i := range buf {
			buf[i] = byte(v >> (8 * i))
		}
		h.Write(buf[:])
	}
	word(uint64(len(mp)))
	for _, p := range mp {
		word(uint64(len(p)))
		for _, r := range p {
			word(uint64(len(r)))
			if len(r) > 0 {
				h.Write(unsafe.Slice((*byte)(unsafe.Pointer(&r[0])), len(r)*int(unsafe.Sizeof(orb.Point{}))))
			}
		}
	}
	return h.Sum64()
}

// sameGeometry reports whether a and b have the same shape and positions.
func sameGeometry(a, b orb.MultiPolygon) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if len(a[i]) != len(b[i]) {
			return false
		}
		for j := range a[i] {
			ra, rb := a[i][j], b[i][j]
			if len(ra) != len(rb) {
				return false
			}
			for k := range ra {
				if ra[k] != rb[k] {
					return false
				}
			}
		}
	}
	return true
}

// copyGeometry copies mp into one array of positions.
func copyGeometry(mp orb.MultiPolygon) orb.MultiPolygon {
	n, nr := 0, 0
	for _, p := range mp {
		nr += len(p)
		for _, r := range p {
			n += len(r)
		}
	}
	pts := make([]orb.Point, 0, n)
	rings := make([]orb.Ring, 0, nr)
	out := make(orb.MultiPolygon, 0, len(mp))
	for _, p := range mp {
		first := len(rings)
		for _, r := range p {
			at := len(pts)
			pts = append(pts, r...)
			rings = append(rings, orb.Ring(pts[at:len(pts):len(pts)]))
		}
		out = append(out, orb.Polygon(rings[first:len(rings):len(rings)]))
	}
	return out
}
