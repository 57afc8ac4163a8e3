package tiles

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/encoding/mvt"
	"github.com/paulmach/orb/geojson"
	"github.com/paulmach/orb/maptile"
	"github.com/paulmach/orb/maptile/tilecover"
	"github.com/roomstate/roomstate/city"
	"github.com/roomstate/roomstate/coord"
	"github.com/roomstate/roomstate/engine"
	"github.com/roomstate/roomstate/fault"
	"github.com/roomstate/roomstate/privacy"
)

var update = flag.Bool("update", false, "rewrite the golden files")

var (
	fixOnce sync.Once
	fixEng  *engine.Writer
)

func loaded(t testing.TB) *engine.Writer {
	t.Helper()
	fixOnce.Do(func() {
		c := city.New(city.Config{N: 40_000, Seed: 12})
		b, _ := c.Batch()
		fixEng = engine.New(engine.Options{})
		if err := fixEng.Load(b); err != nil {
			panic(err)
		}
		fixEng.AddBoundaries(c.Boundaries())
	})
	return fixEng
}

func decode(t *testing.T, tile *Tile) map[string]*mvt.Layer {
	t.Helper()
	out := map[string]*mvt.Layer{}
	if tile.Empty() {
		return out
	}
	ls, err := mvt.Unmarshal(tile.Raw)
	if err != nil {
		t.Fatal(err)
	}
	gz, err := mvt.UnmarshalGzipped(tile.Gzipped())
	if err != nil || len(gz) != len(ls) {
		t.Fatalf("gzipped tile does not decode the same: %v", err)
	}
	for _, l := range ls {
		if l.Version != 2 || l.Extent != Extent {
			t.Fatalf("layer %s: version %d extent %d", l.Name, l.Version, l.Extent)
		}
		out[l.Name] = l
	}
	return out
}

func own(p orb.Point) bool { return p[0] >= 0 && p[0] < Extent && p[1] >= 0 && p[1] < Extent }

func num(f *geojson.Feature, k string) int64 {
	switch v := f.Properties[k].(type) {
	case float64:
		return int64(v)
	case int64:
		return v
	case uint64:
		return int64(v)
	}
	return -1
}

// TestTotalsOverTilesMatchTheEngine: at a zoom, the totals of the features in
// the tiles' own extents (not their buffers) add up to the engine's counts;
// also with a budget of buildings so low that many tiles from zoom 13 are
// crowded and draw cells, others buildings.
func TestTotalsOverTilesMatchTheEngine(t *testing.T) {
	e := loaded(t)
	full, tight := NewRenderer(e.Engine), NewRenderer(e.Engine)
	tight.budget = 60
	bound := e.Bounds()
	flags := e.Flags()
	for _, c := range []struct {
		where string
		r     *Renderer
	}{{"", full}, {"isolated | elderly_alone", full}, {"isolated", tight}} {
		where, r := c.where, c.r
		var want engine.Counts
		res, err := e.Grid(&engine.GridQuery{Level: "district", Where: where})
		if err != nil {
			t.Fatal(err)
		}
		want.Flags = make([]int64, len(flags))
		for _, c := range res.Cells {
			want.Total += c.Total
			want.Matched += c.Matched
			for i, v := range c.Flags {
				want.Flags[i] += v
			}
		}
		for _, z := range []maptile.Zoom{9, 11, 12, 13, 14} {
			tiles, err := tilecover.Geometry(bound.ToPolygon(), z)
			if err != nil {
				t.Fatal(err)
			}
			got := engine.Counts{Flags: make([]int64, len(flags))}
			features := map[string]int{}
			for tl := range tiles {
				tile, err := r.Render(&Request{Z: uint32(tl.Z), X: tl.X, Y: tl.Y, Where: where})
				if err != nil {
					t.Fatal(err)
				}
				ls := decode(t, tile)
				if ls["cells"] != nil && ls["buildings"] != nil {
					t.Fatalf("zoom %d, tile %v: cells and buildings", z, tl)
				}
				for _, layer := range []string{"cells", "buildings"} {
					l := ls[layer]
					if l == nil {
						continue
					}
					if layer == "buildings" && (z < BuildingZoom || len(l.Features) > r.budget) ||
						layer == "cells" && z >= BuildingZoom && r.budget == BuildingBudget {
						t.Fatalf("zoom %d, tile %v: %d %s with a budget of %d", z, tl, len(l.Features), layer, r.budget)
					}
					for _, f := range l.Features {
						if !own(f.Geometry.(orb.Point)) {
							continue // the neighbour's
						}
						features[layer]++
						got.Total += num(f, "total")
						got.Matched += num(f, "matched")
						for i, n := range flags {
							got.Flags[i] += num(f, n)
						}
					}
				}
			}
			if got.Total != want.Total || got.Matched != want.Matched || !slices.Equal(got.Flags, want.Flags) {
				t.Fatalf("zoom %d where %q budget %d: tiles add up to %+v, engine has %+v", z, where, r.budget, got, want)
			}
			if r == tight && z >= BuildingZoom && (features["cells"] == 0 || features["buildings"] == 0) {
				t.Fatalf("zoom %d: a budget of %d gives %v: no crowded tile, or no other", z, r.budget, features)
			}
			t.Logf("zoom %d, budget %d: %d tiles, features %v", z, r.budget, len(tiles), features)
		}
	}
}

