package engine_test

import (
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/roomstate/roomstate/city"
	"github.com/roomstate/roomstate/engine"
	"github.com/roomstate/roomstate/fault"
	"github.com/roomstate/roomstate/internal/testseed"
)

// rdwell is a dwelling as the responsibility model keeps it.
type rdwell struct {
	id       string
	lon, lat float64
	units    [4]string // district, street, community, grid
	building string
	isolated bool
	flags    []string // the others it carries
}

// rmodel is the brute-force model of dwellings, assignments and visits.
type rmodel struct {
	dw     map[string]*rdwell
	asg    map[[2]string]engine.Assignment // level name, id
	visits map[string]rvisit               // building → last visit
	next   int                             // dwellings added by randomOps
}

// rvisit is a visit as the models keep it.
type rvisit struct {
	at   time.Time
	note string
}

func newRModel(t *testing.T, c *city.City) *rmodel {
	m := &rmodel{dw: map[string]*rdwell{}, asg: map[[2]string]engine.Assignment{}, visits: map[string]rvisit{}}
	names := city.FlagNames()
	_ = c.Dwellings(func(r *engine.Record) error {
		d := &rdwell{id: r.ID, lon: r.Lon, lat: r.Lat, units: [4]string{r.District, r.Street, r.Community, r.Grid}, building: r.Building}
		for i, n := range names {
			if r.Flags[0]>>i&1 != 0 {
				if n == "isolated" {
					d.isolated = true
				} else {
					d.flags = append(d.flags, n)
				}
			}
		}
		m.dw[r.ID] = d
		return nil
	})
	return m
}

// buildings returns every building with a dwelling and its dwellings.
func (m *rmodel) buildings() map[string][]*rdwell {
	out := map[string][]*rdwell{}
	for _, d := range m.dw {
		out[d.building] = append(out[d.building], d)
	}
	return out
}

// home returns a building's unit at level l (0–3): the one most of its
// dwellings are in, ties to the smaller id, "" when none has one.
func home(ds []*rdwell, l int) string {
	n := map[string]int{}
	for _, d := range ds {
		if d.units[l] != "" {
			n[d.units[l]]++
		}
	}
	best, bestN := "", 0
	for u, k := range n {
		if k > bestN || k == bestN && u < best {
			best, bestN = u, k
		}
	}
	return best
}

// responsible resolves a building: its own, its grid's, community's, street's.
func (m *rmodel) responsible(b string, ds []*rdwell) (engine.Assignment, bool) {
	if a, ok := m.asg[[2]string{"building", b}]; ok {
		return a, true
	}
	for _, l := range []int{3, 2, 1} {
		if u := home(ds, l); u != "" {
			if a, ok := m.asg[[2]string{engine.Level(l).String(), u}]; ok {
				return a, true
			}
		}
	}
	return engine.Assignment{}, false
}

var persons = []string{"张三", "李四", "王五", "赵六", "钱七", "孙八"}

// unitIDs lists the units of level l (0–3; 4 for buildings) that hold a
// dwelling of the model.
func (m *rmodel) unitIDs(l int) []string {
	set := map[string]bool{}
	for _, d := range m.dw {
		if l == 4 {
			set[d.building] = true
		} else if d.units[l] != "" {
			set[d.units[l]] = true
		}
	}
	return slices.Sorted(maps.Keys(set))
}

