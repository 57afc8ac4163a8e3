package engine_test

import (
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/roomstate/roomstate/city"
	"github.com/roomstate/roomstate/engine"
	"github.com/roomstate/roomstate/fault"
	"github.com/roomstate/roomstate/internal/testseed"
)

// rvisit is a visit as the as-of model keeps it.
type rvisit struct {
	at   time.Time
	note string
}

// rsaved is the model of dwellings, assignments and visits at one version.
type rsaved struct {
	v      engine.Version
	dw     map[string]rdwell
	asg    map[[2]string]engine.Assignment
	visits map[string]rvisit
}

// buildings returns every building with a dwelling then, and its dwellings.
func (s *rsaved) buildings() map[string][]*rdwell {
	out := map[string][]*rdwell{}
	for id := range s.dw {
		d := s.dw[id]
		out[d.building] = append(out[d.building], &d)
	}
	return out
}

func (s *rsaved) responsible(b string, ds []*rdwell) (engine.Assignment, bool) {
	m := rmodel{asg: s.asg}
	return m.responsible(b, ds)
}

// TestResponsibilityAsOfMatchesModel applies random assignments (at every
// level, reassignments, removals), visits and changes of dwellings (flags,
// moves that change a building's own units, new buildings, deletes) to the
// engine and to a brute-force model kept at every version; then, as of
// every version, each building's responsible person and last visit in its
// room-state map, in the room-state map of its grid and in the tiles' data
// must be the model's then: responsibility as it was, not as it is now.
func TestResponsibilityAsOfMatchesModel(t *testing.T) {
	seed := testseed.Get(t)
	rng := rand.New(rand.NewPCG(seed, 21))
	c := city.New(city.Config{N: 1500, Seed: seed})
	b, _ := c.Batch()
	now := time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)
	w := engine.New(engine.Options{DeltaLimit: 100, Clock: func() time.Time { return now }})
	if err := w.Load(b); err != nil {
		t.Fatal(err)
	}
	m := newRModel(t, c)
	vis := map[string]rvisit{}
	save := func(v engine.Version) rsaved {
		s := rsaved{v: v, dw: map[string]rdwell{}, asg: maps.Clone(m.asg), visits: maps.Clone(vis)}
		for id, d := range m.dw {
			s.dw[id] = *d
		}
		return s
	}
	saved := []rsaved{save(w.Version())}
	unitIDs := func(l int) []string {
		set := map[string]bool{}
		for _, d := range m.dw {
			if l == 4 {
				set[d.building] = true
			} else if d.units[l] != "" {
				set[d.units[l]] = true
			}
		}
		return slices.Sorted(maps.Keys(set))
	}
	pick := func(s []string) string { return s[rng.IntN(len(s))] }
	next := 0
	for step := 0; step < 160; step++ {
		now = now.Add(time.Duration(1+rng.IntN(180)) * time.Minute)
		var reqs []engine.Request
		var effects []func()
		for k := 1 + rng.IntN(3); k > 0; k-- {
			ids := slices.Sorted(maps.Keys(m.dw))
			var op engine.Op
			var effect func()
			switch r := rng.IntN(100); {
			case r < 35: // assign, reassign or remove
				lv := []engine.Level{engine.LevelBuilding, engine.LevelBuilding, engine.LevelBuilding,
					engine.LevelGrid, engine.LevelGrid, engine.LevelGrid, engine.LevelCommunity, engine.LevelCommunity, engine.LevelStreet}[rng.IntN(9)]
				li := map[engine.Level]int{engine.LevelBuilding: 4, engine.LevelGrid: 3, engine.LevelCommunity: 2, engine.LevelStreet: 1}[lv]
				id := pick(unitIDs(li))
				person, team := pick(persons), fmt.Sprintf("T%d", rng.IntN(3))
				if rng.IntN(3) == 0 {
					person, team = "", ""
				}
				op = engine.Op{Kind: engine.OpAssign, ID: id, Assign: &engine.AssignInput{Level: lv, Person: person, Team: team}}
				effect = func() {
					k := [2]string{lv.String(), id}
					if person == "" {
						delete(m.asg, k)
					} else {
						m.asg[k] = engine.Assignment{Level: lv, ID: id, Person: person, Team: team}
					}
				}
			case r < 45: // a flag
				d := m.dw[pick(ids)]
				on := rng.IntN(2) == 0
				op = engine.Op{Kind: engine.OpFlags, ID: d.id}
				if on {
					op.Set = []string{"isolated"}
				} else {
					op.Clear = []string{"isolated"}
				}
				effect = func() { nd := *m.dw[d.id]; nd.isolated = on; m.dw[d.id] = &nd }
			case r < 62: // a move, maybe into another building or a new one, maybe to other units
				d := m.dw[pick(ids)]
				nd := *d
				other := m.dw[pick(ids)]
				switch rng.IntN(3) {
				case 0:
					nd.building = other.building
				case 1:
					nd.building, nd.units = other.building, other.units
				case 2:
					nd.units = other.units
					if rng.IntN(2) == 0 {
						nd.building = fmt.Sprintf("NB-%d", rng.IntN(6))
					}
				}
				op = putOp(&nd)
				effect = func() { m.dw[d.id] = &nd }
			case r < 67: // a delete
				id := pick(ids)
				op = engine.Op{Kind: engine.OpDelete, ID: id}
				effect = func() { delete(m.dw, id) }
			case r < 90: // a visit
				bld := pick(unitIDs(4))
				note := fmt.Sprintf("扫楼 %d", step)
				op = engine.Op{Kind: engine.OpVisit, ID: bld, Visit: &engine.VisitInput{By: "worker", Note: note}}
				at := now
				effect = func() { vis[bld] = rvisit{at, note} }
			default: // a new dwelling
				other := m.dw[pick(ids)]
				next++
				nd := rdwell{id: fmt.Sprintf("X-%d", next), lon: other.lon, lat: other.lat, units: other.units, building: other.building}
				op = putOp(&nd)
				effect = func() { m.dw[nd.id] = &nd }
			}
			reqs = append(reqs, engine.Request{Ops: []engine.Op{op}})
			effects = append(effects, effect)
		}
		p := w.Prepare(reqs)
		for i, err := range p.Errs {
			if err != nil {
				if !errors.Is(err, fault.NotFound) {
					t.Fatalf("step %d: request %d refused: %v", step, i, err)
				}
				effects[i] = nil
			}
		}
		v := w.Version()
		w.Commit(p, now)
		w.Maintain()
		// each accepted change took the next version: the model after each
		for _, f := range effects {
			if f != nil {
				f()
				v++
				saved = append(saved, save(v))
			}
		}
		if v != w.Version() {
			t.Fatalf("step %d: the engine is at version %d, the model at %d", step, w.Version(), v)
		}
	}
	// a snapshot keeps what answers as of a past version undo
	restored := engine.New(engine.Options{DeltaLimit: 100, Clock: func() time.Time { return now }})
	if err := restored.Restore(w.Export()); err != nil {
		t.Fatal(err)
	}
	checkRespAsOf(t, rng, w, saved)
	checkRespAsOf(t, rng, restored, saved)
}

