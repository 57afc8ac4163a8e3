package answer

import (
	"strconv"
	"strings"
	"time"

	"github.com/roomstate/roomstate/engine"
	"github.com/roomstate/roomstate/fault"
	"github.com/roomstate/roomstate/printmap"
	"github.com/roomstate/roomstate/privacy"
)

// MediaSVG is the media type of printable room-state maps.
const MediaSVG = "image/svg+xml; charset=utf-8"

// BuildingRoomStateSVG answers GET /api/v1/buildings/{id}/roomstate.svg
// (?scheme=, ?as_of=, ?lang=): the building's room-state map as a printable
// sheet (package printmap), from the same map as the JSON answer.
func (a *Answers) BuildingRoomStateSVG(id string, q Query, c *Caller) ([]byte, error) {
	if err := c.need(Analyst); err != nil {
		return nil, err
	}
	l, err := parseLang(q.Get("lang"))
	if err != nil {
		return nil, err
	}
	at, err := a.asOf("as_of", q.Get("as_of"))
	if err != nil {
		return nil, err
	}
	m, err := a.eng.BuildingRoomState(id, schemeName(q), at)
	if err != nil {
		return nil, err
	}
	pol := a.Policy(c)
	bi := &m.Buildings[0].Building
	sh := a.sheet(m, schemeName(q), pol, l)
	if l == en {
		sh.Title = "Building " + id + " room-state map"
	} else {
		sh.Title = "楼栋 " + id + " 房态图"
	}
	sh.Subtitle = joinDot(
		a.unitLabel(engine.LevelGrid, bi.Grid, l), a.unitLabel(engine.LevelCommunity, bi.Community, l),
		a.unitLabel(engine.LevelStreet, bi.Street, l), a.unitLabel(engine.LevelDistrict, bi.District, l))
	return sh.SVG(), nil
}

// UnitRoomStateSVG answers GET /api/v1/units/{level}/{id}/roomstate.svg:
// every building of the unit on A3 pages, with the unit's legend.
func (a *Answers) UnitRoomStateSVG(levelName, id string, q Query, c *Caller) ([]byte, error) {
	if err := c.need(Analyst); err != nil {
		return nil, err
	}
	level, err := engine.ParseLevel(levelName)
	if err != nil {
		return nil, fault.New(fault.BadRequest, "%v", err)
	}
	l, err := parseLang(q.Get("lang"))
	if err != nil {
		return nil, err
	}
	at, err := a.asOf("as_of", q.Get("as_of"))
	if err != nil {
		return nil, err
	}
	m, err := a.eng.UnitRoomState(level, id, schemeName(q), at)
	if err != nil {
		return nil, err
	}
	pol := a.Policy(c)
	sh := a.sheet(m, schemeName(q), pol, l)
	name := a.unitLabel(level, id, l)
	if l == en {
		sh.Title = name + " room-state map"
	} else {
		sh.Title = name + " 房态图"
	}
	// where the unit is: its parents, as its first building has them
	var parents []string
	if len(m.Buildings) > 0 {
		bi := &m.Buildings[0].Building
		ids := [...]string{bi.District, bi.Street, bi.Community}
		for lv := level - 1; lv >= engine.LevelDistrict && lv < level; lv-- {
			parents = append(parents, a.unitLabel(lv, ids[lv], l))
		}
	}
	dwellings := 0
	for i := range m.Buildings {
		dwellings += m.Buildings[i].Building.Total
	}
	size := strconv.Itoa(len(m.Buildings)) + " 栋楼 · " + shownText(pol.Value(int64(dwellings))) + " 户"
	if l == en {
		size = strconv.Itoa(len(m.Buildings)) + " buildings · " + shownText(pol.Value(int64(dwellings))) + " dwellings"
	}
	sh.Subtitle = joinDot(append(parents, size)...)
	// a community's (or larger unit's) buildings name their grid
	if level < engine.LevelGrid {
		for i := range sh.Buildings {
			sh.Buildings[i].Detail = joinDot(m.Buildings[i].Building.Grid, sh.Buildings[i].Detail)
		}
	}
	return sh.SVG(), nil
}