// randomGroup makes one to three random changes as a group of requests:
// assignments at every level (reassignments, removals, now and then of a
// unit with no dwelling yet), flags, moves (into another building or a new
// one, maybe to other units), deletes, visits and new dwellings; prepares
// and commits them at now, and applies to the model those the engine
// accepted (refused: only a change of what an earlier request of the group
// deleted), calling applied after each.
func (m *rmodel) randomGroup(t *testing.T, w *engine.Writer, rng *rand.Rand, now time.Time, step int, applied func()) {
	t.Helper()
	pick := func(s []string) string { return s[rng.IntN(len(s))] }
	var reqs []engine.Request
	var effects []func()
	for k := 1 + rng.IntN(3); k > 0; k-- {
		ids := slices.Sorted(maps.Keys(m.dw))
		var op engine.Op
		var effect func()
		switch r := rng.IntN(100); {
		case r < 30: // assign, reassign or remove
			// buildings most often, streets least: some buildings stay without anyone
			lv := []engine.Level{engine.LevelBuilding, engine.LevelBuilding, engine.LevelBuilding, engine.LevelBuilding,
				engine.LevelGrid, engine.LevelGrid, engine.LevelGrid, engine.LevelCommunity, engine.LevelCommunity, engine.LevelStreet}[rng.IntN(10)]
			li := map[engine.Level]int{engine.LevelBuilding: 4, engine.LevelGrid: 3, engine.LevelCommunity: 2, engine.LevelStreet: 1}[lv]
			id := pick(m.unitIDs(li))
			if rng.IntN(20) == 0 {
				id = fmt.Sprintf("NEW-%d", rng.IntN(5)) // a unit with no dwelling yet
			}
			person, team := pick(persons), fmt.Sprintf("T%d", rng.IntN(3))
			if rng.IntN(3) == 0 || lv == engine.LevelStreet && rng.IntN(2) == 0 {
				person, team = "", ""
			}
			op = engine.Op{Kind: engine.OpAssign, ID: id, Assign: &engine.AssignInput{Level: lv, Person: person, Team: team}}
			effect = func() {
				k := [2]string{lv.String(), id}
				if person == "" {
					delete(m.asg, k)
				} else {
					m.asg[k] = engine.Assignment{Level: lv, ID: id, Person: person, Team: team}
				}
			}
		case r < 50: // a flag
			d := m.dw[pick(ids)]
			on := rng.IntN(2) == 0
			op = engine.Op{Kind: engine.OpFlags, ID: d.id}
			if on {
				op.Set = []string{"isolated"}
			} else {
				op.Clear = []string{"isolated"}
			}
			// a new record, not the old one changed: a saved model keeps it
			effect = func() { nd := *m.dw[d.id]; nd.isolated = on; m.dw[d.id] = &nd }
		case r < 68: // a move, maybe into another building or a new one, maybe to other units
			d := m.dw[pick(ids)]
			nd := *d
			other := m.dw[pick(ids)]
			switch rng.IntN(3) {
			case 0:
				nd.building = other.building
			case 1:
				nd.building, nd.units = other.building, other.units
			case 2:
				nd.units = other.units
				if rng.IntN(2) == 0 {
					nd.building = fmt.Sprintf("NB-%d", rng.IntN(8))
				}
			}
			op = putOp(&nd)
			effect = func() { m.dw[d.id] = &nd }
		case r < 73: // a delete
			id := pick(ids)
			op = engine.Op{Kind: engine.OpDelete, ID: id}
			effect = func() { delete(m.dw, id) }
		case r < 88: // a visit
			bld := pick(m.unitIDs(4))
			note := fmt.Sprintf("扫楼 %d", step)
			op = engine.Op{Kind: engine.OpVisit, ID: bld, Visit: &engine.VisitInput{By: "worker", Note: note}}
			effect = func() { m.visits[bld] = rvisit{now, note} }
		default: // a new dwelling
			other := m.dw[pick(ids)]
			m.next++
			nd := rdwell{id: fmt.Sprintf("X-%d", m.next), lon: other.lon, lat: other.lat, units: other.units, building: other.building}
			op = putOp(&nd)
			effect = func() { m.dw[nd.id] = &nd }
		}
		reqs = append(reqs, engine.Request{Ops: []engine.Op{op}})
		effects = append(effects, effect)
	}
	p := w.Prepare(reqs)
	for i, err := range p.Errs {
		if err != nil {
			// a visit or change of what an earlier request of the group deleted
			if !errors.Is(err, fault.NotFound) {
				t.Fatalf("step %d: request %d refused: %v", step, i, err)
			}
			effects[i] = nil
		}
	}
	w.Commit(p, now)
	w.Maintain()
	for _, f := range effects {
		if f != nil {
			f()
			if applied != nil {
				applied()
			}
		}
	}
}

