package history

import (
	"math/bits"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// TestImportRebuildsIndexes: a log exported and imported answers as the
// original does (entries, spatial search, per-area and per-dwelling
// postings), before and after a trim, and the per-area postings hold
// exactly the changes of dwellings in the area before or after the change.
func TestImportRebuildsIndexes(t *testing.T) {
	defer func(m int) { maxRun = m }(maxRun)
	maxRun = 3000 // runs capped well within the test's changes
	rng := rand.New(rand.NewPCG(3, 4))
	l := New(10, 1000)
	type place struct {
		area     uint32
		lon, lat int32
		exists   bool
	}
	// positions mostly near the search box, some anywhere (negative
	// latitudes and longitudes, bands far apart: the sort keys' signs)
	coord := func() int32 {
		if rng.IntN(4) == 0 {
			return rng.Int32N(1<<31-1) - 1<<30
		}
		return rng.Int32N(1 << 20)
	}
	dw := make([]place, 50)
	for i := range dw {
		dw[i] = place{uint32(rng.IntN(6)), coord(), coord(), true}
	}
	type at struct {
		v   uint64
		pos [2]int32
	}
	var indexed []at                  // every position a change was indexed at
	flagsAfter := map[uint64]uint64{} // of flags changes: the flags after when the log keeps them, else 0
	for n := 0; n < 20000; n++ {
		d := uint32(rng.IntN(len(dw)))
		p := &dw[d]
		e := Entry{Ver: l.Newest() + 1, Ms: 1000 + int64(n), DID: d, Area: p.area}
		pos := [][2]int32{{p.lon, p.lat}}
		switch k := rng.IntN(10); {
		case k == 0:
			e.Kind = Other
			pos = nil
		case k <= 2 || !p.exists:
			before := Record{Exists: p.exists, Area: p.area, Lon: p.lon, Lat: p.lat}
			e.Kind, e.Before = Put, &before
			*p = place{uint32(rng.IntN(6)), coord(), coord(), true}
			e.Area = p.area
			if !before.Exists {
				pos = nil
			}
			pos = append(pos, [2]int32{p.lon, p.lat})
		case k == 3:
			e.Kind, e.Before = Delete, &Record{Exists: true, Area: p.area, Lon: p.lon, Lat: p.lat}
			p.exists = false
		default:
			// flags before, and what the change flipped: none, one flag,
			// several, or one with flags ≥ 64 too (not kept)
			e.Kind, e.Low = Flags, rng.Uint64()
			switch rng.IntN(4) {
			case 0:
				e.FlippedAll = true
			case 1:
				e.Flipped, e.FlippedAll = 1<<rng.IntN(64), true
			case 2:
				e.Flipped, e.FlippedAll = rng.Uint64()|3, true
			default:
				e.Flipped = 1 << rng.IntN(64)
			}
			after := e.Low ^ e.Flipped
			if !e.FlippedAll || bits.OnesCount64(e.Flipped) > 1 {
				after = 0 // not known to the log
			}
			flagsAfter[e.Ver] = after
		}
		l.Append(e, pos...)
		for _, q := range pos {
			indexed = append(indexed, at{e.Ver, q})
		}
	}
	check := func(what string, a, b *Log) {
		t.Helper()
		for _, l := range []*Log{a, b} {
			for _, r := range l.runs {
				if !slices.IsSortedFunc(r.pts, func(p, q point) int {
					if less(&p, &q) {
						return -1
					}
					if less(&q, &p) {
						return 1
					}
					return 0
				}) {
					t.Fatalf("%s: a run of %d points is not in (band, longitude) order", what, len(r.pts))
				}
			}
		}
		for _, after := range []uint64{0, a.Oldest(), a.Oldest() + 100, a.Newest() - 10, a.Newest()} {
			for area := uint32(0); area < 7; area++ {
				inAreas := func(l *Log) []uint64 {
					var vs []uint64
					l.EachInAreas([]uint32{area}, after, func(v uint64) { vs = append(vs, v) })
					slices.Sort(vs)
					slices.Reverse(vs)
					return vs
				}
				got, want := inAreas(b), inAreas(a)
				if !slices.Equal(got, want) {
					t.Fatalf("%s: area %d after %d: %d versions, want %d", what, area, after, len(got), len(want))
				}
				// the oracle: every retained change after after, read whole
				var oracle []uint64
				for v := a.Newest(); v > max(after, a.Oldest()); v-- {
					en := a.At(v)
					if en.Kind != Other && (en.Area == area || en.Before != nil && en.Before.Exists && en.Before.Area == area) {
						oracle = append(oracle, v)
					}
				}
				if !slices.Equal(want, oracle) {
					t.Fatalf("%s: area %d after %d: EachInAreas %v…, want %v…", what, area, after, want[:min(5, len(want))], oracle[:min(5, len(oracle))])
				}
				// two areas at once: a move between them comes twice
				two := []uint32{area, area + 1}
				for _, l := range []*Log{a, b} {
					n := 0
					l.EachInAreas(two, after, func(uint64) { n++ })
					m := 0
					for v := a.Newest(); v > max(after, a.Oldest()); v-- {
						en := a.At(v)
						if en.Kind == Other {
							continue
						}
						if slices.Contains(two, en.Area) {
							m++
						}
						if en.Before != nil && en.Before.Exists && en.Before.Area != en.Area && slices.Contains(two, en.Before.Area) {
							m++
						}
					}
					if n != m {
						t.Fatalf("%s: areas %v after %d: %d listings, want %d", what, two, after, n, m)
					}
				}
			}
			box := [4]int32{1 << 18, 1 << 18, 3 << 18, 3 << 18}
			var sa, sb []uint64
			a.Search(box, after, func(v uint64, _, _ int32) { sa = append(sa, v) })
			b.Search(box, after, func(v uint64, _, _ int32) { sb = append(sb, v) })
			slices.Sort(sa)
			slices.Sort(sb)
			if !slices.Equal(sa, sb) {
				t.Fatalf("%s: search after %d: %d, want %d", what, after, len(sb), len(sa))
			}
			var oracle []uint64
			for _, x := range indexed {
				if x.v > max(after, a.Oldest()) && x.pos[0] >= box[0] && x.pos[0] <= box[2] && x.pos[1] >= box[1] && x.pos[1] <= box[3] {
					oracle = append(oracle, x.v)
				}
			}
			slices.Sort(oracle)
			if !slices.Equal(sa, oracle) {
				t.Fatalf("%s: search after %d: %d changes, want %d", what, after, len(sa), len(oracle))
			}
		}
		for v := b.Oldest() + 1; v <= b.Newest(); v++ {
			low, ok := b.FlagsAfter(v)
			want, isFlags := flagsAfter[v]
			if ok != (isFlags && want != 0) || low != want {
				t.Fatalf("%s: flags after %d: %x %v, want %x", what, v, low, ok, want)
			}
		}
		for d := range uint32(len(dw)) {
			va, oka := a.NextPlaceChange(d, a.Oldest())
			vb, okb := b.NextPlaceChange(d, b.Oldest())
			if va != vb || oka != okb {
				t.Fatalf("%s: dwelling %d's next place change %d %v, want %d %v", what, d, vb, okb, va, oka)
			}
		}
	}
	if end := l.base + uint32(l.Len()); l.posted == end || l.posted < end-runSize {
		t.Fatalf("posted up to %d of %d: the pending changes are not exercised", l.posted, end)
	}
	im, err := Import(l.Export(), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	check("imported", l, im)
	if len(l.runs) < 4 {
		t.Fatalf("%d runs: the cap is not exercised", len(l.runs))
	}
	l.Trim(1000 + 12500)
	im.Trim(1000 + 12500)
	check("both trimmed", l, im)
	im2, err := Import(l.Export(), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	check("trimmed, imported", l, im2)
}

// TestImportRefusesBadFlips: a snapshot's flip column is refused, naming
// the change, when it has another length than the changes, a flip on a
// change that is not a flags change, or a flag beyond 63; a state without
// the column (written before it was kept) imports with every flip unknown.
func TestImportRefusesBadFlips(t *testing.T) {
	l := New(1, 1000)
	l.Append(Entry{Ver: 2, Ms: 1001, DID: 1, Kind: Flags, Low: 1, Flipped: 2, FlippedAll: true}, [2]int32{10, 10})
	l.Append(Entry{Ver: 3, Ms: 1002, DID: 1, Kind: Put, Before: &Record{Exists: true, Lon: 10, Lat: 10}}, [2]int32{10, 10})
	good := l.Export()
	if good.Flip[0] != 2+1 || good.Flip[1] != 0 {
		t.Fatalf("exported flips %v", good.Flip)
	}
	for name, damage := range map[string]func(s *State){
		"short":          func(s *State) { s.Flip = s.Flip[:1] },
		"on a put":       func(s *State) { s.Flip[1] = 1 },
		"beyond flag 63": func(s *State) { s.Flip[0] = 2 + 64 },
	} {
		s := l.Export()
		damage(s)
		if _, err := Import(s, 1<<20); err == nil {
			t.Fatalf("%s: imported", name)
		}
	}
	old := l.Export()
	old.Flip = nil
	im, err := Import(old, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := im.FlagsAfter(2); ok {
		t.Fatal("a flip known from a state without the column")
	}
	im, err = Import(good, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if low, ok := im.FlagsAfter(2); !ok || low != 1^2 {
		t.Fatalf("flags after %x %v, want 3", low, ok)
	}
}

// TestImportRefusesUnknownAreas: a state whose changes name an area the
// engine's state does not have (a damaged file) is refused, not indexed
// (postings are kept by area number).
func TestImportRefusesUnknownAreas(t *testing.T) {
	l := New(1, 1000)
	l.Append(Entry{Ver: 2, Ms: 1001, DID: 1, Kind: Flags, Area: 3, Low: 1}, [2]int32{10, 10})
	l.Append(Entry{Ver: 3, Ms: 1002, DID: 1, Kind: Put, Area: 2, Before: &Record{Exists: true, Lon: 10, Lat: 10, Area: 5}}, [2]int32{10, 10})
	if _, err := Import(l.Export(), 6); err != nil {
		t.Fatal(err)
	}
	for _, areas := range []int{0, 3, 5} {
		if _, err := Import(l.Export(), areas); err == nil || !strings.Contains(err.Error(), "area") {
			t.Fatalf("%d areas: imported (%v)", areas, err)
		}
	}
	var got []uint64
	l.EachInAreas([]uint32{3, 5, 1 << 30}, 1, func(v uint64) { got = append(got, v) })
	if !slices.Equal(got, []uint64{2, 3}) {
		t.Fatalf("changes in areas 3, 5 and an unknown one: %v, want [2 3]", got)
	}
}

// TestLastChange: the newest change the log has seen, held, trimmed or made
// before the load it starts from; a load is none. It survives an export.
func TestLastChange(t *testing.T) {
	l := New(13, 1000) // a load of a state never changed
	if l.LastChange() != 0 {
		t.Fatalf("a log of a load: last change %d, want 0", l.LastChange())
	}
	l.Append(Entry{Ver: 14, Ms: 1001, DID: 1, Kind: Flags, Low: 1}, [2]int32{10, 10})
	l.Append(Entry{Ver: 15, Ms: 1002, DID: 1, Kind: Other})
	if l.LastChange() != 15 {
		t.Fatalf("last change %d, want 15", l.LastChange())
	}
	l.Trim(2000) // both trimmed
	if l.Len() != 0 || l.LastChange() != 15 {
		t.Fatalf("trimmed: %d changes, last change %d, want 0 and 15", l.Len(), l.LastChange())
	}
	r := NewAfter(25, 3000, l.LastChange()) // a load of 10 after them
	if r.Oldest() != 25 || r.LastChange() != 15 {
		t.Fatalf("a load after changes: oldest %d, last change %d", r.Oldest(), r.LastChange())
	}
	im, err := Import(r.Export(), 1)
	if err != nil || im.LastChange() != 15 {
		t.Fatalf("imported: %v, last change %d", err, im.LastChange())
	}
	bad := r.Export()
	bad.Before = 26
	if _, err := Import(bad, 1); err == nil {
		t.Fatal("a change before the load newer than the load imported")
	}
}

// TestImportedRunCoversNewest: a log exported just after its open points
// were sealed (none open) imports as one run that covers its newest
// change, not only up to the change of its last point in spatial order: a
// search after an older version finds the newer changes.
func TestImportedRunCoversNewest(t *testing.T) {
	l := New(0, 0)
	for i := range runSize { // the newest change the furthest west
		l.Append(Entry{Ver: uint64(i + 1), Ms: int64(i), DID: 1, Kind: Flags}, [2]int32{int32(runSize - i), 5})
	}
	if len(l.open) != 0 {
		t.Fatalf("%d points open", len(l.open))
	}
	im, err := Import(l.Export(), 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, lg := range []*Log{l, im} {
		n := 0
		lg.Search([4]int32{0, 0, 2 * runSize, 2 * runSize}, runSize-24, func(uint64, int32, int32) { n++ })
		if n != 24 {
			t.Fatalf("%d changes found after version %d, want 24", n, runSize-24)
		}
	}
}
