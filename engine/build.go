package engine

import (
	"fmt"
	"hash/fnv"
	"hash/maphash"
	"slices"
	"sort"
	"sync"

	"github.com/roomstate/roomstate/coord"

	"github.com/tidwall/rtree"
)

// newState returns an empty state.
func newState() *state {
	st := &state{flagIndex: map[string]FlagID{}, areaIdx: map[areaTuple]uint32{}, bldIdx: map[string]uint32{}, mixed: map[uint32]struct{}{},

		strs: newStrTable(), ids: newIDTable(0)}
	for i := range st.levels {
		st.levels[i] = newUnitTable()
	}
	st.live = make([]uint64, 1)
	st.index = buildBandIndex(nil, nil, 0, DefaultBandHeight)
	return st
}

// rowSet gathers dwellings, in the new state's tables, before sorting.
type rowSet struct {
	n      int
	lon    []int32
	lat    []int32
	idEnd  []uint32
	idBuf  []byte
	bkey   []uint32 // building key in keys
	area   []uint32
	unit   []uint32
	room   []uint32
	floor  []int16
	did    []uint32   // the dwelling's stable number
	bits   [][]uint64 // per flag of the new state, bit per row
	keys   strTable   // building keys
	origin []rowOrigin
}

// rowOrigin says where a row came from, for duplicate messages.
type rowOrigin struct {
	batch int32 // -1: already loaded
	line  int32
	col   uint16
}

func (rs *rowSet) idOf(i uint32) string {
	var s uint32
	if i > 0 {
		s = rs.idEnd[i-1]
	}
	return unsafeString(rs.idBuf[s:rs.idEnd[i]])
}

