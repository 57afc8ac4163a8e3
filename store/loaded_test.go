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
// the next change, not "gone"; one that followed from before the load is
// told to reload.
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
	var g *GoneError
	if _, _, err := s.Feed().Since(before, 10, nil); !errors.As(err, &g) || g.Oldest != since+1 {
		t.Fatalf("following from before the load: %v, want gone with oldest %d", err, since+1)
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
