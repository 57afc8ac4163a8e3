package engine_test

import (
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/roomstate/roomstate/engine"
	"github.com/roomstate/roomstate/fault"
	"github.com/roomstate/roomstate/internal/testseed"
	"github.com/roomstate/roomstate/scheme"
)

// sflags are the flags of the scheme model's city, by bit.
var sflags = []string{"isolated", "vaccinated", "rental", "elderly_alone"}

// swhen is a rule's expression with the model's way to evaluate it over a
// dwelling's flag bits (of sflags).
type swhen struct {
	src  string
	eval func(b uint8) bool
}

var swhens = []swhen{
	{"isolated", func(b uint8) bool { return b&1 != 0 }},
	{"vaccinated", func(b uint8) bool { return b&2 != 0 }},
	{"rental", func(b uint8) bool { return b&4 != 0 }},
	{"elderly_alone", func(b uint8) bool { return b&8 != 0 }},
	{"rental & !vaccinated", func(b uint8) bool { return b&4 != 0 && b&2 == 0 }},
	{"isolated | elderly_alone", func(b uint8) bool { return b&9 != 0 }},
	{"!vaccinated", func(b uint8) bool { return b&2 == 0 }},
}

// sscheme is a scheme as the model keeps it: the definition and each
// rule's evaluation.
type sscheme struct {
	def   scheme.Scheme
	evals []func(uint8) bool
}

// stateOf is the index of the first rule that holds for flags b, the
// default's (len(rules)) when none does.
func (s *sscheme) stateOf(b uint8) int {
	for i, f := range s.evals {
		if f(b) {
			return i
		}
	}
	return len(s.evals)
}

// smodel is the model at one version: each dwelling's flags and building,
// and the schemes by name.
type smodel struct {
	v       engine.Version
	flags   map[string]uint8
	bld     map[string]string
	schemes map[string]*sscheme
}

// randomScheme makes a scheme of 0–4 rules of random expressions, colours
// and shapes.
func randomScheme(rng *rand.Rand) *sscheme {
	colors := []string{"#d7191c", "#fdae61", "#2c7bb6", "#1a9641", "#bdbdbd", "#abc", "#123456", "#ff00ff80"}
	rule := func(state string) scheme.Rule {
		return scheme.Rule{State: state, Label: "标签 " + state, LabelEN: "label " + state,
			Color: colors[rng.IntN(len(colors))], Shape: scheme.Shapes[rng.IntN(len(scheme.Shapes))]}
	}
	s := &sscheme{}
	for i, n := 0, rng.IntN(5); i < n; i++ {
		w := swhens[rng.IntN(len(swhens))]
		r := rule(fmt.Sprintf("s%d-%d", i, rng.IntN(100)))
		r.When = w.src
		s.def.Rules = append(s.def.Rules, r)
		s.evals = append(s.evals, w.eval)
	}
	s.def.Default = rule("rest")
	return s
}

// schemeNames are the names the random puts use; default exists from the
// start, the others are made by their first put.
var schemeNames = []string{"default", "a", "b", "c"}

