package tiles

import (
	"testing"
	"time"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geojson"
	"github.com/paulmach/orb/maptile"
	"github.com/roomstate/roomstate/engine"
	"github.com/roomstate/roomstate/privacy"
)

// TestResponsibilityAndCampaignViews draws buildings A (3 dwellings), B (2)
// and C (1) of grid G1: assigned and last_visit in every view, the
// responsible person's colour in the responsibility view, a campaign's
// progress with ?campaign=, a viewer's colours through the policy; and the
// cache serves a tile again only while nothing it shows changed: a visit, a
// grid's assignment, a task done, a campaign ended.
func TestResponsibilityAndCampaignViews(t *testing.T) {
	now := time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)
	e := engine.New(engine.Options{Clock: func() time.Time { return now }})
	b := engine.NewBatch("views", []string{"isolated", "vaccinated", "rental", "elderly_alone"})
	add := func(id, bld string, lon, lat float64, flags ...int) {
		r := engine.Record{ID: id, Lon: lon, Lat: lat, Building: bld, Grid: "G1", Community: "C1", Street: "S1", Floor: 1, Room: id}
		for _, f := range flags {
			r.SetFlag(f)
		}
		if err := b.Add(&r); err != nil {
			t.Fatal(err)
		}
	}
	add("a1", "A", 121.5, 31.2, 3)
	add("a2", "A", 121.5, 31.2, 3)
	add("a3", "A", 121.5, 31.2, 3)
	add("b1", "B", 121.501, 31.2005, 3)
	add("b2", "B", 121.501, 31.2005, 3, 1)
	add("c1", "C", 121.4995, 31.1995)
	if err := e.Load(b); err != nil {
		t.Fatal(err)
	}
	apply := func(ops ...engine.Op) {
		t.Helper()
		now = now.Add(time.Minute)
		if _, err := e.Apply(engine.Request{Ops: ops}, now); err != nil {
			t.Fatal(err)
		}
	}
	apply(engine.Op{Kind: engine.OpAssign, ID: "A", Assign: &engine.AssignInput{Level: engine.LevelBuilding, Person: "张三", Team: "一组"}},
		engine.Op{Kind: engine.OpVisit, ID: "B", Visit: &engine.VisitInput{By: "w"}},
		engine.Op{Kind: engine.OpCampaign, ID: "vax", Campaign: &engine.CampaignInput{Target: "elderly_alone", Goal: "vaccinated"}})
	visited := now.Unix()
	c := NewCache(e.Engine, 0)
	tl := maptile.At(orb.Point{121.5, 31.2}, 15)
	get := func(req Request) (*Tile, map[string]*geojson.Feature) {
		t.Helper()
		req.Z, req.X, req.Y = 15, tl.X, tl.Y
		tile, err := c.Get(&req)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]*geojson.Feature{}
		for _, f := range decode(t, tile)["buildings"].Features {
			out[f.Properties["id"].(string)] = f
		}
		return tile, out
	}
	_, fs := get(Request{})
	if num(fs["A"], "assigned") != 1 || num(fs["B"], "assigned") != 0 || num(fs["B"], "last_visit") != visited || fs["A"].Properties["last_visit"] != nil {
		t.Fatalf("default view: A %v, B %v", fs["A"].Properties, fs["B"].Properties)
	}
	if fs["A"].Properties["person"] != nil {
		t.Fatal("the scheme's view names the person")
	}
	_, fs = get(Request{View: ViewResponsibility})
	if fs["A"].Properties["state"] != "assigned" || fs["A"].Properties["color"] != PersonColor("张三") || fs["A"].Properties["person"] != "张三" ||
		fs["A"].Properties["team"] != "一组" || fs["B"].Properties["state"] != "unassigned" || fs["B"].Properties["color"] != ColorUnassigned {
		t.Fatalf("responsibility view: A %v, B %v", fs["A"].Properties, fs["B"].Properties)
	}
	if PersonColor("张三") != PersonColor("张三") || PersonColor("张三") == "" {
		t.Fatal("a person's colour is not stable")
	}
	// a grid's assignment reaches B and C: the cached tile is not served again
	apply(engine.Op{Kind: engine.OpAssign, ID: "G1", Assign: &engine.AssignInput{Level: engine.LevelGrid, Person: "李四"}})
	_, fs = get(Request{View: ViewResponsibility})
	if fs["B"].Properties["person"] != "李四" || fs["C"].Properties["color"] != PersonColor("李四") || fs["A"].Properties["person"] != "张三" {
		t.Fatalf("after the grid's assignment: B %v, C %v", fs["B"].Properties, fs["C"].Properties)
	}
	// the campaign: A has 3 tasks to do, B one done and one not, C none
	_, fs = get(Request{Campaign: "vax"})
	if fs["A"].Properties["state"] != "remaining" || fs["A"].Properties["color"] != ColorRemaining ||
		fs["B"].Properties["state"] != "remaining" || fs["C"].Properties["state"] != "none" || fs["C"].Properties["color"] != ColorNone {
		t.Fatalf("campaign view: A %v, B %v, C %v", fs["A"].Properties, fs["B"].Properties, fs["C"].Properties)
	}
	apply(engine.Op{Kind: engine.OpFlags, ID: "b1", Set: []string{"vaccinated"}})
	_, fs = get(Request{Campaign: "vax"})
	if fs["B"].Properties["state"] != "done" || fs["B"].Properties["color"] != ColorDone {
		t.Fatalf("B with its tasks done: %v", fs["B"].Properties)
	}
	// viewers: B's 2 tasks would tell that so few households are in the
	// task set; A's 3 may show
	_, fs = get(Request{Campaign: "vax", Policy: privacy.ForK(3)})
	if fs["B"].Properties["state"] != "none" || fs["B"].Properties["suppressed"] != true || fs["A"].Properties["state"] != "remaining" {
		t.Fatalf("viewer's campaign view: A %v, B %v", fs["A"].Properties, fs["B"].Properties)
	}
	// a visit re-renders the tile
	t1, _ := get(Request{})
	apply(engine.Op{Kind: engine.OpVisit, ID: "A", Visit: &engine.VisitInput{}})
	t2, fs := get(Request{})
	if t1 == t2 || num(fs["A"], "last_visit") != now.Unix() {
		t.Fatalf("after a visit: the same tile %v, A %v", t1 == t2, fs["A"].Properties)
	}
	if t3, _ := get(Request{}); t3 != t2 {
		t.Fatal("an unchanged tile was rendered again")
	}
	// ending the campaign: its tiles are an error now
	apply(engine.Op{Kind: engine.OpEndCampaign, ID: "vax"})
	req := Request{Z: 15, X: tl.X, Y: tl.Y, Campaign: "vax"}
	if _, err := c.Get(&req); err == nil {
		t.Fatal("a tile of an ended campaign")
	}
}
