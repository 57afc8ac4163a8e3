package wal

import (
	"bytes"
	"errors"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// rec is a record as written, with where it lies.
type rec struct {
	Record
	path     string
	off, end int64 // its frame
}

// payload makes a record's payload: recognisable, of varied length, never
// ending in a zero byte.
func payload(rng *rand.Rand, seq uint64, size int) []byte {
	b := fmt.Appendf(nil, "record %d|", seq)
	for len(b) < size {
		b = append(b, byte('a'+rng.IntN(26)))
	}
	return b
}

// build writes a log of segs segments, each of groups groups of 1 to 8
// records (payloads 1 to 700 bytes), into dir, and returns its records in
// order with their places.
func build(t testing.TB, dir string, seed uint64, segs, groups int) []rec {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 1))
	l, err := Open(dir, Options{FirstSeq: 100, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	for s := 0; s < segs; s++ {
		if s > 0 {
			if err := l.Rotate(l.Next()); err != nil {
				t.Fatal(err)
			}
		}
		for g := 0; g < groups; g++ {
			var grp []Record
			seq := l.Next()
			for range 1 + rng.IntN(8) {
				r := Record{Seq: seq, Count: uint32(rng.IntN(4)), Data: payload(rng, seq, 1+rng.IntN(700))}
				grp = append(grp, r)
				seq += uint64(r.Count)
			}
			if err := l.Append(grp); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return located(t, dir)
}

// located lists dir's records with their places, as Inspect reads them.
func located(t testing.TB, dir string) []rec {
	t.Helper()
	var out []rec
	rep, err := Inspect(dir, func(path string, off int64, r Record) {
		n := int64(len(r.Data))
		out = append(out, rec{Record: Record{Seq: r.Seq, Count: r.Count, Data: slices.Clone(r.Data)},
			path: path, off: off, end: off + frameHeaderSize + n + int64(padding(int(n)))})
	})
	if err != nil || rep.Damage != nil {
		t.Fatalf("inspect: %v %v", err, rep.Damage)
	}
	return out
}

// replayed opens dir and returns its records.
func replayed(t testing.TB, dir string) ([]Record, *Log, error) {
	t.Helper()
	l, err := Open(dir, Options{NoSync: true})
	if err != nil {
		return nil, nil, err
	}
	var out []Record
	err = l.Replay(func(r Record) error {
		out = append(out, Record{Seq: r.Seq, Count: r.Count, Data: slices.Clone(r.Data)})
		return nil
	})
	if err != nil {
		l.Close()
		return nil, nil, err
	}
	return out, l, nil
}

func sameRecords(a []Record, b []rec) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Seq != b[i].Seq || a[i].Count != b[i].Count || !bytes.Equal(a[i].Data, b[i].Data) {
			return false
		}
	}
	return true
}

// copyDir copies the regular files of src into a new directory.
func copyDir(t testing.TB, src string) string {
	t.Helper()
	dst := t.TempDir()
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// files returns the contents of dir's files, for "nothing changed" checks.
func files(t testing.TB, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if e.Name() == lockName {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = string(b)
	}
	return out
}

func TestAppendReplayRotateReopen(t *testing.T) {
	dir := t.TempDir()
	want := build(t, dir, 1, 3, 20)
	got, l, err := replayed(t, dir)
	if err != nil {
		t.Fatal(err)
	}
	if !sameRecords(got, want) {
		t.Fatalf("replayed %d records, want the %d written", len(got), len(want))
	}
	last := want[len(want)-1]
	if l.Next() != last.Seq+uint64(last.Count) || l.First() != 100 || len(l.Segments()) != 3 || l.Torn() != nil {
		t.Fatalf("next %d first %d segments %d torn %v", l.Next(), l.First(), len(l.Segments()), l.Torn())
	}
	// appends go on after a reopen
	more := []Record{{Seq: l.Next(), Count: 2, Data: []byte("after reopen")}, {Seq: l.Next() + 2, Count: 0, Data: nil}}
	if err := l.Append(more); err != nil {
		t.Fatal(err)
	}
	// a record out of sequence is refused before anything is written
	if err := l.Append([]Record{{Seq: l.Next() + 1, Count: 1, Data: []byte("gap")}}); err == nil {
		t.Fatal("a gap was accepted")
	}
	if err := l.Rotate(l.Next() - 1); err == nil {
		t.Fatal("a rotation backwards was accepted")
	}
	l.Close()
	got, l, err = replayed(t, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if len(got) != len(want)+2 || string(got[len(want)].Data) != "after reopen" || len(got[len(want)+1].Data) != 0 {
		t.Fatalf("after appending: %d records", len(got))
	}
}

func TestOpenNewDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new")
	l, err := Open(dir, Options{FirstSeq: 7})
	if err != nil {
		t.Fatal(err)
	}
	if l.Next() != 7 || l.First() != 7 {
		t.Fatalf("next %d first %d", l.Next(), l.First())
	}
	if _, err := Open(dir, Options{}); !errors.Is(err, ErrLocked) {
		t.Fatalf("a second Open of a directory in use: %v, want ErrLocked", err)
	}
	if err := l.Append([]Record{{Seq: 7, Count: 1, Data: []byte("x")}}); err != nil {
		t.Fatal(err)
	}
	l.Close()
	if err := l.Append([]Record{{Seq: 8, Count: 1}}); !errors.Is(err, ErrClosed) {
		t.Fatalf("append after close: %v", err)
	}
	got, l, err := replayed(t, dir)
	if err != nil || len(got) != 1 || l.Next() != 8 {
		t.Fatalf("%v %d", err, len(got))
	}
	l.Close()
}

// A deliberate jump (Rotate beyond Next) is recorded and reopens; a missing
// segment in the middle does not; RemoveBefore drops whole segments only.
func TestRotateJumpGapAndRemoveBefore(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(dir, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	app := func(seq uint64, n uint32) {
		t.Helper()
		if err := l.Append([]Record{{Seq: seq, Count: n, Data: []byte(fmt.Sprint(seq))}}); err != nil {
			t.Fatal(err)
		}
	}
	app(1, 10)     // 1-10
	l.Rotate(11)   // wal-11
	app(11, 5)     // 11-15
	l.Rotate(1000) // a jump: wal-1000
	app(1000, 1)
	if err := l.Rotate(1000); err == nil {
		t.Fatal("rotate behind the log accepted")
	}
	l.Rotate(1001)
	if err := l.Rotate(1001); err != nil { // nothing in it yet: a no-op
		t.Fatal(err)
	}
	l.Close()
	got, l, err := replayed(t, dir)
	if err != nil || len(got) != 3 || got[2].Seq != 1000 {
		t.Fatalf("after a jump: %v, %d records", err, len(got))
	}
	l.Close()
	// a segment missing in the middle
	d := copyDir(t, dir)
	os.Remove(filepath.Join(d, SegmentName(11)))
	before := files(t, d)
	_, err = Open(d, Options{})
	var ce *CorruptError
	if !errors.As(err, &ce) || ce.Path != filepath.Join(d, SegmentName(1000)) || ce.Offset != 0 || !strings.Contains(ce.Reason, "missing") {
		t.Fatalf("missing segment: %v", err)
	}
	if !maps(before, files(t, d)) {
		t.Fatal("a refused open changed files")
	}
	// RemoveBefore
	l, err = Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.RemoveBefore(11); err != nil || l.First() != 11 || len(l.Segments()) != 3 {
		t.Fatalf("RemoveBefore(11): %v, first %d, %d segments", err, l.First(), len(l.Segments()))
	}
	if err := l.RemoveBefore(1 << 60); err != nil || len(l.Segments()) != 1 || l.First() != 1001 {
		t.Fatalf("RemoveBefore(all): %v, %d segments", err, len(l.Segments()))
	}
	if err := l.Append([]Record{{Seq: 1001, Count: 1, Data: []byte("z")}}); err != nil {
		t.Fatal(err)
	}
}

func maps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// An older roomstate's segment (no header), a foreign file and a newer
// format version are refused as *FormatError; a 0-byte newest segment gets
// a header.
func TestFormatRefused(t *testing.T) {
	old := func() []byte { // u32 length | u32 CRC-32C | payload, twice
		var b []byte
		for _, p := range []string{"\x83\xa1v\x01", "\x83\xa1v\x02"} {
			b = fmt.Appendf(b, "%s%s", le32(uint32(len(p))), le32(crc32c([]byte(p))))
			b = append(b, p...)
		}
		return b
	}
	v2 := segHeader{first: 1, prevNext: 1}.encode()
	v2[8] = 2
	copy(v2[36:], le32(crc32c(v2[:36])))
	for _, c := range []struct {
		name string
		data []byte
		want string
	}{
		{"older format", old(), "older format"},
		{"foreign", []byte("GIF89a and more bytes than that"), "does not start with the magic"},
		{"version 2", v2, "format version 2"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			os.WriteFile(filepath.Join(dir, SegmentName(1)), c.data, 0o644)
			_, err := Open(dir, Options{})
			var fe *FormatError
			if !errors.As(err, &fe) || !strings.Contains(err.Error(), c.want) || fe.Path != filepath.Join(dir, SegmentName(1)) {
				t.Fatalf("got %v, want a FormatError saying %q", err, c.want)
			}
		})
	}
	// a 0-byte newest segment (an older roomstate's fresh one) is given a header
	dir := t.TempDir()
	build(t, dir, 3, 1, 3)
	os.WriteFile(filepath.Join(dir, SegmentName(5000)), nil, 0o644)
	l, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if l.Next() != 5000 {
		t.Fatalf("next %d", l.Next())
	}
	if err := l.Append([]Record{{Seq: 5000, Count: 1, Data: []byte("a")}}); err != nil {
		t.Fatal(err)
	}
	l.Close()
	if _, l, err = replayed(t, dir); err != nil {
		t.Fatal(err)
	}
	l.Close()
}

func le32(v uint32) []byte { return []byte{byte(v), byte(v >> 8), byte(v >> 16), byte(v >> 24)} }

func crc32c(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }
