package engine

import (
	"cmp"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/roomstate/roomstate/coord"
	"github.com/roomstate/roomstate/expr"
	"github.com/roomstate/roomstate/fault"
)

// Grid limits.
const (
	MinCellM = 10      // smallest cell_m
	MaxCells = 500_000 // non-empty cells in one answer
)

// metresPerDegree is the length of one degree of latitude (and of longitude
// at the equator) on the WGS84 sphere of equal area, near enough for cells.
const metresPerDegree = 111_320.0

// GridQuery asks for aggregates over square cells (CellM) or over the units
// of a level (Level). BBox, when set, keeps dwellings inside it (edges
// included).
type GridQuery struct {
	BBox  *[4]float64 // west, south, east, north
	CellM float64
	Level string
	Where string
	// AsOf asks about a past state.
	AsOf AsOf
	// Deadline, when set, ends a query that runs longer with ErrTimeout.
	Deadline time.Time
}

// Cell is one aggregate of a grid answer.
type Cell struct {
	ID   string
	Name string     // unit name, for level cells
	BBox [4]float64 // west, south, east, north
	Counts
}

// GridResult answers a GridQuery; cells are ordered by id (square cells by
// row, then column).
type GridResult struct {
	Cells     []Cell
	FlagNames []string
	Version   Version
}

// cellAcc accumulates counts per key.
type cellAcc struct {
	nf       int
	index    map[uint64]int
	denseIdx []int32 // when set, replaces index for small keys
	keys     []uint64
	acc      []int64    // per cell: total, matched, flags
	bbox     [][4]int32 // per cell: box of what fell in it
}

func newCellAcc(nf int) *cellAcc { return &cellAcc{nf: nf, index: map[uint64]int{}} }

// dense switches to an array index for keys below n.
func (c *cellAcc) dense(n int) {
	c.denseIdx = make([]int32, n)
	for i := range c.denseIdx {
		c.denseIdx[i] = -1
	}
}

// find returns the cell of key k, or -1.
func (c *cellAcc) find(k uint64) int {
	if c.denseIdx != nil {
		return int(c.denseIdx[k])
	}
	if i, ok := c.index[k]; ok {
		return i
	}
	return -1
}

func (c *cellAcc) slot(k uint64) int {
	if c.denseIdx != nil {
		if i := c.denseIdx[k]; i >= 0 {
			return int(i)
		}
		i := len(c.keys)
		c.denseIdx[k] = int32(i)
		c.add(k)
		return i
	}
	i, ok := c.index[k]
	if !ok {
		i = len(c.keys)
		c.index[k] = i
		c.add(k)
	}
	return i
}

func (c *cellAcc) add(k uint64) {
	c.keys = append(c.keys, k)
	c.acc = append(c.acc, make([]int64, 2+c.nf)...)
	c.bbox = append(c.bbox, [4]int32{math.MaxInt32, math.MaxInt32, math.MinInt32, math.MinInt32})
}

func (c *cellAcc) grow(i int, bb [4]int32) {
	b := &c.bbox[i]
	b[0], b[1], b[2], b[3] = min(b[0], bb[0]), min(b[1], bb[1]), max(b[2], bb[2]), max(b[3], bb[3])
}

// counts returns cell i's counts; Flags shares the accumulator's memory,
// which is not touched again once the answer is being assembled.
func (c *cellAcc) counts(i int) Counts {
	a := c.acc[i*(2+c.nf) : (i+1)*(2+c.nf)]
	return Counts{Total: a[0], Matched: a[1], Flags: a[2 : 2+c.nf : 2+c.nf]}
}

// aggregator visits buildings (whole, when they fall in one cell and inside
// the box) or single dwellings, and adds their counts to cells.
type aggregator struct {
	deadline time.Time
	timedOut bool
	st       *state
	x        *expr.Expr // the where expression
	rk       *rankView  // its rank view
	bv       *bldView   // its counts per building and per area tuple
	bb       *[4]int32
	acc      *cellAcc
}