// rebuild makes a new state from the live dwellings of prev and the batches,
// sorted and indexed. It fails, changing nothing, on duplicate ids.
func rebuild(prev *state, batches []*Batch, bandH int32) (*state, error) {
	st := newState()
	// flags: the old ones first (the built-in ones among them), then new
	// names in order of appearance
	st.startFlags(prev.flagNames) // distinct: they are a state's
	for _, b := range batches {
		for _, name := range b.flags {
			if _, ok := st.flagIndex[name]; !ok {
				st.addFlag(name)
			}
		}
	}
	total := prev.nLive
	for _, b := range batches {
		total += b.n
	}
	rs := &rowSet{keys: newStrTable()}
	capacity := total
	if len(batches) == 1 && prev.nLive == 0 {
		capacity = 0 // the batch is likely taken as it is: allocate as needed
	}
	rs.lon = make([]int32, 0, capacity)
	rs.lat = make([]int32, 0, capacity)
	rs.idEnd = make([]uint32, 0, capacity)
	rs.bkey = make([]uint32, 0, capacity)
	rs.area = make([]uint32, 0, capacity)
	rs.unit = make([]uint32, 0, capacity)
	rs.room = make([]uint32, 0, capacity)
	rs.floor = make([]int16, 0, capacity)
	rs.did = make([]uint32, 0, total)
	rs.origin = make([]rowOrigin, 0, capacity)
	st.nextDID = prev.nextDID
	nw := total>>6 + 1
	rs.bits = make([][]uint64, st.nFlags())
	for f := range rs.bits {
		rs.bits[f] = make([]uint64, nw)
	}
	// a lone batch into an empty engine has no ids to clash with: the batch
	// checked its own, and its table serves
	check := prev.nLive > 0 || len(batches) > 1
	var lerr LoadError

	// the dwellings already loaded
	if prev.n > 0 {
		areaMap := make([]uint32, len(prev.areas))
		for i, at := range prev.areas {
			var nt areaTuple
			for l := range at {
				nt[l] = st.levels[l].intern(prev.levels[l].ids[at[l]])
			}
			areaMap[i] = st.internArea(nt)
		}
		keyMap := make([]uint32, len(prev.blds))
		for i := range prev.blds {
			keyMap[i] = rs.keys.intern(prev.blds[i].id)
		}
		strMap := make([]uint32, len(prev.strs.strs))
		for i, s := range prev.strs.strs {
			strMap[i] = st.strs.intern(s)
		}
		for p := uint32(0); p < uint32(prev.n); p++ {
			if !prev.isLive(p) {
				continue
			}
			row := uint32(rs.n)
			rs.n++
			rs.idBuf = append(rs.idBuf, prev.idOf(p)...)
			rs.idEnd = append(rs.idEnd, uint32(len(rs.idBuf)))
			rs.lon = append(rs.lon, prev.lon[p])
			rs.lat = append(rs.lat, prev.lat[p])
			rs.bkey = append(rs.bkey, keyMap[prev.bld[p]])
			rs.area = append(rs.area, areaMap[prev.area[p]])
			rs.unit = append(rs.unit, strMap[prev.unit[p]])
			rs.room = append(rs.room, strMap[prev.room[p]])
			rs.floor = append(rs.floor, prev.floor[p])
			rs.did = append(rs.did, prev.did[p])
			rs.origin = append(rs.origin, rowOrigin{batch: -1})
			for f := range prev.words {
				if prev.hasFlag(p, FlagID(f)) {
					rs.bits[f][row>>6] |= 1 << (row & 63)
				}
			}
		}
	}
	for bi, b := range batches {
		areaMap := make([]uint32, len(b.areas))
		for i, at := range b.areas {
			var nt areaTuple
			for l := range at {
				nt[l] = st.levels[l].intern(b.levels[l].ids[at[l]])
			}
			areaMap[i] = st.internArea(nt)
		}
		keyMap := make([]uint32, len(b.bkeys.strs))
		for i, s := range b.bkeys.strs {
			keyMap[i] = rs.keys.intern(s)
		}
		strMap := make([]uint32, len(b.strs.strs))
		for i, s := range b.strs.strs {
			strMap[i] = st.strs.intern(s)
		}
		flagMap := make([]FlagID, len(b.flags))
		for i, name := range b.flags {
			flagMap[i] = st.flagIndex[name]
		}
		if !check && isIdentity(areaMap) && isIdentity(keyMap) && isIdentity(strMap) {
			// the common first load: the batch's columns are already the
			// rows, numbered as the new state numbers them; no copy. Its
			// flags' bit columns are taken whole, in the state's order (a
			// flag the batch lacks keeps its clear column)
			rs.n, rs.lon, rs.lat, rs.idEnd, rs.idBuf = b.n, b.lon, b.lat, b.idEnd, b.idBuf
			rs.bkey, rs.area, rs.unit, rs.room, rs.floor = b.bld, b.area, b.unit, b.room, b.floor
			for i, f := range flagMap {
				rs.bits[f] = b.bits[i]
			}
			for i := 0; i < b.n; i++ {
				rs.did = append(rs.did, st.newDID())
			}
			continue
		}
		for i := uint32(0); i < uint32(b.n); i++ {
			id := b.idOf(i)
			row := uint32(rs.n)
			rs.idBuf = append(rs.idBuf, id...)
			rs.idEnd = append(rs.idEnd, uint32(len(rs.idBuf)))
			rs.n++
			rs.lon = append(rs.lon, b.lon[i])
			rs.lat = append(rs.lat, b.lat[i])
			rs.bkey = append(rs.bkey, keyMap[b.bld[i]])
			rs.area = append(rs.area, areaMap[b.area[i]])
			rs.unit = append(rs.unit, strMap[b.unit[i]])
			rs.room = append(rs.room, strMap[b.room[i]])
			rs.floor = append(rs.floor, b.floor[i])
			rs.did = append(rs.did, st.newDID())
			rs.origin = append(rs.origin, rowOrigin{batch: int32(bi), line: b.line[i], col: b.col[i]})
			for f, bits := range b.bits {
				if bits[i>>6]>>(i&63)&1 != 0 {
					nf := flagMap[f]
					rs.bits[nf][row>>6] |= 1 << (row & 63)
				}
			}
		}
	}
	var ids idTable
	if !check {
		if len(batches) == 1 {
			ids = batches[0].ids // rows are the batch's dwellings, in order
		} else {
			ids = newIDTable(0) // nothing live and nothing loaded: empty, ready for inserts
		}
	} else {
		// every id against every other, in one bulk build
		seed := maphash.MakeSeed()
		hashes := make([]uint64, rs.n)
		for row := range hashes {
			hashes[row] = maphash.String(seed, rs.idOf(uint32(row)))
		}
		var dups [][2]uint32
		ids, dups = bulkIDTable(seed, hashes, rs.idOf)
		slices.SortFunc(dups, func(x, y [2]uint32) int { return cmpU64(uint64(x[0]), uint64(y[0])) })
		for _, d := range dups {
			o, first := rs.origin[d[0]], rs.origin[d[1]]
			where := "already loaded"
			if first.batch >= 0 {
				where = fmt.Sprintf("first in %s:%d", batches[first.batch].Source, first.line)
			}
			lerr.Add(Problem{Source: batches[o.batch].Source, Line: int(o.line), Column: int(o.col), Field: "id",
				Reason: fmt.Sprintf("duplicate id %q (%s)", rs.idOf(d[0]), where), Held: first.batch < 0})
		}
	}
	if lerr.Len() > 0 {
		return nil, &lerr
	}
	st.fill(rs, &ids, bandH)
	st.addBoundariesOf(prev)
	return st, nil
}

