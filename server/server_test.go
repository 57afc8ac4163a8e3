package server_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/roomstate/roomstate/city"
	"github.com/roomstate/roomstate/engine"
	"github.com/roomstate/roomstate/internal/testseed"
	"github.com/roomstate/roomstate/region"
	"github.com/roomstate/roomstate/server"
	"github.com/roomstate/roomstate/store"
)

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

// firstDwelling returns the id and building of the city's first dwelling.
func (f *fixture) firstDwelling() (id, building string) {
	f.city.Dwellings(func(r *engine.Record) error {
		if id == "" {
			id, building = r.ID, r.Building
		}
		return nil
	})
	return id, building
}

// start serves a 30k-dwelling city on a real loopback listener, once.
func start(t testing.TB) *fixture {
	t.Helper()
	fixOnce.Do(func() {
		c := city.New(city.Config{N: 30_000, Seed: 42})
		b, err := c.Batch()
		if err != nil {
			panic(err)
		}
		st, err := store.Open(store.Options{})
		if err != nil {
			panic(err)
		}
		if err := st.Load([]*engine.Batch{b}, c.Boundaries()); err != nil {
			panic(err)
		}
		e := st.Engine()
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			panic(err)
		}
		srv := server.New(st, server.Options{CORSOrigins: []string{"https://dash.example.org"}})
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

type polyAnswer struct {
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
	rng := rand.New(rand.NewPCG(testseed.Get(t), 3))
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
		var a polyAnswer
		if err := json.Unmarshal(out, &a); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		rg, err := region.New(b.Geometry)
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

// TestPolygonUnitAndCacheOverHTTP: a unit's polygon answers as its boundary
// sent as a geometry; a geometry sent again is found in the region cache,
// by its text and (written otherwise) by its geometry, and /metrics counts
// it.
func TestPolygonUnitAndCacheOverHTTP(t *testing.T) {
	f := start(t)
	metric := func(name string) float64 {
		_, out, _ := do(t, "GET", f.url+"/metrics", "")
		for _, line := range strings.Split(string(out), "\n") {
			if strings.HasPrefix(line, name+" ") {
				v, _ := strconv.ParseFloat(strings.TrimPrefix(line, name+" "), 64)
				return v
			}
		}
		t.Fatalf("no %s in /metrics", name)
		return 0
	}
	before := metric(`roomstate_region_cache_hits_total{by="text"}`)
	beforeGeom := metric(`roomstate_region_cache_hits_total{by="geometry"}`)
	var b engine.Boundary
	for _, x := range f.city.Boundaries() {
		if x.Level == engine.LevelCommunity {
			b = x
		}
	}
	g, _ := json.Marshal(map[string]any{"type": "MultiPolygon", "coordinates": b.Geometry})
	strip := func(out []byte) string {
		var m map[string]any
		if err := json.Unmarshal(out, &m); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		delete(m, "took_us")
		s, _ := json.Marshal(m)
		return string(s)
	}
	var answers []string
	for _, body := range []string{
		fmt.Sprintf(`{"geometry":%s,"where":"isolated","group_by":"grid"}`, g),
		fmt.Sprintf(`{"geometry":%s,"where":"isolated","group_by":"grid"}`, g),
		fmt.Sprintf(`{"where":"isolated", "geometry": {"type":"Feature","geometry":%s}, "group_by":"grid"}`, g),
		fmt.Sprintf(`{"unit":{"level":"community","id":%q},"where":"isolated","group_by":"grid"}`, b.ID),
	} {
		code, out, _ := do(t, "POST", f.url+"/api/v1/query/polygon", body)
		if code != 200 {
			t.Fatalf("%d %s", code, out)
		}
		answers = append(answers, strip(out))
	}
	for i := range answers {
		if answers[i] != answers[0] {
			t.Fatalf("answer %d differs:\n%s\n%s", i, answers[i], answers[0])
		}
	}
	if metric(`roomstate_region_cache_hits_total{by="text"}`) < before+1 || metric(`roomstate_region_cache_hits_total{by="geometry"}`) < beforeGeom+1 ||
		metric("roomstate_region_cache_misses_total") < 1 || metric("roomstate_region_cache_bytes") <= 0 || metric("roomstate_region_cache_entries") < 1 ||
		metric("roomstate_region_cache_max_bytes") != 64<<20 {
		t.Fatal("the region cache's metrics did not count")
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
		// member names as written (GeoJSON's are case-sensitive): Go's encoding/json would read this one
		{"POST", "/api/v1/query/polygon", `{"Geometry":{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,0]]]}}`, 400, `unknown field \"Geometry\"`},
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
	// every request header the API documents may be sent from another origin
	code, _, h = do(t, "OPTIONS", f.url+"/api/v1/changes", "", "Origin", "https://dash.example.org", "Access-Control-Request-Method", "GET",
		"Access-Control-Request-Headers", "authorization,content-type,if-none-match,x-min-version,last-event-id")
	allowed := map[string]bool{}
	for _, n := range strings.Split(h.Get("Access-Control-Allow-Headers"), ",") {
		allowed[strings.ToLower(strings.TrimSpace(n))] = true
	}
	for _, n := range []string{"authorization", "content-type", "if-none-match", "x-min-version", "last-event-id"} {
		if code != 204 || !allowed[n] {
			t.Errorf("preflight: %d, Access-Control-Allow-Headers %q lacks %s", code, h.Get("Access-Control-Allow-Headers"), n)
		}
	}
	// and the answer's documented headers read
	_, _, h = do(t, "GET", f.url+"/api/v1/info?min_version=999999999", "", "Origin", "https://dash.example.org")
	if !strings.Contains(h.Get("Access-Control-Expose-Headers"), "Retry-After") {
		t.Errorf("a lagging answer exposes %q, not Retry-After", h.Get("Access-Control-Expose-Headers"))
	}
	_, _, h = do(t, "GET", f.url+"/healthz", "", "Origin", "https://evil.example.com")
	if h.Get("Access-Control-Allow-Origin") != "" {
		t.Fatal("CORS header for a foreign origin")
	}
	// a tile, live or kept for good, varies by Origin too: a shared cache
	// must not give one origin's answer (its Allow-Origin) to another
	var info struct{ Version uint64 }
	if _, out, _ := do(t, "GET", f.url+"/api/v1/info", ""); json.Unmarshal(out, &info) != nil {
		t.Fatalf("info: %s", out)
	}
	for _, q := range []string{"", "?as_of=" + strconv.FormatUint(info.Version, 10)} {
		code, _, h = do(t, "GET", f.url+"/tiles/0/0/0.mvt"+q, "", "Origin", "https://dash.example.org")
		vary := map[string]bool{}
		for _, n := range strings.Split(strings.Join(h.Values("Vary"), ","), ",") {
			vary[strings.TrimSpace(n)] = true
		}
		if code != 200 || !vary["Origin"] || !vary["Accept-Encoding"] {
			t.Errorf("tile%s: %d, Vary %q: want Origin and Accept-Encoding", q, code, h.Values("Vary"))
		}
	}
}

func clip(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + "…"
	}
	return string(b)
}

// geometry decoding checked against encoding/json -------------------------

// listen serves st with opts on a loopback port and returns its base URL
// and what stops the server and closes the store (once).
func listen(t testing.TB, st *store.Store, opts server.Options) (string, func()) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := server.New(st, opts)
	hs := srv.HTTPServer()
	go hs.Serve(ln)
	var once sync.Once
	return "http://" + ln.Addr().String(), func() { once.Do(func() { srv.Close(); hs.Shutdown(); st.Close() }) }
}
