package engine

import (
	"math/bits"
	"slices"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/roomstate/roomstate/expr"
)

// Rank blocks: 64 slots a block, 64 blocks (4,096 slots) a superblock, so a
// count relative to its superblock fits in 16 bits. A superblock is the unit
// a view is copied and brought up to date by: a batch of changes spread over
// a city touches most superblocks, and smaller ones are copied with less
// around each change (512 blocks a superblock made the first query after a
// batch of 1,000 changes at 10 M twice as slow).
const (
	sbShift   = 6 // blocks per superblock = 1 << sbShift
	sbBlocks  = 1 << sbShift
	sbSlots   = 6 + sbShift
	maxRanked = 24 // expressions kept besides the always-true one
	// buildings per chunk of building counts: the unit a building view is
	// copied by when one of its buildings changed (256 rather than 1,024
	// made a low-zoom tile drawn after 100 changes at 10 M ~20 % faster)
	bcShift = 8
	bcSize  = 1 << bcShift
)

// Derived counting structures, and who writes them.
//
// For every `where` expression E in use, a rankView answers how many slots
// of a range satisfy E and E ∧ f for every flag f, in O(1) per range, and a
// bldView holds those counts per building and per area tuple. Both are
// derived from the state's bit arrays at one write generation and are
// immutable once published: the writer never touches them, and readers never
// change one in place. A reader that finds an expression's newest view older
// than the state builds the next view (sharing every chunk whose superblock,
// or whose buildings, did not change since), and publishes it with an
// atomic pointer swap. The writer only records, per write group, which
// superblocks and buildings changed (rankCache's tracking fields).
//
// Two more are derived the same way, from the buildings logged as changed:
// a posView of every building's point on the finest grid of cells, shared by
// all expressions, and per expression and grid a cellLevel of sums over the
// buildings of each cell (cells.go), which low-zoom tiles read instead of
// every building.
//
// Counters: c = 0 counts live dwellings, c = 1 those satisfying E, c = 2+f
// those satisfying E ∧ flag f; nc = 2 + flags. A range's counters are thus
// total, matched and the flag counts of an answer.

// rankChunk is one superblock of an expression's rank data.
type rankChunk struct {
	words []uint64 // per block: E ∧ live
	rel   []uint16 // per block × nc: counts in the superblock before the block
	tot   []uint32 // nc: counts in the whole superblock
}

// rankView is an expression's rank data over a state at one write
// generation.
type rankView struct {
	nc     int
	gen    uint64 // the write generation it is current with
	nblk   int    // blocks covered
	chunks []*rankChunk
	sup    []uint32 // per superblock × nc: counts before the superblock
}

// bldView holds an expression's counts per building and per area tuple at
// one write generation.
type bldView struct {
	nc     int
	gen    uint64
	nb     int         // buildings covered
	chunks []*bldChunk // per bcSize buildings
	ac     []int64     // per area tuple × nc: sums over the tuple's unmixed buildings
}

// bldChunk holds the counts of bcSize buildings.
type bldChunk struct {
	c    []int64 // per building × nc
	area []int32 // per building: the area tuple its counts are summed into, -1 for none
}

// of returns the counts of building bi (nc counters).
func (v *bldView) of(bi uint32) []int64 {
	ch := v.chunks[bi>>bcShift]
	i := int(bi&(bcSize-1)) * v.nc
	return ch.c[i : i+v.nc : i+v.nc]
}

// areaOf returns the counts of area tuple a (nc counters).
func (v *bldView) areaOf(a uint32) []int64 {
	return v.ac[int(a)*v.nc : int(a)*v.nc+v.nc]
}

// exprIndex holds the newest views of one expression.
type exprIndex struct {
	x    *expr.Expr
	nc   int
	used atomic.Int64 // tick of the last use, for eviction

	// build serialises the making of this expression's next views among
	// readers; it guards no field, since views are published whole through
	// rank and bld.
	build sync.Mutex
	rank  atomic.Pointer[rankView]
	bld   atomic.Pointer[bldView]
	cells cellCache
}

