package engine

import (
	"errors"
	"fmt"

	"github.com/paulmach/orb"

	"github.com/roomstate/roomstate/fault"
	"github.com/roomstate/roomstate/history"
	"github.com/roomstate/roomstate/invariants"
	"github.com/roomstate/roomstate/scheme"
)

// Writer is the only way to change an engine: loads, boundaries, schemes
// and changes to dwellings. It is not safe for concurrent use: one goroutine
// (the store's committer) owns it. Readers use the Engine it returns.
type Writer struct {
	*Engine // the read-only view, for the writer's own questions and to hand out

	// compacting is the running background compaction, nil when none. The
	// writer starts it, and the writer installs its result (Maintain), so
	// that nothing but the writer ever changes the engine.
	compacting *compaction
	closed     bool
	lastTrim   int64 // the minute the history was last trimmed in (Unix ms)
	// read sums what the batched look-ups and the warming of changes read
	// ahead (state.lookupAll, state.warm): kept, so that those reads are
	// not dropped, in the writer's own field (the state is read meanwhile)
	read uint64
}

// compaction is a rebuild of the row-band order from a frozen copy of the
// state, done by a goroutine of its own.
type compaction struct {
	from    *state     // the state it was started from
	journal []Op       // changes applied since, to replay on the result
	done    chan built // receives the result once
}

type built struct {
	st  *state
	err error
}

// Load adds the batches' dwellings, all or nothing: on any duplicate id the
// engine is unchanged and the error is a *LoadError naming every problem.
// Each loaded dwelling takes a version.
func (w *Writer) Load(batches ...*Batch) error {
	e := w.Engine
	var lerr LoadError
	for _, b := range batches {
		if err := b.Finish(); err != nil {
			var le *LoadError
			if !errors.As(err, &le) {
				return err
			}
			for _, p := range le.Problems {
				lerr.Add(p)
			}
			lerr.More += le.More
		}
	}
	if lerr.Len() > 0 {
		return &lerr
	}
	// a running compaction would be of the state this load replaces
	w.waitCompaction()
	// readers go on with the old state while the new one is built
	st, err := rebuild(e.st, batches, e.opts.BandHeight)
	if err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	w.install(st)
	for _, b := range batches {
		e.version += Version(b.n)
	}
	// the history starts again at the loaded state: its dwellings are not
	// changes the log could undo (expiries are kept: their dwellings are);
	// it remembers the newest change before the load, which it no longer
	// holds (LastChange)
	e.hist = history.NewAfter(uint64(e.version), w.opts.Clock().UnixMilli(), e.hist.LastChange())
	w.trimResp()
	w.trimSchemes()
	w.checkInvariants()
	return nil
}

// trimHistory drops changes older than the retention window, at most once
// a minute (it copies what it keeps): at the first change of each minute
// (of the changes' times), those accepted before the start of that minute
// less the window. What is dropped then depends on the changes alone, not
// on when this writer started: a log replayed after a kill, or a follower
// applying the same changes, keeps what the writer before it kept. Caller
// holds the write lock.
func (w *Writer) trimHistory(ms int64) {
	minute := ms - ms%60_000
	if minute == w.lastTrim {
		return
	}
	w.lastTrim = minute
	w.hist.Trim(minute - w.opts.History.Milliseconds())
	w.trimResp()
	w.trimSchemes()
	if invariants.On {
		if err := w.hist.Check(); err != nil {
			panic("invariant: history after a trim: " + err.Error())
		}
	}
}

// AddBoundaries files area polygons (for tiles, unit names and polygon
// queries by unit), all or nothing. A boundary with an id already loaded
// at its level replaces it. Each boundary's query area is prepared here,
// before the engine is locked, once: a boundary that is no valid polygon
// is filed all the same, and InvalidBoundary tells why.
func (w *Writer) AddBoundaries(bs []Boundary) error {
	for i, b := range bs {
		if b.Level >= LevelBuilding {
			return fault.New(fault.BadRequest, "boundary %d (%q): level must be district, street, community or grid", i, b.ID)
		}
		if b.ID == "" {
			return fault.New(fault.BadRequest, "boundary %d: empty id", i)
		}
	}
	gs := make([]orb.MultiPolygon, len(bs))
	for i, b := range bs {
		gs[i] = b.Geometry
	}
	areas := prepareAreas(gs)
	e := w.Engine
	e.mu.Lock()
	defer e.mu.Unlock()
	for i, b := range bs {
		e.st.addBoundary(b.Level, b.ID, b.Name, b.Geometry, areas[i])
	}
	e.st.resortUnits()
	w.syncResp()
	w.bumpGen() // cached tiles may show these
	return nil
}

