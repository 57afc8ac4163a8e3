package answer

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/roomstate/roomstate/engine"
	"github.com/roomstate/roomstate/fault"
	"github.com/roomstate/roomstate/store"
	"github.com/valyala/fastjson"
)

// timeMs is how answers write an instant: RFC 3339 with milliseconds.
const timeMs = "2006-01-02T15:04:05.000Z07:00"

// grow makes room for n more bytes at once: a large answer would
// otherwise grow its buffer by doubling, copying it each time.
func (w *jsonw) grow(n int) {
	if cap(w.b)-len(w.b) < n {
		w.b = append(make([]byte, 0, len(w.b)+n), w.b...)
	}
}

// writeResponsible writes who answers for a building: {"person", "team",
// "phone", "level", "id"}, or null.
func writeResponsible(w *jsonw, a *engine.Assignment) {
	if a == nil {
		w.raw("null")
		return
	}
	w.raw(`{"person":`)
	w.str(a.Person)
	w.raw(`,"team":`)
	w.str(a.Team)
	w.raw(`,"phone":`)
	w.str(a.Phone)
	w.raw(`,"level":`)
	w.str(a.Level.String())
	w.raw(`,"id":`)
	w.str(a.ID)
	w.byte('}')
}

// writeAssignment writes one assignment: {"level", "id", "person", "team",
// "phone"}.
func writeAssignment(w *jsonw, a *engine.Assignment) {
	w.unitRef(a.Level.String(), a.ID)
	w.raw(`,"person":`)
	w.str(a.Person)
	w.raw(`,"team":`)
	w.str(a.Team)
	w.raw(`,"phone":`)
	w.str(a.Phone)
	w.byte('}')
}

// AssignOp is the change that sets who answers for a unit (level, id); an
// empty person removes its assignment.
func AssignOp(level engine.Level, id, person, team, phone string) engine.Op {
	return engine.Op{Kind: engine.OpAssign, ID: id, Assign: &engine.AssignInput{Level: level, Person: person, Team: team, Phone: phone}}
}

// Assignments answers GET /api/v1/assignments?level=&person= (analysts and
// above: it lists phones): {"assignments": [{"level", "id", "person",
// "team", "phone"}], "version"}, by level (building, grid, community,
// street) and id.
func (a *Answers) Assignments(q Query, c *Caller) ([]byte, error) {
	if err := c.need(Analyst); err != nil {
		return nil, err
	}
	var level *engine.Level
	if s := q.Get("level"); s != "" {
		l, err := engine.ParseLevel(s)
		if err != nil || !engine.Assignable(l) {
			return nil, fault.New(fault.BadRequest, "level %q: want building, grid, community or street", s)
		}
		level = &l
	}
	as, v := a.eng.Assignments(level, q.Get("person"))
	sc := a.scratch()
	w := &sc.w
	w.raw(`{"assignments":[`)
	for i := range as {
		w.comma(i)
		writeAssignment(w, &as[i])
	}
	w.raw(`],"version":`)
	w.uint(uint64(v))
	w.raw("}\n")
	return a.done(sc), nil
}

// maxAssignments bounds the records of one PUT /api/v1/assignments.
const maxAssignments = 100_000

