package store

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/roomstate/roomstate/city"
	"github.com/roomstate/roomstate/engine"
)

var writeEarlier = flag.Bool("write-earlier-snapshot", false,
	"write testdata/earlier-build (a data directory's snapshot) with the build running the test, instead of reading it")

// earlierDir holds a data directory's snapshot written by an earlier build:
// 919ddb1 (2026-11-28), which kept a roaring bitmap per flag beside the flag
// words and wrote snapshots from the bitmaps. Made with
// `go test ./store -run TestSnapshotOfAnEarlierBuild -write-earlier-snapshot`
// on that build (this file copied into it).
const earlierDir = "testdata/earlier-build"

// earlierChanges are the changes the earlier build applied before writing
// its snapshot: flags set and cleared, dwellings deleted (dead slots,
// renumbered in the snapshot), put anew and added (in the delta, some
// carrying flags), in several requests.
func earlierChanges(t *testing.T, s *Store, c *city.City) {
	t.Helper()
	var ids []string
	c.Dwellings(func(r *engine.Record) error { ids = append(ids, r.ID); return nil })
	rng := rand.New(rand.NewPCG(919, 28))
	flags := []string{"isolated", "vaccinated", "rental", "elderly_alone"}
	for range 40 {
		var ops []engine.Op
		for range 1 + rng.IntN(12) {
			id := ids[rng.IntN(len(ids))]
			switch k := rng.IntN(10); {
			case k == 0:
				ops = append(ops, engine.Op{Kind: engine.OpDelete, ID: id})
			case k == 1:
				ops = append(ops, engine.Op{Kind: engine.OpPut, ID: fmt.Sprint("added-", rng.IntN(60)),
					Put: &engine.DwellingInput{Lon: 121.47 + rng.Float64()*0.01, Lat: 31.23 + rng.Float64()*0.01,
						District: "D", Street: "S", Community: "C", Grid: "G", Building: fmt.Sprint("B", rng.IntN(5)),
						Floor: 3, Room: "301", Flags: []string{flags[rng.IntN(4)]}}})
			case k < 6:
				ops = append(ops, engine.Op{Kind: engine.OpFlags, ID: id, Set: []string{flags[rng.IntN(4)]}})
			default:
				ops = append(ops, engine.Op{Kind: engine.OpFlags, ID: id, Clear: []string{flags[rng.IntN(4)]}})
			}
		}
		// a request that names a deleted dwelling is refused whole, as it
		// was by the earlier build: what counts is that both refuse alike
		_, _ = submit(s, ops, nil)
	}
}

// TestSnapshotOfAnEarlierBuild: a snapshot written by the earlier build
// (earlierDir) starts a store at the state that build had: its fingerprint
// and every dwelling's flags are those of the same changes applied now.
func TestSnapshotOfAnEarlierBuild(t *testing.T) {
	if *writeEarlier {
		if err := os.RemoveAll(earlierDir); err != nil {
			t.Fatal(err)
		}
		s, _, c := openLoaded(t, 400, Options{Dir: earlierDir, NoSync: true})
		earlierChanges(t, s, c)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		// the snapshot alone: a start from it needs nothing else
		files, _ := os.ReadDir(earlierDir)
		for _, f := range files {
			if !strings.HasPrefix(f.Name(), "snapshot-") {
				os.Remove(filepath.Join(earlierDir, f.Name()))
			}
		}
		return
	}
	dir := t.TempDir()
	files, err := os.ReadDir(earlierDir)
	if err != nil || len(files) == 0 {
		t.Fatalf("no snapshot of an earlier build in %s: %v", earlierDir, err)
	}
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(earlierDir, f.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s, err := Open(Options{Dir: dir, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	m, me, mc := openLoaded(t, 400, Options{})
	defer m.Close()
	earlierChanges(t, m, mc)
	got, want := fingerprint(t, s.Engine()), fingerprint(t, me)
	if got != want {
		t.Fatalf("the earlier build's snapshot restores to\n%s\nthe same changes now give\n%s", got, want)
	}
	var ids []string
	mc.Dwellings(func(r *engine.Record) error { ids = append(ids, r.ID); return nil })
	for i := range 60 {
		ids = append(ids, fmt.Sprint("added-", i))
	}
	dead, flagged := 0, 0
	for _, id := range ids {
		a, aerr := s.Engine().Dwelling(id)
		b, berr := me.Dwelling(id)
		if (aerr == nil) != (berr == nil) {
			t.Fatalf("dwelling %s: restored %v, now %v", id, aerr, berr)
		}
		if berr != nil {
			dead++
			continue
		}
		if !slices.Equal(a.Flags, b.Flags) {
			t.Fatalf("dwelling %s: restored flags %v, now %v", id, a.Flags, b.Flags)
		}
		if len(b.Flags) > 0 {
			flagged++
		}
	}
	if dead < 5 || flagged < 50 {
		t.Fatalf("%d dwellings gone and %d with flags: the snapshot tests too little", dead, flagged)
	}
}
