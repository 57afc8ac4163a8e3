package engine_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/paulmach/orb"
	"github.com/roomstate/roomstate/coord"
	"github.com/roomstate/roomstate/engine"
	"github.com/roomstate/roomstate/internal/testseed"
	"github.com/roomstate/roomstate/region"
)

// messyCity is data the generator never makes: buildings whose dwellings lie
// in several grids (and not on one point), dwellings without a building or a
// hierarchy, unknown floors, points shared by unrelated buildings.
func messyCity(t *testing.T, seed uint64, n int) *testCity {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 77))
	flags := []string{"isolated", "vaccinated", "rental", "elderly_alone", "居家观察"}
	b := engine.NewBatch("messy", flags)
	tc := &testCity{}
	points := make([][2]int32, 300)
	for i := range points {
		points[i] = [2]int32{1214000000 + int32(rng.IntN(2000000)), 312000000 + int32(rng.IntN(2000000))}
	}
	for i := 0; i < n; i++ {
		var r engine.Record
		r.ID = fmt.Sprintf("M%06d", i)
		p := points[rng.IntN(len(points))]
		if rng.IntN(4) == 0 { // off the shared points
			p = [2]int32{p[0] + int32(rng.IntN(2000)-1000), p[1] + int32(rng.IntN(2000)-1000)}
		}
		r.Lon, r.Lat = coord.FromE7(p[0]), coord.FromE7(p[1])
		if rng.IntN(10) > 0 {
			r.District = fmt.Sprintf("D%d", rng.IntN(2))
			r.Street = fmt.Sprintf("S%d", rng.IntN(4))
			r.Community = fmt.Sprintf("C%d", rng.IntN(8))
			r.Grid = fmt.Sprintf("G%d", rng.IntN(12))
		}
		if rng.IntN(8) > 0 {
			r.Building = fmt.Sprintf("B%d", rng.IntN(60)) // buildings spread over grids and points
		}
		r.Unit = fmt.Sprint(rng.IntN(3))
		r.Floor = engine.NoFloor
		if rng.IntN(5) > 0 {
			r.Floor = int16(rng.IntN(30) - 2)
		}
		r.Room = fmt.Sprint(rng.IntN(900))
		r.Line = i + 2
		var m uint64
		for f := range flags {
			if rng.IntN(3) == 0 {
				r.SetFlag(f)
				m |= 1 << f
			}
		}
		if err := b.Add(&r); err != nil {
			t.Fatal(err)
		}
		building := r.Building
		if building == "" {
			building = fmt.Sprintf("@%v,%v", r.Lon, r.Lat)
		}
		tc.pts = append(tc.pts, p)
		tc.recs = append(tc.recs, rec{id: r.ID, x: p[0], y: p[1], flags: m,
			units: [5]string{r.District, r.Street, r.Community, r.Grid, building}})
	}
	tc.eng = engine.New(engine.Options{BandHeight: 2000})
	if err := tc.eng.Load(b); err != nil {
		t.Fatal(err)
	}
	return tc
}

func TestMessyData(t *testing.T) {
	seed := testseed.Get(t)
	tc := messyCity(t, seed, 20_000)
	rng := rand.New(rand.NewPCG(seed, 78))
	flags := tc.eng.Flags()
	nf := len(flags)
	for i := 0; i < 60; i++ {
		where, p := "", pred(func(uint64) bool { return true })
		if i%2 == 1 {
			where, p = randomExpr(rng, flags, 2)
		}
		// polygons
		c := tc.pts[rng.IntN(len(tc.pts))]
		mp := orb.MultiPolygon{{star(rng, deg(c[0]), deg(c[1]), 0.01, 0.12, 5+rng.IntN(20))}}
		rg, err := region.New(mp)
		if err != nil {
			continue
		}
		want, matched := tc.oracleCounts(mp, p, nf)
		checkRegion(t, tc.eng.Engine, rg, where, want, matched, fmt.Sprintf("messy polygon %d where %q", i, where))
		// grids by level, with and without a box
		var bbox *[4]float64
		var bb [4]int32
		if i%3 == 0 {
			a, b := tc.pts[rng.IntN(len(tc.pts))], tc.pts[rng.IntN(len(tc.pts))]
			bb = [4]int32{min(a[0], b[0]), min(a[1], b[1]), max(a[0], b[0]), max(a[1], b[1])}
			bbox = &[4]float64{deg(bb[0]), deg(bb[1]), deg(bb[2]), deg(bb[3])}
		}
		for li, level := range []string{"district", "street", "community", "grid", "building"} {
			res, err := tc.eng.Grid(&engine.GridQuery{BBox: bbox, Level: level, Where: where})
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]*counts{}
			for _, r := range tc.recs {
				if r.units[li] == "" {
					continue // in no unit of the level (a building always has an id)
				}
				if bbox == nil || (r.x >= bb[0] && r.x <= bb[2] && r.y >= bb[1] && r.y <= bb[3]) {
					if want[r.units[li]] == nil {
						want[r.units[li]] = &counts{}
					}
					want[r.units[li]].add(r, p, nf)
				}
			}
			if len(res.Cells) != len(want) {
				t.Fatalf("level %s box %v: %d cells, want %d", level, bbox, len(res.Cells), len(want))
			}
			for _, cell := range res.Cells {
				if w := want[cell.ID]; w == nil || !sameCounts(cell.Counts, *w) {
					t.Fatalf("level %s cell %q: got %+v, want %+v", level, cell.ID, cell.Counts, w)
				}
			}
		}
		res, err := tc.eng.Grid(&engine.GridQuery{BBox: bbox, CellM: 300, Where: where})
		if err != nil {
			t.Fatal(err)
		}
		var sum int64
		for _, cell := range res.Cells {
			sum += cell.Total
		}
		var total int64
		for _, r := range tc.recs {
			if bbox == nil || (r.x >= bb[0] && r.x <= bb[2] && r.y >= bb[1] && r.y <= bb[3]) {
				total++
			}
		}
		if sum != total {
			t.Fatalf("300 m cells add up to %d, want %d", sum, total)
		}
	}
	// a building spread over grids shows, in a grid's map, only that grid's dwellings
	m, err := tc.eng.UnitRoomState(engine.LevelGrid, "G3", "default", engine.AsOf{})
	if err != nil {
		t.Fatal(err)
	}
	n, want := 0, 0
	for _, b := range m.Buildings {
		for _, fl := range b.Floors {
			n += len(fl.Rooms)
		}
	}
	for _, r := range tc.recs {
		if r.units[3] == "G3" {
			want++
		}
	}
	if n != want {
		t.Fatalf("grid G3 map: %d rooms, want %d", n, want)
	}
}
