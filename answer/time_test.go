package answer

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/roomstate/roomstate/engine"
	"github.com/roomstate/roomstate/fault"
	"github.com/roomstate/roomstate/store"
)

// wantFault checks err is of kind k and its message holds every one of words.
func wantFault(t *testing.T, what string, err error, k error, words ...string) {
	t.Helper()
	if err == nil || fault.KindOf(err) != k {
		t.Errorf("%s: %v, want %v", what, err, k)
		return
	}
	for _, w := range words {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("%s: %q does not say %q", what, err.Error(), w)
		}
	}
}

// TestTimeParametersRFC3339: as_of, since, from and to read RFC 3339 as the
// RFC has it, and the until of a change too: T and Z in lower case and a
// space for the T are the same time; an offset's hours past 23, a comma
// before the fraction or a day out of range are refused naming the
// parameter and what is wrong.
func TestTimeParametersRFC3339(t *testing.T) {
	a, v1, v2, day1, day2 := historyCity(t)
	analyst := &Caller{Name: "x", Role: Analyst}
	d1 := day1.UTC().Format("2006-01-02T15:04:05Z") // 2026-11-26T01:00:00Z
	for _, asOf := range []string{d1, strings.ToLower(d1), strings.Replace(d1, "T", " ", 1), strings.Replace(strings.ToLower(d1), "t", " ", 1),
		day1.Format("2006-01-02T15:04:05-07:00"), strings.Replace(day1.Format("2006-01-02t15:04:05-07:00"), "+", " ", 1)} {
		for _, name := range []string{"as_of", "since"} {
			out, err := a.Unit("grid", "G1", Values{name: asOf}, analyst)
			var u struct {
				Version uint64
				Delta   *struct{ Flags map[string]int64 }
			}
			if err != nil || json.Unmarshal(out, &u) != nil {
				t.Errorf("%s=%s: %v", name, asOf, err)
				continue
			}
			if name == "as_of" && u.Version != v1 || name == "since" && (u.Delta == nil || u.Delta.Flags["isolated"] != 1) {
				t.Errorf("%s=%s: %s, want the state of version %d", name, asOf, out, v1)
			}
		}
		s := seriesOf(t, a, analyst, Values{"from": asOf, "to": asOf, "step": "1h"})
		if len(s.Points) != 1 || s.Points[0].Version != v1 {
			t.Errorf("from=to=%s: %+v", asOf, s.Points)
		}
	}
	// the "+" of an offset unescaped in a query string arrives as a space,
	// and so does a space for the T: both at once
	if s := seriesOf(t, a, analyst, Values{"from": day1.Format("2006-01-02 15:04:05 07:00"), "to": day2.Format("2006-01-02 15:04:05 07:00")}); len(s.Points) != 2 || s.Points[1].Version != v2 {
		t.Errorf("from and to with spaces: %+v", s.Points)
	}
	bad := map[string]string{
		"2026-11-26T09:00:00+24:00": "offset",
		"2026-11-26T09:00:00+08:60": "offset",
		"2026-11-26T09:00:00,5Z":    "comma",
		"2026-11-26T09:00:00":       "offset",
		"2026-02-30T09:00:00Z":      "day",
		"2026-02-30":                "day",
		"2026-11-26T25:00:00Z":      "hour",
	}
	for s, why := range bad {
		for _, name := range []string{"as_of", "since"} {
			_, err := a.Unit("grid", "G1", Values{name: s}, analyst)
			wantFault(t, name+"="+s, err, fault.BadRequest, name, why, "RFC 3339")
		}
		for _, name := range []string{"from", "to"} {
			q := Values{"from": d1, "to": d1}
			q[name] = s
			_, err := a.History(q, analyst)
			wantFault(t, name+"="+s, err, fault.BadRequest, name, why, "RFC 3339")
		}
		body := fmt.Sprintf(`{"set":["isolated"],"until":%q}`, strings.Replace(s, "2026", "2099", 1))
		_, err := a.Patch("d1", []byte(body), &Caller{Name: "ops", Role: Admin})
		wantFault(t, "until "+s, err, fault.BadRequest, "until", "RFC 3339")
	}
	// +14:30 is RFC 3339 (hours 00–23): a time, here after the newest change
	if _, err := a.Unit("grid", "G1", Values{"as_of": "2026-11-27T23:00:00+14:30"}, analyst); err != nil {
		t.Errorf("as_of with offset +14:30: %v", err)
	}
	// a leap second is the last millisecond of its minute
	out, err := a.Unit("grid", "G1", Values{"as_of": day2.UTC().Format("2006-01-02T15:04") + ":60Z"}, analyst)
	if err != nil || !strings.Contains(string(out), fmt.Sprintf(`"version":%d`, v2)) {
		t.Errorf("as_of a leap second: %v %s", err, out)
	}
	// the until of a change in lower case
	if _, err := a.Patch("d1", []byte(`{"set":["isolated"],"until":"2099-01-01t00:00:00z"}`), &Caller{Name: "ops", Role: Admin}); err != nil {
		t.Errorf("until in lower case: %v", err)
	}
}

