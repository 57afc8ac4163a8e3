package server

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/roomstate/roomstate/engine"
	"github.com/roomstate/roomstate/tiles"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fastjson"
)

// tile answers GET /tiles/{z}/{x}/{y}.mvt: gzipped when the client takes
// it, 304 when its ETag is current, 204 when the tile is empty.
func (s *Server) tile(ctx *fasthttp.RequestCtx, segs []string) error {
	if err := s.allow(ctx, permRead); err != nil {
		return err
	}
	last := segs[3]
	for _, ext := range []string{".mvt", ".pbf"} {
		last = strings.TrimSuffix(last, ext)
	}
	var zxy [3]uint32
	for i, p := range []string{segs[1], segs[2], last} {
		v, err := strconv.ParseUint(p, 10, 32)
		if err != nil {
			return errf(fasthttp.StatusBadRequest, "bad_tile", "tile address %q: z, x and y must be whole numbers (/tiles/{z}/{x}/{y}.mvt)", strings.Join(segs[1:], "/"))
		}
		zxy[i] = uint32(v)
	}
	if err := tiles.Check(zxy[0], zxy[1], zxy[2]); err != nil {
		return errf(fasthttp.StatusBadRequest, "bad_tile", "%v", err)
	}
	args := ctx.QueryArgs()
	req := &tiles.Request{Z: zxy[0], X: zxy[1], Y: zxy[2], Where: string(args.Peek("where")), Scheme: schemeName(ctx), K: s.suppressK(ctx)}
	t, err := s.tiles.Get(req)
	if err != nil {
		var bt *tiles.ErrBadTile
		if errors.As(err, &bt) {
			return errf(fasthttp.StatusBadRequest, "bad_tile", "%v", err)
		}
		return err
	}
	h := &ctx.Response.Header
	h.Set("ETag", t.ETag)
	h.Set("Cache-Control", "no-cache") // live: clients revalidate with the ETag
	h.Set("Vary", "Accept-Encoding")
	if inm := ctx.Request.Header.Peek("If-None-Match"); len(inm) > 0 && etagMatch(inm, t.ETag) {
		ctx.SetStatusCode(fasthttp.StatusNotModified)
		return nil
	}
	if t.Empty() {
		ctx.SetStatusCode(fasthttp.StatusNoContent)
		return nil
	}
	ctx.SetContentType("application/vnd.mapbox-vector-tile")
	if ctx.Request.Header.HasAcceptEncoding("gzip") {
		h.Set("Content-Encoding", "gzip")
		ctx.SetBody(t.Gzipped())
		return nil
	}
	ctx.SetBody(t.Raw)
	return nil
}

// etagMatch reads an If-None-Match list (or *).
func etagMatch(inm []byte, etag string) bool {
	for _, part := range bytes.Split(inm, []byte{','}) {
		p := bytes.TrimSpace(part)
		p = bytes.TrimPrefix(p, []byte("W/"))
		if string(p) == "*" || string(p) == etag {
			return true
		}
	}
	return false
}

// baseURL is how the client reached the server: the scheme and Host it
// connected with or, from a trusted proxy only, what the proxy's
// X-Forwarded-Proto and X-Forwarded-Host say. A host that is not a host
// (quotes, slashes, spaces) gives way to the address the server listens on.
func (s *Server) baseURL(ctx *fasthttp.RequestCtx) string {
	scheme, host := "http", string(ctx.Host())
	if ctx.IsTLS() {
		scheme = "https"
	}
	if s.fromProxy(ctx) {
		if p := strings.ToLower(forwarded(ctx, "X-Forwarded-Proto")); p == "http" || p == "https" {
			scheme = p
		}
		if h := forwarded(ctx, "X-Forwarded-Host"); h != "" {
			host = h
		}
	}
	if !validHost(host) {
		host = ctx.LocalAddr().String()
	}
	return scheme + "://" + host
}

