package store

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/roomstate/roomstate/city"
	"github.com/roomstate/roomstate/engine"
	"github.com/roomstate/roomstate/scheme"
	"github.com/roomstate/roomstate/wal"
)

// openLoaded opens a store with opts and loads a generated city of n
// dwellings into it.
func openLoaded(t *testing.T, n int, opts Options) (*Store, *engine.Engine, *city.City) {
	t.Helper()
	c := city.New(city.Config{N: n, Seed: 5})
	b, err := c.Batch()
	if err != nil {
		t.Fatal(err)
	}
	opts.Engine.DeltaLimit = 200
	s, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Load([]*engine.Batch{b}, c.Boundaries()); err != nil {
		t.Fatal(err)
	}
	return s, s.Engine(), c
}

// submit submits one request of ops.
func submit(s *Store, ops []engine.Op, who *Who) ([]engine.Event, error) {
	return s.Submit(engine.Request{Ops: ops}, who)
}

// fingerprint summarises an engine's whole state for comparisons.
func fingerprint(t *testing.T, e *engine.Engine) string {
	t.Helper()
	var sb bytes.Buffer
	fmt.Fprintf(&sb, "v%d n%d flags%v\n", e.Version(), e.Len(), e.Flags())
	res, err := e.Grid(&engine.GridQuery{Level: "building"})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range res.Cells {
		fmt.Fprintf(&sb, "%s %d %v\n", c.ID, c.Total, c.Flags)
	}
	for _, n := range e.Schemes() {
		sc, _ := e.Scheme(n)
		fmt.Fprintf(&sb, "scheme %s %v\n", n, sc)
	}
	u, _ := e.Units(engine.UnitsQuery{Level: "grid", Where: ""})
	for _, x := range u.Units {
		fmt.Fprintf(&sb, "%s %s %d\n", x.ID, x.Name, x.Total)
	}
	return sb.String()
}

func randomRequest(rng *rand.Rand, ids []string, k int) []engine.Op {
	flags := []string{"isolated", "vaccinated", "rental", "elderly_alone"}
	var ops []engine.Op
	for i := 0; i < 1+rng.IntN(k); i++ {
		id := ids[rng.IntN(len(ids))]
		switch rng.IntN(8) {
		case 0:
			ops = append(ops, engine.Op{Kind: engine.OpPut, ID: fmt.Sprintf("new-%d", rng.IntN(1000)),
				Put: &engine.DwellingInput{Lon: 121.47, Lat: 31.23, Building: "NB", Floor: 2, Room: "201", Flags: []string{"rental"}}})
		case 1, 2:
			ops = append(ops, engine.Op{Kind: engine.OpFlags, ID: id, Clear: []string{flags[rng.IntN(4)]}})
		default:
			ops = append(ops, engine.Op{Kind: engine.OpFlags, ID: id, Set: []string{flags[rng.IntN(4)]}})
		}
	}
	return ops
}

func ids(c *city.City) []string {
	var out []string
	c.Dwellings(func(r *engine.Record) error { out = append(out, r.ID); return nil })
	return out
}

