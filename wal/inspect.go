package wal

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
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
	CutFile string   // where those bytes are now: <segment>.<offset>.cut
	Moved   []string // later segments moved away whole, as .cut files
	// Records counts the records in the segments moved away, each read on
	// its own (past the damage, the segment cut cannot be read in order).
	Records int
	// Damage is the damage the cut removed (a *CorruptError or
	// *FormatError), or else Torn the torn tail it removed.
	Damage error
	Torn   *TornTail
}

// Cut is the operator's deliberate cut of a damaged log. It reads the log
// through as Open does, and cuts only where reading stops: segment (a file
// name in dir, or a path) and offset must name the damage Open reports
// (for a damaged segment header, a file of another format, or a segment
// that does not join, offset 0: the whole segment), or a torn tail. Naming
// the place is the operator's confirmation of what was checked; anywhere
// else, even a record boundary, is refused, so that a typing mistake cannot
// cut good records. The bytes removed go to a file beside the segment,
// <segment>.<offset>.cut, fsynced before the segment is truncated (or the
// whole segment is renamed to it); later segments, which could no longer
// join the log, are moved away whole as <segment>.0.cut. A log without
// damage, an existing .cut file, or the directory in use by a running
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
	default:
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
	if _, ok := parseSegmentName(name); !ok {
		return nil, fmt.Errorf("wal: cut: %q is not a segment name (wal-<20 digits>.log)", segment)
	}
	path := filepath.Join(dir, name)
	firsts, err := listSegments(dir)
	if err != nil {
		return nil, err
	}
	segs, damage := scanLog(dir, firsts, nil)
	if damage != nil && !isDamage(damage) {
		return nil, damage
	}
	// where reading stops
	var at string
	var atOff int64
	var torn *TornTail
	var ce *CorruptError
	var fe *FormatError
	switch {
	case errors.As(damage, &ce):
		at, atOff = ce.Path, ce.Offset
	case errors.As(damage, &fe):
		at, atOff = fe.Path, 0
	case len(segs) > 0 && segs[len(segs)-1].torn != nil:
		torn = segs[len(segs)-1].torn
		at, atOff = torn.Path, torn.Offset
	default:
		return nil, fmt.Errorf("wal: cut: the log in %s reads back whole: nothing to cut", dir)
	}
	if at != path || atOff != offset {
		return nil, fmt.Errorf("wal: cut: not at byte %d of %s: the log reads back up to byte %d of %s and no further, "+
			"the only place it can be cut (roomstate wal check shows why)", offset, name, atOff, filepath.Base(at))
	}
	idx := len(segs) - 1
	s := segs[idx]
	res := &CutResult{Segment: path, Offset: offset, Bytes: s.Size - offset, Damage: damage, Torn: torn}
	res.CutFile = fmt.Sprintf("%s.%d.cut", path, offset)
	for _, f := range firsts[idx+1:] {
		p := filepath.Join(dir, SegmentName(f))
		if ls, _ := scanSegment(p, f, false, nil, nil); ls != nil {
			res.Records += ls.Records
		}
		res.Moved = append(res.Moved, p+".0.cut")
	}
	// refuse before changing anything if a forensic file would be overwritten
	for _, p := range append([]string{res.CutFile}, res.Moved...) {
		if _, err := os.Lstat(p); err == nil {
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
