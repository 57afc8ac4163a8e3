package region_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/paulmach/orb"
	"github.com/roomstate/roomstate/coord"
	"github.com/roomstate/roomstate/region"
)

// star returns a closed star-shaped ring of n vertices around c, radii in
// [r/4, r], counter-clockwise when ccw.
func star(rnd *rand.Rand, c orb.Point, r float64, n int, ccw bool) orb.Ring {
	ring := make(orb.Ring, 0, n+1)
	for i := range n {
		a := 2 * math.Pi * float64(i) / float64(n)
		if !ccw {
			a = -a
		}
		rr := r * (0.25 + 0.75*rnd.Float64())
		ring = append(ring, orb.Point{c[0] + rr*math.Cos(a), c[1] + rr*math.Sin(a)})
	}
	return append(ring, ring[0])
}

// TestLocateIsContains: the band locator and the raster of LocateMany
// answer as the brute-force test does, on concave polygons with holes,
// multipolygons, axis-parallel and long edges, tiny ones, at random points,
// at vertices, on edges and a unit off them.
func TestLocateIsContains(t *testing.T) {
	rnd := rand.New(rand.NewPCG(7, 9))
	for round := range 200 {
		var mp orb.MultiPolygon
		switch round % 5 {
		case 0: // a rectangle: four long edges
			mp = orb.MultiPolygon{{{{121, 31}, {121.01, 31}, {121.01, 31.02}, {121, 31.02}, {121, 31}}}}
		case 1: // a star a few fixed-point units across: fewer units than raster cells
			mp = orb.MultiPolygon{{star(rnd, orb.Point{121, 31}, 2e-6, 3+rnd.IntN(400), true)}}
		default:
			for p := range 1 + round%3 {
				c := orb.Point{121 + 0.05*float64(p), 31}
				n := 3 + rnd.IntN(400)
				poly := orb.Polygon{star(rnd, c, 0.02, n, true)}
				if rnd.IntN(2) == 0 {
					poly = append(poly, star(rnd, c, 0.004, 3+rnd.IntN(20), false))
				}
				mp = append(mp, poly)
			}
		}
		rg, err := region.New(mp)
		if err != nil {
			continue // a random star may cross its hole; others are tested
		}
		bb := rg.BBox()
		var pts [][2]int32
		for range 2000 {
			pts = append(pts, [2]int32{
				bb[0] - 10 + rnd.Int32N(bb[2]-bb[0]+21),
				bb[1] - 10 + rnd.Int32N(bb[3]-bb[1]+21)})
		}
		for _, e := range rg.Edges() {
			pts = append(pts, [2]int32{e.X1, e.Y1})
			if (e.X1+e.X2)%2 == 0 && (e.Y1+e.Y2)%2 == 0 {
				pts = append(pts, [2]int32{(e.X1 + e.X2) / 2, (e.Y1 + e.Y2) / 2})
			}
			pts = append(pts, [2]int32{e.X1, e.Y2}, [2]int32{e.X2, e.Y1})
			for _, d := range [][2]int32{{1, 0}, {-1, 0}, {0, 1}, {0, -1}} {
				pts = append(pts, [2]int32{e.X1 + d[0], e.Y1 + d[1]})
			}
		}
		for _, p := range pts {
			want := rg.Contains(p[0], p[1])
			if got := rg.Locate(p[0], p[1]); got != want {
				t.Fatalf("round %d: point %v: Locate %v, Contains %v", round, p, got, want)
			}
			if got := rg.LocateMany(p[0], p[1]); got != want {
				t.Fatalf("round %d: point %v: LocateMany %v, Contains %v", round, p, got, want)
			}
		}
	}
}

// TestLocateOneRowRegion: a region one fixed-point unit tall, of more
// edges than Locate tests without bands, still locates.
func TestLocateOneRowRegion(t *testing.T) {
	y, y1 := coord.FromE7(310000000), coord.FromE7(310000001)
	var ring orb.Ring
	for i := range 30 {
		ring = append(ring, orb.Point{121 + 0.001*float64(i), y})
	}
	ring = append(ring, orb.Point{121.1, y}, orb.Point{121.1, y1}, orb.Point{121, y1}, orb.Point{121, y})
	rg, err := region.New(orb.MultiPolygon{{ring}})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range [][2]int32{{1210500000, 310000000}, {1210500000, 310000001}, {1210500000, 310000002}, {1200000000, 310000000}, {1210000000, 310000001}} {
		if rg.Locate(p[0], p[1]) != rg.Contains(p[0], p[1]) || rg.LocateMany(p[0], p[1]) != rg.Contains(p[0], p[1]) {
			t.Fatalf("point %v", p)
		}
	}
}

// BenchmarkRaster: building a region's raster against locating points
// through its bands and through the raster, on star polygons of community,
// street and ragged-street sizes: the raster pays for itself after about
// build/(locate − locate-many) points (Locator's manyPoints).
func BenchmarkRaster(b *testing.B) {
	rnd := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{32, 200, 1000} {
		rg, err := region.New(orb.MultiPolygon{{star(rnd, orb.Point{121, 31}, 0.01, n, true)}})
		if err != nil {
			b.Fatal(err)
		}
		bb := rg.BBox()
		pts := make([][2]int32, 4096)
		for i := range pts {
			pts[i] = [2]int32{bb[0] + rnd.Int32N(bb[2]-bb[0]+1), bb[1] + rnd.Int32N(bb[3]-bb[1]+1)}
		}
		name := fmt.Sprintf("edges-%d", n)
		b.Run(name+"/build", func(b *testing.B) {
			for b.Loop() {
				region.BuildRaster(rg)
			}
		})
		b.Run(name+"/locate", func(b *testing.B) {
			i := 0
			for b.Loop() {
				rg.Locate(pts[i%len(pts)][0], pts[i%len(pts)][1])
				i++
			}
		})
		b.Run(name+"/locate-many", func(b *testing.B) {
			i := 0
			for b.Loop() {
				rg.LocateMany(pts[i%len(pts)][0], pts[i%len(pts)][1])
				i++
			}
		})
	}
}
