package server_test

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/roomstate/roomstate/answer"
	"github.com/roomstate/roomstate/city"
	"github.com/roomstate/roomstate/engine"
	"github.com/roomstate/roomstate/server"
	"github.com/roomstate/roomstate/store"
	"github.com/valyala/fasthttp"
)

const (
	viewerTok  = "viewer-token-0123456789"
	analystTok = "analyst-token-0123456789"
	editorTok  = "editor-token-0123456789"
	adminTok   = "admin-token-0123456789"
)

type secured struct {
	eng      *engine.Engine
	st       *store.Store
	url      string
	grid     string   // the editor's grid
	inScope  []string // dwellings of that grid
	outScope []string // dwellings elsewhere
}

func startSecured(t *testing.T) *secured {
	t.Helper()
	c := city.New(city.Config{N: 20_000, Seed: 31})
	b, _ := c.Batch()
	st, err := store.Open(store.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Load([]*engine.Batch{b}, c.Boundaries()); err != nil {
		t.Fatal(err)
	}
	e := st.Engine()
	s := &secured{eng: e, st: st}
	c.Dwellings(func(r *engine.Record) error {
		if s.grid == "" {
			s.grid = r.Grid
		}
		if r.Grid == s.grid {
			s.inScope = append(s.inScope, r.ID)
		} else {
			s.outScope = append(s.outScope, r.ID)
		}
		return nil
	})
	ts, err := server.ParseTokens([]byte(fmt.Sprintf(`[
		{"name": "wall screen", "token": %q, "role": "viewer"},
		{"name": "analyst", "token": %q, "role": "analyst"},
		{"name": "grid worker", "token": %q, "role": "editor", "scope": {"grid": [%q]}},
		{"name": "admin", "token": %q, "role": "admin"}]`, viewerTok, analystTok, editorTok, s.grid, adminTok)))
	if err != nil {
		t.Fatal(err)
	}
	url, stop := listen(t, st, server.Options{Access: server.NewAccess(ts, 3), Answers: answer.Options{MaxBatchLines: 1000}, MaxBodyBytes: 4 << 20})
	t.Cleanup(stop)
	s.url = url
	return s
}

func (s *secured) do(t *testing.T, token, method, path string, body []byte, hdr ...string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, s.url, bytes.NewReader(body))
	// the path goes out as written, bad escapes and all
	p, q, _ := strings.Cut(path, "?")
	req.URL.Opaque, req.URL.RawQuery = p, q
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, []byte(err.Error())
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

func square(lon, lat, d float64) string {
	return fmt.Sprintf(`{"type":"Polygon","coordinates":[[[%v,%v],[%v,%v],[%v,%v],[%v,%v],[%v,%v]]]}`,
		lon-d, lat-d, lon+d, lat-d, lon+d, lat+d, lon-d, lat+d, lon-d, lat-d)
}

// fingerprintAll summarises every dwelling's flags and place.
func fingerprintAll(t *testing.T, e *engine.Engine) string {
	res, err := e.Grid(&engine.GridQuery{Level: "building"})
	if err != nil {
		t.Fatal(err)
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "v%d n%d\n", e.Version(), e.Len())
	for _, c := range res.Cells {
		fmt.Fprintf(&sb, "%s %d %v\n", c.ID, c.Total, c.Flags)
	}
	return sb.String()
}

// TestHostileRequests sends requests a careless or hostile client might:
// each gets its status and error code, the server keeps answering, and the
// data does not change.
func TestHostileRequests(t *testing.T) {
	s := startSecured(t)
	before := fingerprintAll(t, s.eng)
	d, _ := s.eng.Dwelling(s.inScope[0])
	poly := func(extra string) []byte {
		return []byte(`{"geometry":` + square(d.Lon, d.Lat, 0.01) + extra + `}`)
	}
	huge := make([]byte, 0, 5<<20)
	huge = append(huge, `{"geometry":{"type":"Polygon","coordinates":[[`...)
	for i := 0; i < 1_000_000; i++ {
		huge = append(huge, fmt.Sprintf("[%d.1,%d.2],", i%90, i%80)...)
		if len(huge) > 5<<20 {
			break
		}
	}
	huge = append(huge, "[0,0]]]}}"...)
	manyVertices := []byte(`{"geometry":{"type":"Polygon","coordinates":[[` + strings.Repeat("[121.1,31.1],", 120_000) + `[121.1,31.1]]]}}`)
	deepJSON := []byte(`{"geometry":` + strings.Repeat("[", 10_000) + strings.Repeat("]", 10_000) + `}`)
	batch := func(lines ...string) []byte { return []byte(strings.Join(lines, "\n")) }
	line := func(id string) string { return fmt.Sprintf(`{"id":%q,"set":["isolated"]}`, id) }
	var tooMany []string
	for i := 0; i < 1001; i++ {
		tooMany = append(tooMany, line(s.inScope[i%len(s.inScope)]))
	}
	outPut := fmt.Sprintf(`{"lon":%v,"lat":%v,"grid":"ELSEWHERE","building":"X"}`, d.Lon, d.Lat)
	cases := []struct {
		name, token, method, path string
		body                      []byte
		status                    int
		code                      string
		hdr                       []string
	}{
		{"no token", "", "POST", "/api/v1/query/polygon", poly(""), 401, "unauthorized", nil},
		{"wrong token", "not-a-token-at-all-xxx", "POST", "/api/v1/query/polygon", poly(""), 401, "unauthorized", nil},
		{"empty bearer", " ", "GET", "/api/v1/units/grid", nil, 401, "unauthorized", nil},
		{"basic auth", "", "GET", "/api/v1/units/grid", nil, 401, "unauthorized", []string{"Authorization", "Basic " + adminTok}},
		{"token in another case", strings.ToUpper(adminTok), "GET", "/api/v1/units/grid", nil, 401, "unauthorized", nil},
		{"viewer asks ids", viewerTok, "POST", "/api/v1/query/polygon", poly(`,"ids":true`), 403, "forbidden", nil},
		{"viewer reads a dwelling", viewerTok, "GET", "/api/v1/dwellings/" + d.ID, nil, 403, "forbidden", nil},
		{"viewer reads a room-state map", viewerTok, "GET", "/api/v1/buildings/" + d.Building + "/roomstate", nil, 403, "forbidden", nil},
		{"viewer reads a grid's map", viewerTok, "GET", "/api/v1/units/grid/" + s.grid + "/roomstate", nil, 403, "forbidden", nil},
		{"viewer writes", viewerTok, "PATCH", "/api/v1/dwellings/" + d.ID, []byte(`{"set":["isolated"]}`), 403, "forbidden", nil},
		{"analyst writes", analystTok, "PATCH", "/api/v1/dwellings/" + d.ID, []byte(`{"set":["isolated"]}`), 403, "forbidden", nil},
		{"analyst puts a scheme", analystTok, "PUT", "/api/v1/schemes/x", []byte(`{"rules":[],"default":{"state":"n","label":"n","color":"#000","shape":"circle"}}`), 403, "forbidden", nil},
		{"editor reads the audit", editorTok, "GET", "/api/v1/audit", nil, 403, "forbidden", nil},
		{"editor writes out of scope", editorTok, "PATCH", "/api/v1/dwellings/" + s.outScope[0], []byte(`{"set":["isolated"]}`), 403, "forbidden", nil},
		{"editor batch with one line out of scope", editorTok, "POST", "/api/v1/updates", batch(line(s.inScope[0]), line(s.inScope[1]), line(s.outScope[5])), 403, "forbidden", nil},
		{"editor moves a dwelling out of scope", editorTok, "PUT", "/api/v1/dwellings/" + d.ID, []byte(outPut), 403, "forbidden", nil},
		{"editor deletes out of scope", editorTok, "DELETE", "/api/v1/dwellings/" + s.outScope[1], nil, 403, "forbidden", nil},
		{"editor creates out of scope", editorTok, "PUT", "/api/v1/dwellings/NEW-OUT", []byte(outPut), 403, "forbidden", nil},
		{"bad JSON", analystTok, "POST", "/api/v1/query/polygon", []byte(`{`), 400, "bad_json", nil},
		{"not an object", analystTok, "POST", "/api/v1/query/polygon", []byte(`"geometry"`), 400, "bad_json", nil},
		{"geometry of a wrong type", analystTok, "POST", "/api/v1/query/polygon", []byte(`{"geometry":5}`), 400, "bad_geometry", nil},
		{"where of a wrong type", analystTok, "POST", "/api/v1/query/polygon", poly(`,"where":5`), 400, "bad_request", nil},
		{"limit of a wrong type", analystTok, "POST", "/api/v1/query/polygon", poly(`,"ids":true,"limit":"x"`), 400, "bad_request", nil},
		{"ids of a wrong type", analystTok, "POST", "/api/v1/query/polygon", poly(`,"ids":"yes"`), 400, "bad_request", nil},
		{"limit too large", analystTok, "POST", "/api/v1/query/polygon", poly(`,"ids":true,"limit":10000000`), 400, "bad_request", nil},
		{"NaN coordinate", analystTok, "POST", "/api/v1/query/polygon", []byte(`{"geometry":{"type":"Polygon","coordinates":[[[NaN,1],[1,1],[1,2],[NaN,1]]]}}`), 400, "bad_geometry", nil},
		{"infinite coordinate", analystTok, "POST", "/api/v1/query/polygon", []byte(`{"geometry":{"type":"Polygon","coordinates":[[[1e999,1],[1,1],[1,2],[1e999,1]]]}}`), 400, "bad_geometry", nil},
		{"coordinate out of range", analystTok, "POST", "/api/v1/query/polygon", []byte(`{"geometry":{"type":"Polygon","coordinates":[[[200,1],[1,1],[1,2],[200,1]]]}}`), 400, "bad_geometry", nil},
		{"unclosed ring", analystTok, "POST", "/api/v1/query/polygon", []byte(`{"geometry":{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,1]]]}}`), 400, "bad_geometry", nil},
		{"self-intersecting ring", analystTok, "POST", "/api/v1/query/polygon", []byte(`{"geometry":{"type":"Polygon","coordinates":[[[0,0],[2,2],[2,0],[0,2],[0,0]]]}}`), 400, "bad_geometry", nil},
		{"a 120 000-vertex polygon", analystTok, "POST", "/api/v1/query/polygon", manyVertices, 413, "too_large", nil},
		{"deep nesting", analystTok, "POST", "/api/v1/query/polygon", deepJSON, 400, "bad_json", nil},
		{"deep expression", analystTok, "POST", "/api/v1/query/polygon", poly(`,"where":"` + strings.Repeat("(", 100) + "isolated" + strings.Repeat(")", 100) + `"`), 400, "bad_expression", nil},
		{"long expression", analystTok, "POST", "/api/v1/query/polygon", poly(`,"where":"` + strings.Repeat("isolated|", 1000) + `isolated"`), 400, "bad_expression", nil},
		{"invalid UTF-8 in where", analystTok, "POST", "/api/v1/query/polygon", poly(`,"where":"iso` + "\xff\xfe" + `"`), 400, "bad_expression", nil},
		{"unknown flag in where", analystTok, "POST", "/api/v1/query/polygon", poly(`,"where":"quarantined"`), 400, "bad_expression", nil},
		{"unknown flag in a change", adminTok, "PATCH", "/api/v1/dwellings/" + d.ID, []byte(`{"set":["quarantined"]}`), 400, "bad_flag", nil},
		{"id with path tricks", analystTok, "GET", "/api/v1/dwellings/..%2F..%2Fetc%2Fpasswd", nil, 404, "not_found", nil},
		{"id with a NUL", analystTok, "GET", "/api/v1/dwellings/%00", nil, 404, "not_found", nil},
		{"bad escape in a path", analystTok, "GET", "/api/v1/dwellings/%zz", nil, 400, "bad_request", nil},
		{"new id with a control character", adminTok, "PUT", "/api/v1/dwellings/a%01b", []byte(`{"lon":121,"lat":31}`), 400, "bad_request", nil},
		{"wrong method on updates", adminTok, "GET", "/api/v1/updates", nil, 405, "method_not_allowed", nil},
		{"wrong method on a scheme", adminTok, "DELETE", "/api/v1/schemes/default", nil, 405, "method_not_allowed", nil},
		{"too many lines in a batch", adminTok, "POST", "/api/v1/updates", batch(tooMany...), 413, "too_large", nil},
		{"a bad line in a batch", adminTok, "POST", "/api/v1/updates", batch(line(d.ID), line(d.ID), `{"id":`), 400, "bad_json", nil},
		{"an unknown dwelling in a batch", adminTok, "POST", "/api/v1/updates", batch(line(d.ID), line("nope")), 400, "not_found", nil},
		{"cells too small", analystTok, "POST", "/api/v1/query/grid", []byte(`{"cell_m":1}`), 400, "bad_request", nil},
		{"cells too small for a viewer", viewerTok, "POST", "/api/v1/query/grid", []byte(`{"cell_m":100}`), 403, "forbidden", nil},
		{"a unit's polygon for a viewer", viewerTok, "POST", "/api/v1/query/polygon", []byte(`{"unit":{"level":"grid","id":"` + s.grid + `"}}`), 403, "forbidden", nil},
		{"a unit of an unknown level", analystTok, "POST", "/api/v1/query/polygon", []byte(`{"unit":{"level":"town","id":"x"}}`), 400, "bad_request", nil},
		{"a building as a unit", analystTok, "POST", "/api/v1/query/polygon", []byte(`{"unit":{"level":"building","id":"x"}}`), 400, "bad_request", nil},
		{"an unknown unit", analystTok, "POST", "/api/v1/query/polygon", []byte(`{"unit":{"level":"grid","id":"no such grid"}}`), 404, "not_found", nil},
		{"a unit and a geometry", analystTok, "POST", "/api/v1/query/polygon", []byte(`{"unit":{"level":"grid","id":"` + s.grid + `"},"geometry":{"type":"Polygon","coordinates":[[[121,31],[122,31],[122,32],[121,31]]]}}`), 400, "bad_request", nil},
		{"a free polygon for a viewer", viewerTok, "POST", "/api/v1/query/polygon", []byte(`{"geometry":{"type":"Polygon","coordinates":[[[121,31],[122,31],[122,32],[121,31]]]}}`), 403, "forbidden", nil},
		{"inverted box", viewerTok, "POST", "/api/v1/query/grid", []byte(`{"cell_m":500,"bbox":[122,32,121,31]}`), 400, "bad_request", nil},
		{"tile beyond the pyramid", viewerTok, "GET", "/tiles/30/0/0.mvt", nil, 400, "bad_tile", nil},
		{"audit with a bad time", adminTok, "GET", "/api/v1/audit?since=yesterday", nil, 400, "bad_request", nil},
		{"changes since no version", viewerTok, "GET", "/api/v1/changes?since=-1", nil, 400, "bad_request", nil},
		{"a scheme with a bad colour", adminTok, "PUT", "/api/v1/schemes/bad", []byte(`{"rules":[{"state":"x","when":"isolated","label":"x","color":"red","shape":"circle"}],"default":{"state":"n","label":"n","color":"#000000","shape":"circle"}}`), 400, "bad_scheme", nil},
		{"a scheme with an empty body", adminTok, "PUT", "/api/v1/schemes/bad", nil, 400, "bad_json", nil},
		{"a scheme with data after it", adminTok, "PUT", "/api/v1/schemes/bad", []byte(`{"rules":[],"default":{"state":"n","label":"n","color":"#000000","shape":"circle"}} {}`), 400, "bad_json", nil},
		{"no such endpoint", adminTok, "GET", "/api/v1/../../etc/passwd", nil, 404, "not_found", nil},
	}
	if len(cases) < 40 {
		t.Fatalf("only %d cases", len(cases))
	}
	for _, c := range cases {
		code, body := s.do(t, c.token, c.method, c.path, c.body, c.hdr...)
		var e struct {
			Error struct{ Code, Message string }
		}
		json.Unmarshal(body, &e)
		if code != c.status || e.Error.Code != c.code || e.Error.Message == "" {
			t.Errorf("%s: got %d %q (%.200s), want %d %q", c.name, code, e.Error.Code, body, c.status, c.code)
		}
		if bytes.Contains(body, []byte(adminTok)) || bytes.Contains(body, []byte(editorTok)) {
			t.Errorf("%s: an answer holds a token", c.name)
		}
	}
	// a body past the limit: the answer comes before the body is sent (a
	// client that insists on sending it all sees the connection close)
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "POST /api/v1/query/polygon HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Length: %d\r\n\r\n", analystTok, len(huge)*4)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	conn.Close()
	if resp.StatusCode != 413 || !bytes.Contains(b, []byte(`"code":"too_large"`)) {
		t.Errorf("a body past the limit: %d %s", resp.StatusCode, b)
	}
	// the server still answers, and nothing changed
	if code, _ := s.do(t, "", "GET", "/healthz", nil); code != 200 {
		t.Fatal("server stopped answering")
	}
	if after := fingerprintAll(t, s.eng); after != before {
		t.Fatal("hostile requests changed the data")
	}
	entries, _, _ := s.st.Audit(store.AuditQuery{})
	if len(entries) != 0 {
		t.Fatalf("rejected requests reached the audit trail: %+v", entries)
	}
}

