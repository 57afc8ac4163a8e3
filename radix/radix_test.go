package radix

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"testing"
)

type keyed struct {
	key uint64
	idx int
}

// TestSortIsStableSort: Sort orders as a stable comparison sort does, at
// sizes from none to thousands, with keys that share high or low bytes
// (passes skipped) and repeated keys; Uint64s as slices.Sort does, either
// side of its threshold, reusing its scratch.
func TestSortIsStableSort(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	var scratch []uint64
	for _, n := range []int{0, 1, 2, 255, 256, 257, 1025, 20000} {
		for _, mask := range []uint64{^uint64(0), 0xFFFF, 0xFFFF_0000_0000_0000, 0x0F0F_0F0F_0F0F_0F0F, 7} {
			a := make([]keyed, n)
			u := make([]uint64, n)
			for i := range a {
				a[i] = keyed{rng.Uint64() & mask, i}
				u[i] = a[i].key
			}
			want := slices.Clone(a)
			slices.SortStableFunc(want, func(x, y keyed) int { return cmp.Compare(x.key, y.key) })
			Sort(a, nil, func(k *keyed) uint64 { return k.key })
			if !slices.Equal(a, want) {
				t.Fatalf("n %d mask %x: not the stable order", n, mask)
			}
			wantU := slices.Clone(u)
			slices.Sort(wantU)
			scratch = Uint64s(u, scratch)
			if !slices.Equal(u, wantU) {
				t.Fatalf("n %d mask %x: Uint64s out of order", n, mask)
			}
		}
	}
}
