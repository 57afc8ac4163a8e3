// Package store is the one writer of an engine: it takes requests of
// changes, validates them, makes them durable, applies them and publishes
// them on the change feed, in version order. With a data directory every
// acknowledged change survives a crash: an append-only log with a CRC-32C per
// record, group commit (many requests, one fsync, before any is
// acknowledged), and msgpack snapshots written atomically. Reopening restores
// the newest snapshot and replays the log; a torn tail is cut off with a
// warning, any other damage stops the start with a clear error.
package store

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/roomstate/roomstate/engine"
)

// Options configure a Store. Zero values take the defaults.
type Options struct {
	Dir              string        // data directory; "" keeps nothing on disk
	Logger           *slog.Logger  //
	SnapshotEvery    int           // changes between snapshots (default 1,000,000)
	SnapshotInterval time.Duration // and at least this often when anything changed (default 10 min)
	Backlog          int           // events the change feed keeps for reconnecting clients (default 100,000)
	MaxGroup         int           // requests in one group commit (default 4096)
	// NoSync skips fsync: for tests of what does not depend on it, never in production.
	NoSync bool
}

// Store serialises all writes to an engine. See the package documentation.
type Store struct {
	eng   *engine.Engine
	opts  Options
	log   *slog.Logger
	feed  *Feed
	audit *audit

	reqs   chan *request
	done   chan struct{} // closed when the committer has stopped
	closeM sync.Mutex
	closed bool

	// owned by the committer goroutine
	seg        *os.File
	segFirst   uint64
	sinceSnap  int
	lastSnap   time.Time
	snapWG     sync.WaitGroup
	snapBusy   atomic.Bool
	snapErrMu  sync.Mutex
	snapErr    error
	hadState   bool
	fatal      error
	encodeBuf  []byte
	statsGroup int
}

// Who says who made a change, for the audit trail.
type Who struct {
	Time   time.Time `msgpack:"t"`
	Name   string    `msgpack:"n,omitempty"` // token name, never the token
	Role   string    `msgpack:"r,omitempty"`
	Remote string    `msgpack:"a,omitempty"`
}

// request is one submitted request of changes, a scheme to store, or an
// order to snapshot now.
type request struct {
	ops      []engine.Op
	who      *Who
	check    func(*engine.Engine) error // run by the committer just before the changes
	scheme   *schemePut
	snapshot bool
	done     chan result
}

type schemePut struct {
	Name   string        `msgpack:"name"`
	Scheme engine.Scheme `msgpack:"scheme"`
}

type result struct {
	evs []engine.Event
	err error
}

// ErrClosed is returned for requests after Close.
var ErrClosed = errors.New("store: closed")

// Open recovers the engine's state from opts.Dir (if it holds any) and
// starts the writer.
func Open(eng *engine.Engine, opts Options) (*Store, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.SnapshotEvery <= 0 {
		opts.SnapshotEvery = 1_000_000
	}
	if opts.SnapshotInterval <= 0 {
		opts.SnapshotInterval = 10 * time.Minute
	}
	if opts.Backlog <= 0 {
		opts.Backlog = 100_000
	}
	if opts.MaxGroup <= 0 {
		opts.MaxGroup = 4096
	}
	s := &Store{eng: eng, opts: opts, log: opts.Logger, feed: newFeed(opts.Backlog),
		reqs: make(chan *request, opts.MaxGroup), done: make(chan struct{}), lastSnap: time.Now()}
	if opts.Dir != "" {
		if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
			return nil, err
		}
	}
	a, err := openAudit(opts.Dir)
	if err != nil {
		return nil, err
	}
	s.audit = a
	if opts.Dir != "" {
		if err := s.recover(); err != nil {
			a.close()
			return nil, err
		}
		seg, err := openSegment(opts.Dir, uint64(eng.Version())+1)
		if err != nil {
			return nil, err
		}
		s.seg, s.segFirst = seg, uint64(eng.Version())+1
	}
	s.feed.reset(eng.Version())
	go s.run()
	return s, nil
}

// HadState reports whether the data directory held state when opened.
func (s *Store) HadState() bool { return s.hadState }

