package engine

import (
	"cmp"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/roomstate/roomstate/fault"
)

// Responsibility (楼组包干): who answers for each building, and when it was
// last swept.
//
// An assignment names the person (with a team and a phone) who answers for
// one unit: a building, a grid, a community or a street. A building's
// responsible person is its own assignment, else its grid's, else its
// community's, else its street's. A building's grid, community and street
// are those of its dwellings; when its dwellings lie in more than one, the
// one most of them are in (ties: the smaller id), so that every building
// has one person at most and is counted in one unit of each level.
// Assignments are kept by unit id, so an assignment may name a unit that
// has no dwelling yet: it takes effect when one arrives.
//
// A visit records a sweep of a building (洗楼/扫楼): its time, who recorded it
// and a note. The engine keeps each building's last visit.
//
// Both are changes like any other: they take a version (the history log
// keeps a history.Other entry for each, so that versions stay consecutive),
// go through Prepare and Commit, and are in snapshots.

// Assignment names who answers for one unit.
type Assignment struct {
	Level  Level  // building, grid, community or street
	ID     string // the unit's id
	Person string
	Team   string
	Phone  string
}

// AssignInput is what an OpAssign sets for the unit (Level, Op.ID): an empty
// Person removes its assignment.
type AssignInput struct {
	Level  Level
	Person string
	Team   string
	Phone  string
}

// VisitInput is an OpVisit's record of a sweep of building Op.ID.
type VisitInput struct {
	By   string // who recorded it (a token's name)
	Note string
}

// Visit is a building's last recorded visit.
type Visit struct {
	Time time.Time
	By   string
	Note string
}

// ChangeInfo describes a change that is not to a dwelling, for the change
// feed and the audit trail.
type ChangeInfo struct {
	Level  Level  // OpAssign: the unit's level
	Person string // OpAssign: who answers for the unit now ("" when nobody)
	Team   string
	Phone  string
	By     string // OpVisit: who recorded it
	Note   string // OpVisit
	Label  string // OpCampaign
	Tasks  int    // OpCampaign: the size of the task set
}

// Limits of the text of assignments and visits, in bytes.
const (
	MaxPersonLen = 128 // a person's or a team's name
	MaxPhoneLen  = 64
	MaxNoteLen   = 1024
)

// resolveLevels are the levels a building's responsibility comes from when
// it has no assignment of its own, in order.
var resolveLevels = [...]Level{LevelGrid, LevelCommunity, LevelStreet}

// Assignable reports whether units of level l take assignments.
func Assignable(l Level) bool {
	return l == LevelBuilding || l == LevelGrid || l == LevelCommunity || l == LevelStreet
}

type asgKey struct {
	level Level
	id    string
}

type visitRec struct {
	ms       int64
	by, note string
}

// resp is the writer's record of assignments and visits. Guarded by the
// engine's lock: written by the writer, read by readers.
type resp struct {
	asg    map[asgKey]*Assignment // by level and unit id; an Assignment is never changed once filed
	visits map[string]*visitRec   // by building id: its last visit; a visitRec is never changed either

	// log: the retained assignments and visits, by version, each with what
	// its unit or building held just before it, so that an answer as of a
	// past version undoes those made since (as the history log undoes
	// changes of dwellings); those at or before the history's oldest
	// version go (trimResp). In snapshots.
	log []respChange
	// last: the respAt last made (a tile of a past version after another
	// asks the same), valid while the log ends where it did
	last *atomic.Pointer[respAt]

	// derived for the current state, by number: made again when the state
	// is replaced (install), extended when units or buildings are added
	// (syncResp), and kept by the writer on every assignment and visit
	byBld    []*Assignment                // by building: its own assignment
	byUnit   [numAreaLevels][]*Assignment // by level and unit
	visitBld []*visitRec                  // by building: its last visit
}

func newResp() resp {
	return resp{asg: map[asgKey]*Assignment{}, visits: map[string]*visitRec{}, last: new(atomic.Pointer[respAt])}
}

// respChange is one retained assignment (of unit key) or visit (of
// building key.id) and what the unit's assignment (asg) or the building's
// last visit (vis) was just before it (nil: none).
type respChange struct {
	ver   Version
	visit bool
	key   asgKey
	asg   *Assignment
	vis   *visitRec
}