// eachTilePair draws every tile of the zooms over the test city with a and
// with b (and where), and calls fn with the two.
func eachTilePair(t *testing.T, e *engine.Writer, a, b *Renderer, zooms []maptile.Zoom, where string, fn func(tl maptile.Tile, ta, tb *Tile)) {
	t.Helper()
	for _, z := range zooms {
		tiles, err := tilecover.Geometry(e.Bounds().ToPolygon(), z)
		if err != nil {
			t.Fatal(err)
		}
		for tl := range tiles {
			req := Request{Z: uint32(tl.Z), X: tl.X, Y: tl.Y, Where: where}
			ta, err := a.Render(&req)
			if err != nil {
				t.Fatal(err)
			}
			tb, err := b.Render(&req)
			if err != nil {
				t.Fatal(err)
			}
			fn(tl, ta, tb)
		}
	}
}

// TestCellsFromCounts: a low-zoom tile drawn from the buildings' places and
// counts alone is byte for byte the tile drawn from whole buildings, with
// and without a where, at every low zoom over the city.
func TestCellsFromCounts(t *testing.T) {
	e := loaded(t)
	fast, whole := NewRenderer(e.Engine), NewRenderer(e.Engine)
	whole.wholeBuildings = true
	var low []maptile.Zoom
	for z := maptile.Zoom(4); z < BuildingZoom; z++ {
		low = append(low, z)
	}
	n := 0
	for _, where := range []string{"", "isolated | elderly_alone"} {
		eachTilePair(t, e, fast, whole, low, where, func(tl maptile.Tile, a, b *Tile) {
			if !bytes.Equal(a.Raw, b.Raw) || a.ETag != b.ETag {
				t.Fatalf("tile %d/%d/%d where %q: %d bytes from counts, %d from whole buildings", tl.Z, tl.X, tl.Y, where, len(a.Raw), len(b.Raw))
			}
			if len(a.Raw) > 0 {
				n++
			}
		})
	}
	if n < 20 {
		t.Fatalf("only %d tiles compared", n)
	}
}

