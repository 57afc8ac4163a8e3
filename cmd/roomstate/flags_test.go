package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/roomstate/roomstate/loader"
	"github.com/roomstate/roomstate/store"
)

// TestQueryLoadsDataColumns: query --load takes a file with data columns
// (a household size whose first value is 1, a note) and without the rental
// and elderly_alone columns: the data columns are no flags (stderr names
// them), the built-in flags are all answered, the missing ones as 0.
func TestQueryLoadsDataColumns(t *testing.T) {
	dir := t.TempDir()
	csv := filepath.Join(dir, "d.csv")
	os.WriteFile(csv, []byte("id,lon,lat,building,household_size,note,isolated,vaccinated,empty_col\n"+
		"a,121.5,31.2,B1,1,1,1,0,\n"+
		"b,121.5,31.2,B1,3,hello,0,1,\n"+
		"c,121.501,31.2,B2,2,,1,1,\n"), 0o644)
	polys := filepath.Join(dir, "p.geojson")
	os.WriteFile(polys, []byte(`{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"name":"all"},
		"geometry":{"type":"Polygon","coordinates":[[[121,31],[122,31],[122,32],[121,32],[121,31]]]}}]}`), 0o644)
	var out, errOut strings.Builder
	if err := run(context.Background(), []string{"query", "--load", csv, "--polygons", polys, "--where", "elderly_alone | isolated"}, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	var ans struct {
		Total, Matched int
		Flags          map[string]int
	}
	if err := json.Unmarshal([]byte(out.String()), &ans); err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
	want := map[string]int{"isolated": 2, "vaccinated": 1, "rental": 0, "elderly_alone": 0, "empty_col": 0}
	if ans.Total != 3 || ans.Matched != 2 || len(ans.Flags) != len(want) {
		t.Fatalf("answer %s", out.String())
	}
	for k, v := range want {
		if n, ok := ans.Flags[k]; !ok || n != v {
			t.Fatalf("flag %s: %d (%v), want %d: %s", k, n, ok, v, out.String())
		}
	}
	for _, s := range []string{"column=household_size line=3", "column=note line=3"} {
		if !strings.Contains(errOut.String(), s) {
			t.Fatalf("stderr lacks %q:\n%s", s, errOut.String())
		}
	}
	// a built-in flag's column with a value that is not a flag value is a
	// bad row: file, line and column
	os.WriteFile(csv, []byte("id,lon,lat,rental\na,121.5,31.2,1\nb,121.5,31.2,maybe\n"), 0o644)
	err := run(context.Background(), []string{"query", "--load", csv, "--polygons", polys}, &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), `d.csv:3:14: rental: "maybe" is not a flag value`) {
		t.Fatalf("got %v", err)
	}
}

// TestQueryCRS: with --crs gcj02 the polygons are converted like the
// dwellings, so a dwelling inside a small box in GCJ-02 is counted inside
// it; the polygons file may start with a byte order mark; a bad --where or
// --group-by is one error, not one a feature.
func TestQueryCRS(t *testing.T) {
	dir := t.TempDir()
	csv := filepath.Join(dir, "d.csv")
	os.WriteFile(csv, []byte("id,lon,lat,isolated\nA,121.5012,31.2302,1\n"), 0o644)
	polys := filepath.Join(dir, "p.geojson")
	os.WriteFile(polys, []byte("\xef\xbb\xbf"+`{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"name":"box"},
		"geometry":{"type":"Polygon","coordinates":[[[121.5010,31.2300],[121.5014,31.2300],[121.5014,31.2304],[121.5010,31.2304],[121.5010,31.2300]]]}}]}`), 0o644)
	for _, crs := range []string{"gcj02", "wgs84"} {
		var out, errOut strings.Builder
		if err := run(context.Background(), []string{"query", "--crs", crs, "--load", csv, "--polygons", polys}, &out, &errOut); err != nil {
			t.Fatal(crs, err)
		}
		var ans struct{ Total int }
		if err := json.Unmarshal([]byte(out.String()), &ans); err != nil || ans.Total != 1 {
			t.Fatalf("--crs %s: %s (%v)", crs, out.String(), err)
		}
	}
	for _, c := range []struct{ flag, value, want string }{
		{"--where", "nosuchflag", "query: --where"},
		{"--group-by", "planet", "query: --group-by"},
	} {
		var out, errOut strings.Builder
		err := run(context.Background(), []string{"query", "--load", csv, "--polygons", polys, c.flag, c.value}, &out, &errOut)
		if err == nil || !strings.Contains(err.Error(), c.want) || out.Len() > 0 {
			t.Fatalf("%s %s: %v, out %q", c.flag, c.value, err, out.String())
		}
	}
}

