package server_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/paulmach/orb"
	"github.com/roomstate/roomstate/city"
	"github.com/roomstate/roomstate/engine"
	"github.com/roomstate/roomstate/server"
	"github.com/roomstate/roomstate/store"
)

func testSeed(t testing.TB) uint64 {
	if s := os.Getenv("SEED"); s != "" {
		v, _ := strconv.ParseUint(s, 10, 64)
		t.Logf("SEED=%d", v)
		return v
	}
	v := rand.Uint64() % 1_000_000
	t.Logf("SEED=%d (set SEED to replay)", v)
	return v
}

type fixture struct {
	eng  *engine.Engine
	city *city.City
	url  string
	srv  *server.Server
}

var (
	fixOnce sync.Once
	fix     *fixture
)

// start serves a 30k-dwelling city on a real loopback listener, once.
func start(t testing.TB) *fixture {
	t.Helper()
	fixOnce.Do(func() {
		c := city.New(city.Config{N: 30_000, Seed: 42})
		b, err := c.Batch()
		if err != nil {
			panic(err)
		}
		e := engine.New(engine.Options{})
		if err := e.Load(b); err != nil {
			panic(err)
		}
		if err := e.AddBoundaries(c.Boundaries()); err != nil {
			panic(err)
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			panic(err)
		}
		st, err := store.Open(e, store.Options{})
		if err != nil {
			panic(err)
		}
		srv := server.New(e, st, server.Options{CORSOrigins: []string{"https://dash.example.org"}})
		go srv.Serve(ln)
		fix = &fixture{eng: e, city: c, url: "http://" + ln.Addr().String(), srv: srv}
	})
	return fix
}

func do(t testing.TB, method, url, body string, hdr ...string) (int, []byte, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp.Header
}

type answer struct {
	Total   int64            `json:"total"`
	Matched int64            `json:"matched"`
	Flags   map[string]int64 `json:"flags"`
	Groups  []struct {
		Level   string           `json:"level"`
		ID      string           `json:"id"`
		Total   int64            `json:"total"`
		Matched int64            `json:"matched"`
		Flags   map[string]int64 `json:"flags"`
	} `json:"groups"`
	IDs     []string `json:"ids"`
	Version uint64   `json:"version"`
	TookUS  *int64   `json:"took_us"`
}

func TestPolygonOverHTTPMatchesEngine(t *testing.T) {
	f := start(t)
	rng := rand.New(rand.NewPCG(testSeed(t), 3))
	bs := f.city.Boundaries()
	for i := 0; i < 40; i++ {
		b := bs[rng.IntN(len(bs))]
		where := []string{"", "isolated & !vaccinated", "rental or elderly_alone", "not vaccinated"}[i%4]
		// as a Feature, a FeatureCollection, or the bare geometry
		g, _ := json.Marshal(map[string]any{"type": "MultiPolygon", "coordinates": b.Geometry})
		geom := string(g)
		switch i % 3 {
		case 1:
			geom = `{"type":"Feature","properties":{"x":1},"geometry":` + geom + `}`
		case 2:
			geom = `{"type":"FeatureCollection","features":[{"type":"Feature","properties":null,"geometry":` + geom + `}]}`
		}
		body := fmt.Sprintf(`{"geometry":%s,"where":%q,"group_by":"grid","ids":true,"limit":5}`, geom, where)
		code, out, hdr := do(t, "POST", f.url+"/api/v1/query/polygon", body)
		if code != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), "application/json") {
			t.Fatalf("%d %s", code, out)
		}
		var a answer
		if err := json.Unmarshal(out, &a); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		rg, err := engine.NewRegion(b.Geometry)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := f.eng.BruteStats(rg, where)
		if a.Total != want.Total || a.Matched != want.Matched || a.TookUS == nil || a.Version == 0 {
			t.Fatalf("%s %s where %q: got %+v, want %+v", b.Level, b.ID, where, a, want)
		}
		for fi, name := range f.eng.Flags() {
			if a.Flags[name] != want.Flags[fi] {
				t.Fatalf("flag %s: %d, want %d", name, a.Flags[name], want.Flags[fi])
			}
		}
		var sum int64
		for _, g := range a.Groups {
			sum += g.Total
		}
		if sum != a.Total || len(a.IDs) != int(min(5, a.Matched)) {
			t.Fatalf("groups add to %d of %d; %d ids", sum, a.Total, len(a.IDs))
		}
	}
}

