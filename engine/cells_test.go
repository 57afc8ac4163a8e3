package engine_test

import (
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"

	"github.com/roomstate/roomstate/city"
	"github.com/roomstate/roomstate/coord"
	"github.com/roomstate/roomstate/engine"
	"github.com/roomstate/roomstate/internal/testseed"
)

// cellSums is one cell as the oracle sums it: buildings, weight, SX, SY,
// then the counts.
type cellSums []int64

// modelCells sums the model's buildings into the cells of a grid: each
// building's point the rounded mean of its dwellings', projected to Web
// Mercator and floored to whole units of level; a cell 2^shift units.
func modelCells(m *model, p pred, level, shift uint8) map[[2]int64]cellSums {
	type bsum struct {
		sx, sy, n int64
		counts    []int64
	}
	blds := map[string]*bsum{}
	for _, r := range m.byID {
		b := blds[r.units[4]]
		if b == nil {
			b = &bsum{counts: make([]int64, 2+len(m.flags))}
			blds[r.units[4]] = b
		}
		b.sx += int64(r.x)
		b.sy += int64(r.y)
		b.n++
		b.counts[0]++
		if p(r.flags) {
			b.counts[1]++
			for f := range m.flags {
				if r.flags>>f&1 != 0 {
					b.counts[2+f]++
				}
			}
		}
	}
	out := map[[2]int64]cellSums{}
	for _, b := range blds {
		lon, lat := int32(roundDiv(b.sx, b.n)), int32(roundDiv(b.sy, b.n))
		fx, fy := coord.ToMercator(lon, lat).At(uint32(level))
		x, y := int64(math.Floor(fx)), int64(math.Floor(fy))
		k := [2]int64{x >> shift, y >> shift}
		c := out[k]
		if c == nil {
			c = make(cellSums, 4+len(b.counts))
			out[k] = c
		}
		w := max(b.counts[0], 1)
		c[0]++
		c[1] += w
		c[2] += w * x
		c[3] += w * y
		for i, v := range b.counts {
			c[4+i] += v
		}
	}
	return out
}

// engineCells asks the engine for the cells of a box.
func engineCells(t *testing.T, e *engine.Writer, where string, a engine.CellAsk) (map[[2]int64]cellSums, *engine.TileData) {
	t.Helper()
	got := map[[2]int64]cellSums{}
	a.Each = func(c *engine.CellSum) {
		k := [2]int64{c.X, c.Y}
		if got[k] != nil {
			t.Fatalf("cell %v given twice", k)
		}
		got[k] = append(cellSums{c.Buildings, c.Weight, c.SX, c.SY}, c.Counts...)
	}
	d, err := e.TileData(&engine.TileQuery{Where: where, Scheme: "default", Cells: &a})
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Buildings) > 0 {
		t.Fatal("buildings listed with cells asked")
	}
	return got, d
}

// TestCellsMatchModel: the cell sums the engine keeps per where and grid
// equal the model's, summed from scratch, on grids of several levels and
// cell sizes, over the whole city and over parts of it, after flag
// changes, puts (new buildings and moves), deletes and compactions; each
// grid asked at different rounds, so that its sums are carried over one
// write group or many.
func TestCellsMatchModel(t *testing.T) {
	seed := testseed.Get(t)
	rng := rand.New(rand.NewPCG(seed, 91))
	e, tc, m, ids := changingCity(t, 6_000, seed, engine.Options{DeltaLimit: 200})
	type grid struct {
		level, shift uint8
		every        int
		where        string
		p            pred
	}
	grids := []grid{{level: 22, shift: 7, every: 1}, {level: 16, shift: 7, every: 3}, {level: 24, shift: 7, every: 2},
		{level: 19, shift: 3, every: 1}, {level: 12, shift: 0, every: 4}, {level: 20, shift: 10, every: 5}}
	for i := range grids {
		grids[i].where, grids[i].p = "", func(uint64) bool { return true }
		if i%2 == 1 {
			grids[i].where, grids[i].p = randomExpr(rng, m.flags, 2)
		}
	}
	next, compared := 0, 0
	for round := 0; round < 16; round++ {
		if round > 0 {
			for range 20 {
				m.applyRandom(t, rng, e, &ids, tc.pts, &next)
			}
		}
		if round%5 == 4 {
			e.Compact()
		}
		for _, g := range grids {
			if round%g.every != 0 {
				continue
			}
			want := modelCells(m, g.p, g.level, g.shift)
			side := int64(1) << (g.level - g.shift)
			got, _ := engineCells(t, e, g.where, engine.CellAsk{Level: g.level, Shift: g.shift, X0: 0, Y0: 0, X1: side, Y1: side})
			what := fmt.Sprintf("round %d, level %d shift %d where %q", round, g.level, g.shift, g.where)
			sameCells(t, got, want, what)
			compared += len(want)
			// a part of the city: the cells of a random box around a
			// random cell (its edges through the city)
			ks := slices.SortedFunc(maps.Keys(want), func(a, b [2]int64) int {
				if a[1] != b[1] {
					return int(a[1] - b[1])
				}
				return int(a[0] - b[0])
			})
			k := ks[rng.IntN(len(ks))]
			r := 1 + int64(rng.IntN(4))
			box := engine.CellAsk{Level: g.level, Shift: g.shift, X0: k[0] - r, Y0: k[1] - r + 1, X1: k[0] + r, Y1: k[1] + r + 1}
			part := map[[2]int64]cellSums{}
			for k, v := range want {
				if k[0] >= box.X0 && k[0] < box.X1 && k[1] >= box.Y0 && k[1] < box.Y1 {
					part[k] = v
				}
			}
			got, _ = engineCells(t, e, g.where, box)
			sameCells(t, got, part, what+" (a part)")
		}
	}
	if compared < 500 {
		t.Fatalf("only %d cells compared", compared)
	}
}

