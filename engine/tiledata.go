package engine

import (
	"cmp"
	"slices"
	"strings"

	"github.com/paulmach/orb"
	"github.com/roomstate/roomstate/coord"
	"github.com/roomstate/roomstate/expr"
	"github.com/roomstate/roomstate/fault"
	"github.com/roomstate/roomstate/scheme"
)

// TileQuery asks for what a vector tile shows of a box.
type TileQuery struct {
	BBox   [4]int32 // west, south, east, north in 1e-7 degrees, buffer included
	Where  string
	Scheme string // its name; with AsOf, the scheme as it was then
	// Levels whose boundaries to include (those intersecting the box).
	Levels []Level
	// AsOf asks for the tile as it was.
	AsOf AsOf
	// Campaign, when set, names a running campaign whose tasks each
	// building counts (Tasks, Remaining); not with AsOf.
	Campaign string
	// Cells, when set and not AsOf, asks for the sums of the cells of a
	// grid instead of listing Buildings: all low-zoom cells need.
	Cells *CellAsk
}

// TileBuilding is one building as a tile shows it.
type TileBuilding struct {
	FID      uint64
	ID       string
	Lon, Lat int32
	Counts           // total, matched, per flag (matched ∧ flag)
	State    int     // the first rule any matched dwelling satisfies; len(rules) when none does
	Rules    []int64 // per rule: the matched dwellings that satisfy it
	// Responsible is who answers for the building (nil: nobody);
	// LastVisit when it was last visited (Unix ms, 0: never): with
	// TileQuery.AsOf, as they were then.
	Responsible *Assignment
	LastVisit   int64
	// Tasks are the campaign's tasks whose dwellings are in the building
	// now, Remaining those of them not done (with TileQuery.Campaign).
	Tasks, Remaining int64
}

// TileBoundary is one area outline with its live counts.
type TileBoundary struct {
	Level    Level
	Unit     uint32
	ID, Name string
	Geometry orb.MultiPolygon // shared: do not modify
	Counts
}

// TileDeps is what a tile was drawn from, to tell later whether it is still
// current without drawing it again.
type TileDeps struct {
	past    bool // a past state: never changes
	gen     uint64
	version Version // the state drawn: the version it was current at, or a past tile's as_of
	blds    []uint32
	cells   *cellDeps   // a tile of cells: the box of cells instead of blds
	units   [][2]uint32 // level, unit
}

// TileData is the content of one tile.
type TileData struct {
	Buildings  []TileBuilding // by feature id (none with TileQuery.Cells)
	Boundaries []TileBoundary // by level, then id
	FlagNames  []string
	Rules      []scheme.Rule // the scheme's rules, then its default
	Version    Version
	Deps       TileDeps
}