// bldChange is one building logged as changed in a write group.
type bldChange struct {
	gen uint64
	bld uint32
}

// maxBlog bounds the log of changed buildings; past it, the older half is
// dropped and views older than what remains recount every building.
const maxBlog = 1 << 20

// rankCache keeps the indexes of recently used expressions for one state,
// and what changed since their views were built.
type rankCache struct {
	nc   int
	all  *exprIndex // the always-true expression: live dwellings
	tick atomic.Int64

	// mu serialises the insertion of new expressions; the map is replaced
	// whole on insertion (copy on write) and read through byKey without it.
	mu    sync.Mutex
	byKey atomic.Pointer[map[string]*exprIndex]

	// change tracking: written by the writer under the engine's exclusive
	// lock, read by readers under the shared lock.
	gen       uint64      // write groups so far
	sbGen     []uint64    // per superblock: the group of its last change
	blkGen    []uint64    // per block: the group of its last change
	bGen      []uint64    // per building: the group it was last logged in
	blog      []bldChange // buildings changed, in group order
	blogFloor uint64      // groups ≤ blogFloor may be missing from blog

	pos posCache // building points, for every expression's cells
}

func newRankCache(nFlags int) *rankCache {
	c := &rankCache{nc: 2 + nFlags}
	c.all = &exprIndex{x: expr.True, nc: c.nc}
	m := map[string]*exprIndex{}
	c.byKey.Store(&m)
	return c
}

