package engine

import (
	"math"
	"slices"
	"time"

	"github.com/roomstate/roomstate/fault"
	"github.com/roomstate/roomstate/region"
)

// bandItem is a chain of consecutive polygon edges clipped to one row
// band: edges e0..e1 of the region, each joined to the next at a vertex
// inside the band, with their conservative x-extent there and their
// contribution to the winding number of what lies east of them on the
// band's mid-line. Joined edges' extents touch, so the band's sweep would
// merge them into one strip anyway: a ragged boundary of many short edges
// makes a few items a band, not one an edge.
type bandItem struct {
	band    int32
	xmin    int32
	xmax    int32
	contrib int32
	e0, e1  int32
}

// sink receives the slots a sweep finds inside a region and counts them:
// acc[0] total, acc[1] matched, acc[2+f] matched ∧ flag f (the counters of
// the where expression's rank index). Optionally it also counts per group of
// a level and collects matched slots.
type sink struct {
	st  *state
	rk  *rankView // the where expression
	acc []int64

	// the inside run being gathered, [runA, runB): ranges that touch
	// (a gap inside the region, then the strip's first inside points) are
	// counted once, two prefix reads fewer
	runA, runB uint32
	pendBlk    int
	pendMask   uint64

	grouping bool
	level    Level
	runs     *runs
	gIdx     []int32  // group number → index into gList, -1 when untouched
	gList    []uint32 // touched groups in order of first touch
	gAcc     []int64  // per touched group: 2+F counters like acc

	wantIDs bool
	limit   int
	ids     []uint32

	rec *record // when set, every range is recorded too (an area's cover)
}

// scratch holds a query's reusable buffers; pooled by the engine.
type scratch struct {
	chains []bandItem // in edge order
	items  []bandItem // by band, then west end
	keys   []uint64   // per item: its west end and chain number, by band
	counts []int32
	sink   sink
}

func (s *sink) reset(st *state, rk *rankView) {
	s.st, s.rk = st, rk
	n := rk.nc
	if cap(s.acc) < n {
		s.acc = make([]int64, n)
	}
	s.acc = s.acc[:n]
	clear(s.acc)
	s.runA, s.runB = 0, 0
	s.pendBlk, s.pendMask = -1, 0
	s.grouping, s.wantIDs = false, false
	s.rec = nil
	s.ids = s.ids[:0]
	s.gList = s.gList[:0]
	s.gAcc = s.gAcc[:0]
}

func (s *sink) groupBy(l Level) {
	s.grouping = true
	s.level = l
	s.runs = &s.st.runs[l]
	n := s.st.groupCount(l)
	if cap(s.gIdx) < n {
		s.gIdx = make([]int32, n)
		for i := range s.gIdx {
			s.gIdx[i] = -1
		}
	}
	s.gIdx = s.gIdx[:n]
}

// release clears the group index for the next user of the scratch.
func (s *sink) release() {
	for _, g := range s.gList {
		s.gIdx[g] = -1
	}
	s.gList = s.gList[:0]
	s.st, s.rk = nil, nil
}

// count adds the counts of slots [a, b) to dst (2+F counters).
func (s *sink) count(a, b uint32, dst []int64) { s.rk.addRange(s.st, a, b, dst) }

func (s *sink) flush() {
	if s.pendMask == 0 {
		return
	}
	s.rk.addMask(s.st, s.pendBlk, s.pendMask, s.acc)
	s.pendMask = 0
}

// rng takes slots [a, b), all inside the region.
func (s *sink) rng(a, b uint32) {
	if a >= b {
		return
	}
	if s.rec != nil {
		s.rec.add(a, b)
	}
	if s.grouping {
		s.groupRange(a, b)
	}
	if s.wantIDs && len(s.ids) < s.limit {
		for p := a; p < b && len(s.ids) < s.limit; p++ {
			if s.rk.bit(p) {
				s.ids = append(s.ids, p)
			}
		}
	}
	if a == s.runB {
		s.runB = b
		return
	}
	s.countRun()
	s.runA, s.runB = a, b
}

