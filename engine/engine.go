package engine

import (
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/paulmach/orb"
	"github.com/roomstate/roomstate/expr"
	"github.com/roomstate/roomstate/fault"
	"github.com/roomstate/roomstate/history"
	"github.com/roomstate/roomstate/region"
	"github.com/roomstate/roomstate/scheme"
)

// Options tune an engine. The zero value is the default.
type Options struct {
	// BandHeight is the row band height in 1e-7 degrees (even); 0 chooses
	// it from the data: about the mean spacing of the distinct points.
	BandHeight int32
	// DeltaLimit is how many inserted dwellings may wait outside the
	// row-band order before a background compaction (0: DeltaLimit).
	DeltaLimit int
	// History is how long changes are kept for questions about the past
	// (0: DefaultHistory).
	History time.Duration
	// Clock tells the time of loads (nil: time.Now); changes carry theirs.
	Clock func() time.Time
}

// DefaultHistory is how long changes are kept unless told otherwise.
const DefaultHistory = 400 * 24 * time.Hour

// Engine is the read-only view of an in-memory room-state model: every
// method answers a question and none changes anything. It is safe for
// concurrent use; the one Writer made with it is the only way to change it.
// See the package documentation.
type Engine struct {
	opts Options

	// mu: the Writer holds it exclusively while it changes anything below;
	// readers hold it shared for the whole of a question, so an answer and
	// its version describe one state.
	mu      sync.RWMutex
	st      *state
	version Version
	schemes map[string]*scheme.Compiled
	ranks   *rankCache   // the rank views of the expressions in use, for st
	exprs   *exprCache   // parsed `where` strings, for st's flags
	gens    uint64       // numbers states, boundary and scheme changes (st.gen)
	hist    *history.Log // every change since the load, for the retention window
	exp     expiries     // flags that clear themselves, by dwelling
	resp    resp         // assignments and visits (responsibility.go)
	camps   campaigns    // running campaigns (campaign.go)

	// schemeLog: the retained scheme puts, by version, each with the
	// scheme it replaced (schemelog.go); trimmed with hist
	schemeLog []schemeChange

	pool sync.Pool // *scratch: per-query buffers
}

// exprCache memoises parsed `where` strings. The map is immutable once
// published and replaced whole on insertion.
type exprCache struct {
	mu sync.Mutex // serialises insertions
	m  atomic.Pointer[map[string]*expr.Expr]
}

// maxExprs bounds the parsed expressions kept.
const maxExprs = 4 * maxRanked

func newExprCache() *exprCache {
	c := &exprCache{}
	m := map[string]*expr.Expr{}
	c.m.Store(&m)
	return c
}

// get parses src against lookup, from the cache when it can.
func (c *exprCache) get(src string, lookup expr.FlagLookup) (*expr.Expr, error) {
	if src == "" {
		return expr.True, nil
	}
	if x := (*c.m.Load())[src]; x != nil {
		return x, nil
	}
	x, err := expr.Parse(src, lookup)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	old := *c.m.Load()
	m := make(map[string]*expr.Expr, len(old)+1)
	if len(old) < maxExprs {
		for k, v := range old {
			m[k] = v
		}
	}
	m[src] = x
	c.m.Store(&m)
	return x, nil
}

