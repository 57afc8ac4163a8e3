package engine_test

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/paulmach/orb"
	"github.com/roomstate/roomstate/city"
	"github.com/roomstate/roomstate/coord"
	"github.com/roomstate/roomstate/engine"
	"github.com/roomstate/roomstate/fault"
	"github.com/roomstate/roomstate/internal/testseed"
	"github.com/roomstate/roomstate/region"
)

type testCity struct {
	city *city.City
	eng  *engine.Writer
	pts  [][2]int32 // every dwelling point
	recs []rec      // every dwelling, as generated
}

// rec is a generated dwelling, kept apart from the engine for the oracle.
type rec struct {
	id    string
	x, y  int32
	flags uint64    // bit i: flag i of city.FlagNames
	units [5]string // district, street, community, grid, building
}

var (
	cityOnce sync.Map // key → *testCity
)

// loadCity generates and loads a disc city once per (n, seed, band) in the test binary.
func loadCity(t testing.TB, n int, seed uint64, band int32) *testCity {
	t.Helper()
	return loadCityKind(t, n, seed, band, city.Disc)
}

// loadCityKind generates and loads a city of a kind once per (n, seed,
// band, kind) in the test binary.
func loadCityKind(t testing.TB, n int, seed uint64, band int32, kind city.Kind) *testCity {
	t.Helper()
	key := fmt.Sprint(n, seed, band, kind)
	if v, ok := cityOnce.Load(key); ok {
		return v.(*testCity)
	}
	c := city.New(city.Config{N: n, Seed: seed, Kind: kind})
	b, err := c.Batch()
	if err != nil {
		t.Fatal(err)
	}
	e := engine.New(engine.Options{BandHeight: band})
	if err := e.Load(b); err != nil {
		t.Fatal(err)
	}
	if err := e.AddBoundaries(c.Boundaries()); err != nil {
		t.Fatal(err)
	}
	tc := &testCity{city: c, eng: e}
	_ = c.Dwellings(func(r *engine.Record) error {
		x, y := coord.ToE7(r.Lon), coord.ToE7(r.Lat)
		tc.pts = append(tc.pts, [2]int32{x, y})
		var fl uint64
		if len(r.Flags) > 0 {
			fl = r.Flags[0]
		}
		tc.recs = append(tc.recs, rec{id: r.ID, x: x, y: y, flags: fl,
			units: [5]string{r.District, r.Street, r.Community, r.Grid, r.Building}})
		return nil
	})
	cityOnce.Store(key, tc)
	return tc
}

// polygon generators ------------------------------------------------------

func deg(v int32) float64 { return coord.FromE7(v) }

// star returns a closed counter-clockwise star-shaped ring around c: concave
// as soon as the radii vary.
func star(rng *rand.Rand, cx, cy, rmin, rmax float64, n int) orb.Ring {
	ring := make(orb.Ring, 0, n+1)
	for i := 0; i < n; i++ {
		a := 2 * math.Pi * (float64(i) + 0.8*rng.Float64()) / float64(n)
		r := rmin + (rmax-rmin)*rng.Float64()
		ring = append(ring, orb.Point{round7(cx + r*math.Cos(a)), round7(cy + r*math.Sin(a))})
	}
	return append(ring, ring[0])
}

func round7(v float64) float64 { return math.Round(v*1e7) / 1e7 }