func (e *Engine) newAggregator(st *state, where string, bb *[4]int32) (*aggregator, error) {
	x, err := e.parseWhere(st, where)
	if err != nil {
		return nil, err
	}
	a := &aggregator{st: st, x: x, bb: bb, acc: newCellAcc(st.nFlags())}
	a.rk, a.bv = e.ranks.buildings(st, x)
	return a, nil
}

// run calls keyB for each building that lies wholly inside the box; if it
// returns ok, the building's counts go to that key as a whole. Otherwise each
// of its dwellings inside the box goes to keyP (skipped when ok is false).
func (a *aggregator) run(keyB func(bi uint32, b *building) (uint64, bool), keyP func(p uint32) (uint64, bool)) {
	st := a.st
	visit := func(bi uint32) {
		b := &st.blds[bi]
		if len(b.slots) == 0 {
			return
		}
		whole := a.bb == nil || (b.bbox[0] >= a.bb[0] && b.bbox[1] >= a.bb[1] && b.bbox[2] <= a.bb[2] && b.bbox[3] <= a.bb[3])
		if whole {
			if k, ok := keyB(bi, b); ok {
				a.addBuilding(k, bi)
				return
			}
		}
		for _, p := range b.slots {
			if a.bb != nil && (st.lon[p] < a.bb[0] || st.lon[p] > a.bb[2] || st.lat[p] < a.bb[1] || st.lat[p] > a.bb[3]) {
				continue
			}
			if k, ok := keyP(p); ok {
				a.addSlot(k, p)
			}
		}
	}
	if a.bb == nil {
		for bi := range st.blds {
			if bi&4095 == 4095 && a.late() {
				return
			}
			visit(uint32(bi))
		}
		return
	}
	st.btree.Search([2]int32{a.bb[0], a.bb[1]}, [2]int32{a.bb[2], a.bb[3]}, func(_, _ [2]int32, bi uint32) bool {
		visit(bi)
		return true
	})
}

// late reports (and remembers) that the deadline has passed.
func (a *aggregator) late() bool {
	if !a.deadline.IsZero() && time.Now().After(a.deadline) {
		a.timedOut = true
	}
	return a.timedOut
}

func (a *aggregator) addBuilding(k uint64, bi uint32) {
	nc := a.rk.nc
	i := a.acc.slot(k)
	dst := a.acc.acc[i*nc : (i+1)*nc]
	for c, v := range a.bv.of(bi) {
		dst[c] += v
	}
	a.acc.grow(i, a.st.blds[bi].bbox)
}

func (a *aggregator) addSlot(k uint64, p uint32) {
	st := a.st
	i := a.acc.slot(k)
	dst := a.acc.acc[i*(2+st.nFlags()) : (i+1)*(2+st.nFlags())]
	dst[0]++
	if a.rk.bit(p) {
		dst[1]++
		for f := range st.words {
			if st.hasFlag(p, FlagID(f)) {
				dst[2+f]++
			}
		}
	}
	a.acc.grow(i, [4]int32{st.lon[p], st.lat[p], st.lon[p], st.lat[p]})
}

func toE7Box(b *[4]float64) (*[4]int32, error) {
	if b == nil {
		return nil, nil
	}
	for i, v := range b {
		lim := 180.0
		if i%2 == 1 {
			lim = 90
		}
		if math.IsNaN(v) || v < -lim || v > lim {
			return nil, fault.New(fault.BadRequest, "bbox[%d] = %v is not a coordinate", i, v)
		}
	}
	if b[0] > b[2] || b[1] > b[3] {
		return nil, fault.New(fault.BadRequest, "bbox must be [west, south, east, north] with west <= east and south <= north")
	}
	return &[4]int32{coord.ToE7(b[0]), coord.ToE7(b[1]), coord.ToE7(b[2]), coord.ToE7(b[3])}, nil
}

