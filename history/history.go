// Package history keeps the retained change log in memory, compactly: for
// every change, its version and time, the dwelling it changed (a stable
// number), the dwelling's area and flags just before it, and for changes of
// a dwelling's place (puts and deletes) the whole record before it. Changes
// are indexed by time (versions are consecutive and times never go back)
// and by position, in log-structured runs sorted by (latitude band,
// longitude), so that "which changes after version V fall in this box" costs
// what falls in the box, not the whole log.
//
// It knows positions, areas, buildings and flags only as the numbers it is
// given; what they mean is the engine's. It holds no lock: its owner does.
package history

import (
	"fmt"
	"math/bits"
	"slices"
	"sort"

	"github.com/roomstate/roomstate/radix"
)

// Kind is what a change did to its dwelling.
type Kind uint8

// The kinds of change the log keeps.
const (
	Flags  Kind = iota // flags set or cleared
	Put                // a dwelling added or replaced (maybe moved)
	Delete             // a dwelling removed
	Other              // a change of no dwelling (kept so that versions stay consecutive)
)

// Record is a dwelling's whole state as numbers: position (1e-7 degree),
// area tuple, building, unit and room strings, floor, and flags (bits 0–63
// in Low, higher flag numbers listed in High). Exists is false for "no such
// dwelling".
type Record struct {
	Exists   bool
	ID       string
	Lon, Lat int32
	Area     uint32
	Bld      uint32
	Unit     uint32
	Room     uint32
	Floor    int16
	Low      uint64
	High     []uint16
}

// Entry is one retained change.
type Entry struct {
	Ver  uint64
	Ms   int64  // Unix milliseconds when it was accepted
	DID  uint32 // the dwelling's stable number
	Kind Kind
	// Area and Low are the dwelling's area tuple and flags (0–63) just
	// before the change (for a put that created it: after).
	Area uint32
	Low  uint64
	// Before is the record before a put or a delete (Exists false for a put
	// that created the dwelling); nil for flag changes.
	Before *Record
	// Flipped is, for a flags change, the flags 0–63 it flipped; FlippedAll
	// says that those are all it flipped (no flag ≥ 64). The log keeps it
	// when it is one flag or none: then the flags after the change are
	// known without the dwelling (FlagsAfter).
	Flipped    uint64
	FlippedAll bool
}

// entry columns, per retained change, in version order
type columns struct {
	ms   []int64
	did  []uint32
	area []uint32
	low  []uint64
	aux  []int32 // Flags: -1 (or -2-k: High flags before, in highs[k]); Put/Delete: index into recs; Other: -1
	code []uint8 // the kind, and for a flags change what it flipped (see codeOf)
}

// the codes of a change beyond its kind: a flags change that flipped no
// flag, or flag f (0–63) alone; codes below are the kinds themselves (for
// Flags: flips not known, or more than one)
const (
	codeFlippedNone = 4
	codeFlipped0    = 5
)

// codeOf is the code of a change of kind k that flipped flags (all of
// them when all).
func codeOf(k Kind, flipped uint64, all bool) uint8 {
	switch {
	case k != Flags || !all || bits.OnesCount64(flipped) > 1:
		return uint8(k)
	case flipped == 0:
		return codeFlippedNone
	}
	return codeFlipped0 + uint8(bits.TrailingZeros64(flipped))
}

// kindOf is the kind of a change of code c.
func kindOf(c uint8) Kind {
	if c >= codeFlippedNone {
		return Flags
	}
	return Kind(c)
}

// point is one change indexed at one position.
type point struct {
	lat, lon int32
	idx      uint32 // global index of the entry
}

// run is a sorted run of points over a range of entries.
type run struct {
	lo, hi uint32 // global entry indexes [lo, hi) it covers
	pts    []point
	// fences: the sort key (pointKey) of every fenceStep-th point, so that a
	// search probes this small array, which stays in cache, and then at
	// most fenceStep points, rather than binary-searching the run (a cache
	// miss a probe when the run is cold)
	fences []uint64
}

// fenceStep is the points between a run's fences.
const fenceStep = 64

// newRun makes a run of sorted points and its fences.
func newRun(lo, hi uint32, pts []point) run {
	r := run{lo: lo, hi: hi, pts: pts, fences: make([]uint64, 0, (len(pts)+fenceStep-1)/fenceStep)}
	for i := 0; i < len(pts); i += fenceStep {
		r.fences = append(r.fences, pointKey(pts[i].lat>>bandShift, pts[i].lon))
	}
	return r
}

