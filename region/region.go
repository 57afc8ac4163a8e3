// Package region prepares query areas: the union of GeoJSON polygons with
// holes, validated (closed rings, no self-crossings, finite positions),
// oriented, and held as directed edges in fixed-point coordinates, with an
// exact, boundary-inclusive point test.
//
// It knows nothing of dwellings, indexes or how a region is swept; the engine
// reads its edges.
package region

import (
	"fmt"
	"math"
	"math/big"
	"slices"
	"sort"

	"github.com/paulmach/orb"
	"github.com/roomstate/roomstate/coord"
	"github.com/roomstate/roomstate/fault"
)

// MaxVertices bounds the vertices of one query geometry.
const MaxVertices = 200_000

// geomErr is an invalid geometry, of kind fault.BadGeometry.
func geomErr(format string, args ...any) error {
	return fault.New(fault.BadGeometry, format, args...)
}

// Edge is a directed polygon edge in fixed-point coordinates (see coord).
// Rings are normalised so that outer rings run counter-clockwise and holes
// clockwise.
type Edge struct {
	X1, Y1, X2, Y2 int32
}

// Region is a prepared query area: the union of one or more polygons with
// holes. Its boundary belongs to it. A Region is immutable.
type Region struct {
	edges []Edge
	bbox  [4]int32 // min lon, min lat, max lon, max lat
	loc   locator  // bands for Locate, built on first use
}

// Bound returns the region's bounding box in degrees.
func (rg *Region) Bound() orb.Bound {
	return orb.Bound{
		Min: orb.Point{coord.FromE7(rg.bbox[0]), coord.FromE7(rg.bbox[1])},
		Max: orb.Point{coord.FromE7(rg.bbox[2]), coord.FromE7(rg.bbox[3])},
	}
}

// NumEdges is the number of edges of the region's rings.
func (rg *Region) NumEdges() int { return len(rg.edges) }

// Edges returns the region's edges, ring after ring; callers must not
// modify them.
func (rg *Region) Edges() []Edge { return rg.edges }

// BBox returns the region's box in fixed point: west, south, east, north.
func (rg *Region) BBox() [4]int32 { return rg.bbox }

// New prepares the union of the polygons of mp. Rings must be closed
// (first position equal to the last), have at least four positions and a
// non-zero area, and lie in [-180, 180] × [-90, 90]. A ring that crosses itself,
// or crosses another ring of its polygon, is rejected with the crossing edges
// named. Coordinates are rounded to 1e-7 degree.
func New(mp orb.MultiPolygon) (*Region, error) {
	rg := &Region{bbox: [4]int32{math.MaxInt32, math.MaxInt32, math.MinInt32, math.MinInt32}}
	nv := 0
	for _, poly := range mp {
		for _, ring := range poly {
			nv += len(ring)
		}
	}
	if nv > MaxVertices {
		return nil, fault.New(fault.TooLarge, "geometry has %d vertices; the limit is %d", nv, MaxVertices)
	}
	if len(mp) == 0 {
		return nil, geomErr("geometry has no polygon")
	}
	rg.edges = make([]Edge, 0, nv)
	var pts []pt
	var ringLens []int
	for pi, poly := range mp {
		if len(poly) == 0 {
			return nil, geomErr("polygon %d has no rings", pi)
		}
		first := len(rg.edges)
		ringLens = ringLens[:0]
		for ri, ring := range poly {
			where := ringName(len(mp), pi, ri)
			if len(ring) < 4 {
				return nil, geomErr("%s has %d positions; a ring needs at least 4 (closed)", where, len(ring))
			}
			if ring[0] != ring[len(ring)-1] {
				return nil, geomErr("%s is not closed: its first position %v differs from its last %v", where, ring[0], ring[len(ring)-1])
			}
			pts = pts[:0]
			for vi, p := range ring {
				if err := coord.ValidLonLat(p[0], p[1]); err != nil {
					return nil, geomErr("%s position %d: %v", where, vi, err)
				}
				q := pt{coord.ToE7(p[0]), coord.ToE7(p[1])}
				if len(pts) > 0 && pts[len(pts)-1] == q {
					continue // repeated position
				}
				pts = append(pts, q)
			}
			if len(pts) < 4 {
				return nil, geomErr("%s has fewer than 3 distinct positions", where)
			}
			for i := 0; i+1 < len(pts); i++ {
				a, b := pts[i], pts[i+1]
				rg.edges = append(rg.edges, Edge{a.x, a.y, b.x, b.y})
				rg.bbox[0] = min(rg.bbox[0], a.x)
				rg.bbox[1] = min(rg.bbox[1], a.y)
				rg.bbox[2] = max(rg.bbox[2], a.x)
				rg.bbox[3] = max(rg.bbox[3], a.y)
			}
			ringLens = append(ringLens, len(pts)-1)
		}
		// crossings first (edges as given, so messages name them as sent)
		if err := checkSimple(rg.edges[first:], ringLens, pi, len(mp)); err != nil {
			return nil, err
		}
		// then orientation: outer rings counter-clockwise, holes clockwise
		at := first
		for ri, n := range ringLens {
			ring := rg.edges[at : at+n]
			area := signedArea2Edges(ring)
			if area == 0 {
				return nil, geomErr("%s has zero area", ringName(len(mp), pi, ri))
			}
			if (ri == 0) != (area > 0) {
				slices.Reverse(ring)
				for i := range ring {
					e := &ring[i]
					e.X1, e.Y1, e.X2, e.Y2 = e.X2, e.Y2, e.X1, e.Y1
				}
			}
			at += n
		}
	}
	return rg, nil
}

