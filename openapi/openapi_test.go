// The OpenAPI document is held to the server three ways:
//
//  1. It validates as OpenAPI 3.1 (kin-openapi, its examples included).
//  2. Every route of the router is documented: the test reads every
//     route{name: …, methods: …} of package server's source and wants, for
//     each name and method, an operation whose "x-route" is that name; and
//     every documented operation names a route that exists.
//  3. Real requests to a real server (a generated city, tokens of every
//     role) for every operation: each request is valid for the document, each
//     answer (errors included) matches it, additionalProperties: false
//     catches a field the document does not list, and /metrics shows that
//     each request reached the route its operation names.
//
// To document a new endpoint (or a new field of an answer):
//
//   - add its path and operation to openapi.json, with "x-route" the name of
//     its route{} in server/routes.go, its parameters (reuse
//     #/components/parameters), body, 200 answer (a schema in
//     #/components/schemas, closed with "additionalProperties": false; counts
//     as #/components/schemas/Count, counts per flag as FlagCounts) and
//     errors (#/components/responses);
//   - add requests for its operationId to calls() below: at least one that
//     succeeds, and the errors worth checking (invalid() marks a request
//     that breaks the document on purpose: the test wants the document to
//     refuse it, so that what the server refuses the document does too;
//     suppressed() a viewer's answer that must withhold a count, so that
//     its nulls are checked too);
//   - a change of a new kind: make one in calls() before the "changes" and
//     "audit" requests, and name its op in their withOps(): each event and
//     entry is validated against ChangeEvent and AuditEntry;
//   - a new field of an existing answer (e.g. "role" and "lag" in Health)
//     goes into that answer's schema.
//
// Then go test ./openapi.
package openapi_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/roomstate/roomstate/city"
	"github.com/roomstate/roomstate/engine"
	"github.com/roomstate/roomstate/openapi"
	"github.com/roomstate/roomstate/server"
	"github.com/roomstate/roomstate/store"
)

func load(t *testing.T) *openapi3.T {
	t.Helper()
	l := openapi3.NewLoader()
	doc, err := l.LoadFromData(openapi.Document())
	if err != nil {
		t.Fatalf("openapi.json does not load: %v", err)
	}
	return doc
}

// TestDocumentValidates: openapi.json is a valid OpenAPI 3.1 document,
// examples included.
func TestDocumentValidates(t *testing.T) {
	doc := load(t)
	if doc.OpenAPI != "3.1.0" || !doc.IsOpenAPI31OrLater() {
		t.Fatalf("openapi %q, want 3.1.0", doc.OpenAPI)
	}
	if err := doc.Validate(context.Background(), openapi3.EnableExamplesValidation()); err != nil {
		t.Fatalf("openapi.json is not valid: %v", err)
	}
	// every operation has an id, a summary in both languages, errors
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			if op.OperationID == "" || !strings.Contains(op.Summary, " · ") || op.Responses.Value("default") == nil && !isOpen(op) {
				t.Errorf("%s %s: want an operationId, a summary in English · 中文, and a default (error) answer", method, path)
			}
		}
	}
}

func isOpen(op *openapi3.Operation) bool { return op.Security != nil && len(*op.Security) == 0 }

// routerRoutes reads every route{name, methods} literal of package
// server's source: the routes the router can give a request.
func routerRoutes(t *testing.T) map[string][]string {
	t.Helper()
	files, err := filepath.Glob("../server/*.go")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(af, func(n ast.Node) bool {
			cl, ok := n.(*ast.CompositeLit)
			if !ok {
				return true
			}
			if id, ok := cl.Type.(*ast.Ident); !ok || id.Name != "route" {
				return true
			}
			var name, methods string
			for _, e := range cl.Elts {
				kv, ok := e.(*ast.KeyValueExpr)
				if !ok {
					continue
				}
				k, _ := kv.Key.(*ast.Ident)
				lit, ok := kv.Value.(*ast.BasicLit)
				if k == nil || !ok || lit.Kind != token.STRING {
					continue
				}
				v, _ := strconv.Unquote(lit.Value)
				switch k.Name {
				case "name":
					name = v
				case "methods":
					methods = v
				}
			}
			if name != "" && methods != "" { // route{name: "unknown"} routes nothing
				out[name] = append(out[name], strings.Split(methods, ", ")...)
			}
			return true
		})
	}
	if len(out) < 20 {
		t.Fatalf("found only %d routes in ../server: does the router still declare route{name, methods}?", len(out))
	}
	return out
}

// operations maps "METHOD route" to the documented operation, and
// operationId to its method and path.
type docOp struct {
	method, path, route string
	op                  *openapi3.Operation
}

func operations(t *testing.T, doc *openapi3.T) map[string]docOp {
	t.Helper()
	out := map[string]docOp{}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			r, _ := op.Extensions["x-route"].(string)
			if r == "" {
				t.Errorf("%s %s has no x-route", method, path)
			}
			out[op.OperationID] = docOp{method: method, path: path, route: r, op: op}
		}
	}
	return out
}

// TestEveryRouteIsDocumented: each route of the router, with each of its
// methods, has an operation, and each operation names a route and method
// the router has.
func TestEveryRouteIsDocumented(t *testing.T) {
	doc := load(t)
	routes := routerRoutes(t)
	documented := map[string]bool{}
	for id, o := range operations(t, doc) {
		documented[o.method+" "+o.route] = true
		if !slices.Contains(routes[o.route], o.method) {
			t.Errorf("operation %s (%s %s) names route %q with %s, which the router does not have (it has %v)", id, o.method, o.path, o.route, o.method, routes[o.route])
		}
	}
	for name, methods := range routes {
		for _, m := range methods {
			if !documented[m+" "+name] {
				t.Errorf("route %q (%s) is not documented: add an operation with \"x-route\": %q to openapi/openapi.json", name, m, name)
			}
		}
	}
}

const (
	viewerTok  = "viewer-token-0123456789"
	analystTok = "analyst-token-0123456789"
	editorTok  = "editor-token-0123456789"
	personTok  = "person-token-0123456789" // an editor whose scope is a person: 张三
	adminTok   = "admin-token-0123456789"
)

// fixture is a real server over a generated city.
type fixture struct {
	url       string
	eng       *engine.Engine
	grid      string // the editor's grid
	community string
	building  string // a building of that grid
	dwelling  string // a dwelling of that building
	lon, lat  float64
	// a dwelling, its building and grid elsewhere
	otherDwelling, otherBuilding, otherGrid string
	loaded                                  engine.Version
	// progress is an NDJSON batch vaccinating some of the elderly living
	// alone; removed another of them, deleted once the campaign runs
	progress, removed string
}

