package store

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/roomstate/roomstate/engine"
)

// AuditEntry records one accepted change: when, by whom (the token's name,
// never the token), from where, to which dwelling, and what.
type AuditEntry struct {
	Version  uint64    `json:"version"`
	Time     time.Time `json:"time"`
	Name     string    `json:"name,omitempty"`
	Role     string    `json:"role,omitempty"`
	Remote   string    `json:"remote,omitempty"`
	Op       string    `json:"op"`
	ID       string    `json:"id"`
	Building string    `json:"building,omitempty"`
	Grid     string    `json:"grid,omitempty"`
	Set      []string  `json:"set"`
	Clear    []string  `json:"clear"`
	// changes of no dwelling (op assign, visit, campaign, campaign_end):
	// ID is the unit's, the building's or the campaign's
	Level  string `json:"level,omitempty"`  // assign: the unit's level
	Person string `json:"person,omitempty"` // assign: who answers for it now ("" removed)
	Team   string `json:"team,omitempty"`
	Phone  string `json:"phone,omitempty"`
	Note   string `json:"note,omitempty"`  // visit
	Label  string `json:"label,omitempty"` // campaign
	Tasks  int    `json:"tasks,omitempty"` // campaign: its task set's size
}

// AuditOptions configure the files of the audit trail. Zero values take
// the defaults.
type AuditOptions struct {
	// MaxSize rotates audit.log before an entry would take it past this
	// many bytes (default 64 MiB).
	MaxSize int64
	// MaxAge rotates audit.log once its first entry is this old (default
	// 24 hours), so that retention can drop whole days.
	MaxAge time.Duration
	// Retain removes a rotated file once it was last written this long ago:
	// its newest entry is at least that old, so no entry younger than Retain
	// is removed (default 30 days; negative keeps every file).
	Retain time.Duration
	// RetainFiles, when positive, also keeps at most this many rotated files,
	// removing the oldest first, entries younger than Retain included: a cap
	// on disk use for those who prefer it to the trail.
	RetainFiles int
	// Logger receives rotation and retention failures, which do not stop
	// the trail: it goes on in audit.log (default: none).
	Logger *slog.Logger
	// now is the clock (tests set it).
	now func() time.Time
}

func (o *AuditOptions) defaults() {
	if o.MaxSize <= 0 {
		o.MaxSize = 64 << 20
	}
	if o.MaxAge <= 0 {
		o.MaxAge = 24 * time.Hour
	}
	if o.Retain == 0 {
		o.Retain = 30 * 24 * time.Hour
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.now == nil {
		o.now = time.Now
	}
}

// audit keeps the trail: audit.log in the data directory (one JSON entry a
// line, in version order), or the latest entries in memory without one. The
// log of changes holds who made each change too, so entries lost with an
// unsynced tail of audit.log come back when the log is replayed.
//
// audit.log is rotated by size and age to audit-<first version, 20
// digits>.log: flushed, fsynced and renamed, so a rotated file is complete.
// Rotated files hold versions below those of the files after them; readers
// read them in name order, audit.log last.
type audit struct {
	mu      sync.Mutex // guards every field below (writes and rotation)
	opts    AuditOptions
	dir     string
	f       *os.File // audit.log
	w       *bufio.Writer
	last    uint64       // version of the last entry written
	size    int64        // bytes of audit.log, buffered ones included
	first   uint64       // version of audit.log's first entry, 0 while it is empty
	started time.Time    // when audit.log's first entry was written
	mem     []AuditEntry // without a data directory: the newest entries
	memCap  int
	buf     bytes.Buffer
	pending bool
}

const auditFile = "audit.log"

func rotatedName(first uint64) string { return fmt.Sprintf("audit-%020d.log", first) }

// rotatedFiles returns the first versions of dir's rotated audit files, ascending.
func rotatedFiles(dir string) ([]uint64, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []uint64
	for _, e := range ents {
		n := e.Name()
		if len(n) != len(rotatedName(0)) || !strings.HasPrefix(n, "audit-") || !strings.HasSuffix(n, ".log") {
			continue
		}
		if v, err := strconv.ParseUint(n[len("audit-"):len(n)-len(".log")], 10, 64); err == nil {
			out = append(out, v)
		}
	}
	slices.Sort(out)
	return out, nil
}

// openAudit opens (or creates) dir/audit.log with the default options.
func openAudit(dir string) (*audit, error) { return openAuditWith(dir, AuditOptions{}) }

// openAuditWith opens (or creates) dir/audit.log, dropping a torn last line,
// and finds the last version in the trail (in the newest rotated file when
// audit.log is empty).
func openAuditWith(dir string, opts AuditOptions) (*audit, error) {
	opts.defaults()
	a := &audit{memCap: 200_000, opts: opts, dir: dir}
	if dir == "" {
		return a, nil
	}
	path := filepath.Join(dir, auditFile)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			f.Close()
		}
	}()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	tail, err := readAuditTail(dir, f, st.Size())
	if err != nil {
		return nil, err
	}
	end := tail.end
	if end < st.Size() { // a line cut short by a crash
		if err := f.Truncate(end); err != nil {
			return nil, err
		}
	}
	a.last, a.first, a.started, a.size = tail.last, tail.first, tail.started, end
	if end > 0 && a.started.IsZero() {
		a.started = opts.now()
	}
	if _, err := f.Seek(end, io.SeekStart); err != nil {
		return nil, err
	}
	a.f = f
	a.w = bufio.NewWriterSize(f, 256<<10)
	ok = true
	a.retain()
	return a, nil
}