// pointKey orders (band, longitude) pairs as less does, as one unsigned
// number.
func pointKey(band, lon int32) uint64 {
	return uint64(uint32(band)^0x80000000)<<32 | uint64(uint32(lon)^0x80000000)
}

// first returns the index of the run's first point at or after (band,
// lon) in its order.
func (r *run) first(band, lon int32) int {
	k := pointKey(band, lon)
	f, _ := slices.BinarySearch(r.fences, k) // fences[f-1] < k ≤ fences[f]
	i := max(0, (f-1)*fenceStep)
	end := min(len(r.pts), f*fenceStep+1)
	lo := point{lat: band << bandShift, lon: lon}
	return i + sort.Search(end-i, func(j int) bool { return !less(&r.pts[i+j], &lo) })
}

// Log is the retained change log. The zero value is not usable: use New.
type Log struct {
	// base is the global index of the first retained entry; entry i (global)
	// has version first + i.
	first uint64 // version of global index 0
	base  uint32 // global index of the oldest retained entry
	c     columns
	recs  []Record   // before-records of puts and deletes, by aux
	highs [][]uint16 // high flags before flag changes, by -2-aux
	// baseMs is the time of the state before the first retained entry
	// (the load, or the newest dropped entry)
	baseMs int64
	// before is the version of the newest change up to version first-1,
	// which the log does not hold: made before the load the log starts
	// from, or trimmed before a rebase; 0 when none was (the load was of a
	// state never changed)
	before uint64

	open    []point  // points of entries not yet in a run, in version order
	keys    []uint64 // seal's sort keys, reused
	scratch []uint64 // and its sort's
	runs    []run    // sorted runs, oldest first, sizes decreasing

	// places: per dwelling, the versions of its puts and deletes, ascending;
	// moved: the dwellings places holds, as bits (most dwellings never
	// move, and a bit is cheaper to read than a map)
	places map[uint32][]uint64
	moved  didSet
	// byArea: per area (by number: areas are numbered densely from 0), the
	// global indexes of the changes of dwellings in it (before or after the
	// change), ascending, of the changes before global index posted; the
	// newer ones are listed there in batches of up to runSize (postPending),
	// so that a change's append writes no posting list of its own (in a
	// city of millions, two cache misses a change) and a batch's writes
	// overlap; EachInAreas reads the pending ones from the columns
	byArea [][]uint32
	nArea  int    // postings in byArea
	posted uint32 // global index of the first change not in byArea
}

// grow doubles the columns' capacity (at least minColumns). append alone
// grows a long slice by a quarter: every change of a long log was then
// allocated and copied about five times over (some 140 bytes a change, the
// most of what a flag change allocates, each byte for the collector to
// pay for), twice at doubling.
func (c *columns) grow() {
	n := max(2*len(c.ms), minColumns)
	c.ms = growTo(c.ms, n)
	c.did = growTo(c.did, n)
	c.area = growTo(c.area, n)
	c.low = growTo(c.low, n)
	c.aux = growTo(c.aux, n)
	c.code = growTo(c.code, n)
}

// minColumns is the columns' first capacity.
const minColumns = 1024

// growTo returns s with capacity n at least.
func growTo[T any](s []T, n int) []T {
	if cap(s) >= n {
		return s
	}
	out := make([]T, len(s), n)
	copy(out, s)
	return out
}

// didSet is a set of dwelling numbers, a bit each.
type didSet []uint64

func (s *didSet) add(d uint32) {
	w := int(d / 64)
	if w >= len(*s) {
		*s = append(*s, make([]uint64, w+1-len(*s))...)
	}
	(*s)[w] |= 1 << (d % 64)
}

func (s didSet) del(d uint32) {
	if w := int(d / 64); w < len(s) {
		s[w] &^= 1 << (d % 64)
	}
}

func (s didSet) has(d uint32) bool {
	w := int(d / 64)
	return w < len(s) && s[w]&(1<<(d%64)) != 0
}

// runSize is the number of points collected before they are sorted into a
// run; runs of equal size are merged (a binary counter), so a search sees
// O(log n) runs.
const runSize = 1024

// keyIdxBits is the width of a point's index in seal's sort keys: 16 bits of
// band and 32 of longitude leave 16; 12 take the ≤ runSize+1 points of a run
const keyIdxBits = 12

