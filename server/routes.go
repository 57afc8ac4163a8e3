package server

import (
	"bufio"
	"bytes"
	"fmt"
	"strings"
	"time"

	"github.com/roomstate/roomstate/answer"
	"github.com/roomstate/roomstate/engine"
	"github.com/roomstate/roomstate/fault"
	"github.com/roomstate/roomstate/openapi"
	"github.com/valyala/fasthttp"
)

// handler answers one route; segs are the path's unescaped segments.
type handler func(ctx *fasthttp.RequestCtx, segs []string, c *answer.Caller) error

// args is a Query over a request's query string.
type args struct{ a *fasthttp.Args }

// Get returns the parameter's value, "" when absent.
func (q args) Get(name string) string { return string(q.a.Peek(name)) }

func query(ctx *fasthttp.RequestCtx) answer.Query { return args{ctx.QueryArgs()} }

// reply returns what turns an answer's bytes (or its error) into the
// response: reply(ctx)(a.Polygon(…)).
func reply(ctx *fasthttp.RequestCtx) func(body []byte, err error) error {
	return func(body []byte, err error) error {
		if err != nil {
			return err
		}
		send(ctx, body)
		return nil
	}
}

// match routes a path to a handler.
func (s *Server) match(segs []string) (route, handler) {
	a := s.ans
	n := len(segs)
	switch {
	case n == 0 || n == 1 && segs[0] == "index.html":
		return route{name: "dashboard", methods: "GET", open: true, unversioned: true}, s.index
	case n >= 2 && segs[0] == "static":
		return route{name: "static", methods: "GET", open: true, unversioned: true}, s.staticFile
	case n >= 3 && segs[0] == "assets":
		return route{name: "assets", methods: "GET", open: true, unversioned: true}, s.assetFile
	case n == 4 && segs[0] == "tiles":
		return route{name: "tile", methods: "GET"}, s.tile
	case n == 1 && segs[0] == "tiles.json":
		return route{name: "tilejson", methods: "GET"}, func(ctx *fasthttp.RequestCtx, _ []string, c *answer.Caller) error {
			return reply(ctx)(a.TileJSON(s.baseURL(ctx), query(ctx), c))
		}
	case n == 1 && segs[0] == "healthz":
		return route{name: "healthz", methods: "GET", open: true, unversioned: true}, func(ctx *fasthttp.RequestCtx, _ []string, _ *answer.Caller) error {
			send(ctx, a.Health())
			return nil
		}
	case n == 1 && segs[0] == "metrics":
		return route{name: "metrics", methods: "GET", unversioned: true}, func(ctx *fasthttp.RequestCtx, _ []string, _ *answer.Caller) error {
			s.metrics(ctx)
			return nil
		}
	case n < 3 || segs[0] != "api" || segs[1] != "v1":
		return route{name: "unknown"}, nil
	}
	p := segs[2:]
	n = len(p)
	switch p[0] {
	case "openapi.json":
		if n == 1 {
			return route{name: "openapi", methods: "GET", open: true}, func(ctx *fasthttp.RequestCtx, _ []string, _ *answer.Caller) error {
				send(ctx, openapi.Document())
				return nil
			}
		}
	case "query":
		if n == 2 && p[1] == "polygon" {
			return route{name: "query_polygon", methods: "POST"}, func(ctx *fasthttp.RequestCtx, _ []string, c *answer.Caller) error {
				return answerOrFile(ctx, func() ([]byte, error) { return a.Polygon(ctx.PostBody(), c) },
					func() (*answer.File, error) { return a.PolygonFile(ctx.PostBody(), query(ctx), c) })
			}
		}
		if n == 2 && p[1] == "grid" {
			return route{name: "query_grid", methods: "POST"}, func(ctx *fasthttp.RequestCtx, _ []string, c *answer.Caller) error {
				return answerOrFile(ctx, func() ([]byte, error) { return a.Grid(ctx.PostBody(), c) },
					func() (*answer.File, error) { return a.GridFile(ctx.PostBody(), query(ctx), c) })
			}
		}
	case "buildings":
		if n == 3 && p[2] == "roomstate" {
			return route{name: "building_roomstate", methods: "GET"}, func(ctx *fasthttp.RequestCtx, segs []string, c *answer.Caller) error {
				return reply(ctx)(a.BuildingRoomState(segs[3], query(ctx), c))
			}
		}
		if n == 3 && p[2] == "roomstate.svg" {
			return route{name: "building_roomstate_svg", methods: "GET"}, func(ctx *fasthttp.RequestCtx, segs []string, c *answer.Caller) error {
				return sendSVG(ctx)(a.BuildingRoomStateSVG(segs[3], query(ctx), c))
			}
		}
		if n == 2 && p[1] == "states" {
			return route{name: "building_states", methods: "POST"}, func(ctx *fasthttp.RequestCtx, _ []string, c *answer.Caller) error {
				return reply(ctx)(a.BuildingStates(ctx.PostBody(), c))
			}
		}
	case "history":
		if n == 1 {
			return route{name: "history", methods: "GET"}, func(ctx *fasthttp.RequestCtx, _ []string, c *answer.Caller) error {
				return reply(ctx)(a.History(query(ctx), c))
			}
		}
	case "legend":
		if n == 1 {
			return route{name: "legend", methods: "GET"}, func(ctx *fasthttp.RequestCtx, _ []string, c *answer.Caller) error {
				return reply(ctx)(a.Legend(query(ctx), c))
			}
		}
	case "audit":
		if n == 1 {
			return route{name: "audit", methods: "GET"}, func(ctx *fasthttp.RequestCtx, _ []string, c *answer.Caller) error {
				return reply(ctx)(a.Audit(query(ctx), c))
			}
		}
	case "info":
		if n == 1 {
			return route{name: "info", methods: "GET"}, func(ctx *fasthttp.RequestCtx, _ []string, c *answer.Caller) error {
				return reply(ctx)(a.Info(c, s.opts.Basemap))
			}
		}
	case "units":
		switch n {
		case 2:
			return route{name: "units", methods: "GET"}, func(ctx *fasthttp.RequestCtx, segs []string, c *answer.Caller) error {
				return answerOrFile(ctx, func() ([]byte, error) { return a.Units(segs[3], query(ctx), c) },
					func() (*answer.File, error) { return a.UnitsFile(segs[3], query(ctx), c) })
			}
		case 3:
			return route{name: "unit", methods: "GET"}, func(ctx *fasthttp.RequestCtx, segs []string, c *answer.Caller) error {
				return answerOrFile(ctx, func() ([]byte, error) { return a.Unit(segs[3], segs[4], query(ctx), c) },
					func() (*answer.File, error) { return a.UnitFile(segs[3], segs[4], query(ctx), c) })
			}
		case 4:
			if p[3] == "roomstate" {
				return route{name: "unit_roomstate", methods: "GET"}, func(ctx *fasthttp.RequestCtx, segs []string, c *answer.Caller) error {
					return reply(ctx)(a.UnitRoomState(segs[3], segs[4], query(ctx), c))
				}
			}
			if p[3] == "roomstate.svg" {
				return route{name: "unit_roomstate_svg", methods: "GET"}, func(ctx *fasthttp.RequestCtx, segs []string, c *answer.Caller) error {
					return sendSVG(ctx)(a.UnitRoomStateSVG(segs[3], segs[4], query(ctx), c))
				}
			}
		}
	case "schemes":
		if n == 1 {
			return route{name: "schemes", methods: "GET"}, func(ctx *fasthttp.RequestCtx, _ []string, c *answer.Caller) error {
				return reply(ctx)(a.Schemes(c))
			}
		}
		if n == 2 {
			return route{name: "scheme", methods: "GET, PUT"}, func(ctx *fasthttp.RequestCtx, segs []string, c *answer.Caller) error {
				if string(ctx.Method()) == "PUT" {
					return reply(ctx)(a.PutScheme(segs[3], ctx.PostBody(), c))
				}
				return reply(ctx)(a.Scheme(segs[3], c))
			}
		}
	case "dwellings":
		if n == 2 {
			return route{name: "dwelling", methods: "GET, PUT, PATCH, DELETE"}, s.dwelling
		}
	case "updates":
		if n == 1 {
			return route{name: "updates", methods: "POST"}, func(ctx *fasthttp.RequestCtx, _ []string, c *answer.Caller) error {
				return reply(ctx)(a.Updates(ctx.PostBody(), c))
			}
		}
	case "changes":
		if n == 1 {
			return route{name: "changes", methods: "GET"}, s.changes
		}
	case "assignments":
		if n == 1 {
			return route{name: "assignments", methods: "GET, PUT"}, func(ctx *fasthttp.RequestCtx, _ []string, c *answer.Caller) error {
				if string(ctx.Method()) == "PUT" {
					return reply(ctx)(a.PutAssignments(ctx.PostBody(), c))
				}
				return reply(ctx)(a.Assignments(query(ctx), c))
			}
		}
	case "responsibility":
		if n == 1 {
			return route{name: "responsibility", methods: "GET"}, func(ctx *fasthttp.RequestCtx, _ []string, c *answer.Caller) error {
				return answerOrFile(ctx, func() ([]byte, error) { return a.Responsibility(query(ctx), c) },
					func() (*answer.File, error) { return a.ResponsibilityFile(query(ctx), c) })
			}
		}
	case "persons":
		if n == 2 {
			return route{name: "person", methods: "GET"}, func(ctx *fasthttp.RequestCtx, segs []string, c *answer.Caller) error {
				return reply(ctx)(a.Person(segs[3], query(ctx), c))
			}
		}
	case "visits":
		if n == 1 {
			return route{name: "visits", methods: "POST"}, func(ctx *fasthttp.RequestCtx, _ []string, c *answer.Caller) error {
				return reply(ctx)(a.Visit(ctx.PostBody(), c))
			}
		}
	case "campaigns":
		if n == 1 {
			return route{name: "campaigns", methods: "GET"}, func(ctx *fasthttp.RequestCtx, _ []string, c *answer.Caller) error {
				return reply(ctx)(a.Campaigns(c))
			}
		}
		if n == 2 {
			return route{name: "campaign", methods: "GET, PUT, DELETE"}, s.campaign
		}
	}
	return route{name: "unknown"}, nil
}

