package engine

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestBandOf: a latitude's band is the floor of its offset from the index's
// first band over the band height, for offsets below, at and above zero,
// multiples of the height and the extremes of int32 latitudes.
func TestBandOf(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	floorDiv := func(d, h int64) int64 {
		q := d / h
		if d%h != 0 && d < 0 {
			q--
		}
		return q
	}
	for range 200_000 {
		ix := &bandIndex{lat0: int32(rng.Int64N(1<<32) - 1<<31), h: int32(1 + rng.Int64N(1<<uint(rng.IntN(31))))}
		lats := []int64{math.MinInt32, math.MaxInt32, int64(ix.lat0), int64(ix.lat0) - 1, int64(ix.lat0) + int64(ix.h), int64(ix.lat0) + int64(ix.h) - 1,
			int64(ix.lat0) - int64(ix.h), rng.Int64N(1<<32) - 1<<31}
		for _, lat := range lats {
			if got, want := ix.bandOf(lat), floorDiv(lat-int64(ix.lat0), int64(ix.h)); got != want {
				t.Fatalf("lat0 %d, h %d: bandOf(%d) = %d, want %d", ix.lat0, ix.h, lat, got, want)
			}
		}
	}
}
