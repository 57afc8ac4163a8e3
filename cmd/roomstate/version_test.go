package main

import (
	"context"
	"io"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/roomstate/roomstate/web"
)

func TestVersionText(t *testing.T) {
	libs := []web.Library{{URLName: "maplibre", Package: "maplibre-gl", Version: "6.17.0", License: "BSD-3-Clause"}}
	vcs := func(rev, modified string) []debug.BuildSetting {
		return []debug.BuildSetting{{Key: "GOOS", Value: "linux"}, {Key: "GOARCH", Value: "amd64"},
			{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: rev},
			{Key: "vcs.time", Value: "2026-11-27T16:47:00Z"}, {Key: "vcs.modified", Value: modified}}
	}
	const rev = "c97de97a1b2c3d4e5f60718293a4b5c6d7e8f901"
	for _, tc := range []struct {
		name string
		bi   *debug.BuildInfo
		want []string
		not  []string
	}{
		{"tagged", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/roomstate/roomstate", Version: "v1.4.0"}, Settings: vcs(rev, "false")},
			[]string{"roomstate v1.4.0\n", "commit    " + rev + " of 2026-11-27T16:47:00Z\n", "go        go1.26.8 linux/amd64", "maplibre-gl 6.17.0 (BSD-3-Clause)"},
			[]string{"uncommitted", "devel"}},
		{"pseudo-version, dirty", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/roomstate/roomstate", Version: "v0.0.0-20261127164700-c97de97a1b2c+dirty"}, Settings: vcs(rev, "true")},
			[]string{"roomstate v0.0.0-20261127164700-c97de97a1b2c+dirty (uncommitted changes)", rev + " of 2026-11-27T16:47:00Z, built with uncommitted changes"},
			[]string{"devel"}},
		{"devel with a commit", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/roomstate/roomstate", Version: "(devel)"}, Settings: vcs(rev, "false")},
			[]string{"roomstate (devel)\n", "commit    " + rev},
			[]string{"without version control"}},
		{"go run", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/roomstate/roomstate", Version: "(devel)"}},
			[]string{"roomstate (devel): built without version control information", "go        go1.26.8\n"},
			[]string{"commit"}},
		{"no build information", nil, []string{"roomstate (devel): no build information", "maplibre-gl 6.17.0"}, nil},
	} {
		got := versionText(tc.bi, libs)
		for _, w := range tc.want {
			if !strings.Contains(got, w) {
				t.Errorf("%s: %q lacks %q", tc.name, got, w)
			}
		}
		for _, n := range tc.not {
			if strings.Contains(got, n) {
				t.Errorf("%s: %q has %q", tc.name, got, n)
			}
		}
	}
}

// TestVersionCommand: the test binary has build information of its own.
func TestVersionCommand(t *testing.T) {
	var out strings.Builder
	if err := run(context.Background(), []string{"version"}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "roomstate ") || !strings.Contains(out.String(), "maplibre-gl ") {
		t.Fatalf("version printed %q", out.String())
	}
}

// TestAssetsFlagRefusesDirWithoutMapLibre: a wrong --assets stops the start
// before anything is loaded.
func TestAssetsFlagRefusesDirWithoutMapLibre(t *testing.T) {
	dir := genCity(t, 1_000)
	err := run(context.Background(), []string{"serve", "--load", dir + "/dwellings.csv", "--assets", t.TempDir(), "--addr", "127.0.0.1:0"}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "--assets") || !strings.Contains(err.Error(), "maplibre-gl.mjs") {
		t.Fatalf("serve --assets EMPTY: %v", err)
	}
}
