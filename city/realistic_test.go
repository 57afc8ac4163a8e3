package city

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/planar"
	"github.com/roomstate/roomstate/coord"
	"github.com/roomstate/roomstate/engine"
	"github.com/roomstate/roomstate/internal/testseed"
	"github.com/roomstate/roomstate/region"
)

// files renders a city's two output files.
func files(t *testing.T, c *City) (csv, geo []byte) {
	t.Helper()
	var a, b bytes.Buffer
	if err := c.WriteCSV(&a); err != nil {
		t.Fatal(err)
	}
	if err := c.WriteBoundaries(&b); err != nil {
		t.Fatal(err)
	}
	return a.Bytes(), b.Bytes()
}

func TestRealisticDeterministic(t *testing.T) {
	seed := testseed.Or(t, 5)
	cfg := Config{N: 60_000, Seed: seed, Kind: Realistic}
	csv1, geo1 := files(t, New(cfg))
	csv2, geo2 := files(t, New(cfg))
	if !bytes.Equal(csv1, csv2) || !bytes.Equal(geo1, geo2) {
		t.Fatalf("the same config gave different files (csv %x / %x)", sha256.Sum256(csv1), sha256.Sum256(csv2))
	}
	cfg.Seed++
	csv3, _ := files(t, New(cfg))
	if bytes.Equal(csv1, csv3) {
		t.Fatal("another seed gave the same city")
	}
}

// vertices counts a geometry's vertices (closing positions not counted).
func vertices(g orb.MultiPolygon) int {
	n := 0
	for _, p := range g {
		for _, r := range p {
			n += len(r) - 1
		}
	}
	return n
}

func median(v []int) int {
	v = slices.Clone(v)
	slices.Sort(v)
	return v[len(v)/2]
}

// TestRealisticShape checks the reference sizes at 1 M and the shape of the
// boundaries: streets of hundreds to thousands of vertices, some multipart and
// some with holes; communities of tens.
func TestRealisticShape(t *testing.T) {
	if testing.Short() {
		t.Skip("1 M dwellings")
	}
	seed := testseed.Or(t, 1)
	c := New(Config{N: 1_000_000, Seed: seed, Kind: Realistic})
	if s := c.Size(); s < 990_000 || s > 1_010_000 {
		t.Fatalf("%d dwellings for N = 1,000,000", s)
	}
	counts := map[engine.Level]int{}
	verts := map[engine.Level][]int{}
	multi, holed := map[engine.Level]int{}, map[engine.Level]int{}
	for _, b := range c.Boundaries() {
		counts[b.Level]++
		verts[b.Level] = append(verts[b.Level], vertices(b.Geometry))
		if len(b.Geometry) > 1 {
			multi[b.Level]++
		}
		for _, p := range b.Geometry {
			if len(p) > 1 {
				holed[b.Level]++
				break
			}
		}
	}
	t.Logf("units %v, buildings %d, dwellings %d; multipart %v, with holes %v", counts, c.Buildings(), c.Size(), multi, holed)
	if counts[engine.LevelDistrict] != 4 || counts[engine.LevelStreet] != 36 || counts[engine.LevelCommunity] != 1000 || counts[engine.LevelGrid] != 1300 {
		t.Fatalf("units per level %v, want 4, 36, 1000, 1300", counts)
	}
	sv, cv := verts[engine.LevelStreet], verts[engine.LevelCommunity]
	t.Logf("street vertices: min %d median %d max %d; community vertices: min %d median %d max %d",
		slices.Min(sv), median(sv), slices.Max(sv), slices.Min(cv), median(cv), slices.Max(cv))
	if slices.Min(sv) < 100 || median(sv) < 300 || median(sv) > 3000 || slices.Max(sv) < 1000 {
		t.Errorf("street vertices not hundreds to thousands: min %d, median %d, max %d", slices.Min(sv), median(sv), slices.Max(sv))
	}
	if m := median(cv); m < 10 || m > 99 {
		t.Errorf("community vertices: median %d, want tens", m)
	}
	if multi[engine.LevelStreet] == 0 || holed[engine.LevelStreet] == 0 {
		t.Errorf("no multipart street (%d) or none with a hole (%d)", multi[engine.LevelStreet], holed[engine.LevelStreet])
	}
	// districts balanced within a factor of 2.5 (grown around rivers, they
	// vary more than the disc's); communities hold people
	per, perComm := map[string]int{}, map[string]int{}
	c.Dwellings(func(r *engine.Record) error { per[r.District]++; perComm[r.Community]++; return nil })
	lo, hi := math.MaxInt, 0
	for _, v := range per {
		lo, hi = min(lo, v), max(hi, v)
	}
	if 2*hi > 5*lo {
		t.Errorf("districts unbalanced: %v", per)
	}
	if len(perComm) < 950 {
		t.Errorf("only %d of 1,000 communities have dwellings", len(perComm))
	}
}

