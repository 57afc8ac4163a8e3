package store

import (
	"fmt"
	"sync"

	"github.com/roomstate/roomstate/engine"
)

// Feed is the change feed: every applied change, in version order, with a
// bounded backlog for clients that reconnect.
type Feed struct {
	mu     sync.Mutex     // guards every field below
	ring   []engine.Event // the backlog: grows to max events, then a ring
	max    int            // events the backlog keeps
	start  int            // index of the oldest event in ring
	n      int            // events in ring
	newest engine.Version // version of the newest change
	// dropped is the version of the newest change the feed cannot give:
	// pushed out of the backlog, or made before the feed started (before a
	// restart of the server or a load; the engine's LastChange then); 0
	// when none. Versions after it that the backlog does not hold are a
	// load's, no change: a follower from there needs none of them.
	dropped engine.Version
	wake    chan struct{} // closed and replaced at each publication
	closed  bool
}

func newFeed(capacity int) *Feed {
	// the backlog grows as changes come (a server that only reads keeps no
	// room for 100,000 events it never has)
	return &Feed{max: max(capacity, 1), wake: make(chan struct{})}
}

// GoneError answers a request for changes after a version when some of
// them are no longer kept.
type GoneError struct {
	Since  engine.Version
	Oldest engine.Version // the oldest version still available
}

func (e *GoneError) Error() string {
	return fmt.Sprintf("changes since version %d are no longer kept; the oldest available is %d: reload and follow from the current state", e.Since, e.Oldest)
}

// reset starts the feed at version v, keeping the backlog it has (changes
// replayed from the log); last is the newest change up to v (the engine's
// LastChange). A change up to last that the feed does not hold (it holds
// none, or last is newer than what it holds) is one it cannot give.
func (f *Feed) reset(v, last engine.Version) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.n == 0 || last > f.newest {
		f.dropped = max(f.dropped, min(last, v))
	}
	if f.n == 0 || f.newest < v {
		f.newest = v
	}
}

// restart empties the backlog and starts the feed again at version v, after
// a load (or a restored snapshot); last is the newest change up to v (the
// engine's LastChange). A follower from before last has lost changes; one
// from last on needs none of those before v, which are the load's.
func (f *Feed) restart(v, last engine.Version) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.n > 0 {
		f.dropped = max(f.dropped, f.newest)
	}
	f.ring, f.start, f.n, f.newest = f.ring[:0], 0, 0, v
	f.dropped = max(f.dropped, min(last, v))
	close(f.wake)
	f.wake = make(chan struct{})
}

func (f *Feed) publish(evs []engine.Event) {
	if len(evs) == 0 {
		return
	}
	f.mu.Lock()
	for _, ev := range evs {
		if len(f.ring) < f.max { // still growing: start is 0, n is len(ring)
			f.ring = append(f.ring, ev)
			f.n++
			f.newest = ev.Version
			continue
		}
		i := (f.start + f.n) % len(f.ring)
		if f.n < len(f.ring) {
			f.n++
		} else {
			f.dropped = f.ring[f.start].Version // pushed out
			f.start = (f.start + 1) % len(f.ring)
		}
		f.ring[i] = ev
		f.newest = ev.Version
	}
	close(f.wake)
	f.wake = make(chan struct{})
	f.mu.Unlock()
}

func (f *Feed) close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.closed {
		f.closed = true
		close(f.wake)
	}
}

// Newest returns the version of the newest change.
func (f *Feed) Newest() engine.Version {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.newest
}

// Since returns up to max events with versions after since, and a channel
// closed when more arrive (or the feed closes). A since before a change the
// feed no longer has (pushed out of the backlog, or made before the feed
// started) is a *GoneError; a since before the backlog's oldest event with
// no such change after it (say 0, on a server that was loaded and then only
// changed through the feed: a load is no change) starts at that oldest
// event; a since beyond the newest version waits.
func (f *Feed) Since(since engine.Version, max int, dst []engine.Event) ([]engine.Event, <-chan struct{}, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return dst, nil, ErrClosed
	}
	oldest := f.newest + 1 // the first version the backlog can give
	if f.n > 0 {
		oldest = f.ring[f.start].Version
	}
	if since >= f.newest { // nothing newer yet (checked first: since+1 may overflow)
		return dst, f.wake, nil
	}
	if since < f.dropped {
		return dst, nil, &GoneError{Since: since, Oldest: oldest}
	}
	// the backlog is in version order: skip to since+1 (versions before its
	// oldest, after dropped, are a load's)
	skip := 0
	if since >= oldest {
		skip = int(since + 1 - oldest)
	}
	for k := skip; k < f.n && len(dst) < max; k++ {
		dst = append(dst, f.ring[(f.start+k)%len(f.ring)])
	}
	return dst, f.wake, nil
}