// trimResp drops the logged assignments and visits no answer as of a
// retained version undoes: those at or before the history's oldest
// version. It copies what it keeps, so that a frozen view of the log stays
// as it was. Caller is the writer, holding the write lock.
func (w *Writer) trimResp() {
	r, oldest := &w.resp, Version(w.hist.Oldest())
	n := sort.Search(len(r.log), func(i int) bool { return r.log[i].ver > oldest })
	if n > 0 {
		r.log = slices.Clone(r.log[n:])
	}
}

// respAt is responsibility as of a past version: the units and buildings
// assigned or visited since, with their assignment or last visit then;
// every other is as it is now.
type respAt struct {
	r      *resp
	asg    map[asgKey]*Assignment
	visits map[string]*visitRec
	// of version v, made when the log's newest change was end: the
	// current assignments and visits it falls back on are those of end
	v, end Version
}

// respAsOf returns responsibility as of version v (the current one for v
// at or after the newest change). Caller holds the read lock.
func (e *Engine) respAsOf(v Version) *respAt {
	r := &e.resp
	log := r.log
	end := Version(0)
	if len(log) > 0 {
		end = log[len(log)-1].ver
	}
	if ra := r.last.Load(); ra != nil && ra.r == r && ra.v == v && ra.end == end {
		return ra
	}
	ra := &respAt{r: r, v: v, end: end}
	defer r.last.Store(ra)
	for _, c := range log[sort.Search(len(log), func(i int) bool { return log[i].ver > v }):] {
		// the first change of a key after v holds what it was at v
		if c.visit {
			if _, seen := ra.visits[c.key.id]; !seen {
				if ra.visits == nil {
					ra.visits = map[string]*visitRec{}
				}
				ra.visits[c.key.id] = c.vis
			}
		} else if _, seen := ra.asg[c.key]; !seen {
			if ra.asg == nil {
				ra.asg = map[asgKey]*Assignment{}
			}
			ra.asg[c.key] = c.asg
		}
	}
	return ra
}

// assignment returns unit k's assignment then (nil: none).
func (ra *respAt) assignment(k asgKey) *Assignment {
	if a, ok := ra.asg[k]; ok {
		return a
	}
	return ra.r.asg[k]
}

// visit returns building id's last visit then (nil: none).
func (ra *respAt) visit(id string) *visitRec {
	if v, ok := ra.visits[id]; ok {
		return v
	}
	return ra.r.visits[id]
}

// responsible returns who answered for building bi then, its own units
// (grid, community, street) then being home. Caller holds the lock.
func (ra *respAt) responsible(st *state, bi uint32, home *areaTuple) *Assignment {
	if a := ra.assignment(asgKey{LevelBuilding, st.blds[bi].id}); a != nil {
		return a
	}
	for _, l := range resolveLevels {
		if u := home[l]; u != 0 {
			if a := ra.assignment(asgKey{l, st.levels[l].ids[u]}); a != nil {
				return a
			}
		}
	}
	return nil
}

// annotate adds to a building's description as of a past version who
// answered for it and its last visit then; home is its own units then.
// Caller holds the read lock.
func (ra *respAt) annotate(st *state, info *BuildingInfo, bi uint32, home *areaTuple) {
	info.Responsible, info.LastVisit = nil, nil
	if a := ra.responsible(st, bi, home); a != nil {
		c := *a
		info.Responsible = &c
	}
	if v := ra.visit(st.blds[bi].id); v != nil {
		info.LastVisit = &Visit{Time: time.UnixMilli(v.ms), By: v.by, Note: v.note}
	}
}

// homeOf returns, per level, the unit most of the dwellings ds are in,
// among those that have one at that level; ties go to the smaller id: a
// building's own units, as majority gives them for its slots.
func (st *state) homeOf(ds []dstate) areaTuple {
	return st.majorityOf(len(ds), func(i int) uint32 { return ds[i].area })
}

// pastHome returns building bi's own units as of pa.v: its units now when
// none of its dwellings changed since (touched: the buildings the changed
// dwellings are in, now or then), else those of its dwellings then.
func (st *state) pastHome(bi uint32, pa *past, touched map[uint32]bool) areaTuple {
	if !touched[bi] {
		return st.blds[bi].home
	}
	return st.homeOf(st.pastDwellings(bi, pa, nil))
}