// maxRun bounds a merged run, so that runs stay ordered in time in pieces:
// a search for the changes since yesterday skips the runs of last month
// whole, and a trim frees runs as they fall out of the window.
var maxRun = 1 << 16 // a variable for the tests

// bandShift sets the latitude band of the spatial order: 2^16 × 1e-7
// degree, about 730 m.
const bandShift = 16

// New starts a log whose state before its first change is version v at
// time ms (a load of a state never changed).
func New(v uint64, ms int64) *Log {
	return &Log{first: v + 1, baseMs: ms, places: map[uint32][]uint64{}}
}

// NewAfter starts a log like New, at a load made over a state whose newest
// change, which the log does not hold, was version last (0: none, as New).
func NewAfter(v uint64, ms int64, last uint64) *Log {
	l := New(v, ms)
	l.before = min(last, v)
	return l
}

// LastChange is the version of the newest change the log has seen, held or
// not: the newest retained one, else the newest trimmed, else the newest
// made before the load it starts from (NewAfter's last). 0 when there was
// never a change: the state is as loaded. A load itself is no change.
func (l *Log) LastChange() uint64 {
	switch {
	case len(l.c.ms) > 0:
		return l.Newest()
	case l.base > 0:
		return l.Oldest() // the newest trimmed change
	}
	return l.before
}

// Oldest is the oldest version whose state the log can give back: the
// state before its first retained change.
func (l *Log) Oldest() uint64 { return l.first + uint64(l.base) - 1 }

// OldestMs is the time of that state.
func (l *Log) OldestMs() int64 { return l.baseMs }

// Newest is the version of the newest change (Oldest when none).
func (l *Log) Newest() uint64 { return l.first + uint64(l.base) + uint64(len(l.c.ms)) - 1 }

// Len is the number of retained changes.
func (l *Log) Len() int { return len(l.c.ms) }

// global returns the global index of version v (v > Oldest, ≤ Newest).
func (l *Log) global(v uint64) uint32 { return uint32(v - l.first) }

// local returns the column index of global index g.
func (l *Log) local(g uint32) int { return int(g - l.base) }

// Append adds the change of version Newest()+1. pos lists where it is
// indexed: the dwelling's position before the change, and after it when it
// moved (a put may index two positions; a change of no dwelling none).
func (l *Log) Append(e Entry, pos ...[2]int32) {
	if e.Ver != l.Newest()+1 {
		panic("history: versions must be consecutive")
	}
	aux := int32(-1)
	switch e.Kind {
	case Put, Delete:
		aux = int32(len(l.recs))
		r := Record{}
		if e.Before != nil {
			r = *e.Before
		}
		l.recs = append(l.recs, r)
		l.places[e.DID] = append(l.places[e.DID], e.Ver)
		l.moved.add(e.DID)
	}
	g := uint32(e.Ver - l.first)
	if len(l.c.ms) == cap(l.c.ms) {
		l.c.grow()
	}
	l.c.ms = append(l.c.ms, e.Ms)
	l.c.did = append(l.c.did, e.DID)
	l.c.area = append(l.c.area, e.Area)
	l.c.low = append(l.c.low, e.Low)
	l.c.aux = append(l.c.aux, aux)
	l.c.code = append(l.c.code, codeOf(e.Kind, e.Flipped, e.FlippedAll))
	for _, p := range pos {
		l.open = append(l.open, point{lat: p[1], lon: p[0], idx: g})
	}
	if len(l.open) >= runSize {
		l.seal()
	}
	if g+1-l.posted >= runSize {
		l.postPending()
	}
}

// areasOf returns the areas the change at column index i is listed under,
// n of them: none for a change of no dwelling; else a, the area in its
// entry, and for a put or delete that moved the dwelling between areas
// also b, the area of the record before it.
func (l *Log) areasOf(i int) (a, b uint32, n int) {
	k := kindOf(l.c.code[i])
	if k == Other {
		return 0, 0, 0
	}
	a = l.c.area[i]
	if k != Flags {
		if r := &l.recs[l.c.aux[i]]; r.Exists && r.Area != a {
			return a, r.Area, 2
		}
	}
	return a, 0, 1
}

// postPending lists the changes not yet in byArea there.
func (l *Log) postPending() {
	end := l.base + uint32(len(l.c.ms))
	for g := max(l.posted, l.base); g < end; g++ {
		a, b, n := l.areasOf(l.local(g))
		if n > 0 {
			l.post(a, g)
		}
		if n > 1 {
			l.post(b, g)
		}
	}
	l.posted = end
}

