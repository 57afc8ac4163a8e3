package store

import (
	"errors"
	"testing"

	"github.com/roomstate/roomstate/engine"
)

// TestFeedGrowsThenWraps: the backlog takes no room before changes come,
// grows to its bound, then keeps the newest events; a restart empties it;
// Since gives exactly the events after a version, or GoneError before the
// oldest kept.
func TestFeedGrowsThenWraps(t *testing.T) {
	f := newFeed(5)
	if cap(f.ring) != 0 {
		t.Fatalf("a new feed holds room for %d events", cap(f.ring))
	}
	pub := func(from, to engine.Version) {
		var evs []engine.Event
		for v := from; v <= to; v++ {
			evs = append(evs, engine.Event{Version: v})
		}
		f.publish(evs)
	}
	versions := func(since engine.Version) []engine.Version {
		t.Helper()
		evs, _, err := f.Since(since, 100, nil)
		if err != nil {
			t.Fatalf("since %d: %v", since, err)
		}
		var out []engine.Version
		for _, ev := range evs {
			out = append(out, ev.Version)
		}
		return out
	}
	eq := func(got []engine.Version, want ...engine.Version) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("got %v, want %v", got, want)
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("got %v, want %v", got, want)
			}
		}
	}
	pub(1, 3)
	eq(versions(0), 1, 2, 3)
	eq(versions(2), 3)
	pub(4, 9) // 9 events into 5 places: 5–9 kept
	if len(f.ring) != 5 {
		t.Fatalf("ring of %d, want 5", len(f.ring))
	}
	eq(versions(4), 5, 6, 7, 8, 9)
	eq(versions(7), 8, 9)
	var gone *GoneError
	if _, _, err := f.Since(3, 100, nil); !errors.As(err, &gone) || gone.Oldest != 5 {
		t.Fatalf("since 3: %v, want gone with oldest 5", err)
	}
	pub(10, 10)
	eq(versions(5), 6, 7, 8, 9, 10)
	f.restart(20, 15) // a load after changes up to 15, which the feed lacks
	for _, since := range []engine.Version{0, 9, 14} {
		if _, _, err := f.Since(since, 100, nil); !errors.As(err, &gone) || gone.Oldest != 21 {
			t.Fatalf("since %d after a load at 20 over changes to 15: %v, want gone with oldest 21", since, err)
		}
	}
	pub(21, 22)
	eq(versions(20), 21, 22)
	eq(versions(15), 21, 22) // 16–20 are the load's: no change is missed
	pub(23, 30)
	eq(versions(25), 26, 27, 28, 29, 30)
}

// TestFeedFromTheLoad: on a server loaded at version 13 and never changed
// before, a follower from any version up to 13 (since=0: everything) gets
// every change after the load, not "gone": the load is no change. Once the
// backlog has pushed a change out, a since before it is gone again.
func TestFeedFromTheLoad(t *testing.T) {
	f := newFeed(4)
	f.restart(13, 0) // the load, over a state never changed
	for _, since := range []engine.Version{0, 12, 13} {
		if evs, wake, err := f.Since(since, 100, nil); err != nil || len(evs) != 0 || wake == nil {
			t.Fatalf("since %d before any change: %d events, %v", since, len(evs), err)
		}
	}
	var evs []engine.Event
	for v := engine.Version(14); v <= 16; v++ {
		evs = append(evs, engine.Event{Version: v})
	}
	f.publish(evs)
	for _, since := range []engine.Version{0, 12, 13} {
		got, _, err := f.Since(since, 100, nil)
		if err != nil || len(got) != 3 || got[0].Version != 14 || got[2].Version != 16 {
			t.Fatalf("since %d: %d events, %v; want 14–16", since, len(got), err)
		}
	}
	f.publish([]engine.Event{{Version: 17}, {Version: 18}}) // 14 is pushed out
	var gone *GoneError
	for _, since := range []engine.Version{0, 13} {
		if _, _, err := f.Since(since, 100, nil); !errors.As(err, &gone) || gone.Oldest != 15 {
			t.Fatalf("since %d after 14 was pushed out: %v, want gone with oldest 15", since, err)
		}
	}
	if got, _, err := f.Since(14, 100, nil); err != nil || len(got) != 4 || got[0].Version != 15 {
		t.Fatalf("since 14: %d events, %v", len(got), err)
	}
	// a restart of the server over the same state keeps what it replayed
	g := newFeed(10)
	g.reset(13, 0) // the snapshot: the load
	g.publish(evs) // replayed from the log
	g.reset(16, 16)
	if got, _, err := g.Since(0, 100, nil); err != nil || len(got) != 3 {
		t.Fatalf("since 0 after a replay of 14–16: %d events, %v", len(got), err)
	}
	h := newFeed(10)
	h.reset(16, 15) // a snapshot with changes 14–15, then 16 replayed
	h.publish(evs[2:])
	h.reset(16, 16)
	if _, _, err := h.Since(13, 100, nil); !errors.As(err, &gone) || gone.Oldest != 16 {
		t.Fatalf("since 13 with 14–15 only in the snapshot: %v, want gone with oldest 16", err)
	}
	if got, _, err := h.Since(15, 100, nil); err != nil || len(got) != 1 || got[0].Version != 16 {
		t.Fatalf("since 15: %d events, %v", len(got), err)
	}
}
