package engine

import (
	"cmp"
	"math/bits"
	"runtime"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/roomstate/roomstate/expr"
	"github.com/roomstate/roomstate/fault"
	"github.com/roomstate/roomstate/history"
	"github.com/roomstate/roomstate/radix"
	"github.com/roomstate/roomstate/region"
	"github.com/roomstate/roomstate/scheme"
)

// The map as it was. Every change the writer applies is kept in a history
// log (package history) with its version, its time and the dwelling's state
// just before it. A question "as of version V" is answered as the current
// answer corrected by the dwellings changed after V that fall in the
// question: each such dwelling's current contribution is taken out and its
// contribution at V put back. The changed dwellings are found through the
// log's spatial index (a box) or by scanning the changes after V (questions
// about units), so the cost grows with the changes since V in the answer,
// not with the city.

// AsOf names the state a question is about: Version with Set, or now (the
// zero value).
type AsOf struct {
	Version Version
	Set     bool
}

// At returns the AsOf of version v.
func At(v Version) AsOf { return AsOf{Version: v, Set: true} }

// dstate is a dwelling's state in the engine's numbers: position, area
// tuple, building, unit and room strings, floor and flags.
type dstate struct {
	exists   bool
	id       string
	lon, lat int32
	area     uint32
	bld      uint32
	unit     uint32
	room     uint32
	floor    int16
	low      uint64   // flags 0–63
	high     []uint16 // flags ≥ 64
}

func (d *dstate) has(f FlagID) bool {
	if f < 64 {
		return d.low>>f&1 != 0
	}
	return slices.Contains(d.high, uint16(f))
}

// flagsOf returns slot p's flags as low bits and the list of higher ones.
func (st *state) flagBits(p uint32) (low uint64, high []uint16) {
	for f := range st.words {
		if st.hasFlag(p, FlagID(f)) {
			if f < 64 {
				low |= 1 << f
			} else {
				high = append(high, uint16(f))
			}
		}
	}
	return low, high
}

// stateOf returns the state of the dwelling in slot p.
func (st *state) stateOf(p uint32) dstate {
	low, high := st.flagBits(p)
	return dstate{exists: true, id: st.idOf(p), lon: st.lon[p], lat: st.lat[p], area: st.area[p], bld: st.bld[p],
		unit: st.unit[p], room: st.room[p], floor: st.floor[p], low: low, high: high}
}

// recordOf is a dstate as the history log keeps it.
func recordOf(d dstate) history.Record {
	return history.Record{Exists: d.exists, ID: d.id, Lon: d.lon, Lat: d.lat, Area: d.area, Bld: d.bld, Unit: d.unit,
		Room: d.room, Floor: d.floor, Low: d.low, High: d.high}
}

func fromRecord(r *history.Record) dstate {
	return dstate{exists: r.Exists, id: r.ID, lon: r.Lon, lat: r.Lat, area: r.Area, bld: r.Bld, unit: r.Unit,
		room: r.Room, floor: r.Floor, low: r.Low, high: r.High}
}

// countState returns what counting the dwelling in slot p needs: its
// place, area, building and flags, not its id, unit, room or floor (each
// column read is a cache miss in a large city).
func (st *state) countState(p uint32) dstate {
	low, high := st.flagBits(p)
	return dstate{exists: true, lon: st.lon[p], lat: st.lat[p], area: st.area[p], bld: st.bld[p], low: low, high: high}
}

// nowState returns dwelling did's current state (exists false once
// deleted): whole with rooms, else only what counting needs (countState).
func (st *state) nowState(did uint32, rooms bool) dstate {
	if int(did) >= len(st.slotOf) || st.slotOf[did] < 0 {
		return dstate{}
	}
	if !rooms {
		return st.countState(uint32(st.slotOf[did]))
	}
	return st.stateOf(uint32(st.slotOf[did]))
}

