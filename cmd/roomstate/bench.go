package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/roomstate/roomstate/bench"
	"github.com/roomstate/roomstate/city"
)

// Guard thresholds: brute-force time over engine time on the same eight
// polygons per size class, measured in the same run (bench.GuardRatios).
// On the reference city at 1 M (seed 1) on 2 cores they were community
// 1,350–1,850×, street 2,900–3,600×, district 6,300–6,900× (BENCHMARKS.md):
// the thresholds leave 3.4–4× for noise, and a 10× regression of the engine
// takes every ratio below its threshold (measured: 156×, 339×, 730×).
//
// On the realistic city, eight of its own community and street boundaries
// (real-shaped, spread over their vertex counts) are guarded the same way
// (bench.GuardRatio). At 1 M on 2 cores they were 665–1,224× and
// 4,167–8,805× (four runs, BENCHMARKS.md): the thresholds leave 3.3–3.5×
// for noise, and the same 10× regression gives 62–77× and 442–550×, below
// them.
const (
	guardCommunity     = 400
	guardStreet        = 750
	guardDistrict      = 1600
	guardRealCommunity = 200
	guardRealStreet    = 1200
)

func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("bench [-n N] [-city realistic|disc] [-extent W,S,E,N] [-polygons FILE] [-polygon-only] [-json FILE] [-guard]",
		"Generate a reference city, load it and measure every workload of the reference benchmark\n"+
			"(BENCHMARKS.md says which, with the figures measured so far): polygon\n"+
			"statistics per size class with and without where, the same by brute force, grid aggregation,\n"+
			"room-state maps, tiles (uncached, and cached over HTTP), polygon queries over HTTP, updates in\n"+
			"process and durable over HTTP, load and reopen time, memory per dwelling. Prints a table\n"+
			"(p50, p99, throughput) and writes JSON.\n\n"+
			"The city is the realistic one of `roomstate gen` (-city disc: the evenly spread disc of the first\n"+
			"tables of BENCHMARKS.md, random polygons only): besides the\n"+
			"random polygons of each size class, its own street boundaries and 200 of its community boundaries\n"+
			"are query polygons (real-shaped: ragged, concave, multipart, with holes), reported per vertex-count\n"+
			"class (polygon/real-street/v512-2047 …) and against brute force.\n\n"+
			"-guard measures only polygon workloads and their brute-force baseline, on both cities, and fails\n"+
			"when the engine's lead (brute-force time over engine time on the same polygons, both measured\n"+
			"now) falls below the thresholds: random polygons of three sizes on the disc city, and the\n"+
			"realistic city's own community and street boundaries. Absolute times drift between machines,\n"+
			"ratios measured in one run do not.",
		"  roomstate bench -n 1000000 -json bench-1m.json\n  roomstate bench -n 1000000 -city disc -json bench-disc-1m.json\n"+
			"  roomstate bench -n 10000000 -duration 2s -json bench-10m.json\n  roomstate bench -n 1000000 -guard", stderr)
	n := fs.Int("n", 1_000_000, "dwellings of the generated city")
	seed := fs.Uint64("seed", 1, "random seed of the city and the query polygons")
	cityName := fs.String("city", "realistic", "city to measure: realistic or disc (-guard checks both)")
	jsonOut := fs.String("json", "", "write the report as JSON to this file")
	dur := fs.Duration("duration", time.Second, "how long to measure each workload")
	guard := fs.Bool("guard", false, "CI guard: check the engine's lead over brute force")
	extent := fs.String("extent", "", "`W,S,E,N`: a realistic city fills this box (degrees), e.g. to lay real polygons over it")
	extra := fs.String("polygons", "", "GeoJSON `FILE` of more query polygons (class extra), measured by vertex class")
	polyOnly := fs.Bool("polygon-only", false, "measure only polygon queries: the engine's, and the server's time for a polygon sent\nthe first time, sent again, and (real-shaped) asked as a unit")
	minC := fs.Float64("min-community", guardCommunity, "guard: least brute/engine ratio for community polygons (disc city)")
	minS := fs.Float64("min-street", guardStreet, "guard: least ratio for street polygons (disc city)")
	minD := fs.Float64("min-district", guardDistrict, "guard: least ratio for district polygons (disc city)")
	minRC := fs.Float64("min-real-community", guardRealCommunity, "guard: least ratio for the realistic city's community boundaries")
	minRS := fs.Float64("min-real-street", guardRealStreet, "guard: least ratio for the realistic city's street boundaries")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cc, err := cityConfig(*n, *seed, *cityName, "", *extent)
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	kind := cc.Kind
	if *guard {
		return runGuard(ctx, *n, *seed, []guardCheck{
			{city.Disc, bench.ClassCommunity, *minC}, {city.Disc, bench.ClassStreet, *minS}, {city.Disc, bench.ClassDistrict, *minD},
			{city.Realistic, bench.ClassRealCommunity, *minRC}, {city.Realistic, bench.ClassRealStreet, *minRS},
		}, stdout, stderr)
	}
	start := time.Now()
	fmt.Fprintf(stderr, "generating and loading a %s city of %d dwellings…\n", kind, *n)
	f, err := bench.NewFixture(bench.Config{N: *n, Seed: *seed, City: kind, Extent: cc.Extent})
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "ready in %.1f s: %d dwellings, %d buildings\n", time.Since(start).Seconds(), f.Eng.Len(), f.City.Buildings())
	if *extra != "" {
		ps, err := bench.ReadPolygons(*extra)
		if err != nil {
			return fmt.Errorf("bench: -polygons: %w", err)
		}
		rejected, err := f.AddPolygons(ps)
		if err != nil {
			return err
		}
		fmt.Fprintf(stderr, "%d polygons of %s, %d left out as invalid (crossing rings): %v\n", len(ps), *extra, len(rejected), rejected)
	}
	rep, err := f.RunAll(bench.RunOptions{PerWorkload: *dur, Log: stderr, PolygonOnly: *polyOnly})
	if err != nil {
		return err
	}
	rep.WriteTable(stdout)
	if *jsonOut != "" {
		b, _ := json.MarshalIndent(rep, "", "  ")
		if err := os.WriteFile(*jsonOut, append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// guardCheck is one ratio the guard checks: a polygon class of a city and
// the least brute-force/engine ratio it accepts.
type guardCheck struct {
	city  city.Kind
	class string
	min   float64
}

// guardPolygons is how many polygons of a class the guard measures.
const guardPolygons = 8

// runGuard measures every check's ratio, one city at a time, and fails when
// any falls below its minimum.
func runGuard(ctx context.Context, n int, seed uint64, checks []guardCheck, stdout, stderr io.Writer) error {
	failed := false
	for _, kind := range []city.Kind{city.Disc, city.Realistic} {
		start := time.Now()
		fmt.Fprintf(stderr, "generating and loading a %s city of %d dwellings…\n", kind, n)
		cfg := bench.Config{N: n, Seed: seed, City: kind, Polygons: guardPolygons}
		if kind == city.Realistic {
			cfg.Polygons = 1 // its own boundaries are guarded, not random polygons
		}
		f, err := bench.NewFixture(cfg)
		if err != nil {
			return err
		}
		fmt.Fprintf(stderr, "ready in %.1f s: %d dwellings, %d buildings\n", time.Since(start).Seconds(), f.Eng.Len(), f.City.Buildings())
		for _, c := range checks {
			if c.city != kind {
				continue
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			qs := f.Polygons[c.class]
			if kind == city.Realistic {
				qs = bench.Spread(qs, guardPolygons)
			} else {
				qs = qs[:min(guardPolygons, len(qs))]
			}
			r, err := f.GuardRatio(qs)
			if err != nil {
				return fmt.Errorf("bench guard: %s %s: %w", kind, c.class, err)
			}
			status := "ok"
			if r < c.min {
				status, failed = "FAIL", true
			}
			fmt.Fprintf(stdout, "guard %-9s %-14s brute/engine = %7.1f× (at least %.0f×) %s\n", kind, c.class, r, c.min, status)
		}
	}
	if failed {
		return fmt.Errorf("bench guard: the engine lost its lead over brute force")
	}
	return nil
}
