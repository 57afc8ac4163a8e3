package engine

import (
	"fmt"
	"math/bits"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/roomstate/roomstate/expr"
	"github.com/roomstate/roomstate/fault"
)

// Campaigns (挂图作战): a task over a fixed set of dwellings, tracked per unit
// and per day.
//
// A campaign's task set is fixed when it starts: the dwellings for which
// its target expression holds then, kept as their stable numbers (st.did).
// A task is done while its dwelling is present and the goal expression holds
// for it, remaining while it is present and the goal does not hold, and
// removed once its dwelling is deleted (a dwelling put again under the same
// id is a new dwelling, not a task). So total = done + remaining + removed,
// always. A task counts in the units its dwelling was in when the campaign
// started, wherever the dwelling moves later: every unit's total is fixed
// and the identity holds in every unit.
//
// The writer keeps each campaign's figures as changes come: per task
// whether it is done and whether it is removed, counters per campaign-local
// unit of each level, and a log of every rise and fall of done with its
// time (the change's), from which the figures at the end of any day, or at
// any instant, follow. A bit mask per dwelling number says which campaigns
// hold a dwelling, so a change costs nothing more unless its dwelling is a
// task; with no campaign it costs nothing at all.

// CampaignInput is what an OpCampaign starts (or, for a campaign that runs
// with the same target and goal, changes: its label and deadline).
type CampaignInput struct {
	Label    string
	Target   string // the flag expression that picks the task set
	Goal     string // the flag expression that makes a task done
	Deadline string // a date (2006-01-02) or ""
}

// Campaign limits.
const (
	MaxCampaigns   = 32  // running at once
	MaxCampaignLen = 64  // bytes of a name
	MaxLabelLen    = 256 // bytes of a label
)

// campaigns is the writer's record of the running campaigns. Guarded by
// the engine's lock.
type campaigns struct {
	slots  [MaxCampaigns]*campaign // by slot; nil: free
	byName map[string]*campaign
	// mask: by dwelling number, bit s set when campaign s's task set holds
	// it; nil while no campaign runs
	mask []uint32
}

// campaign is one running campaign.
type campaign struct {
	slot                                int
	name, label, target, goal, deadline string
	targetX, goalX                      *expr.Expr
	created                             int64 // Unix ms
	version                             Version

	// the task set, fixed: bits[w] holds dwellings 64w…64w+63, prefix[w]
	// the number of tasks before word w, so a task's rank is O(1)
	bits   []uint64
	prefix []uint32
	n      int
	tuple  []uint32                 // by rank: the campaign-local area tuple its dwelling was in at the start
	units  [numAreaLevels][]string  // campaign-local units, by level: their ids
	order  [numAreaLevels][]uint32  // campaign-local units but "", by level, in order of their ids
	tuples [][numAreaLevels]uint32  // campaign-local area tuples: their units
	done   []uint64                 // by rank: the task is done
	gone   []uint64                 // by rank: the task's dwelling is deleted
	lv     [numAreaLevels]unitTally // per level, by campaign-local unit
	doneN  int64
	gone0  int64 // removed
	done0  int64 // done when it started

	// every rise and fall of done, in order: its time (Unix ms), the task
	// (rank<<1, |1 for a rise), and done after it
	logMs  []int64
	logRef []uint32
	cum    []int32
}

// unitTally counts a level's units' tasks, by campaign-local unit.
type unitTally struct {
	total, done, removed []int32
}

func newCampaigns() campaigns { return campaigns{byName: map[string]*campaign{}} }

// validCampaignName checks a campaign's name: 1–64 bytes of letters,
// digits, '_', '.' and '-'.
func validCampaignName(name string) error {
	if name == "" || len(name) > MaxCampaignLen {
		return fmt.Errorf("a campaign's name is 1 to %d bytes", MaxCampaignLen)
	}
	for _, r := range name {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '_' && r != '.' && r != '-' {
			return fmt.Errorf("campaign name %q: only letters, digits, '_', '.' and '-'", name)
		}
	}
	return nil
}

