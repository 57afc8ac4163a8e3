package compare

import (
	"strings"
	"testing"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/encoding/mvt"
	"github.com/paulmach/orb/geojson"
	"github.com/paulmach/orb/maptile"
	"github.com/roomstate/roomstate/bench"
	"github.com/roomstate/roomstate/city"
	"github.com/roomstate/roomstate/engine"
	"github.com/roomstate/roomstate/internal/testseed"
	"github.com/roomstate/roomstate/tiles"
)

// postgisLikeTile renders what tileSQL asks PostGIS for, from the city's
// records: a buildings layer, one point per building in the tile and its
// buffer, with id, total, matched (no where: all) and per-flag counts.
// bump adds one to the total of that building.
func postgisLikeTile(t *testing.T, c *city.City, tile maptile.Tile, bump string) []byte {
	t.Helper()
	type agg struct {
		p     orb.Point
		total int64
		flags []int64
	}
	byB := map[string]*agg{}
	var ids []string
	names := city.FlagNames()
	c.Dwellings(func(r *engine.Record) error {
		a := byB[r.Building]
		if a == nil {
			a = &agg{p: orb.Point{r.Lon, r.Lat}, flags: make([]int64, len(names))}
			byB[r.Building] = a
			ids = append(ids, r.Building)
		}
		a.total++
		for i := range names {
			if r.Flags[0]>>i&1 != 0 {
				a.flags[i]++
			}
		}
		return nil
	})
	l := &mvt.Layer{Name: "buildings", Version: 2, Extent: tileExtent}
	for _, id := range ids {
		a := byB[id]
		f := geojson.NewFeature(a.p)
		total := a.total
		if id == bump {
			total++
		}
		f.Properties["id"] = id
		f.Properties["total"] = total
		f.Properties["matched"] = a.total
		for i, n := range names {
			f.Properties[n] = a.flags[i]
		}
		l.Features = append(l.Features, f)
	}
	l.ProjectToTile(tile)
	kept := l.Features[:0]
	for _, f := range l.Features {
		p := f.Geometry.(orb.Point)
		if p[0] >= -64 && p[0] < tileExtent+64 && p[1] >= -64 && p[1] < tileExtent+64 {
			kept = append(kept, f)
		}
	}
	l.Features = kept
	raw, err := mvt.Marshal(mvt.Layers{l})
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// TestCheckTile: roomstate's own tiles agree with tiles made the way
// PostGIS is asked to make them, building by building at z14 and cell by
// cell at z10, and one count off is found.
func TestCheckTile(t *testing.T) {
	f, err := bench.NewFixture(bench.Config{N: 30_000, Seed: testseed.Or(t, 1), City: city.Realistic, Polygons: 1, RealCommunities: 1})
	if err != nil {
		t.Fatal(err)
	}
	pos := buildingPoints(f.City)
	r := tiles.NewRenderer(f.Eng)
	for _, z := range []maptile.Zoom{14, 10} {
		tile := f.DenseTile(z)
		rt, err := r.Render(&tiles.Request{Z: uint32(tile.Z), X: tile.X, Y: tile.Y})
		if err != nil {
			t.Fatal(err)
		}
		n, err := checkTile(tile, rt.Raw, postgisLikeTile(t, f.City, tile, ""), pos, city.FlagNames())
		if err != nil || n == 0 {
			t.Fatalf("z%d: %d compared: %v", z, n, err)
		}
		// a building of the tile proper with one dwelling too many
		var victim string
		for id, p := range project(pos, tile) {
			if inTile(p) && (victim == "" || id < victim) {
				victim = id
			}
		}
		_, err = checkTile(tile, rt.Raw, postgisLikeTile(t, f.City, tile, victim), pos, city.FlagNames())
		if err == nil || !strings.Contains(err.Error(), "1 differences") {
			t.Fatalf("z%d: a wrong total of %s went unseen: %v", z, victim, err)
		}
		t.Logf("z%d %d/%d: %d compared; with one count off: %v", z, tile.X, tile.Y, n, err)
	}
}

func TestDiffCounts(t *testing.T) {
	flags := []string{"isolated", "vaccinated"}
	e := &engine.PolygonResult{Counts: engine.Counts{Total: 10, Matched: 4, Flags: []int64{1, 3}}, FlagNames: flags}
	rs := answer{Total: 10, Matched: 4, Flags: map[string]int64{"isolated": 1, "vaccinated": 3}}
	if d := diffCounts(rs, []int64{10, 4, 1, 3}, e, flags); d != "" {
		t.Fatalf("equal counts differ: %s", d)
	}
	d := diffCounts(rs, []int64{10, 4, 2, 3}, e, flags)
	if !strings.Contains(d, "isolated roomstate 1, PostGIS 2, engine 1") || strings.Contains(d, "total") {
		t.Fatalf("difference described as %q", d)
	}
	if err := mismatch([]string{"b", "a"}); err == nil || !strings.Contains(err.Error(), "2 differences, the first 2: a; b") {
		t.Fatalf("mismatch: %v", err)
	}
}