// TestCellsFromCountsAfterChanges: the cells the engine keeps summed stay
// byte for byte those of whole buildings while flags change, dwellings are
// put (in new buildings and moved into others) and deleted, between
// renders of every low zoom; and the cache serves those tiles again only
// while they are current.
func TestCellsFromCountsAfterChanges(t *testing.T) {
	c := city.New(city.Config{N: 12_000, Seed: 17})
	b, _ := c.Batch()
	e := engine.New(engine.Options{DeltaLimit: 100})
	if err := e.Load(b); err != nil {
		t.Fatal(err)
	}
	// no boundaries: a boundary's counts change with any of its dwellings,
	// and a district's shows on every low-zoom tile; without them a tile
	// is stale only through its cells
	var ids []string
	var pts []orb.Point
	c.Dwellings(func(r *engine.Record) error {
		ids = append(ids, r.ID)
		pts = append(pts, orb.Point{r.Lon, r.Lat})
		return nil
	})
	fast, whole := NewRenderer(e.Engine), NewRenderer(e.Engine)
	whole.wholeBuildings = true
	cache := NewCache(e.Engine, 0)
	rng := rand.New(rand.NewPCG(17, 17))
	zooms := []maptile.Zoom{6, 9, 10, 11, 12}
	for round := 0; round < 8; round++ {
		for _, where := range []string{"", "isolated"} {
			eachTilePair(t, e, fast, whole, zooms, where, func(tl maptile.Tile, a, b *Tile) {
				if !bytes.Equal(a.Raw, b.Raw) {
					t.Fatalf("round %d, tile %d/%d/%d where %q: %d bytes from kept cells, %d from whole buildings", round, tl.Z, tl.X, tl.Y, where, len(a.Raw), len(b.Raw))
				}
				got, err := cache.Get(&Request{Z: uint32(tl.Z), X: tl.X, Y: tl.Y, Where: where})
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got.Raw, a.Raw) {
					t.Fatalf("round %d, tile %d/%d/%d where %q: the cache served a tile that is no longer current", round, tl.Z, tl.X, tl.Y, where)
				}
			})
		}
		var ops []engine.Op
		n := 12
		if round%2 == 1 {
			n = 1 // odd rounds change one flag: the tiles away from it stay current
		}
		for range n {
			id := ids[rng.IntN(len(ids))]
			switch x := rng.IntN(10); {
			case x < 7 || round%2 == 1:
				ops = append(ops, engine.Op{Kind: engine.OpFlags, ID: id, Set: []string{"isolated"}})
			case x < 8:
				ops = append(ops, engine.Op{Kind: engine.OpDelete, ID: id})
				ids = slices.DeleteFunc(ids, func(s string) bool { return s == id })
			default:
				p := pts[rng.IntN(len(pts))]
				nid := fmt.Sprintf("NEW-%d-%d", round, len(ops))
				ops = append(ops, engine.Op{Kind: engine.OpPut, ID: nid, Put: &engine.DwellingInput{Lon: p[0] + 1e-4, Lat: p[1],
					District: "D", Street: "S", Community: "C", Grid: "G", Building: fmt.Sprintf("NB%d", rng.IntN(4)), Unit: "1", Room: "1"}})
				ids = append(ids, nid)
			}
		}
		for _, op := range ops {
			// one request a change: a flag of a dwelling deleted earlier is refused alone
			if _, err := e.Apply(engine.Request{Ops: []engine.Op{op}}, time.Now()); err != nil && op.Kind != engine.OpFlags {
				t.Fatal(err)
			}
		}
	}
	if cache.Hits.Load() == 0 {
		t.Fatal("no tile was served from the cache: every change made every tile stale")
	}
}

