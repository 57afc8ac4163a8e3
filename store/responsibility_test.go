package store

import (
	"fmt"
	"testing"
	"time"

	"github.com/roomstate/roomstate/engine"
)

// picture describes what assignments, visits and campaigns show, now and
// (the buildings' responsible persons and last visits) as of every version
// from since on.
func picture(t *testing.T, e *engine.Engine, buildings []string, since engine.Version) string {
	t.Helper()
	as, _ := e.Assignments(nil, "")
	out := fmt.Sprintf("v%d %v\n", e.Version(), as)
	cov, err := e.Coverage(engine.CoverageQuery{Level: "grid", Where: "isolated", Stale: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	out += fmt.Sprintf("%v\n", cov.Units)
	bs, _, _, _, err := e.BuildingSummaries(buildings, "", "default", "")
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bs {
		out += fmt.Sprintf("%s %v %d\n", b.ID, b.Responsible, b.LastVisit)
	}
	for v := since; v <= e.Version(); v++ {
		for _, b := range buildings {
			rs, err := e.BuildingRoomState(b, "default", engine.At(v))
			if err != nil {
				t.Fatal(err)
			}
			info := rs.Buildings[0].Building
			out += fmt.Sprintf("as of %d: %s %v %v\n", v, b, info.Responsible, info.LastVisit)
		}
	}
	list, _ := e.Campaigns()
	for _, c := range list {
		for _, l := range []engine.Level{engine.LevelStreet, engine.LevelGrid} {
			r, err := e.Campaign(c.Name, l, time.FixedZone("CST", 8*3600))
			if err != nil {
				t.Fatal(err)
			}
			r.Version = 0
			out += fmt.Sprintf("%+v\n", *r)
		}
	}
	return out
}

// TestResponsibilityAndCampaignsDurable: assignments, visits and campaigns
// (their progress and its days included, and responsibility as of every
// past version) come back the same after a crash (the log replayed) and
// after a clean restart (a snapshot), and are in the change feed and the
// audit trail.
func TestResponsibilityAndCampaignsDurable(t *testing.T) {
	dir := t.TempDir()
	clk := &clock{t: time.Date(2026, 11, 20, 6, 0, 0, 0, time.UTC)}
	s, e, c := openLoaded(t, 8_000, Options{Dir: dir, Clock: clk.now})
	var recs []engine.Record
	c.Dwellings(func(r *engine.Record) error { recs = append(recs, *r); return nil })
	var buildings []string
	seen := map[string]bool{}
	for _, r := range recs {
		if !seen[r.Building] {
			seen[r.Building] = true
			buildings = append(buildings, r.Building)
		}
	}
	who := &Who{Name: "admin", Role: "admin"}
	do := func(ops ...engine.Op) []engine.Event {
		t.Helper()
		clk.add(7 * time.Hour)
		evs, err := s.Submit(engine.Request{Ops: ops}, who)
		if err != nil {
			t.Fatal(err)
		}
		return evs
	}
	v0 := e.Version()
	do(engine.Op{Kind: engine.OpAssign, ID: recs[0].Grid, Assign: &engine.AssignInput{Level: engine.LevelGrid, Person: "张三", Team: "一组", Phone: "138"}},
		engine.Op{Kind: engine.OpAssign, ID: buildings[1], Assign: &engine.AssignInput{Level: engine.LevelBuilding, Person: "李四"}},
		engine.Op{Kind: engine.OpCampaign, ID: "vax", Campaign: &engine.CampaignInput{Label: "接种", Target: "!vaccinated", Goal: "vaccinated", Deadline: "2026-12-31"}})
	do(engine.Op{Kind: engine.OpVisit, ID: buildings[0], Visit: &engine.VisitInput{By: "张三", Note: "正常"}})
	for day := 0; day < 4; day++ {
		var ops []engine.Op
		for i := day * 40; i < day*40+40; i++ {
			ops = append(ops, engine.Op{Kind: engine.OpFlags, ID: recs[i].ID, Set: []string{"vaccinated"}})
		}
		do(ops...)
		do(engine.Op{Kind: engine.OpVisit, ID: buildings[day+1], Visit: &engine.VisitInput{By: "李四"}})
	}
	do(engine.Op{Kind: engine.OpDelete, ID: recs[500].ID})
	want := picture(t, e, buildings[:6], v0)
	// the feed and the audit trail have every change
	evs, _, _ := s.Feed().Since(v0, 1000, nil)
	if len(evs) != int(e.Version()-v0) || evs[0].Op != engine.OpAssign || evs[0].Info.Person != "张三" || evs[2].Op != engine.OpCampaign || !evs[2].Created {
		t.Fatalf("feed: %d events for %d versions: %+v", len(evs), e.Version()-v0, evs[:3])
	}
	audit, _, err := s.Audit(AuditQuery{After: uint64(v0), Limit: 5})
	if err != nil || len(audit) != 5 || audit[0].Op != "assign" || audit[0].Level != "grid" || audit[0].Person != "张三" ||
		audit[2].Op != "campaign" || audit[2].Tasks == 0 || audit[3].Op != "visit" || audit[3].Note != "正常" || audit[3].Building != buildings[0] {
		t.Fatalf("audit: %+v %v", audit, err)
	}
	// a crash: the log after the load's snapshot is replayed
	s.wal.Close()
	s2, err := Open(Options{Dir: dir, Clock: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	if got := picture(t, s2.Engine(), buildings[:6], v0); got != want {
		t.Fatalf("after a crash:\n%s\nbefore:\n%s", got, want)
	}
	// more, then a clean restart from the snapshot
	s = s2
	do(engine.Op{Kind: engine.OpAssign, ID: recs[0].Grid, Assign: &engine.AssignInput{Level: engine.LevelGrid}},
		engine.Op{Kind: engine.OpCampaign, ID: "rent", Campaign: &engine.CampaignInput{Target: "rental", Goal: "!rental"}})
	do(engine.Op{Kind: engine.OpFlags, ID: recs[3].ID, Clear: []string{"vaccinated"}})
	want = picture(t, s.Engine(), buildings[:6], v0)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s3, err := Open(Options{Dir: dir, Clock: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	defer s3.Close()
	if got := picture(t, s3.Engine(), buildings[:6], v0); got != want {
		t.Fatalf("after a restart:\n%s\nbefore:\n%s", got, want)
	}
}