func startServer(t *testing.T) *fixture {
	t.Helper()
	return startServerWith(t, store.Options{Dir: t.TempDir()})
}

// startServerWith starts the fixture's server on a store opened with so.
func startServerWith(t *testing.T, so store.Options) *fixture {
	t.Helper()
	c := city.New(city.Config{N: 8_000, Seed: 3})
	b, err := c.Batch()
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(so)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Load([]*engine.Batch{b}, c.Boundaries()); err != nil {
		t.Fatal(err)
	}
	f := &fixture{eng: st.Engine(), loaded: st.Engine().Version()}
	var ids []string
	c.Dwellings(func(r *engine.Record) error {
		if f.dwelling == "" {
			f.dwelling, f.building, f.grid, f.community, f.lon, f.lat = r.ID, r.Building, r.Grid, r.Community, r.Lon, r.Lat
		}
		if f.otherDwelling == "" && r.Grid != f.grid && r.Grid != "" {
			f.otherDwelling, f.otherBuilding, f.otherGrid = r.ID, r.Building, r.Grid
		}
		ids = append(ids, r.ID)
		return nil
	})
	var tasks []string
	for _, id := range ids {
		d, _ := f.eng.Dwelling(id)
		if id != f.dwelling && id != f.otherDwelling && slices.Contains(d.Flags, "elderly_alone") && !slices.Contains(d.Flags, "vaccinated") {
			tasks = append(tasks, id)
		}
	}
	if len(tasks) < 30 {
		t.Fatalf("only %d elderly living alone not vaccinated: too few for a campaign", len(tasks))
	}
	var nd strings.Builder
	for _, id := range tasks[:len(tasks)/2] {
		fmt.Fprintf(&nd, `{"id":%q,"set":["vaccinated"]}`+"\n", id)
	}
	f.progress, f.removed = nd.String(), tasks[len(tasks)-1]
	ts, err := server.ParseTokens([]byte(fmt.Sprintf(`[
		{"name": "wall screen", "token": %q, "role": "viewer"},
		{"name": "analyst", "token": %q, "role": "analyst"},
		{"name": "grid worker", "token": %q, "role": "editor", "scope": {"grid": [%q]}},
		{"name": "张三的终端", "token": %q, "role": "editor", "scope": {"person": ["张三"]}},
		{"name": "admin", "token": %q, "role": "admin"}]`, viewerTok, analystTok, editorTok, f.grid, personTok, adminTok)))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := server.New(st, server.Options{Access: server.NewAccess(ts, 3)})
	hs := srv.HTTPServer()
	go hs.Serve(ln)
	t.Cleanup(func() { srv.Close(); hs.Shutdown(); st.Close() })
	f.url = "http://" + ln.Addr().String()
	return f
}

// call is one request of the conformance test and the status it must get.
type call struct {
	token   string
	method  string
	path    string // with its query
	ctype   string // of the body
	body    string
	status  int
	invalid bool // the request breaks the document on purpose: the document must refuse it
	// suppressed: the answer must withhold a count ("suppressed": true)
	suppressed bool
	// ops: the change stream's events, or the audit's entries, must hold
	// changes of each of these ops
	ops []string
}

func get(tok, path string, status int) call {
	return call{token: tok, method: "GET", path: path, status: status}
}
func post(tok, path, body string, status int) call {
	return call{token: tok, method: "POST", path: path, ctype: "application/json", body: body, status: status}
}
func put(tok, path, body string, status int) call {
	return call{token: tok, method: "PUT", path: path, ctype: "application/json", body: body, status: status}
}
func del(tok, path string, status int) call {
	return call{token: tok, method: "DELETE", path: path, status: status}
}

// invalid marks a request that breaks the document on purpose: its answer
// is checked, and the document must refuse the request.
func invalid(c call) call { c.invalid = true; return c }

// suppressed marks an answer that must withhold a count from a viewer.
func suppressed(c call) call { c.suppressed = true; return c }

// withOps wants changes of these ops in a change stream or an audit page.
func withOps(c call, ops ...string) call { c.ops = ops; return c }

