package engine

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/paulmach/orb"
)

// Options tune an Engine. The zero value is the default.
type Options struct {
	// BandHeight is the row band height in 1e-7 degrees (even); 0 chooses
	// it from the data: about the mean spacing of the distinct points.
	BandHeight int32
	// DeltaLimit is how many inserted dwellings may wait outside the
	// row-band order before a background compaction (0: DeltaLimit).
	DeltaLimit int
}

// Engine is the in-memory room-state model of a city. See the package
// documentation.
type Engine struct {
	opts Options

	// mu: one writer, many readers. Guards st, ranks, exprs, version and
	// schemes; the rank indexes fill themselves lazily under their own locks.
	mu      sync.RWMutex
	st      *state
	ranks   *rankCache
	exprs   map[string]*Expr // parsed `where` strings, by source text
	version Version
	schemes map[string]*scheme

	loadMu sync.Mutex // serialises loads and compactions
	pool   sync.Pool  // *scratch

	// compaction, under mu: while a frozen copy of compactFrom is rebuilt,
	// writes are also kept in journal, to be replayed on the new state
	compacting  bool
	compactFrom *state
	journal     []Op
	onCompact   func()
}

// New returns an empty engine.
func New(opts Options) *Engine {
	if opts.BandHeight < 0 {
		opts.BandHeight = 0
	}
	opts.BandHeight += opts.BandHeight & 1
	e := &Engine{opts: opts, st: newState()}
	e.ranks = newRankCache(0)
	e.exprs = map[string]*Expr{}
	e.schemes = map[string]*scheme{}
	def, err := compileScheme(e.st, "default", DefaultScheme())
	if err != nil {
		panic(err) // the built-in scheme is valid by construction
	}
	e.schemes["default"] = def
	e.pool.New = func() any { return new(scratch) }
	return e
}

// Load adds the batches' dwellings, all or nothing: on any duplicate id the
// engine is unchanged and the error is a *LoadError naming every problem.
func (e *Engine) Load(batches ...*Batch) error {
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
	e.loadMu.Lock()
	defer e.loadMu.Unlock()
	// Build under the read lock: readers go on with the old state meanwhile.
	e.mu.RLock()
	prev, v, g := e.st, e.version, e.st.gen
	st, err := rebuild(prev, batches, e.opts.BandHeight)
	e.mu.RUnlock()
	if err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	// written meanwhile (changes, or boundaries, which move gen): build again
	if e.st != prev || e.version != v || e.st.gen != g {
		if st, err = rebuild(e.st, batches, e.opts.BandHeight); err != nil {
			return err
		}
	}
	e.install(st)
	for _, b := range batches {
		e.version += Version(b.n)
	}
	return nil
}

// install swaps in a new state and resets what derives from it. Caller holds
// the write lock.
func (e *Engine) install(st *state) {
	e.st = st
	e.ranks = newRankCache(st.nFlags())
	e.exprs = map[string]*Expr{}
	for name, sc := range e.schemes {
		if c, err := compileScheme(st, name, sc.def); err == nil {
			e.schemes[name] = c
		}
	}
}

// Flags returns the names of the known flags, in FlagID order.
func (e *Engine) Flags() []string {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return slices.Clone(e.st.flagNames)
}

// Len returns the number of dwellings.
func (e *Engine) Len() int {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.st.nLive
}

// Version returns the current version.
func (e *Engine) Version() Version {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.version
}

// parseWhere compiles a `where` string against st's flags, with a cache.
// Caller holds the read lock.
func (e *Engine) parseWhere(st *state, src string) (*Expr, error) {
	if src == "" {
		return trueExpr, nil
	}
	e.ranks.mu.Lock()
	x, ok := e.exprs[src]
	e.ranks.mu.Unlock()
	if ok {
		return x, nil
	}
	x, err := ParseExpr(src, st.flagLookup)
	if err != nil {
		return nil, err
	}
	e.ranks.mu.Lock()
	if len(e.exprs) > 4*maxRanked {
		clear(e.exprs)
	}
	e.exprs[src] = x
	e.ranks.mu.Unlock()
	return x, nil
}

// ParseWhere checks a `where` expression against the known flags.
func (e *Engine) ParseWhere(src string) (*Expr, error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.parseWhere(e.st, src)
}

// PolygonQuery asks for the statistics of a region.
type PolygonQuery struct {
	Region  *Region
	Where   string // flag expression; "" for none
	GroupBy string // "", a level name, or "building"
	IDs     bool   // list the ids of matched dwellings
	Limit   int    // at most this many ids (0: DefaultIDLimit)
	// Deadline, when set, ends a query that runs longer with ErrTimeout.
	Deadline time.Time
}

// DefaultIDLimit is the number of ids a query lists when it sets no limit.
const DefaultIDLimit = 1000

// Group is the statistics of one unit (or building) inside a query region.
type Group struct {
	Level Level
	ID    string
	Counts
}

// PolygonResult answers a PolygonQuery. Flags are indexed by FlagID (see
// FlagNames).
type PolygonResult struct {
	Counts
	Groups    []Group
	IDs       []string
	FlagNames []string
	Version   Version
}

// QueryError is a bad query parameter (not a geometry problem).
type QueryError struct {
	Code    string // "bad_expression", "bad_request"
	Message string
}

func (e *QueryError) Error() string { return e.Message }

