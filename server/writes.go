package server

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/roomstate/roomstate/engine"
	"github.com/roomstate/roomstate/store"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fastjson"
)

// opError turns a rejected request into an answer; lines maps op indexes to
// NDJSON lines (nil for single changes).
func opError(err error, lines []int) error {
	var oe *engine.OpError
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	if !errors.As(err, &oe) {
		if errors.Is(err, store.ErrClosed) {
			return errf(fasthttp.StatusServiceUnavailable, "unavailable", "the server is shutting down")
		}
		return toAPIError(err)
	}
	status := fasthttp.StatusBadRequest
	if oe.Code == "not_found" && lines == nil {
		status = fasthttp.StatusNotFound
	}
	ae = errf(status, oe.Code, "%s", oe.Message)
	if lines != nil && oe.Index < len(lines) {
		ae.Line = lines[oe.Index]
		ae.Message = fmt.Sprintf("line %d: %s; nothing was applied", ae.Line, oe.Message)
	}
	return ae
}

// stringList reads a JSON array of strings (or null); what names its items
// in errors ("flag names", "building ids").
func stringList(v *fastjson.Value, name, what string) ([]string, error) {
	if v == nil || v.Type() == fastjson.TypeNull {
		return nil, nil
	}
	arr, err := v.Array()
	if err != nil {
		return nil, fmt.Errorf("%s must be an array of %s", name, what)
	}
	out := make([]string, 0, len(arr))
	for _, x := range arr {
		b, err := x.StringBytes()
		if err != nil {
			return nil, fmt.Errorf("%s must be an array of %s", name, what)
		}
		out = append(out, string(b))
	}
	return out, nil
}

// flagOp reads {"id"?, "set", "clear"} into an op. pathID is the id the
// path names ("" in a batch, where the object must carry it); an id in the
// body must then agree with it.
func flagOp(o *fastjson.Object, pathID string) (engine.Op, error) {
	op := engine.Op{Kind: engine.OpFlags, ID: pathID}
	var err error
	o.Visit(func(k []byte, v *fastjson.Value) {
		if err != nil {
			return
		}
		switch string(k) {
		case "id":
			b, e := v.StringBytes()
			if e != nil {
				err = fmt.Errorf("id must be a string")
				return
			}
			if pathID != "" && string(b) != pathID {
				err = fmt.Errorf("id %q in the body differs from %q in the path", b, pathID)
				return
			}
			op.ID = string(b)
		case "set":
			op.Set, err = stringList(v, "set", "flag names")
		case "clear":
			op.Clear, err = stringList(v, "clear", "flag names")
		default:
			err = fmt.Errorf("unknown field %q (want id, set, clear)", k)
		}
	})
	if err == nil && op.ID == "" {
		err = fmt.Errorf("id is missing")
	}
	return op, err
}

// patchDwelling answers PATCH /api/v1/dwellings/{id}.
func (s *Server) patchDwelling(ctx *fasthttp.RequestCtx, id string) error {
	p, obj, err := s.parseBody(ctx)
	if err != nil {
		return err
	}
	op, err := flagOp(obj, id)
	s.parsers.Put(p)
	if err != nil {
		return errf(fasthttp.StatusBadRequest, "bad_request", "%v", err)
	}
	op.ID = id
	check, err := s.allowWrite(ctx, []engine.Op{op}, nil)
	if err != nil {
		return err
	}
	evs, err := s.store.Submit([]engine.Op{op}, s.who(ctx), check)
	if err != nil {
		return opError(err, nil)
	}
	d, err := s.eng.Dwelling(id)
	if err != nil { // deleted right after: answer with what the change did
		d = &engine.Dwelling{ID: id, Flags: []string{}}
	}
	st := s.state()
	defer s.release(st)
	w := &st.w
	w.raw(`{"id":`)
	w.str(id)
	w.raw(`,"flags":`)
	w.strs(d.Flags)
	w.raw(`,"version":`)
	w.uint(uint64(evs[len(evs)-1].Version))
	w.raw("}\n")
	send(ctx, w.b)
	return nil
}