func TestEndpoints(t *testing.T) {
	f := start(t)
	var anyBuilding, anyDwelling, anyGrid string
	_ = f.city.Dwellings(func(r *engine.Record) error {
		if anyBuilding == "" {
			anyBuilding, anyDwelling, anyGrid = r.Building, r.ID, r.Grid
		}
		return nil
	})
	cases := []struct {
		method, path, body string
		status             int
		contains           string
	}{
		{"GET", "/healthz", "", 200, `"status":"ok"`},
		{"GET", "/metrics", "", 200, "roomstate_dwellings"},
		{"POST", "/api/v1/query/grid", `{"cell_m":500,"where":"isolated"}`, 200, `"cells":[{"id":"500m:`},
		{"POST", "/api/v1/query/grid", `{"level":"community"}`, 200, `"name":`},
		{"POST", "/api/v1/query/grid", `{"bbox":[121,31,122,32],"cell_m":1000}`, 200, `"bbox":[`},
		{"GET", "/api/v1/units/grid", "", 200, `"units":[{"level":"grid"`},
		{"GET", "/api/v1/units/grid/" + anyGrid + "?where=isolated", "", 200, `"children":[{"level":"building"`},
		{"GET", "/api/v1/units/grid/" + anyGrid + "/roomstate", "", 200, `"buildings":[{"building":`},
		{"GET", "/api/v1/buildings/" + anyBuilding + "/roomstate", "", 200, `"legend":[{"state":"isolated","label":"居家隔离"`},
		{"GET", "/api/v1/buildings/" + anyBuilding + "/roomstate?scheme=nope", "", 404, `"code":"not_found"`},
		{"GET", "/api/v1/buildings/nope/roomstate", "", 404, `"code":"not_found"`},
		{"GET", "/api/v1/dwellings/" + anyDwelling, "", 200, `"id":"` + anyDwelling + `"`},
		{"GET", "/api/v1/dwellings/nope", "", 404, `"code":"not_found"`},
		{"GET", "/api/v1/dwellings/%2e%2e%2fetc%2fpasswd", "", 404, `"code":"not_found"`},
		{"GET", "/api/v1/schemes", "", 200, `"default":{"rules":[`},
		{"GET", "/api/v1/schemes/default", "", 200, `"state":"normal"`},
		{"PUT", "/api/v1/schemes/quiet", `{"rules":[{"state":"iso","when":"isolated","label":"隔离","color":"#ff0000","shape":"square"}],"default":{"state":"other","label":"其他","color":"#cccccc","shape":"circle"}}`, 200, `"state":"iso"`},
		{"GET", "/api/v1/buildings/" + anyBuilding + "/roomstate?scheme=quiet", "", 200, `"state":"other"`},
		{"PUT", "/api/v1/schemes/bad", `{"rules":[{"state":"x","when":"bogus","label":"x","color":"#ff0000","shape":"square"}],"default":{"state":"o","label":"o","color":"#cccccc","shape":"circle"}}`, 400, `unknown flag \"bogus\"`},
		{"PUT", "/api/v1/schemes/bad", `{"rules":[],"default":{},"extra":1}`, 400, `"code":"bad_json"`},
		{"GET", "/api/v1/units/planet", "", 400, `unknown level`},
		{"GET", "/api/v1/nope", "", 404, `"code":"not_found"`},
		{"DELETE", "/api/v1/query/polygon", "", 405, `"code":"method_not_allowed"`},
		{"GET", "/api/v1/query/polygon", "", 405, `"code":"method_not_allowed"`},
		{"POST", "/api/v1/query/polygon", "", 400, `"code":"bad_json"`},
		{"POST", "/api/v1/query/polygon", "{", 400, `"code":"bad_json"`},
		{"POST", "/api/v1/query/polygon", "[1]", 400, `"code":"bad_json"`},
		{"POST", "/api/v1/query/polygon", `{"where":"isolated"}`, 400, `"code":"bad_geometry"`},
		{"POST", "/api/v1/query/polygon", `{"geometry":{"type":"Point","coordinates":[1,2]}}`, 400, `"code":"bad_geometry"`},
		{"POST", "/api/v1/query/polygon", `{"geometry":{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,1]]]}}`, 400, `not closed`},
		{"POST", "/api/v1/query/polygon", `{"geometry":{"type":"Polygon","coordinates":[[[0,0],[1,1],[1,0],[0,1],[0,0]]]}}`, 400, `crosses itself`},
		{"POST", "/api/v1/query/polygon", `{"geometry":{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,"x"],[0,0]]]}}`, 400, `must hold numbers`},
		{"POST", "/api/v1/query/polygon", `{"geometry":{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1e999],[0,0]]]}}`, 400, `"code":"bad_`},
		{"POST", "/api/v1/query/polygon", `{"geometry":{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,0]]]},"where":"isolated &"}`, 400, `"code":"bad_expression"`},
		{"POST", "/api/v1/query/polygon", `{"geometry":{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,0]]]},"where":"bogus"}`, 400, `unknown flag \"bogus\"`},
		{"POST", "/api/v1/query/polygon", `{"geometry":{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,0]]]},"where":5}`, 400, `where must be a string`},
		{"POST", "/api/v1/query/polygon", `{"geometry":{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,0]]]},"gruop_by":"grid"}`, 400, `unknown field \"gruop_by\"`},
		{"POST", "/api/v1/query/polygon", `{"geometry":{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,0]]]},"group_by":"planet"}`, 400, `group_by`},
		{"POST", "/api/v1/query/polygon", `{"geometry":{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,0]]]},"limit":-1}`, 400, `limit must be an integer`},
		{"POST", "/api/v1/query/grid", `{}`, 400, `give cell_m`},
		{"POST", "/api/v1/query/grid", `{"cell_m":1}`, 400, `cell_m must be between`},
		{"POST", "/api/v1/query/grid", `{"cell_m":500,"bbox":[1,2,3]}`, 400, `bbox must be`},
	}
	for _, c := range cases {
		code, out, _ := do(t, c.method, f.url+c.path, c.body)
		if code != c.status || !bytes.Contains(out, []byte(c.contains)) {
			t.Errorf("%s %s %s:\n got %d %s\nwant %d containing %s", c.method, c.path, c.body, code, clip(out), c.status, c.contains)
		}
		if code >= 400 {
			var e struct {
				Error struct{ Code, Message string } `json:"error"`
			}
			if json.Unmarshal(out, &e) != nil || e.Error.Code == "" || e.Error.Message == "" {
				t.Errorf("%s %s: error body is not {\"error\":{code,message}}: %s", c.method, c.path, out)
			}
		}
	}
	// the server still answers
	if code, _, _ := do(t, "GET", f.url+"/healthz", ""); code != 200 {
		t.Fatal("server stopped answering")
	}
}