// post lists change g under area a.
func (l *Log) post(a, g uint32) {
	if int(a) >= len(l.byArea) {
		l.byArea = append(l.byArea, make([][]uint32, int(a)+1-len(l.byArea))...)
	}
	l.byArea[a] = append(l.byArea[a], g)
	l.nArea++
}

// EachInAreas calls fn with the version of every retained change after
// after of a dwelling that was in one of areas (ascending) before or after
// the change, in no particular order; a change of a dwelling that moved
// between two of the areas comes twice.
func (l *Log) EachInAreas(areas []uint32, after uint64, fn func(v uint64)) {
	from := max(l.base, l.global(max(after, l.Oldest())+1))
	for _, a := range areas {
		if int(a) >= len(l.byArea) {
			continue
		}
		gs := l.byArea[a]
		i, _ := slices.BinarySearch(gs, from)
		for _, g := range gs[i:] {
			fn(l.first + uint64(g))
		}
	}
	end := l.base + uint32(len(l.c.ms))
	for g := max(from, l.posted); g < end; g++ {
		a, b, n := l.areasOf(l.local(g))
		if n > 0 {
			if _, ok := slices.BinarySearch(areas, a); ok {
				fn(l.first + uint64(g))
			}
		}
		if n > 1 {
			if _, ok := slices.BinarySearch(areas, b); ok {
				fn(l.first + uint64(g))
			}
		}
	}
}

// AppendHigh records the flags ≥ 64 a dwelling had before the newest
// change (a flags change of a dwelling that has some).
func (l *Log) AppendHigh(high []uint16) {
	if len(high) == 0 {
		return
	}
	i := len(l.c.aux) - 1
	l.c.aux[i] = int32(-2 - len(l.highs))
	l.highs = append(l.highs, slices.Clone(high))
}

func less(a, b *point) bool {
	ab, bb := a.lat>>bandShift, b.lat>>bandShift
	if ab != bb {
		return ab < bb
	}
	return a.lon < b.lon
}

// seal sorts the open points into a run and merges equal-sized runs.
func (l *Log) seal() {
	if len(l.open) == 0 {
		return
	}
	var pts []point
	if len(l.open) <= 1<<keyIdxBits {
		// sorted as one uint64 a point, the order of less: band (16 bits,
		// biased), longitude (32, sign flipped), index in open
		keys := l.keys[:0]
		for i, p := range l.open {
			keys = append(keys, uint64(uint16(p.lat>>bandShift)^0x8000)<<(32+keyIdxBits)|
				uint64(uint32(p.lon)^0x80000000)<<keyIdxBits|uint64(i))
		}
		l.scratch = radix.Uint64s(keys, l.scratch)
		pts = make([]point, len(l.open))
		for i, k := range keys {
			pts[i] = l.open[k&(1<<keyIdxBits-1)]
		}
		l.keys = keys
	} else { // a restored log's points, all at once
		pts = slices.Clone(l.open)
		slices.SortFunc(pts, func(a, b point) int {
			if less(&a, &b) {
				return -1
			}
			if less(&b, &a) {
				return 1
			}
			return 0
		})
	}
	// the changes the run covers: a log's own open points are in version
	// order, a restored log's are not (its runs' points, in their order)
	lo, hi := pts[0].idx, pts[0].idx
	for _, p := range pts {
		lo, hi = min(lo, p.idx), max(hi, p.idx)
	}
	r := newRun(lo, hi+1, pts)
	l.open = l.open[:0]
	l.runs = append(l.runs, r)
	for n := len(l.runs); n >= 2 && len(l.runs[n-2].pts) <= 2*len(l.runs[n-1].pts) &&
		len(l.runs[n-2].pts)+len(l.runs[n-1].pts) <= maxRun; n = len(l.runs) {
		a, b := l.runs[n-2], l.runs[n-1]
		pts := make([]point, 0, len(a.pts)+len(b.pts))
		i, j := 0, 0
		for i < len(a.pts) && j < len(b.pts) {
			if less(&b.pts[j], &a.pts[i]) {
				pts = append(pts, b.pts[j])
				j++
			} else {
				pts = append(pts, a.pts[i])
				i++
			}
		}
		pts = append(append(pts, a.pts[i:]...), b.pts[j:]...)
		l.runs = append(l.runs[:n-2], newRun(min(a.lo, b.lo), max(a.hi, b.hi), pts))
	}
}

