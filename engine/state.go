package engine

import (
	"math/bits"

	"github.com/roomstate/roomstate/coord"

	"github.com/paulmach/orb"
	"github.com/tidwall/rtree"
)

// building groups the dwellings that share a building id (楼栋).
type building struct {
	id    string
	fid   uint64   // stable numeric feature id for vector tiles (hash of id)
	lon   int32    // representative point: the mean of its dwellings
	lat   int32    //
	bbox  [4]int32 // min lon, min lat, max lon, max lat of its dwellings
	area  uint32   // the area tuple of its dwellings, when not mixed
	mixed bool     // its dwellings belong to more than one area tuple
	// home: per level, the unit most of its dwellings are in (ties: the
	// smaller id; 0 when none of them has one): the building's own grid,
	// community, street and district, which responsibility resolves through
	home areaTuple
	// inTree: filed in the R-tree under bbox
	inTree bool
	// slots of its live dwellings in room-state order: floor descending, unit, room
	slots []uint32
	// ranges of main-order slots [a, b) that hold its main dwellings (and
	// possibly dead slots, which count as nothing); delta slots are in slots.
	ranges []uint32
}

// bldPlace is a building's point as scans over many buildings read it: in
// fixed point, and in Web Mercator (coord.Mercator's fields, laid flat).
type bldPlace struct {
	x, y     float64 // Mercator's X and Y
	lon, lat int32
	south    bool // Mercator's South
	live     bool // the building has dwellings
}

// mercator returns the place's point in Web Mercator.
func (bp *bldPlace) mercator() coord.Mercator {
	return coord.Mercator{X: bp.x, Y: bp.y, South: bp.south}
}

// boundary is a loaded area polygon of one level.
type boundary struct {
	level Level
	unit  uint32 // unit number in levels[level]
	geom  orb.MultiPolygon
	bound orb.Bound
	area  *unitArea // its query area, prepared when installed; shared by the states that hold geom
}

// state is everything the engine knows. Slots [0, nMain) are in row-band
// order and covered by index; [nMain, n) are the delta, in insertion order.
type state struct {
	flagNames []string
	flagIndex map[string]FlagID

	n, nMain int
	nLive    int
	lon      []int32  // by slot, degrees × 1e7
	lat      []int32  // by slot
	idEnd    []uint32 // by slot: end of its id in idBuf; the id starts where the previous slot's ends
	idBuf    []byte
	ids      idTable  // id → slot, live dwellings only
	did      []uint32 // by slot: the dwelling's stable number (survives rebuilds; a put keeps it)
	slotOf   []int32  // by dwelling number: its slot, -1 once deleted
	nextDID  uint32   // the next dwelling number
	bld      []uint32 // by slot: building number
	area     []uint32 // by slot: area tuple number
	unit     []uint32 // by slot: unit string (strs)
	room     []uint32 // by slot: room string (strs)
	floor    []int16  // by slot; NoFloor when unknown
	live     []uint64 // bit per slot: 1 = the dwelling exists
	// words[flag]: a bit per slot, set when the dwelling carries the
	// flag (always clear for a dead slot): the flags' state. Snapshots
	// hold them as roaring bitmaps (Frozen.Snapshot).
	words [][]uint64
	// nameLists: the names of flags 0–63 by their bits, made by the writer
	// as changes need them (flagNamesOf); read by no query
	nameLists map[uint64][]string

	strs    strTable
	levels  [numAreaLevels]unitTable
	areas   []areaTuple
	areaIdx map[areaTuple]uint32
	// per level and unit: the area tuples that hold the unit
	unitAreas [numAreaLevels][][]uint32

	blds []building
	// bplace: per building, its point and whether it has dwellings, kept
	// compact for scans over many buildings (a low-zoom tile reads them all)
	bplace []bldPlace
	bldIdx map[string]uint32
	mixed  map[uint32]struct{}          // buildings whose dwellings span area tuples
	btree  rtree.RTreeGN[int32, uint32] // buildings by bbox

	bounds    []boundary
	boundTree [numAreaLevels]rtree.RTreeG[int] // per level: index into bounds, by bound (a low zoom's few districts are not searched among thousands of grids)
	boundAt   [numAreaLevels][]int32           // per level and unit: 1 + index in bounds, 0 for none

	// change tracking, for cached tiles: gen changes when the state is
	// replaced, and when boundaries or schemes change (numbered by the
	// engine); bver and uver hold the version of the last change of each
	// building and unit; structVer that of the last change that moved or
	// made a building. cur is the version being applied.
	gen       uint64
	cur       Version
	structVer Version
	bver      []Version
	uver      [numAreaLevels][]Version

	index *bandIndex              // over [0, nMain)
	runs  [LevelBuilding + 1]runs // per level: equal groups along [0, nMain)
}