// addBoundariesOf adds (or replaces with) every boundary of from.
func (st *state) addBoundariesOf(from *state) {
	for _, bd := range from.bounds {
		st.addBoundary(bd.level, from.levels[bd.level].ids[bd.unit], from.levels[bd.level].names[bd.unit], bd.geom, bd.area)
	}
}

func isIdentity[T ~uint32 | ~uint16](m []T) bool {
	for i, v := range m {
		if int(v) != i {
			return false
		}
	}
	return true
}

// BuiltinFlags are the flags every engine knows, whether or not its data
// carries them (all clear then), in this order ahead of the data's own
// flags: the default scheme's rules refer to them.
var BuiltinFlags = []string{"isolated", "vaccinated", "rental", "elderly_alone"}

// startFlags registers the flags a new state starts with: names (those of
// the state it replaces, or of a snapshot) in their order, then whichever
// built-in flags they lack, in BuiltinFlags order. It is the one place
// that makes the built-in flags known; the numbers of names are kept, as
// the history and expiries of a reopened state refer to them. It fails on
// an empty or repeated name.
func (st *state) startFlags(names []string) error {
	for _, name := range names {
		if _, dup := st.flagIndex[name]; dup || name == "" {
			return fmt.Errorf("flag %q is empty or appears twice", name)
		}
		st.addFlag(name)
	}
	for _, name := range BuiltinFlags {
		if _, ok := st.flagIndex[name]; !ok {
			st.addFlag(name)
		}
	}
	return nil
}

func (st *state) addFlag(name string) FlagID {
	f := FlagID(len(st.flagNames))
	st.flagNames = append(st.flagNames, name)
	st.flagIndex[name] = f
	return f
}

func (st *state) internArea(at areaTuple) uint32 {
	if i, ok := st.areaIdx[at]; ok {
		return i
	}
	i := uint32(len(st.areas))
	st.areas = append(st.areas, at)
	st.areaIdx[at] = i
	for l, u := range at {
		for int(u) >= len(st.unitAreas[l]) {
			st.unitAreas[l] = append(st.unitAreas[l], nil)
		}
		st.unitAreas[l][u] = append(st.unitAreas[l][u], i)
	}
	return i
}

// sortKey orders rows by band, then lon, lat, building, input order.
type sortKey struct {
	k    uint64 // band << 32 | lon as unsigned
	lat  int32
	bkey uint32
	row  uint32
}

// fill sorts the rows into the state's slots and builds every derived
// structure; rowIDs maps every row's id to its row.
func (st *state) fill(rs *rowSet, rowIDs *idTable, bandH int32) {
	n := rs.n
	if bandH <= 0 {
		bandH = autoBandHeight(rs.lon, rs.lat)
	}
	var lat0 int32
	if n > 0 {
		minLat := rs.lat[0]
		for _, v := range rs.lat {
			minLat = min(minLat, v)
		}
		lat0 = int32(floorDiv(int64(minLat), int64(bandH)) * int64(bandH))
	}
	keys := make([]sortKey, n)
	for i := 0; i < n; i++ {
		band := uint64(int64(rs.lat[i])-int64(lat0)) / uint64(bandH)
		keys[i] = sortKey{k: band<<32 | uint64(uint32(rs.lon[i])^0x80000000), lat: rs.lat[i], bkey: rs.bkey[i], row: uint32(i)}
	}
	keys = sortParallel(keys, func(a, b sortKey) int {
		switch {
		case a.k != b.k:
			return cmpU64(a.k, b.k)
		case a.lat != b.lat:
			return int(a.lat) - int(b.lat)
		case a.bkey != b.bkey:
			return cmpU64(uint64(a.bkey), uint64(b.bkey))
		}
		return cmpU64(uint64(a.row), uint64(b.row))
	})

	st.n, st.nMain, st.nLive = n, n, n
	st.lon = make([]int32, n)
	st.lat = make([]int32, n)
	st.idEnd = make([]uint32, n)
	st.idBuf = make([]byte, 0, len(rs.idBuf))
	st.bld = make([]uint32, n)
	st.area = make([]uint32, n)
	st.unit = make([]uint32, n)
	st.room = make([]uint32, n)
	st.floor = make([]int16, n)
	nw := st.nBlocks()
	st.live = make([]uint64, nw)
	st.words = make([][]uint64, st.nFlags())
	for f := range st.words {
		st.words[f] = make([]uint64, nw)
	}
	// buildings keep their numbers across rebuilds (history and cached
	// stamps refer to them): one per key, in key order, empty or not
	st.blds = make([]building, len(rs.keys.strs))
	st.bplace = make([]bldPlace, len(st.blds))
	for k, id := range rs.keys.strs {
		st.blds[k] = building{id: id, fid: featureID(id)}
		st.bldIdx[id] = uint32(k)
	}
	st.did = make([]uint32, n)
	st.slotOf = make([]int32, st.nextDID)
	for i := range st.slotOf {
		st.slotOf[i] = -1
	}
	for p, k := range keys {
		r := k.row
		st.lon[p] = rs.lon[r]
		st.lat[p] = rs.lat[r]
		st.idBuf = append(st.idBuf, rs.idOf(r)...)
		st.idEnd[p] = uint32(len(st.idBuf))
		st.area[p] = rs.area[r]
		st.unit[p] = rs.unit[r]
		st.room[p] = rs.room[r]
		st.floor[p] = rs.floor[r]
		st.live[p>>6] |= 1 << (p & 63)
		for f, bits := range rs.bits {
			if bits[r>>6]>>(r&63)&1 != 0 {
				st.words[f][p>>6] |= 1 << (p & 63)
			}
		}
		st.bld[p] = rs.bkey[r]
		st.did[p] = rs.did[r]
		st.slotOf[rs.did[r]] = int32(p)
	}
	perm := make([]uint32, n) // row → slot
	for p, k := range keys {
		perm[k.row] = uint32(p)
	}
	st.ids = rowIDs.renumbered(perm)
	st.index = buildPoints(st.lon, st.lat, lat0, bandH)
	st.buildDerived()
}

