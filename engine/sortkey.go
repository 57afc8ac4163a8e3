package engine

import (
	"cmp"
	"slices"

	"github.com/roomstate/roomstate/radix"
)

// keyIndex is an index sorted by a 64-bit key (a building's feature id, a
// grid cell's row and column).
type keyIndex struct {
	key uint64
	idx uint32
}

// sortByKey sorts a by key, equal keys in their order (radix.Sort; a
// comparison sort spent over a millisecond on the 10,000 buildings of a z10
// tile, its comparisons reading through the building table).
func sortByKey(a []keyIndex) {
	if len(a) < 64 { // a radix sort's eight histograms cost more
		slices.SortStableFunc(a, func(x, y keyIndex) int { return cmp.Compare(x.key, y.key) })
		return
	}
	radix.Sort(a, nil, func(k *keyIndex) uint64 { return k.key })
}
