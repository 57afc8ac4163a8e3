package engine

import (
	"fmt"
	"math/bits"
	"slices"

	"github.com/roomstate/roomstate/invariants"
)

// checkInvariants compares the engine's derived structures with their
// sources when invariants.On: no flag set for a dead slot, the
// always-true rank view's totals and flag counts with popcounts, and the tile
// stamps of the buildings evs changed with their versions. A mismatch is a bug, and
// panics. Caller is the writer and holds the write lock.
func (w *Writer) checkInvariants(evs ...[]Event) {
	if !invariants.On {
		return
	}
	e := w.Engine
	st := e.st
	for f, words := range st.words {
		for i, wd := range words {
			var lv uint64
			if i < len(st.live) {
				lv = st.live[i]
			}
			if wd&^lv != 0 {
				panic(fmt.Sprintf("invariant: flag %q: set for a dead or absent slot in block %d", st.flagNames[f], i))
			}
		}
	}
	live := 0
	for _, wd := range st.live {
		live += bits.OnesCount64(wd)
	}
	if live != st.nLive {
		panic(fmt.Sprintf("invariant: %d live bits, %d live dwellings", live, st.nLive))
	}
	rv := e.ranks.all.freshRank(st, e.ranks)
	acc := make([]int64, rv.nc)
	rv.addRange(st, 0, uint32(st.n), acc)
	if acc[0] != int64(st.nLive) || acc[1] != int64(st.nLive) {
		panic(fmt.Sprintf("invariant: rank totals %d/%d, %d live dwellings", acc[0], acc[1], st.nLive))
	}
	for f, words := range st.words {
		n := 0
		for _, wd := range words {
			n += bits.OnesCount64(wd)
		}
		if acc[2+f] != int64(n) {
			panic(fmt.Sprintf("invariant: rank count of flag %q is %d, its words hold %d", st.flagNames[f], acc[2+f], n))
		}
	}
	w.checkResponsibility()
	for _, group := range evs {
		for _, ev := range group {
			if !ev.changed {
				continue
			}
			bi, ok := st.bldIdx[ev.Building]
			if !ok || int(bi) >= len(st.bver) || st.bver[bi] < ev.Version {
				panic(fmt.Sprintf("invariant: building %q's tile stamp does not cover change %d", ev.Building, ev.Version))
			}
		}
	}
}

// checkResponsibility compares the arrays of assignments and visits by
// number with their maps, and every campaign's figures with those the state
// gives. Caller holds the write lock, with invariants.On.
func (w *Writer) checkResponsibility() {
	e := w.Engine
	st, r := e.st, &e.resp
	if len(r.byBld) != len(st.blds) {
		panic(fmt.Sprintf("invariant: assignments of %d buildings, %d buildings", len(r.byBld), len(st.blds)))
	}
	for bi := range st.blds {
		id := st.blds[bi].id
		if r.byBld[bi] != r.asg[asgKey{LevelBuilding, id}] || r.visitBld[bi] != r.visits[id] {
			panic(fmt.Sprintf("invariant: building %q: assignment or visit by number differs from by id", id))
		}
	}
	for _, l := range resolveLevels {
		for u := 1; u < len(st.levels[l].ids); u++ {
			if r.byUnit[l][u] != r.asg[asgKey{l, st.levels[l].ids[u]}] {
				panic(fmt.Sprintf("invariant: %s %q: assignment by number differs from by id", l, st.levels[l].ids[u]))
			}
		}
	}
	for _, c := range e.camps.byName {
		fresh := *c
		fresh.derive(st)
		if fresh.doneN != c.doneN || fresh.gone0 != c.gone0 || !slices.Equal(fresh.done, c.done) || !slices.Equal(fresh.gone, c.gone) {
			panic(fmt.Sprintf("invariant: campaign %q: done %d removed %d, the state gives %d and %d", c.name, c.doneN, c.gone0, fresh.doneN, fresh.gone0))
		}
		for l := range c.lv {
			if !slices.Equal(fresh.lv[l].done, c.lv[l].done) || !slices.Equal(fresh.lv[l].removed, c.lv[l].removed) {
				panic(fmt.Sprintf("invariant: campaign %q: counters of level %s differ from the state's", c.name, Level(l)))
			}
		}
		if len(c.cum) > 0 && int64(c.cum[len(c.cum)-1]) != c.doneN {
			panic(fmt.Sprintf("invariant: campaign %q: its log ends at %d done, not %d", c.name, c.cum[len(c.cum)-1], c.doneN))
		}
		c.forTasks(func(did uint32, _ int) {
			if e.camps.mask[did]>>c.slot&1 == 0 {
				panic(fmt.Sprintf("invariant: campaign %q: task %d is not in the mask", c.name, did))
			}
		})
	}
}