// ValidCampaignName checks a campaign's name as an OpCampaign would.
func ValidCampaignName(name string) error { return validCampaignName(name) }

func (st *state) checkCampaign(i int, op *Op, pc *prepCtx) error {
	if err := validCampaignName(op.ID); err != nil {
		return opErr(i, fault.BadRequest, "%v", err)
	}
	cur := pc.campaign(op.ID)
	if pc.localCamps == nil {
		pc.localCamps = map[string]*campPending{}
	}
	if op.Kind == OpEndCampaign {
		if cur == nil {
			return opErr(i, fault.NotFound, "campaign %q not found", op.ID)
		}
		pc.localCamps[op.ID] = &campPending{ended: true}
		return nil
	}
	in := op.Campaign
	if in == nil {
		return opErr(i, fault.BadRequest, "campaign without its definition")
	}
	if err := checkText(in.Label, "label", MaxLabelLen); err != nil {
		return opErr(i, fault.BadRequest, "%v", err)
	}
	if in.Deadline != "" {
		if _, err := time.Parse("2006-01-02", in.Deadline); err != nil {
			return opErr(i, fault.BadRequest, "deadline %q: want a date, e.g. 2026-12-31", in.Deadline)
		}
	}
	tx, err := expr.Parse(in.Target, st.flagLookup)
	if err != nil {
		return &OpError{Index: i, Err: fault.Wrap(fault.BadExpression, fmt.Errorf("target: %w", err))}
	}
	gx, err := expr.Parse(in.Goal, st.flagLookup)
	if err != nil {
		return &OpError{Index: i, Err: fault.Wrap(fault.BadExpression, fmt.Errorf("goal: %w", err))}
	}
	if strings.TrimSpace(in.Target) == "" || strings.TrimSpace(in.Goal) == "" {
		return opErr(i, fault.BadRequest, "a campaign needs a target and a goal")
	}
	if cur != nil {
		if cur.target != tx.String() || cur.goal != gx.String() {
			return opErr(i, fault.Conflict, "campaign %q runs with target %q and goal %q: its task set is fixed; end it (DELETE) to start it again with others",
				op.ID, cur.target, cur.goal)
		}
		return nil
	}
	if pc.campaignCount() >= MaxCampaigns {
		return opErr(i, fault.TooLarge, "%d campaigns run already, the limit; end one first", MaxCampaigns)
	}
	pc.localCamps[op.ID] = &campPending{target: tx.String(), goal: gx.String()}
	return nil
}

// applyCampaign starts a campaign at ms, or changes a running one's label
// and deadline.
func (w *Writer) applyCampaign(st *state, op *Op, ms int64) Event {
	in := op.Campaign
	ev := Event{Op: OpCampaign, ID: op.ID, Info: &ChangeInfo{Label: in.Label}}
	if c := w.camps.byName[op.ID]; c != nil {
		c.label, c.deadline = in.Label, in.Deadline
		ev.Info.Tasks = c.n
		return ev
	}
	slot := slices.Index(w.camps.slots[:], nil)
	c := w.startCampaign(st, op.ID, in, ms)
	c.slot = slot
	w.camps.slots[slot] = c
	w.camps.byName[c.name] = c
	w.camps.setMask(c, true)
	w.bumpGen() // tiles by campaign
	ev.Created = true
	ev.Info.Tasks = c.n
	return ev
}

// endCampaign ends a campaign.
func (w *Writer) endCampaign(op *Op) Event {
	c := w.camps.byName[op.ID]
	w.camps.setMask(c, false)
	w.camps.slots[c.slot] = nil
	delete(w.camps.byName, c.name)
	if len(w.camps.byName) == 0 {
		w.camps.mask = nil
	}
	w.bumpGen()
	return Event{Op: OpEndCampaign, ID: op.ID, Info: &ChangeInfo{Label: c.label, Tasks: c.n}}
}