// TestSchemeAsOfMatchesModel interleaves random scheme puts (new schemes,
// redefinitions of them and of default) with flag changes, keeping a
// model at every version; then, as of every version and for every name,
// the legend, building room-state maps and the tiles' data must colour by
// the scheme as it was then (a scheme made later is not found then), also
// after a snapshot round trip.
func TestSchemeAsOfMatchesModel(t *testing.T) {
	seed := testseed.Get(t)
	rng := rand.New(rand.NewPCG(seed, 41))
	now := time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)
	w := engine.New(engine.Options{DeltaLimit: 8, Clock: func() time.Time { return now }})
	b := engine.NewBatch("schemes", sflags)
	m := &smodel{flags: map[string]uint8{}, bld: map[string]string{}, schemes: map[string]*sscheme{}}
	for i := 0; i < 60; i++ {
		bits := uint8(rng.IntN(16))
		r := engine.Record{ID: fmt.Sprintf("d%02d", i), Lon: 121.5 + float64(i%8)*0.001, Lat: 31.2 + float64(i%8/4)*0.001,
			Building: fmt.Sprintf("B%d", i%8), Grid: "G", Community: "C", Street: "S", Floor: int16(1 + i/8), Room: "1",
			Flags: []uint64{uint64(bits)}}
		if err := b.Add(&r); err != nil {
			t.Fatal(err)
		}
		m.flags[r.ID], m.bld[r.ID] = bits, r.Building
	}
	if err := w.Load(b); err != nil {
		t.Fatal(err)
	}
	def := &sscheme{def: scheme.Default()}
	for _, r := range def.def.Rules {
		i := slices.IndexFunc(swhens, func(s swhen) bool { return s.src == r.When })
		def.evals = append(def.evals, swhens[i].eval)
	}
	m.schemes["default"] = def
	clone := func() smodel {
		return smodel{v: w.Version(), flags: maps.Clone(m.flags), bld: maps.Clone(m.bld), schemes: maps.Clone(m.schemes)}
	}
	saved := []smodel{clone()}
	ids := slices.Sorted(maps.Keys(m.flags))
	for step := 0; step < 400; step++ {
		now = now.Add(time.Duration(1+rng.IntN(90)) * time.Minute)
		var op engine.Op
		switch r := rng.IntN(12); {
		case r < 4:
			name := schemeNames[rng.IntN(len(schemeNames))]
			s := randomScheme(rng)
			def := s.def
			op = engine.Op{Kind: engine.OpScheme, ID: name, Scheme: &def}
			m.schemes[name] = s
		case r < 5: // a new dwelling (enough of them compact the state, compiling the schemes again)
			id, i, bits := fmt.Sprintf("x%03d", step), rng.IntN(8), uint8(rng.IntN(16))
			in := &engine.DwellingInput{Lon: 121.5 + float64(i)*0.001, Lat: 31.2 + float64(i/4)*0.001, Building: fmt.Sprintf("B%d", i),
				Grid: "G", Community: "C", Street: "S", Floor: 9, Room: id}
			for f := range sflags {
				if bits>>f&1 != 0 {
					in.Flags = append(in.Flags, sflags[f])
				}
			}
			op = engine.Op{Kind: engine.OpPut, ID: id, Put: in}
			m.flags[id], m.bld[id] = bits, in.Building
		default:
			id := ids[rng.IntN(len(ids))]
			f := rng.IntN(len(sflags))
			op = engine.Op{Kind: engine.OpFlags, ID: id}
			if rng.IntN(2) == 0 {
				op.Set = []string{sflags[f]}
				m.flags[id] |= 1 << f
			} else {
				op.Clear = []string{sflags[f]}
				m.flags[id] &^= 1 << f
			}
		}
		if _, err := w.Apply(engine.Request{Ops: []engine.Op{op}}, now); err != nil {
			t.Fatalf("step %d: %v", step, err)
		}
		saved = append(saved, clone())
	}
	restored := engine.New(engine.Options{Clock: func() time.Time { return now }})
	if err := restored.Restore(w.Export()); err != nil {
		t.Fatal(err)
	}
	for _, e := range []*engine.Engine{w.Engine, restored.Engine} {
		checkSchemesAsOf(t, e, saved)
	}
}

