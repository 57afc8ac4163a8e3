// Package store owns an engine and is the only way to change it: loads,
// boundaries, schemes and requests of changes all go through its one
// committer goroutine, which validates each once against the state it will
// apply to, makes it durable, applies it and publishes it on the change
// feed and in the audit trail, in version order. Everyone else holds the
// engine's read-only view (Engine).
//
// With a data directory every acknowledged change survives a crash: an
// append-only log with a CRC-32C per record, group commit (many requests, one
// fsync, before any is acknowledged), and msgpack snapshots written
// atomically. Reopening restores the newest snapshot and replays the log; a
// torn tail is cut off with a warning, any other damage stops the start with
// a clear error. The log's records and the snapshot files are this
// package's formats.
//
// It knows nothing of HTTP or of the shapes of answers.
package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/roomstate/roomstate/engine"
	"github.com/roomstate/roomstate/fault"
	"github.com/roomstate/roomstate/scheme"
	"github.com/roomstate/roomstate/wal"
)

// Options configure a Store. Zero values take the defaults.
type Options struct {
	Engine           engine.Options // of the engine the store makes and owns
	Dir              string         // data directory; "" keeps nothing on disk
	Logger           *slog.Logger   //
	SnapshotEvery    int            // changes between snapshots (default 1,000,000)
	SnapshotInterval time.Duration  // and at least this often when anything changed (default 10 min)
	Backlog          int            // events the change feed keeps for reconnecting clients (default 100,000)
	MaxGroup         int            // requests in one group commit (default 4096)
	// NoSync skips fsync: for tests of what does not depend on it, never in production.
	NoSync bool
	// Clock tells the time of changes and of expiries (nil: time.Now).
	Clock func() time.Time
	// NoExpiry leaves flags due to expire alone (a replica that is not the
	// leader: the leader's clearing reaches it through the stream).
	NoExpiry bool
	// Journal, when set, is where changes are made durable and in what
	// order every replica applies them (journal.go); the data directory
	// then keeps snapshots and the audit trail, and no log of its own.
	Journal Journal
}

// Store owns an engine and serialises every change to it. See the package
// documentation.
type Store struct {
	w     *engine.Writer // used by the committer goroutine only (and by Open before it starts)
	eng   *engine.Engine // the read-only view
	opts  Options
	log   *slog.Logger
	feed  *Feed
	audit *audit
	// dirLock holds a journal store's data directory (without a journal the
	// log holds it): released by Close
	dirLock *os.File

	reqs   chan *request
	done   chan struct{} // closed when the committer has stopped
	closeM sync.Mutex    // guards closed
	closed bool

	// owned by the committer goroutine
	wal        *wal.Log  // nil without a data directory
	lastTime   time.Time // of the newest change: times never go back
	sinceSnap  int
	lastSnap   time.Time
	snapWG     sync.WaitGroup
	snapBusy   atomic.Bool
	snapErrMu  sync.Mutex // guards snapErr (written by the snapshot goroutine)
	snapErr    error
	hadState   bool
	inputsMu   sync.Mutex             // guards inputs (written by the committer, and by Open before it starts)
	inputs     []Input                // the files loaded into this state (inputs.go)
	fatal      error                  // the log is broken: nothing more is accepted
	degraded   atomic.Pointer[string] // why changes are refused now (nil: they are not)
	snapDone   atomic.Uint64          // version of a snapshot written since the committer last looked
	encodeBuf  []byte
	statsGroup int

	// with a journal
	entries   chan entry    // entries to apply, in the journal's order
	applied   atomic.Uint64 // the journal's last entry applied (written by the committer)
	conflicts atomic.Uint64 // appends refused because the journal had moved on
}

// Who says who made a change, for the audit trail.
type Who struct {
	Time   time.Time `msgpack:"t"`
	Name   string    `msgpack:"n,omitempty"` // token name, never the token
	Role   string    `msgpack:"r,omitempty"`
	Remote string    `msgpack:"a,omitempty"`
}

// request is one submitted request of changes, a load, or an order to
// snapshot now.
type request struct {
	change   *engine.Request
	who      *Who
	load     *load
	snapshot bool
	seed     string // with a journal: seed it, as this node
	done     chan result
}

