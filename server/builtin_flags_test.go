package server_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/roomstate/roomstate/engine"
	"github.com/roomstate/roomstate/loader"
	"github.com/roomstate/roomstate/server"
	"github.com/roomstate/roomstate/store"
)

// TestBuiltinFlagsWithoutTheirColumns: data without rental and elderly_alone
// columns (and with a data column, a household size) loads; answers count
// all four built-in flags; PATCH sets rental and elderly_alone, and
// where=elderly_alone counts 0, then 1; the room-state map colours by them;
// a reopen of the data directory knows them and keeps the change.
func TestBuiltinFlagsWithoutTheirColumns(t *testing.T) {
	csv := "id,lon,lat,building,unit,floor,room,isolated,vaccinated,household_size\n" +
		"a,121.5,31.2,B1,1,1,101,0,1,1\n" +
		"b,121.5,31.2,B1,1,1,102,1,0,3\n" +
		"c,121.501,31.2,B2,1,2,201,0,0,2\n"
	b, err := loader.ReadCSV("d.csv", strings.NewReader(csv), int64(len(csv)), loader.Options{})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	serve := func() (string, func()) {
		st, err := store.Open(store.Options{Dir: dir})
		if err != nil {
			t.Fatal(err)
		}
		if !st.HadState() {
			if err := st.Load([]*engine.Batch{b}, nil); err != nil {
				t.Fatal(err)
			}
		}
		return listen(t, st, server.Options{})
	}
	url, stop := serve()
	defer func() { stop() }()

	polygon := func(where string) polyAnswer {
		t.Helper()
		body := `{"geometry":{"type":"Polygon","coordinates":[[[121,31],[122,31],[122,32],[121,32],[121,31]]]},"where":"` + where + `"}`
		code, out, _ := do(t, "POST", url+"/api/v1/query/polygon", body)
		if code != 200 {
			t.Fatalf("where %q: %d %s", where, code, out)
		}
		var a polyAnswer
		if err := json.Unmarshal(out, &a); err != nil {
			t.Fatal(err)
		}
		return a
	}
	a := polygon("")
	want := map[string]int64{"isolated": 1, "vaccinated": 1, "rental": 0, "elderly_alone": 0}
	if a.Total != 3 || len(a.Flags) != len(want) {
		t.Fatalf("answer %+v", a)
	}
	for k, v := range want {
		if n, ok := a.Flags[k]; !ok || n != v {
			t.Fatalf("flags %v, want %v", a.Flags, want)
		}
	}
	if a := polygon("elderly_alone"); a.Matched != 0 {
		t.Fatalf("elderly_alone matched %d before any was set", a.Matched)
	}
	code, out, _ := do(t, "PATCH", url+"/api/v1/dwellings/a", `{"set":["rental","elderly_alone"]}`)
	if code != 200 || !strings.Contains(string(out), `"flags":["vaccinated","rental","elderly_alone"]`) {
		t.Fatalf("PATCH: %d %s", code, out)
	}
	if a := polygon("elderly_alone"); a.Matched != 1 || a.Flags["rental"] != 1 {
		t.Fatalf("elderly_alone after the PATCH: %+v", a)
	}
	if code, out, _ := do(t, "POST", url+"/api/v1/query/polygon", `{"geometry":{"type":"Polygon","coordinates":[[[121,31],[122,31],[122,32],[121,32],[121,31]]]},"where":"household_size"}`); code != 400 || !strings.Contains(string(out), "bad_expression") {
		t.Fatalf("where on a data column: %d %s", code, out)
	}
	code, out, _ = do(t, "GET", url+"/api/v1/buildings/B1/roomstate?scheme=default", "")
	if code != 200 || !strings.Contains(string(out), `"state":"elderly_alone"`) {
		t.Fatalf("room-state map: %d %s", code, out)
	}

	// the data directory reopens with the built-in flags and the change
	stop()
	url, stop = serve()
	code, out, _ = do(t, "GET", url+"/api/v1/dwellings/a", "")
	var d struct{ Flags []string }
	if code != 200 || json.Unmarshal(out, &d) != nil || !slices.Equal(d.Flags, []string{"vaccinated", "rental", "elderly_alone"}) {
		t.Fatalf("after reopening: %d %s", code, out)
	}
	if a := polygon("elderly_alone & rental"); a.Matched != 1 || len(a.Flags) != 4 {
		t.Fatalf("after reopening: %+v", a)
	}
}
