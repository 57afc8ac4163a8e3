package engine

import (
	"fmt"
	"hash/maphash"
	"math/bits"
	"slices"
	"strings"

	"github.com/roomstate/roomstate/coord"
)

// Problem is one reason a load was rejected, located in its source.
type Problem struct {
	Source string // file name
	Line   int    // 1-based; 0 when not known
	Column int    // 1-based, in characters; 0 when not known
	Field  string // column or property name, when one is to blame
	Reason string
	// Held marks a duplicate of an id the engine holds already (loaded
	// before, or added since), not of one of this load's own.
	Held bool
}

func (p Problem) Error() string {
	var sb strings.Builder
	sb.WriteString(p.Source)
	if p.Line > 0 {
		fmt.Fprintf(&sb, ":%d", p.Line)
		if p.Column > 0 {
			fmt.Fprintf(&sb, ":%d", p.Column)
		}
	}
	sb.WriteString(": ")
	if p.Field != "" {
		fmt.Fprintf(&sb, "%s: ", p.Field)
	}
	sb.WriteString(p.Reason)
	return sb.String()
}

// MaxProblems is how many problems a rejected load reports at most.
const MaxProblems = 100

// LoadError rejects a whole load: nothing of it was applied.
type LoadError struct {
	Problems []Problem
	More     int // problems found beyond those listed
}

func (e *LoadError) Error() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "load rejected, nothing applied: %d problem(s)", len(e.Problems)+e.More)
	for _, p := range e.Problems {
		sb.WriteString("\n  ")
		sb.WriteString(p.Error())
	}
	if e.More > 0 {
		fmt.Fprintf(&sb, "\n  … and %d more", e.More)
	}
	return sb.String()
}

// Add records a problem, keeping at most MaxProblems.
func (e *LoadError) Add(p Problem) {
	if len(e.Problems) < MaxProblems {
		e.Problems = append(e.Problems, p)
	} else {
		e.More++
	}
}

// Len is the number of problems found.
func (e *LoadError) Len() int { return len(e.Problems) + e.More }

// Record is one dwelling as a loader reads it. Strings may point into a
// buffer the loader reuses: Batch.Add copies what it keeps.
type Record struct {
	ID        string
	Lon, Lat  float64 // WGS84 degrees
	District  string
	Street    string
	Community string
	Grid      string
	Building  string
	Unit      string
	Floor     int16 // NoFloor when unknown
	Room      string
	// Flags is a bit set over the batch's flag list (Batch.Flags).
	Flags    []uint64
	Line     int // source line, for messages
	IDColumn int // column of the id in the source, for messages
}

// SetFlag sets flag i (a position in the batch's flag list) in r.Flags.
func (r *Record) SetFlag(i int) {
	for len(r.Flags) <= i>>6 {
		r.Flags = append(r.Flags, 0)
	}
	r.Flags[i>>6] |= 1 << (i & 63)
}

// ResetFlags clears r.Flags for reuse.
func (r *Record) ResetFlags() { clear(r.Flags) }

// Batch is the dwellings of one source, columnar and interned, waiting to be
// applied by Engine.Load all at once. Finish finds duplicate ids within the
// batch; Load finds them across batches and against loaded dwellings.
type Batch struct {
	Source string
	flags  []string

	n      int
	lon    []int32
	lat    []int32
	idEnd  []uint32
	idBuf  []byte
	seed   maphash.Seed
	hashes []uint64 // of each id, until Finish builds ids
	ids    idTable
	done   bool
	err    error
	line   []int32
	col    []uint16 // column of the id, for messages
	levels [numAreaLevels]unitTable
	areas  []areaTuple
	aIdx   map[areaTuple]uint32
	area   []uint32
	bkeys  strTable // building keys
	bld    []uint32
	strs   strTable
	unit   []uint32
	room   []uint32
	floor  []int16
	bits   [][]uint64 // per batch flag, bit per row
}

// NewBatch starts a batch for source with the given flag names (the order of
// Record.Flags bits).
func NewBatch(source string, flags []string) *Batch {
	b := &Batch{Source: source, flags: append([]string(nil), flags...), aIdx: map[areaTuple]uint32{},
		bkeys: newStrTable(), strs: newStrTable(), seed: maphash.MakeSeed()}
	for i := range b.levels {
		b.levels[i] = newUnitTable()
	}
	b.bits = make([][]uint64, len(flags))
	return b
}

// Flags returns the batch's flag names.
func (b *Batch) Flags() []string { return b.flags }

// AddFlag appends a flag to the batch's list (all its dwellings so far lack
// it) and returns its position, the bit of Record.Flags that sets it.
func (b *Batch) AddFlag(name string) int {
	b.flags = append(b.flags, name)
	b.bits = append(b.bits, make([]uint64, (b.n+63)>>6))
	return len(b.flags) - 1
}

