package city

import (
	"math"

	"github.com/paulmach/orb"
)

// corner is the position of lattice corner v in the realistic layout:
// displaced by up to realJitter cells on each axis, so every cell stays a
// convex quadrilateral and the corner's neighbours all see it in one place.
func (c *City) corner(v vertex) orb.Point {
	s := c.cfg.Seed
	jx := realJitter * (2*unit01(hash3(s, tagCornerX, uint64(uint32(v.q)), uint64(uint32(v.r)))) - 1)
	jy := realJitter * (2*unit01(hash3(s, tagCornerY, uint64(uint32(v.q)), uint64(uint32(v.r)))) - 1)
	return orb.Point{c.lon0 + (float64(v.q)+jx)*c.blockLon, c.lat0 + (float64(v.r)+jy)*c.blockLat}
}

// cellAt is the index of the cell at column q, row r, or -1 off the lattice.
func (c *City) cellAt(q, r int32) int32 {
	if q < 0 || r < 0 || int(q) >= c.cols || int(r) >= c.rows {
		return -1
	}
	return r*int32(c.cols) + q
}

// edgePieces is how many straight pieces the lattice edge between cells a
// and b is drawn with: one inside a community, more on a street boundary,
// most on a district boundary; the shore (land against water, parks or the
// outside) is moderately ragged. Both sides compute the same.
func (c *City) edgePieces(a, b int32, eid uint64) int {
	h := hash3(c.cfg.Seed, tagEdgePieces, eid, 0)
	if a < 0 || b < 0 || c.blockUnit[0][a] < 0 || c.blockUnit[0][b] < 0 {
		return 1 + int(h%3) // shore: 1–3
	}
	switch {
	case c.blockUnit[0][a] != c.blockUnit[0][b]:
		return 4 + int(h%6) // district: 4–9
	case c.blockUnit[1][a] != c.blockUnit[1][b]:
		return 2 + int(h%5) // street: 2–6
	}
	return 1
}

// appendEdge appends the drawing of lattice edge a→b to dst: a's position and
// the wiggle points after it, not b. The wiggle is a function of the edge
// (drawn from its lower corner to its higher one and reversed as needed),
// and stays inside the inner realWiggle share of the triangles between the
// edge and the centres of its two cells, where no other edge goes and no
// building stands.
func (c *City) appendEdge(dst orb.Ring, a, b vertex) orb.Ring {
	dst = append(dst, roundPoint(c.corner(a)))
	p, q := a, b
	rev := false
	if b.q < a.q || b.r < a.r {
		p, q, rev = b, a, true
	}
	var left, right int32 // cells left and right of p→q
	var eid uint64
	cols := uint64(c.cols + 1)
	if p.r == q.r { // eastward: north cell on the left
		left, right = c.cellAt(p.q, p.r), c.cellAt(p.q, p.r-1)
		eid = 2 * (uint64(p.r)*cols + uint64(p.q))
	} else { // northward: west cell on the left
		left, right = c.cellAt(p.q-1, p.r), c.cellAt(p.q, p.r)
		eid = 2*(uint64(p.r)*cols+uint64(p.q)) + 1
	}
	k := c.edgePieces(left, right, eid)
	if k == 1 {
		return dst
	}
	P, Q := c.corner(p), c.corner(q)
	C1, C2 := c.centreOf(left), c.centreOf(right)
	ex, ey := Q[0]-P[0], Q[1]-P[1]
	l2 := ex*ex + ey*ey
	L := math.Sqrt(l2)
	nx, ny := -ey/L, ex/L // left normal
	// each cell's triangle over the edge: its height and where its apex projects
	v1 := (C1[0]-P[0])*nx + (C1[1]-P[1])*ny
	t1 := ((C1[0]-P[0])*ex + (C1[1]-P[1])*ey) / l2
	v2 := -((C2[0]-P[0])*nx + (C2[1]-P[1])*ny)
	t2 := ((C2[0]-P[0])*ex + (C2[1]-P[1])*ey) / l2
	tent := func(t, tc, v float64) float64 {
		if t <= tc {
			return v * t / tc
		}
		return v * (1 - t) / (1 - tc)
	}
	s := c.cfg.Seed
	pts := make([]orb.Point, 0, k-1)
	z := 0.0
	for i := 1; i < k; i++ {
		t := (float64(i) + 0.5*(unit01(hash3(s, tagEdgeT, eid, uint64(i)))-0.5)) / float64(k)
		z = 0.5*z + 0.9*(2*unit01(hash3(s, tagEdgeV, eid, uint64(i)))-1)
		z = math.Max(-1, math.Min(1, z))
		var off float64
		if z > 0 {
			off = z * realWiggle * tent(t, t1, v1)
		} else {
			off = z * realWiggle * tent(t, t2, v2)
		}
		pts = append(pts, roundPoint(orb.Point{P[0] + t*ex + off*nx, P[1] + t*ey + off*ny}))
	}
	if rev {
		for i := len(pts) - 1; i >= 0; i-- {
			dst = append(dst, pts[i])
		}
		return dst
	}
	return append(dst, pts...)
}

