package engine

import (
	"cmp"
	"slices"
)

// keyIndex is an index sorted by a 64-bit key (a building's feature id, a
// grid cell's row and column).
type keyIndex struct {
	key uint64
	idx uint32
}

// sortByKey sorts a by key, equal keys in their order: a radix sort, a
// byte a pass, skipping the bytes every key shares (a comparison sort spent
// over a millisecond on the 10,000 buildings of a z10 tile, its comparisons
// reading through the building table).
func sortByKey(a []keyIndex) {
	if len(a) < 512 {
		slices.SortStableFunc(a, func(x, y keyIndex) int { return cmp.Compare(x.key, y.key) })
		return
	}
	src, dst := a, make([]keyIndex, len(a))
	for shift := 0; shift < 64; shift += 8 {
		var count [256]int
		for i := range src {
			count[byte(src[i].key>>shift)]++
		}
		if count[byte(src[0].key>>shift)] == len(src) {
			continue // every key has this byte: the pass would not move anything
		}
		at := 0
		for b, n := range count {
			count[b] = at
			at += n
		}
		for i := range src {
			b := byte(src[i].key >> shift)
			dst[count[b]] = src[i]
			count[b]++
		}
		src, dst = dst, src
	}
	if &src[0] != &a[0] {
		copy(a, src)
	}
}
