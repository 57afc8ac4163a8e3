package wal

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestCut: the operator's cut re-validates its offset, keeps the bytes it
// removes beside the segment, moves later segments away, and leaves a log
// that opens with every record before the cut.
func TestCut(t *testing.T) {
	base := t.TempDir()
	recs := build(t, base, 31, 3, 15)
	segs, _ := listSegments(base)
	name := func(i int) string { return SegmentName(segs[i]) }
	damage := func(t *testing.T, i int, r rec) string { // flips a byte in r's payload
		d := copyDir(t, base)
		p := filepath.Join(d, name(i))
		b, _ := os.ReadFile(p)
		b[r.off+frameHeaderSize+3] ^= 0x40
		os.WriteFile(p, b, 0o644)
		return d
	}
	kept := func(t *testing.T, d string, n int) {
		t.Helper()
		got, l, err := replayed(t, d)
		if err != nil {
			t.Fatalf("Open after the cut: %v", err)
		}
		defer l.Close()
		if !sameRecords(got, recs[:n]) {
			t.Fatalf("%d records after the cut, want the %d before it", len(got), n)
		}
		if err := l.Append([]Record{{Seq: l.Next(), Count: 1, Data: []byte("after")}}); err != nil {
			t.Fatal(err)
		}
	}
	index := func(r rec) int {
		for i := range recs {
			if recs[i].path == r.path && recs[i].off == r.off {
				return i
			}
		}
		return -1
	}

	t.Run("damage in the newest segment", func(t *testing.T) {
		newest := inSegment(recs, filepath.Join(base, name(2)))
		bad := newest[len(newest)/2]
		d := damage(t, 2, bad)
		var ce *CorruptError
		if _, err := Open(d, Options{}); !errors.As(err, &ce) || ce.Offset != bad.off {
			t.Fatalf("Open: %v", err)
		}
		before := files(t, d)
		for _, c := range []struct {
			seg string
			off int64
		}{{name(2), bad.off + 8}, {name(2), bad.off - 8}, {name(2), newest[len(newest)-1].off}, {name(2), 12},
			{name(2), newest[2].off}, {name(1), bad.off}, {name(0), 0}} {
			if _, err := Cut(d, c.seg, c.off); err == nil || !strings.Contains(err.Error(), "the only place it can be cut") {
				t.Fatalf("cut at %s byte %d, not where the log stops reading: %v", c.seg, c.off, err)
			}
		}
		if !maps(before, files(t, d)) {
			t.Fatal("a refused cut changed files")
		}
		plan, err := PlanCut(d, name(2), bad.off)
		if err != nil || !maps(before, files(t, d)) {
			t.Fatalf("PlanCut: %v, or it changed files", err)
		}
		res, err := Cut(d, filepath.Join(d, name(2)), bad.off)
		if err != nil {
			t.Fatal(err)
		}
		if plan.CutFile != res.CutFile || plan.Bytes != res.Bytes || plan.Records != res.Records {
			t.Fatalf("PlanCut said %+v, Cut did %+v", plan, res)
		}
		removed, _ := os.ReadFile(res.CutFile)
		whole := before[name(2)]
		if string(removed) != whole[bad.off:] || res.Bytes != int64(len(whole))-bad.off || !errors.As(res.Damage, &ce) || len(res.Moved) != 0 {
			t.Fatalf("cut: %+v", res)
		}
		if res.CutFile != filepath.Join(d, name(2))+"."+strconv.FormatInt(bad.off, 10)+".cut" {
			t.Fatalf("cut file %s", res.CutFile)
		}
		kept(t, d, index(bad))
		// cutting again: nothing to cut
		if _, err := Cut(d, name(2), bad.off); err == nil || !strings.Contains(err.Error(), "nothing to cut") {
			t.Fatalf("a second cut: %v", err)
		}
	})

	t.Run("damage in the oldest segment", func(t *testing.T) {
		first := inSegment(recs, filepath.Join(base, name(0)))
		bad := first[3]
		d := damage(t, 0, bad)
		// cutting a later segment is refused: the damage comes first
		if _, err := Cut(d, name(1), segHeaderSize); err == nil || !strings.Contains(err.Error(), "the only place it can be cut") {
			t.Fatalf("cut after the damage: %v", err)
		}
		res, err := Cut(d, name(0), bad.off)
		if err != nil {
			t.Fatal(err)
		}
		// the records after the damage in its segment cannot be read in order:
		// those counted are the moved segments'
		if len(res.Moved) != 2 || res.Records != len(recs)-len(first) {
			t.Fatalf("cut: moved %v, %d records removed, want 2 segments and %d records", res.Moved, res.Records, len(recs)-len(first))
		}
		for _, m := range res.Moved {
			if _, err := os.Stat(m); err != nil || !strings.HasSuffix(m, ".0.cut") {
				t.Fatal(err)
			}
		}
		kept(t, d, 3)
	})

	t.Run("a damaged segment header, and refusals", func(t *testing.T) {
		d := copyDir(t, base)
		if _, err := Cut(d, name(2), 0); err == nil || !strings.Contains(err.Error(), "nothing to cut") {
			t.Fatalf("a cut of a log without damage: %v", err)
		}
		p := filepath.Join(d, name(2))
		b, _ := os.ReadFile(p)
		b[17] ^= 1
		os.WriteFile(p, b, 0o644)
		l, err := Open(copyDir(t, d), Options{})
		if err == nil {
			l.Close()
			t.Fatal("a damaged header opened")
		}
		// a running server holds the directory
		ld, err := lockDir(d)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Cut(d, name(2), 0); !errors.Is(err, ErrLocked) {
			t.Fatalf("a cut while the log is in use: %v", err)
		}
		ld.Close()
		if _, err := Cut(d, "wal-1.log", 0); err == nil {
			t.Fatal("a bad segment name was accepted")
		}
		os.WriteFile(p+".0.cut", []byte("earlier"), 0o644)
		if _, err := Cut(d, name(2), 0); err == nil || !strings.Contains(err.Error(), "exists already") {
			t.Fatalf("a cut over an earlier .cut file: %v", err)
		}
		os.Remove(p + ".0.cut")
		res, err := Cut(d, name(2), 0)
		if err != nil || res.Damage == nil || res.CutFile != p+".0.cut" {
			t.Fatalf("%+v %v", res, err)
		}
		if moved, _ := os.ReadFile(res.CutFile); string(moved) != string(b) {
			t.Fatal("the segment moved away is not the one cut")
		}
		kept(t, d, len(recs)-len(inSegment(recs, filepath.Join(base, name(2)))))
	})

	t.Run("a torn tail may be cut too", func(t *testing.T) {
		d := copyDir(t, base)
		p := filepath.Join(d, name(2))
		b, _ := os.ReadFile(p)
		last := recs[len(recs)-1]
		os.WriteFile(p, b[:last.end-3], 0o644)
		res, err := Cut(d, name(2), last.off)
		if err != nil || res.Torn == nil || res.Bytes != last.end-3-last.off {
			t.Fatalf("%+v %v", res, err)
		}
		kept(t, d, len(recs)-1)
	})
}