// logChange keeps the change ev in the history log, at time ms: before is
// the dwelling's state before it (exists false for a put that created it).
// Caller is the writer, after applying the change.
func (w *Writer) logChange(st *state, ev *Event, ms int64, before dstate) {
	h := w.hist
	e := history.Entry{Ver: uint64(ev.Version), Ms: ms, DID: ev.did}
	pos := [][2]int32{{before.lon, before.lat}}
	switch ev.Op {
	case OpFlags:
		e.Kind, e.Area, e.Low = history.Flags, before.area, before.low
		// what it flipped: the flags after are then known from the log
		after := (before.low | ev.setFlags.low) &^ ev.clearFlags.low
		e.Flipped, e.FlippedAll = after^before.low, !ev.setFlags.high && !ev.clearFlags.high
	case OpPut:
		p := uint32(st.slotOf[ev.did])
		e.Kind, e.Area = history.Put, st.area[p]
		r := recordOf(before)
		e.Before = &r
		after := [2]int32{st.lon[p], st.lat[p]}
		switch {
		case !before.exists:
			pos = [][2]int32{after}
		case after != pos[0]:
			pos = append(pos, after)
		}
	case OpDelete:
		e.Kind, e.Area = history.Delete, before.area
		r := recordOf(before)
		e.Before = &r
	}
	h.Append(e, pos...)
	if ev.Op == OpFlags {
		h.AppendHigh(before.high)
	}
}

// stateBefore returns the state of dwelling did just before the change of
// version v, and its state now (without its place when stayed and !place,
// with ids, units, rooms and floors when rooms). stayed reports that the
// dwelling has not been put or deleted since v: it was where it is now,
// and every change of it since v is indexed there. Caller holds the read
// lock.
func (e *Engine) stateBefore(st *state, did uint32, v uint64, rooms, place bool) (then, now dstate, stayed bool) {
	h := e.hist
	rec, low, high := h.Before(v)
	if rec != nil {
		return fromRecord(rec), st.nowState(did, rooms), false
	}
	// a flag change: the place is the one the dwelling had then, which is
	// the one before its next put or delete, or its place now
	if s, moved := h.NextPlaceChange(did, v); moved {
		then = fromRecord(h.At(s).Before)
		then.low, then.high = low, high
		return then, st.nowState(did, rooms), false
	}
	if !place && !rooms {
		p := uint32(st.slotOf[did]) // it has not been deleted since
		now.low, now.high = st.flagBits(p)
		now.exists, now.area, now.bld = true, st.area[p], st.bld[p]
	} else {
		now = st.nowState(did, rooms)
	}
	then = now
	then.low, then.high = low, high
	return then, now, true
}

// delta is one dwelling changed since a past version: its state now and
// then. inside reports that both are at a place in pastIn's region, not
// read (lon and lat are zero).
type delta struct {
	did       uint32
	inside    bool
	now, then dstate
}

// past is what a question as of version v needs: the dwellings changed
// since, with their two states, in order of dwelling number.
type past struct {
	v      Version
	deltas []delta
}

// pasts are past answers' lists, reused (a district a day back holds
// thousands of deltas of two states each).
var pasts = sync.Pool{New: func() any { return new(past) }}

// release returns pa to the pool: the caller holds nothing of it.
func (pa *past) release() {
	clear(pa.deltas) // states hold strings and slices
	pa.deltas = pa.deltas[:0]
	pasts.Put(pa)
}

// changed reports whether dwelling did changed since pa.v.
func (pa *past) changed(did uint32) bool {
	_, ok := slices.BinarySearchFunc(pa.deltas, did, func(d delta, did uint32) int { return cmp.Compare(d.did, did) })
	return ok
}

// historyGone is the error for a question before the retained history:
// msg, with the oldest version kept and its time.
func (e *Engine) historyGone(msg string) error {
	return &fault.Error{Kind: fault.HistoryGone, Msg: msg, Oldest: e.hist.Oldest(), OldestTime: time.UnixMilli(e.hist.OldestMs())}
}

// resolve checks at against the retained history. It returns nil for now.
// Caller holds the read lock.
func (e *Engine) resolve(at AsOf) (Version, bool, error) {
	if !at.Set || at.Version >= e.version {
		return e.version, false, nil
	}
	if at.Version < Version(e.hist.Oldest()) {
		return 0, false, e.historyGone("version " + itoa(uint64(at.Version)) + " is older than the retained history; the oldest state kept is version " + itoa(e.hist.Oldest()))
	}
	return at.Version, true, nil
}

// Resolve returns the version an answer as of at gives: at's version, or
// now's when at is unset or not in the past. Before the retained history it
// is a fault.HistoryGone with the oldest version, as every as_of answer is.
func (e *Engine) Resolve(at AsOf) (Version, error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	v, _, err := e.resolve(at)
	return v, err
}