// TestFromToTakeNoVersion: from and to of a series are times or dates; an
// integer there is refused saying so, not offering a version.
func TestFromToTakeNoVersion(t *testing.T) {
	a, _, _, _, _ := historyCity(t)
	for _, name := range []string{"from", "to"} {
		_, err := a.History(Values{name: "40006"}, &Caller{Name: "x", Role: Analyst})
		wantFault(t, name+"=40006", err, fault.BadRequest, name, "a version is not taken here", "RFC 3339", "date")
		if err != nil && strings.Contains(err.Error(), "want a version") {
			t.Errorf("%s=40006: %q offers a version", name, err)
		}
	}
	// as_of does take one, and says so when it does not read
	_, err := a.Unit("grid", "G1", Values{"as_of": "yesterday"}, &Caller{Name: "x", Role: Analyst})
	wantFault(t, "as_of=yesterday", err, fault.BadRequest, "as_of", "a version (an integer)")
}

// TestSpansOneParser: step and stale read a decimal number and s, m, h or
// d and nothing else strconv.ParseFloat would take (NaN, hex, exponents).
func TestSpansOneParser(t *testing.T) {
	a, _, _, day1, day2 := historyCity(t)
	analyst := &Caller{Name: "x", Role: Analyst}
	span := func(step string) Values {
		return Values{"from": day1.Format(time.RFC3339), "to": day2.Format(time.RFC3339), "step": step}
	}
	for _, s := range []string{"NaNs", "nans", "NaNd", "0x1p1s", "0x1p10d", "1e3s", "Infd", "+1d", "-1d", "1_0h", "0s", "0.5s", "1h30m", "1000000d"} {
		_, err := a.History(span(s), analyst)
		wantFault(t, "step="+s, err, fault.BadRequest, "step")
		_, err = a.Responsibility(Values{"stale": s}, analyst)
		wantFault(t, "stale="+s, err, fault.BadRequest, "stale")
	}
	if s := seriesOf(t, a, analyst, span("1.5h")); len(s.Points) != 17 {
		t.Errorf("step=1.5h over a day: %d points", len(s.Points))
	}
	if _, err := a.Responsibility(Values{"stale": "1.5d"}, analyst); err != nil {
		t.Errorf("stale=1.5d: %v", err)
	}
}

// TestSeriesPointsCountedExactly: a span of thousands of years is counted
// as it is, not as the 292 years a time.Duration holds: more than 1,000
// points is 413 too_large however far to is; a step of centuries steps
// there without overflowing.
func TestSeriesPointsCountedExactly(t *testing.T) {
	a, _, v2, _, day2 := historyCity(t)
	analyst := &Caller{Name: "x", Role: Analyst}
	from := day2.UTC().Format(time.RFC3339)
	_, err := a.History(Values{"from": from, "to": "9999-12-31T00:00:00Z", "step": "400d"}, analyst)
	wantFault(t, "from 2026 to 9999, step 400d", err, fault.TooLarge, "7281 points", "at most 1000")
	_, err = a.History(Values{"from": "0001-01-01T00:00:00Z", "to": "9999-12-31T00:00:00Z", "step": "1s"}, analyst)
	wantFault(t, "from 1 to 9999, step 1s", err, fault.TooLarge, "at most 1000")
	s := seriesOf(t, a, analyst, Values{"from": from, "to": "9999-12-31T00:00:00Z", "step": "100000d"})
	if len(s.Points) != 30 {
		t.Fatalf("from 2026 to 9999, step 100000d: %d points, want 30", len(s.Points))
	}
	prev := day2.Add(-time.Second)
	for _, p := range s.Points {
		at, err := time.Parse(time.RFC3339Nano, p.Time)
		if err != nil || !at.After(prev) || p.Version != v2 {
			t.Fatalf("points %+v: not ascending from %v, or not the newest version", s.Points, day2)
		}
		prev = at
	}
}

