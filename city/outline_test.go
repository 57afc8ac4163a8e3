package city

import (
	"testing"

	"github.com/roomstate/roomstate/coord"
	"github.com/roomstate/roomstate/region"
)

// TestOutlinePinch: a union of cells whose traced ring comes back to a
// corner it passed (community 松园五村16居委会 of the 10 M disc city, seed 1,
// on its own lattice) has an outline that region.New takes, covering the
// same cells; before the loops were split it was refused ("polygon crosses
// itself": two edges meeting at that corner).
func TestOutlinePinch(t *testing.T) {
	// the ring as traced, in lattice corners (column, row), visiting (2,3) twice
	ring := []vertex{{1, 0}, {2, 0}, {2, 1}, {4, 1}, {4, 4}, {2, 4}, {2, 3}, {3, 3}, {3, 2}, {2, 2}, {2, 3}, {1, 3},
		{1, 2}, {0, 2}, {0, 1}, {1, 1}, {1, 0}}
	loops := splitLoops(ring)
	if len(loops) != 2 {
		t.Fatalf("%d loops, want 2: %v", len(loops), loops)
	}
	for _, l := range loops {
		seen := map[vertex]bool{}
		for _, v := range l[:len(l)-1] {
			if seen[v] {
				t.Fatalf("loop %v visits %v twice", l, v)
			}
			seen[v] = true
		}
		if l[0] != l[len(l)-1] {
			t.Fatalf("loop %v not closed", l)
		}
	}
	// the cells inside the traced ring (even-odd at their centres), outlined
	// by the city as a unit's blocks
	c := &City{cols: 6, rows: 6, lon0: 121.2468663, lat0: 31.266, blockLon: 0.0042101, blockLat: 0.0036}
	inside := func(x, y float64) bool {
		in := false
		for i := 0; i+1 < len(ring); i++ {
			a, b := ring[i], ring[i+1]
			ax, ay, bx, by := float64(a.q), float64(a.r), float64(b.q), float64(b.r)
			if (ay > y) != (by > y) && x < ax+(y-ay)*(bx-ax)/(by-ay) {
				in = !in
			}
		}
		return in
	}
	var blocks []int32
	for r := int32(0); r < 6; r++ {
		for q := int32(0); q < 6; q++ {
			if inside(float64(q)+0.5, float64(r)+0.5) {
				blocks = append(blocks, r*6+q)
			}
		}
	}
	g := c.outline(blocks)
	rg, err := region.New(g)
	if err != nil {
		t.Fatalf("outline %v: %v", g, err)
	}
	for r := int32(0); r < 6; r++ {
		for q := int32(0); q < 6; q++ {
			lon, lat := c.lon0+(float64(q)+0.5)*c.blockLon, c.lat0+(float64(r)+0.5)*c.blockLat
			if got, want := rg.Contains(coord.ToE7(lon), coord.ToE7(lat)), inside(float64(q)+0.5, float64(r)+0.5); got != want {
				t.Fatalf("cell (%d,%d): in the outline %v, in the cells %v", q, r, got, want)
			}
		}
	}
}