// calls lists, by operationId, the requests that exercise it, in order
// (writes change what later calls see).
func calls(f *fixture) [][2]any {
	esc := url.PathEscape
	d := 0.004
	square := fmt.Sprintf(`{"type":"Polygon","coordinates":[[[%v,%v],[%v,%v],[%v,%v],[%v,%v],[%v,%v]]]}`,
		f.lon-d, f.lat-d, f.lon+d, f.lat-d, f.lon+d, f.lat+d, f.lon-d, f.lat+d, f.lon-d, f.lat-d)
	z := 15
	n := math.Exp2(float64(z))
	tx := int((f.lon + 180) / 360 * n)
	ty := int((1 - math.Log(math.Tan(f.lat*math.Pi/180)+1/math.Cos(f.lat*math.Pi/180))/math.Pi) / 2 * n)
	bu, gr, cm, dw := esc(f.building), esc(f.grid), esc(f.community), esc(f.dwelling)
	v0 := uint64(f.loaded)
	// series from after the load (the retained history starts there)
	start := time.Now().Add(time.Second).Truncate(time.Second)
	from, to := url.QueryEscape(start.Format(time.RFC3339)), url.QueryEscape(start.Add(2*time.Hour).Format(time.RFC3339))
	return [][2]any{
		{"openapi", []call{
			get("", "/api/v1/openapi.json", 200),
			get("", "/api/v1/openapi.json?min_version=999999999", 503), // every request but /healthz, /metrics and the dashboard's files
			invalid(get("", "/api/v1/openapi.json?min_version=abc", 400)),
		}},
		{"healthz", []call{get("", "/healthz", 200), get("", "/healthz?min_version=999999999", 200)}},
		{"info", []call{get(viewerTok, "/api/v1/info", 200), get("", "/api/v1/info", 401)}},
		{"queryPolygon", []call{
			post(analystTok, "/api/v1/query/polygon", `{"geometry":`+square+`,"where":"isolated | rental","group_by":"grid","ids":true,"limit":5}`, 200),
			post(analystTok, "/api/v1/query/polygon", `{"geometry":{"type":"Feature","properties":{},"geometry":`+square+`},"where":"elderly_alone"}`, 200),
			post(viewerTok, "/api/v1/query/polygon", `{"geometry":`+square+`}`, 403), // free polygons are not for viewers
			post(analystTok, "/api/v1/query/polygon", `{"unit":{"level":"community","id":"`+f.community+`"},"where":"isolated","group_by":"grid"}`, 200),
			post(analystTok, "/api/v1/query/polygon", `{"unit":{"level":"community","id":"`+f.community+`"},"where":"isolated","group_by":"grid"}`, 200), // kept
			post(analystTok, "/api/v1/query/polygon", `{"unit":{"level":"community","id":"no such community"}}`, 404),
			post(viewerTok, "/api/v1/query/polygon", `{"unit":{"level":"community","id":"`+f.community+`"}}`, 403), // nor units' polygons
			{token: analystTok, method: "POST", path: "/api/v1/query/polygon", ctype: "application/json", body: `{"unit":{"level":"community","id":"` + f.community + `"},"geometry":` + square + `}`, status: 400, invalid: true},
			{token: analystTok, method: "POST", path: "/api/v1/query/polygon", ctype: "application/json", body: `{"unit":{"level":"town","id":"x"}}`, status: 400, invalid: true},
			post(analystTok, "/api/v1/query/polygon?format=csv", `{"geometry":`+square+`,"group_by":"building"}`, 200),
			post(analystTok, "/api/v1/query/polygon?format=xlsx&lang=en", `{"geometry":`+square+`,"group_by":"community","as_of":"`+strconv.FormatUint(v0, 10)+`"}`, 200),
			invalid(post(analystTok, "/api/v1/query/polygon?format=csv&lang=fr", `{"geometry":`+square+`,"group_by":"grid"}`, 400)),
			post(viewerTok, "/api/v1/query/polygon", `{"geometry":`+square+`,"ids":true}`, 403),
			post(analystTok, "/api/v1/query/polygon", `{"geometry":{"type":"Polygon","coordinates":[[[0,0],[1,1],[1,0],[0,1],[0,0]]]}}`, 400),
			post(analystTok, "/api/v1/query/polygon", `{"geometry":`+square+`,"where":"bogus"}`, 400),
			{token: analystTok, method: "POST", path: "/api/v1/query/polygon", ctype: "application/json", body: `{"gruop_by":"grid"}`, status: 400, invalid: true},
		}},
		{"queryGrid", []call{
			post(viewerTok, "/api/v1/query/grid", `{"cell_m":500,"where":"isolated"}`, 200),
			post(analystTok, "/api/v1/query/grid?format=csv", `{"level":"community"}`, 200),
			invalid(post(analystTok, "/api/v1/query/grid?format=csv&lang=fr", `{"level":"community"}`, 400)),
			post(analystTok, "/api/v1/query/grid?format=xlsx", `{"bbox":[121,31,122,32],"cell_m":1000,"as_of":`+strconv.FormatUint(v0, 10)+`}`, 200),
			{token: analystTok, method: "POST", path: "/api/v1/query/grid", ctype: "application/json", body: `{"cell_m":1}`, status: 400, invalid: true},
			post(viewerTok, "/api/v1/query/grid", `{"cell_m":100}`, 403), // cells below --privacy-min-cell
			post(viewerTok, "/api/v1/query/grid", `{"cell_m":500,"as_of":1}`, 410),
		}},
		{"listUnits", []call{
			get(viewerTok, "/api/v1/units/grid?where=isolated", 200),
			get(analystTok, "/api/v1/units/community", 200),
			get(analystTok, "/api/v1/units/building?where=elderly_alone", 200),
			get(analystTok, "/api/v1/units/street?format=csv", 200),
			get(viewerTok, "/api/v1/units/grid?format=xlsx&lang=en&where=isolated", 200),
			invalid(get(viewerTok, "/api/v1/units/grid?format=csv&lang=fr", 400)),
			{token: analystTok, method: "GET", path: "/api/v1/units/grid?format=pdf", status: 400, invalid: true},
			get(analystTok, "/api/v1/units/grid?as_of=1", 410),
			get(analystTok, "/api/v1/units/grid?where=bogus", 400),
			{token: analystTok, method: "GET", path: "/api/v1/units/planet", status: 400, invalid: true},
			get("", "/api/v1/units/grid", 401),
		}},
		{"getUnit", []call{
			get(viewerTok, "/api/v1/units/community/"+cm+"?where=isolated", 200),
			get(analystTok, "/api/v1/units/grid/"+gr+"?format=csv&lang=en", 200),
			invalid(get(analystTok, "/api/v1/units/grid/"+gr+"?format=csv&lang=fr", 400)),
			get(analystTok, "/api/v1/units/grid/"+gr+"?format=xlsx", 200),
			get(analystTok, "/api/v1/units/grid/nope", 404),
			get(viewerTok, "/api/v1/units/building/"+bu+"?where=isolated", 200),
			get(analystTok, "/api/v1/units/building/"+bu+"?format=csv", 200),
			get(analystTok, "/api/v1/units/building/nope", 404),
		}},
		{"buildingRoomState", []call{
			get(analystTok, "/api/v1/buildings/"+bu+"/roomstate?scheme=default", 200),
			get(viewerTok, "/api/v1/buildings/"+bu+"/roomstate", 403),
			get(analystTok, "/api/v1/buildings/nope/roomstate", 404),
			get(analystTok, "/api/v1/buildings/"+bu+"/roomstate?as_of=yesterday", 400),
		}},
		{"buildingRoomStateSVG", []call{
			get(analystTok, "/api/v1/buildings/"+bu+"/roomstate.svg", 200),
			get(analystTok, "/api/v1/buildings/"+bu+"/roomstate.svg?lang=en&as_of="+strconv.FormatUint(v0, 10), 200),
			invalid(get(analystTok, "/api/v1/buildings/"+bu+"/roomstate.svg?lang=fr", 400)),
			get(analystTok, "/api/v1/buildings/nope/roomstate.svg", 404),
			get(viewerTok, "/api/v1/buildings/"+bu+"/roomstate.svg", 403),
		}},
		{"unitRoomState", []call{get(analystTok, "/api/v1/units/grid/"+gr+"/roomstate", 200), get(analystTok, "/api/v1/units/grid/"+gr+"/roomstate?scheme=nope", 404)}},
		{"unitRoomStateSVG", []call{
			get(analystTok, "/api/v1/units/grid/"+gr+"/roomstate.svg", 200),
			get(analystTok, "/api/v1/units/community/nope/roomstate.svg", 404),
			invalid(get(analystTok, "/api/v1/units/grid/"+gr+"/roomstate.svg?lang=fr", 400)),
		}},
		{"buildingStates", []call{post(viewerTok, "/api/v1/buildings/states", `{"ids":["`+f.building+`","nope"],"where":"isolated"}`, 200)}},
		{"legend", []call{get(viewerTok, "/api/v1/legend?where=isolated", 200), get(viewerTok, "/api/v1/legend?where=bogus", 400)}},
		{"history", []call{
			get(viewerTok, "/api/v1/history?level=grid&id="+gr+"&step=1h&from="+from+"&to="+to, 200),
			get(viewerTok, "/api/v1/history?where=isolated&step=30m&from="+from+"&to="+to, 200),
			get(viewerTok, "/api/v1/history?step=1s&from=2000-01-01", 413),
			get(viewerTok, "/api/v1/history?step=0s", 400),                        // the document's step pattern cannot say "at least 1s"
			invalid(get(viewerTok, "/api/v1/history?level=building&id="+bu, 400)), // a series is of an area or the city
		}},
		{"listSchemes", []call{get(viewerTok, "/api/v1/schemes", 200)}},
		{"getScheme", []call{get(viewerTok, "/api/v1/schemes/default", 200), get(viewerTok, "/api/v1/schemes/nope", 404)}},
		{"putScheme", []call{
			{token: adminTok, method: "PUT", path: "/api/v1/schemes/print", ctype: "application/json", status: 200,
				body: `{"rules":[{"state":"iso","when":"isolated & !vaccinated","label":"隔离未接种","label_en":"isolated, not vaccinated","color":"#f00","shape":"star"}],"default":{"state":"other","label":"其他","color":"#ccc","shape":"cross"}}`},
			{token: analystTok, method: "PUT", path: "/api/v1/schemes/print", ctype: "application/json", body: `{"rules":[],"default":{"state":"x","label":"x","color":"#ccc","shape":"circle"}}`, status: 403},
			{token: adminTok, method: "PUT", path: "/api/v1/schemes/print", ctype: "application/json", body: `{"rules":[],"default":{"state":"x","label":"x","color":"red","shape":"circle"}}`, status: 400, invalid: true},
		}},
		{"getDwelling", []call{get(analystTok, "/api/v1/dwellings/"+dw, 200), get(analystTok, "/api/v1/dwellings/nope", 404), get(viewerTok, "/api/v1/dwellings/"+dw, 403)}},
		{"patchDwelling", []call{
			{token: editorTok, method: "PATCH", path: "/api/v1/dwellings/" + dw, ctype: "application/json", body: `{"set":["isolated"],"clear":["vaccinated"]}`, status: 200},
			{token: editorTok, method: "PATCH", path: "/api/v1/dwellings/" + dw, ctype: "application/json", status: 200,
				body: `{"set":["rental"],"until":"` + time.Now().Add(48*time.Hour).Format(time.RFC3339) + `"}`},
			{token: editorTok, method: "PATCH", path: "/api/v1/dwellings/" + dw, ctype: "application/json", body: `{"set":["bogus"]}`, status: 400},
			{token: analystTok, method: "PATCH", path: "/api/v1/dwellings/" + dw, ctype: "application/json", body: `{"set":["rental"]}`, status: 403},
		}},
		{"getDwelling", []call{get(analystTok, "/api/v1/dwellings/"+dw, 200)}}, // now with expires
		{"putDwelling", []call{
			{token: adminTok, method: "PUT", path: "/api/v1/dwellings/NEW-1", ctype: "application/json", status: 201,
				body: fmt.Sprintf(`{"lon":%v,"lat":%v,"district":"浦东新区","building":"B-NEW","unit":"1","floor":3,"room":"301","flags":["rental"]}`, f.lon, f.lat)},
			{token: adminTok, method: "PUT", path: "/api/v1/dwellings/NEW-1", ctype: "application/json", status: 200, // the record as GET shows it
				body: fmt.Sprintf(`{"id":"NEW-1","lon":%v,"lat":%v,"district":"浦东新区","street":"","community":"","grid":"","building":"B-NEW","unit":"1","floor":3,"room":"301",`+
					`"flags":["isolated","rental"],"expires":{"isolated":%q},"version":%d}`, f.lon, f.lat, time.Now().Add(48*time.Hour).UTC().Format("2006-01-02T15:04:05.000Z07:00"), v0+1)},
			{token: adminTok, method: "PUT", path: "/api/v1/dwellings/NEW-1", ctype: "application/json", status: 400, // only a flag the record sets can expire
				body: fmt.Sprintf(`{"lon":%v,"lat":%v,"building":"B-NEW","flags":["rental"],"expires":{"isolated":%q}}`, f.lon, f.lat, time.Now().Add(48*time.Hour).Format(time.RFC3339))},
			{token: adminTok, method: "PUT", path: "/api/v1/dwellings/NEW-1", ctype: "application/json", status: 200,
				body: fmt.Sprintf(`{"id":"NEW-1","lon":%v,"lat":%v,"building":"B-NEW","floor":null,"flags":[]}`, f.lon, f.lat)},
			{token: adminTok, method: "PUT", path: "/api/v1/dwellings/NEW-2", ctype: "application/json", body: `{"lon":121}`, status: 400, invalid: true},
		}},
		{"deleteDwelling", []call{{token: adminTok, method: "DELETE", path: "/api/v1/dwellings/NEW-1", status: 200}, {token: adminTok, method: "DELETE", path: "/api/v1/dwellings/NEW-1", status: 404}}},
		{"postUpdates", []call{
			{token: adminTok, method: "POST", path: "/api/v1/updates", ctype: "application/x-ndjson", body: `{"id":"` + f.dwelling + `","set":["elderly_alone"]}` + "\n" + `{"id":"` + f.dwelling + `","clear":["elderly_alone"]}` + "\n", status: 200},
			{token: adminTok, method: "POST", path: "/api/v1/updates", ctype: "application/x-ndjson", body: `{"id":"` + f.dwelling + `","set":["isolated"]}` + "\n" + `{"id":"nope","set":["isolated"]}` + "\n", status: 400},
		}},
		// responsibility (楼组包干): 张三 answers for the first building, 李四
		// for another grid; a street with no dwelling is unoccupied
		{"listAssignments", []call{get(analystTok, "/api/v1/assignments", 200)}},
		{"putAssignments", []call{
			put(adminTok, "/api/v1/assignments", fmt.Sprintf(`[{"level":"building","id":%q,"person":"张三","team":"一组","phone":"13800000000"},`+
				`{"level":"grid","id":%q,"person":"李四","team":null},{"level":"street","id":"无此街道","person":"王五"}]`, f.building, f.otherGrid), 200),
			put(personTok, "/api/v1/assignments", `[{"level":"grid","id":"G1","person":"张三"}]`, 403),
			put(adminTok, "/api/v1/assignments", `[{"level":"grid","id":"G1","person":"x"},{"level":"grid","id":"G1","person":"y"}]`, 400),
			put(adminTok, "/api/v1/assignments", `[{"level":"street","id":"无此街道","person":null}]`, 200),
			invalid(put(adminTok, "/api/v1/assignments", `[{"level":"district","id":"D1","person":"x"}]`, 400)),
			invalid(put(adminTok, "/api/v1/assignments", `[]`, 400)),
			put("", "/api/v1/assignments", `[{"level":"grid","id":"G1","person":"x"}]`, 401),
		}},
		{"listAssignments", []call{
			get(analystTok, "/api/v1/assignments?level=building", 200),
			get(analystTok, "/api/v1/assignments?person="+url.QueryEscape("张三"), 200),
			get(viewerTok, "/api/v1/assignments", 403),
			invalid(get(analystTok, "/api/v1/assignments?level=planet", 400)),
		}},
		{"getPerson", []call{
			get(analystTok, "/api/v1/persons/"+esc("张三")+"?where=isolated", 200),
			get(adminTok, "/api/v1/persons/"+esc("李四"), 200),
			get(viewerTok, "/api/v1/persons/"+esc("张三"), 403),
			get(analystTok, "/api/v1/persons/nobody", 404),
			get(analystTok, "/api/v1/persons/"+esc("张三")+"?where=bogus", 400),
		}},
		{"postVisit", []call{
			post(personTok, "/api/v1/visits", fmt.Sprintf(`{"building":%q,"note":"扫楼，一切正常"}`, f.building), 200),
			post(editorTok, "/api/v1/visits", fmt.Sprintf(`{"building":%q}`, f.building), 200),
			post(adminTok, "/api/v1/visits", fmt.Sprintf(`{"building":%q,"note":null}`, f.otherBuilding), 200),
			post(personTok, "/api/v1/visits", fmt.Sprintf(`{"building":%q}`, f.otherBuilding), 403), // not 张三's
			post(analystTok, "/api/v1/visits", fmt.Sprintf(`{"building":%q}`, f.building), 403),
			post(adminTok, "/api/v1/visits", `{"building":"no-such-building"}`, 404),
			invalid(post(adminTok, "/api/v1/visits", fmt.Sprintf(`{"building":%q,"floor":3}`, f.building), 400)),
		}},
		{"patchDwelling", []call{ // a person's scope: the buildings 张三 answers for now
			{token: personTok, method: "PATCH", path: "/api/v1/dwellings/" + dw, ctype: "application/json", body: `{"set":["vaccinated"]}`, status: 200},
			{token: personTok, method: "PATCH", path: "/api/v1/dwellings/" + esc(f.otherDwelling), ctype: "application/json", body: `{"set":["vaccinated"]}`, status: 403},
		}},
		{"buildingRoomState", []call{get(analystTok, "/api/v1/buildings/"+bu+"/roomstate", 200)}}, // responsible, last_visit
		{"responsibility", []call{
			suppressed(get(viewerTok, "/api/v1/responsibility?level=grid&where=isolated&stale=7d", 200)),
			get(analystTok, "/api/v1/responsibility", 200),
			get(analystTok, "/api/v1/responsibility?level=community&where=elderly_alone", 200),
			get(analystTok, "/api/v1/responsibility?level=street&format=csv&stale=12h", 200),
			get(viewerTok, "/api/v1/responsibility?format=xlsx&lang=en&stale=1d", 200),
			invalid(get(viewerTok, "/api/v1/responsibility?format=csv&lang=fr", 400)),
			get(analystTok, "/api/v1/responsibility?stale=0d", 400),
			get(analystTok, "/api/v1/responsibility?where=bogus", 400),
			invalid(get(analystTok, "/api/v1/responsibility?level=building", 400)),
			invalid(get(analystTok, "/api/v1/responsibility?format=pdf", 400)),
			get("", "/api/v1/responsibility", 401),
		}},
		// campaigns (挂图作战)
		{"listCampaigns", []call{get(viewerTok, "/api/v1/campaigns", 200)}},
		{"putCampaign", []call{
			put(adminTok, "/api/v1/campaigns/vax", `{"label":"独居老人疫苗接种","target":"elderly_alone & !vaccinated","goal":"vaccinated","deadline":"2026-12-31"}`, 201),
			put(adminTok, "/api/v1/campaigns/vax", `{"label":"独居老人疫苗接种（加快）","target":"elderly_alone&!vaccinated","goal":"vaccinated","deadline":null}`, 200),
			put(adminTok, "/api/v1/campaigns/vax", `{"target":"isolated","goal":"vaccinated"}`, 409), // its task set is fixed
			put(personTok, "/api/v1/campaigns/vax", `{"target":"elderly_alone & !vaccinated","goal":"vaccinated"}`, 403),
			put(adminTok, "/api/v1/campaigns/bad", `{"target":"bogus","goal":"vaccinated"}`, 400),
			put(adminTok, "/api/v1/campaigns/check", `{"label":"Daily check","target":"isolated","goal":"!isolated"}`, 201),
			invalid(put(adminTok, "/api/v1/campaigns/vax", `{"goal":"vaccinated"}`, 400)),
			invalid(put(adminTok, "/api/v1/campaigns/"+esc("bad name!"), `{"target":"isolated","goal":"vaccinated"}`, 400)),
		}},
		{"postUpdates", []call{ // progress: some tasks done, one removed
			{token: adminTok, method: "POST", path: "/api/v1/updates", ctype: "application/x-ndjson", body: f.progress, status: 200},
		}},
		{"deleteDwelling", []call{del(adminTok, "/api/v1/dwellings/"+esc(f.removed), 200)}},
		{"listCampaigns", []call{get(analystTok, "/api/v1/campaigns", 200), get("", "/api/v1/campaigns", 401)}},
		{"getCampaign", []call{
			get(analystTok, "/api/v1/campaigns/vax", 200),
			suppressed(get(viewerTok, "/api/v1/campaigns/vax?level=grid", 200)),
			get(analystTok, "/api/v1/campaigns/vax?level=community&format=csv", 200),
			get(viewerTok, "/api/v1/campaigns/vax?level=grid&format=xlsx&lang=en", 200),
			get(analystTok, "/api/v1/campaigns/nope", 404),
			invalid(get(analystTok, "/api/v1/campaigns/vax?format=csv&lang=fr", 400)),
			invalid(get(analystTok, "/api/v1/campaigns/vax?level=building", 400)),
		}},
		{"buildingStates", []call{
			post(viewerTok, "/api/v1/buildings/states", `{"ids":["`+f.building+`","`+f.otherBuilding+`"],"view":"responsibility"}`, 200),
			post(analystTok, "/api/v1/buildings/states", `{"ids":["`+f.building+`"],"campaign":"vax","where":"elderly_alone"}`, 200),
			post(viewerTok, "/api/v1/buildings/states", `{"ids":["`+f.building+`"],"campaign":"nope"}`, 404),
			invalid(post(viewerTok, "/api/v1/buildings/states", `{"ids":["`+f.building+`"],"view":"heat"}`, 400)),
		}},
		{"tile", []call{
			get(viewerTok, fmt.Sprintf("/tiles/%d/%d/%d.mvt?view=responsibility", z, tx, ty), 200),
			get(viewerTok, fmt.Sprintf("/tiles/%d/%d/%d.mvt?campaign=vax&view=responsibility", z, tx, ty), 200),
			get(viewerTok, fmt.Sprintf("/tiles/%d/%d/%d.mvt?campaign=nope", z, tx, ty), 404),
			invalid(get(viewerTok, fmt.Sprintf("/tiles/%d/%d/%d.mvt?view=heat", z, tx, ty), 400)),
		}},
		{"tilejson", []call{
			get(viewerTok, "/tiles.json?view=responsibility&campaign=vax", 200),
			get(viewerTok, "/tiles.json?campaign=nope", 404),
			get(viewerTok, "/tiles.json?campaign=vax&as_of="+strconv.FormatUint(v0, 10), 400), // as its tiles would be
		}},
		{"deleteCampaign", []call{
			del(personTok, "/api/v1/campaigns/check", 403),
			del(adminTok, "/api/v1/campaigns/check", 200),
			del(adminTok, "/api/v1/campaigns/check", 404),
		}},
		{"changes", []call{
			withOps(get(analystTok, "/api/v1/changes?since="+strconv.FormatUint(v0, 10), 200), "flags", "put", "delete", "assign", "visit", "campaign", "campaign_end"),
			withOps(get(viewerTok, "/api/v1/changes?since="+strconv.FormatUint(v0, 10), 200), "assign", "visit", "campaign", "campaign_end"),
			get(viewerTok, "/api/v1/changes?since=1", 200), // in the load, which is no change: from the first change after it
		}},
		{"audit", []call{
			get(adminTok, "/api/v1/audit?limit=2", 200),
			withOps(get(adminTok, "/api/v1/audit?limit=1000", 200), "flags", "put", "delete", "assign", "visit", "campaign", "campaign_end"),
			get(analystTok, "/api/v1/audit", 403),
			{token: adminTok, method: "GET", path: "/api/v1/audit?limit=0", status: 400, invalid: true},
		}},
		{"tilePbf", []call{ // docs/API.md: .pbf too
			get(viewerTok, fmt.Sprintf("/tiles/%d/%d/%d.pbf?where=isolated", z, tx, ty), 200),
			get(viewerTok, "/tiles/22/0/99999999.pbf", 400),
		}},
		{"tile", []call{
			get(viewerTok, fmt.Sprintf("/tiles/%d/%d/%d.mvt?where=isolated", z, tx, ty), 200),
			get(viewerTok, "/tiles/3/0/0.mvt", 200), // empty: a tile of no layers
			get(viewerTok, "/tiles/22/0/99999999.mvt", 400),
			get("", fmt.Sprintf("/tiles/%d/%d/%d.mvt?access_token=%s", z, tx, ty, viewerTok), 200),
		}},
		{"tilejson", []call{get(viewerTok, "/tiles.json?where=isolated&as_of="+strconv.FormatUint(v0, 10), 200), get(viewerTok, "/tiles.json?scheme=nope", 404)}},
		{"metrics", []call{get(adminTok, "/metrics", 200), get(adminTok, "/metrics?min_version=999999999", 200)}},
		{"dashboard", []call{get("", "/", 200), invalid(get("", "/?lang=fr", 200))}}, // the page is served, but knows zh and en only
		{"static", []call{get("", "/static/app.js", 200), get("", "/static/nope.js", 404)}},
		{"assets", []call{get("", "/assets/maplibre/maplibre-gl.css", 200)}},
	}
}

