package region

import (
	"cmp"
	"math"
	"math/bits"
	"slices"
	"sync"

	"github.com/roomstate/roomstate/fault"
)

// The simplicity check: no ring of a polygon crosses itself or another ring
// of the polygon. Neighbouring edges of a ring share a vertex and meet
// further only when one folds back over the other: that is one test a
// vertex, along the rings. Every other pair is found through a grid over the
// polygon's box (cells a power of two wide and high, about one an edge):
// two edges that meet are both filed in the cell of the lower-left corner of
// their boxes' overlap, and a pair is tested only there, so never twice.
//
// The grid is filled in one pass along the rings, in runs of four
// consecutive edges (cells about a run): each run is tested within itself,
// filed in the cells its box meets and tested against the runs filed there
// before it (a list per cell), edge against edge where their boxes meet. No
// sorting, no pass over empty cells. When the cells are crowded (a few long
// edges make them large and many short ones fill them), the lists grow
// long; past a bound on that work the check starts again edge by edge, the
// edges counted into cells about an edge and each crowded cell sorted by x,
// where only edges overlapping in x are tested. Either way the work grows
// with the edges and how many crowd into one cell, not with the square of
// the edges, whichever way the boundary runs.

// simpleBudget bounds the pair tests of checkSimple, so that a hostile
// geometry (thousands of long parallel edges) cannot stall a request.
const simpleBudget = 20_000_000

// maxCellEntries bounds the grid's entries at this many per edge (plus a
// constant): a polygon of long edges gets fewer, larger cells.
const maxCellEntries = 4

// linkedWork bounds the one-pass check's work (list steps and entries) at
// this many an edge, plus a constant, before it gives way to sorted cells.
// Real street boundaries take about one an edge (the realistic city's 1.0,
// Shanghai's 1.2, the most crowded of them 2.1). A variable so that tests
// can make every check take the sorted cells.
var linkedWork = 32

// smallCell is the most spans of a cell tested pairwise without sorting
// them first.
const smallCell = 12

// span is one edge filed in one cell of the sorted cells: its box, its
// number and the number of the edge after it in its ring.
type span struct {
	box
	i, next int32
}

// box is an edge's box, or a run's.
type box struct{ xmin, xmax, ylo, yhi int32 }

// apart reports whether boxes a and b have no point in common (no branch
// but the one on the answer).
func (a *box) apart(b *box) bool {
	return (int64(b.xmax)-int64(a.xmin))|(int64(a.xmax)-int64(b.xmin))|(int64(b.yhi)-int64(a.ylo))|(int64(a.yhi)-int64(b.ylo)) < 0
}

// apart reports whether the boxes of a and b are apart, or a and b are
// neighbours in their ring (tested along the ring).
func apart(a, b *span) bool {
	return a.box.apart(&b.box) || a.next == b.i || b.next == a.i
}

// simpleScratch holds checkSimple's buffers, pooled.
type simpleScratch struct {
	spans []span
	count []int32 // sorted cells: per cell, its spans' end
	head  []int32 // one pass: per cell, its last entry (index + 1)
	ent   []entry // one pass: runs filed in cells
	runs  []run   // one pass: runs of edges
	boxes []box   // one pass: the edges' boxes
	start []int32 // per ring: its first edge
}

var simplePool = sync.Pool{New: func() any { return new(simpleScratch) }}

// polyStats are what the simplicity check needs of a polygon's edges
// besides the edges: their box and the sums of their extents, gathered
// while the edges are made.
type polyStats struct {
	x0, y0, x1, y1 int32
	sdx, sdy       int64 // sums of |dx| and |dy| over the edges
}

// add takes an edge into the stats.
func (ps *polyStats) add(e *Edge) {
	ps.x0, ps.x1 = min(ps.x0, e.X1, e.X2), max(ps.x1, e.X1, e.X2)
	ps.y0, ps.y1 = min(ps.y0, e.Y1, e.Y2), max(ps.y1, e.Y1, e.Y2)
	ps.sdx += max(int64(e.X2)-int64(e.X1), int64(e.X1)-int64(e.X2))
	ps.sdy += max(int64(e.Y2)-int64(e.Y1), int64(e.Y1)-int64(e.Y2))
}

