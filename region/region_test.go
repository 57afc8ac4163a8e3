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
		rg.Contains(0, 0)
	})
}
