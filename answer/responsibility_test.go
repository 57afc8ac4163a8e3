package answer

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/roomstate/roomstate/engine"
	"github.com/roomstate/roomstate/privacy"
	"github.com/roomstate/roomstate/store"
)

// TestAnswersAreJSON: every answer of responsibility and campaigns, and the
// feed's events of changes of no dwelling, are valid JSON for every role,
// with names and notes that need escaping.
func TestAnswersAreJSON(t *testing.T) {
	clock := time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)
	st, err := store.Open(store.Options{Clock: func() time.Time { return clock }})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	b := engine.NewBatch("t", []string{"isolated", "vaccinated", "rental", "elderly_alone"})
	for i, bld := range []string{"B\"1", "B\"1", "B\"1", "B2", "B2", "B3"} {
		r := engine.Record{ID: string(rune('a' + i)), Lon: 121.5, Lat: 31.2, Building: bld, Grid: "G<1>", Community: "C", Street: "S"}
		r.SetFlag(3)
		if err := b.Add(&r); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Load([]*engine.Batch{b}, nil); err != nil {
		t.Fatal(err)
	}
	a := New(st.Engine(), st, Options{TZ: time.FixedZone("CST", 8*3600)})
	admin := &Caller{Name: "ops \"1\"", Role: Admin}
	v0 := st.Engine().Version()
	must := func(out []byte, err error) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		if !json.Valid(out) {
			t.Fatalf("not JSON: %s", out)
		}
		return string(out)
	}
	must(a.PutAssignments([]byte(`[{"level":"grid","id":"G<1>","person":"张\"三\\","team":"一组","phone":"1"},{"level":"building","id":"B2","person":"李四"}]`), admin))
	must(a.Visit([]byte(`{"building":"B\"1","note":"门\"锁\\坏"}`), admin))
	body, created, err := a.PutCampaign("vax", []byte(`{"label":"\"接种\"","target":"elderly_alone","goal":"vaccinated"}`), admin)
	if !created {
		t.Fatal("not created")
	}
	must(body, err)
	must(a.Patch("a", []byte(`{"set":["vaccinated"]}`), admin))
	for _, role := range []Role{Viewer, Analyst, Admin} {
		c := &Caller{Name: "x", Role: role}
		out := must(a.Responsibility(Values{"level": "grid", "stale": "1d", "where": "elderly_alone"}, c))
		// 3 buildings, 2 of them not visited within the day
		if role == Viewer && (!strings.Contains(out, `"stale":null`) || !strings.Contains(out, `"suppressed":true`)) {
			t.Fatalf("a viewer sees 2 buildings: %s", out)
		}
		must(a.Campaigns(c))
		out = must(a.Campaign("vax", Values{"level": "grid"}, c))
		// 6 tasks, 1 done: done withheld, and remaining with it (total − remaining would give it)
		if role == Viewer && (!strings.Contains(out, `"total":6,"done":null,"remaining":null,"removed":0`) || !strings.Contains(out, `"suppressed":true`)) {
			t.Fatalf("a viewer's campaign: %s", out)
		}
		if role >= Analyst {
			must(a.Person("张\"三\\", Values{}, c))
			must(a.Assignments(Values{}, c))
		}
		must(a.BuildingStates([]byte(`{"ids":["B\"1","B2"],"view":"responsibility","campaign":"vax"}`), c))
	}
	evs, _, _ := st.Feed().Since(v0, 100, nil)
	if len(evs) != 5 {
		t.Fatalf("%d events", len(evs))
	}
	for _, ev := range evs {
		for _, pol := range []privacy.Policy{{}, privacy.ForK(3)} {
			line := EventJSON(nil, &ev, pol)
			var m map[string]any
			if err := json.Unmarshal(line, &m); err != nil {
				t.Fatalf("event not JSON: %s", line)
			}
			if ev.Info == nil {
				continue // a dwelling's change: the feed's own tests
			}
			// the members every event has (shared API.md), no flag changed
			for _, k := range []string{"version", "time", "op", "id", "building", "set", "clear"} {
				if _, ok := m[k]; !ok {
					t.Fatalf("event without %q: %s", k, line)
				}
			}
			if len(m["set"].([]any))+len(m["clear"].([]any)) != 0 {
				t.Fatalf("a change of no dwelling changes flags: %s", line)
			}
		}
	}
	if line := string(EventJSON(nil, &evs[2], privacy.ForK(3))); strings.Contains(line, "锁") || !strings.Contains(line, `"op":"visit"`) {
		t.Fatalf("a viewer's visit event: %s", line)
	}
	must(a.DeleteCampaign("vax", admin))
}

