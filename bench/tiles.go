package bench

import (
	"math/rand/v2"
	"sync"
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
	var t10 maptile.Tile
	for _, z := range []maptile.Zoom{14, 10} {
		t := f.DenseTile(z)
		t10 = t
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
	// z10 after changes: 100 flags of dwellings over the whole city changed
	// before each tile (not timed), as a wall screen's tile is drawn again
	// after the city's changes of the last seconds
	var once sync.Once
	var ids []string
	rng := rand.New(rand.NewPCG(10, 10))
	ws = append(ws, Workload{Name: "tile/uncached/z10/after-changes", Timed: func(int) (time.Duration, error) {
		once.Do(func() { ids = f.ids(10_000) })
		if _, err := f.W.Apply(engine.Request{Ops: randomFlagOps(rng, ids, 100)}, time.Now()); err != nil {
			return 0, err
		}
		start := time.Now()
		_, err := r.Render(&tiles.Request{Z: uint32(t10.Z), X: t10.X, Y: t10.Y})
		return time.Since(start), err
	}})
	return ws
}

// TileSize is the largest tile of one zoom over the whole city.
type TileSize struct {
	Z          maptile.Zoom
	Tiles      int // tiles with a feature
	MaxRaw     int // bytes of the largest MVT
	MaxGzipped int // bytes of the largest gzipped MVT
	Largest    maptile.Tile
}

// TileSizes renders every tile of zooms 0 to maxZ that meets the city's
// box (without a where, as the dashboard first shows them) and returns,
// per zoom, the largest raw and gzipped sizes.
func (f *Fixture) TileSizes(maxZ maptile.Zoom) ([]TileSize, error) {
	r := tiles.NewRenderer(f.Eng)
	var bb orb.Bound
	first := true
	f.City.Dwellings(func(rec *engine.Record) error {
		p := orb.Point{rec.Lon, rec.Lat}
		if first {
			bb, first = orb.Bound{Min: p, Max: p}, false
		}
		bb = bb.Extend(p)
		return nil
	})
	var out []TileSize
	for z := maptile.Zoom(0); z <= maxZ; z++ {
		lo, hi := maptile.At(orb.Point{bb.Min[0], bb.Max[1]}, z), maptile.At(orb.Point{bb.Max[0], bb.Min[1]}, z)
		ts := TileSize{Z: z}
		for x := lo.X; x <= hi.X; x++ {
			for y := lo.Y; y <= hi.Y; y++ {
				t, err := r.Render(&tiles.Request{Z: uint32(z), X: x, Y: y})
				if err != nil {
					return nil, err
				}
				if len(t.Raw) == 0 {
					continue
				}
				ts.Tiles++
				gz := len(t.Gzipped())
				ts.MaxRaw = max(ts.MaxRaw, len(t.Raw))
				if gz > ts.MaxGzipped {
					ts.MaxGzipped, ts.Largest = gz, maptile.New(x, y, z)
				}
			}
		}
		out = append(out, ts)
	}
	return out, nil
}
