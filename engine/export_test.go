package engine

import (
	"fmt"
	"slices"
)

// SetParallelDeltas sets the number of changed dwellings from which a
// question about the past reads their states on two goroutines, and returns
// what restores it (the tests lower it so that the oracle checks that path).
func SetParallelDeltas(n int) (restore func()) {
	old := parallelDeltas
	parallelDeltas = n
	return func() { parallelDeltas = old }
}

// CheckRankViews brings the rank view of every expression in use up to
// date and compares it, superblock by superblock, with one counted from
// scratch; it returns the first difference.
func (e *Engine) CheckRankViews() error {
	e.mu.RLock()
	defer e.mu.RUnlock()
	st, c := e.st, e.ranks
	ixs := []*exprIndex{c.all}
	for _, ix := range *c.byKey.Load() {
		ixs = append(ixs, ix)
	}
	for _, ix := range ixs {
		v := ix.freshRank(st, c)
		for sb, ch := range v.chunks {
			want := buildChunk(st, ix.x, ix.nc, sb, v.blocksIn(sb))
			if !slices.Equal(ch.words, want.words) || !slices.Equal(ch.rel, want.rel) || !slices.Equal(ch.tot, want.tot) {
				return fmt.Errorf("expression %q, superblock %d: differs from a count from scratch", ix.x.String(), sb)
			}
		}
	}
	return nil
}

// AreaPrepared reports whether the boundary of a unit holds its prepared
// query area (or the reason it has none) already, without preparing it.
func (e *Engine) AreaPrepared(level Level, id string) bool {
	e.mu.RLock()
	defer e.mu.RUnlock()
	u, ok := e.st.levels[level].index[id]
	if !ok {
		return false
	}
	bd := e.st.boundaryOf(level, u)
	return bd != nil && bd.area != nil && (bd.area.area != nil || bd.area.err != nil)
}
