package engine

import (
	"math"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/roomstate/roomstate/expr"
)

// Cells of a low zoom: sums over the buildings whose point falls in each
// square of a power-of-two grid in Web Mercator. A low-zoom tile shows a
// thousand cells over hundreds of thousands of buildings; summing the
// buildings for every tile cost ~8 ms of a 12 ms tile on the realistic 10 M
// city. The sums are kept instead, per `where` and grid level, as derived
// structures of the rank cache (see "Derived counting structures"): built
// by the first reader that asks, advanced by the buildings the writer logged
// as changed since, immutable once published.

// CellAsk asks TileData for the cells of a box instead of its buildings.
type CellAsk struct {
	// Level is the grid of positions: 2^Level units across the world
	// (a tile's zoom plus its extent's bits), at most MaxCellLevel.
	Level uint8
	// Shift makes a cell 2^Shift units on a side.
	Shift uint8
	// The cells asked: columns [X0, X1), rows [Y0, Y1).
	X0, Y0, X1, Y1 int64
	// Each is called, under the engine's read lock, with every cell of the
	// box that holds a building; the cell is good only for the call.
	Each func(c *CellSum)
}

// CellSum is the sums of the buildings whose point falls in one cell.
type CellSum struct {
	X, Y      int64 // column and row
	Buildings int64
	// Weight sums each building's dwellings (at least 1 a building); SX
	// and SY sum weight × the building's position, floored to whole units
	// of the level: Σ w·x / Σ w is the cell's weighted centre.
	Weight, SX, SY int64
	Counts         []int64 // total, matched, then one per flag
}

// MaxCellLevel is the finest position grid cells are kept for.
const MaxCellLevel = 24

// cellFields are a cell's sums before its counts: buildings, weight, SX, SY.
const cellFields = 4

// posView holds every building's point at MaxCellLevel at one write
// generation, shared by every expression's cells.
type posView struct {
	gen    uint64
	nb     int
	chunks []*posChunk // per bcSize buildings
}

// posChunk holds the points of bcSize buildings: x, y per building; x < 0
// for a building without dwellings.
type posChunk struct{ xy []int32 }

// at returns building bi's point (x < 0: none).
func (v *posView) at(bi uint32) (x, y int32) {
	ch := v.chunks[bi>>bcShift]
	i := int(bi&(bcSize-1)) * 2
	return ch.xy[i], ch.xy[i+1]
}

// placeAt returns a building's point in whole units of MaxCellLevel (x < 0
// when it has no dwellings): the floor of what Mercator.At gives, so that a
// coarser level's unit is this one shifted right.
func placeAt(bp *bldPlace) (x, y int32) {
	if !bp.live {
		return -1, -1
	}
	fx, fy := bp.mercator().At(MaxCellLevel)
	return int32(math.Floor(fx)), int32(math.Floor(fy))
}

// cellLevel holds one expression's cell sums on one grid at one write
// generation, and the views they were summed from (to take a changed
// building's old contribution out).
type cellLevel struct {
	level, shift uint8
	gen          uint64
	pos          *posView
	bv           *bldView
	nc           int
	keys         []uint64 // cells, by row then column: row<<32 | column
	sums         []int64  // per cell: cellFields, then nc counts
}

// cellKey returns the cell of a point at MaxCellLevel, and the point at
// the level.
func (l *cellLevel) cellKey(x, y int32) (key uint64, lx, ly int64) {
	return cellOf(x, y, l.level, l.shift)
}

// cellOf returns the cell (row<<32 | column) of a point at MaxCellLevel on
// the grid of level and shift, and the point at the level.
func cellOf(x, y int32, level, shift uint8) (key uint64, lx, ly int64) {
	d := MaxCellLevel - level
	lx, ly = int64(x>>d), int64(y>>d)
	return uint64(ly>>shift)<<32 | uint64(lx>>shift), lx, ly
}

// add adds sign × building bi's contribution, at point x, y with counts c,
// to the cell at index k.
func (l *cellLevel) add(k int, lx, ly int64, c []int64, sign int64) {
	s := l.sums[k*(cellFields+l.nc) : (k+1)*(cellFields+l.nc)]
	w := max(c[0], 1)
	s[0] += sign
	s[1] += sign * w
	s[2] += sign * w * lx
	s[3] += sign * w * ly
	for i, v := range c {
		s[cellFields+i] += sign * v
	}
}