// setMask sets (or clears) campaign c's bit for each of its tasks.
func (cs *campaigns) setMask(c *campaign, on bool) {
	if on && len(cs.mask) < len(c.bits)*64 {
		cs.mask = append(cs.mask, make([]uint32, len(c.bits)*64-len(cs.mask))...)
	}
	bit := uint32(1) << c.slot
	for wi, wd := range c.bits {
		for wd != 0 {
			d := wi<<6 | bits.TrailingZeros64(wd)
			wd &= wd - 1
			if on {
				cs.mask[d] |= bit
			} else {
				cs.mask[d] &^= bit
			}
		}
	}
}

// startCampaign makes campaign name's task set from the dwellings for
// which the target holds now, and its figures.
func (w *Writer) startCampaign(st *state, name string, in *CampaignInput, ms int64) *campaign {
	tx, _ := expr.Parse(in.Target, st.flagLookup) // checked by Prepare
	gx, _ := expr.Parse(in.Goal, st.flagLookup)
	c := &campaign{name: name, label: in.Label, target: in.Target, goal: in.Goal, deadline: in.Deadline,
		targetX: tx, goalX: gx, created: ms, version: st.cur}
	c.bits = make([]uint64, (st.nextDID+63)/64)
	var matched []uint32 // slots
	for blk := 0; blk < st.nBlocks(); blk++ {
		wd := tx.EvalBlock(st.words, blk) & st.live[blk]
		for wd != 0 {
			p := uint32(blk<<6 | bits.TrailingZeros64(wd))
			wd &= wd - 1
			d := st.did[p]
			c.bits[d>>6] |= 1 << (d & 63)
			matched = append(matched, p)
		}
	}
	c.index()
	c.tuple = make([]uint32, c.n)
	local := make([]int32, len(st.areas)) // engine area tuple → campaign-local one + 1
	var unitOf [numAreaLevels]map[uint32]uint32
	for l := range unitOf {
		unitOf[l] = map[uint32]uint32{}
	}
	for _, p := range matched {
		a := st.area[p]
		if local[a] == 0 {
			var t [numAreaLevels]uint32
			for l, u := range st.areas[a] {
				lu, ok := unitOf[l][u]
				if !ok {
					lu = uint32(len(c.units[l]))
					unitOf[l][u] = lu
					c.units[l] = append(c.units[l], st.levels[l].ids[u])
				}
				t[l] = lu
			}
			c.tuples = append(c.tuples, t)
			local[a] = int32(len(c.tuples))
		}
		r, _ := c.rank(st.did[p])
		c.tuple[r] = uint32(local[a] - 1)
	}
	c.sortUnits()
	c.derive(st)
	c.done0 = c.doneN
	return c
}

// sortUnits orders each level's campaign-local units by id, leaving out
// the empty id (tasks without a unit at that level).
func (c *campaign) sortUnits() {
	for l := range c.units {
		c.order[l] = c.order[l][:0]
		for u, id := range c.units[l] {
			if id != "" {
				c.order[l] = append(c.order[l], uint32(u))
			}
		}
		ids := c.units[l]
		slices.SortFunc(c.order[l], func(a, b uint32) int { return strings.Compare(ids[a], ids[b]) })
	}
}

// index makes the rank directory of the task set.
func (c *campaign) index() {
	c.prefix = make([]uint32, len(c.bits))
	n := 0
	for i, wd := range c.bits {
		c.prefix[i] = uint32(n)
		n += bits.OnesCount64(wd)
	}
	c.n = n
}

