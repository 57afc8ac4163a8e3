package server_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/roomstate/roomstate/answer"
	"github.com/roomstate/roomstate/engine"
	"github.com/roomstate/roomstate/server"
	"github.com/roomstate/roomstate/store"
)

// TestScopeLevels: an editor's scope may list any level of the hierarchy
// ({"district": […]}, {"street": […]}, {"community": […]}, {"grid": […]},
// {"building": […]}): the server starts with such tokens, and each editor
// writes (PATCH, PUT, DELETE, NDJSON batches, visits) inside its units only.
func TestScopeLevels(t *testing.T) {
	b := engine.NewBatch("scope.csv", []string{"isolated"})
	recs := map[string]engine.Record{
		"in":  {ID: "IN", District: "浦东新区", Street: "陆家嘴街道", Community: "梅园社区", Grid: "G0131", Building: "B1", Floor: 1, Room: "101"},
		"out": {ID: "OUT", District: "黄浦区", Street: "外滩街道", Community: "金陵社区", Grid: "G0900", Building: "B9", Floor: 1, Room: "101"},
	}
	for _, r := range recs {
		r.Lon, r.Lat = 121.5, 31.2
		prefix := r.ID
		for i := range 3 {
			r.ID = fmt.Sprintf("%s-%d", prefix, i)
			if err := b.Add(&r); err != nil {
				t.Fatal(err)
			}
		}
	}
	st, err := store.Open(store.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Load([]*engine.Batch{b}, nil); err != nil {
		t.Fatal(err)
	}
	levels := []string{"district", "street", "community", "grid", "building"}
	unit := func(r engine.Record, level string) string {
		return map[string]string{"district": r.District, "street": r.Street, "community": r.Community, "grid": r.Grid, "building": r.Building}[level]
	}
	var entries []string
	for _, l := range levels {
		entries = append(entries, fmt.Sprintf(`{"name": "%s editor", "token": "%s-tok", "role": "editor", "scope": {%q: [%q]}}`, l, l, l, unit(recs["in"], l)))
	}
	ts, err := server.ParseTokens([]byte("[" + strings.Join(entries, ",") + "]"))
	if err != nil {
		t.Fatal(err)
	}
	url, stop := listen(t, st, server.Options{Access: server.NewAccess(ts, 3), Answers: answer.Options{MaxBatchLines: 1000}})
	t.Cleanup(stop)
	s := &secured{eng: st.Engine(), st: st, url: url}
	record := func(r engine.Record, floor int) []byte {
		return []byte(fmt.Sprintf(`{"lon":121.5,"lat":31.2,"district":%q,"street":%q,"community":%q,"grid":%q,"building":%q,"floor":%d,"room":"%d01"}`,
			r.District, r.Street, r.Community, r.Grid, r.Building, floor, floor))
	}
	in, out := recs["in"], recs["out"]
	for _, l := range levels {
		tok := l + "-tok"
		for _, c := range []struct {
			what, method, path string
			body               []byte
			code               int
		}{
			{"flags inside", "PATCH", "/api/v1/dwellings/IN-0", []byte(`{"set":["isolated"]}`), 200},
			{"flags outside", "PATCH", "/api/v1/dwellings/OUT-0", []byte(`{"set":["isolated"]}`), 403},
			{"a batch inside", "POST", "/api/v1/updates", []byte(`{"id":"IN-1","set":["isolated"]}` + "\n" + `{"id":"IN-2","set":["isolated"]}`), 200},
			{"a batch with a line outside", "POST", "/api/v1/updates", []byte(`{"id":"IN-1","clear":["isolated"]}` + "\n" + `{"id":"OUT-1","set":["isolated"]}`), 403},
			{"a new dwelling inside", "PUT", "/api/v1/dwellings/NEW-" + l, record(in, 2), 201},
			{"a new dwelling outside", "PUT", "/api/v1/dwellings/NEW-OUT", record(out, 2), 403},
			{"moved out", "PUT", "/api/v1/dwellings/NEW-" + l, record(out, 3), 403},
			{"moved in", "PUT", "/api/v1/dwellings/OUT-2", record(in, 3), 403},
			{"deleted inside", "DELETE", "/api/v1/dwellings/NEW-" + l, nil, 200},
			{"deleted outside", "DELETE", "/api/v1/dwellings/OUT-2", nil, 403},
			{"a visit inside", "POST", "/api/v1/visits", []byte(`{"building":"B1"}`), 200},
			{"a visit outside", "POST", "/api/v1/visits", []byte(`{"building":"B9"}`), 403},
		} {
			hdr := []string{}
			if c.path == "/api/v1/updates" {
				hdr = []string{"Content-Type", "application/x-ndjson"}
			}
			if code, body := s.do(t, tok, c.method, c.path, c.body, hdr...); code != c.code {
				t.Errorf("%s editor, %s: %d %s, want %d", l, c.what, code, body, c.code)
			}
		}
	}
	for _, id := range []string{"OUT-0", "OUT-1", "OUT-2"} {
		if d, err := s.eng.Dwelling(id); err != nil || len(d.Flags) != 0 || d.Building != "B9" {
			t.Fatalf("a refused write changed %s: %+v", id, d)
		}
	}
}