// PutAssignments answers PUT /api/v1/assignments (admins): a JSON list of
// {"level", "id", "person", "team"?, "phone"?}; each replaces the
// assignment of its unit, "person": null removes it; all or none, each a
// change with its own version → {"applied", "version", "unoccupied":
// [{"level", "id"}]} (units assigned that hold no dwelling now: the
// assignment waits for one, but often the id is misspelt).
func (a *Answers) PutAssignments(body []byte, c *Caller) ([]byte, error) {
	if err := c.need(Admin); err != nil {
		return nil, err
	}
	if len(body) == 0 {
		return nil, fault.New(fault.BadJSON, "the body is empty; want a JSON list of {\"level\", \"id\", \"person\"}")
	}
	p := a.parsers.Get()
	defer a.parsers.Put(p)
	v, err := p.ParseBytes(body)
	if err != nil {
		return nil, fault.New(fault.BadJSON, "body is not valid JSON: %v", err)
	}
	items, err := v.Array()
	if err != nil {
		return nil, fault.New(fault.BadJSON, "body must be a JSON list of {\"level\", \"id\", \"person\"}, not %s", v.Type())
	}
	if len(items) == 0 {
		return nil, fault.New(fault.BadRequest, "the list is empty")
	}
	if len(items) > maxAssignments {
		return nil, fault.New(fault.TooLarge, "%d assignments; at most %d in one request", len(items), maxAssignments)
	}
	ops := make([]engine.Op, 0, len(items))
	seen := map[[2]string]int{}
	for i, it := range items {
		op, err := assignmentItem(it)
		if err == nil {
			k := [2]string{op.Assign.Level.String(), op.ID}
			if j, dup := seen[k]; dup {
				err = fmt.Errorf("%s %q is listed twice (first at [%d])", k[0], op.ID, j)
			}
			seen[k] = i
		}
		if err != nil {
			return nil, fault.New(fault.BadRequest, "assignments[%d]: %v; nothing was applied", i, err)
		}
		ops = append(ops, op)
	}
	evs, err := a.submitAdmin(c, ops)
	if err != nil {
		var oe *engine.OpError
		if errors.As(err, &oe) {
			return nil, &fault.Error{Kind: fault.KindOf(oe.Err), Msg: fmt.Sprintf("assignments[%d]: %s; nothing was applied",
				oe.Index, strings.TrimSuffix(oe.Err.Error(), "; nothing was applied"))}
		}
		return nil, err
	}
	var set []engine.Assignment
	for _, op := range ops {
		if op.Assign.Person != "" {
			set = append(set, engine.Assignment{Level: op.Assign.Level, ID: op.ID})
		}
	}
	sc := a.scratch()
	w := &sc.w
	w.raw(`{"applied":`)
	w.int(int64(len(evs)))
	w.raw(`,"version":`)
	w.uint(uint64(evs[len(evs)-1].Version))
	w.raw(`,"unoccupied":[`)
	for i, u := range a.eng.Unoccupied(set) {
		w.comma(i)
		w.unitRef(u.Level.String(), u.ID)
		w.byte('}')
	}
	w.raw("]}\n")
	return a.done(sc), nil
}

// assignmentItem reads one {"level", "id", "person", "team", "phone"}.
func assignmentItem(it *fastjson.Value) (engine.Op, error) {
	o, err := it.Object()
	if err != nil {
		return engine.Op{}, fmt.Errorf("want an object {\"level\", \"id\", \"person\"}")
	}
	var level, id, person, team, phone string
	var hasLevel, hasID, hasPerson bool
	o.Visit(func(k []byte, v *fastjson.Value) {
		if err != nil {
			return
		}
		str := func(name string, nullable bool) string {
			if v.Type() == fastjson.TypeNull && nullable {
				return ""
			}
			b, e := v.StringBytes()
			if e != nil {
				err = fmt.Errorf("%s must be a string", name)
			}
			return string(b)
		}
		switch string(k) {
		case "level":
			level, hasLevel = str("level", false), true
		case "id":
			id, hasID = str("id", false), true
		case "person":
			person, hasPerson = str("person (or null to remove the assignment)", true), true
		case "team":
			team = str("team", true)
		case "phone":
			phone = str("phone", true)
		default:
			err = fmt.Errorf("unknown field %q (want level, id, person, team, phone)", k)
		}
	})
	if err != nil {
		return engine.Op{}, err
	}
	if !hasLevel || !hasID || !hasPerson {
		return engine.Op{}, fmt.Errorf("level, id and person are required (\"person\": null removes the assignment)")
	}
	l, lerr := engine.ParseLevel(level)
	if lerr != nil {
		return engine.Op{}, fmt.Errorf("level %q: want building, grid, community or street", level)
	}
	if person == "" && hasPerson && it.Get("person").Type() == fastjson.TypeString {
		return engine.Op{}, fmt.Errorf("person is empty; \"person\": null removes the assignment")
	}
	op := AssignOp(l, id, person, team, phone)
	if err := engine.CheckAssignment(l, id, op.Assign); err != nil {
		return engine.Op{}, err
	}
	return op, nil
}