// buildDerived computes, from the slots, buildings' slots, ranges and boxes,
// runs per level and the building R-tree.
func (st *state) buildDerived() {
	// building slots in slot order, and their main-order ranges, each list
	// a piece of one array (its capacity its length: a later append to one
	// building's list moves that list alone): a city's hundreds of
	// thousands of buildings are two objects to the collector, not two
	// each, which it marks at every cycle
	nSlots := make([]uint32, len(st.blds))
	nRanges := make([]uint32, len(st.blds))
	prev := make([]uint32, len(st.blds)) // per building: its last main slot + 1, 0 for none yet
	for p := uint32(0); p < uint32(st.n); p++ {
		if !st.isLive(p) {
			continue
		}
		bi := st.bld[p]
		nSlots[bi]++
		if p < uint32(st.nMain) {
			if prev[bi] == 0 || prev[bi] != p {
				nRanges[bi] += 2
			}
			prev[bi] = p + 1
		}
	}
	var slotsLen, rangesLen int
	for i := range st.blds {
		slotsLen += int(nSlots[i])
		rangesLen += int(nRanges[i])
	}
	slotArena := make([]uint32, 0, slotsLen)
	rangeArena := make([]uint32, 0, rangesLen)
	for i := range st.blds {
		b := &st.blds[i]
		b.slots = slotArena[len(slotArena) : len(slotArena) : len(slotArena)+int(nSlots[i])]
		slotArena = slotArena[:len(slotArena)+int(nSlots[i])]
		b.ranges = rangeArena[len(rangeArena) : len(rangeArena) : len(rangeArena)+int(nRanges[i])]
		rangeArena = rangeArena[:len(rangeArena)+int(nRanges[i])]
	}
	for p := uint32(0); p < uint32(st.n); p++ {
		if !st.isLive(p) {
			continue
		}
		b := &st.blds[st.bld[p]]
		b.slots = append(b.slots, p)
		if p < uint32(st.nMain) {
			if k := len(b.ranges); k > 0 && b.ranges[k-1] == p {
				b.ranges[k-1] = p + 1
			} else {
				b.ranges = append(b.ranges, p, p+1)
			}
		}
	}
	rank := st.strRanks()
	st.btree = rtree.RTreeGN[int32, uint32]{}
	for i := range st.blds {
		b := &st.blds[i]
		st.sortRoomOrder(b.slots, rank)
		st.refreshBuilding(uint32(i))
	}
	st.bver = make([]Version, len(st.blds))
	for l := range st.uver {
		st.uver[l] = make([]Version, len(st.levels[l].ids))
	}
	for l := Level(0); l <= LevelBuilding; l++ {
		r := runs{}
		for p := uint32(0); p < uint32(st.nMain); p++ {
			g := st.groupOf(l, p)
			if k := len(r.group); k == 0 || r.group[k-1] != g {
				r.start = append(r.start, p)
				r.group = append(r.group, g)
			}
		}
		st.runs[l] = r
	}
}

// refreshBuilding recomputes a building's point, box and area from its slots,
// and files it in the R-tree.
func (st *state) refreshBuilding(bi uint32) {
	b := &st.blds[bi]
	if b.inTree {
		st.btree.Delete(bboxMin(b.bbox), bboxMax(b.bbox), bi)
		b.inTree = false
	}
	if len(b.slots) == 0 {
		st.bplace[bi] = bldPlace{}
		b.bbox = [4]int32{}
		b.lon, b.lat = 0, 0
		b.mixed = false
		b.home = areaTuple{}
		delete(st.mixed, bi)
		return
	}
	var sx, sy int64
	bb := [4]int32{st.lon[b.slots[0]], st.lat[b.slots[0]], st.lon[b.slots[0]], st.lat[b.slots[0]]}
	b.area = st.area[b.slots[0]]
	b.mixed = false
	for _, p := range b.slots {
		x, y := st.lon[p], st.lat[p]
		sx += int64(x)
		sy += int64(y)
		bb[0], bb[1], bb[2], bb[3] = min(bb[0], x), min(bb[1], y), max(bb[2], x), max(bb[3], y)
		if st.area[p] != b.area {
			b.mixed = true
		}
	}
	if b.mixed {
		st.mixed[bi] = struct{}{}
		b.home = st.majority(b.slots)
	} else {
		delete(st.mixed, bi)
		b.home = st.areas[b.area]
	}
	k := int64(len(b.slots))
	b.lon, b.lat = int32(roundDiv(sx, k)), int32(roundDiv(sy, k))
	m := coord.ToMercator(b.lon, b.lat)
	st.bplace[bi] = bldPlace{x: m.X, y: m.Y, lon: b.lon, lat: b.lat, south: m.South, live: true}
	b.bbox = bb
	st.btree.Insert(bboxMin(bb), bboxMax(bb), bi)
	b.inTree = true
}

// majority returns, per level, the unit most of the slots are in, among
// those that have one at that level; ties go to the smaller id.
func (st *state) majority(slots []uint32) areaTuple {
	return st.majorityOf(len(slots), func(i int) uint32 { return st.area[slots[i]] })
}

// majorityOf is majority for n dwellings, the i-th of area tuple area(i).
func (st *state) majorityOf(n int, area func(i int) uint32) areaTuple {
	var home areaTuple
	for l := range home {
		count := map[uint32]int{}
		for i := range n {
			if u := st.areas[area(i)][l]; u != 0 {
				count[u]++
			}
		}
		best, bestN := uint32(0), 0
		for u, n := range count {
			if n > bestN || n == bestN && st.levels[l].ids[u] < st.levels[l].ids[best] {
				best, bestN = u, n
			}
		}
		home[l] = best
	}
	return home
}

