package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/roomstate/roomstate/engine"
	"github.com/roomstate/roomstate/loader"
	"github.com/roomstate/roomstate/store"
	"golang.org/x/term"
)

// isTerminal reports whether w is a terminal (progress is shown only then).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// progress returns a loader progress callback that redraws one line on
// stderr, or nil when stderr is not a terminal.
func progress(stderr io.Writer, name string) (func(done, total int64), func()) {
	if !isTerminal(stderr) {
		return nil, func() {}
	}
	start := time.Now()
	last := time.Time{}
	shown := false
	fn := func(done, total int64) {
		if time.Since(last) < 200*time.Millisecond && done < total {
			return
		}
		last = time.Now()
		shown = true
		if total > 0 {
			fmt.Fprintf(stderr, "\rloading %s: %3.0f%% (%d of %d MB, %.1fs)  ", name, 100*float64(done)/float64(total), done>>20, total>>20, time.Since(start).Seconds())
		} else {
			fmt.Fprintf(stderr, "\rloading %s: %d MB (%.1fs)  ", name, done>>20, time.Since(start).Seconds())
		}
	}
	return fn, func() {
		if shown {
			fmt.Fprintln(stderr)
		}
	}
}

// loadFiles reads dwelling and boundary files and loads them through the
// store, all or nothing. opts carries the coordinates, limits and logger
// (nil: info lines on stderr, such as the columns dropped as not flags);
// the engine's flags are added to it.
func loadFiles(st *store.Store, dwellings, boundaries []string, opts loader.Options, stderr io.Writer) error {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(stderr, nil))
	}
	eng := st.Engine()
	var batches []*engine.Batch
	flags := map[string]bool{}
	for _, f := range eng.Flags() {
		flags[f] = true
	}
	for _, path := range dwellings {
		prog, done := progress(stderr, path)
		o := opts
		o.KnownFlags, o.Progress = eng.Flags(), prog
		b, err := loader.ReadFile(path, o)
		done()
		if err != nil {
			return err
		}
		for _, f := range b.Flags() {
			flags[f] = true
		}
		// each file is within the limit with the engine's flags; the files
		// together must be too
		if len(flags) > loader.MaxFlags {
			return fmt.Errorf("%s: with the files before it, %d flags: at most %d flags", path, len(flags), loader.MaxFlags)
		}
		batches = append(batches, b)
	}
	var bounds []engine.Boundary
	for _, path := range boundaries {
		bs, err := loader.ReadBoundariesFile(path, opts.CRS)
		if err != nil {
			return err
		}
		bounds = append(bounds, bs...)
	}
	return st.Load(batches, bounds)
}
