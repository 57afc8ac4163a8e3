package engine_test

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/paulmach/orb"
	"github.com/roomstate/roomstate/city"
	"github.com/roomstate/roomstate/engine"
	"github.com/roomstate/roomstate/fault"
	"github.com/roomstate/roomstate/region"
)

// TestUnitArea: a unit's area is its loaded boundary, prepared once and
// kept (the same area again, also after a compaction), replaced with the
// boundary; it answers as the boundary's region does; an unknown unit, a
// unit without a boundary and a level without boundaries are refused.
func TestUnitArea(t *testing.T) {
	c := city.New(city.Config{N: 20_000, Seed: 5, Kind: city.Realistic})
	b, _ := c.Batch()
	w := engine.New(engine.Options{DeltaLimit: 100})
	if err := w.Load(b); err != nil {
		t.Fatal(err)
	}
	bounds := c.Boundaries()
	if err := w.AddBoundaries(bounds); err != nil {
		t.Fatal(err)
	}
	e := w.Engine
	var street engine.Boundary
	for _, bd := range bounds {
		if bd.Level == engine.LevelStreet {
			street = bd
			break
		}
	}
	a1, err := e.UnitArea(engine.LevelStreet, street.ID)
	if err != nil {
		t.Fatal(err)
	}
	if a2, _ := e.UnitArea(engine.LevelStreet, street.ID); a2 != a1 {
		t.Fatal("the unit's area was prepared twice")
	}
	same := func(what string, a *engine.Area, mp orb.MultiPolygon) {
		t.Helper()
		rg, err := region.New(mp)
		if err != nil {
			t.Fatal(err)
		}
		for _, where := range []string{"", "isolated", "elderly_alone & !vaccinated"} {
			var want, got engine.PolygonResult
			if err := e.PolygonStats(&engine.PolygonQuery{Region: rg, Where: where, GroupBy: "community"}, &want); err != nil {
				t.Fatal(err)
			}
			for range 2 {
				if err := e.PolygonStats(&engine.PolygonQuery{Area: a, Where: where, GroupBy: "community"}, &got); err != nil {
					t.Fatal(err)
				}
				if !sameResult(&got, &want) || got.Total == 0 {
					t.Fatalf("%s where %q: the unit's area %+v, its boundary %+v", what, where, got.Counts, want.Counts)
				}
			}
		}
	}
	same("loaded", a1, street.Geometry)
	// changes, then a compaction: the area is kept, its answers follow
	rng := rand.New(rand.NewPCG(1, 2))
	var ops []engine.Op
	for i := 0; i < 300; i++ {
		ops = append(ops, engine.Op{Kind: engine.OpPut, ID: "new-" + string(rune('a'+i%26)) + string(rune('a'+i/26)),
			Put: &engine.DwellingInput{Lon: street.Geometry[0][0][i%len(street.Geometry[0][0])][0], Lat: street.Geometry[0][0][i%len(street.Geometry[0][0])][1],
				Street: street.ID, Building: "NB", Flags: []string{city.FlagNames()[rng.IntN(4)]}}})
	}
	if _, err := apply(w, ops); err != nil {
		t.Fatal(err)
	}
	same("with a delta on its boundary", a1, street.Geometry)
	w.Compact()
	if a2, _ := e.UnitArea(engine.LevelStreet, street.ID); a2 != a1 {
		t.Fatal("a compaction dropped the unit's area")
	}
	same("after a compaction", a1, street.Geometry)
	// a new boundary for the unit: a new area
	other := bounds[len(bounds)-1]
	if err := w.AddBoundaries([]engine.Boundary{{Level: engine.LevelStreet, ID: street.ID, Geometry: other.Geometry}}); err != nil {
		t.Fatal(err)
	}
	a3, err := e.UnitArea(engine.LevelStreet, street.ID)
	if err != nil || a3 == a1 {
		t.Fatalf("after its boundary changed: %v, same area %v", err, a3 == a1)
	}
	same("replaced", a3, other.Geometry)
	// refusals
	for _, tc := range []struct {
		level engine.Level
		id    string
		kind  error
	}{
		{engine.LevelStreet, "no such street", fault.NotFound},
		{engine.LevelBuilding, "B1", fault.BadRequest},
	} {
		if _, err := e.UnitArea(tc.level, tc.id); !errors.Is(err, tc.kind) {
			t.Fatalf("%s %q: %v, want %v", tc.level, tc.id, err, tc.kind)
		}
	}
	// a unit known from dwellings only has no boundary
	if _, err := apply(w, []engine.Op{{Kind: engine.OpPut, ID: "lone", Put: &engine.DwellingInput{Lon: 121.4, Lat: 31.2, Grid: "G-no-boundary", Building: "LB"}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.UnitArea(engine.LevelGrid, "G-no-boundary"); !errors.Is(err, fault.NotFound) {
		t.Fatalf("a grid without a boundary: %v", err)
	}
	// a boundary that is no valid polygon: a bad geometry naming the unit
	bow := orb.MultiPolygon{{{{121, 31}, {121.01, 31.01}, {121.01, 31}, {121, 31.01}, {121, 31}}}}
	if err := w.AddBoundaries([]engine.Boundary{{Level: engine.LevelCommunity, ID: "bowtie", Geometry: bow}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.UnitArea(engine.LevelCommunity, "bowtie"); !errors.Is(err, fault.BadGeometry) {
		t.Fatalf("a bow-tie boundary: %v", err)
	}
}

// TestBoundariesPreparedWhenInstalled: the engine prepares a boundary's
// area once, when the boundary is installed (loaded, or restored from a
// snapshot), not at the first query by its unit: every boundary is ready
// before any is asked, a valid one's area is the one its queries get, and
// one that is no valid polygon says why (what a load warns with).
func TestBoundariesPreparedWhenInstalled(t *testing.T) {
	c := city.New(city.Config{N: 5_000, Seed: 3, Kind: city.Realistic})
	b, _ := c.Batch()
	w := engine.New(engine.Options{})
	if err := w.Load(b); err != nil {
		t.Fatal(err)
	}
	bow := orb.MultiPolygon{{{{121, 31}, {121.01, 31.01}, {121.01, 31}, {121, 31.01}, {121, 31}}}}
	bounds := append(c.Boundaries(), engine.Boundary{Level: engine.LevelGrid, ID: "bowtie", Geometry: bow})
	if err := w.AddBoundaries(bounds); err != nil {
		t.Fatal(err)
	}
	check := func(e *engine.Engine, when string) {
		t.Helper()
		for _, bd := range bounds {
			if !e.AreaPrepared(bd.Level, bd.ID) {
				t.Fatalf("%s: the boundary of %s %q is not prepared", when, bd.Level, bd.ID)
			}
		}
		for _, bd := range bounds[:len(bounds)-1] {
			if err := e.InvalidBoundary(bd.Level, bd.ID); err != nil {
				t.Fatalf("%s: %s %q: %v", when, bd.Level, bd.ID, err)
			}
		}
		if err := e.InvalidBoundary(engine.LevelGrid, "bowtie"); err == nil || !strings.Contains(err.Error(), "crosses itself") {
			t.Fatalf("%s: the bow-tie: %v", when, err)
		}
		if _, err := e.UnitArea(engine.LevelGrid, "bowtie"); !errors.Is(err, fault.BadGeometry) || !strings.Contains(err.Error(), `grid "bowtie"`) {
			t.Fatalf("%s: the bow-tie's area: %v", when, err)
		}
		if err := e.InvalidBoundary(engine.LevelGrid, "no such grid"); !errors.Is(err, fault.NotFound) {
			t.Fatalf("%s: an unknown grid: %v", when, err)
		}
	}
	check(w.Engine, "loaded")
	w2 := engine.New(engine.Options{})
	if err := w2.Restore(w.Export()); err != nil {
		t.Fatal(err)
	}
	check(w2.Engine, "restored")
}
