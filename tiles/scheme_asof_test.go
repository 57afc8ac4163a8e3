package tiles

import (
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/maptile"
	"github.com/roomstate/roomstate/engine"
	"github.com/roomstate/roomstate/fault"
	"github.com/roomstate/roomstate/internal/testseed"
	"github.com/roomstate/roomstate/scheme"
)

// swhen is a rule's expression and the model's evaluation of it over a
// dwelling's flags (bits of isolated, vaccinated, rental).
type swhen struct {
	src  string
	eval func(b uint8) bool
}

var swhens = []swhen{
	{"isolated", func(b uint8) bool { return b&1 != 0 }},
	{"vaccinated", func(b uint8) bool { return b&2 != 0 }},
	{"rental", func(b uint8) bool { return b&4 != 0 }},
	{"rental & !vaccinated", func(b uint8) bool { return b&4 != 0 && b&2 == 0 }},
	{"!isolated", func(b uint8) bool { return b&1 == 0 }},
}

// sscheme is a scheme as the tile model keeps it.
type sscheme struct {
	def   scheme.Scheme
	evals []func(uint8) bool
}

// TestSchemeTileAsOfMatchesModel interleaves random scheme puts (new
// schemes, redefinitions of them and of default) with flag changes in a
// small city in one tile, keeping a model at every version; between
// changes it draws, through one cache, the tile as of a random earlier
// version under a random name, so that tiles as of a version are first
// drawn before and after later puts. Each building's state and colour must
// be what the scheme then gives (a scheme made later: not found), and a
// tile as of a version keeps its ETag whenever it is first drawn.
func TestSchemeTileAsOfMatchesModel(t *testing.T) {
	seed := testseed.Get(t)
	rng := rand.New(rand.NewPCG(seed, 43))
	now := time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)
	e := engine.New(engine.Options{Clock: func() time.Time { return now }})
	flags := []string{"isolated", "vaccinated", "rental"}
	b := engine.NewBatch("schemes", flags)
	const nb = 8
	place := func(i int) (float64, float64) { return 121.5 + float64(i%4)*0.0004, 31.2 + float64(i/4)*0.0004 }
	fl := map[string]uint8{}
	bldOf := map[string]string{}
	for i := 0; i < 4*nb; i++ {
		lon, lat := place(i % nb)
		bits := uint8(rng.IntN(8))
		r := engine.Record{ID: fmt.Sprintf("d%d", i), Lon: lon, Lat: lat, Building: fmt.Sprintf("B%d", i%nb), Grid: "G", Street: "S",
			Floor: int16(1 + i/nb), Room: "1", Flags: []uint64{uint64(bits)}}
		if err := b.Add(&r); err != nil {
			t.Fatal(err)
		}
		fl[r.ID], bldOf[r.ID] = bits, r.Building
	}
	if err := e.Load(b); err != nil {
		t.Fatal(err)
	}
	def := &sscheme{def: scheme.Default()}
	for _, r := range def.def.Rules {
		if i := slices.IndexFunc(swhens, func(s swhen) bool { return s.src == r.When }); i >= 0 {
			def.evals = append(def.evals, swhens[i].eval)
		} else {
			def.evals = append(def.evals, func(uint8) bool { return false }) // elderly_alone: not in this city
		}
	}
	schemes := map[string]*sscheme{"default": def}
	type saved struct {
		flags   map[string]uint8
		schemes map[string]*sscheme
	}
	history := map[engine.Version]saved{e.Version(): {maps.Clone(fl), maps.Clone(schemes)}}
	names := []string{"default", "a", "b"}
	// features returns what the model shows as of v under name: per
	// building its state and colour (false: no such scheme then)
	features := func(v engine.Version, name string) (map[string]string, bool) {
		s := history[v]
		sc, ok := s.schemes[name]
		if !ok {
			return nil, false
		}
		first := map[string]int{}
		for id, f := range s.flags {
			st := len(sc.evals)
			for i, ev := range sc.evals {
				if ev(f) {
					st = i
					break
				}
			}
			if cur, ok := first[bldOf[id]]; !ok || st < cur {
				first[bldOf[id]] = st
			}
		}
		out := map[string]string{}
		for bld, st := range first {
			r := sc.def.Default
			if st < len(sc.def.Rules) {
				r = sc.def.Rules[st]
			}
			out[bld] = fmt.Sprintf("state=%s color=%s", r.State, r.Color)
		}
		return out, true
	}
	c := NewCache(e.Engine, 0)
	tl := maptile.At(orb.Point{121.5006, 31.2003}, 15)
	first := map[string]string{} // the ETag of the first tile drawn as of a version, under a name
	drawnAfter := 0              // tiles first drawn after a later put of their name
	check := func(v engine.Version, name, when string) {
		t.Helper()
		req := Request{Z: 15, X: tl.X, Y: tl.Y, Scheme: name, AsOf: engine.At(v)}
		tile, err := c.Get(&req)
		want, ok := features(v, name)
		if !ok {
			if !errors.Is(err, fault.NotFound) {
				t.Fatalf("%s: as of %d: scheme %q, made later: %v, want not found", when, v, name, err)
			}
			return
		}
		if err != nil {
			t.Fatalf("%s: as of %d: scheme %q: %v", when, v, name, err)
		}
		got := map[string]string{}
		for _, f := range decode(t, tile)["buildings"].Features {
			got[f.Properties["id"].(string)] = fmt.Sprintf("state=%v color=%v", f.Properties["state"], f.Properties["color"])
		}
		if !maps.Equal(got, want) {
			t.Fatalf("%s: as of %d under %q: tile shows %v, model %v", when, v, name, got, want)
		}
		k := fmt.Sprintf("%d %s", v, name)
		if f, ok := first[k]; !ok {
			first[k] = tile.ETag
			if history[v].schemes[name] != schemes[name] {
				drawnAfter++
			}
		} else if f != tile.ETag {
			t.Fatalf("%s: as of %d under %q: ETag %s, first drawn with %s", when, v, name, tile.ETag, f)
		}
	}
	colors := []string{"#d7191c", "#fdae61", "#2c7bb6", "#1a9641", "#bdbdbd"}
	ids := slices.Sorted(maps.Keys(fl))
	for step := 0; step < 300; step++ {
		now = now.Add(time.Duration(1+rng.IntN(90)) * time.Minute)
		var op engine.Op
		if rng.IntN(3) == 0 {
			name := names[rng.IntN(len(names))]
			s := &sscheme{}
			for i, n := 0, rng.IntN(4); i < n; i++ {
				w := swhens[rng.IntN(len(swhens))]
				s.def.Rules = append(s.def.Rules, scheme.Rule{State: fmt.Sprintf("s%d-%d", i, step), When: w.src, Label: w.src,
					Color: colors[rng.IntN(len(colors))], Shape: scheme.Shapes[rng.IntN(len(scheme.Shapes))]})
				s.evals = append(s.evals, w.eval)
			}
			s.def.Default = scheme.Rule{State: fmt.Sprintf("rest-%d", step), Label: "其他", Color: colors[rng.IntN(len(colors))], Shape: "circle"}
			sc := s.def
			op = engine.Op{Kind: engine.OpScheme, ID: name, Scheme: &sc}
			schemes[name] = s
		} else {
			id := ids[rng.IntN(len(ids))]
			f := rng.IntN(len(flags))
			op = engine.Op{Kind: engine.OpFlags, ID: id}
			if rng.IntN(2) == 0 {
				op.Set = []string{flags[f]}
				fl[id] |= 1 << f
			} else {
				op.Clear = []string{flags[f]}
				fl[id] &^= 1 << f
			}
		}
		if _, err := e.Apply(engine.Request{Ops: []engine.Op{op}}, now); err != nil {
			t.Fatalf("step %d: %v", step, err)
		}
		history[e.Version()] = saved{maps.Clone(fl), maps.Clone(schemes)}
		vs := slices.Sorted(maps.Keys(history))
		for k := 0; k < 2; k++ {
			check(vs[rng.IntN(len(vs))], names[rng.IntN(len(names))], fmt.Sprintf("step %d", step))
		}
	}
	for _, v := range slices.Sorted(maps.Keys(history)) {
		for _, n := range names {
			check(v, n, "at the end")
		}
	}
	t.Logf("%d tiles first drawn after a later put of their scheme", drawnAfter)
	if drawnAfter < 100 {
		t.Fatal("few tiles were first drawn after their scheme changed: the test shows nothing")
	}
}
