// Package web holds the wall-screen dashboard as the binary serves it, all
// of it embedded so that the binary alone, with no file beside it and no
// network, serves the whole dashboard:
//
//   - static/: the dashboard's own HTML, CSS and JavaScript;
//   - third_party/: the npm code it loads, copied by "make web-vendor" from
//     web/package-lock.json (npm ci, then web/internal/webvendor) and
//     committed with the licences of each package and of everything its
//     files bundle, and a manifest (third_party/manifest.json) of versions
//     and SHA-256 sums that the tests hold against the lockfile.
//
// The third-party code is MapLibre GL JS (the map) and uPlot (the charts:
// trends of the legend's counts, campaigns' progress). uPlot rather than
// hand-written SVG because time series on a wall screen need what is
// tedious to get right by hand (time axes with sensible ticks in both
// languages, hover values, resizing, hundreds of days × a dozen series
// drawn fast on canvas), and uPlot does exactly that and little else: one
// ES module of 145 KB (about 40 KB gzipped) without dependencies,
// MIT-licensed, with a stable API. A progress bar needs no library at all.
//
// The directory is third_party/ and not vendor/: Go's module zips leave out
// the subdirectories of any directory named vendor (golang.org/x/mod/zip),
// so "go install …@version" would not find the files.
//
// This package knows which files exist and under which URL name a library is
// served (/assets/{name}/…); it knows nothing of HTTP, caching or access
// (package server), nor of npm beyond the manifest (web/internal/thirdparty).
package web

import (
	"cmp"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/roomstate/roomstate/web/internal/thirdparty"
)

//go:embed static
var static embed.FS

//go:embed third_party
var thirdParty embed.FS

// Static returns the dashboard's own files (index.html, app.js, app.css).
func Static() fs.FS {
	return sub(static, "static")
}

// libraryDirs maps the URL name of a library (/assets/{name}/…, as
// static/ loads it) to its npm package, its directory under third_party.
var libraryDirs = map[string]string{
	"maplibre": "maplibre-gl",
	"uplot":    "uplot",
}

// Library is third-party code embedded for the dashboard.
type Library struct {
	URLName string // served under /assets/{URLName}/
	Package string // npm package name
	Version string // npm version, as in web/package-lock.json when vendored
	License string // SPDX expression
}

// Embedded returns the embedded files of the library served under
// /assets/{name}/ (its files, its LICENSE and licenses/ of the packages its
// files bundle), or nil for an unknown name.
func Embedded(name string) fs.FS {
	dir, ok := libraryDirs[name]
	if !ok {
		return nil
	}
	return sub(thirdParty, "third_party/"+dir)
}

// Libraries lists the embedded libraries with their versions, from the
// embedded manifest.
func Libraries() ([]Library, error) {
	m, err := manifest()
	if err != nil {
		return nil, err
	}
	var out []Library
	for url, dir := range libraryDirs {
		p := m.Find(dir)
		if p == nil {
			return nil, fmt.Errorf("web: the manifest has no %s", dir)
		}
		out = append(out, Library{URLName: url, Package: p.Name, Version: p.Version, License: p.License})
	}
	slices.SortFunc(out, func(a, b Library) int { return cmp.Compare(a.Package, b.Package) })
	return out, nil
}

// manifest parses the embedded manifest once.
var manifest = sync.OnceValues(func() (*thirdparty.Manifest, error) {
	b, err := thirdParty.ReadFile("third_party/" + thirdparty.ManifestName)
	if err != nil {
		return nil, fmt.Errorf("web: %w", err)
	}
	return thirdparty.ParseManifest(b)
})

// Required lists the MapLibre files the dashboard loads.
var Required = []string{"maplibre-gl.mjs", "maplibre-gl-worker.mjs", "maplibre-gl.css"}

// MapLibreDir opens a directory holding MapLibre's dist files (such as
// web/node_modules/maplibre-gl/dist after npm ci), to serve instead of the
// embedded copy while developing; it is an error if a required file is
// missing.
func MapLibreDir(dir string) (fs.FS, error) {
	var missing []error
	for _, f := range Required {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			missing = append(missing, err)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("web: %s does not hold MapLibre GL JS's dist files: %w", dir, errors.Join(missing...))
	}
	return os.DirFS(dir), nil
}

func sub(fsys fs.FS, dir string) fs.FS {
	s, err := fs.Sub(fsys, dir)
	if err != nil {
		panic(err) // dir is a constant of this package: the embedded tree is fixed at build time
	}
	return s
}
