package answer

import (
	"encoding/json"
	"math"
	"slices"
	"time"

	"github.com/roomstate/roomstate/engine"
	"github.com/roomstate/roomstate/fault"
	"github.com/roomstate/roomstate/privacy"
	"github.com/roomstate/roomstate/region"
	"github.com/roomstate/roomstate/store"
	"github.com/roomstate/roomstate/tiles"
	"github.com/valyala/fastjson"
)

// MaxVertices bounds the vertices of one request's geometry; larger polygons
// are refused before any work is done.
const MaxVertices = 100_000

// parseBody parses a JSON object body with a pooled parser; the caller
// returns the parser with a.parsers.Put once done with the value.
func (a *Answers) parseBody(body []byte) (*fastjson.Parser, *fastjson.Object, error) {
	if len(body) == 0 {
		return nil, nil, fault.New(fault.BadJSON, "the request has no body; send a JSON object")
	}
	p := a.parsers.Get()
	v, err := p.ParseBytes(body)
	if err != nil {
		a.parsers.Put(p)
		return nil, nil, fault.New(fault.BadJSON, "body is not valid JSON: %v", err)
	}
	o, err := v.Object()
	if err != nil {
		a.parsers.Put(p)
		return nil, nil, fault.New(fault.BadJSON, "body must be a JSON object, not %s", v.Type())
	}
	return p, o, nil
}

func fieldString(v *fastjson.Value, name string) (string, error) {
	if v.Type() == fastjson.TypeNull {
		return "", nil
	}
	b, err := v.StringBytes()
	if err != nil {
		return "", fault.New(fault.BadRequest, "%s must be a string", name)
	}
	return string(b), nil
}

func fieldInt(v *fastjson.Value, name string, lo, hi int) (int, error) {
	f, err := v.Float64()
	if err != nil || v.Type() != fastjson.TypeNumber || f != math.Trunc(f) || f < float64(lo) || f > float64(hi) {
		return 0, fault.New(fault.BadRequest, "%s must be an integer from %d to %d", name, lo, hi)
	}
	return int(f), nil
}

// Polygon answers POST /api/v1/query/polygon.
func (a *Answers) Polygon(body []byte, c *Caller) ([]byte, error) {
	start := time.Now()
	sc := a.scratch()
	var q engine.PolygonQuery
	keep, err := a.readPolygon(body, c, sc, &q)
	if err != nil {
		a.done(sc)
		return nil, err
	}
	q.Deadline = start.Add(a.opts.QueryTimeout)
	if err := a.eng.PolygonStats(&q, &sc.res); err != nil {
		a.done(sc)
		return nil, err
	}
	if keep {
		a.regions.Add(sc.geomText, sc.geom.mp, q.Area)
	}
	w := &sc.w
	w.byte('{')
	writePolygonAnswer(w, a.Policy(c), &sc.res, &q)
	finish(w, sc.res.Version, start)
	return a.done(sc), nil
}

// readPolygon reads a polygon query's body into q and finds its area: the
// unit's (kept by the engine), or the geometry's from the region cache, or
// a new one (keep: to be added to the cache once answered). Errors come in
// this order: not JSON; a bad member (the first); both a geometry and a
// unit; a viewer; neither; a unit's level, then the unit; ids without the
// role; a bad geometry.
func (a *Answers) readPolygon(body []byte, c *Caller, sc *scratch, q *engine.PolygonQuery) (keep bool, err error) {
	exact := a.Policy(c).Exact()
	sc.area, sc.geomText, sc.unit = nil, nil, unitRef{}
	geom, err := a.readPolygonBody(body, exact, sc, q)
	switch {
	case err != nil:
		return false, err
	case geom && sc.unit.set:
		return false, fault.New(fault.BadRequest, "give geometry or unit, not both")
	case !exact && sc.unit.set:
		return false, fault.New(fault.Forbidden, "viewers may not ask for a unit's polygon: its count by position differs from the unit's published count where dwellings sit on a boundary or are filed under another unit, and the difference could be a household; ask for GET /api/v1/units/%s/{id}", sc.unit.level)
	case !exact:
		return false, fault.New(fault.Forbidden, "viewers see published geographies only (units, buildings, grid cells of at least %v m, tiles): overlapping free polygons difference into single households; ask an analyst", a.opts.PrivacyMinCell)
	case !geom && !sc.unit.set:
		return false, fault.New(fault.BadGeometry, "geometry is missing (or give a unit: {\"level\": \"street\", \"id\": \"…\"})")
	}
	if sc.unit.set {
		level, err := engine.ParseLevel(sc.unit.level)
		if err == nil && level == engine.LevelBuilding {
			err = fault.New(fault.BadRequest, "buildings have no boundary")
		}
		if err != nil {
			return false, fault.New(fault.BadRequest, "unit.level: %v (want district, street, community or grid)", err)
		}
		if q.Area, err = a.eng.UnitArea(level, sc.unit.id); err != nil {
			return false, err
		}
	}
	if q.IDs {
		if err := c.need(Analyst); err != nil {
			return false, err
		}
	}
	switch {
	case sc.unit.set:
	case sc.area != nil: // found by its text
		q.Area = sc.area
	case sc.geom.err != nil:
		return false, sc.geom.err
	default:
		if q.Area = a.regions.FindGeometry(sc.geom.mp, sc.geomText); q.Area != nil {
			break
		}
		rg, err := region.New(sc.geom.mp)
		if err != nil {
			return false, err
		}
		q.Area, keep = engine.NewArea(rg), a.regions != nil
	}
	return keep, nil
}