// cellGrid is the square-cell layout of one cell size: rows of dlat degrees
// from the equator, each row cut into columns of dlon(row) degrees from the
// prime meridian, so cells are about cell_m square at their latitude and a
// cell's id never changes.
type cellGrid struct {
	m, dlat float64
	// column widths of rows lately asked for, by row mod len: a cosine is
	// computed about once per row of the answer, in whatever order
	// buildings come
	rows [64]struct {
		row  int64
		dlon float64 // 0: empty
	}
}

func (g *cellGrid) row(lat int32) int64 { return int64(math.Floor(coord.FromE7(lat) / g.dlat)) }

func (g *cellGrid) dlon(row int64) float64 {
	e := &g.rows[uint64(row)%uint64(len(g.rows))]
	if e.row != row || e.dlon == 0 {
		e.row, e.dlon = row, g.width(row)
	}
	return e.dlon
}

func (g *cellGrid) width(row int64) float64 {
	mid := (float64(row) + 0.5) * g.dlat
	c := math.Cos(mid * math.Pi / 180)
	if c < 1e-6 {
		c = 1e-6
	}
	return g.m / (metresPerDegree * c)
}

func (g *cellGrid) col(row int64, lon int32) int64 {
	return int64(math.Floor(coord.FromE7(lon) / g.dlon(row)))
}

func (g *cellGrid) key(lon, lat int32) uint64 {
	r := g.row(lat)
	c := g.col(r, lon)
	return uint64(uint32(int32(r)))<<32 | uint64(uint32(int32(c)))
}

func unkey(k uint64) (row, col int64) { return int64(int32(k >> 32)), int64(int32(uint32(k))) }

// Grid answers a GridQuery.
func (e *Engine) Grid(q *GridQuery) (*GridResult, error) {
	bb, err := toE7Box(q.BBox)
	if err != nil {
		return nil, err
	}
	var level Level
	switch {
	case q.CellM != 0 && q.Level != "":
		return nil, fault.New(fault.BadRequest, "give either cell_m or level, not both")
	case q.Level != "":
		if level, err = ParseLevel(q.Level); err != nil {
			return nil, fault.New(fault.BadRequest, "level: %v", err)
		}
	case math.IsNaN(q.CellM) || q.CellM < MinCellM || q.CellM > 1_000_000:
		return nil, fault.New(fault.BadRequest, "cell_m must be between %d and 1000000 metres", MinCellM)
	}
	e.mu.RLock()
	defer e.mu.RUnlock()
	st := e.st
	a, err := e.newAggregator(st, q.Where, bb)
	if err != nil {
		return nil, err
	}
	v, isPast, err := e.resolve(q.AsOf)
	if err != nil {
		return nil, err
	}
	var pa *past
	if isPast {
		pa = e.pastIn(st, v, pastAsk{box: bb})
		defer pa.release()
	}
	a.deadline = q.Deadline
	res := &GridResult{FlagNames: st.flagNames, Version: v}
	if q.Level != "" {
		a.byLevel(level, nil)
		if pa != nil {
			a.addPast(pa, a.x, func(d *dstate) (uint64, bool) {
				if level == LevelBuilding {
					return uint64(d.bld), true
				}
				return uint64(st.areas[d.area][level]), true
			})
		}
		res.Cells = a.levelCells(level)
		return res, nil
	}
	g := &cellGrid{m: q.CellM, dlat: q.CellM / metresPerDegree}
	a.run(func(_ uint32, b *building) (uint64, bool) {
		k := g.key(b.bbox[0], b.bbox[1])
		return k, k == g.key(b.bbox[2], b.bbox[3])
	}, func(p uint32) (uint64, bool) {
		return g.key(st.lon[p], st.lat[p]), true
	})
	if pa != nil {
		a.addPast(pa, a.x, func(d *dstate) (uint64, bool) { return g.key(d.lon, d.lat), true })
	}
	if a.timedOut {
		return nil, ErrTimeout
	}
	if len(a.acc.keys) > MaxCells {
		return nil, fault.New(fault.TooLarge, "%d cells; the limit is %d: use a larger cell_m or a smaller bbox", len(a.acc.keys), MaxCells)
	}
	// cells by row, then column: keys with their signs flipped sort so
	order := make([]keyIndex, 0, len(a.acc.keys))
	for i, k := range a.acc.keys {
		if a.acc.acc[i*(2+st.nFlags())] != 0 {
			order = append(order, keyIndex{k ^ (1<<63 | 1<<31), uint32(i)})
		}
	}
	sortByKey(order)
	prefix := strconv.FormatFloat(q.CellM, 'f', -1, 64) + "m:"
	res.Cells = make([]Cell, 0, len(order))
	var id []byte
	for _, o := range order {
		i := int(o.idx)
		r, c := unkey(a.acc.keys[i])
		dlon := g.dlon(r)
		id = strconv.AppendInt(append(strconv.AppendInt(append(id[:0], prefix...), r, 10), ':'), c, 10)
		res.Cells = append(res.Cells, Cell{
			ID:     string(id),
			BBox:   [4]float64{float64(c) * dlon, float64(r) * g.dlat, float64(c+1) * dlon, float64(r+1) * g.dlat},
			Counts: a.acc.counts(i),
		})
	}
	return res, nil
}