// TestResponsibilityMatchesModel applies random assignments at every level,
// reassignments and removals, visits, and changes of dwellings (flags, moves
// that make buildings span units, new buildings, deletes) to the engine and
// to a brute-force model, grouped several requests to a Prepare now and
// then; after each step every building's responsible person, the coverage
// of every level (with where and stale) and every person's workload must
// be the model's.
func TestResponsibilityMatchesModel(t *testing.T) {
	seed := testseed.Get(t)
	rng := rand.New(rand.NewPCG(seed, 12))
	c := city.New(city.Config{N: 6000, Seed: seed})
	b, _ := c.Batch()
	now := time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)
	w := engine.New(engine.Options{DeltaLimit: 200, Clock: func() time.Time { return now }})
	if err := w.Load(b); err != nil {
		t.Fatal(err)
	}
	m := newRModel(t, c)
	unassignedSeen := 0
	for step := 0; step < 300; step++ {
		now = now.Add(time.Duration(1+rng.IntN(180)) * time.Minute)
		m.randomGroup(t, w, rng, now, step, nil)
		if step%5 == 0 || step == 299 {
			unassignedSeen += checkResponsibility(t, w, m, now, step)
		}
	}
	// the run met what it is about
	mixed, assigned := 0, 0
	for b, ds := range m.buildings() {
		if home(ds, 3) != ds[0].units[3] || slices.ContainsFunc(ds, func(d *rdwell) bool { return d.units[3] != ds[0].units[3] }) {
			mixed++
		}
		if _, ok := m.responsible(b, ds); ok {
			assigned++
		}
	}
	t.Logf("%d buildings span grids, %d of %d have a responsible person, %d assignments, %d visited; %d unassigned buildings met by the checks",
		mixed, assigned, len(m.buildings()), len(m.asg), len(m.visits), unassignedSeen)
	if mixed == 0 || assigned == 0 || unassignedSeen == 0 || len(m.visits) == 0 {
		t.Fatal("the random changes made no building span grids, or assigned or visited none")
	}
}

func putOp(d *rdwell) engine.Op {
	flags := slices.Clone(d.flags)
	if d.isolated {
		flags = append(flags, "isolated")
	}
	return engine.Op{Kind: engine.OpPut, ID: d.id, Put: &engine.DwellingInput{Lon: d.lon, Lat: d.lat, District: d.units[0],
		Street: d.units[1], Community: d.units[2], Grid: d.units[3], Building: d.building, Floor: 1, Room: "1", Flags: flags}}
}