func init() {
	for _, ct := range []string{"application/x-ndjson", "text/event-stream"} {
		openapi3filter.RegisterBodyDecoder(ct, openapi3filter.PlainBodyDecoder)
	}
}

// TestRealAnswersMatchTheDocument sends every operation's requests to a
// real server and validates each request and answer against the document.
func TestRealAnswersMatchTheDocument(t *testing.T) {
	f := startServer(t)
	// the document as the server serves it
	code, served, _ := send(t, f, call{method: "GET", path: "/api/v1/openapi.json"}, nil)
	if code != 200 || !bytes.Equal(served, openapi.Document()) {
		t.Fatalf("GET /api/v1/openapi.json: %d, %d bytes", code, len(served))
	}
	doc := load(t)
	doc.Servers = openapi3.Servers{{URL: f.url}}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	ops := operations(t, doc)
	sent := map[string]int{"openapi": 1} // requests per route, for /metrics
	exercised := map[string]bool{}
	ctx := context.Background()
	opts := &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true,
		AuthenticationFunc: func(_ context.Context, in *openapi3filter.AuthenticationInput) error {
			r := in.RequestValidationInput.Request
			if r.Header.Get("Authorization") == "" && r.URL.Query().Get("access_token") == "" {
				return fmt.Errorf("no token")
			}
			return nil
		}}
	for _, entry := range calls(f) {
		id, cs := entry[0].(string), entry[1].([]call)
		o, ok := ops[id]
		if !ok {
			t.Errorf("calls() names operation %q, which the document lacks", id)
			continue
		}
		for _, c := range cs {
			name := fmt.Sprintf("%s: %s %s", id, c.method, c.path)
			req, _ := http.NewRequest(c.method, f.url+c.path, strings.NewReader(c.body))
			if c.ctype != "" {
				req.Header.Set("Content-Type", c.ctype)
			}
			if c.token != "" {
				req.Header.Set("Authorization", "Bearer "+c.token)
			}
			route, params, err := router.FindRoute(req)
			if err != nil {
				t.Errorf("%s: the document has no operation for it: %v", name, err)
				continue
			}
			if route.Operation.OperationID != id {
				t.Errorf("%s: the document routes it to %s", name, route.Operation.OperationID)
			}
			rin := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: opts}
			if c.token != "" || isOpen(route.Operation) {
				req.Body = io.NopCloser(strings.NewReader(c.body))
				err := openapi3filter.ValidateRequest(ctx, rin)
				if !c.invalid && err != nil {
					t.Errorf("%s: the request does not match the document: %v", name, err)
				}
				if c.invalid && err == nil {
					t.Errorf("%s: marked invalid, yet the document accepts the request: the document should refuse what the server refuses (or the call is not invalid)", name)
				}
			}
			var data [][]byte
			code, body, hdr := send(t, f, c, &data)
			sent[o.route]++
			if code != c.status {
				t.Errorf("%s: %d %.300s, want %d", name, code, body, c.status)
				continue
			}
			if code < 400 {
				exercised[id] = true
				// a success must be documented as such, not only as default
				if route.Operation.Responses.Status(code) == nil {
					t.Errorf("%s: status %d is not documented", name, code)
				}
			}
			rv := &openapi3filter.ResponseValidationInput{RequestValidationInput: rin, Status: code, Header: hdr,
				Body: io.NopCloser(bytes.NewReader(body)), Options: opts}
			if err := openapi3filter.ValidateResponse(ctx, rv); err != nil {
				t.Errorf("%s: the answer does not match the document: %v\n%.600s", name, err, body)
			}
			if code >= 300 && code < 400 && len(body) > 0 { // ValidateResponse skips 3xx bodies
				checkBody(t, name, route.Operation, code, hdr, body)
			}
			ops := map[string]bool{}
			for _, ev := range data { // the change stream's events
				var v any
				json.Unmarshal(ev, &v)
				if err := doc.Components.Schemas["ChangeEvent"].Value.VisitJSON(v, openapi3.EnableJSONSchema2020()); err != nil {
					t.Errorf("%s: an event does not match ChangeEvent: %v\n%s", name, err, ev)
				}
				if op, ok := v.(map[string]any)["op"].(string); ok {
					ops[op] = true
				}
			}
			if id == "changes" && code == 200 && len(data) == 0 {
				t.Errorf("%s: no event", name)
			}
			if id == "audit" && code == 200 {
				var page struct{ Entries []struct{ Op string } }
				json.Unmarshal(body, &page)
				for _, e := range page.Entries {
					ops[e.Op] = true
				}
			}
			for _, op := range c.ops {
				if !ops[op] {
					t.Errorf("%s: no change of op %q among %v", name, op, ops)
				}
			}
			if c.suppressed && !bytes.Contains(body, []byte(`"suppressed":true`)) {
				t.Errorf("%s: the viewer's answer withholds nothing, so its suppressed counts (null) are not checked against the document\n%.600s", name, body)
			}
		}
	}
	for id := range ops {
		if !exercised[id] {
			t.Errorf("operation %s is documented but no request of calls() succeeds on it: add one", id)
		}
	}
	// each request reached the route its operation names
	_, metrics, _ := send(t, f, call{token: adminTok, method: "GET", path: "/metrics"}, nil)
	sent["metrics"]++
	got := map[string]int{}
	re := regexp.MustCompile(`(?m)^roomstate_http_requests_total\{code="\d+",route="([^"]+)"\} (\d+)$`)
	for _, m := range re.FindAllSubmatch(metrics, -1) {
		n, _ := strconv.Atoi(string(m[2]))
		got[string(m[1])] += n
	}
	sent["metrics"]-- // the scrape counts itself only once it is answered
	for r, n := range sent {
		if got[r] != n {
			t.Errorf("route %q answered %d requests, the document's paths for it were sent %d", r, got[r], n)
		}
	}
}