// countRun counts the gathered run: within one block of 64 slots, as a
// mask gathered with the block's other runs; beyond, by the rank index.
func (s *sink) countRun() {
	a, b := s.runA, s.runB
	if a >= b {
		return
	}
	s.runA, s.runB = 0, 0
	if blk := int(a >> 6); blk == int((b-1)>>6) {
		if blk != s.pendBlk {
			s.flush()
			s.pendBlk = blk
		}
		s.pendMask |= rangeMask(a&63, (b-1)&63)
		return
	}
	s.count(a, b, s.acc)
}

// groupRange splits a main-order range by the runs of the grouping level.
func (s *sink) groupRange(a, b uint32) {
	r := s.runs
	i := r.find(a)
	for a < b {
		end := b
		if i+1 < len(r.start) && r.start[i+1] < end {
			end = r.start[i+1]
		}
		s.count(a, end, s.groupAcc(r.group[i]))
		a = end
		i++
	}
}

// point takes a single slot (from the delta), inside the region.
func (s *sink) point(p uint32) {
	if s.grouping {
		s.count(p, p+1, s.groupAcc(s.st.groupOf(s.level, p)))
	}
	if s.wantIDs && len(s.ids) < s.limit && s.rk.bit(p) {
		s.ids = append(s.ids, p)
	}
	s.count(p, p+1, s.acc)
}

func (s *sink) groupAcc(g uint32) []int64 {
	n := 2 + s.st.nFlags()
	k := s.gIdx[g]
	if k < 0 {
		k = int32(len(s.gList))
		s.gIdx[g] = k
		s.gList = append(s.gList, g)
		s.gAcc = append(s.gAcc, make([]int64, n)...)
	}
	return s.gAcc[int(k)*n : int(k)*n+n]
}

// finish counts what is gathered.
func (s *sink) finish() {
	s.countRun()
	s.flush()
}

// ErrTimeout is a query that ran past its deadline.
var ErrTimeout = fault.New(fault.Timeout, "the query ran past its time budget: ask for a smaller area or a larger cell")

// sweep finds every live dwelling inside rg and hands it to s. It gives up
// with ErrTimeout once past the deadline (zero: none).
func (st *state) sweep(rg *region.Region, sc *scratch, s *sink, deadline time.Time) error {
	ix := st.index
	if ix.nb > 0 {
		items := st.bandItems(rg, sc)
		for i, k := 0, 0; i < len(items); k++ {
			if k&255 == 255 && !deadline.IsZero() && time.Now().After(deadline) {
				return ErrTimeout
			}
			b := int(items[i].band)
			j := i + 1
			for j < len(items) && int(items[j].band) == b {
				j++
			}
			st.sweepBand(rg, b, items[i:j], s)
			i = j
		}
	}
	st.sweepDelta(rg, s)
	return nil
}

// sweepDelta hands s the live dwellings of the delta inside rg: few, tested
// one by one.
func (st *state) sweepDelta(rg *region.Region, s *sink) {
	for p := uint32(st.nMain); p < uint32(st.n); p++ {
		if st.isLive(p) && rg.Locate(st.lon[p], st.lat[p]) {
			s.point(p)
		}
	}
}

