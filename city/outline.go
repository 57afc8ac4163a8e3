package city

import (
	"github.com/paulmach/orb"
	"github.com/paulmach/orb/planar"
)

// vertex is a lattice corner: column, row.
type vertex struct{ q, r int32 }

// outline returns the boundary of a union of blocks as a MultiPolygon: outer
// rings counter-clockwise, holes clockwise, collinear vertices removed. Where
// two blocks touch only at a corner, the rings turn left there, so they touch
// at that point without crossing.
func (c *City) outline(blocks []int32) orb.MultiPolygon {
	in := make(map[int32]bool, len(blocks))
	for _, b := range blocks {
		in[b] = true
	}
	has := func(q, r int32) bool {
		if q < 0 || r < 0 || int(q) >= c.cols || int(r) >= c.rows {
			return false
		}
		return in[r*int32(c.cols)+q]
	}
	var rings [][]vertex
	for _, ring := range traceRings(blocks, int32(c.cols), has) {
		for _, loop := range splitLoops(ring) {
			rings = append(rings, simplifyRing(loop))
		}
	}
	// outers (counter-clockwise) and holes (clockwise)
	var polys orb.MultiPolygon
	var holes []orb.Ring
	for _, vr := range rings {
		ring := make(orb.Ring, len(vr))
		for i, v := range vr {
			ring[i] = orb.Point{roundE7(c.lon0 + float64(v.q)*c.blockLon), roundE7(c.lat0 + float64(v.r)*c.blockLat)}
		}
		if ring.Orientation() == orb.CCW {
			polys = append(polys, orb.Polygon{ring})
		} else {
			holes = append(holes, ring)
		}
	}
	for _, h := range holes {
		// a point just inside the hole: off the middle of its first edge, to the right
		a, b := h[0], h[1]
		mid := orb.Point{(a[0] + b[0]) / 2, (a[1] + b[1]) / 2}
		dx, dy := b[0]-a[0], b[1]-a[1]
		probe := orb.Point{mid[0] + dy*0.01, mid[1] - dx*0.01}
		best := -1
		for i, p := range polys {
			if planar.RingContains(p[0], probe) {
				if best < 0 || planar.Area(p[0]) < planar.Area(polys[best][0]) {
					best = i
				}
			}
		}
		if best >= 0 {
			polys[best] = append(polys[best], h)
		}
	}
	return polys
}

// traceRings returns the boundary of a union of lattice cells (cell b is
// column b%cols, row b/cols; has says whether a cell is in the union) as
// closed rings of lattice corners, first vertex repeated last: the cells on
// the left of every edge, so outer rings run counter-clockwise and holes
// clockwise. Where two cells of the union touch only at a corner, the rings
// turn left there, so no ring visits a vertex twice: rings touch at that
// point without crossing. Every corner is kept, collinear or not.
func traceRings(blocks []int32, cols int32, has func(q, r int32) bool) [][]vertex {
	// directed boundary edges with the blocks on their left
	next := map[vertex][]vertex{}
	add := func(a, b vertex) { next[a] = append(next[a], b) }
	for _, b := range blocks {
		q, r := b%cols, b/cols
		if !has(q, r-1) {
			add(vertex{q, r}, vertex{q + 1, r})
		}
		if !has(q+1, r) {
			add(vertex{q + 1, r}, vertex{q + 1, r + 1})
		}
		if !has(q, r+1) {
			add(vertex{q + 1, r + 1}, vertex{q, r + 1})
		}
		if !has(q-1, r) {
			add(vertex{q, r + 1}, vertex{q, r})
		}
	}
	var rings [][]vertex
	for len(next) > 0 {
		var start vertex
		first := true
		for v := range next { // the smallest remaining vertex, for determinism
			if first || v.r < start.r || v.r == start.r && v.q < start.q {
				start, first = v, false
			}
		}
		ring := []vertex{start}
		cur := start
		prevDir := vertex{0, 0}
		for {
			outs := next[cur]
			k := 0
			if len(outs) > 1 {
				// turn left: prefer the edge whose direction is the left of the incoming one
				left := vertex{-prevDir.r, prevDir.q}
				for i, o := range outs {
					if (vertex{o.q - cur.q, o.r - cur.r}) == left {
						k = i
					}
				}
			}
			nx := outs[k]
			outs = append(outs[:k], outs[k+1:]...)
			if len(outs) == 0 {
				delete(next, cur)
			} else {
				next[cur] = outs
			}
			prevDir = vertex{nx.q - cur.q, nx.r - cur.r}
			cur = nx
			ring = append(ring, cur)
			if cur == start {
				break
			}
		}
		rings = append(rings, ring)
	}
	return rings
}

// simplifyRing drops vertices where the ring goes straight on.
func simplifyRing(r []vertex) []vertex {
	// r is closed: r[0] == r[len-1]
	pts := r[:len(r)-1]
	n := len(pts)
	var out []vertex
	for i := 0; i < n; i++ {
		p, v, nx := pts[(i+n-1)%n], pts[i], pts[(i+1)%n]
		if (v.q-p.q)*(nx.r-v.r) == (v.r-p.r)*(nx.q-v.q) && (v.q-p.q)*(nx.q-v.q)+(v.r-p.r)*(nx.r-v.r) > 0 {
			continue
		}
		out = append(out, v)
	}
	return append(out, out[0])
}
