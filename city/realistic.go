package city

import (
	"math"
	"math/rand/v2"
	"slices"

	"github.com/paulmach/orb"
	"github.com/roomstate/roomstate/coord"
)

// The realistic layout (Kind Realistic).
//
// Land is a lattice of small cells (about 60 m) inside an irregular outline,
// cut by a meandering river with tributaries and creeks, lakes (some with an
// island) and parks, all left empty. Residential compounds of heavy-tailed
// sizes (a few dozen to over ten thousand households, lognormal) are dropped
// on the land, densest around a main centre and a few sub-centres; each takes
// a blob of cells and a mix of walk-up, mid-rise or high-rise buildings.
// Districts, streets, communities and grids are grown from random seeds over
// the cells of their parent, balanced by dwellings, one connected component
// of the parent at a time; components too small for a unit of their own (an
// island, land between two creeks) join the nearest unit, which becomes
// multipart. Parks and lakes inside a unit are its holes.
//
// Boundaries are drawn on the lattice's corners, each displaced at random
// (so no edge is axis-aligned), and an edge on a street or district
// boundary, or on the shore, is drawn as a wiggling line of several pieces:
// streets get hundreds to thousands of vertices, communities tens. A corner's
// displacement and an edge's wiggle depend only on the seed and the corner or
// edge, so the units on both sides of an edge draw it identically and a level's
// units tile the city exactly. Every wiggle stays within the inner 40 % of the
// triangle between its edge and each neighbouring cell's centre, and buildings
// stand within the inner half of their cell, so they are strictly inside
// their units.

// Parameters of the realistic layout.
const (
	realCellM        = 60.0   // cell side without an extent, metres
	realLandPer      = 25     // dwellings per land cell (so the city's area follows N)
	realFill         = 0.42   // land cells over lattice cells (outline, water and parks)
	realEmptyWeight  = 2      // growth weight of a land cell besides its dwellings
	realCompact      = 3      // frontier cells a growing unit chooses among
	realTries        = 4      // growths of streets (twice as many of districts), the most balanced kept
	realJitter       = 0.2    // corner displacement, in cells, per axis
	realWiggle       = 0.4    // how far into its neighbours' triangles an edge may wiggle
	realBuildingArea = 0.5    // buildings stand within this share of their cell around its centre
	compoundMedian   = 800    // households of the median compound
	compoundSigma    = 0.8    // lognormal spread of compound sizes
	compoundMin      = 24     // households
	compoundMax      = 15_000 // households
)

// buildingType is a kind of residential building: floors and dwellings a
// floor, both inclusive ranges within 6–33 and 2–8.
type buildingType struct {
	name             string
	floorLo, floorHi int
	perLo, perHi     int
	density          float64 // households per km² of the compound's land
}

var buildingTypes = [...]buildingType{
	{"walk-up", 6, 7, 2, 4, 28_000},
	{"mid-rise", 8, 18, 2, 6, 24_000},
	{"high-rise", 18, 33, 2, 8, 20_000},
}

// compoundTypeOdds: chances of walk-up, mid-rise and high-rise by compound
// size. Most compounds are walk-ups (in Shanghai's, the median building
// holds about 22 households); large ones are more often high-rise.
func compoundTypeOdds(households int) [3]float64 {
	switch {
	case households < 500:
		return [3]float64{0.85, 0.1, 0.05}
	case households < 2000:
		return [3]float64{0.7, 0.2, 0.1}
	}
	return [3]float64{0.5, 0.3, 0.2}
}

// levelCounts is the number of units per level for n dwellings
// (PERFORMANCE.md: ~4, 36, 1,000 and 1,300 per million), each level at least
// as fine as its parent.
func levelCounts(n int) [4]int {
	per := float64(n) / 1e6
	counts := [4]int{
		max(1, int(math.Round(4*per))),
		max(1, int(math.Round(36*per))),
		max(1, int(math.Round(1000*per))),
		max(1, int(math.Round(1300*per))),
	}
	for l := 1; l < 4; l++ {
		counts[l] = max(counts[l], counts[l-1])
	}
	return counts
}