// TestViewersSeeAggregates: counts from 1 to k-1 are null with
// "suppressed": true for viewers, exact for analysts.
// TestViewerAttacks replays, as a viewer, the ways a hostile test got counts
// below k out of the server, on a building where one dwelling is isolated:
// the complement (where=!isolated), the same count without where minus it,
// tiny cells, free polygons and their differences, the building's own
// states, and a parent minus its shown children. None may give back a
// count from 1 to k-1; the analyst sees it all.
func TestViewerAttacks(t *testing.T) {
	s := startSecured(t)
	// a building of the editor's grid: make exactly one of its dwellings
	// isolated
	var bid string
	var members []string
	for _, id := range s.inScope {
		d, _ := s.eng.Dwelling(id)
		if bid == "" {
			bid = d.Building
		}
		if d.Building == bid {
			members = append(members, id)
		}
	}
	if len(members) < 8 {
		t.Skipf("building %s has %d dwellings", bid, len(members))
	}
	var batch []string
	for i, id := range members {
		verb := "clear"
		if i == 0 {
			verb = "set"
		}
		batch = append(batch, fmt.Sprintf(`{"id":%q,%q:["isolated"]}`, id, verb))
	}
	if code, b := s.do(t, adminTok, "POST", "/api/v1/updates", []byte(strings.Join(batch, "\n"))); code != 200 {
		t.Fatalf("%d %s", code, b)
	}
	d0, _ := s.eng.Dwelling(members[0])
	small := func(v any) bool { f, ok := v.(float64); return ok && f > 0 && f < 3 }
	// every number of an answer: none from 1 to 2 anywhere
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, y := range x {
				if k == "version" || k == "took_us" || k == "bbox" || k == "lon" || k == "lat" || k == "feature_id" || k == "oldest" {
					continue
				}
				walk(path+"."+k, y)
			}
		case []any:
			for i, y := range x {
				walk(fmt.Sprintf("%s[%d]", path, i), y)
			}
		default:
			if small(v) {
				t.Errorf("a viewer sees %v at %s", v, path)
			}
		}
	}
	get := func(tok, path string, body string) map[string]any {
		method := "GET"
		if body != "" {
			method = "POST"
		}
		code, b := s.do(t, tok, method, path, []byte(body))
		if code != 200 {
			t.Fatalf("%s: %d %s", path, code, b)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		return m
	}
	viewer := []struct{ path, body string }{
		{"/api/v1/units/grid?where=!isolated", ""},
		{"/api/v1/units/grid?where=isolated", ""},
		{"/api/v1/units/grid", ""},
		{"/api/v1/units/grid/" + s.grid + "?where=!isolated", ""},
		{"/api/v1/units/grid/" + s.grid + "?where=isolated", ""},
		{"/api/v1/units/grid/" + s.grid, ""},
		{"/api/v1/units/community/" + d0.Community + "?where=isolated", ""},
		{"/api/v1/units/street?where=isolated%20%7C%20rental", ""},
		{"/api/v1/units/district?where=!vaccinated", ""},
		{"/api/v1/units/building/" + bid + "?where=isolated", ""},
		{"/api/v1/units/building/" + bid + "?where=!isolated", ""},
		{"/api/v1/units/building/" + bid, ""},
		{"/api/v1/query/grid", `{"level":"building","where":"!isolated"}`},
		{"/api/v1/query/grid", `{"level":"grid","where":"isolated"}`},
		{"/api/v1/query/grid", `{"cell_m":250,"where":"isolated"}`},
		{"/api/v1/query/grid", `{"cell_m":250}`},
		{"/api/v1/buildings/states", fmt.Sprintf(`{"ids":[%q],"where":"!isolated"}`, bid)},
		{"/api/v1/buildings/states", fmt.Sprintf(`{"ids":[%q]}`, bid)},
		{"/api/v1/legend?where=isolated", ""},
		{"/api/v1/legend", ""},
	}
	for _, q := range viewer {
		walk(q.path+" "+q.body, get(viewerTok, q.path, q.body))
	}
	// the building's own numbers: its isolated count is withheld, and so is
	// its complement under where=!isolated
	st := get(viewerTok, "/api/v1/buildings/states", fmt.Sprintf(`{"ids":[%q],"where":"!isolated"}`, bid))
	b0 := st["buildings"].([]any)[0].(map[string]any)
	if b0["matched"] != nil || b0["color"] == "#d7191c" {
		t.Fatalf("building under where=!isolated: %v", b0)
	}
	// and as a unit, the same: withheld, with no dwelling in it
	for _, where := range []string{"isolated", "!isolated"} {
		u := get(viewerTok, "/api/v1/units/building/"+bid+"?where="+where, "")
		if u["level"] != "building" || u["id"] != bid || u["matched"] != nil || u["suppressed"] != true ||
			u["children"] == nil || len(u["children"].([]any)) != 0 {
			t.Fatalf("the building as a unit, where=%s: %v", where, u)
		}
	}
	// the parent (the grid) minus its shown children (its buildings) must
	// not give back the withheld: a second building is withheld with it
	g := get(viewerTok, "/api/v1/units/grid/"+s.grid+"?where=isolated", "")
	if g["matched"] != nil {
		var shown, withheld float64
		for _, ch := range g["children"].([]any) {
			m := ch.(map[string]any)
			if m["matched"] == nil {
				withheld++
			} else {
				shown += m["matched"].(float64)
			}
		}
		if d := g["matched"].(float64) - shown; d > 0 && d < 3 || withheld == 1 {
			t.Fatalf("grid matched %v minus its shown buildings %v gives %v (%v withheld)", g["matched"], shown, d, withheld)
		}
	}
	// free polygons, tiny cells: refused
	for _, q := range []struct{ path, body string }{
		{"/api/v1/query/polygon", `{"geometry":` + square(d0.Lon, d0.Lat, 0.0001) + `,"where":"isolated"}`},
		{"/api/v1/query/grid", `{"cell_m":10,"where":"isolated"}`},
	} {
		if code, b := s.do(t, viewerTok, "POST", q.path, []byte(q.body)); code != 403 {
			t.Fatalf("%s: %d %s", q.path, code, b)
		}
	}
	// the analyst sees the one
	a := get(analystTok, "/api/v1/buildings/states", fmt.Sprintf(`{"ids":[%q],"where":"isolated"}`, bid))
	if a["buildings"].([]any)[0].(map[string]any)["matched"] != float64(1) {
		t.Fatalf("analyst: %v", a)
	}
}

