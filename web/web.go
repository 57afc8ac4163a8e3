// Package web holds the wall-screen dashboard: its own HTML, CSS and
// JavaScript, embedded in the binary, and the place of MapLibre GL JS, which
// comes from npm (web/package-lock.json) into web/node_modules and is served
// from disk: no third-party code is copied into the repository, and the
// dashboard needs no CDN.
package web

import (
	"embed"
	"io/fs"
)

//go:embed static
var static embed.FS

// Static returns the dashboard's own files (index.html, app.js, app.css).
func Static() fs.FS {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	return sub
}

// DefaultAssets is where `npm ci --prefix web` puts MapLibre, relative to
// the source tree.
const DefaultAssets = "web/node_modules/maplibre-gl/dist"

// Required lists the MapLibre files the dashboard loads.
var Required = []string{"maplibre-gl.mjs", "maplibre-gl-worker.mjs", "maplibre-gl.css"}
