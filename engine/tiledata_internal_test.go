package engine

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestSortByFID: the radix sort orders feature ids as a comparison sort
// does, at every size around its threshold, with ids that share high or
// low bytes (passes skipped) and with repeated ids.
func TestSortByFID(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, n := range []int{0, 1, 2, 511, 512, 513, 3000, 20000} {
		for _, mask := range []uint64{^uint64(0), 0xFFFF, 0xFFFF_0000_0000_0000, 0x0F0F_0F0F_0F0F_0F0F, 7} {
			a := make([]fidIndex, n)
			for i := range a {
				a[i] = fidIndex{rng.Uint64() & mask, uint32(i)}
			}
			want := slices.Clone(a)
			slices.SortStableFunc(want, func(x, y fidIndex) int { return cmp.Compare(x.fid, y.fid) })
			sortByFID(a)
			for i := range a {
				if a[i].fid != want[i].fid {
					t.Fatalf("n %d mask %x: at %d fid %x, want %x", n, mask, i, a[i].fid, want[i].fid)
				}
			}
			if n >= 512 && !slices.Equal(a, want) {
				t.Fatalf("n %d mask %x: equal ids not kept in their order (the radix sort is stable)", n, mask)
			}
		}
	}
}