// TestViewersCoverageGivesNothingBack: a viewer's matched_unassigned is
// the sum of the unassigned buildings' counts the viewer is shown, null
// when one is withheld. Here a grid's buildings hold 4, 6 and 1 isolated
// households; B1 (4) is assigned, so an exact sum over B2 and B3 (7) less
// B2's shown 6 would give back B3's withheld 1.
func TestViewersCoverageGivesNothingBack(t *testing.T) {
	st, err := store.Open(store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	b := engine.NewBatch("t", []string{"isolated", "vaccinated"})
	n := 0
	for _, bld := range []struct {
		id            string
		all, isolated int
	}{{"B1", 10, 4}, {"B2", 10, 6}, {"B3", 10, 1}, {"B4", 10, 0}} {
		for i := range bld.all {
			r := engine.Record{ID: fmt.Sprint("d", n), Lon: 121.5, Lat: 31.2, Building: bld.id, Grid: "G", Community: "C", Street: "S", District: "D"}
			if i < bld.isolated {
				r.SetFlag(0)
			}
			if err := b.Add(&r); err != nil {
				t.Fatal(err)
			}
			n++
		}
	}
	if err := st.Load([]*engine.Batch{b}, nil); err != nil {
		t.Fatal(err)
	}
	a := New(st.Engine(), st, Options{})
	if _, err := a.PutAssignments([]byte(`[{"level":"building","id":"B1","person":"张三"}]`), &Caller{Name: "ops", Role: Admin}); err != nil {
		t.Fatal(err)
	}
	type cov struct {
		Units []struct {
			ID                string
			MatchedUnassigned *int64 `json:"matched_unassigned"`
		}
	}
	type unit struct {
		Children []struct {
			ID      string
			Matched *int64
		}
	}
	for _, role := range []Role{Analyst, Viewer} {
		c := &Caller{Name: "x", Role: role}
		var cv cov
		var un unit
		out, err := a.Responsibility(Values{"level": "grid", "where": "isolated"}, c)
		if err != nil {
			t.Fatal(err)
		}
		json.Unmarshal(out, &cv)
		uo, err := a.Unit("grid", "G", Values{"where": "isolated"}, c)
		if err != nil {
			t.Fatal(err)
		}
		json.Unmarshal(uo, &un)
		got := cv.Units[0].MatchedUnassigned
		if role == Analyst {
			if got == nil || *got != 7 {
				t.Fatalf("analyst: %s", out)
			}
			continue
		}
		// the sum of what the viewer is shown of B2, B3 and B4, or null
		var want *int64
		sum := int64(0)
		for i, ch := range un.Children {
			if ch.ID == "B1" {
				continue
			}
			if ch.Matched == nil {
				break
			}
			sum += *ch.Matched
			if i == len(un.Children)-1 {
				want = &sum
			}
		}
		if (got == nil) != (want == nil) || got != nil && *got != *want {
			t.Fatalf("viewer: matched_unassigned %v, the shown buildings' sum %v:\n%s\n%s", got, want, out, uo)
		}
		if got != nil {
			t.Fatalf("viewer: B3's 1 is withheld, so must the sum be: %s\n%s", out, uo)
		}
	}
}
