package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/roomstate/roomstate/city"
	"github.com/roomstate/roomstate/engine"
	"github.com/roomstate/roomstate/store"
)

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("demo [-n N] [-seed S] [-addr HOST:PORT]",
		"Make the synthetic city in memory (the evenly spread disc city of gen -kind disc, 1 M dwellings\n"+
			"by default), load it with its boundaries, and serve the API and the dashboard. Open the printed\n"+
			"URL in a browser; with --tokens, add ?token=TOKEN to it (or ?access_token=).",
		"  roomstate demo\n  roomstate demo -n 200000 -addr 127.0.0.1:9000", stderr)
	n := fs.Int("n", 1_000_000, "number of dwellings")
	seed := fs.Uint64("seed", 1, "random seed")
	var sf serverFlags
	addServerFlags(fs, &sf)
	if err := fs.Parse(args); err != nil {
		return err
	}
	log, err := sf.logger(stderr)
	if err != nil {
		return err
	}
	if err := sf.check(); err != nil {
		return err
	}
	start := time.Now()
	c := city.New(city.Config{N: *n, Seed: *seed})
	b, err := c.Batch()
	if err != nil {
		return err
	}
	so, err := sf.storeOptions()
	if err != nil {
		return err
	}
	so.Logger = log
	st, err := store.Open(so)
	if err != nil {
		return err
	}
	if err := st.Load([]*engine.Batch{b}, c.Boundaries()); err != nil {
		st.Close()
		return err
	}
	eng := st.Engine()
	log.Info("demo city ready", "dwellings", eng.Len(), "buildings", c.Buildings(), "seconds", time.Since(start).Seconds())
	fmt.Fprintf(stdout, "demo city: %d dwellings in %d buildings\n", eng.Len(), c.Buildings())
	return serveStore(ctx, st, &sf, log, stdout, nil, nil)
}
