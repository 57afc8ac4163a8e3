package store

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/paulmach/orb"
	"github.com/roomstate/roomstate/engine"
	"github.com/roomstate/roomstate/fault"
	"github.com/roomstate/roomstate/region"
)

// trimRequest is a request of one to three changes of dwellings: flags set
// and cleared, deletes, dwellings added, and moves (a put of a dwelling
// into a building of another grid, at another place), so that the history
// holds every kind of change, indexed at one place or two.
func trimRequest(t *testing.T, rng *rand.Rand, e *engine.Engine, all []string, gone map[string]bool) []engine.Op {
	t.Helper()
	flags := []string{"isolated", "vaccinated", "rental", "elderly_alone"}
	var ops []engine.Op
	seen := map[string]bool{}
	for range 1 + rng.IntN(3) {
		id := all[rng.IntN(len(all))]
		if seen[id] {
			continue
		}
		seen[id] = true
		if gone[id] { // deleted: put back somewhere
			gone[id] = false
			ops = append(ops, moveTo(t, rng, e, all, id))
			continue
		}
		switch rng.IntN(10) {
		case 0:
			gone[id] = true
			ops = append(ops, engine.Op{Kind: engine.OpDelete, ID: id})
		case 1, 2:
			ops = append(ops, moveTo(t, rng, e, all, id))
		case 3:
			nid := fmt.Sprintf("T-%d", rng.IntN(50))
			if !seen[nid] && !gone[nid] {
				seen[nid] = true
				ops = append(ops, moveTo(t, rng, e, all, nid))
			}
		case 4, 5:
			ops = append(ops, engine.Op{Kind: engine.OpFlags, ID: id, Clear: []string{flags[rng.IntN(4)]}})
		default:
			ops = append(ops, engine.Op{Kind: engine.OpFlags, ID: id, Set: []string{flags[rng.IntN(4)]}})
		}
	}
	return ops
}

// moveTo is a put of dwelling id next to another dwelling, in a building
// of that one's grid.
func moveTo(t *testing.T, rng *rand.Rand, e *engine.Engine, all []string, id string) engine.Op {
	t.Helper()
	for {
		d, err := e.Dwelling(all[rng.IntN(len(all))])
		if err != nil {
			continue // deleted
		}
		return engine.Op{Kind: engine.OpPut, ID: id, Put: &engine.DwellingInput{
			Lon: d.Lon + (rng.Float64()-0.5)*0.002, Lat: d.Lat + (rng.Float64()-0.5)*0.002,
			District: d.District, Street: d.Street, Community: d.Community, Grid: d.Grid,
			Building: "T-" + d.Grid, Floor: 3, Room: fmt.Sprint(300 + rng.IntN(20)), Flags: []string{"rental"}}}
	}
}

