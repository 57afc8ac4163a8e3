package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/roomstate/roomstate/engine"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fastjson"
)

func (s *Server) state() *reqState {
	st := s.bufs.Get().(*reqState)
	st.w.b = st.w.b[:0]
	st.w.k = 0
	st.w.suppressed = false
	return st
}

func (s *Server) release(st *reqState) {
	if cap(st.w.b) > 1<<20 {
		st.w.b = nil // do not pin huge answers in the pool
	}
	s.bufs.Put(st)
}

// send writes a JSON answer.
func send(ctx *fasthttp.RequestCtx, body []byte) {
	ctx.Response.Header.SetContentType("application/json; charset=utf-8")
	ctx.SetBody(body)
}

// parseBody parses a JSON object body with a pooled parser; the caller
// returns the parser with s.parsers.Put once done with the value.
func (s *Server) parseBody(ctx *fasthttp.RequestCtx) (*fastjson.Parser, *fastjson.Object, error) {
	body := ctx.PostBody()
	if len(body) == 0 {
		return nil, nil, errf(fasthttp.StatusBadRequest, "bad_json", "the request has no body; send a JSON object")
	}
	p := s.parsers.Get()
	v, err := p.ParseBytes(body)
	if err != nil {
		s.parsers.Put(p)
		return nil, nil, errf(fasthttp.StatusBadRequest, "bad_json", "body is not valid JSON: %v", err)
	}
	o, err := v.Object()
	if err != nil {
		s.parsers.Put(p)
		return nil, nil, errf(fasthttp.StatusBadRequest, "bad_json", "body must be a JSON object, not %s", v.Type())
	}
	return p, o, nil
}

func fieldString(v *fastjson.Value, name string) (string, error) {
	if v.Type() == fastjson.TypeNull {
		return "", nil
	}
	b, err := v.StringBytes()
	if err != nil {
		return "", errf(fasthttp.StatusBadRequest, "bad_request", "%s must be a string", name)
	}
	return string(b), nil
}

func fieldInt(v *fastjson.Value, name string, lo, hi int) (int, error) {
	f, err := v.Float64()
	if err != nil || v.Type() != fastjson.TypeNumber || f != math.Trunc(f) || f < float64(lo) || f > float64(hi) {
		return 0, errf(fasthttp.StatusBadRequest, "bad_request", "%s must be an integer from %d to %d", name, lo, hi)
	}
	return int(f), nil
}

// queryPolygon answers POST /api/v1/query/polygon.
func (s *Server) queryPolygon(ctx *fasthttp.RequestCtx, _ []string) error {
	start := time.Now()
	p, obj, err := s.parseBody(ctx)
	if err != nil {
		return err
	}
	defer s.parsers.Put(p)
	st := s.state()
	defer s.release(st)
	q := engine.PolygonQuery{}
	var geom *fastjson.Value
	var ferr error
	obj.Visit(func(k []byte, v *fastjson.Value) {
		if ferr != nil {
			return
		}
		switch string(k) {
		case "geometry":
			geom = v
		case "where":
			q.Where, ferr = fieldString(v, "where")
		case "group_by":
			q.GroupBy, ferr = fieldString(v, "group_by")
		case "ids":
			if v.Type() != fastjson.TypeTrue && v.Type() != fastjson.TypeFalse {
				ferr = errf(fasthttp.StatusBadRequest, "bad_request", "ids must be true or false")
			}
			q.IDs = v.Type() == fastjson.TypeTrue
		case "limit":
			q.Limit, ferr = fieldInt(v, "limit", 0, s.opts.MaxIDs)
		default:
			ferr = errf(fasthttp.StatusBadRequest, "bad_request", "unknown field %q (want geometry, where, group_by, ids, limit)", k)
		}
	})
	if ferr != nil {
		return ferr
	}
	if geom == nil {
		return errf(fasthttp.StatusBadRequest, "bad_geometry", "geometry is missing")
	}
	if q.IDs {
		if err := s.allow(ctx, permDetail); err != nil {
			return err
		}
	}
	st.geom.reset(s.opts.MaxVertices)
	if err := st.geom.decode(geom, "geometry"); err != nil {
		return err
	}
	rg, err := engine.NewRegion(st.geom.mp)
	if err != nil {
		return err
	}
	q.Region = rg
	q.Deadline = start.Add(s.opts.QueryTimeout)
	if err := s.eng.PolygonStats(&q, &st.res); err != nil {
		return err
	}
	w := &st.w
	w.k = s.suppressK(ctx)
	r := &st.res
	w.byte('{')
	writePolygonAnswer(w, r, &q)
	s.finish(w, uint64(r.Version), start)
	send(ctx, w.b)
	return nil
}