// At returns the retained change of version v (Oldest < v ≤ Newest).
func (l *Log) At(v uint64) Entry {
	i := l.local(l.global(v))
	e := Entry{Ver: v, Ms: l.c.ms[i], DID: l.c.did[i], Kind: kindOf(l.c.code[i]), Area: l.c.area[i], Low: l.c.low[i]}
	if a := l.c.aux[i]; a >= 0 {
		e.Before = &l.recs[a]
	}
	return e
}

// Before returns what the log keeps of the dwelling just before the
// change of version v, reading no other column: for a put or a delete the
// record before it (rec), for a flags change its flags then (0–63 in low,
// the higher ones in high, nil when none).
func (l *Log) Before(v uint64) (rec *Record, low uint64, high []uint16) {
	i := l.local(l.global(v))
	switch a := l.c.aux[i]; {
	case a >= 0:
		return &l.recs[a], 0, nil
	case a <= -2: // a flags change of a dwelling with flags ≥ 64
		return nil, l.c.low[i], l.highs[-2-a]
	}
	return nil, l.c.low[i], nil
}

// DID returns the dwelling changed by version v.
func (l *Log) DID(v uint64) uint32 { return l.c.did[l.local(l.global(v))] }

// AreaOf returns the area and kind of the change of version v without
// assembling its entry (a walk over many changes that wants few of them
// reads this first); for puts and deletes the area before is in the entry's
// Before.
func (l *Log) AreaOf(v uint64) (uint32, Kind) {
	i := l.local(l.global(v))
	return l.c.area[i], kindOf(l.c.code[i])
}

// FlagsAfter returns the flags 0–63 the dwelling had just after the change
// of version v, when the log knows them without the dwelling: a flags
// change that flipped one flag or none (and no flag ≥ 64). ok is false for
// any other change.
func (l *Log) FlagsAfter(v uint64) (low uint64, ok bool) {
	i := l.local(l.global(v))
	switch c := l.c.code[i]; {
	case c == codeFlippedNone:
		return l.c.low[i], true
	case c >= codeFlipped0:
		return l.c.low[i] ^ 1<<(c-codeFlipped0), true
	}
	return 0, false
}

// NextPlaceChange returns the version of dwelling did's first put or delete
// after version v, if one is retained.
func (l *Log) NextPlaceChange(did uint32, v uint64) (uint64, bool) {
	if !l.moved.has(did) {
		return 0, false
	}
	vs := l.places[did]
	i := sort.Search(len(vs), func(i int) bool { return vs[i] > v })
	if i == len(vs) {
		return 0, false
	}
	return vs[i], true
}

// MsOf returns the time of the change of version v.
func (l *Log) MsOf(v uint64) int64 { return l.c.ms[l.local(l.global(v))] }

// VersionAt returns the version of the state at time ms: the last change at
// or before it. ok is false when ms is before the oldest retained state.
func (l *Log) VersionAt(ms int64) (v uint64, ok bool) {
	if ms < l.baseMs {
		return 0, false
	}
	n := sort.Search(len(l.c.ms), func(i int) bool { return l.c.ms[i] > ms })
	return l.Oldest() + uint64(n), true
}

// Search calls fn with the version of every retained change after version
// after that is indexed inside the box (west, south, east, north; edges
// included), each once per position it is indexed at, with that position.
func (l *Log) Search(box [4]int32, after uint64, fn func(v uint64, lon, lat int32)) {
	if after >= l.Newest() {
		return
	}
	from := uint32(0)
	if after >= l.first {
		from = l.global(after + 1)
	}
	from = max(from, l.base)
	take := func(p *point) {
		if p.idx >= from && p.lon >= box[0] && p.lon <= box[2] && p.lat >= box[1] && p.lat <= box[3] {
			fn(l.first+uint64(p.idx), p.lon, p.lat)
		}
	}
	for i := range l.open {
		take(&l.open[i])
	}
	b0, b1 := box[1]>>bandShift, box[3]>>bandShift
	for ri := range l.runs {
		r := &l.runs[ri]
		if r.hi <= from {
			continue
		}
		for b := b0; b <= b1; b++ {
			for k := r.first(b, box[0]); k < len(r.pts); k++ {
				p := &r.pts[k]
				if p.lat>>bandShift != b || p.lon > box[2] {
					break
				}
				take(p)
			}
		}
	}
}