// load is dwellings and boundaries to load, all or nothing, or a snapshot
// to restore instead.
type load struct {
	batches []*engine.Batch
	bounds  []engine.Boundary
	inputs  []Input // the files they come from, recorded with the load
	restore *engine.Snapshot
	seq     uint64  // the journal's entries the restored snapshot includes
	resIn   []Input // the files the restored state came from
}

type result struct {
	evs []engine.Event
	err error
}

// ErrClosed is returned for requests after Close.
var ErrClosed = errors.New("store: closed")

// Open makes an engine, recovers its state from opts.Dir (if it holds any)
// and starts the committer.
func Open(opts Options) (*Store, error) {
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
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	if opts.Engine.Clock == nil {
		opts.Engine.Clock = opts.Clock
	}
	w := engine.New(opts.Engine)
	eng := w.Engine
	s := &Store{w: w, eng: eng, opts: opts, log: opts.Logger, feed: newFeed(opts.Backlog),
		reqs: make(chan *request, opts.MaxGroup), done: make(chan struct{}), lastSnap: time.Now()}
	if opts.Journal != nil {
		s.entries = make(chan entry, 256)
	}
	if opts.Dir != "" {
		if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
			return nil, err
		}
		if opts.Journal != nil { // no log here to hold the directory: hold it alone
			l, err := wal.LockDir(opts.Dir)
			if err != nil {
				return nil, err
			}
			s.dirLock = l
		}
	}
	a, err := openAudit(opts.Dir)
	if err != nil {
		s.unlockDir()
		return nil, err
	}
	s.audit = a
	if opts.Dir != "" {
		if err := s.recover(); err != nil {
			if s.wal != nil {
				s.wal.Close()
			}
			a.close()
			s.unlockDir()
			return nil, err
		}
	}
	s.feed.reset(eng.Version(), eng.LastChange())
	// flags due to clear themselves while the server was down clear now,
	// before anyone is answered
	s.expire(opts.Clock())
	go s.run()
	return s, nil
}

// unlockDir lets go of a journal store's data directory.
func (s *Store) unlockDir() {
	if s.dirLock != nil {
		s.dirLock.Close()
		s.dirLock = nil
	}
}

// system is who the server's own changes are by, in the audit trail.
var system = Who{Name: "system", Role: "system"}

// expire submits, from the committer, the changes that clear the flags due
// at or before now: one request of the server's own.
func (s *Store) expire(now time.Time) {
	if s.opts.NoExpiry || s.fatal != nil || !s.leading() {
		return
	}
	ops := s.w.DueExpiries(now)
	if len(ops) == 0 {
		return
	}
	who := system
	req := &request{change: &engine.Request{Ops: ops}, who: &who, done: make(chan result, 1)}
	s.commit([]*request{req})
	if r := <-req.done; r.err != nil {
		s.log.Error("flags due to expire were not cleared; trying again", "err", r.err)
	}
}

// HadState reports whether the data directory held state when opened.
func (s *Store) HadState() bool { return s.hadState }

// Engine returns the read-only view of the store's engine.
func (s *Store) Engine() *engine.Engine { return s.eng }

// Feed returns the change feed.
func (s *Store) Feed() *Feed { return s.feed }

// recover restores the newest snapshot and replays the log after it.
func (s *Store) recover() error {
	dir := s.opts.Dir
	start := time.Now()
	path, seq, inputs, err := restoreNewest(s.w, dir)
	if err != nil {
		return err
	}
	if path != "" {
		s.hadState = true
		s.applied.Store(seq)
		s.setInputs(inputs)
		// the feed starts at the snapshot: the changes in it are not in the
		// feed, those the log replays next are
		s.feed.reset(s.eng.Version(), s.eng.LastChange())
		s.log.Info("snapshot restored", "path", path, "version", s.eng.Version(), "dwellings", s.eng.Len(), "seconds", time.Since(start).Seconds())
	}
	if s.opts.Journal != nil {
		// the journal is the log: what came after the snapshot comes from it
		return nil
	}
	l, err := wal.Open(dir, wal.Options{FirstSeq: uint64(s.eng.Version()) + 1, Logger: s.log, NoSync: s.opts.NoSync})
	if err != nil {
		var ce *wal.CorruptError
		if errors.As(err, &ce) {
			return &CorruptError{Path: ce.Path, Offset: ce.Offset, Reason: ce.Reason}
		}
		return err
	}
	s.wal = l
	if err := joinsSnapshot(l.Segments()[0], s.eng.Version()); err != nil {
		return err
	}
	replayed := 0
	err = l.Replay(func(wr wal.Record) error {
		evs, who, err := replayRecord(s.w, dir, wr)
		if err != nil || evs == nil {
			return err
		}
		s.w.Maintain()
		s.lastTime = who.Time
		s.feed.publish(evs)
		s.audit.record(evs, who) // the trail's unsynced tail, back
		replayed += len(evs)
		s.hadState = true
		return nil
	})
	if err != nil {
		return err
	}
	// a snapshot newer than the log's end (a load, say): new records start
	// after it
	if next := uint64(s.eng.Version()) + 1; l.Next() < next {
		if err := l.Rotate(next); err != nil {
			return err
		}
	}
	if replayed > 0 {
		s.log.Info("log replayed", "changes", replayed, "version", s.eng.Version())
	}
	s.sinceSnap = replayed
	return nil
}