// TestRealisticTiling checks that every boundary is valid for the engine,
// and that each level's units tile the same area: every directed edge of a
// unit's rings is either shared, reversed, by exactly one other unit of the
// level or lies on the city's outline, which is the same at every level.
func TestRealisticTiling(t *testing.T) {
	seed := testseed.Or(t, 2)
	c := New(Config{N: 150_000, Seed: seed, Kind: Realistic})
	type seg [4]float64
	outlines := make([]map[seg]bool, 4)
	area := make([]float64, 4)
	for _, b := range c.Boundaries() {
		if _, err := region.New(b.Geometry); err != nil {
			t.Fatalf("%s %s: invalid: %v", b.Level, b.ID, err)
		}
		l := b.Level
		if outlines[l] == nil {
			outlines[l] = map[seg]bool{}
		}
		area[l] += planar.Area(b.Geometry)
		for _, p := range b.Geometry {
			for ri, r := range p {
				if o := r.Orientation(); (ri == 0) != (o == orb.CCW) {
					t.Fatalf("%s %s: ring %d has orientation %v", l, b.ID, ri, o)
				}
				for i := 0; i+1 < len(r); i++ {
					s := seg{r[i][0], r[i][1], r[i+1][0], r[i+1][1]}
					rev := seg{s[2], s[3], s[0], s[1]}
					switch {
					case outlines[l][s]:
						t.Fatalf("%s %s: edge %v drawn twice in one direction (overlap)", l, b.ID, s)
					case outlines[l][rev]:
						delete(outlines[l], rev) // shared with a neighbour
					default:
						outlines[l][s] = true
					}
				}
			}
		}
	}
	for l := 1; l < 4; l++ {
		if len(outlines[l]) != len(outlines[0]) {
			t.Fatalf("%s outline has %d edges, district outline %d", engine.Level(l), len(outlines[l]), len(outlines[0]))
		}
		for s := range outlines[l] {
			if !outlines[0][s] {
				t.Fatalf("%s outline edge %v is not on the district outline", engine.Level(l), s)
			}
		}
		if math.Abs(area[l]-area[0]) > 1e-9*area[0] {
			t.Fatalf("%s units cover %g square degrees, districts %g", engine.Level(l), area[l], area[0])
		}
	}
	t.Logf("outline of %d edges; area %.4f square degrees at every level", len(outlines[0]), area[0])
}

