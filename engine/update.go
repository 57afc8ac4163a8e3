package engine

import (
	"fmt"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/roomstate/roomstate/coord"
	"github.com/roomstate/roomstate/fault"
	"github.com/roomstate/roomstate/history"
	"github.com/roomstate/roomstate/scheme"
)

// OpKind is the kind of a change to a dwelling.
type OpKind uint8

// The kinds of change.
const (
	OpFlags       OpKind = iota + 1 // set and clear flags
	OpPut                           // add or replace a whole dwelling
	OpDelete                        // remove a dwelling
	OpAssign                        // set or remove who answers for a unit (ID: the unit's id)
	OpVisit                         // record a visit of a building (ID: the building's id)
	OpCampaign                      // start a campaign, or change its label and deadline (ID: its name)
	OpEndCampaign                   // end a campaign (ID: its name)
	OpScheme                        // add or replace a scheme of the room-state map (ID: its name)
)

func (k OpKind) String() string {
	switch k {
	case OpFlags:
		return "flags"
	case OpPut:
		return "put"
	case OpDelete:
		return "delete"
	case OpAssign:
		return "assign"
	case OpVisit:
		return "visit"
	case OpCampaign:
		return "campaign"
	case OpEndCampaign:
		return "campaign_end"
	case OpScheme:
		return "scheme"
	}
	return fmt.Sprintf("op(%d)", uint8(k))
}

// OfDwelling reports whether the kind changes a dwelling (flags, put,
// delete); the others change responsibility, visits, campaigns or schemes.
func (k OpKind) OfDwelling() bool { return k >= OpFlags && k <= OpDelete }

// Op is one change to one dwelling.
type Op struct {
	Kind  OpKind
	ID    string
	Set   []string       // OpFlags: flags to set
	Clear []string       // OpFlags: flags to clear
	Put   *DwellingInput // OpPut: the new record
	// Until, when set (OpFlags), is when the flags set clear themselves.
	Until time.Time
	// Assign is what an OpAssign sets; Visit what an OpVisit records;
	// Campaign what an OpCampaign starts or changes.
	Assign   *AssignInput
	Visit    *VisitInput
	Campaign *CampaignInput
	// Scheme is what an OpScheme stores under ID: a change like any other,
	// with its version, so that nodes at one version draw one map.
	Scheme *scheme.Scheme
}

// DwellingInput is a whole dwelling as PUT gives it.
type DwellingInput struct {
	Lon       float64
	Lat       float64
	District  string
	Street    string
	Community string
	Grid      string
	Building  string
	Unit      string
	Floor     int16 // NoFloor when unknown
	Room      string
	Flags     []string
	// Expires, when set, says which flags of Flags clear themselves, and
	// when: as an OpFlags' Until does for the flags it sets. Without it the
	// dwelling's expiries are dropped, as the record replaces them.
	Expires map[string]time.Time
}

// Scope limits where a request may change dwellings (an editor's): a
// dwelling is in scope when its building, grid, community, street or
// district is listed, or when one of the persons listed answers for its
// building at the moment of the change (see Assignment); a building (a
// visit) when it is listed, its own grid, community, street or district
// is, or one of the persons answers for it. A nil *Scope is no limit. A
// request with a scope may hold only changes of dwellings and visits.
type Scope struct {
	District  []string
	Street    []string
	Community []string
	Grid      []string
	Building  []string
	Person    []string
}

// holdsUnits reports whether the scope lists a building or one of the
// units (indexed by Level) it lies in.
func (sc *Scope) holdsUnits(units [numAreaLevels]string, building string) bool {
	return slices.Contains(sc.Building, building) || slices.Contains(sc.Grid, units[LevelGrid]) ||
		slices.Contains(sc.Community, units[LevelCommunity]) || slices.Contains(sc.Street, units[LevelStreet]) ||
		slices.Contains(sc.District, units[LevelDistrict])
}

// Request is one request of changes, applied whole or not at all. Scope,
// when set, is checked against the state the changes apply to.
type Request struct {
	Ops   []Op
	Scope *Scope
}