// rank returns the rank of dwelling did in the task set (ok false when it
// is not a task).
func (c *campaign) rank(did uint32) (int, bool) {
	wi := int(did >> 6)
	if wi >= len(c.bits) {
		return 0, false
	}
	wd := c.bits[wi]
	bit := uint64(1) << (did & 63)
	if wd&bit == 0 {
		return 0, false
	}
	return int(c.prefix[wi]) + bits.OnesCount64(wd&(bit-1)), true
}

// forTasks calls fn with every task's dwelling number and rank, in order.
func (c *campaign) forTasks(fn func(did uint32, r int)) {
	r := 0
	for wi, wd := range c.bits {
		for wd != 0 {
			fn(uint32(wi<<6|bits.TrailingZeros64(wd)), r)
			wd &= wd - 1
			r++
		}
	}
}

func getBit(b []uint64, i int) bool { return b[i>>6]>>(i&63)&1 != 0 }
func flipBit(b []uint64, i int)     { b[i>>6] ^= 1 << (i & 63) }

// status reports whether dwelling did is present in the state and whether
// the goal holds for it.
func (c *campaign) status(st *state, did uint32) (present, done bool) {
	if int(did) >= len(st.slotOf) || st.slotOf[did] < 0 {
		return false, false
	}
	p := uint32(st.slotOf[did])
	return true, c.goalX.EvalSet(func(f FlagID) bool { return st.hasFlag(p, f) })
}

// derive computes the figures the state gives: which tasks are done and
// which removed, and the counters.
func (c *campaign) derive(st *state) {
	nw := (c.n + 63) / 64
	c.done, c.gone = make([]uint64, nw), make([]uint64, nw)
	for l := range c.lv {
		k := len(c.units[l])
		c.lv[l] = unitTally{total: make([]int32, k), done: make([]int32, k), removed: make([]int32, k)}
	}
	c.doneN, c.gone0 = 0, 0
	c.forTasks(func(did uint32, r int) {
		present, done := c.status(st, did)
		t := &c.tuples[c.tuple[r]]
		for l, u := range t {
			c.lv[l].total[u]++
		}
		if !present {
			flipBit(c.gone, r)
			c.gone0++
			for l, u := range t {
				c.lv[l].removed[u]++
			}
		}
		if done {
			flipBit(c.done, r)
			c.doneN++
			for l, u := range t {
				c.lv[l].done[u]++
			}
		}
	})
}

// touchTasks brings the figures of every campaign holding dwelling did up
// to date after a change at ms. Caller is the writer, in Commit.
func (w *Writer) touchTasks(st *state, did uint32, ms int64) {
	cs := &w.camps
	if int(did) >= len(cs.mask) {
		return
	}
	for m := cs.mask[did]; m != 0; m &= m - 1 {
		cs.slots[bits.TrailingZeros32(m)].update(st, did, ms)
	}
}

// update brings task did's figures up to date after a change at ms.
func (c *campaign) update(st *state, did uint32, ms int64) {
	r, ok := c.rank(did)
	if !ok {
		return
	}
	present, done := c.status(st, did)
	t := &c.tuples[c.tuple[r]]
	if !present && !getBit(c.gone, r) {
		flipBit(c.gone, r)
		c.gone0++
		for l, u := range t {
			c.lv[l].removed[u]++
		}
	}
	if done == getBit(c.done, r) {
		return
	}
	flipBit(c.done, r)
	d := int32(-1)
	ref := uint32(r) << 1
	if done {
		d, ref = 1, ref|1
	}
	c.doneN += int64(d)
	for l, u := range t {
		c.lv[l].done[u] += d
	}
	c.logMs = append(c.logMs, ms)
	c.logRef = append(c.logRef, ref)
	c.cum = append(c.cum, int32(c.doneN))
}

// doneAt returns done at instant ms (at or after the start).
func (c *campaign) doneAt(ms int64) int64 {
	i := sort.Search(len(c.logMs), func(i int) bool { return c.logMs[i] > ms })
	if i == 0 {
		return c.done0
	}
	return int64(c.cum[i-1])
}

