package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
