package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/roomstate/roomstate/city"
)

func runGen(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("gen -n N -seed S -out DIR",
		"Write the reference synthetic city of PERFORMANCE.md: clustered buildings of 6-33 floors with\n"+
			"2-8 dwellings a floor, flags at real-world rates, and ~4 districts, ~36 streets, ~1,000\n"+
			"communities and ~1,300 grids per million dwellings. DIR/dwellings.csv holds the dwellings,\n"+
			"DIR/boundaries.geojson the outline of every unit, which contains exactly its dwellings.\n"+
			"The same -n and -seed always give the same files.",
		"  roomstate gen -n 1000000 -seed 1 -out city1m\n  roomstate serve --load city1m/dwellings.csv --boundaries city1m/boundaries.geojson", stderr)
	n := fs.Int("n", 1_000_000, "number of dwellings (whole buildings are generated, so about this many)")
	seed := fs.Uint64("seed", 1, "random seed")
	out := fs.String("out", "", "output directory (created if missing)")
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
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	c := city.New(city.Config{N: *n, Seed: *seed})
	if err := writeFile(filepath.Join(*out, "dwellings.csv"), c.WriteCSV); err != nil {
		return err
	}
	if err := writeFile(filepath.Join(*out, "boundaries.geojson"), c.WriteBoundaries); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %d dwellings in %d buildings to %s\n", c.Size(), c.Buildings(), *out)
	return nil
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