// TileData gathers what a tile shows: every building whose point lies in the
// box, with counts under where and its state under the scheme, and the
// boundaries of the asked levels that intersect the box, with live counts.
func (e *Engine) TileData(q *TileQuery) (*TileData, error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	st := e.st
	sc, err := e.schemeNamed(q.Scheme)
	if err != nil {
		return nil, err
	}
	x, err := e.parseWhere(st, q.Where)
	if err != nil {
		return nil, err
	}
	v, isPast, err := e.resolve(q.AsOf)
	if err != nil {
		return nil, err
	}
	var camp *campaign
	if q.Campaign != "" {
		if isPast {
			return nil, fault.New(fault.BadRequest, "a campaign's progress is shown as it is now, not with as_of")
		}
		if camp, err = e.campaignNamed(q.Campaign); err != nil {
			return nil, err
		}
	}
	if isPast {
		// the scheme as it was then
		if sc, err = e.schemeThen(q.Scheme, v); err != nil {
			return nil, err
		}
		summarise, err := e.summariser(st, x, sc)
		if err != nil {
			return nil, err
		}
		return e.pastTileData(st, q, x, sc, summarise, v)
	}
	d := &TileData{FlagNames: st.flagNames, Version: e.version}
	d.Rules = sc.All()
	d.Deps = TileDeps{gen: st.gen, version: e.version}
	if a := q.Cells; a != nil {
		switch {
		case a.Level > MaxCellLevel || a.Shift > a.Level:
			return nil, fault.New(fault.BadRequest, "cells: level %d, shift %d: the level goes up to %d and a cell is at most the world", a.Level, a.Shift, MaxCellLevel)
		case a.Each == nil:
			return nil, fault.New(fault.BadRequest, "cells: no function to call with them (CellAsk.Each)")
		}
		e.ranks.cells(st, x, a.Level, a.Shift).each(a)
		d.Deps.cells = &cellDeps{rankGen: e.ranks.gen, level: a.Level, shift: a.Shift, x0: a.X0, y0: a.Y0, x1: a.X1, y1: a.Y1}
		e.tileBoundaries(st, q, d)
		return d, nil
	}
	bb := q.BBox
	take := func(bi uint32) {
		bp := &st.bplace[bi]
		if bp.live && bp.lon >= bb[0] && bp.lon <= bb[2] && bp.lat >= bb[1] && bp.lat <= bb[3] {
			d.Deps.blds = append(d.Deps.blds, bi)
		}
	}
	if lo, hi := st.btree.Bounds(); int64(min(bb[2], hi[0]))-int64(max(bb[0], lo[0])) > (int64(hi[0])-int64(lo[0]))/2 &&
		int64(min(bb[3], hi[1]))-int64(max(bb[1], lo[1])) > (int64(hi[1])-int64(lo[1]))/2 {
		// the box holds much of the city (a low zoom): every building's
		// place in order reads faster than the tree's nodes; room for the
		// share of the buildings its part of the city's box would hold
		share := float64(min(bb[2], hi[0])-max(bb[0], lo[0])) / float64(max(hi[0]-lo[0], 1)) *
			float64(min(bb[3], hi[1])-max(bb[1], lo[1])) / float64(max(hi[1]-lo[1], 1))
		d.Deps.blds = make([]uint32, 0, int(min(share*1.25, 1)*float64(len(st.bplace)))+16)
		for bi := range st.bplace {
			take(uint32(bi))
		}
	} else {
		st.btree.Search([2]int32{bb[0], bb[1]}, [2]int32{bb[2], bb[3]}, func(_, _ [2]int32, bi uint32) bool {
			take(bi)
			return true
		})
	}
	summarise, err := e.summariser(st, x, sc)
	if err != nil {
		return nil, err
	}
	// by feature id: sort the indexes, then summarise in that order; each
	// id read once into a pair, sorted where it lies (comparing through
	// st.blds was a cache miss a comparison: 40 % of a z10 tile)
	byFID := make([]keyIndex, len(d.Deps.blds))
	for i, bi := range d.Deps.blds {
		byFID[i] = keyIndex{st.blds[bi].fid, bi}
	}
	sortByKey(byFID)
	for i := range byFID {
		d.Deps.blds[i] = byFID[i].idx
	}
	d.Buildings = make([]TileBuilding, len(d.Deps.blds))
	flags := make([]int64, len(d.Deps.blds)*len(st.flagNames))
	for i, bi := range d.Deps.blds {
		d.Buildings[i] = summarise(bi, flags[i*len(st.flagNames):(i+1)*len(st.flagNames):(i+1)*len(st.flagNames)])
		e.annotateTile(st, &d.Buildings[i], bi, camp)
	}
	e.tileBoundaries(st, q, d)
	return d, nil
}

// tileBoundaries adds to d the boundaries of q's levels that intersect its
// box, with their counts now. Caller holds the read lock.
func (e *Engine) tileBoundaries(st *state, q *TileQuery, d *TileData) {
	if len(q.Levels) > 0 {
		var a *aggregator
		for _, i := range st.boundariesIn(q.BBox, q.Levels) {
			bd := &st.bounds[i]
			if a == nil {
				a, _ = e.newAggregator(st, q.Where, nil)
			}
			d.Boundaries = append(d.Boundaries, TileBoundary{Level: bd.level, Unit: bd.unit,
				ID: st.levels[bd.level].ids[bd.unit], Name: st.levels[bd.level].names[bd.unit], Geometry: bd.geom})
			d.Deps.units = append(d.Deps.units, [2]uint32{uint32(bd.level), bd.unit})
		}
		if a != nil {
			for i := range d.Boundaries {
				tb := &d.Boundaries[i]
				tb.Counts = a.unitCounts(tb.Level, tb.Unit)
			}
		}
		slices.SortFunc(d.Boundaries, func(a, b TileBoundary) int {
			if a.Level != b.Level {
				return cmp.Compare(a.Level, b.Level)
			}
			return strings.Compare(a.ID, b.ID)
		})
	}
}