// submitAdmin sends a request of changes only an admin may make.
func (a *Answers) submitAdmin(c *Caller, ops []engine.Op) ([]engine.Event, error) {
	if err := c.need(Admin); err != nil {
		return nil, err
	}
	return a.submit(c, ops)
}

// Responsibility answers GET /api/v1/responsibility?level=grid&where=&stale=7d:
// per unit of the level (one per id in the dwellings' column), its
// buildings (those whose own unit it is), how many have a responsible
// person and how many not, the dwellings matching where in the unassigned
// ones, and (with stale) the assigned ones not visited within it (null
// without).
//
// A viewer's matched_unassigned is the sum of its unassigned buildings'
// counts as the protected hierarchy shows them (null when one of them is
// withheld): which buildings are unassigned is public (tiles carry
// assigned), so a sum of exact counts would give back a withheld
// building's count by subtracting the others'.
func (a *Answers) Responsibility(q Query, c *Caller) ([]byte, error) {
	start := time.Now()
	level := q.Get("level")
	if level == "" {
		level = engine.LevelGrid.String()
	}
	cq := engine.CoverageQuery{Level: level, Where: q.Get("where")}
	if s := q.Get("stale"); s != "" {
		d, err := spanParam("stale", s, time.Second)
		if err != nil {
			return nil, err
		}
		cq.Stale = d
	}
	pol := a.Policy(c)
	cq.ListUnassigned = !pol.Exact()
	res, err := a.eng.Coverage(cq)
	if err != nil {
		return nil, err
	}
	var vw *view
	if !pol.Exact() {
		if vw, err = a.viewFor(c, cq.Where, &engine.AsOf{}, nil); err != nil {
			return nil, err
		}
	}
	sc := a.scratch()
	w := &sc.w
	w.grow(len(res.Units) * 192)
	w.raw(`{"level":`)
	w.str(res.Level.String())
	w.raw(`,"units":[`)
	for i := range res.Units {
		u := &res.Units[i]
		w.comma(i)
		w.unitRef(u.Level.String(), u.ID)
		w.raw(`,"name":`)
		w.str(u.Name)
		w.raw(`,"buildings":`)
		w.count(pol.Value(u.Buildings))
		w.raw(`,"assigned":`)
		w.count(pol.Value(u.Assigned))
		w.raw(`,"unassigned":`)
		w.count(pol.Value(u.Unassigned))
		w.raw(`,"matched_unassigned":`)
		if vw == nil {
			w.count(pol.Value(u.MatchedUnassigned))
		} else {
			w.count(vw.sumMatched(u.UnassignedIDs))
		}
		w.raw(`,"stale":`)
		if cq.Stale > 0 {
			w.count(pol.Value(u.Stale))
		} else {
			w.raw("null")
		}
		w.byte('}')
	}
	w.byte(']')
	finish(w, res.Version, start)
	return a.done(sc), nil
}