// touchedBy returns the buildings the dwellings changed since pa.v are in,
// now or then.
func touchedBy(pa *past) map[uint32]bool {
	touched := map[uint32]bool{}
	for i := range pa.deltas {
		for _, d := range [2]*dstate{&pa.deltas[i].now, &pa.deltas[i].then} {
			if d.exists {
				touched[d.bld] = true
			}
		}
	}
	return touched
}

// deriveResp makes the arrays by number for the current state. Caller is
// the writer, holding the write lock (or nobody else sees the engine).
func (w *Writer) deriveResp() {
	r := &w.resp
	r.byBld, r.visitBld = nil, nil
	for l := range r.byUnit {
		r.byUnit[l] = nil
	}
	w.syncResp()
}

// syncResp extends the arrays by number to the buildings and units the
// state has now. Caller is the writer, holding the write lock.
func (w *Writer) syncResp() {
	st, r := w.st, &w.resp
	for bi := len(r.byBld); bi < len(st.blds); bi++ {
		id := st.blds[bi].id
		r.byBld = append(r.byBld, r.asg[asgKey{LevelBuilding, id}])
		r.visitBld = append(r.visitBld, r.visits[id])
	}
	for _, l := range resolveLevels {
		ids := st.levels[l].ids
		for u := len(r.byUnit[l]); u < len(ids); u++ {
			var a *Assignment
			if u > 0 {
				a = r.asg[asgKey{l, ids[u]}]
			}
			r.byUnit[l] = append(r.byUnit[l], a)
		}
	}
}

// responsibleOf returns who answers for building bi, nil when nobody.
// Caller holds the lock.
func (e *Engine) responsibleOf(st *state, bi uint32) *Assignment {
	r := &e.resp
	if a := r.byBld[bi]; a != nil {
		return a
	}
	h := &st.blds[bi].home
	for _, l := range resolveLevels {
		if u := h[l]; u != 0 {
			if a := r.byUnit[l][u]; a != nil {
				return a
			}
		}
	}
	return nil
}

// lastVisit returns building bi's last visit (nil: never). Caller holds
// the lock.
func (e *Engine) lastVisit(bi uint32) *visitRec { return e.resp.visitBld[bi] }

// checkText refuses text that is not UTF-8, holds a control character or is
// longer than max bytes.
func checkText(s, what string, max int) error {
	switch {
	case len(s) > max:
		return fmt.Errorf("%s is longer than %d bytes", what, max)
	case !utf8.ValidString(s):
		return fmt.Errorf("%s is not valid UTF-8", what)
	}
	for _, r := range s {
		if r < 0x20 && r != '\t' || r == 0x7f {
			return fmt.Errorf("%s holds a control character", what)
		}
	}
	return nil
}

// CheckAssignment checks an assignment's fields as an OpAssign would,
// without the state: loaders use it to name the line of a bad record.
func CheckAssignment(level Level, id string, in *AssignInput) error {
	if !Assignable(level) {
		return fmt.Errorf("level %q: want building, grid, community or street", level)
	}
	if strings.TrimSpace(id) == "" {
		return fmt.Errorf("id is empty")
	}
	if err := checkText(id, "id", MaxFieldLen); err != nil {
		return err
	}
	if in.Person == "" && (in.Team != "" || in.Phone != "") {
		return fmt.Errorf("team and phone need a person (an empty person removes the assignment)")
	}
	if in.Person != "" && strings.TrimSpace(in.Person) == "" {
		return fmt.Errorf("person is blank")
	}
	for _, f := range []struct {
		v, what string
		max     int
	}{{in.Person, "person", MaxPersonLen}, {in.Team, "team", MaxPersonLen}, {in.Phone, "phone", MaxPhoneLen}} {
		if err := checkText(f.v, f.what, f.max); err != nil {
			return err
		}
	}
	return nil
}

func (st *state) checkAssign(i int, op *Op, pc *prepCtx) error {
	in := op.Assign
	if in == nil {
		return opErr(i, fault.BadRequest, "assign without an assignment")
	}
	if err := CheckAssignment(in.Level, op.ID, in); err != nil {
		return opErr(i, fault.BadRequest, "%s %q: %v", in.Level, op.ID, err)
	}
	k := asgKey{in.Level, op.ID}
	if pc.localAsg == nil {
		pc.localAsg = map[asgKey]*Assignment{}
	}
	if in.Person == "" {
		pc.localAsg[k] = nil
	} else {
		pc.localAsg[k] = &Assignment{Level: in.Level, ID: op.ID, Person: in.Person, Team: in.Team, Phone: in.Phone}
	}
	return nil
}

