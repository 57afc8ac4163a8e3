package tiles

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/encoding/mvt"
	"github.com/paulmach/orb/geojson"
	"github.com/paulmach/orb/maptile"
	"github.com/paulmach/orb/planar"
)

// TestInTileIsOrbsClip: a boundary taken into a tile by worldGeom.inTile
// (rings wholly inside copied, wholly outside skipped, the rest clipped) is
// the geometry orb's mvt clipping gives the whole boundary translated into
// the tile, and is dropped exactly when orb drops it: ragged polygons with
// holes and several parts, around, across, inside and beside the tile.
func TestInTileIsOrbsClip(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	box := orb.Bound{Min: orb.Point{-Buffer, -Buffer}, Max: orb.Point{Extent + Buffer, Extent + Buffer}}
	tile := maptile.New(100, 200, 14)
	ox, oy := float64(uint64(tile.X)<<extentBits), float64(uint64(tile.Y)<<extentBits)
	star := func(cx, cy, r float64, n int, ccw bool) orb.Ring {
		ring := make(orb.Ring, 0, n+1)
		for i := range n {
			a := 2 * math.Pi * float64(i) / float64(n)
			if !ccw {
				a = -a
			}
			rr := r * (0.4 + 0.6*rng.Float64())
			ring = append(ring, orb.Point{math.Floor(cx + rr*math.Cos(a)), math.Floor(cy + rr*math.Sin(a))})
		}
		return append(ring, ring[0])
	}
	seen := map[string]int{}
	for round := range 3000 {
		var mp orb.MultiPolygon
		for range 1 + rng.IntN(3) {
			// centres around the tile, radii from a few units to many tiles
			cx := ox + float64(Extent)*(rng.Float64()*3-1)
			cy := oy + float64(Extent)*(rng.Float64()*3-1)
			r := math.Exp2(2 + 12*rng.Float64())
			poly := orb.Polygon{star(cx, cy, r, 3+rng.IntN(60), true)}
			if rng.IntN(2) == 0 {
				poly = append(poly, star(cx, cy, r/5, 3+rng.IntN(10), false))
			}
			mp = append(mp, poly)
		}
		g := &worldGeom{mp: mp}
		for _, p := range mp {
			var bs []orb.Bound
			for _, ring := range p {
				bs = append(bs, ring.Bound())
			}
			g.bounds = append(g.bounds, bs)
		}
		// orb's way: translate the whole, clip, drop what covers under a unit
		whole := mp.Clone()
		for _, p := range whole {
			for _, ring := range p {
				for i := range ring {
					ring[i][0] -= ox
					ring[i][1] -= oy
				}
			}
		}
		lay := &mvt.Layer{Features: []*geojson.Feature{geojson.NewFeature(whole)}, Extent: Extent}
		lay.Clip(box)
		lay.RemoveEmpty(0, 1)
		got := g.inTile(tile, box)
		if got != nil && planar.Area(got) < 1 {
			got = nil
		}
		switch {
		case len(lay.Features) == 0 && got == nil:
			seen["dropped"]++
		case len(lay.Features) == 0 || got == nil:
			t.Fatalf("round %d: orb kept %d features, inTile %v", round, len(lay.Features), got)
		case !orb.Equal(lay.Features[0].Geometry, got):
			t.Fatalf("round %d: inTile %v, orb %v", round, got, lay.Features[0].Geometry)
		default:
			seen[got.GeoJSONType()]++
		}
	}
	if seen["dropped"] < 100 || seen["Polygon"] < 100 || seen["MultiPolygon"] < 50 {
		t.Fatalf("cases too few: %v", seen)
	}
}