// checkResponsibility compares the engine with the model; it returns the
// number of buildings nobody answers for.
func checkResponsibility(t *testing.T, w *engine.Writer, m *rmodel, now time.Time, step int) (unassigned int) {
	t.Helper()
	blds := m.buildings()
	// every building's responsible person
	ids := slices.Sorted(maps.Keys(blds))
	got, _, _, _, err := w.BuildingSummaries(ids, "", "default", "")
	if err != nil || len(got) != len(ids) {
		t.Fatalf("step %d: %d summaries of %d buildings: %v", step, len(got), len(ids), err)
	}
	for _, tb := range got {
		want, ok := m.responsible(tb.ID, blds[tb.ID])
		if !ok {
			unassigned++
		}
		if ok != (tb.Responsible != nil) || ok && *tb.Responsible != want {
			t.Fatalf("step %d: building %s: responsible %+v, model %+v (%v)", step, tb.ID, tb.Responsible, want, ok)
		}
		if v, ok := m.visits[tb.ID]; ok != (tb.LastVisit != 0) || ok && v.at.UnixMilli() != tb.LastVisit {
			t.Fatalf("step %d: building %s: last visit %d, model %v", step, tb.ID, tb.LastVisit, v)
		}
	}
	// coverage of every level
	stale := 6 * time.Hour
	for l := 0; l < 4; l++ {
		level := engine.Level(l)
		res, err := w.Coverage(engine.CoverageQuery{Level: level.String(), Where: "isolated", Stale: stale, ListUnassigned: l%2 == 0})
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]*engine.CoverageUnit{}
		for _, d := range m.dw {
			if u := d.units[l]; u != "" && want[u] == nil {
				want[u] = &engine.CoverageUnit{Level: level, ID: u}
			}
		}
		for b, ds := range blds {
			u := home(ds, l)
			if u == "" {
				continue
			}
			row := want[u]
			row.Buildings++
			if _, ok := m.responsible(b, ds); !ok {
				row.Unassigned++
				if l%2 == 0 {
					row.UnassignedIDs = append(row.UnassignedIDs, b)
				}
				for _, d := range ds {
					if d.isolated {
						row.MatchedUnassigned++
					}
				}
				continue
			}
			row.Assigned++
			if v, ok := m.visits[b]; !ok || v.at.Before(now.Add(-stale)) {
				row.Stale++
			}
		}
		if len(res.Units) != len(want) {
			t.Fatalf("step %d: %s: %d units, model %d", step, level, len(res.Units), len(want))
		}
		for i := range res.Units {
			g := res.Units[i]
			g.Name = ""
			wu := want[g.ID]
			if wu != nil {
				slices.Sort(wu.UnassignedIDs)
				if !slices.Equal(g.UnassignedIDs, wu.UnassignedIDs) {
					t.Fatalf("step %d: %s %s: unassigned buildings %q, model %q", step, level, g.ID, g.UnassignedIDs, wu.UnassignedIDs)
				}
			}
			g.UnassignedIDs = nil
			if wu != nil {
				c := *wu
				c.UnassignedIDs = nil
				wu = &c
			}
			if wu == nil || !reflect.DeepEqual(g, *wu) {
				t.Fatalf("step %d: %s %s: coverage %+v, model %+v", step, level, g.ID, g, wu)
			}
		}
	}
	// every person's workload
	for _, p := range persons {
		pw, err := w.PersonWork(p, "isolated")
		var units []engine.Assignment
		for _, a := range m.asg {
			if a.Person == p {
				units = append(units, a)
			}
		}
		if len(units) == 0 {
			if !errors.Is(err, fault.NotFound) {
				t.Fatalf("step %d: %s answers for nothing, yet %v", step, p, err)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(pw.Units) != len(units) {
			t.Fatalf("step %d: %s: %d units, model %d", step, p, len(pw.Units), len(units))
		}
		for _, u := range pw.Units {
			if m.asg[[2]string{u.Level.String(), u.ID}] != u {
				t.Fatalf("step %d: %s: unit %+v not the model's", step, p, u)
			}
		}
		var wantB []string
		var total, matched int64
		for b, ds := range blds {
			if a, ok := m.responsible(b, ds); ok && a.Person == p {
				wantB = append(wantB, b)
				total += int64(len(ds))
				for _, d := range ds {
					if d.isolated {
						matched++
					}
				}
			}
		}
		slices.Sort(wantB)
		var gotB []string
		for _, b := range pw.Buildings {
			gotB = append(gotB, b.ID)
		}
		if strings.Join(gotB, ",") != strings.Join(wantB, ",") || pw.Total != total || pw.Matched != matched {
			t.Fatalf("step %d: %s: buildings %v (%d/%d), model %v (%d/%d)", step, p, gotB, pw.Total, pw.Matched, wantB, total, matched)
		}
	}
	return unassigned
}

// TestAsOfWithOtherChanges: changes that are not to a dwelling (assignments,
// visits, campaigns) take versions of their own and leave every question
// as of a past time exact. Two engines take the same changes of dwellings
// at the same times, one with such changes between them; as of every time,
// both must give the same units, legend and series.
func TestAsOfWithOtherChanges(t *testing.T) {
	seed := testseed.Get(t)
	rng := rand.New(rand.NewPCG(seed, 14))
	c := city.New(city.Config{N: 4000, Seed: seed})
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	now := t0
	clock := func() time.Time { return now }
	var ws [2]*engine.Writer
	for i := range ws {
		b, _ := c.Batch()
		ws[i] = engine.New(engine.Options{DeltaLimit: 100, Clock: clock})
		if err := ws[i].Load(b); err != nil {
			t.Fatal(err)
		}
	}
	m := newRModel(t, c)
	ids := slices.Sorted(maps.Keys(m.dw))
	// the first dwelling (number 0) carries flags: a change of no dwelling
	// taken for one of it would show
	var first string
	_ = c.Dwellings(func(r *engine.Record) error {
		if first == "" {
			first = r.ID
		}
		return nil
	})
	for _, w := range ws {
		if _, err := w.Apply(engine.Request{Ops: []engine.Op{{Kind: engine.OpFlags, ID: first, Set: []string{"isolated", "rental", "vaccinated"}}}}, now); err != nil {
			t.Fatal(err)
		}
	}
	var times []time.Time
	for step := 0; step < 200; step++ {
		now = now.Add(time.Duration(1+rng.IntN(30)) * time.Minute)
		d := m.dw[ids[rng.IntN(len(ids))]]
		op := engine.Op{Kind: engine.OpFlags, ID: d.id, Set: []string{"isolated"}}
		if rng.IntN(2) == 0 {
			op = engine.Op{Kind: engine.OpFlags, ID: d.id, Clear: []string{"isolated"}, Set: []string{"rental"}}
		}
		for _, w := range ws {
			if _, err := w.Apply(engine.Request{Ops: []engine.Op{op}}, now); err != nil {
				t.Fatal(err)
			}
		}
		var other engine.Op
		switch rng.IntN(3) {
		case 0:
			other = engine.Op{Kind: engine.OpVisit, ID: d.building, Visit: &engine.VisitInput{}}
		case 1:
			other = engine.Op{Kind: engine.OpAssign, ID: d.units[3], Assign: &engine.AssignInput{Level: engine.LevelGrid, Person: persons[rng.IntN(len(persons))]}}
		default:
			other = engine.Op{Kind: engine.OpCampaign, ID: fmt.Sprintf("c%d", step), Campaign: &engine.CampaignInput{Target: "isolated", Goal: "!isolated"}}
			if step > 10 && rng.IntN(3) != 0 {
				other = engine.Op{Kind: engine.OpEndCampaign, ID: fmt.Sprintf("c%d", step-rng.IntN(10)-1)}
			}
		}
		if _, err := ws[0].Apply(engine.Request{Ops: []engine.Op{other}}, now); err != nil && !errors.Is(err, fault.NotFound) && !errors.Is(err, fault.TooLarge) {
			t.Fatal(err)
		}
		times = append(times, now.Add(time.Duration(rng.IntN(60))*time.Second))
	}
	if ws[0].Version() <= ws[1].Version() {
		t.Fatal("the other changes took no versions")
	}
	var at []time.Time
	for i := 0; i < len(times); i += 7 {
		at = append(at, times[i])
	}
	for _, tm := range at {
		var got [2]string
		for i, w := range ws {
			v, err := w.VersionAt(tm)
			if err != nil {
				t.Fatal(err)
			}
			us, err := w.Units(engine.UnitsQuery{Level: "grid", Where: "isolated", AsOf: engine.At(v)})
			if err != nil {
				t.Fatal(err)
			}
			legend, _, err := w.StateCounts("rental", "default", engine.At(v))
			if err != nil {
				t.Fatal(err)
			}
			got[i] = fmt.Sprint(us.Units, legend)
		}
		if got[0] != got[1] {
			t.Fatalf("as of %v: with other changes\n%s\nwithout\n%s", tm, got[0], got[1])
		}
	}
	var series [2]string
	for i, w := range ws {
		pts, _, err := w.Series(engine.SeriesQuery{Where: "isolated", At: at})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range pts {
			series[i] += fmt.Sprint(p.Counts)
		}
	}
	if series[0] != series[1] {
		t.Fatalf("series with other changes %s, without %s", series[0], series[1])
	}
}
