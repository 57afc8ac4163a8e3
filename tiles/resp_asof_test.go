package tiles

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/maptile"
	"github.com/roomstate/roomstate/engine"
	"github.com/roomstate/roomstate/internal/testseed"
)

// tdwell is a dwelling as the tile model keeps it.
type tdwell struct {
	bld, grid, comm string
}

// tmodel is the brute-force model at one version: dwellings, assignments
// by (level, id), last visits by building (Unix seconds).
type tmodel struct {
	dw     map[string]tdwell
	asg    map[[2]string]engine.Assignment
	visits map[string]int64
}

func (m *tmodel) clone() *tmodel {
	return &tmodel{dw: maps.Clone(m.dw), asg: maps.Clone(m.asg), visits: maps.Clone(m.visits)}
}

// features returns, per building with a dwelling, what the responsibility
// view shows of it: assigned, person, team, last_visit, state and colour.
func (m *tmodel) features() map[string]string {
	ds := map[string][]tdwell{}
	for _, d := range m.dw {
		ds[d.bld] = append(ds[d.bld], d)
	}
	major := func(ds []tdwell, unit func(tdwell) string) string {
		n := map[string]int{}
		for _, d := range ds {
			n[unit(d)]++
		}
		best, bestN := "", 0
		for u, k := range n {
			if k > bestN || k == bestN && u < best {
				best, bestN = u, k
			}
		}
		return best
	}
	out := map[string]string{}
	for b, list := range ds {
		a, ok := m.asg[[2]string{"building", b}]
		if !ok {
			a, ok = m.asg[[2]string{"grid", major(list, func(d tdwell) string { return d.grid })}]
		}
		if !ok {
			a, ok = m.asg[[2]string{"community", major(list, func(d tdwell) string { return d.comm })}]
		}
		f := "assigned=0 state=unassigned color=" + ColorUnassigned
		if ok {
			f = fmt.Sprintf("assigned=1 state=assigned color=%s person=%s team=%s", PersonColor(a.Person), a.Person, a.Team)
		}
		if v, ok := m.visits[b]; ok {
			f += fmt.Sprintf(" last_visit=%d", v)
		}
		out[b] = f
	}
	return out
}