// bumpGen marks the state as changed in what tiles draw beyond dwellings
// (boundaries, schemes). Caller holds the write lock.
func (w *Writer) bumpGen() {
	w.Engine.gens++
	w.Engine.st.gen = w.Engine.gens
}

// PutScheme installs a scheme outside any change, taking no version: what a
// log written before schemes were changes holds (engine.OpScheme now), and
// tests. It checks and installs the scheme as an OpScheme does; answers as
// of a version before the current one show the scheme as it was before.
func (w *Writer) PutScheme(name string, sc scheme.Scheme) error {
	op := Op{Kind: OpScheme, ID: name, Scheme: &sc}
	if err := newPrepCtx(w.Engine).checkScheme(w.Engine.st, 0, &op); err != nil {
		return err
	}
	e := w.Engine
	e.mu.Lock()
	defer e.mu.Unlock()
	w.logScheme(name, e.version) // after the change of the current version
	w.applyScheme(e.st, &op)
	return nil
}

// applyScheme installs the scheme of op, an OpScheme that checking
// accepted. Caller is Commit, holding the engine's lock.
func (w *Writer) applyScheme(st *state, op *Op) Event {
	c, err := scheme.Compile(op.ID, *op.Scheme, st.flagLookup)
	if err != nil {
		panic(fmt.Sprintf("engine: commit of scheme %q that checking accepted: %v", op.ID, err))
	}
	w.Engine.schemes[op.ID] = c
	w.bumpGen()                                                // cached tiles may show this scheme
	return Event{Op: OpScheme, ID: op.ID, Info: &ChangeInfo{}} // no household's: every caller sees it
}

// DeltaLimit is how many dwellings may wait outside the row-band order
// before a compaction sorts them in.
const DeltaLimit = 4096

func (w *Writer) deltaLimit() int {
	if w.Engine.opts.DeltaLimit > 0 {
		return w.Engine.opts.DeltaLimit
	}
	return DeltaLimit
}

// Maintain does the writer's housekeeping between groups of changes: it
// installs a finished background compaction (replaying the changes made
// meanwhile) and starts one when enough dwellings wait outside the row-band
// order.
func (w *Writer) Maintain() {
	if c := w.compacting; c != nil {
		select {
		case r := <-c.done:
			w.finishCompaction(r)
		default:
		}
	}
	if w.compacting == nil && !w.closed && w.Engine.st.n-w.Engine.st.nMain >= w.deltaLimit() {
		w.startCompaction()
	}
}

// startCompaction rebuilds a frozen copy of the state in the background.
func (w *Writer) startCompaction() {
	c := &compaction{from: w.Engine.st, done: make(chan built, 1)}
	w.compacting = c
	snap := w.Engine.st.frozen()
	band := w.Engine.opts.BandHeight
	go func() {
		st, err := rebuild(snap, nil, band)
		c.done <- built{st, err}
	}()
}

// waitCompaction waits for a running compaction and installs its result.
func (w *Writer) waitCompaction() {
	if c := w.compacting; c != nil {
		w.finishCompaction(<-c.done)
	}
}

// finishCompaction installs a compaction's result, with the changes made
// since it started replayed on it.
func (w *Writer) finishCompaction(r built) {
	c := w.compacting
	w.compacting = nil
	e := w.Engine
	if r.err != nil { // cannot happen: the ids of a state are unique
		panic(fmt.Sprintf("engine: compaction failed: %v", r.err))
	}
	if e.st != c.from { // a load or a restore replaced the state meanwhile
		return
	}
	st := r.st
	rc := newRankCache(st.nFlags())
	rc.begin()
	st.cur = e.version
	var ev Event
	for i := range c.journal {
		r := Request{Ops: c.journal[i : i+1]}
		found, _ := st.lookupAll([]Request{r})
		if _, err := st.checkOps(&r, found[0], newPrepCtx(nil)); err != nil {
			panic(fmt.Sprintf("engine: compaction: replay failed: %v", err))
		}
		st.apply(&c.journal[i], -1, rc, &ev)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	st.addBoundariesOf(e.st) // those added meanwhile (the others again, harmlessly)
	w.install(st)
	w.checkInvariants()
}

// Compact sorts the delta into the row-band order now and waits for it.
func (w *Writer) Compact() {
	w.waitCompaction()
	if w.Engine.st.n == w.Engine.st.nMain {
		return
	}
	w.startCompaction()
	w.waitCompaction()
}

// DeltaSize is the number of slots waiting outside the row-band order.
func (e *Engine) DeltaSize() int {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.st.n - e.st.nMain
}

// Close stops the writer: it waits for a running compaction (and installs
// it). The engine still answers questions afterwards.
func (w *Writer) Close() {
	w.closed = true
	w.waitCompaction()
}