// TestAuditRecordsAcceptedChanges: every accepted change is in the trail,
// with the token's name, role and remote address (never the token), and
// nothing rejected is.
func TestAuditRecordsAcceptedChanges(t *testing.T) {
	s := startSecured(t)
	in := s.inScope
	ok := []struct {
		tok, method, path, body string
	}{
		{editorTok, "PATCH", "/api/v1/dwellings/" + in[0], `{"set":["isolated"]}`},
		{editorTok, "POST", "/api/v1/updates", fmt.Sprintf(`{"id":%q,"set":["rental"]}`+"\n"+`{"id":%q,"clear":["rental"]}`, in[1], in[2])},
		{adminTok, "PUT", "/api/v1/dwellings/NEW-A", `{"lon":121.47,"lat":31.23,"grid":"G9","building":"NB","flags":["rental"]}`},
		{adminTok, "DELETE", "/api/v1/dwellings/NEW-A", ``},
		{adminTok, "PATCH", "/api/v1/dwellings/" + s.outScope[0], `{"clear":["vaccinated"]}`},
	}
	for _, c := range ok {
		if code, b := s.do(t, c.tok, c.method, c.path, []byte(c.body)); code != 200 && code != 201 {
			t.Fatalf("%s %s: %d %s", c.method, c.path, code, b)
		}
	}
	// rejected: out of scope, bad flag, unknown dwelling, wrong role
	s.do(t, editorTok, "PATCH", "/api/v1/dwellings/"+s.outScope[1], []byte(`{"set":["isolated"]}`))
	s.do(t, adminTok, "PATCH", "/api/v1/dwellings/"+in[3], []byte(`{"set":["bogus"]}`))
	s.do(t, adminTok, "PATCH", "/api/v1/dwellings/nope", []byte(`{"set":["isolated"]}`))
	s.do(t, analystTok, "PATCH", "/api/v1/dwellings/"+in[4], []byte(`{"set":["isolated"]}`))
	code, body := s.do(t, adminTok, "GET", "/api/v1/audit?limit=4", nil)
	var page struct {
		Entries []store.AuditEntry
		Next    *uint64
	}
	if code != 200 || json.Unmarshal(body, &page) != nil || len(page.Entries) != 4 || page.Next == nil {
		t.Fatalf("audit page 1: %d %s", code, body)
	}
	code, body = s.do(t, adminTok, "GET", fmt.Sprintf("/api/v1/audit?after=%d", *page.Next), nil)
	var page2 struct {
		Entries []store.AuditEntry
		Next    *uint64
	}
	json.Unmarshal(body, &page2)
	all := append(page.Entries, page2.Entries...)
	if len(all) != 6 || page2.Next != nil {
		t.Fatalf("audit holds %d entries, want 6: %s", len(all), body)
	}
	wantOps := []string{"flags", "flags", "flags", "put", "delete", "flags"}
	for i, e := range all {
		if e.Op != wantOps[i] || e.Remote == "" || e.Time.IsZero() || e.Name == "" || e.Role == "" {
			t.Fatalf("entry %d: %+v", i, e)
		}
	}
	if all[0].Name != "grid worker" || all[0].Role != "editor" || all[0].ID != in[0] || all[0].Grid != s.grid || all[0].Set[0] != "isolated" {
		t.Fatalf("entry 0: %+v", all[0])
	}
	if bytes.Contains(body, []byte(editorTok)) || bytes.Contains(body, []byte(adminTok)) {
		t.Fatal("the audit shows a token")
	}
	// filters: by dwelling and by grid
	_, body = s.do(t, adminTok, "GET", "/api/v1/audit?dwelling="+in[0], nil)
	if !bytes.Contains(body, []byte(in[0])) || bytes.Count(body, []byte(`"version"`)) != 1 {
		t.Fatalf("by dwelling: %s", body)
	}
	_, body = s.do(t, adminTok, "GET", "/api/v1/audit?grid=G9", nil)
	if bytes.Count(body, []byte(`"version"`)) != 2 {
		t.Fatalf("by grid: %s", body)
	}
}