// postUpdates answers POST /api/v1/updates: NDJSON, one {"id","set","clear"}
// a line, all lines or none.
func (s *Server) postUpdates(ctx *fasthttp.RequestCtx, _ []string) error {
	body := ctx.PostBody()
	if len(body) == 0 {
		return errf(fasthttp.StatusBadRequest, "bad_json", "the body is empty: send one JSON object per line")
	}
	p := s.parsers.Get()
	defer s.parsers.Put(p)
	var ops []engine.Op
	var lines []int
	line := 0
	for len(body) > 0 {
		line++
		i := bytes.IndexByte(body, '\n')
		var l []byte
		if i < 0 {
			l, body = body, nil
		} else {
			l, body = body[:i], body[i+1:]
		}
		l = bytes.TrimSpace(l)
		if len(l) == 0 {
			continue
		}
		if len(ops) >= s.opts.MaxBatchLines {
			return &apiError{Status: fasthttp.StatusRequestEntityTooLarge, Code: "too_large", Line: line,
				Message: fmt.Sprintf("more than %d changes in one batch; split it", s.opts.MaxBatchLines)}
		}
		v, err := p.ParseBytes(l)
		if err != nil {
			return &apiError{Status: fasthttp.StatusBadRequest, Code: "bad_json", Line: line,
				Message: fmt.Sprintf("line %d is not valid JSON: %v; nothing was applied", line, err)}
		}
		o, err := v.Object()
		if err != nil {
			return &apiError{Status: fasthttp.StatusBadRequest, Code: "bad_json", Line: line,
				Message: fmt.Sprintf("line %d must be a JSON object; nothing was applied", line)}
		}
		op, err := flagOp(o, "")
		if err != nil {
			return &apiError{Status: fasthttp.StatusBadRequest, Code: "bad_request", Line: line,
				Message: fmt.Sprintf("line %d: %v; nothing was applied", line, err)}
		}
		ops = append(ops, op)
		lines = append(lines, line)
	}
	if len(ops) == 0 {
		return errf(fasthttp.StatusBadRequest, "bad_request", "no changes in the body")
	}
	check, err := s.allowWrite(ctx, ops, lines)
	if err != nil {
		return err
	}
	evs, err := s.store.Submit(ops, s.who(ctx), check)
	if err != nil {
		return opError(err, lines)
	}
	st := s.state()
	defer s.release(st)
	w := &st.w
	w.raw(`{"applied":`)
	w.int(int64(len(evs)))
	w.raw(`,"version":`)
	w.uint(uint64(evs[len(evs)-1].Version))
	w.raw("}\n")
	send(ctx, w.b)
	return nil
}

// putDwelling answers PUT /api/v1/dwellings/{id}: the record in the shape
// GET gives it (version ignored).
func (s *Server) putDwelling(ctx *fasthttp.RequestCtx, id string) error {
	p, obj, err := s.parseBody(ctx)
	if err != nil {
		return err
	}
	defer s.parsers.Put(p)
	in := &engine.DwellingInput{Floor: engine.NoFloor}
	var ferr error
	seen := map[string]bool{}
	obj.Visit(func(k []byte, v *fastjson.Value) {
		if ferr != nil {
			return
		}
		key := string(k)
		seen[key] = true
		str := func() string {
			if v.Type() == fastjson.TypeNull {
				return ""
			}
			b, err := v.StringBytes()
			if err != nil {
				ferr = fmt.Errorf("%s must be a string", key)
			}
			return string(b)
		}
		num := func() float64 {
			f, err := v.Float64()
			if err != nil || v.Type() != fastjson.TypeNumber {
				ferr = fmt.Errorf("%s must be a number", key)
			}
			return f
		}
		switch key {
		case "id":
			if str() != id {
				ferr = fmt.Errorf("id %q in the body differs from %q in the path", str(), id)
			}
		case "lon":
			in.Lon = num()
		case "lat":
			in.Lat = num()
		case "district":
			in.District = str()
		case "street":
			in.Street = str()
		case "community":
			in.Community = str()
		case "grid":
			in.Grid = str()
		case "building":
			in.Building = str()
		case "unit":
			in.Unit = str()
		case "room":
			in.Room = str()
		case "floor":
			if v.Type() == fastjson.TypeNull {
				return
			}
			f := num()
			if ferr == nil && (f != float64(int16(f)) || f == engine.NoFloor) {
				ferr = fmt.Errorf("floor must be an integer from -32767 to 32767")
			}
			in.Floor = int16(f)
		case "flags":
			in.Flags, ferr = stringList(v, "flags", "flag names")
		case "version":
		default:
			ferr = fmt.Errorf("unknown field %q", key)
		}
	})
	if ferr == nil && (!seen["lon"] || !seen["lat"]) {
		ferr = fmt.Errorf("lon and lat are required")
	}
	if ferr != nil {
		return errf(fasthttp.StatusBadRequest, "bad_request", "%v", ferr)
	}
	_, missing := s.eng.Dwelling(id)
	ops := []engine.Op{{Kind: engine.OpPut, ID: id, Put: in}}
	check, err := s.allowWrite(ctx, ops, nil)
	if err != nil {
		return err
	}
	evs, err := s.store.Submit(ops, s.who(ctx), check)
	if err != nil {
		return opError(err, nil)
	}
	d, err := s.eng.Dwelling(id)
	if err != nil {
		return err
	}
	d.Version = evs[len(evs)-1].Version
	st := s.state()
	defer s.release(st)
	writeDwelling(&st.w, d)
	if missing != nil {
		ctx.SetStatusCode(fasthttp.StatusCreated)
	}
	send(ctx, st.w.b)
	return nil
}