type pt struct{ x, y int32 }

func ringName(npolys, pi, ri int) string {
	var s string
	if npolys > 1 {
		s = fmt.Sprintf("polygon %d ", pi)
	}
	if ri == 0 {
		return s + "outer ring"
	}
	return s + fmt.Sprintf("hole %d", ri)
}

// signedArea2Edges is twice the signed area of a ring given by its edges
// (positive = counter-clockwise), in float64: only its sign is used.
func signedArea2Edges(ring []Edge) float64 {
	var a float64
	x0, y0 := float64(ring[0].X1), float64(ring[0].Y1)
	for _, e := range ring {
		x1, y1 := float64(e.X1)-x0, float64(e.Y1)-y0
		x2, y2 := float64(e.X2)-x0, float64(e.Y2)-y0
		a += x1*y2 - x2*y1
	}
	return a
}

// orient returns the sign of the cross product (b-a) × (p-a): > 0 when p is
// left of the directed line a→b, < 0 right, 0 on it. Exact.
func orient(ax, ay, bx, by, px, py int64) int {
	dx1, dy1 := bx-ax, by-ay
	dx2, dy2 := px-ax, py-ay
	const lim = 1 << 31
	if dx1 < lim && dx1 > -lim && dy1 < lim && dy1 > -lim &&
		dx2 < lim && dx2 > -lim && dy2 < lim && dy2 > -lim {
		l, r := dx1*dy2, dy1*dx2
		switch {
		case l > r:
			return 1
		case l < r:
			return -1
		}
		return 0
	}
	l := new(big.Int).Mul(big.NewInt(dx1), big.NewInt(dy2))
	r := new(big.Int).Mul(big.NewInt(dy1), big.NewInt(dx2))
	return l.Cmp(r)
}

// OnSegment reports whether p lies on the closed segment e.
func OnSegment(e *Edge, px, py int64) bool {
	x1, y1, x2, y2 := int64(e.X1), int64(e.Y1), int64(e.X2), int64(e.Y2)
	if px < min(x1, x2) || px > max(x1, x2) || py < min(y1, y2) || py > max(y1, y2) {
		return false
	}
	return orient(x1, y1, x2, y2, px, py) == 0
}

// WindingStep returns the change of the winding number that edge e makes for
// a point p when a ray is cast from p to the west: +1 for a downward edge
// crossing west of p, -1 for an upward one, 0 otherwise. Half-open in y.
func WindingStep(e *Edge, px, py int64) int {
	y1, y2 := int64(e.Y1), int64(e.Y2)
	if (y1 <= py) == (y2 <= py) {
		return 0
	}
	o := orient(int64(e.X1), y1, int64(e.X2), y2, px, py)
	if y2 > y1 { // upward: crossing west of p when p is right of the edge
		if o < 0 {
			return -1
		}
	} else if o > 0 {
		return 1
	}
	return 0
}

// Contains reports whether the region holds the point (boundary included),
// by testing every edge: the oracle and the path for unindexed points.
func (rg *Region) Contains(lon, lat int32) bool {
	if lon < rg.bbox[0] || lon > rg.bbox[2] || lat < rg.bbox[1] || lat > rg.bbox[3] {
		return false
	}
	px, py := int64(lon), int64(lat)
	w := 0
	for i := range rg.edges {
		e := &rg.edges[i]
		if OnSegment(e, px, py) {
			return true
		}
		w += WindingStep(e, px, py)
	}
	return w > 0
}

// simpleBudget bounds the pair tests of checkSimple, so that a hostile
// geometry (thousands of long parallel edges) cannot stall a request.
const simpleBudget = 20_000_000