// realLayout is the working state of newRealistic.
type realLayout struct {
	c      *City
	rng    *rand.Rand
	land   []bool    // per cell: false for water, parks and outside the city
	weight []float64 // per cell: growth weight
	cells  []int32   // land cells, in index order
}

func newRealistic(cfg Config) *City {
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x7ea1157c))
	c := &City{cfg: cfg}
	landCells := max(400, cfg.N/realLandPer)
	total := float64(landCells) / realFill
	if cfg.Extent != (orb.Bound{}) {
		b := cfg.Extent
		kx := math.Cos(b.Center()[1] * math.Pi / 180)
		aspect := (b.Max[0] - b.Min[0]) * kx / (b.Max[1] - b.Min[1])
		c.cols = max(8, int(math.Round(math.Sqrt(total*aspect))))
		c.rows = max(8, int(math.Round(total/float64(c.cols))))
		c.blockLon = (b.Max[0] - b.Min[0]) / float64(c.cols)
		c.blockLat = (b.Max[1] - b.Min[1]) / float64(c.rows)
		c.lon0, c.lat0 = b.Min[0], b.Min[1]
	} else {
		side := max(8, int(math.Round(math.Sqrt(total))))
		c.cols, c.rows = side, side
		c.blockLat = realCellM / 111_320
		c.blockLon = c.blockLat / math.Cos(cfg.Center[1]*math.Pi/180)
		c.lon0 = roundE7(cfg.Center[0] - float64(side)/2*c.blockLon)
		c.lat0 = roundE7(cfg.Center[1] - float64(side)/2*c.blockLat)
	}
	n := c.cols * c.rows
	L := &realLayout{c: c, rng: rng, land: make([]bool, n), weight: make([]float64, n)}
	L.outline()
	L.rivers()
	L.lakes()
	L.parks()
	L.dropSpecks(5)
	for i, in := range L.land {
		if in {
			L.cells = append(L.cells, int32(i))
		}
	}
	if len(L.cells) == 0 { // a degenerate extent: keep the middle cell
		mid := int32(c.rows/2*c.cols + c.cols/2)
		L.land[mid] = true
		L.cells = append(L.cells, mid)
	}
	L.compounds()
	for _, b := range c.buildings {
		L.weight[b.block] += float64(b.size())
	}
	for _, b := range L.cells {
		L.weight[b] += realEmptyWeight
	}
	for l := range c.blockUnit {
		c.blockUnit[l] = make([]int32, n)
		for i := range c.blockUnit[l] {
			c.blockUnit[l][i] = -1
		}
	}
	counts := levelCounts(cfg.N)
	g := newGrower(c, L.weight)
	parents := []unit{{parent: -1, blocks: L.cells}}
	for l := 0; l < 4; l++ {
		quota := apportionWeight(counts[l], parents, L.weight)
		for pi, p := range parents {
			parts := g.grow(rng, p.blocks, quota[pi])
			// districts and streets: the most balanced of a few tries
			tries := map[int]int{0: 2 * realTries, 1: realTries}[l]
			for try := 1; try < tries; try++ {
				if alt := g.grow(rng, p.blocks, quota[pi]); imbalance(alt, L.weight) < imbalance(parts, L.weight) {
					parts = alt
				}
			}
			for _, k := range parts {
				ui := int32(len(c.units[l]))
				for _, b := range k {
					c.blockUnit[l][b] = ui
				}
				c.units[l] = append(c.units[l], unit{parent: int32(pi), blocks: k})
			}
		}
		parents = c.units[l]
	}
	c.nameUnits(rng)
	c.cut(cfg.N)
	return c
}

// norm returns a cell's centre in coordinates of the lattice's half-size:
// -1 to 1 across, 0 in the middle.
func (L *realLayout) norm(q, r int) (x, y float64) {
	c := L.c
	return (float64(q)+0.5)/float64(c.cols)*2 - 1, (float64(r)+0.5)/float64(c.rows)*2 - 1
}