func (st *state) checkVisit(i int, op *Op, sc *Scope, pc *prepCtx) error {
	in := op.Visit
	if in == nil {
		return opErr(i, fault.BadRequest, "visit without a record")
	}
	if err := checkText(op.ID, "building", MaxFieldLen); err != nil || op.ID == "" {
		return opErr(i, fault.BadRequest, "building: want a building id")
	}
	if err := checkText(in.Note, "note", MaxNoteLen); err != nil {
		return opErr(i, fault.BadRequest, "%v", err)
	}
	if err := checkText(in.By, "name", MaxPersonLen); err != nil {
		return opErr(i, fault.BadRequest, "%v", err)
	}
	home, ok := pc.home(st, op.ID)
	if !ok {
		return opErr(i, fault.NotFound, "building %q not found", op.ID)
	}
	if sc != nil && !sc.holdsUnits(home, op.ID) && !pc.answeredBy(st, sc.Person, op.ID) {
		return opErr(i, fault.Forbidden, "building %q is outside the scope of this token; nothing was applied", op.ID)
	}
	return nil
}

// touchBuilding records that what tiles show of building bi changes at
// st.cur.
func (st *state) touchBuilding(bi uint32) {
	for int(bi) >= len(st.bver) {
		st.bver = append(st.bver, 0)
	}
	st.bver[bi] = st.cur
}

// applyAssign files an assignment. A building's own one changes what its
// tiles show; one of a grid, community or street may change any building's,
// so every cached tile goes.
func (w *Writer) applyAssign(st *state, op *Op) Event {
	in := op.Assign
	r := &w.resp
	k := asgKey{in.Level, op.ID}
	r.log = append(r.log, respChange{ver: st.cur, key: k, asg: r.asg[k]})
	var a *Assignment
	if in.Person == "" {
		delete(r.asg, k)
	} else {
		a = &Assignment{Level: in.Level, ID: op.ID, Person: in.Person, Team: in.Team, Phone: in.Phone}
		r.asg[k] = a
	}
	ev := Event{Op: OpAssign, ID: op.ID, Info: &ChangeInfo{Level: in.Level, Person: in.Person, Team: in.Team, Phone: in.Phone}}
	if in.Level == LevelBuilding {
		ev.Building = op.ID
		if bi, ok := st.bldIdx[op.ID]; ok {
			r.byBld[bi] = a
			st.touchBuilding(bi)
			ev.changed = true
		}
		return ev
	}
	if u, ok := st.levels[in.Level].index[op.ID]; ok {
		r.byUnit[in.Level][u] = a
	}
	w.bumpGen()
	return ev
}

// applyVisit records a visit at ms.
func (w *Writer) applyVisit(st *state, op *Op, ms int64) Event {
	v := &visitRec{ms: ms, by: op.Visit.By, note: op.Visit.Note}
	w.resp.log = append(w.resp.log, respChange{ver: st.cur, visit: true, key: asgKey{LevelBuilding, op.ID}, vis: w.resp.visits[op.ID]})
	w.resp.visits[op.ID] = v
	bi := st.bldIdx[op.ID]
	w.resp.visitBld[bi] = v
	st.touchBuilding(bi)
	grid := st.levels[LevelGrid].ids[st.blds[bi].home[LevelGrid]]
	return Event{Op: OpVisit, ID: op.ID, Building: op.ID, Grid: grid, changed: true,
		Info: &ChangeInfo{By: v.by, Note: v.note}}
}

// annotate adds a building's responsible person and last visit to its
// description. Caller holds the read lock.
func (e *Engine) annotate(st *state, info *BuildingInfo) {
	bi, ok := st.bldIdx[info.ID]
	if !ok {
		return
	}
	if a := e.responsibleOf(st, bi); a != nil {
		c := *a
		info.Responsible = &c
	}
	if v := e.lastVisit(bi); v != nil {
		info.LastVisit = &Visit{Time: time.UnixMilli(v.ms), By: v.by, Note: v.note}
	}
}