func (s *Server) deleteDwelling(ctx *fasthttp.RequestCtx, id string) error {
	ops := []engine.Op{{Kind: engine.OpDelete, ID: id}}
	check, err := s.allowWrite(ctx, ops, nil)
	if err != nil {
		return err
	}
	evs, err := s.store.Submit(ops, s.who(ctx), check)
	if err != nil {
		return opError(err, nil)
	}
	st := s.state()
	defer s.release(st)
	w := &st.w
	w.raw(`{"id":`)
	w.str(id)
	w.raw(`,"deleted":true,"version":`)
	w.uint(uint64(evs[0].Version))
	w.raw("}\n")
	send(ctx, w.b)
	return nil
}

// dwelling dispatches /api/v1/dwellings/{id} by method.
func (s *Server) dwellingAny(ctx *fasthttp.RequestCtx, segs []string) error {
	id := segs[3]
	switch string(ctx.Method()) {
	case "PATCH":
		return s.patchDwelling(ctx, id)
	case "PUT":
		return s.putDwelling(ctx, id)
	case "DELETE":
		return s.deleteDwelling(ctx, id)
	}
	return s.dwelling(ctx, segs)
}

// changes answers GET /api/v1/changes?since=V as a text/event-stream of
// changes in version order. Without since (or Last-Event-ID), it starts now.
func (s *Server) changes(ctx *fasthttp.RequestCtx, _ []string) error {
	feed := s.store.Feed()
	since := feed.Newest()
	arg := ctx.QueryArgs().Peek("since")
	if len(arg) == 0 {
		arg = ctx.Request.Header.Peek("Last-Event-ID")
	}
	if len(arg) > 0 {
		v, err := strconv.ParseUint(string(arg), 10, 64)
		if err != nil {
			return errf(fasthttp.StatusBadRequest, "bad_request", "since must be a version number")
		}
		since = engine.Version(v)
	}
	// check the start before committing to a stream
	if _, _, err := feed.Since(since, 0, nil); err != nil {
		var g *store.GoneError
		if errors.As(err, &g) {
			return &apiError{Status: fasthttp.StatusGone, Code: "gone", Message: g.Error(),
				Oldest: uint64(g.Oldest)}
		}
		return errf(fasthttp.StatusServiceUnavailable, "unavailable", "%v", err)
	}
	k := s.suppressK(ctx)
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
		var w jsonw
		bw.WriteString("retry: 1000\n\n")
		for {
			conn.SetWriteDeadline(time.Now().Add(30 * time.Second))
			if bw.Flush() != nil {
				return
			}
			var wake <-chan struct{}
			var err error
			buf, wake, err = feed.Since(since, 512, buf[:0])
			if err != nil {
				var g *store.GoneError
				if errors.As(err, &g) { // a slow client fell behind the backlog
					fmt.Fprintf(bw, "event: gone\ndata: {\"oldest\":%d}\n\n", g.Oldest)
					bw.Flush()
				}
				return
			}
			for i := range buf {
				ev := &buf[i]
				w.b = w.b[:0]
				writeEvent(&w, ev, k)
				fmt.Fprintf(bw, "id: %d\nevent: change\ndata: ", ev.Version)
				bw.Write(w.b)
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

// writeEvent writes one change as JSON. Viewers (k > 0) see which building
// changed but not which dwelling, nor its flags.
func writeEvent(w *jsonw, ev *engine.Event, k int64) {
	w.raw(`{"version":`)
	w.uint(uint64(ev.Version))
	w.raw(`,"op":`)
	w.str(ev.Op.String())
	if k == 0 {
		w.raw(`,"id":`)
		w.str(ev.ID)
	}
	w.raw(`,"building":`)
	w.str(ev.Building)
	w.raw(`,"feature_id":`)
	w.uint(engine.FeatureID(ev.Building))
	if k == 0 {
		w.raw(`,"set":`)
		w.strs(nonNil(ev.Set))
		w.raw(`,"clear":`)
		w.strs(nonNil(ev.Clear))
	}
	w.byte('}')
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
