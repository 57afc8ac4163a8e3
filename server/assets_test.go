package server_test

import (
	"bytes"
	"compress/gzip"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/roomstate/roomstate/server"
	"github.com/roomstate/roomstate/store"
	"github.com/roomstate/roomstate/web"
)

// serveAssets starts a server of an empty engine with these options.
func serveAssets(t *testing.T, opts server.Options) string {
	t.Helper()
	st, err := store.Open(store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	url, stop := listen(t, st, opts)
	t.Cleanup(stop)
	return url
}

// fetch GETs url asking for gzip itself, so that the answer is seen as sent.
func fetch(t *testing.T, url string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept-Encoding", "identity")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// TestEmbeddedAssets: with no --assets, and no web/ in the working
// directory, the dashboard and every embedded file of its libraries are
// served byte for byte, gzipped on request, and revalidated with their ETag.
func TestEmbeddedAssets(t *testing.T) {
	t.Chdir(t.TempDir())
	url := serveAssets(t, server.Options{})

	resp, body := fetch(t, url+"/")
	if resp.StatusCode != 200 || !bytes.Contains(body, []byte("/assets/maplibre/maplibre-gl.css")) {
		t.Fatalf("/: %d %.200s", resp.StatusCode, body)
	}
	libs, err := web.Libraries()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, l := range libs {
		fsys := web.Embedded(l.URLName)
		err := fs.WalkDir(fsys, ".", func(name string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			want, _ := fs.ReadFile(fsys, name)
			resp, got := fetch(t, url+"/assets/"+l.URLName+"/"+name)
			if resp.StatusCode != 200 || !bytes.Equal(got, want) {
				t.Errorf("/assets/%s/%s: %d, %d bytes, want 200 with the %d embedded", l.URLName, name, resp.StatusCode, len(got), len(want))
			}
			n++
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if n < len(web.Required)+2 {
		t.Fatalf("only %d embedded files served", n)
	}
	for path, ctype := range map[string]string{
		"/assets/maplibre/maplibre-gl.mjs": "text/javascript; charset=utf-8",
		"/assets/maplibre/maplibre-gl.css": "text/css; charset=utf-8",
		"/assets/uplot/uPlot.esm.js":       "text/javascript; charset=utf-8",
		"/assets/maplibre/LICENSE.txt":     "text/plain; charset=utf-8",
		"/static/app.js":                   "text/javascript; charset=utf-8",
	} {
		resp, _ := fetch(t, url+path)
		if got := resp.Header.Get("Content-Type"); got != ctype {
			t.Errorf("%s: Content-Type %q, want %q", path, got, ctype)
		}
	}

	// gzip on request, the same bytes once unpacked; 304 with either ETag
	want, _ := fs.ReadFile(web.Embedded("maplibre"), "maplibre-gl.mjs")
	resp, gz := fetch(t, url+"/assets/maplibre/maplibre-gl.mjs", "Accept-Encoding", "gzip")
	if resp.Header.Get("Content-Encoding") != "gzip" || len(gz) >= len(want)/2 {
		t.Fatalf("gzip asked: Content-Encoding %q, %d bytes of %d", resp.Header.Get("Content-Encoding"), len(gz), len(want))
	}
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := io.ReadAll(zr); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("gzipped body does not unpack to the file: %v", err)
	}
	gzTag := resp.Header.Get("ETag")
	resp, _ = fetch(t, url+"/assets/maplibre/maplibre-gl.mjs")
	tag := resp.Header.Get("ETag")
	if tag == "" || gzTag == "" || tag == gzTag {
		t.Fatalf("ETags %q (plain) and %q (gzip): want two, different", tag, gzTag)
	}
	for _, inm := range []string{tag, gzTag, `"other", ` + tag} {
		if resp, b := fetch(t, url+"/assets/maplibre/maplibre-gl.mjs", "If-None-Match", inm); resp.StatusCode != 304 || len(b) != 0 {
			t.Errorf("If-None-Match %s: %d with %d bytes, want 304", inm, resp.StatusCode, len(b))
		}
	}
	if resp, _ := fetch(t, url+"/assets/maplibre/maplibre-gl.mjs", "If-None-Match", `"stale"`); resp.StatusCode != 200 {
		t.Errorf("stale If-None-Match: %d", resp.StatusCode)
	}

	for _, path := range []string{"/assets/nothing/x.js", "/assets/maplibre/missing.js", "/static/missing.js", "/assets/maplibre/%2e%2e/%2e%2e/web.go"} {
		if resp, _ := fetch(t, url+path); resp.StatusCode != 404 && resp.StatusCode != 400 {
			t.Errorf("%s: %d, want 404 or 400", path, resp.StatusCode)
		}
	}
}

// TestAssetsDir: --assets DIR serves MapLibre from DIR, read afresh on each
// request (development); a directory without MapLibre gets a page saying so.
func TestAssetsDir(t *testing.T) {
	dir := t.TempDir()
	for _, f := range web.Required {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("// dev build of "+f+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	url := serveAssets(t, server.Options{AssetsDir: dir})
	if resp, b := fetch(t, url+"/assets/maplibre/maplibre-gl.mjs"); resp.StatusCode != 200 || string(b) != "// dev build of maplibre-gl.mjs\n" {
		t.Fatalf("--assets file: %d %q", resp.StatusCode, b)
	}
	if err := os.WriteFile(filepath.Join(dir, "maplibre-gl.mjs"), []byte("// edited\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, b := fetch(t, url+"/assets/maplibre/maplibre-gl.mjs"); string(b) != "// edited\n" {
		t.Fatalf("an edit in --assets does not show: %q", b)
	}
	if resp, _ := fetch(t, url+"/assets/uplot/uPlot.esm.js"); resp.StatusCode != 200 {
		t.Errorf("uPlot with --assets: %d (it stays embedded)", resp.StatusCode)
	}

	url = serveAssets(t, server.Options{AssetsDir: t.TempDir()})
	resp, b := fetch(t, url+"/")
	if resp.StatusCode != 503 || !strings.Contains(string(b), "--assets") {
		t.Fatalf("/ with an empty --assets: %d %.200s", resp.StatusCode, b)
	}
	if resp, _ := fetch(t, url+"/assets/maplibre/maplibre-gl.mjs"); resp.StatusCode != 404 {
		t.Errorf("MapLibre file with an empty --assets: %d", resp.StatusCode)
	}
}
