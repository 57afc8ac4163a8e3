package server_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/encoding/mvt"
	"github.com/paulmach/orb/maptile"
	"github.com/roomstate/roomstate/engine"
	"github.com/roomstate/roomstate/store"
)

func TestTileEndpoints(t *testing.T) {
	e, _, url, ids := writable(t, store.Options{})
	b := e.Bounds()
	centre := orb.Point{(b.Min[0] + b.Max[0]) / 2, (b.Min[1] + b.Max[1]) / 2}
	tl := maptile.At(centre, 14)
	path := "/tiles/14/" + itoa(tl.X) + "/" + itoa(tl.Y) + ".mvt"

	// plain, then gzipped: the same tile
	req, _ := http.NewRequest("GET", url+path, nil)
	req.Header.Set("Accept-Encoding", "identity")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/vnd.mapbox-vector-tile" || resp.Header.Get("ETag") == "" {
		t.Fatalf("%d %v", resp.StatusCode, resp.Header)
	}
	if ls, err := mvt.Unmarshal(raw); err != nil || len(ls) == 0 {
		t.Fatalf("tile does not decode: %v", err)
	}
	etag := resp.Header.Get("ETag")
	req, _ = http.NewRequest("GET", url+path, nil)
	req.Header.Set("Accept-Encoding", "gzip")
	tr := &http.Transport{DisableCompression: true}
	resp, err = (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	gz, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.Header.Get("Content-Encoding") != "gzip" {
		t.Fatal("no gzip though accepted")
	}
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		t.Fatal(err)
	}
	unz, _ := io.ReadAll(zr)
	if !bytes.Equal(unz, raw) {
		t.Fatal("gzipped tile differs")
	}
	// If-None-Match: 304 while the content is the same
	req, _ = http.NewRequest("GET", url+path, nil)
	req.Header.Set("If-None-Match", etag)
	resp, _ = http.DefaultClient.Do(req)
	resp.Body.Close()
	if resp.StatusCode != 304 {
		t.Fatalf("If-None-Match: %d", resp.StatusCode)
	}
	// a change in the tile: a new ETag
	id := dwellingIn(e, ids, tl)
	if id == "" {
		t.Fatal("no dwelling in the tile")
	}
	do(t, "PATCH", url+"/api/v1/dwellings/"+id, `{"set":["isolated","rental","elderly_alone"],"clear":["vaccinated"]}`)
	req, _ = http.NewRequest("GET", url+path, nil)
	req.Header.Set("If-None-Match", etag)
	resp, _ = http.DefaultClient.Do(req)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("ETag") == etag {
		t.Fatalf("after a change: %d, ETag %s (was %s)", resp.StatusCode, resp.Header.Get("ETag"), etag)
	}
	// empty tiles: 200 (see TestEmptyTile); bad addresses, expressions, schemes: JSON 4xx
	far := maptile.At(orb.Point{-30, 30}, 14)
	cases := []struct {
		path   string
		status int
		code   string
	}{
		{"/tiles/14/" + itoa(far.X) + "/" + itoa(far.Y) + ".mvt", 200, ""},
		{"/tiles/23/0/0.mvt", 400, "bad_tile"},
		{"/tiles/3/8/0.mvt", 400, "bad_tile"},
		{"/tiles/a/0/0.mvt", 400, "bad_tile"},
		{"/tiles/3/0/-1.mvt", 400, "bad_tile"},
		{path + "?where=isolated%20%26", 400, "bad_expression"},
		{path + "?where=bogus", 400, "bad_expression"},
		{path + "?scheme=nope", 404, "not_found"},
		{"/tiles.json?where=bogus", 400, "bad_expression"},
	}
	for _, c := range cases {
		code, body, _ := do(t, "GET", url+c.path, "")
		if code != c.status || c.code != "" && !strings.Contains(string(body), `"code":"`+c.code+`"`) {
			t.Errorf("%s: %d %s, want %d %s", c.path, code, body, c.status, c.code)
		}
	}
	// TileJSON 3.0.0 pointing at the tiles, where passed on
	code, body, _ := do(t, "GET", url+"/tiles.json?where=isolated", "")
	var tj struct {
		TileJSON     string `json:"tilejson"`
		Tiles        []string
		Bounds       []float64
		VectorLayers []struct{ ID string } `json:"vector_layers"`
	}
	if code != 200 || json.Unmarshal(body, &tj) != nil || tj.TileJSON != "3.0.0" || len(tj.Tiles) != 1 ||
		!strings.HasSuffix(tj.Tiles[0], "/tiles/{z}/{x}/{y}.mvt?where=isolated") || len(tj.VectorLayers) != 3 || len(tj.Bounds) != 4 {
		t.Fatalf("tilejson: %d %s", code, body)
	}
	// legend and building states
	code, body, _ = do(t, "GET", url+"/api/v1/legend?where=rental", "")
	if code != 200 || !strings.Contains(string(body), `"state":"normal"`) {
		t.Fatalf("legend: %d %s", code, body)
	}
	d, _ := e.Dwelling(id)
	code, body, _ = do(t, "POST", url+"/api/v1/buildings/states", `{"ids":["`+d.Building+`","nope"],"where":"isolated"}`)
	if code != 200 || !strings.Contains(string(body), `"state":"isolated"`) || strings.Count(string(body), `"feature_id"`) != 1 {
		t.Fatalf("states: %d %s", code, body)
	}
}