// randomGeometry makes one of the kinds of query polygon the oracle checks.
func (tc *testCity) randomGeometry(rng *rand.Rand, kind int) orb.MultiPolygon {
	p := tc.pts[rng.IntN(len(tc.pts))]
	cx, cy := deg(p[0]), deg(p[1])
	size := 0.002 + 0.03*rng.Float64()*rng.Float64()
	switch kind {
	case 0: // concave star
		return orb.MultiPolygon{{star(rng, cx, cy, size*0.3, size, 3+rng.IntN(40))}}
	case 1: // star with a hole (and sometimes two)
		outer := star(rng, cx, cy, size*0.6, size, 5+rng.IntN(30))
		poly := orb.Polygon{outer}
		hole := star(rng, cx, cy, size*0.1, size*0.45, 3+rng.IntN(12))
		slices.Reverse(hole)
		poly = append(poly, hole)
		return orb.MultiPolygon{poly}
	case 2: // multipolygon of two or three stars, which may overlap
		var mp orb.MultiPolygon
		for k := 0; k < 2+rng.IntN(2); k++ {
			q := tc.pts[rng.IntN(len(tc.pts))]
			if rng.IntN(2) == 0 {
				q = [2]int32{p[0] + int32(rng.IntN(200000)-100000), p[1] + int32(rng.IntN(200000)-100000)}
			}
			mp = append(mp, orb.Polygon{star(rng, deg(q[0]), deg(q[1]), size*0.2, size*0.7, 3+rng.IntN(20))})
		}
		return mp
	case 3: // a star whose vertices sit exactly on dwelling points
		ring := star(rng, cx, cy, size*0.3, size, 6+rng.IntN(20))
		for i := 0; i < len(ring)-1; i++ {
			if rng.IntN(2) == 0 {
				if q, ok := tc.nearest(ring[i]); ok {
					ring[i] = orb.Point{deg(q[0]), deg(q[1])}
				}
			}
		}
		ring[len(ring)-1] = ring[0]
		return orb.MultiPolygon{{ring}}
	case 4: // a rectangle whose sides pass exactly through dwellings
		a := tc.pts[rng.IntN(len(tc.pts))]
		b := tc.pts[rng.IntN(len(tc.pts))]
		for i := 0; i < 50 && (absI(a[0]-b[0]) > 600000 || absI(a[1]-b[1]) > 600000 || a[0] == b[0] || a[1] == b[1]); i++ {
			b = tc.pts[rng.IntN(len(tc.pts))]
		}
		x0, x1 := deg(min(a[0], b[0])), deg(max(a[0], b[0]))
		y0, y1 := deg(min(a[1], b[1])), deg(max(a[1], b[1]))
		if x0 == x1 || y0 == y1 {
			x1, y1 = x0+0.001, y0+0.001
		}
		return orb.MultiPolygon{{{{x0, y0}, {x1, y0}, {x1, y1}, {x0, y1}, {x0, y0}}}}
	case 5: // a triangle with a sloping edge through a dwelling point
		dx, dy := int32(rng.IntN(40000)+1000), int32(rng.IntN(40000)-20000)
		if dy == 0 {
			dy = 7
		}
		a := orb.Point{deg(p[0] - dx), deg(p[1] - dy)}
		b := orb.Point{deg(p[0] + dx), deg(p[1] + dy)} // p is the midpoint of a→b
		side := float64(rng.IntN(2)*2-1) * size
		c := orb.Point{round7(cx - float64(dy)/1e7*side/0.01), round7(cy + float64(dx)/1e7*side/0.01)}
		return orb.MultiPolygon{{{a, b, c, a}}}
	case 6: // a generated unit boundary: rectilinear (disc) or ragged (realistic), concave, maybe with holes
		bs := tc.city.Boundaries()
		return bs[rng.IntN(len(bs))].Geometry
	case 7: // a big polygon: most of the city
		return orb.MultiPolygon{{star(rng, cx, cy, 0.05, 0.3, 8+rng.IntN(30))}}
	case 8: // a unit boundary with vertices moved exactly onto dwellings near them
		return tc.snapped(rng, false)
	default: // a unit boundary with edges through dwellings near it, at their midpoints
		return tc.snapped(rng, true)
	}
}

const numKinds = 10