// FuzzHandler builds requests from fuzzed bytes and hands them to the
// handler directly: it must never fail with an internal error (500),
// whatever it gets.
func FuzzHandler(f *testing.F) {
	c := city.New(city.Config{N: 5_000, Seed: 3})
	b, _ := c.Batch()
	st, _ := store.Open(store.Options{})
	st.Load([]*engine.Batch{b}, nil)
	srv := server.New(st, server.Options{})
	for _, seed := range []struct{ m, p, b string }{
		{"POST", "/api/v1/query/polygon", `{"geometry":{"type":"Polygon","coordinates":[[[121,31],[122,31],[122,32],[121,31]]]},"where":"isolated","group_by":"grid","ids":true}`},
		{"POST", "/api/v1/query/grid", `{"cell_m":500,"where":"rental"}`},
		{"POST", "/api/v1/updates", `{"id":"RS-00000001","set":["isolated"]}`},
		{"PATCH", "/api/v1/dwellings/RS-00000002", `{"clear":["isolated"]}`},
		{"PUT", "/api/v1/dwellings/X", `{"lon":121,"lat":31,"flags":["rental"]}`},
		{"GET", "/tiles/14/13720/6694.mvt?where=isolated", ``},
		{"GET", "/api/v1/units/grid/G00001?where=rental", ``},
		{"PUT", "/api/v1/schemes/s", `{"rules":[],"default":{"state":"n","label":"n","color":"#000","shape":"circle"}}`},
		{"POST", "/api/v1/buildings/states", `{"ids":["B000001"],"view":"responsibility","campaign":"c"}`},
		{"PUT", "/api/v1/assignments", `[{"level":"grid","id":"G00001","person":"张三","team":"一组","phone":"1"}]`},
		{"POST", "/api/v1/visits", `{"building":"B000001","note":"门锁坏"}`},
		{"PUT", "/api/v1/campaigns/c", `{"label":"疫苗","target":"elderly_alone & !vaccinated","goal":"vaccinated","deadline":"2026-12-31"}`},
		{"GET", "/api/v1/campaigns/c?level=grid&format=xlsx", ``},
		{"GET", "/api/v1/responsibility?level=grid&stale=7d&where=isolated", ``},
		{"GET", "/api/v1/history?level=street&id=S1&from=2026-11-01&step=1d", ``},
		{"GET", "/api/v1/units/street?as_of=2026-11-26&since=1", ``},
	} {
		f.Add(seed.m, seed.p, []byte(seed.b))
	}
	f.Fuzz(func(t *testing.T, method, path string, body []byte) {
		if strings.Contains(path, "changes") {
			return // a stream; its answer never ends
		}
		var ctx fasthttp.RequestCtx
		ctx.Request.Header.SetMethod(method)
		ctx.Request.SetRequestURI(path)
		ctx.Request.SetBody(body)
		srv.Handle(&ctx)
		if code := ctx.Response.StatusCode(); code == fasthttp.StatusInternalServerError {
			t.Fatalf("%s %q %q: %d %s", method, path, body, code, ctx.Response.Body())
		}
	})
}