// checkRespAsOf compares, as of every version saved, what w shows of
// responsibility with the model's.
func checkRespAsOf(t *testing.T, rng *rand.Rand, w *engine.Writer, saved []rsaved) {
	t.Helper()
	world := [4]int32{-1_800_000_000, -900_000_000, 1_800_000_000, 900_000_000}
	changed := 0 // versions at which some building's responsibility differs from now's
	cur := saved[len(saved)-1]
	curBlds := cur.buildings()
	for _, s := range saved {
		at := engine.At(s.v)
		blds := s.buildings()
		// the tiles' data: every building of the city then
		td, err := w.TileData(&engine.TileQuery{BBox: world, Scheme: "default", AsOf: at})
		if err != nil {
			t.Fatal(err)
		}
		if td.Version != s.v || len(td.Buildings) != len(blds) {
			t.Fatalf("as of %d: tile data of version %d with %d buildings, model %d", s.v, td.Version, len(td.Buildings), len(blds))
		}
		ids := make([]string, 0, len(td.Buildings))
		differs := false
		for i := range td.Buildings {
			tb := &td.Buildings[i]
			ds, ok := blds[tb.ID]
			if !ok {
				t.Fatalf("as of %d: tile data shows building %s, which had no dwelling then", s.v, tb.ID)
			}
			ids = append(ids, tb.ID)
			want, ok := s.responsible(tb.ID, ds)
			if ok != (tb.Responsible != nil) || ok && *tb.Responsible != want {
				t.Fatalf("as of %d: tile data: building %s: responsible %+v, model %+v (%v)", s.v, tb.ID, tb.Responsible, want, ok)
			}
			wv, ok := s.visits[tb.ID]
			if ok != (tb.LastVisit != 0) || ok && wv.at.UnixMilli() != tb.LastVisit {
				t.Fatalf("as of %d: tile data: building %s: last visit %d, model %v", s.v, tb.ID, tb.LastVisit, wv.at)
			}
			if !differs {
				nowA, nowOK := cur.responsible(tb.ID, curBlds[tb.ID])
				differs = nowOK != ok || nowA != want || cur.visits[tb.ID] != wv
			}
		}
		if differs {
			changed++
		}
		// room-state maps of a few buildings, and of one grid
		for k := 0; k < 4 && len(ids) > 0; k++ {
			id := ids[rng.IntN(len(ids))]
			rs, err := w.BuildingRoomState(id, "default", at)
			if err != nil {
				t.Fatalf("as of %d: building %s: %v", s.v, id, err)
			}
			checkInfo(t, s, blds, &rs.Buildings[0].Building, "building map")
		}
		grids := map[string]bool{}
		for _, d := range s.dw {
			grids[d.units[3]] = true
		}
		g := slices.Sorted(maps.Keys(grids))[rng.IntN(len(grids))]
		us, err := w.UnitRoomState(engine.LevelGrid, g, "default", at)
		if err != nil {
			t.Fatalf("as of %d: grid %s: %v", s.v, g, err)
		}
		for i := range us.Buildings {
			checkInfo(t, s, blds, &us.Buildings[i].Building, "grid "+g+"'s map")
		}
	}
	t.Logf("%d versions checked; at %d of them some building's responsibility or last visit differed from now's", len(saved), changed)
	if changed < len(saved)/2 {
		t.Fatal("the random changes left responsibility mostly as it is now: the test shows nothing")
	}
}

// checkInfo compares a building of a room-state map as of s.v with the model.
func checkInfo(t *testing.T, s rsaved, blds map[string][]*rdwell, info *engine.BuildingInfo, what string) {
	t.Helper()
	ds, ok := blds[info.ID]
	if !ok {
		t.Fatalf("as of %d: %s shows building %s, which had no dwelling then", s.v, what, info.ID)
	}
	if g := home(ds, 3); info.Grid != g {
		t.Fatalf("as of %d: %s: building %s in grid %q, model %q", s.v, what, info.ID, info.Grid, g)
	}
	want, ok := s.responsible(info.ID, ds)
	if ok != (info.Responsible != nil) || ok && *info.Responsible != want {
		t.Fatalf("as of %d: %s: building %s: responsible %+v, model %+v (%v)", s.v, what, info.ID, info.Responsible, want, ok)
	}
	wv, ok := s.visits[info.ID]
	lv := info.LastVisit
	if ok != (lv != nil) || ok && (!lv.Time.Equal(wv.at) || lv.Note != wv.note || lv.By != "worker") {
		t.Fatalf("as of %d: %s: building %s: last visit %+v, model %+v (%v)", s.v, what, info.ID, lv, wv, ok)
	}
}