func bboxMin(b [4]int32) [2]int32 { return [2]int32{b[0], b[1]} }
func bboxMax(b [4]int32) [2]int32 { return [2]int32{b[2], b[3]} }

// strRanks ranks the interned strings in natural order ("2" < "10" < "10a").
func (st *state) strRanks() []uint32 {
	order := make([]uint32, len(st.strs.strs))
	for i := range order {
		order[i] = uint32(i)
	}
	sort.Slice(order, func(a, b int) bool { return naturalLess(st.strs.strs[order[a]], st.strs.strs[order[b]]) })
	rank := make([]uint32, len(order))
	for r, i := range order {
		rank[i] = uint32(r)
	}
	return rank
}

// sortRoomOrder sorts slots by floor (top first), unit, room, id. rank gives
// the natural order of interned strings; nil compares the strings.
func (st *state) sortRoomOrder(slots []uint32, rank []uint32) {
	less := func(a, b uint32) int {
		if st.floor[a] != st.floor[b] {
			return int(st.floor[b]) - int(st.floor[a])
		}
		for _, pair := range [2][2]uint32{{st.unit[a], st.unit[b]}, {st.room[a], st.room[b]}} {
			if pair[0] == pair[1] {
				continue
			}
			if rank != nil {
				return int(rank[pair[0]]) - int(rank[pair[1]])
			}
			if naturalLess(st.strs.strs[pair[0]], st.strs.strs[pair[1]]) {
				return -1
			}
			return 1
		}
		ia, ib := st.idOf(a), st.idOf(b)
		if naturalLess(ia, ib) {
			return -1
		} else if naturalLess(ib, ia) {
			return 1
		}
		return 0
	}
	slices.SortFunc(slots, less)
}

// sortParallel sorts s on two cores: each half alone, then a merge. It may
// return a new slice.
func sortParallel[T any](s []T, cmp func(a, b T) int) []T {
	if len(s) < 1<<16 {
		slices.SortFunc(s, cmp)
		return s
	}
	mid := len(s) / 2
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); slices.SortFunc(s[mid:], cmp) }()
	slices.SortFunc(s[:mid], cmp)
	wg.Wait()
	out := make([]T, 0, len(s))
	a, b := s[:mid], s[mid:]
	for len(a) > 0 && len(b) > 0 {
		if cmp(b[0], a[0]) < 0 {
			out = append(out, b[0])
			b = b[1:]
		} else {
			out = append(out, a[0])
			a = a[1:]
		}
	}
	out = append(out, a...)
	return append(out, b...)
}

// naturalLess compares strings with digit runs taken as numbers.
func naturalLess(a, b string) bool {
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		ca, cb := a[i], b[j]
		if isDigit(ca) && isDigit(cb) {
			si, sj := i, j
			for i < len(a) && isDigit(a[i]) {
				i++
			}
			for j < len(b) && isDigit(b[j]) {
				j++
			}
			na, nb := trimZeros(a[si:i]), trimZeros(b[sj:j])
			if len(na) != len(nb) {
				return len(na) < len(nb)
			}
			if na != nb {
				return na < nb
			}
			continue
		}
		if ca != cb {
			return ca < cb
		}
		i++
		j++
	}
	if len(a)-i != len(b)-j {
		return len(a)-i < len(b)-j
	}
	return a < b
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func trimZeros(s string) string {
	for len(s) > 1 && s[0] == '0' {
		s = s[1:]
	}
	return s
}

// FeatureID is a building's stable numeric feature id in vector tiles and
// the change feed: FNV-1a of its id, kept to 53 bits so that JavaScript
// holds it exactly.
func FeatureID(id string) uint64 { return featureID(id) }

func featureID(id string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(id))
	return h.Sum64() & (1<<53 - 1)
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

func roundDiv(a, b int64) int64 {
	if a >= 0 {
		return (a + b/2) / b
	}
	return -((-a + b/2) / b)
}

func cmpU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