func TestCORS(t *testing.T) {
	f := start(t)
	code, _, h := do(t, "OPTIONS", f.url+"/api/v1/query/polygon", "", "Origin", "https://dash.example.org", "Access-Control-Request-Method", "POST")
	if code != 204 || h.Get("Access-Control-Allow-Origin") != "https://dash.example.org" || !strings.Contains(h.Get("Access-Control-Allow-Methods"), "POST") {
		t.Fatalf("preflight: %d %v", code, h)
	}
	_, _, h = do(t, "GET", f.url+"/healthz", "", "Origin", "https://evil.example.com")
	if h.Get("Access-Control-Allow-Origin") != "" {
		t.Fatal("CORS header for a foreign origin")
	}
}

func clip(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + "…"
	}
	return string(b)
}

// geometry decoding checked against encoding/json -------------------------

// refDecode is the reference: encoding/json into a struct, then the same
// union and checks the fast decoder promises.
func refDecode(data []byte) (orb.MultiPolygon, bool) {
	var v struct {
		Geometry json.RawMessage `json:"geometry"`
	}
	if json.Unmarshal(data, &v) != nil || v.Geometry == nil {
		return nil, false
	}
	return refGeom(v.Geometry)
}

func refGeom(raw json.RawMessage) (orb.MultiPolygon, bool) {
	var g struct {
		Type        string            `json:"type"`
		Coordinates json.RawMessage   `json:"coordinates"`
		Geometry    json.RawMessage   `json:"geometry"`
		Features    []json.RawMessage `json:"features"`
		Geometries  []json.RawMessage `json:"geometries"`
	}
	if json.Unmarshal(raw, &g) != nil {
		return nil, false
	}
	var mp orb.MultiPolygon
	switch g.Type {
	case "Polygon":
		var p [][][]float64
		if json.Unmarshal(g.Coordinates, &p) != nil {
			return nil, false
		}
		poly, ok := refPoly(p)
		return orb.MultiPolygon{poly}, ok
	case "MultiPolygon":
		var ps [][][][]float64
		if json.Unmarshal(g.Coordinates, &ps) != nil || len(ps) == 0 {
			return nil, false
		}
		for _, p := range ps {
			poly, ok := refPoly(p)
			if !ok {
				return nil, false
			}
			mp = append(mp, poly)
		}
		return mp, true
	case "Feature":
		return refGeom(g.Geometry)
	case "FeatureCollection":
		if len(g.Features) == 0 {
			return nil, false
		}
		for _, f := range g.Features {
			m, ok := refGeom(f)
			if !ok {
				return nil, false
			}
			mp = append(mp, m...)
		}
		return mp, true
	}
	return nil, false
}