// Loaded tells the store that dwellings were loaded into the engine
// directly (serve --load after opening): the change feed restarts at the
// engine's version, so a client that starts following now is not told that
// the changes since the store opened are gone, and one that followed from
// before the load is.
func (s *Store) Loaded() { s.feed.restart(s.eng.Version()) }

// Feed returns the change feed.
func (s *Store) Feed() *Feed { return s.feed }

// recover restores the newest snapshot and replays the log after it.
func (s *Store) recover() error {
	dir := s.opts.Dir
	snaps, err := listFiles(dir, "snapshot-", ".msgpack")
	if err != nil {
		return err
	}
	if len(snaps) > 0 {
		v := snaps[len(snaps)-1]
		path := filepath.Join(dir, snapshotName(v))
		start := time.Now()
		snap, err := readSnapshot(path)
		if err != nil {
			return err
		}
		if snap.Version != v {
			return &CorruptError{Path: path, Reason: fmt.Sprintf("holds version %d, its name says %d", snap.Version, v)}
		}
		if err := s.eng.Restore(snap); err != nil {
			return &CorruptError{Path: path, Reason: err.Error()}
		}
		s.hadState = true
		s.log.Info("snapshot restored", "path", path, "version", v, "dwellings", s.eng.Len(), "seconds", time.Since(start).Seconds())
	}
	segs, err := listFiles(dir, "wal-", ".log")
	if err != nil {
		return err
	}
	replayed := 0
	for i, first := range segs {
		path := filepath.Join(dir, segmentName(first))
		last := i == len(segs)-1
		torn, err := readSegment(path, last, func(r *record) error {
			if r.Ops == nil && r.Scheme == nil {
				return nil
			}
			if r.Scheme != nil { // schemes re-apply harmlessly if the snapshot has them
				if err := s.eng.PutScheme(r.Scheme.Name, r.Scheme.Scheme); err != nil {
					return &CorruptError{Path: path, Reason: "scheme does not apply: " + err.Error()}
				}
				return nil
			}
			cur := uint64(s.eng.Version())
			if r.Version+uint64(len(r.Ops))-1 <= cur {
				return nil // in the snapshot already
			}
			if r.Version != cur+1 {
				return &CorruptError{Path: path, Reason: fmt.Sprintf("record of version %d follows version %d", r.Version, cur)}
			}
			evs, err := s.eng.Apply(r.Ops)
			if err != nil {
				return &CorruptError{Path: path, Reason: fmt.Sprintf("record of version %d does not apply: %v", r.Version, err)}
			}
			s.feed.publish(evs)
			s.audit.record(evs, r.Who) // the trail's unsynced tail, back
			replayed += len(r.Ops)
			s.hadState = true
			return nil
		})
		if err != nil {
			return err
		}
		if torn >= 0 {
			s.log.Warn("the log ends in a torn record (a write cut short by a crash); cutting it off",
				"path", path, "offset", torn)
			if err := truncate(path, torn); err != nil {
				return err
			}
		}
	}
	if replayed > 0 {
		s.log.Info("log replayed", "changes", replayed, "version", s.eng.Version())
	}
	s.sinceSnap = replayed
	return nil
}

// Submit applies one request of changes: validated, made durable, applied
// and published, all or nothing. The error is an *engine.OpError for a bad
// request.
//
// check, when set, runs in the committer right before validation, against
// the same state the changes will apply to (an editor's scope, say); its
// error rejects the request whole.
func (s *Store) Submit(ops []engine.Op, who *Who, check func(*engine.Engine) error) ([]engine.Event, error) {
	req := &request{ops: ops, who: who, check: check, done: make(chan result, 1)}
	if err := s.send(req); err != nil {
		return nil, err
	}
	r := <-req.done
	return r.evs, r.err
}

// PutScheme stores a scheme durably and installs it.
func (s *Store) PutScheme(name string, sc engine.Scheme) error {
	req := &request{scheme: &schemePut{Name: name, Scheme: sc}, done: make(chan result, 1)}
	if err := s.send(req); err != nil {
		return err
	}
	return (<-req.done).err
}

func (s *Store) send(req *request) error {
	s.closeM.Lock()
	defer s.closeM.Unlock()
	if s.closed {
		return ErrClosed
	}
	s.reqs <- req
	return nil
}

