package engine_test

import (
	"errors"
	"testing"
	"time"

	"github.com/roomstate/roomstate/engine"
	"github.com/roomstate/roomstate/fault"
)

// TestPersonScopeInAGroup: Prepare checks a person's scope against the
// state each request applies to, within a group: assignments and moves of
// the requests accepted before it count, those of a rejected one do not.
func TestPersonScopeInAGroup(t *testing.T) {
	w := engine.New(engine.Options{})
	b := engine.NewBatch("scope", []string{"isolated"})
	for _, r := range []engine.Record{
		{ID: "b1", Building: "B", Grid: "G1", Community: "C", Street: "S"},
		{ID: "b2", Building: "B", Grid: "G1", Community: "C", Street: "S"},
		{ID: "b3", Building: "B", Grid: "G1", Community: "C", Street: "S"},
		{ID: "d1", Building: "D", Grid: "G2", Community: "C", Street: "S"},
	} {
		r.Lon, r.Lat = 121.5, 31.2
		if err := b.Add(&r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Load(b); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)
	assign := func(level engine.Level, id, person string) engine.Request {
		return engine.Request{Ops: []engine.Op{{Kind: engine.OpAssign, ID: id, Assign: &engine.AssignInput{Level: level, Person: person}}}}
	}
	flag := func(person string, ids ...string) engine.Request {
		r := engine.Request{Scope: &engine.Scope{Person: []string{person}}}
		for _, id := range ids {
			r.Ops = append(r.Ops, engine.Op{Kind: engine.OpFlags, ID: id, Set: []string{"isolated"}})
		}
		return r
	}
	move := func(id, grid string, flags ...string) engine.Request {
		return engine.Request{Ops: []engine.Op{{Kind: engine.OpPut, ID: id, Put: &engine.DwellingInput{Lon: 121.5, Lat: 31.2,
			Street: "S", Community: "C", Grid: grid, Building: "B", Flags: flags}}}}
	}
	want := func(p *engine.Prepared, ok ...bool) {
		t.Helper()
		for i, err := range p.Errs {
			if (err == nil) != ok[i] {
				t.Fatalf("request %d: %v, want accepted %v", i, err, ok[i])
			}
			if err != nil && !errors.Is(err, fault.Forbidden) && !errors.Is(err, fault.BadFlag) {
				t.Fatalf("request %d: %v", i, err)
			}
		}
		w.Commit(p, at)
	}
	want(w.Prepare([]engine.Request{assign(engine.LevelGrid, "G1", "张三"), assign(engine.LevelGrid, "G2", "王五")}), true, true)
	// a reassignment earlier in the group moves the right at once
	want(w.Prepare([]engine.Request{
		flag("张三", "b1"),
		assign(engine.LevelGrid, "G1", "李四"),
		flag("张三", "b2"),
		flag("李四", "b2"),
		assign(engine.LevelBuilding, "B", "赵六"),
		flag("李四", "b3"),
		flag("赵六", "b3", "b1"),
		flag("赵六", "b3", "d1"), // one line outside: nothing of it
	}), true, true, false, true, true, false, true, false)
	if d, _ := w.Dwelling("d1"); len(d.Flags) != 0 {
		t.Fatal("a refused request changed a dwelling")
	}
	want(w.Prepare([]engine.Request{assign(engine.LevelBuilding, "B", "")}), true)
	// moves earlier in the group change the building's grid (most of its
	// dwellings'), a rejected one does not
	want(w.Prepare([]engine.Request{
		move("b1", "G2", "no-such-flag"), // rejected
		flag("王五", "b3"),                 // B is still in G1 (李四)
		move("b1", "G2"),
		flag("王五", "b3"), // 1 of 3 in G2: still G1's
		move("b2", "G2"),
		flag("王五", "b3"), // 2 of 3 in G2: 王五's now
		flag("李四", "b3"),
	}), false, false, true, false, true, true, false)
	// and the engine agrees once they apply
	got, _, _, _, err := w.BuildingSummaries([]string{"B"}, "", "default", "")
	if err != nil || got[0].Responsible == nil || got[0].Responsible.Person != "王五" {
		t.Fatalf("B's responsible after the moves: %+v %v", got, err)
	}
	// a visit by a scope: inside, outside, and of a building with no dwelling left
	visit := func(person, bld string) engine.Request {
		return engine.Request{Scope: &engine.Scope{Person: []string{person}}, Ops: []engine.Op{{Kind: engine.OpVisit, ID: bld, Visit: &engine.VisitInput{}}}}
	}
	p := w.Prepare([]engine.Request{visit("王五", "B"), visit("李四", "B"), visit("王五", "D"),
		{Ops: []engine.Op{{Kind: engine.OpDelete, ID: "d1"}}}, visit("王五", "D")})
	if p.Errs[0] != nil || !errors.Is(p.Errs[1], fault.Forbidden) || p.Errs[2] != nil || p.Errs[3] != nil || !errors.Is(p.Errs[4], fault.NotFound) {
		t.Fatalf("visits: %v", p.Errs)
	}
	w.Commit(p, at)
	// a scope may not assign nor run campaigns
	p = w.Prepare([]engine.Request{{Scope: &engine.Scope{Person: []string{"王五"}}, Ops: []engine.Op{{Kind: engine.OpAssign, ID: "B",
		Assign: &engine.AssignInput{Level: engine.LevelBuilding, Person: "王五"}}}}})
	if !errors.Is(p.Errs[0], fault.Forbidden) {
		t.Fatalf("a scoped assignment: %v", p.Errs[0])
	}
}

// TestUnitScopes: a scope may list units of every level of the hierarchy
// (district, street, community, grid) and buildings: a dwelling is inside
// when its column of that level is listed, before the change and, for a
// put, after it too; a visit when its building's unit is listed.
func TestUnitScopes(t *testing.T) {
	w := engine.New(engine.Options{})
	b := engine.NewBatch("scope", []string{"isolated"})
	// two districts, each of one street, one community, one grid, one building
	recs := []engine.Record{
		{ID: "a1", District: "D1", Street: "S1", Community: "C1", Grid: "G1", Building: "B1"},
		{ID: "a2", District: "D1", Street: "S1", Community: "C1", Grid: "G1", Building: "B1"},
		{ID: "z1", District: "D2", Street: "S2", Community: "C2", Grid: "G2", Building: "B2"},
		{ID: "z2", District: "D2", Street: "S2", Community: "C2", Grid: "G2", Building: "B2"},
	}
	for _, r := range recs {
		r.Lon, r.Lat = 121.5, 31.2
		if err := b.Add(&r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Load(b); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)
	home := func(id string) *engine.DwellingInput { // a put repeating the building's hierarchy
		r := recs[0]
		if id[0] == 'z' {
			r = recs[2]
		}
		return &engine.DwellingInput{Lon: 121.5, Lat: 31.2, District: r.District, Street: r.Street, Community: r.Community,
			Grid: r.Grid, Building: r.Building, Floor: 1}
	}
	for _, sc := range []struct {
		name  string
		scope engine.Scope
	}{
		{"district", engine.Scope{District: []string{"D1"}}},
		{"street", engine.Scope{Street: []string{"S1"}}},
		{"community", engine.Scope{Community: []string{"C1"}}},
		{"grid", engine.Scope{Grid: []string{"G1"}}},
		{"building", engine.Scope{Building: []string{"B1"}}},
	} {
		t.Run(sc.name, func(t *testing.T) {
			scope := sc.scope
			req := func(ops ...engine.Op) engine.Request { return engine.Request{Scope: &scope, Ops: ops} }
			flag := func(id string) engine.Op { return engine.Op{Kind: engine.OpFlags, ID: id, Set: []string{"isolated"}} }
			put := func(id string, in *engine.DwellingInput) engine.Op {
				return engine.Op{Kind: engine.OpPut, ID: id, Put: in}
			}
			moved := home("z1")
			moved.Floor = 2
			p := w.Prepare([]engine.Request{
				req(flag("a1")),                                 // 0 inside
				req(flag("z1")),                                 // 1 outside
				req(flag("a2"), flag("z2")),                     // 2 one line outside: nothing of it
				req(put("a2", home("a2"))),                      // 3 replaced in place
				req(put("NEW-IN", home("a1"))),                  // 4 a new dwelling inside
				req(put("NEW-OUT", home("z1"))),                 // 5 a new dwelling outside
				req(put("a1", moved)),                           // 6 moved out of the scope: after is outside
				req(put("z2", home("a1"))),                      // 7 moved into the scope: before is outside
				req(engine.Op{Kind: engine.OpDelete, ID: "z1"}), // 8 outside
				req(engine.Op{Kind: engine.OpVisit, ID: "B1", Visit: &engine.VisitInput{}}), // 9 inside
				req(engine.Op{Kind: engine.OpVisit, ID: "B2", Visit: &engine.VisitInput{}}), // 10 outside
			})
			ok := []bool{true, false, false, true, true, false, false, false, false, true, false}
			for i, err := range p.Errs {
				if (err == nil) != ok[i] {
					t.Fatalf("request %d: %v, want accepted %v", i, err, ok[i])
				}
				if err != nil && !errors.Is(err, fault.Forbidden) {
					t.Fatalf("request %d: %v, want forbidden", i, err)
				}
			}
			w.Commit(p, at)
			if d, _ := w.Dwelling("z2"); len(d.Flags) != 0 || d.Building != "B2" {
				t.Fatalf("a refused request changed z2: %+v", d)
			}
			// the new dwelling is removed again, inside the scope
			p = w.Prepare([]engine.Request{req(engine.Op{Kind: engine.OpDelete, ID: "NEW-IN"})})
			if p.Errs[0] != nil {
				t.Fatalf("deleting inside: %v", p.Errs[0])
			}
			w.Commit(p, at)
		})
	}
}
