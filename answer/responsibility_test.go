package answer

import (
	"encoding/json"
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
