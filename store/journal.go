package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/roomstate/roomstate/engine"
	"github.com/roomstate/roomstate/fault"
	"github.com/vmihailenco/msgpack/v5"
)

// Replicas: a store with a Journal makes its changes durable in the
// journal instead of its own log, and applies every entry of the journal,
// its own and other nodes', in the journal's order. The committer is the
// same: it validates a group against the state at the journal's entry N
// (everything up to N applied), appends the group expecting N to be the
// last entry (so that a writer whose state is behind cannot append), and
// applies it once the journal has stored it. Entries written by others
// arrive through Deliver and are applied by the committer between groups.
//
// An entry is a msgpack array of the store's records (wire.go), the same
// records as the local log's: every kind of change the store can log flows
// through the journal without the journal knowing what it is.

// Journal is the ordered log that replicas share (package replica keeps it
// in a JetStream stream). Entries are numbered by the journal, from 1, with
// gaps allowed.
type Journal interface {
	// Append stores data durably as the entry right after entry number
	// after (0: the journal is empty) and returns its number; version is
	// the engine's version once the entry is applied. When the journal
	// holds entries after `after`, nothing is stored and the error is a
	// *BehindError. Any other error leaves it unknown whether the entry
	// was stored: a later Append expecting `after` tells.
	Append(ctx context.Context, after uint64, data []byte, version uint64) (uint64, error)
	// MaxEntry is the largest entry Append takes, in bytes.
	MaxEntry() int
	// Writer says where changes go now: "" when this node takes them, else
	// the base URL (http://host:port) of the node that does. An error says
	// that no node can be told now (the journal cannot be reached, no node
	// holds the lease yet).
	Writer() (url string, err error)
	// Keep stores a snapshot file's bytes, which include the entries up to
	// seq, where nodes that join find it, and may drop the entries that
	// older snapshots needed.
	Keep(ctx context.Context, seq, version uint64, snapshot []byte) error
	// Replication reports this node's part, for /healthz and /metrics.
	Replication() Replication
}

// Replication is how a store takes part in a journal.
type Replication struct {
	// Role is "single" without a journal, else "leader" (takes changes) or
	// "follower".
	Role string
	// Lag is the number of changes stored in the journal and not yet
	// applied here.
	Lag uint64
	// Stale, when not "", says why this node may be behind the journal
	// (it cannot reach it); its answers are of the state it has.
	Stale string
}

// BehindError is Append's refusal: the journal holds entries after the one
// the caller expected to be last. Apply them, check again, and retry.
type BehindError struct {
	Last uint64 // the journal's last entry, when known (0 otherwise)
}

func (e *BehindError) Error() string {
	return fmt.Sprintf("store: the journal has moved on to entry %d: another writer appended first", e.Last)
}

// RedirectError refuses a change on a node that does not take changes:
// URL is the base URL of the node that does (the HTTP server answers 307
// with Location = URL + the request's path and query).
type RedirectError struct {
	URL string
}

func (e *RedirectError) Error() string {
	return "changes are taken by the node at " + e.URL
}

// entry is one entry of the journal, delivered to the committer; data nil
// only moves the applied position past seq.
type entry struct {
	seq  uint64
	data []byte
}