// Event is an applied change, as the change feed shows it.
type Event struct {
	Version  Version
	Time     time.Time // when the change was accepted
	Op       OpKind
	ID       string
	Building string
	Grid     string   // the dwelling's grid (after the change; before, for a delete)
	Set      []string // flags now set by the change
	Clear    []string // flags now cleared by the change
	Flags    []string // the dwelling's flags after the change (none after a delete); shared between events: read it, never modify it
	Created  bool     // a put that added a new dwelling (not a replacement), or a campaign started
	// Info describes a change that is not to a dwelling (nil for those that are).
	Info *ChangeInfo

	changed bool   // the change altered the dwelling (a flag set again does not)
	did     uint32 // the dwelling's number
	// a flags change's flags set and cleared, as the history log keeps them
	setFlags, clearFlags flagMask
}

// flagMask is a set of flags 0–63 as bits, and whether it holds higher
// ones.
type flagMask struct {
	low  uint64
	high bool
}

func (m *flagMask) add(f FlagID) {
	if f < 64 {
		m.low |= 1 << f
	} else {
		m.high = true
	}
}

// OpError rejects a request because of one of its changes; nothing of the
// request was applied. It unwraps to the failure, whose kind is one of
// fault's.
type OpError struct {
	Index int // of the op in its request
	Err   error
}

func (e *OpError) Error() string { return e.Err.Error() }

// Unwrap returns the failure.
func (e *OpError) Unwrap() error { return e.Err }

func opErr(i int, kind error, format string, args ...any) error {
	return &OpError{Index: i, Err: fault.New(kind, format, args...)}
}

// MaxIDLen bounds a dwelling id, in bytes.
const MaxIDLen = 128

// MaxFieldLen bounds the text fields of a dwelling (unit ids, unit, room).
const MaxFieldLen = 256

// ValidID checks a dwelling id: 1–128 bytes of UTF-8 without control characters.
func ValidID(id string) error {
	switch {
	case id == "":
		return fmt.Errorf("id is empty")
	case len(id) > MaxIDLen:
		return fmt.Errorf("id is longer than %d bytes", MaxIDLen)
	case !utf8.ValidString(id):
		return fmt.Errorf("id is not valid UTF-8")
	}
	for _, r := range id {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("id holds a control character")
		}
	}
	return nil
}

// pending is what the requests checked so far in a group make of one
// dwelling: whether it exists after them, and where.
type pending struct {
	exists                                      bool
	district, street, grid, community, building string
}

// units are the ids of the units the dwelling lies in, indexed by Level.
func (d *pending) units() (u [numAreaLevels]string) {
	u[LevelDistrict], u[LevelStreet], u[LevelCommunity], u[LevelGrid] = d.district, d.street, d.community, d.grid
	return u
}

// Prepared is a group of requests checked against the state they will
// apply to. Commit applies its accepted requests.
type Prepared struct {
	gen   uint64 // the state generation it was checked against
	reqs  []Request
	slots [][]int32 // per request, per op: the dwelling's slot, or -1 to look up
	// Errs[i] is why request i was rejected; nil when it was accepted.
	Errs []error
	// First is the version the first accepted change will get.
	First Version
}

// Accepted returns the number of accepted requests and their changes.
func (p *Prepared) Accepted() (reqs, changes int) {
	for i, r := range p.reqs {
		if p.Errs[i] == nil {
			reqs++
			changes += len(r.Ops)
		}
	}
	return reqs, changes
}

// Prepare checks requests in order, as if each accepted one were applied
// before the next, against the current state. Nothing changes. Only the
// writer's goroutine may call it, and nothing but Commit may change the
// engine between the two.
func (w *Writer) Prepare(reqs []Request) *Prepared {
	st := w.Engine.st
	p := &Prepared{gen: st.gen, reqs: reqs, Errs: make([]error, len(reqs)), slots: make([][]int32, len(reqs)),
		First: w.Engine.version + 1}
	pc := newPrepCtx(w.Engine)
	found, read := st.lookupAll(reqs)
	w.read += read
	for i := range reqs {
		p.slots[i], p.Errs[i] = st.checkOps(&reqs[i], found[i], pc)
	}
	return p
}