// snapped takes a unit boundary (a street or a community, the raggedest on
// the realistic city) and moves vertices onto dwellings near them: each
// vertex itself, or (through) the vertex replaced by an edge whose
// midpoint is the dwelling, so that the boundary passes exactly through it.
// The result may cross itself; the caller skips what region.New refuses.
func (tc *testCity) snapped(rng *rand.Rand, through bool) orb.MultiPolygon {
	var bs []engine.Boundary
	for _, b := range tc.city.Boundaries() {
		if b.Level == engine.LevelStreet || b.Level == engine.LevelCommunity {
			bs = append(bs, b)
		}
	}
	src := bs[rng.IntN(len(bs))].Geometry
	var mp orb.MultiPolygon
	for _, poly := range src {
		var np orb.Polygon
		for _, ring := range poly {
			pts := make([][2]int32, len(ring)-1)
			for i := range pts {
				pts[i] = [2]int32{coord.ToE7(ring[i][0]), coord.ToE7(ring[i][1])}
			}
			// some vertices, each with the dwelling nearest to it
			moved := map[int][2]int32{}
			for k := 0; k < min(12, len(pts)/3); k++ {
				i := rng.IntN(len(pts))
				p := pts[i]
				best, bd := [2]int32{}, int64(math.MaxInt64)
				for _, d := range tc.pts {
					dx, dy := int64(p[0]-d[0]), int64(p[1]-d[1])
					if dd := dx*dx + dy*dy; dd < bd {
						best, bd = d, dd
					}
				}
				if bd < 20_000*20_000 {
					moved[i] = best
				}
			}
			var out orb.Ring
			for i, p := range pts {
				d, ok := moved[i]
				switch {
				case !ok:
					out = append(out, orb.Point{deg(p[0]), deg(p[1])})
				case !through:
					out = append(out, orb.Point{deg(d[0]), deg(d[1])})
				default: // an edge from d-v to d+v along the ring's direction there
					prev, next := pts[(i+len(pts)-1)%len(pts)], pts[(i+1)%len(pts)]
					vx, vy := (next[0]-prev[0])/64, (next[1]-prev[1])/64
					if vx == 0 && vy == 0 {
						vx = 1
					}
					out = append(out, orb.Point{deg(d[0] - vx), deg(d[1] - vy)}, orb.Point{deg(d[0] + vx), deg(d[1] + vy)})
				}
			}
			np = append(np, append(out, out[0]))
		}
		mp = append(mp, np)
	}
	return mp
}

func absI(v int32) int32 {
	if v < 0 {
		return -v
	}
	return v
}

func (tc *testCity) nearest(p orb.Point) ([2]int32, bool) {
	best, bd := [2]int32{}, math.Inf(1)
	for i := 0; i < 400; i++ {
		q := tc.pts[(i*7919)%len(tc.pts)]
		d := math.Hypot(deg(q[0])-p[0], deg(q[1])-p[1])
		if d < bd {
			best, bd = q, d
		}
	}
	return best, bd < 0.01
}

// pred is a flag predicate evaluated by Go, independent of the engine's parser.
type pred func(flags uint64) bool

// randomExpr builds a random flag expression and the predicate it means.
// Operands are parenthesised, so Go's evaluation order cannot differ.
func randomExpr(rng *rand.Rand, flags []string, depth int) (string, pred) {
	if depth <= 0 || rng.IntN(3) == 0 {
		i := rng.IntN(len(flags))
		f := flags[i]
		if rng.IntN(3) == 0 {
			return "!" + f, func(m uint64) bool { return m>>i&1 == 0 }
		}
		return f, func(m uint64) bool { return m>>i&1 != 0 }
	}
	ls, lp := randomExpr(rng, flags, depth-1)
	rs, rp := randomExpr(rng, flags, depth-1)
	ls, rs = "("+ls+")", "("+rs+")"
	var s string
	var p pred
	switch rng.IntN(4) {
	case 0:
		s, p = ls+" & "+rs, func(m uint64) bool { return lp(m) && rp(m) }
	case 1:
		s, p = ls+" and "+rs, func(m uint64) bool { return lp(m) && rp(m) }
	case 2:
		s, p = ls+" | "+rs, func(m uint64) bool { return lp(m) || rp(m) }
	default:
		s, p = ls+" or "+rs, func(m uint64) bool { return lp(m) || rp(m) }
	}
	if rng.IntN(3) == 0 {
		return "not (" + s + ")", func(m uint64) bool { return !p(m) }
	}
	return s, p
}

// oracleInside is an independent point-in-region test: exact integer
// arithmetic, even-odd crossing per polygon (holes included), union across
// polygons, and the boundary inside.
func oracleInside(mp orb.MultiPolygon, x, y int32) bool {
	px, py := int64(x), int64(y)
	for _, poly := range mp {
		odd := false
		for _, ring := range poly {
			for i := 0; i+1 < len(ring); i++ {
				ax, ay := int64(coord.ToE7(ring[i][0])), int64(coord.ToE7(ring[i][1]))
				bx, by := int64(coord.ToE7(ring[i+1][0])), int64(coord.ToE7(ring[i+1][1]))
				cross := (bx-ax)*(py-ay) - (by-ay)*(px-ax)
				if cross == 0 && min(ax, bx) <= px && px <= max(ax, bx) && min(ay, by) <= py && py <= max(ay, by) {
					return true // on the boundary
				}
				if (ay > py) != (by > py) {
					// x of the crossing > px  ⇔  sign test, exact
					if (cross > 0) == (by > ay) {
						odd = !odd
					}
				}
			}
		}
		if odd {
			return true
		}
	}
	return false
}

