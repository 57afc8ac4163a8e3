package engine

import (
	"github.com/roomstate/roomstate/fault"
	"github.com/roomstate/roomstate/scheme"
)

// prepCtx is what Prepare knows of a group of requests while it checks them
// one by one: what the requests accepted so far (and the ops before, in the
// request being checked) did to dwellings, assignments and campaigns, so that
// each request is checked against the state it will apply to.
type prepCtx struct {
	e *Engine // assignments and campaigns before the group (nil: none)

	ov    map[string]pending      // dwellings as the accepted requests leave them
	asg   map[asgKey]*Assignment  // assignments they set (nil: removed)
	camps map[string]*campPending // campaigns they start, change or end
	local map[string]pending      // the same for the request being checked
	// assignments and campaigns of the request being checked
	localAsg   map[asgKey]*Assignment
	localCamps map[string]*campPending
	// names of the schemes new to the engine that the accepted requests
	// and the request being checked add (the engine's bound on schemes)
	schemes, localSchemes map[string]bool

	// moves lists every put and delete checked so far, in order (those of
	// the request being checked last); counts holds, for the buildings the
	// first processed moves touched, how many of their dwellings are in
	// each unit after them. Counting is lazy: only a check that needs a
	// building's home (a person's scope, a visit) processes the moves.
	moves     []move
	processed int
	counts    map[string]*homeCounts

	// found holds, for each op of the request being checked, the slot of
	// its dwelling in the state before the group, or -1 (see lookupAll)
	found []int32
}

// move is a dwelling's place before and after a put or delete.
type move struct{ from, to pending }

// campPending is a campaign as the requests checked so far leave it: its
// target and goal (canonical forms), or ended.
type campPending struct {
	ended        bool
	target, goal string
}

// homeCounts counts a building's dwellings per unit of each level.
type homeCounts struct {
	n int
	c [numAreaLevels]map[string]int
}

func newPrepCtx(e *Engine) *prepCtx {
	return &prepCtx{e: e, ov: map[string]pending{}, asg: map[asgKey]*Assignment{}, camps: map[string]*campPending{}, schemes: map[string]bool{}}
}

// checkScheme checks op i, an OpScheme: a scheme that compiles against
// the flags, under a name the engine has or within its bound on schemes.
// The error is the scheme's own (fault.BadScheme names the rule), or
// fault.TooLarge.
func (pc *prepCtx) checkScheme(st *state, i int, op *Op) error {
	if op.Scheme == nil {
		return opErr(i, fault.BadRequest, "a scheme change without a scheme")
	}
	if _, err := scheme.Compile(op.ID, *op.Scheme, st.flagLookup); err != nil {
		return err
	}
	known := pc.schemes[op.ID] || pc.localSchemes[op.ID]
	n := len(pc.schemes) + len(pc.localSchemes)
	if pc.e != nil {
		_, had := pc.e.schemes[op.ID]
		known = known || had
		n += len(pc.e.schemes)
	}
	if known {
		return nil
	}
	if n >= scheme.MaxSchemes {
		return opErr(i, fault.TooLarge, "there are %d schemes already, the limit; replace one instead", n)
	}
	if pc.localSchemes == nil {
		pc.localSchemes = map[string]bool{}
	}
	pc.localSchemes[op.ID] = true
	return nil
}

// assignment returns the assignment of a unit as the requests checked so
// far leave it.
func (pc *prepCtx) assignment(k asgKey) *Assignment {
	if a, ok := pc.localAsg[k]; ok {
		return a
	}
	if a, ok := pc.asg[k]; ok {
		return a
	}
	if pc.e == nil {
		return nil
	}
	return pc.e.resp.asg[k]
}

// campaign returns a campaign as the requests checked so far leave it
// (nil when there is none).
func (pc *prepCtx) campaign(name string) *campPending {
	for _, m := range []map[string]*campPending{pc.localCamps, pc.camps} {
		if c, ok := m[name]; ok {
			if c.ended {
				return nil
			}
			return c
		}
	}
	if pc.e == nil {
		return nil
	}
	if c := pc.e.camps.byName[name]; c != nil {
		return &campPending{target: c.targetX.String(), goal: c.goalX.String()}
	}
	return nil
}