// TestBuildingFeatures: each building feature sits within a tile unit of its
// building's point and carries the documented properties, its state the
// first rule of the scheme any of its dwellings satisfies.
func TestBuildingFeatures(t *testing.T) {
	e := loaded(t)
	r := NewRenderer(e.Engine)
	b := e.Bounds()
	centre := orb.Point{(b.Min[0] + b.Max[0]) / 2, (b.Min[1] + b.Max[1]) / 2}
	checked := 0
	for _, z := range []maptile.Zoom{13, 15, 18} {
		tl := maptile.At(centre, z)
		tile, err := r.Render(&Request{Z: uint32(z), X: tl.X, Y: tl.Y})
		if err != nil {
			t.Fatal(err)
		}
		layers := decode(t, tile)
		l := layers["buildings"]
		if l == nil || layers["cells"] != nil {
			if z == 18 && l == nil {
				continue // may fall between buildings
			}
			t.Fatalf("zoom %d: layers %v", z, layers)
		}
		l.ProjectToWGS84(tl)
		unit := 360 / (Extent * math.Exp2(float64(z))) // degrees of longitude per tile unit
		for _, f := range l.Features {
			id, _ := f.Properties["id"].(string)
			m, err := e.BuildingRoomState(id, "default", engine.AsOf{})
			if err != nil {
				t.Fatalf("feature for unknown building %q", id)
			}
			bi := m.Buildings[0].Building
			p := f.Geometry.(orb.Point)
			if math.Abs(p[0]-coord.FromE7(bi.Lon)) > unit || math.Abs(p[1]-coord.FromE7(bi.Lat)) > unit {
				t.Fatalf("building %s drawn at %v, is at %v,%v", id, p, coord.FromE7(bi.Lon), coord.FromE7(bi.Lat))
			}
			if got, _ := f.ID.(float64); uint64(got) != bi.FeatureID && f.ID != bi.FeatureID {
				t.Fatalf("building %s: feature id %v, want %d", id, f.ID, bi.FeatureID)
			}
			want := "normal"
			for _, le := range m.Buildings[0].Legend {
				if le.Count > 0 {
					want = le.State
					break
				}
			}
			sc, _ := e.Scheme("default")
			color := sc.Default.Color
			for _, rule := range sc.Rules {
				if rule.State == want {
					color = rule.Color
				}
			}
			if f.Properties["state"] != want || f.Properties["color"] != color {
				t.Fatalf("building %s: state %v color %v, want %s %s", id, f.Properties["state"], f.Properties["color"], want, color)
			}
			if num(f, "total") != int64(bi.Total) || num(f, "matched") != int64(bi.Total) {
				t.Fatalf("building %s: total %d matched %d, want %d", id, num(f, "total"), num(f, "matched"), bi.Total)
			}
			for _, n := range e.Flags() {
				if num(f, n) < 0 {
					t.Fatalf("building %s: no count for %s", id, n)
				}
			}
			checked++
		}
	}
	if checked < 10 {
		t.Fatalf("only %d buildings checked", checked)
	}
}

func TestEmptyAndBadTiles(t *testing.T) {
	e := loaded(t)
	r := NewRenderer(e.Engine)
	// the middle of the Atlantic
	tl := maptile.At(orb.Point{-30, 30}, 14)
	tile, err := r.Render(&Request{Z: 14, X: tl.X, Y: tl.Y})
	if err != nil || !tile.Empty() || tile.ETag == "" {
		t.Fatalf("empty tile: %v %d bytes", err, len(tile.Raw))
	}
	for _, c := range [][3]uint32{{23, 0, 0}, {3, 8, 0}, {3, 0, 8}, {0, 1, 0}} {
		if _, err := r.Render(&Request{Z: c[0], X: c[1], Y: c[2]}); err == nil {
			t.Errorf("%v: no error", c)
		}
	}
	if _, err := r.Render(&Request{Z: 14, X: tl.X, Y: tl.Y, Where: "isolated &"}); err == nil {
		t.Error("bad where: no error")
	}
	if _, err := r.Render(&Request{Z: 14, X: tl.X, Y: tl.Y, Scheme: "nope"}); err == nil {
		t.Error("unknown scheme: no error")
	}
}

