package server_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/encoding/mvt"
	"github.com/paulmach/orb/maptile"
	"github.com/roomstate/roomstate/scheme"
	"github.com/roomstate/roomstate/store"
)

// TestSchemeAsOf: answers as of a version colour by the schemes as they
// were then: a room-state map (JSON and SVG), a unit's, the legend and a
// tile as of a version before a scheme's redefinition show the old
// definition, and the tile keeps its ETag whether first drawn before or
// after the put; as of a version before a scheme was made, every one of
// them, and tiles.json, answers 404 not_found as for an unknown scheme.
func TestSchemeAsOf(t *testing.T) {
	e, _, url, ids := writable(t, store.Options{})
	code, body, _ := do(t, "GET", url+"/api/v1/dwellings/"+ids[0], "")
	var dw struct {
		Building, Grid string
		Lon, Lat       float64
	}
	if code != 200 || json.Unmarshal(body, &dw) != nil {
		t.Fatalf("%d %s", code, body)
	}
	tl := maptile.At(orb.Point{dw.Lon, dw.Lat}, 16)
	get := func(path string) (int, []byte, string) {
		t.Helper()
		code, body, hdr := do(t, "GET", url+path, "", "Accept-Encoding", "identity")
		return code, body, hdr.Get("ETag")
	}
	// colours returns the states and colours of a building's rooms and of
	// the legend, as of a version under a scheme
	colours := func(asOf uint64, name string) string {
		t.Helper()
		code, body, _ := get(fmt.Sprintf("/api/v1/buildings/%s/roomstate?as_of=%d&scheme=%s", dw.Building, asOf, name))
		var rs struct {
			Floors []struct {
				Rooms []struct{ State, Color string }
			}
			Legend  []struct{ State, Color string }
			Version uint64
		}
		if code != 200 || json.Unmarshal(body, &rs) != nil || rs.Version != asOf {
			t.Fatalf("roomstate as of %d under %s: %d %s", asOf, name, code, body)
		}
		return fmt.Sprint(rs.Floors, rs.Legend)
	}
	legend := func(asOf uint64, name string) []string {
		t.Helper()
		code, body, _ := get(fmt.Sprintf("/api/v1/legend?as_of=%d&scheme=%s", asOf, name))
		var l struct {
			Legend  []struct{ State, Color string }
			Version uint64
		}
		if code != 200 || json.Unmarshal(body, &l) != nil || l.Version != asOf {
			t.Fatalf("legend as of %d under %s: %d %s", asOf, name, code, body)
		}
		var out []string
		for _, s := range l.Legend {
			out = append(out, s.State+" "+s.Color)
		}
		return out
	}
	tile := func(asOf uint64, name string) (map[string]any, string) {
		t.Helper()
		code, body, etag := get(fmt.Sprintf("/tiles/16/%d/%d.mvt?as_of=%d&scheme=%s", tl.X, tl.Y, asOf, name))
		ls, err := mvt.Unmarshal(body)
		if code != 200 || err != nil {
			t.Fatalf("tile as of %d under %s: %d %v", asOf, name, code, err)
		}
		for _, l := range ls {
			for _, f := range l.Features {
				if l.Name == "buildings" && f.Properties["id"] == dw.Building {
					return f.Properties, etag
				}
			}
		}
		t.Fatalf("tile as of %d: no building %s", asOf, dw.Building)
		return nil, ""
	}
	put := func(name string, sc scheme.Scheme) uint64 {
		t.Helper()
		b, _ := json.Marshal(sc)
		code, body, _ := do(t, "PUT", url+"/api/v1/schemes/"+name, string(b))
		var r struct{ Version uint64 }
		if code != 200 || json.Unmarshal(body, &r) != nil {
			t.Fatalf("PUT scheme %s: %d %s", name, code, body)
		}
		return r.Version
	}
	var builtin []string
	for _, r := range append(scheme.Default().Rules, scheme.Default().Default) {
		builtin = append(builtin, r.State+" "+r.Color)
	}
	v0 := uint64(e.Version())
	map0 := colours(v0, "default")
	p0, etag0 := tile(v0, "default") // drawn before the puts
	// default becomes one grey state; "new" is made
	grey := scheme.Scheme{Default: scheme.Rule{State: "all", Label: "全部", Color: "#777777", Shape: "circle"}}
	v1 := put("default", grey)
	fresh := scheme.Default()
	fresh.Rules = fresh.Rules[1:]
	fresh.Default.Color = "#000000"
	v2 := put("new", fresh)
	if v1 != v0+1 || v2 != v1+1 {
		t.Fatalf("versions %d, %d after %d", v1, v2, v0)
	}
	// as of before the redefinition: the built-in default's colours
	if got := colours(v0, "default"); got != map0 {
		t.Fatalf("roomstate as of %d after the put: %s, before %s", v0, got, map0)
	}
	if got := legend(v0, "default"); fmt.Sprint(got) != fmt.Sprint(builtin) {
		t.Fatalf("legend as of %d: %v, want %v", v0, got, builtin)
	}
	if p, etag := tile(v0, "default"); etag != etag0 || fmt.Sprint(p) != fmt.Sprint(p0) {
		t.Fatalf("tile as of %d after the put: %v (ETag %s), before %v (ETag %s)", v0, p, etag, p0, etag0)
	}
	if code, body, _ := get(fmt.Sprintf("/api/v1/buildings/%s/roomstate.svg?as_of=%d", dw.Building, v0)); code != 200 || !strings.Contains(string(body), "居家隔离") || strings.Contains(string(body), "#777777") {
		t.Fatalf("sheet as of %d: %d, the built-in default's legend: %v", v0, code, strings.Contains(string(body), "居家隔离"))
	}
	// a file as of before the redefinition heads the flags with the labels
	// of the default scheme then; as of after it (no rule names a flag),
	// with the flags' names
	header := func(asOf uint64) string {
		t.Helper()
		code, body, _ := get(fmt.Sprintf("/api/v1/units/grid?as_of=%d&format=csv", asOf))
		if code != 200 {
			t.Fatalf("units file as of %d: %d %s", asOf, code, body)
		}
		first, _, _ := strings.Cut(string(body), "\n")
		return first
	}
	if h := header(v0); !strings.Contains(h, "居家隔离") {
		t.Fatalf("units file as of %d: header %q, want the built-in default's 居家隔离", v0, h)
	}
	if h := header(v1); strings.Contains(h, "居家隔离") || !strings.Contains(h, "isolated") {
		t.Fatalf("units file as of %d: header %q, want the flag's name", v1, h)
	}
	// as of the redefinition, first drawn now: grey
	if got := legend(v1, "default"); fmt.Sprint(got) != "[all #777777]" {
		t.Fatalf("legend as of %d: %v", v1, got)
	}
	if p, _ := tile(v1, "default"); p["state"] != "all" || p["color"] != "#777777" {
		t.Fatalf("tile as of %d: %v", v1, p)
	}
	// "new" as of before it was made: not found, as an unknown scheme
	paths := []string{
		"/api/v1/buildings/" + dw.Building + "/roomstate?scheme=new&as_of=%d",
		"/api/v1/buildings/" + dw.Building + "/roomstate.svg?scheme=new&as_of=%d",
		"/api/v1/units/grid/" + dw.Grid + "/roomstate?scheme=new&as_of=%d",
		"/api/v1/units/grid/" + dw.Grid + "/roomstate.svg?scheme=new&as_of=%d",
		"/api/v1/legend?scheme=new&as_of=%d",
		fmt.Sprintf("/tiles/16/%d/%d.mvt?scheme=new&as_of=%%d", tl.X, tl.Y),
		"/tiles.json?scheme=new&as_of=%d",
	}
	for _, p := range paths {
		for _, v := range []uint64{v0, v1} {
			code, body, _ := get(fmt.Sprintf(p, v))
			var er struct{ Error struct{ Code string } }
			if code != 404 || json.Unmarshal(body, &er) != nil || er.Error.Code != "not_found" {
				t.Fatalf("%s as of %d, before scheme new was made: %d %s", p, v, code, body)
			}
		}
		if code, body, _ := get(fmt.Sprintf(p, v2)); code != 200 {
			t.Fatalf("%s as of %d, when scheme new was made: %d %s", p, v2, code, body)
		}
	}
	if got := legend(v2, "new"); got[len(got)-1] != "normal #000000" || len(got) != len(builtin)-1 {
		t.Fatalf("legend of new as of %d: %v", v2, got)
	}
}