// TestMinVersionMatchesTheDocument: every operation that declares
// min_version waits for it (503 lagging when this node does not reach it
// within 1 s; 400 when it is no version), and every operation that does
// not (health checks, metrics, the dashboard's files: docs/API.md,
// Operations) answers as without it. One succeeding request of calls()
// per operation, sent with min_version ahead of any version and with one
// that is no number; all at once, as each lagging answer takes a second.
func TestMinVersionMatchesTheDocument(t *testing.T) {
	f := startServer(t)
	doc := load(t)
	ops := operations(t, doc)
	first := map[string]call{}
	for _, entry := range calls(f) {
		id, cs := entry[0].(string), entry[1].([]call)
		if _, ok := first[id]; ok {
			continue
		}
		for _, c := range cs {
			if !c.invalid && c.status < 300 {
				first[id] = c
				break
			}
		}
	}
	for id := range ops {
		if _, ok := first[id]; !ok {
			t.Errorf("%s: no succeeding request in calls()", id)
		}
	}
	type answer struct {
		code int
		body []byte
		hdr  http.Header
		err  error
	}
	with := func(c call, q string) call {
		if strings.Contains(c.path, "?") {
			c.path += "&" + q
		} else {
			c.path += "?" + q
		}
		return c
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	got := map[string][2]answer{}
	for id, c := range first {
		for i, q := range []string{"min_version=999999999", "min_version=abc"} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				code, body, hdr, err := fetch(f, with(c, q))
				mu.Lock()
				defer mu.Unlock()
				a := got[id]
				a[i] = answer{code, body, hdr, err}
				got[id] = a
			}()
		}
	}
	wg.Wait()
	for id, c := range first {
		o, ok := ops[id]
		if !ok {
			t.Errorf("calls() names operation %q, which the document lacks", id)
			continue
		}
		takes := false
		for _, p := range o.op.Parameters {
			if p.Value != nil && p.Value.In == "query" && p.Value.Name == "min_version" {
				takes = true
			}
		}
		ahead, bad := got[id][0], got[id][1]
		name := fmt.Sprintf("%s: %s %s", id, c.method, c.path)
		if ahead.err != nil || bad.err != nil {
			t.Errorf("%s: %v %v", name, ahead.err, bad.err)
			continue
		}
		if !takes {
			if ahead.code != c.status || bad.code != c.status {
				t.Errorf("%s takes no min_version (the document declares none), yet answers %d with min_version ahead, %d with min_version=abc (want %d)\n%.300s", name, ahead.code, bad.code, c.status, ahead.body)
			}
			continue
		}
		var e struct{ Error struct{ Code string } }
		if json.Unmarshal(ahead.body, &e); ahead.code != 503 || e.Error.Code != "lagging" || ahead.hdr.Get("Retry-After") != "1" {
			t.Errorf("%s with min_version ahead: %d %.300s (Retry-After %q), want 503 lagging with Retry-After: 1", name, ahead.code, ahead.body, ahead.hdr.Get("Retry-After"))
		} else {
			checkBody(t, name+" with min_version ahead", o.op, ahead.code, ahead.hdr, ahead.body) // documented as a 503 of its own, not only as default
		}
		if json.Unmarshal(bad.body, &e); bad.code != 400 || e.Error.Code != "bad_request" {
			t.Errorf("%s with min_version=abc: %d %.300s, want 400 bad_request", name, bad.code, bad.body)
		} else {
			checkBody(t, name+" with min_version=abc", o.op, bad.code, bad.hdr, bad.body)
		}
	}
}