// runs encode, along the main order, maximal runs of slots with one group.
type runs struct {
	start []uint32 // first slot of each run, ascending; start[0] == 0
	group []uint32 // group number of each run
}

// find returns the run that holds slot p.
func (r *runs) find(p uint32) int {
	lo, hi := 0, len(r.start)
	for lo < hi {
		m := (lo + hi) >> 1
		if r.start[m] <= p {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo - 1
}

func (st *state) nFlags() int { return len(st.flagNames) }

// newDID numbers a new dwelling.
func (st *state) newDID() uint32 {
	d := st.nextDID
	st.nextDID++
	return d
}

// touch records that slot p's building and units change at st.cur.
func (st *state) touch(p uint32) {
	bi := st.bld[p]
	for int(bi) >= len(st.bver) {
		st.bver = append(st.bver, 0)
	}
	st.bver[bi] = st.cur
	at := st.areas[st.area[p]]
	for l, u := range at {
		for int(u) >= len(st.uver[l]) {
			st.uver[l] = append(st.uver[l], 0)
		}
		st.uver[l][u] = st.cur
	}
}

// nBlocks is the number of 64-slot blocks the bit arrays hold: one more than
// needed, so that a prefix at slot n reads a valid block.
func (st *state) nBlocks() int { return st.n>>6 + 1 }

func (st *state) idOf(slot uint32) string {
	var start uint32
	if slot > 0 {
		start = st.idEnd[slot-1]
	}
	return unsafeString(st.idBuf[start:st.idEnd[slot]])
}

func (st *state) isLive(slot uint32) bool {
	return st.live[slot>>6]>>(slot&63)&1 != 0
}

func (st *state) hasFlag(slot uint32, f FlagID) bool {
	return st.words[f][slot>>6]>>(slot&63)&1 != 0
}

// lookup finds the slot of a live dwelling.
func (st *state) lookup(id string) (uint32, bool) {
	s := st.ids.find(id, st.idOf)
	if s < 0 {
		return 0, false
	}
	return uint32(s), true
}

func (st *state) flagLookup(name string) (FlagID, bool) {
	f, ok := st.flagIndex[name]
	return f, ok
}

// groupOf returns the group number of slot p at level l.
func (st *state) groupOf(l Level, p uint32) uint32 {
	if l == LevelBuilding {
		return st.bld[p]
	}
	return st.areas[st.area[p]][l]
}

// groupCount is the number of groups at level l.
func (st *state) groupCount(l Level) int {
	if l == LevelBuilding {
		return len(st.blds)
	}
	return len(st.levels[l].ids)
}

// groupID returns the id of group g at level l.
func (st *state) groupID(l Level, g uint32) string {
	if l == LevelBuilding {
		return st.blds[g].id
	}
	return st.levels[l].ids[g]
}

// flagsOf lists the flags a dwelling carries.
func (st *state) flagsOf(slot uint32) []FlagID {
	var out []FlagID
	for f := range st.words {
		if st.hasFlag(slot, FlagID(f)) {
			out = append(out, FlagID(f))
		}
	}
	return out
}

func popcount(w uint64) int64 { return int64(bits.OnesCount64(w)) }