// bandItems clips every edge of rg to the non-empty bands it crosses,
// joins consecutive edges that meet inside a band into one item, and returns
// the items sorted by band, then west end: a counting sort by band, then a
// small sort within each band.
func (st *state) bandItems(rg *region.Region, sc *scratch) []bandItem {
	ix := st.index
	h := int64(ix.h)
	bbox := rg.BBox()
	bmin := max(ix.bandOf(int64(bbox[1])), 0)
	bmax := min(ix.bandOf(int64(bbox[3])), int64(ix.nb-1))
	if bmin > bmax {
		return sc.items[:0]
	}
	nbands := int(bmax - bmin + 1)
	if cap(sc.counts) < nbands+1 {
		sc.counts = make([]int32, nbands+1)
	}
	counts := sc.counts[:nbands+1]
	clear(counts)
	edges := rg.Edges()
	chains := sc.chains[:0]
	open := -1        // the chain the previous edge left open in the band of its end, -1 for none
	var prevEnd int64 // the band of the previous edge's end
	for ei := range edges {
		e := &edges[ei]
		x1, y1, x2, y2 := int64(e.X1), int64(e.Y1), int64(e.X2), int64(e.Y2)
		joined := ei > 0 && e.X1 == edges[ei-1].X2 && e.Y1 == edges[ei-1].Y2
		if !joined {
			open = -1 // a new ring
		}
		ylo, yhi := min(y1, y2), max(y1, y2)
		startBand := prevEnd // a ring's vertex is the end of one edge and the start of the next
		if !joined {
			startBand = ix.bandOf(y1)
		}
		endBand := ix.bandOf(y2)
		prevEnd = endBand
		if startBand == endBand {
			// within one band, as most edges of a ragged boundary are: its
			// box is its strip, and it joins the chain its start is in
			b := startBand
			if b < bmin || b > bmax || ix.start[b] == ix.start[b+1] {
				open = -1
				continue
			}
			var c int32
			if mid2 := 2*(int64(ix.lat0)+b*h) + h + 1; 2*ylo < mid2 && mid2 < 2*yhi {
				c = -1 // west-ray winding step: -1 up, 1 down
				if y2 < y1 {
					c = 1
				}
			}
			if open >= 0 && int64(chains[open].band) == b {
				it := &chains[open]
				it.xmin = min(it.xmin, int32(min(x1, x2)))
				it.xmax = max(it.xmax, int32(max(x1, x2)))
				it.contrib += c
				it.e1 = int32(ei)
				continue
			}
			open = len(chains)
			chains = append(chains, bandItem{band: int32(b), xmin: int32(min(x1, x2)), xmax: int32(max(x1, x2)), contrib: c, e0: int32(ei), e1: int32(ei)})
			counts[b-bmin+1]++
			continue
		}
		b0 := max(min(startBand, endBand), bmin)
		b1 := min(max(startBand, endBand), bmax)
		exmin, exmax := min(x1, x2), max(x1, x2)
		var contribDown int32 = -1 // west-ray winding step of an upward edge
		if y2 < y1 {
			contribDown = 1
		}
		var slope float64
		if y1 != y2 {
			slope = float64(x2-x1) / float64(y2-y1)
		}
		next := -1
		for b := b0; b <= b1; b++ {
			if ix.start[b] == ix.start[b+1] {
				continue
			}
			bs := int64(ix.lat0) + b*h // band b holds lat in [bs, bs+h-1]
			ya, yb := max(ylo, bs), min(yhi, bs+h-1)
			xmin, xmax := exmin, exmax
			if y1 != y2 && (ya > ylo || yb < yhi) {
				fa := float64(x1) + float64(ya-y1)*slope
				fb := float64(x1) + float64(yb-y1)*slope
				xmin = max(exmin, int64(math.Floor(min(fa, fb)))-1)
				xmax = min(exmax, int64(math.Ceil(max(fa, fb)))+1)
			}
			// the band's mid-line lies at bs + h/2 + 0.5: never on a vertex
			mid2 := 2*bs + h + 1
			var c int32
			if 2*ylo < mid2 && mid2 < 2*yhi {
				c = contribDown
			}
			k := -1
			if b == startBand && open >= 0 && int64(chains[open].band) == b {
				k = open // joined to the previous edge at its start vertex
				it := &chains[k]
				it.xmin = min(it.xmin, int32(xmin))
				it.xmax = max(it.xmax, int32(xmax))
				it.contrib += c
				it.e1 = int32(ei)
			} else {
				k = len(chains)
				chains = append(chains, bandItem{band: int32(b), xmin: int32(xmin), xmax: int32(xmax), contrib: c, e0: int32(ei), e1: int32(ei)})
				counts[b-bmin+1]++
			}
			if b == endBand {
				next = k
			}
		}
		open = next
	}
	sc.chains = chains
	for i := 1; i <= nbands; i++ {
		counts[i] += counts[i-1]
	}
	// each chain's key, by band: its west end (order-preserving as
	// unsigned) over its number, so that a band is sorted as integers and
	// the chains then moved once
	total := len(chains)
	if cap(sc.keys) < total {
		sc.keys = make([]uint64, total, total+total/4)
	}
	keys := sc.keys[:total]
	for i := range chains {
		k := &counts[int64(chains[i].band)-bmin]
		keys[*k] = uint64(uint32(chains[i].xmin)^1<<31)<<32 | uint64(i)
		*k++
	}
	if cap(sc.items) < total {
		sc.items = make([]bandItem, total, total+total/4)
	}
	items := sc.items[:total]
	// counts[i] is now the end of band i
	s := 0
	for i := 0; i < nbands; i++ {
		e := int(counts[i])
		sortKeys(keys[s:e])
		s = e
	}
	for i, k := range keys {
		items[i] = chains[uint32(k)]
	}
	sc.keys, sc.items = keys, items
	return items
}