// TestRealisticContainment checks that every building's dwellings lie inside
// the polygons of their district, street, community and grid, and inside no
// other unit of those levels; and that every unit lies within its parent.
func TestRealisticContainment(t *testing.T) {
	seed := testseed.Or(t, 3)
	c := New(Config{N: 150_000, Seed: seed, Kind: Realistic})
	type unitRegion struct {
		rg *region.Region
		g  orb.MultiPolygon
	}
	regions := [4]map[string]unitRegion{}
	for _, b := range c.Boundaries() {
		rg, err := region.New(b.Geometry)
		if err != nil {
			t.Fatalf("%s %s: %v", b.Level, b.ID, err)
		}
		if regions[b.Level] == nil {
			regions[b.Level] = map[string]unitRegion{}
		}
		regions[b.Level][b.ID] = unitRegion{rg, b.Geometry}
	}
	seen := map[string]bool{}
	err := c.Dwellings(func(r *engine.Record) error {
		if seen[r.Building] {
			return nil
		}
		seen[r.Building] = true
		lon, lat := coord.ToE7(r.Lon), coord.ToE7(r.Lat)
		for l, own := range []string{r.District, r.Street, r.Community, r.Grid} {
			for id, u := range regions[l] {
				if in := u.rg.Contains(lon, lat); in != (id == own) {
					return fmt.Errorf("building %s of %s %s: inside %s = %v", r.Building, engine.Level(l), own, id, in)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// every vertex of a unit is covered by its parent
	for l := 1; l < 4; l++ {
		for ui, u := range c.units[l] {
			parent := regions[l-1][c.units[l-1][u.parent].id]
			for _, p := range regions[l][c.units[l][ui].id].g {
				for _, ring := range p {
					for _, v := range ring {
						if !parent.rg.Contains(coord.ToE7(v[0]), coord.ToE7(v[1])) {
							t.Fatalf("%s %s: vertex %v outside its parent %s", engine.Level(l), u.id, v, c.units[l-1][u.parent].id)
						}
					}
				}
			}
		}
	}
	t.Logf("%d buildings checked against %d units", len(seen), len(regions[0])+len(regions[1])+len(regions[2])+len(regions[3]))
}

// TestRealisticExtent: told an extent, the city fills it and stays inside.
func TestRealisticExtent(t *testing.T) {
	seed := testseed.Or(t, 4)
	ext := orb.Bound{Min: orb.Point{120.85, 30.69}, Max: orb.Point{121.98, 31.87}}
	c := New(Config{N: 50_000, Seed: seed, Kind: Realistic, Extent: ext})
	var all orb.Bound
	for i, b := range c.Boundaries() {
		if i == 0 {
			all = b.Geometry.Bound()
		}
		all = all.Union(b.Geometry.Bound())
	}
	if !ext.Contains(all.Min) || !ext.Contains(all.Max) {
		t.Fatalf("boundaries span %v, outside the extent %v", all, ext)
	}
	if all.Max[0]-all.Min[0] < 0.7*(ext.Max[0]-ext.Min[0]) || all.Max[1]-all.Min[1] < 0.7*(ext.Max[1]-ext.Min[1]) {
		t.Fatalf("boundaries span %v, not filling the extent %v", all, ext)
	}
}

func TestParseKind(t *testing.T) {
	for _, k := range []Kind{Disc, Realistic} {
		got, err := ParseKind(k.String())
		if err != nil || got != k {
			t.Fatalf("ParseKind(%q) = %v, %v", k.String(), got, err)
		}
	}
	if _, err := ParseKind("square"); err == nil {
		t.Fatal("ParseKind accepted square")
	}
}

func BenchmarkRealisticNew(b *testing.B) {
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		c := New(Config{N: 1_000_000, Seed: 1, Kind: Realistic})
		_ = c.Boundaries()
	}
}

// TestRealisticCompounds: compounds are heavy-tailed in dwellings and in
// buildings, as real ones are (a few dozen to over ten thousand households).
func TestRealisticCompounds(t *testing.T) {
	c := New(Config{N: 1_000_000, Seed: testseed.Or(t, 1), Kind: Realistic})
	var hh, bl []int
	for _, k := range c.compounds {
		hh = append(hh, k.dwellings)
		bl = append(bl, k.buildings)
	}
	slices.Sort(hh)
	slices.Sort(bl)
	q := func(v []int, p float64) int { return v[min(len(v)-1, int(p*float64(len(v))))] }
	t.Logf("%d compounds; dwellings p10 %d p50 %d p90 %d p99 %d max %d; buildings p10 %d p50 %d p90 %d p99 %d max %d", len(hh),
		q(hh, .1), q(hh, .5), q(hh, .9), q(hh, .99), hh[len(hh)-1], q(bl, .1), q(bl, .5), q(bl, .9), q(bl, .99), bl[len(bl)-1])
	if m := q(hh, .5); m < 500 || m > 1500 || q(hh, .99) < 4*m || hh[len(hh)-1] < 8*m || hh[0] > 100 {
		t.Errorf("compound sizes not heavy-tailed around a thousand households")
	}
	if m := q(bl, .5); m < 10 || m > 80 || bl[len(bl)-1] < 8*m {
		t.Errorf("buildings per compound not heavy-tailed")
	}
}