// restoreNewest restores the newest snapshot in dir into w, as a start
// does; path is "" when there is none. seq is the journal's entries it
// includes, inputs the files loaded into it. A snapshot that does not
// restore is a *CorruptError.
func restoreNewest(w *engine.Writer, dir string) (path string, seq uint64, inputs []Input, err error) {
	snaps, err := listFiles(dir, "snapshot-", ".msgpack")
	if err != nil || len(snaps) == 0 {
		return "", 0, nil, err
	}
	v := snaps[len(snaps)-1]
	path = filepath.Join(dir, snapshotName(v))
	snap, seq, inputs, err := readSnapshot(path)
	if err != nil {
		return "", 0, nil, err
	}
	if snap.Version != v {
		return "", 0, nil, &CorruptError{Path: path, Reason: fmt.Sprintf("holds version %d, its name says %d", snap.Version, v)}
	}
	if err := w.Restore(snap); err != nil {
		return "", 0, nil, &CorruptError{Path: path, Reason: err.Error()}
	}
	return path, seq, inputs, nil
}

// joinsSnapshot checks that the log, whose oldest segment is first, holds
// every change after version v (the snapshot's).
func joinsSnapshot(first wal.Segment, v engine.Version) error {
	if first.First > uint64(v)+1 {
		return &CorruptError{Path: first.Path, Reason: fmt.Sprintf("the log starts at version %d, the snapshot ends at %d: changes are missing", first.First, v)}
	}
	return nil
}

// replayRecord applies the log record wr of the data directory dir to w,
// as a start does: the events of its changes and who made them (nil
// events when it changes nothing: a record of changes the state holds
// already, or a scheme put of an older build). A record that does not
// decode, does not follow the state or does not apply is a *CorruptError.
func replayRecord(w *engine.Writer, dir string, wr wal.Record) ([]engine.Event, *Who, error) {
	r, err := decodeRecord(wr.Data)
	if err != nil {
		return nil, nil, &CorruptError{Path: dir, Reason: fmt.Sprintf("the record of sequence %d does not decode: %v", wr.Seq, err)}
	}
	if r.Scheme != nil { // a scheme put of an older build (no version); re-applies harmlessly if the snapshot has it
		if err := w.PutScheme(r.Scheme.Name, r.Scheme.Scheme); err != nil {
			return nil, nil, &CorruptError{Path: dir, Reason: "scheme does not apply: " + err.Error()}
		}
		return nil, nil, nil
	}
	if r.Ops == nil {
		return nil, nil, nil
	}
	cur := uint64(w.Engine.Version())
	if r.Version+uint64(len(r.Ops))-1 <= cur {
		return nil, nil, nil // in the snapshot already
	}
	if r.Version != cur+1 {
		return nil, nil, &CorruptError{Path: dir, Reason: fmt.Sprintf("record of version %d follows version %d", r.Version, cur)}
	}
	who := r.Who
	if who == nil {
		who = &Who{}
	}
	p := w.Prepare([]engine.Request{{Ops: fromWire(r.Ops)}})
	if p.Errs[0] != nil {
		return nil, nil, &CorruptError{Path: dir, Reason: fmt.Sprintf("record of version %d does not apply: %v", r.Version, p.Errs[0])}
	}
	return w.Commit(p, who.Time)[0], who, nil
}

