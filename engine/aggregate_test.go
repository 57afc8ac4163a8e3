package engine_test

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/roomstate/roomstate/city"
	"github.com/roomstate/roomstate/coord"
	"github.com/roomstate/roomstate/engine"
	"github.com/roomstate/roomstate/fault"
	"github.com/roomstate/roomstate/internal/testseed"
)

// counts is an oracle aggregate.
type counts struct {
	total, matched int64
	flags          []int64
}

func (c *counts) add(r rec, p pred, nf int) {
	if c.flags == nil {
		c.flags = make([]int64, nf)
	}
	c.total++
	if p(r.flags) {
		c.matched++
		for f := 0; f < nf; f++ {
			if r.flags>>f&1 != 0 {
				c.flags[f]++
			}
		}
	}
}

func sameCounts(got engine.Counts, want counts) bool {
	if want.flags == nil {
		want.flags = make([]int64, len(got.Flags))
	}
	return got.Total == want.total && got.Matched == want.matched && slices.Equal(got.Flags, want.flags)
}

// oracleCell computes a square cell id from its definition: rows of
// cell_m/111320 degrees from the equator, columns of cell_m/(111320·cos(row
// centre)) degrees from the prime meridian.
func oracleCell(cellM float64, x, y int32) string {
	dlat := cellM / 111320
	row := math.Floor(coord.FromE7(y) / dlat)
	dlon := cellM / (111320 * math.Cos((row+0.5)*dlat*math.Pi/180))
	col := math.Floor(coord.FromE7(x) / dlon)
	return fmt.Sprintf("%vm:%d:%d", cellM, int64(row), int64(col))
}

func TestGridMatchesOracle(t *testing.T) {
	seed := testseed.Get(t)
	rng := rand.New(rand.NewPCG(seed, 2))
	tc := loadCity(t, 30_000, seed, 0)
	nf := len(city.FlagNames())
	for i := 0; i < 30; i++ {
		where, p := "", pred(func(uint64) bool { return true })
		if i%3 != 0 {
			where, p = randomExpr(rng, tc.eng.Flags(), 2)
		}
		var bbox *[4]float64
		var bb [4]int32
		if i%2 == 1 { // a box through dwelling points
			a, b := tc.pts[rng.IntN(len(tc.pts))], tc.pts[rng.IntN(len(tc.pts))]
			bb = [4]int32{min(a[0], b[0]), min(a[1], b[1]), max(a[0], b[0]), max(a[1], b[1])}
			bbox = &[4]float64{deg(bb[0]), deg(bb[1]), deg(bb[2]), deg(bb[3])}
		}
		inBox := func(r rec) bool {
			return bbox == nil || (r.x >= bb[0] && r.x <= bb[2] && r.y >= bb[1] && r.y <= bb[3])
		}
		cellM := []float64{100, 250, 500, 1000, 333.5}[i%5]
		res, err := tc.eng.Grid(&engine.GridQuery{BBox: bbox, CellM: cellM, Where: where})
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]*counts{}
		var total counts
		for _, r := range tc.recs {
			if !inBox(r) {
				continue
			}
			id := oracleCell(cellM, r.x, r.y)
			if want[id] == nil {
				want[id] = &counts{}
			}
			want[id].add(r, p, nf)
			total.add(r, p, nf)
		}
		if len(res.Cells) != len(want) {
			t.Fatalf("cell_m %v where %q: %d cells, want %d", cellM, where, len(res.Cells), len(want))
		}
		var sum int64
		var prev [2]int64
		for i, c := range res.Cells {
			w, ok := want[c.ID]
			if !ok || !sameCounts(c.Counts, *w) {
				t.Fatalf("cell %s: got %+v, want %+v", c.ID, c.Counts, w)
			}
			sum += c.Total
			// in order of row (south to north), then column (west to east)
			var rc [2]int64
			var m float64
			if _, err := fmt.Sscanf(strings.ReplaceAll(c.ID, ":", " "), "%gm %d %d", &m, &rc[0], &rc[1]); err != nil {
				t.Fatalf("cell id %q: %v", c.ID, err)
			}
			if i > 0 && (rc[0] < prev[0] || rc[0] == prev[0] && rc[1] <= prev[1]) {
				t.Fatalf("cell %s after row %d column %d: not in order", c.ID, prev[0], prev[1])
			}
			prev = rc
		}
		if sum != total.total {
			t.Fatalf("cells add up to %d, want %d", sum, total.total)
		}
		// by level, with the same box and expression
		for li, level := range []string{"district", "street", "community", "grid", "building"} {
			res, err := tc.eng.Grid(&engine.GridQuery{BBox: bbox, Level: level, Where: where})
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]*counts{}
			for _, r := range tc.recs {
				if inBox(r) {
					if want[r.units[li]] == nil {
						want[r.units[li]] = &counts{}
					}
					want[r.units[li]].add(r, p, nf)
				}
			}
			if len(res.Cells) != len(want) {
				t.Fatalf("level %s: %d cells, want %d", level, len(res.Cells), len(want))
			}
			for _, c := range res.Cells {
				if w := want[c.ID]; w == nil || !sameCounts(c.Counts, *w) {
					t.Fatalf("level %s cell %s: got %+v, want %+v", level, c.ID, c.Counts, w)
				}
			}
		}
	}
}

