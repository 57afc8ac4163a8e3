package wal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// frameAt returns the record whose frame holds byte pos of path.
func frameAt(t *testing.T, recs []rec, path string, pos int64) rec {
	t.Helper()
	for _, r := range recs {
		if r.path == path && r.off <= pos && pos < r.end {
			return r
		}
	}
	t.Fatalf("no frame holds byte %d of %s", pos, path)
	return rec{}
}

// inSegment returns the records of one segment.
func inSegment(recs []rec, path string) []rec {
	var out []rec
	for _, r := range recs {
		if r.path == path {
			out = append(out, r)
		}
	}
	return out
}

// TestDamageIsRefused: damage anywhere but a torn tail stops Open with the
// file, the offset of the first frame it spoils and a reason, and changes
// nothing on disk; Inspect reports the same.
func TestDamageIsRefused(t *testing.T) {
	base := t.TempDir()
	recs := build(t, base, 11, 3, 60)
	segs, _ := listSegments(base)
	seg := func(i int) string { return filepath.Join(base, SegmentName(segs[i])) }
	newest := seg(2)
	size := func(p string) int64 { st, _ := os.Stat(p); return st.Size() }
	mid := inSegment(recs, newest)
	middle := mid[len(mid)/2]
	rng := rand.New(rand.NewPCG(5, 5))
	type damage struct {
		name   string
		path   string                // the file damaged (in base)
		do     func(b []byte) []byte // the damage
		offset func() int64          // the offset Open must name
		reason string                // part of the reason
	}
	page := size(newest) / 2 / 4096 * 4096
	p := size(newest)/2 + 3
	cases := []damage{
		{"zeroed 4 KiB page mid-file", newest,
			func(b []byte) []byte { clear(b[page : page+4096]); return b },
			func() int64 { return frameAt(t, recs, newest, page).off }, "mismatch"},
		{"100 random bytes mid-file", newest,
			func(b []byte) []byte {
				for i := range 100 {
					b[p+int64(i)] = byte(rng.Uint32())
				}
				return b
			},
			func() int64 { return frameAt(t, recs, newest, p).off }, "mismatch"},
		{"13 bytes inserted mid-file", newest,
			func(b []byte) []byte { return slices.Insert(b, int(p), []byte("inserted here")...) },
			func() int64 { return frameAt(t, recs, newest, p).off }, "mismatch"},
		{"16 bytes inserted at a record boundary", newest,
			func(b []byte) []byte { return slices.Insert(b, int(middle.off), []byte("sixteen  bytes!!")...) },
			func() int64 { return middle.off }, "record header checksum mismatch"},
		{"record length 0xFFFFFFFF", newest,
			func(b []byte) []byte { binary.LittleEndian.PutUint32(b[middle.off:], 0xFFFFFFFF); return b },
			func() int64 { return middle.off }, "impossible record length 4294967295"},
		{"record length +1000", newest,
			func(b []byte) []byte {
				binary.LittleEndian.PutUint32(b[middle.off:], uint32(len(middle.Data)+1000))
				return b
			},
			func() int64 { return middle.off }, "record header checksum mismatch"},
		{"a whole record removed mid-file", newest,
			func(b []byte) []byte { return slices.Delete(b, int(middle.off), int(middle.end)) },
			func() int64 { return middle.off }, "a gap or an overlap"},
		{"a record repeated", newest,
			func(b []byte) []byte { return slices.Insert(b, int(middle.end), b[middle.off:middle.end]...) },
			func() int64 { return middle.end }, "a gap or an overlap"},
		{"one bit of the newest record flipped", newest,
			func(b []byte) []byte { b[mid[len(mid)-1].off+frameHeaderSize+2] ^= 0x10; return b },
			func() int64 { return mid[len(mid)-1].off }, "not zeros from a sector boundary"},
		{"a byte flipped in the first of three segments", seg(0),
			func(b []byte) []byte { b[len(b)/2] ^= 1; return b },
			func() int64 { return frameAt(t, recs, seg(0), size(seg(0))/2).off }, "not the newest"},
		{"the middle segment cut short (torn-shaped)", seg(1),
			func(b []byte) []byte { return b[:len(b)-10] },
			func() int64 { l := inSegment(recs, seg(1)); return l[len(l)-1].off }, "not the newest"},
		{"the middle segment's last record zeroed from a sector on (torn-shaped)", seg(1),
			func(b []byte) []byte {
				l := inSegment(recs, seg(1))
				clear(b[roundUp(l[len(l)-1].off+frameHeaderSize, sectorSize):])
				return b
			},
			func() int64 { l := inSegment(recs, seg(1)); return l[len(l)-1].off }, "not the newest"},
		{"zeros appended to the middle segment", seg(1),
			func(b []byte) []byte { return append(b, make([]byte, 4096)...) },
			func() int64 { return size(seg(1)) }, "not the newest"},
		{"segment header damaged", newest,
			func(b []byte) []byte { b[20] ^= 4; return b },
			func() int64 { return 0 }, "segment header checksum mismatch"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := copyDir(t, base)
			path := filepath.Join(d, filepath.Base(c.path))
			b, _ := os.ReadFile(path)
			os.WriteFile(path, c.do(b), 0o644)
			before := files(t, d)
			_, err := Open(d, Options{})
			var ce *CorruptError
			if !errors.As(err, &ce) {
				t.Fatalf("Open: %v, want a *CorruptError", err)
			}
			if ce.Path != path || ce.Offset != c.offset() || !strings.Contains(ce.Reason, c.reason) {
				t.Fatalf("Open: %v\nwant %s at byte %d, saying %q", err, path, c.offset(), c.reason)
			}
			t.Log(err)
			if !maps(before, files(t, d)) {
				t.Fatal("a refused Open changed files")
			}
			rep, err := Inspect(d, nil)
			var ce2 *CorruptError
			if err != nil || !errors.As(rep.Damage, &ce2) || *ce2 != *ce || rep.Torn != nil {
				t.Fatalf("Inspect: %v, damage %v, torn %v", err, rep.Damage, rep.Torn)
			}
		})
	}
	// a segment renamed out of its place, and one from another log
	t.Run("segment renamed", func(t *testing.T) {
		d := copyDir(t, base)
		os.Rename(filepath.Join(d, filepath.Base(newest)), filepath.Join(d, SegmentName(segs[2]+1)))
		_, err := Open(d, Options{})
		var ce *CorruptError
		if !errors.As(err, &ce) || ce.Offset != 0 || !strings.Contains(ce.Reason, "its name says") {
			t.Fatalf("Open: %v", err)
		}
	})
	t.Run("segment from another log", func(t *testing.T) {
		other := t.TempDir()
		build(t, other, 12, 3, 60) // same sequence numbers, other payloads
		d := copyDir(t, base)
		b, _ := os.ReadFile(filepath.Join(other, filepath.Base(seg(1))))
		os.WriteFile(filepath.Join(d, filepath.Base(seg(1))), b, 0o644)
		_, err := Open(d, Options{})
		var ce *CorruptError
		if !errors.As(err, &ce) || ce.Path != filepath.Join(d, filepath.Base(seg(1))) || ce.Offset != 0 {
			t.Fatalf("Open: %v", err)
		}
	})
}

