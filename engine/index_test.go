package engine

import (
	"cmp"
	"math"
	"math/rand/v2"
	"slices"
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

// TestLowerFromIsLower: starting from any point at or before the answer,
// lowerFrom finds what lower finds (and a linear scan): near the start and
// far past the steps it reads before asking the directory, in crowded and
// sparse bands, for longitudes before, on, between and after the points.
func TestLowerFromIsLower(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for range 200 {
		n := rng.IntN(400)
		h := int32(2 * (1 + rng.IntN(50)))
		lon, lat := make([]int32, n), make([]int32, n)
		for i := range lon {
			lat[i] = int32(rng.IntN(500))
			lon[i] = int32(rng.IntN(1 + rng.IntN(2000)))
		}
		// sorted by (band, lon) as the index expects
		idx := make([]int, n)
		for i := range idx {
			idx[i] = i
		}
		band := func(i int) int32 { return lat[i] / h }
		slices.SortFunc(idx, func(a, b int) int {
			return cmp.Or(cmp.Compare(band(a), band(b)), cmp.Compare(lon[a], lon[b]))
		})
		slon, slat := make([]int32, n), make([]int32, n)
		for k, i := range idx {
			slon[k], slat[k] = lon[i], lat[i]
		}
		ix := buildBandIndex(slon, slat, 0, h)
		for b := 0; b < ix.nb; b++ {
			s, e := ix.start[b], ix.start[b+1]
			for range 50 {
				x := int64(rng.IntN(2200)) - 100
				if e > s && rng.IntN(3) == 0 {
					x = int64(slon[s+uint32(rng.IntN(int(e-s)))])
				}
				want := s
				for want < e && int64(slon[want]) < x {
					want++
				}
				if got := ix.lower(b, x); got != want {
					t.Fatalf("band %d, x %d: lower %d, want %d", b, x, got, want)
				}
				from := s + uint32(rng.IntN(int(want-s)+1))
				if got := ix.lowerFrom(b, from, x); got != want {
					t.Fatalf("band %d [%d, %d), x %d, from %d: lowerFrom %d, want %d", b, s, e, x, from, got, want)
				}
			}
		}
	}
}
