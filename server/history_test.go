package server_test

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/maptile"
	"github.com/roomstate/roomstate/store"
)

// TestHistoryGoneSaysWhen: a question before the retained history is 410
// history_gone with the oldest version and its time, the same the info
// answer gives with the server's time zone.
func TestHistoryGoneSaysWhen(t *testing.T) {
	f := start(t)
	code, out, _ := do(t, "GET", f.url+"/api/v1/units/street?as_of=2000-01-01", "")
	var gone struct {
		Error struct {
			Code       string
			Oldest     uint64
			OldestTime string `json:"oldest_time"`
		}
	}
	if err := json.Unmarshal(out, &gone); err != nil || code != 410 || gone.Error.Code != "history_gone" {
		t.Fatalf("as_of 2000-01-01: %d %s", code, out)
	}
	var info struct {
		TZ      string
		History struct {
			Oldest     uint64
			OldestTime string `json:"oldest_time"`
			Changes    int
		}
	}
	code, out, _ = do(t, "GET", f.url+"/api/v1/info", "")
	if err := json.Unmarshal(out, &info); err != nil || code != 200 {
		t.Fatalf("info: %d %s", code, out)
	}
	a, err1 := time.Parse(time.RFC3339Nano, gone.Error.OldestTime)
	b, err2 := time.Parse(time.RFC3339Nano, info.History.OldestTime)
	if err1 != nil || err2 != nil || !a.Equal(b) || a.IsZero() || gone.Error.Oldest != info.History.Oldest {
		t.Fatalf("410 says oldest %d at %q; info says %d at %q", gone.Error.Oldest, gone.Error.OldestTime, info.History.Oldest, info.History.OldestTime)
	}
	if info.TZ != "Asia/Shanghai" {
		t.Fatalf("info tz %q", info.TZ)
	}
	// the oldest state is there to ask for, escaped or with the offset's
	// "+" left as is (a space once decoded)
	for _, q := range []string{url.QueryEscape(info.History.OldestTime), info.History.OldestTime} {
		if code, out, _ := do(t, "GET", f.url+"/api/v1/units/street?as_of="+q, ""); code != 200 {
			t.Fatalf("as_of the oldest time %s: %d %s", q, code, out)
		}
	}
}

// TestTileJSONAsOf: TileJSON as of a past state names its version in the
// tile URLs and carries it, as every as_of answer does; before the
// retained history it is 410 history_gone like the tiles it would name.
func TestTileJSONAsOf(t *testing.T) {
	f := start(t)
	id, _ := f.firstDwelling()
	// a change, so that the state before it is in the past
	if code, out, _ := do(t, "PATCH", f.url+"/api/v1/dwellings/"+url.PathEscape(id), `{"set":["isolated"]}`); code != 200 {
		t.Fatalf("patch: %d %s", code, out)
	}
	var info struct {
		Version uint64
		History struct{ Oldest uint64 }
	}
	if code, out, _ := do(t, "GET", f.url+"/api/v1/info", ""); code != 200 || json.Unmarshal(out, &info) != nil {
		t.Fatalf("info: %d %s", code, out)
	}
	oldest := info.History.Oldest
	if oldest == 0 || oldest >= info.Version {
		t.Fatalf("want a history with a past: oldest %d, version %d", oldest, info.Version)
	}
	type tileJSON struct {
		Tiles   []string
		Version *uint64
	}
	get := func(q string) (int, tileJSON, []byte) {
		code, out, _ := do(t, "GET", f.url+"/tiles.json"+q, "")
		var tj tileJSON
		if code == 200 && json.Unmarshal(out, &tj) != nil {
			t.Fatalf("tiles.json%s: %s", q, out)
		}
		return code, tj, out
	}
	code, tj, out := get(fmt.Sprintf("?as_of=%d", oldest))
	if code != 200 || tj.Version == nil || *tj.Version != oldest || len(tj.Tiles) != 1 || !strings.Contains(tj.Tiles[0], fmt.Sprintf("as_of=%d", oldest)) {
		t.Fatalf("as_of the oldest version %d: %d %s", oldest, code, out)
	}
	code, _, out = get(fmt.Sprintf("?as_of=%d", oldest-1))
	var gone struct{ Error struct{ Code string } }
	if code != 410 || json.Unmarshal(out, &gone) != nil || gone.Error.Code != "history_gone" {
		t.Fatalf("as_of %d, before the retained history: %d %s", oldest-1, code, out)
	}
	if code, tj, out = get(""); code != 200 || tj.Version != nil {
		t.Fatalf("without as_of: %d %s", code, out)
	}
}

