package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/paulmach/orb"
	"github.com/roomstate/roomstate/city"
	"github.com/roomstate/roomstate/coord"
)

func runGen(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("gen -n N -seed S [-kind realistic|disc] [-extent W,S,E,N] -out DIR",
		"Write a synthetic reference city (the one BENCHMARKS.md measures): buildings of 6-33 floors with 2-8 dwellings a floor,\n"+
			"flags at real-world rates, and ~4 districts, ~36 streets, ~1,000 communities and ~1,300 grids per\n"+
			"million dwellings. DIR/dwellings.csv holds exactly N dwellings (buildings are drawn whole, and the\n"+
			"last one kept is cut short to fit), DIR/boundaries.geojson the outline of every unit (properties\n"+
			"level, id, name); each level's outlines tile the city and contain exactly their dwellings. The same\n"+
			"flags always give the same files.\n\n"+
			"-kind realistic (the default): an irregular city cut by rivers, lakes and parks (left empty),\n"+
			"compounds of heavy-tailed sizes (dozens to over ten thousand households) of walk-up, mid-rise or\n"+
			"high-rise buildings, and boundaries as ragged as real ones: streets of hundreds to thousands of\n"+
			"vertices (concave, some multipart, some with holes), communities of tens. Cells of ~60 m around\n"+
			"-center, or the whole of -extent whatever N is.\n"+
			"-kind disc: the original city of 400 m square blocks in a disc, whose unit outlines are unions of\n"+
			"blocks (the city of the figures in BENCHMARKS.md before the realistic city).",
		"  roomstate gen -n 1000000 -seed 1 -out city1m\n"+
			"  roomstate gen -n 1000000 -kind disc -out disc1m\n"+
			"  roomstate gen -n 1000000 -extent 120.85,30.69,121.98,31.87 -out shanghai1m   # over Shanghai's extent\n"+
			"  roomstate serve --load city1m/dwellings.csv --boundaries city1m/boundaries.geojson", stderr)
	n := fs.Int("n", 1_000_000, "number of dwellings, exactly (at least 1)")
	seed := fs.Uint64("seed", 1, "random seed")
	out := fs.String("out", "", "output directory (created if missing)")
	kindName := fs.String("kind", "realistic", "city layout: realistic or disc")
	center := fs.String("center", "121.47,31.23", "`LON,LAT` of the city's centre (without -extent)")
	extent := fs.String("extent", "", "`W,S,E,N`: a realistic city fills this box (degrees) instead of ~60 m cells around -center")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" {
		fs.Usage()
		return errors.New("gen: -out DIR is required")
	}
	if *n <= 0 {
		return errors.New("gen: -n must be positive")
	}
	cfg, err := cityConfig(*n, *seed, *kindName, *center, *extent)
	if err != nil {
		return fmt.Errorf("gen: %w", err)
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	c := city.New(cfg)
	if err := writeFile(filepath.Join(*out, "dwellings.csv"), c.WriteCSV); err != nil {
		return err
	}
	if err := writeFile(filepath.Join(*out, "boundaries.geojson"), c.WriteBoundaries); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote a %s city of %d dwellings in %d buildings to %s\n", c.Kind(), c.Size(), c.Buildings(), *out)
	return ctx.Err()
}

// cityConfig turns the city flags shared by gen, bench and compare into a
// city.Config.
func cityConfig(n int, seed uint64, kind, center, extent string) (city.Config, error) {
	k, err := city.ParseKind(kind)
	if err != nil {
		return city.Config{}, err
	}
	cfg := city.Config{N: n, Seed: seed, Kind: k}
	if center != "" {
		v, err := parseFloats(center, 2)
		if err != nil {
			return cfg, fmt.Errorf("-center %q: %w", center, err)
		}
		cfg.Center = orb.Point{v[0], v[1]}
		if err := coord.ValidLonLat(v[0], v[1]); err != nil {
			return cfg, fmt.Errorf("-center %q: %w", center, err)
		}
	}
	if extent != "" {
		if k != city.Realistic {
			return cfg, errors.New("-extent needs -kind realistic")
		}
		v, err := parseFloats(extent, 4)
		if err != nil {
			return cfg, fmt.Errorf("-extent %q: %w", extent, err)
		}
		cfg.Extent = orb.Bound{Min: orb.Point{v[0], v[1]}, Max: orb.Point{v[2], v[3]}}
		for _, p := range []orb.Point{cfg.Extent.Min, cfg.Extent.Max} {
			if err := coord.ValidLonLat(p[0], p[1]); err != nil {
				return cfg, fmt.Errorf("-extent %q: %w", extent, err)
			}
		}
		if v[2] <= v[0] || v[3] <= v[1] {
			return cfg, fmt.Errorf("-extent %q: want west,south,east,north with west < east and south < north", extent)
		}
	}
	return cfg, nil
}

// parseFloats parses n comma-separated numbers.
func parseFloats(s string, n int) ([]float64, error) {
	parts := strings.Split(s, ",")
	if len(parts) != n {
		return nil, fmt.Errorf("want %d comma-separated numbers, got %d", n, len(parts))
	}
	out := make([]float64, n)
	for i, p := range parts {
		v, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil {
			return nil, fmt.Errorf("%q is not a number", p)
		}
		out[i] = v
	}
	return out, nil
}

// writeFile writes through a temporary file and renames it into place.
func writeFile(path string, fn func(io.Writer) error) error {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if err := fn(f); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