func itoa(v uint32) string { return strconv.FormatUint(uint64(v), 10) }

// dwellingIn is the first of ids whose dwelling lies in tile tl ("" for none).
func dwellingIn(e *engine.Engine, ids []string, tl maptile.Tile) string {
	for _, x := range ids {
		if d, err := e.Dwelling(x); err == nil && maptile.At(orb.Point{d.Lon, d.Lat}, tl.Z) == tl {
			return x
		}
	}
	return ""
}

// TestEmptyTile: a tile with nothing in it is a 200 vector tile like any
// other (an empty body: a tile of no layers), with its Content-Type and
// ETag, not compressed even when gzip is accepted, and 304 on revalidation.
func TestEmptyTile(t *testing.T) {
	_, _, url, _ := writable(t, store.Options{})
	far := maptile.At(orb.Point{-30, 30}, 14) // the middle of the Atlantic
	path := url + "/tiles/14/" + itoa(far.X) + "/" + itoa(far.Y) + ".mvt"
	client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	var etag string
	for _, enc := range []string{"identity", "gzip"} {
		req, _ := http.NewRequest("GET", path, nil)
		req.Header.Set("Accept-Encoding", enc)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		h := resp.Header
		if resp.StatusCode != 200 || h.Get("Content-Type") != "application/vnd.mapbox-vector-tile" || h.Get("ETag") == "" ||
			h.Get("Content-Encoding") != "" || len(body) != 0 {
			t.Fatalf("%s: %d %v %d bytes, want 200, the MVT type, an ETag, no encoding, no body", enc, resp.StatusCode, h, len(body))
		}
		if ls, err := mvt.Unmarshal(body); err != nil || len(ls) != 0 {
			t.Fatalf("%s: the empty tile does not decode as a tile of no layers: %v %d", enc, err, len(ls))
		}
		etag = h.Get("ETag")
	}
	req, _ := http.NewRequest("GET", path, nil)
	req.Header.Set("If-None-Match", etag)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 304 {
		t.Fatalf("If-None-Match of the empty tile: %d, want 304", resp.StatusCode)
	}
}