// byLevel aggregates by unit of level (or building); keep, when set, admits
// only dwellings whose area tuple it accepts.
func (a *aggregator) byLevel(level Level, keep func(areaTuple) bool) {
	st := a.st
	if a.bb == nil && level < LevelBuilding {
		a.byArea(level, keep)
		return
	}
	a.run(func(bi uint32, b *building) (uint64, bool) {
		if b.mixed {
			return 0, false
		}
		at := st.areas[b.area]
		if keep != nil && !keep(at) {
			return 0, false // its dwellings are checked one by one, and all fail
		}
		if level == LevelBuilding {
			return uint64(bi), true
		}
		return uint64(at[level]), true
	}, func(p uint32) (uint64, bool) {
		at := st.areas[st.area[p]]
		if keep != nil && !keep(at) {
			return 0, false
		}
		return uint64(st.groupOf(level, p)), true
	})
}

// byArea aggregates whole areas (their unmixed buildings' counts are kept
// per area), then the mixed buildings dwelling by dwelling: O(areas), not
// O(buildings).
func (a *aggregator) byArea(level Level, keep func(areaTuple) bool) {
	st := a.st
	nc := a.rk.nc
	a.acc.dense(len(st.levels[level].ids))
	for ai, at := range st.areas {
		if keep != nil && !keep(at) {
			continue
		}
		src := a.bv.areaOf(uint32(ai))
		if src[0] == 0 {
			continue
		}
		i := a.acc.slot(uint64(at[level]))
		dst := a.acc.acc[i*nc : (i+1)*nc]
		for c, v := range src {
			dst[c] += v
		}
	}
	for bi := range st.mixed {
		for _, p := range st.blds[bi].slots {
			at := st.areas[st.area[p]]
			if keep == nil || keep(at) {
				a.addSlot(uint64(at[level]), p)
			}
		}
	}
	// boxes: from the buildings, when a unit has no boundary to give one
	needBox := false
	for _, k := range a.acc.keys {
		if st.boundaryOf(level, uint32(k)) == nil {
			needBox = true
			break
		}
	}
	for bi := range st.blds {
		if !needBox {
			break
		}
		b := &st.blds[bi]
		if len(b.slots) == 0 || b.mixed {
			continue
		}
		at := st.areas[b.area]
		if keep != nil && !keep(at) {
			continue
		}
		if i := a.acc.find(uint64(at[level])); i >= 0 {
			a.acc.grow(i, b.bbox)
		}
	}
}