// unitRef is the unit member of a polygon query.
type unitRef struct {
	set       bool
	level, id string
}

// readUnit reads {"level": …, "id": …}.
func readUnit(v *fastjson.Value) (unitRef, error) {
	bad := fault.New(fault.BadRequest, `unit must be {"level": "district", "street", "community" or "grid", "id": "…"}`)
	o, err := v.Object()
	if err != nil {
		return unitRef{}, bad
	}
	u := unitRef{set: true}
	var ferr error
	seen := 0
	o.Visit(func(k []byte, x *fastjson.Value) {
		if ferr != nil {
			return
		}
		b, err := x.StringBytes()
		switch {
		case err != nil:
			ferr = bad
		case string(k) == "level":
			u.level = string(b)
			seen |= 1
		case string(k) == "id":
			u.id = string(b)
			seen |= 2
		default:
			ferr = fault.New(fault.BadRequest, "unit: unknown field %q (want level, id)", k)
		}
	})
	if ferr == nil && seen != 3 {
		ferr = bad
	}
	return u, ferr
}

// readPolygonBody reads a polygon query's body into q in one pass (jscan):
// the geometry's coordinates straight into float64 (into sc.geom, when
// decode), the other members (small) through fastjson. It reports whether
// the body has a geometry, and the first error that is not one of the
// geometry: not JSON, or a bad member.
func (a *Answers) readPolygonBody(body []byte, decode bool, sc *scratch, q *engine.PolygonQuery) (bool, error) {
	q.Limit = engine.DefaultIDLimit // unless the body names one: "limit": 0 lists none
	if len(body) == 0 {
		return false, fault.New(fault.BadJSON, "the request has no body; send a JSON object")
	}
	s := jscan{b: body}
	s.ws()
	if s.peek() != '{' {
		s.skip(0)
		if s.ok() {
			s.ws()
			if s.i == len(s.b) {
				var p fastjson.Parser
				v, err := p.ParseBytes(body)
				if err != nil { // a value the scanner takes as fastjson might (NaN, Infinity) in a spelling fastjson does not
					return false, fault.New(fault.BadJSON, "body must be a JSON object")
				}
				return false, fault.New(fault.BadJSON, "body must be a JSON object, not %s", v.Type())
			}
			s.fail("unexpected data after the value")
		}
		return false, s.err
	}
	s.i++
	p := a.parsers.Get()
	defer a.parsers.Put(p)
	var ferr error
	geom := false
	s.ws()
	if s.peek() == '}' {
		s.i++
	} else {
		for s.ok() {
			s.ws()
			k, esc := s.str()
			if !s.eat(':', "expected ':'") {
				break
			}
			s.ws()
			if keyIs(k, esc, "geometry") {
				geom = true
				sc.area, sc.geomText = nil, nil
				if !decode || ferr != nil {
					s.skip(1)
				} else if area, n := a.regions.FindText(body[s.i:]); area != nil {
					sc.area = area // the same text was one whole value when kept
					s.i += n
				} else {
					from := s.i
					sc.geom.reset(a.opts.MaxVertices)
					sc.geom.decode(&s, "geometry", 1)
					sc.geomText = body[from:s.i]
				}
			} else {
				from := s.i
				s.skip(1)
				if s.ok() && ferr == nil {
					v, err := p.ParseBytes(body[from:s.i])
					if err != nil { // the scanner and fastjson disagree: a bug, but say so
						ferr = fault.New(fault.BadJSON, "body is not valid JSON: %v", err)
					} else {
						ferr = a.polygonField(stringValue(k, esc), v, sc, q)
					}
				}
			}
			if !s.ok() || !s.more('}') {
				break
			}
		}
	}
	if s.ok() {
		s.ws()
		if s.i != len(s.b) {
			s.fail("unexpected data after the object")
		}
	}
	if !s.ok() {
		return false, s.err
	}
	return geom, ferr
}

