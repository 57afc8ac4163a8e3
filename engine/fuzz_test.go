package engine_test

import (
	"encoding/binary"
	"math"
	"testing"

	"github.com/paulmach/orb"
	"github.com/roomstate/roomstate/engine"
)

// FuzzParseExpr: the parser never panics, and what it accepts has a
// canonical form that parses to the same canonical form.
func FuzzParseExpr(f *testing.F) {
	names := []string{"isolated", "vaccinated", "rental", "elderly_alone", "居家观察"}
	lookup := func(n string) (engine.FlagID, bool) {
		for i, m := range names {
			if m == n {
				return engine.FlagID(i), true
			}
		}
		return 0, false
	}
	for _, s := range []string{"isolated & !vaccinated", "(a|b", "not (rental or elderly_alone) and 居家观察", "!!!", "&&||", "((((isolated))))"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		x, err := engine.ParseExpr(src, lookup)
		if err != nil {
			if _, ok := err.(*engine.ExprError); !ok {
				t.Fatalf("error %T %v is not an ExprError", err, err)
			}
			return
		}
		y, err := engine.ParseExpr(x.String(), lookup)
		if err != nil || y.String() != x.String() {
			t.Fatalf("canonical form %q of %q does not round-trip: %v", x.String(), src, err)
		}
		for m := 0; m < 32; m++ {
			has := func(f engine.FlagID) bool { return m>>f&1 != 0 }
			if x.EvalSet(has) != y.EvalSet(has) {
				t.Fatalf("%q and its canonical form %q differ", src, x.String())
			}
		}
	})
}

// FuzzNewRegion builds polygons from fuzzed numbers: never a panic, only
// GeometryErrors, and an accepted region answers Contains.
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
		rg, err := engine.NewRegion(orb.MultiPolygon{{ring}})
		if err != nil {
			if _, ok := err.(*engine.GeometryError); !ok {
				t.Fatalf("%T %v", err, err)
			}
			return
		}
		rg.Contains(0, 0)
	})
}