// outline marks the land inside an irregular outline: an ellipse filling
// the lattice, its radius modulated by a few harmonics and a ragged shore.
func (L *realLayout) outline() {
	c, rng := L.c, L.rng
	var amp, phase [8]float64
	for k := 2; k < 8; k++ {
		amp[k] = (0.03 + 0.09*rng.Float64()) / math.Sqrt(float64(k))
		phase[k] = 2 * math.Pi * rng.Float64()
	}
	for r := 1; r < c.rows-1; r++ {
		for q := 1; q < c.cols-1; q++ {
			x, y := L.norm(q, r)
			th := math.Atan2(y, x)
			rad := 0.8
			for k := 2; k < 8; k++ {
				rad += 0.8 * amp[k] * math.Cos(float64(k)*th+phase[k])
			}
			rad += 0.03 * (unit01(hash3(c.cfg.Seed, tagShore, uint64(q), uint64(r))) - 0.5)
			if math.Hypot(x, y) < min(rad, 0.97) {
				L.land[r*c.cols+q] = true
			}
		}
	}
}

// paint calls fn for every cell whose centre lies within w/2 cells of the
// polyline pts (given in cells).
func (L *realLayout) paint(pts [][2]float64, w float64, fn func(i int)) {
	c := L.c
	h := w / 2
	for i := 0; i+1 < len(pts); i++ {
		a, b := pts[i], pts[i+1]
		q0, q1 := int(math.Floor(min(a[0], b[0])-h)), int(math.Ceil(max(a[0], b[0])+h))
		r0, r1 := int(math.Floor(min(a[1], b[1])-h)), int(math.Ceil(max(a[1], b[1])+h))
		for r := max(r0, 0); r <= min(r1, c.rows-1); r++ {
			for q := max(q0, 0); q <= min(q1, c.cols-1); q++ {
				if segDist(float64(q)+0.5, float64(r)+0.5, a, b) <= h {
					fn(r*c.cols + q)
				}
			}
		}
	}
}

func segDist(x, y float64, a, b [2]float64) float64 {
	dx, dy := b[0]-a[0], b[1]-a[1]
	t := 0.0
	if l2 := dx*dx + dy*dy; l2 > 0 {
		t = math.Max(0, math.Min(1, ((x-a[0])*dx+(y-a[1])*dy)/l2))
	}
	return math.Hypot(x-a[0]-t*dx, y-a[1]-t*dy)
}

// meander returns a path in cells from (x, y) heading dir (radians) for
// length cells, swinging from side to side.
func (L *realLayout) meander(x, y, dir, length, swing float64) [][2]float64 {
	rng := L.rng
	p1, p2 := 2*math.Pi*rng.Float64(), 2*math.Pi*rng.Float64()
	w1, w2 := length/(1.5+2*rng.Float64()), length/(5+6*rng.Float64())
	ux, uy := math.Cos(dir), math.Sin(dir)
	var pts [][2]float64
	for s := 0.0; s <= length; s += 0.5 {
		off := swing * (math.Sin(2*math.Pi*s/w1+p1) + 0.35*math.Sin(2*math.Pi*s/w2+p2))
		pts = append(pts, [2]float64{x + s*ux - off*uy, y + s*uy + off*ux})
	}
	return pts
}