// lookupAll finds the slots of the dwellings the changes of reqs are
// about, all at once (see idTable.findAll): per request, per op, the slot
// of a live dwelling of that id in st, or -1 (also for changes not of a
// dwelling), and what findAll read. The state does not change while a
// group is prepared, so the answers hold for the whole group.
func (st *state) lookupAll(reqs []Request) (found [][]int32, read uint64) {
	n := 0
	for _, r := range reqs {
		n += len(r.Ops)
	}
	ids := make([]string, 0, n)
	for _, r := range reqs {
		for _, op := range r.Ops {
			if op.Kind.OfDwelling() {
				ids = append(ids, op.ID)
			}
		}
	}
	all := make([]int32, len(ids))
	read = st.ids.findAll(ids, all, st.idOf)
	out := make([][]int32, len(reqs))
	for i, r := range reqs {
		out[i] = make([]int32, len(r.Ops))
		for j, op := range r.Ops {
			out[i][j] = -1
			if op.Kind.OfDwelling() {
				out[i][j], all = all[0], all[1:]
			}
		}
	}
	return out, read
}

// checkOps validates one request against st and the effects pc holds of
// the requests before it; on success pc takes its effects. found is what
// lookupAll gives for the request in st. The slots are those of flag
// changes whose dwelling checking found (-1 otherwise).
func (st *state) checkOps(r *Request, found []int32, pc *prepCtx) ([]int32, error) {
	pc.found = found
	mark := len(pc.moves)
	pc.local = map[string]pending{}
	pc.localAsg, pc.localCamps, pc.localSchemes = nil, nil, nil // made by the first assignment, campaign or scheme
	slots, err := st.checkRequest(r, pc)
	if err != nil {
		pc.rollback(st, mark)
		return nil, err
	}
	for id, v := range pc.local {
		pc.ov[id] = v
	}
	for k, v := range pc.localAsg {
		pc.asg[k] = v
	}
	for k, v := range pc.localCamps {
		pc.camps[k] = v
	}
	for k := range pc.localSchemes {
		pc.schemes[k] = true
	}
	return slots, nil
}