// TestPutCannotEscapeTheScope replays the escapes a hostile test found: an
// editor of one grid PUTs a dwelling claiming its own grid into a building
// of another grid (which would rewrite that building's grid), or moves one
// of its dwellings into such a building. Both are refused, and the
// building's hierarchy is unchanged; a PUT that repeats the building's
// hierarchy inside the scope is accepted.
func TestPutCannotEscapeTheScope(t *testing.T) {
	s := startSecured(t)
	out, _ := s.eng.Dwelling(s.outScope[0])
	in, _ := s.eng.Dwelling(s.inScope[0])
	before, _ := s.eng.BuildingRoomState(out.Building, "default", engine.AsOf{})
	claim := func(id string) []byte {
		return []byte(fmt.Sprintf(`{"lon":%v,"lat":%v,"grid":%q,"building":%q,"floor":99}`, out.Lon, out.Lat, s.grid, out.Building))
	}
	for _, c := range []struct{ name, id string }{{"a new dwelling", "ESCAPE-NEW"}, {"an in-scope dwelling moved", in.ID}} {
		code, b := s.do(t, editorTok, "PUT", "/api/v1/dwellings/"+c.id, claim(c.id))
		if code != 403 || !strings.Contains(string(b), out.Grid) {
			t.Fatalf("%s into %s: %d %s", c.name, out.Building, code, b)
		}
	}
	after, _ := s.eng.BuildingRoomState(out.Building, "default", engine.AsOf{})
	if after.Buildings[0].Building != before.Buildings[0].Building || len(after.Buildings[0].Floors) != len(before.Buildings[0].Floors) {
		t.Fatalf("the building changed: %+v", after.Buildings[0].Building)
	}
	// inside the scope, repeating the building's hierarchy: accepted
	ok := fmt.Sprintf(`{"lon":%v,"lat":%v,"district":%q,"street":%q,"community":%q,"grid":%q,"building":%q,"floor":3,"room":"301"}`,
		in.Lon, in.Lat, in.District, in.Street, in.Community, in.Grid, in.Building)
	if code, b := s.do(t, editorTok, "PUT", "/api/v1/dwellings/IN-NEW", []byte(ok)); code != 201 {
		t.Fatalf("a PUT inside the scope: %d %s", code, b)
	}
}