// auditTail is what opening an audit trail reads of it.
type auditTail struct {
	end     int64     // the end of audit.log's last complete line (0: none)
	last    uint64    // the version of the trail's last entry (0: none)
	first   uint64    // the version of audit.log's first entry (0: none)
	started time.Time // that entry's time
}

// readAuditTail reads, changing nothing, what a start needs of the audit
// trail of dir: audit.log's last complete line (f, of size bytes; nil when
// there is no audit.log) and its first entry, or without one the newest
// rotated file's last entry. Its error is the one a start refuses with;
// a torn last line (cut off at a start) is none. Check reads the trail
// through it too, so that `wal check` refuses what a start refuses.
func readAuditTail(dir string, f *os.File, size int64) (auditTail, error) {
	var t auditTail
	var line []byte
	if f != nil {
		var err error
		if t.end, line, err = lastLine(f, size); err != nil {
			return t, err
		}
	}
	if t.end > 0 {
		path := filepath.Join(dir, auditFile)
		e, err := decodeEntry(path, t.end-int64(len(line))-1, line)
		if err != nil {
			return t, err
		}
		t.last = e.Version
		// the first entry: what the file would be named, and its age
		first, err := firstEntry(path)
		if err != nil {
			return t, err
		}
		t.first, t.started = first.Version, first.Time
		return t, nil
	}
	rot, err := rotatedFiles(dir)
	if err != nil || len(rot) == 0 {
		return t, err
	}
	e, err := lastEntry(filepath.Join(dir, rotatedName(rot[len(rot)-1])))
	if err != nil {
		return t, err
	}
	t.last = e.Version
	return t, nil
}

// lastLine finds the end of f's last complete line (0 without one) and that
// line, without its newline, reading only the tail of the file.
func lastLine(f *os.File, size int64) (int64, []byte, error) {
	for tail := min(size, 64<<10); ; tail = min(size, tail*4) {
		b := make([]byte, tail)
		if _, err := f.ReadAt(b, size-tail); err != nil && !errors.Is(err, io.EOF) {
			return 0, nil, err
		}
		nl := bytes.LastIndexByte(b, '\n')
		if nl < 0 && tail == size {
			return 0, nil, nil
		}
		if nl >= 0 {
			prev := bytes.LastIndexByte(b[:nl], '\n')
			if prev >= 0 || tail == size {
				return size - tail + int64(nl) + 1, b[prev+1 : nl], nil
			}
		}
		if tail == size {
			return 0, nil, nil
		}
	}
}

func decodeEntry(path string, off int64, line []byte) (*AuditEntry, error) {
	var e AuditEntry
	if err := json.Unmarshal(line, &e); err != nil {
		return nil, &CorruptError{Path: path, Offset: off, Reason: "audit entry does not decode: " + err.Error()}
	}
	return &e, nil
}

// lastEntry decodes the last complete entry of a rotated file.
func lastEntry(path string) (*AuditEntry, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	end, line, err := lastLine(f, st.Size())
	if err != nil {
		return nil, err
	}
	if end == 0 {
		return nil, &CorruptError{Path: path, Reason: "a rotated audit file without an entry"}
	}
	return decodeEntry(path, end-int64(len(line))-1, line)
}

// firstEntry decodes the first entry of an audit file.
func firstEntry(path string) (*AuditEntry, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	if !sc.Scan() {
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return nil, &CorruptError{Path: path, Reason: "no first audit entry"}
	}
	return decodeEntry(path, 0, sc.Bytes())
}