func TestGridErrors(t *testing.T) {
	tc := loadCity(t, 20_000, 3, 0)
	bad := []engine.GridQuery{
		{CellM: 1},
		{CellM: math.NaN()},
		{CellM: 500, Level: "grid"},
		{Level: "planet"},
		{CellM: 500, Where: "isolated &"},
		{CellM: 500, BBox: &[4]float64{10, 10, 5, 5}},
		{CellM: 500, BBox: &[4]float64{-200, 0, 0, 0}},
	}
	for _, q := range bad {
		if _, err := tc.eng.Grid(&q); err == nil {
			t.Errorf("%+v: no error", q)
		} else if !errors.Is(err, fault.BadRequest) && !errors.Is(err, fault.BadExpression) {
			t.Errorf("%+v: %T %v, want a bad_request or bad_expression", q, err, err)
		}
	}
}

func TestUnitsMatchOracle(t *testing.T) {
	tc := loadCity(t, 30_000, 5, 0)
	nf := len(city.FlagNames())
	rng := rand.New(rand.NewPCG(5, 5))
	where, p := randomExpr(rng, tc.eng.Flags(), 2)
	names := []string{"district", "street", "community", "grid"}
	for li, level := range names {
		res, err := tc.eng.Units(engine.UnitsQuery{Level: level, Where: where})
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]*counts{}
		kids := map[string]map[string]*counts{}
		for _, r := range tc.recs {
			id := r.units[li]
			if want[id] == nil {
				want[id] = &counts{}
				kids[id] = map[string]*counts{}
			}
			want[id].add(r, p, nf)
			k := r.units[li+1]
			if kids[id][k] == nil {
				kids[id][k] = &counts{}
			}
			kids[id][k].add(r, p, nf)
		}
		// units known only from their boundary are listed with zero counts
		for _, b := range tc.city.Boundaries() {
			if b.Level.String() == level && want[b.ID] == nil {
				want[b.ID] = &counts{}
			}
		}
		if len(res.Units) != len(want) {
			t.Fatalf("%s: %d units, want %d", level, len(res.Units), len(want))
		}
		for i, u := range res.Units {
			if i > 0 && res.Units[i-1].ID >= u.ID {
				t.Fatalf("%s: units not sorted by id", level)
			}
			if want[u.ID] == nil || !sameCounts(u.Counts, *want[u.ID]) {
				t.Fatalf("%s %s: %+v, want %+v", level, u.ID, u.Counts, want[u.ID])
			}
			if u.Name == "" {
				t.Fatalf("%s %s: no name, though boundaries were loaded", level, u.ID)
			}
		}
		// one unit with its children
		u := res.Units[rng.IntN(len(res.Units))]
		for u.Total == 0 {
			u = res.Units[rng.IntN(len(res.Units))]
		}
		one, err := tc.eng.Unit(engine.UnitsQuery{Level: level, ID: u.ID, Where: where})
		if err != nil {
			t.Fatal(err)
		}
		if !sameCounts(one.Counts, *want[u.ID]) {
			t.Fatalf("%s %s: %+v, want %+v", level, u.ID, one.Counts, want[u.ID])
		}
		if len(one.Children) != len(kids[u.ID]) {
			t.Fatalf("%s %s: %d children, want %d", level, u.ID, len(one.Children), len(kids[u.ID]))
		}
		var sum int64
		for _, c := range one.Children {
			if !sameCounts(c.Counts, *kids[u.ID][c.ID]) {
				t.Fatalf("%s %s child %s: %+v, want %+v", level, u.ID, c.ID, c.Counts, kids[u.ID][c.ID])
			}
			sum += c.Total
		}
		if sum != one.Total {
			t.Fatalf("children add up to %d, unit has %d", sum, one.Total)
		}
	}
	if _, err := tc.eng.Unit(engine.UnitsQuery{Level: "grid", ID: "nope", Where: ""}); err == nil {
		t.Fatal("unknown unit: no error")
	}
	// a building is a unit too: its counts, no children
	bld := tc.recs[rng.IntN(len(tc.recs))].units[4]
	var want counts
	for _, r := range tc.recs {
		if r.units[4] == bld {
			want.add(r, p, nf)
		}
	}
	one, err := tc.eng.Unit(engine.UnitsQuery{Level: "building", ID: bld, Where: where})
	if err != nil || !sameCounts(one.Counts, want) || one.ID != bld || one.Level != engine.LevelBuilding || one.Children == nil || len(one.Children) != 0 {
		t.Fatalf("building %s as a unit: %v %+v, want %+v and no children", bld, err, one, want)
	}
	if _, err := tc.eng.Unit(engine.UnitsQuery{Level: "building", ID: "nope"}); !errors.Is(err, fault.NotFound) {
		t.Fatalf("unknown building: %v, want not found", err)
	}
}

