// Package radix sorts by 64-bit keys (least significant byte first, a
// pass a byte, skipping the bytes every key shares): the engine's building
// and cell keys, the history log's spatial keys. It owns no data and knows
// nothing of what the keys mean.
package radix

import "slices"

// Uint64s sorts a, with scratch as Sort's (returned for reuse); below a
// few hundred keys a comparison sort is faster than eight histograms.
func Uint64s(a, scratch []uint64) []uint64 {
	if len(a) < 256 {
		slices.Sort(a)
		return scratch
	}
	return Sort(a, scratch, func(k *uint64) uint64 { return *k })
}

// Sort sorts a by key, equal keys in their order: a byte a pass,
// skipping the bytes every key shares. scratch is used when it is large
// enough; the scratch used is returned, for the next sort.
func Sort[T any](a, scratch []T, key func(*T) uint64) []T {
	if len(a) < 2 {
		return scratch
	}
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
