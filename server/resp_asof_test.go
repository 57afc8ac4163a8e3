package server_test

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/encoding/mvt"
	"github.com/paulmach/orb/maptile"
	"github.com/roomstate/roomstate/store"
)

// TestResponsibilityAsOf: a room-state map and a tile as of a version show
// who answered for the building and its last visit then, not now: an
// assignment and visits made after it do not show, whenever the tile is
// first drawn, and a later visit leaves a past tile's ETag as it was.
func TestResponsibilityAsOf(t *testing.T) {
	e, _, url, ids := writable(t, store.Options{})
	code, body, _ := do(t, "GET", url+"/api/v1/dwellings/"+ids[0], "")
	var dw struct{ Building, Grid string }
	if code != 200 || json.Unmarshal(body, &dw) != nil {
		t.Fatalf("%d %s", code, body)
	}
	type building struct {
		Lon, Lat    float64
		Responsible *struct{ Person, Level, ID string }
		LastVisit   *struct{ Time, By, Note string } `json:"last_visit"`
	}
	roomstate := func(asOf uint64) building {
		t.Helper()
		code, body, _ := do(t, "GET", fmt.Sprintf("%s/api/v1/buildings/%s/roomstate?as_of=%d", url, dw.Building, asOf), "")
		var rs struct {
			Building building
			Version  uint64
		}
		if code != 200 || json.Unmarshal(body, &rs) != nil || rs.Version != asOf {
			t.Fatalf("roomstate as of %d: %d %s", asOf, code, body)
		}
		return rs.Building
	}
	v0 := uint64(e.Version())
	b0 := roomstate(v0)
	tl := maptile.At(orb.Point{b0.Lon, b0.Lat}, 16)
	// tile returns the building's properties in the responsibility view as
	// of a version, and the tile's ETag
	tile := func(asOf uint64) (map[string]any, string) {
		t.Helper()
		code, body, hdr := do(t, "GET", fmt.Sprintf("%s/tiles/16/%d/%d.mvt?as_of=%d&view=responsibility", url, tl.X, tl.Y, asOf), "", "Accept-Encoding", "identity")
		ls, err := mvt.Unmarshal(body)
		if code != 200 || err != nil {
			t.Fatalf("tile as of %d: %d %v", asOf, code, err)
		}
		for _, l := range ls {
			for _, f := range l.Features {
				if l.Name == "buildings" && f.Properties["id"] == dw.Building {
					return f.Properties, hdr.Get("ETag")
				}
			}
		}
		t.Fatalf("tile as of %d: no building %s", asOf, dw.Building)
		return nil, ""
	}
	p0, etag0 := tile(v0) // drawn before the changes
	if b0.Responsible != nil || b0.LastVisit != nil || fmt.Sprint(p0["assigned"]) != "0" || p0["person"] != nil || p0["last_visit"] != nil {
		t.Fatalf("before any assignment: %+v, tile %v", b0, p0)
	}
	write := func(method, path, body string) uint64 {
		t.Helper()
		code, b, _ := do(t, method, url+path, body)
		var r struct{ Version uint64 }
		if code != 200 || json.Unmarshal(b, &r) != nil {
			t.Fatalf("%s %s: %d %s", method, path, code, b)
		}
		return r.Version
	}
	v1 := write("PUT", "/api/v1/assignments", fmt.Sprintf(`[{"level":"grid","id":%q,"person":"张三"}]`, dw.Grid))
	v2 := write("POST", "/api/v1/visits", fmt.Sprintf(`{"building":%q,"note":"一"}`, dw.Building))
	if v1 != v0+1 || v2 != v1+1 {
		t.Fatalf("versions %d, %d after %d", v1, v2, v0)
	}
	// as of before the assignment: nobody, never visited; the tile drawn
	// before is served as it was
	if b := roomstate(v0); b.Responsible != nil || b.LastVisit != nil {
		t.Fatalf("as of %d (before the assignment): %+v %+v", v0, b.Responsible, b.LastVisit)
	}
	if p, etag := tile(v0); fmt.Sprint(p["assigned"]) != "0" || p["person"] != nil || p["last_visit"] != nil || p["state"] != "unassigned" || etag != etag0 {
		t.Fatalf("tile as of %d: %v (ETag %s, before %s)", v0, p, etag, etag0)
	}
	// as of the assignment, first drawn after the visit: assigned, not visited
	if b := roomstate(v1); b.Responsible == nil || b.Responsible.Person != "张三" || b.Responsible.Level != "grid" || b.LastVisit != nil {
		t.Fatalf("as of %d (the assignment): %+v %+v", v1, b.Responsible, b.LastVisit)
	}
	p1, etag1 := tile(v1)
	if fmt.Sprint(p1["assigned"]) != "1" || p1["person"] != "张三" || p1["last_visit"] != nil {
		t.Fatalf("tile as of %d: %v", v1, p1)
	}
	// as of the visit: visited
	b2 := roomstate(v2)
	p2, etag2 := tile(v2)
	if b2.LastVisit == nil || b2.LastVisit.Note != "一" || p2["last_visit"] == nil || p2["person"] != "张三" {
		t.Fatalf("as of %d (the visit): %+v, tile %v", v2, b2.LastVisit, p2)
	}
	// a later visit and a removal change nothing as of before them
	write("POST", "/api/v1/visits", fmt.Sprintf(`{"building":%q,"note":"二"}`, dw.Building))
	write("PUT", "/api/v1/assignments", fmt.Sprintf(`[{"level":"grid","id":%q,"person":null}]`, dw.Grid))
	if b := roomstate(v2); b.LastVisit == nil || b.LastVisit.Note != "一" || b.LastVisit.Time != b2.LastVisit.Time || b.Responsible == nil {
		t.Fatalf("as of %d after a later visit: %+v %+v", v2, b.Responsible, b.LastVisit)
	}
	for _, c := range []struct {
		v    uint64
		p    map[string]any
		etag string
	}{{v1, p1, etag1}, {v2, p2, etag2}} {
		if p, etag := tile(c.v); etag != c.etag || fmt.Sprint(p) != fmt.Sprint(c.p) {
			t.Fatalf("tile as of %d after later changes: %v (ETag %s), before %v (ETag %s)", c.v, p, etag, c.p, c.etag)
		}
	}
}
