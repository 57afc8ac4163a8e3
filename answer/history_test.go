package answer

import (
	"encoding/json"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/roomstate/roomstate/engine"
	"github.com/roomstate/roomstate/store"
)

// shownCounts are counts as an answer writes them: nil when withheld.
type shownCounts struct {
	Total   *int64
	Matched *int64
	Flags   map[string]*int64
}

type shownUnit struct {
	Level, ID string
	shownCounts
	Delta    *shownCounts
	Children []shownUnit
}

type shownSeries struct {
	Points []struct {
		Time    string
		Version uint64
		shownCounts
	}
}

func num(p *int64) string {
	if p == nil {
		return "null"
	}
	return strconv.FormatInt(*p, 10)
}

// historyCity is a city of one street with two communities, loaded on one
// day; on the next a household of a building of 144, B1 (grid G1, community
// C), is flagged isolated — the only one in its building and its grid. Its
// community's other grids hold 4 (G2) and 10 (G3, 9 of them vaccinated)
// isolated households. It returns the answers, the version as loaded (v1)
// and after the change (v2), and the two instants (ends of the two days).
func historyCity(t *testing.T) (a *Answers, v1, v2 uint64, day1, day2 time.Time) {
	t.Helper()
	var clock atomic.Int64
	t0 := time.Date(2026, 11, 26, 8, 0, 0, 0, time.FixedZone("CST", 8*3600))
	clock.Store(t0.UnixNano())
	st, err := store.Open(store.Options{Clock: func() time.Time { return time.Unix(0, clock.Load()) }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	b := engine.NewBatch("t", []string{"isolated", "vaccinated"})
	n := 0
	for _, bld := range []struct {
		id, grid, community   string
		all, isolated, vaxIso int
	}{
		{"B1", "G1", "C", 144, 0, 0},
		{"B2", "G2", "C", 10, 4, 0},
		{"B3", "G3", "C", 30, 10, 9},
		{"B4", "G4", "C2", 50, 20, 10},
	} {
		for i := range bld.all {
			r := engine.Record{ID: fmt.Sprint("d", n), Lon: 121.5, Lat: 31.2, Building: bld.id, Grid: bld.grid,
				Community: bld.community, Street: "S", District: "D"}
			if i < bld.isolated {
				r.SetFlag(0)
			}
			if i < bld.vaxIso || i >= bld.isolated && i < bld.isolated+5 {
				r.SetFlag(1)
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
	a = New(st.Engine(), st, Options{TZ: t0.Location()})
	v1 = uint64(st.Engine().Version())
	clock.Add(int64(24 * time.Hour))
	if _, err := a.Patch("d0", []byte(`{"set":["isolated"]}`), &Caller{Name: "ops", Role: Admin}); err != nil {
		t.Fatal(err)
	}
	v2 = uint64(st.Engine().Version())
	clock.Add(int64(time.Hour))
	return a, v1, v2, t0.Add(time.Hour), t0.Add(25 * time.Hour)
}

func unitOf(t *testing.T, a *Answers, c *Caller, level, id string, q Values) shownUnit {
	t.Helper()
	out, err := a.Unit(level, id, q, c)
	if err != nil {
		t.Fatalf("%s %s %v: %v", level, id, q, err)
	}
	var u shownUnit
	if err := json.Unmarshal(out, &u); err != nil {
		t.Fatal(err)
	}
	return u
}

func seriesOf(t *testing.T, a *Answers, c *Caller, q Values) shownSeries {
	t.Helper()
	out, err := a.History(q, c)
	if err != nil {
		t.Fatalf("history %v: %v", q, err)
	}
	var s shownSeries
	if err := json.Unmarshal(out, &s); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestViewersHistoryGivesNothingBack tries to get the one isolated
// household of B1 back through history, as an attacker would: the delta
// since the day before, a series over the two days, two as_of answers
// subtracted, the complement where=!isolated as of either day, and series
// points of the units around it (a parent minus its other children, a
// series under where against one without). A viewer gets nothing from 1 to
// k−1 (null); an analyst gets every number exactly.
// (A viewer's delta of a grid's buildings read the buildings as a unit
// level, out of range: a 500.)
func TestViewersHistoryGivesNothingBack(t *testing.T) {
	a, v1, v2, day1, day2 := historyCity(t)
	viewer, analyst := &Caller{Name: "wall", Role: Viewer}, &Caller{Name: "x", Role: Analyst}
	at := func(v uint64) string { return strconv.FormatUint(v, 10) }
	span := Values{"from": day1.Format(time.RFC3339), "to": day2.Format(time.RFC3339), "step": "1d"}
	series := func(c *Caller, level, id, where string) shownSeries {
		q := Values{"level": level, "id": id, "where": where}
		for k, v := range span {
			q[k] = v
		}
		s := seriesOf(t, a, c, q)
		if len(s.Points) != 2 || s.Points[0].Version != v1 || s.Points[1].Version != v2 {
			t.Fatalf("series of %s %s: %+v, want versions %d and %d", level, id, s.Points, v1, v2)
		}
		return s
	}
	small := func(p *int64) bool { return p != nil && *p > 0 && *p < 3 }

	// the delta since the day before, by version and by date
	for _, since := range []string{at(v1), day1.Format("2006-01-02")} {
		for _, c := range []*Caller{viewer, analyst} {
			g := unitOf(t, a, c, "grid", "G1", Values{"since": since})
			b1 := g.Children[0]
			for _, d := range []*shownCounts{g.Delta, b1.Delta} {
				if d == nil {
					t.Fatalf("since %s: no delta: %+v", since, g)
				}
				iso := d.Flags["isolated"]
				if c == analyst && (iso == nil || *iso != 1) || c == viewer && iso != nil {
					t.Fatalf("%s: since %s, the delta of isolated is %s", c.Name, since, num(iso))
				}
				// the total did not change: 0 is shown
				if d.Total == nil || *d.Total != 0 {
					t.Fatalf("%s: since %s, the delta of total is %s", c.Name, since, num(d.Total))
				}
			}
			// the community's delta is 1 too, and withheld. (Its isolated
			// as of either day, 14 and 15, are both shown: subtracting two
			// versions' answers gives the 1 back, the limit docs/API.md
			// states — protection holds within one version.)
			cm := unitOf(t, a, c, "community", "C", Values{"since": since})
			if iso := cm.Delta.Flags["isolated"]; c == viewer && iso != nil || c == analyst && num(iso) != "1" {
				t.Fatalf("%s: the community's delta of isolated is %s", c.Name, num(iso))
			}
		}
	}

	// the series of G1 over the two days: 0, then the one
	for _, c := range []*Caller{viewer, analyst} {
		s := series(c, "grid", "G1", "")
		p0, p1 := s.Points[0].Flags["isolated"], s.Points[1].Flags["isolated"]
		if c == analyst && (num(p0) != "0" || num(p1) != "1") || c == viewer && (num(p0) != "0" || p1 != nil) {
			t.Fatalf("%s: G1's isolated over the two days: %s, %s", c.Name, num(p0), num(p1))
		}
		// its complement under where=!isolated: 144, then 143 (the one)
		s = series(c, "grid", "G1", "!isolated")
		m0, m1 := s.Points[0].Matched, s.Points[1].Matched
		if c == analyst && (num(m0) != "144" || num(m1) != "143") || c == viewer && (num(m0) != "144" || m1 != nil) {
			t.Fatalf("%s: G1's !isolated over the two days: %s, %s", c.Name, num(m0), num(m1))
		}
	}

	// two as_of answers subtracted, and the complement as of either day
	for _, c := range []*Caller{viewer, analyst} {
		var iso, notIso [2]*int64
		var tot [2]*int64
		for i, v := range []uint64{v1, v2} {
			for _, asOf := range []string{at(v), []time.Time{day1, day2}[i].Format(time.RFC3339)} {
				g := unitOf(t, a, c, "grid", "G1", Values{"as_of": asOf})
				iso[i], tot[i] = g.Children[0].Flags["isolated"], g.Children[0].Total
				g = unitOf(t, a, c, "grid", "G1", Values{"as_of": asOf, "where": "!isolated"})
				notIso[i] = g.Children[0].Matched
				if c == viewer && (small(iso[i]) || g.Matched != nil && *g.Matched == 143 || notIso[i] != nil && *notIso[i] == 143) {
					t.Fatalf("viewer as of %s: B1 isolated %s, !isolated %s, G1 !isolated %s", asOf, num(iso[i]), num(notIso[i]), num(g.Matched))
				}
			}
		}
		if c == analyst {
			if num(iso[0]) != "0" || num(iso[1]) != "1" || num(notIso[1]) != "143" {
				t.Fatalf("analyst: B1 isolated %s → %s, !isolated as of v2 %s", num(iso[0]), num(iso[1]), num(notIso[1]))
			}
			continue
		}
		// the viewer: isolated 0 then withheld, total 144 both days,
		// !isolated 144 then withheld: no difference gives the one
		if num(iso[0]) != "0" || iso[1] != nil || num(tot[0]) != "144" || num(tot[1]) != "144" || num(notIso[0]) != "144" || notIso[1] != nil {
			t.Fatalf("viewer: B1 isolated %s → %s, total %s → %s, !isolated %s → %s",
				num(iso[0]), num(iso[1]), num(tot[0]), num(tot[1]), num(notIso[0]), num(notIso[1]))
		}
	}

	// a parent's series minus its other children's: community C holds G1
	// (1, withheld), G2 (4) and G3 (10), 15 in all, shown; were G2's 4 or
	// G3's 10 shown in a series at v2, C − G2 − G3 would give G1's 1. So a
	// series point shows what the units answer at its version shows.
	// Under where=vaccinated G3 holds 9 isolated of its 10: its isolated
	// under where is withheld (10 − 9 = 1 isolated and not vaccinated), in
	// a series as in the units answer.
	for _, where := range []string{"", "vaccinated", "!isolated", "isolated"} {
		for _, c := range []*Caller{viewer, analyst} {
			cm := unitOf(t, a, c, "community", "C", Values{"as_of": at(v2), "where": where})
			if c == analyst && where == "" {
				if num(cm.Flags["isolated"]) != "15" {
					t.Fatalf("analyst: C's isolated %s", num(cm.Flags["isolated"]))
				}
			}
			units := append([]shownUnit{cm}, cm.Children...)
			for _, u := range units {
				s := series(c, u.Level, u.ID, where)
				p := s.Points[1]
				same := num(p.Total) == num(u.Total) && num(p.Matched) == num(u.Matched)
				for f, v := range u.Flags {
					same = same && num(p.Flags[f]) == num(v)
				}
				if !same {
					t.Errorf("%s, where %q: %s %s's series at v%d shows %s %s %v; as_of v%d it is %s %s %v", c.Name, where, u.Level, u.ID,
						v2, num(p.Total), num(p.Matched), flagsText(p.Flags), v2, num(u.Total), num(u.Matched), flagsText(u.Flags))
				}
			}
			if c == viewer && where == "" {
				var shown int64
				for _, ch := range cm.Children {
					if v := ch.Flags["isolated"]; v != nil {
						shown += *v
					}
				}
				if iso := cm.Flags["isolated"]; iso != nil && *iso-shown > 0 && *iso-shown < 3 {
					t.Errorf("viewer: C's isolated %d minus its shown grids %d", *iso, shown)
				}
			}
		}
	}
	// the city's series at v2 is the city as the protected table shows it
	city := seriesOf(t, a, viewer, Values{"from": span["from"], "to": span["to"], "step": "1d"})
	st := unitOf(t, a, viewer, "street", "S", Values{"as_of": at(v2)})
	if p := city.Points[1]; num(p.Flags["isolated"]) != num(st.Flags["isolated"]) {
		t.Errorf("viewer: the city's isolated at v%d %s, its one street's %s", v2, num(p.Flags["isolated"]), num(st.Flags["isolated"]))
	}
}

func flagsText(m map[string]*int64) string {
	s := "{"
	for _, f := range []string{"isolated", "vaccinated"} {
		s += f + ":" + num(m[f]) + " "
	}
	return s + "}"
}
