package engine_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/paulmach/orb"
	"github.com/roomstate/roomstate/coord"
	"github.com/roomstate/roomstate/engine"
	"github.com/roomstate/roomstate/region"
)

// TestCombsAcrossTheMeridian: a band crossed by many edges (combs of up to
// 120 teeth, so that a band's edges are sorted by pdqsort as well as by
// insertion) over dwellings on both sides of longitude 0 (west ends below
// and above zero, ordered as integers) and on the teeth's edges: every
// count is the brute force's.
func TestCombsAcrossTheMeridian(t *testing.T) {
	rng := rand.New(rand.NewPCG(41, 42))
	b := engine.NewBatch("grid", []string{"isolated"})
	var pts [][2]int32
	for i := range 4_000 {
		// a lattice of 0.0001° (many dwellings exactly on teeth's edges),
		// from -0.02° to 0.02° in longitude
		x, y := rng.IntN(401)-200, rng.IntN(101)
		r := engine.Record{ID: fmt.Sprint("d", i), Lon: float64(x) / 1e4, Lat: float64(y) / 1e4,
			District: "a", Street: "b", Community: "c", Grid: "g", Building: fmt.Sprint("b", x, "_", y), Floor: engine.NoFloor}
		if i%3 == 0 {
			r.SetFlag(0)
		}
		if err := b.Add(&r); err != nil {
			t.Fatal(err)
		}
		pts = append(pts, [2]int32{coord.ToE7(r.Lon), coord.ToE7(r.Lat)})
	}
	e := engine.New(engine.Options{BandHeight: 20_000}) // 0.002°: a comb's teeth cross a band's full height
	if err := e.Load(b); err != nil {
		t.Fatal(err)
	}
	for _, teeth := range []int{3, 13, 25, 60, 120} {
		for trial := range 5 {
			// teeth hanging from a bar along the top, between x0 and x1
			x0 := -0.02 + rng.Float64()*0.01
			x1 := 0.02 - rng.Float64()*0.01
			w := (x1 - x0) / float64(2*teeth)
			var ring orb.Ring
			for k := range teeth {
				l := x0 + float64(2*k)*w
				depth := 0.001 + float64(rng.IntN(8))*0.001
				ring = append(ring, orb.Point{l, 0.01 - depth}, orb.Point{l + w, 0.01 - depth})
			}
			ring = append(ring, orb.Point{x0 + float64(2*teeth-1)*w, 0.0105}, orb.Point{x0, 0.0105})
			for i := range ring {
				ring[i] = orb.Point{round7(ring[i][0]), round7(ring[i][1])}
			}
			ring = append(ring, ring[0])
			if orientation(ring) < 0 {
				for i, j := 0, len(ring)-1; i < j; i, j = i+1, j-1 {
					ring[i], ring[j] = ring[j], ring[i]
				}
			}
			rg, err := region.New(orb.MultiPolygon{{ring}})
			if err != nil {
				t.Fatalf("%d teeth: %v", teeth, err)
			}
			var want int64
			for _, p := range pts {
				if rg.Contains(p[0], p[1]) {
					want++
				}
			}
			var got engine.PolygonResult
			if err := e.PolygonStats(&engine.PolygonQuery{Region: rg}, &got); err != nil {
				t.Fatal(err)
			}
			if got.Total != want {
				t.Fatalf("comb of %d teeth (trial %d): engine %d, brute force %d", teeth, trial, got.Total, want)
			}
			if teeth >= 25 && want == 0 {
				t.Fatalf("comb of %d teeth holds no dwelling: the test tests nothing", teeth)
			}
		}
	}
}