// Assignments lists the assignments of one level (every level when level
// is nil) and of one person ("" for anyone), by level (building, grid,
// community, street) and id.
func (e *Engine) Assignments(level *Level, person string) ([]Assignment, Version) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	out := []Assignment{}
	for k, a := range e.resp.asg {
		if (level == nil || k.level == *level) && (person == "" || a.Person == person) {
			out = append(out, *a)
		}
	}
	sortAssignments(out)
	return out, e.version
}

// assignOrder ranks levels as resolution meets them.
func assignOrder(l Level) int {
	switch l {
	case LevelBuilding:
		return 0
	case LevelGrid:
		return 1
	case LevelCommunity:
		return 2
	}
	return 3
}

func sortAssignments(as []Assignment) {
	slices.SortFunc(as, func(a, b Assignment) int {
		if c := cmp.Compare(assignOrder(a.Level), assignOrder(b.Level)); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
}

// Unoccupied returns the units of as that hold no dwelling now (an
// assignment of such a unit takes effect when one arrives; often it is a
// misspelt id).
func (e *Engine) Unoccupied(as []Assignment) []Assignment {
	e.mu.RLock()
	defer e.mu.RUnlock()
	st := e.st
	var present [numAreaLevels][]bool
	for l := range present {
		present[l] = make([]bool, len(st.levels[l].ids))
	}
	for bi := range st.blds {
		b := &st.blds[bi]
		if len(b.slots) == 0 {
			continue
		}
		if !b.mixed {
			for l, u := range st.areas[b.area] {
				present[l][u] = true
			}
			continue
		}
		for _, p := range b.slots {
			for l, u := range st.areas[st.area[p]] {
				present[l][u] = true
			}
		}
	}
	var out []Assignment
	for _, a := range as {
		ok := false
		if a.Level == LevelBuilding {
			bi, known := st.bldIdx[a.ID]
			ok = known && len(st.blds[bi].slots) > 0
		} else if u, known := st.levels[a.Level].index[a.ID]; known && u != 0 {
			ok = present[a.Level][u]
		}
		if !ok {
			out = append(out, a)
		}
	}
	return out
}

// CoverageQuery asks how well the buildings of each unit of a level are
// covered: Level (district, street, community or grid), Where (the
// dwellings counted in unassigned buildings), Stale (count assigned
// buildings not visited within it; 0 for none), ListUnassigned (name each
// unit's unassigned buildings, so that their counts can be shown one by one
// through a privacy policy).
type CoverageQuery struct {
	Level          string
	Where          string
	Stale          time.Duration
	ListUnassigned bool
}

// CoverageUnit is one unit's coverage: of its buildings (those whose own
// unit at the level it is), how many have a responsible person, how many
// have none and how many dwellings matching where these hold, and how many
// of the assigned were not visited within the stale period.
type CoverageUnit struct {
	Level             Level
	ID, Name          string
	Buildings         int64
	Assigned          int64
	Unassigned        int64
	MatchedUnassigned int64
	Stale             int64
	// UnassignedIDs, with ListUnassigned: the ids of its unassigned
	// buildings, sorted
	UnassignedIDs []string
}

// CoverageResult answers a CoverageQuery: one unit per id in the dwellings'
// column of the level, by id.
type CoverageResult struct {
	Level   Level
	Units   []CoverageUnit
	Version Version
}

// Coverage answers q.
func (e *Engine) Coverage(q CoverageQuery) (*CoverageResult, error) {
	level, err := ParseLevel(q.Level)
	if err != nil || level == LevelBuilding {
		return nil, fault.New(fault.BadRequest, "level must be district, street, community or grid")
	}
	if q.Stale < 0 {
		return nil, fault.New(fault.BadRequest, "stale must be positive")
	}
	e.mu.RLock()
	defer e.mu.RUnlock()
	st := e.st
	x, err := e.parseWhere(st, q.Where)
	if err != nil {
		return nil, err
	}
	_, bv := e.ranks.buildings(st, x)
	cutoff := e.opts.Clock().Add(-q.Stale).UnixMilli()
	// per unit: its buildings, assigned, stale, and whether it has a dwelling
	type tally struct {
		buildings, assigned, stale int32
		present                    bool
		matched                    int64
		unassigned                 []string // with q.ListUnassigned
	}
	rows := make([]tally, len(st.levels[level].ids))
	// a unit has a dwelling when an area tuple holding it does: those of
	// unmixed buildings are summed per tuple, mixed buildings are few
	for a, at := range st.areas {
		if bv.areaOf(uint32(a))[0] > 0 {
			rows[at[level]].present = true
		}
	}
	for bi := range st.mixed {
		for _, p := range st.blds[bi].slots {
			rows[st.areas[st.area[p]][level]].present = true
		}
	}
	for bi := range st.blds {
		b := &st.blds[bi]
		if len(b.slots) == 0 {
			continue
		}
		u := b.home[level]
		if u == 0 {
			continue
		}
		r := &rows[u]
		r.buildings++
		if e.responsibleOf(st, uint32(bi)) == nil {
			r.matched += bv.of(uint32(bi))[1]
			if q.ListUnassigned {
				r.unassigned = append(r.unassigned, b.id)
			}
			continue
		}
		r.assigned++
		if q.Stale > 0 {
			if v := e.lastVisit(uint32(bi)); v == nil || v.ms < cutoff {
				r.stale++
			}
		}
	}
	n := 0
	for i := range rows {
		if rows[i].present && i != 0 {
			n++
		}
	}
	res := &CoverageResult{Level: level, Version: e.version, Units: make([]CoverageUnit, 0, n)}
	ut := &st.levels[level]
	for _, u := range ut.sorted() {
		if r := &rows[u]; u != 0 && r.present {
			slices.Sort(r.unassigned)
			res.Units = append(res.Units, CoverageUnit{Level: level, ID: ut.ids[u], Name: ut.names[u], Buildings: int64(r.buildings),
				Assigned: int64(r.assigned), Unassigned: int64(r.buildings - r.assigned), MatchedUnassigned: r.matched, Stale: int64(r.stale),
				UnassignedIDs: r.unassigned})
		}
	}
	return res, nil
}

// PersonBuilding is a building a person answers for, with its dwellings
// (total, and matching where), and the assignment it comes through.
type PersonBuilding struct {
	ID      string
	Total   int64
	Matched int64
	Via     Assignment
}

// PersonWork is what a person answers for: the units assigned to them and
// the buildings that resolve to them, counted in dwellings.
type PersonWork struct {
	Person    string
	Units     []Assignment
	Buildings []PersonBuilding // by id
	Total     int64
	Matched   int64
	Version   Version
}

// PersonWork answers for a person what they answer for; a person with no
// assignment is a fault.NotFound.
func (e *Engine) PersonWork(person, where string) (*PersonWork, error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	st := e.st
	x, err := e.parseWhere(st, where)
	if err != nil {
		return nil, err
	}
	pw := &PersonWork{Person: person, Version: e.version, Units: []Assignment{}, Buildings: []PersonBuilding{}}
	for _, a := range e.resp.asg {
		if a.Person == person {
			pw.Units = append(pw.Units, *a)
		}
	}
	if len(pw.Units) == 0 {
		return nil, fault.New(fault.NotFound, "nobody called %q answers for a unit", person)
	}
	sortAssignments(pw.Units)
	_, bv := e.ranks.buildings(st, x)
	for bi := range st.blds {
		if len(st.blds[bi].slots) == 0 {
			continue
		}
		a := e.responsibleOf(st, uint32(bi))
		if a == nil || a.Person != person {
			continue
		}
		c := bv.of(uint32(bi))
		pw.Buildings = append(pw.Buildings, PersonBuilding{ID: st.blds[bi].id, Total: c[0], Matched: c[1], Via: *a})
		pw.Total += c[0]
		pw.Matched += c[1]
	}
	slices.SortFunc(pw.Buildings, func(a, b PersonBuilding) int { return strings.Compare(a.ID, b.ID) })
	return pw, nil
}

// AssignmentRecord is an assignment in a snapshot.
type AssignmentRecord struct {
	Level  uint8
	ID     string
	Person string
	Team   string
	Phone  string
}

// VisitRecord is a building's last visit in a snapshot.
type VisitRecord struct {
	Building string
	Ms       int64
	By       string
	Note     string
}

// exportResp lists the assignments and visits in a stable order. Caller
// holds the lock.
func (e *Engine) exportResp() ([]AssignmentRecord, []VisitRecord) {
	as := make([]Assignment, 0, len(e.resp.asg))
	for _, a := range e.resp.asg {
		as = append(as, *a)
	}
	sortAssignments(as)
	out := make([]AssignmentRecord, len(as))
	for i, a := range as {
		out[i] = AssignmentRecord{Level: uint8(a.Level), ID: a.ID, Person: a.Person, Team: a.Team, Phone: a.Phone}
	}
	vs := make([]VisitRecord, 0, len(e.resp.visits))
	for b, v := range e.resp.visits {
		vs = append(vs, VisitRecord{Building: b, Ms: v.ms, By: v.by, Note: v.note})
	}
	slices.SortFunc(vs, func(a, b VisitRecord) int { return strings.Compare(a.Building, b.Building) })
	return out, vs
}

// RespChangeRecord is a retained assignment (of unit Level, ID) or visit
// (Visit: of building ID) in a snapshot, with what the unit's assignment
// or the building's last visit was just before it (Had false: none).
type RespChangeRecord struct {
	Ver   uint64
	Visit bool
	Level uint8
	ID    string
	Had   bool
	// before an assignment: the unit's assignment
	Person, Team, Phone string
	// before a visit: the building's last visit
	Ms       int64
	By, Note string
}

// exportRespLog lists the retained assignments and visits, by version.
// Caller holds the lock.
func (e *Engine) exportRespLog() []RespChangeRecord {
	out := make([]RespChangeRecord, len(e.resp.log))
	for i, c := range e.resp.log {
		r := RespChangeRecord{Ver: uint64(c.ver), Visit: c.visit, Level: uint8(c.key.level), ID: c.key.id}
		if c.asg != nil {
			r.Had, r.Person, r.Team, r.Phone = true, c.asg.Person, c.asg.Team, c.asg.Phone
		}
		if c.vis != nil {
			r.Had, r.Ms, r.By, r.Note = true, c.vis.ms, c.vis.by, c.vis.note
		}
		out[i] = r
	}
	return out
}

// importRespLog reads a snapshot's retained assignments and visits into
// r: versions ascending, at most newest; those at or before oldest (which
// no answer undoes) are left out.
func importRespLog(r *resp, log []RespChangeRecord, oldest, newest uint64) error {
	prev := uint64(0)
	for _, c := range log {
		if c.Ver <= prev || c.Ver > newest {
			return fmt.Errorf("a change of version %d out of order (after %d, up to %d)", c.Ver, prev, newest)
		}
		prev = c.Ver
		if c.Ver <= oldest {
			continue
		}
		rc := respChange{ver: Version(c.Ver), visit: c.Visit, key: asgKey{Level(c.Level), c.ID}}
		switch {
		case c.Visit:
			rc.key.level = LevelBuilding
			if c.Had {
				rc.vis = &visitRec{ms: c.Ms, by: c.By, note: c.Note}
			}
		case !Assignable(Level(c.Level)):
			return fmt.Errorf("an assignment of level %d at version %d", c.Level, c.Ver)
		case c.Had:
			if c.Person == "" {
				return fmt.Errorf("an assignment of nobody before version %d", c.Ver)
			}
			rc.asg = &Assignment{Level: Level(c.Level), ID: c.ID, Person: c.Person, Team: c.Team, Phone: c.Phone}
		}
		r.log = append(r.log, rc)
	}
	return nil
}

// importResp reads a snapshot's assignments and visits, checking them.
func importResp(as []AssignmentRecord, vs []VisitRecord) (resp, error) {
	r := newResp()
	for _, a := range as {
		in := &AssignInput{Level: Level(a.Level), Person: a.Person, Team: a.Team, Phone: a.Phone}
		if err := CheckAssignment(Level(a.Level), a.ID, in); err != nil || a.Person == "" {
			return r, fmt.Errorf("assignment of %s %q: %v", Level(a.Level), a.ID, err)
		}
		k := asgKey{Level(a.Level), a.ID}
		if r.asg[k] != nil {
			return r, fmt.Errorf("%s %q is assigned twice", Level(a.Level), a.ID)
		}
		r.asg[k] = &Assignment{Level: Level(a.Level), ID: a.ID, Person: a.Person, Team: a.Team, Phone: a.Phone}
	}
	for _, v := range vs {
		if v.Building == "" || r.visits[v.Building] != nil {
			return r, fmt.Errorf("visit of building %q: empty or twice", v.Building)
		}
		r.visits[v.Building] = &visitRec{ms: v.Ms, by: v.By, note: v.Note}
	}
	return r, nil
}