// changeBufs are pastIn's scratch lists, reused.
var changeBufs = sync.Pool{New: func() any { return new(changeBuf) }}

// changeBuf is pastIn's scratch: changes as keys, their sort's scratch,
// and the changes found in a box with their positions.
type changeBuf struct {
	keys, scratch []uint64
	found         []foundChange
	runs          []int
}

// foundChange is a change indexed in a box: its key and the position.
type foundChange struct {
	key      uint64
	lon, lat int32
}

// pastAsk is what a question as of a past version asks pastIn for.
type pastAsk struct {
	// box: only the dwellings changed at a position in it (all when nil);
	// rg: only those at a position in the region, which lies in box
	box *[4]int32
	rg  *region.Region
	// rooms: states with ids, units, rooms and floors (room-state maps),
	// else only what counting needs; building: the buildings of the
	// dwellings found in rg (their places are not read)
	rooms, building bool
}

// pastIn collects the dwellings changed after v that ask names: a
// dwelling's place now and its place at v are both positions its changes
// after v are indexed at, so a dwelling none of whose positions is in the
// region counts neither now nor then. The caller may release the answer.
// Caller holds the read lock.
func (e *Engine) pastIn(st *state, v Version, ask pastAsk) *past {
	// each change as did<<32 | (version − v): one sort puts a dwelling's
	// changes together, its first after v first (fewer than 2³² changes
	// are retained)
	buf := changeBufs.Get().(*changeBuf)
	cs := buf.keys[:0]
	defer func() { buf.keys = cs[:0]; changeBufs.Put(buf) }()
	if ask.box != nil {
		found := buf.found[:0]
		e.hist.Search(*ask.box, uint64(v), func(ver uint64, lon, lat int32) {
			found = append(found, foundChange{key: uint64(e.hist.DID(ver))<<32 | (ver - uint64(v)), lon: lon, lat: lat})
		})
		locate := func(lon, lat int32) bool { return true }
		if ask.rg != nil {
			locate = ask.rg.Locator(len(found))
		}
		for _, f := range found {
			if locate(f.lon, f.lat) {
				cs = append(cs, f.key)
			}
		}
		buf.found = found[:0]
	} else {
		e.hist.Scan(uint64(v), func(ver uint64) {
			if _, kind := e.hist.AreaOf(ver); kind != history.Other { // Other: no dwelling changed
				cs = append(cs, uint64(e.hist.DID(ver))<<32|(ver-uint64(v)))
			}
		})
	}
	buf.scratch = radix.Uint64s(cs, buf.scratch)
	// each dwelling's changes since v as a run of cs, its first first:
	// runs[k] is where the k-th ends
	runs := buf.runs[:0]
	for i := 1; i <= len(cs); i++ {
		if i == len(cs) || cs[i-1]>>32 != cs[i]>>32 {
			runs = append(runs, i)
		}
	}
	defer func() { buf.runs = runs[:0] }()
	n := len(runs)
	pa := pasts.Get().(*past)
	pa.v = v
	pa.deltas = slices.Grow(pa.deltas[:0], n)[:n]
	// a dwelling found in the region and not put or deleted since v is
	// read from the log alone when its flags after its last change are
	// there: its place is in the region, its area that of its changes
	fromLog := ask.rg != nil && !ask.rooms && st.nFlags() <= 64
	fill := func(from, to int) {
		for k := from; k < to; k++ {
			start := 0
			if k > 0 {
				start = runs[k-1]
			}
			first, last := uint64(v)+cs[start]&0xffffffff, uint64(v)+cs[runs[k]-1]&0xffffffff
			dl := &pa.deltas[k]
			dl.did = uint32(cs[start] >> 32)
			if fromLog && e.stayedInLog(dl, cs[start:runs[k]], uint64(v), first, last) {
				if ask.building {
					dl.now.bld = st.bld[st.slotOf[dl.did]]
					dl.then.bld = dl.now.bld
				}
				continue
			}
			// a dwelling that stayed put was found in the region at its
			// one place: where that is need not be read
			dl.then, dl.now, dl.inside = e.stateBefore(st, dl.did, first, ask.rooms, ask.rg == nil)
			dl.inside = dl.inside && ask.rg != nil
		}
	}
	if n < parallelDeltas || runtime.GOMAXPROCS(0) < 2 {
		fill(0, n)
		return pa
	}
	// each state read is a cache miss or two: two cores wait for them
	// side by side
	var half sync.WaitGroup
	half.Go(func() { fill(n/2, n) })
	fill(0, n/2)
	half.Wait()
	return pa
}