// find returns the index of the cell key (false when the level has none).
func (l *cellLevel) find(key uint64) (int, bool) {
	k, ok := slices.BinarySearch(l.keys, key)
	return k, ok
}

// buildCells sums every building with dwellings into its cell.
func buildCells(pos *posView, bv *bldView, gen uint64, level, shift uint8) *cellLevel {
	l := &cellLevel{level: level, shift: shift, gen: gen, pos: pos, bv: bv, nc: bv.nc}
	items := make([]keyIndex, 0, pos.nb)
	for bi := uint32(0); int(bi) < pos.nb; bi++ {
		if x, y := pos.at(bi); x >= 0 {
			key, _, _ := l.cellKey(x, y)
			items = append(items, keyIndex{key, bi})
		}
	}
	sortByKey(items)
	for i := range items {
		if i == 0 || items[i].key != items[i-1].key {
			l.keys = append(l.keys, items[i].key)
		}
	}
	l.sums = make([]int64, len(l.keys)*(cellFields+l.nc))
	k := -1
	for i, it := range items {
		if i == 0 || it.key != items[i-1].key {
			k++
		}
		x, y := pos.at(it.idx)
		_, lx, ly := l.cellKey(x, y)
		l.add(k, lx, ly, bv.of(it.idx), 1)
	}
	return l
}

// advance returns the level's sums at the views pos and bv: its own, less
// the old contribution and plus the new of every building logged as
// changed since; nil when that cannot be done (the log no longer reaches
// back, or a building moved into a cell the level does not have).
func (l *cellLevel) advance(c *rankCache, pos *posView, bv *bldView) *cellLevel {
	log, ok := c.loggedAfter(l.gen)
	if !ok {
		return nil
	}
	var changed []uint32
	for _, ch := range log {
		changed = append(changed, ch.bld) // new buildings too: logged with their first dwelling
	}
	slices.Sort(changed)
	changed = slices.Compact(changed)
	n := &cellLevel{level: l.level, shift: l.shift, gen: c.gen, pos: pos, bv: bv, nc: l.nc, keys: l.keys, sums: l.sums}
	if len(changed) > 0 {
		n.sums = slices.Clone(l.sums)
	}
	for _, bi := range changed {
		if int(bi) < l.pos.nb {
			if x, y := l.pos.at(bi); x >= 0 {
				key, lx, ly := n.cellKey(x, y)
				k, _ := n.find(key)
				n.add(k, lx, ly, l.bv.of(bi), -1)
			}
		}
		if x, y := pos.at(bi); x >= 0 {
			key, lx, ly := n.cellKey(x, y)
			k, ok := n.find(key)
			if !ok {
				return nil
			}
			n.add(k, lx, ly, bv.of(bi), 1)
		}
	}
	return n
}

// each calls a.Each with every cell of a's box that holds a building.
func (l *cellLevel) each(a *CellAsk) {
	c := CellSum{Counts: make([]int64, l.nc)}
	x0, x1 := max(a.X0, 0), min(a.X1, 1<<32)
	if x0 >= x1 {
		return
	}
	for row := max(a.Y0, 0); row < a.Y1 && row < 1<<32; row++ {
		k, _ := l.find(uint64(row)<<32 | uint64(x0))
		end := uint64(row)<<32 | uint64(x1)
		for ; k < len(l.keys) && l.keys[k] < end; k++ {
			s := l.sums[k*(cellFields+l.nc) : (k+1)*(cellFields+l.nc)]
			if s[0] == 0 {
				continue // its buildings left
			}
			c.X, c.Y = int64(l.keys[k]&(1<<32-1)), row
			c.Buildings, c.Weight, c.SX, c.SY = s[0], s[1], s[2], s[3]
			copy(c.Counts, s[cellFields:])
			a.Each(&c)
		}
	}
}

