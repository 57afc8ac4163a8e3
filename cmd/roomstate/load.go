package main

import (
	"fmt"
	"io"
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
// store, all or nothing.
func loadFiles(st *store.Store, dwellings, boundaries []string, crs loader.CRS, stderr io.Writer) error {
	var batches []*engine.Batch
	for _, path := range dwellings {
		prog, done := progress(stderr, path)
		b, err := loader.ReadFile(path, loader.Options{CRS: crs, KnownFlags: st.Engine().Flags(), Progress: prog})
		done()
		if err != nil {
			return err
		}
		batches = append(batches, b)
	}
	var bounds []engine.Boundary
	for _, path := range boundaries {
		bs, err := loader.ReadBoundariesFile(path, crs)
		if err != nil {
			return err
		}
		bounds = append(bounds, bs...)
	}
	return st.Load(batches, bounds)
}
