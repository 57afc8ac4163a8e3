package engine_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/roomstate/roomstate/city"
	"github.com/roomstate/roomstate/engine"
)

// BenchmarkBuildingUnit: one building answered as a unit (GET
// /api/v1/units/building/{id}) on a city of 100,000 dwellings with 2,000
// flag changes since a past version, against the whole building listing it
// must agree with. Each iteration asks for the next building.
func BenchmarkBuildingUnit(b *testing.B) {
	const n = 100_000
	c := city.New(city.Config{N: n, Seed: 7})
	bt, err := c.Batch()
	if err != nil {
		b.Fatal(err)
	}
	e := engine.New(engine.Options{})
	if err := e.Load(bt); err != nil {
		b.Fatal(err)
	}
	var ids []string
	blds := map[string]bool{}
	_ = c.Dwellings(func(r *engine.Record) error {
		ids = append(ids, r.ID)
		blds[r.Building] = true
		return nil
	})
	var bids []string
	for id := range blds {
		bids = append(bids, id)
	}
	slices.Sort(bids)
	past := engine.At(e.Version())
	rng := rand.New(rand.NewPCG(7, 7))
	flags := city.FlagNames()
	for i := 0; i < 2000; i++ {
		op := engine.Op{Kind: engine.OpFlags, ID: ids[rng.IntN(len(ids))], Set: []string{flags[rng.IntN(len(flags))]}}
		if _, err := e.Apply(engine.Request{Ops: []engine.Op{op}}, time.Now()); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("%d dwellings, %d buildings, version %d", n, len(bids), e.Version())
	for _, tc := range []struct {
		name string
		q    engine.UnitsQuery
	}{
		{"now", engine.UnitsQuery{}},
		{"where", engine.UnitsQuery{Where: "isolated & !vaccinated"}},
		{"as_of", engine.UnitsQuery{Where: "rental", AsOf: past}},
		{"since", engine.UnitsQuery{Where: "rental", Since: &past}},
	} {
		q := tc.q
		q.Level = "building"
		b.Run(tc.name, func(b *testing.B) {
			if _, err := e.Units(q); err != nil { // warm the expression's caches
				b.Fatal(err)
			}
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				q.ID = bids[i%len(bids)]
				if _, err := e.Unit(q); err != nil {
					b.Fatal(fmt.Errorf("%s: %w", q.ID, err))
				}
			}
		})
	}
}
