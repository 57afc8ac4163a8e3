package engine_test

import (
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/roomstate/roomstate/city"
	"github.com/roomstate/roomstate/engine"
	"github.com/roomstate/roomstate/internal/testseed"
)

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
	save := func(v engine.Version) rsaved {
		s := rsaved{v: v, dw: map[string]rdwell{}, asg: maps.Clone(m.asg), visits: maps.Clone(m.visits)}
		for id, d := range m.dw {
			s.dw[id] = *d
		}
		return s
	}
	saved := []rsaved{save(w.Version())}
	for step := 0; step < 160; step++ {
		now = now.Add(time.Duration(1+rng.IntN(180)) * time.Minute)
		// each accepted change took the next version: the model after each
		v := w.Version()
		m.randomGroup(t, w, rng, now, step, func() { v++; saved = append(saved, save(v)) })
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