// sortKeys sorts a band's keys: insertion sort for the usual handful,
// pdqsort beyond.
func sortKeys(keys []uint64) {
	if len(keys) > 24 {
		slices.Sort(keys)
		return
	}
	for i := 1; i < len(keys); i++ {
		k := keys[i]
		j := i
		for j > 0 && keys[j-1] > k {
			keys[j] = keys[j-1]
			j--
		}
		keys[j] = k
	}
}

// sweepBand handles one band: strips of merged edge extents, and the gaps
// between them, wholly inside or outside.
func (st *state) sweepBand(rg *region.Region, b int, items []bandItem, s *sink) {
	ix := st.index
	w := int32(0)
	pos := ix.start[b] // a point
	for k := 0; k < len(items); {
		x0, x1 := items[k].xmin, items[k].xmax
		c := items[k].contrib
		m := k + 1
		for m < len(items) && int64(items[m].xmin) <= int64(x1)+1 {
			x1 = max(x1, items[m].xmax)
			c += items[m].contrib
			m++
		}
		p0 := ix.lowerFrom(b, pos, int64(x0))
		if w > 0 && p0 > pos {
			s.rng(ix.first[pos], ix.first[p0]) // a gap inside the region
		}
		p1 := st.testStrip(rg, items[k:m], w, p0, ix.start[b+1], x1, s)
		w += c
		pos = p1
		k = m
	}
}

// testStrip tests the points from p0 with a longitude up to x1 (before
// end, the band's end) against the edges of one strip, and returns the
// first point past them; w is the winding number west of the strip. Runs
// of inside points go to s as one slot range.
func (st *state) testStrip(rg *region.Region, items []bandItem, w int32, p0, end uint32, x1 int32, s *sink) uint32 {
	ix := st.index
	lon, lat := ix.lon, ix.lat
	runStart, in := p0, false
	p := p0
	for ; p < end && lon[p] <= x1; p++ {
		now := stripContains(rg, items, w, int64(lon[p]), int64(lat[p]))
		if now != in {
			if in {
				s.rng(ix.first[runStart], ix.first[p])
			}
			runStart, in = p, now
		}
	}
	if in {
		s.rng(ix.first[runStart], ix.first[p])
	}
	return p
}

func stripContains(rg *region.Region, items []bandItem, w int32, px, py int64) bool {
	edges := rg.Edges()
	for i := range items {
		for k := items[i].e0; k <= items[i].e1; k++ {
			e := &edges[k]
			// Classify's first answer, here where it is cheap: an edge off
			// the point's rows, or east of it, neither holds it nor
			// crosses the ray west (most of a chain's edges are)
			if y1, y2 := int64(e.Y1), int64(e.Y2); py < min(y1, y2) || py > max(y1, y2) || px < int64(min(e.X1, e.X2)) {
				continue
			}
			on, step := region.Classify(e, px, py)
			if on {
				return true
			}
			w += int32(step)
		}
	}
	return w > 0
}