// emptyStats is the start of polyStats.add.
var emptyStats = polyStats{x0: math.MaxInt32, y0: math.MaxInt32, x1: math.MinInt32, y1: math.MinInt32}

// grid is the check's cells: 2^sx wide, 2^sy high, from the polygon's
// lower-left corner (x0, y0); nx to a row, nc in all.
type grid struct {
	x0, y0, w, h int64
	sx, sy       uint
	nx, nc       int64
}

// newGrid sizes the cells over the polygon's box about as wide and high as
// a mean one of n boxes whose widths and heights sum to sdx and sdy, at
// most a few a box.
func newGrid(ps *polyStats, n int, sdx, sdy int64) grid {
	g := grid{x0: int64(ps.x0), y0: int64(ps.y0), w: int64(ps.x1) - int64(ps.x0), h: int64(ps.y1) - int64(ps.y0)}
	g.sx, g.sy = log2Above(sdx/int64(n)), log2Above(sdy/int64(n))
	for (g.w>>g.sx+1)*(g.h>>g.sy+1) > maxCellEntries*int64(n)+64 {
		g.coarsen()
	}
	g.size()
	return g
}

func (g *grid) size() {
	g.nx = g.w>>g.sx + 1
	g.nc = g.nx * (g.h>>g.sy + 1)
}

// coarsen doubles the cells along their longer side (in cells).
func (g *grid) coarsen() {
	if g.w>>g.sx >= g.h>>g.sy {
		g.sx++
	} else {
		g.sy++
	}
	g.size()
}

// cells returns the columns and rows of the cells s's box meets.
func (g *grid) cells(s *span) (cx0, cx1, cy0, cy1 int64) {
	return (int64(s.xmin) - g.x0) >> g.sx, (int64(s.xmax) - g.x0) >> g.sx, (int64(s.ylo) - g.y0) >> g.sy, (int64(s.yhi) - g.y0) >> g.sy
}

// first reports whether cell (cx, cy) is where a and b, whose boxes
// overlap, are tested: the cell of their overlap's lower-left corner.
func (g *grid) first(a, b *span, cx, cy int64) bool {
	return (int64(max(a.xmin, b.xmin))-g.x0)>>g.sx == cx && (int64(max(a.ylo, b.ylo))-g.y0)>>g.sy == cy
}

// checkSimple rejects a polygon whose rings cross themselves or each other.
// Within a ring, neighbouring edges may only share their common vertex; rings
// of one polygon may touch at a point but not cross or overlap. ringLens gives
// the number of edges of each ring, in order; ps the edges' stats.
func checkSimple(edges []Edge, ringLens []int, ps *polyStats, pi, npolys int) error {
	n := len(edges)
	if n == 0 {
		return nil
	}
	sc := simplePool.Get().(*simpleScratch)
	defer simplePool.Put(sc)
	sc.start = sc.start[:0]
	at := 0
	for _, k := range ringLens {
		sc.start = append(sc.start, int32(at))
		at += k
	}
	budget := simpleBudget
	if done, err := sc.linked(edges, ringLens, ps, &budget, pi, npolys); done {
		return err
	}
	g := newGrid(ps, n, ps.sdx, ps.sdy) // cells about an edge
	return sc.sortedCells(edges, ringLens, &g, &budget, pi, npolys)
}

// runLen is how many consecutive edges of a ring the one-pass check files
// as one run: four edges a cell list entry instead of one, at the price of
// testing a run's edges pairwise (cheap box tests, nearly all apart).
const runLen = 4

// run is up to runLen consecutive edges of a ring, [from, to), with their
// box and their ring's edges [rs, re).
type run struct {
	box
	from, to, rs, re int32
}