// TestLegendSaysWhen: a legend says when the state of its version began:
// as of the oldest version, the oldest state's time as info gives it; as of
// a change's version, a time after the oldest and no older than a minute; both
// in the server's time zone.
func TestLegendSaysWhen(t *testing.T) {
	f := start(t)
	id, _ := f.firstDwelling()
	time.Sleep(20 * time.Millisecond) // the change's time after the load's
	if code, out, _ := do(t, "PATCH", f.url+"/api/v1/dwellings/"+url.PathEscape(id), `{"set":["isolated"]}`); code != 200 {
		t.Fatalf("patch: %d %s", code, out)
	}
	var info struct {
		Version uint64
		History struct {
			Oldest     uint64
			OldestTime string `json:"oldest_time"`
		}
	}
	if code, out, _ := do(t, "GET", f.url+"/api/v1/info", ""); code != 200 || json.Unmarshal(out, &info) != nil {
		t.Fatalf("info: %d %s", code, out)
	}
	legendTime := func(asOf string) time.Time {
		t.Helper()
		code, out, _ := do(t, "GET", f.url+"/api/v1/legend?as_of="+asOf, "")
		var l struct{ Time string }
		if code != 200 || json.Unmarshal(out, &l) != nil {
			t.Fatalf("legend as of %s: %d %s", asOf, code, out)
		}
		at, err := time.Parse(time.RFC3339Nano, l.Time)
		if err != nil || !strings.HasSuffix(l.Time, "+08:00") {
			t.Fatalf("legend as of %s: time %q, want RFC 3339 in the server's zone (%v)", asOf, l.Time, err)
		}
		return at
	}
	oldest, _ := time.Parse(time.RFC3339Nano, info.History.OldestTime)
	if got := legendTime(fmt.Sprint(info.History.Oldest)); !got.Equal(oldest) {
		t.Errorf("legend as of the oldest version: time %v, info says %v", got, oldest)
	}
	changed := legendTime(fmt.Sprint(info.Version))
	if !changed.After(oldest) || time.Since(changed) > time.Minute {
		t.Errorf("legend as of the change: time %v (the oldest state: %v)", changed, oldest)
	}
	if got := legendTime(""); !got.Equal(changed) {
		t.Errorf("live legend: time %v, want the newest change's %v", got, changed)
	}
}

// TestTileJSONCampaignAsOf: a campaign's tiles are of now, so tiles.json
// refuses a campaign with an as_of of a past state (400 naming both) as
// each of its tiles would, rather than give tile URLs that all fail; with
// an as_of not in the past (now) its tiles are served.
func TestTileJSONCampaignAsOf(t *testing.T) {
	e, _, base, ids := writable(t, store.Options{})
	v0 := e.Version()
	if code, out, _ := do(t, "PATCH", base+"/api/v1/dwellings/"+url.PathEscape(ids[0]), `{"set":["isolated"]}`); code != 200 {
		t.Fatalf("patch: %d %s", code, out)
	}
	if code, out, _ := do(t, "PUT", base+"/api/v1/campaigns/vax", `{"target":"elderly_alone & !vaccinated","goal":"vaccinated"}`); code != 201 {
		t.Fatalf("campaign: %d %s", code, out)
	}
	b := e.Bounds()
	tl := maptile.At(orb.Point{(b.Min[0] + b.Max[0]) / 2, (b.Min[1] + b.Max[1]) / 2}, 14)
	tile := func(tmpl string) string {
		r := strings.NewReplacer("{z}", "14", "{x}", itoa(tl.X), "{y}", itoa(tl.Y))
		return r.Replace(tmpl)
	}
	for _, c := range []struct {
		q        string
		want     int
		wantCode string
	}{
		{fmt.Sprintf("campaign=vax&as_of=%d", v0), 400, "bad_request"},
		{"as_of=2000-01-01T00:00:00Z&campaign=vax", 410, "history_gone"}, // before the retained history: 410, as the tiles
	} {
		q, want, wantCode := c.q, c.want, c.wantCode
		code, out, _ := do(t, "GET", base+"/tiles.json?"+q, "")
		var e struct {
			Error struct{ Code, Message string }
		}
		json.Unmarshal(out, &e)
		if code != want || e.Error.Code != wantCode || want == 400 && (!strings.Contains(e.Error.Message, "campaign") || !strings.Contains(e.Error.Message, "as_of")) {
			t.Errorf("tiles.json?%s: %d %s, want %d %s naming campaign and as_of", q, code, out, want, wantCode)
		}
		if code, _, _ := do(t, "GET", base+tile("/tiles/{z}/{x}/{y}.mvt?")+q, ""); code != want {
			t.Errorf("the tile ?%s: %d, want %d as tiles.json", q, code, want)
		}
	}
	// as_of now (or later) is no past state: tiles.json and its tiles serve the campaign
	code, out, _ := do(t, "GET", base+fmt.Sprintf("/tiles.json?campaign=vax&as_of=%d", e.Version()+1000), "")
	var tj struct{ Tiles []string }
	if code != 200 || json.Unmarshal(out, &tj) != nil || len(tj.Tiles) != 1 || !strings.Contains(tj.Tiles[0], "campaign=vax") {
		t.Fatalf("tiles.json?campaign=vax&as_of=(the future): %d %s", code, out)
	}
	if code, out, _ := do(t, "GET", tile(tj.Tiles[0]), ""); code != 200 {
		t.Fatalf("its tile %s: %d %s", tile(tj.Tiles[0]), code, out)
	}
}

