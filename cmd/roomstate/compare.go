package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/roomstate/roomstate/compare"
)

func runCompare(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("compare [-n N] [-city realistic|disc] [-extent W,S,E,N] [-polygons FILE] [-json FILE]",
		"Measure roomstate against PostgreSQL + PostGIS on the same city, in one run, and check that\n"+
			"every count is equal.\n\n"+
			"It generates the city (as `roomstate gen` does) into a temporary directory, starts `roomstate serve`\n"+
			"on it as a process of its own on a free loopback port, and a throwaway PostgreSQL cluster (initdb in\n"+
			"the temporary directory, its own loopback port; run as the postgres user when started as root)\n"+
			"loaded by COPY from the same CSV, flags as boolean columns, with a GiST index on the points. Then\n"+
			"every query polygon (random ones of three sizes; on the realistic city also its own street and\n"+
			"community boundaries; with -polygons, every Polygon or MultiPolygon of a GeoJSON file) is counted\n"+
			"with every where by roomstate over HTTP, by PostGIS (the where translated to SQL, boundary included:\n"+
			"ST_Covers) and by the engine in this process; the densest z14 tile and the z10 tile with most of\n"+
			"the city are rendered by both (PostGIS: ST_AsMVT of one point per building with its counts) and\n"+
			"compared building by building (z14) or cell by cell (z10). Any difference fails the run, loudly.\n"+
			"Prints p50/p99 of both and their ratio per workload (real-shaped polygons also per vertex class),\n"+
			"and writes JSON. Everything is torn down at the end.\n\n"+
			"Needs PostgreSQL with PostGIS from Debian's packages (apt-get install postgresql-15-postgis-3; `make\n"+
			"compare` installs it when missing). Not part of make test: it takes minutes and a database.",
		"  roomstate compare -n 1000000 -city realistic -json compare-realistic-1m.json\n"+
			"  roomstate compare -n 1000000 -city disc -json compare-disc-1m.json\n"+
			"  roomstate compare -n 1000000 -extent 120.85,30.69,121.98,31.87 -polygons shanghai-streets.geojson", stderr)
	n := fs.Int("n", 1_000_000, "dwellings of the generated city")
	seed := fs.Uint64("seed", 1, "random seed of the city and the random polygons")
	cityName := fs.String("city", "realistic", "city layout: realistic or disc")
	extent := fs.String("extent", "", "`W,S,E,N`: a realistic city fills this box (degrees), e.g. to lay real polygons over it")
	extra := fs.String("polygons", "", "GeoJSON `FILE` of more query polygons (class extra), measured by vertex class")
	random := fs.Int("random", 10, "random query polygons per size class (community, street, district)")
	comms := fs.Int("communities", 50, "community boundaries of a realistic city used as query polygons (all its streets are)")
	reps := fs.Int("reps", 3, "timed runs of each polygon query with each where, on each system")
	tileReps := fs.Int("tile-reps", 5, "timed runs of each tile on each system")
	bin := fs.String("roomstate", "", "roomstate binary to serve with (default: this one)")
	pgBin := fs.String("pg-bin", "", "`DIR` of PostgreSQL's initdb and postgres (default: the newest /usr/lib/postgresql/*/bin with PostGIS)")
	jsonOut := fs.String("json", "", "write the report as JSON to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *n <= 0 {
		return errors.New("compare: -n must be positive")
	}
	cc, err := cityConfig(*n, *seed, *cityName, "", *extent)
	if err != nil {
		return fmt.Errorf("compare: %w", err)
	}
	rep, err := compare.Run(ctx, compare.Config{N: *n, Seed: *seed, City: cc.Kind, Extent: cc.Extent, Polygons: *random,
		RealCommunities: *comms, Extra: *extra, Reps: *reps, TileReps: *tileReps, Roomstate: *bin, PGBin: *pgBin, Log: stderr})
	if rep != nil {
		rep.WriteTable(stdout)
		if *jsonOut != "" {
			b, _ := json.MarshalIndent(rep, "", "  ")
			if werr := os.WriteFile(*jsonOut, append(b, '\n'), 0o644); werr != nil && err == nil {
				err = werr
			}
		}
	}
	return err
}