// polygonField reads one member of a polygon query besides its geometry.
func (a *Answers) polygonField(name string, v *fastjson.Value, sc *scratch, q *engine.PolygonQuery) error {
	var err error
	switch name {
	case "where":
		q.Where, err = fieldString(v, "where")
	case "group_by":
		q.GroupBy, err = fieldString(v, "group_by")
	case "ids":
		if v.Type() != fastjson.TypeTrue && v.Type() != fastjson.TypeFalse {
			err = fault.New(fault.BadRequest, "ids must be true or false")
		}
		q.IDs = v.Type() == fastjson.TypeTrue
	case "limit":
		q.Limit, err = fieldInt(v, "limit", 0, a.opts.MaxIDs)
	case "as_of":
		q.AsOf, err = a.asOfField(v)
	case "unit":
		sc.unit, err = readUnit(v)
	default:
		err = fault.New(fault.BadRequest, "unknown field %q (want geometry or unit, where, group_by, ids, limit, as_of)", name)
	}
	return err
}

// writePolygonAnswer writes the members of a polygon answer (no braces, no
// version).
func writePolygonAnswer(w *jsonw, pol privacy.Policy, r *engine.PolygonResult, q *engine.PolygonQuery) {
	w.shown(pol, &r.Counts, r.FlagNames)
	if q.GroupBy != "" {
		w.raw(`,"groups":[`)
		for i := range r.Groups {
			g := &r.Groups[i]
			w.comma(i)
			w.unitRef(g.Level.String(), g.ID)
			w.byte(',')
			w.shown(pol, &g.Counts, r.FlagNames)
			w.byte('}')
		}
		w.byte(']')
	}
	if q.IDs {
		w.raw(`,"ids":`)
		w.strs(r.IDs)
	}
}

// Grid answers POST /api/v1/query/grid.
func (a *Answers) Grid(body []byte, c *Caller) ([]byte, error) {
	start := time.Now()
	p, obj, err := a.parseBody(body)
	if err != nil {
		return nil, err
	}
	defer a.parsers.Put(p)
	var q engine.GridQuery
	var ferr error
	obj.Visit(func(k []byte, v *fastjson.Value) {
		if ferr != nil {
			return
		}
		switch string(k) {
		case "bbox":
			arr, err := v.Array()
			if err != nil || len(arr) != 4 {
				ferr = fault.New(fault.BadRequest, "bbox must be [west, south, east, north]")
				return
			}
			var bb [4]float64
			for i, x := range arr {
				f, err := x.Float64()
				if err != nil || x.Type() != fastjson.TypeNumber {
					ferr = fault.New(fault.BadRequest, "bbox[%d] must be a number", i)
					return
				}
				bb[i] = f
			}
			q.BBox = &bb
		case "cell_m":
			f, err := v.Float64()
			if err != nil || v.Type() != fastjson.TypeNumber {
				ferr = fault.New(fault.BadRequest, "cell_m must be a number of metres")
			}
			q.CellM = f
		case "level":
			q.Level, ferr = fieldString(v, "level")
		case "where":
			q.Where, ferr = fieldString(v, "where")
		case "as_of":
			q.AsOf, ferr = a.asOfField(v)
		default:
			ferr = fault.New(fault.BadRequest, "unknown field %q (want bbox, cell_m, level, where, as_of)", k)
		}
	})
	if ferr != nil {
		return nil, ferr
	}
	if q.CellM == 0 && q.Level == "" {
		return nil, fault.New(fault.BadRequest, "give cell_m (metres) or level (district, street, community, grid, building)")
	}
	q.Deadline = start.Add(a.opts.QueryTimeout)
	vw, err := a.viewFor(c, q.Where, &q.AsOf, nil)
	if err != nil {
		return nil, err
	}
	var res *engine.GridResult
	level := engine.LevelBuilding
	if q.Level != "" {
		if level, err = engine.ParseLevel(q.Level); err != nil {
			return nil, fault.New(fault.BadRequest, "level: %v", err)
		}
	}
	if vw.h != nil && q.CellM != 0 {
		res, err = a.viewerCells(&q, vw)
	} else {
		res, err = a.eng.Grid(&q)
	}
	if err != nil {
		return nil, err
	}
	sc := a.scratch()
	w := &sc.w
	w.raw(`{"cells":[`)
	for i := range res.Cells {
		cell := &res.Cells[i]
		w.comma(i)
		w.raw(`{"id":`)
		w.str(cell.ID)
		if cell.Name != "" && cell.Name != withheldCell {
			w.raw(`,"name":`)
			w.str(cell.Name)
		}
		w.raw(`,"bbox":[`)
		for j, v := range cell.BBox {
			w.comma(j)
			w.float(v)
		}
		w.raw(`],`)
		var shown privacy.Counts
		switch {
		case q.Level != "":
			shown = vw.unit(level, cell.ID, &cell.Counts)
		case vw.h != nil: // sums of shown counts already
			shown = privacy.Policy{}.Counts(cell.Total, cell.Matched, cell.Flags)
			if cell.Name == withheldCell {
				w.suppressed = true
			}
		default:
			shown = vw.pol.Counts(cell.Total, cell.Matched, cell.Flags)
		}
		w.counts(&shown, res.FlagNames)
		w.byte('}')
	}
	w.byte(']')
	finish(w, res.Version, start)
	return a.done(sc), nil
}

