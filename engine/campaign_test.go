package engine_test

import (
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/roomstate/roomstate/city"
	"github.com/roomstate/roomstate/engine"
	"github.com/roomstate/roomstate/fault"
	"github.com/roomstate/roomstate/internal/testseed"
)

// cdwell is a dwelling of the campaign model: uid tells a dwelling put
// again under a deleted one's id from the one deleted.
type cdwell struct {
	uid   int
	rd    rdwell
	flags map[string]bool
}

// ccamp is a campaign of the model.
type ccamp struct {
	name          string
	target, goal  string
	tgt, gl       func(map[string]bool) bool
	created       time.Time
	tasks         map[int][4]string // uid → its units at the start
	done0         int
	points        []cpoint // done after each step since the start, the start first
	running       bool
	label, expiry string
}

// cpoint is a campaign's done, in all and per unit of each level, at a time.
type cpoint struct {
	t     time.Time
	done  int
	units [4]map[string]int
}

type cmodel struct {
	dw    map[string]*cdwell
	uid   int
	camps map[string]*ccamp
}

var campaignDefs = []struct {
	target, goal string
	tgt, gl      func(map[string]bool) bool
}{
	{"elderly_alone", "vaccinated", func(f map[string]bool) bool { return f["elderly_alone"] }, func(f map[string]bool) bool { return f["vaccinated"] }},
	{"isolated | rental", "!isolated & vaccinated", func(f map[string]bool) bool { return f["isolated"] || f["rental"] },
		func(f map[string]bool) bool { return !f["isolated"] && f["vaccinated"] }},
	{"!vaccinated", "vaccinated | rental", func(f map[string]bool) bool { return !f["vaccinated"] }, func(f map[string]bool) bool { return f["vaccinated"] || f["rental"] }},
}

// status is a task's state in the model.
func (m *cmodel) status(uid int, c *ccamp) (present, done bool) {
	for _, d := range m.dw {
		if d.uid == uid {
			return true, c.gl(d.flags)
		}
	}
	return false, false
}

// point takes campaign c's done now.
func (m *cmodel) point(c *ccamp, t time.Time) cpoint {
	byUID := map[int]*cdwell{}
	for _, d := range m.dw {
		byUID[d.uid] = d
	}
	p := cpoint{t: t}
	for l := range p.units {
		p.units[l] = map[string]int{}
	}
	for uid, units := range c.tasks {
		if d := byUID[uid]; d != nil && c.gl(d.flags) {
			p.done++
			for l, u := range units {
				p.units[l][u]++
			}
		}
	}
	return p
}

// doneAt returns c's done at instant t (the start's before it).
func (c *ccamp) doneAt(t time.Time) cpoint {
	i := 0
	for j, p := range c.points {
		if !p.t.After(t) {
			i = j
		}
	}
	return c.points[i]
}

// TestCampaignsMatchModel starts, changes and ends campaigns among random
// changes of dwellings (the goal's flags set and cleared, task dwellings
// moved to other units, deleted, put again under the same id), with an
// injected clock that crosses several days, in two time zones (one with a
// daylight-saving change in the span); after each step every campaign's
// figures, in all, per day and per unit of every level, must equal the
// model's, with total = done + remaining + removed everywhere. Halfway, the
// engine is snapshotted and restored into a new one, which goes on.
func TestCampaignsMatchModel(t *testing.T) {
	la, err := time.LoadLocation("America/Los_Angeles")
	if err != nil {
		t.Skip("no time zone database")
	}
	for _, tz := range []*time.Location{time.FixedZone("CST", 8*3600), la} {
		t.Run(tz.String(), func(t *testing.T) { testCampaigns(t, tz) })
	}
}