// checkBody validates an answer's JSON body against the schema the
// operation documents for its status itself: kin-openapi's ValidateResponse
// does not look at the bodies of 3xx answers.
func checkBody(t *testing.T, name string, op *openapi3.Operation, code int, hdr http.Header, body []byte) {
	t.Helper()
	r := op.Responses.Status(code)
	if r == nil || r.Value == nil {
		t.Errorf("%s: status %d is not documented", name, code)
		return
	}
	mt := r.Value.Content.Get("application/json")
	if mt == nil || mt.Schema == nil {
		t.Errorf("%s: a %d answer has a JSON body, but the document gives its %d no application/json content\n%.300s", name, code, code, body)
		return
	}
	if ct := hdr.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("%s: Content-Type %q, want application/json", name, ct)
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		t.Errorf("%s: the body is not JSON: %v\n%.300s", name, err, body)
		return
	}
	if err := mt.Schema.Value.VisitJSON(v, openapi3.EnableJSONSchema2020()); err != nil {
		t.Errorf("%s: the %d body does not match the document: %v\n%.300s", name, code, err, body)
	}
}

// follower is the journal of a replica that takes no changes: every change
// goes to the leader at leaderURL.
type follower struct{}

const leaderURL = "http://leader.example:8080"

func (follower) Append(context.Context, uint64, []byte, uint64) (uint64, error) {
	return 0, fmt.Errorf("a follower appends nothing")
}
func (follower) MaxEntry() int                                      { return 1 << 20 }
func (follower) Writer() (string, error)                            { return leaderURL, nil }
func (follower) Keep(context.Context, uint64, uint64, []byte) error { return nil }
func (follower) Replication() store.Replication                     { return store.Replication{Role: "follower"} }