// withheldCell marks (in Cell.Name, which square cells do not use) a
// viewer's cell that leaves out a withheld building.
const withheldCell = "\x00withheld"

// viewerCells answers a viewer's square cells: the cells of at least the
// smallest size allowed, each the sum of the counts its buildings show (a
// building counts in the cell of the middle of its box), so that a cell
// tells nothing its buildings do not.
func (a *Answers) viewerCells(q *engine.GridQuery, vw *view) (*engine.GridResult, error) {
	if q.CellM < a.opts.PrivacyMinCell {
		return nil, fault.New(fault.Forbidden, "viewers see grid cells of at least %v m; cell_m %v is smaller", a.opts.PrivacyMinCell, q.CellM)
	}
	bq := *q
	bq.CellM, bq.Level = 0, "building"
	blds, err := a.eng.Grid(&bq)
	if err != nil {
		return nil, err
	}
	res := &engine.GridResult{FlagNames: blds.FlagNames, Version: blds.Version}
	index := map[string]int{}
	nf := len(blds.FlagNames)
	for _, b := range blds.Cells {
		id, box := engine.CellOf(q.CellM, (b.BBox[0]+b.BBox[2])/2, (b.BBox[1]+b.BBox[3])/2)
		i, ok := index[id]
		if !ok {
			i = len(res.Cells)
			index[id] = i
			res.Cells = append(res.Cells, engine.Cell{ID: id, BBox: box, Counts: engine.Counts{Flags: make([]int64, nf)}})
		}
		cell := &res.Cells[i]
		shown := vw.h.Building(b.ID)
		add := func(v privacy.Value, dst *int64) {
			*dst += v.N
			if v.Withheld {
				cell.Name = withheldCell
			}
		}
		add(shown.Total, &cell.Total)
		add(shown.Matched, &cell.Matched)
		for f := range shown.Flags {
			add(shown.Flags[f], &cell.Flags[f])
		}
	}
	slices.SortFunc(res.Cells, func(x, y engine.Cell) int { return engine.CompareCellIDs(x.ID, y.ID) })
	return res, nil
}

// unitsQuery reads the parameters of unit answers: where, as_of, since.
func (a *Answers) unitsQuery(level, id string, q Query) (engine.UnitsQuery, error) {
	uq := engine.UnitsQuery{Level: level, ID: id, Where: q.Get("where")}
	var err error
	if uq.AsOf, err = a.asOf("as_of", q.Get("as_of")); err != nil {
		return uq, err
	}
	uq.Since, err = a.sinceOf(q)
	return uq, err
}