// TestKnownFlagColumnRefusedAlike: a column that is a flag already known
// when its file is read holds a value that is no flag value. Whether the
// flag came from a load into the data directory before (serve reopening
// it) or from an earlier file of the same command line (query --load a
// --load b, or serve on a new data directory), the load is refused with
// the same error naming file, line and column, and nothing of it applies.
func TestKnownFlagColumnRefusedAlike(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.csv"), filepath.Join(dir, "b.csv")
	os.WriteFile(a, []byte("id,lon,lat,custom\na1,121.5,31.2,1\na2,121.5,31.2,0\n"), 0o644)
	os.WriteFile(b, []byte("id,lon,lat,custom\nb1,121.5,31.2,1\nb2,121.5,31.2,maybe\n"), 0o644)
	want := b + `:3:15: custom: "maybe" is not a flag value (0, 1, true, false or empty)`
	refused := func(how string, err error) {
		t.Helper()
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("%s: got %v, want %s", how, err, want)
		}
	}

	// query --load a --load b
	polys := filepath.Join(dir, "p.geojson")
	os.WriteFile(polys, []byte(`{"type":"Polygon","coordinates":[[[121,31],[122,31],[122,32],[121,32],[121,31]]]}`), 0o644)
	var out, errOut strings.Builder
	refused("query --load a --load b", run(context.Background(), []string{"query", "--load", a, "--load", b, "--polygons", polys}, &out, &errOut))

	// serve --data-dir D --load a --load b, D new
	open := func(data string) *store.Store {
		t.Helper()
		st, err := store.Open(store.Options{Dir: data})
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	serveLoad := fileLoad{record: true, skipLoaded: true}
	st := open(t.TempDir())
	_, err := loadFiles(st, []string{a, b}, nil, loader.Options{}, serveLoad, &errOut)
	refused("one load of a and b", err)
	if n := st.Engine().Len(); n != 0 {
		t.Fatalf("a refused load applied %d dwellings", n)
	}
	st.Close()

	// serve --data-dir D --load b, D holding a
	data := t.TempDir()
	st = open(data)
	if _, err := loadFiles(st, []string{a}, nil, loader.Options{}, serveLoad, &errOut); err != nil {
		t.Fatal(err)
	}
	st.Close()
	st = open(data)
	defer st.Close()
	_, err = loadFiles(st, []string{a, b}, nil, loader.Options{}, serveLoad, &errOut)
	refused("b into a data directory holding a", err)
	if n := st.Engine().Len(); n != 2 {
		t.Fatalf("%d dwellings after a refused load, want a's 2", n)
	}
}

// TestFlagLimitAcrossFiles: the files of one load count their flags
// together, the later one refused at the header place of the column that
// would be the 1,025th flag, as a file loaded after the other would be.
func TestFlagLimitAcrossFiles(t *testing.T) {
	dir := t.TempDir()
	wide := func(name, prefix string, n int) string {
		var h, r strings.Builder
		h.WriteString("id,lon,lat")
		r.WriteString(prefix + "1,121.5,31.2")
		for i := range n {
			fmt.Fprintf(&h, ",%s%d", prefix, i)
			r.WriteString(",1")
		}
		path := filepath.Join(dir, name)
		os.WriteFile(path, []byte(h.String()+"\n"+r.String()+"\n"), 0o644)
		return path
	}
	a, b := wide("a.csv", "a", 1000), wide("b.csv", "b", 30)
	st, err := store.Open(store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var errOut strings.Builder
	_, err = loadFiles(st, []string{a, b}, nil, loader.Options{}, fileLoad{}, &errOut)
	if err == nil || !strings.Contains(err.Error(), b+`:1:`) || !strings.Contains(err.Error(), `b20: column "b20" would be flag 1025: at most 1024 flags, 1004 of them built in, already loaded or brought by an earlier file`) {
		t.Fatalf("got %v", err)
	}
	if n := st.Engine().Len(); n != 0 {
		t.Fatalf("a refused load applied %d dwellings", n)
	}
}
