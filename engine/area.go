package engine

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/paulmach/orb"
	"github.com/roomstate/roomstate/fault"
	"github.com/roomstate/roomstate/region"
)

// Area is a query region with what the engine learnt about it: the ranges
// of row-band slots inside it, found by the first query of the area over
// the current index and kept, so that the next query of the same area counts
// those ranges (a rank look-up each) instead of clipping every edge again.
// The ranges belong to one index: once the index is rebuilt (a load, a
// compaction) the next query sweeps again. Dwellings outside the index (the
// delta of recent inserts and moves) are tested one by one, as always, and
// flags are counted at the time of the query, so an area's answer is the
// region's answer at every version. An Area is safe for concurrent use.
type Area struct {
	rg    *region.Region
	cover atomic.Pointer[cover]
}

// cover is what one sweep of an area's region over one index found.
type cover struct {
	ix     *bandIndex // the index it was found in
	nMain  int        // the slots that index covers
	ranges []uint32   // main-order slot ranges inside: a0, b0, a1, b1, … ascending, not touching
}

// NewArea returns an area of rg, with nothing learnt yet.
func NewArea(rg *region.Region) *Area { return &Area{rg: rg} }

// Region returns the area's region.
func (a *Area) Region() *region.Region { return a.rg }

// Bytes is about the memory the area holds: its region (see region.Bytes)
// and the slot ranges it keeps.
func (a *Area) Bytes() int {
	n := int(unsafe.Sizeof(*a)) + a.rg.Bytes()
	if cv := a.cover.Load(); cv != nil {
		n += int(unsafe.Sizeof(*cv)) + 4*cap(cv.ranges)
	}
	return n
}

// coverFor returns the area's cover of st's index, nil when it has none.
func (a *Area) coverFor(st *state) *cover {
	if cv := a.cover.Load(); cv != nil && cv.ix == st.index && cv.nMain == st.nMain {
		return cv
	}
	return nil
}

// record collects a sweep's inside ranges into a cover.
type record struct {
	ranges []uint32
}

// add appends [a, b), merged with the last range when they touch.
func (r *record) add(a, b uint32) {
	if n := len(r.ranges); n > 0 && r.ranges[n-1] == a {
		r.ranges[n-1] = b
		return
	}
	r.ranges = append(r.ranges, a, b)
}

// replay hands a cover's ranges to s, as the sweep found them, and tests the
// delta; it gives up with ErrTimeout once past the deadline (zero: none).
func (st *state) replay(rg *region.Region, cv *cover, s *sink, deadline time.Time) error {
	for i := 0; i+1 < len(cv.ranges); i += 2 {
		if i&8191 == 8190 && !deadline.IsZero() && time.Now().After(deadline) {
			return ErrTimeout
		}
		s.rng(cv.ranges[i], cv.ranges[i+1])
	}
	st.sweepDelta(rg, s)
	return nil
}

// unitArea is a boundary's query area, prepared once, when the boundary is
// installed (AddBoundaries, a restored snapshot), and kept while the
// boundary's geometry is unchanged (it is shared by the states that hold
// that boundary). A boundary that is no valid polygon has no area, and err
// says why (region.New's error).
type unitArea struct {
	area *Area
	err  error
}

// prepareAreas prepares the query areas of boundaries' geometries, over the
// CPUs when there are many.
func prepareAreas(gs []orb.MultiPolygon) []*unitArea {
	out := make([]*unitArea, len(gs))
	prep := func(i int) {
		rg, err := region.New(gs[i])
		if err != nil {
			out[i] = &unitArea{err: err}
			return
		}
		out[i] = &unitArea{area: NewArea(rg)}
	}
	workers := min(runtime.GOMAXPROCS(0), len(gs)/16)
	if workers < 2 {
		for i := range gs {
			prep(i)
		}
		return out
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < len(gs); i = int(next.Add(1) - 1) {
				prep(i)
			}
		}()
	}
	wg.Wait()
	return out
}

// unitArea returns the prepared area of a unit's loaded boundary: an
// unknown unit, or a unit without a boundary, is a fault.NotFound.
func (e *Engine) unitArea(level Level, id string) (*unitArea, error) {
	if level >= LevelBuilding {
		return nil, fault.New(fault.BadRequest, "level %s has no boundaries: want district, street, community or grid", level)
	}
	e.mu.RLock()
	st := e.st
	u, ok := st.levels[level].index[id]
	var ua *unitArea
	if ok {
		if bd := st.boundaryOf(level, u); bd != nil {
			ua = bd.area
		}
	}
	e.mu.RUnlock()
	switch {
	case !ok:
		return nil, fault.New(fault.NotFound, "%s %q not found", level, id)
	case ua == nil:
		return nil, fault.New(fault.NotFound, "%s %q has no boundary", level, id)
	}
	return ua, nil
}

// UnitArea returns the area of a unit's loaded boundary, prepared when the
// boundary was installed: an unknown unit, or a unit without a boundary,
// is a fault.NotFound; a boundary that is not a valid polygon is the
// fault.BadGeometry of region.New, naming the unit.
func (e *Engine) UnitArea(level Level, id string) (*Area, error) {
	ua, err := e.unitArea(level, id)
	if err != nil {
		return nil, err
	}
	if ua.err != nil {
		return nil, fault.New(fault.BadGeometry, "the boundary of %s %q is not a valid polygon: %v", level, id, ua.err)
	}
	return ua.area, nil
}

// InvalidBoundary returns why the loaded boundary of a unit is no valid
// polygon (region.New's error, as its installation found it), nil when it
// is one; an unknown unit, or a unit without a boundary, is a
// fault.NotFound. A load tells the boundaries it brings that are invalid
// by it: they are prepared once, by the engine, when they are installed.
func (e *Engine) InvalidBoundary(level Level, id string) error {
	ua, err := e.unitArea(level, id)
	if err != nil {
		return err
	}
	return ua.err
}
