package wal

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
)

// lockName is the file in the log's directory that a Log (and Cut) locks.
const lockName = "wal.lock"

// ErrLocked matches (errors.Is) an Open or Cut of a directory another
// process has open.
var ErrLocked = errors.New("wal: directory in use")

// LockDir takes dir's lock, the one a log holds, for a process that keeps
// state in dir without a log there (a replica, whose log is its stream): so
// that two processes never share one directory either way. The lock goes
// with the file's closing or the process; a directory in use is ErrLocked.
func LockDir(dir string) (*os.File, error) { return lockDir(dir) }

// Options configure Open. The zero value is ready to use.
type Options struct {
	// FirstSeq is the sequence number a new log starts at (default 1); it is
	// not used when the directory holds segments.
	FirstSeq uint64
	// Logger receives the warning when Open cuts a torn tail (default: none).
	Logger *slog.Logger
	// NoSync skips the fsync of appends and of what Open kept: for tests of
	// what does not depend on it, never in production.
	NoSync bool

	// wrap, when set (by tests), wraps the newest segment's file.
	wrap func(segFile) segFile
}

// segFile is what a Log needs of the file it appends to.
type segFile interface {
	io.Writer
	Sync() error
	Truncate(size int64) error
	Close() error
}

// Log is an open log, appending to its newest segment. See the package
// documentation. A Log is not safe for concurrent use.
type Log struct {
	dir  string
	opts Options
	lock *os.File
	segs []Segment // oldest first; the last is appended to
	torn *TornTail // what Open cut, nil if nothing

	// the newest segment
	f    segFile
	size int64  // durable bytes: where the next group goes
	next uint64 // the sequence number the next record must start at
	crc  uint32 // chained CRC of the last record
	buf  []byte // encoding buffer, reused
	err  error  // sticky: ErrClosed, or an AppendError that is Broken
}