// run is the committer: it takes requests in groups.
func (s *Store) run() {
	defer close(s.done)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	group := make([]*request, 0, s.opts.MaxGroup)
	for {
		select {
		case req, ok := <-s.reqs:
			if !ok {
				return
			}
			group = append(group[:0], req)
		drain:
			for len(group) < s.opts.MaxGroup {
				select {
				case r, ok := <-s.reqs:
					if !ok {
						break drain
					}
					group = append(group, r)
				default:
					break drain
				}
			}
			s.commit(group)
		case <-tick.C:
		}
		s.maybeSnapshot(false)
	}
}

// commit validates a group, logs and fsyncs what is valid, applies it and
// answers every request.
func (s *Store) commit(group []*request) {
	if s.fatal != nil {
		for _, r := range group {
			r.done <- result{err: s.fatal}
		}
		return
	}
	// schemes, snapshots and changes keep their order: split the group
	for len(group) > 0 {
		if group[0].scheme != nil {
			s.commitScheme(group[0])
			group = group[1:]
			continue
		}
		if group[0].snapshot {
			s.snapWG.Wait()
			s.maybeSnapshot(true)
			s.snapWG.Wait()
			s.snapErrMu.Lock()
			group[0].done <- result{err: s.snapErr}
			s.snapErrMu.Unlock()
			group = group[1:]
			continue
		}
		n := 0
		for n < len(group) && group[n].scheme == nil && !group[n].snapshot {
			n++
		}
		s.commitChanges(group[:n])
		group = group[n:]
	}
}

func (s *Store) commitScheme(req *request) {
	// check first, so the log holds only schemes that apply
	if err := s.eng.CheckScheme(req.scheme.Name, req.scheme.Scheme); err != nil {
		req.done <- result{err: err}
		return
	}
	if s.seg != nil {
		buf, err := encodeRecord(s.encodeBuf[:0], &record{Version: uint64(s.eng.Version()), Scheme: req.scheme})
		if err == nil {
			err = s.write(buf)
		}
		if err != nil {
			req.done <- result{err: err}
			return
		}
	}
	req.done <- result{err: s.eng.PutScheme(req.scheme.Name, req.scheme.Scheme)}
}

func (s *Store) commitChanges(group []*request) {
	kept := group[:0:0]
	for _, r := range group {
		if r.check != nil {
			if err := r.check(s.eng); err != nil {
				r.done <- result{err: err}
				continue
			}
		}
		kept = append(kept, r)
	}
	group = kept
	reqs := make([][]engine.Op, len(group))
	for i, r := range group {
		reqs[i] = r.ops
	}
	errs := s.eng.Check(reqs)
	var accepted [][]engine.Op
	var who []*request
	for i, r := range group {
		if errs[i] != nil {
			r.done <- result{err: errs[i]}
			continue
		}
		accepted = append(accepted, r.ops)
		who = append(who, r)
	}
	if len(accepted) == 0 {
		return
	}
	if s.seg != nil {
		buf := s.encodeBuf[:0]
		v := uint64(s.eng.Version()) + 1
		var err error
		for i, ops := range accepted {
			if buf, err = encodeRecord(buf, &record{Version: v, Ops: ops, Who: who[i].who}); err != nil {
				break
			}
			v += uint64(len(ops))
		}
		if err == nil {
			err = s.write(buf)
		}
		s.encodeBuf = buf[:0]
		if err != nil {
			for _, r := range who {
				r.done <- result{err: err}
			}
			return
		}
	}
	evs, errs2 := s.eng.ApplyGroup(accepted)
	for i, r := range who {
		if errs2[i] != nil {
			// validated a moment ago by the only writer: cannot happen
			s.log.Error("a logged request did not apply", "err", errs2[i])
		}
		s.feed.publish(evs[i])
		s.audit.record(evs[i], r.who)
		s.sinceSnap += len(evs[i])
		r.done <- result{evs: evs[i], err: errs2[i]}
	}
	s.statsGroup = len(accepted)
}

