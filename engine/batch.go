package engine

import (
	"fmt"
	"strings"
)

// Problem is one reason a load was rejected, located in its source.
type Problem struct {
	Source string // file name
	Line   int    // 1-based; 0 when not known
	Column int    // 1-based, in characters; 0 when not known
	Field  string // column or property name, when one is to blame
	Reason string
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
	Flags []uint64
	Line  int // source line, for messages
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

func (r *Record) flag(i int) bool {
	return i>>6 < len(r.Flags) && r.Flags[i>>6]>>(i&63)&1 != 0
}

// Batch is the dwellings of one source, columnar and interned, waiting to be
// applied by Engine.Load all at once. A Batch detects duplicate ids within
// itself; Load detects them across batches and against loaded dwellings.
type Batch struct {
	Source string
	flags  []string

	n      int
	lon    []int32
	lat    []int32
	idEnd  []uint32
	idBuf  []byte
	ids    idTable
	line   []int32
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
		bkeys: newStrTable(), strs: newStrTable(), ids: newIDTable(1024)}
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

// Len is the number of dwellings in the batch.
func (b *Batch) Len() int { return b.n }

func (b *Batch) idOf(i uint32) string {
	var s uint32
	if i > 0 {
		s = b.idEnd[i-1]
	}
	return unsafeString(b.idBuf[s:b.idEnd[i]])
}

// DuplicateError reports an id seen twice in a batch.
type DuplicateError struct {
	ID        string
	FirstLine int
}

func (e *DuplicateError) Error() string {
	return fmt.Sprintf("duplicate id %q (first on line %d)", e.ID, e.FirstLine)
}

// Add appends a dwelling. It returns a *DuplicateError for an id already in
// the batch, or an error for bad coordinates or an empty id; the batch is
// unchanged then.
func (b *Batch) Add(r *Record) error {
	if r.ID == "" {
		return fmt.Errorf("id is empty")
	}
	if err := ValidLonLat(r.Lon, r.Lat); err != nil {
		return err
	}
	if i := b.ids.find(r.ID, b.idOf); i >= 0 {
		return &DuplicateError{ID: r.ID, FirstLine: int(b.line[i])}
	}
	i := uint32(b.n)
	b.n++
	b.idBuf = append(b.idBuf, r.ID...)
	b.idEnd = append(b.idEnd, uint32(len(b.idBuf)))
	b.ids.insert(r.ID, i, b.idOf)
	lon, lat := ToE7(r.Lon), ToE7(r.Lat)
	b.lon = append(b.lon, lon)
	b.lat = append(b.lat, lat)
	b.line = append(b.line, int32(r.Line))
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
	for f := range b.flags {
		if r.flag(f) {
			b.bits[f][i>>6] |= 1 << (i & 63)
		}
	}
	return nil
}

// pointBuildingID names the implicit building of dwellings that have no
// building id: one per point.
func pointBuildingID(lon, lat int32) string {
	buf := make([]byte, 0, 32)
	buf = append(buf, '@')
	buf = AppendE7(buf, lon)
	buf = append(buf, ',')
	buf = AppendE7(buf, lat)
	return string(buf)
}
