package engine

import (
	"slices"

	"github.com/roomstate/roomstate/fault"
	"github.com/roomstate/roomstate/scheme"
)

// Schemes returns the names of the schemes, sorted.
func (e *Engine) Schemes() []string {
	e.mu.RLock()
	defer e.mu.RUnlock()
	names := make([]string, 0, len(e.schemes))
	for n := range e.schemes {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Scheme returns the named scheme.
func (e *Engine) Scheme(name string) (scheme.Scheme, bool) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	c, ok := e.schemes[name]
	if !ok {
		return scheme.Scheme{}, false
	}
	return c.Def, true
}

// AllSchemes returns every scheme by name, read at one moment.
func (e *Engine) AllSchemes() map[string]scheme.Scheme {
	e.mu.RLock()
	defer e.mu.RUnlock()
	out := make(map[string]scheme.Scheme, len(e.schemes))
	for n, c := range e.schemes {
		out[n] = c.Def
	}
	return out
}

// schemeNamed returns a compiled scheme or a fault.NotFound. Caller holds
// the read lock.
func (e *Engine) schemeNamed(name string) (*scheme.Compiled, error) {
	sc, ok := e.schemes[name]
	if !ok {
		return nil, fault.New(fault.NotFound, "scheme %q not found", name)
	}
	return sc, nil
}

// BuildingInfo describes a building.
type BuildingInfo struct {
	ID        string
	FeatureID uint64
	Lon, Lat  int32 // fixed point
	District  string
	Street    string
	Community string
	Grid      string
	Total     int
	// Responsible is who answers for the building (nil: nobody), and
	// LastVisit its last recorded visit (nil: none): in a map as of a past
	// version, as they were then.
	Responsible *Assignment
	LastVisit   *Visit
}

// Room is one dwelling in a room-state map.
type Room struct {
	ID    string
	Unit  string
	Room  string
	Flags []FlagID
	State int // index into the scheme's rules; len(rules) = default
}

// Floor is one floor of a room-state map, rooms in unit then room order.
type Floor struct {
	Floor int16 // NoFloor when unknown
	Rooms []Room
}

// LegendEntry is a state of the scheme with its count in the map.
type LegendEntry struct {
	scheme.Rule
	Count int
}

// BuildingMap is the room-state map (房态图) of one building.
type BuildingMap struct {
	Building BuildingInfo
	Floors   []Floor // top floor first; unknown floor last
	Legend   []LegendEntry
}

// RoomStateMap is the answer of a room-state query.
type RoomStateMap struct {
	Buildings []BuildingMap
	FlagNames []string
	Scheme    scheme.Scheme // the scheme the states index: Rules, then Default
	Version   Version
}

// BuildingRoomState returns the room-state map of one building under the
// named scheme (as it was then, as of a past version: a scheme made later
// is not found).
func (e *Engine) BuildingRoomState(id, schemeName string, at AsOf) (*RoomStateMap, error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	st := e.st
	sc, err := e.schemeNamed(schemeName)
	if err != nil {
		return nil, err
	}
	v, isPast, err := e.resolve(at)
	if err != nil {
		return nil, err
	}
	if sc, err = e.schemeAsOf(schemeName, v, isPast); err != nil { // the scheme as it was then
		return nil, err
	}
	bi, ok := st.bldIdx[id]
	out := &RoomStateMap{FlagNames: st.flagNames, Scheme: sc.Def, Version: v}
	if ok && isPast {
		// the building's dwellings then: those here now and unchanged, and
		// the changed ones that were here then, wherever they are now
		pa := e.pastIn(st, v, pastAsk{rooms: true})
		if m, ok := st.pastBuildingMap(bi, sc, pa, nil); ok {
			out.Buildings = []BuildingMap{m}
			e.annotatePast(st, out.Buildings, pa)
			return out, nil
		}
		ok = false
	}
	if !ok || len(st.blds[bi].slots) == 0 {
		return nil, fault.New(fault.NotFound, "building %q not found", id)
	}
	out.Buildings = []BuildingMap{st.buildingMap(bi, sc, nil)}
	e.annotate(st, &out.Buildings[0].Building)
	return out, nil
}

// UnitRoomState returns the room-state maps of every building of a grid or
// community (any area level), with only the dwellings of that unit.
func (e *Engine) UnitRoomState(level Level, id, schemeName string, at AsOf) (*RoomStateMap, error) {
	if level >= LevelBuilding {
		return nil, fault.New(fault.BadRequest, "level must be district, street, community or grid")
	}
	e.mu.RLock()
	defer e.mu.RUnlock()
	st := e.st
	sc, err := e.schemeNamed(schemeName)
	if err != nil {
		return nil, err
	}
	u, ok := st.levels[level].index[id]
	if !ok || id == "" {
		return nil, fault.New(fault.NotFound, "%s %q not found", level, id)
	}
	v, isPast, err := e.resolve(at)
	if err != nil {
		return nil, err
	}
	if sc, err = e.schemeAsOf(schemeName, v, isPast); err != nil { // the scheme as it was then
		return nil, err
	}
	out := &RoomStateMap{FlagNames: st.flagNames, Scheme: sc.Def, Version: v}
	if isPast {
		pa := e.pastIn(st, v, pastAsk{rooms: true})
		keep := func(d *dstate) bool { return st.areas[d.area][level] == u }
		for bi := range st.blds {
			if m, ok := st.pastBuildingMap(uint32(bi), sc, pa, keep); ok {
				out.Buildings = append(out.Buildings, m)
			}
		}
		sortMaps(out.Buildings)
		e.annotatePast(st, out.Buildings, pa)
		return out, nil
	}
	for bi := range st.blds {
		b := &st.blds[bi]
		if len(b.slots) == 0 {
			continue
		}
		if !b.mixed {
			if st.areas[b.area][level] == u {
				out.Buildings = append(out.Buildings, st.buildingMap(uint32(bi), sc, nil))
			}
			continue
		}
		keep := func(p uint32) bool { return st.areas[st.area[p]][level] == u }
		if slices.ContainsFunc(b.slots, keep) {
			out.Buildings = append(out.Buildings, st.buildingMap(uint32(bi), sc, keep))
		}
	}
	sortMaps(out.Buildings)
	for i := range out.Buildings {
		e.annotate(st, &out.Buildings[i].Building)
	}
	return out, nil
}

// annotatePast gives the buildings of maps as of pa.v their own units,
// who answered for them and their last visits then. Caller holds the read
// lock.
func (e *Engine) annotatePast(st *state, maps []BuildingMap, pa *past) {
	ra, touched := e.respAsOf(pa.v), touchedBy(pa)
	for i := range maps {
		info := &maps[i].Building
		bi := st.bldIdx[info.ID]
		home := st.pastHome(bi, pa, touched)
		info.District, info.Street = st.levels[LevelDistrict].ids[home[LevelDistrict]], st.levels[LevelStreet].ids[home[LevelStreet]]
		info.Community, info.Grid = st.levels[LevelCommunity].ids[home[LevelCommunity]], st.levels[LevelGrid].ids[home[LevelGrid]]
		ra.annotate(st, info, bi, &home)
	}
}

// sortMaps orders building maps by building id, naturally.
func sortMaps(ms []BuildingMap) {
	slices.SortFunc(ms, func(a, b BuildingMap) int {
		if naturalLess(a.Building.ID, b.Building.ID) {
			return -1
		}
		if naturalLess(b.Building.ID, a.Building.ID) {
			return 1
		}
		return 0
	})
}

func (st *state) buildingInfo(bi uint32) BuildingInfo {
	b := &st.blds[bi]
	at := b.home // a building's own units: most of its dwellings are in them
	return BuildingInfo{ID: b.id, FeatureID: b.fid, Lon: b.lon, Lat: b.lat,
		District: st.levels[LevelDistrict].ids[at[LevelDistrict]], Street: st.levels[LevelStreet].ids[at[LevelStreet]],
		Community: st.levels[LevelCommunity].ids[at[LevelCommunity]], Grid: st.levels[LevelGrid].ids[at[LevelGrid]],
		Total: len(b.slots)}
}

// buildingMap lays out a building's dwellings (those keep accepts; all when
// nil) floor by floor.
func (st *state) buildingMap(bi uint32, sc *scheme.Compiled, keep func(uint32) bool) BuildingMap {
	b := &st.blds[bi]
	m := BuildingMap{Building: st.buildingInfo(bi)}
	counts := make([]int, len(sc.Rules)+1)
	nf := st.nFlags()
	flagBuf := make([]FlagID, 0, len(b.slots)*2)
	rooms := make([]Room, 0, len(b.slots))
	// memo: the state of a flag combination (first 64 flags)
	type memo struct {
		mask  uint64
		state int
	}
	var memos [16]memo
	nm := 0
	var floors []Floor
	for _, p := range b.slots {
		if keep != nil && !keep(p) {
			continue
		}
		start := len(flagBuf)
		var mask uint64
		for f := 0; f < nf; f++ {
			if st.hasFlag(p, FlagID(f)) {
				flagBuf = append(flagBuf, FlagID(f))
				if f < 64 {
					mask |= 1 << f
				}
			}
		}
		state := -1
		if nf <= 64 {
			for i := 0; i < nm; i++ {
				if memos[i].mask == mask {
					state = memos[i].state
					break
				}
			}
		}
		if state < 0 {
			pp := p
			state = sc.StateOf(func(f FlagID) bool { return st.hasFlag(pp, f) })
			if nf <= 64 && nm < len(memos) {
				memos[nm] = memo{mask, state}
				nm++
			}
		}
		counts[state]++
		fl := st.floor[p]
		if len(floors) == 0 || floors[len(floors)-1].Floor != fl {
			if len(floors) > 0 {
				floors[len(floors)-1].Rooms = rooms[:len(rooms):len(rooms)]
				rooms = rooms[len(rooms):]
			}
			floors = append(floors, Floor{Floor: fl})
		}
		rooms = append(rooms, Room{ID: st.idOf(p), Unit: st.strs.strs[st.unit[p]], Room: st.strs.strs[st.room[p]],
			Flags: flagBuf[start:len(flagBuf):len(flagBuf)], State: state})
	}
	if len(floors) > 0 {
		floors[len(floors)-1].Rooms = rooms
	}
	// unknown floors sort first (NoFloor is the smallest int16, so last in
	// descending order): already last.
	m.Floors = floors
	for i := range counts {
		m.Legend = append(m.Legend, LegendEntry{Rule: *sc.Rule(i), Count: counts[i]})
	}
	return m
}