// unitCounts returns the counts of one unit: its areas' counts (unmixed
// buildings), then the dwellings of mixed buildings in the unit.
func (a *aggregator) unitCounts(level Level, u uint32) Counts {
	st := a.st
	nc := a.rk.nc
	acc := make([]int64, nc)
	if int(u) < len(st.unitAreas[level]) {
		for _, ai := range st.unitAreas[level][u] {
			for c, v := range a.bv.areaOf(ai) {
				acc[c] += v
			}
		}
	}
	for bi := range st.mixed {
		for _, p := range st.blds[bi].slots {
			if st.areas[st.area[p]][level] == u {
				a.rk.addRange(st, p, p+1, acc)
			}
		}
	}
	return Counts{Total: acc[0], Matched: acc[1], Flags: acc[2:]}
}

// levelCells turns level aggregates into cells ordered by id; a cell's box is
// its boundary's when one is loaded, else the box of its dwellings.
func (a *aggregator) levelCells(level Level) []Cell {
	st := a.st
	cells := make([]Cell, 0, len(a.acc.keys))
	for _, i := range a.sortedByID(level) {
		k := a.acc.keys[i]
		if level < LevelBuilding && k == 0 {
			continue // dwellings that lack the level are in no unit of it
		}
		c := Cell{ID: st.groupID(level, uint32(k)), Counts: a.acc.counts(i)}
		if c.Total == 0 {
			continue // emptied as of the past
		}
		bb := a.acc.bbox[i]
		c.BBox = [4]float64{coord.FromE7(bb[0]), coord.FromE7(bb[1]), coord.FromE7(bb[2]), coord.FromE7(bb[3])}
		if level < LevelBuilding {
			c.Name = st.levels[level].names[k]
			if bd := st.boundaryOf(level, uint32(k)); bd != nil {
				c.BBox = [4]float64{bd.bound.Min[0], bd.bound.Min[1], bd.bound.Max[0], bd.bound.Max[1]}
			}
		}
		cells = append(cells, c)
	}
	return cells
}

// sortedByID returns the accumulator's cells in order of their groups' ids:
// through the level's cached order of units, or by sorting (buildings).
func (a *aggregator) sortedByID(level Level) []int {
	st := a.st
	out := make([]int, 0, len(a.acc.keys))
	if level < LevelBuilding && a.acc.denseIdx != nil {
		for _, u := range st.levels[level].sorted() {
			if i := a.acc.find(uint64(u)); i >= 0 {
				out = append(out, i)
			}
		}
		return out
	}
	for i := range a.acc.keys {
		out = append(out, i)
	}
	slices.SortFunc(out, func(x, y int) int {
		return strings.Compare(st.groupID(level, uint32(a.acc.keys[x])), st.groupID(level, uint32(a.acc.keys[y])))
	})
	return out
}

func (st *state) boundaryOf(l Level, u uint32) *boundary {
	if at := st.boundAt[l]; int(u) < len(at) && at[u] > 0 {
		return &st.bounds[at[u]-1]
	}
	return nil
}

// UnitStat is an administrative unit (or building) with its counts.
type UnitStat struct {
	Level Level
	ID    string
	Name  string
	BBox  [4]float64 // west, south, east, north; zero when unknown
	Counts
	// Delta is the counts minus those as of UnitsQuery.Since (nil without).
	Delta    *Counts
	Children []UnitStat
}

// UnitsQuery asks for the units of a level (or one unit and its children).
type UnitsQuery struct {
	Level string
	ID    string // Unit only
	Where string
	AsOf  AsOf
	// Since, when set, adds to each unit its counts minus those as of Since.
	Since *AsOf
}

// UnitsResult lists units.
type UnitsResult struct {
	Units     []UnitStat
	FlagNames []string
	Version   Version
}