// Units answers GET /api/v1/units/{level}.
func (a *Answers) Units(level string, q Query, c *Caller) ([]byte, error) {
	start := time.Now()
	uq, err := a.unitsQuery(level, "", q)
	if err != nil {
		return nil, err
	}
	vw, err := a.viewFor(c, uq.Where, &uq.AsOf, uq.Since)
	if err != nil {
		return nil, err
	}
	res, err := a.eng.Units(uq)
	if err != nil {
		return nil, err
	}
	sc := a.scratch()
	w := &sc.w
	w.raw(`{"level":`)
	w.str(level)
	w.raw(`,"units":[`)
	for i := range res.Units {
		w.comma(i)
		writeUnit(w, vw, &res.Units[i], res.FlagNames)
	}
	w.byte(']')
	finish(w, res.Version, start)
	return a.done(sc), nil
}

func writeUnit(w *jsonw, vw *view, u *engine.UnitStat, names []string) {
	w.byte('{')
	writeUnitFields(w, vw, u, names)
	w.byte('}')
}

// writeUnitFields writes a unit's level, id, name and counts, without braces.
func writeUnitFields(w *jsonw, vw *view, u *engine.UnitStat, names []string) {
	w.raw(`"level":`)
	w.str(u.Level.String())
	w.raw(`,"id":`)
	w.str(u.ID)
	w.raw(`,"name":`)
	w.str(u.Name)
	w.byte(',')
	c := vw.unit(u.Level, u.ID, &u.Counts)
	w.counts(&c, names)
	if u.Delta != nil {
		w.raw(`,"delta":{`)
		d := vw.delta(u.Level, u.ID, u.Delta)
		w.counts(&d, names)
		w.byte('}')
	}
}

// Unit answers GET /api/v1/units/{level}/{id}.
func (a *Answers) Unit(level, id string, q Query, c *Caller) ([]byte, error) {
	start := time.Now()
	uq, err := a.unitsQuery(level, id, q)
	if err != nil {
		return nil, err
	}
	vw, err := a.viewFor(c, uq.Where, &uq.AsOf, uq.Since)
	if err != nil {
		return nil, err
	}
	u, err := a.eng.Unit(uq)
	if err != nil {
		return nil, err
	}
	sc := a.scratch()
	w := &sc.w
	w.byte('{')
	writeUnitFields(w, vw, &u.UnitStat, u.FlagNames)
	w.raw(`,"children":[`)
	for i := range u.Children {
		w.comma(i)
		writeUnit(w, vw, &u.Children[i], u.FlagNames)
	}
	w.byte(']')
	finish(w, u.Version, start)
	return a.done(sc), nil
}

func schemeName(q Query) string {
	if n := q.Get("scheme"); n != "" {
		return n
	}
	return "default"
}

// BuildingRoomState answers GET /api/v1/buildings/{id}/roomstate.
func (a *Answers) BuildingRoomState(id string, q Query, c *Caller) ([]byte, error) {
	if err := c.need(Analyst); err != nil {
		return nil, err
	}
	start := time.Now()
	at, err := a.asOf("as_of", q.Get("as_of"))
	if err != nil {
		return nil, err
	}
	m, err := a.eng.BuildingRoomState(id, schemeName(q), at)
	if err != nil {
		return nil, err
	}
	pol := a.Policy(c)
	sc := a.scratch()
	w := &sc.w
	w.byte('{')
	writeBuildingMap(w, pol, &m.Buildings[0], m)
	finish(w, m.Version, start)
	return a.done(sc), nil
}