// rivers cuts a main river across the city, tributaries from it and creeks.
func (L *realLayout) rivers() {
	c, rng := L.c, L.rng
	side := math.Sqrt(float64(c.cols * c.rows))
	wet := func(i int) { L.land[i] = false }
	// the main river: through the middle third, across the whole lattice
	dir := math.Pi * rng.Float64()
	cx := float64(c.cols) * (0.4 + 0.2*rng.Float64())
	cy := float64(c.rows) * (0.4 + 0.2*rng.Float64())
	span := math.Hypot(float64(c.cols), float64(c.rows))
	main := L.meander(cx-math.Cos(dir)*span/2, cy-math.Sin(dir)*span/2, dir, span, side*0.06)
	L.paint(main, max(3, side*0.014), wet)
	// tributaries leave it at an angle
	for t := 2 + rng.IntN(3); t > 0; t-- {
		at := main[len(main)/4+rng.IntN(len(main)/2)]
		d := dir + math.Pi/2*float64(1-2*rng.IntN(2)) + (rng.Float64()-0.5)*1.2
		L.paint(L.meander(at[0], at[1], d, side*(0.25+0.35*rng.Float64()), side*0.03), max(2, side*0.006), wet)
	}
	// creeks: short and narrow, anywhere
	for n := max(2, int(side/25)); n > 0; n-- {
		x, y := float64(c.cols)*(0.1+0.8*rng.Float64()), float64(c.rows)*(0.1+0.8*rng.Float64())
		L.paint(L.meander(x, y, 2*math.Pi*rng.Float64(), side*(0.06+0.14*rng.Float64()), side*0.01), 1.6, wet)
	}
}

// lakes digs a few lakes; a large one keeps an island in its middle.
func (L *realLayout) lakes() {
	c, rng := L.c, L.rng
	side := math.Sqrt(float64(c.cols * c.rows))
	for n := 1 + c.cfg.N/4_000_000; n > 0; n-- {
		rad := side * (0.025 + 0.02*rng.Float64())
		x, y := float64(c.cols)*(0.25+0.5*rng.Float64()), float64(c.rows)*(0.25+0.5*rng.Float64())
		island := rad * 0.3
		for r := max(0, int(y-rad-1)); r <= min(c.rows-1, int(y+rad+1)); r++ {
			for q := max(0, int(x-rad-1)); q <= min(c.cols-1, int(x+rad+1)); q++ {
				i := r*c.cols + q
				d := math.Hypot(float64(q)+0.5-x, float64(r)+0.5-y)
				wob := rad * (1 + 0.15*math.Sin(5*math.Atan2(float64(r)+0.5-y, float64(q)+0.5-x)))
				if d < wob && (rad < 5 || d >= island) {
					L.land[i] = false
				}
			}
		}
	}
}

// parks takes blobs of land of lognormal sizes out of the city.
func (L *realLayout) parks() {
	rng := L.rng
	var land []int32
	for i, in := range L.land {
		if in {
			land = append(land, int32(i))
		}
	}
	if len(land) == 0 {
		return
	}
	taken := make([]bool, len(L.land))
	for n := len(land) / 1200; n > 0; n-- {
		size := int(math.Min(600, math.Max(4, 25*math.Exp(0.9*rng.NormFloat64()))))
		start := land[rng.IntN(len(land))]
		if !L.land[start] {
			continue
		}
		for _, b := range L.blob(start, size, func(b int32) bool { return L.land[b] && !taken[b] }) {
			taken[b] = true
		}
	}
	for i, t := range taken {
		if t {
			L.land[i] = false
		}
	}
}

// dropSpecks takes land components of fewer than n cells (specks of the
// ragged shore, slivers between creeks) out of the city.
func (L *realLayout) dropSpecks(n int) {
	c := L.c
	seen := make([]bool, len(L.land))
	var comp []int32
	for i := range L.land {
		if !L.land[i] || seen[i] {
			continue
		}
		seen[i] = true
		comp = append(comp[:0], int32(i))
		for j := 0; j < len(comp); j++ {
			b := int(comp[j])
			for _, nb := range [4]int{b - 1, b + 1, b - c.cols, b + c.cols} {
				if nb >= 0 && nb < len(L.land) && L.land[nb] && !seen[nb] {
					seen[nb] = true
					comp = append(comp, int32(nb))
				}
			}
		}
		if len(comp) < n {
			for _, b := range comp {
				L.land[b] = false
			}
		}
	}
}