func TestReopenRestoresEverything(t *testing.T) {
	dir := t.TempDir()
	s, e, c := openLoaded(t, 20_000, Options{Dir: dir})
	var err error
	if err != nil {
		t.Fatal(err)
	}
	if s.HadState() {
		t.Fatal("a new directory reported state")
	}
	if err := s.Snapshot(); err != nil { // the load, made durable
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	all := ids(c)
	for i := 0; i < 300; i++ {
		if _, err := submit(s, randomRequest(rng, all, 4), nil); err != nil {
			t.Fatal(err)
		}
		if i == 100 {
			if err := s.Snapshot(); err != nil {
				t.Fatal(err)
			}
		}
	}
	custom := scheme.Default()
	custom.Rules = custom.Rules[:2]
	before := e.Version()
	if v, err := s.PutScheme("short", custom, nil); err != nil || v != before+1 || e.Version() != v {
		t.Fatalf("a scheme put: version %d (%v), want %d", v, err, before+1)
	}
	want := fingerprint(t, e)
	// reopen from snapshot + log, without a clean close (no final snapshot)
	s.wal.Close()
	s2, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	e2 := s2.Engine()
	if !s2.HadState() {
		t.Fatal("state not found")
	}
	if got := fingerprint(t, e2); got != want {
		t.Fatalf("reopened state differs:\n%.500s\nwant\n%.500s", got, want)
	}
	// and again after a clean close (final snapshot, short log)
	if err := s2.Close(); err != nil {
		t.Fatal(err)
	}
	s3, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	e3 := s3.Engine()
	defer s3.Close()
	if got := fingerprint(t, e3); got != want {
		t.Fatal("state after a clean close differs")
	}
	segs, _ := listFiles(dir, "wal-", ".log")
	snaps, _ := listFiles(dir, "snapshot-", ".msgpack")
	if len(snaps) != 1 || len(segs) > 2 {
		t.Fatalf("obsolete files kept: snapshots %v, segments %v", snaps, segs)
	}
}

// TestTornTail cuts the log at every byte of its last record: recovery keeps
// every complete record, drops the torn one, and warns.
func TestTornTail(t *testing.T) {
	dir := t.TempDir()
	s, e, c := openLoaded(t, 20_000, Options{Dir: dir})
	var err error
	if err != nil {
		t.Fatal(err)
	}
	s.Snapshot()
	all := ids(c)
	rng := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 20; i++ {
		if _, err := submit(s, randomRequest(rng, all, 5), nil); err != nil {
			t.Fatal(err)
		}
	}
	before := e.Version()
	wantBefore := fingerprint(t, e)
	last := randomRequest(rng, all, 5)
	evs, err := submit(s, last, nil)
	if err != nil {
		t.Fatal(err)
	}
	wantAfter := fingerprint(t, e)
	s.wal.Close()
	var path string
	var lastOff int64
	if _, err := wal.Inspect(dir, func(p string, off int64, _ wal.Record) { path, lastOff = p, off }); err != nil {
		t.Fatal(err)
	}
	full, _ := os.ReadFile(path)
	lastLen := len(full) - int(lastOff)
	snaps, _ := os.ReadDir(dir)
	for cut := len(full) - lastLen; cut <= len(full); cut++ {
		d := t.TempDir()
		for _, f := range snaps {
			b, _ := os.ReadFile(filepath.Join(dir, f.Name()))
			os.WriteFile(filepath.Join(d, f.Name()), b, 0o644)
		}
		os.WriteFile(filepath.Join(d, filepath.Base(path)), full[:cut], 0o644)
		var logs bytes.Buffer
		s2, err := Open(Options{Dir: d, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
		if err != nil {
			t.Fatalf("cut at %d of %d: %v", cut, len(full), err)
		}
		e2 := s2.Engine()
		want, wantV := wantBefore, before
		if cut == len(full) {
			want, wantV = wantAfter, evs[len(evs)-1].Version
		} else if cut > len(full)-lastLen && !bytes.Contains(logs.Bytes(), []byte("torn")) {
			t.Fatalf("cut at %d: no warning logged: %s", cut, logs.String())
		}
		if e2.Version() != wantV || fingerprint(t, e2) != want {
			t.Fatalf("cut at %d of %d: version %d, want %d", cut, len(full), e2.Version(), wantV)
		}
		// the torn bytes are gone: new changes follow the complete records
		if _, err := submit(s2, []engine.Op{{Kind: engine.OpFlags, ID: all[0], Set: []string{"isolated"}}}, nil); err != nil {
			t.Fatal(err)
		}
		s2.Close()
		s3, err := Open(Options{Dir: d})
		if err != nil || s3.Engine().Version() != wantV+1 {
			t.Fatalf("cut at %d: after a change and reopen: %v", cut, err)
		}
		s3.Close()
	}
}

func TestCorruptionStopsTheStart(t *testing.T) {
	dir := t.TempDir()
	s, _, c := openLoaded(t, 20_000, Options{Dir: dir})
	s.Snapshot()
	all := ids(c)
	rng := rand.New(rand.NewPCG(5, 6))
	for i := 0; i < 10; i++ {
		submit(s, randomRequest(rng, all, 3), nil)
	}
	s.wal.Close()
	copyDir := func() string {
		d := t.TempDir()
		ents, _ := os.ReadDir(dir)
		for _, f := range ents {
			b, _ := os.ReadFile(filepath.Join(dir, f.Name()))
			os.WriteFile(filepath.Join(d, f.Name()), b, 0o644)
		}
		return d
	}
	// a flipped byte in the middle of the log
	d := copyDir()
	segs, _ := listFiles(d, "wal-", ".log")
	p := filepath.Join(d, wal.SegmentName(segs[len(segs)-1]))
	b, _ := os.ReadFile(p)
	b[len(b)/2] ^= 0xff
	os.WriteFile(p, b, 0o644)
	_, err := Open(Options{Dir: d})
	var ce *CorruptError
	if !errors.As(err, &ce) {
		t.Fatalf("mid-log damage: got %v, want a CorruptError", err)
	}
	// a damaged snapshot
	d = copyDir()
	snaps, _ := listFiles(d, "snapshot-", ".msgpack")
	p = filepath.Join(d, snapshotName(snaps[0]))
	b, _ = os.ReadFile(p)
	b[len(b)/2] ^= 0x01
	os.WriteFile(p, b, 0o644)
	if _, err = Open(Options{Dir: d}); !errors.As(err, &ce) {
		t.Fatalf("damaged snapshot: got %v, want a CorruptError", err)
	}
	// a truncated snapshot
	os.WriteFile(p, b[:len(b)/3], 0o644)
	if _, err = Open(Options{Dir: d}); !errors.As(err, &ce) {
		t.Fatalf("truncated snapshot: got %v", err)
	}
}

func TestGroupCommitAndFeed(t *testing.T) {
	dir := t.TempDir()
	s, e, c := openLoaded(t, 20_000, Options{Dir: dir, Backlog: 1000})
	var err error
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	all := ids(c)
	start := e.Version()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var versions []engine.Version
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 9))
			for i := 0; i < 50; i++ {
				evs, err := submit(s, randomRequest(rng, all, 3), nil)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				for _, ev := range evs {
					versions = append(versions, ev.Version)
				}
				mu.Unlock()
			}
		}(w)
	}
	wg.Wait()
	slices.Sort(versions)
	for i, v := range versions {
		if v != start+engine.Version(i+1) {
			t.Fatalf("versions not dense: %d at %d", v, i)
		}
	}
	// the feed gives them all, in order, from any point of the backlog
	newest := e.Version()
	got, _, err := s.Feed().Since(newest-500, 10_000, nil)
	if err != nil || len(got) != 500 || got[0].Version != newest-499 || got[499].Version != newest {
		t.Fatalf("feed: %d events, %v", len(got), err)
	}
	for i := 1; i < len(got); i++ {
		if got[i].Version != got[i-1].Version+1 {
			t.Fatal("feed out of order")
		}
	}
	// older than the backlog: gone, with the oldest available
	_, _, err = s.Feed().Since(start, 10, nil)
	var g *GoneError
	if !errors.As(err, &g) || g.Oldest != newest-999 {
		t.Fatalf("since %d: %v", start, err)
	}
	// up to date: nothing yet, and a channel that wakes on the next change
	evs, wake, err := s.Feed().Since(newest, 10, nil)
	if err != nil || len(evs) != 0 {
		t.Fatal("events beyond the newest")
	}
	// beyond the newest, even the largest version: waits too, never gone
	if evs, _, err := s.Feed().Since(math.MaxUint64, 10, nil); err != nil || len(evs) != 0 {
		t.Fatalf("since the largest version: %v, %d events", err, len(evs))
	}
	submit(s, []engine.Op{{Kind: engine.OpFlags, ID: all[1], Set: []string{"isolated"}}}, nil)
	<-wake
}

