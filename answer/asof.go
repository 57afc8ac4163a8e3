package answer

import (
	"errors"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/roomstate/roomstate/engine"
	"github.com/roomstate/roomstate/fault"
	"github.com/roomstate/roomstate/internal/when"
	"github.com/roomstate/roomstate/privacy"
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
	t, err := a.instant(s)
	if err != nil {
		return engine.AsOf{}, a.badTime(name, s, err, true)
	}
	v, err := a.eng.VersionAt(t)
	if err != nil {
		return engine.AsOf{}, err
	}
	return engine.At(v), nil
}

// parseInstant reads a time parameter that takes no version (from, to):
// an RFC 3339 time, or a date as the end of that day in the server's time
// zone.
func (a *Answers) parseInstant(name, s string) (time.Time, error) {
	t, err := a.instant(strings.TrimSpace(s))
	if err != nil {
		return time.Time{}, a.badTime(name, s, err, false)
	}
	return t, nil
}

// instant reads an RFC 3339 time (when.Time), or a date as the end of that
// day (23:59:59.999) in the server's time zone.
func (a *Answers) instant(s string) (time.Time, error) {
	t, err := when.Time(s)
	if !errors.Is(err, when.ErrNotTime) {
		return t, err
	}
	_, next, err := when.Day(s, a.opts.TZ)
	if err != nil {
		return time.Time{}, err
	}
	return next.Add(-time.Millisecond), nil
}

