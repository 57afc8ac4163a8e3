package wal

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Report is what Inspect found in a log's directory.
type Report struct {
	// Segments lists every segment file, oldest first. Up to the damage they
	// are read as Open reads them; a segment after the damage is read on its
	// own (its records counted as if it began the log) and its Checked is false.
	Segments []Inspected
	// Torn is the torn last record Open would cut off, or nil.
	Torn *TornTail
	// Damage is what stops Open (a *CorruptError or *FormatError), or nil.
	Damage error
}

// Inspected is a segment as Inspect read it.
type Inspected struct {
	Segment
	Checked bool // read in order as part of the log, up to the damage if any
}

// Inspect reads the log in dir without changing anything, and calls each
// (when not nil) for every valid record in order, with its file and byte
// offset; r.Data is valid only during the call. Damage is reported in the
// Report; the error is for what stops the reading itself (an unreadable
// directory or file).
func Inspect(dir string, each func(path string, off int64, r Record)) (*Report, error) {
	firsts, err := listSegments(dir)
	if err != nil {
		return nil, err
	}
	var fn func(string, int64, Record) error
	if each != nil {
		fn = func(path string, off int64, r Record) error { each(path, off, r); return nil }
	}
	segs, err := scanLog(dir, firsts, fn)
	rep := &Report{}
	if err != nil && !isDamage(err) {
		return nil, err
	}
	rep.Damage = err
	for _, s := range segs {
		rep.Segments = append(rep.Segments, Inspected{Segment: s.Segment, Checked: true})
	}
	if err == nil && len(segs) > 0 {
		rep.Torn = segs[len(segs)-1].torn
	}
	for i := len(segs); i < len(firsts); i++ {
		path := filepath.Join(dir, SegmentName(firsts[i]))
		s, err := scanSegment(path, firsts[i], i == len(firsts)-1, nil, nil)
		if s == nil {
			if st, serr := os.Stat(path); serr == nil {
				s = &scanned{Segment: Segment{Path: path, First: firsts[i], Size: st.Size()}}
			} else {
				return nil, err
			}
		}
		rep.Segments = append(rep.Segments, Inspected{Segment: s.Segment})
	}
	return rep, nil
}

func isDamage(err error) bool {
	var ce *CorruptError
	var fe *FormatError
	return errors.As(err, &ce) || errors.As(err, &fe)
}

// CutResult says what Cut removed.
type CutResult struct {
	Segment string   // the segment cut
	Offset  int64    // where it now ends (0: it was moved away whole)
	Bytes   int64    // bytes removed from it
	CutFile string   // where those bytes are now, "" if none
	Moved   []string // later segments moved away whole, as .cut files
	// Records counts the valid records removed, from the segment cut and the
	// ones moved, as far as they can be read.
	Records int
	// Damage is the damage in the segment that the cut removed (a
	// *CorruptError or *FormatError), Torn a torn tail it removed; both nil
	// when the cut removed only valid records.
	Damage error
	Torn   *TornTail
}

// Cut is the operator's deliberate cut of a damaged log: it ends the
// segment (a file name in dir, or a path) at byte offset, a record boundary
// that it checks again by reading the log up to there; offset 0 moves the
// whole segment away. The bytes removed go to a file beside it,
// <segment>.<offset>.cut, fsynced before the segment is truncated; later
// segments, which could no longer join the log, are moved away whole as
// <segment>.0.cut. Damage before offset, an offset that is not a record
// boundary, an existing .cut file, or the directory in use by a running
// process (ErrLocked) refuse the cut with nothing changed. Open never cuts
// anything but a torn tail by itself.
func Cut(dir, segment string, offset int64) (*CutResult, error) {
	lock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	defer lock.Close()
	plan, err := planCut(dir, segment, offset)
	if err != nil {
		return nil, err
	}
	res := *plan
	res.CutFile, res.Moved = "", nil
	// later segments first, newest first: a crash part way leaves a log that
	// still joins up to the segment being cut, and the cut can be run again
	for i := len(plan.Moved) - 1; i >= 0; i-- {
		if err := os.Rename(strings.TrimSuffix(plan.Moved[i], ".0.cut"), plan.Moved[i]); err != nil {
			return &res, err
		}
		res.Moved = append([]string{plan.Moved[i]}, res.Moved...)
	}
	if err := syncDir(dir); err != nil {
		return &res, err
	}
	switch {
	case offset == 0:
		if err := os.Rename(plan.Segment, plan.CutFile); err != nil {
			return &res, err
		}
		res.CutFile = plan.CutFile
	case plan.Bytes > 0:
		if err := copyTail(plan.Segment, offset, plan.CutFile); err != nil {
			return &res, err
		}
		res.CutFile = plan.CutFile
		if err := truncate(plan.Segment, offset); err != nil {
			return &res, err
		}
	}
	return &res, syncDir(dir)
}