// TestDeterministicAndGolden: the same content gives the same bytes, and a
// tile of a tiny hand-made city matches its golden file.
func TestDeterministicAndGolden(t *testing.T) {
	e := engine.New(engine.Options{})
	b := engine.NewBatch("golden", []string{"isolated", "vaccinated", "rental", "elderly_alone"})
	add := func(id, bld string, lon, lat float64, floor int16, flags ...int) {
		r := engine.Record{ID: id, Lon: lon, Lat: lat, Building: bld, Grid: "G1", Community: "C1", Floor: floor, Room: "1", Unit: "1"}
		for _, f := range flags {
			r.SetFlag(f)
		}
		if err := b.Add(&r); err != nil {
			t.Fatal(err)
		}
	}
	add("a1", "A", 121.5, 31.2, 1, 0)
	add("a2", "A", 121.5, 31.2, 2, 1)
	add("b1", "B", 121.501, 31.2005, 1, 1, 2)
	add("c1", "C", 121.4995, 31.1995, 1)
	if err := e.Load(b); err != nil {
		t.Fatal(err)
	}
	e.AddBoundaries([]engine.Boundary{{Level: engine.LevelGrid, ID: "G1", Name: "一网格",
		Geometry: orb.MultiPolygon{{{{121.49, 31.19}, {121.51, 31.19}, {121.51, 31.21}, {121.49, 31.21}, {121.49, 31.19}}}}}})
	r := NewRenderer(e.Engine)
	tl := maptile.At(orb.Point{121.5, 31.2}, 15)
	first, err := r.Render(&Request{Z: 15, X: tl.X, Y: tl.Y})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		again, _ := NewRenderer(e.Engine).Render(&Request{Z: 15, X: tl.X, Y: tl.Y})
		if !bytes.Equal(again.Raw, first.Raw) || again.ETag != first.ETag {
			t.Fatal("the same content gave different bytes")
		}
	}
	// what the spec says the tile holds
	layers := decode(t, first)
	bl := layers["buildings"]
	if bl == nil || len(bl.Features) != 3 || layers["boundaries"] == nil {
		t.Fatalf("layers %v", layers)
	}
	states := map[string]string{}
	for _, f := range bl.Features {
		states[f.Properties["id"].(string)] = f.Properties["state"].(string)
		// nobody answers for them, nobody visited them
		if num(f, "assigned") != 0 || f.Properties["last_visit"] != nil {
			t.Fatalf("building %v: assigned and last_visit %v", f.Properties["id"], f.Properties)
		}
	}
	if states["A"] != "isolated" || states["B"] != "rental" || states["C"] != "normal" {
		t.Fatalf("states %v", states)
	}
	bd := layers["boundaries"].Features[0]
	if bd.Properties["level"] != "grid" || bd.Properties["id"] != "G1" || bd.Properties["name"] != "一网格" || num(bd, "total") != 4 {
		t.Fatalf("boundary %v", bd.Properties)
	}
	golden := filepath.Join("testdata", "15-golden.mvt")
	if *update {
		os.MkdirAll("testdata", 0o755)
		os.WriteFile(golden, first.Raw, 0o644)
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update once to write it)", err)
	}
	if !bytes.Equal(want, first.Raw) {
		t.Fatal("tile differs from testdata/15-golden.mvt")
	}
	// viewers: small counts hidden
	v, _ := r.Render(&Request{Z: 15, X: tl.X, Y: tl.Y, Policy: privacy.ForK(3)})
	for _, f := range decode(t, v)["buildings"].Features {
		if f.Properties["id"] == "A" {
			if _, ok := f.Properties["total"]; ok || f.Properties["suppressed"] != true {
				t.Fatalf("viewer sees %v", f.Properties)
			}
		}
	}
}

// TestCacheRerendersOnlyTouchedTiles: after a change, the tile holding the
// building (and the low-zoom tiles above it) change; a far tile is served
// from the cache, the same bytes.
func TestCacheRerendersOnlyTouchedTiles(t *testing.T) {
	c := city.New(city.Config{N: 20_000, Seed: 13})
	b, _ := c.Batch()
	e := engine.New(engine.Options{})
	e.Load(b)
	var id, far string
	var p, q orb.Point
	c.Dwellings(func(r *engine.Record) error {
		if id == "" {
			id, p = r.ID, orb.Point{r.Lon, r.Lat}
		}
		if math.Abs(r.Lon-p[0]) > 0.02 {
			far, q = r.ID, orb.Point{r.Lon, r.Lat}
		}
		return nil
	})
	// a grid known only from its boundary (no dwelling of it loaded) shows
	// on the near tile
	const r = 0.001
	if err := e.AddBoundaries([]engine.Boundary{{Level: engine.LevelGrid, ID: "G-EMPTY", Geometry: orb.MultiPolygon{{{
		{p[0] - r, p[1] - r}, {p[0] + r, p[1] - r}, {p[0] + r, p[1] + r}, {p[0] - r, p[1] + r}, {p[0] - r, p[1] - r}}}}}}); err != nil {
		t.Fatal(err)
	}
	cache := NewCache(e.Engine, 0)
	near := maptile.At(p, 15)
	other := maptile.At(q, 15)
	req := func(tl maptile.Tile) *Request { return &Request{Z: uint32(tl.Z), X: tl.X, Y: tl.Y, Where: "isolated"} }
	t1, _ := cache.Get(req(near))
	t2, _ := cache.Get(req(other))
	if again, err := cache.Get(req(near)); err != nil || again != t1 {
		t.Fatalf("an unchanged tile was not served from the cache: %v", err)
	}
	if !slices.ContainsFunc(decode(t, t1)["boundaries"].Features, func(f *geojson.Feature) bool { return f.Properties["id"] == "G-EMPTY" }) {
		t.Fatal("the boundary-only grid is not on its tile")
	}
	d, _ := e.Dwelling(id)
	op := engine.Op{Kind: engine.OpFlags, ID: id, Set: []string{"isolated"}}
	if slices.Contains(d.Flags, "isolated") {
		op = engine.Op{Kind: engine.OpFlags, ID: id, Clear: []string{"isolated"}}
	}
	if _, err := e.Apply(engine.Request{Ops: []engine.Op{op}}, time.Now()); err != nil {
		t.Fatal(err)
	}
	hits := cache.Hits.Load()
	t1b, _ := cache.Get(req(near))
	t2b, _ := cache.Get(req(other))
	if t1b == t1 || t1b.ETag == t1.ETag {
		t.Fatal("the changed building's tile was not re-rendered")
	}
	if t2b != t2 || cache.Hits.Load() != hits+1 {
		t.Fatal("a far tile was re-rendered")
	}
	_ = far
}

