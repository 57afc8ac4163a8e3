package wal

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"syscall"
	"testing"
)

// faultyFile is a segment file that runs out of room, or fails fsync or
// truncate, on demand.
type faultyFile struct {
	*os.File
	room     int64 // bytes it still takes; < 0 without limit
	syncErr  error // returned by the next Sync
	truncErr error // returned by every Truncate
}

func (f *faultyFile) Write(b []byte) (int, error) {
	if f.room < 0 || int64(len(b)) <= f.room {
		if f.room >= 0 {
			f.room -= int64(len(b))
		}
		return f.File.Write(b)
	}
	n, err := f.File.Write(b[:f.room])
	f.room -= int64(n)
	if err == nil {
		err = &fs.PathError{Op: "write", Path: f.Name(), Err: syscall.ENOSPC}
	}
	return n, err
}

func (f *faultyFile) Sync() error {
	if err := f.syncErr; err != nil {
		f.syncErr = nil
		return &fs.PathError{Op: "sync", Path: f.Name(), Err: err}
	}
	return f.File.Sync()
}

func (f *faultyFile) Truncate(n int64) error {
	if f.truncErr != nil {
		return &fs.PathError{Op: "truncate", Path: f.Name(), Err: f.truncErr}
	}
	return f.File.Truncate(n)
}

// openFaulty opens dir with its newest segment behind a faultyFile.
func openFaulty(t *testing.T, dir string) (*Log, *faultyFile) {
	t.Helper()
	var ff *faultyFile
	l, err := Open(dir, Options{wrap: func(f segFile) segFile {
		ff = &faultyFile{File: f.(*os.File), room: -1}
		return ff
	}})
	if err != nil {
		t.Fatal(err)
	}
	return l, ff
}

// group makes n records from the log's next sequence number, tagged.
func group(l *Log, tag string, n int) []Record {
	var out []Record
	seq := l.Next()
	for i := range n {
		out = append(out, Record{Seq: seq, Count: 2, Data: fmt.Appendf(nil, "%s %d: %0100d", tag, i, i)})
		seq += 2
	}
	return out
}

