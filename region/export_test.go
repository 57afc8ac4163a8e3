package region

import (
	"github.com/paulmach/orb"
	"github.com/roomstate/roomstate/coord"
)

// SimpleByBrute reports whether every polygon of mp is simple by testing
// every pair of its edges (checkSimpleBrute), for rings New accepts in every
// other way.
func SimpleByBrute(mp orb.MultiPolygon) bool {
	for _, poly := range mp {
		var edges []Edge
		var lens []int
		for _, ring := range poly {
			start := len(edges)
			for i := 1; i < len(ring); i++ {
				a := Edge{coord.ToE7(ring[i-1][0]), coord.ToE7(ring[i-1][1]), coord.ToE7(ring[i][0]), coord.ToE7(ring[i][1])}
				if a.X1 != a.X2 || a.Y1 != a.Y2 {
					edges = append(edges, a)
				}
			}
			lens = append(lens, len(edges)-start)
		}
		if !checkSimpleBrute(edges, lens) {
			return false
		}
	}
	return true
}

// BuildRaster builds rg's raster anew (benchmarks: its cost against Locate's).
func BuildRaster(rg *Region) { buildRaster(rg) }