// pastAnswers is what an engine says of its past and present: the state
// (fingerprint), the retained history, and as of versions and times across
// it (before it: history gone): unit counts, grid cells, polygons with
// their ids (read through the log's spatial index), series, and versions
// at times.
func pastAnswers(t *testing.T, e *engine.Engine, times []time.Time) string {
	t.Helper()
	var sb strings.Builder
	sb.WriteString(fingerprint(t, e))
	oldest, oldestTime, n, _ := e.History()
	fmt.Fprintf(&sb, "history: oldest %d at %v, %d changes, last change %d\n", oldest, oldestTime.UnixMilli(), n, e.LastChange())
	b := e.Bounds()
	mid := b.Center()
	boxes := []orb.Bound{b, {Min: b.Min, Max: mid}, {Min: mid, Max: b.Max},
		{Min: orb.Point{b.Min[0], mid[1]}, Max: orb.Point{mid[0], b.Max[1]}}}
	var vs []engine.Version
	for v := oldest - 2; v <= e.Version(); v += max(1, (e.Version()-oldest)/12) {
		vs = append(vs, v)
	}
	vs = append(vs, oldest, oldest+1, e.Version()-1)
	for _, v := range vs {
		at := engine.At(v)
		fmt.Fprintf(&sb, "as of %d:", v)
		u, err := e.Units(engine.UnitsQuery{Level: "grid", AsOf: at})
		if err != nil {
			var fe *fault.Error
			if !errors.As(err, &fe) || fe.Kind != fault.HistoryGone || v >= oldest {
				t.Fatalf("units as of %d (oldest %d): %v", v, oldest, err)
			}
			fmt.Fprintf(&sb, " gone: %v\n", err)
			continue
		}
		for _, x := range u.Units {
			fmt.Fprintf(&sb, " %s %d %v;", x.ID, x.Total, x.Flags)
		}
		g, err := e.Grid(&engine.GridQuery{Level: "building", Where: "isolated or rental", AsOf: at})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range g.Cells {
			fmt.Fprintf(&sb, " %s %d %d;", c.ID, c.Total, c.Matched)
		}
		for _, box := range boxes {
			rg, err := region.New(orb.MultiPolygon{box.ToPolygon()})
			if err != nil {
				t.Fatal(err)
			}
			var res engine.PolygonResult
			if err := e.PolygonStats(&engine.PolygonQuery{Region: rg, Where: "rental", GroupBy: "grid", IDs: true, Limit: 1 << 20, AsOf: at}, &res); err != nil {
				t.Fatal(err)
			}
			slices.Sort(res.IDs)
			fmt.Fprintf(&sb, " box %v: %d %d %v %v", box, res.Total, res.Matched, res.Flags, res.IDs)
			for _, gr := range res.Groups {
				fmt.Fprintf(&sb, " %s %d;", gr.ID, gr.Total)
			}
		}
		sb.WriteString("\n")
	}
	// a series over the retained history's times, and one from before it
	var kept []time.Time
	for _, tm := range times {
		if !tm.Before(oldestTime) {
			kept = append(kept, tm)
		}
	}
	if len(kept) < 10 {
		t.Fatalf("%d of the changes' times retained", len(kept))
	}
	for _, at := range [][]time.Time{kept, times} {
		pts, _, err := e.Series(engine.SeriesQuery{Level: "district", ID: u0(t, e), Where: "isolated", At: at})
		if err != nil {
			var fe *fault.Error
			if !errors.As(err, &fe) || fe.Kind != fault.HistoryGone || at[0].After(oldestTime) {
				t.Fatalf("series from %v (history from %v): %v", at[0], oldestTime, err)
			}
			fmt.Fprintf(&sb, "series gone: %v\n", err)
		}
		for _, p := range pts {
			fmt.Fprintf(&sb, "series %v: %d %+v\n", p.Time.UnixMilli(), p.Version, p.Counts)
		}
	}
	for _, tm := range times {
		v, err := e.VersionAt(tm)
		fmt.Fprintf(&sb, "version at %v: %d %v\n", tm.UnixMilli(), v, err)
	}
	return sb.String()
}

// u0 is the first district's id.
func u0(t *testing.T, e *engine.Engine) string {
	u, err := e.Units(engine.UnitsQuery{Level: "district"})
	if err != nil || len(u.Units) == 0 {
		t.Fatalf("districts: %v", err)
	}
	return u.Units[0].ID
}