func TestBadRequestIsNotLogged(t *testing.T) {
	dir := t.TempDir()
	s, e, c := openLoaded(t, 20_000, Options{Dir: dir})
	all := ids(c)
	v := e.Version()
	if _, err := submit(s, []engine.Op{{Kind: engine.OpFlags, ID: all[0], Set: []string{"isolated"}}, {Kind: engine.OpFlags, ID: "nope", Set: []string{"isolated"}}}, nil); err == nil {
		t.Fatal("accepted")
	}
	if e.Version() != v {
		t.Fatal("half applied")
	}
	s.wal.Close()
	n := 0
	if _, err := wal.Inspect(dir, func(string, int64, wal.Record) { n++ }); err != nil || n != 0 {
		t.Fatalf("a rejected request reached the log (%d records, %v)", n, err)
	}
}

// TestAuditSurvivesACrash: entries not yet synced to audit.log when the
// process dies come back from the log of changes, which holds who made them.
func TestAuditSurvivesACrash(t *testing.T) {
	dir := t.TempDir()
	s, _, c := openLoaded(t, 20_000, Options{Dir: dir})
	s.Snapshot()
	all := ids(c)
	who := &Who{Name: "grid worker", Role: "editor", Remote: "10.0.0.7"}
	for i := 0; i < 10; i++ {
		if _, err := submit(s, []engine.Op{{Kind: engine.OpFlags, ID: all[i], Set: []string{"isolated"}}}, who); err != nil {
			t.Fatal(err)
		}
	}
	// a crash: nothing flushed, files left as they are
	s.wal.Close()
	s.audit.f.Close()
	s2, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := s2.Audit(AuditQuery{Limit: 1000})
	if err != nil || len(got) != 10 {
		t.Fatalf("%d entries after the crash, want 10: %v", len(got), err)
	}
	for i, a := range got {
		if a.ID != all[i] || a.Name != "grid worker" || a.Remote != "10.0.0.7" || a.Set[0] != "isolated" {
			t.Fatalf("entry %d: %+v", i, a)
		}
	}
	// and after a clean close they are on disk, once each
	s2.Close()
	s3, _ := Open(Options{Dir: dir})
	defer s3.Close()
	got, _, _ = s3.Audit(AuditQuery{Limit: 1000})
	if len(got) != 10 {
		t.Fatalf("%d entries after a clean restart, want 10", len(got))
	}
}