// PlanCut says what Cut(dir, segment, offset) would do, checking all that
// Cut checks, and changes nothing.
func PlanCut(dir, segment string, offset int64) (*CutResult, error) {
	lock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	defer lock.Close()
	return planCut(dir, segment, offset)
}

func planCut(dir, segment string, offset int64) (*CutResult, error) {
	name := filepath.Base(segment)
	first, ok := parseSegmentName(name)
	if !ok {
		return nil, fmt.Errorf("wal: cut: %q is not a segment name (wal-<20 digits>.log)", segment)
	}
	path := filepath.Join(dir, name)
	firsts, err := listSegments(dir)
	if err != nil {
		return nil, err
	}
	idx := slices.Index(firsts, first)
	if idx < 0 {
		return nil, fmt.Errorf("wal: cut: no segment %s in %s", name, dir)
	}
	// read the log up to the segment, noting where its records start
	bounds := map[int64]bool{0: true}
	records := 0 // valid records of the segment from offset on
	segs, damage := scanLog(dir, firsts[:idx+1], func(p string, off int64, r Record) error {
		if p == path {
			bounds[off] = true
			if off >= offset {
				records++
			}
		}
		return nil
	})
	if damage != nil && !isDamage(damage) {
		return nil, damage
	}
	if len(segs) <= idx {
		return nil, fmt.Errorf("wal: cut: the log is damaged before %s: %w; cut there first", name, damage)
	}
	s := segs[idx]
	if s.End >= segHeaderSize { // its header is whole and joins: it ends where it can be read to
		bounds[segHeaderSize], bounds[s.End] = true, true
	}
	if !bounds[offset] {
		return nil, fmt.Errorf("wal: cut: byte %d of %s is not a record boundary the log can be read to "+
			"(the last one is byte %d; 0 moves the whole segment away)", offset, name, s.End)
	}
	res := &CutResult{Segment: path, Offset: offset, Bytes: s.Size - offset, Records: records, Damage: damage}
	later := firsts[idx+1:]
	if t := s.torn; t != nil && len(later) > 0 { // torn is damage where a segment follows
		res.Damage = &CorruptError{Path: path, Offset: t.Offset, Reason: t.Reason + ", in a segment that is not the newest"}
	} else {
		res.Torn = t
	}
	if res.Bytes == 0 && offset > 0 && len(later) == 0 {
		return nil, fmt.Errorf("wal: cut: %s ends at byte %d already and no segment follows it: nothing to cut", name, offset)
	}
	if offset == 0 || res.Bytes > 0 {
		res.CutFile = fmt.Sprintf("%s.%d.cut", path, offset)
	}
	for _, f := range later {
		p := filepath.Join(dir, SegmentName(f))
		if ls, _ := scanSegment(p, f, false, nil, nil); ls != nil {
			res.Records += ls.Records
		}
		res.Moved = append(res.Moved, p+".0.cut")
	}
	// refuse before changing anything if a forensic file would be overwritten
	for _, p := range append([]string{res.CutFile}, res.Moved...) {
		if _, err := os.Lstat(p); p != "" && err == nil {
			return nil, fmt.Errorf("wal: cut: %s exists already: move it away first", p)
		}
	}
	return res, nil
}

// copyTail copies the bytes of path from off on to a new file dst, fsynced.
func copyTail(path string, off int64, dst string) error {
	src, err := os.Open(path)
	if err != nil {
		return err
	}
	defer src.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, io.NewSectionReader(src, off, 1<<62))
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}