// boundariesIn returns the indexes in st.bounds of the boundaries of the
// levels whose box meets bb (fixed point), in order.
func (st *state) boundariesIn(bb [4]int32, levels []Level) []int {
	box := orb.Bound{Min: orb.Point{coord.FromE7(bb[0]), coord.FromE7(bb[1])}, Max: orb.Point{coord.FromE7(bb[2]), coord.FromE7(bb[3])}}
	var hits []int
	for _, l := range levels {
		if int(l) >= len(st.boundTree) {
			continue // buildings have no boundaries
		}
		st.boundTree[l].Search(box.Min, box.Max, func(_, _ [2]float64, i int) bool {
			if st.bounds[i].unit != 0 { // the empty id is no unit (AddBoundaries refuses it)
				hits = append(hits, i)
			}
			return true
		})
	}
	slices.Sort(hits)
	return slices.Compact(hits) // a level asked twice
}

// annotateTile adds to a tile's building who answers for it, its last
// visit and (c not nil) the campaign's tasks in it. Caller holds the lock.
func (e *Engine) annotateTile(st *state, tb *TileBuilding, bi uint32, c *campaign) {
	tb.Responsible = e.responsibleOf(st, bi)
	if v := e.lastVisit(bi); v != nil {
		tb.LastVisit = v.ms
	}
	if c != nil {
		tb.Tasks, tb.Remaining = e.tasksIn(st, c, bi)
	}
}

// summariser returns a function that gives a building's counts under x and
// its state under sc: the first rule that any matched dwelling satisfies.
// The per-flag counts are copied into flags (one per flag). Caller holds the
// read lock.
func (e *Engine) summariser(st *state, x *expr.Expr, sc *scheme.Compiled) (func(bi uint32, flags []int64) TileBuilding, error) {
	_, bv := e.ranks.buildings(st, x)
	ruleBV := make([]*bldView, len(sc.Rules))
	for i, r := range sc.Rules {
		rx := r
		if !x.IsTrue() {
			// canonical forms always parse: a rule naming an unknown flag is "false"
			var err error
			if rx, err = e.parseWhere(st, "("+x.String()+")&("+r.String()+")"); err != nil {
				return nil, err
			}
		}
		_, ruleBV[i] = e.ranks.buildings(st, rx)
	}
	return func(bi uint32, flags []int64) TileBuilding {
		b := &st.blds[bi]
		c := bv.of(bi)
		copy(flags, c[2:])
		tb := TileBuilding{FID: b.fid, ID: b.id, Lon: b.lon, Lat: b.lat,
			Counts: Counts{Total: c[0], Matched: c[1], Flags: flags}, State: len(sc.Rules), Rules: make([]int64, len(sc.Rules))}
		for i := range sc.Rules {
			tb.Rules[i] = ruleBV[i].of(bi)[1]
			if tb.Rules[i] > 0 && tb.State == len(sc.Rules) {
				tb.State = i
			}
		}
		return tb
	}, nil
}

// BuildingSummaries gives, for each known building id, its counts under
// where and its state under the scheme, who answers for it, its last visit
// and (campaignName not "") the campaign's tasks in it, as tiles show
// them; unknown ids are left out.
func (e *Engine) BuildingSummaries(ids []string, where, schemeName, campaignName string) ([]TileBuilding, []scheme.Rule, []string, Version, error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	st := e.st
	sc, err := e.schemeNamed(schemeName)
	if err != nil {
		return nil, nil, nil, 0, err
	}
	x, err := e.parseWhere(st, where)
	if err != nil {
		return nil, nil, nil, 0, err
	}
	summarise, err := e.summariser(st, x, sc)
	if err != nil {
		return nil, nil, nil, 0, err
	}
	var camp *campaign
	if campaignName != "" {
		if camp, err = e.campaignNamed(campaignName); err != nil {
			return nil, nil, nil, 0, err
		}
	}
	var out []TileBuilding
	for _, id := range ids {
		if bi, ok := st.bldIdx[id]; ok && len(st.blds[bi].slots) > 0 {
			tb := summarise(bi, make([]int64, len(st.flagNames)))
			e.annotateTile(st, &tb, bi, camp)
			out = append(out, tb)
		}
	}
	return out, sc.All(), st.flagNames, e.version, nil
}

