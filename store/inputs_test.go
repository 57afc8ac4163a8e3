package store

import (
	"fmt"
	"testing"
	"time"

	"github.com/paulmach/orb"
	"github.com/roomstate/roomstate/engine"
)

// TestInputsRecordedWithTheLoad: the files a load comes from are recorded
// in the snapshot that makes the load durable, so that a crash right after
// the load (nothing closed cleanly) reopens both; later snapshots and a
// clean close carry the list on; a rejected load records nothing.
func TestInputsRecordedWithTheLoad(t *testing.T) {
	dir := t.TempDir()
	at := time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)
	clock := func() time.Time { return at }
	batch := func(name string, ids ...string) *engine.Batch {
		b := engine.NewBatch(name, []string{"isolated"})
		for _, id := range ids {
			if err := b.Add(&engine.Record{ID: id, Lon: 121.5, Lat: 31.2, Grid: "G1", Building: "B1"}); err != nil {
				t.Fatal(err)
			}
		}
		return b
	}
	s, err := Open(Options{Dir: dir, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Inputs()) != 0 {
		t.Fatalf("a new directory lists inputs: %v", s.Inputs())
	}
	a := Input{Kind: InputDwellings, Path: "a.csv", SHA256: "aa"}
	if err := s.LoadInputs([]*engine.Batch{batch("a.csv", "a1", "a2")}, nil, []Input{a}); err != nil {
		t.Fatal(err)
	}
	// a crash right after the load: nothing flushed nor closed
	crash(s)
	s, err = Open(Options{Dir: dir, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	want := show([]Input{{Kind: InputDwellings, Path: "a.csv", SHA256: "aa", Load: 1, Time: at}})
	if got := show(s.Inputs()); got != want {
		t.Fatalf("after a crash: %s, want %s", got, want)
	}
	// a rejected load (a1 is held already) records nothing
	if err := s.LoadInputs([]*engine.Batch{batch("bad.csv", "a1")}, nil, []Input{{Kind: InputDwellings, Path: "bad.csv", SHA256: "bb"}}); err == nil {
		t.Fatal("a duplicate id was loaded")
	}
	// a second load, a change, a snapshot of its own, a clean close
	more := []Input{{Kind: InputDwellings, Path: "b.csv", SHA256: "cc"}, {Kind: InputBoundaries, Path: "b.geojson", SHA256: "dd"}}
	bounds := []engine.Boundary{{Level: engine.LevelGrid, ID: "G1", Geometry: orb.MultiPolygon{{{{121.49, 31.19}, {121.51, 31.19}, {121.51, 31.21}, {121.49, 31.21}, {121.49, 31.19}}}}}}
	if err := s.LoadInputs([]*engine.Batch{batch("b.csv", "b1")}, bounds, more); err != nil {
		t.Fatal(err)
	}
	if _, err := submit(s, []engine.Op{{Kind: engine.OpFlags, ID: "a1", Set: []string{"isolated"}}}, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Snapshot(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(Options{Dir: dir, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	want = show([]Input{{Kind: InputDwellings, Path: "a.csv", SHA256: "aa", Load: 1, Time: at},
		{Kind: InputDwellings, Path: "b.csv", SHA256: "cc", Load: 2, Time: at}, {Kind: InputBoundaries, Path: "b.geojson", SHA256: "dd", Load: 2, Time: at}})
	if got := show(s.Inputs()); got != want {
		t.Fatalf("after a clean restart: %s, want %s", got, want)
	}
	if d, err := s.Engine().Dwelling("a1"); err != nil || len(d.Flags) != 1 || s.Engine().Len() != 3 {
		t.Fatalf("the state: %d dwellings, a1 %+v %v", s.Engine().Len(), d, err)
	}
}

// show prints inputs for comparisons (times in UTC, whatever the zone).
func show(in []Input) string {
	for i := range in {
		in[i].Time = in[i].Time.UTC()
	}
	return fmt.Sprint(in)
}

// crash stops s as a kill would, for a test to reopen its directory: the
// committer stops (so that nothing races the closing of its files), and
// the log and the audit trail are closed without the final snapshot a
// clean Close writes.
func crash(s *Store) {
	s.closeM.Lock()
	s.closed = true
	close(s.reqs)
	s.closeM.Unlock()
	<-s.done
	s.snapWG.Wait()
	s.wal.Close()
	s.audit.f.Close()
}
