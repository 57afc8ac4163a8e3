package engine

import (
	"fmt"
	"math/bits"
	"slices"

	"github.com/roomstate/roomstate/invariants"
)

// checkInvariants compares the engine's derived structures with their
// sources when invariants.On: every flag's dense words with its roaring
// bitmap, the always-true rank view's totals with popcounts, and the tile
// stamps of the buildings evs changed with their versions. A mismatch is a bug, and
// panics. Caller is the writer and holds the write lock.
func (w *Writer) checkInvariants(evs ...[]Event) {
	if !invariants.On {
		return
	}
	e := w.Engine
	st := e.st
	for f := range st.words {
		dense := st.bitmaps[f].ToDense()
		for i, wd := range st.words[f] {
			var d uint64
			if i < len(dense) {
				d = dense[i]
			}
			if wd != d {
				panic(fmt.Sprintf("invariant: flag %q: words and bitmap differ in block %d", st.flagNames[f], i))
			}
		}
		if len(dense) > len(st.words[f]) && slices.ContainsFunc(dense[len(st.words[f]):], func(x uint64) bool { return x != 0 }) {
			panic(fmt.Sprintf("invariant: flag %q: bitmap holds slots beyond the state", st.flagNames[f]))
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
	for f, bm := range st.bitmaps {
		if acc[2+f] != int64(bm.GetCardinality()) {
			panic(fmt.Sprintf("invariant: rank count of flag %q is %d, its bitmap holds %d", st.flagNames[f], acc[2+f], bm.GetCardinality()))
		}
	}
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