// Person answers GET /api/v1/persons/{person}?where= (analysts and above):
// {"person", "units": [{"level", "id", "team", "phone"}], "buildings":
// [{"id", "total", "matched", "level", "unit"}], "total", "matched"}: the
// units assigned to them, and the buildings they answer for (with the
// assignment each comes through), counted in dwellings.
func (a *Answers) Person(person string, q Query, c *Caller) ([]byte, error) {
	if err := c.need(Analyst); err != nil {
		return nil, err
	}
	start := time.Now()
	pw, err := a.eng.PersonWork(person, q.Get("where"))
	if err != nil {
		return nil, err
	}
	pol := a.Policy(c)
	sc := a.scratch()
	w := &sc.w
	w.raw(`{"person":`)
	w.str(pw.Person)
	w.raw(`,"units":[`)
	for i := range pw.Units {
		u := &pw.Units[i]
		w.comma(i)
		w.unitRef(u.Level.String(), u.ID)
		w.raw(`,"team":`)
		w.str(u.Team)
		w.raw(`,"phone":`)
		w.str(u.Phone)
		w.byte('}')
	}
	w.raw(`],"buildings":[`)
	for i := range pw.Buildings {
		b := &pw.Buildings[i]
		w.comma(i)
		w.raw(`{"id":`)
		w.str(b.ID)
		w.raw(`,"total":`)
		w.count(pol.Value(b.Total))
		w.raw(`,"matched":`)
		w.count(pol.Value(b.Matched))
		w.raw(`,"level":`)
		w.str(b.Via.Level.String())
		w.raw(`,"unit":`)
		w.str(b.Via.ID)
		w.byte('}')
	}
	w.raw(`],"total":`)
	w.count(pol.Value(pw.Total))
	w.raw(`,"matched":`)
	w.count(pol.Value(pw.Matched))
	finish(w, pw.Version, start)
	return a.done(sc), nil
}

// Visit answers POST /api/v1/visits {"building", "note"?}: a sweep of the
// building recorded with its time and the token's name (editors inside
// their scope, and admins) → {"building", "time", "by", "version"}.
func (a *Answers) Visit(body []byte, c *Caller) ([]byte, error) {
	if err := c.need(Editor); err != nil {
		return nil, err
	}
	p, obj, err := a.parseBody(body)
	if err != nil {
		return nil, err
	}
	var building, note string
	var ferr error
	obj.Visit(func(k []byte, v *fastjson.Value) {
		if ferr != nil {
			return
		}
		switch string(k) {
		case "building":
			building, ferr = fieldString(v, "building")
		case "note":
			note, ferr = fieldString(v, "note")
		default:
			ferr = fault.New(fault.BadRequest, "unknown field %q (want building, note)", k)
		}
	})
	a.parsers.Put(p)
	if ferr != nil {
		return nil, ferr
	}
	if building == "" {
		return nil, fault.New(fault.BadRequest, "building is missing")
	}
	evs, err := a.submit(c, []engine.Op{{Kind: engine.OpVisit, ID: building, Visit: &engine.VisitInput{By: c.Name, Note: note}}})
	if err != nil {
		var oe *engine.OpError
		if errors.As(err, &oe) {
			return nil, oe.Err
		}
		return nil, err
	}
	ev := &evs[0]
	sc := a.scratch()
	w := &sc.w
	w.raw(`{"building":`)
	w.str(building)
	w.raw(`,"time":`)
	w.str(ev.Time.UTC().Format(timeMs))
	w.raw(`,"by":`)
	w.str(c.Name)
	w.raw(`,"version":`)
	w.uint(uint64(ev.Version))
	w.raw("}\n")
	return a.done(sc), nil
}

// ApplyAssignments submits assignments (from a file, at start-up) as the
// system, leaving out those that change nothing: it returns how many
// changed and the version of the last.
func ApplyAssignments(st *store.Store, ops []engine.Op) (int, engine.Version, error) {
	cur, _ := st.Engine().Assignments(nil, "")
	have := map[[2]string]engine.Assignment{}
	for _, a := range cur {
		have[[2]string{a.Level.String(), a.ID}] = a
	}
	var todo []engine.Op
	for _, op := range ops {
		in := op.Assign
		old, ok := have[[2]string{in.Level.String(), op.ID}]
		if ok && old.Person == in.Person && old.Team == in.Team && old.Phone == in.Phone || !ok && in.Person == "" {
			continue
		}
		todo = append(todo, op)
	}
	if len(todo) == 0 {
		return 0, st.Engine().Version(), nil
	}
	evs, err := st.Submit(engine.Request{Ops: todo}, &store.Who{Name: System.Name, Role: System.Role.String()})
	if err != nil {
		return 0, 0, err
	}
	return len(evs), evs[len(evs)-1].Version, nil
}
