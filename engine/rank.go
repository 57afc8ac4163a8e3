package engine

import (
	"math/bits"
	"sync"
	"sync/atomic"
)

// Rank blocks: 64 slots a block, 512 blocks (32,768 slots) a superblock, so a
// count relative to its superblock fits in 16 bits.
const (
	sbShift   = 9 // blocks per superblock = 1 << sbShift
	sbSlots   = 6 + sbShift
	maxRanked = 24 // rank caches kept besides the always-true one
)

// rankIndex answers, for one expression E, how many slots in a range satisfy
// E and E ∧ f for every flag f, in O(1) per range. It is derived from the
// state's bit arrays and rebuilt lazily per superblock after changes.
//
// Counters: c = 0 counts live dwellings, c = 1 those satisfying E, c = 2+f
// those satisfying E ∧ flag f; nc = 2 + flags. A range's counters are thus
// total, matched and the flag counts of an answer, from one index.
type rankIndex struct {
	expr  *Expr
	nc    int
	cache *rankCache

	mu sync.Mutex // serialises lazy rebuilds among readers
	// published when a rebuild is complete (readers that find them current
	// use the arrays without the lock): 1 + the cache's write generation the
	// index is current with (0: never built), and the block count it covers
	cleanGen atomic.Uint64
	cleanBlk atomic.Int64
	used     atomic.Int64

	// guarded: written by a reader under mu while dirty, or by the writer
	// under the engine's exclusive lock; read by readers once clean.
	nblk  int
	words []uint64 // per block: E ∧ live
	rel   []uint16 // per block × nc: counts in its superblock before it
	sup   []uint32 // per superblock × nc: counts before the superblock
	tot   []uint32 // per superblock × nc: counts inside the superblock
	dirty []uint64 // bit per superblock never built (growth)

	// per building × nc counts, computed on first use; bcur is how much of
	// the cache's log of changed buildings has been recounted.
	bc     []int64
	bBuilt bool
	bcur   int
	// per area tuple × nc: the sums of bc over the area's buildings that are
	// not mixed; bArea is the area a building's counts are in (-1: none)
	ac    []int64
	bArea []int32
}

func newRankIndex(e *Expr, nFlags int, c *rankCache) *rankIndex {
	return &rankIndex{expr: e, nc: 2 + nFlags, cache: c}
}

// buildingCounts returns counts per building and per area tuple (stride
// nc), fresh; area counts leave out mixed buildings. Callers hold the
// engine's lock; the slices are valid until the next write.
func (r *rankIndex) buildingCounts(st *state) (bc, ac []int64) {
	r.fresh(st)
	r.mu.Lock()
	defer r.mu.Unlock()
	nb := len(st.blds)
	if r.bBuilt && len(r.ac) < len(st.areas)*r.nc { // areas added since
		r.ac = append(r.ac, make([]int64, len(st.areas)*r.nc-len(r.ac))...)
	}
	if r.bBuilt && len(r.bArea) < nb { // buildings added since: count them
		old := len(r.bArea)
		r.bc = append(r.bc, make([]int64, (nb-old)*r.nc)...)
		for len(r.bArea) < nb {
			r.bArea = append(r.bArea, -1)
		}
		for b := old; b < nb; b++ {
			r.countBuilding(st, uint32(b))
		}
	}
	if !r.bBuilt {
		r.bc = make([]int64, nb*r.nc)
		r.ac = make([]int64, len(st.areas)*r.nc)
		r.bArea = make([]int32, nb)
		for i := range r.bArea {
			r.bArea[i] = -1
		}
		for b := 0; b < nb; b++ {
			r.countBuilding(st, uint32(b))
		}
		r.bBuilt = true
		r.bcur = len(r.cache.blog)
		return r.bc, r.ac
	}
	// the buildings changed since: recount them (a repeat is harmless)
	for _, b := range r.cache.blog[r.bcur:] {
		if int(b) < nb {
			r.countBuilding(st, b)
		}
	}
	r.bcur = len(r.cache.blog)
	return r.bc, r.ac
}

// countBuilding recounts one building (its main ranges, then its delta
// slots) and moves its contribution to its area.
func (r *rankIndex) countBuilding(st *state, bi uint32) {
	nc := r.nc
	dst := r.bc[int(bi)*nc : int(bi)*nc+nc]
	if a := r.bArea[bi]; a >= 0 {
		acc := r.ac[int(a)*nc : int(a)*nc+nc]
		for c, v := range dst {
			acc[c] -= v
		}
	}
	clear(dst)
	b := &st.blds[bi]
	for i := 0; i+1 < len(b.ranges); i += 2 {
		r.addRange(st, b.ranges[i], b.ranges[i+1], dst)
	}
	for _, p := range b.slots {
		if p >= uint32(st.nMain) {
			r.addRange(st, p, p+1, dst)
		}
	}
	r.bArea[bi] = -1
	if !b.mixed && len(b.slots) > 0 {
		r.bArea[bi] = int32(b.area)
		acc := r.ac[int(b.area)*nc : int(b.area)*nc+nc]
		for c, v := range dst {
			acc[c] += v
		}
	}
}