// campaignCount is the number of campaigns running once the requests
// checked so far apply.
func (pc *prepCtx) campaignCount() int {
	n := 0
	if pc.e != nil {
		n = len(pc.e.camps.byName)
	}
	seen := map[string]bool{}
	for _, m := range []map[string]*campPending{pc.localCamps, pc.camps} {
		for name, c := range m {
			if seen[name] {
				continue
			}
			seen[name] = true
			exists := pc.e != nil && pc.e.camps.byName[name] != nil
			switch {
			case c.ended && exists:
				n--
			case !c.ended && !exists:
				n++
			}
		}
	}
	return n
}

// home returns a building's own street, community and grid (the unit most
// of its dwellings are in; the district only when no move touched it) once
// the moves checked so far apply, and whether it has a dwelling then.
func (pc *prepCtx) home(st *state, bkey string) (home [numAreaLevels]string, exists bool) {
	pc.process(st)
	if hc := pc.counts[bkey]; hc != nil {
		for l := range home {
			best, bestN := "", 0
			for u, n := range hc.c[l] {
				if u != "" && n > 0 && (n > bestN || n == bestN && u < best) {
					best, bestN = u, n
				}
			}
			home[l] = best
		}
		return home, hc.n > 0
	}
	bi, ok := st.bldIdx[bkey]
	if !ok || len(st.blds[bi].slots) == 0 {
		return home, false
	}
	h := st.blds[bi].home
	for l := range home {
		home[l] = st.levels[l].ids[h[l]]
	}
	return home, true
}

// answeredBy reports whether one of persons answers for building bkey once
// the requests checked so far apply: its own assignment, else its grid's,
// community's or street's.
func (pc *prepCtx) answeredBy(st *state, persons []string, bkey string) bool {
	a := pc.assignment(asgKey{LevelBuilding, bkey})
	if a == nil {
		home, _ := pc.home(st, bkey)
		for _, l := range resolveLevels {
			if home[l] != "" {
				if a = pc.assignment(asgKey{l, home[l]}); a != nil {
					break
				}
			}
		}
	}
	if a == nil {
		return false
	}
	for _, p := range persons {
		if p == a.Person {
			return true
		}
	}
	return false
}

// process counts the moves not yet counted.
func (pc *prepCtx) process(st *state) {
	for ; pc.processed < len(pc.moves); pc.processed++ {
		pc.apply(st, pc.moves[pc.processed], 1)
	}
}

// apply counts a move (sign 1) or takes it back (sign -1).
func (pc *prepCtx) apply(st *state, m move, sign int) {
	from, to := m.from, m.to
	if sign < 0 {
		from, to = to, from
	}
	if from.exists {
		pc.countsOf(st, from.building).add(from, -1)
	}
	if to.exists {
		pc.countsOf(st, to.building).add(to, 1)
	}
}

// countsOf returns a building's counts, made from its dwellings before the
// group when it is first touched.
func (pc *prepCtx) countsOf(st *state, bkey string) *homeCounts {
	if hc := pc.counts[bkey]; hc != nil {
		return hc
	}
	if pc.counts == nil {
		pc.counts = map[string]*homeCounts{}
	}
	hc := &homeCounts{}
	for l := range hc.c {
		hc.c[l] = map[string]int{}
	}
	if bi, ok := st.bldIdx[bkey]; ok {
		for _, p := range st.blds[bi].slots {
			hc.add(st.pendingOf(p), 1)
		}
	}
	pc.counts[bkey] = hc
	return hc
}

func (hc *homeCounts) add(d pending, sign int) {
	hc.n += sign
	hc.c[LevelDistrict][d.district] += sign
	hc.c[LevelStreet][d.street] += sign
	hc.c[LevelCommunity][d.community] += sign
	hc.c[LevelGrid][d.grid] += sign
}

// rollback forgets the moves of a rejected request: those from mark on.
func (pc *prepCtx) rollback(st *state, mark int) {
	for pc.processed > mark {
		pc.processed--
		pc.apply(st, pc.moves[pc.processed], -1)
	}
	pc.moves = pc.moves[:mark]
}