// writePolygonAnswer writes the members of a polygon answer (no braces, no
// version).
func writePolygonAnswer(w *jsonw, r *engine.PolygonResult, q *engine.PolygonQuery) {
	w.counts(&r.Counts, r.FlagNames)
	if q.GroupBy != "" {
		w.raw(`,"groups":[`)
		for i := range r.Groups {
			g := &r.Groups[i]
			w.comma(i)
			w.raw(`{"level":`)
			w.str(g.Level.String())
			w.raw(`,"id":`)
			w.str(g.ID)
			w.byte(',')
			w.counts(&g.Counts, r.FlagNames)
			w.byte('}')
		}
		w.byte(']')
	}
	if q.IDs {
		w.raw(`,"ids":`)
		w.strs(r.IDs)
	}
}

// finish closes an answer object with version, took_us and suppressed.
func (s *Server) finish(w *jsonw, version uint64, start time.Time) {
	if w.suppressed {
		w.raw(`,"suppressed":true`)
	}
	w.raw(`,"version":`)
	w.uint(version)
	w.raw(`,"took_us":`)
	w.int(time.Since(start).Microseconds())
	w.raw("}\n")
}

// queryGrid answers POST /api/v1/query/grid.
func (s *Server) queryGrid(ctx *fasthttp.RequestCtx, _ []string) error {
	start := time.Now()
	p, obj, err := s.parseBody(ctx)
	if err != nil {
		return err
	}
	defer s.parsers.Put(p)
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
				ferr = errf(fasthttp.StatusBadRequest, "bad_request", "bbox must be [west, south, east, north]")
				return
			}
			var bb [4]float64
			for i, x := range arr {
				f, err := x.Float64()
				if err != nil || x.Type() != fastjson.TypeNumber {
					ferr = errf(fasthttp.StatusBadRequest, "bad_request", "bbox[%d] must be a number", i)
					return
				}
				bb[i] = f
			}
			q.BBox = &bb
		case "cell_m":
			f, err := v.Float64()
			if err != nil || v.Type() != fastjson.TypeNumber {
				ferr = errf(fasthttp.StatusBadRequest, "bad_request", "cell_m must be a number of metres")
			}
			q.CellM = f
		case "level":
			q.Level, ferr = fieldString(v, "level")
		case "where":
			q.Where, ferr = fieldString(v, "where")
		default:
			ferr = errf(fasthttp.StatusBadRequest, "bad_request", "unknown field %q (want bbox, cell_m, level, where)", k)
		}
	})
	if ferr != nil {
		return ferr
	}
	if q.CellM == 0 && q.Level == "" {
		return errf(fasthttp.StatusBadRequest, "bad_request", "give cell_m (metres) or level (district, street, community, grid, building)")
	}
	q.Deadline = start.Add(s.opts.QueryTimeout)
	res, err := s.eng.Grid(&q)
	if err != nil {
		return err
	}
	st := s.state()
	defer s.release(st)
	w := &st.w
	w.k = s.suppressK(ctx)
	w.raw(`{"cells":[`)
	for i := range res.Cells {
		c := &res.Cells[i]
		w.comma(i)
		w.raw(`{"id":`)
		w.str(c.ID)
		if c.Name != "" {
			w.raw(`,"name":`)
			w.str(c.Name)
		}
		w.raw(`,"bbox":[`)
		for j, v := range c.BBox {
			w.comma(j)
			w.float(v)
		}
		w.raw(`],`)
		w.counts(&c.Counts, res.FlagNames)
		w.byte('}')
	}
	w.byte(']')
	s.finish(w, uint64(res.Version), start)
	send(ctx, w.b)
	return nil
}

func (s *Server) units(ctx *fasthttp.RequestCtx, segs []string) error {
	start := time.Now()
	level := segs[3]
	res, err := s.eng.Units(level, string(ctx.QueryArgs().Peek("where")))
	if err != nil {
		return err
	}
	st := s.state()
	defer s.release(st)
	w := &st.w
	w.k = s.suppressK(ctx)
	w.raw(`{"level":`)
	w.str(level)
	w.raw(`,"units":[`)
	for i := range res.Units {
		w.comma(i)
		writeUnit(w, &res.Units[i], res.FlagNames)
	}
	w.byte(']')
	s.finish(w, uint64(res.Version), start)
	send(ctx, w.b)
	return nil
}

func writeUnit(w *jsonw, u *engine.UnitStat, names []string) {
	w.byte('{')
	writeUnitFields(w, u, names)
	w.byte('}')
}

// writeUnitFields writes a unit's level, id, name and counts, without braces.
func writeUnitFields(w *jsonw, u *engine.UnitStat, names []string) {
	w.raw(`"level":`)
	w.str(u.Level.String())
	w.raw(`,"id":`)
	w.str(u.ID)
	w.raw(`,"name":`)
	w.str(u.Name)
	w.byte(',')
	w.counts(&u.Counts, names)
}

func (s *Server) unit(ctx *fasthttp.RequestCtx, segs []string) error {
	start := time.Now()
	u, v, err := s.eng.Unit(segs[3], segs[4], string(ctx.QueryArgs().Peek("where")))
	if err != nil {
		return err
	}
	names := s.eng.Flags()
	st := s.state()
	defer s.release(st)
	w := &st.w
	w.k = s.suppressK(ctx)
	w.byte('{')
	writeUnitFields(w, u, names)
	w.raw(`,"children":[`)
	for i := range u.Children {
		w.comma(i)
		writeUnit(w, &u.Children[i], names)
	}
	w.byte(']')
	s.finish(w, uint64(v), start)
	send(ctx, w.b)
	return nil
}