// entry is a run filed in a cell: the run and the entry filed before it in
// the cell (its index + 1; 0 for none).
type entry struct{ run, link int32 }

// linked is the one-pass check: the edges' boxes and folds along the rings,
// then the runs of edges, each tested within itself and filed in the cells
// its box meets, tested there against the runs filed before it. done is
// false when the cells were too crowded to finish within linkedWork
// (nothing found so far).
func (sc *simpleScratch) linked(edges []Edge, ringLens []int, ps *polyStats, budget *int, pi, npolys int) (done bool, err error) {
	n := len(edges)
	if cap(sc.boxes) < n {
		sc.boxes = make([]box, n)
	}
	boxes := sc.boxes[:n]
	runs := sc.runs[:0]
	var sdx, sdy int64
	// within a box less than 2^31 units wide and high, differences of
	// coordinates are below 2^31 and their products exact in int64
	small := int64(ps.x1)-int64(ps.x0) < 1<<31 && int64(ps.y1)-int64(ps.y0) < 1<<31
	at := 0
	for _, k := range ringLens {
		for j := range k {
			i, next := at+j, at+j+1
			if j == k-1 {
				next = at
			}
			e, f := &edges[i], &edges[next]
			boxes[i] = box{min(e.X1, e.X2), max(e.X1, e.X2), min(e.Y1, e.Y2), max(e.Y1, e.Y2)}
			var folds bool
			if small { // foldsBack: collinear, and f's end on e's side of their vertex
				dxa, dya := int64(e.X1)-int64(e.X2), int64(e.Y1)-int64(e.Y2)
				dxb, dyb := int64(f.X2)-int64(f.X1), int64(f.Y2)-int64(f.Y1)
				folds = dxa*dyb == dya*dxb && dxa*dxb+dya*dyb > 0
			} else {
				folds = foldsBack(e, f)
			}
			if folds {
				return true, sc.crossing(edges, int32(i), int32(next), pi, npolys)
			}
		}
		for from := at; from < at+k; from += runLen {
			r := run{boxes[from], int32(from), int32(min(from+runLen, at+k)), int32(at), int32(at + k)}
			for _, b := range boxes[from+1 : r.to] {
				r.xmin, r.xmax = min(r.xmin, b.xmin), max(r.xmax, b.xmax)
				r.ylo, r.yhi = min(r.ylo, b.ylo), max(r.yhi, b.yhi)
			}
			sdx += int64(r.xmax) - int64(r.xmin)
			sdy += int64(r.yhi) - int64(r.ylo)
			runs = append(runs, r)
		}
		at += k
	}
	sc.runs = runs
	g := newGrid(ps, len(runs), sdx, sdy)              // cells about a run
	x0, y0, sx, sy, nx := g.x0, g.y0, g.sx, g.sy, g.nx // in registers
	if int64(cap(sc.head)) < g.nc {
		sc.head = make([]int32, g.nc)
	}
	head := sc.head[:g.nc]
	clear(head)
	ent := sc.ent[:0]
	defer func() { sc.ent = ent[:0] }()
	work := linkedWork*n + 4096
	for ri := range runs {
		r := &runs[ri]
		if err := sc.testRuns(edges, boxes, r, r, budget, pi, npolys); err != nil {
			return true, err
		}
		cx0, cx1 := (int64(r.xmin)-x0)>>sx, (int64(r.xmax)-x0)>>sx
		cy0, cy1 := (int64(r.ylo)-y0)>>sy, (int64(r.yhi)-y0)>>sy
		for cy := cy0; cy <= cy1; cy++ {
			for cx := cx0; cx <= cx1; cx++ {
				c := cy*nx + cx
				for q := head[c] - 1; q >= 0; {
					e := ent[q]
					q = e.link - 1
					rb := &runs[e.run]
					work--
					if r.apart(&rb.box) || (int64(max(r.xmin, rb.xmin))-x0)>>sx != cx || (int64(max(r.ylo, rb.ylo))-y0)>>sy != cy {
						continue // apart, or tested in an earlier cell (grid.first)
					}
					if err := sc.testRuns(edges, boxes, r, rb, budget, pi, npolys); err != nil {
						return true, err
					}
				}
				ent = append(ent, entry{int32(ri), head[c]})
				head[c] = int32(len(ent))
				work--
			}
		}
		if work < 0 {
			return false, nil
		}
	}
	return true, nil
}