// blob grows a random connected set of up to size cells from start through
// cells that ok accepts (start must be accepted).
func (L *realLayout) blob(start int32, size int, ok func(int32) bool) []int32 {
	c, rng := L.c, L.rng
	seen := map[int32]bool{start: true}
	out := []int32{start}
	frontier := []int32(nil)
	push := func(b int32) {
		q, r := int(b)%c.cols, int(b)/c.cols
		for _, d := range [4][2]int{{1, 0}, {-1, 0}, {0, 1}, {0, -1}} {
			nq, nr := q+d[0], r+d[1]
			if nq < 0 || nr < 0 || nq >= c.cols || nr >= c.rows {
				continue
			}
			nb := int32(nr*c.cols + nq)
			if !seen[nb] && ok(nb) {
				seen[nb] = true
				frontier = append(frontier, nb)
			}
		}
	}
	push(start)
	for len(out) < size && len(frontier) > 0 {
		j := rng.IntN(len(frontier))
		b := frontier[j]
		frontier[j] = frontier[len(frontier)-1]
		frontier = frontier[:len(frontier)-1]
		out = append(out, b)
		push(b)
	}
	return out
}

// compounds drops compounds of heavy-tailed sizes on the land until the city
// has at least its dwellings, and builds their buildings (New cuts what the
// last compound built beyond N once the units are grown).
func (L *realLayout) compounds() {
	c, rng := L.c, L.rng
	// density: a main centre, sub-centres and a floor
	type centre struct{ x, y, s, w float64 }
	cs := []centre{{(rng.Float64() - 0.5) * 0.2, (rng.Float64() - 0.5) * 0.2, 0.2, 4}}
	for k := 3 + rng.IntN(5); k > 0; k-- {
		a, d := 2*math.Pi*rng.Float64(), 0.25+0.45*rng.Float64()
		cs = append(cs, centre{d * math.Cos(a), d * math.Sin(a), 0.05 + 0.08*rng.Float64(), 0.8 + 1.2*rng.Float64()})
	}
	cum := make([]float64, len(L.cells))
	acc := 0.0
	for i, b := range L.cells {
		x, y := L.norm(int(b)%c.cols, int(b)/c.cols)
		w := 0.06
		for _, ce := range cs {
			d2 := (x-ce.x)*(x-ce.x) + (y-ce.y)*(y-ce.y)
			w += ce.w * math.Exp(-d2/(2*ce.s*ce.s))
		}
		acc += w
		cum[i] = acc
	}
	used := make([]bool, len(L.land))
	cellKM2 := c.blockLat * 111.32 * c.blockLon * 111.32 * math.Cos((c.lat0+float64(c.rows)/2*c.blockLat)*math.Pi/180)
	free := func(b int32) bool { return L.land[b] && !used[b] }
	dwellings := 0
	for dwellings < c.cfg.N {
		hh := int(math.Round(compoundMedian * math.Exp(compoundSigma*rng.NormFloat64())))
		hh = min(max(hh, compoundMin), compoundMax)
		odds := compoundTypeOdds(hh)
		ti, x := 0, rng.Float64()
		for ti < 2 && x >= odds[ti] {
			x -= odds[ti]
			ti++
		}
		bt := &buildingTypes[ti]
		// where: by density; a taken cell sends the compound to the nearest free one
		var at int32 = -1
		for try := 0; try < 8 && at < 0; try++ {
			b := L.cells[searchCum(cum, rng.Float64()*acc)]
			if free(b) || try == 7 {
				at = b
			}
		}
		if !free(at) {
			if nb, ok := L.nearest(at, free); ok {
				at = nb
			}
		}
		need := max(1, int(math.Round(float64(hh)/bt.density/cellKM2)))
		var foot []int32
		if free(at) {
			foot = L.blob(at, need, free)
		} else {
			foot = []int32{at} // the city is full: build denser
		}
		for _, b := range foot {
			used[b] = true
		}
		first := len(c.buildings)
		got := 0
		for got < hh {
			floors := bt.floorLo + rng.IntN(bt.floorHi-bt.floorLo+1)
			per := bt.perLo + rng.IntN(bt.perHi-bt.perLo+1)
			if got > 0 && got+floors*per/2 > hh {
				break // the last building would overshoot by more than half
			}
			b := foot[rng.IntN(len(foot))]
			lon, lat := c.buildingPoint(b, rng.Float64(), rng.Float64())
			iso := 0.005
			if rng.Float64() < 0.1 {
				iso = 0.155
			}
			c.buildings = append(c.buildings, bld{lon: lon, lat: lat, block: b,
				floors: floors, perFl: per, isoP: iso})
			got += floors * per
			dwellings += floors * per
		}
		c.compounds = append(c.compounds, compound{dwellings: got, buildings: len(c.buildings) - first})
	}
}