// sheet lays a room-state map out for printmap: rooms in the scheme's
// states and colours, as the JSON answer has them, and the legend summed
// over the map's buildings, its counts through the caller's policy.
func (a *Answers) sheet(m *engine.RoomStateMap, schemeName string, pol privacy.Policy, l lang) *printmap.Sheet {
	sc := &m.Scheme
	sh := &printmap.Sheet{Scheme: schemeName, Version: uint64(m.Version), Printed: time.Now().In(a.opts.TZ)}
	if l == en {
		sh.Lang = printmap.EN
	}
	if t, ok := a.eng.TimeOf(m.Version); ok {
		sh.Time = t.In(a.opts.TZ)
	}
	ruleLabel := func(r *engine.LegendEntry) string {
		if l == en && r.LabelEN != "" {
			return r.LabelEN
		}
		return r.Label
	}
	zhFlag := a.flagLabels(engine.At(m.Version)) // the default scheme's, as of the map
	flagLabel := func(f string) string {
		if l == zh && zhFlag[f] != "" {
			return zhFlag[f]
		}
		return f
	}
	var counts []int64
	sh.Buildings = make([]printmap.Building, len(m.Buildings))
	for i := range m.Buildings {
		bm := &m.Buildings[i]
		b := &sh.Buildings[i]
		b.ID = bm.Building.ID
		if l == en {
			b.Detail = shownText(pol.Value(int64(bm.Building.Total))) + " dwellings"
		} else {
			b.Detail = shownText(pol.Value(int64(bm.Building.Total))) + " 户"
		}
		if counts == nil {
			counts = make([]int64, len(bm.Legend))
		}
		for j := range bm.Legend {
			if j < len(counts) {
				counts[j] += int64(bm.Legend[j].Count)
			}
		}
		b.Floors = make([]printmap.Floor, len(bm.Floors))
		for j := range bm.Floors {
			fl := &bm.Floors[j]
			pf := &b.Floors[j]
			pf.Floor, pf.Known = int(fl.Floor), fl.Floor != engine.NoFloor
			pf.Rooms = make([]printmap.Room, len(fl.Rooms))
			for k := range fl.Rooms {
				r := &fl.Rooms[k]
				rule := &sc.Default
				if r.State < len(sc.Rules) {
					rule = &sc.Rules[r.State]
				}
				pr := &pf.Rooms[k]
				*pr = printmap.Room{ID: r.ID, Unit: r.Unit, Room: r.Room, State: rule.State, Color: rule.Color, Shape: rule.Shape}
				for _, f := range r.Flags {
					pr.Flags = append(pr.Flags, m.FlagNames[f])
					pr.FlagLabels = append(pr.FlagLabels, flagLabel(m.FlagNames[f]))
				}
			}
		}
	}
	// the legend: every state of the scheme, counted over the sheet
	for i := 0; i <= len(sc.Rules); i++ {
		rule := &sc.Default
		if i < len(sc.Rules) {
			rule = &sc.Rules[i]
		}
		var n int64
		if i < len(counts) {
			n = counts[i]
		}
		sh.Legend = append(sh.Legend, printmap.LegendEntry{State: rule.State, Label: ruleLabel(&engine.LegendEntry{Rule: *rule}),
			Color: rule.Color, Shape: rule.Shape, Count: pol.Value(n)})
	}
	return sh
}

// unitLabel names a unit for a title: its level and id, and its name when
// that says more (网格 G00012（梅园居委会第一网格）). "" for no unit.
func (a *Answers) unitLabel(lv engine.Level, id string, l lang) string {
	if id == "" {
		return ""
	}
	s := levelName(lv, l, false) + " " + id
	if l == en {
		s = strings.ToUpper(s[:1]) + s[1:]
	}
	if u, err := a.eng.Unit(engine.UnitsQuery{Level: lv.String(), ID: id}); err == nil && u.Name != "" && u.Name != id {
		if l == en {
			s += " (" + u.Name + ")"
		} else {
			s += "（" + u.Name + "）"
		}
	}
	return s
}

// joinDot joins the non-empty parts with a middle dot.
func joinDot(parts ...string) string {
	out := ""
	for _, p := range parts {
		if p == "" {
			continue
		}
		if out != "" {
			out += " · "
		}
		out += p
	}
	return out
}

// shownText writes a count as shown: the number, or a dash when withheld.
func shownText(v privacy.Value) string {
	if v.Withheld {
		return "—"
	}
	return strconv.FormatInt(v.N, 10)
}