// TestTilesAsOf: tiles rendered as of a past version decode to the same
// features as the tiles rendered at that version, after flags set and
// cleared, dwellings moved to other buildings and deleted; and differ from
// the tiles of now (the changes show).
func TestTilesAsOf(t *testing.T) {
	c := city.New(city.Config{N: 8_000, Seed: 31})
	b, _ := c.Batch()
	e := engine.New(engine.Options{})
	if err := e.Load(b); err != nil {
		t.Fatal(err)
	}
	e.AddBoundaries(c.Boundaries())
	r := NewRenderer(e.Engine)
	type key struct {
		z    maptile.Zoom
		x, y uint32
	}
	var keys []key
	for _, z := range []maptile.Zoom{10, 12, 14} {
		tiles, err := tilecover.Geometry(e.Bounds().ToPolygon(), z)
		if err != nil {
			t.Fatal(err)
		}
		for tl := range tiles {
			keys = append(keys, key{tl.Z, tl.X, tl.Y})
		}
	}
	// every feature of every tile, as text: layer, point, properties
	features := func(at engine.AsOf, where string) map[key][]string {
		out := map[key][]string{}
		for _, k := range keys {
			tile, err := r.Render(&Request{Z: uint32(k.z), X: k.x, Y: k.y, Where: where, AsOf: at})
			if err != nil {
				t.Fatal(err)
			}
			for name, l := range decode(t, tile) {
				for _, f := range l.Features {
					js, _ := json.Marshal(f.Properties)
					out[k] = append(out[k], fmt.Sprintf("%s %v %s", name, f.Geometry, js))
				}
			}
			slices.Sort(out[k])
		}
		return out
	}
	wheres := []string{"", "isolated & !rental"}
	type past struct {
		v     engine.Version
		tiles []map[key][]string
	}
	var saved []past
	save := func() {
		p := past{v: e.Version()}
		for _, w := range wheres {
			p.tiles = append(p.tiles, features(engine.AsOf{}, w))
		}
		saved = append(saved, p)
	}
	save()
	rng := rand.New(rand.NewPCG(5, 6))
	var ids []string
	c.Dwellings(func(r *engine.Record) error { ids = append(ids, r.ID); return nil })
	at := time.Now()
	for round := range 3 {
		var ops []engine.Op
		for range 300 {
			id := ids[rng.IntN(len(ids))]
			d, err := e.Dwelling(id)
			if err != nil {
				continue // deleted
			}
			switch k := rng.IntN(20); {
			case k == 0:
				ops = append(ops, engine.Op{Kind: engine.OpDelete, ID: id})
			case k <= 2:
				o, err := e.Dwelling(ids[rng.IntN(len(ids))])
				if err != nil {
					continue
				}
				ops = append(ops, engine.Op{Kind: engine.OpPut, ID: id, Put: &engine.DwellingInput{Lon: o.Lon, Lat: o.Lat,
					District: o.District, Street: o.Street, Community: o.Community, Grid: o.Grid, Building: o.Building,
					Unit: d.Unit, Floor: d.Floor, Room: d.Room, Flags: d.Flags}})
			default:
				f := []string{"isolated", "rental", "elderly_alone"}[rng.IntN(3)]
				if rng.IntN(2) == 0 {
					ops = append(ops, engine.Op{Kind: engine.OpFlags, ID: id, Set: []string{f}})
				} else {
					ops = append(ops, engine.Op{Kind: engine.OpFlags, ID: id, Clear: []string{f}})
				}
			}
			if _, err := e.Apply(engine.Request{Ops: ops}, at); err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
			ops = ops[:0]
			at = at.Add(time.Second)
		}
		save()
	}
	for i, p := range saved[:len(saved)-1] {
		for j, w := range wheres {
			got := features(engine.At(p.v), w)
			differs := false
			for _, k := range keys {
				if !slices.Equal(got[k], p.tiles[j][k]) {
					t.Fatalf("version %d where %q: tile %v as of it:\n%v\nat the time:\n%v", p.v, w, k, got[k], p.tiles[j][k])
				}
				differs = differs || !slices.Equal(got[k], saved[len(saved)-1].tiles[j][k])
			}
			if !differs {
				t.Fatalf("state %d where %q: no tile differs from now's; the changes did not show", i, w)
			}
		}
	}
}