// onBoundary counts the generated dwellings exactly on mp's boundary.
func (tc *testCity) onBoundary(mp orb.MultiPolygon) int {
	n := 0
	b := mp.Bound()
	minX, minY := coord.ToE7(b.Min[0]), coord.ToE7(b.Min[1])
	maxX, maxY := coord.ToE7(b.Max[0]), coord.ToE7(b.Max[1])
	for _, r := range tc.recs {
		if r.x < minX || r.x > maxX || r.y < minY || r.y > maxY {
			continue
		}
		px, py := int64(r.x), int64(r.y)
	rings:
		for _, poly := range mp {
			for _, ring := range poly {
				for i := 0; i+1 < len(ring); i++ {
					ax, ay := int64(coord.ToE7(ring[i][0])), int64(coord.ToE7(ring[i][1]))
					bx, by := int64(coord.ToE7(ring[i+1][0])), int64(coord.ToE7(ring[i+1][1]))
					if (bx-ax)*(py-ay) == (by-ay)*(px-ax) && min(ax, bx) <= px && px <= max(ax, bx) && min(ay, by) <= py && py <= max(ay, by) {
						n++
						break rings
					}
				}
			}
		}
	}
	return n
}

// oracleCounts counts the generated dwellings inside mp for which p holds.
func (tc *testCity) oracleCounts(mp orb.MultiPolygon, p pred, nflags int) (engine.Counts, map[string]bool) {
	c := engine.Counts{Flags: make([]int64, nflags)}
	matched := map[string]bool{}
	b := mp.Bound()
	minX, minY := coord.ToE7(b.Min[0]), coord.ToE7(b.Min[1])
	maxX, maxY := coord.ToE7(b.Max[0]), coord.ToE7(b.Max[1])
	for _, r := range tc.recs {
		if r.x < minX || r.x > maxX || r.y < minY || r.y > maxY || !oracleInside(mp, r.x, r.y) {
			continue
		}
		c.Total++
		if !p(r.flags) {
			continue
		}
		c.Matched++
		matched[r.id] = true
		for f := 0; f < nflags; f++ {
			if r.flags>>f&1 != 0 {
				c.Flags[f]++
			}
		}
	}
	return c, matched
}

// the oracle -------------------------------------------------------------

func TestPolygonStatsMatchBruteForce(t *testing.T) {
	seed := testseed.Get(t)
	rng := rand.New(rand.NewPCG(seed, 1))
	n := 60_000
	if testing.Short() {
		n = 20_000
	}
	// the disc city with two band heights, the default and a tiny one that
	// puts many edges in many bands; the realistic city, whose own
	// boundaries are ragged (kinds 6, 8 and 9)
	for _, cfg := range []struct {
		band int32
		kind city.Kind
	}{{0, city.Disc}, {200, city.Disc}, {0, city.Realistic}} {
		band := cfg.band
		tc := loadCityKind(t, n, seed, band, cfg.kind)
		flags := tc.eng.Flags()
		if !slices.Equal(flags, city.FlagNames()) {
			t.Fatalf("flags %v, want %v", flags, city.FlagNames())
		}
		exprs := []string{""}
		preds := []pred{func(uint64) bool { return true }}
		for i := 0; i < 24; i++ {
			s, p := randomExpr(rng, flags, 3)
			exprs = append(exprs, s)
			preds = append(preds, p)
		}
		polys, nonEmpty := 0, 0
		onEdge := map[int]int{} // kind → polygons with dwellings exactly on their boundary
		for i := 0; i < 240; i++ {
			kind := i % numKinds
			mp := tc.randomGeometry(rng, kind)
			rg, err := region.New(mp)
			if err != nil {
				// random vertices snapped to dwellings can make a ring cross
				// itself: such polygons are rejected, which is tested elsewhere
				if !errors.Is(err, fault.BadGeometry) {
					t.Fatalf("kind %d: unexpected error %v", kind, err)
				}
				continue
			}
			polys++
			where := exprs[i%len(exprs)]
			if rg.Contains(tc.pts[0][0], tc.pts[0][1]) != oracleInside(mp, tc.pts[0][0], tc.pts[0][1]) {
				t.Fatalf("kind %d: Region.Contains disagrees with the oracle", kind)
			}
			want, matched := tc.oracleCounts(mp, preds[i%len(preds)], len(flags))
			if want.Total > 0 {
				nonEmpty++
			}
			if kind >= 8 && tc.onBoundary(mp) > 0 {
				onEdge[kind]++
			}
			checkRegion(t, tc.eng.Engine, rg, where, want, matched, fmt.Sprintf("%s city band %d polygon %d kind %d where %q", cfg.kind, band, i, kind, where))
		}
		if polys < 190 || nonEmpty < 150 {
			t.Fatalf("%s city: only %d valid polygons of 240, %d with dwellings inside", cfg.kind, polys, nonEmpty)
		}
		least := 3
		if testing.Short() {
			least = 1
		}
		if onEdge[8] < least || onEdge[9] < least {
			t.Fatalf("%s city: polygons with dwellings on their boundary: %d with vertices on them, %d with edges through them; want %d each", cfg.kind, onEdge[8], onEdge[9], least)
		}
		t.Logf("%s city band %d: %d polygons, %d with dwellings inside; with dwellings on the boundary: %d (vertices), %d (edges)", cfg.kind, band, polys, nonEmpty, onEdge[8], onEdge[9])
	}
}

