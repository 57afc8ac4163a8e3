package wal

import (
	"errors"
	"fmt"
	"syscall"
)

// CorruptError reports damage that Open will not repair: the file, the byte
// offset of the first frame (or header) that fails, and what is wrong.
// Nothing has been cut when it is returned.
type CorruptError struct {
	Path   string // the segment file
	Offset int64  // byte offset of the damaged frame or header
	Reason string // what is wrong, in words
}

// Error names the file, the offset and the reason, and says nothing was cut.
func (e *CorruptError) Error() string {
	return fmt.Sprintf("%s: damaged at byte %d: %s (nothing was cut; `roomstate wal check DIR` lists the log, "+
		"`roomstate wal cut` cuts it there deliberately)", e.Path, e.Offset, e.Reason)
}

// FormatError reports a file named like a segment that is not one of this
// format: a segment of an older roomstate (no header), a newer format
// version, or something else.
type FormatError struct {
	Path   string
	Reason string
}

// Error names the file and what it is instead.
func (e *FormatError) Error() string {
	return fmt.Sprintf("%s: not a log segment this roomstate reads: %s", e.Path, e.Reason)
}

// TornTail describes a record a crash left half written at the end of the
// newest segment: Open cuts it off, Inspect reports it.
type TornTail struct {
	Path   string
	Offset int64  // where the torn record starts: the file is cut here
	Size   int64  // bytes from Offset to the end of the file
	Reason string // how it was recognised
}

// ErrNoSpace matches (errors.Is) an append that failed because the device
// or the quota is full (ENOSPC, EDQUOT). Unless the error matches ErrBroken
// too, the log was cut back and is usable: the same append can succeed once
// space returns.
var ErrNoSpace = errors.New("wal: no space left on the device")

// ErrBroken matches (errors.Is) an append whose failure could not be
// undone: the segment could not be truncated back to where the group began.
// The failed group may or may not be replayed after a restart, and the Log
// takes no more appends; restart to recover.
var ErrBroken = errors.New("wal: the log could not be cut back after a failed write")

// ErrClosed is returned by a Log after Close.
var ErrClosed = errors.New("wal: closed")

// AppendError is the error of a failed Append. Its records were not
// acknowledged: unless Broken, the segment was truncated back to Offset (and
// that was fsynced), so none of them will ever be replayed.
type AppendError struct {
	Path   string // the segment appended to
	Offset int64  // where the group began, and where the segment now ends
	Err    error  // the cause: a write, fsync or truncate error
	Broken bool   // the truncate back failed: see ErrBroken
}

// Error names the segment and offset, the cause, and what became of the records.
func (e *AppendError) Error() string {
	if e.Broken {
		return fmt.Sprintf("wal: append to %s at byte %d failed and could not be undone (%v); "+
			"the log takes no more appends and the failed records may reappear after a restart", e.Path, e.Offset, e.Err)
	}
	if isNoSpace(e.Err) {
		return fmt.Sprintf("wal: append to %s at byte %d failed, no space left (%v); the records were not kept "+
			"and appends resume once space is freed", e.Path, e.Offset, e.Err)
	}
	return fmt.Sprintf("wal: append to %s at byte %d failed (%v); the records were not kept", e.Path, e.Offset, e.Err)
}

// Unwrap returns the cause, so errors.Is(err, syscall.EIO) works.
func (e *AppendError) Unwrap() error { return e.Err }

// Is reports ErrNoSpace for a full device or quota and ErrBroken for a
// failure that could not be undone.
func (e *AppendError) Is(target error) bool {
	switch target {
	case ErrNoSpace:
		return isNoSpace(e.Err)
	case ErrBroken:
		return e.Broken
	}
	return false
}

func isNoSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}
