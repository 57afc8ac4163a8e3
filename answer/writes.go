package answer

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/roomstate/roomstate/coord"
	"github.com/roomstate/roomstate/engine"
	"github.com/roomstate/roomstate/fault"
	"github.com/roomstate/roomstate/internal/when"
	"github.com/roomstate/roomstate/store"
	"github.com/valyala/fastjson"
)

// whyNot is what is wrong with a time that looks like one (when.Time's
// error), as "; reason"; "" otherwise.
func whyNot(err error) string {
	if err == nil || errors.Is(err, when.ErrNotTime) {
		return ""
	}
	return "; " + err.Error()
}

// lineError names the NDJSON line of an op's error: the failure keeps its
// kind, its message starts with the line, and it carries the line number.
func lineError(err error, lines []int) error {
	var oe *engine.OpError
	if lines == nil || !errors.As(err, &oe) || oe.Index >= len(lines) {
		return err
	}
	line := lines[oe.Index]
	kind := fault.KindOf(oe.Err)
	msg := oe.Err.Error()
	if !strings.HasPrefix(msg, "line ") {
		msg = fmt.Sprintf("line %d: %s", line, strings.TrimSuffix(msg, "; nothing was applied"))
	}
	if !strings.HasSuffix(msg, "nothing was applied") {
		msg += "; nothing was applied"
	}
	return &fault.Error{Kind: kind, Msg: msg, Line: line}
}

// submit sends a request of changes through the store, with the caller's
// scope and name for the audit.
func (a *Answers) submit(c *Caller, ops []engine.Op) ([]engine.Event, error) {
	if err := c.need(Editor); err != nil {
		return nil, err
	}
	if a.store == nil {
		return nil, fault.New(fault.Unavailable, "this server takes no changes")
	}
	r := engine.Request{Ops: ops}
	if c.Role < Admin {
		r.Scope = c.Scope
	}
	who := &store.Who{Name: c.Name, Role: c.Role.String(), Remote: c.Remote}
	evs, err := a.store.Submit(r, who)
	if errors.Is(err, store.ErrClosed) {
		return nil, fault.New(fault.Unavailable, "the server is shutting down")
	}
	return evs, err
}

// stringList reads a JSON array of strings (or null); what names its items
// in errors ("flag names", "building ids").
func stringList(v *fastjson.Value, name, what string) ([]string, error) {
	if v == nil || v.Type() == fastjson.TypeNull {
		return nil, nil
	}
	arr, err := v.Array()
	if err != nil {
		return nil, fault.New(fault.BadRequest, "%s must be an array of %s", name, what)
	}
	out := make([]string, 0, len(arr))
	for _, x := range arr {
		b, err := x.StringBytes()
		if err != nil {
			return nil, fault.New(fault.BadRequest, "%s must be an array of %s", name, what)
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
		case "until":
			if v.Type() == fastjson.TypeNull {
				return
			}
			b, e := v.StringBytes()
			t, te := when.Time(string(b))
			if e != nil || te != nil {
				err = fmt.Errorf("until must be an RFC 3339 time, e.g. 2026-12-11T00:00:00+08:00%s", whyNot(te))
				return
			}
			if !t.After(time.Now()) {
				err = fmt.Errorf("until %s is not in the future", b)
				return
			}
			op.Until = t
		default:
			err = fmt.Errorf("unknown field %q (want id, set, clear, until)", k)
		}
	})
	if err == nil && op.ID == "" {
		err = fmt.Errorf("id is missing")
	}
	if err == nil && !op.Until.IsZero() && len(op.Set) == 0 {
		err = fmt.Errorf("until applies to the flags set; set names none")
	}
	return op, err
}

// Patch answers PATCH /api/v1/dwellings/{id}: {"id", "flags", "version"},
// the flags as the change left them.
func (a *Answers) Patch(id string, body []byte, c *Caller) ([]byte, error) {
	p, obj, err := a.parseBody(body)
	if err != nil {
		return nil, err
	}
	op, err := flagOp(obj, id)
	a.parsers.Put(p)
	if err != nil {
		return nil, fault.New(fault.BadRequest, "%v", err)
	}
	op.ID = id
	evs, err := a.submit(c, []engine.Op{op})
	if err != nil {
		return nil, err
	}
	ev := &evs[len(evs)-1]
	sc := a.scratch()
	w := &sc.w
	w.raw(`{"id":`)
	w.str(id)
	w.raw(`,"flags":`)
	w.strs(ev.Flags)
	w.raw(`,"version":`)
	w.uint(uint64(ev.Version))
	w.raw("}\n")
	return a.done(sc), nil
}