// testRuns tests the edges of run a against those of run b (a's own pairs
// once when b is a) but for neighbours, which are tested along the ring.
func (sc *simpleScratch) testRuns(edges []Edge, boxes []box, a, b *run, budget *int, pi, npolys int) error {
	for i := a.from; i < a.to; i++ {
		ni := i + 1
		if ni == a.re {
			ni = a.rs
		}
		bi := &boxes[i]
		from := b.from
		if a == b {
			from = i + 2
		}
		for j := from; j < b.to; j++ {
			if bi.apart(&boxes[j]) {
				continue
			}
			nj := j + 1
			if nj == b.re {
				nj = b.rs
			}
			if ni == j || nj == i {
				continue // neighbours
			}
			if *budget--; *budget < 0 {
				return fault.New(fault.TooLarge, "%s is too complex to validate (%d edges)", polyName(npolys, pi), len(edges))
			}
			if segmentsIntersect(&edges[i], &edges[j], false, a.rs != b.rs) {
				return sc.crossing(edges, i, j, pi, npolys)
			}
		}
	}
	return nil
}

// along returns edge j of the ring of k edges from edge at as a span, and
// whether it folds back over the next edge.
func along(edges []Edge, at, j, k int) (span, bool) {
	i, next := at+j, at+j+1
	if j == k-1 {
		next = at
	}
	e := &edges[i]
	return span{box{min(e.X1, e.X2), max(e.X1, e.X2), min(e.Y1, e.Y2), max(e.Y1, e.Y2)}, int32(i), int32(next)}, foldsBack(e, &edges[next])
}

// test tests spans a and b, whose boxes overlap, counting the test against
// the budget.
func (sc *simpleScratch) test(edges []Edge, a, b *span, budget *int, pi, npolys int) error {
	if *budget--; *budget < 0 {
		return fault.New(fault.TooLarge, "%s is too complex to validate (%d edges)", polyName(npolys, pi), len(edges))
	}
	if segmentsIntersect(&edges[a.i], &edges[b.i], false, sc.ringOf(a.i) != sc.ringOf(b.i)) {
		return sc.crossing(edges, a.i, b.i, pi, npolys)
	}
	return nil
}