// unitCounts aggregates every unit of level (those keep accepts) as of at:
// an aggregator whose cells are the units (or buildings).
func (e *Engine) unitAggregator(st *state, level Level, where string, at AsOf, keep func(areaTuple) bool) (*aggregator, Version, error) {
	a, err := e.newAggregator(st, where, nil)
	if err != nil {
		return nil, 0, err
	}
	v, isPast, err := e.resolve(at)
	if err != nil {
		return nil, 0, err
	}
	a.byLevel(level, keep)
	if isPast {
		a.addPast(e.pastIn(st, v, pastAsk{}), a.x, func(d *dstate) (uint64, bool) {
			at := st.areas[d.area]
			if keep != nil && !keep(at) {
				return 0, false
			}
			if level == LevelBuilding {
				return uint64(d.bld), true
			}
			return uint64(at[level]), true
		})
	}
	return a, v, nil
}

// countsOf returns the counts of key k in a, zero when absent.
func (a *aggregator) countsOf(k uint64) Counts {
	if i := a.acc.find(k); i >= 0 {
		return a.acc.counts(i)
	}
	return Counts{Flags: make([]int64, a.st.nFlags())}
}

// deltaOf returns c minus the counts of k in since.
func deltaOf(c Counts, since *aggregator, k uint64) *Counts {
	s := since.countsOf(k)
	d := &Counts{Total: c.Total - s.Total, Matched: c.Matched - s.Matched, Flags: make([]int64, len(c.Flags))}
	for f := range c.Flags {
		d.Flags[f] = c.Flags[f] - s.Flags[f]
	}
	return d
}

// Units lists every unit of a level with its counts (units known only from
// boundaries have zero counts), as of q.AsOf.
func (e *Engine) Units(q UnitsQuery) (*UnitsResult, error) {
	level, err := ParseLevel(q.Level)
	if err != nil {
		return nil, fault.New(fault.BadRequest, "%v", err)
	}
	e.mu.RLock()
	defer e.mu.RUnlock()
	st := e.st
	a, v, err := e.unitAggregator(st, level, q.Where, q.AsOf, nil)
	if err != nil {
		return nil, err
	}
	var since *aggregator
	if q.Since != nil {
		if since, _, err = e.unitAggregator(st, level, q.Where, *q.Since, nil); err != nil {
			return nil, err
		}
	}
	res := &UnitsResult{FlagNames: st.flagNames, Version: v}
	add := func(k uint64, c Counts) {
		u := a.unitStat(level, k, c)
		if since != nil {
			u.Delta = deltaOf(c, since, k)
		}
		res.Units = append(res.Units, u)
	}
	if level == LevelBuilding {
		for _, i := range a.sortedByID(level) {
			if c := a.acc.counts(i); c.Total != 0 {
				add(a.acc.keys[i], c)
			}
		}
		return res, nil
	}
	// every unit of the level, in id order: those without dwellings (known
	// from boundaries) with zero counts. The empty id (dwellings that lack
	// the level) is no unit: they count in the units above only
	for _, u := range st.levels[level].sorted() {
		if u == 0 {
			continue
		}
		if i := a.acc.find(uint64(u)); i >= 0 {
			add(uint64(u), a.acc.counts(i))
		} else {
			add(uint64(u), Counts{Flags: make([]int64, st.nFlags())})
		}
	}
	return res, nil
}

func (a *aggregator) unitStat(level Level, k uint64, c Counts) UnitStat {
	st := a.st
	u := UnitStat{Level: level, ID: st.groupID(level, uint32(k)), Counts: c}
	if level < LevelBuilding {
		u.Name = st.levels[level].names[k]
		if bd := st.boundaryOf(level, uint32(k)); bd != nil {
			u.BBox = [4]float64{bd.bound.Min[0], bd.bound.Min[1], bd.bound.Max[0], bd.bound.Max[1]}
			return u
		}
	}
	if i := a.acc.find(k); i >= 0 && a.acc.bbox[i][0] <= a.acc.bbox[i][2] {
		bb := a.acc.bbox[i]
		u.BBox = [4]float64{coord.FromE7(bb[0]), coord.FromE7(bb[1]), coord.FromE7(bb[2]), coord.FromE7(bb[3])}
	}
	return u
}