// CampaignProgress is a campaign's (or one of its units') figures: its
// tasks, done, remaining and removed now (Total = Done + Remaining +
// Removed), and the rise of Done over the report's window.
type CampaignProgress struct {
	Total, Done, Remaining, Removed int64
	Rise                            int64
}

// CampaignDay is done at the end of one day (today: now), and its rise over
// the day before (the first day: over the start).
type CampaignDay struct {
	Date      time.Time // the day's start
	Done      int64
	DoneToday int64
}

// CampaignUnit is one unit's progress: the tasks whose dwellings were in it
// when the campaign started.
type CampaignUnit struct {
	Level Level
	ID    string
	Name  string
	CampaignProgress
}

// CampaignReport is a campaign's progress at one moment (Now): in all, by
// day since its start, and per unit of a level. The window of Rise is the
// last min(7, max(1, whole days since the start)) days before Now
// (WindowDays), so Rise / WindowDays is done's daily rise (日均).
type CampaignReport struct {
	Name, Label, Target, Goal, Deadline string
	Created                             time.Time
	Now                                 time.Time
	WindowDays                          int
	CampaignProgress
	Days    []CampaignDay
	Level   Level
	Units   []CampaignUnit // by id; none without a level
	Version Version
}

// window returns the start of the rate window for now and its days.
func (c *campaign) window(now int64) (start int64, days int) {
	const day = int64(24 * time.Hour / time.Millisecond)
	days = int(min(7, max(1, (now-c.created)/day)))
	return now - int64(days)*day, days
}

// report makes c's report at now; days in zone tz, units of level (none for
// a level past LevelGrid). Caller holds the read lock.
func (e *Engine) report(st *state, c *campaign, now time.Time, tz *time.Location, withDays bool, level Level) *CampaignReport {
	if now.UnixMilli() < c.created {
		now = time.UnixMilli(c.created)
	}
	ms := now.UnixMilli()
	from, days := c.window(ms)
	rep := &CampaignReport{Name: c.name, Label: c.label, Target: c.target, Goal: c.goal, Deadline: c.deadline,
		Created: time.UnixMilli(c.created), Now: now, WindowDays: days, Level: level, Version: e.version}
	rep.Total, rep.Done, rep.Removed = int64(c.n), c.doneN, c.gone0
	rep.Remaining = rep.Total - rep.Done - rep.Removed
	rep.Rise = c.doneN - c.doneAt(from)
	if withDays {
		y, m, d := rep.Created.In(tz).Date()
		prev := c.done0
		for day := time.Date(y, m, d, 0, 0, 0, 0, tz); !day.After(now); {
			next := time.Date(day.Year(), day.Month(), day.Day()+1, 0, 0, 0, 0, tz)
			done := c.doneN
			if next.Before(now) || next.Equal(now) {
				done = c.doneAt(next.UnixMilli() - 1)
			}
			rep.Days = append(rep.Days, CampaignDay{Date: day, Done: done, DoneToday: done - prev})
			prev, day = done, next
		}
	}
	if level >= LevelBuilding {
		return rep
	}
	units := c.unitsOf(st, level, from)
	rep.Units = make([]CampaignUnit, 0, len(c.order[level]))
	for _, u := range c.order[level] {
		rep.Units = append(rep.Units, units[u])
	}
	return rep
}

