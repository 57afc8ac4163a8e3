package engine

import (
	"fmt"
	"github.com/RoaringBitmap/roaring/v2"
	"log/slog"
	"slices"
	"unicode/utf8"
)

// OpKind is the kind of a change to a dwelling.
type OpKind uint8

// The kinds of change.
const (
	OpFlags  OpKind = iota + 1 // set and clear flags
	OpPut                      // add or replace a whole dwelling
	OpDelete                   // remove a dwelling
)

func (k OpKind) String() string {
	switch k {
	case OpFlags:
		return "flags"
	case OpPut:
		return "put"
	case OpDelete:
		return "delete"
	}
	return fmt.Sprintf("op(%d)", uint8(k))
}

// Op is one change to one dwelling.
type Op struct {
	Kind  OpKind         `msgpack:"k"`
	ID    string         `msgpack:"i"`
	Set   []string       `msgpack:"s,omitempty"` // OpFlags: flags to set
	Clear []string       `msgpack:"c,omitempty"` // OpFlags: flags to clear
	Put   *DwellingInput `msgpack:"p,omitempty"` // OpPut: the new record
}

// DwellingInput is a whole dwelling as PUT gives it.
type DwellingInput struct {
	Lon       float64  `msgpack:"x"`
	Lat       float64  `msgpack:"y"`
	District  string   `msgpack:"d,omitempty"`
	Street    string   `msgpack:"s,omitempty"`
	Community string   `msgpack:"c,omitempty"`
	Grid      string   `msgpack:"g,omitempty"`
	Building  string   `msgpack:"b,omitempty"`
	Unit      string   `msgpack:"u,omitempty"`
	Floor     int16    `msgpack:"f"` // NoFloor when unknown
	Room      string   `msgpack:"r,omitempty"`
	Flags     []string `msgpack:"fl,omitempty"`
}

// Event is an applied change, as the change feed shows it.
type Event struct {
	Version  Version
	Op       OpKind
	ID       string
	Building string
	Grid     string   // the dwelling's grid (after the change; before, for a delete)
	Set      []string // flags now set by the change
	Clear    []string // flags now cleared by the change
}

// OpError rejects a request because of one of its changes; nothing of the
// request was applied.
type OpError struct {
	Index   int    // of the op in its request
	Code    string // not_found, bad_flag, bad_request
	Message string
}

func (e *OpError) Error() string { return e.Message }

// MaxIDLen bounds a dwelling id, in bytes.
const MaxIDLen = 128

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

// overlay records, for the checking of a group of requests, which ids the
// requests checked so far create or delete.
type overlay map[string]bool

// checkOps validates one request against st and the overlay of the requests
// before it; on success the overlay takes its effects. When slots is given
// and the request only changes flags, slots[i] receives the slot of op i,
// so that applying it need not look the id up again.
func (st *state) checkOps(ops []Op, ov overlay, slots []int32) error {
	var local overlay
	structural := false
	for i := range ops {
		if ops[i].Kind != OpFlags {
			structural = true
			break
		}
	}
	exists := func(i int, id string) bool {
		if v, ok := local[id]; ok {
			return v
		}
		if v, ok := ov[id]; ok {
			return v
		}
		p, ok := st.lookup(id)
		if ok && slots != nil && !structural {
			slots[i] = int32(p)
		}
		return ok
	}
	setLocal := func(id string, v bool) {
		if local == nil {
			local = overlay{}
		}
		local[id] = v
	}
	flagErr := func(i int, names []string, what string) error {
		for _, n := range names {
			if _, ok := st.flagIndex[n]; !ok {
				return &OpError{Index: i, Code: "bad_flag", Message: fmt.Sprintf("%s: unknown flag %q (known: %v)", what, n, st.flagNames)}
			}
		}
		return nil
	}
	for i := range ops {
		op := &ops[i]
		if err := ValidID(op.ID); err != nil {
			return &OpError{Index: i, Code: "bad_request", Message: err.Error()}
		}
		switch op.Kind {
		case OpFlags:
			if len(op.Set) == 0 && len(op.Clear) == 0 {
				return &OpError{Index: i, Code: "bad_request", Message: "set or clear must name at least one flag"}
			}
			if err := flagErr(i, op.Set, "set"); err != nil {
				return err
			}
			if err := flagErr(i, op.Clear, "clear"); err != nil {
				return err
			}
			for _, n := range op.Set {
				if slices.Contains(op.Clear, n) {
					return &OpError{Index: i, Code: "bad_request", Message: fmt.Sprintf("flag %q is both set and cleared", n)}
				}
			}
			if !exists(i, op.ID) {
				return &OpError{Index: i, Code: "not_found", Message: fmt.Sprintf("dwelling %q not found", op.ID)}
			}
		case OpPut:
			p := op.Put
			if p == nil {
				return &OpError{Index: i, Code: "bad_request", Message: "put without a record"}
			}
			if err := ValidLonLat(p.Lon, p.Lat); err != nil {
				return &OpError{Index: i, Code: "bad_request", Message: err.Error()}
			}
			for _, s := range []string{p.District, p.Street, p.Community, p.Grid, p.Building, p.Unit, p.Room} {
				if !utf8.ValidString(s) || len(s) > 256 {
					return &OpError{Index: i, Code: "bad_request", Message: "a field is not valid UTF-8 or longer than 256 bytes"}
				}
			}
			if err := flagErr(i, p.Flags, "flags"); err != nil {
				return err
			}
			setLocal(op.ID, true)
		case OpDelete:
			if !exists(i, op.ID) {
				return &OpError{Index: i, Code: "not_found", Message: fmt.Sprintf("dwelling %q not found", op.ID)}
			}
			setLocal(op.ID, false)
		default:
			return &OpError{Index: i, Code: "bad_request", Message: "unknown kind of change"}
		}
	}
	if ov != nil {
		for id, v := range local {
			ov[id] = v
		}
	}
	return nil
}