// checkRegion compares every figure of PolygonStats and of the engine's own
// brute-force scan with the oracle's, checks that groups at every level add
// up, and that listed ids are matched dwellings inside the region.
func checkRegion(t *testing.T, e *engine.Engine, rg *region.Region, where string, want engine.Counts, matched map[string]bool, what string) {
	t.Helper()
	brute, err := e.BruteStats(rg, where)
	if err != nil {
		t.Fatalf("%s: brute: %v", what, err)
	}
	if brute.Total != want.Total || brute.Matched != want.Matched || !slices.Equal(brute.Flags, want.Flags) {
		t.Fatalf("%s: BruteStats %+v, oracle %+v", what, brute, want)
	}
	var got engine.PolygonResult
	if err := e.PolygonStats(&engine.PolygonQuery{Region: rg, Where: where}, &got); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if got.Total != want.Total || got.Matched != want.Matched || !slices.Equal(got.Flags, want.Flags) {
		t.Fatalf("%s:\n got total %d matched %d flags %v\nwant total %d matched %d flags %v",
			what, got.Total, got.Matched, got.Flags, want.Total, want.Matched, want.Flags)
	}
	if where == "" && got.Total != got.Matched {
		t.Fatalf("%s: without where, matched %d != total %d", what, got.Matched, got.Total)
	}
	// the same through an area: the first query sweeps and keeps its cover,
	// the second counts the cover; both as the region alone
	area := engine.NewArea(rg)
	for pass := range 2 {
		var ga engine.PolygonResult
		if err := e.PolygonStats(&engine.PolygonQuery{Area: area, Where: where}, &ga); err != nil {
			t.Fatalf("%s: area: %v", what, err)
		}
		if !sameResult(&ga, &got) {
			t.Fatalf("%s: area, pass %d: %+v, the region alone %+v", what, pass, ga.Counts, got.Counts)
		}
	}
	for _, level := range []string{"district", "street", "community", "grid", "building"} {
		var g, ga engine.PolygonResult
		if err := e.PolygonStats(&engine.PolygonQuery{Region: rg, Where: where, GroupBy: level}, &g); err != nil {
			t.Fatal(err)
		}
		if err := e.PolygonStats(&engine.PolygonQuery{Area: area, Where: where, GroupBy: level}, &ga); err != nil {
			t.Fatal(err)
		}
		if !sameResult(&ga, &g) {
			t.Fatalf("%s: groups by %s through the area differ from the region's", what, level)
		}
		sum := engine.Counts{Flags: make([]int64, len(g.Flags))}
		for _, gr := range g.Groups {
			if gr.Level.String() != level {
				t.Fatalf("%s: group level %s, want %s", what, gr.Level, level)
			}
			sum.Total += gr.Total
			sum.Matched += gr.Matched
			for i, v := range gr.Flags {
				sum.Flags[i] += v
			}
		}
		if sum.Total != want.Total || sum.Matched != want.Matched || !slices.Equal(sum.Flags, want.Flags) {
			t.Fatalf("%s: groups by %s add up to %+v, want %+v", what, level, sum, want)
		}
	}
	limit := 1 + int(want.Matched)/2
	var ids engine.PolygonResult
	if err := e.PolygonStats(&engine.PolygonQuery{Region: rg, Where: where, IDs: true, Limit: limit}, &ids); err != nil {
		t.Fatal(err)
	}
	if wantN := min(limit, int(want.Matched)); len(ids.IDs) != wantN {
		t.Fatalf("%s: %d ids, want %d", what, len(ids.IDs), wantN)
	}
	var ida engine.PolygonResult
	if err := e.PolygonStats(&engine.PolygonQuery{Area: area, Where: where, IDs: true, Limit: limit}, &ida); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ida.IDs, ids.IDs) {
		t.Fatalf("%s: ids through the area differ from the region's", what)
	}
	seen := map[string]bool{}
	for _, id := range ids.IDs {
		if seen[id] {
			t.Fatalf("%s: id %s listed twice", what, id)
		}
		seen[id] = true
		if !matched[id] {
			t.Fatalf("%s: listed id %s is not a matched dwelling inside", what, id)
		}
	}
}