func (st *state) checkRequest(r *Request, pc *prepCtx) ([]int32, error) {
	ops := r.Ops
	slots := make([]int32, len(ops))
	local := pc.local
	structural := slices.ContainsFunc(ops, func(op Op) bool { return op.Kind != OpFlags })
	// find returns what is known of a dwelling before op i; where it is
	// (its street, grid, community and building) only when where is set
	find := func(i int, id string, where bool) pending {
		slots[i] = -1
		if v, ok := local[id]; ok {
			return v
		}
		if v, ok := pc.ov[id]; ok {
			return v
		}
		if pc.found[i] < 0 {
			return pending{}
		}
		p := uint32(pc.found[i])
		if !structural {
			slots[i] = int32(p)
		}
		if !where {
			return pending{exists: true}
		}
		return st.pendingOf(p)
	}
	flagErr := func(i int, names []string, what string) error {
		for _, n := range names {
			if _, ok := st.flagIndex[n]; !ok {
				return opErr(i, fault.BadFlag, "%s: unknown flag %q (known: %v)", what, n, st.flagNames)
			}
		}
		return nil
	}
	outside := func(i int, id, what string) error {
		if what != "" {
			what = " " + what
		}
		return opErr(i, fault.Forbidden, "dwelling %q%s is outside the scope of this token; nothing was applied", id, what)
	}
	// holds reports whether the scope covers a dwelling as d describes it
	holds := func(d pending) bool {
		sc := r.Scope
		if sc.holdsUnits(d.units(), d.building) {
			return true
		}
		return len(sc.Person) > 0 && pc.answeredBy(st, sc.Person, d.building)
	}
	if len(ops) == 0 {
		return nil, opErr(0, fault.BadRequest, "no changes in the request")
	}
	for i := range ops {
		op := &ops[i]
		// an id the table holds was checked when it was put or loaded
		if op.Kind.OfDwelling() && pc.found[i] < 0 {
			if err := ValidID(op.ID); err != nil {
				return nil, opErr(i, fault.BadRequest, "%v", err)
			}
		}
		switch op.Kind {
		case OpFlags:
			if len(op.Set) == 0 && len(op.Clear) == 0 {
				return nil, opErr(i, fault.BadRequest, "set or clear must name at least one flag")
			}
			if err := flagErr(i, op.Set, "set"); err != nil {
				return nil, err
			}
			if err := flagErr(i, op.Clear, "clear"); err != nil {
				return nil, err
			}
			for _, n := range op.Set {
				if slices.Contains(op.Clear, n) {
					return nil, opErr(i, fault.BadRequest, "flag %q is both set and cleared", n)
				}
			}
			if !op.Until.IsZero() && len(op.Set) == 0 {
				return nil, opErr(i, fault.BadRequest, "until applies to the flags a change sets; this one sets none")
			}
			d := find(i, op.ID, r.Scope != nil)
			if !d.exists {
				return nil, opErr(i, fault.NotFound, "dwelling %q not found", op.ID)
			}
			if r.Scope != nil && !holds(d) {
				return nil, outside(i, op.ID, "")
			}
		case OpPut:
			in := op.Put
			if in == nil {
				return nil, opErr(i, fault.BadRequest, "put without a record")
			}
			if err := coord.ValidLonLat(in.Lon, in.Lat); err != nil {
				return nil, opErr(i, fault.BadRequest, "%v", err)
			}
			for _, s := range []string{in.District, in.Street, in.Community, in.Grid, in.Building, in.Unit, in.Room} {
				if !utf8.ValidString(s) || len(s) > MaxFieldLen {
					return nil, opErr(i, fault.BadRequest, "a field is not valid UTF-8 or longer than %d bytes", MaxFieldLen)
				}
			}
			if err := flagErr(i, in.Flags, "flags"); err != nil {
				return nil, err
			}
			for n, t := range in.Expires {
				if !slices.Contains(in.Flags, n) {
					return nil, opErr(i, fault.BadRequest, "expires names flag %q, which flags does not hold: only a flag the record sets can clear itself", n)
				}
				if t.IsZero() {
					return nil, opErr(i, fault.BadRequest, "expires of flag %q has no time", n)
				}
			}
			bkey := in.Building
			if bkey == "" {
				bkey = pointBuildingID(coord.ToE7(in.Lon), coord.ToE7(in.Lat))
			}
			before := find(i, op.ID, true)
			if r.Scope != nil {
				if before.exists && !holds(before) {
					return nil, outside(i, op.ID, "")
				}
				if err := st.checkClaim(i, in, bkey); err != nil {
					return nil, err
				}
			}
			after := pending{exists: true, district: in.District, street: in.Street, grid: in.Grid, community: in.Community, building: bkey}
			slots[i] = -1
			local[op.ID] = after
			pc.moves = append(pc.moves, move{from: before, to: after})
			if r.Scope != nil && !holds(after) {
				return nil, outside(i, op.ID, "as sent")
			}
		case OpDelete:
			d := find(i, op.ID, true)
			if !d.exists {
				return nil, opErr(i, fault.NotFound, "dwelling %q not found", op.ID)
			}
			if r.Scope != nil && !holds(d) {
				return nil, outside(i, op.ID, "")
			}
			slots[i] = -1
			local[op.ID] = pending{}
			pc.moves = append(pc.moves, move{from: d})
		case OpVisit:
			slots[i] = -1
			if err := st.checkVisit(i, op, r.Scope, pc); err != nil {
				return nil, err
			}
		case OpScheme:
			slots[i] = -1
			if r.Scope != nil {
				return nil, opErr(i, fault.Forbidden, "a token with a scope may change dwellings and record visits, not %s; nothing was applied", op.Kind)
			}
			if err := pc.checkScheme(st, i, op); err != nil {
				return nil, err
			}
		case OpAssign, OpCampaign, OpEndCampaign:
			slots[i] = -1
			if r.Scope != nil {
				return nil, opErr(i, fault.Forbidden, "a token with a scope may change dwellings and record visits, not %s; nothing was applied", op.Kind)
			}
			var err error
			if op.Kind == OpAssign {
				err = st.checkAssign(i, op, pc)
			} else {
				err = st.checkCampaign(i, op, pc)
			}
			if err != nil {
				return nil, err
			}
		default:
			return nil, opErr(i, fault.BadRequest, "unknown kind of change")
		}
	}
	return slots, nil
}