// TestTileAsOfVersionCachedForGood: a tile as of a version before the
// newest (as /tiles.json?as_of= names them) never changes, so it is sent
// to be kept for good (a long max-age, immutable), per token; its ETag
// holds through later changes and still answers If-None-Match with 304.
// So is the responsibility view's as of that version (persons and visits
// as they were then). A live tile, or one as of a time or a version not in
// the past, is revalidated (no-cache).
func TestTileAsOfVersionCachedForGood(t *testing.T) {
	e, _, base, ids := writable(t, store.Options{})
	b := e.Bounds()
	tl := maptile.At(orb.Point{(b.Min[0] + b.Max[0]) / 2, (b.Min[1] + b.Max[1]) / 2}, 14)
	path := "/tiles/14/" + itoa(tl.X) + "/" + itoa(tl.Y) + ".mvt"
	id := dwellingIn(e, ids, tl)
	v0 := e.Version()
	if code, out, _ := do(t, "PATCH", base+"/api/v1/dwellings/"+id, `{"set":["isolated","rental"],"clear":["vaccinated"]}`); code != 200 {
		t.Fatalf("patch: %d %s", code, out)
	}
	get := func(q, inm string) (int, http.Header) {
		t.Helper()
		req, _ := http.NewRequest("GET", base+path+q, nil)
		if inm != "" {
			req.Header.Set("If-None-Match", inm)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, resp.Header
	}
	forGood := func(h http.Header) bool {
		cc := h.Get("Cache-Control")
		return strings.Contains(cc, "immutable") && strings.Contains(cc, "max-age=31536000") && !strings.Contains(cc, "no-cache") &&
			strings.Contains(h.Get("Vary"), "Authorization")
	}
	// the tile URL tiles.json names as of v0
	code, body, _ := do(t, "GET", base+"/tiles.json?as_of="+strconv.FormatUint(uint64(v0), 10), "")
	var tj struct{ Tiles []string }
	if code != 200 || json.Unmarshal(body, &tj) != nil || len(tj.Tiles) != 1 {
		t.Fatalf("tiles.json: %d %s", code, body)
	}
	q := tj.Tiles[0][strings.Index(tj.Tiles[0], "?"):]
	code, h := get(q, "")
	if code != 200 || !forGood(h) || h.Get("ETag") == "" {
		t.Fatalf("tile%s: %d, Cache-Control %q, Vary %q, ETag %q: want kept for good", q, code, h.Get("Cache-Control"), h.Get("Vary"), h.Get("ETag"))
	}
	etag := h.Get("ETag")
	// later changes in the tile leave it as it was
	if code, out, _ := do(t, "PATCH", base+"/api/v1/dwellings/"+id, `{"set":["elderly_alone"]}`); code != 200 {
		t.Fatalf("patch: %d %s", code, out)
	}
	if code, h := get(q, etag); code != 304 || !forGood(h) || h.Get("ETag") != etag {
		t.Fatalf("tile%s revalidated after a change: %d, ETag %q (was %q), Cache-Control %q", q, code, h.Get("ETag"), etag, h.Get("Cache-Control"))
	}
	// the responsibility view as of v0: persons and visits as they were then
	rq := "?as_of=" + strconv.FormatUint(uint64(v0), 10) + "&view=responsibility"
	if code, h := get(rq, ""); code != 200 || !forGood(h) {
		t.Errorf("tile%s: %d, Cache-Control %q: want kept for good", rq, code, h.Get("Cache-Control"))
	}
	_, live := get("", "")
	if live.Get("ETag") == etag {
		t.Fatal("the live tile has the past tile's ETag")
	}
	for _, q := range []string{"", "?as_of=" + strconv.FormatUint(uint64(e.Version()), 10), "?as_of=" + strconv.FormatUint(uint64(e.Version()+1000), 10),
		"?as_of=2099-01-01", "?view=responsibility"} {
		if code, h := get(q, ""); code != 200 || h.Get("Cache-Control") != "no-cache" {
			t.Errorf("tile%s: %d, Cache-Control %q, want no-cache", q, code, h.Get("Cache-Control"))
		}
	}
}