// unitsOf returns the progress of c's units of level, by campaign-local
// number, with their rise since from. Caller holds the read lock.
func (c *campaign) unitsOf(st *state, level Level, from int64) []CampaignUnit {
	lv := &c.lv[level]
	rise := make([]int64, len(c.units[level]))
	for i := sort.Search(len(c.logMs), func(i int) bool { return c.logMs[i] > from }); i < len(c.logMs); i++ {
		ref := c.logRef[i]
		u := c.tuples[c.tuple[ref>>1]][level]
		if ref&1 != 0 {
			rise[u]++
		} else {
			rise[u]--
		}
	}
	ut := &st.levels[level]
	out := make([]CampaignUnit, len(c.units[level]))
	for u, id := range c.units[level] {
		cu := CampaignUnit{Level: level, ID: id}
		if k, ok := ut.index[id]; ok {
			cu.Name = ut.names[k]
		}
		cu.Total, cu.Done, cu.Removed = int64(lv.total[u]), int64(lv.done[u]), int64(lv.removed[u])
		cu.Remaining = cu.Total - cu.Done - cu.Removed
		cu.Rise = rise[u]
		out[u] = cu
	}
	return out
}

// CampaignTree is a campaign's progress in every unit of every level at
// one moment, with how units nest: the city's report (with its days), the
// units of each level by campaign-local number (a unit with id "" holds
// the tasks with no unit at that level), and the area tuples the tasks
// were in at the start, as unit numbers per level. Disclosure control
// protects it whole, so that every level's answer withholds consistently.
type CampaignTree struct {
	Report *CampaignReport
	Units  [4][]CampaignUnit
	Tuples [][4]uint32
}

// CampaignTree reports one campaign now in every unit of every level, its
// days in zone tz.
func (e *Engine) CampaignTree(name string, tz *time.Location) (*CampaignTree, error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	c := e.camps.byName[name]
	if c == nil {
		return nil, fault.New(fault.NotFound, "campaign %q not found", name)
	}
	rep := e.report(e.st, c, e.opts.Clock(), tz, true, LevelBuilding)
	from, _ := c.window(rep.Now.UnixMilli())
	t := &CampaignTree{Report: rep, Tuples: slices.Clone(c.tuples)}
	for l := range t.Units {
		t.Units[l] = c.unitsOf(e.st, Level(l), from)
	}
	return t, nil
}

// Campaigns reports every running campaign now, by name, without days or
// units.
func (e *Engine) Campaigns() ([]CampaignReport, Version) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	now := e.opts.Clock()
	out := []CampaignReport{}
	for _, c := range e.camps.byName {
		out = append(out, *e.report(e.st, c, now, time.UTC, false, LevelBuilding))
	}
	slices.SortFunc(out, func(a, b CampaignReport) int { return strings.Compare(a.Name, b.Name) })
	return out, e.version
}

// Campaign reports one campaign now: its days (in zone tz) and its units
// of level (district, street, community or grid).
func (e *Engine) Campaign(name string, level Level, tz *time.Location) (*CampaignReport, error) {
	if level >= LevelBuilding {
		return nil, fault.New(fault.BadRequest, "level must be district, street, community or grid")
	}
	e.mu.RLock()
	defer e.mu.RUnlock()
	c := e.camps.byName[name]
	if c == nil {
		return nil, fault.New(fault.NotFound, "campaign %q not found", name)
	}
	return e.report(e.st, c, e.opts.Clock(), tz, true, level), nil
}

// CampaignRecord is a campaign in a snapshot: its definition, its task set
// with the units its dwellings were in at the start, and its log of done.
// What the state gives (which tasks are done or removed, the counters) is
// derived again on restore.
type CampaignRecord struct {
	Name, Label, Target, Goal, Deadline string
	Created                             int64 // Unix ms
	Version                             uint64
	Tasks                               []byte // roaring bitmap of dwelling numbers, portable format
	Units                               [4][]string
	Tuples                              []byte // 4 × uint32 per campaign-local area tuple
	TaskTuple                           []byte // uint32 per task, in dwelling-number order
	Done0                               int64
	LogMs                               []byte // int64 per rise or fall of done
	LogRef                              []byte // uint32 each: task rank << 1, | 1 for a rise
}

// frozenCampaign is a campaign as Freeze saw it: what never changes is
// shared, the log is cut at its length then.
type frozenCampaign struct {
	c         *campaign
	label, dl string
	logMs     []int64
	logRef    []uint32
}