// rotate closes audit.log as audit-<first>.log and starts a new one. Called
// with a.mu held. A failure leaves the trail going on in audit.log.
func (a *audit) rotate() {
	if err := a.rotateErr(); err != nil {
		a.opts.Logger.Error("audit: cannot rotate audit.log; it goes on growing", "err", err)
		return
	}
	a.retain()
}

func (a *audit) rotateErr() error {
	if err := a.w.Flush(); err != nil {
		return err
	}
	// fsynced before the rename: a rotated file is complete, and audit.log's
	// last entry, read at the next start, is never older than a rotated one's
	if err := a.f.Sync(); err != nil {
		return err
	}
	a.pending = false
	path := filepath.Join(a.dir, auditFile)
	dst := filepath.Join(a.dir, rotatedName(a.first))
	if _, err := os.Lstat(dst); err == nil {
		return fmt.Errorf("%s exists already", dst)
	}
	nf, err := os.OpenFile(path+".new", os.O_CREATE|os.O_TRUNC|os.O_RDWR, 0o644)
	if err != nil {
		return err
	}
	if err := os.Rename(path, dst); err != nil {
		nf.Close()
		os.Remove(path + ".new")
		return err
	}
	// from here on the trail is rotated: audit.log is the new file. A crash
	// before the second rename leaves no audit.log; the next start creates it
	if err := os.Rename(path+".new", path); err != nil {
		nf.Close()
		os.Remove(path + ".new")
		if nf, err = os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644); err != nil {
			return err // the trail cannot go on; a.f is still the rotated file
		}
	}
	if err := syncDir(a.dir); err != nil {
		a.opts.Logger.Error("audit: fsync of the directory after rotating", "err", err)
	}
	a.f.Close()
	a.f = nf
	a.w.Reset(nf)
	a.size, a.first = 0, 0
	return nil
}

// retain removes rotated files past retention, oldest first.
func (a *audit) retain() {
	if a.opts.Retain < 0 && a.opts.RetainFiles <= 0 {
		return
	}
	rot, err := rotatedFiles(a.dir)
	if err != nil {
		a.opts.Logger.Error("audit: listing rotated files", "err", err)
		return
	}
	removed := false
	for i, first := range rot {
		p := filepath.Join(a.dir, rotatedName(first))
		tooMany := a.opts.RetainFiles > 0 && len(rot)-i > a.opts.RetainFiles
		if !tooMany {
			st, err := os.Stat(p)
			if err != nil || a.opts.Retain < 0 || a.opts.now().Sub(st.ModTime()) < a.opts.Retain {
				break // only a prefix goes: the trail left has no hole
			}
		}
		if err := os.Remove(p); err != nil {
			a.opts.Logger.Error("audit: removing a file past retention", "path", p, "err", err)
			break
		}
		removed = true
	}
	if removed {
		syncDir(a.dir)
	}
}

// record adds the entries of applied changes made by who; changes already
// in the trail (replayed after a crash) are skipped.
func (a *audit) record(evs []engine.Event, who *Who) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, ev := range evs {
		if uint64(ev.Version) <= a.last {
			continue
		}
		e := AuditEntry{Version: uint64(ev.Version), Op: ev.Op.String(), ID: ev.ID, Building: ev.Building, Grid: ev.Grid,
			Set: nonNil(ev.Set), Clear: nonNil(ev.Clear)}
		if in := ev.Info; in != nil {
			if ev.Op == engine.OpAssign {
				e.Level = in.Level.String()
			}
			e.Person, e.Team, e.Phone, e.Note, e.Label, e.Tasks = in.Person, in.Team, in.Phone, in.Note, in.Label, in.Tasks
		}
		if who != nil {
			e.Time, e.Name, e.Role, e.Remote = who.Time, who.Name, who.Role, who.Remote
		}
		a.last = e.Version
		if a.w == nil {
			if len(a.mem) >= a.memCap {
				a.mem = a.mem[a.memCap/4:]
			}
			a.mem = append(a.mem, e)
			continue
		}
		a.buf.Reset()
		json.NewEncoder(&a.buf).Encode(&e)
		if a.size > 0 && (a.size+int64(a.buf.Len()) > a.opts.MaxSize || a.opts.now().Sub(a.started) >= a.opts.MaxAge) {
			a.rotate()
		}
		if a.size == 0 {
			a.first, a.started = e.Version, a.opts.now()
		}
		a.w.Write(a.buf.Bytes())
		a.size += int64(a.buf.Len())
		a.pending = true
	}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// sync makes the trail durable (before a snapshot lets the log go).