// TestTrimmedHistoryReopens: a data directory with a minute of history,
// changes of every kind over several minutes (so that trims drop changes:
// the points, records and postings of some, with others kept), a snapshot
// after the trims, then more changes: reopened after a clean close, and
// after a kill (the log replayed over the post-trim snapshot), it starts,
// and answers everything of the present and the past as before, the change
// feed agreeing with it. Reopened with a shorter history, the next trim
// drops more, and that directory reopens too.
func TestTrimmedHistoryReopens(t *testing.T) {
	for _, kill := range []bool{false, true} {
		t.Run(map[bool]string{false: "close", true: "kill"}[kill], func(t *testing.T) {
			dir := t.TempDir()
			c := &clock{t: time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)}
			opts := Options{Dir: dir, Clock: c.now, NoSync: true, Engine: engine.Options{History: time.Minute}}
			s, e, ct := openLoaded(t, 3000, opts)
			all := append(ids(ct), "T-1", "T-2")
			gone := map[string]bool{"T-1": true, "T-2": true}
			rng := rand.New(rand.NewPCG(7, 8))
			var times []time.Time
			change := func(n int, step time.Duration) {
				for range n {
					if _, err := submit(s, trimRequest(t, rng, e, all, gone), nil); err != nil {
						t.Fatal(err)
					}
					times = append(times, c.now().Add(-step/2), c.now())
					c.add(step)
				}
			}
			loaded := e.Version()
			change(150, 700*time.Millisecond) // 105 s: trimmed in part
			c.add(30 * time.Second)
			change(150, 400*time.Millisecond) // 60 s: a trim at its start, one inside
			oldest, _, n, _ := e.History()
			if oldest <= loaded || n < 100 {
				t.Fatalf("history from version %d, %d changes: the trims did not drop some and keep some", oldest, n)
			}
			if err := s.Snapshot(); err != nil {
				t.Fatal(err)
			}
			snapV := e.Version()
			change(60, 100*time.Millisecond) // in the log only (a kill) or the final snapshot (a close)
			want := pastAnswers(t, e, times)
			feed, _, err := s.Feed().Since(snapV, 1<<20, nil)
			if err != nil || len(feed) == 0 {
				t.Fatalf("feed after the snapshot: %d events, %v", len(feed), err)
			}
			if kill {
				crash(s)
			} else if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s2, err := Open(opts)
			if err != nil {
				t.Fatalf("reopening after the trims: %v", err)
			}
			e2 := s2.Engine()
			if got := pastAnswers(t, e2, times); got != want {
				t.Fatalf("reopened, the engine answers otherwise:\n%s", firstDiff(got, want))
			}
			// the feed: after a kill, the changes replayed from the log, as
			// before; after a close, none (the snapshot holds them all), and
			// a reader from before them is told they are gone
			got, _, err := s2.Feed().Since(snapV, 1<<20, nil)
			if kill {
				if err != nil || !sameEvents(got, feed) {
					t.Fatalf("feed after the snapshot, reopened: %d events (%v), want %d", len(got), err, len(feed))
				}
			} else if _, ok := err.(*GoneError); !ok {
				t.Fatalf("feed after the snapshot, reopened after a close: %d events, %v; want gone", len(got), err)
			}
			if s2.Feed().Newest() != e2.Version() {
				t.Fatalf("feed's newest %d, the engine's %d", s2.Feed().Newest(), e2.Version())
			}
			// it goes on: changes, a trim, a snapshot, a kill, a reopen
			s, e = s2, e2
			c.add(2 * time.Minute)
			change(50, time.Second)
			if err := s.Snapshot(); err != nil {
				t.Fatal(err)
			}
			change(10, time.Second)
			want = pastAnswers(t, e, times)
			crash(s)
			// with a shorter history: replaying the log trims what the
			// snapshot holds beyond it; the state now is as it was
			short := opts
			short.Engine.History = 10 * time.Second
			s3, err := Open(short)
			if err != nil {
				t.Fatalf("reopening after a trim, a snapshot and a kill: %v", err)
			}
			if got, want := fingerprint(t, s3.Engine()), fingerprint(t, e); got != want {
				t.Fatalf("reopened with a shorter history, the state differs:\n%s", firstDiff(got, want))
			}
			s, e = s3, s3.Engine()
			if _, ot, n, _ := e.History(); n == 0 || c.now().Sub(ot) > 80*time.Second {
				t.Fatalf("reopened with 10 s of history: %d changes from %v, now %v", n, ot, c.now())
			}
			c.add(time.Minute)
			change(5, time.Second)
			if err := s.Snapshot(); err != nil {
				t.Fatal(err)
			}
			change(5, time.Second)
			want = pastAnswers(t, e, times)
			crash(s)
			s4, err := Open(short)
			if err != nil {
				t.Fatalf("reopening after a trim to a shorter history: %v", err)
			}
			defer s4.Close()
			if got := pastAnswers(t, s4.Engine(), times); got != want {
				t.Fatalf("reopened after a trim to a shorter history, the engine answers otherwise:\n%s", firstDiff(got, want))
			}
		})
	}
}