// checkSchemesAsOf compares what e shows as of every saved version, under
// every scheme name, with the model then.
func checkSchemesAsOf(t *testing.T, e *engine.Engine, saved []smodel) {
	t.Helper()
	world := [4]int32{-1_800_000_000, -900_000_000, 1_800_000_000, 900_000_000}
	cur := saved[len(saved)-1]
	differs, unknown := 0, 0
	for _, s := range saved {
		at := engine.At(s.v)
		for _, name := range schemeNames {
			sc, ok := s.schemes[name]
			if !ok {
				// made later: as unknown as a name never put
				unknown++
				_, _, err1 := e.StateCounts("", name, at)
				_, err2 := e.BuildingRoomState("B0", name, at)
				_, err3 := e.TileData(&engine.TileQuery{BBox: world, Scheme: name, AsOf: at})
				_, _, err4 := e.SchemeAsOf(name, at)
				for i, err := range []error{err1, err2, err3, err4} {
					if !errors.Is(err, fault.NotFound) {
						t.Fatalf("as of %d: scheme %q, made later: answer %d: %v, want not found", s.v, name, i, err)
					}
				}
				continue
			}
			if now, ok := cur.schemes[name]; !ok || !scheme.Equal(now.def, sc.def) {
				differs++
			}
			all := append(slices.Clone(sc.def.Rules), sc.def.Default)
			if got, v, err := e.SchemeAsOf(name, at); err != nil || v != s.v || !scheme.Equal(got, sc.def) {
				t.Fatalf("as of %d: scheme %q: %+v (version %d, %v), model %+v", s.v, name, got, v, err, sc.def)
			}
			// the legend: dwellings per state then
			legend, v, err := e.StateCounts("", name, at)
			if err != nil || v != s.v {
				t.Fatalf("as of %d: legend of %q: version %d, %v", s.v, name, v, err)
			}
			counts := make([]int, len(all))
			for _, f := range s.flags {
				counts[sc.stateOf(f)]++
			}
			if len(legend) != len(all) {
				t.Fatalf("as of %d: legend of %q has %d states, model %d", s.v, name, len(legend), len(all))
			}
			for i := range legend {
				if legend[i].Rule != all[i] || legend[i].Count != counts[i] {
					t.Fatalf("as of %d: legend of %q: state %d is %+v, model %+v × %d", s.v, name, i, legend[i], all[i], counts[i])
				}
			}
			// the tiles' data: each building's state and the rules then
			td, err := e.TileData(&engine.TileQuery{BBox: world, Scheme: name, AsOf: at})
			if err != nil || td.Version != s.v || !slices.Equal(td.Rules, all) {
				t.Fatalf("as of %d: tile data of %q: version %d, rules %+v, %v; model %+v", s.v, name, td.Version, td.Rules, err, all)
			}
			want := map[string]int{}
			for id, f := range s.flags {
				b := s.bld[id]
				if st, ok := want[b]; !ok || sc.stateOf(f) < st {
					want[b] = sc.stateOf(f)
				}
			}
			if len(td.Buildings) != len(want) {
				t.Fatalf("as of %d: tile data of %q: %d buildings, model %d", s.v, name, len(td.Buildings), len(want))
			}
			for _, tb := range td.Buildings {
				if tb.State != want[tb.ID] {
					t.Fatalf("as of %d: tile data of %q: building %s in state %d, model %d", s.v, name, tb.ID, tb.State, want[tb.ID])
				}
			}
			// a building's room-state map: every room's state, the scheme
			// and the legend then
			bld := fmt.Sprintf("B%d", int(s.v)%8)
			rs, err := e.BuildingRoomState(bld, name, at)
			if err != nil || rs.Version != s.v || !scheme.Equal(rs.Scheme, sc.def) {
				t.Fatalf("as of %d: room-state map of %s under %q: %v, version %d, scheme %+v; model %+v", s.v, bld, name, err, rs.Version, rs.Scheme, sc.def)
			}
			bcounts := make([]int, len(all))
			for _, fl := range rs.Buildings[0].Floors {
				for _, r := range fl.Rooms {
					if want := sc.stateOf(s.flags[r.ID]); r.State != want {
						t.Fatalf("as of %d: room-state map of %s under %q: room %s in state %d, model %d", s.v, bld, name, r.ID, r.State, want)
					}
					bcounts[r.State]++
				}
			}
			for i, le := range rs.Buildings[0].Legend {
				if le.Rule != all[i] || le.Count != bcounts[i] {
					t.Fatalf("as of %d: room-state map of %s under %q: legend %d is %+v, model %+v × %d", s.v, bld, name, i, le, all[i], bcounts[i])
				}
			}
		}
	}
	t.Logf("%d versions checked; as of them %d schemes differed from now's and %d were not made yet", len(saved), differs, unknown)
	if differs < len(saved) || unknown == 0 {
		t.Fatal("the random puts left the schemes mostly as they are now: the test shows nothing")
	}
}

// TestSchemeLogTrimmed: the scheme puts kept for answers as of a past
// version go with the history's retention window, and a snapshot keeps
// only those after its oldest version.
func TestSchemeLogTrimmed(t *testing.T) {
	now := time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)
	w := engine.New(engine.Options{History: 24 * time.Hour, Clock: func() time.Time { return now }})
	b := engine.NewBatch("trim", sflags)
	if err := b.Add(&engine.Record{ID: "d1", Lon: 121.5, Lat: 31.2, Building: "B1"}); err != nil {
		t.Fatal(err)
	}
	if err := w.Load(b); err != nil {
		t.Fatal(err)
	}
	put := func(name string) engine.Version {
		t.Helper()
		sc := randomScheme(rand.New(rand.NewPCG(uint64(now.Unix()), 1))).def
		evs, err := w.Apply(engine.Request{Ops: []engine.Op{{Kind: engine.OpScheme, ID: name, Scheme: &sc}}}, now)
		if err != nil {
			t.Fatal(err)
		}
		return evs[0].Version
	}
	v1 := put("a")
	now = now.Add(2 * time.Hour)
	v2 := put("a")
	if log := w.Export().SchemeLog; len(log) != 2 || log[0].Ver != uint64(v1) || log[0].Had || log[1].Ver != uint64(v2) || !log[1].Had {
		t.Fatalf("after two puts: %+v", log)
	}
	if _, _, err := w.SchemeAsOf("a", engine.At(v1-1)); !errors.Is(err, fault.NotFound) {
		t.Fatalf("as of before its first put: %v", err)
	}
	// a day later the first put is out of the window, the second not yet
	now = now.Add(23 * time.Hour)
	put("b")
	oldest, _, _, _ := w.History()
	log := w.Export().SchemeLog
	if oldest < v1 || len(log) != 2 || log[0].Ver != uint64(v2) || log[1].Name != "b" {
		t.Fatalf("oldest %d: the log kept %+v", oldest, log)
	}
	for _, c := range log {
		if c.Ver <= uint64(oldest) {
			t.Fatalf("oldest %d: the log kept a put of version %d", oldest, c.Ver)
		}
	}
}