// stayedInLog fills dl from the log alone when every change of its
// dwelling found in the region since v (keys, the first of version first,
// the last of version last) is a flags change and the flags after the last
// are known: the dwelling was then where those changes were found, and any
// put or delete of it since v would have been found there too. ok is false
// otherwise, dl untouched. Caller holds the read lock.
func (e *Engine) stayedInLog(dl *delta, keys []uint64, v, first, last uint64) bool {
	h := e.hist
	area, kind := h.AreaOf(first)
	if kind != history.Flags {
		return false
	}
	for _, k := range keys[1:] {
		if _, kind := h.AreaOf(v + k&0xffffffff); kind != history.Flags {
			return false
		}
	}
	after, ok := h.FlagsAfter(last)
	if !ok {
		return false
	}
	_, before, high := h.Before(first)
	if high != nil {
		return false
	}
	dl.then = dstate{exists: true, area: area, low: before}
	dl.now = dstate{exists: true, area: area, low: after}
	dl.inside = true
	return true
}

// parallelDeltas is the number of changed dwellings from which pastIn
// reads their states on two goroutines: waking the other core costs
// microseconds on a virtual machine, a few hundred states' worth. A
// variable for the tests, which lower it to check that path too.
var parallelDeltas = 2048

// contribution adds sign × a dwelling's counts under x to acc (total,
// matched, per flag).
func contribution(acc []int64, d *dstate, x *expr.Expr, sign int64) {
	acc[0] += sign
	if !x.IsTrue() && !x.EvalSet(d.has) {
		return
	}
	acc[1] += sign
	flags := acc[2:]
	for low := d.low; low != 0; low &= low - 1 {
		if f := bits.TrailingZeros64(low); f < len(flags) {
			flags[f] += sign
		}
	}
	for _, f := range d.high {
		if int(f) < len(flags) {
			flags[f] += sign
		}
	}
}

// VersionAt returns the version of the state at time t: that of the last
// change at or before t (now's when t is after the newest). Before the
// retained history it is a fault.HistoryGone with the oldest version.
func (e *Engine) VersionAt(t time.Time) (Version, error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	v, ok := e.hist.VersionAt(t.UnixMilli())
	if !ok {
		return 0, e.historyGone("the time " + t.UTC().Format(time.RFC3339) + " is before the retained history, which starts at " +
			time.UnixMilli(e.hist.OldestMs()).UTC().Format(time.RFC3339Nano) + " (version " + itoa(e.hist.Oldest()) + ")")
	}
	return Version(v), nil
}

// History describes the retained history: the oldest version whose state
// can be asked for and its time, and how many changes are kept.
func (e *Engine) History() (oldest Version, oldestTime time.Time, changes int, bytes int64) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return Version(e.hist.Oldest()), time.UnixMilli(e.hist.OldestMs()), e.hist.Len(), e.hist.Bytes()
}

// LastChange is the version of the newest change (not a load) made to the
// state, whether the history still holds it or not: trimmed by retention,
// or made before the load the history starts from count too. 0 when there
// was none: the state is as loaded. A follower of changes who has the state
// of any version from LastChange on has every change up to the current
// version, or needs none (the versions between are a load's).
func (e *Engine) LastChange() Version {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return Version(e.hist.LastChange())
}

func itoa(v uint64) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			return string(b[i:])
		}
	}
}

// groupKey returns the id of the group of level l a dwelling state belongs
// to (its unit at that level, or its building).
func (st *state) groupKeyOf(l Level, d *dstate) string {
	if l == LevelBuilding {
		return st.blds[d.bld].id
	}
	return st.levels[l].ids[st.areas[d.area][l]]
}