// cellCache holds an expression's cell levels, by position level.
type cellCache struct {
	levels [MaxCellLevel + 1]atomic.Pointer[cellLevel]
}

// posCache holds the building points shared by every expression's cells.
type posCache struct {
	mu  sync.Mutex // serialises the making of the next view
	cur atomic.Pointer[posView]
}

// freshPos returns the building points current with st.
func (c *rankCache) freshPos(st *state) *posView {
	nb := len(st.bplace)
	if v := c.pos.cur.Load(); v != nil && v.gen == c.gen && v.nb == nb {
		return v
	}
	c.pos.mu.Lock()
	defer c.pos.mu.Unlock()
	old := c.pos.cur.Load()
	if old != nil && old.gen == c.gen && old.nb == nb {
		return old
	}
	v := &posView{gen: c.gen, nb: nb}
	nch := (nb + bcSize - 1) >> bcShift
	set := func(bi uint32) {
		x, y := placeAt(&st.bplace[bi])
		ch := v.chunks[bi>>bcShift]
		i := int(bi&(bcSize-1)) * 2
		ch.xy[i], ch.xy[i+1] = x, y
	}
	newChunk := func() *posChunk { return &posChunk{xy: slices.Repeat([]int32{-1}, 2*bcSize)} }
	var log []bldChange
	ok := old != nil
	if ok {
		log, ok = c.loggedAfter(old.gen)
	}
	if !ok {
		v.chunks = make([]*posChunk, nch)
		for i := range v.chunks {
			v.chunks[i] = newChunk()
		}
		for bi := range nb {
			set(uint32(bi))
		}
		c.pos.cur.Store(v)
		return v
	}
	cw := newChunkCopy(old.chunks, nch, newChunk, func(ch *posChunk) *posChunk { return &posChunk{xy: slices.Clone(ch.xy)} })
	v.chunks = cw.chunks
	for _, ch := range log { // new buildings too: logged with their first dwelling
		cw.at(int(ch.bld >> bcShift))
		set(ch.bld)
	}
	c.pos.cur.Store(v)
	return v
}

// cells returns x's cell sums on the grid of level and shift, current with
// st. Callers hold the engine's lock (either kind).
func (c *rankCache) cells(st *state, x *expr.Expr, level, shift uint8) *cellLevel {
	ix := c.index(x)
	ix.used.Store(c.tick.Add(1))
	bv := ix.freshBld(st, c, ix.freshRank(st, c))
	pos := c.freshPos(st)
	slot := &ix.cells.levels[level]
	current := func(l *cellLevel) bool { return l != nil && l.shift == shift && l.pos == pos && l.bv == bv }
	if l := slot.Load(); current(l) {
		return l
	}
	ix.build.Lock()
	defer ix.build.Unlock()
	old := slot.Load()
	if current(old) {
		return old
	}
	var l *cellLevel
	if old != nil && old.shift == shift {
		l = old.advance(c, pos, bv)
	}
	if l == nil {
		l = buildCells(pos, bv, c.gen, level, shift)
	}
	slot.Store(l)
	return l
}

// cellDeps is what a tile of cells was drawn from: the cells of a box at
// one write group.
type cellDeps struct {
	rankGen        uint64
	level, shift   uint8
	x0, y0, x1, y1 int64
}

// changedSince reports whether a building with dwellings whose point is in
// the box was logged as changed after the deps' group (true, too, when the
// log no longer reaches back). Moves and new buildings change the state's
// structure version, which TileCurrent checks first, so a building's point
// now is where it was. Caller holds the read lock.
func (d *cellDeps) changedSince(st *state, c *rankCache) bool {
	if c.gen == d.rankGen {
		return false
	}
	log, ok := c.loggedAfter(d.rankGen)
	if !ok {
		return true
	}
	for _, ch := range log {
		x, y := placeAt(&st.bplace[ch.bld])
		if x < 0 {
			return true // emptied: a structural change, were it in the box or not
		}
		key, _, _ := cellOf(x, y, d.level, d.shift)
		col, row := int64(key&(1<<32-1)), int64(key>>32)
		if col >= d.x0 && col < d.x1 && row >= d.y0 && row < d.y1 {
			return true
		}
	}
	return false
}