// Check validates requests in order, as if each accepted one were applied
// before the next: errs[i] is nil for an accepted request. Nothing changes.
func (e *Engine) Check(reqs [][]Op) []error {
	e.mu.RLock()
	defer e.mu.RUnlock()
	errs := make([]error, len(reqs))
	ov := overlay{}
	for i, ops := range reqs {
		errs[i] = e.st.checkOps(ops, ov, nil)
	}
	return errs
}

// Apply validates and applies one request atomically: every change or none.
// Readers never see part of it.
func (e *Engine) Apply(ops []Op) ([]Event, error) {
	evs, errs := e.ApplyGroup([][]Op{ops})
	return evs[0], errs[0]
}

// ApplyGroup applies requests in order under one write lock; a request that
// fails validation is skipped whole (errs[i] says why) and the others apply.
// Each change gets the next version.
func (e *Engine) ApplyGroup(reqs [][]Op) ([][]Event, []error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.ranks.begin()
	evs := make([][]Event, len(reqs))
	errs := make([]error, len(reqs))
	var slots []int32
	for i, ops := range reqs {
		slots = slots[:0]
		for range ops {
			slots = append(slots, -1)
		}
		if err := e.st.checkOps(ops, nil, slots); err != nil {
			errs[i] = err
			continue
		}
		for j := range ops {
			e.version++
			e.st.cur = e.version
			ev := e.st.apply(&ops[j], slots[j], e.ranks)
			ev.Version = e.version
			evs[i] = append(evs[i], ev)
		}
		if e.compacting {
			for _, op := range ops {
				e.journal = append(e.journal, op)
			}
		}
	}
	e.maybeCompact()
	return evs, errs
}

// apply performs one validated change; slot is the dwelling's slot when
// checking found it, -1 otherwise.
func (st *state) apply(op *Op, slot int32, rc *rankCache) Event {
	ev := Event{Op: op.Kind, ID: op.ID}
	switch op.Kind {
	case OpFlags:
		p := uint32(slot)
		if slot < 0 {
			p, _ = st.lookup(op.ID)
		}
		for _, n := range op.Set {
			st.setFlag(p, st.flagIndex[n], true, rc)
		}
		for _, n := range op.Clear {
			st.setFlag(p, st.flagIndex[n], false, rc)
		}
		ev.Building, ev.Grid = st.buildingGrid(p)
		ev.Set, ev.Clear = op.Set, op.Clear
	case OpPut:
		var old []string
		if p, ok := st.lookup(op.ID); ok {
			for _, f := range st.flagsOf(p) {
				old = append(old, st.flagNames[f])
			}
			st.remove(p, rc)
		}
		p := st.insert(op.ID, op.Put, rc)
		ev.Building, ev.Grid = st.buildingGrid(p)
		ev.Set = slices.Clone(op.Put.Flags)
		for _, f := range old {
			if !slices.Contains(op.Put.Flags, f) {
				ev.Clear = append(ev.Clear, f)
			}
		}
	case OpDelete:
		p, _ := st.lookup(op.ID)
		ev.Building, ev.Grid = st.buildingGrid(p)
		for _, f := range st.flagsOf(p) {
			ev.Clear = append(ev.Clear, st.flagNames[f])
		}
		st.remove(p, rc)
	}
	return ev
}