// UnitResult is one unit with its children.
type UnitResult struct {
	UnitStat
	FlagNames []string
	Version   Version
}

// Unit returns one unit (q.Level, q.ID) with its counts and its children one
// level down (buildings for a grid; none for a building), as of q.AsOf.
func (e *Engine) Unit(q UnitsQuery) (*UnitResult, error) {
	level, err := ParseLevel(q.Level)
	if err != nil {
		return nil, fault.New(fault.BadRequest, "%v", err)
	}
	e.mu.RLock()
	defer e.mu.RUnlock()
	st := e.st
	if level == LevelBuilding {
		return e.buildingUnit(st, q)
	}
	u, ok := st.levels[level].index[q.ID]
	if !ok || q.ID == "" {
		return nil, fault.New(fault.NotFound, "%s %q not found", level, q.ID)
	}
	child := level + 1
	keep := func(at areaTuple) bool { return at[level] == u }
	a, v, err := e.unitAggregator(st, child, q.Where, q.AsOf, keep)
	if err != nil {
		return nil, err
	}
	var since *aggregator
	if q.Since != nil {
		if since, _, err = e.unitAggregator(st, child, q.Where, *q.Since, keep); err != nil {
			return nil, err
		}
	}
	out := a.unitStat(level, uint64(u), Counts{Flags: make([]int64, st.nFlags())})
	var sinceTotal Counts
	if since != nil {
		sinceTotal = Counts{Flags: make([]int64, st.nFlags())}
		for i := range since.acc.keys {
			c := since.acc.counts(i)
			sinceTotal.add(&c)
		}
	}
	for i, k := range a.acc.keys {
		c := a.acc.counts(i)
		if c.Total == 0 {
			continue
		}
		out.Counts.add(&c)
		if child < LevelBuilding && k == 0 {
			continue // dwellings that lack the child level: in the unit, in no child
		}
		cs := a.unitStat(child, k, c)
		if since != nil {
			cs.Delta = deltaOf(c, since, k)
		}
		out.Children = append(out.Children, cs)
	}
	if since != nil {
		d := &Counts{Total: out.Total - sinceTotal.Total, Matched: out.Matched - sinceTotal.Matched, Flags: make([]int64, st.nFlags())}
		for f := range d.Flags {
			d.Flags[f] = out.Flags[f] - sinceTotal.Flags[f]
		}
		out.Delta = d
	}
	slices.SortFunc(out.Children, func(x, y UnitStat) int {
		if naturalLess(x.ID, y.ID) {
			return -1
		}
		if naturalLess(y.ID, x.ID) {
			return 1
		}
		return 0
	})
	return &UnitResult{UnitStat: out, FlagNames: st.flagNames, Version: v}, nil
}

// buildingUnit is Unit for a building: its counts as the building listing
// (Units of LevelBuilding) gives them, the same numbers, and no children. A
// building not in the listing (no dwelling as of q.AsOf) is not found. It
// reads the building's own dwellings, not the city's: O(the building), plus,
// as of a past version (AsOf or Since), the changes made since (as every
// answer as of the past). Caller holds the read lock.
func (e *Engine) buildingUnit(st *state, q UnitsQuery) (*UnitResult, error) {
	bi, ok := st.bldIdx[q.ID]
	if !ok || q.ID == "" {
		return nil, fault.New(fault.NotFound, "building %q not found", q.ID)
	}
	x, err := e.parseWhere(st, q.Where)
	if err != nil {
		return nil, err
	}
	v, isPast, err := e.resolve(q.AsOf)
	if err != nil {
		return nil, err
	}
	c, bb := e.buildingCounts(st, bi, x, v, isPast)
	if c.Total == 0 {
		return nil, fault.New(fault.NotFound, "building %q not found", q.ID)
	}
	out := UnitStat{Level: LevelBuilding, ID: st.groupID(LevelBuilding, bi), Counts: c}
	if bb[0] <= bb[2] {
		out.BBox = [4]float64{coord.FromE7(bb[0]), coord.FromE7(bb[1]), coord.FromE7(bb[2]), coord.FromE7(bb[3])}
	}
	if q.Since != nil {
		sv, sPast, err := e.resolve(*q.Since)
		if err != nil {
			return nil, err
		}
		s, _ := e.buildingCounts(st, bi, x, sv, sPast)
		d := &Counts{Total: c.Total - s.Total, Matched: c.Matched - s.Matched, Flags: make([]int64, len(c.Flags))}
		for f := range c.Flags {
			d.Flags[f] = c.Flags[f] - s.Flags[f]
		}
		out.Delta = d
	}
	out.Children = []UnitStat{}
	return &UnitResult{UnitStat: out, FlagNames: st.flagNames, Version: v}, nil
}