// pendingOf describes the live dwelling in slot p.
func (st *state) pendingOf(p uint32) pending {
	at := st.areas[st.area[p]]
	return pending{exists: true, district: st.levels[LevelDistrict].ids[at[LevelDistrict]],
		street: st.levels[LevelStreet].ids[at[LevelStreet]], grid: st.levels[LevelGrid].ids[at[LevelGrid]],
		community: st.levels[LevelCommunity].ids[at[LevelCommunity]], building: st.blds[st.bld[p]].id}
}

// checkClaim refuses a scoped put into an existing building whose
// hierarchy the record does not repeat: a building's district, street,
// community and grid change only by an admin or a load.
func (st *state) checkClaim(i int, in *DwellingInput, bkey string) error {
	bi, ok := st.bldIdx[bkey]
	if !ok || len(st.blds[bi].slots) == 0 {
		return nil
	}
	claim := [numAreaLevels]string{in.District, in.Street, in.Community, in.Grid}
	b := &st.blds[bi]
	matches := func(a uint32) bool {
		at := st.areas[a]
		for l, u := range at {
			if st.levels[l].ids[u] != claim[l] {
				return false
			}
		}
		return true
	}
	if !b.mixed && matches(b.area) {
		return nil
	}
	if b.mixed && slices.ContainsFunc(b.slots, func(p uint32) bool { return matches(st.area[p]) }) {
		return nil
	}
	at := st.areas[b.area]
	return opErr(i, fault.Forbidden, "building %q is in district %q, street %q, community %q, grid %q: a dwelling put into it "+
		"must repeat them (a building's hierarchy changes only by an admin)", bkey,
		st.levels[LevelDistrict].ids[at[LevelDistrict]], st.levels[LevelStreet].ids[at[LevelStreet]],
		st.levels[LevelCommunity].ids[at[LevelCommunity]], st.levels[LevelGrid].ids[at[LevelGrid]])
}

// Commit applies the accepted requests of p, in order, under one write
// lock: each change gets the next version and the time t. Readers never see
// part of it. p must come from Prepare with nothing changed since.
func (w *Writer) Commit(p *Prepared, t time.Time) [][]Event {
	e := w.Engine
	e.mu.Lock()
	defer e.mu.Unlock()
	st := e.st
	if p.gen != st.gen || p.First != e.version+1 {
		panic(fmt.Sprintf("engine: commit of a group prepared against generation %d version %d, now %d version %d",
			p.gen, p.First-1, st.gen, e.version))
	}
	e.ranks.begin()
	warm := p.flagSlots()
	k := 0 // the changes of the group applied so far
	ms := t.UnixMilli()
	evs := make([][]Event, len(p.reqs))
	for i := range p.reqs {
		if p.Errs[i] != nil {
			continue
		}
		ops := p.reqs[i].Ops
		evs[i] = make([]Event, 0, len(ops))
		for j := range ops {
			if k%warmChunk == 0 {
				w.read += st.warm(warm[k:min(k+warmChunk, len(warm))])
			}
			k++
			e.version++
			st.cur = e.version
			op := &ops[j]
			if !op.Kind.OfDwelling() {
				ev := w.applyOther(st, op, ms)
				ev.Version, ev.Time = e.version, t
				w.hist.Append(history.Entry{Ver: uint64(e.version), Ms: ms, Kind: history.Other})
				evs[i] = append(evs[i], ev)
				continue
			}
			before := st.stateBeforeOp(op, p.slots[i][j])
			evs[i] = append(evs[i], Event{})
			ev := &evs[i][len(evs[i])-1]
			st.apply(op, p.slots[i][j], e.ranks, ev)
			ev.Version, ev.Time = e.version, t
			w.logChange(st, ev, ms, before)
			w.expire(st, op, ev.did)
			if w.camps.mask != nil && (ev.changed || op.Kind != OpFlags) {
				w.touchTasks(st, ev.did, ms)
			}
			if w.compacting != nil {
				w.compacting.journal = append(w.compacting.journal, *op)
			}
		}
	}
	st.resortUnits()
	w.syncResp()
	w.trimHistory(ms)
	w.checkInvariants(evs...)
	return evs
}