// searchCum returns the first index whose cumulative weight reaches t.
func searchCum(cum []float64, t float64) int {
	i, _ := slices.BinarySearch(cum, t)
	return min(i, len(cum)-1)
}

// nearest finds the closest cell that ok accepts, breadth first through land
// (at most a few thousand cells).
func (L *realLayout) nearest(from int32, ok func(int32) bool) (int32, bool) {
	c := L.c
	seen := map[int32]bool{from: true}
	queue := []int32{from}
	for len(queue) > 0 && len(seen) < 20_000 {
		b := queue[0]
		queue = queue[1:]
		q, r := int(b)%c.cols, int(b)/c.cols
		for _, d := range [4][2]int{{1, 0}, {-1, 0}, {0, 1}, {0, -1}} {
			nq, nr := q+d[0], r+d[1]
			if nq < 0 || nr < 0 || nq >= c.cols || nr >= c.rows {
				continue
			}
			nb := int32(nr*c.cols + nq)
			if seen[nb] || !L.land[nb] {
				continue
			}
			if ok(nb) {
				return nb, true
			}
			seen[nb] = true
			queue = append(queue, nb)
		}
	}
	return 0, false
}

// apportionWeight splits n children among parents in proportion to their
// weight, at least one each and at most one per cell.
func apportionWeight(n int, parents []unit, weight []float64) []int {
	w := make([]float64, len(parents))
	total := 0.0
	for i, p := range parents {
		for _, b := range p.blocks {
			w[i] += weight[b]
		}
		total += w[i]
	}
	out := make([]int, len(parents))
	rem := make([]float64, len(parents))
	given := 0
	for i := range parents {
		exact := float64(n) * w[i] / total
		out[i] = min(max(1, int(exact)), len(parents[i].blocks))
		rem[i] = exact - float64(int(exact))
		given += out[i]
	}
	for given < n {
		best := -1
		for i := range parents {
			if out[i] < len(parents[i].blocks) && (best < 0 || rem[i] > rem[best]) {
				best = i
			}
		}
		if best < 0 {
			break
		}
		out[best]++
		rem[best] -= 1
		given++
	}
	return out
}

// grower splits sets of cells into balanced connected parts, reusing its
// per-cell arrays across calls.
type grower struct {
	c      *City
	weight []float64
	stamp  []int32 // per cell: call number when the cell is in the current set
	owner  []int32 // per cell: part (or component) index in the current call
	call   int32
}

func newGrower(c *City, weight []float64) *grower {
	n := c.cols * c.rows
	return &grower{c: c, weight: weight, stamp: make([]int32, n), owner: make([]int32, n)}
}

// neighbours calls fn for the 4-neighbours of b that are in the current set.
func (g *grower) neighbours(b int32, fn func(nb int32)) {
	cols := int32(g.c.cols)
	q, r := b%cols, b/cols
	if q > 0 && g.stamp[b-1] == g.call {
		fn(b - 1)
	}
	if q+1 < cols && g.stamp[b+1] == g.call {
		fn(b + 1)
	}
	if r > 0 && g.stamp[b-cols] == g.call {
		fn(b - cols)
	}
	if int(r+1) < g.c.rows && g.stamp[b+cols] == g.call {
		fn(b + cols)
	}
}

