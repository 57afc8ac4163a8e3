package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/roomstate/roomstate/bench"
)

// Guard thresholds: brute-force time over engine time on the same eight
// polygons per size class, measured in the same run (bench.GuardRatios).
// On the reference city at 1 M (seed 1) on 2 cores they were community
// 1,350–1,850×, street 2,900–3,600×, district 6,300–6,900× (BENCHMARKS.md):
// the thresholds leave 3.4–4× for noise, and a 10× regression of the engine
// takes every ratio below its threshold (measured: 156×, 339×, 730×).
const (
	guardCommunity = 400
	guardStreet    = 750
	guardDistrict  = 1600
)

func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("bench [-n N] [-json FILE] [-guard]",
		"Generate the reference city, load it and measure every workload of PERFORMANCE.md: polygon\n"+
			"statistics per size class with and without where, the same by brute force, grid aggregation,\n"+
			"room-state maps, tiles (uncached, and cached over HTTP), polygon queries over HTTP, updates in\n"+
			"process and durable over HTTP, load and reopen time, memory per dwelling. Prints a table\n"+
			"(p50, p99, throughput) and writes JSON.\n\n"+
			"-guard measures only the polygon workloads and their brute-force baseline and fails when the\n"+
			"engine's lead (brute-force p50 over engine p50, both measured now) falls below the thresholds:\n"+
			"absolute times drift between machines, ratios measured in one run do not.",
		"  roomstate bench -n 1000000 -json bench-1m.json\n  roomstate bench -n 10000000 -duration 2s -json bench-10m.json\n  roomstate bench -n 1000000 -guard", stderr)
	n := fs.Int("n", 1_000_000, "dwellings of the generated city")
	seed := fs.Uint64("seed", 1, "random seed of the city and the query polygons")
	jsonOut := fs.String("json", "", "write the report as JSON to this file")
	dur := fs.Duration("duration", time.Second, "how long to measure each workload")
	guard := fs.Bool("guard", false, "CI guard: check the engine's lead over brute force")
	minC := fs.Float64("min-community", guardCommunity, "guard: least brute/engine ratio for community polygons")
	minS := fs.Float64("min-street", guardStreet, "guard: least ratio for street polygons")
	minD := fs.Float64("min-district", guardDistrict, "guard: least ratio for district polygons")
	if err := fs.Parse(args); err != nil {
		return err
	}
	start := time.Now()
	fmt.Fprintf(stderr, "generating and loading a city of %d dwellings…\n", *n)
	polygons := 0
	if *guard {
		polygons = 8
	}
	f, err := bench.NewFixture(bench.Config{N: *n, Seed: *seed, Polygons: polygons})
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "ready in %.1f s: %d dwellings, %d buildings\n", time.Since(start).Seconds(), f.Eng.Len(), f.City.Buildings())
	if *guard {
		ratios, err := f.GuardRatios(8)
		if err != nil {
			return err
		}
		failed := false
		for _, c := range []struct {
			class string
			min   float64
		}{{"community", *minC}, {"street", *minS}, {"district", *minD}} {
			r := ratios[c.class]
			status := "ok"
			if r < c.min {
				status, failed = "FAIL", true
			}
			fmt.Fprintf(stdout, "guard %-9s brute/engine = %7.1f× (at least %.0f×) %s\n", c.class, r, c.min, status)
		}
		if failed {
			return fmt.Errorf("bench guard: the engine lost its lead over brute force")
		}
		return nil
	}
	rep, err := f.RunAll(bench.RunOptions{PerWorkload: *dur, Log: stderr})
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
