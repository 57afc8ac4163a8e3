package store

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/roomstate/roomstate/city"
	"github.com/roomstate/roomstate/engine"
	"github.com/roomstate/roomstate/fault"
	"github.com/roomstate/roomstate/wal"
)

// memJournal is a journal in memory shared by stores in one process; every
// store may append (optimistic concurrency only, no lease).
type memJournal struct {
	mu      sync.Mutex
	entries [][]byte
	wake    chan struct{}
	max     int
	snaps   map[uint64][]byte
}

func newMemJournal() *memJournal {
	return &memJournal{wake: make(chan struct{}), max: 1 << 20, snaps: map[uint64][]byte{}}
}

// view is one store's handle on the journal.
type view struct{ j *memJournal }

func (v view) Append(_ context.Context, after uint64, data []byte, _ uint64) (uint64, error) {
	j := v.j
	j.mu.Lock()
	defer j.mu.Unlock()
	if uint64(len(j.entries)) != after {
		return 0, &BehindError{Last: uint64(len(j.entries))}
	}
	j.entries = append(j.entries, data)
	close(j.wake)
	j.wake = make(chan struct{})
	return uint64(len(j.entries)), nil
}
func (v view) MaxEntry() int            { return v.j.max }
func (v view) Writer() (string, error)  { return "", nil }
func (v view) Replication() Replication { return Replication{Role: "leader"} }
func (v view) Keep(_ context.Context, seq, _ uint64, b []byte) error {
	v.j.mu.Lock()
	defer v.j.mu.Unlock()
	v.j.snaps[seq] = b
	return nil
}

// follow delivers the journal's entries after `from` to s until ctx ends.
func (j *memJournal) follow(ctx context.Context, s *Store, from uint64) {
	next := from + 1
	for {
		j.mu.Lock()
		var batch [][]byte
		if uint64(len(j.entries)) >= next {
			batch = j.entries[next-1:]
		}
		wake := j.wake
		j.mu.Unlock()
		for _, e := range batch {
			if s.Deliver(ctx, next, e) != nil {
				return
			}
			next++
		}
		if len(batch) == 0 {
			select {
			case <-wake:
			case <-ctx.Done():
				return
			}
		}
	}
}

// TestJournalOptimisticWriters: two stores on one journal both take
// changes; each validates against its state at the journal's last entry
// and appends expecting it, catching up when the other got in first. Every
// acknowledged change has its own version, and both stores end the same.
func TestJournalOptimisticWriters(t *testing.T) {
	c := city.New(city.Config{N: 2_000, Seed: 5})
	b, err := c.Batch()
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	c.Dwellings(func(r *engine.Record) error {
		if len(ids) < 50 {
			ids = append(ids, r.ID)
		}
		return nil
	})
	j := newMemJournal()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	open := func() *Store {
		s, err := Open(Options{Journal: view{j}, Engine: engine.Options{DeltaLimit: 100}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	a := open()
	if err := a.Load([]*engine.Batch{b}, nil); err != nil {
		t.Fatal(err)
	}
	if err := a.Seed("a"); err != nil {
		t.Fatal(err)
	}
	if err := a.Seed("a"); err == nil {
		t.Fatal("a journal was seeded twice")
	}
	bs := open()
	if _, err := bs.RestoreSnapshot(j.snaps[1]); err != nil {
		t.Fatal(err)
	}
	go j.follow(ctx, a, a.Applied())
	go j.follow(ctx, bs, bs.Applied())

	var mu sync.Mutex
	versions := map[engine.Version]bool{}
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			s := a
			if w%2 == 1 {
				s = bs
			}
			for i := 0; i < 150; i++ {
				id := ids[(w*7+i)%len(ids)]
				op := engine.Op{Kind: engine.OpFlags, ID: id, Set: []string{"isolated"}}
				if i%2 == 1 {
					op = engine.Op{Kind: engine.OpFlags, ID: id, Clear: []string{"isolated"}}
				}
				evs, err := s.Submit(engine.Request{Ops: []engine.Op{op, {Kind: engine.OpFlags, ID: ids[i%len(ids)], Set: []string{"rental"}}}}, nil)
				if err != nil {
					t.Errorf("writer %d change %d: %v", w, i, err)
					return
				}
				mu.Lock()
				for _, ev := range evs {
					if versions[ev.Version] {
						t.Errorf("version %d acknowledged twice", ev.Version)
					}
					versions[ev.Version] = true
				}
				mu.Unlock()
			}
		}(w)
	}
	wg.Wait()
	deadline := time.Now().Add(5 * time.Second)
	for a.Engine().Version() != bs.Engine().Version() || a.Applied() != bs.Applied() {
		if time.Now().After(deadline) {
			t.Fatalf("not converged: a at %d (entry %d), b at %d (entry %d)", a.Engine().Version(), a.Applied(), bs.Engine().Version(), bs.Applied())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if fa, fb := fingerprint(t, a.Engine()), fingerprint(t, bs.Engine()); fa != fb {
		t.Fatal("the two stores differ")
	}
	if len(versions) != 8*150*2 {
		t.Fatalf("%d versions acknowledged, want %d", len(versions), 8*150*2)
	}
	t.Logf("%d entries for %d requests; appends refused as behind: %d and %d", len(j.entries), 8*150, a.Conflicts(), bs.Conflicts())
}

// TestJournalEntryLimit: a request larger than the journal's entry is
// refused as too large, and the rest of its group goes on.
func TestJournalEntryLimit(t *testing.T) {
	c := city.New(city.Config{N: 500, Seed: 5})
	b, _ := c.Batch()
	var ids []string
	c.Dwellings(func(r *engine.Record) error { ids = append(ids, r.ID); return nil })
	j := newMemJournal()
	j.max = 2_000
	s, err := Open(Options{Journal: view{j}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Load([]*engine.Batch{b}, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Seed("a"); err != nil {
		t.Fatal(err)
	}
	var big []engine.Op
	for _, id := range ids[:200] {
		big = append(big, engine.Op{Kind: engine.OpFlags, ID: id, Set: []string{"isolated"}})
	}
	if _, err := s.Submit(engine.Request{Ops: big}, nil); !errors.Is(err, fault.TooLarge) {
		t.Fatalf("a request larger than an entry: %v", err)
	}
	if _, err := s.Submit(engine.Request{Ops: big[:3]}, nil); err != nil {
		t.Fatalf("a small request after it: %v", err)
	}
}

// TestJournalDirLocked: a journal store holds its data directory alone, as
// a store with a log does: a second one there is refused while the first
// runs, and taken once it has closed.
func TestJournalDirLocked(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(Options{Dir: dir, Journal: view{newMemJournal()}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(Options{Dir: dir, Journal: view{newMemJournal()}}); !errors.Is(err, wal.ErrLocked) {
		t.Fatalf("a second journal store in a directory in use: %v, want wal.ErrLocked", err)
	}
	if _, err := Open(Options{Dir: dir}); !errors.Is(err, wal.ErrLocked) {
		t.Fatalf("a store with a log in a journal store's directory: %v, want wal.ErrLocked", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(Options{Dir: dir, Journal: view{newMemJournal()}})
	if err != nil {
		t.Fatalf("after the first closed: %v", err)
	}
	s2.Close()
}
