package engine

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Rule is one entry of a colour scheme: dwellings for which When holds get
// State, drawn in Color with Shape. The default rule has no When.
type Rule struct {
	State   string `json:"state" msgpack:"state"`
	When    string `json:"when,omitempty" msgpack:"when,omitempty"`
	Label   string `json:"label" msgpack:"label"`
	LabelEN string `json:"label_en,omitempty" msgpack:"label_en,omitempty"`
	Color   string `json:"color" msgpack:"color"`
	Shape   string `json:"shape" msgpack:"shape"`
}

// Scheme is an ordered list of rules (图例): the first rule whose expression
// holds gives a dwelling its state; Default applies when none does.
type Scheme struct {
	Rules   []Rule `json:"rules" msgpack:"rules"`
	Default Rule   `json:"default" msgpack:"default"`
}

// DefaultScheme returns the built-in scheme of API.md.
func DefaultScheme() Scheme {
	return Scheme{
		Rules: []Rule{
			{State: "isolated", When: "isolated", Label: "居家隔离", LabelEN: "Home isolation", Color: "#d7191c", Shape: "square"},
			{State: "elderly_alone", When: "elderly_alone", Label: "独居老人", LabelEN: "Elderly living alone", Color: "#fdae61", Shape: "triangle"},
			{State: "rental", When: "rental", Label: "出租", LabelEN: "Rental", Color: "#2c7bb6", Shape: "diamond"},
			{State: "vaccinated", When: "vaccinated", Label: "已接种", LabelEN: "Vaccinated", Color: "#1a9641", Shape: "circle"},
		},
		Default: Rule{State: "normal", Label: "常住", LabelEN: "Resident", Color: "#bdbdbd", Shape: "circle"},
	}
}

// Shapes a rule may use.
var Shapes = []string{"circle", "square", "triangle", "diamond", "star", "cross"}

var (
	colorRE  = regexp.MustCompile(`^#([0-9a-fA-F]{3}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})$`)
	nameRE   = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)
	maxRules = 64
)

// ValidSchemeName reports whether name can name a scheme: 1–64 of A–Z a–z
// 0–9 _ . -.
func ValidSchemeName(name string) bool { return nameRE.MatchString(name) }

// scheme is a compiled Scheme.
type scheme struct {
	def   Scheme
	rules []*Expr
}

// compileScheme checks a scheme against st's flags.
func compileScheme(st *state, name string, sc Scheme) (*scheme, error) {
	if !ValidSchemeName(name) {
		return nil, fmt.Errorf("scheme name %q: use 1-64 letters, digits, '_', '.', '-'", name)
	}
	if len(sc.Rules) > maxRules {
		return nil, fmt.Errorf("scheme has %d rules; the limit is %d", len(sc.Rules), maxRules)
	}
	c := &scheme{def: sc}
	seen := map[string]bool{}
	check := func(where string, r Rule) error {
		if r.State == "" {
			return fmt.Errorf("%s: state is empty", where)
		}
		if seen[r.State] {
			return fmt.Errorf("%s: state %q appears twice", where, r.State)
		}
		seen[r.State] = true
		if !colorRE.MatchString(r.Color) {
			return fmt.Errorf("%s: color %q is not #rgb, #rrggbb or #rrggbbaa", where, r.Color)
		}
		if !slices.Contains(Shapes, r.Shape) {
			return fmt.Errorf("%s: shape %q is not one of %s", where, r.Shape, strings.Join(Shapes, ", "))
		}
		return nil
	}
	for i, r := range sc.Rules {
		where := fmt.Sprintf("rules[%d]", i)
		if err := check(where, r); err != nil {
			return nil, err
		}
		if strings.TrimSpace(r.When) == "" {
			return nil, fmt.Errorf("%s.when is empty; use the default rule for dwellings no rule matches", where)
		}
		x, err := ParseExpr(r.When, st.flagLookup)
		if err != nil {
			if name == "default" {
				// the built-in scheme names the built-in flags; data without
				// them simply never matches those rules
				x = &Expr{canon: "false", prog: []instr{{op: opFalse}}, depth: 1}
			} else {
				return nil, fmt.Errorf("%s.when: %v", where, err)
			}
		}
		c.rules = append(c.rules, x)
	}
	if err := check("default", sc.Default); err != nil {
		return nil, err
	}
	return c, nil
}

// stateOf returns the index of the first rule that holds for a dwelling whose
// flags has reports, len(rules) for the default.
func (c *scheme) stateOf(has func(FlagID) bool) int {
	for i, x := range c.rules {
		if x.EvalSet(has) {
			return i
		}
	}
	return len(c.rules)
}