// buildingCounts returns building bi's counts under x as of v (now unless
// isPast) and its box as the building listing's aggregator makes it (empty,
// west > east, when it has no dwelling): its dwellings now, then the
// dwellings changed since v taken out of it as they are now and put back as
// they were then. Caller holds the read lock.
func (e *Engine) buildingCounts(st *state, bi uint32, x *expr.Expr, v Version, isPast bool) (Counts, [4]int32) {
	acc := make([]int64, 2+st.nFlags())
	bb := [4]int32{math.MaxInt32, math.MaxInt32, math.MinInt32, math.MinInt32}
	grow := func(b [4]int32) {
		bb[0], bb[1], bb[2], bb[3] = min(bb[0], b[0]), min(bb[1], b[1]), max(bb[2], b[2]), max(bb[3], b[3])
	}
	b := &st.blds[bi]
	if len(b.slots) > 0 && !b.mixed {
		grow(b.bbox)
	}
	for _, p := range b.slots {
		d := st.countState(p)
		contribution(acc, &d, x, 1)
		if b.mixed {
			grow([4]int32{d.lon, d.lat, d.lon, d.lat})
		}
	}
	if isPast {
		pa := e.pastIn(st, v, pastAsk{})
		for i := range pa.deltas {
			dl := &pa.deltas[i]
			if dl.now.exists && dl.now.bld == bi {
				contribution(acc, &dl.now, x, -1)
			}
			if d := &dl.then; d.exists && d.bld == bi {
				contribution(acc, d, x, 1)
				grow([4]int32{d.lon, d.lat, d.lon, d.lat})
			}
		}
		pa.release()
	}
	return Counts{Total: acc[0], Matched: acc[1], Flags: acc[2:]}, bb
}

// CellOf returns the id and box of the square cell of size cellM metres
// (as Grid makes them) that holds the point lon, lat (degrees).
func CellOf(cellM, lon, lat float64) (string, [4]float64) {
	g := &cellGrid{m: cellM, dlat: cellM / metresPerDegree}
	r, c := unkey(g.key(coord.ToE7(lon), coord.ToE7(lat)))
	dlon := g.dlon(r)
	return strconv.FormatFloat(cellM, 'f', -1, 64) + "m:" + strconv.FormatInt(r, 10) + ":" + strconv.FormatInt(c, 10),
		[4]float64{float64(c) * dlon, float64(r) * g.dlat, float64(c+1) * dlon, float64(r+1) * g.dlat}
}

// CompareCellIDs orders square cells' ids as Grid does: by row, then column.
func CompareCellIDs(a, b string) int {
	ra, ca := cellRowCol(a)
	rb, cb := cellRowCol(b)
	if ra != rb {
		return cmp.Compare(ra, rb)
	}
	return cmp.Compare(ca, cb)
}

func cellRowCol(id string) (row, col int64) {
	parts := strings.Split(id, ":")
	if len(parts) == 3 {
		row, _ = strconv.ParseInt(parts[1], 10, 64)
		col, _ = strconv.ParseInt(parts[2], 10, 64)
	}
	return row, col
}
