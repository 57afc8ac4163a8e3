package region_test

import (
	"encoding/binary"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/paulmach/orb"
	"github.com/roomstate/roomstate/city"
	"github.com/roomstate/roomstate/engine"
	"github.com/roomstate/roomstate/fault"
	"github.com/roomstate/roomstate/region"
)

// FuzzNewRegion builds polygons from fuzzed numbers: never a panic, only
// bad_geometry errors, a polygon rejected as crossing itself exactly when
// testing every pair of edges finds two that meet, and an accepted region
// answers Contains.
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
		mp := orb.MultiPolygon{{ring}}
		rg, err := region.New(mp)
		if err != nil {
			if !errors.Is(err, fault.BadGeometry) && !errors.Is(err, fault.TooLarge) {
				t.Fatalf("%T %v", err, err)
			}
			if strings.Contains(err.Error(), "cross") && region.SimpleByBrute(mp) {
				t.Fatalf("rejected as crossing, but no two edges meet: %v", err)
			}
			return
		}
		if !region.SimpleByBrute(mp) {
			t.Fatalf("accepted, but two edges meet")
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

// BenchmarkNew prepares the street boundaries of a realistic city of 1 M
// dwellings (298–3,480 vertices, median 714): validation, orientation and
// fixed-point edges.
func BenchmarkNew(b *testing.B) {
	var streets []orb.MultiPolygon
	for _, bd := range city.New(city.Config{N: 1_000_000, Seed: 1, Kind: city.Realistic}).Boundaries() {
		if bd.Level == engine.LevelStreet {
			streets = append(streets, bd.Geometry)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := region.New(streets[i%len(streets)]); err != nil {
			b.Fatal(err)
		}
	}
}