func refPoly(p [][][]float64) (orb.Polygon, bool) {
	if len(p) == 0 {
		return nil, false
	}
	var poly orb.Polygon
	for _, r := range p {
		if len(r) < 4 {
			return nil, false
		}
		var ring orb.Ring
		for _, pos := range r {
			if len(pos) < 2 || len(pos) > 3 || engine.ValidLonLat(pos[0], pos[1]) != nil {
				return nil, false
			}
			ring = append(ring, orb.Point{pos[0], pos[1]})
		}
		if ring[0] != ring[len(ring)-1] {
			return nil, false
		}
		poly = append(poly, ring)
	}
	return poly, true
}

func randomBody(rng *rand.Rand) []byte {
	ring := func() [][]float64 {
		n := 3 + rng.IntN(30)
		var r [][]float64
		for i := 0; i < n; i++ {
			r = append(r, []float64{121 + rng.Float64(), 31 + rng.Float64()})
		}
		return append(r, r[0])
	}
	poly := func() [][][]float64 {
		p := [][][]float64{ring()}
		if rng.IntN(3) == 0 {
			p = append(p, ring())
		}
		return p
	}
	var g any
	switch rng.IntN(4) {
	case 0:
		g = map[string]any{"type": "Polygon", "coordinates": poly()}
	case 1:
		g = map[string]any{"type": "MultiPolygon", "coordinates": [][][][]float64{poly(), poly()}}
	case 2:
		g = map[string]any{"type": "Feature", "properties": map[string]any{"name": "x"}, "geometry": map[string]any{"type": "Polygon", "coordinates": poly()}}
	default:
		g = map[string]any{"type": "FeatureCollection", "features": []any{
			map[string]any{"type": "Feature", "geometry": map[string]any{"type": "Polygon", "coordinates": poly()}},
			map[string]any{"type": "Feature", "geometry": map[string]any{"type": "MultiPolygon", "coordinates": [][][][]float64{poly()}}},
		}}
	}
	b, _ := json.Marshal(map[string]any{"geometry": g})
	return b
}

func TestDecoderMatchesEncodingJSON(t *testing.T) {
	rng := rand.New(rand.NewPCG(testSeed(t), 9))
	for i := 0; i < 500; i++ {
		body := randomBody(rng)
		got, gerr := server.DecodeGeometryForTest(body)
		want, ok := refDecode(body)
		if (gerr == nil) != ok {
			t.Fatalf("%s: fast decoder error %v, reference ok=%v", body, gerr, ok)
		}
		if ok && !got.Equal(want) {
			t.Fatalf("%s: decoded differently", body)
		}
	}
}

func FuzzDecodeGeometry(f *testing.F) {
	rng := rand.New(rand.NewPCG(1, 1))
	for i := 0; i < 8; i++ {
		f.Add(randomBody(rng))
	}
	f.Add([]byte(`{"geometry":{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,0]]]}}`))
	f.Add([]byte(`{"geometry":{"type":"FeatureCollection","features":[]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, gerr := server.DecodeGeometryForTest(data)
		want, ok := refDecode(data)
		if gerr == nil && !ok {
			// fastjson is laxer than encoding/json only on things we do not read
			// (duplicate keys, invalid UTF-8 in strings): the geometry must still
			// be a valid one
			if _, err := engine.NewRegion(got); err != nil {
				if _, isGeom := err.(*engine.GeometryError); !isGeom {
					t.Fatalf("decoded geometry fails with a non-geometry error: %v", err)
				}
			}
			return
		}
		if gerr != nil && ok && json.Valid(data) {
			t.Fatalf("fast decoder rejects what encoding/json reads: %v", gerr)
		}
		if ok && gerr == nil && !got.Equal(want) {
			t.Fatalf("decoded differently")
		}
	})
}
