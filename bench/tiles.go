package bench

import (
	"time"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/maptile"
	"github.com/roomstate/roomstate/engine"
	"github.com/roomstate/roomstate/tiles"
)

// DenseTile returns the tile of zoom z holding the most buildings.
func (f *Fixture) DenseTile(z maptile.Zoom) maptile.Tile {
	count := map[maptile.Tile]int{}
	seen := map[string]bool{}
	f.City.Dwellings(func(r *engine.Record) error {
		if !seen[r.Building] {
			seen[r.Building] = true
			count[maptile.At(orb.Point{r.Lon, r.Lat}, z)]++
		}
		return nil
	})
	var best maptile.Tile
	n := -1
	for t, c := range count {
		if c > n || c == n && (t.X < best.X || t.X == best.X && t.Y < best.Y) {
			best, n = t, c
		}
	}
	return best
}

// TileWorkloads render tiles without a cache: the densest z14 tile, and the
// z10 tile holding the most of the city, each without and with a where.
func (f *Fixture) TileWorkloads() []Workload {
	r := tiles.NewRenderer(f.Eng)
	var ws []Workload
	for _, z := range []maptile.Zoom{14, 10} {
		t := f.DenseTile(z)
		target := time.Duration(0)
		if z == 14 {
			target = 500 * time.Microsecond
		}
		for _, where := range []string{"", "isolated & !vaccinated"} {
			name := "tile/uncached/z" + map[maptile.Zoom]string{14: "14", 10: "10"}[z]
			if where != "" {
				name += "/where"
			}
			ws = append(ws, Workload{Name: name, Target: target, Op: func(int) error {
				_, err := r.Render(&tiles.Request{Z: uint32(t.Z), X: t.X, Y: t.Y, Where: where})
				return err
			}})
		}
	}
	return ws
}