// write appends to the log and makes it durable; a failure is fatal for
// the store: the log's state is unknown, so nothing more is accepted.
func (s *Store) write(buf []byte) error {
	if _, err := s.seg.Write(buf); err != nil {
		s.fatal = fmt.Errorf("store: writing the log failed, no more changes are accepted: %w", err)
		return s.fatal
	}
	if !s.opts.NoSync {
		if err := s.seg.Sync(); err != nil {
			s.fatal = fmt.Errorf("store: fsync of the log failed, no more changes are accepted: %w", err)
			return s.fatal
		}
	}
	return nil
}

// maybeSnapshot starts a snapshot when enough has changed (or when forced).
// Called by the committer between groups.
func (s *Store) maybeSnapshot(force bool) {
	if s.opts.Dir == "" || s.snapBusy.Load() {
		return
	}
	due := s.sinceSnap >= s.opts.SnapshotEvery || (s.sinceSnap > 0 && time.Since(s.lastSnap) >= s.opts.SnapshotInterval)
	if !force && !due {
		return
	}
	// the audit trail first: once the snapshot is written, the log that could
	// bring its tail back goes
	if err := s.audit.sync(); err != nil {
		s.log.Error("snapshot: cannot sync the audit trail", "err", err)
		return
	}
	// a new segment starts where the snapshot ends
	fz := s.eng.Freeze()
	v := uint64(fz.Version())
	if v+1 != s.segFirst {
		seg, err := openSegment(s.opts.Dir, v+1)
		if err != nil {
			s.log.Error("snapshot: cannot start a new log segment", "err", err)
			return
		}
		s.seg.Close()
		s.seg, s.segFirst = seg, v+1
	}
	s.sinceSnap, s.lastSnap = 0, time.Now()
	s.snapBusy.Store(true)
	s.snapWG.Add(1)
	go func() {
		defer s.snapWG.Done()
		err := s.writeSnapshot(fz)
		s.snapErrMu.Lock()
		s.snapErr = err
		s.snapErrMu.Unlock()
		if err != nil {
			s.log.Error("snapshot failed", "err", err)
		}
		s.snapBusy.Store(false)
	}()
}

// writeSnapshot writes a frozen state and removes what it makes obsolete.
func (s *Store) writeSnapshot(fz *engine.Frozen) error {
	start := time.Now()
	snap := fz.Snapshot()
	path, err := writeSnapshot(s.opts.Dir, snap)
	if err != nil {
		return err
	}
	v := snap.Version
	s.log.Info("snapshot written", "path", path, "version", v, "dwellings", snap.N, "seconds", time.Since(start).Seconds())
	// older snapshots and log segments wholly before it are obsolete
	snaps, _ := listFiles(s.opts.Dir, "snapshot-", ".msgpack")
	for _, old := range snaps {
		if old < v {
			os.Remove(filepath.Join(s.opts.Dir, snapshotName(old)))
		}
	}
	segs, _ := listFiles(s.opts.Dir, "wal-", ".log")
	for i, first := range segs {
		if i+1 < len(segs) && segs[i+1] <= v+1 {
			os.Remove(filepath.Join(s.opts.Dir, segmentName(first)))
		}
	}
	return syncDir(s.opts.Dir)
}

// Snapshot writes a snapshot now and waits for it.
func (s *Store) Snapshot() error {
	if s.opts.Dir == "" {
		return nil
	}
	req := &request{snapshot: true, done: make(chan result, 1)}
	if err := s.send(req); err != nil {
		return err
	}
	return (<-req.done).err
}

// Close stops taking requests, answers those queued, writes a final
// snapshot and closes the log.
func (s *Store) Close() error {
	s.closeM.Lock()
	if s.closed {
		s.closeM.Unlock()
		return nil
	}
	s.closed = true
	close(s.reqs)
	s.closeM.Unlock()
	<-s.done
	s.snapWG.Wait()
	s.feed.close()
	if s.opts.Dir == "" {
		return s.audit.close()
	}
	err := s.audit.sync()
	// a directory that never held anything stays without a snapshot: the
	// next start must not take an empty city for saved state
	if s.fatal == nil && err == nil && (s.hadState || s.eng.Version() > 0) {
		err = s.writeSnapshot(s.eng.Freeze())
	}
	if cerr := s.seg.Close(); err == nil {
		err = cerr
	}
	if cerr := s.audit.close(); err == nil {
		err = cerr
	}
	return err
}