// tileJSON answers GET /tiles.json: TileJSON 3.0.0 for MapLibre. where and
// scheme pass on to the tile URL.
func (s *Server) tileJSON(ctx *fasthttp.RequestCtx, _ []string) error {
	if err := s.allow(ctx, permRead); err != nil {
		return err
	}
	q := url.Values{}
	args := ctx.QueryArgs()
	if w := args.Peek("where"); len(w) > 0 {
		if _, err := s.eng.ParseWhere(string(w)); err != nil {
			return err
		}
		q.Set("where", string(w))
	}
	if sc := args.Peek("scheme"); len(sc) > 0 {
		if _, ok := s.eng.Scheme(string(sc)); !ok {
			return errf(fasthttp.StatusNotFound, "not_found", "scheme %q not found", sc)
		}
		q.Set("scheme", string(sc))
	}
	tileURL := s.baseURL(ctx) + "/tiles/{z}/{x}/{y}.mvt"
	if len(q) > 0 {
		tileURL += "?" + q.Encode()
	}
	b := s.eng.Bounds()
	if s.eng.Len() == 0 { // nothing loaded yet: the whole world
		b.Min, b.Max = [2]float64{-180, -85}, [2]float64{180, 85}
	}
	flags := map[string]string{"total": "Number: dwellings", "matched": "Number: dwellings matching where"}
	for _, f := range s.eng.Flags() {
		flags[f] = "Number: matched dwellings with " + f
	}
	bfields := map[string]string{"id": "String: building id", "state": "String: state under the scheme", "color": "String: the state's colour"}
	cfields := map[string]string{"buildings": "Number: buildings in the cell"}
	for k, v := range flags {
		bfields[k], cfields[k] = v, v
	}
	tj := map[string]any{
		"tilejson": "3.0.0",
		"name":     "roomstate",
		"scheme":   "xyz",
		"tiles":    []string{tileURL},
		"minzoom":  0,
		"maxzoom":  tiles.MaxZoom,
		"bounds":   []float64{b.Min[0], b.Min[1], b.Max[0], b.Max[1]},
		"center":   []float64{(b.Min[0] + b.Max[0]) / 2, (b.Min[1] + b.Max[1]) / 2, 11},
		"vector_layers": []map[string]any{
			{"id": "buildings", "minzoom": tiles.BuildingZoom, "maxzoom": tiles.MaxZoom, "fields": bfields,
				"description": "one point per building; feature id = the building's feature_id"},
			{"id": "cells", "minzoom": 0, "maxzoom": tiles.BuildingZoom - 1, "fields": cfields,
				"description": "buildings aggregated into 128×128-unit cells"},
			{"id": "boundaries", "minzoom": 0, "maxzoom": tiles.MaxZoom,
				"fields":      map[string]string{"level": "String", "id": "String", "name": "String", "total": "Number", "matched": "Number"},
				"description": "districts from zoom 0, streets from 9, communities from 11, grids from 13"},
		},
	}
	return sendJSON(ctx, tj)
}

// legend answers GET /api/v1/legend?where=&scheme=: dwellings per state.
func (s *Server) legend(ctx *fasthttp.RequestCtx, _ []string) error {
	if err := s.allow(ctx, permRead); err != nil {
		return err
	}
	start := time.Now()
	entries, v, err := s.eng.StateCounts(string(ctx.QueryArgs().Peek("where")), schemeName(ctx))
	if err != nil {
		return err
	}
	st := s.state()
	defer s.release(st)
	w := &st.w
	w.k = s.suppressK(ctx)
	w.raw(`{"scheme":`)
	w.str(schemeName(ctx))
	w.raw(`,"legend":`)
	writeLegend(w, entries)
	s.finish(w, uint64(v), start)
	send(ctx, w.b)
	return nil
}

// buildingStates answers POST /api/v1/buildings/states
// {"ids": [...], "where", "scheme"}: each building's counts and state, as
// tiles show them, so a live map recolours features without new tiles.
func (s *Server) buildingStates(ctx *fasthttp.RequestCtx, _ []string) error {
	if err := s.allow(ctx, permRead); err != nil {
		return err
	}
	start := time.Now()
	p, obj, err := s.parseBody(ctx)
	if err != nil {
		return err
	}
	defer s.parsers.Put(p)
	var ids []string
	var where, scheme string
	scheme = "default"
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
		default:
			ferr = fmt.Errorf("unknown field %q (want ids, where, scheme)", k)
		}
	})
	if ferr != nil {
		return errf(fasthttp.StatusBadRequest, "bad_request", "%v", ferr)
	}
	if len(ids) > 10_000 {
		return errf(fasthttp.StatusRequestEntityTooLarge, "too_large", "at most 10000 ids at once")
	}
	bs, rules, v, err := s.eng.BuildingSummaries(ids, where, scheme)
	if err != nil {
		return err
	}
	names := s.eng.Flags()
	st := s.state()
	defer s.release(st)
	w := &st.w
	w.k = s.suppressK(ctx)
	w.raw(`{"buildings":[`)
	for i := range bs {
		b := &bs[i]
		r := rules[b.State]
		w.comma(i)
		w.raw(`{"id":`)
		w.str(b.ID)
		w.raw(`,"feature_id":`)
		w.uint(b.FID)
		w.raw(`,"state":`)
		w.str(r.State)
		w.raw(`,"color":`)
		w.str(r.Color)
		w.byte(',')
		w.counts(&b.Counts, names)
		w.byte('}')
	}
	w.byte(']')
	s.finish(w, uint64(v), start)
	send(ctx, w.b)
	return nil
}

// info answers GET /api/v1/info: what a dashboard needs to start.
func (s *Server) info(ctx *fasthttp.RequestCtx, _ []string) error {
	if err := s.allow(ctx, permRead); err != nil {
		return err
	}
	b := s.eng.Bounds()
	role := "admin"
	if c, ok := ctx.UserValue(callerKey).(*caller); ok && c != nil {
		role = c.role
	} else if s.access != nil {
		role = ""
	}
	return sendJSON(ctx, map[string]any{
		"flags":     s.eng.Flags(),
		"schemes":   s.eng.Schemes(),
		"bounds":    []float64{b.Min[0], b.Min[1], b.Max[0], b.Max[1]},
		"dwellings": s.eng.Len(),
		"version":   s.eng.Version(),
		"basemap":   s.opts.Basemap,
		"role":      role,
		"levels":    []string{engine.LevelDistrict.String(), engine.LevelStreet.String(), engine.LevelCommunity.String(), engine.LevelGrid.String()},
	})
}