// payloads returns the set of payloads in dir's log.
func payloads(t *testing.T, dir string) ([]string, uint64) {
	t.Helper()
	got, l, err := replayed(t, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var out []string
	for _, r := range got {
		out = append(out, string(r.Data))
	}
	return out, l.Next()
}

// TestRefusedAppendNeverApplies: a group that fails part way (no space at
// every kind of place: before it, inside a record header, inside a payload,
// right after a whole record) is truncated back; after a reopen none of its
// records are there and every earlier one is; once space returns, appends
// go on where the failed one would have gone.
func TestRefusedAppendNeverApplies(t *testing.T) {
	frame := int64(frameHeaderSize + 112) // a record of group(): 112 bytes of payload
	for _, room := range []int64{0, 1, 10, frameHeaderSize, frameHeaderSize + 50, frame, 2*frame + 3, 7*frame + 8} {
		t.Run(fmt.Sprint("room ", room), func(t *testing.T) {
			dir := t.TempDir()
			l, ff := openFaulty(t, dir)
			ok := group(l, "ok", 5)
			if err := l.Append(ok); err != nil {
				t.Fatal(err)
			}
			size, next := l.size, l.Next()
			ff.room = room
			failed := group(l, "failed", 8)
			err := l.Append(failed)
			var ae *AppendError
			if !errors.Is(err, ErrNoSpace) || errors.Is(err, ErrBroken) || !errors.As(err, &ae) || ae.Offset != size {
				t.Fatalf("append with %d bytes of room: %v; want ErrNoSpace at byte %d", room, err, size)
			}
			if st, _ := os.Stat(ff.Name()); st.Size() != size || l.Next() != next {
				t.Fatalf("the segment is %d bytes, want it cut back to %d", st.Size(), size)
			}
			// still no space: refused again, the same way
			if err := l.Append(failed); !errors.Is(err, ErrNoSpace) {
				t.Fatal(err)
			}
			l.Close()
			got, _ := payloads(t, dir)
			if len(got) != len(ok) {
				t.Fatalf("after a reopen: %q, want only the %d acknowledged records", got, len(ok))
			}
			// space returns: the same sequence numbers go on
			l, ff = openFaulty(t, dir)
			ff.room = -1
			if err := l.Append(group(l, "later", 3)); err != nil {
				t.Fatal(err)
			}
			l.Close()
			got, nextNow := payloads(t, dir)
			if len(got) != 8 || got[5] != "later 0: "+fmt.Sprintf("%0100d", 0) || nextNow != next+6 {
				t.Fatalf("after space returned: %q, next %d", got, nextNow)
			}
		})
	}
}

// TestRefusedThenResumedWithoutReopen: the same Log takes appends again
// once space is back.
func TestRefusedThenResumedWithoutReopen(t *testing.T) {
	dir := t.TempDir()
	l, ff := openFaulty(t, dir)
	l.Append(group(l, "a", 3))
	ff.room = 200
	if err := l.Append(group(l, "b", 4)); !errors.Is(err, ErrNoSpace) {
		t.Fatal(err)
	}
	ff.room = -1
	if err := l.Append(group(l, "c", 4)); err != nil {
		t.Fatal(err)
	}
	l.Close()
	got, _ := payloads(t, dir)
	if len(got) != 7 || got[3][:1] != "c" {
		t.Fatalf("%q", got)
	}
}

// TestFailedFsync: a failed fsync (an I/O error, or no space when the file
// system allocates at writeback) is cut back like a short write.
func TestFailedFsync(t *testing.T) {
	for _, cause := range []error{syscall.EIO, syscall.ENOSPC, syscall.EDQUOT} {
		t.Run(cause.Error(), func(t *testing.T) {
			dir := t.TempDir()
			l, ff := openFaulty(t, dir)
			l.Append(group(l, "ok", 2))
			ff.syncErr = cause
			err := l.Append(group(l, "failed", 3))
			if !errors.Is(err, cause) || errors.Is(err, ErrNoSpace) != (cause != syscall.EIO) || errors.Is(err, ErrBroken) {
				t.Fatalf("got %v", err)
			}
			if err := l.Append(group(l, "after", 1)); err != nil {
				t.Fatalf("the log is not usable after a failed fsync it cut back: %v", err)
			}
			l.Close()
			got, _ := payloads(t, dir)
			if len(got) != 3 || got[2][:5] != "after" {
				t.Fatalf("%q", got)
			}
		})
	}
}

// TestBrokenWhenTheCutBackFails: if the truncate back fails too, the log is
// broken: every later call says so. After a restart the failed group's
// records may be there, whole ones only and in order, and every earlier one is.
func TestBrokenWhenTheCutBackFails(t *testing.T) {
	dir := t.TempDir()
	l, ff := openFaulty(t, dir)
	l.Append(group(l, "ok", 2))
	ff.room = 3*(frameHeaderSize+112) + 30
	ff.truncErr = syscall.EIO
	failed := group(l, "failed", 6)
	err := l.Append(failed)
	if !errors.Is(err, ErrBroken) || !errors.Is(err, ErrNoSpace) {
		t.Fatalf("got %v, want ErrBroken (and ErrNoSpace, its cause)", err)
	}
	ff.room, ff.truncErr = -1, nil
	if err := l.Append(group(l, "later", 1)); !errors.Is(err, ErrBroken) {
		t.Fatalf("append on a broken log: %v", err)
	}
	if err := l.Rotate(l.Next()); !errors.Is(err, ErrBroken) {
		t.Fatalf("rotate on a broken log: %v", err)
	}
	l.Close()
	got, _ := payloads(t, dir)
	want := []string{"ok 0: " + fmt.Sprintf("%0100d", 0), "ok 1: " + fmt.Sprintf("%0100d", 1)}
	for _, r := range failed[:3] {
		want = append(want, string(r.Data))
	}
	if !slices.Equal(got, want) {
		t.Fatalf("after the restart: %q\nwant the acknowledged records and the failed group's whole ones: %q", got, want)
	}
}
