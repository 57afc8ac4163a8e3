package server_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/url"
	"reflect"
	"slices"
	"testing"

	"github.com/roomstate/roomstate/city"
	"github.com/roomstate/roomstate/engine"
	"github.com/roomstate/roomstate/internal/testseed"
	"github.com/roomstate/roomstate/server"
	"github.com/roomstate/roomstate/store"
)

// TestBuildingUnitMatchesListing: over a generated city with random flags
// and random changes since its load (flags set and cleared, dwellings
// deleted, moved into other buildings of other grids — buildings of mixed
// units —, into new buildings and into implicit ones), GET
// /api/v1/units/building/{id} answers for each role (analyst, viewer, an
// editor scoped to a grid), under several wheres, now, as_of past versions
// and with since, exactly the row the listing GET /api/v1/units/building
// gives the building (for a viewer, withheld alike, and "suppressed" when
// one of its own counts is), and 404 for a building the listing leaves out.
func TestBuildingUnitMatchesListing(t *testing.T) {
	seed := testseed.Get(t)
	rng := rand.New(rand.NewPCG(seed, 41))
	c := city.New(city.Config{N: 6_000, Seed: seed})
	b, _ := c.Batch()
	st, err := store.Open(store.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Load([]*engine.Batch{b}, c.Boundaries()); err != nil {
		t.Fatal(err)
	}
	var recs []*engine.Record
	_ = c.Dwellings(func(r *engine.Record) error {
		rc := *r
		recs = append(recs, &rc)
		return nil
	})
	grid := recs[0].Grid
	ts, err := server.ParseTokens([]byte(fmt.Sprintf(`[
		{"name": "wall screen", "token": %q, "role": "viewer"},
		{"name": "analyst", "token": %q, "role": "analyst"},
		{"name": "grid worker", "token": %q, "role": "editor", "scope": {"grid": [%q]}}]`, viewerTok, analystTok, editorTok, grid)))
	if err != nil {
		t.Fatal(err)
	}
	base, stop := listen(t, st, server.Options{Access: server.NewAccess(ts, 3)})
	t.Cleanup(stop)
	s := &secured{eng: st.Engine(), st: st, url: base}

	// random changes, in five rounds; the version after each is kept
	flags := city.FlagNames()
	ids := make([]string, len(recs))
	byID := map[string]*engine.Record{}
	for i, r := range recs {
		ids[i], byID[r.ID] = r.ID, r
	}
	known := map[string]bool{"no-such-building": true}
	for _, r := range recs {
		known[r.Building] = true
	}
	versions := []engine.Version{s.eng.Version()}
	for round := 0; round < 5; round++ {
		for i := 0; i < 60; i++ {
			id := ids[rng.IntN(len(ids))]
			var op engine.Op
			switch x := rng.IntN(10); {
			case x < 6:
				op = engine.Op{Kind: engine.OpFlags, ID: id, Set: []string{flags[rng.IntN(len(flags))]}}
				if f := flags[rng.IntN(len(flags))]; f != op.Set[0] {
					op.Clear = []string{f}
				}
			case x < 7:
				op = engine.Op{Kind: engine.OpDelete, ID: id}
			default: // a put: a new dwelling or a moved one, in another's building and units
				if rng.IntN(3) == 0 {
					id = fmt.Sprintf("NEW-%d-%d", round, i)
				}
				o := recs[rng.IntN(len(recs))]
				in := &engine.DwellingInput{Lon: o.Lon, Lat: o.Lat, District: o.District, Street: o.Street,
					Community: o.Community, Grid: o.Grid, Building: o.Building, Unit: "1", Floor: 3, Room: fmt.Sprint(i)}
				if other := recs[rng.IntN(len(recs))]; rng.IntN(2) == 0 {
					in.Grid, in.Community = other.Grid, other.Community // a building of mixed units
				}
				switch rng.IntN(4) {
				case 0:
					in.Building = fmt.Sprintf("NB%d", rng.IntN(8))
				case 1:
					in.Building = "" // an implicit building, of its point
					in.Lon += float64(rng.IntN(100)) * 1e-5
				}
				for _, f := range flags {
					if rng.IntN(3) == 0 {
						in.Flags = append(in.Flags, f)
					}
				}
				op = engine.Op{Kind: engine.OpPut, ID: id, Put: in}
				if in.Building != "" {
					known[in.Building] = true
				}
			}
			if _, err := st.Submit(engine.Request{Ops: []engine.Op{op}}, nil); err != nil {
				continue // a change of a dwelling deleted before
			}
			if op.Kind == engine.OpPut {
				d, err := s.eng.Dwelling(id)
				if err != nil {
					t.Fatal(err)
				}
				known[d.Building] = true
				if !slices.Contains(ids, id) {
					ids = append(ids, id)
				}
			}
		}
		versions = append(versions, s.eng.Version())
	}

	get := func(tok, path string) (int, map[string]any) {
		t.Helper()
		code, b := s.do(t, tok, "GET", path, nil)
		var m map[string]any
		if code == 200 {
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatalf("%s: %v %s", path, err, b)
			}
		}
		return code, m
	}
	// a row is suppressed when one of its counts (or of its delta) is null
	withheld := func(u map[string]any) bool {
		for _, part := range []any{u, u["delta"]} {
			m, _ := part.(map[string]any)
			if m == nil {
				continue
			}
			if m["total"] == nil || m["matched"] == nil {
				return true
			}
			for _, v := range m["flags"].(map[string]any) {
				if v == nil {
					return true
				}
			}
		}
		return false
	}
	all := make([]string, 0, len(known))
	for id := range known {
		all = append(all, id)
	}
	slices.Sort(all)
	var queries []string
	for _, where := range []string{"", "isolated", "rental & !vaccinated"} {
		w := "where=" + url.QueryEscape(where)
		queries = append(queries, w,
			fmt.Sprintf("%s&as_of=%d", w, versions[0]),
			fmt.Sprintf("%s&as_of=%d", w, versions[2]),
			fmt.Sprintf("%s&since=%d", w, versions[0]),
			fmt.Sprintf("%s&as_of=%d&since=%d", w, versions[3], versions[1]))
	}
	checked, notFound, suppressed := 0, 0, 0
	for _, tok := range []string{analystTok, viewerTok, editorTok} {
		for _, q := range queries {
			code, list := get(tok, "/api/v1/units/building?"+q)
			if code != 200 {
				t.Fatalf("listing ?%s: %d", q, code)
			}
			rows := map[string]map[string]any{}
			for _, u := range list["units"].([]any) {
				rows[u.(map[string]any)["id"].(string)] = u.(map[string]any)
			}
			for _, id := range all {
				path := "/api/v1/units/building/" + url.PathEscape(id) + "?" + q
				code, u := get(tok, path)
				row, listed := rows[id]
				if !listed {
					if code != 404 {
						t.Fatalf("%s (%s): %d, want 404: the listing leaves it out", path, tok, code)
					}
					notFound++
					continue
				}
				if code != 200 {
					t.Fatalf("%s (%s): %d", path, tok, code)
				}
				if ch, ok := u["children"].([]any); !ok || len(ch) != 0 || u["version"] != list["version"] {
					t.Fatalf("%s (%s): children %v, version %v (the listing's %v)", path, tok, u["children"], u["version"], list["version"])
				}
				if sup := u["suppressed"] == true; sup != withheld(row) {
					t.Fatalf("%s (%s): suppressed %v, the listing's row %v", path, tok, u["suppressed"], row)
				}
				if u["suppressed"] == true {
					suppressed++
				}
				for _, k := range []string{"children", "version", "took_us", "suppressed"} {
					delete(u, k)
				}
				if !reflect.DeepEqual(u, row) {
					t.Fatalf("%s (%s):\n one     %v\n listing %v", path, tok, u, row)
				}
				checked++
			}
		}
	}
	t.Logf("%d answers checked (%d suppressed), %d not found, over %d building ids", checked, suppressed, notFound, len(all))
	if checked < 2000 || notFound < 100 || suppressed < 100 {
		t.Fatalf("too few cases: %d checked, %d not found, %d suppressed", checked, notFound, suppressed)
	}
}