// sameEvents compares two lists of events by what a follower reads.
func sameEvents(a, b []engine.Event) bool {
	return slices.EqualFunc(a, b, func(x, y engine.Event) bool {
		return x.Version == y.Version && x.Op == y.Op && x.ID == y.ID && x.Time.Equal(y.Time) &&
			slices.Equal(x.Set, y.Set) && slices.Equal(x.Clear, y.Clear)
	})
}

// firstDiff shows where two multi-line texts first differ.
func firstDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := range min(len(g), len(w)) {
		if g[i] != w[i] {
			return fmt.Sprintf("line %d:\n got %.600s\nwant %.600s", i, g[i], w[i])
		}
	}
	return fmt.Sprintf("%d lines, want %d", len(g), len(w))
}

// TestCheckFindsWhatAStartRefuses: Check restores the newest snapshot and
// replays the log after it as Open does, changing nothing, and reports
// what Open would refuse as Open does: a post-trim snapshot of an older
// build (positions of trimmed changes) restores; one with a position after
// its newest change, or whose log starts after it, is refused by both.
func TestCheckFindsWhatAStartRefuses(t *testing.T) {
	dir := t.TempDir()
	c := &clock{t: time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)}
	opts := Options{Dir: dir, Clock: c.now, NoSync: true, Engine: engine.Options{History: time.Minute}}
	s, e, ct := openLoaded(t, 2000, opts)
	all := ids(ct)
	rng := rand.New(rand.NewPCG(9, 10))
	var early []byte // an older snapshot, which the log no longer joins
	var earlyV engine.Version
	for i := range 100 {
		if _, err := submit(s, trimRequest(t, rng, e, all, map[string]bool{}), nil); err != nil {
			t.Fatal(err)
		}
		c.add(2 * time.Second)
		if i == 10 {
			if err := s.Snapshot(); err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(filepath.Join(dir, snapshotName(uint64(e.Version()))))
			if err != nil {
				t.Fatal(err)
			}
			early, earlyV = b, e.Version()
		}
	}
	if err := s.Snapshot(); err != nil {
		t.Fatal(err)
	}
	snapV := e.Version()
	for range 10 {
		if _, err := submit(s, trimRequest(t, rng, e, all, map[string]bool{}), nil); err != nil {
			t.Fatal(err)
		}
	}
	final := e.Version()
	crash(s)
	rep, err := Check(dir, engine.Options{}, true)
	if err != nil || rep.Restored != snapV || rep.Version != final || rep.Replayed != int(final-snapV) {
		t.Fatalf("check: %+v, %v; want the snapshot of %d and %d changes to %d", rep, err, snapV, final-snapV, final)
	}
	path := filepath.Join(dir, snapshotName(uint64(snapV)))
	snap, seq, _, err := readSnapshot(path)
	if err != nil {
		t.Fatal(err)
	}
	h := *snap.History
	if h.Base == 0 {
		t.Fatal("nothing trimmed: the test tests nothing")
	}
	// as an older build wrote it: a position of a trimmed change
	h.PtIdx = append(slices.Clone(h.PtIdx), byte(h.Base-1), byte((h.Base-1)>>8), byte((h.Base-1)>>16), byte((h.Base-1)>>24))
	h.PtLat = append(slices.Clone(h.PtLat), 0, 0, 0, 0)
	h.PtLon = append(slices.Clone(h.PtLon), 0, 0, 0, 0)
	snap.History = &h
	if _, err := writeSnapshot(dir, snap, seq); err != nil {
		t.Fatal(err)
	}
	if _, err := Check(dir, engine.Options{}, true); err != nil {
		t.Fatalf("check of an older build's post-trim snapshot: %v", err)
	}
	// a position after the newest change: refused
	after := uint32(h.Base) + uint32(len(h.Ms)/8)
	h.PtIdx[len(h.PtIdx)-4], h.PtIdx[len(h.PtIdx)-3], h.PtIdx[len(h.PtIdx)-2], h.PtIdx[len(h.PtIdx)-1] = byte(after), byte(after>>8), byte(after>>16), byte(after>>24)
	if _, err := writeSnapshot(dir, snap, seq); err != nil {
		t.Fatal(err)
	}
	_, cerr := Check(dir, engine.Options{}, false)
	_, oerr := Open(opts)
	var ce *CorruptError
	if !errors.As(cerr, &ce) || ce.Path != path || oerr == nil || cerr.Error() != oerr.Error() {
		t.Fatalf("a snapshot with a position after its newest change: check says %v, a start %v", cerr, oerr)
	}
	// the snapshot before it, which the log does not join: changes are
	// missing
	os.Remove(path)
	if _, err := writeSnapshotFile(dir, uint64(earlyV), early); err != nil {
		t.Fatal(err)
	}
	_, cerr = Check(dir, engine.Options{}, false)
	_, oerr = Open(opts)
	if cerr == nil || oerr == nil || cerr.Error() != oerr.Error() || !strings.Contains(cerr.Error(), "changes are missing") {
		t.Fatalf("a log that starts after the snapshot: check says %v, a start %v", cerr, oerr)
	}
}