// Scan calls fn with every retained change after version after, in
// version order.
func (l *Log) Scan(after uint64, fn func(v uint64)) {
	v := max(after, l.Oldest()) + 1
	for ; v <= l.Newest(); v++ {
		fn(v)
	}
}

// Trim drops the changes accepted before ms (whole runs' worth at a time
// is not needed: columns are cut at the first change at or after ms), and
// with them everything that refers to them: their points (open and in
// runs), before-records and high flags, and their postings by area and by
// dwelling. What is left refers only to retained changes, so that an
// export of it is a state Import takes (a point of a dropped change is no
// position of any change it holds). It copies what it keeps: an export
// taken before it (a snapshot still being written) shares nothing it
// changes.
func (l *Log) Trim(ms int64) {
	n := sort.Search(len(l.c.ms), func(i int) bool { return l.c.ms[i] >= ms })
	if n == 0 {
		return
	}
	l.baseMs = l.c.ms[n-1]
	l.base += uint32(n)
	l.c.ms = slices.Clone(l.c.ms[n:])
	l.c.did = slices.Clone(l.c.did[n:])
	l.c.area = slices.Clone(l.c.area[n:])
	l.c.low = slices.Clone(l.c.low[n:])
	l.c.aux = slices.Clone(l.c.aux[n:])
	l.c.code = slices.Clone(l.c.code[n:])
	l.recs, l.highs = l.keepAux(l.recs, l.highs)
	l.open = keepPoints(l.open, l.base)
	// runs wholly before the new base go; a run that holds changes on both
	// sides of it keeps its retained points (in order: a new run of them)
	kept := l.runs[:0]
	for _, r := range l.runs {
		switch {
		case r.hi <= l.base:
		case r.lo >= l.base:
			kept = append(kept, r)
		default:
			if pts := keepPoints(r.pts, l.base); len(pts) > 0 {
				lo := pts[0].idx
				for _, p := range pts {
					lo = min(lo, p.idx)
				}
				kept = append(kept, newRun(lo, r.hi, pts))
			}
		}
	}
	clear(l.runs[len(kept):])
	l.runs = kept
	oldest := l.Oldest()
	for d, vs := range l.places {
		i := sort.Search(len(vs), func(i int) bool { return vs[i] > oldest })
		if i == len(vs) {
			delete(l.places, d)
			l.moved.del(d)
		} else if i > 0 {
			l.places[d] = slices.Clone(vs[i:])
		}
	}
	for a, gs := range l.byArea {
		i, _ := slices.BinarySearch(gs, l.base)
		l.nArea -= i
		if i == len(gs) {
			l.byArea[a] = nil
		} else if i > 0 {
			l.byArea[a] = slices.Clone(gs[i:])
		}
	}
	l.posted = max(l.posted, l.base)
	if l.base >= rebaseAt {
		l.rebase()
	}
}

// rebaseAt is the global index of the oldest retained change from which a
// trim renumbers the changes from 0: global indexes are 32 bits wide, and
// a log that ran long enough would otherwise run out of them (and a state
// past them would not import). A variable for the tests.
var rebaseAt uint32 = 1 << 31

// rebase renumbers the retained changes from global index 0: version first
// becomes the oldest retained change's.
func (l *Log) rebase() {
	b := l.base
	l.first += uint64(b)
	l.before = l.first - 1 // the newest change trimmed
	l.base = 0
	l.posted -= b
	for i := range l.open {
		l.open[i].idx -= b
	}
	for ri := range l.runs {
		r := &l.runs[ri]
		r.lo, r.hi = r.lo-b, r.hi-b
		for i := range r.pts {
			r.pts[i].idx -= b
		}
	}
	for _, gs := range l.byArea {
		for i := range gs {
			gs[i] -= b
		}
	}
}

// keepPoints returns, in a new slice in their order, the points of pts of
// changes at or after global index base (nil when none).
func keepPoints(pts []point, base uint32) []point {
	var out []point
	for i, p := range pts {
		if p.idx >= base {
			if out == nil {
				out = make([]point, 0, len(pts)-i)
			}
			out = append(out, p)
		}
	}
	return out
}

