package store

import (
	"errors"
	"runtime"
	"testing"
	"time"

	"github.com/roomstate/roomstate/city"
	"github.com/roomstate/roomstate/engine"
)

// TestFeedAfterLoad: serve opens the store, then loads through it. A client that
// starts following after the load (from the feed's newest version) gets
// the next change, not "gone"; so does one that follows from before the
// load (since=0: everything), for the load was no change. After changes,
// a second load: one that followed from before the last change is told
// to reload; one from that change on follows on after the load.
func TestFeedAfterLoad(t *testing.T) {
	s, err := Open(Options{})
	if err != nil {
		t.Fatal(err)
	}
	e := s.Engine()
	defer s.Close()
	before := s.Feed().Newest()

	c := city.New(city.Config{N: 2_000, Seed: 5})
	b, err := c.Batch()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Load([]*engine.Batch{b}, nil); err != nil {
		t.Fatal(err)
	}
	since := s.Feed().Newest()
	if since != e.Version() {
		t.Fatalf("after the load the feed starts at %d, the engine is at %d", since, e.Version())
	}
	var id string
	c.Dwellings(func(r *engine.Record) error {
		if id == "" {
			id = r.ID
		}
		return nil
	})
	if _, err := s.Submit(engine.Request{Ops: []engine.Op{{Kind: engine.OpFlags, ID: id, Set: []string{"isolated"}}}}, nil); err != nil {
		t.Fatal(err)
	}
	evs, _, err := s.Feed().Since(since, 10, nil)
	if err != nil || len(evs) != 1 || evs[0].Version != since+1 {
		t.Fatalf("following from the load: %d events, %v", len(evs), err)
	}
	if evs, _, err := s.Feed().Since(before, 10, nil); err != nil || len(evs) != 1 || evs[0].Version != since+1 {
		t.Fatalf("following from before the load: %d events, %v", len(evs), err)
	}
	changed := since + 1
	more := engine.NewBatch("more", nil)
	if err := more.Add(&engine.Record{ID: "second-load-1", Lon: 121.5, Lat: 31.2, Floor: engine.NoFloor}); err != nil {
		t.Fatal(err)
	}
	if err := s.Load([]*engine.Batch{more}, nil); err != nil {
		t.Fatal(err)
	}
	again := e.Version()
	if _, err := s.Submit(engine.Request{Ops: []engine.Op{{Kind: engine.OpFlags, ID: id, Set: []string{"rental"}}}}, nil); err != nil {
		t.Fatal(err)
	}
	var g *GoneError
	for _, v := range []engine.Version{before, since, changed - 1} {
		if _, _, err := s.Feed().Since(v, 10, nil); !errors.As(err, &g) || g.Oldest != again+1 {
			t.Fatalf("following from %d, before the change %d and a second load: %v, want gone with oldest %d", v, changed, err, again+1)
		}
	}
	if evs, _, err := s.Feed().Since(changed, 10, nil); err != nil || len(evs) != 1 || evs[0].Version != again+1 {
		t.Fatalf("following from the last change before the second load: %d events, %v", len(evs), err)
	}
}

// TestLoadKeepsNoBatch: once loaded, a batch (its columns and id table are
// as large as the engine's own) is garbage: the committer's group of
// requests does not keep it alive until a next change comes, which on a
// server that only reads is never (69 bytes a dwelling were held so).
func TestLoadKeepsNoBatch(t *testing.T) {
	s, err := Open(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	b, err := city.New(city.Config{N: 2_000, Seed: 5}).Batch()
	if err != nil {
		t.Fatal(err)
	}
	freed := make(chan struct{})
	runtime.SetFinalizer(b, func(*engine.Batch) { close(freed) })
	if err := s.Load([]*engine.Batch{b}, nil); err != nil {
		t.Fatal(err)
	}
	b = nil
	for i := 0; i < 50; i++ {
		runtime.GC()
		select {
		case <-freed:
			return
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatal("the loaded batch is still reachable after the load")
}

// TestFeedAcrossRestarts: with a data directory, the feed after a restart
// gives what it can and is gone only before a change it cannot give. A
// directory loaded and never changed follows from 0; changes replayed
// from the log after a crash are in the feed; changes kept only in a
// snapshot are not.
func TestFeedAcrossRestarts(t *testing.T) {
	dir := t.TempDir()
	s, e, c := openLoaded(t, 2_000, Options{Dir: dir})
	loaded := e.Version()
	all := ids(c)
	s.Close()
	crash := func(s *Store) { // nothing flushed, files left as they are
		s.wal.Close()
		s.audit.f.Close()
	}
	reopen := func() *Store {
		t.Helper()
		s, err := Open(Options{Dir: dir})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	change := func(s *Store, i int) {
		t.Helper()
		if _, err := submit(s, []engine.Op{{Kind: engine.OpFlags, ID: all[i], Set: []string{"isolated"}}}, nil); err != nil {
			t.Fatal(err)
		}
	}
	var gone *GoneError
	s2 := reopen()
	if evs, _, err := s2.Feed().Since(0, 10, nil); err != nil || len(evs) != 0 {
		t.Fatalf("since 0 after a restart of a loaded directory: %d events, %v", len(evs), err)
	}
	for i := 0; i < 3; i++ {
		change(s2, i)
	}
	crash(s2)
	s3 := reopen() // the log replays the three changes into the feed
	if evs, _, err := s3.Feed().Since(0, 10, nil); err != nil || len(evs) != 3 || evs[0].Version != loaded+1 {
		t.Fatalf("since 0 after a crash and a replay: %d events, %v", len(evs), err)
	}
	if err := s3.Snapshot(); err != nil {
		t.Fatal(err)
	}
	change(s3, 3)
	crash(s3)
	s4 := reopen() // the snapshot holds three changes, the log the fourth
	for _, since := range []engine.Version{0, loaded, loaded + 2} {
		if _, _, err := s4.Feed().Since(since, 10, nil); !errors.As(err, &gone) || gone.Oldest != loaded+4 {
			t.Fatalf("since %d with changes only in the snapshot: %v, want gone with oldest %d", since, err, loaded+4)
		}
	}
	if evs, _, err := s4.Feed().Since(loaded+3, 10, nil); err != nil || len(evs) != 1 || evs[0].Version != loaded+4 {
		t.Fatalf("since the snapshot: %d events, %v", len(evs), err)
	}
	// a load after those changes, then a restart: its snapshot remembers
	// that the newest change before the load was the fourth
	more := engine.NewBatch("more", nil)
	if err := more.Add(&engine.Record{ID: "second-load-1", Lon: 121.5, Lat: 31.2, Floor: engine.NoFloor}); err != nil {
		t.Fatal(err)
	}
	if err := s4.Load([]*engine.Batch{more}, nil); err != nil {
		t.Fatal(err)
	}
	s4.Close()
	s5 := reopen()
	defer s5.Close()
	if _, _, err := s5.Feed().Since(loaded+3, 10, nil); !errors.As(err, &gone) {
		t.Fatalf("since %d, before the last change before a load, after a restart: %v, want gone", loaded+3, err)
	}
	if evs, _, err := s5.Feed().Since(loaded+4, 10, nil); err != nil || len(evs) != 0 {
		t.Fatalf("since the last change before a load, after a restart: %d events, %v", len(evs), err)
	}
}