// Open opens the log in dir (creating dir and a first segment when there is
// none), after reading every segment through and checking every record. A
// torn last record in the newest segment (see the package documentation) is
// cut off, the cut fsynced, and reported by Torn and to opts.Logger. Any other
// damage is a *CorruptError, a file of another format a *FormatError; in
// both cases nothing is changed on disk. Another process holding the
// directory is ErrLocked.
func Open(dir string, opts Options) (*Log, error) {
	if opts.FirstSeq == 0 {
		opts.FirstSeq = 1
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	l := &Log{dir: dir, opts: opts, lock: lock}
	if err := l.open(); err != nil {
		lock.Close()
		return nil, err
	}
	return l, nil
}

func (l *Log) open() error {
	if err := removeTemps(l.dir); err != nil {
		return err
	}
	firsts, err := listSegments(l.dir)
	if err != nil {
		return err
	}
	if len(firsts) == 0 {
		h := segHeader{first: l.opts.FirstSeq, prevNext: l.opts.FirstSeq}
		if err := createSegment(l.dir, h); err != nil {
			return err
		}
		l.segs = []Segment{{Path: filepath.Join(l.dir, SegmentName(h.first)), First: h.first, Next: h.first, Size: segHeaderSize, End: segHeaderSize}}
		l.next, l.size = h.first, segHeaderSize
		return l.openNewest()
	}
	segs, err := scanLog(l.dir, firsts, nil)
	if err != nil {
		return err
	}
	last := segs[len(segs)-1]
	if t := last.torn; t != nil {
		if err := truncate(t.Path, t.Offset); err != nil {
			return fmt.Errorf("wal: cutting the torn tail of %s at byte %d: %w", t.Path, t.Offset, err)
		}
		if l.opts.Logger != nil {
			l.opts.Logger.Warn("the log ends in a torn record (a write cut short by a crash); cut it off",
				"path", t.Path, "offset", t.Offset, "bytes", t.Size, "why", t.Reason)
		}
		l.torn = t
		last.Size = t.Offset
	}
	if last.empty { // a 0-byte newest file: give it its header
		h := segHeader{first: last.First, prevNext: last.First}
		if len(segs) > 1 {
			prev := segs[len(segs)-2]
			h.prevNext, h.prevCRC = prev.Next, prev.crc
		}
		if err := createSegment(l.dir, h); err != nil {
			return err
		}
		last.hdr, last.crc, last.Size, last.End = h, h.prevCRC, segHeaderSize, segHeaderSize
	}
	for _, s := range segs {
		l.segs = append(l.segs, s.Segment)
	}
	l.next, l.crc, l.size = last.Next, last.crc, last.End
	return l.openNewest()
}

// openNewest opens the newest segment for appending and makes what it
// holds durable: a crash may have left unsynced writes of an earlier
// process that Open kept.
func (l *Log) openNewest() error {
	path := l.segs[len(l.segs)-1].Path
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	if !l.opts.NoSync {
		if err := f.Sync(); err != nil {
			f.Close()
			return fmt.Errorf("wal: fsync of %s: %w", path, err)
		}
		if err := syncDir(l.dir); err != nil {
			f.Close()
			return err
		}
	}
	l.f = f
	if l.opts.wrap != nil {
		l.f = l.opts.wrap(f)
	}
	return nil
}

// Replay calls fn for every record of the log in order, reading the
// segments again (and checking them again). r.Data is valid only during the
// call. An error from fn stops the replay and is returned as is.
func (l *Log) Replay(fn func(r Record) error) error {
	if l.err != nil {
		return l.err
	}
	firsts := make([]uint64, len(l.segs))
	for i, s := range l.segs {
		firsts[i] = s.First
	}
	segs, err := scanLog(l.dir, firsts, func(_ string, _ int64, r Record) error { return fn(r) })
	if err != nil {
		return err
	}
	if t := segs[len(segs)-1].torn; t != nil {
		return &CorruptError{Path: t.Path, Offset: t.Offset, Reason: "changed since the log was opened: " + t.Reason}
	}
	return nil
}

// Append writes recs after the log's last record as one group: one write,
// one fsync. recs[0].Seq must be Next(), and each record must start where
// the one before it ends; a record breaking that, or larger than MaxRecord,
// is refused before anything is written.
//
// On a failed write or fsync the segment is truncated back to where the
// group began and that is fsynced, so none of recs will ever be replayed,
// and the error is an *AppendError (errors.Is(err, ErrNoSpace) for a full
// device); the next Append goes where this one would have. If the truncate
// fails too, the error matches ErrBroken and every later call returns it.
func (l *Log) Append(recs []Record) error {
	if l.err != nil {
		return l.err
	}
	buf, next, crc := l.buf[:0], l.next, l.crc
	for i, r := range recs {
		if r.Seq != next {
			return fmt.Errorf("wal: append: record %d of the group starts at sequence %d, the log continues at %d", i, r.Seq, next)
		}
		if len(r.Data) > MaxRecord {
			return fmt.Errorf("wal: append: record %d of the group holds %d bytes, over the limit %d", i, len(r.Data), MaxRecord)
		}
		if r.Seq+uint64(r.Count) < r.Seq {
			return fmt.Errorf("wal: append: record %d of the group runs past the largest sequence number", i)
		}
		buf, crc = appendFrame(buf, crc, r)
		next = r.Seq + uint64(r.Count)
	}
	if len(recs) == 0 {
		return nil
	}
	if cap(buf) <= 16<<20 {
		l.buf = buf[:0]
	}
	n, err := l.f.Write(buf)
	if err == nil && n < len(buf) {
		err = io.ErrShortWrite
	}
	if err == nil && !l.opts.NoSync {
		err = l.f.Sync()
	}
	if err != nil {
		return l.cutBack(err)
	}
	l.size += int64(len(buf))
	l.next, l.crc = next, crc
	s := &l.segs[len(l.segs)-1]
	s.Next, s.Size, s.End = next, l.size, l.size
	s.Records += len(recs)
	return nil
}

// cutBack truncates the newest segment to its last durable boundary after
// a failed append.
func (l *Log) cutBack(cause error) error {
	e := &AppendError{Path: l.segs[len(l.segs)-1].Path, Offset: l.size, Err: cause}
	if err := l.f.Truncate(l.size); err != nil {
		e.Broken, e.Err = true, fmt.Errorf("%w; then truncating back: %w", cause, err)
	} else if err := l.f.Sync(); err != nil {
		e.Broken, e.Err = true, fmt.Errorf("%w; then fsync of the truncation: %w", cause, err)
	}
	if e.Broken {
		l.err = e
	}
	return e
}

// Rotate starts a new segment at seq, which must be at least Next(); a
// seq beyond it is a deliberate jump, recorded in the new segment's header.
// When the newest segment already starts at seq (it holds no sequence
// numbers yet), Rotate does nothing.
func (l *Log) Rotate(seq uint64) error {
	if l.err != nil {
		return l.err
	}
	if seq < l.next {
		return fmt.Errorf("wal: rotate to sequence %d: the log already holds up to %d", seq, l.next-1)
	}
	cur := &l.segs[len(l.segs)-1]
	if seq == cur.First {
		return nil
	}
	h := segHeader{first: seq, prevNext: l.next, prevCRC: l.crc}
	if err := createSegment(l.dir, h); err != nil {
		return err
	}
	old := l.f
	l.segs = append(l.segs, Segment{Path: filepath.Join(l.dir, SegmentName(seq)), First: seq, Next: seq, Size: segHeaderSize, End: segHeaderSize})
	if err := l.openNewest(); err != nil {
		l.f = old
		l.segs = l.segs[:len(l.segs)-1]
		os.Remove(filepath.Join(l.dir, SegmentName(seq)))
		return err
	}
	l.size, l.next = segHeaderSize, seq
	old.Close() // every write to it was fsynced
	return nil
}

// RemoveBefore removes the segments that a later segment starting at or
// before seq follows: those wholly before seq, written before the rotation
// to it. The newest segment is never removed.
func (l *Log) RemoveBefore(seq uint64) error {
	if l.err != nil {
		return l.err
	}
	n := 0
	for n+1 < len(l.segs) && l.segs[n+1].First <= seq {
		if err := os.Remove(l.segs[n].Path); err != nil && !errors.Is(err, os.ErrNotExist) {
			l.segs = l.segs[n:]
			return err
		}
		n++
	}
	if n == 0 {
		return nil
	}
	l.segs = l.segs[n:]
	return syncDir(l.dir)
}

// Next returns the sequence number the next record must start at.
func (l *Log) Next() uint64 { return l.next }

// First returns the first sequence number of the oldest segment.
func (l *Log) First() uint64 { return l.segs[0].First }

// Segments describes the segments, oldest first.
func (l *Log) Segments() []Segment { return append([]Segment(nil), l.segs...) }

// Torn returns the torn tail Open cut off, or nil.
func (l *Log) Torn() *TornTail { return l.torn }

// Close closes the log. Every acknowledged append is already durable.
func (l *Log) Close() error {
	if errors.Is(l.err, ErrClosed) {
		return nil
	}
	l.err = ErrClosed
	err := l.f.Close()
	if cerr := l.lock.Close(); err == nil {
		err = cerr
	}
	return err
}

// createSegment writes a new segment holding only its header, atomically:
// a temporary file, fsynced, renamed into place, the directory fsynced.
func createSegment(dir string, h segHeader) error {
	final := filepath.Join(dir, SegmentName(h.first))
	tmp := final + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(h.encode())
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, final)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("wal: creating %s: %w", final, err)
	}
	return syncDir(dir)
}

// removeTemps removes segments a crash left half created.
func removeTemps(dir string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if name, ok := strings.CutSuffix(e.Name(), ".tmp"); ok {
			if _, ok := parseSegmentName(name); ok {
				if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// truncate cuts the file at path at off and makes that durable.
func truncate(path string, off int64) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	err = f.Truncate(off)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// syncDir makes creations, renames and removals in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return fmt.Errorf("wal: fsync of directory %s: %w", dir, err)
	}
	return nil
}
