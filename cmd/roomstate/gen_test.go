package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestGenTinyServes: gen writes exactly N dwellings however small N is, and
// serve takes the files of a city of 1, 2 or 10 dwellings of either kind.
func TestGenTinyServes(t *testing.T) {
	for _, kind := range []string{"realistic", "disc"} {
		for _, n := range []int{1, 2, 10} {
			dir := t.TempDir()
			var out strings.Builder
			if err := run(context.Background(), []string{"gen", "-n", fmt.Sprint(n), "-seed", "1", "-kind", kind, "-out", dir}, &out, io.Discard); err != nil {
				t.Fatalf("gen -n %d -kind %s: %v", n, kind, err)
			}
			if want := fmt.Sprintf("%s city of %d dwellings", kind, n); !strings.Contains(out.String(), want) {
				t.Errorf("gen -n %d -kind %s said %q, want %q", n, kind, out.String(), want)
			}
			csv, err := os.ReadFile(filepath.Join(dir, "dwellings.csv"))
			if err != nil {
				t.Fatal(err)
			}
			if rows := bytes.Count(csv, []byte("\n")) - 1; rows != n {
				t.Fatalf("gen -n %d -kind %s wrote %d rows", n, kind, rows)
			}
			p := startProc(t, "serve", "--load", filepath.Join(dir, "dwellings.csv"),
				"--boundaries", filepath.Join(dir, "boundaries.geojson"), "--addr", "127.0.0.1:0")
			code, body := get(t, p.url+"/healthz")
			if want := fmt.Sprintf(`"dwellings":%d,`, n); code != 200 || !strings.Contains(body, want) {
				t.Errorf("-n %d -kind %s: healthz %d %s, want %s", n, kind, code, body, want)
			}
			if code, body := get(t, p.url+"/api/v1/units/grid"); code != 200 || !strings.Contains(body, `"id":"G00001"`) {
				t.Errorf("-n %d -kind %s: units/grid %d %.300s", n, kind, code, body)
			}
			p.stop(t)
		}
	}
}