// centreOf is the mean of a cell's displaced corners.
func (c *City) centreOf(cell int32) orb.Point {
	q, r := cell%int32(c.cols), cell/int32(c.cols)
	var cs [4]orb.Point
	for i, d := range [4][2]int32{{0, 0}, {1, 0}, {1, 1}, {0, 1}} {
		cs[i] = c.corner(vertex{q + d[0], r + d[1]})
	}
	return cellCentre(cs)
}

func roundPoint(p orb.Point) orb.Point { return orb.Point{roundE7(p[0]), roundE7(p[1])} }

// raggedOutline draws the unit ui of level l of the realistic layout as a
// MultiPolygon: outer rings counter-clockwise with their holes clockwise.
// Rings are traced and nested on the lattice, where it is exact, then drawn
// with displaced corners and wiggling edges, which keeps their topology.
func (c *City) raggedOutline(l int, ui int32) orb.MultiPolygon {
	owner := c.blockUnit[l]
	has := func(q, r int32) bool {
		b := c.cellAt(q, r)
		return b >= 0 && owner[b] == ui
	}
	var rings [][]vertex
	for _, r := range traceRings(c.units[l][ui].blocks, int32(c.cols), has) {
		rings = append(rings, splitLoops(r)...)
	}
	type outer struct {
		ring []vertex
		area int64
		poly int
	}
	var outers []outer
	var holes [][]vertex
	for _, r := range rings {
		if a := area2(r); a > 0 {
			outers = append(outers, outer{ring: r, area: a})
		} else {
			holes = append(holes, r)
		}
	}
	mp := make(orb.MultiPolygon, len(outers))
	for i := range outers {
		mp[i] = orb.Polygon{c.drawRing(outers[i].ring)}
	}
	for _, h := range holes {
		// the centre of the cell right of the hole's first edge is inside the hole
		a, b := h[0], h[1]
		px := float64(a.q+b.q)/2 + float64(b.r-a.r)/2
		py := float64(a.r+b.r)/2 - float64(b.q-a.q)/2
		best := -1
		for i, o := range outers {
			if ringContains(o.ring, px, py) && (best < 0 || o.area < outers[best].area) {
				best = i
			}
		}
		if best >= 0 {
			mp[best] = append(mp[best], c.drawRing(h))
		}
	}
	return mp
}

// drawRing draws a closed lattice ring with displaced corners and wiggles.
func (c *City) drawRing(r []vertex) orb.Ring {
	out := make(orb.Ring, 0, 2*len(r))
	for i := 0; i+1 < len(r); i++ {
		out = c.appendEdge(out, r[i], r[i+1])
	}
	return append(out, out[0])
}

// area2 is twice the signed area of a closed lattice ring (positive:
// counter-clockwise).
func area2(r []vertex) int64 {
	var a int64
	for i := 0; i+1 < len(r); i++ {
		a += int64(r[i].q)*int64(r[i+1].r) - int64(r[i+1].q)*int64(r[i].r)
	}
	return a
}

// ringContains tests a point that is on no lattice line against a closed
// lattice ring.
func ringContains(r []vertex, x, y float64) bool {
	in := false
	for i := 0; i+1 < len(r); i++ {
		a, b := r[i], r[i+1]
		if a.q != b.q {
			continue // horizontal edges never cross the ray
		}
		lo, hi := min(a.r, b.r), max(a.r, b.r)
		if float64(a.q) > x && float64(lo) < y && y < float64(hi) {
			in = !in
		}
	}
	return in
}

// splitLoops splits a closed lattice ring that passes a vertex more than
// once into simple closed rings touching there. traceRings turns left where
// two cells of a unit touch only at a corner, which separates two parts
// that touch there; but when the parts are joined elsewhere (a C whose tips
// touch), the one ring around them passes the corner twice, and the piece
// between the two passes is a hole touching the outer ring at that point.
func splitLoops(r []vertex) [][]vertex {
	at := make(map[vertex]int, len(r))
	var out [][]vertex
	stack := make([]vertex, 0, len(r))
	for _, v := range r[:len(r)-1] {
		if j, ok := at[v]; ok {
			loop := append(append([]vertex(nil), stack[j:]...), v)
			out = append(out, loop)
			for _, w := range stack[j+1:] {
				delete(at, w)
			}
			stack = stack[:j+1]
			continue
		}
		at[v] = len(stack)
		stack = append(stack, v)
	}
	return append(out, append(stack, stack[0]))
}
