package answer

import (
	"strconv"
	"strings"
	"time"

	"github.com/roomstate/roomstate/engine"
	"github.com/roomstate/roomstate/fault"
)

// asOf reads an as_of (or since) value: a version (an integer), an RFC 3339
// time, or a date (the end of that day in the server's time zone). "" is
// now. A time before the retained history is a fault.HistoryGone.
func (a *Answers) asOf(name, s string) (engine.AsOf, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return engine.AsOf{}, nil
	}
	if n, err := strconv.ParseUint(s, 10, 64); err == nil {
		return engine.At(engine.Version(n)), nil
	}
	t, err := a.parseInstant(name, s)
	if err != nil {
		return engine.AsOf{}, err
	}
	v, err := a.eng.VersionAt(t)
	if err != nil {
		return engine.AsOf{}, err
	}
	return engine.At(v), nil
}

// parseInstant reads an RFC 3339 time, or a date as the end of that day in
// the server's time zone.
func (a *Answers) parseInstant(name, s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if d, err := time.ParseInLocation("2006-01-02", s, a.opts.TZ); err == nil {
		return d.AddDate(0, 0, 1).Add(-time.Millisecond), nil
	}
	return time.Time{}, fault.New(fault.BadRequest, "%s %q: want a version (an integer), an RFC 3339 time (2026-11-27T08:00:00+08:00) or a date (2026-11-26: the end of that day, %s)", name, s, a.opts.TZ)
}

// sinceOf reads the since parameter of unit answers: nil when absent.
func (a *Answers) sinceOf(q Query) (*engine.AsOf, error) {
	s := q.Get("since")
	if s == "" {
		return nil, nil
	}
	at, err := a.asOf("since", s)
	if err != nil {
		return nil, err
	}
	return &at, nil
}