// TestTornTailIsCut: a write cut short at every byte of the newest record,
// a zero-filled extension from every sector boundary inside it and after
// it: Open cuts exactly at the record, keeps every record before it, and
// appends go on from there.
func TestTornTailIsCut(t *testing.T) {
	base := t.TempDir()
	l, err := Open(base, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(9, 9))
	for i := range 6 {
		if i == 3 {
			l.Rotate(l.Next())
		}
		l.Append([]Record{{Seq: l.Next(), Count: 1, Data: payload(rng, l.Next(), 100+rng.IntN(300))}})
	}
	// the newest record spans several sectors
	l.Append([]Record{{Seq: l.Next(), Count: 3, Data: payload(rng, l.Next(), 1500)}})
	l.Close()
	recs := located(t, base)
	last := recs[len(recs)-1]
	path := last.path
	full, _ := os.ReadFile(path)
	if int64(len(full)) != last.end {
		t.Fatalf("the newest record ends at %d of %d", last.end, len(full))
	}
	try := func(t *testing.T, data []byte, wantCut int64) {
		t.Helper()
		d := copyDir(t, base)
		p := filepath.Join(d, filepath.Base(path))
		os.WriteFile(p, data, 0o644)
		got, l, err := replayed(t, d)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		if st, _ := os.Stat(p); st.Size() != wantCut {
			t.Fatalf("the file is %d bytes after Open, want it cut at %d", st.Size(), wantCut)
		}
		torn := l.Torn()
		if (torn != nil) != (int64(len(data)) > wantCut) || torn != nil && (torn.Offset != wantCut || torn.Path != p || torn.Size != int64(len(data))-wantCut) {
			t.Fatalf("Torn() = %+v, want a cut at %d of %d bytes", torn, wantCut, len(data))
		}
		want := recs
		if wantCut < last.end {
			want = recs[:len(recs)-1]
		}
		if !sameRecords(got, want) {
			t.Fatalf("%d records replayed, want %d", len(got), len(want))
		}
		next := Record{Seq: l.Next(), Count: 1, Data: []byte("after the cut")}
		if err := l.Append([]Record{next}); err != nil {
			t.Fatal(err)
		}
		l.Close()
		got, l, err = replayed(t, d)
		if err != nil || len(got) != len(want)+1 || string(got[len(want)].Data) != "after the cut" {
			t.Fatalf("after an append and a reopen: %v, %d records", err, len(got))
		}
		l.Close()
	}
	t.Run("cut short at every byte", func(t *testing.T) {
		for c := last.off; c < last.end; c++ {
			try(t, full[:c], last.off)
		}
	})
	t.Run("zeros from every sector boundary in it", func(t *testing.T) {
		ks := []int64{last.off}
		for k := roundUp(last.off+1, sectorSize); k < last.end; k += sectorSize {
			ks = append(ks, k)
		}
		for _, k := range ks {
			data := append(slices.Clone(full[:k]), make([]byte, roundUp(last.end, 4096)-k)...)
			try(t, data, last.off)
		}
	})
	t.Run("zeros after the newest record", func(t *testing.T) {
		for _, n := range []int{1, 7, 8, 23, 24, 100, 4096} {
			try(t, append(slices.Clone(full), make([]byte, n)...), last.end)
		}
	})
	t.Run("a group torn in its second record", func(t *testing.T) {
		// a group of three records written with one write: zeros from a
		// sector boundary inside its second record on
		d := copyDir(t, base)
		l, err := Open(d, Options{NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		seq := l.Next()
		grp := []Record{{Seq: seq, Count: 1, Data: payload(rng, seq, 700)}, {Seq: seq + 1, Count: 1, Data: payload(rng, seq+1, 1200)}, {Seq: seq + 2, Count: 1, Data: payload(rng, seq+2, 50)}}
		l.Append(grp)
		l.Close()
		after := located(t, d)
		second := after[len(after)-2]
		p := filepath.Join(d, filepath.Base(path))
		b, _ := os.ReadFile(p)
		clear(b[roundUp(second.off+frameHeaderSize+1, sectorSize):])
		os.WriteFile(p, b, 0o644)
		got, l, err := replayed(t, d)
		if err != nil || len(got) != len(recs)+1 || l.Torn() == nil || l.Torn().Offset != second.off {
			t.Fatalf("%v, %d records, torn %+v", err, len(got), l.Torn())
		}
		l.Close()
	})
}

// TestEmptyOrHeaderOnly: a segment holding only its header, and a log
// whose newest record is the last byte, reopen without any cut.
func TestHeaderOnlyReopens(t *testing.T) {
	dir := t.TempDir()
	l, _ := Open(dir, Options{})
	l.Close()
	b, _ := os.ReadFile(filepath.Join(dir, SegmentName(1)))
	if len(b) != segHeaderSize || !bytes.HasPrefix(b, magic[:]) {
		t.Fatalf("a new segment: % x", b)
	}
	got, l, err := replayed(t, dir)
	if err != nil || len(got) != 0 || l.Torn() != nil {
		t.Fatalf("%v %d %v", err, len(got), l.Torn())
	}
	l.Close()
}

// TestBytesMissingBeforeALaterRecord: bytes deleted from the middle of the
// next-to-last record make the file end inside it, as a torn write would;
// but the last record follows whole, so it is damage.
func TestBytesMissingBeforeALaterRecord(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(dir, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(4, 4))
	l.Append([]Record{{Seq: 1, Count: 1, Data: payload(rng, 1, 300)}})
	l.Append([]Record{{Seq: 2, Count: 1, Data: payload(rng, 2, 900)}, {Seq: 3, Count: 1, Data: payload(rng, 3, 40)}})
	l.Close()
	recs := located(t, dir)
	r1 := recs[1]
	p := r1.path
	b, _ := os.ReadFile(p)
	for _, d := range []int64{100, 101, 333} {
		d1 := copyDir(t, dir)
		q := filepath.Join(d1, filepath.Base(p))
		os.WriteFile(q, slices.Delete(slices.Clone(b), int(r1.off+frameHeaderSize+50), int(r1.off+frameHeaderSize+50+d)), 0o644)
		_, err := Open(d1, Options{})
		var ce *CorruptError
		if !errors.As(err, &ce) || ce.Offset != r1.off || !strings.Contains(ce.Reason, "later record (sequence 3)") {
			t.Fatalf("%d bytes deleted: %v", d, err)
		}
	}
}