// sameResult reports whether two answers are equal: counts, groups (in
// order) and ids.
func sameResult(a, b *engine.PolygonResult) bool {
	if a.Total != b.Total || a.Matched != b.Matched || !slices.Equal(a.Flags, b.Flags) || !slices.Equal(a.IDs, b.IDs) ||
		len(a.Groups) != len(b.Groups) || a.Version != b.Version {
		return false
	}
	for i := range a.Groups {
		x, y := &a.Groups[i], &b.Groups[i]
		if x.Level != y.Level || x.ID != y.ID || x.Total != y.Total || x.Matched != y.Matched || !slices.Equal(x.Flags, y.Flags) {
			return false
		}
	}
	return true
}

func TestBoundaryPointsCountInside(t *testing.T) {
	tc := loadCity(t, 20_000, 7, 0)
	// a polygon whose every vertex is a dwelling: those dwellings count
	var ring orb.Ring
	for i := 0; i < 3; i++ {
		p := tc.pts[i*5000]
		ring = append(ring, orb.Point{deg(p[0]), deg(p[1])})
	}
	if orientation(ring) < 0 {
		ring[1], ring[2] = ring[2], ring[1]
	}
	ring = append(ring, ring[0])
	rg, err := region.New(orb.MultiPolygon{{ring}})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		p := tc.pts[i*5000]
		if !rg.Contains(p[0], p[1]) {
			t.Fatalf("vertex %d (a dwelling) is not inside", i)
		}
	}
	all := func(uint64) bool { return true }
	nf := len(city.FlagNames())
	mp := orb.MultiPolygon{{ring}}
	want, matched := tc.oracleCounts(mp, all, nf)
	checkRegion(t, tc.eng.Engine, rg, "", want, matched, "triangle on dwellings")
	// a degenerate sliver: a polygon exactly one building wide around a row of points
	p := tc.pts[0]
	x, y := deg(p[0]), deg(p[1])
	sliver := orb.Ring{{x, y}, {x + 0.01, y}, {x + 0.01, y + 0.0000001}, {x, y + 0.0000001}, {x, y}}
	mp = orb.MultiPolygon{{sliver}}
	rg, err = region.New(mp)
	if err != nil {
		t.Fatal(err)
	}
	var got engine.PolygonResult
	if err := tc.eng.PolygonStats(&engine.PolygonQuery{Region: rg}, &got); err != nil {
		t.Fatal(err)
	}
	if got.Total == 0 {
		t.Fatal("a dwelling on the bottom edge of a sliver is not counted")
	}
	want, matched = tc.oracleCounts(mp, all, nf)
	checkRegion(t, tc.eng.Engine, rg, "", want, matched, "sliver")
}

func orientation(r orb.Ring) float64 {
	return (r[1][0]-r[0][0])*(r[2][1]-r[0][1]) - (r[2][0]-r[0][0])*(r[1][1]-r[0][1])
}