// correctPolygon turns res, the answer of q now, into the answer as of
// pa.v: the changed dwellings inside the region leave with their current
// state and come back with their past one; with q.IDs, res.IDs (the ids
// listed now but those of changed dwellings) gets the ids of the changed
// ones that matched then, sorted, up to q.Limit in all. Caller holds the
// read lock.
func (e *Engine) correctPolygon(st *state, q *PolygonQuery, level Level, x *expr.Expr, pa *past, res *PolygonResult) {
	nf := st.nFlags()
	acc := make([]int64, 2+nf)
	acc[0], acc[1] = res.Total, res.Matched
	copy(acc[2:], res.Flags)
	var groups map[string][]int64
	if q.GroupBy != "" {
		groups = map[string][]int64{}
		for _, g := range res.Groups {
			a := make([]int64, 2+nf)
			a[0], a[1] = g.Total, g.Matched
			copy(a[2:], g.Flags)
			groups[g.ID] = a
		}
	}
	// most changes leave a dwelling where it was: its place is tested once
	locate := q.Region.Locator(2 * len(pa.deltas))
	var then []string // ids of the changed dwellings that matched then
	var lastLon, lastLat int32
	lastIn, tested := false, false
	add := func(d *dstate, sign int64, inside bool) {
		if !d.exists {
			return
		}
		if !inside {
			if !tested || d.lon != lastLon || d.lat != lastLat {
				lastLon, lastLat, lastIn, tested = d.lon, d.lat, locate(d.lon, d.lat), true
			}
			if !lastIn {
				return
			}
		}
		contribution(acc, d, x, sign)
		if q.IDs && sign > 0 && (x.IsTrue() || x.EvalSet(d.has)) {
			then = append(then, d.id)
		}
		if groups != nil {
			k := st.groupKeyOf(level, d)
			a := groups[k]
			if a == nil {
				a = make([]int64, 2+nf)
				groups[k] = a
			}
			contribution(a, d, x, sign)
		}
	}
	for i := range pa.deltas {
		dl := &pa.deltas[i]
		add(&dl.now, -1, dl.inside)
		add(&dl.then, 1, dl.inside)
	}
	res.Total, res.Matched = acc[0], acc[1]
	res.Flags = append(res.Flags[:0], acc[2:]...)
	if q.IDs {
		slices.Sort(then)
		res.IDs = append(res.IDs, then...)
		res.IDs = res.IDs[:min(len(res.IDs), max(q.Limit, 0))]
	}
	if groups != nil {
		res.Groups = res.Groups[:0]
		for id, a := range groups {
			if a[0] != 0 {
				res.Groups = append(res.Groups, Group{Level: level, ID: id, Counts: Counts{Total: a[0], Matched: a[1], Flags: a[2:]}})
			}
		}
		slices.SortFunc(res.Groups, func(a, b Group) int { return cmpString(a.ID, b.ID) })
	}
	res.Version = pa.v
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// addPast moves a changed dwelling's contribution from its current state to
// its past one in the aggregator's cells: key returns a state's cell (ok
// false to leave it out).
func (a *aggregator) addPast(pa *past, x *expr.Expr, key func(d *dstate) (uint64, bool)) {
	for i := range pa.deltas {
		for _, side := range [2]struct {
			d    *dstate
			sign int64
		}{{&pa.deltas[i].now, -1}, {&pa.deltas[i].then, 1}} {
			d := side.d
			if !d.exists {
				continue
			}
			if a.bb != nil && (d.lon < a.bb[0] || d.lon > a.bb[2] || d.lat < a.bb[1] || d.lat > a.bb[3]) {
				continue
			}
			k, ok := key(d)
			if !ok {
				continue
			}
			j := a.acc.slot(k)
			contribution(a.acc.acc[j*(2+a.st.nFlags()):(j+1)*(2+a.st.nFlags())], d, x, side.sign)
			if side.sign > 0 {
				a.acc.grow(j, [4]int32{d.lon, d.lat, d.lon, d.lat})
			}
		}
	}
}

// pastDwellings returns the states of the dwellings of building bi as of
// pa.v, those keep accepts (all when nil), in room-state order: floor from
// the top, unit, room, id.
func (st *state) pastDwellings(bi uint32, pa *past, keep func(d *dstate) bool) []dstate {
	var out []dstate
	for _, p := range st.blds[bi].slots {
		if pa.changed(st.did[p]) {
			continue
		}
		d := st.stateOf(p)
		if keep == nil || keep(&d) {
			out = append(out, d)
		}
	}
	for i := range pa.deltas {
		d := &pa.deltas[i].then
		if d.exists && d.bld == bi && (keep == nil || keep(d)) {
			out = append(out, *d)
		}
	}
	slices.SortFunc(out, func(a, b dstate) int {
		if a.floor != b.floor {
			return int(b.floor) - int(a.floor)
		}
		for _, pair := range [2][2]uint32{{a.unit, b.unit}, {a.room, b.room}} {
			if pair[0] == pair[1] {
				continue
			}
			if naturalLess(st.strs.strs[pair[0]], st.strs.strs[pair[1]]) {
				return -1
			}
			return 1
		}
		if naturalLess(a.id, b.id) {
			return -1
		} else if naturalLess(b.id, a.id) {
			return 1
		}
		return 0
	})
	return out
}

// pastBuildingMap lays out the room-state map of building bi as of pa.v;
// ok is false when it had no dwelling (of those keep accepts) then.
func (st *state) pastBuildingMap(bi uint32, sc *scheme.Compiled, pa *past, keep func(d *dstate) bool) (BuildingMap, bool) {
	ds := st.pastDwellings(bi, pa, keep)
	if len(ds) == 0 {
		return BuildingMap{}, false
	}
	b := &st.blds[bi]
	var sx, sy int64
	for i := range ds {
		sx += int64(ds[i].lon)
		sy += int64(ds[i].lat)
	}
	at := st.areas[ds[0].area]
	m := BuildingMap{Building: BuildingInfo{ID: b.id, FeatureID: b.fid,
		Lon: int32(roundDiv(sx, int64(len(ds)))), Lat: int32(roundDiv(sy, int64(len(ds)))),
		District: st.levels[LevelDistrict].ids[at[LevelDistrict]], Street: st.levels[LevelStreet].ids[at[LevelStreet]],
		Community: st.levels[LevelCommunity].ids[at[LevelCommunity]], Grid: st.levels[LevelGrid].ids[at[LevelGrid]],
		Total: len(ds)}}
	counts := make([]int, len(sc.Rules)+1)
	nf := st.nFlags()
	for i := range ds {
		d := &ds[i]
		var flags []FlagID
		for f := 0; f < nf; f++ {
			if d.has(FlagID(f)) {
				flags = append(flags, FlagID(f))
			}
		}
		state := sc.StateOf(d.has)
		counts[state]++
		if len(m.Floors) == 0 || m.Floors[len(m.Floors)-1].Floor != d.floor {
			m.Floors = append(m.Floors, Floor{Floor: d.floor})
		}
		fl := &m.Floors[len(m.Floors)-1]
		fl.Rooms = append(fl.Rooms, Room{ID: d.id, Unit: st.strs.strs[d.unit], Room: st.strs.strs[d.room], Flags: flags, State: state})
	}
	for i := range counts {
		m.Legend = append(m.Legend, LegendEntry{Rule: *sc.Rule(i), Count: counts[i]})
	}
	return m, true
}

// SeriesQuery asks for the counts of a unit (Level, ID) or of the whole city
// (Level "") at instants.
type SeriesQuery struct {
	Level string
	ID    string
	Where string
	At    []time.Time
}

// SeriesPoint is the counts as of one instant, and the version they are of.
type SeriesPoint struct {
	Time    time.Time
	Version Version
	Counts
}

// Series answers q: the counts as of each instant, in the order given. It
// undoes the changes of the unit's dwellings since its first instant, each
// dwelling's newest first, into the points before them, so a series costs
// the unit's changes since its first instant.
func (e *Engine) Series(q SeriesQuery) ([]SeriesPoint, []string, error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	st := e.st
	x, err := e.parseWhere(st, q.Where)
	if err != nil {
		return nil, nil, err
	}
	level, u := Level(0), uint32(0)
	city := q.Level == ""
	if !city {
		if level, err = ParseLevel(q.Level); err != nil || level == LevelBuilding {
			return nil, nil, fault.New(fault.BadRequest, "level must be district, street, community or grid (or none for the city)")
		}
		var ok bool
		if u, ok = st.levels[level].index[q.ID]; !ok || q.ID == "" {
			return nil, nil, fault.New(fault.NotFound, "%s %q not found", level, q.ID)
		}
	}
	in := func(area uint32) bool { return city || st.areas[area][level] == u }
	points := make([]SeriesPoint, len(q.At))
	order := make([]int, len(q.At)) // points by version, newest first
	for i, t := range q.At {
		v, ok := e.hist.VersionAt(t.UnixMilli())
		if !ok {
			return nil, nil, e.historyGone("the series starts at " + t.UTC().Format(time.RFC3339) + ", before the retained history (which starts at " +
				time.UnixMilli(e.hist.OldestMs()).UTC().Format(time.RFC3339Nano) + ")")
		}
		points[i] = SeriesPoint{Time: t, Version: min(Version(v), e.version)}
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return int(points[b].Version) - int(points[a].Version) })
	// the counts now
	nf := st.nFlags()
	acc := make([]int64, 2+nf)
	if city {
		e.ranks.view(st, x).addRange(st, 0, uint32(st.n), acc)
	} else {
		a, err := e.newAggregator(st, q.Where, nil)
		if err != nil {
			return nil, nil, err
		}
		c := a.unitCounts(level, u)
		acc[0], acc[1] = c.Total, c.Matched
		copy(acc[2:], c.Flags)
	}
	if len(order) == 0 {
		return points, st.flagNames, nil
	}
	// the changes to undo: all since the oldest point for the city, those
	// of the unit's areas for a unit; each as did<<32 | (version − oldest),
	// sorted, so that a dwelling's changes are together and walked newest
	// first, each one's state after it the state before the next
	oldest := points[order[len(order)-1]].Version
	h := e.hist
	var keys []uint64
	add := func(v uint64) { keys = append(keys, uint64(h.DID(v))<<32|(v-uint64(oldest))) }
	if city {
		h.Scan(uint64(oldest), func(v uint64) {
			if _, kind := h.AreaOf(v); kind != history.Other {
				add(v)
			}
		})
	} else { // a unit's areas list no change of no dwelling
		var areas []uint32
		for a := range st.areas {
			if st.areas[a][level] == u {
				areas = append(areas, uint32(a))
			}
		}
		h.EachInAreas(areas, uint64(oldest), add)
	}
	radix.Uint64s(keys, nil)
	// a change of version v is undone in every point before it: its
	// effect goes into the bucket of the newest such point (points by
	// version, newest first), and each point adds up the buckets to it
	nc := 2 + nf
	buckets := make([]int64, len(order)*nc)
	bucketOf := func(v uint64) int {
		return sort.Search(len(order), func(k int) bool { return uint64(points[order[k]].Version) < v })
	}
	fromLog := nf <= 64 // a dwelling's flags after a flags change are in the log
	for end := len(keys); end > 0; {
		did := uint32(keys[end-1] >> 32)
		start := end - 1
		for start > 0 && uint32(keys[start-1]>>32) == did {
			start--
		}
		var after dstate
		var afterIn bool // after is in the unit
		for i := end - 1; i >= start; i-- {
			if i < end-1 && keys[i] == keys[i+1] {
				continue // a move between two of the unit's areas, listed under both
			}
			v := uint64(oldest) + keys[i]&0xffffffff
			// a flags change is listed under the area the dwelling was in,
			// one of the unit's: it was in the unit before and after it
			rec, low, high := h.Before(v)
			if i == end-1 {
				// the dwelling's newest change in the unit: the state after
				// it is the state now, or outside the unit (a newer change
				// of a dwelling in the unit would be listed)
				if fa, ok := h.FlagsAfter(v); ok && fromLog {
					after, afterIn = dstate{exists: true, low: fa}, true
				} else {
					after = st.nowState(did, false)
					afterIn = after.exists && in(after.area)
				}
			}
			before, beforeIn := after, afterIn
			if rec != nil {
				before = fromRecord(rec)
				beforeIn = before.exists && in(before.area)
			} else {
				before.low, before.high = low, high
			}
			if b := bucketOf(v); b < len(order) {
				d := buckets[b*nc : (b+1)*nc]
				if afterIn {
					contribution(d, &after, x, -1)
				}
				if beforeIn {
					contribution(d, &before, x, 1)
				}
			}
			after, afterIn = before, beforeIn
		}
		end = start
	}
	for k := range order {
		for j, d := range buckets[k*nc : (k+1)*nc] {
			acc[j] += d
		}
		p := &points[order[k]]
		p.Counts = Counts{Total: acc[0], Matched: acc[1], Flags: slices.Clone(acc[2:])}
	}
	return points, st.flagNames, nil
}
