package store

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/roomstate/roomstate/engine"
)

// TestReopenSnapshotWithoutBuiltinFlags: a data directory written before the
// built-in flags were always known (its snapshot holds only the data's
// flags, in the data's order) still opens: the log's changes replay onto
// it, the missing built-in flags come after the data's, clear, and can be
// set, durably.
func TestReopenSnapshotWithoutBuiltinFlags(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	b := engine.NewBatch("old.csv", []string{"vaccinated", "isolated", "custom"})
	for i, id := range []string{"a", "b", "c"} {
		r := engine.Record{ID: id, Lon: 121.5 + float64(i)*0.001, Lat: 31.2, Building: "B1", Floor: engine.NoFloor}
		r.SetFlag(i) // a: vaccinated, b: isolated, c: custom
		if err := b.Add(&r); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Load([]*engine.Batch{b}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := submit(s, []engine.Op{{Kind: engine.OpFlags, ID: "a", Set: []string{"custom"}}}, nil); err != nil {
		t.Fatal(err)
	}
	crash(s) // the change is in the log only

	// the snapshot as an older build wrote it
	snaps, _ := listFiles(dir, "snapshot-", ".msgpack")
	if len(snaps) != 1 {
		t.Fatalf("snapshots %v", snaps)
	}
	snap, seq, _, err := readSnapshot(filepath.Join(dir, snapshotName(snaps[0])))
	if err != nil {
		t.Fatal(err)
	}
	var flags []string
	var bitmaps [][]byte
	for i, f := range snap.Flags {
		if !slices.Contains([]string{"rental", "elderly_alone"}, f) {
			flags, bitmaps = append(flags, f), append(bitmaps, snap.FlagBitmaps[i])
		}
	}
	k := func(f string) int { return slices.Index(flags, f) }
	order := []int{k("vaccinated"), k("isolated"), k("custom")}
	snap.Flags, snap.FlagBitmaps = nil, nil
	for _, i := range order {
		snap.Flags, snap.FlagBitmaps = append(snap.Flags, flags[i]), append(snap.FlagBitmaps, bitmaps[i])
	}
	if _, err := writeSnapshot(dir, snap, seq); err != nil {
		t.Fatal(err)
	}

	s2, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"vaccinated", "isolated", "custom", "rental", "elderly_alone"}
	if got := s2.Engine().Flags(); !slices.Equal(got, want) {
		t.Fatalf("flags %v, want %v", got, want)
	}
	if d, err := s2.Engine().Dwelling("a"); err != nil || !slices.Equal(d.Flags, []string{"vaccinated", "custom"}) {
		t.Fatalf("a: %v %v", d, err)
	}
	if _, err := submit(s2, []engine.Op{{Kind: engine.OpFlags, ID: "b", Set: []string{"elderly_alone"}}}, nil); err != nil {
		t.Fatal(err)
	}
	want2 := fingerprint(t, s2.Engine())
	if err := s2.Close(); err != nil {
		t.Fatal(err)
	}
	s3, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer s3.Close()
	if got := fingerprint(t, s3.Engine()); got != want2 {
		t.Fatalf("reopened:\n%s\nwant\n%s", got, want2)
	}
	if d, _ := s3.Engine().Dwelling("b"); !slices.Equal(d.Flags, []string{"isolated", "elderly_alone"}) {
		t.Fatalf("b: %v", d.Flags)
	}
}