// badTime is the 400 of a time parameter that does not read: what is wrong
// with it when it looks like a time or a date, and what the parameter takes
// (versions: whether it takes a version too).
func (a *Answers) badTime(name, s string, err error, versions bool) error {
	why := ""
	if !errors.Is(err, when.ErrNotTime) {
		why = err.Error() + "; "
	}
	if versions {
		return fault.New(fault.BadRequest, "%s %q: %swant a version (an integer), an RFC 3339 time (2026-11-27T08:00:00+08:00) or a date (2026-11-26: the end of that day, %s)", name, s, why, a.opts.TZ)
	}
	if _, e := strconv.ParseUint(strings.TrimSpace(s), 10, 64); e == nil {
		why = "a version is not taken here; "
	}
	return fault.New(fault.BadRequest, "%s %q: %swant an RFC 3339 time (2026-11-27T08:00:00+08:00) or a date (2026-11-26: the end of that day, %s)", name, s, why, a.opts.TZ)
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

// MaxSeriesPoints bounds the points of one series.
const MaxSeriesPoints = 1000

// spanParam reads a span parameter (step, stale; when.Span) of at least
// least.
func spanParam(name, s string, least time.Duration) (time.Duration, error) {
	d, err := when.Span(s)
	switch {
	case errors.Is(err, when.ErrTooLong):
		return 0, fault.New(fault.BadRequest, "%s %q: %v", name, s, err)
	case err != nil || d < least:
		return 0, fault.New(fault.BadRequest, "%s %q: want a number and s, m, h or d, at least %s (e.g. 1d, 6h, 90s)", name, s, least)
	}
	return d, nil
}

// parseStep reads a series step: a number and s, m, h or d, at least 1s.
func parseStep(s string) (time.Duration, error) {
	if s == "" {
		return 24 * time.Hour, nil
	}
	return spanParam("step", s, time.Second)
}

// seriesPoints is the number of points from from to to, step apart,
// counted exactly however far apart they are (time.Time.Sub saturates at
// about 292 years): too many is a fault.TooLarge.
func seriesPoints(from, to time.Time, step time.Duration) (int, error) {
	span := new(big.Int).Mul(big.NewInt(to.Unix()-from.Unix()), big.NewInt(int64(time.Second)))
	span.Add(span, big.NewInt(int64(to.Nanosecond()-from.Nanosecond())))
	steps := span.Quo(span, big.NewInt(int64(step)))
	if !steps.IsInt64() || steps.Int64() >= MaxSeriesPoints {
		return 0, fault.New(fault.TooLarge, "%s points; at most %d: use a larger step or a shorter span", steps.Add(steps, big.NewInt(1)), MaxSeriesPoints)
	}
	return int(steps.Int64()) + 1, nil
}

// defaultSeriesPoints is the number of points of a series without from: to
// and the 29 steps before it, those of them within the retained history.
const defaultSeriesPoints = 30

// History answers GET /api/v1/history?level=&id=&where=&from=&to=&step=:
// the counts of a unit (or, without level and id, the city) as of each
// instant from, from+step, … up to to.
func (a *Answers) History(q Query, c *Caller) ([]byte, error) {
	start := time.Now()
	level, id := q.Get("level"), q.Get("id")
	if (level == "") != (id == "") {
		return nil, fault.New(fault.BadRequest, "give level and id together (a unit), or neither (the city)")
	}
	step, err := parseStep(q.Get("step"))
	if err != nil {
		return nil, err
	}
	to := time.Now()
	if s := q.Get("to"); s != "" {
		if to, err = a.parseInstant("to", s); err != nil {
			return nil, err
		}
	}
	var from time.Time
	if s := q.Get("from"); s != "" {
		if from, err = a.parseInstant("from", s); err != nil {
			return nil, err
		}
		if q.Get("to") == "" && from.After(to) {
			to = from // a from later than now (today's date: its end): that one point
		}
	} else {
		// to and the 29 steps before it, but none before the oldest
		// retained state: a default is no question of the past history
		// no longer holds (a to before it is, and is 410)
		_, oldest, _, _ := a.eng.History()
		k := 0
		if !to.Before(oldest) {
			if span := to.Sub(oldest); span/step < defaultSeriesPoints-1 {
				k = int(span / step)
			} else {
				k = defaultSeriesPoints - 1
			}
		}
		from = to
		for range k {
			from = from.Add(-step)
		}
	}
	if from.After(to) {
		return nil, fault.New(fault.BadRequest, "from is after to")
	}
	n, err := seriesPoints(from, to, step)
	if err != nil {
		return nil, err
	}
	at := make([]time.Time, n)
	for i := range at {
		if i == 0 {
			at[i] = from
		} else {
			at[i] = at[i-1].Add(step) // step by step: i×step may pass 292 years
		}
	}
	pts, names, err := a.eng.Series(engine.SeriesQuery{Level: level, ID: id, Where: q.Get("where"), At: at})
	if err != nil {
		return nil, err
	}
	shown, err := a.seriesShown(c, level, id, q.Get("where"), pts)
	if err != nil {
		return nil, err
	}
	sc := a.scratch()
	w := &sc.w
	w.unitRef(level, id)
	w.raw(`,"step":`)
	if s := q.Get("step"); s != "" {
		w.str(s)
	} else {
		w.str("1d")
	}
	w.raw(`,"points":[`)
	var newest engine.Version
	for i := range pts {
		p := &pts[i]
		w.comma(i)
		w.raw(`{"time":`)
		w.str(p.Time.In(a.opts.TZ).Format(time.RFC3339Nano))
		w.raw(`,"version":`)
		w.uint(uint64(p.Version))
		w.byte(',')
		w.counts(&shown[i], names)
		w.byte('}')
		newest = max(newest, p.Version)
	}
	w.byte(']')
	finish(w, newest, start)
	return a.done(sc), nil
}

// seriesShown returns a series' points as a caller is shown them: exactly
// (analysts and above), or (viewers) as the protected table of each point's
// version shows the unit (or the city), with the same cells withheld as in
// every other answer at that version: a point protected by itself could
// show a count the table withholds to keep a sibling's, and a parent minus
// its shown children would then give that sibling back. The table of each
// version is worked out once per series; only the newest is kept for later
// answers.
func (a *Answers) seriesShown(c *Caller, level, id, where string, pts []engine.SeriesPoint) ([]privacy.Counts, error) {
	pol := a.Policy(c)
	out := make([]privacy.Counts, len(pts))
	if pol.Exact() {
		for i := range pts {
			out[i] = pol.Counts(pts[i].Total, pts[i].Matched, pts[i].Flags)
		}
		return out, nil
	}
	var l engine.Level
	if level != "" {
		var err error
		if l, err = engine.ParseLevel(level); err != nil {
			return nil, fault.New(fault.BadRequest, "%v", err)
		}
	}
	var newest engine.Version
	for i := range pts {
		newest = max(newest, pts[i].Version)
	}
	seen := map[engine.Version]*hierarchy{}
	for i := range pts {
		v := pts[i].Version
		h := seen[v]
		if h == nil {
			var err error
			if h, err = a.hierarchy(where, engine.At(v), pol, v == newest); err != nil {
				return nil, err
			}
			seen[v] = h
		}
		if level == "" {
			out[i] = h.City()
		} else {
			out[i] = h.Unit(l, id)
		}
	}
	return out, nil
}
