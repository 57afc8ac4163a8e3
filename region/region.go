// Package region prepares query areas: the union of GeoJSON polygons with
// holes, validated (closed rings, no self-crossings, finite positions),
// oriented, and held as directed edges in fixed-point coordinates, with an
// exact, boundary-inclusive point test (through bands of edges, and for a
// region asked about many points through a raster of its box).
//
// It knows nothing of dwellings, indexes or how a region is swept; the engine
// reads its edges.
package region

import (
	"cmp"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"unsafe"

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
	bbox  [4]int32      // min lon, min lat, max lon, max lat
	loc   locator       // bands for Locate, built on first use
	cells rasterLocator // cells for LocateMany, built on first use
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

// Bytes is about the memory the region holds: its edges and, once built,
// the bands of Locate and the cells of LocateMany.
func (rg *Region) Bytes() int {
	n := int(unsafe.Sizeof(*rg)) + int(unsafe.Sizeof(Edge{}))*cap(rg.edges)
	if bs := rg.loc.built(); bs != nil {
		n += int(unsafe.Sizeof(*bs)) + 4*cap(bs.off) + int(unsafe.Sizeof(Edge{}))*cap(bs.edges)
	}
	if rs := rg.cells.built(); rs != nil {
		n += int(unsafe.Sizeof(*rs)) + cap(rs.cell)
	}
	return n
}

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
	edges := make([]Edge, 0, nv) // rg.edges when done; locals below stay in registers
	bbox := rg.bbox
	ringLens := make([]int, 0, 8)
	for pi, poly := range mp {
		if len(poly) == 0 {
			return nil, geomErr("polygon %d has no rings", pi)
		}
		first := len(edges)
		ringLens = ringLens[:0]
		ps := emptyStats
		for ri, ring := range poly {
			if len(ring) < 4 {
				return nil, geomErr("%s has %d positions; a ring needs at least 4 (closed)", ringName(len(mp), pi, ri), len(ring))
			}
			if ring[0] != ring[len(ring)-1] {
				return nil, geomErr("%s is not closed: its first position %v differs from its last %v", ringName(len(mp), pi, ri), ring[0], ring[len(ring)-1])
			}
			start := len(edges)
			var px, py int32
			for vi, p := range ring {
				if !(p[0] >= -180 && p[0] <= 180 && p[1] >= -90 && p[1] <= 90) { // NaN fails too
					return nil, geomErr("%s position %d: %v", ringName(len(mp), pi, ri), vi, coord.ValidLonLat(p[0], p[1]))
				}
				x, y := coord.ToE7(p[0]), coord.ToE7(p[1])
				if vi > 0 && (x != px || y != py) { // repeated positions are dropped
					e := Edge{px, py, x, y}
					edges = append(edges, e)
					ps.add(&e)
					bbox[0], bbox[1] = min(bbox[0], x), min(bbox[1], y)
					bbox[2], bbox[3] = max(bbox[2], x), max(bbox[3], y)
				}
				px, py = x, y
			}
			if len(edges)-start < 3 {
				return nil, geomErr("%s has fewer than 3 distinct positions", ringName(len(mp), pi, ri))
			}
			ringLens = append(ringLens, len(edges)-start)
		}
		// crossings first (edges as given, so messages name them as sent)
		if err := checkSimple(edges[first:], ringLens, &ps, pi, len(mp)); err != nil {
			return nil, err
		}
		// then orientation: outer rings counter-clockwise, holes clockwise
		at := first
		for ri, n := range ringLens {
			ring := edges[at : at+n]
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
	rg.edges, rg.bbox = edges, bbox
	return rg, nil
}

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
// left of the directed line a→b, < 0 right, 0 on it. Exact. The arguments
// are int32 values (fixed-point coordinates), so no difference overflows.
//
// For coordinates in range (longitudes within ±1.8e9, latitudes within
// ±9e8) the differences of x are below 2^32 and those of y below 2^31 in
// magnitude, so both products dx·dy are below 2^63 and compare in int64;
// other int32 values are compared as 128-bit products.
func orient(ax, ay, bx, by, px, py int64) int {
	dx1, dy1 := bx-ax, by-ay
	dx2, dy2 := px-ax, py-ay
	const xlim, ylim = 1 << 32, 1 << 31
	if dx1 < xlim && dx1 > -xlim && dx2 < xlim && dx2 > -xlim &&
		dy1 < ylim && dy1 > -ylim && dy2 < ylim && dy2 > -ylim {
		l, r := dx1*dy2, dy1*dx2
		switch {
		case l > r:
			return 1
		case l < r:
			return -1
		}
		return 0
	}
	lh, ll := mul128(dx1, dy2)
	rh, rl := mul128(dy1, dx2)
	switch {
	case lh != rh:
		return cmp.Compare(lh, rh)
	case ll != rl:
		return cmp.Compare(ll, rl)
	}
	return 0
}

// mul128 returns a·b as a 128-bit two's complement number: high and low
// words.
func mul128(a, b int64) (int64, uint64) {
	ua, ub := uint64(a), uint64(b)
	if a < 0 {
		ua = -ua
	}
	if b < 0 {
		ub = -ub
	}
	hi, lo := bits.Mul64(ua, ub)
	if (a < 0) != (b < 0) {
		lo = ^lo + 1
		hi = ^hi
		if lo == 0 {
			hi++
		}
	}
	return int64(hi), lo
}

// onSegment reports whether p lies on the closed segment e.
func onSegment(e *Edge, px, py int64) bool {
	x1, y1, x2, y2 := int64(e.X1), int64(e.Y1), int64(e.X2), int64(e.Y2)
	if px < min(x1, x2) || px > max(x1, x2) || py < min(y1, y2) || py > max(y1, y2) {
		return false
	}
	return orient(x1, y1, x2, y2, px, py) == 0
}

// Classify is onSegment and the winding rule at once, with one orientation test
// at most: on is whether p lies on e (closed); when it does not, step is
// that of the winding rule (the ray west, half-open in y; windingStep in
// the tests). An edge above, below, east or west of p needs none.
func Classify(e *Edge, px, py int64) (on bool, step int) {
	y1, y2 := int64(e.Y1), int64(e.Y2)
	if py < min(y1, y2) || py > max(y1, y2) {
		return false, 0 // off its rows: not on it, and no crossing (half-open in y)
	}
	x1, x2 := int64(e.X1), int64(e.X2)
	straddles := (y1 <= py) != (y2 <= py)
	switch {
	case px > max(x1, x2): // east of it: a crossing of the ray west when it straddles
		switch {
		case !straddles:
			return false, 0
		case y2 > y1:
			return false, -1
		}
		return false, 1
	case px < min(x1, x2): // west of it: the ray west cannot meet it
		return false, 0
	}
	o := orient(x1, y1, x2, y2, px, py)
	switch {
	case o == 0: // collinear, in its box
		return true, 0
	case !straddles:
		return false, 0
	case y2 > y1 && o < 0:
		return false, -1
	case y2 < y1 && o > 0:
		return false, 1
	}
	return false, 0
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
		on, step := Classify(&rg.edges[i], px, py)
		if on {
			return true
		}
		w += step
	}
	return w > 0
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
	return (d1 == 0 && onSegment(a, bx1, by1)) || (d2 == 0 && onSegment(a, bx2, by2)) ||
		(d3 == 0 && onSegment(b, ax1, ay1)) || (d4 == 0 && onSegment(b, ax2, ay2))
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
