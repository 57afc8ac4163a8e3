package main

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/roomstate/roomstate/loader"
	"github.com/roomstate/roomstate/store"
)

// TestInvalidBoundaryWarned: a load takes a boundary that is no valid
// polygon and warns of it once, naming the file, level, id and why, from
// what the engine found when it prepared the boundary; a boundary of the
// same unit that a later file of the load replaces with a valid one is
// not warned of, and nor is a valid one.
func TestInvalidBoundaryWarned(t *testing.T) {
	dir := t.TempDir()
	csv := filepath.Join(dir, "d.csv")
	os.WriteFile(csv, []byte("id,lon,lat,grid\na,121.005,31.002,G1\n"), 0o644)
	feature := func(id, coords string) string {
		return `{"type":"Feature","properties":{"level":"grid","id":"` + id + `"},"geometry":{"type":"Polygon","coordinates":[` + coords + `]}}`
	}
	box := `[[121,31],[121.01,31],[121.01,31.01],[121,31.01],[121,31]]`
	bow := `[[121,31],[121.01,31.01],[121.01,31],[121,31.01],[121,31]]`
	b1, b2 := filepath.Join(dir, "b1.geojson"), filepath.Join(dir, "b2.geojson")
	os.WriteFile(b1, []byte(`{"type":"FeatureCollection","features":[`+feature("G1", box)+`,`+feature("G2", bow)+`,`+feature("G3", bow)+`]}`), 0o644)
	os.WriteFile(b2, []byte(`{"type":"FeatureCollection","features":[`+feature("G3", box)+`]}`), 0o644)
	st, err := store.Open(store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var logged strings.Builder
	opts := loader.Options{Logger: slog.New(slog.NewTextHandler(&logged, nil))}
	if _, err := loadFiles(st, []string{csv}, []string{b1, b2}, opts, fileLoad{}, &logged); err != nil {
		t.Fatal(err)
	}
	out := logged.String()
	if n := strings.Count(out, "no valid polygon"); n != 1 {
		t.Fatalf("%d warnings, want 1 (G2):\n%s", n, out)
	}
	for _, s := range []string{"file=" + b1, "level=grid", "id=G2", "crosses itself"} {
		if !strings.Contains(out, s) {
			t.Fatalf("the warning lacks %q:\n%s", s, out)
		}
	}
}