// rule returns rule i, the default for len(rules).
func (c *scheme) rule(i int) *Rule {
	if i < len(c.def.Rules) {
		return &c.def.Rules[i]
	}
	return &c.def.Default
}

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
func (e *Engine) Scheme(name string) (Scheme, bool) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	c, ok := e.schemes[name]
	if !ok {
		return Scheme{}, false
	}
	return c.def, true
}

// CheckScheme reports whether PutScheme would accept the scheme: a
// *QueryError of code bad_scheme says why not.
func (e *Engine) CheckScheme(name string, sc Scheme) error {
	e.mu.RLock()
	defer e.mu.RUnlock()
	_, err := compileScheme(e.st, name, sc)
	return badScheme(err)
}

// badScheme types a scheme's check failure for callers (nil stays nil).
func badScheme(err error) error {
	if err == nil {
		return nil
	}
	return &QueryError{Code: "bad_scheme", Message: err.Error()}
}

// PutScheme adds or replaces a scheme. Its rules' expressions must name known
// flags; a *QueryError of code bad_scheme says why a scheme is refused.
func (e *Engine) PutScheme(name string, sc Scheme) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	c, err := compileScheme(e.st, name, sc)
	if err != nil {
		return badScheme(err)
	}
	e.schemes[name] = c
	e.st.gen = generations.Add(1) // cached tiles may show this scheme
	return nil
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
	Rule
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
	Scheme    Scheme // the scheme the states index: Rules, then Default
	Version   Version
}

// NotFoundError reports an unknown building, unit, dwelling or scheme.
type NotFoundError struct{ What string }

func (e *NotFoundError) Error() string { return e.What + " not found" }

// BuildingRoomState returns the room-state map of one building under the
// named scheme.
func (e *Engine) BuildingRoomState(id, schemeName string) (*RoomStateMap, error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	st := e.st
	sc, ok := e.schemes[schemeName]
	if !ok {
		return nil, &NotFoundError{What: fmt.Sprintf("scheme %q", schemeName)}
	}
	bi, ok := st.bldIdx[id]
	if !ok || len(st.blds[bi].slots) == 0 {
		return nil, &NotFoundError{What: fmt.Sprintf("building %q", id)}
	}
	out := &RoomStateMap{FlagNames: st.flagNames, Scheme: sc.def, Version: e.version}
	out.Buildings = []BuildingMap{st.buildingMap(bi, sc, nil)}
	return out, nil
}

// UnitRoomState returns the room-state maps of every building of a grid or
// community (any area level), with only the dwellings of that unit.
func (e *Engine) UnitRoomState(level Level, id, schemeName string) (*RoomStateMap, error) {
	if level >= LevelBuilding {
		return nil, &QueryError{Code: "bad_request", Message: "level must be district, street, community or grid"}
	}
	e.mu.RLock()
	defer e.mu.RUnlock()
	st := e.st
	sc, ok := e.schemes[schemeName]
	if !ok {
		return nil, &NotFoundError{What: fmt.Sprintf("scheme %q", schemeName)}
	}
	u, ok := st.levels[level].index[id]
	if !ok || id == "" {
		return nil, &NotFoundError{What: fmt.Sprintf("%s %q", level, id)}
	}
	out := &RoomStateMap{FlagNames: st.flagNames, Scheme: sc.def, Version: e.version}
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
	slices.SortFunc(out.Buildings, func(a, b BuildingMap) int {
		if naturalLess(a.Building.ID, b.Building.ID) {
			return -1
		}
		if naturalLess(b.Building.ID, a.Building.ID) {
			return 1
		}
		return 0
	})
	return out, nil
}

func (st *state) buildingInfo(bi uint32) BuildingInfo {
	b := &st.blds[bi]
	at := st.areas[b.area]
	return BuildingInfo{ID: b.id, FeatureID: b.fid, Lon: b.lon, Lat: b.lat,
		District: st.levels[LevelDistrict].ids[at[LevelDistrict]], Street: st.levels[LevelStreet].ids[at[LevelStreet]],
		Community: st.levels[LevelCommunity].ids[at[LevelCommunity]], Grid: st.levels[LevelGrid].ids[at[LevelGrid]],
		Total: len(b.slots)}
}

// buildingMap lays out a building's dwellings (those keep accepts; all when
// nil) floor by floor.
func (st *state) buildingMap(bi uint32, sc *scheme, keep func(uint32) bool) BuildingMap {
	b := &st.blds[bi]
	m := BuildingMap{Building: st.buildingInfo(bi)}
	counts := make([]int, len(sc.rules)+1)
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
			state = sc.stateOf(func(f FlagID) bool { return st.hasFlag(pp, f) })
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
		m.Legend = append(m.Legend, LegendEntry{Rule: *sc.rule(i), Count: counts[i]})
	}
	return m
}
