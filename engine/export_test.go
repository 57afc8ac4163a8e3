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