// flagSlots lists, for each accepted change of p in order, the slot of its
// dwelling when it is a flag change that checking found, or -1.
func (p *Prepared) flagSlots() []int32 {
	var out []int32
	for i, r := range p.reqs {
		if p.Errs[i] != nil {
			continue
		}
		for j, op := range r.Ops {
			s := p.slots[i][j]
			if op.Kind != OpFlags {
				s = -1
			}
			out = append(out, s)
		}
	}
	return out
}

// warm reads, for the flag changes of slots (-1: none), what applying and
// logging them will read of their dwellings (place, area, building, number
// and flag words, then the area's units and the building), one column at a
// time across them: the cache and TLB misses of different dwellings
// overlap instead of following one another, and the changes then read
// from the cache. Commit warms a chunk of changes before applying it; in a
// city of millions those misses are most of a flag change's cost. It
// returns a sum of what it read (see Writer.read).
func (st *state) warm(slots []int32) uint64 {
	var sink uint64
	for _, s := range slots {
		if s >= 0 {
			sink += uint64(st.lon[s]) + uint64(st.lat[s]) + uint64(st.did[s])
		}
	}
	for _, s := range slots {
		if s >= 0 {
			sink += uint64(st.area[s]) + uint64(st.bld[s])
		}
	}
	for _, w := range st.words {
		for _, s := range slots {
			if s >= 0 {
				sink += w[s>>6]
			}
		}
	}
	for _, s := range slots {
		if s >= 0 {
			sink += uint64(st.areas[st.area[s]][LevelGrid]) + uint64(len(st.blds[st.bld[s]].id))
		}
	}
	return sink
}

// applyOther applies a change that is not to a dwelling, at ms.
func (w *Writer) applyOther(st *state, op *Op, ms int64) Event {
	w.syncResp() // puts earlier in the group may have added buildings and units
	switch op.Kind {
	case OpAssign:
		return w.applyAssign(st, op)
	case OpVisit:
		return w.applyVisit(st, op, ms)
	case OpCampaign:
		return w.applyCampaign(st, op, ms)
	case OpEndCampaign:
		return w.endCampaign(op)
	case OpScheme:
		w.logScheme(op.ID, st.cur)
		return w.applyScheme(st, op)
	}
	panic(fmt.Sprintf("engine: commit of an unchecked change of kind %s", op.Kind))
}

// Apply validates and applies one request at time t (the writer's way for
// tests and benchmarks): Prepare, Commit, and Maintain.
func (w *Writer) Apply(r Request, t time.Time) ([]Event, error) {
	p := w.Prepare([]Request{r})
	if p.Errs[0] != nil {
		return nil, p.Errs[0]
	}
	evs := w.Commit(p, t)
	w.Maintain()
	return evs[0], nil
}

