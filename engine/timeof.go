package engine

import "time"

// TimeOf returns when the state of version v began: the time the change of
// that version was accepted, or for the oldest retained state (a load, or
// the state history was trimmed to) the time of that state. ok is false for
// a version before the retained history or after the newest change.
func (e *Engine) TimeOf(v Version) (t time.Time, ok bool) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	h, n := e.hist, uint64(v)
	switch {
	case n == h.Oldest():
		return time.UnixMilli(h.OldestMs()), true
	case n > h.Oldest() && n <= h.Newest():
		return time.UnixMilli(h.MsOf(n)), true
	}
	return time.Time{}, false
}