func testCampaigns(t *testing.T, tz *time.Location) {
	seed := testseed.Get(t)
	rng := rand.New(rand.NewPCG(seed, 13))
	c := city.New(city.Config{N: 5000, Seed: seed})
	b, _ := c.Batch()
	// from Friday evening in Shanghai: the US leaves daylight saving on 1 November
	now := time.Date(2026, 10, 30, 11, 30, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	w := engine.New(engine.Options{DeltaLimit: 150, Clock: clock})
	if err := w.Load(b); err != nil {
		t.Fatal(err)
	}
	m := &cmodel{dw: map[string]*cdwell{}, camps: map[string]*ccamp{}}
	names := city.FlagNames()
	_ = c.Dwellings(func(r *engine.Record) error {
		m.uid++
		d := &cdwell{uid: m.uid, rd: rdwell{id: r.ID, lon: r.Lon, lat: r.Lat, units: [4]string{r.District, r.Street, r.Community, r.Grid}, building: r.Building},
			flags: map[string]bool{}}
		for i, n := range names {
			if r.Flags[0]>>i&1 != 0 {
				d.flags[n] = true
			}
		}
		m.dw[r.ID] = d
		return nil
	})
	put := func(d *cdwell) engine.Op {
		op := putOp(&d.rd)
		op.Put.Flags = nil
		for _, n := range names {
			if d.flags[n] {
				op.Put.Flags = append(op.Put.Flags, n)
			}
		}
		return op
	}
	pick := func(s []string) string { return s[rng.IntN(len(s))] }
	steps := 260
	var longest time.Duration
	for step := 0; step < steps; step++ {
		now = now.Add(time.Duration(20+rng.IntN(240)) * time.Minute)
		if rng.IntN(6) == 0 {
			// a change at the very end or start of a day in the zone
			y, mo, d := now.In(tz).Date()
			now = time.Date(y, mo, d+1, 0, 0, 0, 0, tz).Add(-time.Duration(rng.IntN(2)) * time.Millisecond)
		}
		ids := slices.Sorted(maps.Keys(m.dw))
		var ops []engine.Op
		var effects []func()
		switch r := rng.IntN(100); {
		case r < 4 || step == 0: // start (or restart) a campaign
			k := rng.IntN(len(campaignDefs))
			name := fmt.Sprintf("c%d", k)
			def := campaignDefs[k]
			if cur := m.camps[name]; cur != nil && cur.running {
				ops = append(ops, engine.Op{Kind: engine.OpEndCampaign, ID: name})
				effects = append(effects, func() { cur.running = false })
			}
			label := fmt.Sprintf("专项%d", step)
			ops = append(ops, engine.Op{Kind: engine.OpCampaign, ID: name, Campaign: &engine.CampaignInput{Label: label, Target: def.target, Goal: def.goal, Deadline: "2026-12-31"}})
			at := now
			effects = append(effects, func() {
				cc := &ccamp{name: name, target: def.target, goal: def.goal, tgt: def.tgt, gl: def.gl, created: at, tasks: map[int][4]string{},
					running: true, label: label}
				for _, d := range m.dw {
					if def.tgt(d.flags) {
						cc.tasks[d.uid] = d.rd.units
					}
				}
				p := m.point(cc, at)
				cc.done0 = p.done
				cc.points = []cpoint{p}
				m.camps[name] = cc
			})
		case r < 6: // end one
			for _, name := range slices.Sorted(maps.Keys(m.camps)) {
				if cc := m.camps[name]; cc.running {
					ops = append(ops, engine.Op{Kind: engine.OpEndCampaign, ID: name})
					effects = append(effects, func() { cc.running = false })
					break
				}
			}
		default:
			used := map[string]bool{} // one change a dwelling a step
			for k := 1 + rng.IntN(6); k > 0; k-- {
				id := pick(ids)
				if used[id] {
					continue
				}
				used[id] = true
				d := m.dw[id]
				switch r := rng.IntN(100); {
				case r < 60: // a flag, the goal's most often
					f := pick([]string{"vaccinated", "vaccinated", "isolated", "rental", "elderly_alone"})
					on := rng.IntN(2) == 0
					op := engine.Op{Kind: engine.OpFlags, ID: d.rd.id}
					if on {
						op.Set = []string{f}
					} else {
						op.Clear = []string{f}
					}
					ops = append(ops, op)
					effects = append(effects, func() { d.flags[f] = on })
				case r < 80: // moved to another dwelling's units
					o := m.dw[pick(ids)]
					nd := &cdwell{uid: d.uid, rd: d.rd, flags: maps.Clone(d.flags)}
					nd.rd.units, nd.rd.building = o.rd.units, o.rd.building
					ops = append(ops, put(nd))
					effects = append(effects, func() { m.dw[d.rd.id] = nd })
				case r < 92: // deleted
					ops = append(ops, engine.Op{Kind: engine.OpDelete, ID: d.rd.id})
					effects = append(effects, func() { delete(m.dw, d.rd.id) })
				default: // deleted and put again: a new dwelling under the old id
					nd := &cdwell{rd: d.rd, flags: maps.Clone(d.flags)}
					ops = append(ops, engine.Op{Kind: engine.OpDelete, ID: d.rd.id}, put(nd))
					effects = append(effects, func() { delete(m.dw, d.rd.id) }, func() {
						m.uid++
						nd.uid = m.uid
						m.dw[d.rd.id] = nd
					})
				}
			}
		}
		if len(ops) == 0 {
			continue
		}
		// one request a change: a change of a dwelling an earlier one deleted
		// is refused alone
		reqs := make([]engine.Request, len(ops))
		for i := range ops {
			reqs[i] = engine.Request{Ops: []engine.Op{ops[i]}}
		}
		p := w.Prepare(reqs)
		for i, err := range p.Errs {
			if err != nil {
				if !errors.Is(err, fault.NotFound) {
					t.Fatalf("step %d: %v", step, err)
				}
				effects[i] = nil
			}
		}
		w.Commit(p, now)
		w.Maintain()
		for _, f := range effects {
			if f != nil {
				f()
			}
		}
		for _, cc := range m.camps {
			if cc.running && cc.created.Before(now) {
				cc.points = append(cc.points, m.point(cc, now))
			}
		}
		if step == steps/2 {
			// through a snapshot into a new engine, which goes on
			w2 := engine.New(engine.Options{DeltaLimit: 150, Clock: clock})
			if err := w2.Restore(w.Export()); err != nil {
				t.Fatal(err)
			}
			w = w2
		}
		// the clock moves on between changes too
		if rng.IntN(3) == 0 {
			now = now.Add(time.Duration(rng.IntN(300)) * time.Minute)
		}
		checkCampaigns(t, w, m, now, tz, step)
		// the longest any campaign has run so far (a restart starts it
		// again, so the campaigns at the end may all be young)
		for _, cc := range m.camps {
			if cc.running {
				longest = max(longest, now.Sub(cc.created))
			}
		}
	}
	if days := int(longest / (24 * time.Hour)); days < 3 {
		t.Fatalf("the campaigns ran %d days at most; the test means to cross several", days)
	}
}

func checkCampaigns(t *testing.T, w *engine.Writer, m *cmodel, now time.Time, tz *time.Location, step int) {
	t.Helper()
	list, _ := w.Campaigns()
	var running []string
	for _, name := range slices.Sorted(maps.Keys(m.camps)) {
		if m.camps[name].running {
			running = append(running, name)
		}
	}
	if len(list) != len(running) {
		t.Fatalf("step %d: %d campaigns, model %d", step, len(list), len(running))
	}
	for i, name := range running {
		cc := m.camps[name]
		if list[i].Name != name || list[i].Label != cc.label {
			t.Fatalf("step %d: campaign %d is %q (%q), model %q (%q)", step, i, list[i].Name, list[i].Label, name, cc.label)
		}
		cur := m.point(cc, now)
		removed := 0
		byUID := map[int]bool{}
		for _, d := range m.dw {
			byUID[d.uid] = true
		}
		for uid := range cc.tasks {
			if !byUID[uid] {
				removed++
			}
		}
		// the window of the daily rate
		whole := int(now.Sub(cc.created) / (24 * time.Hour))
		n := min(7, max(1, whole))
		from := now.Add(-time.Duration(n) * 24 * time.Hour)
		then := cc.doneAt(from)
		for l := 0; l < 4; l++ {
			rep, err := w.Campaign(name, engine.Level(l), tz)
			if err != nil {
				t.Fatal(err)
			}
			want := engine.CampaignProgress{Total: int64(len(cc.tasks)), Done: int64(cur.done), Removed: int64(removed), Rise: int64(cur.done - then.done)}
			want.Remaining = want.Total - want.Done - want.Removed
			if rep.CampaignProgress != want || rep.WindowDays != n || !rep.Created.Equal(cc.created) {
				t.Fatalf("step %d: %s: %+v over %d days, model %+v over %d", step, name, rep.CampaignProgress, rep.WindowDays, want, n)
			}
			// per unit: the units its tasks were in at the start
			units := map[string]*engine.CampaignProgress{}
			for uid, us := range cc.tasks {
				u := us[l]
				if u == "" {
					continue
				}
				if units[u] == nil {
					units[u] = &engine.CampaignProgress{}
				}
				units[u].Total++
				if !byUID[uid] {
					units[u].Removed++
				}
			}
			for u, k := range cur.units[l] {
				units[u].Done += int64(k)
				units[u].Rise += int64(k)
			}
			for u, k := range then.units[l] {
				units[u].Rise -= int64(k)
			}
			if len(rep.Units) != len(units) {
				t.Fatalf("step %d: %s by %s: %d units, model %d", step, name, engine.Level(l), len(rep.Units), len(units))
			}
			for _, ru := range rep.Units {
				wu := units[ru.ID]
				wu.Remaining = wu.Total - wu.Done - wu.Removed
				if ru.CampaignProgress != *wu || ru.Total != ru.Done+ru.Remaining+ru.Removed {
					t.Fatalf("step %d: %s, %s %s: %+v, model %+v", step, name, engine.Level(l), ru.ID, ru.CampaignProgress, *wu)
				}
			}
			// the whole tree: the same units, those with no unit at the
			// level in a unit "", every level adding up to the city, and
			// every tuple naming a unit of each level
			tree, err := w.CampaignTree(name, tz)
			if err != nil {
				t.Fatal(err)
			}
			var sum engine.CampaignProgress
			for _, tu := range tree.Units[l] {
				if wu := units[tu.ID]; tu.ID != "" && (wu == nil || tu.CampaignProgress != *wu) {
					t.Fatalf("step %d: %s tree, %s %s: %+v, model %v", step, name, engine.Level(l), tu.ID, tu.CampaignProgress, wu)
				}
				sum.Total, sum.Done, sum.Remaining, sum.Removed, sum.Rise = sum.Total+tu.Total, sum.Done+tu.Done,
					sum.Remaining+tu.Remaining, sum.Removed+tu.Removed, sum.Rise+tu.Rise
			}
			if sum != want || tree.Report.CampaignProgress != want {
				t.Fatalf("step %d: %s tree by %s adds up to %+v (report %+v), model %+v", step, name, engine.Level(l), sum, tree.Report.CampaignProgress, want)
			}
			for _, tp := range tree.Tuples {
				if int(tp[l]) >= len(tree.Units[l]) {
					t.Fatalf("step %d: %s: tuple %v names no unit of %s", step, name, tp, engine.Level(l))
				}
			}
			if l != 1 {
				continue
			}
			// the days, in the zone
			y, mo, d := cc.created.In(tz).Date()
			day := time.Date(y, mo, d, 0, 0, 0, 0, tz)
			prev := cc.done0
			var wantDays []engine.CampaignDay
			for !day.After(now) {
				next := day.AddDate(0, 0, 1)
				done := cur.done
				if !next.After(now) {
					done = cc.doneAt(next.Add(-time.Millisecond)).done
				}
				wantDays = append(wantDays, engine.CampaignDay{Date: day, Done: int64(done), DoneToday: int64(done - prev)})
				prev, day = done, next
			}
			if len(rep.Days) != len(wantDays) {
				t.Fatalf("step %d: %s: %d days, model %d", step, name, len(rep.Days), len(wantDays))
			}
			for i, d := range rep.Days {
				if !d.Date.Equal(wantDays[i].Date) || d.Done != wantDays[i].Done || d.DoneToday != wantDays[i].DoneToday {
					t.Fatalf("step %d: %s: day %d is %v %d (+%d), model %v %d (+%d)", step, name, i, d.Date, d.Done, d.DoneToday,
						wantDays[i].Date, wantDays[i].Done, wantDays[i].DoneToday)
				}
			}
		}
	}
}
