package store

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/roomstate/roomstate/engine"
)

// clock is a settable time for audit tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// entries records versions from..to (one event each) in a.
func entries(a *audit, from, to uint64, at time.Time) {
	for v := from; v <= to; v++ {
		a.record([]engine.Event{{Version: engine.Version(v), Op: engine.OpFlags, ID: fmt.Sprintf("RS-%08d", v),
			Grid: "G1", Set: []string{"isolated"}}}, &Who{Time: at, Name: "worker"})
	}
}

// allAudit pages through the whole trail and checks it is in version order.
func allAudit(t *testing.T, s *Store, q AuditQuery) []AuditEntry {
	t.Helper()
	var all []AuditEntry
	for {
		page, more, err := s.Audit(q)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, page...)
		if !more {
			return all
		}
		q.After = page[len(page)-1].Version
	}
}

func versions(es []AuditEntry) (uint64, uint64, bool) {
	if len(es) == 0 {
		return 0, 0, true
	}
	for i := 1; i < len(es); i++ {
		if es[i].Version != es[i-1].Version+1 {
			return es[0].Version, es[len(es)-1].Version, false
		}
	}
	return es[0].Version, es[len(es)-1].Version, true
}

func auditFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(dir, "audit-*.log"))
	return m
}

// TestAuditRotatesBySize: audit.log rotates before it would pass MaxSize;
// the reader reads every file in order, a page at a time across files; a
// reopen goes on where it was.
func TestAuditRotatesBySize(t *testing.T) {
	dir := t.TempDir()
	c := &clock{t: time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)}
	opts := AuditOptions{MaxSize: 4096, now: c.now}
	a, err := openAuditWith(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	s := &Store{audit: a}
	entries(a, 1, 1000, c.now())
	rot := auditFiles(t, dir)
	if len(rot) < 20 {
		t.Fatalf("%d rotated files for 1000 entries of ~150 bytes at 4 KiB a file", len(rot))
	}
	for _, p := range rot {
		if st, _ := os.Stat(p); st.Size() > 4096 {
			t.Fatalf("%s is %d bytes, over MaxSize", p, st.Size())
		}
	}
	for _, limit := range []int{1, 7, 1000} {
		all := allAudit(t, s, AuditQuery{Limit: limit})
		if lo, hi, ok := versions(all); !ok || lo != 1 || hi != 1000 {
			t.Fatalf("limit %d: versions %d to %d, contiguous %v", limit, lo, hi, ok)
		}
	}
	if got := allAudit(t, s, AuditQuery{After: 555}); len(got) != 445 || got[0].Version != 556 {
		t.Fatalf("after 555: %d entries from %d", len(got), got[0].Version)
	}
	if got := allAudit(t, s, AuditQuery{Dwelling: "RS-00000777"}); len(got) != 1 || got[0].Version != 777 {
		t.Fatalf("one dwelling: %+v", got)
	}
	if err := a.close(); err != nil {
		t.Fatal(err)
	}
	a, err = openAuditWith(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer a.close()
	s = &Store{audit: a}
	entries(a, 990, 1500, c.now()) // 990-1000 replayed from the change log: skipped
	if lo, hi, ok := versions(allAudit(t, s, AuditQuery{})); !ok || lo != 1 || hi != 1500 {
		t.Fatalf("after a reopen: %d to %d, contiguous %v", lo, hi, ok)
	}
}

// TestAuditRotatesByAgeAndRetains: a file rotates once its first entry is
// MaxAge old, even with no new entry (at sync); files last written Retain
// ago go, oldest first, and none younger; RetainFiles caps their number.
func TestAuditRotatesByAgeAndRetains(t *testing.T) {
	dir := t.TempDir()
	c := &clock{t: time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)}
	opts := AuditOptions{MaxAge: 24 * time.Hour, Retain: 3 * 24 * time.Hour, now: c.now}
	a, err := openAuditWith(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	s := &Store{audit: a}
	v := uint64(1)
	for day := range 6 {
		entries(a, v, v+9, c.now())
		v += 10
		// the file written that day bears the day's time
		a.sync()
		os.Chtimes(filepath.Join(dir, auditFile), c.now(), c.now())
		c.add(25 * time.Hour)
		if day == 1 {
			a.sync() // a quiet day: rotation by age at sync
			if n := len(auditFiles(t, dir)); n != 2 {
				t.Fatalf("day %d: %d rotated files, want 2", day, n)
			}
		}
	}
	entries(a, v, v, c.now()) // rotates the sixth day's file; retention runs
	// now is day 0 + 150 h; the file of day d was last written at day 0 +
	// 25 d h: those of days 0-3 are 72 h old or more
	rot := auditFiles(t, dir)
	if len(rot) != 2 {
		t.Fatalf("%d rotated files kept, want those of days 4 and 5: %v", len(rot), rot)
	}
	all := allAudit(t, s, AuditQuery{})
	if lo, hi, ok := versions(all); !ok || lo != 41 || hi != 61 {
		t.Fatalf("versions %d to %d (contiguous %v), want 41 to 61: whole days past retention only", lo, hi, ok)
	}
	// since: files last written before it are skipped, the answer the same
	since := time.Date(2026, 11, 5, 13, 0, 0, 0, time.UTC)
	got := allAudit(t, s, AuditQuery{Since: since})
	if len(got) != 11 || got[0].Version != 51 {
		t.Fatalf("since %v: %d entries from %d", since, len(got), got[0].Version)
	}
	a.close()
	// a cap on files
	opts.RetainFiles = 1
	a, err = openAuditWith(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer a.close()
	if rot := auditFiles(t, dir); len(rot) != 1 || !strings.HasSuffix(rot[0], rotatedName(51)) {
		t.Fatalf("RetainFiles 1: %v", rot)
	}
}

// TestAuditCrashWhileRotating: with audit.log gone (a crash between the
// renames of a rotation), the trail reopens from the newest rotated file:
// entries replayed from the change log are not written twice.
func TestAuditCrashWhileRotating(t *testing.T) {
	dir := t.TempDir()
	c := &clock{t: time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)}
	a, _ := openAuditWith(dir, AuditOptions{MaxSize: 2048, now: c.now})
	entries(a, 1, 200, c.now())
	a.close()
	os.Remove(filepath.Join(dir, auditFile))
	a, err := openAuditWith(dir, AuditOptions{MaxSize: 2048, now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	defer a.close()
	s := &Store{audit: a}
	want := allAudit(t, s, AuditQuery{})
	_, last, _ := versions(want)
	entries(a, last-5, last+10, c.now()) // the change log's replay
	if lo, hi, ok := versions(allAudit(t, s, AuditQuery{})); !ok || lo != 1 || hi != last+10 {
		t.Fatalf("after the replay: %d to %d, contiguous %v", lo, hi, ok)
	}
	// a torn last line of audit.log is still dropped at open
	a.close()
	f, _ := os.OpenFile(filepath.Join(dir, auditFile), os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"version":999999,"ti`)
	f.Close()
	a, err = openAuditWith(dir, AuditOptions{MaxSize: 2048, now: c.now})
	if err != nil || a.last != last+10 {
		t.Fatalf("torn line: %v, last %d", err, a.last)
	}
	a.close()
}

// TestAuditReadWhileRotating: pages read while entries are written and
// files rotate are in order without a gap.
func TestAuditReadWhileRotating(t *testing.T) {
	dir := t.TempDir()
	a, err := openAuditWith(dir, AuditOptions{MaxSize: 2048})
	if err != nil {
		t.Fatal(err)
	}
	defer a.close()
	s := &Store{audit: a}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for v := uint64(1); v <= 1000; v += 10 {
			entries(a, v, v+9, time.Now())
		}
	}()
	for reading := true; reading; {
		select {
		case <-done:
			reading = false
		default:
		}
		all := allAudit(t, s, AuditQuery{Limit: 1000})
		if lo, _, ok := versions(all); !ok || len(all) > 0 && lo != 1 {
			t.Fatalf("a read while rotating: from %d, contiguous %v", lo, ok)
		}
	}
}