// grow splits cells into k parts of similar weight. Each connected component
// big enough gets seeds in proportion to its weight, and from them the
// lightest part takes a random cell of its frontier until the component is
// taken; a component too small for a part of its own joins the part with the
// nearest centre.
func (g *grower) grow(rng *rand.Rand, cells []int32, k int) [][]int32 {
	g.call++
	for _, b := range cells {
		g.stamp[b] = g.call
		g.owner[b] = -1
	}
	// connected components, in order of their first cell
	var comps [][]int32
	var cw []float64
	for _, b := range cells {
		if g.owner[b] != -1 {
			continue
		}
		ci := int32(len(comps))
		g.owner[b] = -2 - ci
		comp := []int32{b}
		w := 0.0
		for i := 0; i < len(comp); i++ {
			w += g.weight[comp[i]]
			g.neighbours(comp[i], func(nb int32) {
				if g.owner[nb] == -1 {
					g.owner[nb] = -2 - ci
					comp = append(comp, nb)
				}
			})
		}
		comps = append(comps, comp)
		cw = append(cw, w)
	}
	total := 0.0
	for _, w := range cw {
		total += w
	}
	// seeds per component by largest remainders, only where at least half a
	// part fits (the heaviest component always qualifies)
	heaviest := 0
	for ci := range cw {
		if cw[ci] > cw[heaviest] {
			heaviest = ci
		}
	}
	exact := make([]float64, len(comps))
	seeds := make([]int, len(comps))
	given := 0
	for ci, w := range cw {
		exact[ci] = float64(k) * w / total
		if exact[ci] >= 0.5 || ci == heaviest {
			seeds[ci] = min(int(exact[ci]), len(comps[ci]))
			given += seeds[ci]
		}
	}
	for all := false; given < k; {
		best := -1
		for ci := range comps {
			ok := all || exact[ci] >= 0.5 || ci == heaviest
			if ok && seeds[ci] < len(comps[ci]) && (best < 0 || exact[ci]-float64(seeds[ci]) > exact[best]-float64(seeds[best])) {
				best = ci
			}
		}
		if best < 0 {
			if all {
				break
			}
			all = true // tiny parents: let small components have parts too
			continue
		}
		seeds[best]++
		given++
	}
	var parts [][]int32
	var load []float64
	for ci, comp := range comps {
		if seeds[ci] == 0 {
			continue
		}
		first := len(parts)
		frontier := make([][]int32, seeds[ci])
		h := &partHeap{}
		for j, b := range weightedSample(rng, comp, g.weight, seeds[ci]) {
			g.owner[b] = int32(first + j)
			parts = append(parts, []int32{b})
			load = append(load, g.weight[b])
		}
		h.load = load
		for j := 0; j < seeds[ci]; j++ {
			b := parts[first+j][0]
			g.neighbours(b, func(nb int32) { frontier[j] = append(frontier[j], nb) })
			h.push(first + j)
		}
		for h.len() > 0 {
			i := h.pop()
			fi := i - first
			// the best of a few free cells of the frontier: the one with
			// most neighbours in the part, which keeps parts compact
			fr := frontier[fi]
			best, bestScore := -1, -1
			for tries := 0; tries < realCompact && len(fr) > 0; {
				j := rng.IntN(len(fr))
				if g.owner[fr[j]] >= 0 { // taken meanwhile: drop it
					last := len(fr) - 1
					fr[j] = fr[last]
					fr = fr[:last]
					if best == last {
						best = j
					}
					continue
				}
				tries++
				score := 0
				g.neighbours(fr[j], func(x int32) {
					if g.owner[x] == int32(i) {
						score++
					}
				})
				if score > bestScore {
					best, bestScore = j, score
				}
			}
			if best < 0 {
				frontier[fi] = fr
				continue // part i cannot grow any more
			}
			nb := fr[best]
			fr[best] = fr[len(fr)-1]
			frontier[fi] = fr[:len(fr)-1]
			g.owner[nb] = int32(i)
			parts[i] = append(parts[i], nb)
			load[i] += g.weight[nb]
			g.neighbours(nb, func(x int32) {
				if g.owner[x] < 0 {
					frontier[fi] = append(frontier[fi], x)
				}
			})
			h.load = load
			h.push(i)
		}
	}
	// components without a seed join the part whose centre is nearest
	cols := int32(g.c.cols)
	cx, cy := make([]float64, len(parts)), make([]float64, len(parts))
	for i, p := range parts {
		for _, b := range p {
			cx[i] += float64(b % cols)
			cy[i] += float64(b / cols)
		}
		cx[i] /= float64(len(p))
		cy[i] /= float64(len(p))
	}
	for ci, comp := range comps {
		if seeds[ci] > 0 {
			continue
		}
		x, y := float64(comp[0]%cols), float64(comp[0]/cols)
		best := 0
		for i := range parts {
			if d := math.Hypot(cx[i]-x, cy[i]-y); d < math.Hypot(cx[best]-x, cy[best]-y) {
				best = i
			}
		}
		parts[best] = append(parts[best], comp...)
	}
	for _, p := range parts {
		slices.Sort(p)
	}
	return parts
}