// setFlag sets or clears one flag of slot p.
func (st *state) setFlag(p uint32, f FlagID, on bool, rc *rankCache) {
	w := &st.words[f][p>>6]
	bit := uint64(1) << (p & 63)
	if (*w&bit != 0) == on {
		return
	}
	if on {
		*w |= bit
		st.bitmaps[f].Add(p)
	} else {
		*w &^= bit
		st.bitmaps[f].Remove(p)
	}
	st.touch(p)
	rc.markDirty(p, st.bld[p])
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
	bi := st.bld[p]
	b := &st.blds[bi]
	if i := slices.Index(b.slots, p); i >= 0 {
		b.slots = slices.Delete(b.slots, i, i+1)
	}
	st.refreshBuilding(bi)
	rc.markDirty(p, bi)
}

// insert adds a dwelling in a new slot of the delta.
func (st *state) insert(id string, in *DwellingInput, rc *rankCache) uint32 {
	p := uint32(st.n)
	st.n++
	lon, lat := ToE7(in.Lon), ToE7(in.Lat)
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

// DeltaLimit is how many dwellings may wait outside the row-band order
// before a compaction sorts them in.
const DeltaLimit = 4096

// maybeCompact starts a background compaction when the delta is full.
// Caller holds the write lock.
func (e *Engine) maybeCompact() {
	if e.compacting || e.st.n-e.st.nMain < e.deltaLimit() {
		return
	}
	go e.compact(e.startCompaction())
}

// startCompaction marks a compaction as running from the current state and
// returns the frozen copy to rebuild. Caller holds the write lock.
func (e *Engine) startCompaction() *state {
	e.compacting = true
	e.compactFrom = e.st
	e.journal = nil
	return e.st.frozen()
}

func (e *Engine) deltaLimit() int {
	if e.opts.DeltaLimit > 0 {
		return e.opts.DeltaLimit
	}
	return DeltaLimit
}

// compact rebuilds the row-band order from a frozen copy of the state
// without holding any lock, then replays the changes made meanwhile and
// swaps the new state in.
func (e *Engine) compact(snap *state) {
	e.loadMu.Lock()
	defer e.loadMu.Unlock()
	st, err := rebuild(snap, nil, e.opts.BandHeight)
	e.mu.Lock()
	defer e.mu.Unlock()
	e.compacting = false
	journal := e.journal
	e.journal = nil
	if e.st != e.compactFrom { // a load replaced the state meanwhile
		e.compactFrom = nil
		e.maybeCompact()
		return
	}
	e.compactFrom = nil
	if err != nil { // cannot happen: the ids of a state are unique
		slog.Error("compaction failed", "err", err)
		return
	}
	rc := newRankCache(st.nFlags())
	rc.begin()
	for i := range journal {
		if err := st.checkOps(journal[i:i+1], nil, nil); err != nil {
			slog.Error("compaction: replay failed", "err", err)
			return
		}
		st.apply(&journal[i], -1, rc)
	}
	if e.st.gen != snap.gen { // boundaries (or a scheme) changed meanwhile
		st.addBoundariesOf(e.st)
	}
	e.install(st)
	if e.onCompact != nil {
		e.onCompact()
	}
}

// frozen returns a copy of the state that later writes do not touch: the
// arrays writers change in place (liveness, flag words, unit names,
// boundaries, flag bitmaps) are copied; the others are only ever appended to, so their
// current length is a stable view. Caller holds the lock (either kind).
func (st *state) frozen() *state {
	c := *st
	c.live = slices.Clone(st.live)
	c.words = make([][]uint64, len(st.words))
	c.bitmaps = make([]*roaring.Bitmap, len(st.bitmaps))
	for f := range st.words {
		c.words[f] = slices.Clone(st.words[f])
		c.bitmaps[f] = st.bitmaps[f].Clone()
	}
	c.unitAreas = [numAreaLevels][][]uint32{} // not needed by a rebuild
	for l := range c.levels {
		c.levels[l].ids = st.levels[l].ids[:len(st.levels[l].ids):len(st.levels[l].ids)]
		c.levels[l].names = slices.Clone(st.levels[l].names)
	}
	c.strs.strs = st.strs.strs[:len(st.strs.strs):len(st.strs.strs)]
	c.areas = st.areas[:len(st.areas):len(st.areas)]
	c.blds = st.blds[:len(st.blds):len(st.blds)]
	c.bounds = slices.Clone(st.bounds)
	return &c
}

// Compact sorts the delta into the row-band order now and waits for it.
func (e *Engine) Compact() {
	e.mu.Lock()
	if e.compacting || e.st.n == e.st.nMain {
		e.mu.Unlock()
		return
	}
	snap := e.startCompaction()
	e.mu.Unlock()
	e.compact(snap)
}

// DeltaSize is the number of slots waiting outside the row-band order.
func (e *Engine) DeltaSize() int {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.st.n - e.st.nMain
}