func sameCells(t *testing.T, got, want map[[2]int64]cellSums, what string) {
	t.Helper()
	for k, w := range want {
		if g := got[k]; !slices.Equal(g, w) {
			t.Fatalf("%s: cell %v: %v, want %v", what, k, g, w)
		}
	}
	for k, g := range got {
		if want[k] == nil {
			t.Fatalf("%s: cell %v: %v, the model has no building there", what, k, g)
		}
	}
}

// TestCellTilesCurrent: a tile of cells stays current after a flag change
// of a building outside its cells, and not after one inside them, nor
// after a dwelling is put anywhere (a building may have moved in).
func TestCellTilesCurrent(t *testing.T) {
	c := city.New(city.Config{N: 6_000, Seed: 5})
	b, _ := c.Batch()
	e := engine.New(engine.Options{})
	if err := e.Load(b); err != nil {
		t.Fatal(err)
	}
	type dw struct {
		id   string
		x, y int64 // cell at level 24, shift 7
	}
	byBld := map[string]dw{}
	var bnames []string
	_ = c.Dwellings(func(r *engine.Record) error {
		if _, ok := byBld[r.Building]; !ok {
			bnames = append(bnames, r.Building)
			byBld[r.Building] = dw{id: r.ID}
		}
		return nil
	})
	// each building's cell, as the engine places it
	for _, name := range bnames {
		m, err := e.BuildingRoomState(name, "default", engine.AsOf{})
		if err != nil {
			t.Fatal(err)
		}
		bi := m.Buildings[0].Building
		fx, fy := coord.ToMercator(bi.Lon, bi.Lat).At(24)
		d := byBld[name]
		d.x, d.y = int64(math.Floor(fx))>>7, int64(math.Floor(fy))>>7
		byBld[name] = d
	}
	sort.Slice(bnames, func(i, j int) bool { return byBld[bnames[i]].x < byBld[bnames[j]].x })
	west, east := byBld[bnames[0]], byBld[bnames[len(bnames)-1]]
	if west.x == east.x {
		t.Fatal("the city is one cell wide")
	}
	// the tile: the western cells, up to the west building's
	ask := engine.CellAsk{Level: 24, Shift: 7, X0: west.x - 2, Y0: 0, X1: west.x + 1, Y1: 1 << 17}
	draw := func() *engine.TileData {
		_, d := engineCells(t, e, "isolated", ask)
		return d
	}
	toggle := func(id string) {
		d, _ := e.Dwelling(id)
		op := engine.Op{Kind: engine.OpFlags, ID: id, Set: []string{"isolated"}}
		if slices.Contains(d.Flags, "isolated") {
			op = engine.Op{Kind: engine.OpFlags, ID: id, Clear: []string{"isolated"}}
		}
		if _, err := apply(e, []engine.Op{op}); err != nil {
			t.Fatal(err)
		}
	}
	d := draw()
	if !e.TileCurrent(&d.Deps) {
		t.Fatal("a tile is not current right after it is drawn")
	}
	toggle(east.id)
	if !e.TileCurrent(&d.Deps) {
		t.Fatal("a change outside the tile's cells made it stale")
	}
	toggle(west.id)
	if e.TileCurrent(&d.Deps) {
		t.Fatal("a change inside the tile's cells did not make it stale")
	}
	d = draw()
	in, _ := e.Dwelling(east.id)
	in.Lon += 1e-4
	if _, err := apply(e, []engine.Op{{Kind: engine.OpPut, ID: "NEW-1", Put: &engine.DwellingInput{Lon: in.Lon, Lat: in.Lat,
		District: in.District, Street: in.Street, Community: in.Community, Grid: in.Grid, Building: "NEW-B", Unit: "1", Room: "101"}}}); err != nil {
		t.Fatal(err)
	}
	if e.TileCurrent(&d.Deps) {
		t.Fatal("a dwelling put did not make the tile stale")
	}
	if _, err := e.TileData(&engine.TileQuery{Scheme: "default", Cells: &engine.CellAsk{Level: 20, Shift: 7}}); err == nil {
		t.Fatal("cells asked without a function to call were accepted")
	}
	// a grid the engine does not keep is refused
	if _, err := e.TileData(&engine.TileQuery{Scheme: "default", Cells: &engine.CellAsk{Level: engine.MaxCellLevel + 1, Shift: 7, Each: func(*engine.CellSum) {}}}); err == nil {
		t.Fatal("a level beyond MaxCellLevel was accepted")
	}
}
