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
	f.restart(20)
	if _, _, err := f.Since(19, 100, nil); !errors.As(err, &gone) {
		t.Fatalf("since 19 after a restart at 20: %v, want gone", err)
	}
	pub(21, 22)
	eq(versions(20), 21, 22)
	pub(23, 30)
	eq(versions(25), 26, 27, 28, 29, 30)
}
