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

// sortByKey sorts a by key, equal keys in their order (radixSort; a
// comparison sort spent over a millisecond on the 10,000 buildings of a z10
// tile, its comparisons reading through the building table).
func sortByKey(a []keyIndex) {
	if len(a) < 64 { // a radix sort's eight histograms cost more
		slices.SortStableFunc(a, func(x, y keyIndex) int { return cmp.Compare(x.key, y.key) })
		return
	}
	radixSort(a, nil, func(k *keyIndex) uint64 { return k.key })
}

// sortUint64s sorts a, with scratch as radixSort's (returned for reuse).
func sortUint64s(a, scratch []uint64) []uint64 {
	if len(a) < 256 {
		slices.Sort(a)
		return scratch
	}
	return radixSort(a, scratch, func(k *uint64) uint64 { return *k })
}

// radixSort sorts a by key, equal keys in their order: a byte a pass,
// skipping the bytes every key shares. scratch is used when it is large
// enough; the scratch used is returned, for the next sort.
func radixSort[T any](a, scratch []T, key func(*T) uint64) []T {
	if cap(scratch) < len(a) {
		scratch = make([]T, len(a))
	}
	src, dst := a, scratch[:len(a)]
	var counts [8][256]int // every byte's histogram, in one read
	for i := range src {
		k := key(&src[i])
		for b := range counts {
			counts[b][byte(k>>(8*b))]++
		}
	}
	first := key(&src[0])
	for b := range counts {
		shift := 8 * b
		count := &counts[b]
		if count[byte(first>>shift)] == len(src) {
			continue // every key has this byte: the pass would not move anything
		}
		at := 0
		for c, n := range count {
			count[c] = at
			at += n
		}
		for i := range src {
			c := byte(key(&src[i]) >> shift)
			dst[count[c]] = src[i]
			count[c]++
		}
		src, dst = dst, src
	}
	if &src[0] != &a[0] {
		copy(a, src)
	}
	return scratch
}