// freezeCampaigns takes views of the running campaigns. Caller holds the
// lock.
func (e *Engine) freezeCampaigns() []frozenCampaign {
	var out []frozenCampaign
	for _, c := range e.camps.byName {
		out = append(out, frozenCampaign{c: c, label: c.label, dl: c.deadline,
			logMs: c.logMs[:len(c.logMs):len(c.logMs)], logRef: c.logRef[:len(c.logRef):len(c.logRef)]})
	}
	slices.SortFunc(out, func(a, b frozenCampaign) int { return strings.Compare(a.c.name, b.c.name) })
	return out
}

// record turns a frozen campaign into its snapshot record; it reads only
// what never changes.
func (f *frozenCampaign) record() CampaignRecord {
	c := f.c
	bm := roaring.FromDense(c.bits, true)
	bm.RunOptimize()
	tasks, err := bm.ToBytes()
	if err != nil { // cannot happen: it writes to memory
		panic(err)
	}
	r := CampaignRecord{Name: c.name, Label: f.label, Target: c.target, Goal: c.goal, Deadline: f.dl, Created: c.created,
		Version: uint64(c.version), Tasks: tasks, Tuples: blob(c.tuples), TaskTuple: blob(c.tuple), Done0: c.done0,
		LogMs: blob(f.logMs), LogRef: blob(f.logRef)}
	for l := range r.Units {
		r.Units[l] = slices.Clone(c.units[l])
	}
	return r
}

// importCampaigns reads a snapshot's campaigns against the state st they
// were running over, checking that they hold together.
func importCampaigns(st *state, recs []CampaignRecord) (campaigns, error) {
	cs := newCampaigns()
	if len(recs) > MaxCampaigns {
		return cs, fmt.Errorf("%d campaigns; the limit is %d", len(recs), MaxCampaigns)
	}
	for i := range recs {
		r := &recs[i]
		c, err := importCampaign(st, r)
		if err != nil {
			return cs, fmt.Errorf("campaign %q: %v", r.Name, err)
		}
		if cs.byName[c.name] != nil {
			return cs, fmt.Errorf("campaign %q appears twice", c.name)
		}
		c.slot = i
		cs.slots[i] = c
		cs.byName[c.name] = c
		cs.setMask(c, true)
	}
	return cs, nil
}