func (a *audit) sync() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.w == nil {
		return nil
	}
	if a.size > 0 && a.opts.now().Sub(a.started) >= a.opts.MaxAge {
		a.rotate() // a quiet trail rotates by age too
	}
	if !a.pending {
		return nil
	}
	if err := a.w.Flush(); err != nil {
		return err
	}
	a.pending = false
	return a.f.Sync()
}

func (a *audit) close() error {
	if err := a.sync(); err != nil {
		return err
	}
	if a.f != nil {
		return a.f.Close()
	}
	return nil
}

// AuditQuery selects audit entries; zero fields do not filter.
type AuditQuery struct {
	Dwelling string
	Grid     string
	Name     string
	Since    time.Time // entries at or after
	Until    time.Time // entries before
	After    uint64    // entries with a version above (the cursor of the previous page)
	Limit    int       // at most (default 100, at most 1000)
}

func (q *AuditQuery) match(e *AuditEntry) bool {
	return e.Version > q.After &&
		(q.Dwelling == "" || e.ID == q.Dwelling) &&
		(q.Grid == "" || e.Grid == q.Grid) &&
		(q.Name == "" || e.Name == q.Name) &&
		(q.Since.IsZero() || !e.Time.Before(q.Since)) &&
		(q.Until.IsZero() || e.Time.Before(q.Until))
}

// Audit returns the entries q selects, in version order, and whether more
// follow (then the next page starts after the last entry's version).
func (s *Store) Audit(q AuditQuery) ([]AuditEntry, bool, error) {
	if q.Limit <= 0 {
		q.Limit = 100
	}
	q.Limit = min(q.Limit, 1000)
	a := s.audit
	var out []AuditEntry
	if a.w == nil {
		a.mu.Lock()
		defer a.mu.Unlock()
		for i := range a.mem {
			if q.match(&a.mem[i]) {
				if len(out) == q.Limit {
					return out, true, nil
				}
				out = append(out, a.mem[i])
			}
		}
		return out, false, nil
	}
	// open every file the query needs while no rotation can move them (an
	// open file reads whole even once renamed), and read each only as far as
	// it went then: a flush while reading could show half a line
	a.mu.Lock()
	fs, err := a.openForRead(q)
	a.mu.Unlock()
	defer func() {
		for _, f := range fs {
			f.Close()
		}
	}()
	if err != nil {
		return nil, false, err
	}
	for _, f := range fs {
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			var e AuditEntry
			if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
				return nil, false, fmt.Errorf("audit: %s: %v", f.Name(), err)
			}
			if q.match(&e) {
				if len(out) == q.Limit {
					return out, true, nil
				}
				out = append(out, e)
			}
		}
		if err := sc.Err(); err != nil {
			return nil, false, fmt.Errorf("audit: %s: %w", f.Name(), err)
		}
	}
	return out, false, nil
}

// auditReader reads an audit file up to the size it had when opened.
type auditReader struct {
	*io.SectionReader
	f *os.File
}

func (r auditReader) Name() string { return r.f.Name() }
func (r auditReader) Close() error { return r.f.Close() }

// openForRead flushes audit.log and opens, in order, the rotated files that
// may hold entries q selects, and audit.log. Called with a.mu held.
func (a *audit) openForRead(q AuditQuery) ([]auditReader, error) {
	if err := a.w.Flush(); err != nil {
		return nil, err
	}
	rot, err := rotatedFiles(a.dir)
	if err != nil {
		return nil, err
	}
	var out []auditReader
	open := func(p string) (bool, error) {
		f, err := os.Open(p)
		if errors.Is(err, os.ErrNotExist) {
			return false, nil // removed by retention since the listing
		}
		if err != nil {
			return false, err
		}
		st, err := f.Stat()
		if err != nil {
			f.Close()
			return false, err
		}
		out = append(out, auditReader{io.NewSectionReader(f, 0, st.Size()), f})
		return true, nil
	}
	for i, first := range rot {
		// the newest version it holds: just below the next file's first
		newest := a.last
		if i+1 < len(rot) {
			newest = rot[i+1] - 1
		} else if a.first != 0 {
			newest = a.first - 1
		}
		if newest <= q.After {
			continue
		}
		p := filepath.Join(a.dir, rotatedName(first))
		if !q.Since.IsZero() {
			// written last before Since: every entry in it is older
			if st, err := os.Stat(p); err == nil && st.ModTime().Before(q.Since) {
				continue
			}
		}
		if _, err := open(p); err != nil {
			return out, err
		}
	}
	if _, err := open(filepath.Join(a.dir, auditFile)); err != nil {
		return out, err
	}
	return out, nil
}
