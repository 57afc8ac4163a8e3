package city

import (
	"testing"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/planar"
	"github.com/roomstate/roomstate/engine"
	"github.com/roomstate/roomstate/region"
)

// TestUnitsContainTheirDwellings checks the promise of the generator: every
// unit's boundary contains its dwellings and no other unit of its level does.
func TestUnitsContainTheirDwellings(t *testing.T) {
	c := New(Config{N: 40_000, Seed: 3})
	byLevel := map[engine.Level]map[string]orb.MultiPolygon{}
	for _, b := range c.Boundaries() {
		if byLevel[b.Level] == nil {
			byLevel[b.Level] = map[string]orb.MultiPolygon{}
		}
		byLevel[b.Level][b.ID] = b.Geometry
		if _, err := region.New(b.Geometry); err != nil {
			t.Fatalf("%s %s: invalid boundary: %v", b.Level, b.ID, err)
		}
	}
	n := 0
	err := c.Dwellings(func(r *engine.Record) error {
		n++
		if n%97 != 0 {
			return nil
		}
		p := orb.Point{r.Lon, r.Lat}
		for l, id := range []string{r.District, r.Street, r.Community, r.Grid} {
			for uid, g := range byLevel[engine.Level(l)] {
				if in := planar.MultiPolygonContains(g, p); in != (uid == id) {
					t.Fatalf("dwelling %s of %s %s: inside %s = %v", r.ID, engine.Level(l), id, uid, in)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != c.Size() {
		t.Fatalf("%d dwellings, Size says %d", n, c.Size())
	}
}

func TestDeterministic(t *testing.T) {
	a, b := New(Config{N: 20_000, Seed: 9}), New(Config{N: 20_000, Seed: 9})
	var ra, rb []engine.Record
	a.Dwellings(func(r *engine.Record) error {
		ra = append(ra, *r)
		ra[len(ra)-1].Flags = append([]uint64(nil), r.Flags...)
		return nil
	})
	b.Dwellings(func(r *engine.Record) error {
		rb = append(rb, *r)
		rb[len(rb)-1].Flags = append([]uint64(nil), r.Flags...)
		return nil
	})
	if len(ra) != len(rb) {
		t.Fatal("sizes differ")
	}
	for i := range ra {
		if ra[i].ID != rb[i].ID || ra[i].Lon != rb[i].Lon || ra[i].Grid != rb[i].Grid || ra[i].Flags[0] != rb[i].Flags[0] {
			t.Fatalf("record %d differs", i)
		}
	}
}

func TestReferenceShape(t *testing.T) {
	c := New(Config{N: 1_000_000, Seed: 1})
	counts := map[engine.Level]int{}
	for _, b := range c.Boundaries() {
		counts[b.Level]++
	}
	t.Logf("units: %v, buildings %d, dwellings %d", counts, c.Buildings(), c.Size())
	if counts[engine.LevelDistrict] != 4 || counts[engine.LevelStreet] != 36 || counts[engine.LevelCommunity] != 1000 || counts[engine.LevelGrid] != 1300 {
		t.Fatalf("units per level %v", counts)
	}
	// district sizes balanced within a factor of two
	per := map[string]int{}
	c.Dwellings(func(r *engine.Record) error { per[r.District]++; return nil })
	lo, hi := 1<<30, 0
	for _, v := range per {
		lo, hi = min(lo, v), max(hi, v)
	}
	t.Logf("district sizes %v", per)
	if hi > 2*lo {
		t.Fatalf("districts unbalanced: %v", per)
	}
}