// New returns an empty engine and its writer.
func New(opts Options) *Writer {
	if opts.BandHeight < 0 {
		opts.BandHeight = 0
	}
	opts.BandHeight += opts.BandHeight & 1
	if opts.History <= 0 {
		opts.History = DefaultHistory
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	e := &Engine{opts: opts, schemes: map[string]*scheme.Compiled{}, hist: history.New(0, opts.Clock().UnixMilli()),
		resp: newResp(), camps: newCampaigns()}
	e.pool.New = func() any { return new(scratch) }
	w := &Writer{Engine: e}
	// the state of a load of nothing: it knows the built-in flags
	st, err := rebuild(newState(), nil, 0)
	if err != nil {
		panic(err) // nothing to clash
	}
	w.install(st)
	return w
}

// install swaps in a new state and resets what derives from it. Caller is
// the writer and holds the write lock (or nobody else can see e yet).
func (w *Writer) install(st *state) {
	e := w.Engine
	e.st = st
	e.gens++
	st.gen = e.gens
	e.ranks = newRankCache(st.nFlags())
	e.exprs = newExprCache()
	def, err := scheme.Compile("default", scheme.Default(), st.flagLookup)
	if err != nil {
		panic(err) // the built-in scheme is valid by construction
	}
	if old, ok := e.schemes["default"]; ok {
		def = old
	}
	for name, sc := range e.schemes {
		if c, err := scheme.Compile(name, sc.Def, st.flagLookup); err == nil {
			e.schemes[name] = c
		}
	}
	if _, ok := e.schemes["default"]; !ok {
		e.schemes["default"] = def
	}
	w.recompileSchemeLog()
	st.resortUnits()
	w.deriveResp()
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

// parseWhere compiles a `where` string against st's flags, through the cache.
// Caller holds the read lock.
func (e *Engine) parseWhere(st *state, src string) (*expr.Expr, error) {
	return e.exprs.get(src, st.flagLookup)
}

// ParseWhere checks a `where` expression against the known flags; the error
// is of kind fault.BadExpression.
func (e *Engine) ParseWhere(src string) (*expr.Expr, error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.parseWhere(e.st, src)
}

// PolygonQuery asks for the statistics of a region.
type PolygonQuery struct {
	Region *region.Region
	// Area, when set, is the region (Region is then nil, or Area's) with
	// what earlier queries of it learnt (see Area): the answer is the same,
	// faster from the second query on.
	Area    *Area
	Where   string // flag expression; "" for none
	GroupBy string // "", a level name, or "building"
	IDs     bool   // list the ids of matched dwellings
	Limit   int    // at most this many ids (0: none; a client that names no limit gets DefaultIDLimit)
	// AsOf asks about a past state (ids too: the dwellings that matched
	// then, by their ids).
	AsOf AsOf
	// Deadline, when set, ends a query that runs longer with a fault.Timeout.
	Deadline time.Time
}

// DefaultIDLimit is the number of ids a query lists when its client names
// no limit.
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

// PolygonStats answers q into res, reusing res's slices. It allocates nothing
// when res has room and q neither groups nor lists ids.
func (e *Engine) PolygonStats(q *PolygonQuery, res *PolygonResult) error {
	if q.Area != nil {
		if q.Region != nil && q.Region != q.Area.rg {
			return fault.New(fault.BadRequest, "a polygon query has a region and an area of another region")
		}
		qa := *q
		qa.Region = q.Area.rg
		q = &qa
	}
	if q.Region == nil {
		return fault.New(fault.BadGeometry, "no region: make one with region.New")
	}
	var level Level
	if q.GroupBy != "" {
		l, err := ParseLevel(q.GroupBy)
		if err != nil {
			return fault.New(fault.BadRequest, "group_by: %v", err)
		}
		level = l
	}
	e.mu.RLock()
	defer e.mu.RUnlock()
	st := e.st
	x, err := e.parseWhere(st, q.Where)
	if err != nil {
		return err
	}
	v, isPast, err := e.resolve(q.AsOf)
	if err != nil {
		return err
	}
	// as of a past state: the dwellings changed since, with their states
	// then and now (their ids too when ids are listed)
	var pa *past
	if isPast {
		box := q.Region.BBox()
		pa = e.pastIn(st, v, pastAsk{box: &box, rg: q.Region, building: q.GroupBy != "" && level == LevelBuilding, rooms: q.IDs})
		defer pa.release()
	}
	rk := e.ranks.view(st, x)
	sc := e.pool.Get().(*scratch)
	s := &sc.sink
	s.reset(st, rk)
	if q.GroupBy != "" {
		s.groupBy(level)
	}
	if q.IDs {
		s.wantIDs = true
		s.limit = max(q.Limit, 0)
		if pa != nil && s.limit > 0 { // each changed dwelling may leave the list
			s.limit = min(s.limit, math.MaxInt-len(pa.deltas)) + len(pa.deltas)
		}
	}
	if err := st.sweepArea(q, sc, s); err != nil {
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
		if pa != nil && pa.changed(st.did[p]) {
			continue // listed as it was, if it was (correctPolygon)
		}
		res.IDs = append(res.IDs, st.idOf(p))
	}
	s.release()
	e.pool.Put(sc)
	if isPast {
		e.correctPolygon(st, q, level, x, pa, res)
	}
	return nil
}

// sweepArea sweeps q's region into s: through its area's cover of the
// index when it has one, else by clipping its edges, recording the cover
// for the next query when q has an area.
func (st *state) sweepArea(q *PolygonQuery, sc *scratch, s *sink) error {
	if q.Area == nil {
		return st.sweep(q.Region, sc, s, q.Deadline)
	}
	if cv := q.Area.coverFor(st); cv != nil {
		return st.replay(q.Region, cv, s, q.Deadline)
	}
	rec := &record{}
	s.rec = rec
	err := st.sweep(q.Region, sc, s, q.Deadline)
	s.rec = nil
	if err == nil {
		q.Area.cover.Store(&cover{ix: st.index, nMain: st.nMain, ranges: slices.Clip(rec.ranges)})
	}
	return err
}

// BruteStats answers the same question as PolygonStats by testing every
// dwelling against every edge, after a bounding-box check: the oracle of the
// tests and the baseline of the benchmarks. It neither groups nor lists ids.
func (e *Engine) BruteStats(rg *region.Region, where string) (Counts, error) {
	if rg == nil {
		return Counts{}, fault.New(fault.BadGeometry, "no region: make one with region.New")
	}
	e.mu.RLock()
	defer e.mu.RUnlock()
	st := e.st
	x, err := expr.Parse(where, st.flagLookup)
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

// addBoundary files (or replaces) the boundary of unit id of level l; ua
// is its prepared area (prepareAreas), shared by the states that hold g.
func (st *state) addBoundary(l Level, id, name string, g orb.MultiPolygon, ua *unitArea) {
	u := st.levels[l].intern(id)
	if name != "" {
		st.levels[l].names[u] = name
	}
	if b := st.boundaryOf(l, u); b != nil {
		st.boundTree[l].Delete(b.bound.Min, b.bound.Max, int(st.boundAt[l][u]-1))
		b.geom, b.bound, b.area = g, g.Bound(), ua
		st.boundTree[l].Insert(b.bound.Min, b.bound.Max, int(st.boundAt[l][u]-1))
		return
	}
	for int(u) >= len(st.boundAt[l]) {
		st.boundAt[l] = append(st.boundAt[l], 0)
	}
	st.boundAt[l][u] = int32(len(st.bounds) + 1)
	st.bounds = append(st.bounds, boundary{level: l, unit: u, geom: g, bound: g.Bound(), area: ua})
	b := g.Bound()
	st.boundTree[l].Insert(b.Min, b.Max, len(st.bounds)-1)
}