// TestRedirectMatchesTheDocument: on a replica that does not take changes,
// every write of calls() is answered 307 with Location on the leader and
// the error body {"error": {"code": "redirect", …}}; each such operation
// documents its 307 with that body, and no other operation documents one.
func TestRedirectMatchesTheDocument(t *testing.T) {
	f := startServerWith(t, store.Options{Journal: follower{}})
	doc := load(t)
	doc.Servers = openapi3.Servers{{URL: f.url}}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	redirected := map[string]bool{}
	for _, entry := range calls(f) {
		id, cs := entry[0].(string), entry[1].([]call)
		for _, c := range cs {
			if c.method == "GET" || c.invalid || c.status >= 300 {
				continue
			}
			name := fmt.Sprintf("%s: %s %s", id, c.method, c.path)
			req, _ := http.NewRequest(c.method, f.url+c.path, nil)
			route, _, err := router.FindRoute(req)
			if err != nil {
				t.Errorf("%s: %v", name, err)
				continue
			}
			documented := route.Operation.Responses.Status(http.StatusTemporaryRedirect) != nil
			code, body, hdr := send(t, f, c, nil)
			if code != http.StatusTemporaryRedirect {
				if documented {
					t.Errorf("%s: %d on a follower, though the document gives it a 307\n%.300s", name, code, body)
				}
				continue
			}
			redirected[id] = true
			if want := leaderURL + c.path; hdr.Get("Location") != want {
				t.Errorf("%s: Location %q, want %q", name, hdr.Get("Location"), want)
			}
			var e struct{ Error struct{ Code string } }
			if json.Unmarshal(body, &e) != nil || e.Error.Code != "redirect" {
				t.Errorf("%s: the 307's body is not an error of code redirect: %.300s", name, body)
			}
			checkBody(t, name, route.Operation, code, hdr, body)
		}
	}
	if len(redirected) < 9 { // schemes, dwellings (3), updates, assignments, visits, campaigns (2)
		t.Errorf("only %d write operations were redirected by the follower: %v", len(redirected), redirected)
	}
}