// sortedCells is the check for crowded cells: the edges counted into their
// cells (coarser cells when long edges would be filed in too many), filed,
// and each cell's spans tested pairwise, sorted by x when there are many.
func (sc *simpleScratch) sortedCells(edges []Edge, ringLens []int, g *grid, budget *int, pi, npolys int) error {
	n := len(edges)
	limit := int64(maxCellEntries*n + 1024)
	var count []int32
	for {
		if int64(cap(sc.count)) < g.nc+1 {
			sc.count = make([]int32, g.nc+1)
		}
		count = sc.count[:g.nc+1]
		clear(count)
		total := int64(0)
		for i := range edges {
			e := &edges[i]
			s := span{box: box{min(e.X1, e.X2), max(e.X1, e.X2), min(e.Y1, e.Y2), max(e.Y1, e.Y2)}}
			cx0, cx1, cy0, cy1 := g.cells(&s)
			if cx0 == cx1 && cy0 == cy1 { // the usual short edge
				count[cy0*g.nx+cx0+1]++
				total++
				continue
			}
			total += (cx1 - cx0 + 1) * (cy1 - cy0 + 1)
			if total > limit {
				break
			}
			for cy := cy0; cy <= cy1; cy++ {
				for cx := cx0; cx <= cx1; cx++ {
					count[cy*g.nx+cx+1]++
				}
			}
		}
		if total <= limit || g.w>>g.sx == 0 && g.h>>g.sy == 0 {
			break
		}
		g.coarsen()
	}
	nc := g.nc
	for c := int64(1); c <= nc; c++ {
		count[c] += count[c-1]
	}
	if cap(sc.spans) < int(count[nc]) {
		sc.spans = make([]span, count[nc])
	}
	spans := sc.spans[:count[nc]]
	at := 0
	for _, k := range ringLens {
		for j := range k {
			s, folds := along(edges, at, j, k)
			if folds {
				return sc.crossing(edges, s.i, s.next, pi, npolys)
			}
			cx0, cx1, cy0, cy1 := g.cells(&s)
			for cy := cy0; cy <= cy1; cy++ {
				for cx := cx0; cx <= cx1; cx++ {
					c := &count[cy*g.nx+cx]
					spans[*c] = s
					*c++
				}
			}
		}
		at += k
	}
	// count[c] is now the end of cell c: test the pairs of each cell
	from := 0
	for c := int64(0); c < nc; c++ {
		to := int(count[c])
		if to-from < 2 {
			from = to
			continue
		}
		cs := spans[from:to]
		from = to
		cx, cy := c%g.nx, c/g.nx
		sorted := len(cs) > smallCell
		if sorted {
			slices.SortFunc(cs, func(a, b span) int { return cmp.Compare(a.xmin, b.xmin) })
		}
		for a := range cs {
			sa := &cs[a]
			for k := a + 1; k < len(cs); k++ {
				sb := &cs[k]
				if sb.xmin > sa.xmax {
					if sorted {
						break
					}
					continue
				}
				if apart(sa, sb) || !g.first(sa, sb, cx, cy) {
					continue // apart, neighbours (tested along the ring) or met in an earlier cell
				}
				if err := sc.test(edges, sa, sb, budget, pi, npolys); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// crossing is the error for edges i and j, which meet.
func (sc *simpleScratch) crossing(edges []Edge, i, j int32, pi, npolys int) error {
	lo, hi := min(i, j), max(i, j)
	rlo, rhi := sc.ringOf(lo), sc.ringOf(hi)
	what := "crosses itself"
	if rlo != rhi {
		what = "has rings that cross"
	}
	return geomErr("%s %s: edge %d (%s) meets edge %d (%s)", polyName(npolys, pi), what,
		lo-sc.start[rlo], describeEdge(&edges[lo], rlo), hi-sc.start[rhi], describeEdge(&edges[hi], rhi))
}

// ringOf returns the ring of edge i.
func (sc *simpleScratch) ringOf(i int32) int32 {
	r, _ := slices.BinarySearch(sc.start, i+1)
	return int32(r - 1)
}

// foldsBack reports whether edge b, which starts where edge a ends, runs
// back over a: the two are collinear and b's end lies on a's side of their
// common vertex. It is segmentsIntersect of two neighbours, with one
// orientation test instead of four.
func foldsBack(a, b *Edge) bool {
	if orient(int64(a.X1), int64(a.Y1), int64(a.X2), int64(a.Y2), int64(b.X2), int64(b.Y2)) != 0 {
		return false
	}
	// collinear: the directions from the common vertex to a's start and to
	// b's end are parallel; b folds back when they agree
	dxa, dya := int64(a.X1)-int64(a.X2), int64(a.Y1)-int64(a.Y2)
	dxb, dyb := int64(b.X2)-int64(b.X1), int64(b.Y2)-int64(b.Y1)
	return sign(dxa) == sign(dxb) && sign(dya) == sign(dyb)
}

func sign(v int64) int {
	switch {
	case v > 0:
		return 1
	case v < 0:
		return -1
	}
	return 0
}

// log2Above returns the smallest s with 2^s >= v (0 for v <= 1).
func log2Above(v int64) uint {
	if v <= 1 {
		return 0
	}
	return uint(bits.Len64(uint64(v - 1)))
}