// freshCity is a city loaded just now, on the real clock, with the
// server's zone tz: a history of moments, not days.
func freshCity(t *testing.T, tz *time.Location) (*Answers, *store.Store) {
	t.Helper()
	st, err := store.Open(store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	b := engine.NewBatch("t", []string{"isolated"})
	for i := range 5 {
		r := engine.Record{ID: fmt.Sprint("d", i), Lon: 121.5, Lat: 31.2, Building: "B1", Grid: "G1", Community: "C", Street: "S", District: "D"}
		if err := b.Add(&r); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Load([]*engine.Batch{b}, nil); err != nil {
		t.Fatal(err)
	}
	return New(st.Engine(), st, Options{TZ: tz}), st
}

// TestHistoryDefaultsDoNotFail: on a server loaded moments ago, a series
// without from is the steps before to that the history holds (here just
// to), not a 410; an explicit from before the history stays 410; from
// today (a date: its end, later than now) without to is that one point.
func TestHistoryDefaultsDoNotFail(t *testing.T) {
	tz := time.FixedZone("CST", 8*3600)
	a, st := freshCity(t, tz)
	analyst := &Caller{Name: "x", Role: Analyst}
	time.Sleep(1100 * time.Millisecond)
	if _, err := a.Patch("d0", []byte(`{"set":["isolated"]}`), &Caller{Name: "ops", Role: Admin}); err != nil {
		t.Fatal(err)
	}
	newest := uint64(st.Engine().Version())
	_, oldest, _, _ := st.Engine().History()
	for _, q := range []Values{{}, {"step": "1h"}, {"step": "1s"}, {"level": "grid", "id": "G1"}, {"to": time.Now().Format(time.RFC3339Nano)}} {
		s := seriesOf(t, a, analyst, q)
		if len(s.Points) == 0 || len(s.Points) > 30 || s.Points[len(s.Points)-1].Version != newest {
			t.Fatalf("default series %v: %+v, want up to 30 points, the last of version %d", q, s.Points, newest)
		}
		first, err := time.Parse(time.RFC3339Nano, s.Points[0].Time)
		if err != nil || first.Before(oldest) {
			t.Fatalf("default series %v: first point at %v, before the oldest state (%v)", q, first, oldest)
		}
		if q.Get("step") == "1s" && len(s.Points) < 2 {
			t.Errorf("step=1s over a history of a second: %+v", s.Points)
		}
	}
	// an explicit from before the history: 410, as the contract says
	_, err := a.History(Values{"from": oldest.Add(-time.Hour).Format(time.RFC3339Nano)}, analyst)
	wantFault(t, "from an hour before the history", err, fault.HistoryGone)
	// and so a to before it, even without from
	_, err = a.History(Values{"to": oldest.Add(-time.Hour).Format(time.RFC3339Nano)}, analyst)
	wantFault(t, "to an hour before the history", err, fault.HistoryGone)
	// from today, to left out: the end of today is later than now
	today := time.Now().In(tz).Format("2006-01-02")
	s := seriesOf(t, a, analyst, Values{"from": today})
	if len(s.Points) != 1 || s.Points[0].Version != newest || !strings.HasPrefix(s.Points[0].Time, today+"T23:59:59.999") {
		t.Errorf("from=%s: %+v, want the one point at the end of today", today, s.Points)
	}
	// a from earlier today (the oldest state), to left out: to now
	s = seriesOf(t, a, analyst, Values{"from": oldest.Format(time.RFC3339Nano), "step": "1s"})
	if len(s.Points) < 2 || s.Points[0].Version >= newest {
		t.Errorf("from the oldest state: %+v", s.Points)
	}
	// a from after an explicit to is still refused
	_, err = a.History(Values{"from": today, "to": oldest.Format(time.RFC3339Nano)}, analyst)
	wantFault(t, "from after to", err, fault.BadRequest, "from is after to")
}

// TestAuditDatesAreDaysOfTheServersZone: the audit's since and until take
// a date as a day in the server's zone, since from its start and until
// through its end, as a date means everywhere else; an until time takes
// the entries at it.
func TestAuditDatesAreDaysOfTheServersZone(t *testing.T) {
	cst := time.FixedZone("CST", 8*3600)
	var clock atomic.Int64
	st, err := store.Open(store.Options{Clock: func() time.Time { return time.Unix(0, clock.Load()) }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	b := engine.NewBatch("t", []string{"isolated"})
	for i := range 3 {
		r := engine.Record{ID: fmt.Sprint("d", i), Lon: 121.5, Lat: 31.2, Building: "B1", Grid: "G1"}
		if err := b.Add(&r); err != nil {
			t.Fatal(err)
		}
	}
	clock.Store(time.Date(2026, 11, 20, 12, 0, 0, 0, cst).UnixNano())
	if err := st.Load([]*engine.Batch{b}, nil); err != nil {
		t.Fatal(err)
	}
	a := New(st.Engine(), st, Options{TZ: cst})
	admin := &Caller{Name: "ops", Role: Admin}
	// d0 early on the 27th in Shanghai (the 26th in UTC), d1 in the
	// evening of the 27th, d2 early on the 28th (the 27th in UTC)
	at := map[string]time.Time{
		"d0": time.Date(2026, 11, 27, 6, 0, 0, 0, cst),
		"d1": time.Date(2026, 11, 27, 20, 0, 0, 0, cst),
		"d2": time.Date(2026, 11, 28, 7, 0, 0, 0, cst),
	}
	for _, id := range []string{"d0", "d1", "d2"} {
		clock.Store(at[id].UnixNano())
		if _, err := a.Patch(id, []byte(`{"set":["isolated"]}`), admin); err != nil {
			t.Fatal(err)
		}
	}
	ids := func(q Values) string {
		t.Helper()
		out, err := a.Audit(q, admin)
		if err != nil {
			t.Fatalf("audit %v: %v", q, err)
		}
		var r struct{ Entries []struct{ ID string } }
		if err := json.Unmarshal(out, &r); err != nil {
			t.Fatal(err)
		}
		var s []string
		for _, e := range r.Entries {
			if strings.HasPrefix(e.ID, "d") { // not the load's
				s = append(s, e.ID)
			}
		}
		return strings.Join(s, ",")
	}
	for _, c := range []struct {
		q    Values
		want string
	}{
		{Values{"since": "2026-11-27"}, "d0,d1,d2"},
		{Values{"until": "2026-11-27"}, "d0,d1"},
		{Values{"since": "2026-11-27", "until": "2026-11-27"}, "d0,d1"},
		{Values{"since": "2026-11-28"}, "d2"},
		{Values{"until": "2026-11-26"}, ""},
		{Values{"until": at["d1"].Format(time.RFC3339)}, "d0,d1"},                 // an until time takes the entries at it
		{Values{"since": at["d1"].UTC().Format("2006-01-02t15:04:05z")}, "d1,d2"}, // RFC 3339 as everywhere
		{Values{"since": fmt.Sprint(at["d2"].Unix())}, "d2"},
		{Values{"until": fmt.Sprint(at["d0"].Unix())}, "d0"},
	} {
		if got := ids(c.q); got != c.want {
			t.Errorf("audit %v: %q, want %q", c.q, got, c.want)
		}
	}
	for _, s := range []string{"2026-11-27T00:00:00+24:00", "2026-02-30", "soon"} {
		_, err := a.Audit(Values{"since": s}, admin)
		wantFault(t, "since="+s, err, fault.BadRequest, "since", "RFC 3339", "a day in")
	}
}