// UnitRoomState answers GET /api/v1/units/{level}/{id}/roomstate.
func (a *Answers) UnitRoomState(levelName, id string, q Query, c *Caller) ([]byte, error) {
	if err := c.need(Analyst); err != nil {
		return nil, err
	}
	start := time.Now()
	level, err := engine.ParseLevel(levelName)
	if err != nil {
		return nil, fault.New(fault.BadRequest, "%v", err)
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
	sc := a.scratch()
	w := &sc.w
	w.unitRef(level.String(), id)
	w.raw(`,"buildings":[`)
	for i := range m.Buildings {
		w.comma(i)
		w.byte('{')
		writeBuildingMap(w, pol, &m.Buildings[i], m)
		w.byte('}')
	}
	w.byte(']')
	finish(w, m.Version, start)
	return a.done(sc), nil
}

// writeBuildingMap writes the members building, floors and legend, in the
// colours of the scheme the map was read with.
func writeBuildingMap(w *jsonw, pol privacy.Policy, b *engine.BuildingMap, m *engine.RoomStateMap) {
	sc := &m.Scheme
	bi := &b.Building
	w.raw(`"building":{"id":`)
	w.str(bi.ID)
	w.raw(`,"feature_id":`)
	w.uint(bi.FeatureID)
	w.raw(`,"lon":`)
	w.e7(bi.Lon)
	w.raw(`,"lat":`)
	w.e7(bi.Lat)
	w.raw(`,"district":`)
	w.str(bi.District)
	w.raw(`,"street":`)
	w.str(bi.Street)
	w.raw(`,"community":`)
	w.str(bi.Community)
	w.raw(`,"grid":`)
	w.str(bi.Grid)
	w.raw(`,"total":`)
	w.count(pol.Value(int64(bi.Total)))
	w.raw(`,"responsible":`)
	writeResponsible(w, bi.Responsible)
	w.raw(`,"last_visit":`)
	if v := bi.LastVisit; v != nil {
		w.raw(`{"time":`)
		w.str(v.Time.UTC().Format(timeMs))
		w.raw(`,"by":`)
		w.str(v.By)
		w.raw(`,"note":`)
		w.str(v.Note)
		w.byte('}')
	} else {
		w.raw("null")
	}
	w.raw(`},"floors":[`)
	for i := range b.Floors {
		fl := &b.Floors[i]
		w.comma(i)
		w.raw(`{"floor":`)
		if fl.Floor == engine.NoFloor {
			w.raw("null")
		} else {
			w.int(int64(fl.Floor))
		}
		w.raw(`,"rooms":[`)
		for j := range fl.Rooms {
			r := &fl.Rooms[j]
			rule := &sc.Default
			if r.State < len(sc.Rules) {
				rule = &sc.Rules[r.State]
			}
			w.comma(j)
			w.raw(`{"id":`)
			w.str(r.ID)
			w.raw(`,"unit":`)
			w.str(r.Unit)
			w.raw(`,"room":`)
			w.str(r.Room)
			w.raw(`,"flags":[`)
			for k, f := range r.Flags {
				w.comma(k)
				w.str(m.FlagNames[f])
			}
			w.raw(`],"state":`)
			w.str(rule.State)
			w.raw(`,"color":`)
			w.str(rule.Color)
			w.raw(`,"shape":`)
			w.str(rule.Shape)
			w.byte('}')
		}
		w.raw("]}")
	}
	w.raw(`],"legend":`)
	writeLegend(w, legendCounts(pol, b.Legend), b.Legend)
}

// legendCounts shows a legend's counts: the states split the dwellings, so
// for a viewer they are protected together (the sum of the others must not
// give back a withheld one).
func legendCounts(pol privacy.Policy, entries []engine.LegendEntry) []privacy.Value {
	tb := &privacy.Table{Super: [][]int{nil}, Rows: []privacy.Row{{Parent: -1, Vals: []int64{0}}}}
	for _, le := range entries {
		tb.Rows = append(tb.Rows, privacy.Row{Parent: 0, Vals: []int64{int64(le.Count)}})
		tb.Rows[0].Vals[0] += int64(le.Count)
	}
	m := pol.Protect(tb)
	out := make([]privacy.Value, len(entries))
	for i := range entries {
		out[i] = m.Cell(tb, i+1, 0)
	}
	return out
}

// writeLegend writes a scheme's states with their counts as shown.
func writeLegend(w *jsonw, counts []privacy.Value, entries []engine.LegendEntry) {
	w.byte('[')
	for i := range entries {
		le := &entries[i]
		w.comma(i)
		w.raw(`{"state":`)
		w.str(le.State)
		w.raw(`,"label":`)
		w.str(le.Label)
		w.raw(`,"label_en":`)
		w.str(le.LabelEN)
		w.raw(`,"color":`)
		w.str(le.Color)
		w.raw(`,"shape":`)
		w.str(le.Shape)
		w.raw(`,"count":`)
		w.count(counts[i])
		w.byte('}')
	}
	w.byte(']')
}

// Legend answers GET /api/v1/legend?where=&scheme=: dwellings per state.
func (a *Answers) Legend(q Query, c *Caller) ([]byte, error) {
	start := time.Now()
	at, err := a.asOf("as_of", q.Get("as_of"))
	if err != nil {
		return nil, err
	}
	entries, v, err := a.eng.StateCounts(q.Get("where"), schemeName(q), at)
	if err != nil {
		return nil, err
	}
	sc := a.scratch()
	w := &sc.w
	w.raw(`{"scheme":`)
	w.str(schemeName(q))
	w.raw(`,"legend":`)
	writeLegend(w, legendCounts(a.Policy(c), entries), entries)
	// when the state shown began: a dashboard shown as of a version says when
	if t, ok := a.eng.TimeOf(v); ok {
		w.raw(`,"time":`)
		w.str(t.In(a.opts.TZ).Format(time.RFC3339Nano))
	}
	finish(w, v, start)
	return a.done(sc), nil
}

// Schemes answers GET /api/v1/schemes.
func (a *Answers) Schemes(c *Caller) ([]byte, error) {
	return marshal(map[string]any{"schemes": a.eng.AllSchemes()})
}

// Scheme answers GET /api/v1/schemes/{name}.
func (a *Answers) Scheme(name string, c *Caller) ([]byte, error) {
	sc, ok := a.eng.Scheme(name)
	if !ok {
		return nil, fault.New(fault.NotFound, "scheme %q not found", name)
	}
	return marshal(sc)
}

// marshal writes a small answer with encoding/json.
func marshal(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// Dwelling answers GET /api/v1/dwellings/{id}.
func (a *Answers) Dwelling(id string, c *Caller) ([]byte, error) {
	if err := c.need(Analyst); err != nil {
		return nil, err
	}
	d, err := a.eng.Dwelling(id)
	if err != nil {
		return nil, err
	}
	sc := a.scratch()
	writeDwelling(&sc.w, d)
	return a.done(sc), nil
}

func writeDwelling(w *jsonw, d *engine.Dwelling) {
	w.raw(`{"id":`)
	w.str(d.ID)
	w.raw(`,"lon":`)
	w.float(d.Lon)
	w.raw(`,"lat":`)
	w.float(d.Lat)
	for _, kv := range [][2]string{{"district", d.District}, {"street", d.Street}, {"community", d.Community},
		{"grid", d.Grid}, {"building", d.Building}, {"unit", d.Unit}} {
		w.byte(',')
		w.key(kv[0])
		w.str(kv[1])
	}
	w.raw(`,"floor":`)
	if d.Floor == engine.NoFloor {
		w.raw("null")
	} else {
		w.int(int64(d.Floor))
	}
	w.raw(`,"room":`)
	w.str(d.Room)
	w.raw(`,"flags":`)
	w.strs(d.Flags)
	if len(d.Expires) > 0 {
		w.raw(`,"expires":{`)
		names := make([]string, 0, len(d.Expires))
		for n := range d.Expires {
			names = append(names, n)
		}
		slices.Sort(names)
		for i, n := range names {
			w.comma(i)
			w.key(n)
			w.str(d.Expires[n].UTC().Format("2006-01-02T15:04:05.000Z07:00"))
		}
		w.byte('}')
	}
	w.raw(`,"version":`)
	w.uint(uint64(d.Version))
	w.raw("}\n")
}

// BuildingStates answers POST /api/v1/buildings/states {"ids", "where",
// "scheme"}: each building's counts and state, as tiles show them, so a
// live map recolours features without new tiles.
func (a *Answers) BuildingStates(body []byte, c *Caller) ([]byte, error) {
	start := time.Now()
	p, obj, err := a.parseBody(body)
	if err != nil {
		return nil, err
	}
	defer a.parsers.Put(p)
	var ids []string
	var where, view, campaign string
	scheme := "default"
	var ferr error
	obj.Visit(func(k []byte, v *fastjson.Value) {
		if ferr != nil {
			return
		}
		switch string(k) {
		case "ids":
			ids, ferr = stringList(v, "ids", "building ids")
		case "where":
			where, ferr = fieldString(v, "where")
		case "scheme":
			scheme, ferr = fieldString(v, "scheme")
		case "view":
			if view, ferr = fieldString(v, "view"); ferr == nil {
				view, ferr = viewOf(Values{"view": view})
			}
		case "campaign":
			campaign, ferr = fieldString(v, "campaign")
		default:
			ferr = fault.New(fault.BadRequest, "unknown field %q (want ids, where, scheme, view, campaign)", k)
		}
	})
	if ferr != nil {
		return nil, ferr
	}
	if len(ids) > 10_000 {
		return nil, fault.New(fault.TooLarge, "at most 10000 ids at once")
	}
	if scheme == "" {
		scheme = "default"
	}
	at := engine.AsOf{}
	vw, err := a.viewFor(c, where, &at, nil)
	if err != nil {
		return nil, err
	}
	bs, rules, names, v, err := a.eng.BuildingSummaries(ids, where, scheme, campaign)
	if err != nil {
		return nil, err
	}
	look := &tiles.Request{Policy: vw.pol, View: view, Campaign: campaign}
	sc := a.scratch()
	w := &sc.w
	w.raw(`{"buildings":[`)
	for i := range bs {
		b := &bs[i]
		counts := vw.unit(engine.LevelBuilding, b.ID, &b.Counts)
		state, color, shown := tiles.BuildingLook(look, rules, b, &counts)
		w.comma(i)
		w.raw(`{"id":`)
		w.str(b.ID)
		w.raw(`,"feature_id":`)
		w.uint(b.FID)
		w.raw(`,"state":`)
		w.str(state)
		w.raw(`,"color":`)
		w.str(color)
		if !shown {
			w.suppressed = true
		}
		w.raw(`,"assigned":`)
		if b.Responsible != nil {
			w.raw(`1`)
		} else {
			w.raw(`0`)
		}
		if b.Responsible != nil && view == tiles.ViewResponsibility {
			w.raw(`,"person":`)
			w.str(b.Responsible.Person)
			w.raw(`,"team":`)
			w.str(b.Responsible.Team)
		}
		if b.LastVisit > 0 {
			w.raw(`,"last_visit":`)
			w.int(b.LastVisit / 1000)
		}
		w.byte(',')
		w.counts(&counts, names)
		w.byte('}')
	}
	w.byte(']')
	finish(w, v, start)
	return a.done(sc), nil
}

// Info answers GET /api/v1/info: what a dashboard needs to start.
func (a *Answers) Info(c *Caller, basemap string) ([]byte, error) {
	b := a.eng.Bounds()
	oldest, oldestTime, changes, _ := a.eng.History()
	return marshal(map[string]any{
		"flags":     a.eng.Flags(),
		"schemes":   a.eng.Schemes(),
		"bounds":    []float64{b.Min[0], b.Min[1], b.Max[0], b.Max[1]},
		"dwellings": a.eng.Len(),
		"version":   a.eng.Version(),
		"basemap":   basemap,
		"role":      c.Role.String(),
		"levels":    []string{engine.LevelDistrict.String(), engine.LevelStreet.String(), engine.LevelCommunity.String(), engine.LevelGrid.String()},
		"tz":        a.opts.TZ.String(),
		"history": map[string]any{
			"oldest":      oldest,
			"oldest_time": oldestTime.In(a.opts.TZ).Format(time.RFC3339Nano),
			"changes":     changes,
		},
	})
}

// Health answers GET /healthz: "ok", or "degraded" with the reason when the
// store refuses changes (a full disk, say), or "stale" with the reason when
// a replica cannot reach its stream (it answers with what it has); with
// "role" (leader, follower, or single without replicas) and "lag" (changes
// stored in the stream and not yet applied here).
func (a *Answers) Health() []byte {
	var w jsonw
	w.raw(`{"status":`)
	rep := store.Replication{Role: "single"}
	if a.store != nil {
		rep = a.store.Replication()
	}
	if reason := a.storeHealth(); reason != "" {
		w.raw(`"degraded","reason":`)
		w.str(reason)
	} else if rep.Stale != "" {
		w.raw(`"stale","reason":`)
		w.str(rep.Stale)
	} else {
		w.raw(`"ok"`)
	}
	w.raw(`,"role":`)
	w.str(rep.Role)
	w.raw(`,"lag":`)
	w.uint(rep.Lag)
	w.raw(`,"dwellings":`)
	w.int(int64(a.eng.Len()))
	w.raw(`,"version":`)
	w.uint(uint64(a.eng.Version()))
	w.raw("}\n")
	return w.b
}

// asOfField reads as_of in a JSON body: a version (a number) or a time or
// date (a string).
func (a *Answers) asOfField(v *fastjson.Value) (engine.AsOf, error) {
	switch v.Type() {
	case fastjson.TypeNull:
		return engine.AsOf{}, nil
	case fastjson.TypeNumber:
		n, err := fieldInt(v, "as_of", 0, math.MaxInt)
		if err != nil {
			return engine.AsOf{}, err
		}
		return engine.At(engine.Version(n)), nil
	case fastjson.TypeString:
		return a.asOf("as_of", string(v.GetStringBytes()))
	}
	return engine.AsOf{}, fault.New(fault.BadRequest, "as_of must be a version (a number) or a time or date (a string)")
}

func (a *Answers) storeHealth() string {
	if a.store == nil {
		return ""
	}
	return a.store.Health()
}
