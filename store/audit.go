package store

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
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
}

// audit keeps the trail: audit.log in the data directory (one JSON entry a
// line, in version order), or the latest entries in memory without one. The
// log of changes holds who made each change too, so entries lost with an
// unsynced tail of audit.log come back when the log is replayed.
type audit struct {
	mu      sync.Mutex
	f       *os.File
	w       *bufio.Writer
	last    uint64       // version of the last entry written
	mem     []AuditEntry // without a data directory: the newest entries
	memCap  int
	buf     bytes.Buffer
	pending bool
}

const auditFile = "audit.log"

// openAudit opens (or creates) dir/audit.log, dropping a torn last line.
func openAudit(dir string) (*audit, error) {
	a := &audit{memCap: 200_000}
	if dir == "" {
		return a, nil
	}
	path := filepath.Join(dir, auditFile)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	// find the last complete line and its version
	data, err := io.ReadAll(f)
	if err != nil {
		f.Close()
		return nil, err
	}
	end := bytes.LastIndexByte(data, '\n') + 1
	if end < len(data) { // a line cut short by a crash
		if err := f.Truncate(int64(end)); err != nil {
			f.Close()
			return nil, err
		}
	}
	if end > 0 {
		prev := bytes.LastIndexByte(data[:end-1], '\n') + 1
		var e AuditEntry
		if err := json.Unmarshal(data[prev:end-1], &e); err != nil {
			f.Close()
			return nil, &CorruptError{Path: path, Offset: int64(prev), Reason: "last audit entry does not decode: " + err.Error()}
		}
		a.last = e.Version
	}
	if _, err := f.Seek(int64(end), io.SeekStart); err != nil {
		f.Close()
		return nil, err
	}
	a.f = f
	a.w = bufio.NewWriterSize(f, 256<<10)
	return a, nil
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
		a.w.Write(a.buf.Bytes())
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
	if a.w == nil || !a.pending {
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
	a.mu.Lock()
	err := a.w.Flush()
	a.mu.Unlock()
	if err != nil {
		return nil, false, err
	}
	f, err := os.Open(a.f.Name())
	if err != nil {
		return nil, false, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var e AuditEntry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return nil, false, fmt.Errorf("audit: %v", err)
		}
		if q.match(&e) {
			if len(out) == q.Limit {
				return out, true, nil
			}
			out = append(out, e)
		}
	}
	return out, false, sc.Err()
}
