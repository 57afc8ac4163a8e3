package region_test

import (
	"encoding/binary"
	"errors"
	"math"
	"testing"

	"github.com/paulmach/orb"
	"github.com/roomstate/roomstate/fault"
	"github.com/roomstate/roomstate/region"
)

// FuzzNewRegion builds polygons from fuzzed numbers: never a panic, only
// bad_geometry errors, and an accepted region answers Contains.
func FuzzNewRegion(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 1, 0, 0, 0, 1, 1, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		var ring orb.Ring
		for len(data) >= 4 && len(ring) < 64 {
			x := float64(int16(binary.LittleEndian.Uint16(data))) / 100
			y := float64(int16(binary.LittleEndian.Uint16(data[2:]))) / 200
			ring = append(ring, orb.Point{x, y})
			data = data[4:]
		}
		if len(ring) > 0 && len(data)%2 == 0 {
			ring = append(ring, ring[0])
		}
		if len(data) > 0 && data[0] == 0xff {
			ring = append(ring, orb.Point{math.NaN(), 0})
		}
		rg, err := region.New(orb.MultiPolygon{{ring}})
		if err != nil {
			if !errors.Is(err, fault.BadGeometry) && !errors.Is(err, fault.TooLarge) {
				t.Fatalf("%T %v", err, err)
			}
			return
		}
		for _, p := range [][2]int32{{0, 0}, {1, 1}, {-100000, 50000}, {100000, -50000}} {
			if rg.Contains(p[0], p[1]) != rg.Locate(p[0], p[1]) {
				t.Fatalf("point %v: Locate differs from Contains", p)
			}
		}
		for _, e := range rg.Edges() {
			if !rg.Locate(e.X1, e.Y1) {
				t.Fatalf("vertex %d,%d not located", e.X1, e.Y1)
			}
		}
	})
}
