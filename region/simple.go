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
// each edge is filed in every cell its box meets, and the edges of a cell
// whose boxes overlap are tested against each other. Two edges that meet
// share a cell, and a pair is tested only in the first cell both are filed
// in, so no pair is tested twice. The work grows with the edges and with how
// many crowd into one cell, not with the square of the edges, whichever way
// the boundary runs.

// simpleBudget bounds the pair tests of checkSimple, so that a hostile
// geometry (thousands of long parallel edges) cannot stall a request.
const simpleBudget = 20_000_000

// maxCellEntries bounds the grid's entries at this many per edge (plus a
// constant): a polygon of long edges gets fewer, larger cells.
const maxCellEntries = 4

// smallCell is the most spans of a cell tested pairwise without sorting
// them first.
const smallCell = 12

// span is one edge filed in one cell: its box, its number and the number
// of the edge after it in its ring.
type span struct {
	xmin, xmax int32
	ylo, yhi   int32
	i, next    int32
}

// simpleScratch holds checkSimple's buffers, pooled.
type simpleScratch struct {
	spans []span
	count []int32
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
	x0, y0 := int64(ps.x0), int64(ps.y0)
	w, h := int64(ps.x1)-x0, int64(ps.y1)-y0
	// cells about as wide and high as a mean edge, at most a few an edge
	sx, sy := log2Above(ps.sdx/int64(n)), log2Above(ps.sdy/int64(n))
	for (w>>sx+1)*(h>>sy+1) > maxCellEntries*int64(n)+64 {
		if w>>sx >= h>>sy {
			sx++
		} else {
			sy++
		}
	}
	// count the edges of each cell; coarser cells when long edges would be
	// filed in too many
	limit := int64(maxCellEntries*n + 1024)
	var nx, nc int64
	var count []int32
	for {
		nx = w>>sx + 1
		nc = nx * (h>>sy + 1)
		if int64(cap(sc.count)) < nc+1 {
			sc.count = make([]int32, nc+1)
		}
		count = sc.count[:nc+1]
		clear(count)
		total := int64(0)
		for i := range edges {
			e := &edges[i]
			cx0, cx1 := (int64(min(e.X1, e.X2))-x0)>>sx, (int64(max(e.X1, e.X2))-x0)>>sx
			cy0, cy1 := (int64(min(e.Y1, e.Y2))-y0)>>sy, (int64(max(e.Y1, e.Y2))-y0)>>sy
			if cx0 == cx1 && cy0 == cy1 { // the usual short edge
				count[cy0*nx+cx0+1]++
				total++
				continue
			}
			total += (cx1 - cx0 + 1) * (cy1 - cy0 + 1)
			if total > limit {
				break
			}
			for cy := cy0; cy <= cy1; cy++ {
				for cx := cx0; cx <= cx1; cx++ {
					count[cy*nx+cx+1]++
				}
			}
		}
		if total <= limit || w>>sx == 0 && h>>sy == 0 {
			break
		}
		if w>>sx >= h>>sy {
			sx++
		} else {
			sy++
		}
	}
	for c := int64(1); c <= nc; c++ {
		count[c] += count[c-1]
	}
	if cap(sc.spans) < int(count[nc]) {
		sc.spans = make([]span, count[nc])
	}
	spans := sc.spans[:count[nc]]
	// file the edges, ring by ring, testing each against the next one
	// (neighbours share a vertex and meet further only when one folds back
	// over the other)
	at = 0
	for _, k := range ringLens {
		for j := range k {
			i, next := at+j, at+j+1
			if j == k-1 {
				next = at
			}
			e := &edges[i]
			if foldsBack(e, &edges[next]) {
				return sc.crossing(edges, int32(i), int32(next), pi, npolys)
			}
			s := span{min(e.X1, e.X2), max(e.X1, e.X2), min(e.Y1, e.Y2), max(e.Y1, e.Y2), int32(i), int32(next)}
			cx0, cx1 := (int64(s.xmin)-x0)>>sx, (int64(s.xmax)-x0)>>sx
			cy0, cy1 := (int64(s.ylo)-y0)>>sy, (int64(s.yhi)-y0)>>sy
			for cy := cy0; cy <= cy1; cy++ {
				for cx := cx0; cx <= cx1; cx++ {
					c := &count[cy*nx+cx]
					spans[*c] = s
					*c++
				}
			}
		}
		at += k
	}
	// count[c] is now the end of cell c: test the pairs of each cell
	budget := simpleBudget
	from := 0
	for c := int64(0); c < nc; c++ {
		to := int(count[c])
		if to-from < 2 {
			from = to
			continue
		}
		cs := spans[from:to]
		from = to
		cx, cy := c%nx, c/nx
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
				if sa.xmin > sb.xmax || sa.ylo > sb.yhi || sb.ylo > sa.yhi || sa.next == sb.i || sb.next == sa.i {
					continue // apart, or neighbours (tested above)
				}
				if (int64(max(sa.xmin, sb.xmin))-x0)>>sx != cx || (int64(max(sa.ylo, sb.ylo))-y0)>>sy != cy {
					continue // met in an earlier cell
				}
				if budget--; budget < 0 {
					return fault.New(fault.TooLarge, "%s is too complex to validate (%d edges)", polyName(npolys, pi), n)
				}
				if segmentsIntersect(&edges[sa.i], &edges[sb.i], false, sc.ringOf(sa.i) != sc.ringOf(sb.i)) {
					return sc.crossing(edges, sa.i, sb.i, pi, npolys)
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
