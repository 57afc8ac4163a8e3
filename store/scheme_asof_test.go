package store

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/roomstate/roomstate/engine"
	"github.com/roomstate/roomstate/fault"
	"github.com/roomstate/roomstate/scheme"
)

// TestSchemesAsOfDurable: answers as of a past version colour by the
// schemes as they were then (a scheme made later is not found then), and
// still do after a crash (the log replayed) and after a clean restart
// (from the snapshot alone: the snapshot keeps the puts the history
// retains, with what each replaced).
func TestSchemesAsOfDurable(t *testing.T) {
	dir := t.TempDir()
	clk := &clock{t: time.Date(2026, 11, 20, 6, 0, 0, 0, time.UTC)}
	s, e, c := openLoaded(t, 2_000, Options{Dir: dir, Clock: clk.now})
	all := ids(c)
	d0, err := e.Dwelling(all[0])
	if err != nil {
		t.Fatal(err)
	}
	bld := d0.Building
	who := &Who{Name: "admin", Role: "admin"}
	// then: the definition of each name as of each version (absent: none)
	then := map[engine.Version]map[string]scheme.Scheme{}
	defs := map[string]scheme.Scheme{"default": scheme.Default()}
	v0 := e.Version()
	then[v0] = map[string]scheme.Scheme{"default": scheme.Default()}
	names := []string{"default", "a", "b"}
	put := func(name string, rules int, color string) {
		t.Helper()
		clk.add(time.Hour)
		sc := scheme.Default()
		sc.Rules = sc.Rules[:rules]
		sc.Default.Color = color
		if _, err := s.PutScheme(name, sc, who); err != nil {
			t.Fatal(err)
		}
		defs[name] = sc
	}
	flag := func(i int, set bool) {
		t.Helper()
		clk.add(time.Hour)
		op := engine.Op{Kind: engine.OpFlags, ID: all[i]}
		if set {
			op.Set = []string{"isolated"}
		} else {
			op.Clear = []string{"isolated"}
		}
		if _, err := s.Submit(engine.Request{Ops: []engine.Op{op}}, who); err != nil {
			t.Fatal(err)
		}
	}
	step := func(f func()) {
		f()
		m := map[string]scheme.Scheme{}
		for n, sc := range defs {
			m[n] = sc
		}
		then[e.Version()] = m
	}
	step(func() { flag(0, true) })
	step(func() { put("a", 1, "#111111") })
	step(func() { flag(1, true) })
	step(func() { put("default", 2, "#222222") })
	step(func() { put("a", 3, "#333333") })
	step(func() { flag(0, false) })
	step(func() { put("b", 0, "#444444") })
	step(func() { put("default", 4, "#555555") })
	// picture describes, as of every version, each name's legend and the
	// states of a building's rooms, checking the schemes against then's
	picture := func(e *engine.Engine) string {
		t.Helper()
		out := ""
		for v := v0; v <= e.Version(); v++ {
			for _, n := range names {
				want, ok := then[v][n]
				legend, lv, err := e.StateCounts("", n, engine.At(v))
				rs, rerr := e.BuildingRoomState(bld, n, engine.At(v))
				if !ok {
					if !errors.Is(err, fault.NotFound) || !errors.Is(rerr, fault.NotFound) {
						t.Fatalf("as of %d: scheme %q, made later: %v, %v", v, n, err, rerr)
					}
					out += fmt.Sprintf("as of %d: %s not found\n", v, n)
					continue
				}
				if err != nil || rerr != nil || lv != v || rs.Version != v {
					t.Fatalf("as of %d: scheme %q: %v, %v (versions %d, %d)", v, n, err, rerr, lv, rs.Version)
				}
				rules := make([]scheme.Rule, len(legend))
				for i := range legend {
					rules[i] = legend[i].Rule
				}
				if wantAll := append(slices.Clone(want.Rules), want.Default); !slices.Equal(rules, wantAll) || !scheme.Equal(rs.Scheme, want) {
					t.Fatalf("as of %d: scheme %q: legend %+v, map's %+v; then %+v", v, n, rules, rs.Scheme, want)
				}
				out += fmt.Sprintf("as of %d: %s %v rooms", v, n, legend)
				for _, fl := range rs.Buildings[0].Floors {
					for _, r := range fl.Rooms {
						out += fmt.Sprintf(" %s=%d", r.ID, r.State)
					}
				}
				out += "\n"
			}
		}
		return out
	}
	want := picture(e)
	// a crash: the log replayed
	s.wal.Close()
	s2, err := Open(Options{Dir: dir, Clock: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	if got := picture(s2.Engine()); got != want {
		t.Fatalf("after a crash:\n%s\nbefore:\n%s", got, want)
	}
	// a clean restart: the snapshot, and no log before it
	if err := s2.Close(); err != nil {
		t.Fatal(err)
	}
	s3, err := Open(Options{Dir: dir, Clock: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	defer s3.Close()
	if got := picture(s3.Engine()); got != want {
		t.Fatalf("after a restart:\n%s\nbefore:\n%s", got, want)
	}
}
