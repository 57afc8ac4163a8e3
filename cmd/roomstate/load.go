package main

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"time"

	"github.com/roomstate/roomstate/engine"
	"github.com/roomstate/roomstate/fault"
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

// fileLoad says how loadFiles treats the files it is given.
type fileLoad struct {
	// record hashes each file and records its path and content hash with
	// the load (store.LoadInputs): a data directory then knows what it holds
	record bool
	// skipLoaded skips the files the store records as loaded already
	// (with record)
	skipLoaded bool
	log        *slog.Logger // where skipped files are told (nil: nowhere)
}

// loadFiles reads dwelling and boundary files and loads them through the
// store, all or nothing. opts carries the coordinates, limits and logger
// (nil: info lines on stderr, such as the columns dropped as not flags);
// the engine's flags are added to it.
//
// With fl.skipLoaded (serve on a data directory), a file whose content the
// store records as loaded already is skipped, with an info line: a
// dwellings file whose content any earlier load brought, and the
// boundaries files when they are, in order, the very contents of the
// latest load that brought boundaries (boundaries replace those of the
// same ids, so anything else is applied again, in the order given). It
// reports whether anything was loaded.
func loadFiles(st *store.Store, dwellings, boundaries []string, opts loader.Options, fl fileLoad, stderr io.Writer) (bool, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(stderr, nil))
	}
	eng := st.Engine()
	log := fl.log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var held []store.Input
	if fl.record && fl.skipLoaded {
		held = st.Inputs()
	}
	sumOf := func(path string) (string, os.FileInfo, error) {
		if !fl.record {
			return "", nil, nil
		}
		return fileSHA256(path)
	}
	var batches []*engine.Batch
	var inputs []store.Input
	// the flags known as each file is read: the engine's, then those the
	// files before it bring, as if each file were loaded after the ones
	// before it (a known flag's column takes flag values only, and counts
	// no more against MaxFlags)
	known := eng.Flags()
	for _, path := range dwellings {
		sum, fi, err := sumOf(path)
		if err != nil {
			return false, err
		}
		if i := slices.IndexFunc(held, func(in store.Input) bool { return in.Kind == store.InputDwellings && in.SHA256 == sum }); i >= 0 {
			log.Info("dwellings file skipped: its content is loaded into the data directory already (changes made since are kept)",
				"file", path, "sha256", sum, "loaded_as", held[i].Path, "loaded_at", held[i].Time.Format(time.RFC3339))
			continue
		}
		prog, done := progress(stderr, path)
		o := opts
		o.KnownFlags, o.Progress = known, prog
		b, err := loader.ReadFile(path, o)
		done()
		if err != nil {
			return false, err
		}
		if err := unchanged(path, fi); err != nil {
			return false, err
		}
		for _, f := range b.Flags() {
			if !slices.Contains(known, f) {
				known = append(known, f)
			}
		}
		batches = append(batches, b)
		inputs = append(inputs, store.Input{Kind: store.InputDwellings, Path: path, SHA256: sum})
	}
	var binputs []store.Input
	infos := make([]os.FileInfo, len(boundaries))
	for i, path := range boundaries {
		sum, fi, err := sumOf(path)
		if err != nil {
			return false, err
		}
		infos[i] = fi
		binputs = append(binputs, store.Input{Kind: store.InputBoundaries, Path: path, SHA256: sum})
	}
	if len(held) > 0 && len(binputs) > 0 && sameContents(binputs, lastBoundaries(held)) {
		for _, in := range binputs {
			log.Info("boundaries file skipped: the data directory's latest boundaries are its content already", "file", in.Path, "sha256", in.SHA256)
		}
		binputs = nil
	}
	var bounds []engine.Boundary
	var from []string // the file of each boundary
	for i, in := range binputs {
		bs, err := loader.ReadBoundariesFile(in.Path, opts.CRS)
		if err != nil {
			return false, err
		}
		if err := unchanged(in.Path, infos[i]); err != nil {
			return false, err
		}
		bounds = append(bounds, bs...)
		for range bs {
			from = append(from, in.Path)
		}
	}
	if len(batches) == 0 && len(bounds) == 0 {
		return false, nil
	}
	if !fl.record {
		inputs, binputs = nil, nil
	}
	if err := st.LoadInputs(batches, bounds, append(inputs, binputs...)); err != nil {
		return true, err
	}
	warnInvalidBoundaries(eng, bounds, from, opts.Logger)
	return true, nil
}

// warnInvalidBoundaries tells the boundaries just loaded that are no valid
// polygon, as the engine found when it prepared them (once, when it
// installed them): each unit once, for the boundary it holds (the last of
// its id and level), naming the file it came from.
func warnInvalidBoundaries(eng *engine.Engine, bounds []engine.Boundary, from []string, log *slog.Logger) {
	type unit struct {
		level engine.Level
		id    string
	}
	last := make(map[unit]int, len(bounds))
	for i, b := range bounds {
		last[unit{b.Level, b.ID}] = i
	}
	for i, b := range bounds {
		if last[unit{b.Level, b.ID}] != i {
			continue // replaced by a later one
		}
		if err := eng.InvalidBoundary(b.Level, b.ID); err != nil && !errors.Is(err, fault.NotFound) {
			log.Warn("boundary loaded, but it is no valid polygon: its unit counts its dwellings by their columns, and a polygon query by it is refused",
				"file", from[i], "level", b.Level.String(), "id", b.ID, "why", err.Error())
		}
	}
}

// lastBoundaries returns the boundaries files of the latest load that
// brought any.
func lastBoundaries(held []store.Input) []store.Input {
	last := -1
	for _, in := range held {
		if in.Kind == store.InputBoundaries {
			last = in.Load
		}
	}
	var out []store.Input
	for _, in := range held {
		if in.Kind == store.InputBoundaries && in.Load == last {
			out = append(out, in)
		}
	}
	return out
}

// sameContents reports whether two lists of files have the same contents
// in the same order.
func sameContents(a, b []store.Input) bool {
	return slices.EqualFunc(a, b, func(x, y store.Input) bool { return x.SHA256 == y.SHA256 })
}

// fileSHA256 returns the SHA-256 of a file's content (lower-case hex) and
// what the file was when it was read.
func fileSHA256(path string) (string, os.FileInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", nil, err
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", nil, fmt.Errorf("%s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), fi, nil
}

// unchanged refuses a file that changed between its hashing and its
// reading: the hash recorded must be that of what was loaded.
func unchanged(path string, before os.FileInfo) error {
	if before == nil { // not hashed
		return nil
	}
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if fi.Size() != before.Size() || !fi.ModTime().Equal(before.ModTime()) {
		return fmt.Errorf("%s: the file changed while it was being loaded; nothing was loaded: start again once it is complete", path)
	}
	return nil
}
