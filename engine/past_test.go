package engine_test

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/paulmach/orb"
	"github.com/roomstate/roomstate/engine"
	"github.com/roomstate/roomstate/internal/testseed"
	"github.com/roomstate/roomstate/region"
	"github.com/roomstate/roomstate/scheme"
)

// pastModel is the model's state saved at one version.
type pastModel struct {
	v    engine.Version
	at   time.Time // a time between this version's change and the next
	recs map[string]rec
}

// TestAsOfMatchesModel replays a random sequence of changes (flags, puts
// that add, replace and move dwellings between buildings and units,
// deletes, re-adds) into the engine and a brute-force model, saving the
// model at random versions; then every kind of question as of those
// versions (by version, and by a time between changes) must equal the
// model's answer then: polygons with where and group_by, grids of cells and
// of units, units with since, one unit with its children, room-state maps,
// the legend, the tiles' data and series.
func TestAsOfMatchesModel(t *testing.T) {
	// corrections of more than a few dwellings read them on two goroutines
	defer engine.SetParallelDeltas(16)()
	seed := testseed.Get(t)
	rng := rand.New(rand.NewPCG(seed, 11))
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	e, tc, m, ids := changingCity(t, 15_000, seed, engine.Options{DeltaLimit: 250, Clock: func() time.Time { return t0.Add(-time.Second) }})
	if err := e.AddBoundaries(tc.city.Boundaries()); err != nil {
		t.Fatal(err)
	}
	next := 0
	now := t0
	saved := []pastModel{{v: e.Version(), at: t0.Add(-time.Millisecond), recs: maps.Clone(m.byID)}}
	if e.Version() != engine.Version(len(tc.recs)) {
		t.Fatalf("loaded version %d", e.Version())
	}
	// the model's pending expiries: dwelling → flag → due
	pending := map[string]map[string]time.Time{}
	for i := 0; i < 900; i++ {
		now = now.Add(time.Duration(1+rng.IntN(600)) * time.Second)
		// what falls due clears itself first, as the store would do it
		var due []engine.Op
		for id, fl := range pending {
			var names []string
			for f, at := range fl {
				if !at.After(now) {
					names = append(names, f)
				}
			}
			if len(names) > 0 {
				slices.Sort(names)
				due = append(due, engine.Op{Kind: engine.OpFlags, ID: id, Clear: names})
			}
		}
		slices.SortFunc(due, func(a, b engine.Op) int { return cmpStr(a.ID, b.ID) })
		got := e.DueExpiries(now)
		slices.SortFunc(got, func(a, b engine.Op) int { return cmpStr(a.ID, b.ID) })
		if len(got) != len(due) {
			for _, d := range due {
				dw, err := e.Dwelling(d.ID)
				t.Logf("model due %+v; engine: %+v %v", d, dw, err)
			}
			t.Fatalf("change %d: %d dwellings due, want %d", i, len(got), len(due))
		}
		for k := range got {
			if got[k].ID != due[k].ID || !slices.Equal(got[k].Clear, due[k].Clear) {
				t.Fatalf("change %d: due %+v, want %+v", i, got[k], due[k])
			}
		}
		if len(got) > 0 {
			if _, err := e.Apply(engine.Request{Ops: got}, now); err != nil {
				t.Fatal(err)
			}
			for _, op := range got {
				r := m.byID[op.ID]
				r.flags &^= m.mask(op.Clear)
				m.byID[op.ID] = r
				for _, f := range op.Clear {
					delete(pending[op.ID], f)
				}
			}
		}
		ops := m.randomOps(rng, ids, tc.pts, &next)
		for j := range ops {
			op := &ops[j]
			if op.Kind == engine.OpPut && !slices.Contains(ids, op.ID) {
				ids = append(ids, op.ID)
			}
			switch op.Kind {
			case engine.OpFlags:
				if rng.IntN(4) == 0 {
					op.Until = now.Add(time.Duration(1+rng.IntN(3000)) * time.Second)
				}
				if pending[op.ID] == nil {
					pending[op.ID] = map[string]time.Time{}
				}
				for _, f := range op.Set {
					if op.Until.IsZero() {
						delete(pending[op.ID], f)
					} else {
						pending[op.ID][f] = op.Until
					}
				}
				for _, f := range op.Clear {
					delete(pending[op.ID], f)
				}
			default:
				delete(pending, op.ID)
			}
		}
		if _, err := e.Apply(engine.Request{Ops: ops}, now); err != nil {
			t.Fatal(err)
		}
		if rng.IntN(30) == 0 || i == 899 {
			saved = append(saved, pastModel{v: e.Version(), at: now.Add(time.Millisecond), recs: maps.Clone(m.byID)})
		}
		if i%300 == 299 {
			e.Compact()
		}
	}
	if len(saved) < 10 {
		t.Fatalf("only %d saved states", len(saved))
	}
	flags := e.Flags()
	nf := len(flags)
	areas := makeAreas(t, rng, tc)
	for si, pm := range saved {
		past := &testCity{city: tc.city, eng: e, pts: tc.pts}
		for _, r := range pm.recs {
			past.recs = append(past.recs, r)
		}
		sort.Slice(past.recs, func(i, j int) bool { return past.recs[i].id < past.recs[j].id })
		at := engine.At(pm.v)
		// the version of a time between two changes
		if v, err := e.VersionAt(pm.at); err != nil || v != pm.v {
			t.Fatalf("saved %d: the version at %v is %d (%v), want %d", si, pm.at, v, err, pm.v)
		}
		what := fmt.Sprintf("as of %d (saved %d)", pm.v, si)
		checkAreas(t, rng, past, flags, areas, at, what)
		where, p := randomExpr(rng, flags, 2)
		if si%3 == 0 {
			where, p = "", func(uint64) bool { return true }
		}
		// polygons, grouped
		for k := 0; k < 6; k++ {
			cpt := tc.pts[rng.IntN(len(tc.pts))]
			mp := orb.MultiPolygon{{star(rng, deg(cpt[0]), deg(cpt[1]), 0.003, 0.03, 6+rng.IntN(20))}}
			rg, err := region.New(mp)
			if err != nil {
				continue
			}
			want, _ := past.oracleCounts(mp, p, nf)
			var res engine.PolygonResult
			// grouped by grid or by building (a building is read from the
			// state, not the log)
			level, li := "grid", 3
			if k%2 == 1 {
				level, li = "building", 4
			}
			if err := e.PolygonStats(&engine.PolygonQuery{Region: rg, Where: where, GroupBy: level, AsOf: at}, &res); err != nil {
				t.Fatal(err)
			}
			if res.Version != pm.v || res.Total != want.Total || res.Matched != want.Matched || !slices.Equal(res.Flags, want.Flags) {
				t.Fatalf("%s polygon %d where %q: %+v v%d, want %+v", what, k, where, res.Counts, res.Version, want)
			}
			// the ids that matched then: all of them, and a few
			var wantIDs []string
			for _, r := range past.recs {
				if oracleInside(mp, r.x, r.y) && p(r.flags) {
					wantIDs = append(wantIDs, r.id)
				}
			}
			var ir engine.PolygonResult
			if err := e.PolygonStats(&engine.PolygonQuery{Region: rg, Where: where, IDs: true, Limit: 1 << 30, AsOf: at}, &ir); err != nil {
				t.Fatal(err)
			}
			gotIDs := slices.Sorted(slices.Values(ir.IDs))
			if !slices.Equal(gotIDs, wantIDs) {
				t.Fatalf("%s polygon %d where %q: ids %d %v, want %d %v", what, k, where, len(gotIDs), gotIDs, len(wantIDs), wantIDs)
			}
			if lim := rng.IntN(4); lim < len(wantIDs) {
				if err := e.PolygonStats(&engine.PolygonQuery{Region: rg, Where: where, IDs: true, Limit: lim, AsOf: at}, &ir); err != nil {
					t.Fatal(err)
				}
				if len(ir.IDs) != lim || slices.ContainsFunc(ir.IDs, func(id string) bool { _, ok := slices.BinarySearch(wantIDs, id); return !ok }) {
					t.Fatalf("%s polygon %d where %q limit %d: ids %v, want %d of %v", what, k, where, lim, ir.IDs, lim, wantIDs)
				}
			}
			groups := map[string]*counts{}
			for _, r := range past.recs {
				if oracleInside(mp, r.x, r.y) {
					if groups[r.units[li]] == nil {
						groups[r.units[li]] = &counts{}
					}
					groups[r.units[li]].add(r, p, nf)
				}
			}
			if len(res.Groups) != len(groups) {
				t.Fatalf("%s polygon %d: %d groups, want %d", what, k, len(res.Groups), len(groups))
			}
			for _, g := range res.Groups {
				if w := groups[g.ID]; w == nil || !sameCounts(g.Counts, *w) {
					t.Fatalf("%s polygon %d group %s: %+v, want %+v", what, k, g.ID, g.Counts, w)
				}
			}
		}
		// grids: cells and units
		for _, cellM := range []float64{300, 1200} {
			res, err := e.Grid(&engine.GridQuery{CellM: cellM, Where: where, AsOf: at})
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]*counts{}
			for _, r := range past.recs {
				k := oracleCell(cellM, r.x, r.y)
				if want[k] == nil {
					want[k] = &counts{}
				}
				want[k].add(r, p, nf)
			}
			if len(res.Cells) != len(want) {
				t.Fatalf("%s: %v m: %d cells, want %d", what, cellM, len(res.Cells), len(want))
			}
			for _, cell := range res.Cells {
				if w := want[cell.ID]; w == nil || !sameCounts(cell.Counts, *w) {
					t.Fatalf("%s: cell %s: %+v, want %+v", what, cell.ID, cell.Counts, w)
				}
			}
		}
		levels := []string{"district", "street", "community", "grid", "building"}
		byLevel := func(recs []rec, li int) map[string]*counts {
			out := map[string]*counts{}
			for _, r := range recs {
				if out[r.units[li]] == nil {
					out[r.units[li]] = &counts{}
				}
				out[r.units[li]].add(r, p, nf)
			}
			return out
		}
		for li, level := range levels {
			res, err := e.Grid(&engine.GridQuery{Level: level, Where: where, AsOf: at})
			if err != nil {
				t.Fatal(err)
			}
			want := byLevel(past.recs, li)
			if len(res.Cells) != len(want) {
				t.Fatalf("%s: %s cells %d, want %d", what, level, len(res.Cells), len(want))
			}
			for _, cell := range res.Cells {
				if w := want[cell.ID]; w == nil || !sameCounts(cell.Counts, *w) {
					t.Fatalf("%s: %s %s: %+v, want %+v", what, level, cell.ID, cell.Counts, w)
				}
			}
		}
		// units as of the saved state, with a delta since the previous one
		prev := saved[max(si-1, 0)]
		var prevRecs []rec
		for _, r := range prev.recs {
			prevRecs = append(prevRecs, r)
		}
		since := engine.At(prev.v)
		for li, level := range levels[:4] {
			res, err := e.Units(engine.UnitsQuery{Level: level, Where: where, AsOf: at, Since: &since})
			if err != nil {
				t.Fatal(err)
			}
			want, was := byLevel(past.recs, li), byLevel(prevRecs, li)
			for _, u := range res.Units {
				w, pw := want[u.ID], was[u.ID]
				if w == nil {
					w = &counts{}
				}
				if pw == nil {
					pw = &counts{}
				}
				if !sameCounts(u.Counts, *w) {
					t.Fatalf("%s: unit %s %s: %+v, want %+v", what, level, u.ID, u.Counts, w)
				}
				if u.Delta == nil || u.Delta.Total != w.total-pw.total || u.Delta.Matched != w.matched-pw.matched {
					t.Fatalf("%s: unit %s %s: delta %+v, want %d/%d", what, level, u.ID, u.Delta, w.total-pw.total, w.matched-pw.matched)
				}
			}
		}
		// one grid with its buildings
		for _, r := range past.recs {
			if r.units[3] == "" {
				continue
			}
			u, err := e.Unit(engine.UnitsQuery{Level: "grid", ID: r.units[3], Where: where, AsOf: at})
			if err != nil {
				t.Fatal(err)
			}
			kids := map[string]*counts{}
			for _, r2 := range past.recs {
				if r2.units[3] == r.units[3] {
					if kids[r2.units[4]] == nil {
						kids[r2.units[4]] = &counts{}
					}
					kids[r2.units[4]].add(r2, p, nf)
				}
			}
			if len(u.Children) != len(kids) {
				t.Fatalf("%s: grid %s has %d buildings, want %d", what, r.units[3], len(u.Children), len(kids))
			}
			for _, ch := range u.Children {
				if w := kids[ch.ID]; w == nil || !sameCounts(ch.Counts, *w) {
					t.Fatalf("%s: grid %s building %s: %+v, want %+v", what, r.units[3], ch.ID, ch.Counts, w)
				}
			}
			break
		}
		// room-state maps: the building's dwellings then, with their flags
		perBld := map[string][]rec{}
		for _, r := range past.recs {
			perBld[r.units[4]] = append(perBld[r.units[4]], r)
		}
		bids := slices.Sorted(maps.Keys(perBld))
		for k := 0; k < 15; k++ {
			bid := bids[rng.IntN(len(bids))]
			if k == 0 {
				bid = "NB3" // one of the buildings the random puts fill and empty
				if perBld[bid] == nil {
					if _, err := e.BuildingRoomState(bid, "default", at); err == nil {
						t.Fatalf("%s: building %s had no dwelling, yet has a map", what, bid)
					}
					continue
				}
			}
			rsm, err := e.BuildingRoomState(bid, "default", at)
			if err != nil {
				t.Fatalf("%s: building %s: %v", what, bid, err)
			}
			got := map[string][]string{}
			for _, fl := range rsm.Buildings[0].Floors {
				for _, room := range fl.Rooms {
					var names []string
					for _, f := range room.Flags {
						names = append(names, flags[f])
					}
					got[room.ID] = names
				}
			}
			if len(got) != len(perBld[bid]) || rsm.Version != pm.v {
				t.Fatalf("%s: building %s has %d rooms (v%d), want %d", what, bid, len(got), rsm.Version, len(perBld[bid]))
			}
			for _, r := range perBld[bid] {
				if g, ok := got[r.id]; !ok || !slices.Equal(g, m.namesOrNil(r.flags)) {
					t.Fatalf("%s: building %s room %s: %v, want %v", what, bid, r.id, g, m.namesOrNil(r.flags))
				}
			}
		}
		// the legend
		legend, v, err := e.StateCounts(where, "default", at)
		if err != nil || v != pm.v {
			t.Fatalf("%s: legend: %v v%d", what, err, v)
		}
		def := scheme.Default()
		wantState := make([]int, len(def.Rules)+1)
		for _, r := range past.recs {
			if !p(r.flags) {
				continue
			}
			s := len(def.Rules)
			for i, rule := range def.Rules {
				if f := slices.Index(flags, rule.When); f >= 0 && r.flags>>f&1 != 0 {
					s = i
					break
				}
			}
			wantState[s]++
		}
		for i, le := range legend {
			if le.Count != wantState[i] {
				t.Fatalf("%s: legend %s: %d, want %d", what, le.State, le.Count, wantState[i])
			}
		}
		// tiles' data: every building's counts and point in a box
		cpt := tc.pts[rng.IntN(len(tc.pts))]
		box := [4]int32{cpt[0] - 150_000, cpt[1] - 150_000, cpt[0] + 150_000, cpt[1] + 150_000}
		td, err := e.TileData(&engine.TileQuery{BBox: box, Where: where, Scheme: "default", AsOf: at})
		if err != nil {
			t.Fatal(err)
		}
		wantB := map[string]*counts{}
		sums := map[string][3]int64{}
		for _, r := range past.recs {
			s := sums[r.units[4]]
			sums[r.units[4]] = [3]int64{s[0] + int64(r.x), s[1] + int64(r.y), s[2] + 1}
		}
		for _, r := range past.recs {
			s := sums[r.units[4]]
			x, y := int32(roundDiv(s[0], s[2])), int32(roundDiv(s[1], s[2]))
			if x < box[0] || x > box[2] || y < box[1] || y > box[3] {
				continue
			}
			if wantB[r.units[4]] == nil {
				wantB[r.units[4]] = &counts{}
			}
			wantB[r.units[4]].add(r, p, nf)
		}
		if len(td.Buildings) != len(wantB) {
			t.Fatalf("%s: tile has %d buildings, want %d", what, len(td.Buildings), len(wantB))
		}
		for _, tb := range td.Buildings {
			if w := wantB[tb.ID]; w == nil || !sameCounts(tb.Counts, *w) {
				t.Fatalf("%s: tile building %s: %+v, want %+v", what, tb.ID, tb.Counts, w)
			}
		}
	}
	// series: a point per saved state, for the city and for a street
	var instants []time.Time
	for _, pm := range saved {
		instants = append(instants, pm.at)
	}
	street, grid := tc.recs[0].units[1], tc.recs[len(tc.recs)/2].units[3]
	for _, q := range []engine.SeriesQuery{{At: instants}, {Level: "street", ID: street, At: instants, Where: "isolated | !rental"},
		{Level: "grid", ID: grid, At: instants}} {
		pts, _, err := e.Series(q)
		if err != nil {
			t.Fatal(err)
		}
		_, p := "", func(m uint64) bool { return true }
		if q.Where != "" {
			iso, ren := slices.Index(flags, "isolated"), slices.Index(flags, "rental")
			p = func(m uint64) bool { return m>>iso&1 != 0 || m>>ren&1 == 0 }
		}
		for i, pm := range saved {
			w := &counts{}
			for _, r := range pm.recs {
				if q.Level == "" || q.Level == "street" && r.units[1] == street || q.Level == "grid" && r.units[3] == grid {
					w.add(r, p, nf)
				}
			}
			if pts[i].Version != pm.v || !sameCounts(pts[i].Counts, *w) {
				t.Fatalf("series %+v point %d: v%d %+v, want v%d %+v", q.Level, i, pts[i].Version, pts[i].Counts, pm.v, w)
			}
		}
	}
	// before the retained history: history_gone
	if _, err := e.VersionAt(t0.Add(-time.Hour)); err == nil {
		t.Fatal("a time before the load has a version")
	}
}

func (m *model) namesOrNil(mask uint64) []string { return m.names(mask) }

func cmpStr(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func roundDiv(a, b int64) int64 {
	if a >= 0 {
		return (a + b/2) / b
	}
	return -((-a + b/2) / b)
}