// TestEmptyUnitIsNoUnit: dwellings whose grid (or community) column is empty
// are in no unit of that level: no unit "" in a level's listing, in a
// unit's children or in the grid-by-level cells, while they still count in
// the units above them, whose counts are as before.
func TestEmptyUnitIsNoUnit(t *testing.T) {
	c := city.New(city.Config{N: 3_000, Seed: 7})
	b := engine.NewBatch("no grid", city.FlagNames())
	var bld, oneGrid, oneCommunity string
	var recs []engine.Record
	err := c.Dwellings(func(r *engine.Record) error {
		r2 := *r
		r2.Flags = slices.Clone(r.Flags)
		switch {
		case bld == "" || r2.Building == bld: // a whole building without a grid
			bld = r2.Building
			r2.Grid = ""
		case oneGrid == "": // one dwelling of another building
			oneGrid = r2.ID
			r2.Grid = ""
		case oneCommunity == "":
			oneCommunity = r2.ID
			r2.Community, r2.Grid = "", ""
		}
		recs = append(recs, r2)
		return b.Add(&r2)
	})
	if err != nil {
		t.Fatal(err)
	}
	e := engine.New(engine.Options{})
	if err := e.Load(b); err != nil {
		t.Fatal(err)
	}
	if err := e.AddBoundaries(c.Boundaries()); err != nil {
		t.Fatal(err)
	}
	total := map[[2]string]int64{} // (level, id) → dwellings
	kids := map[string]map[string]int64{}
	for _, r := range recs {
		for l, id := range []string{r.District, r.Street, r.Community, r.Grid} {
			total[[2]string{engine.Level(l).String(), id}]++
		}
		if kids[r.Community] == nil {
			kids[r.Community] = map[string]int64{}
		}
		kids[r.Community][r.Grid]++
	}
	for _, level := range []string{"district", "street", "community", "grid"} {
		res, err := e.Units(engine.UnitsQuery{Level: level})
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range res.Units {
			if u.ID == "" {
				t.Fatalf("%s: a unit with an empty id: %+v", level, u)
			}
			if u.Total != total[[2]string{level, u.ID}] {
				t.Fatalf("%s %s: %d dwellings, want %d", level, u.ID, u.Total, total[[2]string{level, u.ID}])
			}
		}
		cells, err := e.Grid(&engine.GridQuery{Level: level})
		if err != nil {
			t.Fatal(err)
		}
		var sum int64
		for _, cl := range cells.Cells {
			if cl.ID == "" {
				t.Fatalf("grid by %s: a cell with an empty id: %+v", level, cl)
			}
			sum += cl.Total
		}
		if want := int64(len(recs)) - total[[2]string{level, ""}]; sum != want {
			t.Fatalf("grid by %s: cells hold %d dwellings, want %d", level, sum, want)
		}
	}
	if n := total[[2]string{"grid", ""}]; n < 3 || total[[2]string{"community", ""}] != 1 {
		t.Fatalf("the test has %d dwellings without a grid, %d without a community", n, total[[2]string{"community", ""}])
	}
	// the community of the building without a grid: all its dwellings, its
	// grids without a unit ""
	d, err := e.Dwelling(recs[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	u, err := e.Unit(engine.UnitsQuery{Level: "community", ID: d.Community})
	if err != nil {
		t.Fatal(err)
	}
	if u.Total != total[[2]string{"community", d.Community}] {
		t.Fatalf("community %s: %d dwellings, want %d", d.Community, u.Total, total[[2]string{"community", d.Community}])
	}
	var sum int64
	for _, ch := range u.Children {
		if ch.ID == "" {
			t.Fatalf("community %s: a child with an empty id: %+v", d.Community, ch)
		}
		if ch.Total != kids[d.Community][ch.ID] {
			t.Fatalf("community %s, grid %s: %d dwellings, want %d", d.Community, ch.ID, ch.Total, kids[d.Community][ch.ID])
		}
		sum += ch.Total
	}
	if sum != u.Total-kids[d.Community][""] || kids[d.Community][""] == 0 {
		t.Fatalf("community %s: children hold %d of %d dwellings, %d have no grid", d.Community, sum, u.Total, kids[d.Community][""])
	}
	if _, err := e.Unit(engine.UnitsQuery{Level: "grid", ID: ""}); !errors.Is(err, fault.NotFound) {
		t.Fatalf("grid \"\": %v, want not found", err)
	}
}