// PolygonStats answers q into res, reusing res's slices. It allocates nothing
// when res has room and q neither groups nor lists ids.
func (e *Engine) PolygonStats(q *PolygonQuery, res *PolygonResult) error {
	if q.Region == nil {
		return &QueryError{Code: "bad_geometry", Message: "no region: make one with NewRegion"}
	}
	var level Level
	if q.GroupBy != "" {
		l, err := ParseLevel(q.GroupBy)
		if err != nil {
			return &QueryError{Code: "bad_request", Message: "group_by: " + err.Error()}
		}
		level = l
	}
	e.mu.RLock()
	defer e.mu.RUnlock()
	st := e.st
	x, err := e.parseWhere(st, q.Where)
	if err != nil {
		return &QueryError{Code: "bad_expression", Message: err.Error()}
	}
	rk := e.ranks.get(st, x)
	sc := e.pool.Get().(*scratch)
	s := &sc.sink
	s.reset(st, rk)
	if q.GroupBy != "" {
		s.groupBy(level)
	}
	if q.IDs {
		s.wantIDs = true
		s.limit = q.Limit
		if s.limit <= 0 {
			s.limit = DefaultIDLimit
		}
	}
	if err := st.sweep(q.Region, sc, s, q.Deadline); err != nil {
		s.release()
		e.pool.Put(sc)
		return err
	}
	s.finish()

	res.Total, res.Matched = s.acc[0], s.acc[1]
	res.Flags = append(res.Flags[:0], s.acc[2:]...)
	res.FlagNames = st.flagNames
	res.Version = e.version
	res.Groups = res.Groups[:0]
	res.IDs = res.IDs[:0]
	if s.grouping {
		nf := st.nFlags()
		for k, g := range s.gList {
			a := s.gAcc[k*(2+nf) : (k+1)*(2+nf)]
			res.Groups = append(res.Groups, Group{Level: level, ID: st.groupID(level, g),
				Counts: Counts{Total: a[0], Matched: a[1], Flags: slices.Clone(a[2:])}})
		}
		slices.SortFunc(res.Groups, func(a, b Group) int { return strings.Compare(a.ID, b.ID) })
	}
	for _, p := range s.ids {
		res.IDs = append(res.IDs, st.idOf(p))
	}
	s.release()
	e.pool.Put(sc)
	return nil
}

// BruteStats answers the same question as PolygonStats by testing every
// dwelling against every edge, after a bounding-box check: the oracle of the
// tests and the baseline of the benchmarks. It neither groups nor lists ids.
func (e *Engine) BruteStats(rg *Region, where string) (Counts, error) {
	if rg == nil {
		return Counts{}, &QueryError{Code: "bad_geometry", Message: "no region: make one with NewRegion"}
	}
	e.mu.RLock()
	defer e.mu.RUnlock()
	st := e.st
	x, err := ParseExpr(where, st.flagLookup)
	if err != nil {
		return Counts{}, err
	}
	c := Counts{Flags: make([]int64, st.nFlags())}
	for p := uint32(0); p < uint32(st.n); p++ {
		if !st.isLive(p) || !rg.Contains(st.lon[p], st.lat[p]) {
			continue
		}
		c.Total++
		if !x.EvalSet(func(f FlagID) bool { return st.hasFlag(p, f) }) {
			continue
		}
		c.Matched++
		for f := range st.words {
			if st.hasFlag(p, FlagID(f)) {
				c.Flags[f]++
			}
		}
	}
	return c, nil
}

// Boundary is an area polygon of one level, as loaded from GeoJSON.
type Boundary struct {
	Level    Level // district, street, community or grid
	ID       string
	Name     string
	Geometry orb.MultiPolygon
}

// AddBoundaries files area polygons (for tiles and unit names), all or
// nothing. A boundary with an id already loaded at its level replaces it.
func (e *Engine) AddBoundaries(bs []Boundary) error {
	for i, b := range bs {
		if b.Level >= LevelBuilding {
			return fmt.Errorf("boundary %d (%q): level must be district, street, community or grid", i, b.ID)
		}
		if b.ID == "" {
			return fmt.Errorf("boundary %d: empty id", i)
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, b := range bs {
		e.st.addBoundary(b.Level, b.ID, b.Name, b.Geometry)
	}
	e.st.gen = generations.Add(1) // cached tiles may show these
	return nil
}

func (st *state) addBoundary(l Level, id, name string, g orb.MultiPolygon) {
	u := st.levels[l].intern(id)
	if name != "" {
		st.levels[l].names[u] = name
	}
	if b := st.boundaryOf(l, u); b != nil {
		st.boundTree.Delete(b.bound.Min, b.bound.Max, int(st.boundAt[l][u]-1))
		b.geom, b.bound = g, g.Bound()
		st.boundTree.Insert(b.bound.Min, b.bound.Max, int(st.boundAt[l][u]-1))
		return
	}
	for int(u) >= len(st.boundAt[l]) {
		st.boundAt[l] = append(st.boundAt[l], 0)
	}
	st.boundAt[l][u] = int32(len(st.bounds) + 1)
	st.bounds = append(st.bounds, boundary{level: l, unit: u, geom: g, bound: g.Bound()})
	b := g.Bound()
	st.boundTree.Insert(b.Min, b.Max, len(st.bounds)-1)
}
