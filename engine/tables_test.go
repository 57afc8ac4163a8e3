package engine

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestFindAllIsFind: looking up a batch of ids at once gives, id for id,
// what find gives: present, removed and never-seen ids, the same id twice,
// batches across the chunk size, a table crowded by collisions, and a table
// with no buckets.
func TestFindAllIsFind(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var ids []string
	idOf := func(s uint32) string { return ids[s] }
	var empty idTable
	got := []int32{7}
	empty.findAll([]string{"a"}, got, idOf)
	if got[0] != -1 {
		t.Fatalf("empty table: %d", got[0])
	}
	for _, n := range []int{1, 10, 3000} {
		tab := newIDTable(n)
		ids = ids[:0]
		for i := range n {
			ids = append(ids, fmt.Sprintf("d%d-%d", i, rng.IntN(1000)))
			tab.insert(ids[i], uint32(i), idOf)
		}
		for i := 0; i < n; i += 7 { // some removed (backward shifts move others)
			tab.remove(ids[i], idOf)
		}
		for _, size := range []int{0, 1, warmChunk - 1, warmChunk, warmChunk + 1, 1000} {
			batch := make([]string, size)
			for i := range batch {
				switch rng.IntN(4) {
				case 0:
					batch[i] = fmt.Sprintf("absent-%d", rng.IntN(1<<20))
				case 1:
					if i > 0 {
						batch[i] = batch[i-1]
						break
					}
					fallthrough
				default:
					batch[i] = ids[rng.IntN(n)]
				}
			}
			out := make([]int32, size)
			tab.findAll(batch, out, idOf)
			for i, id := range batch {
				if want := int32(tab.find(id, idOf)); out[i] != want {
					t.Fatalf("%d ids, batch of %d: %q found at %d, find says %d", n, size, id, out[i], want)
				}
			}
		}
	}
}