// TestResponsibilityTileAsOfMatchesModel applies random assignments of
// buildings, grids and communities, visits and moves and deletes of
// dwellings to a small city in one tile, keeping a brute-force model at
// every version; between changes it draws the responsibility view as of a
// random earlier version through one cache, so that tiles as of a version
// are first drawn at different times. Every tile as of a version, drawn
// when it may, must show each building as the model did then, and a tile
// as of a version keeps its ETag whatever changes after it.
func TestResponsibilityTileAsOfMatchesModel(t *testing.T) {
	seed := testseed.Get(t)
	rng := rand.New(rand.NewPCG(seed, 31))
	now := time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)
	e := engine.New(engine.Options{Clock: func() time.Time { return now }})
	b := engine.NewBatch("resp", []string{"isolated"})
	bld := func(i int) string { return fmt.Sprintf("B%d", i) }
	grid := func(i int) string { return fmt.Sprintf("G%d", i) }
	comm := func(i int) string { return fmt.Sprintf("C%d", i) }
	place := func(i int) (float64, float64) { return 121.5 + float64(i%4)*0.0004, 31.2 + float64(i/4)*0.0004 }
	m := &tmodel{dw: map[string]tdwell{}, asg: map[[2]string]engine.Assignment{}, visits: map[string]int64{}}
	const nb = 8
	for i := 0; i < 3*nb; i++ {
		d := tdwell{bld: bld(i % nb), grid: grid(i % nb / 3), comm: comm(i % nb / 5)}
		lon, lat := place(i % nb)
		r := engine.Record{ID: fmt.Sprintf("d%d", i), Lon: lon, Lat: lat, Building: d.bld, Grid: d.grid, Community: d.comm, Street: "S", Floor: 1, Room: "1"}
		if err := b.Add(&r); err != nil {
			t.Fatal(err)
		}
		m.dw[r.ID] = d
	}
	if err := e.Load(b); err != nil {
		t.Fatal(err)
	}
	c := NewCache(e.Engine, 0)
	tl := maptile.At(orb.Point{121.5006, 31.2003}, 15)
	type drawn struct {
		etag string
		tile *Tile
	}
	first := map[engine.Version]drawn{} // the first tile drawn as of each version
	get := func(v engine.Version) (*Tile, map[string]string) {
		t.Helper()
		req := Request{Z: 15, X: tl.X, Y: tl.Y, View: ViewResponsibility, AsOf: engine.At(v)}
		tile, err := c.Get(&req)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, f := range decode(t, tile)["buildings"].Features {
			p := f.Properties
			s := fmt.Sprintf("assigned=%d state=%v color=%v", num(f, "assigned"), p["state"], p["color"])
			if p["person"] != nil || p["team"] != nil {
				s += fmt.Sprintf(" person=%v team=%v", p["person"], p["team"])
			}
			if p["last_visit"] != nil {
				s += fmt.Sprintf(" last_visit=%d", num(f, "last_visit"))
			}
			out[p["id"].(string)] = s
		}
		return tile, out
	}
	saved := map[engine.Version]*tmodel{e.Version(): m.clone()}
	check := func(v engine.Version, when string) {
		t.Helper()
		tile, got := get(v)
		want := saved[v].features()
		for _, id := range slices.Sorted(maps.Keys(want)) {
			if got[id] != want[id] {
				t.Fatalf("%s: as of %d: building %s shows %q, model %q", when, v, id, got[id], want[id])
			}
		}
		if len(got) != len(want) {
			t.Fatalf("%s: as of %d: %d buildings, model %d", when, v, len(got), len(want))
		}
		if f, ok := first[v]; !ok {
			first[v] = drawn{tile.ETag, tile}
		} else if f.etag != tile.ETag {
			t.Fatalf("%s: as of %d: ETag %s, first drawn with %s", when, v, tile.ETag, f.etag)
		}
	}
	persons := []string{"张三", "李四", "王五"}
	for step := 0; step < 300; step++ {
		now = now.Add(time.Duration(1+rng.IntN(90)) * time.Minute)
		ids := slices.Sorted(maps.Keys(m.dw))
		var op engine.Op
		switch r := rng.IntN(10); {
		case r < 4:
			lv, id := engine.LevelBuilding, bld(rng.IntN(nb+1))
			switch rng.IntN(4) {
			case 0:
				lv, id = engine.LevelGrid, grid(rng.IntN(3))
			case 1:
				lv, id = engine.LevelCommunity, comm(rng.IntN(2))
			}
			in := &engine.AssignInput{Level: lv}
			if rng.IntN(3) != 0 {
				in.Person, in.Team = persons[rng.IntN(len(persons))], fmt.Sprintf("T%d", rng.IntN(2))
			}
			op = engine.Op{Kind: engine.OpAssign, ID: id, Assign: in}
			k := [2]string{lv.String(), id}
			if in.Person == "" {
				delete(m.asg, k)
			} else {
				m.asg[k] = engine.Assignment{Level: lv, ID: id, Person: in.Person, Team: in.Team}
			}
		case r < 7:
			var have []string
			for _, d := range m.dw {
				have = append(have, d.bld)
			}
			slices.Sort(have)
			id := have[rng.IntN(len(have))]
			op = engine.Op{Kind: engine.OpVisit, ID: id, Visit: &engine.VisitInput{By: "w"}}
			m.visits[id] = now.Unix()
		case r < 9 || len(ids) < 6: // a dwelling into a building (maybe a new one), maybe of another grid
			id := fmt.Sprintf("d%d", rng.IntN(3*nb+4))
			i := rng.IntN(nb + 1)
			d := tdwell{bld: bld(i), grid: grid(rng.IntN(3)), comm: comm(rng.IntN(2))}
			lon, lat := place(i)
			op = engine.Op{Kind: engine.OpPut, ID: id, Put: &engine.DwellingInput{Lon: lon, Lat: lat, Street: "S", Community: d.comm, Grid: d.grid,
				Building: d.bld, Floor: 1, Room: "1"}}
			m.dw[id] = d
		default:
			id := ids[rng.IntN(len(ids))]
			op = engine.Op{Kind: engine.OpDelete, ID: id}
			delete(m.dw, id)
		}
		if _, err := e.Apply(engine.Request{Ops: []engine.Op{op}}, now); err != nil {
			t.Fatalf("step %d: %v", step, err)
		}
		saved[e.Version()] = m.clone()
		// a tile as of a random version so far, drawn now
		vs := slices.Sorted(maps.Keys(saved))
		check(vs[rng.IntN(len(vs))], fmt.Sprintf("step %d", step))
	}
	for _, v := range slices.Sorted(maps.Keys(saved)) {
		check(v, "at the end")
	}
}