func schemeName(ctx *fasthttp.RequestCtx) string {
	if n := ctx.QueryArgs().Peek("scheme"); len(n) > 0 {
		return string(n)
	}
	return "default"
}

func (s *Server) buildingRoomState(ctx *fasthttp.RequestCtx, segs []string) error {
	if err := s.allow(ctx, permDetail); err != nil {
		return err
	}
	start := time.Now()
	m, err := s.eng.BuildingRoomState(segs[3], schemeName(ctx))
	if err != nil {
		return err
	}
	sc := &m.Scheme // read with the map, under the same lock
	st := s.state()
	defer s.release(st)
	w := &st.w
	w.byte('{')
	writeBuildingMap(w, &m.Buildings[0], sc, m.FlagNames)
	s.finish(w, uint64(m.Version), start)
	send(ctx, w.b)
	return nil
}

func (s *Server) unitRoomState(ctx *fasthttp.RequestCtx, segs []string) error {
	if err := s.allow(ctx, permDetail); err != nil {
		return err
	}
	start := time.Now()
	level, err := engine.ParseLevel(segs[3])
	if err != nil {
		return errf(fasthttp.StatusBadRequest, "bad_request", "%v", err)
	}
	m, err := s.eng.UnitRoomState(level, segs[4], schemeName(ctx))
	if err != nil {
		return err
	}
	sc := &m.Scheme // read with the map, under the same lock
	st := s.state()
	defer s.release(st)
	w := &st.w
	w.raw(`{"level":`)
	w.str(level.String())
	w.raw(`,"id":`)
	w.str(segs[4])
	w.raw(`,"buildings":[`)
	for i := range m.Buildings {
		w.comma(i)
		w.byte('{')
		writeBuildingMap(w, &m.Buildings[i], sc, m.FlagNames)
		w.byte('}')
	}
	w.byte(']')
	s.finish(w, uint64(m.Version), start)
	send(ctx, w.b)
	return nil
}

// writeBuildingMap writes the members building, floors and legend.
func writeBuildingMap(w *jsonw, b *engine.BuildingMap, sc *engine.Scheme, flagNames []string) {
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
	w.int(int64(bi.Total))
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
				w.str(flagNames[f])
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
	writeLegend(w, b.Legend)
}

// writeLegend writes a scheme's states with their counts (suppressed for
// viewers like every count).
func writeLegend(w *jsonw, entries []engine.LegendEntry) {
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
		w.count(int64(le.Count))
		w.byte('}')
	}
	w.byte(']')
}

func (s *Server) schemes(ctx *fasthttp.RequestCtx, _ []string) error {
	out := map[string]engine.Scheme{}
	for _, n := range s.eng.Schemes() {
		sc, _ := s.eng.Scheme(n)
		out[n] = sc
	}
	return sendJSON(ctx, map[string]any{"schemes": out})
}

func (s *Server) scheme(ctx *fasthttp.RequestCtx, segs []string) error {
	name := segs[3]
	if string(ctx.Method()) == "PUT" {
		if err := s.allow(ctx, permAdmin); err != nil {
			return err
		}
		var sc engine.Scheme
		dec := json.NewDecoder(bytes.NewReader(ctx.PostBody()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&sc); err != nil {
			if err == io.EOF {
				return errf(fasthttp.StatusBadRequest, "bad_json", "scheme: the body is empty; want a scheme object")
			}
			return errf(fasthttp.StatusBadRequest, "bad_json", "scheme: %v", err)
		}
		if dec.More() {
			return errf(fasthttp.StatusBadRequest, "bad_json", "scheme: data after the scheme object")
		}
		// bad_scheme when it does not check; unavailable (503) when
		// shutting down; internal (500) when the log cannot be written
		if err := s.store.PutScheme(name, sc); err != nil {
			return opError(err, nil)
		}
	}
	sc, ok := s.eng.Scheme(name)
	if !ok {
		return errf(fasthttp.StatusNotFound, "not_found", "scheme %q not found", name)
	}
	return sendJSON(ctx, sc)
}

func sendJSON(ctx *fasthttp.RequestCtx, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encoding the answer: %w", err)
	}
	send(ctx, append(b, '\n'))
	return nil
}

func (s *Server) dwelling(ctx *fasthttp.RequestCtx, segs []string) error {
	if err := s.allow(ctx, permDetail); err != nil {
		return err
	}
	d, err := s.eng.Dwelling(segs[3])
	if err != nil {
		return err
	}
	st := s.state()
	defer s.release(st)
	writeDwelling(&st.w, d)
	send(ctx, st.w.b)
	return nil
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
	w.raw(`,"version":`)
	w.uint(uint64(d.Version))
	w.raw("}\n")
}