// TestPastParamsWhereNotTaken: as_of or since on an endpoint that does not
// read it is 400 naming it, not the current state passed off as the one
// asked for; where they are read they work, other unknown parameters are
// still ignored, and the responsibility's and persons' as_of are left to
// themselves (as is the dashboard's address).
func TestPastParamsWhereNotTaken(t *testing.T) {
	f := start(t)
	id, building := f.firstDwelling()
	dw := "/api/v1/dwellings/" + url.PathEscape(id)
	v := fmt.Sprint(f.eng.Version())
	for _, c := range []struct{ method, path, name, says string }{
		{"GET", dw + "?as_of=1", "as_of", "does not take as_of"},
		{"GET", dw + "?as_of=2026-11-26", "as_of", "current state"},
		{"GET", dw + "?since=1", "since", "does not take since"},
		{"GET", "/api/v1/campaigns/vax?as_of=1", "as_of", "does not take as_of"},
		{"GET", "/api/v1/campaigns?as_of=1", "as_of", "does not take as_of"},
		{"GET", "/api/v1/info?as_of=1", "as_of", "does not take as_of"},
		{"GET", "/api/v1/schemes/default?as_of=1", "as_of", "does not take as_of"},
		{"GET", "/api/v1/assignments?as_of=1", "as_of", "does not take as_of"},
		{"GET", "/api/v1/history?as_of=1", "as_of", "does not take as_of"},
		{"GET", "/api/v1/legend?since=1", "since", "does not take since"},
		{"GET", "/api/v1/buildings/" + url.PathEscape(building) + "/roomstate?since=1", "since", "does not take since"},
		{"POST", "/api/v1/query/polygon?as_of=1", "as_of", "JSON body"},
	} {
		code, out, _ := do(t, c.method, f.url+c.path, `{"unit":{"level":"street","id":"x"}}`)
		var e struct {
			Error struct{ Code, Message string }
		}
		json.Unmarshal(out, &e)
		if code != 400 || e.Error.Code != "bad_request" || !strings.HasPrefix(e.Error.Message, c.name+":") || !strings.Contains(e.Error.Message, c.says) {
			t.Errorf("%s %s: %d %s, want 400 bad_request naming %s", c.method, c.path, code, out, c.name)
		}
	}
	for _, p := range []string{
		dw, dw + "?_=1732700000", dw + "?as_of=", // an empty as_of is none
		"/api/v1/units/street?as_of=" + v + "&since=" + v, "/api/v1/legend?as_of=" + v, "/api/v1/buildings/" + url.PathEscape(building) + "/roomstate?as_of=" + v,
		"/api/v1/responsibility?as_of=garbage", "/?as_of=2026-11-26", "/healthz?as_of=1",
	} {
		if code, out, _ := do(t, "GET", f.url+p, ""); code != 200 {
			t.Errorf("GET %s: %d %.200s, want 200", p, code, out)
		}
	}
	// a person's answer is its own business: 404 for no one, not 400
	if code, out, _ := do(t, "GET", f.url+"/api/v1/persons/nobody?as_of=garbage", ""); code == 400 {
		t.Errorf("persons ?as_of=garbage: %d %s", code, out)
	}
}