// Updates answers POST /api/v1/updates: NDJSON, one {"id","set","clear"}
// a line, all lines or none.
func (a *Answers) Updates(body []byte, c *Caller) ([]byte, error) {
	if len(body) == 0 {
		return nil, fault.New(fault.BadJSON, "the body is empty: send one JSON object per line")
	}
	p := a.parsers.Get()
	defer a.parsers.Put(p)
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
		if len(ops) >= a.opts.MaxBatchLines {
			return nil, &fault.Error{Kind: fault.TooLarge, Line: line,
				Msg: fmt.Sprintf("more than %d changes in one batch; split it", a.opts.MaxBatchLines)}
		}
		v, err := p.ParseBytes(l)
		if err != nil {
			return nil, &fault.Error{Kind: fault.BadJSON, Line: line,
				Msg: fmt.Sprintf("line %d is not valid JSON: %v; nothing was applied", line, err)}
		}
		o, err := v.Object()
		if err != nil {
			return nil, &fault.Error{Kind: fault.BadJSON, Line: line,
				Msg: fmt.Sprintf("line %d must be a JSON object; nothing was applied", line)}
		}
		op, err := flagOp(o, "")
		if err != nil {
			return nil, &fault.Error{Kind: fault.BadRequest, Line: line,
				Msg: fmt.Sprintf("line %d: %v; nothing was applied", line, err)}
		}
		ops = append(ops, op)
		lines = append(lines, line)
	}
	if len(ops) == 0 {
		return nil, fault.New(fault.BadJSON, "no changes in the body")
	}
	evs, err := a.submit(c, ops)
	if err != nil {
		return nil, lineError(err, lines)
	}
	sc := a.scratch()
	w := &sc.w
	w.raw(`{"applied":`)
	w.int(int64(len(evs)))
	w.raw(`,"version":`)
	w.uint(uint64(evs[len(evs)-1].Version))
	w.raw("}\n")
	return a.done(sc), nil
}

// Put answers PUT /api/v1/dwellings/{id}: the record in the shape GET
// gives it (version ignored; expires sets when its flags clear
// themselves, none without it). created reports that the dwelling is new.
func (a *Answers) Put(id string, body []byte, c *Caller) (answer []byte, created bool, err error) {
	p, obj, err := a.parseBody(body)
	if err != nil {
		return nil, false, err
	}
	defer a.parsers.Put(p)
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
		case "expires":
			in.Expires, ferr = expiresOf(v)
		case "version":
		default:
			ferr = fmt.Errorf("unknown field %q", key)
		}
	})
	if ferr == nil && (!seen["lon"] || !seen["lat"]) {
		ferr = fmt.Errorf("lon and lat are required")
	}
	if ferr != nil {
		return nil, false, fault.New(fault.BadRequest, "%v", ferr)
	}
	evs, err := a.submit(c, []engine.Op{{Kind: engine.OpPut, ID: id, Put: in}})
	if err != nil {
		return nil, false, err
	}
	ev := &evs[len(evs)-1]
	// the record as the change made it: what was sent, in the building the
	// engine filed it under
	d := &engine.Dwelling{ID: id, Lon: coord.FromE7(coord.ToE7(in.Lon)), Lat: coord.FromE7(coord.ToE7(in.Lat)), District: in.District, Street: in.Street,
		Community: in.Community, Grid: in.Grid, Building: ev.Building, Unit: in.Unit, Floor: in.Floor,
		Room: in.Room, Flags: ev.Flags, Version: ev.Version}
	for n, t := range in.Expires { // as the engine keeps them: to the millisecond
		if d.Expires == nil {
			d.Expires = map[string]time.Time{}
		}
		d.Expires[n] = time.UnixMilli(t.UnixMilli())
	}
	sc := a.scratch()
	writeDwelling(&sc.w, d)
	return a.done(sc), ev.Created, nil
}

// expiresOf reads a record's "expires" as GET shows it: {"flag": T}, T an
// RFC 3339 time in the future (as until's); null or {} for none.
func expiresOf(v *fastjson.Value) (map[string]time.Time, error) {
	if v.Type() == fastjson.TypeNull {
		return nil, nil
	}
	o, err := v.Object()
	if err != nil {
		return nil, fmt.Errorf(`expires must be an object of flag names and times, e.g. {"isolated": "2026-12-11T00:00:00+08:00"}`)
	}
	var out map[string]time.Time
	now := time.Now()
	o.Visit(func(k []byte, v *fastjson.Value) {
		if err != nil {
			return
		}
		b, e := v.StringBytes()
		t, te := when.Time(string(b))
		if e != nil || te != nil {
			err = fmt.Errorf("expires.%s must be an RFC 3339 time, e.g. 2026-12-11T00:00:00+08:00%s", k, whyNot(te))
			return
		}
		if !t.After(now) {
			err = fmt.Errorf("expires.%s %s is not in the future", k, b)
			return
		}
		if out == nil {
			out = map[string]time.Time{}
		}
		out[string(k)] = t
	})
	return out, err
}

// Delete answers DELETE /api/v1/dwellings/{id}.
func (a *Answers) Delete(id string, c *Caller) ([]byte, error) {
	evs, err := a.submit(c, []engine.Op{{Kind: engine.OpDelete, ID: id}})
	if err != nil {
		return nil, err
	}
	sc := a.scratch()
	w := &sc.w
	w.raw(`{"id":`)
	w.str(id)
	w.raw(`,"deleted":true,"version":`)
	w.uint(uint64(evs[0].Version))
	w.raw("}\n")
	return a.done(sc), nil
}