// imbalance is the heaviest part's weight over the lightest's.
func imbalance(parts [][]int32, weight []float64) float64 {
	lo, hi := math.Inf(1), 0.0
	for _, p := range parts {
		w := 0.0
		for _, b := range p {
			w += weight[b]
		}
		lo, hi = min(lo, w), max(hi, w)
	}
	return hi / lo
}

// weightedSample picks k distinct cells, each with a chance in proportion
// to its weight (Efraimidis and Spirakis: the k smallest of Exp(1)/weight),
// so units start where people live and empty land joins them.
func weightedSample(rng *rand.Rand, cells []int32, weight []float64, k int) []int32 {
	type keyed struct {
		key float64
		b   int32
	}
	ks := make([]keyed, len(cells))
	for i, b := range cells {
		ks[i] = keyed{rng.ExpFloat64() / weight[b], b}
	}
	slices.SortFunc(ks, func(x, y keyed) int {
		switch {
		case x.key < y.key:
			return -1
		case x.key > y.key:
			return 1
		}
		return int(x.b - y.b)
	})
	out := make([]int32, k)
	for i := range out {
		out[i] = ks[i].b
	}
	return out
}

// buildingPoint places a building at (u, v) ∈ [0, 1)² of the inner part of
// cell b, clear of every boundary that can be drawn along the cell's edges.
func (c *City) buildingPoint(b int32, u, v float64) (lon, lat int32) {
	q, r := b%int32(c.cols), b/int32(c.cols)
	var cs [4]orb.Point
	for i, d := range [4][2]int32{{0, 0}, {1, 0}, {1, 1}, {0, 1}} {
		cs[i] = c.corner(vertex{q + d[0], r + d[1]})
	}
	ctr := cellCentre(cs)
	for i := range cs {
		cs[i] = orb.Point{ctr[0] + realBuildingArea*(cs[i][0]-ctr[0]), ctr[1] + realBuildingArea*(cs[i][1]-ctr[1])}
	}
	var p orb.Point
	for k := 0; k < 2; k++ {
		p[k] = (1-u)*(1-v)*cs[0][k] + u*(1-v)*cs[1][k] + u*v*cs[2][k] + (1-u)*v*cs[3][k]
	}
	return coord.ToE7(p[0]), coord.ToE7(p[1])
}

func cellCentre(cs [4]orb.Point) orb.Point {
	return orb.Point{(cs[0][0] + cs[1][0] + cs[2][0] + cs[3][0]) / 4, (cs[0][1] + cs[1][1] + cs[2][1] + cs[3][1]) / 4}
}