// fresh brings the index up to date with st. Callers hold the engine's lock
// (shared or exclusive).
func (r *rankIndex) fresh(st *state) {
	c := r.cache
	current := func() bool {
		return r.cleanGen.Load() == c.gen+1 && r.cleanBlk.Load() == int64(st.nBlocks())
	}
	if current() {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if current() {
		return
	}
	nblk := st.nBlocks()
	nsb := (nblk + (1 << sbShift) - 1) >> sbShift
	if nblk != r.nblk {
		oldSB := (r.nblk + (1 << sbShift) - 1) >> sbShift
		r.words = growU64(r.words, nblk)
		r.rel = growU16(r.rel, nblk*r.nc)
		r.sup = growU32(r.sup, nsb*r.nc)
		r.tot = growU32(r.tot, nsb*r.nc)
		r.dirty = growU64(r.dirty, (nsb+63)>>6)
		// the last old superblock may have grown; new ones are unbuilt
		first := oldSB - 1
		if first < 0 {
			first = 0
		}
		for sb := first; sb < nsb; sb++ {
			r.dirty[sb>>6] |= 1 << (sb & 63)
		}
		r.nblk = nblk
	}
	built := r.cleanGen.Load() // 0, or 1 + the generation last built
	for sb := 0; sb < nsb; sb++ {
		changed := built == 0 || sb < len(c.sbGen) && c.sbGen[sb] >= built
		if changed || r.dirty[sb>>6]>>(sb&63)&1 != 0 {
			r.rebuildSuper(st, sb)
		}
	}
	clear(r.dirty)
	nc := r.nc
	for k := 0; k < nc; k++ {
		var acc uint32
		for sb := 0; sb < nsb; sb++ {
			r.sup[sb*nc+k] = acc
			acc += r.tot[sb*nc+k]
		}
	}
	r.cleanBlk.Store(int64(nblk))
	r.cleanGen.Store(c.gen + 1)
}

func (r *rankIndex) rebuildSuper(st *state, sb int) {
	nc := r.nc
	b0 := sb << sbShift
	b1 := b0 + 1<<sbShift
	if b1 > r.nblk {
		b1 = r.nblk
	}
	var run [64]uint32
	acc := run[:0]
	if nc > len(run) {
		acc = make([]uint32, nc)
	} else {
		acc = run[:nc]
	}
	words := st.words
	for b := b0; b < b1; b++ {
		live := st.live[b]
		w := r.expr.evalBlock(words, b) & live
		r.words[b] = w
		rel := r.rel[b*nc : b*nc+nc]
		rel[0] = uint16(acc[0])
		acc[0] += uint32(bits.OnesCount64(live))
		rel[1] = uint16(acc[1])
		acc[1] += uint32(bits.OnesCount64(w))
		for c := 2; c < nc; c++ {
			rel[c] = uint16(acc[c])
			acc[c] += uint32(bits.OnesCount64(w & words[c-2][b]))
		}
	}
	copy(r.tot[sb*nc:sb*nc+nc], acc)
}

// prefix adds sign × (counts of slots [0, p)) for all counters to acc.
func (r *rankIndex) prefix(st *state, p uint32, sign int64, acc []int64) {
	blk := int(p >> 6)
	sb := blk >> sbShift
	nc := r.nc
	m := uint64(1)<<(p&63) - 1
	w := r.words[blk] & m
	rel := r.rel[blk*nc : blk*nc+nc]
	sup := r.sup[sb*nc : sb*nc+nc]
	acc[0] += sign * (int64(sup[0]) + int64(rel[0]) + popcount(st.live[blk]&m))
	acc[1] += sign * (int64(sup[1]) + int64(rel[1]) + popcount(w))
	for c := 2; c < nc; c++ {
		acc[c] += sign * (int64(sup[c]) + int64(rel[c]) + popcount(w&st.words[c-2][blk]))
	}
}

// addRange adds the counts of slots [a, b) to acc (nc counters).
func (r *rankIndex) addRange(st *state, a, b uint32, acc []int64) {
	if a >= b {
		return
	}
	if a>>6 == (b-1)>>6 {
		r.addMask(st, int(a>>6), rangeMask(a&63, (b-1)&63), acc)
		return
	}
	r.prefix(st, b, 1, acc)
	r.prefix(st, a, -1, acc)
}

// addMask adds the counts of the slots of block blk selected by mask.
func (r *rankIndex) addMask(st *state, blk int, mask uint64, acc []int64) {
	acc[0] += popcount(st.live[blk] & mask)
	w := r.words[blk] & mask
	if w == 0 {
		return
	}
	acc[1] += popcount(w)
	for c := 2; c < len(acc); c++ {
		acc[c] += popcount(w & st.words[c-2][blk])
	}
}

// bit reports whether slot p satisfies the expression (and is live).
func (r *rankIndex) bit(p uint32) bool { return r.words[p>>6]>>(p&63)&1 != 0 }

// rangeMask has bits lo..hi (inclusive) set.
func rangeMask(lo, hi uint32) uint64 {
	return (^uint64(0) >> (63 - hi)) &^ (uint64(1)<<lo - 1)
}

func growU64(s []uint64, n int) []uint64 {
	if n <= cap(s) {
		old := len(s)
		s = s[:n]
		clear(s[min(old, n):])
		return s
	}
	out := make([]uint64, n, n+n/4)
	copy(out, s)
	return out
}

func growU32(s []uint32, n int) []uint32 {
	if n <= cap(s) {
		old := len(s)
		s = s[:n]
		clear(s[min(old, n):])
		return s
	}
	out := make([]uint32, n, n+n/4)
	copy(out, s)
	return out
}

func growU16(s []uint16, n int) []uint16 {
	if n <= cap(s) {
		old := len(s)
		s = s[:n]
		clear(s[min(old, n):])
		return s
	}
	out := make([]uint16, n, n+n/4)
	copy(out, s)
	return out
}

// maxBlog bounds the log of changed buildings; past it, indexes recount
// every building once.
const maxBlog = 1 << 20

// rankCache keeps the rank indexes of recently used expressions, and what
// changed since they were built: writes record the superblock and building
// of each change once, however many indexes there are, and each index
// catches up when next used.
type rankCache struct {
	mu    sync.Mutex
	tick  atomic.Int64
	all   *rankIndex // the always-true expression: live dwellings
	byKey map[string]*rankIndex

	// change tracking, written under the engine's exclusive lock
	gen   uint64   // write batches so far
	sbGen []uint64 // per superblock: the batch of its last change
	bGen  []uint64 // per building: the batch it was last logged in
	blog  []uint32 // buildings changed, in order
}

func newRankCache(nFlags int) *rankCache {
	c := &rankCache{byKey: map[string]*rankIndex{}}
	c.all = newRankIndex(trueExpr, nFlags, c)
	return c
}

// get returns the (fresh) rank index of e. Callers hold the engine's lock.
func (c *rankCache) get(st *state, e *Expr) *rankIndex {
	var r *rankIndex
	if e.IsTrue() {
		r = c.all
	} else {
		c.mu.Lock()
		r = c.byKey[e.canon]
		if r == nil {
			if len(c.byKey) >= maxRanked {
				c.evictLocked()
			}
			r = newRankIndex(e, st.nFlags(), c)
			c.byKey[e.canon] = r
		}
		c.mu.Unlock()
	}
	r.used.Store(c.tick.Add(1))
	r.fresh(st)
	return r
}

func (c *rankCache) evictLocked() {
	var oldest string
	var at int64 = -1
	for k, r := range c.byKey {
		if u := r.used.Load(); at < 0 || u < at {
			oldest, at = k, u
		}
	}
	delete(c.byKey, oldest)
}

// begin starts a batch of writes. Caller holds the engine's exclusive lock.
func (c *rankCache) begin() { c.gen++ }

// markDirty records that a slot of building bld changed. Caller holds the
// engine's exclusive lock, inside a batch begun with begin.
func (c *rankCache) markDirty(slot, bld uint32) {
	sb := int(slot >> sbSlots)
	for sb >= len(c.sbGen) {
		c.sbGen = append(c.sbGen, 0)
	}
	c.sbGen[sb] = c.gen
	for int(bld) >= len(c.bGen) {
		c.bGen = append(c.bGen, 0)
	}
	if c.bGen[bld] != c.gen {
		c.bGen[bld] = c.gen
		c.blog = append(c.blog, bld)
	}
	if len(c.blog) > maxBlog {
		// too much to catch up with: indexes recount every building
		c.blog = c.blog[:0]
		c.all.bBuilt, c.all.bcur = false, 0
		for _, r := range c.byKey {
			r.bBuilt, r.bcur = false, 0
		}
	}
}