// dwelling dispatches /api/v1/dwellings/{id} by method.
func (s *Server) dwelling(ctx *fasthttp.RequestCtx, segs []string, c *answer.Caller) error {
	id := segs[3]
	switch string(ctx.Method()) {
	case "PATCH":
		return reply(ctx)(s.ans.Patch(id, ctx.PostBody(), c))
	case "PUT":
		body, created, err := s.ans.Put(id, ctx.PostBody(), c)
		if err == nil && created {
			ctx.SetStatusCode(fasthttp.StatusCreated)
		}
		return reply(ctx)(body, err)
	case "DELETE":
		return reply(ctx)(s.ans.Delete(id, c))
	}
	return reply(ctx)(s.ans.Dwelling(id, c))
}

// campaign dispatches /api/v1/campaigns/{name} by method.
func (s *Server) campaign(ctx *fasthttp.RequestCtx, segs []string, c *answer.Caller) error {
	name := segs[3]
	switch string(ctx.Method()) {
	case "PUT":
		body, created, err := s.ans.PutCampaign(name, ctx.PostBody(), c)
		if err == nil && created {
			ctx.SetStatusCode(fasthttp.StatusCreated)
		}
		return reply(ctx)(body, err)
	case "DELETE":
		return reply(ctx)(s.ans.DeleteCampaign(name, c))
	}
	return answerOrFile(ctx, func() ([]byte, error) { return s.ans.Campaign(name, query(ctx), c) },
		func() (*answer.File, error) { return s.ans.CampaignFile(name, query(ctx), c) })
}