// apply performs one validated change and describes it in ev (written in
// place: an event is a few hundred bytes); slot is the dwelling's slot when
// checking found it, -1 otherwise.
func (st *state) apply(op *Op, slot int32, rc *rankCache, ev *Event) {
	*ev = Event{Op: op.Kind, ID: op.ID, changed: op.Kind != OpFlags}
	var p uint32
	switch op.Kind {
	case OpFlags:
		p = uint32(slot)
		if slot < 0 {
			p, _ = st.lookup(op.ID)
		}
		for _, n := range op.Set {
			f := st.flagIndex[n]
			ev.changed = st.setFlag(p, f, true, rc) || ev.changed
			ev.setFlags.add(f)
		}
		for _, n := range op.Clear {
			f := st.flagIndex[n]
			ev.changed = st.setFlag(p, f, false, rc) || ev.changed
			ev.clearFlags.add(f)
		}
		ev.Set, ev.Clear = op.Set, op.Clear
	case OpPut:
		var old []string
		q, ok := st.lookup(op.ID)
		did := uint32(0)
		if ok {
			old = st.flagNamesOf(q)
			did = st.did[q]
			st.remove(q, rc)
		} else {
			did = st.newDID()
		}
		ev.Created = !ok
		p = st.insert(op.ID, did, op.Put, rc)
		ev.Set = slices.Clone(op.Put.Flags)
		for _, f := range old {
			if !slices.Contains(op.Put.Flags, f) {
				ev.Clear = append(ev.Clear, f)
			}
		}
	case OpDelete:
		p, _ = st.lookup(op.ID)
		ev.Building, ev.Grid = st.buildingGrid(p)
		ev.Clear = st.flagNamesOf(p)
		ev.Flags = []string{}
		ev.did = st.did[p]
		st.remove(p, rc)
		return
	}
	ev.Building, ev.Grid = st.buildingGrid(p)
	ev.Flags = st.flagNamesOf(p)
	ev.did = st.did[p]
}

// stateBeforeOp returns the state of the dwelling op is about, before it
// (exists false when there is none yet); slot as for apply.
func (st *state) stateBeforeOp(op *Op, slot int32) dstate {
	if slot >= 0 && op.Kind == OpFlags {
		// the history log keeps only the place, area and flags before a
		// flag change: the rest of the record is not read (each column is
		// a cache miss in a large city)
		p := uint32(slot)
		low, high := st.flagBits(p)
		return dstate{exists: true, lon: st.lon[p], lat: st.lat[p], area: st.area[p], low: low, high: high}
	}
	if slot >= 0 {
		return st.stateOf(uint32(slot))
	}
	if p, ok := st.lookup(op.ID); ok {
		return st.stateOf(p)
	}
	return dstate{}
}

// flagNamesOf lists the names of the flags slot p carries (never nil). A
// list of flags 0–63 only is made once and shared by every change that
// leaves a dwelling with those flags (callers must not modify it): a change
// event names the dwelling's flags, and making the list each time was a
// good part of a flag change's cost.
func (st *state) flagNamesOf(p uint32) []string {
	low, high := st.flagBits(p)
	if len(high) == 0 {
		if l, ok := st.nameLists[low]; ok {
			return l
		}
	}
	out := []string{}
	for _, f := range st.flagsOf(p) {
		out = append(out, st.flagNames[f])
	}
	if len(high) == 0 && len(st.nameLists) < maxNameLists {
		if st.nameLists == nil {
			st.nameLists = map[uint64][]string{}
		}
		out = slices.Clip(out)
		st.nameLists[low] = out
	}
	return out
}

// maxNameLists bounds the flag name lists a state keeps (flagNamesOf): a
// city's dwellings carry a few hundred combinations of flags at most.
const maxNameLists = 4096

// setFlag sets or clears one flag of slot p; it reports whether that
// changed anything.
func (st *state) setFlag(p uint32, f FlagID, on bool, rc *rankCache) bool {
	w := &st.words[f][p>>6]
	bit := uint64(1) << (p & 63)
	if (*w&bit != 0) == on {
		return false
	}
	if on {
		*w |= bit
	} else {
		*w &^= bit
	}
	st.touch(p)
	rc.markDirty(p, st.bld[p])
	return true
}

// buildingGrid returns the building and grid ids of slot p.
func (st *state) buildingGrid(p uint32) (building, grid string) {
	return st.blds[st.bld[p]].id, st.levels[LevelGrid].ids[st.areas[st.area[p]][LevelGrid]]
}