// Deliver hands the committer the journal's entry seq, in the journal's
// order: it is applied unless it is applied already (this node's own
// entries come back too). data nil marks seq as passed without applying
// anything. Deliver returns once the committer has the entry, or when ctx
// ends.
func (s *Store) Deliver(ctx context.Context, seq uint64, data []byte) error {
	if s.entries == nil {
		return errors.New("store: Deliver without a journal")
	}
	select {
	case s.entries <- entry{seq, data}:
		return nil
	case <-s.done:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Conflicts counts the appends this store found the journal had moved on
// from (another writer appended first), each followed by catching up and
// checking again.
func (s *Store) Conflicts() uint64 { return s.conflicts.Load() }

// Applied returns the number of the journal's last entry applied here (0
// without a journal, or before the first).
func (s *Store) Applied() uint64 { return s.applied.Load() }

// Replication reports this node's part in its journal ("single" without
// one).
func (s *Store) Replication() Replication {
	if s.opts.Journal == nil {
		return Replication{Role: "single"}
	}
	return s.opts.Journal.Replication()
}

// WaitVersion waits until the engine has reached version v, or ctx ends;
// it reports whether the engine has.
func (s *Store) WaitVersion(ctx context.Context, v engine.Version) bool {
	for {
		if s.eng.Version() >= v {
			return true
		}
		_, wake, err := s.feed.Since(s.feed.Newest(), 0, nil)
		if err != nil {
			return false
		}
		if s.eng.Version() >= v {
			return true
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return s.eng.Version() >= v
		}
	}
}

// Seed makes the journal start from this store's state (a load): the
// journal must be empty. Its first entry marks the seed, and a snapshot of
// the state, which includes that entry, is kept for the nodes that join.
// node names this node in the mark.
func (s *Store) Seed(node string) error {
	if s.opts.Journal == nil {
		return errors.New("store: Seed without a journal")
	}
	req := &request{seed: node, done: make(chan result, 1)}
	if err := s.send(req); err != nil {
		return err
	}
	return (<-req.done).err
}

// RestoreSnapshot replaces the whole state with a snapshot file's (as
// Journal.Keep stored it) and takes its journal position: the next entry
// applied is the one after. It returns that position.
func (s *Store) RestoreSnapshot(data []byte) (uint64, error) {
	snap, seq, inputs, err := decodeSnapshot("snapshot", data)
	if err != nil {
		return 0, err
	}
	req := &request{load: &load{restore: snap, seq: seq, resIn: inputs}, done: make(chan result, 1)}
	if err := s.send(req); err != nil {
		return 0, err
	}
	return seq, (<-req.done).err
}

// route refuses a change on a node that does not take changes now.
func (s *Store) route() error {
	j := s.opts.Journal
	if j == nil {
		return nil
	}
	url, err := j.Writer()
	if err != nil {
		return &fault.Error{Kind: fault.Unavailable, Msg: "changes cannot be taken now: " + err.Error() + "; nothing was applied", RetryAfter: 1}
	}
	if url != "" {
		return &RedirectError{URL: url}
	}
	return nil
}

// leading reports whether this node takes changes now (always without a
// journal).
func (s *Store) leading() bool {
	if s.opts.Journal == nil {
		return true
	}
	url, err := s.opts.Journal.Writer()
	return err == nil && url == ""
}

// encodeEntry encodes records as one journal entry.
func encodeEntry(recs [][]byte) ([]byte, error) {
	raw := make([]msgpack.RawMessage, len(recs))
	for i, r := range recs {
		raw[i] = r
	}
	return msgpack.Marshal(raw)
}

// decodeEntryRecords decodes a journal entry's records.
func decodeEntryRecords(data []byte) ([]record, error) {
	var recs []record
	if err := msgpack.Unmarshal(data, &recs); err != nil {
		return nil, err
	}
	return recs, nil
}

// journalTimeout bounds one append to the journal, its retries included.
const journalTimeout = 10 * time.Second

// applyEntry applies an entry of the journal (committer only).
func (s *Store) applyEntry(e entry) {
	if e.seq <= s.applied.Load() || s.fatal != nil {
		return
	}
	if e.data == nil {
		s.applied.Store(e.seq)
		return
	}
	recs, err := decodeEntryRecords(e.data)
	if err != nil {
		s.diverged(e.seq, fmt.Errorf("does not decode: %w", err))
		return
	}
	for i := 0; i < len(recs); {
		r := &recs[i]
		switch {
		case r.Seed != nil:
			s.diverged(e.seq, errors.New("it seeds the journal, and this node holds no state from before it: start it with an empty data directory"))
			return
		case r.Scheme != nil: // a scheme put of an older build (no version)
			if err := s.w.PutScheme(r.Scheme.Name, r.Scheme.Scheme); err != nil {
				s.diverged(e.seq, fmt.Errorf("its scheme does not apply: %w", err))
				return
			}
			i++
		case r.Ops != nil:
			// a run of requests, as the writer's group committed them
			j := i
			for j < len(recs) && recs[j].Ops != nil && recs[j].Seed == nil && recs[j].Scheme == nil {
				j++
			}
			if err := s.applyRequests(recs[i:j]); err != nil {
				s.diverged(e.seq, err)
				return
			}
			i = j
		default:
			i++ // a kind this build does not know changes nothing it holds
		}
	}
	s.applied.Store(e.seq)
}

// applyRequests applies the requests of a journal entry with the versions
// and time their writer gave them.
func (s *Store) applyRequests(recs []record) error {
	reqs := make([]engine.Request, len(recs))
	for i := range recs {
		reqs[i] = engine.Request{Ops: fromWire(recs[i].Ops)}
	}
	p := s.w.Prepare(reqs)
	for i, err := range p.Errs {
		if err != nil {
			return fmt.Errorf("its request of version %d does not apply: %w", recs[i].Version, err)
		}
	}
	if uint64(p.First) != recs[0].Version {
		return fmt.Errorf("its first change has version %d, this node is at %d", recs[0].Version, p.First-1)
	}
	var t time.Time
	if recs[0].Who != nil {
		t = recs[0].Who.Time
	}
	if t.After(s.lastTime) {
		s.lastTime = t
	}
	evs := s.w.Commit(p, t)
	for i := range evs {
		s.feed.publish(evs[i])
		s.audit.record(evs[i], recs[i].Who)
		s.sinceSnap += len(evs[i])
	}
	return nil
}

// diverged stops a node that cannot apply the journal: its state is no
// longer the others'. It goes on answering reads of what it has, refuses
// changes, and says why in /healthz.
func (s *Store) diverged(seq uint64, err error) {
	s.fatal = fmt.Errorf("store: the journal's entry %d cannot be applied here (%v); this node stops following it. "+
		"Restart it with an empty data directory to start again from the newest snapshot", seq, err)
	s.log.Error("replica diverged", "entry", seq, "err", err)
	reason := s.fatal.Error()
	s.degraded.Store(&reason)
}

// catchUp applies delivered entries until the journal's entry last is
// applied, or until the deadline; it reports whether it got there.
func (s *Store) catchUp(last uint64, deadline time.Time) bool {
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	for s.applied.Load() < last && s.fatal == nil {
		select {
		case e := <-s.entries:
			s.applyEntry(e)
		case <-t.C:
			return false
		}
	}
	return s.fatal == nil
}

// commitChangesJournal is commitChanges with a journal: validated against
// the state at the journal's last entry, appended expecting that entry to
// be last (as one entry or, past the journal's size limit, several, each
// of whole requests), applied once stored.
func (s *Store) commitChangesJournal(group []*request) {
	j := s.opts.Journal
	deadline := time.Now().Add(journalTimeout)
	for {
		if len(group) == 0 {
			return
		}
		reqs := make([]engine.Request, len(group))
		for i, r := range group {
			reqs[i] = *r.change
		}
		p := s.w.Prepare(reqs)
		t := s.now()
		// encode each accepted request as one record; a request larger than
		// an entry is refused, and the rest checked again without it
		recs := make([][]byte, len(group))
		v := uint64(p.First)
		tooLarge := -1
		for i, r := range group {
			if p.Errs[i] != nil {
				continue
			}
			who := *r.who
			who.Time = t
			data, err := encodeRecord(&record{Version: v, Ops: toWire(r.change.Ops), Who: &who})
			if err == nil && len(data)+16 > j.MaxEntry() {
				err = fault.New(fault.TooLarge, "the request is %d bytes encoded, more than the %d bytes the journal takes in one entry; split it (nothing was applied)", len(data), j.MaxEntry())
			}
			if err != nil {
				r.done <- result{err: err}
				tooLarge = i
				break
			}
			recs[i] = data
			v += uint64(len(r.change.Ops))
		}
		if tooLarge >= 0 {
			group = append(group[:tooLarge:tooLarge], group[tooLarge+1:]...)
			continue
		}
		// entries of whole requests, each within the journal's limit
		type part struct {
			data    []byte
			version uint64 // after it
			last    int    // index in group of its last request
		}
		var parts []part
		var cur [][]byte
		size := 0
		version := uint64(p.First) - 1
		for i, r := range group {
			if recs[i] == nil {
				continue
			}
			if len(cur) > 0 && size+len(recs[i])+16 > j.MaxEntry() {
				data, err := encodeEntry(cur)
				if err != nil {
					s.failAll(group, p, err)
					return
				}
				parts = append(parts, part{data: data, version: version, last: i - 1})
				cur, size = nil, 0
			}
			cur = append(cur, recs[i])
			size += len(recs[i])
			version += uint64(len(r.change.Ops))
		}
		if len(cur) > 0 {
			data, err := encodeEntry(cur)
			if err != nil {
				s.failAll(group, p, err)
				return
			}
			parts = append(parts, part{data: data, version: version, last: len(group) - 1})
		}
		if len(parts) == 0 { // every request was refused
			for i, r := range group {
				if p.Errs[i] != nil {
					r.done <- result{err: p.Errs[i]}
				}
			}
			return
		}
		stored := 0 // requests of group stored in the journal: group[:stored]
		after := s.applied.Load()
		var err error
		for _, pt := range parts {
			ctx, cancel := context.WithDeadline(context.Background(), deadline)
			var seq uint64
			seq, err = j.Append(ctx, after, pt.data, pt.version)
			cancel()
			if err != nil {
				break
			}
			after, stored = seq, pt.last+1
		}
		var behind *BehindError
		if stored == 0 && errors.As(err, &behind) && time.Now().Before(deadline) {
			s.conflicts.Add(1)
			// another writer got in first: apply what it wrote, check again
			s.log.Debug("journal moved on; catching up before appending again", "last", behind.Last)
			if !s.catchUp(max(behind.Last, s.applied.Load()+1), deadline) && s.fatal != nil {
				s.failAll(group, p, fault.Wrap(fault.Unavailable, s.fatal))
				return
			}
			continue
		}
		if err != nil {
			if errors.As(err, &behind) {
				err = &fault.Error{Kind: fault.Conflict, Msg: "other writers kept appending to the journal first; nothing of this request was applied, send it again", RetryAfter: 1}
			} else if fault.KindOf(err) == nil {
				err = &fault.Error{Kind: fault.Unavailable, Msg: "the journal did not store the change: " + err.Error() + "; if it was stored after all, every node applies it", RetryAfter: 1}
			}
			for i := stored; i < len(group); i++ {
				if p.Errs[i] == nil {
					p.Errs[i] = err
				}
			}
		}
		s.finish(group, p, t)
		if stored > 0 {
			s.applied.Store(after)
		}
		return
	}
}

// commitSeed appends the seed mark to an empty journal and keeps a
// snapshot that includes it (committer only).
func (s *Store) commitSeed(node string) error {
	j := s.opts.Journal
	if s.applied.Load() != 0 {
		return fmt.Errorf("store: this node follows the journal already (entry %d); only an empty journal is seeded", s.applied.Load())
	}
	v := uint64(s.eng.Version())
	rec, err := encodeRecord(&record{Version: v, Seed: &seedMark{Node: node, Version: v}})
	if err != nil {
		return err
	}
	data, err := encodeEntry([][]byte{rec})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), journalTimeout)
	defer cancel()
	seq, err := j.Append(ctx, 0, data, v)
	var behind *BehindError
	if errors.As(err, &behind) {
		return fmt.Errorf("store: the stream is not empty (another node seeded it, up to entry %d): --load seeds an empty stream only; "+
			"start this node without --load to follow it", behind.Last)
	}
	if err != nil {
		return fmt.Errorf("store: seeding the journal: %w", err)
	}
	s.applied.Store(seq)
	fz := s.eng.Freeze()
	b, err := encodeSnapshot(fz.Snapshot(), seq, s.Inputs())
	if err != nil {
		return err
	}
	if s.opts.Dir != "" {
		if _, err := writeSnapshotFile(s.opts.Dir, v, b); err != nil {
			return err
		}
	}
	kctx, kcancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer kcancel()
	if err := j.Keep(kctx, seq, v, b); err != nil {
		return fmt.Errorf("store: the stream is seeded (entry %d) but its snapshot was not kept: %w; "+
			"restart this node with its data directory to keep it again", seq, err)
	}
	s.sinceSnap, s.lastSnap = 0, time.Now()
	return nil
}