// TestSchemeLimits: at most 256 schemes; a rule's texts are bounded; the
// list of schemes stays small.
func TestSchemeLimits(t *testing.T) {
	s := startSecured(t)
	sc := func(label string) []byte {
		return []byte(`{"rules":[{"state":"x","when":"isolated","label":"` + label + `","color":"#abcdef","shape":"circle"}],"default":{"state":"n","label":"n","color":"#000000","shape":"circle"}}`)
	}
	if code, b := s.do(t, adminTok, "PUT", "/api/v1/schemes/long", sc(strings.Repeat("长", 200))); code != 400 {
		t.Fatalf("a 600-byte label: %d %s", code, b)
	}
	for i := 1; i < 256; i++ { // the default is the first
		if code, b := s.do(t, adminTok, "PUT", fmt.Sprintf("/api/v1/schemes/s%d", i), sc("x")); code != 200 {
			t.Fatalf("scheme %d: %d %s", i, code, b)
		}
	}
	code, b := s.do(t, adminTok, "PUT", "/api/v1/schemes/one-too-many", sc("x"))
	if code != 413 || !strings.Contains(string(b), "256") {
		t.Fatalf("the 257th scheme: %d %s", code, b)
	}
	if code, _ := s.do(t, adminTok, "PUT", "/api/v1/schemes/s7", sc("y")); code != 200 {
		t.Fatal("replacing a scheme at the limit")
	}
	if _, all := s.do(t, viewerTok, "GET", "/api/v1/schemes", nil); len(all) > 256*(64*1024) {
		t.Fatalf("the schemes' list is %d bytes", len(all))
	}
}

