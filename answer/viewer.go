package answer

import (
	"sync"

	"github.com/roomstate/roomstate/engine"
	"github.com/roomstate/roomstate/privacy"
)

// What a viewer sees. Viewers get only published geographies — the
// administrative units, the buildings, fixed grid cells and tiles built
// from them — never free polygons, whose overlaps difference into
// anything. Their counts come from one table of the whole published
// hierarchy (city → district → street → community → grid → building) per
// version and `where` (with the counts without `where` as supersets),
// protected as a whole by the privacy policy (primary, complementary and
// secondary suppression), so that every answer shows the same withheld
// cells and no answer, nor any sum or difference of answers at one
// version under one `where`, gives back a withheld count. Answers at two
// versions, or under two `where`s, are not protected together (docs/API.md,
// "Remaining limits").

// hierarchy is the published hierarchy at one version, protected.
type hierarchy struct {
	pt    *engine.PieceTable
	tb    *privacy.Table
	m     privacy.Mask
	nf    int
	units [4]map[string]int // level → unit id → row
	blds  map[string]int    // building id → row (its one piece), -1 when its parts are not published
}

// columns of a hierarchy row: total, matched, matched ∧ flag f, and (with
// where) all ∧ flag f.
func (h *hierarchy) counts(row int) privacy.Counts {
	c := privacy.Counts{Total: h.m.Cell(h.tb, row, 0), Matched: h.m.Cell(h.tb, row, 1), Flags: make([]privacy.Value, h.nf)}
	for f := range c.Flags {
		c.Flags[f] = h.m.Cell(h.tb, row, 2+f)
	}
	return c
}

// withheld is a row's counts all withheld.
func (h *hierarchy) withheld() privacy.Counts {
	c := privacy.Counts{Total: privacy.Value{Withheld: true}, Matched: privacy.Value{Withheld: true}, Flags: make([]privacy.Value, h.nf)}
	for f := range c.Flags {
		c.Flags[f] = privacy.Value{Withheld: true}
	}
	return c
}

// Unit returns a unit's counts as a viewer may see them (zero counts for a
// unit with no dwelling).
func (h *hierarchy) Unit(level engine.Level, id string) privacy.Counts {
	if row, ok := h.units[level][id]; ok {
		return h.counts(row)
	}
	return privacy.Counts{Flags: make([]privacy.Value, h.nf)}
}

// City returns the whole city's counts as a viewer may see them (the root
// of the hierarchy).
func (h *hierarchy) City() privacy.Counts { return h.counts(0) }

// Building returns a building's counts as a viewer may see them.
func (h *hierarchy) Building(id string) privacy.Counts {
	row, ok := h.blds[id]
	switch {
	case !ok:
		return privacy.Counts{Flags: make([]privacy.Value, h.nf)}
	case row < 0:
		return h.withheld()
	}
	return h.counts(row)
}

// Version is the version the hierarchy is of.
func (h *hierarchy) Version() engine.Version { return h.pt.Version }

// protect builds and protects the hierarchy of a piece table.
func protect(pol privacy.Policy, pt *engine.PieceTable, where bool) *hierarchy {
	nf := len(pt.FlagNames)
	ncols := 2 + nf
	if where {
		ncols += nf
	}
	h := &hierarchy{pt: pt, nf: nf, blds: map[string]int{}}
	tb := &privacy.Table{Super: make([][]int, ncols)}
	tb.Super[1] = []int{0}
	for f := 0; f < nf; f++ {
		tb.Super[2+f] = []int{0, 1}
		if where {
			tb.Super[2+f] = append(tb.Super[2+f], 2+nf+f)
			tb.Super[2+nf+f] = []int{0}
		}
	}
	newRow := func(parent int) int {
		tb.Rows = append(tb.Rows, privacy.Row{Parent: int32(parent), Vals: make([]int64, ncols)})
		return len(tb.Rows) - 1
	}
	root := newRow(-1)
	// unit rows, with the parents the area tuples give them; a unit found
	// under two parents is not a tree's: it is hidden
	unitRow := [4]map[uint32]int{}
	for l := range unitRow {
		unitRow[l] = map[uint32]int{}
	}
	for _, at := range pt.Areas {
		parent := root
		for l := 0; l < 4; l++ {
			u := at[l]
			row, ok := unitRow[l][u]
			if !ok {
				row = newRow(parent)
				unitRow[l][u] = row
			} else if int(tb.Rows[row].Parent) != parent {
				tb.Rows[row].Hidden = true
			}
			parent = row
		}
	}
	// building pieces under their grids; a building in several pieces is
	// published as a whole only, so its pieces are hidden
	pieces := map[uint32]int{}
	for _, pc := range pt.Pieces {
		pieces[pc.Bld]++
	}
	for _, pc := range pt.Pieces {
		at := pt.Areas[pc.Area]
		row := newRow(unitRow[3][at[3]])
		r := &tb.Rows[row]
		r.Vals[0], r.Vals[1] = pc.Total, pc.Matched
		copy(r.Vals[2:], pc.Flags)
		if where && pc.Base != nil {
			copy(r.Vals[2+nf:], pc.Base.Flags)
		}
		id := pt.Buildings[pc.Bld]
		if pieces[pc.Bld] > 1 {
			r.Hidden = true
			h.blds[id] = -1
		} else {
			h.blds[id] = row
		}
		// the sums up the hierarchy
		for _, sum := range []int{root, unitRow[0][at[0]], unitRow[1][at[1]], unitRow[2][at[2]], unitRow[3][at[3]]} {
			s := tb.Rows[sum].Vals
			for c, v := range r.Vals {
				s[c] += v
			}
		}
	}
	for l := range unitRow {
		h.units[l] = make(map[string]int, len(unitRow[l]))
		for u, row := range unitRow[l] {
			h.units[l][pt.Units[l][u]] = row
		}
	}
	h.tb, h.m = tb, pol.Protect(tb)
	return h
}