// Reserve is a hint that about n dwellings will be added.
func (b *Batch) Reserve(n int) {
	if cap(b.lon) < n {
		b.lon = append(make([]int32, 0, n), b.lon...)
		b.lat = append(make([]int32, 0, n), b.lat...)
		b.idEnd = append(make([]uint32, 0, n), b.idEnd...)
		b.idBuf = append(make([]byte, 0, n*12), b.idBuf...)
		b.hashes = append(make([]uint64, 0, n), b.hashes...)
		b.area = append(make([]uint32, 0, n), b.area...)
		b.bld = append(make([]uint32, 0, n), b.bld...)
		b.unit = append(make([]uint32, 0, n), b.unit...)
		b.room = append(make([]uint32, 0, n), b.room...)
		b.floor = append(make([]int16, 0, n), b.floor...)
		b.line = append(make([]int32, 0, n), b.line...)
		b.col = append(make([]uint16, 0, n), b.col...)
	}
}

// Len is the number of dwellings in the batch.
func (b *Batch) Len() int { return b.n }

func (b *Batch) idOf(i uint32) string {
	var s uint32
	if i > 0 {
		s = b.idEnd[i-1]
	}
	return unsafeString(b.idBuf[s:b.idEnd[i]])
}

// Add appends a dwelling. It returns an error for bad coordinates or an
// empty id, and the batch is unchanged then. Duplicate ids are found by
// Finish.
func (b *Batch) Add(r *Record) error {
	if b.done {
		return fmt.Errorf("batch %s is finished", b.Source)
	}
	if r.ID == "" {
		return fmt.Errorf("id is empty")
	}
	if err := coord.ValidLonLat(r.Lon, r.Lat); err != nil {
		return err
	}
	i := uint32(b.n)
	b.n++
	b.idBuf = append(b.idBuf, r.ID...)
	b.idEnd = append(b.idEnd, uint32(len(b.idBuf)))
	b.hashes = append(b.hashes, maphash.String(b.seed, r.ID))
	lon, lat := coord.ToE7(r.Lon), coord.ToE7(r.Lat)
	b.lon = append(b.lon, lon)
	b.lat = append(b.lat, lat)
	b.line = append(b.line, int32(r.Line))
	b.col = append(b.col, uint16(min(r.IDColumn, 65535)))
	at := areaTuple{b.levels[0].intern(r.District), b.levels[1].intern(r.Street),
		b.levels[2].intern(r.Community), b.levels[3].intern(r.Grid)}
	ai, ok := b.aIdx[at]
	if !ok {
		ai = uint32(len(b.areas))
		b.areas = append(b.areas, at)
		b.aIdx[at] = ai
	}
	b.area = append(b.area, ai)
	key := r.Building
	if key == "" {
		key = pointBuildingID(lon, lat)
	}
	b.bld = append(b.bld, b.bkeys.intern(key))
	b.unit = append(b.unit, b.strs.intern(r.Unit))
	b.room = append(b.room, b.strs.intern(r.Room))
	b.floor = append(b.floor, r.Floor)
	if i&63 == 0 {
		for f := range b.bits {
			b.bits[f] = append(b.bits[f], 0)
		}
	}
	// the flags the record sets, not every flag of the batch: a reader may
	// hold many columns as candidate flags, most of them clear in a row
	for w, word := range r.Flags {
		for word != 0 {
			f := w<<6 | bits.TrailingZeros64(word)
			word &= word - 1
			if f >= len(b.bits) {
				break
			}
			b.bits[f][i>>6] |= 1 << (i & 63)
		}
	}
	return nil
}

// DropFlags removes the flags at the given positions of the batch's list,
// with their bits: a reader's candidate columns that turned out not to be
// flags. The flags after each move down, so it is for after the last Add.
func (b *Batch) DropFlags(positions []int) {
	if len(positions) == 0 {
		return
	}
	drop := make([]bool, len(b.flags))
	for _, p := range positions {
		if p >= 0 && p < len(drop) {
			drop[p] = true
		}
	}
	k := 0
	for f := range b.flags {
		if !drop[f] {
			b.flags[k], b.bits[k] = b.flags[f], b.bits[f]
			k++
		}
	}
	clear(b.flags[k:])
	clear(b.bits[k:])
	b.flags, b.bits = b.flags[:k], b.bits[:k]
}

// Finish ends the batch: it indexes the ids and reports duplicates as a
// *LoadError (every later occurrence, with the line of the first). Load
// finishes batches itself; a finished batch takes no more dwellings.
func (b *Batch) Finish() error {
	if b.done {
		return b.err
	}
	b.done = true
	var dups [][2]uint32
	b.ids, dups = bulkIDTable(b.seed, b.hashes, b.idOf)
	b.hashes = nil
	if len(dups) > 0 {
		slices.SortFunc(dups, func(x, y [2]uint32) int { return cmpU64(uint64(x[0]), uint64(y[0])) })
		var le LoadError
		for _, d := range dups {
			le.Add(Problem{Source: b.Source, Line: int(b.line[d[0]]), Column: int(b.col[d[0]]), Field: "id",
				Reason: fmt.Sprintf("duplicate id %q (first on line %d)", b.idOf(d[0]), b.line[d[1]])})
		}
		b.err = &le
	}
	return b.err
}

// pointBuildingID names the implicit building of dwellings that have no
// building id: one per point.
func pointBuildingID(lon, lat int32) string {
	buf := make([]byte, 0, 32)
	buf = append(buf, '@')
	buf = coord.AppendE7(buf, lon)
	buf = append(buf, ',')
	buf = coord.AppendE7(buf, lat)
	return string(buf)
}