// TestCheckFindsAnAuditTrailAStartRefuses: a start opens the audit trail
// before the snapshot and the log, and refuses one whose last entry does
// not decode; Check (roomstate wal check) says so too, with the same
// error, rather than "ok" for a directory no server starts from. A torn
// last line, which a start cuts off, is no damage to either.
func TestCheckFindsAnAuditTrailAStartRefuses(t *testing.T) {
	dir := t.TempDir()
	opts := Options{Dir: dir, NoSync: true}
	s, e, ct := openLoaded(t, 200, opts)
	all := ids(ct)
	rng := rand.New(rand.NewPCG(3, 4))
	for range 5 {
		if _, err := submit(s, trimRequest(t, rng, e, all, map[string]bool{}), nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	appendTo := func(b string) {
		t.Helper()
		f, err := os.OpenFile(filepath.Join(dir, auditFile), os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteString(b); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	appendTo(`{"version":99`) // torn: a start cuts it off
	if _, err := Check(dir, engine.Options{}, false); err != nil {
		t.Fatalf("check of a torn last audit line: %v", err)
	}
	appendTo("\n")
	_, cerr := Check(dir, engine.Options{}, false)
	_, oerr := Open(opts)
	var ce *CorruptError
	if !errors.As(cerr, &ce) || oerr == nil || cerr.Error() != oerr.Error() {
		t.Fatalf("an audit trail whose last entry does not decode: check says %v, a start %v", cerr, oerr)
	}
	// audit.log gone (a crash between a rotation's two renames) and the
	// newest rotated file's last entry unreadable: a start reads that file
	// and refuses, and so does Check
	if err := os.Rename(filepath.Join(dir, auditFile), filepath.Join(dir, rotatedName(1))); err != nil {
		t.Fatal(err)
	}
	_, cerr = Check(dir, engine.Options{}, false)
	_, oerr = Open(opts)
	if !errors.As(cerr, &ce) || oerr == nil || cerr.Error() != oerr.Error() {
		t.Fatalf("no audit.log, a rotated file whose last entry does not decode: check says %v, a start %v", cerr, oerr)
	}
}