// TestBuildingAsAUnit: GET /api/v1/units/building/{id} answers like any
// unit, {"level", "id", "name", "total", "matched", "flags", "children": []},
// with the numbers of the building listing, for viewers as the listing shows
// them to viewers (small counts withheld alike); 404 for an unknown building.
func TestBuildingAsAUnit(t *testing.T) {
	s := startSecured(t)
	d0, _ := s.eng.Dwelling(s.inScope[0])
	bid := d0.Building
	get := func(tok, path string) (int, map[string]any) {
		code, b := s.do(t, tok, "GET", path, nil)
		var m map[string]any
		if code == 200 {
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatalf("%s: %v %s", path, err, b)
			}
		}
		return code, m
	}
	for _, tok := range []string{viewerTok, analystTok} {
		for _, where := range []string{"", "?where=isolated", "?where=elderly_alone"} {
			code, list := get(tok, "/api/v1/units/building"+where)
			if code != 200 {
				t.Fatalf("listing: %d", code)
			}
			var listed map[string]any
			for _, u := range list["units"].([]any) {
				if m := u.(map[string]any); m["id"] == bid {
					listed = m
				}
			}
			if listed == nil {
				t.Fatalf("building %s not listed", bid)
			}
			code, u := get(tok, "/api/v1/units/building/"+bid+where)
			if code != 200 {
				t.Fatalf("%s%s: %d", bid, where, code)
			}
			for _, k := range []string{"level", "id", "name", "total", "matched", "flags"} {
				if !reflect.DeepEqual(u[k], listed[k]) {
					t.Errorf("%s%s (%s): %s is %v, the listing says %v", bid, where, tok, k, u[k], listed[k])
				}
			}
			if ch, ok := u["children"].([]any); !ok || len(ch) != 0 || u["version"] == nil {
				t.Errorf("%s%s: children %v, version %v", bid, where, u["children"], u["version"])
			}
		}
	}
	// exported: the building's one row, as the JSON has it
	_, u := get(analystTok, "/api/v1/units/building/"+bid+"?where=isolated")
	for _, f := range []string{"csv", "xlsx"} {
		code, b, _ := s.doFile(t, analystTok, "GET", "/api/v1/units/building/"+bid+"?where=isolated&lang=en&format="+f, "")
		if code != 200 {
			t.Fatalf("%s: %d %s", f, code, b)
		}
		if f == "csv" {
			recs, err := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(b, []byte("\ufeff")))).ReadAll()
			if err != nil || len(recs) != 2 || recs[1][0] != bid || recs[1][2] != fmt.Sprint(u["total"]) || recs[1][3] != fmt.Sprint(u["matched"]) {
				t.Fatalf("csv: %v %q, want the building's row (%v)", err, recs, u)
			}
		}
	}
	if code, _ := get(analystTok, "/api/v1/units/building/no-such-building"); code != 404 {
		t.Fatalf("an unknown building: %d, want 404", code)
	}
	if code, _ := get(viewerTok, "/api/v1/units/building/no-such-building"); code != 404 {
		t.Fatalf("an unknown building for a viewer: %d, want 404", code)
	}
	// since: a delta like any unit's
	if code, b := s.do(t, adminTok, "PATCH", "/api/v1/dwellings/"+d0.ID, []byte(`{"set":["rental"],"clear":["isolated"]}`)); code != 200 {
		t.Fatalf("%d %s", code, b)
	}
	v := s.eng.Version()
	code, u := get(analystTok, fmt.Sprintf("/api/v1/units/building/%s?since=%d", bid, v-1))
	if code != 200 || u["delta"] == nil || u["delta"].(map[string]any)["total"] != float64(0) {
		t.Fatalf("since: %d %v", code, u)
	}
}