// viewerCache keeps the protected hierarchies lately asked for: computing
// one reads the whole city. Entries are immutable.
type viewerCache struct {
	mu      sync.Mutex // guards entries
	entries []viewerEntry
}

type viewerEntry struct {
	where string
	h     *hierarchy
}

// hierarchy returns the protected hierarchy under where as of at, for a
// viewer; keep adds it to the cache when it is not there.
func (a *Answers) hierarchy(where string, at engine.AsOf, pol privacy.Policy, keep bool) (*hierarchy, error) {
	v := a.eng.Version()
	if at.Set && at.Version < v {
		v = at.Version
	}
	a.viewers.mu.Lock()
	for _, e := range a.viewers.entries {
		if e.where == where && e.h.Version() == v {
			a.viewers.mu.Unlock()
			return e.h, nil
		}
	}
	a.viewers.mu.Unlock()
	pt, err := a.eng.Pieces(where, at)
	if err != nil {
		return nil, err
	}
	h := protect(pol, pt, where != "")
	if !keep {
		return h, nil
	}
	a.viewers.mu.Lock()
	defer a.viewers.mu.Unlock()
	if len(a.viewers.entries) >= 8 {
		a.viewers.entries = a.viewers.entries[1:]
	}
	a.viewers.entries = append(a.viewers.entries, viewerEntry{where: where, h: h})
	return h, nil
}

// view shows one answer's counts to its caller: exactly (analysts and
// above), or (viewers) as the protected hierarchy of the answer's version
// shows them; since, when set, is the hierarchy the answer's deltas are
// against.
type view struct {
	pol   privacy.Policy
	h     *hierarchy
	since *hierarchy
}

// viewFor returns the view of an answer about where as of at (and deltas
// since): for a viewer it works out the protected hierarchy, and at is
// pinned to its version so that the answer and its protection describe one
// state.
func (a *Answers) viewFor(c *Caller, where string, at *engine.AsOf, since *engine.AsOf) (*view, error) {
	v := &view{pol: a.Policy(c)}
	if v.pol.Exact() {
		return v, nil
	}
	h, err := a.hierarchy(where, *at, v.pol, true)
	if err != nil {
		return nil, err
	}
	v.h = h
	*at = engine.At(h.Version())
	if since != nil {
		if v.since, err = a.hierarchy(where, *since, v.pol, true); err != nil {
			return nil, err
		}
	}
	return v, nil
}

// unit shows a unit's counts (c exact).
func (v *view) unit(l engine.Level, id string, c *engine.Counts) privacy.Counts {
	if v.h == nil {
		return v.pol.Counts(c.Total, c.Matched, c.Flags)
	}
	if l == engine.LevelBuilding {
		return v.h.Building(id)
	}
	return v.h.Unit(l, id)
}

// sumMatched is the sum of the buildings' matched counts as the view shows
// them, withheld when one of them is: a sum of shown counts tells nothing
// they do not.
func (v *view) sumMatched(buildings []string) privacy.Value {
	var sum privacy.Value
	for _, id := range buildings {
		m := v.h.Building(id).Matched
		if m.Withheld {
			return privacy.Value{Withheld: true}
		}
		sum.N += m.N
	}
	return sum
}

// delta shows a unit's delta: for a viewer, only where both ends are shown
// and the difference is not from 1 to k−1 either way.
func (v *view) delta(l engine.Level, id string, d *engine.Counts) privacy.Counts {
	if v.h == nil {
		return privacy.Policy{}.Counts(d.Total, d.Matched, d.Flags)
	}
	var now, then privacy.Counts
	if l == engine.LevelBuilding {
		now, then = v.h.Building(id), v.since.Building(id)
	} else {
		now, then = v.h.Unit(l, id), v.since.Unit(l, id)
	}
	one := func(n, t privacy.Value, x int64) privacy.Value {
		if n.Withheld || t.Withheld || v.pol.Value(abs(x)).Withheld {
			return privacy.Value{Withheld: true}
		}
		return privacy.Value{N: x}
	}
	out := privacy.Counts{Total: one(now.Total, then.Total, d.Total), Matched: one(now.Matched, then.Matched, d.Matched),
		Flags: make([]privacy.Value, len(d.Flags))}
	for f, x := range d.Flags {
		out.Flags[f] = one(now.Flags[f], then.Flags[f], x)
	}
	return out
}

func abs(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}
