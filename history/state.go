package history

import (
	"encoding/binary"
	"fmt"
	"math"
)

// State is a log's whole content in a form to persist: its bounds, and its
// columns as little-endian blobs (one value per retained change), the
// before-records of puts and deletes, and every indexed position.
type State struct {
	First  uint64 // version of global index 0
	Base   uint32 // global index of the oldest retained change
	BaseMs int64
	// Before is the newest change up to version First-1, which the log
	// does not hold (NewAfter's last, or the newest change trimmed before
	// the log renumbered its changes); 0 when none, and in states written
	// before it was kept.
	Before uint64
	Ms     []byte // int64
	DID    []byte // uint32
	Area   []byte // uint32
	Low    []byte // uint64
	Aux    []byte // int32
	Kind   []byte // uint8
	// Flip is, per flags change, what it flipped: 0 not known (or more than
	// one flag), 1 none, 2+f flag f alone; empty in states written before
	// it was kept (every flip then not known).
	Flip []byte
	// Recs and Highs are the before-records and high flags the changes
	// refer to (Aux); states written before trims dropped them with their
	// changes hold those of trimmed changes too, and positions of trimmed
	// changes, which Import drops.
	Recs  []Record
	Highs [][]uint16
	// indexed positions: lat, lon (int32) and global index (uint32) each
	PtLat, PtLon, PtIdx []byte
}

func put64(n int, get func(i int) uint64) []byte {
	b := make([]byte, 8*n)
	for i := 0; i < n; i++ {
		binary.LittleEndian.PutUint64(b[8*i:], get(i))
	}
	return b
}

func put32(n int, get func(i int) uint32) []byte {
	b := make([]byte, 4*n)
	for i := 0; i < n; i++ {
		binary.LittleEndian.PutUint32(b[4*i:], get(i))
	}
	return b
}

// Export copies the log into a State.
func (l *Log) Export() *State {
	c := &l.c
	n := len(c.ms)
	s := &State{First: l.first, Base: l.base, BaseMs: l.baseMs, Before: l.before,
		Ms:    put64(n, func(i int) uint64 { return uint64(c.ms[i]) }),
		DID:   put32(n, func(i int) uint32 { return c.did[i] }),
		Area:  put32(n, func(i int) uint32 { return c.area[i] }),
		Low:   put64(n, func(i int) uint64 { return c.low[i] }),
		Aux:   put32(n, func(i int) uint32 { return uint32(c.aux[i]) }),
		Kind:  make([]byte, n),
		Flip:  make([]byte, n),
		Recs:  l.recs,
		Highs: l.highs,
	}
	for i, k := range c.code {
		s.Kind[i] = byte(kindOf(k))
		if k >= codeFlippedNone {
			s.Flip[i] = 1 + k - codeFlippedNone
		}
	}
	// every point the log holds: a trim drops those of the changes it drops
	np := len(l.open)
	for _, r := range l.runs {
		np += len(r.pts)
	}
	pts := make([]point, 0, np)
	for _, r := range l.runs {
		pts = append(pts, r.pts...)
	}
	pts = append(pts, l.open...)
	s.PtLat = put32(len(pts), func(i int) uint32 { return uint32(pts[i].lat) })
	s.PtLon = put32(len(pts), func(i int) uint32 { return uint32(pts[i].lon) })
	s.PtIdx = put32(len(pts), func(i int) uint32 { return pts[i].idx })
	return s
}

// Import makes a log from a State, checking that it holds together; the
// state it is of has areas areas (numbered 0 to areas-1).
func Import(s *State, areas int) (*Log, error) {
	n := len(s.Ms) / 8
	bad := func(format string, args ...any) error { return fmt.Errorf("history: "+format, args...) }
	if len(s.Ms) != 8*n || len(s.DID) != 4*n || len(s.Area) != 4*n || len(s.Low) != 8*n || len(s.Aux) != 4*n || len(s.Kind) != n ||
		(len(s.Flip) != n && len(s.Flip) != 0) {
		return nil, bad("columns of different lengths")
	}
	if s.First == 0 || uint64(s.Base)+uint64(n) > math.MaxUint32 || s.Before >= s.First {
		return nil, bad("bounds out of range")
	}
	l := &Log{first: s.First, base: s.Base, baseMs: s.BaseMs, before: s.Before, places: map[uint32][]uint64{}}
	c := &l.c
	c.ms, c.did, c.area, c.low = make([]int64, n), make([]uint32, n), make([]uint32, n), make([]uint64, n)
	c.aux, c.code = make([]int32, n), make([]uint8, n)
	le := binary.LittleEndian
	for i := 0; i < n; i++ {
		c.ms[i] = int64(le.Uint64(s.Ms[8*i:]))
		c.did[i] = le.Uint32(s.DID[4*i:])
		c.area[i] = le.Uint32(s.Area[4*i:])
		c.low[i] = le.Uint64(s.Low[8*i:])
		c.aux[i] = int32(le.Uint32(s.Aux[4*i:]))
		k := Kind(s.Kind[i])
		c.code[i] = uint8(k)
		if i > 0 && c.ms[i] < c.ms[i-1] {
			return nil, bad("times go back at change %d", i)
		}
		if len(s.Flip) == n && s.Flip[i] != 0 {
			if k != Flags || s.Flip[i] > 1+64 {
				return nil, bad("change %d: flip %d of a change of kind %d", i, s.Flip[i], k)
			}
			c.code[i] = codeFlippedNone + s.Flip[i] - 1
		}
		switch a := c.aux[i]; {
		case k > Other:
			return nil, bad("unknown kind %d", k)
		case (k == Put || k == Delete) && (a < 0 || int(a) >= len(s.Recs)):
			return nil, bad("change %d refers outside the records", i)
		case k == Flags && a <= -2 && -2-int(a) >= len(s.Highs):
			return nil, bad("change %d refers outside the high flags", i)
		case k == Flags && a >= 0 || k == Other && a != -1:
			return nil, bad("change %d of kind %d refers to a record (%d)", i, k, a)
		case k != Other && int64(c.area[i]) >= int64(areas):
			return nil, bad("change %d is in area %d; the state has %d", i, c.area[i], areas)
		}
		g := l.base + uint32(i)
		if k == Put || k == Delete {
			l.places[c.did[i]] = append(l.places[c.did[i]], l.first+uint64(g))
			l.moved.add(c.did[i])
			if r := &s.Recs[c.aux[i]]; r.Exists && int64(r.Area) >= int64(areas) {
				return nil, bad("change %d: the record before it is in area %d; the state has %d", i, r.Area, areas)
			}
		}
	}
	// the records and high flags of the retained changes only: a state
	// written before trims dropped them holds those of trimmed changes too
	l.recs, l.highs = l.keepAux(s.Recs, s.Highs)
	l.postPending()
	np := len(s.PtIdx) / 4
	if len(s.PtIdx) != 4*np || len(s.PtLat) != 4*np || len(s.PtLon) != 4*np {
		return nil, bad("positions of different lengths")
	}
	pts := make([]point, 0, np)
	for i := 0; i < np; i++ {
		p := point{lat: int32(le.Uint32(s.PtLat[4*i:])), lon: int32(le.Uint32(s.PtLon[4*i:])), idx: le.Uint32(s.PtIdx[4*i:])}
		switch {
		case p.idx < l.base:
			// a position of a trimmed change: states written before trims
			// dropped them with their changes hold some; no search would
			// find them
			continue
		case p.idx >= l.base+uint32(n):
			return nil, bad("position %d refers to a change after the newest", i)
		}
		pts = append(pts, p)
	}
	l.open = pts
	l.seal()
	return l, nil
}
