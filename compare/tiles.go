package compare

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/encoding/mvt"
	"github.com/paulmach/orb/geojson"
	"github.com/paulmach/orb/maptile"
)

// Tile layout shared with roomstate's tiles package (4096 extent, cells of
// 128 units below zoom 13).
const (
	tileExtent   = 4096
	cellSize     = 128
	buildingZoom = 13
)

// counts are the figures of one building or cell in a tile.
type counts map[string]int64

// project returns each building's position in the tile's extent units, as
// roomstate computes it: orb's MVT projection, not rounded.
func project(pos map[string]orb.Point, t maptile.Tile) map[string]orb.Point {
	ids := make([]string, 0, len(pos))
	mp := make(orb.MultiPoint, 0, len(pos))
	for id, p := range pos {
		ids = append(ids, id)
		mp = append(mp, p)
	}
	l := &mvt.Layer{Extent: tileExtent, Features: []*geojson.Feature{{Geometry: mp}}}
	l.ProjectToTile(t)
	out := make(map[string]orb.Point, len(ids))
	for i, p := range l.Features[0].Geometry.(orb.MultiPoint) {
		out[ids[i]] = p
	}
	return out
}

func inTile(p orb.Point) bool {
	return p[0] >= 0 && p[0] < tileExtent && p[1] >= 0 && p[1] < tileExtent
}

// layer decodes an MVT (nil: an empty tile) and returns the named layer's
// features, or none.
func layer(raw []byte, name string) ([]*geojson.Feature, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	ls, err := mvt.Unmarshal(raw)
	if err != nil {
		return nil, err
	}
	for _, l := range ls {
		if l.Name == name {
			return l.Features, nil
		}
	}
	return nil, nil
}

// countsOf reads the numeric properties named in keys.
func countsOf(f *geojson.Feature, keys []string) (counts, error) {
	c := counts{}
	for _, k := range keys {
		v, ok := f.Properties[k].(float64)
		if !ok {
			return nil, fmt.Errorf("feature %v: property %q is %T, want a number", f.ID, k, f.Properties[k])
		}
		c[k] = int64(v)
	}
	return c, nil
}

func (c counts) String() string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s=%d", k, c[k])
	}
	return b.String()
}

func equalCounts(a, b counts) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// checkTile compares roomstate's tile with PostGIS's of the same address and
// where, on what both must show the same: at zoom 13 and more, every building
// whose point falls in the tile proper (the buffer is left out: rounding at
// its edge may differ), with its total, matched and per-flag counts; below,
// roomstate's cells of 128 units in the tile proper against PostGIS's
// buildings summed into the same cells. pos holds every building's position.
// It returns how many buildings or cells it compared.
func checkTile(t maptile.Tile, rsRaw, pgRaw []byte, pos map[string]orb.Point, flags []string) (int, error) {
	proj := project(pos, t)
	pgF, err := layer(pgRaw, "buildings")
	if err != nil {
		return 0, fmt.Errorf("PostGIS tile: %w", err)
	}
	keys := append([]string{"total", "matched"}, flags...)
	pg := map[string]counts{}
	for _, f := range pgF {
		id, _ := f.Properties["id"].(string)
		c, err := countsOf(f, keys)
		if err != nil {
			return 0, fmt.Errorf("PostGIS tile: %w", err)
		}
		pg[id] = c
	}
	if t.Z >= buildingZoom {
		rsF, err := layer(rsRaw, "buildings")
		if err != nil {
			return 0, fmt.Errorf("roomstate tile: %w", err)
		}
		rs := map[string]counts{}
		for _, f := range rsF {
			id, _ := f.Properties["id"].(string)
			c, err := countsOf(f, keys)
			if err != nil {
				return 0, fmt.Errorf("roomstate tile: %w", err)
			}
			rs[id] = c
		}
		n := 0
		var bad []string
		for id, p := range proj {
			if !inTile(p) {
				continue
			}
			n++
			a, okA := rs[id]
			b, okB := pg[id]
			if !okA || !okB || !equalCounts(a, b) {
				bad = append(bad, fmt.Sprintf("building %s: roomstate {%v} (shown %v), PostGIS {%v} (shown %v)", id, a, okA, b, okB))
			}
		}
		return n, mismatch(bad)
	}
	rsF, err := layer(rsRaw, "cells")
	if err != nil {
		return 0, fmt.Errorf("roomstate tile: %w", err)
	}
	span := int64(tileExtent / cellSize)
	cellKeys := append([]string{"buildings"}, keys...)
	rs := map[[2]int64]counts{}
	for _, f := range rsF {
		id, ok := f.ID.(float64)
		if !ok {
			return 0, fmt.Errorf("roomstate tile: a cell without a numeric id: %v", f.ID)
		}
		gx, gy := int64(uint64(id)>>26), int64(uint64(id)&(1<<26-1))
		k := [2]int64{gx - int64(t.X)*span, gy - int64(t.Y)*span}
		if k[0] < 0 || k[1] < 0 || k[0] >= span || k[1] >= span {
			continue // a cell of the buffer
		}
		c, err := countsOf(f, cellKeys)
		if err != nil {
			return 0, fmt.Errorf("roomstate tile: %w", err)
		}
		rs[k] = c
	}
	sum := map[[2]int64]counts{}
	for id, p := range proj {
		if !inTile(p) {
			continue
		}
		k := [2]int64{int64(math.Floor(p[0] / cellSize)), int64(math.Floor(p[1] / cellSize))}
		c := sum[k]
		if c == nil {
			c = counts{}
			for _, key := range cellKeys {
				c[key] = 0
			}
			sum[k] = c
		}
		b, ok := pg[id]
		if !ok {
			c["buildings"] = -1 << 40 // missing from PostGIS's tile: cannot match
			continue
		}
		c["buildings"]++
		for _, key := range keys {
			c[key] += b[key]
		}
	}
	var bad []string
	for k, c := range sum {
		if !equalCounts(rs[k], c) {
			bad = append(bad, fmt.Sprintf("cell %v: roomstate {%v}, PostGIS buildings summed {%v}", k, rs[k], c))
		}
	}
	for k, c := range rs {
		if _, ok := sum[k]; !ok {
			bad = append(bad, fmt.Sprintf("cell %v: roomstate {%v}, no building of PostGIS's tile", k, c))
		}
	}
	return len(sum), mismatch(bad)
}

// mismatch turns a list of differences into an error naming the first few.
func mismatch(bad []string) error {
	if len(bad) == 0 {
		return nil
	}
	slices.Sort(bad)
	n := len(bad)
	if n > 5 {
		bad = bad[:5]
	}
	return fmt.Errorf("%d differences, the first %d: %s", n, len(bad), strings.Join(bad, "; "))
}
