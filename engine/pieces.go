package engine

import (
	"slices"

	"github.com/roomstate/roomstate/expr"
)

// Piece is the dwellings of one building within one area tuple: the whole
// building, unless its dwellings span units.
type Piece struct {
	Bld  uint32 // building number (PieceTable.Buildings)
	Area uint32 // area tuple number (PieceTable.Areas)
	// Counts under `where`; Base is the same without it (nil when where is
	// empty: then Counts are the base).
	Counts
	Base *Counts
}

// PieceTable is every piece of the city with its counts, and the tables
// that name them, read at one version: the leaves of the published
// hierarchy (district → street → community → grid → building), from which
// a disclosure policy works out what a viewer may see.
type PieceTable struct {
	FlagNames []string
	Version   Version
	Units     [numAreaLevels][]string // unit ids by number, per level (number 0: the empty id)
	Names     [numAreaLevels][]string
	Areas     [][numAreaLevels]uint32 // area tuples: unit numbers of district, street, community, grid
	Buildings []string                // building ids by number
	Pieces    []Piece                 // by building, then area
}

// Pieces returns the piece table under where, as of at.
func (e *Engine) Pieces(where string, at AsOf) (*PieceTable, error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	st := e.st
	x, err := e.parseWhere(st, where)
	if err != nil {
		return nil, err
	}
	v, isPast, err := e.resolve(at)
	if err != nil {
		return nil, err
	}
	t := &PieceTable{FlagNames: st.flagNames, Version: v, Buildings: make([]string, len(st.blds)),
		Areas: make([][numAreaLevels]uint32, len(st.areas))}
	for l := range st.levels {
		t.Units[l] = st.levels[l].ids[:len(st.levels[l].ids):len(st.levels[l].ids)]
		t.Names[l] = slices.Clone(st.levels[l].names)
	}
	for i, at := range st.areas {
		t.Areas[i] = at
	}
	for i := range st.blds {
		t.Buildings[i] = st.blds[i].id
	}
	nf := st.nFlags()
	type key struct{ bld, area uint32 }
	acc := map[key][]int64{} // pieces of mixed buildings and of changed dwellings: with where, then without
	add := func(k key, d *dstate, sign int64) {
		a := acc[k]
		if a == nil {
			a = make([]int64, 2*(2+nf))
			acc[k] = a
		}
		contribution(a[:2+nf], d, x, sign)
		contribution(a[2+nf:], d, expr.True, sign)
	}
	_, bv := e.ranks.buildings(st, x)
	var bv0 *bldView
	if !x.IsTrue() {
		_, bv0 = e.ranks.buildings(st, expr.True)
	}
	var pa *past
	if isPast {
		pa = e.pastIn(st, v, pastAsk{})
	}
	for bi := range st.blds {
		b := &st.blds[bi]
		if len(b.slots) == 0 {
			continue
		}
		if b.mixed {
			for _, p := range b.slots {
				d := st.stateOf(p)
				add(key{uint32(bi), d.area}, &d, 1)
			}
			continue
		}
		c := bv.of(uint32(bi))
		pc := Piece{Bld: uint32(bi), Area: b.area, Counts: Counts{Total: c[0], Matched: c[1], Flags: slices.Clone(c[2:])}}
		if bv0 != nil {
			c0 := bv0.of(uint32(bi))
			pc.Base = &Counts{Total: c0[0], Matched: c0[1], Flags: slices.Clone(c0[2:])}
		}
		t.Pieces = append(t.Pieces, pc)
	}
	if pa != nil {
		// the changed dwellings: out with their state now, in with then
		for i := range pa.deltas {
			if d := &pa.deltas[i].now; d.exists {
				add(key{d.bld, d.area}, d, -1)
			}
			if d := &pa.deltas[i].then; d.exists {
				add(key{d.bld, d.area}, d, 1)
			}
		}
	}
	// fold the accumulated pieces in
	index := make(map[key]int, len(t.Pieces))
	for i, pc := range t.Pieces {
		index[key{pc.Bld, pc.Area}] = i
	}
	for k, a := range acc {
		i, ok := index[k]
		if !ok {
			t.Pieces = append(t.Pieces, Piece{Bld: k.bld, Area: k.area, Counts: Counts{Flags: make([]int64, nf)}})
			if !x.IsTrue() {
				t.Pieces[len(t.Pieces)-1].Base = &Counts{Flags: make([]int64, nf)}
			}
			i = len(t.Pieces) - 1
			index[k] = i
		}
		pc := &t.Pieces[i]
		pc.Total += a[0]
		pc.Matched += a[1]
		for f := 0; f < nf; f++ {
			pc.Flags[f] += a[2+f]
		}
		if pc.Base != nil {
			pc.Base.Total += a[2+nf]
			pc.Base.Matched += a[3+nf]
			for f := 0; f < nf; f++ {
				pc.Base.Flags[f] += a[4+nf+f]
			}
		}
	}
	kept := t.Pieces[:0]
	for _, pc := range t.Pieces {
		if pc.Total != 0 {
			kept = append(kept, pc)
		}
	}
	t.Pieces = kept
	slices.SortFunc(t.Pieces, func(a, b Piece) int {
		if a.Bld != b.Bld {
			return int(a.Bld) - int(b.Bld)
		}
		return int(a.Area) - int(b.Area)
	})
	return t, nil
}
