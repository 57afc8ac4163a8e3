package engine_test

import (
	"encoding/binary"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paulmach/orb"
	"github.com/roomstate/roomstate/city"
	"github.com/roomstate/roomstate/coord"
	"github.com/roomstate/roomstate/engine"
	"github.com/roomstate/roomstate/internal/testseed"
	"github.com/roomstate/roomstate/region"
)

// model is the oracle's copy of the dwellings, changed alongside the engine.
type model struct {
	byID  map[string]rec
	flags []string
	// evFlags: the flags each change of the last randomOps leaves its
	// dwelling with, as its event must name them (none after a delete)
	evFlags [][]string
}

func newModel(tc *testCity, flags []string) *model {
	m := &model{byID: map[string]rec{}, flags: flags}
	for _, r := range tc.recs {
		m.byID[r.id] = r
	}
	return m
}

func (m *model) recs() []rec {
	out := make([]rec, 0, len(m.byID))
	for _, r := range m.byID {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out
}

func (m *model) mask(names []string) uint64 {
	var v uint64
	for _, n := range names {
		v |= 1 << slices.Index(m.flags, n)
	}
	return v
}

func (m *model) names(mask uint64) []string {
	var out []string
	for i, n := range m.flags {
		if mask>>i&1 != 0 {
			out = append(out, n)
		}
	}
	return out
}

// changingCity loads a generated city of n dwellings into a writer made
// with opts, and returns it with the oracle's copy of its dwellings and
// their ids, sorted: where the tests that change a city start.
func changingCity(t *testing.T, n int, seed uint64, opts engine.Options) (*engine.Writer, *testCity, *model, []string) {
	t.Helper()
	c := city.New(city.Config{N: n, Seed: seed})
	b, _ := c.Batch()
	e := engine.New(opts)
	if err := e.Load(b); err != nil {
		t.Fatal(err)
	}
	tc := &testCity{city: c, eng: e}
	_ = c.Dwellings(func(r *engine.Record) error {
		x, y := coord.ToE7(r.Lon), coord.ToE7(r.Lat)
		tc.pts = append(tc.pts, [2]int32{x, y})
		tc.recs = append(tc.recs, rec{id: r.ID, x: x, y: y, flags: r.Flags[0], units: [5]string{r.District, r.Street, r.Community, r.Grid, r.Building}})
		return nil
	})
	m := newModel(tc, e.Flags())
	return e, tc, m, slices.Sorted(maps.Keys(m.byID))
}

// applyRandom applies a random request of changes (randomOps) to e and to
// the model, and adds the ids it puts to ids.
func (m *model) applyRandom(t *testing.T, rng *rand.Rand, e *engine.Writer, ids *[]string, pts [][2]int32, next *int) {
	t.Helper()
	ops := m.randomOps(rng, *ids, pts, next)
	for _, op := range ops {
		if op.Kind == engine.OpPut && !slices.Contains(*ids, op.ID) {
			*ids = append(*ids, op.ID)
		}
	}
	if _, err := apply(e, ops); err != nil {
		t.Fatal(err)
	}
}

// randomOps makes a request of 1–5 changes, valid against the model (and
// applies them to the model).
func (m *model) randomOps(rng *rand.Rand, ids []string, pts [][2]int32, next *int) []engine.Op {
	var ops []engine.Op
	m.evFlags = m.evFlags[:0]
	defer func() {
		for _, op := range ops[len(m.evFlags):] {
			m.evFlags = append(m.evFlags, m.names(m.byID[op.ID].flags))
		}
	}()
	for k := 0; k < 1+rng.IntN(5); k++ {
		for _, op := range ops[len(m.evFlags):] {
			m.evFlags = append(m.evFlags, m.names(m.byID[op.ID].flags))
		}
		id := ids[rng.IntN(len(ids))]
		r, ok := m.byID[id]
		switch x := rng.IntN(10); {
		case ok && x < 6: // flags
			set := []string{m.flags[rng.IntN(len(m.flags))]}
			var clear []string
			for _, f := range m.flags {
				if rng.IntN(3) == 0 && !slices.Contains(set, f) {
					clear = append(clear, f)
				}
			}
			ops = append(ops, engine.Op{Kind: engine.OpFlags, ID: id, Set: set, Clear: clear})
			r.flags = r.flags | m.mask(set)
			r.flags &^= m.mask(clear)
			m.byID[id] = r
		case ok && x < 7: // delete
			ops = append(ops, engine.Op{Kind: engine.OpDelete, ID: id})
			delete(m.byID, id)
		default: // put: a new dwelling, or a replacement that may move it
			if rng.IntN(2) == 0 || !ok {
				*next++
				id = fmt.Sprintf("NEW-%d", *next)
			}
			p := pts[rng.IntN(len(pts))]
			if rng.IntN(3) == 0 {
				p = [2]int32{p[0] + int32(rng.IntN(4000)-2000), p[1] + int32(rng.IntN(4000)-2000)}
			}
			var fl []string
			for _, f := range m.flags {
				if rng.IntN(3) == 0 {
					fl = append(fl, f)
				}
			}
			units := [5]string{"D1", "S1", fmt.Sprintf("C%d", rng.IntN(3)), fmt.Sprintf("G%d", rng.IntN(5)), fmt.Sprintf("NB%d", rng.IntN(20))}
			if rng.IntN(4) == 0 {
				units[4] = "" // no building: one per point
			}
			in := &engine.DwellingInput{Lon: deg(p[0]), Lat: deg(p[1]), District: units[0], Street: units[1], Community: units[2],
				Grid: units[3], Building: units[4], Unit: "1", Floor: int16(rng.IntN(20)), Room: fmt.Sprint(rng.IntN(100)), Flags: fl}
			ops = append(ops, engine.Op{Kind: engine.OpPut, ID: id, Put: in})
			if units[4] == "" {
				units[4] = fmt.Sprintf("@%v,%v", in.Lon, in.Lat)
			}
			m.byID[id] = rec{id: id, x: p[0], y: p[1], flags: m.mask(fl), units: units}
		}
	}
	return ops
}

func TestUpdatesMatchOracle(t *testing.T) {
	seed := testseed.Get(t)
	rng := rand.New(rand.NewPCG(seed, 90))
	e, tc, m, ids := changingCity(t, 20_000, seed, engine.Options{DeltaLimit: 300})
	next := 0
	v := e.Version()
	changes := 0
	// areas kept across the changes: their covers are made by the first
	// query and must answer as the region alone, and as the model, after
	// flag changes, inserts, moves and deletes (the delta) and compactions
	// (a new index)
	areas := makeAreas(t, rng, tc)
	for round := 0; round < 12; round++ {
		for i := 0; i < 150; i++ {
			ops := m.randomOps(rng, ids, tc.pts, &next)
			for _, op := range ops {
				if op.Kind == engine.OpPut && !slices.Contains(ids, op.ID) {
					ids = append(ids, op.ID)
				}
			}
			evs, err := apply(e, ops)
			if err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
			changes += len(ops)
			for j, ev := range evs {
				if ev.Version != v+engine.Version(j+1) || ev.ID != ops[j].ID {
					t.Fatalf("event %d: %+v", j, ev)
				}
				// the dwelling's flags after the change (lists shared
				// between events must not have been altered by later ones)
				if !slices.Equal(ev.Flags, m.evFlags[j]) || ev.Flags == nil {
					t.Fatalf("event %d (%s of %s): flags %v, want %v", j, ev.Op, ev.ID, ev.Flags, m.evFlags[j])
				}
			}
			v += engine.Version(len(ops))
		}
		if round%4 == 3 {
			e.Compact() // also sorts in what is waiting, while checking below
		}
		tc.recs = m.recs()
		checkAgainstModel(t, rng, tc, m, fmt.Sprintf("round %d", round))
		checkAreas(t, rng, tc, m.flags, areas, engine.AsOf{}, fmt.Sprintf("round %d", round))
	}
	if e.Version() != v || e.Len() != len(m.byID) {
		t.Fatalf("version %d, want %d; %d dwellings, want %d", e.Version(), v, e.Len(), len(m.byID))
	}
	// every dwelling reads back as the model has it
	for _, r := range m.recs() {
		d, err := e.Dwelling(r.id)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(d.Flags, m.names(r.flags)) && !(len(d.Flags) == 0 && r.flags == 0) {
			t.Fatalf("%s: flags %v, want %v", r.id, d.Flags, m.names(r.flags))
		}
		if coord.ToE7(d.Lon) != r.x || d.Grid != r.units[3] || d.Building != r.units[4] {
			t.Fatalf("%s: %+v, want %+v", r.id, d, r)
		}
	}
}

// testArea is an area kept across changes, with its geometry for the oracle.
type testArea struct {
	mp   orb.MultiPolygon
	area *engine.Area
}

// makeAreas makes areas of a few stars and unit boundaries of tc's city.
func makeAreas(t *testing.T, rng *rand.Rand, tc *testCity) []testArea {
	t.Helper()
	var out []testArea
	bs := tc.city.Boundaries()
	for len(out) < 6 {
		var mp orb.MultiPolygon
		if len(out) < 4 {
			cpt := tc.pts[rng.IntN(len(tc.pts))]
			mp = orb.MultiPolygon{{star(rng, deg(cpt[0]), deg(cpt[1]), 0.003, 0.03, 6+rng.IntN(20))}}
		} else {
			mp = bs[rng.IntN(len(bs))].Geometry
		}
		if rg, err := region.New(mp); err == nil {
			out = append(out, testArea{mp, engine.NewArea(rg)})
		}
	}
	return out
}

// checkAreas asks every area (twice: a cover made or reused, then reused)
// with a random where, grouped by grid, as of at, and compares the answer
// with the region's alone and with the oracle's count of tc.recs (the
// dwellings as of at).
func checkAreas(t *testing.T, rng *rand.Rand, tc *testCity, flags []string, areas []testArea, at engine.AsOf, what string) {
	t.Helper()
	for i, ta := range areas {
		where, p := randomExpr(rng, flags, 2)
		if i == 0 {
			where, p = "", func(uint64) bool { return true }
		}
		var plain engine.PolygonResult
		if err := tc.eng.PolygonStats(&engine.PolygonQuery{Region: ta.area.Region(), Where: where, GroupBy: "grid", AsOf: at}, &plain); err != nil {
			t.Fatal(err)
		}
		want, _ := tc.oracleCounts(ta.mp, p, len(flags))
		if plain.Total != want.Total || plain.Matched != want.Matched || !slices.Equal(plain.Flags, want.Flags) {
			t.Fatalf("%s: area %d where %q: the region alone %+v, oracle %+v", what, i, where, plain.Counts, want)
		}
		for pass := range 2 {
			var got engine.PolygonResult
			if err := tc.eng.PolygonStats(&engine.PolygonQuery{Area: ta.area, Where: where, GroupBy: "grid", AsOf: at}, &got); err != nil {
				t.Fatal(err)
			}
			if !sameResult(&got, &plain) {
				t.Fatalf("%s: area %d where %q pass %d: %+v, the region alone %+v", what, i, where, pass, got.Counts, plain.Counts)
			}
		}
	}
}

func checkAgainstModel(t *testing.T, rng *rand.Rand, tc *testCity, m *model, what string) {
	t.Helper()
	nf := len(m.flags)
	for i := 0; i < 8; i++ {
		where, p := randomExpr(rng, m.flags, 2)
		if i == 0 {
			where, p = "", func(uint64) bool { return true }
		}
		cpt := tc.pts[rng.IntN(len(tc.pts))]
		mp := orb.MultiPolygon{{star(rng, deg(cpt[0]), deg(cpt[1]), 0.003, 0.03, 6+rng.IntN(20))}}
		rg, err := region.New(mp)
		if err != nil {
			continue
		}
		want, matched := tc.oracleCounts(mp, p, nf)
		checkRegion(t, tc.eng.Engine, rg, where, want, matched, fmt.Sprintf("%s polygon %d where %q", what, i, where))
		for li, level := range []string{"grid", "building"} {
			res, err := tc.eng.Grid(&engine.GridQuery{Level: level, Where: where})
			if err != nil {
				t.Fatal(err)
			}
			wantL := map[string]*counts{}
			for _, r := range tc.recs {
				k := r.units[3+li]
				if wantL[k] == nil {
					wantL[k] = &counts{}
				}
				wantL[k].add(r, p, nf)
			}
			if len(res.Cells) != len(wantL) {
				t.Fatalf("%s: %s cells %d, want %d", what, level, len(res.Cells), len(wantL))
			}
			for _, cell := range res.Cells {
				if w := wantL[cell.ID]; w == nil || !sameCounts(cell.Counts, *w) {
					t.Fatalf("%s: %s %q got %+v want %+v", what, level, cell.ID, cell.Counts, w)
				}
			}
		}
	}
	// room-state maps hold exactly the model's dwellings of each building
	per := map[string]int{}
	for _, r := range tc.recs {
		per[r.units[4]]++
	}
	n := 0
	for bid, want := range per {
		if n++; n > 30 {
			break
		}
		rs, err := tc.eng.BuildingRoomState(bid, "default", engine.AsOf{})
		if err != nil {
			t.Fatalf("%s: building %s: %v", what, bid, err)
		}
		got := 0
		for _, fl := range rs.Buildings[0].Floors {
			got += len(fl.Rooms)
		}
		if got != want {
			t.Fatalf("%s: building %s has %d rooms, want %d", what, bid, got, want)
		}
	}
}

func TestRejectedRequestChangesNothing(t *testing.T) {
	tc := loadCity(t, 20_000, 21, 0)
	e := engine.New(engine.Options{})
	b, _ := tc.city.Batch()
	e.Load(b)
	id := tc.recs[0].id
	before, _ := e.Dwelling(id)
	v := e.Version()
	bad := [][]engine.Op{
		{{Kind: engine.OpFlags, ID: id, Set: []string{"isolated"}}, {Kind: engine.OpFlags, ID: "nope", Set: []string{"isolated"}}},
		{{Kind: engine.OpFlags, ID: id, Set: []string{"isolated"}}, {Kind: engine.OpFlags, ID: id, Set: []string{"bogus"}}},
		{{Kind: engine.OpFlags, ID: id, Set: []string{"isolated"}, Clear: []string{"isolated"}}},
		{{Kind: engine.OpFlags, ID: id}},
		{{Kind: engine.OpDelete, ID: id}, {Kind: engine.OpFlags, ID: id, Set: []string{"rental"}}},
		{{Kind: engine.OpPut, ID: "x", Put: &engine.DwellingInput{Lon: 500}}},
		{{Kind: engine.OpPut, ID: "bad\x00id", Put: &engine.DwellingInput{Lon: 1, Lat: 1}}},
	}
	for i, ops := range bad {
		if _, err := apply(e, ops); err == nil {
			t.Fatalf("request %d accepted", i)
		} else if _, ok := err.(*engine.OpError); !ok {
			t.Fatalf("request %d: %T", i, err)
		}
	}
	after, _ := e.Dwelling(id)
	if e.Version() != v || !slices.Equal(before.Flags, after.Flags) || e.Len() != len(tc.recs) {
		t.Fatal("a rejected request changed the engine")
	}
	// ops that only work in order: create, then change, then delete
	ops := []engine.Op{
		{Kind: engine.OpPut, ID: "fresh", Put: &engine.DwellingInput{Lon: 121.5, Lat: 31.2, Building: "NB", Floor: 3, Room: "301"}},
		{Kind: engine.OpFlags, ID: "fresh", Set: []string{"isolated"}},
		{Kind: engine.OpDelete, ID: "fresh"},
	}
	if _, err := apply(e, ops); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Dwelling("fresh"); err == nil || e.Version() != v+3 {
		t.Fatal("ordered request not applied in order")
	}
}

// TestReadersNeverSeeHalfABatch runs readers against a writer whose every
// request flips a whole building's isolation: a reader must always see all
// or none of a building's dwellings isolated. Run with -race.
func TestReadersNeverSeeHalfABatch(t *testing.T) {
	c := city.New(city.Config{N: 20_000, Seed: 8})
	b, _ := c.Batch()
	e := engine.New(engine.Options{DeltaLimit: 64})
	e.Load(b)
	byB := map[string][]string{}
	_ = c.Dwellings(func(r *engine.Record) error { byB[r.Building] = append(byB[r.Building], r.ID); return nil })
	var bids []string
	for k := range byB {
		bids = append(bids, k)
	}
	sort.Strings(bids)
	bids = bids[:20]
	for _, bid := range bids { // start from none isolated
		var ops []engine.Op
		for _, id := range byB[bid] {
			ops = append(ops, engine.Op{Kind: engine.OpFlags, ID: id, Clear: []string{"isolated"}})
		}
		apply(e, ops)
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	var bad atomic.Int64
	for r := 0; r < 3; r++ {
		wg.Add(1)
		go func(r int) {
			defer wg.Done()
			for i := 0; !stop.Load(); i++ {
				bid := bids[(i+r)%len(bids)]
				m, err := e.BuildingRoomState(bid, "default", engine.AsOf{})
				if err != nil {
					bad.Add(1)
					continue
				}
				iso := 0
				n := 0
				for _, fl := range m.Buildings[0].Floors {
					for _, room := range fl.Rooms {
						n++
						if room.State == 0 {
							iso++
						}
					}
				}
				if iso != 0 && iso != n {
					bad.Add(1)
				}
				res, err := e.Grid(&engine.GridQuery{Level: "building", Where: "isolated"})
				if err != nil {
					bad.Add(1)
					continue
				}
				for _, cell := range res.Cells {
					if slices.Contains(bids, cell.ID) && cell.Matched != 0 && cell.Matched != cell.Total {
						bad.Add(1)
					}
				}
			}
		}(r)
	}
	for i := 0; i < 300; i++ {
		bid := bids[i%len(bids)]
		var ops []engine.Op
		on := (i/len(bids))%2 == 0
		for _, id := range byB[bid] {
			if on {
				ops = append(ops, engine.Op{Kind: engine.OpFlags, ID: id, Set: []string{"isolated"}})
			} else {
				ops = append(ops, engine.Op{Kind: engine.OpFlags, ID: id, Clear: []string{"isolated"}})
			}
		}
		if i%7 == 0 { // and some inserts, which bring compactions
			ops = append(ops, engine.Op{Kind: engine.OpPut, ID: fmt.Sprintf("N%d", i), Put: &engine.DwellingInput{Lon: 121.47, Lat: 31.23, Building: "elsewhere"}})
		}
		if _, err := apply(e, ops); err != nil {
			t.Fatal(err)
		}
	}
	stop.Store(true)
	wg.Wait()
	if bad.Load() > 0 {
		t.Fatalf("%d reads saw half a request", bad.Load())
	}
}

// TestNewBuildingInNewArea: counts kept per building and area grow with a
// dwelling that brings both (found by fuzzing the handlers).
func TestNewBuildingInNewArea(t *testing.T) {
	c := city.New(city.Config{N: 5_000, Seed: 3})
	b, _ := c.Batch()
	e := engine.New(engine.Options{})
	e.Load(b)
	before, _ := e.Grid(&engine.GridQuery{Level: "grid", Where: "rental"}) // counts built
	if _, err := apply(e, []engine.Op{{Kind: engine.OpPut, ID: "X", Put: &engine.DwellingInput{Lon: 121, Lat: 31,
		Grid: "NEW-GRID", Building: "NEW-B", Flags: []string{"rental"}}}}); err != nil {
		t.Fatal(err)
	}
	after, err := e.Grid(&engine.GridQuery{Level: "grid", Where: "rental"})
	if err != nil || len(after.Cells) != len(before.Cells)+1 {
		t.Fatalf("%v: %d cells, want %d", err, len(after.Cells), len(before.Cells)+1)
	}
	u, err := e.Unit(engine.UnitsQuery{Level: "grid", ID: "NEW-GRID", Where: "rental"})
	if err != nil || u.Total != 1 || u.Matched != 1 || len(u.Children) != 1 || u.Children[0].ID != "NEW-B" {
		t.Fatalf("%v %+v", err, u)
	}
}

// Readers that all ask first after a load build the new rank index
// together: none may use it before it is complete (it once counted from a
// half-built index when its "current" mark was the initial zero).
func TestConcurrentFirstQueries(t *testing.T) {
	c := city.New(city.Config{N: 100_000, Seed: 21})
	region, err := region.New(orb.MultiPolygon{{{{-180, -85}, {180, -85}, {180, 85}, {-180, 85}, {-180, -85}}}})
	if err != nil {
		t.Fatal(err)
	}
	var want engine.Counts
	for round := range 10 {
		b, _ := c.Batch()
		e := engine.New(engine.Options{})
		if err := e.Load(b); err != nil {
			t.Fatal(err)
		}
		if round == 0 {
			want, _ = e.BruteStats(region, "isolated & !vaccinated")
		}
		var wg sync.WaitGroup
		bad := make(chan string, 16)
		for range 16 {
			wg.Go(func() {
				var res engine.PolygonResult
				if err := e.PolygonStats(&engine.PolygonQuery{Region: region, Where: "isolated & !vaccinated"}, &res); err != nil {
					bad <- err.Error()
				} else if res.Total != want.Total || res.Matched != want.Matched {
					bad <- fmt.Sprintf("got %d/%d, want %d/%d", res.Matched, res.Total, want.Matched, want.Total)
				}
			})
		}
		wg.Wait()
		close(bad)
		for s := range bad {
			t.Fatalf("round %d: %s", round, s)
		}
	}
}

// Sequences that once crashed or lost data: each ends in a normal answer.
func TestEdgeSequences(t *testing.T) {
	put := func(id string) engine.Op {
		return engine.Op{Kind: engine.OpPut, ID: id, Put: &engine.DwellingInput{Lon: 121, Lat: 31, Building: "B"}}
	}
	square := func(x0, y0, x1, y1 float64) orb.MultiPolygon {
		return orb.MultiPolygon{{{{x0, y0}, {x1, y0}, {x1, y1}, {x0, y1}, {x0, y0}}}}
	}
	t.Run("load nothing, then put", func(t *testing.T) {
		e := engine.New(engine.Options{})
		if err := e.Load(); err != nil {
			t.Fatal(err)
		}
		if _, err := apply(e, []engine.Op{put("a")}); err != nil || e.Len() != 1 {
			t.Fatalf("%v, %d dwellings", err, e.Len())
		}
	})
	t.Run("delete all, compact, then put", func(t *testing.T) {
		e := engine.New(engine.Options{DeltaLimit: 1 << 30})
		if _, err := apply(e, []engine.Op{put("a"), put("b")}); err != nil {
			t.Fatal(err)
		}
		if _, err := apply(e, []engine.Op{{Kind: engine.OpDelete, ID: "a"}, {Kind: engine.OpDelete, ID: "b"}}); err != nil {
			t.Fatal(err)
		}
		e.Compact()
		if _, err := apply(e, []engine.Op{put("c")}); err != nil || e.Len() != 1 {
			t.Fatalf("%v, %d dwellings", err, e.Len())
		}
	})
	t.Run("boundary added during a background compaction", func(t *testing.T) {
		c := city.New(city.Config{N: 200_000, Seed: 22})
		b, _ := c.Batch()
		e := engine.New(engine.Options{DeltaLimit: 1})
		if err := e.Load(b); err != nil {
			t.Fatal(err)
		}
		if _, err := apply(e, []engine.Op{put("new")}); err != nil { // starts a compaction
			t.Fatal(err)
		}
		if err := e.AddBoundaries([]engine.Boundary{{Level: engine.LevelGrid, ID: "LATE", Geometry: square(120.9, 30.9, 121.2, 31.2)}}); err != nil {
			t.Fatal(err)
		}
		e.Compact() // waits for the running one, if any
		for e.DeltaSize() != 0 {
			time.Sleep(5 * time.Millisecond)
		}
		u, err := e.Units(engine.UnitsQuery{Level: "grid", Where: ""})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.ContainsFunc(u.Units, func(x engine.UnitStat) bool { return x.ID == "LATE" && x.BBox != [4]float64{} }) {
			t.Fatal("the boundary added during the compaction was lost")
		}
	})
	t.Run("dwellings across the globe", func(t *testing.T) {
		b := engine.NewBatch("globe", nil)
		for i, p := range [][2]float64{{-179.9, -80}, {179.9, 80}, {0, 0}, {121, 31}} {
			if err := b.Add(&engine.Record{ID: fmt.Sprint("g", i), Lon: p[0], Lat: p[1], Building: fmt.Sprint("B", i)}); err != nil {
				t.Fatal(err)
			}
		}
		e := engine.New(engine.Options{})
		if err := e.Load(b); err != nil {
			t.Fatal(err)
		}
		for _, box := range []orb.MultiPolygon{square(-180, -85, 180, 85), square(100, 20, 180, 85), square(-1, -1, 1, 1)} {
			rg, _ := region.New(box)
			var res engine.PolygonResult
			want, _ := e.BruteStats(rg, "")
			if err := e.PolygonStats(&engine.PolygonQuery{Region: rg}, &res); err != nil || res.Total != want.Total {
				t.Fatalf("%v: %v, %d, want %d", box.Bound(), err, res.Total, want.Total)
			}
		}
	})
	t.Run("no region", func(t *testing.T) {
		e := engine.New(engine.Options{})
		var res engine.PolygonResult
		if err := e.PolygonStats(&engine.PolygonQuery{}, &res); err == nil {
			t.Fatal("no error")
		}
		if _, err := e.BruteStats(nil, ""); err == nil {
			t.Fatal("no error")
		}
	})
	t.Run("snapshot with a duplicated string", func(t *testing.T) {
		e := engine.New(engine.Options{})
		if _, err := apply(e, []engine.Op{{Kind: engine.OpPut, ID: "d1", Put: &engine.DwellingInput{Lon: 121, Lat: 31, Building: "B", Room: "a"}}}); err != nil {
			t.Fatal(err)
		}
		s := e.Export()
		s.Strings = append(s.Strings, "a") // a second "a" that the room points at
		for i := 0; i+4 <= len(s.Room); i += 4 {
			binary.LittleEndian.PutUint32(s.Room[i:], uint32(len(s.Strings)-1))
		}
		if err := engine.New(engine.Options{}).Restore(s); err == nil || !strings.Contains(err.Error(), "twice") {
			t.Fatalf("restored: %v", err)
		}
	})
	t.Run("snapshot with a repeated or too large dwelling number", func(t *testing.T) {
		e := engine.New(engine.Options{})
		for _, id := range []string{"d1", "d2", "d3"} {
			if _, err := apply(e, []engine.Op{{Kind: engine.OpPut, ID: id, Put: &engine.DwellingInput{Lon: 121, Lat: 31, Building: "B"}}}); err != nil {
				t.Fatal(err)
			}
		}
		if err := engine.New(engine.Options{}).Restore(e.Export()); err != nil {
			t.Fatalf("a good snapshot: %v", err)
		}
		s := e.Export()
		copy(s.DIDs[4:8], s.DIDs[0:4]) // the second dwelling gets the first's number
		if err := engine.New(engine.Options{}).Restore(s); err == nil || !strings.Contains(err.Error(), "repeated") {
			t.Fatalf("repeated: %v", err)
		}
		s = e.Export()
		binary.LittleEndian.PutUint32(s.DIDs[8:], s.NextDID)
		if err := engine.New(engine.Options{}).Restore(s); err == nil || !strings.Contains(err.Error(), "not below") {
			t.Fatalf("too large: %v", err)
		}
	})
}

// apply applies one request of ops through the writer, now.
func apply(w *engine.Writer, ops []engine.Op) ([]engine.Event, error) {
	return w.Apply(engine.Request{Ops: ops}, time.Now())
}

// TestGroupIsOneByOne: a group of requests prepared and committed together
// (as the store's committer does with concurrent clients' requests) ends
// where the same requests applied one at a time end: the same requests
// rejected, the same events, the same dwellings. The requests change the
// same few dwellings again and again: flag changes of dwellings put, moved
// or deleted earlier in the group (or in the same request), flag changes
// of dwellings that no longer exist, puts of new ones; groups of 1 to 300
// changes cross the chunks in which ids are looked up and dwellings read.
func TestGroupIsOneByOne(t *testing.T) {
	seed := testseed.Get(t)
	rng := rand.New(rand.NewPCG(seed, 91))
	c := city.New(city.Config{N: 3_000, Seed: seed})
	load := func() *engine.Writer {
		b, _ := c.Batch()
		w := engine.New(engine.Options{DeltaLimit: 200})
		if err := w.Load(b); err != nil {
			t.Fatal(err)
		}
		return w
	}
	group, single := load(), load()
	var ids []string
	var pts [][2]float64
	_ = c.Dwellings(func(r *engine.Record) error {
		if len(ids) < 60 {
			ids = append(ids, r.ID)
			pts = append(pts, [2]float64{r.Lon, r.Lat})
		}
		return nil
	})
	for i := range 10 {
		ids = append(ids, fmt.Sprintf("new-%d", i))
	}
	flags := group.Flags()
	randomOp := func() engine.Op {
		id := ids[rng.IntN(len(ids))]
		switch k := rng.IntN(10); {
		case k < 6:
			op := engine.Op{Kind: engine.OpFlags, ID: id}
			f := flags[rng.IntN(len(flags))]
			if rng.IntN(2) == 0 {
				op.Set = []string{f}
			} else {
				op.Clear = []string{f}
			}
			return op
		case k < 9:
			p := pts[rng.IntN(len(pts))]
			return engine.Op{Kind: engine.OpPut, ID: id, Put: &engine.DwellingInput{Lon: p[0], Lat: p[1],
				District: "D", Street: "S", Community: "C", Grid: fmt.Sprintf("G%d", rng.IntN(3)),
				Building: fmt.Sprintf("B%d", rng.IntN(4)), Floor: engine.NoFloor, Flags: []string{flags[rng.IntN(len(flags))]}}}
		}
		return engine.Op{Kind: engine.OpDelete, ID: id}
	}
	at := time.Unix(1_800_000_000, 0)
	for round := range 40 {
		n := 1 + rng.IntN(300)
		if round%4 == 0 {
			n = 1 + rng.IntN(4)
		}
		var reqs []engine.Request
		for range n {
			ops := make([]engine.Op, 1+rng.IntN(3))
			for j := range ops {
				ops[j] = randomOp()
			}
			reqs = append(reqs, engine.Request{Ops: ops})
		}
		p := group.Prepare(reqs)
		evs := group.Commit(p, at)
		group.Maintain()
		for i, r := range reqs {
			one, err := single.Apply(r, at)
			if (err == nil) != (p.Errs[i] == nil) {
				t.Fatalf("round %d, request %d %+v: in a group %v, alone %v", round, i, r.Ops, p.Errs[i], err)
			}
			if len(one) != len(evs[i]) {
				t.Fatalf("round %d, request %d: %d events in a group, %d alone", round, i, len(evs[i]), len(one))
			}
			for j := range one {
				a, b := evs[i][j], one[j]
				if a.Version != b.Version || a.ID != b.ID || a.Op != b.Op || a.Building != b.Building || a.Grid != b.Grid ||
					!slices.Equal(a.Flags, b.Flags) || !slices.Equal(a.Set, b.Set) || !slices.Equal(a.Clear, b.Clear) || a.Created != b.Created {
					t.Fatalf("round %d, request %d, event %d: in a group %+v, alone %+v", round, i, j, a, b)
				}
			}
		}
		for _, id := range ids {
			a, errA := group.Dwelling(id)
			b, errB := single.Dwelling(id)
			if (errA == nil) != (errB == nil) {
				t.Fatalf("round %d: %s: in groups %v, alone %v", round, id, errA, errB)
			}
			if errA == nil && (a.Lon != b.Lon || a.Lat != b.Lat || a.Grid != b.Grid || a.Building != b.Building || !slices.Equal(a.Flags, b.Flags)) {
				t.Fatalf("round %d: %s: in groups %+v, alone %+v", round, id, a, b)
			}
		}
	}
}

// TestFreezeWhileWriting: a view frozen (as a snapshot is) while the writer
// prepares and commits changes shares nothing the writer writes outside
// the lock (run under -race: the batched look-up once kept what it read in
// the id table, which Freeze copies).
func TestFreezeWhileWriting(t *testing.T) {
	c := city.New(city.Config{N: 2_000, Seed: 1})
	b, _ := c.Batch()
	w := engine.New(engine.Options{})
	if err := w.Load(b); err != nil {
		t.Fatal(err)
	}
	var ids []string
	_ = c.Dwellings(func(r *engine.Record) error {
		ids = append(ids, r.ID)
		return nil
	})
	flag := w.Flags()[0]
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
				if fz := w.Freeze(); fz.Version() > w.Version() {
					t.Error("a view ahead of the engine")
				}
			}
		}
	}()
	for i := range 200 {
		ops := make([]engine.Op, 100)
		for j := range ops {
			ops[j] = engine.Op{Kind: engine.OpFlags, ID: ids[(i*100+j)%len(ids)], Set: []string{flag}}
			if i%2 == 1 {
				ops[j].Set, ops[j].Clear = nil, []string{flag}
			}
		}
		if _, err := w.Apply(engine.Request{Ops: ops}, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	<-done
}

// TestRankViewsPatched: the rank views brought up to date after batches of
// changes (only the changed blocks of a superblock counted again) equal
// views counted from scratch, for every expression in use, after flag
// changes, puts, moves and deletes spread over several superblocks; each
// expression's view asked for between batches, so that it is patched
// again and again.
func TestRankViewsPatched(t *testing.T) {
	seed := testseed.Get(t)
	rng := rand.New(rand.NewPCG(seed, 92))
	e, tc, m, ids := changingCity(t, 120_000, seed, engine.Options{DeltaLimit: 400})
	var wheres []string
	for range 4 {
		w, _ := randomExpr(rng, m.flags, 2)
		wheres = append(wheres, w)
	}
	next := 0
	area := tc.randomGeometry(rng, 0)
	for round := 0; round < 12; round++ {
		// ask with some expressions (their views made or brought up to date)
		for i, w := range wheres {
			if (round+i)%3 != 0 {
				rg, err := region.New(area)
				if err != nil {
					t.Fatal(err)
				}
				var res engine.PolygonResult
				if err := e.PolygonStats(&engine.PolygonQuery{Region: rg, Where: w}, &res); err != nil {
					t.Fatal(err)
				}
			}
		}
		for range 10 + rng.IntN(60) {
			m.applyRandom(t, rng, e, &ids, tc.pts, &next)
		}
		if err := e.CheckRankViews(); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
	}
}
