package wal

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// FuzzOpenDamaged damages a valid log of two segments at random (flip,
// insert, delete, zero, overwrite or truncate bytes of either segment) and
// checks what Open does with it. It may refuse (with a *CorruptError or a
// *FormatError, nothing changed on disk), or open it; then
//   - the records replayed are the first ones written, unchanged;
//   - none is missing that was written whole before the first damaged byte;
//   - only the newest segment may have been cut, and only at its end;
//   - no record it dropped is still intact in the bytes it cut off: a cut
//     never removes good data that follows damage.
func FuzzOpenDamaged(f *testing.F) {
	base := f.TempDir()
	recs := build(f, base, 21, 2, 6)
	segs, _ := listSegments(base)
	orig := files(f, base)
	newest := SegmentName(segs[len(segs)-1])
	for _, s := range []struct {
		op, seg uint8
		pos     uint32
		n       uint16
		fill    []byte
	}{
		{0, 1, 100, 1, []byte{1}}, {1, 1, 64, 5, []byte("abcde")}, {2, 1, 300, 40, nil}, {3, 1, 200, 4096, nil},
		{4, 0, 90, 3, []byte{0xff, 0xff, 0xff}}, {5, 1, 2000, 0, nil}, {3, 1, 1024, 9999, nil}, {1, 1, 1 << 20, 24, make([]byte, 24)},
		{0, 0, 41, 1, []byte{0x80}}, {2, 0, 1 << 20, 3, nil}, {4, 1, 8, 8, []byte("\x00\x00\x00\x00\x00\x00\x00\x00")},
	} {
		f.Add(s.op, s.seg, s.pos, s.n, s.fill)
	}
	// bytes deleted inside the next-to-last record, more than the last one
	// holds: the file ends inside it as after a torn write, the last record whole
	if r1, r2 := recs[len(recs)-2], recs[len(recs)-1]; r1.path == r2.path && r1.end-r1.off > r2.end-r2.off+40 {
		f.Add(uint8(2), uint8(1), uint32(r1.off+frameHeaderSize+4), uint16(r2.end-r2.off+8), []byte(nil))
	}
	f.Fuzz(func(t *testing.T, op, seg uint8, pos uint32, n uint16, fill []byte) {
		d := copyDir(t, base)
		name := SegmentName(segs[int(seg)%len(segs)])
		path := filepath.Join(d, name)
		b := []byte(orig[name])
		p := int(pos) % (len(b) + 1)
		if len(fill) == 0 {
			fill = []byte{0x5a}
		}
		switch op % 6 {
		case 0: // flip bits
			if p == len(b) {
				return
			}
			b[p] ^= fill[0] | 1
		case 1: // insert
			b = slices.Insert(b, p, fill...)
		case 2: // delete
			b = slices.Delete(b, p, min(len(b), p+int(n)+1))
		case 3: // zero
			clear(b[p:min(len(b), p+int(n)+1)])
		case 4: // overwrite
			copy(b[p:], fill)
		case 5: // truncate
			b = b[:p]
		}
		os.WriteFile(path, b, 0o644)
		damaged := files(t, d)
		o := []byte(orig[name])
		at := 0 // the first damaged byte
		for at < min(len(o), len(b)) && o[at] == b[at] {
			at++
		}
		if at == len(o) && at == len(b) {
			return // no change
		}
		got, l, err := replayed(t, d)
		if err != nil {
			var ce *CorruptError
			var fe *FormatError
			if !errors.As(err, &ce) && !errors.As(err, &fe) {
				t.Fatalf("Open failed otherwise than for damage: %v", err)
			}
			if !maps(damaged, files(t, d)) {
				t.Fatalf("Open refused (%v) but changed files", err)
			}
			return
		}
		l.Close()
		for i := range got {
			if i >= len(recs) || !sameRecords(got[i:i+1], recs[i:i+1]) {
				t.Fatalf("record %d replayed is not the one written", i)
			}
		}
		before := 0 // records written whole before the damage
		for _, r := range recs {
			if filepath.Base(r.path) < name || filepath.Base(r.path) == name && r.end <= int64(at) {
				before++
			}
		}
		if len(got) < before {
			t.Fatalf("%d records replayed, but %d were whole before the damage at byte %d of %s", len(got), before, at, name)
		}
		after := files(t, d)
		for fn, data := range damaged {
			now, ok := after[fn]
			switch {
			case fn != newest && (!ok || now != data):
				t.Fatalf("%s is not the newest segment, and Open changed it", fn)
			case fn == newest && len(data) == 0 && len(now) == segHeaderSize:
				// an empty newest file is given its header
			case fn == newest && !bytes.HasPrefix([]byte(data), []byte(now)):
				t.Fatalf("Open changed the newest segment otherwise than by cutting its end")
			case fn == newest:
				cut := data[len(now):]
				for _, r := range recs[len(got):] {
					if bytes.Contains([]byte(cut), []byte(orig[newest][r.off:r.end])) {
						t.Fatalf("Open cut off record %d (sequence %d), intact in the %d bytes it cut at %d", slices.IndexFunc(recs, func(x rec) bool { return x.off == r.off && x.path == r.path }), r.Seq, len(cut), len(now))
					}
				}
			}
		}
	})
}