// TestUnitBudget: a tile whose box meets more units of a level than the
// budget leaves that level out, whole; other levels and tiles are drawn as
// without a budget.
func TestUnitBudget(t *testing.T) {
	e := loaded(t)
	full, tight := NewRenderer(e.Engine), NewRenderer(e.Engine)
	tight.unitBudget = 12
	perLevel := func(tile *Tile) map[string]int {
		n := map[string]int{}
		if l := decode(t, tile)["boundaries"]; l != nil {
			for _, f := range l.Features {
				n[f.Properties["level"].(string)]++
			}
		}
		return n
	}
	kept, left := 0, 0
	eachTilePair(t, e, full, tight, []maptile.Zoom{9, 11, 13}, "", func(tl maptile.Tile, a, b *Tile) {
		want, got := perLevel(a), perLevel(b)
		for level, n := range want {
			switch got[level] {
			case n:
				kept++
			case 0:
				left++
			default:
				t.Fatalf("tile %v, level %s: %d of %d units drawn", tl, level, got[level], n)
			}
			if got[level] > tight.unitBudget {
				t.Fatalf("tile %v, level %s: %d units with a budget of %d", tl, level, got[level], tight.unitBudget)
			}
		}
	})
	if kept == 0 || left == 0 {
		t.Fatalf("levels kept %d times, left out %d times", kept, left)
	}
}