// TileCurrent reports whether a tile drawn from deps would be drawn the same
// now: nothing it showed, and no building or boundary it could show, has
// changed since. A tile of a past state never changes, but is no longer
// current once the history has dropped its version (drawn again, it is
// fault.HistoryGone).
func (e *Engine) TileCurrent(deps *TileDeps) bool {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if deps.past {
		return uint64(deps.version) >= e.hist.Oldest()
	}
	st := e.st
	if deps.gen != st.gen || st.structVer > deps.version {
		return false
	}
	for _, b := range deps.blds {
		if st.bver[b] > deps.version {
			return false
		}
	}
	if deps.cells != nil && deps.cells.changedSince(st, e.ranks) {
		return false
	}
	for _, u := range deps.units {
		// a unit known only from its boundary has no entry until one of
		// its dwellings changes
		if uv := st.uver[u[0]]; int(u[1]) < len(uv) && uv[u[1]] > deps.version {
			return false
		}
	}
	return true
}

// Bounds returns the box of all dwellings, in degrees (zero when empty).
func (e *Engine) Bounds() orb.Bound {
	e.mu.RLock()
	defer e.mu.RUnlock()
	st := e.st
	var b orb.Bound
	first := true
	for i := range st.blds {
		bd := &st.blds[i]
		if len(bd.slots) == 0 {
			continue
		}
		r := orb.Bound{Min: orb.Point{coord.FromE7(bd.bbox[0]), coord.FromE7(bd.bbox[1])}, Max: orb.Point{coord.FromE7(bd.bbox[2]), coord.FromE7(bd.bbox[3])}}
		if first {
			b, first = r, false
		} else {
			b = b.Union(r)
		}
	}
	return b
}

// StateCounts counts dwellings per state of a scheme (in rule order, then
// the default) among those matching where: the legend of a whole map. As
// of a past version, the scheme is as it was then.
func (e *Engine) StateCounts(where, schemeName string, at AsOf) ([]LegendEntry, Version, error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	st := e.st
	sc, err := e.schemeNamed(schemeName)
	if err != nil {
		return nil, 0, err
	}
	x, err := e.parseWhere(st, where)
	if err != nil {
		return nil, 0, err
	}
	v, isPast, err := e.resolve(at)
	if err != nil {
		return nil, 0, err
	}
	if sc, err = e.schemeAsOf(schemeName, v, isPast); err != nil { // the scheme as it was then
		return nil, 0, err
	}
	var out []LegendEntry
	var before []string
	acc := make([]int64, 2+st.nFlags())
	for i := 0; i <= len(sc.Rules); i++ {
		parts := []string{"(" + x.String() + ")"}
		if x.IsTrue() {
			parts = parts[:0]
		}
		if i < len(sc.Rules) {
			parts = append(parts, "("+sc.Rules[i].String()+")")
		}
		for _, b := range before {
			parts = append(parts, "!("+b+")")
		}
		if i < len(sc.Rules) {
			before = append(before, sc.Rules[i].String())
		}
		n := int64(0)
		if x, err := e.parseWhere(st, strings.Join(parts, "&")); err == nil {
			rk := e.ranks.view(st, x)
			clear(acc)
			rk.addRange(st, 0, uint32(st.n), acc)
			n = acc[1]
		}
		out = append(out, LegendEntry{Rule: *sc.Rule(i), Count: int(n)})
	}
	if isPast {
		for _, d := range e.pastIn(st, v, pastAsk{}).deltas {
			for _, side := range [2]struct {
				d    *dstate
				sign int
			}{{&d.now, -1}, {&d.then, 1}} {
				if side.d.exists && x.EvalSet(side.d.has) {
					out[sc.StateOf(side.d.has)].Count += side.sign
				}
			}
		}
	}
	return out, v, nil
}

