package answer

import (
	"encoding/json"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/roomstate/roomstate/engine"
	"github.com/roomstate/roomstate/store"
)

// TestViewersCampaignGivesNothingBack: when a viewer's campaign withholds
// done (here by the identity: 5 tasks, 3 done, 2 remaining, remaining
// withheld, so done too), neither the daily rate (the rise of done since
// the start, when done was 0) nor today's figures in days (today's done is
// done now) give it back; an analyst sees them all.
func TestViewersCampaignGivesNothingBack(t *testing.T) {
	// the store's own goroutine reads the clock (expiries): an atomic one
	var clock atomic.Int64
	clock.Store(time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC).UnixNano())
	st, err := store.Open(store.Options{Clock: func() time.Time { return time.Unix(0, clock.Load()) }})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	b := engine.NewBatch("t", []string{"vaccinated", "elderly_alone"})
	for i := range 40 {
		r := engine.Record{ID: fmt.Sprint("d", i), Lon: 121.5, Lat: 31.2, Building: fmt.Sprint("B", i/4), Grid: fmt.Sprint("G", i/20), Community: "C", Street: "S"}
		if i < 5 { // 5 elderly living alone, in the first grid
			r.SetFlag(1)
		}
		if err := b.Add(&r); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Load([]*engine.Batch{b}, nil); err != nil {
		t.Fatal(err)
	}
	a := New(st.Engine(), st, Options{TZ: time.FixedZone("CST", 8*3600)})
	admin := &Caller{Name: "ops", Role: Admin}
	if _, _, err := a.PutCampaign("vax", []byte(`{"target":"elderly_alone","goal":"vaccinated"}`), admin); err != nil {
		t.Fatal(err)
	}
	clock.Add(int64(time.Hour))
	for _, id := range []string{"d0", "d1", "d2"} { // 3 of 5 done
		if _, err := a.Patch(id, []byte(`{"set":["vaccinated"]}`), admin); err != nil {
			t.Fatal(err)
		}
	}
	type fig struct {
		Total, Done, Remaining, Removed *int64
		Rate                            *float64 `json:"rate_7d"`
		ETA                             *string
	}
	var ans struct {
		fig
		Days []struct {
			Date      string
			Done      *int64
			DoneToday *int64 `json:"done_today"`
		}
		Units []fig
	}
	for _, role := range []Role{Viewer, Analyst} {
		for _, level := range []string{"street", "grid"} {
			out, err := a.Campaign("vax", Values{"level": level}, &Caller{Name: "x", Role: role})
			if err != nil {
				t.Fatal(err)
			}
			ans.Units = nil
			if err := json.Unmarshal(out, &ans); err != nil {
				t.Fatal(err)
			}
			last := ans.Days[len(ans.Days)-1]
			if role == Analyst {
				if ans.Done == nil || *ans.Done != 3 || ans.Rate == nil || *ans.Rate != 3 || last.Done == nil || *last.Done != 3 {
					t.Fatalf("analyst by %s: %s", level, out)
				}
				continue
			}
			if ans.Done != nil || ans.Remaining != nil {
				t.Fatalf("viewer by %s: done and remaining shown: %s", level, out)
			}
			// done withheld: nothing that would give it back is shown
			if ans.Rate != nil || ans.ETA != nil || last.Done != nil || last.DoneToday != nil {
				t.Fatalf("viewer by %s: done withheld, but the rate or today's figures shown: %s", level, out)
			}
			for _, u := range ans.Units {
				if u.Done == nil && (u.Rate != nil || u.ETA != nil) {
					t.Fatalf("viewer by %s: a unit's done withheld, its rate shown: %s", level, out)
				}
			}
		}
	}
}
