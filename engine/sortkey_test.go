package engine

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestSortByKey: the radix sort orders keys as a stable comparison sort
// does, at every size around its threshold, with ids that share high or
// low bytes (passes skipped) and with repeated ids.
func TestSortByKey(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, n := range []int{0, 1, 2, 511, 512, 513, 3000, 20000} {
		for _, mask := range []uint64{^uint64(0), 0xFFFF, 0xFFFF_0000_0000_0000, 0x0F0F_0F0F_0F0F_0F0F, 7} {
			a := make([]keyIndex, n)
			for i := range a {
				a[i] = keyIndex{rng.Uint64() & mask, uint32(i)}
			}
			want := slices.Clone(a)
			slices.SortStableFunc(want, func(x, y keyIndex) int { return cmp.Compare(x.key, y.key) })
			sortByKey(a)
			for i := range a {
				if a[i].key != want[i].key {
					t.Fatalf("n %d mask %x: at %d fid %x, want %x", n, mask, i, a[i].key, want[i].key)
				}
			}
			if n >= 512 && !slices.Equal(a, want) {
				t.Fatalf("n %d mask %x: equal ids not kept in their order (the radix sort is stable)", n, mask)
			}
		}
	}
}