// checkSimple rejects a polygon whose rings cross themselves or each other.
// Within a ring, neighbouring edges may only share their common vertex; rings
// of one polygon may touch at a point but not cross or overlap. ringLens gives
// the number of edges of each ring, in order. Sweep: edges sorted by west end;
// each is tested against the later edges whose x-extent overlaps it.
func checkSimple(edges []Edge, ringLens []int, pi, npolys int) error {
	type ref struct {
		minx, maxx int32
		i          int32
	}
	refs := make([]ref, len(edges))
	ringOf := make([]int32, len(edges))
	posOf := make([]int32, len(edges))
	k := 0
	for ri, n := range ringLens {
		for j := 0; j < n; j++ {
			ringOf[k], posOf[k] = int32(ri), int32(j)
			k++
		}
	}
	for i, e := range edges {
		refs[i] = ref{min(e.X1, e.X2), max(e.X1, e.X2), int32(i)}
	}
	sort.Slice(refs, func(a, b int) bool { return refs[a].minx < refs[b].minx })
	budget := simpleBudget
	for a := 0; a < len(refs); a++ {
		ea := &edges[refs[a].i]
		aylo, ayhi := min(ea.Y1, ea.Y2), max(ea.Y1, ea.Y2)
		for b := a + 1; b < len(refs) && refs[b].minx <= refs[a].maxx; b++ {
			if budget--; budget < 0 {
				return fault.New(fault.TooLarge, "%s is too complex to validate (%d edges)", polyName(npolys, pi), len(edges))
			}
			i, j := refs[a].i, refs[b].i
			eb := &edges[j]
			if aylo > max(eb.Y1, eb.Y2) || min(eb.Y1, eb.Y2) > ayhi {
				continue
			}
			sameRing := ringOf[i] == ringOf[j]
			adjacent := false
			if sameRing {
				n := int32(ringLens[ringOf[i]])
				d := posOf[i] - posOf[j]
				adjacent = d == 1 || d == -1 || d == n-1 || d == 1-n
			}
			if segmentsIntersect(ea, eb, adjacent, !sameRing) {
				lo, hi := i, j
				if lo > hi {
					lo, hi = hi, lo
				}
				what := "crosses itself"
				if !sameRing {
					what = "has rings that cross"
				}
				return geomErr("%s %s: edge %d (%s) meets edge %d (%s)", polyName(npolys, pi), what,
					posOf[lo], describeEdge(&edges[lo], ringOf[lo]), posOf[hi], describeEdge(&edges[hi], ringOf[hi]))
			}
		}
	}
	return nil
}

func polyName(npolys, pi int) string {
	if npolys > 1 {
		return fmt.Sprintf("polygon %d", pi)
	}
	return "polygon"
}

func describeEdge(e *Edge, ring int32) string {
	name := "outer ring"
	if ring > 0 {
		name = fmt.Sprintf("hole %d", ring)
	}
	return fmt.Sprintf("%s, [%v,%v]→[%v,%v]", name, coord.FromE7(e.X1), coord.FromE7(e.Y1), coord.FromE7(e.X2), coord.FromE7(e.Y2))
}

// segmentsIntersect reports whether two closed segments share a point; for
// adjacent edges of a ring, sharing only their common vertex does not count;
// with touchOK (edges of different rings), meeting at a single point does not
// count either, only a proper crossing or an overlap.
func segmentsIntersect(a, b *Edge, adjacent, touchOK bool) bool {
	ax1, ay1, ax2, ay2 := int64(a.X1), int64(a.Y1), int64(a.X2), int64(a.Y2)
	bx1, by1, bx2, by2 := int64(b.X1), int64(b.Y1), int64(b.X2), int64(b.Y2)
	d1 := orient(ax1, ay1, ax2, ay2, bx1, by1)
	d2 := orient(ax1, ay1, ax2, ay2, bx2, by2)
	d3 := orient(bx1, by1, bx2, by2, ax1, ay1)
	d4 := orient(bx1, by1, bx2, by2, ax2, ay2)
	if adjacent {
		// they share one endpoint; they intersect further only if collinear and overlapping
		if d1 == 0 && d2 == 0 {
			// collinear: overlap beyond the shared vertex means one folds back on the other
			return collinearOverlap(ax1, ay1, ax2, ay2, bx1, by1, bx2, by2)
		}
		return false
	}
	if d1*d2 < 0 && d3*d4 < 0 {
		return true
	}
	if touchOK {
		return d1 == 0 && d2 == 0 && collinearOverlap(ax1, ay1, ax2, ay2, bx1, by1, bx2, by2)
	}
	return (d1 == 0 && OnSegment(a, bx1, by1)) || (d2 == 0 && OnSegment(a, bx2, by2)) ||
		(d3 == 0 && OnSegment(b, ax1, ay1)) || (d4 == 0 && OnSegment(b, ax2, ay2))
}

// collinearOverlap reports whether two collinear segments overlap in more
// than one point.
func collinearOverlap(ax1, ay1, ax2, ay2, bx1, by1, bx2, by2 int64) bool {
	if ax1 == ax2 && bx1 == bx2 { // vertical: compare along y
		ax1, ax2, bx1, bx2 = ay1, ay2, by1, by2
	}
	lo := max(min(ax1, ax2), min(bx1, bx2))
	hi := min(max(ax1, ax2), max(bx1, bx2))
	return hi > lo
}