// TestCrowdedCellsLookLikeBuildings: a crowded tile's cells show the state
// and colour its buildings would: the first rule of the scheme any building
// of the cell shows, found from the same tile drawn without a budget; and
// each cell, in the tile or reaching into its buffer, holds all its
// buildings: every building of the city projected into the tile.
func TestCrowdedCellsLookLikeBuildings(t *testing.T) {
	e := loaded(t)
	full, tight := NewRenderer(e.Engine), NewRenderer(e.Engine)
	tight.budget = 60
	d, err := e.Engine.TileData(&engine.TileQuery{Scheme: "default"})
	if err != nil {
		t.Fatal(err)
	}
	rank := map[string]int{}
	for i, r := range d.Rules {
		rank[r.State] = i
	}
	checked := 0
	for _, where := range []string{"", "isolated | elderly_alone"} {
		everything, err := e.Engine.TileData(&engine.TileQuery{BBox: [4]int32{-1_800_000_000, -900_000_000, 1_800_000_000, 900_000_000}, Where: where, Scheme: "default"})
		if err != nil {
			t.Fatal(err)
		}
		eachTilePair(t, e, full, tight, []maptile.Zoom{13, 14}, where, func(tl maptile.Tile, a, b *Tile) {
			cells := decode(t, b)["cells"]
			if cells == nil {
				return
			}
			sums := map[[2]int][2]int64{} // cell → total, buildings
			for i, p := range projectBuildings(everything, tl) {
				k := [2]int{int(math.Floor(p[0] / CellSize)), int(math.Floor(p[1] / CellSize))}
				sums[k] = [2]int64{sums[k][0] + everything.Buildings[i].Total, sums[k][1] + 1}
			}
			for _, f := range cells.Features {
				p := f.Geometry.(orb.Point)
				k := [2]int{int(math.Floor(p[0] / CellSize)), int(math.Floor(p[1] / CellSize))}
				if got := [2]int64{num(f, "total"), num(f, "buildings")}; got != sums[k] {
					t.Fatalf("tile %v where %q, cell %v at %v: total and buildings %v, the city's %v", tl, where, k, p, got, sums[k])
				}
			}
			want := map[[2]int]string{} // cell → the state of its buildings' first rule
			for _, f := range decode(t, a)["buildings"].Features {
				p := f.Geometry.(orb.Point)
				k := [2]int{int(math.Floor(p[0] / CellSize)), int(math.Floor(p[1] / CellSize))}
				s := f.Properties["state"].(string)
				if w, ok := want[k]; !ok || rank[s] < rank[w] {
					want[k] = s
				}
			}
			for _, f := range cells.Features {
				p := f.Geometry.(orb.Point)
				if !own(p) {
					continue
				}
				k := [2]int{int(math.Floor(p[0] / CellSize)), int(math.Floor(p[1] / CellSize))}
				s, _ := f.Properties["state"].(string)
				if s != want[k] || f.Properties["color"] != d.Rules[rank[s]].Color {
					t.Fatalf("tile %v where %q, cell %v: state %q colour %v, its buildings' first %q", tl, where, k, s, f.Properties["color"], want[k])
				}
				checked++
			}
		})
	}
	if checked < 50 {
		t.Fatalf("only %d cells checked", checked)
	}
}

// TestCachedPastTileGoneAfterTrim: a tile as of a version, cached while
// that version was kept, is 410 (fault.HistoryGone) once the retention
// window has dropped it, as an uncached one is; a version still kept is
// served from the cache.
func TestCachedPastTileGoneAfterTrim(t *testing.T) {
	c := city.New(city.Config{N: 3_000, Seed: 37})
	b, _ := c.Batch()
	e := engine.New(engine.Options{History: time.Hour})
	if err := e.Load(b); err != nil {
		t.Fatal(err)
	}
	var ids []string
	c.Dwellings(func(r *engine.Record) error { ids = append(ids, r.ID); return nil })
	t0 := time.Date(2026, 11, 28, 8, 0, 0, 0, time.UTC)
	change := func(i int, at time.Time) {
		if _, err := e.Apply(engine.Request{Ops: []engine.Op{{Kind: engine.OpFlags, ID: ids[i], Set: []string{"isolated"}}}}, at); err != nil {
			t.Fatal(err)
		}
	}
	change(0, t0)
	change(1, t0.Add(time.Minute))
	old := e.Version()
	change(2, t0.Add(2*time.Minute))
	cache := NewCache(e.Engine, 0)
	tl := maptile.At(e.Bounds().Center(), 14)
	req := func() *Request {
		return &Request{Z: uint32(tl.Z), X: tl.X, Y: tl.Y, AsOf: engine.At(old)}
	}
	if _, err := cache.Get(req()); err != nil {
		t.Fatal(err)
	}
	if _, err := cache.Get(req()); err != nil || cache.Hits.Load() != 1 {
		t.Fatalf("the same past tile again: %v, %d hits; want a hit", err, cache.Hits.Load())
	}
	// two hours later: the window of an hour drops every change before the
	// last one, and version old with them
	change(3, t0.Add(2*time.Hour))
	if _, err := cache.Get(req()); !errors.Is(err, fault.HistoryGone) {
		t.Fatalf("a cached tile as of a version trimmed away: %v, want history gone", err)
	}
	kept := e.Version() - 1 // the change of two minutes past, still the state before the newest
	if _, err := cache.Get(&Request{Z: uint32(tl.Z), X: tl.X, Y: tl.Y, AsOf: engine.At(kept)}); err != nil {
		t.Fatalf("a tile as of a version still kept: %v", err)
	}
}
