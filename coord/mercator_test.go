package coord_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/encoding/mvt"
	"github.com/paulmach/orb/geojson"
	"github.com/paulmach/orb/maptile"
	"github.com/roomstate/roomstate/coord"
)

// TestMercatorIsOrbs: a position projected once and scaled to a tile's
// level lands on the very unit orb's mvt projection gives, at every zoom,
// near the poles and on tile edges too.
func TestMercatorIsOrbs(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for range 20000 {
		lon := int32(rng.Int64N(3600000001) - 1800000000)
		lat := rng.Int32N(1700000001) - 850000000
		if rng.IntN(10) == 0 {
			lat = 899999999 - rng.Int32N(20000000) // near a pole, beyond the clamp
			if rng.IntN(2) == 0 {
				lat = -lat
			}
		}
		z := maptile.Zoom(rng.IntN(23))
		p := orb.Point{coord.FromE7(lon), coord.FromE7(lat)}
		tile := maptile.At(p, z)
		l := &mvt.Layer{Extent: 4096, Features: []*geojson.Feature{{Geometry: orb.MultiPoint{p}}}}
		l.ProjectToTile(tile)
		want := l.Features[0].Geometry.(orb.MultiPoint)[0]
		x, y := coord.ToMercator(lon, lat).At(uint32(z) + 12)
		got := orb.Point{x - float64(uint64(tile.X)<<12), y - float64(uint64(tile.Y)<<12)}
		got[0], got[1] = math.Floor(got[0]), math.Floor(got[1])
		if got != want {
			t.Fatalf("(%d, %d) at zoom %d: %v, orb %v", lon, lat, z, got, want)
		}
	}
}