// keepAux returns, in new slices, the before-records of recs and the high
// flags of highs that the retained changes refer to (by their aux, which
// it renumbers), in the order of the changes.
func (l *Log) keepAux(recs []Record, highs [][]uint16) ([]Record, [][]uint16) {
	var nr []Record
	var nh [][]uint16
	for i, a := range l.c.aux {
		switch {
		case a >= 0:
			l.c.aux[i] = int32(len(nr))
			nr = append(nr, recs[a])
		case a <= -2:
			l.c.aux[i] = int32(-2 - len(nh))
			nh = append(nh, highs[-2-a])
		}
	}
	return nr, nh
}

// Check says what is wrong if any structure of the log refers to anything
// but its retained changes: points (open and in runs, within their runs'
// bounds), postings by area and by dwelling, the set of dwellings that
// moved, before-records and high flags (each held by exactly one change).
// It reads everything: for tests and invariant checks.
func (l *Log) Check() error {
	end := l.base + uint32(len(l.c.ms))
	in := func(g uint32) bool { return g >= l.base && g < end }
	for i, p := range l.open {
		if !in(p.idx) {
			return fmt.Errorf("open point %d refers to change %d, retained [%d, %d)", i, p.idx, l.base, end)
		}
	}
	for ri, r := range l.runs {
		if len(r.pts) == 0 {
			return fmt.Errorf("run %d is empty", ri)
		}
		for _, p := range r.pts {
			if !in(p.idx) || p.idx < r.lo || p.idx >= r.hi {
				return fmt.Errorf("run %d [%d, %d) holds a point of change %d, retained [%d, %d)", ri, r.lo, r.hi, p.idx, l.base, end)
			}
		}
		if len(r.fences) != (len(r.pts)+fenceStep-1)/fenceStep {
			return fmt.Errorf("run %d: %d fences for %d points", ri, len(r.fences), len(r.pts))
		}
	}
	n := 0
	for a, gs := range l.byArea {
		n += len(gs)
		for _, g := range gs {
			if !in(g) || g >= l.posted {
				return fmt.Errorf("area %d lists change %d, retained [%d, %d), posted to %d", a, g, l.base, end, l.posted)
			}
		}
	}
	if n != l.nArea {
		return fmt.Errorf("%d postings by area, counted %d", n, l.nArea)
	}
	for d, vs := range l.places {
		if len(vs) == 0 || !l.moved.has(d) {
			return fmt.Errorf("dwelling %d: %d place changes, moved %v", d, len(vs), l.moved.has(d))
		}
		for _, v := range vs {
			if v <= l.Oldest() || v > l.Newest() {
				return fmt.Errorf("dwelling %d: place change %d, retained (%d, %d]", d, v, l.Oldest(), l.Newest())
			}
		}
	}
	for w, word := range l.moved {
		for b := range 64 {
			if d := uint32(64*w + b); word&(1<<b) != 0 && len(l.places[d]) == 0 {
				return fmt.Errorf("dwelling %d moved with no place change retained", d)
			}
		}
	}
	recs := make([]int, len(l.recs))
	highs := make([]int, len(l.highs))
	for i, a := range l.c.aux {
		switch k := kindOf(l.c.code[i]); {
		case a >= 0 && (k == Put || k == Delete) && int(a) < len(recs):
			recs[a]++
		case a <= -2 && k == Flags && -2-int(a) < len(highs):
			highs[-2-a]++
		case a != -1 || k == Put || k == Delete:
			return fmt.Errorf("change %d of kind %d: aux %d (%d records, %d high)", i, k, a, len(recs), len(highs))
		}
	}
	for i, n := range recs {
		if n != 1 {
			return fmt.Errorf("record %d held by %d changes", i, n)
		}
	}
	for i, n := range highs {
		if n != 1 {
			return fmt.Errorf("high flags %d held by %d changes", i, n)
		}
	}
	return nil
}

// Bytes is about how much memory the log holds.
func (l *Log) Bytes() int64 {
	n := int64(cap(l.c.ms))*8 + int64(cap(l.c.did))*4 + int64(cap(l.c.area))*4 + int64(cap(l.c.low))*8 +
		int64(cap(l.c.aux))*4 + int64(cap(l.c.code)) + int64(cap(l.open))*12 + int64(cap(l.recs))*48 + int64(l.nArea)*4 + int64(cap(l.byArea))*24 +
		int64(cap(l.moved))*8
	for _, r := range l.runs {
		n += int64(cap(r.pts))*12 + int64(cap(r.fences))*8
	}
	return n
}
