package engine_test

import (
	"errors"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"

	"github.com/roomstate/roomstate/engine"
	"github.com/roomstate/roomstate/fault"
	"github.com/roomstate/roomstate/internal/testseed"
)

// TestBuildingUnitIsItsListingRow: Unit of a building, which reads that
// building alone, gives exactly the row the building listing (Units of
// "building") gives it — counts, delta, box — now and as of past versions,
// with and without since, under several wheres, after random changes that
// move dwellings between buildings and units (mixed buildings), empty
// buildings, make new ones and delete; a building the listing leaves out is
// not found.
func TestBuildingUnitIsItsListingRow(t *testing.T) {
	seed := testseed.Get(t)
	rng := rand.New(rand.NewPCG(seed, 23))
	e, tc, m, ids := changingCity(t, 3000, seed, engine.Options{})
	next := 0
	versions := []engine.Version{e.Version()}
	for i := 0; i < 400; i++ {
		m.applyRandom(t, rng, e, &ids, tc.pts, &next)
		if i%80 == 79 {
			versions = append(versions, e.Version())
		}
		if i == 200 {
			e.Compact()
		}
	}
	// every building id the engine has known, and one it never has
	known := map[string]bool{"no-such-building": true}
	for _, r := range tc.recs {
		known[r.units[4]] = true
	}
	for _, r := range m.byID {
		known[r.units[4]] = true
	}
	all := slices.Sorted(func(yield func(string) bool) {
		for id := range known {
			if !yield(id) {
				return
			}
		}
	})
	now := engine.AsOf{}
	ats := []engine.AsOf{now}
	for _, v := range versions {
		ats = append(ats, engine.At(v))
	}
	checked, missing := 0, 0
	for _, where := range []string{"", "isolated", "rental & !vaccinated"} {
		for ai, at := range ats {
			sinces := []*engine.AsOf{nil, &ats[1]}
			if ai > 1 {
				sinces = append(sinces, &ats[ai-1])
			}
			for _, since := range sinces {
				q := engine.UnitsQuery{Level: "building", Where: where, AsOf: at, Since: since}
				list, err := e.Units(q)
				if err != nil {
					t.Fatal(err)
				}
				rows := map[string]engine.UnitStat{}
				for _, u := range list.Units {
					rows[u.ID] = u
				}
				for _, id := range all {
					q.ID = id
					one, err := e.Unit(q)
					row, listed := rows[id]
					if !listed {
						if !errors.Is(err, fault.NotFound) {
							t.Fatalf("%+v: %v %+v, want not found (not listed)", q, err, one)
						}
						missing++
						continue
					}
					if err != nil {
						t.Fatalf("%+v: %v", q, err)
					}
					row.Children = []engine.UnitStat{}
					if !reflect.DeepEqual(one.UnitStat, row) || one.Version != list.Version || !slices.Equal(one.FlagNames, list.FlagNames) {
						t.Fatalf("%+v:\n one     %+v (delta %+v) v%d\n listing %+v (delta %+v) v%d", q, one.UnitStat, one.Delta, one.Version, row, row.Delta, list.Version)
					}
					checked++
				}
			}
		}
	}
	if checked < 1000 || missing < 50 {
		t.Fatalf("only %d buildings checked, %d not found", checked, missing)
	}
	t.Logf("%d building answers checked, %d not found, over %d ids", checked, missing, len(all))
}