// pastTileData is TileData as of version v: the buildings and boundary
// counts the changed dwellings touch are taken from their states then.
func (e *Engine) pastTileData(st *state, q *TileQuery, x *expr.Expr, sc *scheme.Compiled,
	summarise func(bi uint32, flags []int64) TileBuilding, v Version) (*TileData, error) {
	pa := e.pastIn(st, v, pastAsk{})
	touched := touchedBy(pa)
	// who answered for each building then, through its own units then,
	// and its last visit then
	ra := e.respAsOf(v)
	annotate := func(tb *TileBuilding, bi uint32, home *areaTuple) {
		tb.Responsible = ra.responsible(st, bi, home)
		if vr := ra.visit(st.blds[bi].id); vr != nil {
			tb.LastVisit = vr.ms
		}
	}
	d := &TileData{FlagNames: st.flagNames, Version: v, Rules: sc.All(), Deps: TileDeps{past: true, version: v}}
	bb := q.BBox
	in := func(lon, lat int32) bool { return lon >= bb[0] && lon <= bb[2] && lat >= bb[1] && lat <= bb[3] }
	nf := st.nFlags()
	st.btree.Search([2]int32{bb[0], bb[1]}, [2]int32{bb[2], bb[3]}, func(_, _ [2]int32, bi uint32) bool {
		b := &st.blds[bi]
		if touched[bi] || len(b.slots) == 0 || !in(b.lon, b.lat) {
			return true
		}
		tb := summarise(bi, make([]int64, nf))
		annotate(&tb, bi, &b.home)
		d.Buildings = append(d.Buildings, tb)
		return true
	})
	for bi := range touched {
		ds := st.pastDwellings(bi, pa, nil)
		if len(ds) == 0 {
			continue
		}
		b := &st.blds[bi]
		var sx, sy int64
		tb := TileBuilding{FID: b.fid, ID: b.id, Counts: Counts{Flags: make([]int64, nf)}, Rules: make([]int64, len(sc.Rules)), State: len(sc.Rules)}
		acc := make([]int64, 2+nf)
		for i := range ds {
			dd := &ds[i]
			sx += int64(dd.lon)
			sy += int64(dd.lat)
			contribution(acc, dd, x, 1)
			if x.EvalSet(dd.has) {
				for r, rx := range sc.Rules {
					if rx.EvalSet(dd.has) {
						tb.Rules[r]++
					}
				}
			}
		}
		tb.Lon, tb.Lat = int32(roundDiv(sx, int64(len(ds)))), int32(roundDiv(sy, int64(len(ds))))
		if !in(tb.Lon, tb.Lat) {
			continue
		}
		tb.Total, tb.Matched = acc[0], acc[1]
		copy(tb.Flags, acc[2:])
		home := st.homeOf(ds)
		annotate(&tb, bi, &home)
		for r, n := range tb.Rules {
			if n > 0 {
				tb.State = r
				break
			}
		}
		d.Buildings = append(d.Buildings, tb)
	}
	slices.SortFunc(d.Buildings, func(a, b TileBuilding) int { return cmp.Compare(a.FID, b.FID) })
	if len(q.Levels) > 0 {
		var a *aggregator
		for _, i := range st.boundariesIn(bb, q.Levels) {
			bd := &st.bounds[i]
			if a == nil {
				a, _ = e.newAggregator(st, q.Where, nil)
			}
			tb := TileBoundary{Level: bd.level, Unit: bd.unit, ID: st.levels[bd.level].ids[bd.unit],
				Name: st.levels[bd.level].names[bd.unit], Geometry: bd.geom}
			tb.Counts = a.unitCounts(tb.Level, tb.Unit)
			acc := append([]int64{tb.Total, tb.Matched}, tb.Flags...)
			for _, dl := range pa.deltas {
				for _, side := range [2]struct {
					d    *dstate
					sign int64
				}{{&dl.now, -1}, {&dl.then, 1}} {
					if side.d.exists && st.areas[side.d.area][bd.level] == bd.unit {
						contribution(acc, side.d, x, side.sign)
					}
				}
			}
			tb.Total, tb.Matched, tb.Flags = acc[0], acc[1], acc[2:]
			d.Boundaries = append(d.Boundaries, tb)
		}
		slices.SortFunc(d.Boundaries, func(a, b TileBoundary) int {
			if a.Level != b.Level {
				return cmp.Compare(a.Level, b.Level)
			}
			return strings.Compare(a.ID, b.ID)
		})
	}
	return d, nil
}