// remove deletes the dwelling in slot p; the slot stays, dead.
func (st *state) remove(p uint32, rc *rankCache) {
	for f := range st.words {
		st.setFlag(p, FlagID(f), false, rc)
	}
	st.ids.remove(st.idOf(p), st.idOf)
	st.touch(p)
	st.structVer = st.cur
	st.live[p>>6] &^= 1 << (p & 63)
	st.nLive--
	st.slotOf[st.did[p]] = -1
	bi := st.bld[p]
	b := &st.blds[bi]
	if i := slices.Index(b.slots, p); i >= 0 {
		b.slots = slices.Delete(b.slots, i, i+1)
	}
	st.refreshBuilding(bi)
	rc.markDirty(p, bi)
}

// insert adds dwelling did in a new slot of the delta.
func (st *state) insert(id string, did uint32, in *DwellingInput, rc *rankCache) uint32 {
	p := uint32(st.n)
	st.n++
	st.did = append(st.did, did)
	for int(did) >= len(st.slotOf) {
		st.slotOf = append(st.slotOf, -1)
	}
	st.slotOf[did] = int32(p)
	lon, lat := coord.ToE7(in.Lon), coord.ToE7(in.Lat)
	st.lon = append(st.lon, lon)
	st.lat = append(st.lat, lat)
	st.idBuf = append(st.idBuf, id...)
	st.idEnd = append(st.idEnd, uint32(len(st.idBuf)))
	at := areaTuple{st.levels[0].intern(in.District), st.levels[1].intern(in.Street),
		st.levels[2].intern(in.Community), st.levels[3].intern(in.Grid)}
	st.area = append(st.area, st.internArea(at))
	st.unit = append(st.unit, st.strs.intern(in.Unit))
	st.room = append(st.room, st.strs.intern(in.Room))
	st.floor = append(st.floor, in.Floor)
	key := in.Building
	if key == "" {
		key = pointBuildingID(lon, lat)
	}
	bi, ok := st.bldIdx[key]
	if !ok {
		bi = uint32(len(st.blds))
		key = string([]byte(key))
		st.blds = append(st.blds, building{id: key, fid: featureID(key)})
		st.bplace = append(st.bplace, bldPlace{})
		st.bldIdx[key] = bi
	}
	st.bld = append(st.bld, bi)
	for len(st.live) < st.nBlocks() {
		st.live = append(st.live, 0)
		for f := range st.words {
			st.words[f] = append(st.words[f], 0)
		}
	}
	st.live[p>>6] |= 1 << (p & 63)
	st.nLive++
	st.ids.insert(id, p, st.idOf)
	for _, n := range in.Flags {
		st.setFlag(p, st.flagIndex[n], true, rc)
	}
	st.touch(p)
	st.structVer = st.cur
	b := &st.blds[bi]
	b.slots = append(b.slots, p)
	st.sortRoomOrder(b.slots, nil)
	st.refreshBuilding(bi)
	rc.markDirty(p, bi)
	return p
}

// frozen returns a copy of the state that later writes do not touch: the
// arrays writers change in place (liveness, flag words, unit names,
// boundaries) are copied; the others are only ever appended to, so their
// current length is a stable view. Caller is the writer, or holds the lock.
func (st *state) frozen() *state {
	c := *st
	c.live = slices.Clone(st.live)
	c.words = make([][]uint64, len(st.words))
	c.slotOf = nil    // not needed by a rebuild
	c.nameLists = nil // the writer's alone
	for f := range st.words {
		c.words[f] = slices.Clone(st.words[f])
	}
	c.unitAreas = [numAreaLevels][][]uint32{} // not needed by a rebuild
	for l := range c.levels {
		c.levels[l].ids = st.levels[l].ids[:len(st.levels[l].ids):len(st.levels[l].ids)]
		c.levels[l].names = slices.Clone(st.levels[l].names)
	}
	c.strs.strs = st.strs.strs[:len(st.strs.strs):len(st.strs.strs)]
	c.strs.buf = nil // the writer fills its chunk on; a copy would write over it
	c.areas = st.areas[:len(st.areas):len(st.areas)]
	c.blds = st.blds[:len(st.blds):len(st.blds)]
	c.bounds = slices.Clone(st.bounds)
	return &c
}