// A directory opened and closed with nothing in it stays empty: the next
// start must not take an empty city for saved state.
func TestNothingToSaveLeavesNoState(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if s2.HadState() {
		t.Fatal("an empty directory reopened as saved state")
	}
}

// TestOldSchemeRecord: a log written before schemes were changes (a scheme
// put without a version, between two changes) still reopens: the scheme
// is there, and the change after it keeps its version.
func TestOldSchemeRecord(t *testing.T) {
	dir := t.TempDir()
	s, e, c := openLoaded(t, 2_000, Options{Dir: dir})
	all := ids(c)
	if _, err := submit(s, []engine.Op{{Kind: engine.OpFlags, ID: all[0], Set: []string{"isolated"}}}, nil); err != nil {
		t.Fatal(err)
	}
	v := e.Version()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// what an older build appended: the scheme, then a change of version v+1
	l, err := wal.Open(dir, wal.Options{FirstSeq: uint64(v) + 1})
	if err != nil {
		t.Fatal(err)
	}
	custom := scheme.Default()
	custom.Rules = custom.Rules[:1]
	old, err := encodeRecord(&record{Version: uint64(v), Scheme: &schemePut{Name: "old", Scheme: custom}})
	if err != nil {
		t.Fatal(err)
	}
	change, err := encodeRecord(&record{Version: uint64(v) + 1, Ops: toWire([]engine.Op{{Kind: engine.OpFlags, ID: all[1], Set: []string{"rental"}}})})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Append([]wal.Record{{Seq: l.Next(), Data: old}}); err != nil {
		t.Fatal(err)
	}
	if err := l.Append([]wal.Record{{Seq: l.Next(), Data: change}}); err != nil {
		t.Fatal(err)
	}
	l.Close()
	s2, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	e2 := s2.Engine()
	if sc, ok := e2.Scheme("old"); !ok || len(sc.Rules) != 1 {
		t.Fatalf("the old record's scheme: %v %v", sc, ok)
	}
	d, err := e2.Dwelling(all[1])
	if err != nil || e2.Version() != v+1 || !slices.Contains(d.Flags, "rental") {
		t.Fatalf("after the old scheme record: version %d (want %d), %+v %v", e2.Version(), v+1, d, err)
	}
}