// Submit applies one request of changes: validated (its scope included)
// against the state it applies to, made durable, applied and published,
// all or nothing. A rejected request's error is an *engine.OpError.
func (s *Store) Submit(r engine.Request, who *Who) ([]engine.Event, error) {
	if who == nil {
		who = &Who{}
	}
	req := &request{change: &r, who: who, done: make(chan result, 1)}
	if err := s.send(req); err != nil {
		return nil, err
	}
	res := <-req.done
	return res.evs, res.err
}

// PutScheme stores a scheme under name, as who (nil: no one named): a
// change like any other (engine.OpScheme), with its version, which it
// returns.
func (s *Store) PutScheme(name string, sc scheme.Scheme, who *Who) (engine.Version, error) {
	evs, err := s.Submit(engine.Request{Ops: []engine.Op{{Kind: engine.OpScheme, ID: name, Scheme: &sc}}}, who)
	if err != nil {
		return 0, err
	}
	return evs[len(evs)-1].Version, nil
}

// Load adds dwellings and boundaries, all or nothing, and (with a data
// directory) makes them durable with a snapshot before it returns. Each
// dwelling takes a version; the change feed starts again after the load.
// LoadInputs also records the files they come from.
func (s *Store) Load(batches []*engine.Batch, bounds []engine.Boundary) error {
	return s.LoadInputs(batches, bounds, nil)
}

func (s *Store) send(req *request) error {
	if req.load == nil && !req.snapshot && req.seed == "" {
		if err := s.route(); err != nil {
			return err
		}
	}
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
	tick := time.NewTicker(250 * time.Millisecond) // housekeeping, and expiries within a second of their time
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
			clear(group) // a load's batches are not kept alive by the next group's array
		case e := <-s.entries: // nil without a journal: never ready
			s.applyEntry(e)
			// apply what else has arrived before housekeeping
			for n := 0; n < 64; n++ {
				select {
				case e := <-s.entries:
					s.applyEntry(e)
					continue
				default:
				}
				break
			}
		case <-tick.C:
		}
		s.w.Maintain()
		s.expire(s.opts.Clock())
		if v := s.snapDone.Swap(0); v > 0 && s.wal != nil {
			if err := s.wal.RemoveBefore(v + 1); err != nil {
				s.log.Error("removing the log a snapshot made obsolete", "err", err)
			}
		}
		s.maybeSnapshot(false)
	}
}