// tile answers GET /tiles/{z}/{x}/{y}.mvt: gzipped when the client takes
// it, 304 when its ETag is current. A tile with nothing in it is a 200 with
// an empty body, itself a valid vector tile (a tile of no layers), sent
// as it is: there is nothing to compress.
func (s *Server) tile(ctx *fasthttp.RequestCtx, segs []string, c *answer.Caller) error {
	t, fixed, err := s.ans.Tile(segs[1], segs[2], segs[3], query(ctx), c)
	if err != nil {
		return err
	}
	h := &ctx.Response.Header
	h.Set("ETag", t.ETag)
	vary := "Accept-Encoding"
	if fixed {
		// as of a past version: never changes, for this caller (a cache
		// keeps a tile apart per token, as each role sees its own)
		h.Set("Cache-Control", "max-age=31536000, immutable")
		vary += ", Authorization"
	} else {
		h.Set("Cache-Control", "no-cache") // live: clients revalidate with the ETag
	}
	if prev := h.Peek("Vary"); len(prev) > 0 { // CORS's Origin: a cache keeps each origin's answer apart
		vary = string(prev) + ", " + vary
	}
	h.Set("Vary", vary)
	if inm := ctx.Request.Header.Peek("If-None-Match"); len(inm) > 0 && etagMatch(inm, t.ETag) {
		ctx.SetStatusCode(fasthttp.StatusNotModified)
		return nil
	}
	ctx.SetContentType("application/vnd.mapbox-vector-tile")
	if !t.Empty() && ctx.Request.Header.HasAcceptEncoding("gzip") {
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

// changes answers GET /api/v1/changes?since=V as a text/event-stream of
// changes in version order, as the caller may see them. Without since (or
// Last-Event-ID), it starts now: every change after the connection.
func (s *Server) changes(ctx *fasthttp.RequestCtx, _ []string, c *answer.Caller) error {
	arg := string(ctx.QueryArgs().Peek("since"))
	if arg == "" {
		arg = string(ctx.Request.Header.Peek("Last-Event-ID"))
	}
	since, err := s.ans.Since(arg, c)
	if err != nil {
		return err
	}
	pol := s.ans.Policy(c)
	conn := ctx.Conn()
	ctx.SetContentType("text/event-stream; charset=utf-8")
	ctx.Response.Header.Set("Cache-Control", "no-cache")
	ctx.Response.Header.Set("X-Accel-Buffering", "no")
	ctx.SetBodyStreamWriter(func(bw *bufio.Writer) {
		// fasthttp runs this in its own goroutine, outside Handle's recover
		defer func() {
			if p := recover(); p != nil {
				s.log.Error("panic in a change stream", "panic", p)
			}
		}()
		var buf []engine.Event
		var line []byte
		bw.WriteString("retry: 1000\n\n")
		for {
			conn.SetWriteDeadline(time.Now().Add(30 * time.Second))
			if bw.Flush() != nil {
				return
			}
			var wake <-chan struct{}
			var err error
			buf, wake, err = s.ans.Changes(since, 512, buf[:0])
			if err != nil {
				_, oldest, _ := fault.Info(err)
				if oldest > 0 { // a slow client fell behind the backlog
					fmt.Fprintf(bw, "event: gone\ndata: {\"oldest\":%d}\n\n", oldest)
					bw.Flush()
				}
				return
			}
			for i := range buf {
				ev := &buf[i]
				line = answer.EventJSON(line[:0], ev, pol)
				fmt.Fprintf(bw, "id: %d\nevent: change\ndata: ", ev.Version)
				bw.Write(line)
				bw.WriteString("\n\n")
				since = ev.Version
			}
			if len(buf) > 0 {
				continue
			}
			select {
			case <-wake:
			case <-time.After(15 * time.Second):
				bw.WriteString(": keep-alive\n\n")
			case <-s.stop:
				return
			}
		}
	})
	return nil
}