func importCampaign(st *state, r *CampaignRecord) (*campaign, error) {
	if err := validCampaignName(r.Name); err != nil {
		return nil, err
	}
	tx, err := expr.Parse(r.Target, st.flagLookup)
	if err != nil {
		return nil, fmt.Errorf("target: %v", err)
	}
	gx, err := expr.Parse(r.Goal, st.flagLookup)
	if err != nil {
		return nil, fmt.Errorf("goal: %v", err)
	}
	bm, err := readBitmap(r.Tasks)
	if err != nil {
		return nil, fmt.Errorf("tasks: %v", err)
	}
	if !bm.IsEmpty() && bm.Maximum() >= st.nextDID {
		return nil, fmt.Errorf("tasks name dwelling number %d, beyond the state's %d", bm.Maximum(), st.nextDID)
	}
	c := &campaign{name: r.Name, label: r.Label, target: r.Target, goal: r.Goal, deadline: r.Deadline,
		targetX: tx, goalX: gx, created: r.Created, version: Version(r.Version), done0: r.Done0}
	c.bits = make([]uint64, (st.nextDID+63)/64)
	copy(c.bits, bm.ToDense())
	c.index()
	if len(r.Tuples)%16 != 0 {
		return nil, fmt.Errorf("tuples of %d bytes", len(r.Tuples))
	}
	if c.tuples, err = unblob[[numAreaLevels]uint32](r.Tuples, len(r.Tuples)/16); err != nil {
		return nil, fmt.Errorf("tuples: %v", err)
	}
	for l := range c.units {
		c.units[l] = r.Units[l]
	}
	c.sortUnits()
	for _, t := range c.tuples {
		for l, u := range t {
			if int(u) >= len(c.units[l]) {
				return nil, fmt.Errorf("a tuple names unit %d of %d at level %s", u, len(c.units[l]), Level(l))
			}
		}
	}
	if c.tuple, err = unblob[uint32](r.TaskTuple, c.n); err != nil {
		return nil, fmt.Errorf("task tuples: %v", err)
	}
	for _, t := range c.tuple {
		if int(t) >= len(c.tuples) {
			return nil, fmt.Errorf("a task names tuple %d of %d", t, len(c.tuples))
		}
	}
	if len(r.LogMs)%8 != 0 {
		return nil, fmt.Errorf("log of %d bytes", len(r.LogMs))
	}
	n := len(r.LogMs) / 8
	if c.logMs, err = unblob[int64](r.LogMs, n); err != nil {
		return nil, fmt.Errorf("log times: %v", err)
	}
	if c.logRef, err = unblob[uint32](r.LogRef, n); err != nil {
		return nil, fmt.Errorf("log: %v", err)
	}
	if c.done0 < 0 || c.done0 > int64(c.n) {
		return nil, fmt.Errorf("done at the start %d of %d tasks", c.done0, c.n)
	}
	c.cum = make([]int32, n)
	done, last := c.done0, c.created
	for i := range n {
		if c.logMs[i] < last || int(c.logRef[i]>>1) >= c.n {
			return nil, fmt.Errorf("log entry %d is out of order or names no task", i)
		}
		last = c.logMs[i]
		if c.logRef[i]&1 != 0 {
			done++
		} else {
			done--
		}
		c.cum[i] = int32(done)
	}
	c.derive(st)
	if done != c.doneN {
		return nil, fmt.Errorf("its log ends at %d done, the dwellings say %d", done, c.doneN)
	}
	return c, nil
}

// CampaignMemory is about how many bytes the running campaigns hold,
// the mask by dwelling number included.
func (e *Engine) CampaignMemory() int64 {
	e.mu.RLock()
	defer e.mu.RUnlock()
	n := int64(cap(e.camps.mask)) * 4
	for _, c := range e.camps.byName {
		n += int64(cap(c.bits))*8 + int64(cap(c.prefix))*4 + int64(cap(c.tuple))*4 + int64(cap(c.done)+cap(c.gone))*8 +
			int64(cap(c.order[0])+cap(c.order[1])+cap(c.order[2])+cap(c.order[3]))*4 +
			int64(cap(c.tuples))*16 + int64(cap(c.logMs))*8 + int64(cap(c.logRef)+cap(c.cum))*4
		for l := range c.lv {
			n += int64(cap(c.lv[l].total)+cap(c.lv[l].done)+cap(c.lv[l].removed)) * 4
			for _, s := range c.units[l] {
				n += int64(len(s)) + 16
			}
		}
	}
	return n
}

// campaignNamed returns a running campaign, or a fault.NotFound. Caller
// holds the lock.
func (e *Engine) campaignNamed(name string) (*campaign, error) {
	c := e.camps.byName[name]
	if c == nil {
		return nil, fault.New(fault.NotFound, "campaign %q not found", name)
	}
	return c, nil
}

// tasksIn counts the tasks of c whose dwellings are in building bi now,
// and those of them not done. Caller holds the lock.
func (e *Engine) tasksIn(st *state, c *campaign, bi uint32) (tasks, remaining int64) {
	mask := e.camps.mask
	bit := uint32(1) << c.slot
	for _, p := range st.blds[bi].slots {
		d := st.did[p]
		if int(d) >= len(mask) || mask[d]&bit == 0 {
			continue
		}
		r, _ := c.rank(d)
		tasks++
		if !getBit(c.done, r) {
			remaining++
		}
	}
	return tasks, remaining
}