// fetch makes a request and reads its whole answer.
func fetch(f *fixture, c call) (int, []byte, http.Header, error) {
	req, err := newRequest(context.Background(), f, c)
	if err != nil {
		return 0, nil, nil, err
	}
	resp, err := noRedirects.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp.Header, err
}

// newRequest is c as a request to f's server, with its content type and
// token.
func newRequest(ctx context.Context, f *fixture, c call) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, c.method, f.url+c.path, strings.NewReader(c.body))
	if err != nil {
		return nil, err
	}
	if c.ctype != "" {
		req.Header.Set("Content-Type", c.ctype)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	return req, nil
}

// noRedirects is a client that gives 3xx answers back as they are.
var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// send makes a request. For a change stream it reads until the event of
// the version the server had when the request was sent (or 5 s), collects
// the events' data lines in events, and stops.
func send(t *testing.T, f *fixture, c call, events *[][]byte) (int, []byte, http.Header) {
	t.Helper()
	newest := uint64(f.eng.Version())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, err := newRequest(ctx, f, c)
	if err != nil {
		t.Fatalf("%s %s: %v", c.method, c.path, err)
	}
	resp, err := noRedirects.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", c.method, c.path, err)
	}
	defer resp.Body.Close()
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		var buf bytes.Buffer
		sc := bufio.NewScanner(resp.Body)
		deadline := time.AfterFunc(5*time.Second, cancel)
		defer deadline.Stop()
		for sc.Scan() {
			buf.WriteString(sc.Text() + "\n")
			if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok && events != nil {
				*events = append(*events, []byte(d))
				var ev struct{ Version uint64 }
				json.Unmarshal([]byte(d), &ev)
				if ev.Version >= newest {
					break
				}
			}
		}
		return resp.StatusCode, buf.Bytes(), resp.Header
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: %v", c.method, c.path, err)
	}
	return resp.StatusCode, b, resp.Header
}