// commit validates a group, logs and fsyncs what is valid, applies it and
// answers every request.
func (s *Store) commit(group []*request) {
	if s.fatal != nil {
		for _, r := range group {
			r.done <- result{err: fault.Wrap(fault.Unavailable, s.fatal)}
		}
		return
	}
	// loads, snapshots and changes keep their order: split the group
	for len(group) > 0 {
		if group[0].load != nil {
			group[0].done <- result{err: s.commitLoad(group[0].load)}
			group = group[1:]
			continue
		}
		if group[0].seed != "" {
			group[0].done <- result{err: s.commitSeed(group[0].seed)}
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
		for n < len(group) && group[n].change != nil {
			n++
		}
		s.commitChanges(group[:n])
		group = group[n:]
	}
}

// Restore replaces the whole state with a snapshot's (a copy of another
// engine, or a replica's starting point), and makes it durable like a load.
func (s *Store) Restore(snap *engine.Snapshot) error {
	req := &request{load: &load{restore: snap}, done: make(chan result, 1)}
	if err := s.send(req); err != nil {
		return err
	}
	return (<-req.done).err
}

// commitLoad loads (or restores), then snapshots so that it is durable
// before anyone is told.
func (s *Store) commitLoad(l *load) error {
	if l.restore != nil {
		if err := s.w.Restore(l.restore); err != nil {
			return err
		}
		s.setInputs(l.resIn)
	}
	if len(l.batches) > 0 {
		if err := s.w.Load(l.batches...); err != nil {
			return err
		}
	}
	if len(l.bounds) > 0 {
		if err := s.w.AddBoundaries(l.bounds); err != nil {
			return err
		}
	}
	// recorded before the snapshot below is frozen: it carries them
	s.addInputs(l.inputs, s.opts.Clock())
	s.feed.restart(s.eng.Version(), s.eng.LastChange())
	if s.opts.Journal != nil {
		// a load seeds the journal next (Seed), which keeps its snapshot; a
		// restored snapshot came from the journal's and is kept here too,
		// in the background, so that a restart does not fetch it again
		s.applied.Store(l.seq)
		s.sinceSnap = 0
		if l.restore != nil && s.opts.Dir != "" {
			s.snapWG.Wait()
			s.maybeSnapshot(true)
		}
		return nil
	}
	if s.opts.Dir == "" {
		return nil
	}
	s.snapWG.Wait()
	s.maybeSnapshot(true)
	s.snapWG.Wait()
	s.snapErrMu.Lock()
	defer s.snapErrMu.Unlock()
	return s.snapErr
}

// now is the time of the next change: the clock, but never before the
// newest change's.
func (s *Store) now() time.Time {
	t := s.opts.Clock()
	if t.Before(s.lastTime) {
		t = s.lastTime
	}
	s.lastTime = t
	return t
}

func (s *Store) commitChanges(group []*request) {
	if s.opts.Journal != nil {
		s.commitChangesJournal(group)
		return
	}
	reqs := make([]engine.Request, len(group))
	for i, r := range group {
		reqs[i] = *r.change
	}
	p := s.w.Prepare(reqs)
	var accepted []*request
	for i, r := range group {
		if p.Errs[i] == nil {
			accepted = append(accepted, r)
		}
	}
	if len(accepted) == 0 {
		s.failAll(group, p, nil)
		return
	}
	t := s.now()
	if s.wal != nil {
		recs := make([]wal.Record, 0, len(accepted))
		v := uint64(p.First)
		var err error
		for _, r := range accepted {
			who := *r.who
			who.Time = t
			var data []byte
			if data, err = encodeRecord(&record{Version: v, Ops: toWire(r.change.Ops), Who: &who}); err != nil {
				break
			}
			recs = append(recs, wal.Record{Seq: v, Count: uint32(len(r.change.Ops)), Data: data})
			v += uint64(len(r.change.Ops))
		}
		if err == nil {
			err = s.append(recs)
		}
		if err != nil {
			s.failAll(group, p, err)
			return
		}
	}
	s.finish(group, p, t)
}

// failAll answers every request of a group with its own refusal or err.
func (s *Store) failAll(group []*request, p *engine.Prepared, err error) {
	for i, r := range group {
		if p.Errs[i] != nil {
			r.done <- result{err: p.Errs[i]}
		} else {
			r.done <- result{err: err}
		}
	}
}

// finish applies the accepted requests of a group, publishes them and
// answers every request.
func (s *Store) finish(group []*request, p *engine.Prepared, t time.Time) {
	if n, _ := p.Accepted(); n == 0 {
		s.failAll(group, p, nil)
		return
	}
	evs := s.w.Commit(p, t)
	k := 0
	for i, r := range group {
		if p.Errs[i] != nil {
			r.done <- result{err: p.Errs[i]}
			continue
		}
		s.feed.publish(evs[i])
		who := *r.who
		who.Time = t
		s.audit.record(evs[i], &who)
		s.sinceSnap += len(evs[i])
		r.done <- result{evs: evs[i]}
		k++
	}
	s.statsGroup = k
}

// append makes records durable in the log. A failed append was cut back
// by the log: none of its records will ever apply, so its requests are told
// so with fault.Unavailable (and a reason: a full disk, say), the store
// reports itself degraded, and the next append tries again by itself. Only
// a log that could not be cut back is fatal: nothing more is accepted.
func (s *Store) append(recs []wal.Record) error {
	err := s.wal.Append(recs)
	if err == nil {
		if s.degraded.Load() != nil {
			s.degraded.Store(nil)
			s.log.Info("the log takes writes again")
		}
		return nil
	}
	if errors.Is(err, wal.ErrBroken) {
		s.fatal = fmt.Errorf("store: the log could not be cut back after a failed write; its state is unknown, so no more changes are accepted until a restart: %w", err)
		s.log.Error("log broken", "err", err)
		reason := s.fatal.Error()
		s.degraded.Store(&reason)
		return fault.Wrap(fault.Unavailable, s.fatal)
	}
	reason := "the change log cannot be written: " + err.Error()
	if errors.Is(err, wal.ErrNoSpace) {
		reason = "the disk of the data directory is full; changes are refused until space is freed (nothing of a refused change was kept)"
	}
	if s.degraded.Load() == nil {
		s.log.Error("log write failed; refusing changes until it succeeds", "err", err)
	}
	s.degraded.Store(&reason)
	return &fault.Error{Kind: fault.Unavailable, Msg: reason + "; nothing of this request was applied", RetryAfter: 5}
}

// Health reports whether the store takes changes: "" when it does, else
// why not (a full disk, a broken log).
func (s *Store) Health() string {
	if r := s.degraded.Load(); r != nil {
		return *r
	}
	return ""
}

// maybeSnapshot starts a snapshot when enough has changed (or when forced).
// Called by the committer between groups.
func (s *Store) maybeSnapshot(force bool) {
	// with a journal the node that takes changes keeps snapshots in it, so
	// that the journal can be trimmed and new nodes start from them
	keep := s.opts.Journal != nil && s.fatal == nil && s.leading()
	if (s.opts.Dir == "" && !keep) || s.snapBusy.Load() {
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
	seq := s.applied.Load()
	inputs := s.Inputs()
	if s.wal != nil {
		if err := s.wal.Rotate(v + 1); err != nil {
			s.log.Error("snapshot: cannot start a new log segment", "err", err)
			return
		}
	}
	s.sinceSnap, s.lastSnap = 0, time.Now()
	s.snapBusy.Store(true)
	s.snapWG.Add(1)
	go func() {
		defer s.snapWG.Done()
		err := s.writeSnapshot(fz, seq, inputs, keep)
		s.snapErrMu.Lock()
		s.snapErr = err
		s.snapErrMu.Unlock()
		if err == nil {
			s.snapDone.Store(v) // the committer removes the log it makes obsolete
		}
		if err != nil {
			s.log.Error("snapshot failed", "err", err)
		}
		s.snapBusy.Store(false)
	}()
}

// writeSnapshot writes a frozen state (which includes the journal's entries
// up to seq) and the files loaded into it, removes what it makes obsolete
// and, when keep, hands it to the journal.
func (s *Store) writeSnapshot(fz *engine.Frozen, seq uint64, inputs []Input, keep bool) error {
	start := time.Now()
	snap := fz.Snapshot()
	b, err := encodeSnapshot(snap, seq, inputs)
	if err != nil {
		return err
	}
	if keep {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		err := s.opts.Journal.Keep(ctx, seq, snap.Version, b)
		cancel()
		if err != nil {
			s.log.Error("snapshot not kept in the journal", "err", err)
		} else {
			s.log.Info("snapshot kept in the journal", "entry", seq, "version", snap.Version, "bytes", len(b), "seconds", time.Since(start).Seconds())
		}
		if s.opts.Dir == "" {
			return err
		}
	}
	path, err := writeSnapshotFile(s.opts.Dir, snap.Version, b)
	if err != nil {
		return err
	}
	v := snap.Version
	s.log.Info("snapshot written", "path", path, "version", v, "dwellings", snap.N, "seconds", time.Since(start).Seconds())
	// older snapshots are obsolete (and the log before it: the committer
	// removes that, since the log is its alone)
	snaps, _ := listFiles(s.opts.Dir, "snapshot-", ".msgpack")
	for _, old := range snaps {
		if old < v {
			os.Remove(filepath.Join(s.opts.Dir, snapshotName(old)))
		}
	}
	return syncDir(s.opts.Dir)
}

// Snapshot writes a snapshot now and waits for it.
func (s *Store) Snapshot() error {
	if s.opts.Dir == "" && s.opts.Journal == nil {
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
	s.w.Close()
	s.feed.close()
	if s.opts.Dir == "" {
		return s.audit.close()
	}
	err := s.audit.sync()
	// a directory that never held anything stays without a snapshot: the
	// next start must not take an empty city for saved state
	if s.fatal == nil && err == nil && (s.hadState || s.eng.Version() > 0) {
		fz := s.eng.Freeze()
		if s.wal == nil {
			if s.applied.Load() > 0 { // a replica that never followed its journal keeps nothing
				err = s.writeSnapshot(fz, s.applied.Load(), s.Inputs(), false)
			}
		} else if err = s.wal.Rotate(uint64(fz.Version()) + 1); err == nil {
			if err = s.writeSnapshot(fz, 0, s.Inputs(), false); err == nil {
				err = s.wal.RemoveBefore(uint64(fz.Version()) + 1)
			}
		}
	}
	if s.wal != nil {
		if cerr := s.wal.Close(); err == nil {
			err = cerr
		}
	}
	if cerr := s.audit.close(); err == nil {
		err = cerr
	}
	s.unlockDir()
	return err
}