// index returns the index of x, inserting it (and evicting the least
// recently used beyond maxRanked) when new.
func (c *rankCache) index(x *expr.Expr) *exprIndex {
	if x.IsTrue() {
		return c.all
	}
	key := x.String()
	if ix := (*c.byKey.Load())[key]; ix != nil {
		return ix
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	old := *c.byKey.Load()
	if ix := old[key]; ix != nil {
		return ix
	}
	m := make(map[string]*exprIndex, len(old)+1)
	var oldest string
	var at int64 = -1
	for k, ix := range old {
		m[k] = ix
		if u := ix.used.Load(); at < 0 || u < at {
			oldest, at = k, u
		}
	}
	if len(m) >= maxRanked {
		delete(m, oldest)
	}
	ix := &exprIndex{x: x, nc: c.nc}
	m[key] = ix
	c.byKey.Store(&m)
	return ix
}

// view returns x's rank view, current with st. Callers hold the engine's
// lock (either kind).
func (c *rankCache) view(st *state, x *expr.Expr) *rankView {
	ix := c.index(x)
	ix.used.Store(c.tick.Add(1))
	return ix.freshRank(st, c)
}

// buildings returns x's rank view and its building view, both current with
// st. Callers hold the engine's lock (either kind).
func (c *rankCache) buildings(st *state, x *expr.Expr) (*rankView, *bldView) {
	ix := c.index(x)
	ix.used.Store(c.tick.Add(1))
	rv := ix.freshRank(st, c)
	return rv, ix.freshBld(st, c, rv)
}

func (ix *exprIndex) freshRank(st *state, c *rankCache) *rankView {
	nblk := st.nBlocks()
	if v := ix.rank.Load(); v != nil && v.gen == c.gen && v.nblk == nblk {
		return v
	}
	ix.build.Lock()
	defer ix.build.Unlock()
	old := ix.rank.Load()
	if old != nil && old.gen == c.gen && old.nblk == nblk {
		return old
	}
	v := &rankView{nc: ix.nc, gen: c.gen, nblk: nblk}
	nsb := (nblk + sbBlocks - 1) >> sbShift
	v.chunks = make([]*rankChunk, nsb)
	for sb := range v.chunks {
		if old != nil && sb < len(old.chunks) && old.blocksIn(sb) == v.blocksIn(sb) {
			v.chunks[sb] = old.chunks[sb]
			if sb < len(c.sbGen) && c.sbGen[sb] > old.gen {
				v.chunks[sb] = patchChunk(st, ix.x, ix.nc, sb, old.chunks[sb], c.blkGen, old.gen)
			}
			continue
		}
		v.chunks[sb] = buildChunk(st, ix.x, ix.nc, sb, v.blocksIn(sb))
	}
	nc := ix.nc
	v.sup = make([]uint32, nsb*nc)
	for k := 0; k < nc; k++ {
		var acc uint32
		for sb := 0; sb < nsb; sb++ {
			v.sup[sb*nc+k] = acc
			acc += v.chunks[sb].tot[k]
		}
	}
	ix.rank.Store(v)
	return v
}

// blocksIn is the number of blocks of superblock sb the view covers.
func (v *rankView) blocksIn(sb int) int { return min(sbBlocks, v.nblk-sb<<sbShift) }

// buildChunk computes superblock sb's rank data (nb blocks) from st.
func buildChunk(st *state, x *expr.Expr, nc, sb, nb int) *rankChunk {
	ch := &rankChunk{words: make([]uint64, nb), rel: make([]uint16, nb*nc), tot: make([]uint32, nc)}
	acc := ch.tot
	words := st.words
	b0 := sb << sbShift
	for i := 0; i < nb; i++ {
		b := b0 + i
		live := st.live[b]
		w := x.EvalBlock(words, b) & live
		ch.words[i] = w
		rel := ch.rel[i*nc : i*nc+nc]
		rel[0] = uint16(acc[0])
		acc[0] += uint32(bits.OnesCount64(live))
		rel[1] = uint16(acc[1])
		acc[1] += uint32(bits.OnesCount64(w))
		for c := 2; c < nc; c++ {
			rel[c] = uint16(acc[c])
			acc[c] += uint32(bits.OnesCount64(w & words[c-2][b]))
		}
	}
	return ch
}

// patchChunk returns superblock sb's rank data with the blocks changed
// after group since counted again: a copy of old whose changed blocks'
// words are evaluated again and whose counts before each block move by
// what the changed blocks before it gained or lost. A batch of changes
// spread over a city touches most superblocks; counting only the changed
// blocks (a few a superblock) instead of all of them made the first query
// after a batch of 1,000 changes at 10 M several times cheaper.
func patchChunk(st *state, x *expr.Expr, nc, sb int, old *rankChunk, blkGen []uint64, since uint64) *rankChunk {
	nb := len(old.words)
	b0 := sb << sbShift
	changed := func(i int) bool { b := b0 + i; return b < len(blkGen) && blkGen[b] > since }
	first := 0
	for first < nb && !changed(first) {
		first++
	}
	if first == nb {
		return old
	}
	ch := &rankChunk{words: slices.Clone(old.words), rel: slices.Clone(old.rel), tot: slices.Clone(old.tot)}
	d := make([]int32, nc) // what the changed blocks so far gained, per counter
	for i := first; i < nb; i++ {
		rel := ch.rel[i*nc : i*nc+nc]
		for c, v := range d {
			rel[c] = uint16(int32(rel[c]) + v)
		}
		if !changed(i) {
			continue
		}
		b := b0 + i
		live := st.live[b]
		w := x.EvalBlock(st.words, b) & live
		ch.words[i] = w
		for c := range d {
			// the block's old count: the next block's count before it
			// (or the superblock's total) less its own
			next := old.tot[c]
			if i+1 < nb {
				next = uint32(old.rel[(i+1)*nc+c])
			}
			was := int32(next - uint32(old.rel[i*nc+c]))
			var now int
			switch c {
			case 0:
				now = bits.OnesCount64(live)
			case 1:
				now = bits.OnesCount64(w)
			default:
				now = bits.OnesCount64(w & st.words[c-2][b])
			}
			d[c] += int32(now) - was
		}
	}
	for c, v := range d {
		ch.tot[c] = uint32(int32(ch.tot[c]) + v)
	}
	return ch
}

func (ix *exprIndex) freshBld(st *state, c *rankCache, rv *rankView) *bldView {
	nb, na, nc := len(st.blds), len(st.areas), ix.nc
	current := func(v *bldView) bool { return v != nil && v.gen == c.gen && v.nb == nb && len(v.ac) == na*nc }
	if v := ix.bld.Load(); current(v) {
		return v
	}
	ix.build.Lock()
	defer ix.build.Unlock()
	old := ix.bld.Load()
	if current(old) {
		return old
	}
	v := &bldView{nc: nc, gen: c.gen, nb: nb, ac: make([]int64, na*nc)}
	nch := (nb + bcSize - 1) >> bcShift
	var log []bldChange
	ok := old != nil
	if ok {
		log, ok = c.loggedAfter(old.gen)
	}
	if !ok {
		v.chunks = make([]*bldChunk, nch)
		for i := range v.chunks {
			v.chunks[i] = newBldChunk(nc)
		}
		for bi := 0; bi < nb; bi++ {
			v.recount(st, rv, uint32(bi))
		}
		ix.bld.Store(v)
		return v
	}
	copy(v.ac, old.ac)
	cw := newChunkCopy(old.chunks, nch, func() *bldChunk { return newBldChunk(nc) }, (*bldChunk).clone)
	v.chunks = cw.chunks
	touch := func(bi uint32) {
		cw.at(int(bi >> bcShift))
		v.recount(st, rv, bi)
	}
	// buildings logged after the old view, then those added since
	for _, ch := range log {
		if int(ch.bld) < old.nb {
			touch(ch.bld)
		}
	}
	for bi := old.nb; bi < nb; bi++ {
		touch(uint32(bi))
	}
	ix.bld.Store(v)
	return v
}

// chunkCopy makes a view's chunked array from an older view's: chunks are
// shared until the new view writes one, copied on its first write, and the
// chunks beyond the old ones are new.
type chunkCopy[C any] struct {
	chunks []*C
	owned  []bool // chunks this view has copied (or made) already
	clone  func(*C) *C
}

// newChunkCopy starts n chunks from old, making the missing ones with fresh.
func newChunkCopy[C any](old []*C, n int, fresh func() *C, clone func(*C) *C) *chunkCopy[C] {
	w := &chunkCopy[C]{chunks: make([]*C, n), owned: make([]bool, n), clone: clone}
	copy(w.chunks, old)
	for i := len(old); i < n; i++ {
		w.chunks[i], w.owned[i] = fresh(), true
	}
	return w
}

// at returns chunk k, the view's own: copied on its first write.
func (w *chunkCopy[C]) at(k int) *C {
	if !w.owned[k] {
		w.chunks[k], w.owned[k] = w.clone(w.chunks[k]), true
	}
	return w.chunks[k]
}

// loggedAfter returns the buildings logged as changed after write group g,
// in group order; ok is false when the log no longer reaches back to g
// (older entries were dropped), so that what is derived must be made anew.
func (c *rankCache) loggedAfter(g uint64) (log []bldChange, ok bool) {
	if g < c.blogFloor {
		return nil, false
	}
	from := sort.Search(len(c.blog), func(i int) bool { return c.blog[i].gen > g })
	return c.blog[from:], true
}

func newBldChunk(nc int) *bldChunk {
	ch := &bldChunk{c: make([]int64, bcSize*nc), area: make([]int32, bcSize)}
	for i := range ch.area {
		ch.area[i] = -1
	}
	return ch
}

func (ch *bldChunk) clone() *bldChunk {
	return &bldChunk{c: slices.Clone(ch.c), area: slices.Clone(ch.area)}
}

// recount counts building bi again (its main ranges, then its delta slots)
// and moves its contribution to its area. The building's chunk must belong
// to v alone.
func (v *bldView) recount(st *state, rv *rankView, bi uint32) {
	nc := v.nc
	ch := v.chunks[bi>>bcShift]
	i := int(bi & (bcSize - 1))
	dst := ch.c[i*nc : i*nc+nc]
	if a := ch.area[i]; a >= 0 {
		acc := v.areaOf(uint32(a))
		for k, x := range dst {
			acc[k] -= x
		}
	}
	clear(dst)
	b := &st.blds[bi]
	for j := 0; j+1 < len(b.ranges); j += 2 {
		rv.addRange(st, b.ranges[j], b.ranges[j+1], dst)
	}
	for _, p := range b.slots {
		if p >= uint32(st.nMain) {
			rv.addRange(st, p, p+1, dst)
		}
	}
	ch.area[i] = -1
	if !b.mixed && len(b.slots) > 0 {
		ch.area[i] = int32(b.area)
		acc := v.areaOf(b.area)
		for k, x := range dst {
			acc[k] += x
		}
	}
}

// prefix adds sign × (counts of slots [0, p)) for all counters to acc.
func (v *rankView) prefix(st *state, p uint32, sign int64, acc []int64) {
	blk := int(p >> 6)
	sb := blk >> sbShift
	nc := v.nc
	ch := v.chunks[sb]
	i := blk & (sbBlocks - 1)
	m := uint64(1)<<(p&63) - 1
	w := ch.words[i] & m
	rel := ch.rel[i*nc : i*nc+nc]
	sup := v.sup[sb*nc : sb*nc+nc]
	acc[0] += sign * (int64(sup[0]) + int64(rel[0]) + popcount(st.live[blk]&m))
	acc[1] += sign * (int64(sup[1]) + int64(rel[1]) + popcount(w))
	for c := 2; c < nc; c++ {
		acc[c] += sign * (int64(sup[c]) + int64(rel[c]) + popcount(w&st.words[c-2][blk]))
	}
}

// addRange adds the counts of slots [a, b) to acc (nc counters).
func (v *rankView) addRange(st *state, a, b uint32, acc []int64) {
	if a >= b {
		return
	}
	if a>>6 == (b-1)>>6 {
		v.addMask(st, int(a>>6), rangeMask(a&63, (b-1)&63), acc)
		return
	}
	v.prefix(st, b, 1, acc)
	v.prefix(st, a, -1, acc)
}

// addMask adds the counts of the slots of block blk selected by mask.
func (v *rankView) addMask(st *state, blk int, mask uint64, acc []int64) {
	acc[0] += popcount(st.live[blk] & mask)
	w := v.word(blk) & mask
	if w == 0 {
		return
	}
	acc[1] += popcount(w)
	for c := 2; c < len(acc); c++ {
		acc[c] += popcount(w & st.words[c-2][blk])
	}
}

// word returns block blk's word of the expression (∧ live).
func (v *rankView) word(blk int) uint64 {
	return v.chunks[blk>>sbShift].words[blk&(sbBlocks-1)]
}

// bit reports whether slot p satisfies the expression (and is live).
func (v *rankView) bit(p uint32) bool { return v.word(int(p>>6))>>(p&63)&1 != 0 }

// rangeMask has bits lo..hi (inclusive) set.
func rangeMask(lo, hi uint32) uint64 {
	return (^uint64(0) >> (63 - hi)) &^ (uint64(1)<<lo - 1)
}

// begin starts a write group. Caller holds the engine's exclusive lock.
func (c *rankCache) begin() { c.gen++ }

// markDirty records that a slot of building bld changed in the current
// group. Caller holds the engine's exclusive lock, inside a group begun with
// begin.
func (c *rankCache) markDirty(slot, bld uint32) {
	sb := int(slot >> sbSlots)
	for sb >= len(c.sbGen) {
		c.sbGen = append(c.sbGen, 0)
	}
	c.sbGen[sb] = c.gen
	blk := int(slot >> 6)
	for blk >= len(c.blkGen) {
		c.blkGen = append(c.blkGen, 0)
	}
	c.blkGen[blk] = c.gen
	for int(bld) >= len(c.bGen) {
		c.bGen = append(c.bGen, 0)
	}
	if c.bGen[bld] != c.gen {
		c.bGen[bld] = c.gen
		c.blog = append(c.blog, bldChange{gen: c.gen, bld: bld})
	}
	if len(c.blog) > maxBlog {
		// drop the older half: views older than what remains recount all
		half := len(c.blog) / 2
		c.blogFloor = c.blog[half-1].gen
		for half < len(c.blog) && c.blog[half].gen == c.blogFloor {
			half++
		}
		c.blog = slices.Delete(c.blog, 0, half)
	}
}
