// Package answer computes the answers of the roomstate API: from a request
// (its path parameters, query parameters and body bytes) and its caller to
// the bytes the API returns, or an error of one of fault's kinds. Every
// answer reads the engine once, so that its version describes its data, and
// takes its counts through the caller's privacy policy before any encoder
// sees them. Writes go through the store, the engine's one writer.
//
// The model is go-pmtiles' Get(ctx, path) → (status, headers, body): the
// HTTP server is routing, access, limits and metrics around these calls, and
// `roomstate query` prints the same bytes as HTTP for the same polygon.
//
// It knows nothing of HTTP: no status codes, headers or connections.
package answer

import (
	"sync"
	"time"

	"github.com/roomstate/roomstate/engine"
	"github.com/roomstate/roomstate/fault"
	"github.com/roomstate/roomstate/privacy"
	"github.com/roomstate/roomstate/regioncache"
	"github.com/roomstate/roomstate/store"
	"github.com/roomstate/roomstate/tiles"
	"github.com/valyala/fastjson"
)

// Role is what a caller may do, from least to most.
type Role int

// The roles.
const (
	Viewer  Role = iota // aggregates over published geographies; small counts withheld
	Analyst             // plus dwelling ids, records and room-state maps
	Editor              // plus changes, inside its scope
	Admin               // everything: schemes, audit, any change
)

var roleNames = [...]string{"viewer", "analyst", "editor", "admin"}

// String returns the role's name as tokens files write it.
func (r Role) String() string {
	if r >= 0 && int(r) < len(roleNames) {
		return roleNames[r]
	}
	return "none"
}

// ParseRole reads a role's name.
func ParseRole(s string) (Role, bool) {
	for i, n := range roleNames {
		if n == s {
			return Role(i), true
		}
	}
	return 0, false
}

// Caller is who asks: a token's name and role, an editor's scope, and where
// the request came from (for the audit trail).
type Caller struct {
	Name   string
	Role   Role
	Scope  *engine.Scope // editors: where they may write; nil for no limit
	Remote string
}

// System is the caller of the server's own changes and of the command line:
// an admin.
var System = &Caller{Name: "system", Role: Admin}

// need refuses a caller below role r.
func (c *Caller) need(r Role) error {
	if c.Role < r {
		return fault.New(fault.Forbidden, "role %s may not do this (needs %s)", c.Role, r)
	}
	return nil
}

// Options configure the answers. Zero values take the defaults.
type Options struct {
	MaxVertices   int           // per query geometry (default MaxVertices)
	MaxIDs        int           // largest `limit` of an ids query (default 100,000)
	MaxBatchLines int           // changes in one NDJSON batch (default 100,000)
	QueryTimeout  time.Duration // time budget of one query (default 10 s)
	PrivacyK      int           // viewers see no count from 1 to k−1 (default 3)
	TileCacheMB   int           // tile cache size in MiB (default 256)
	// RegionCacheMB bounds the prepared regions kept for polygons sent
	// again, in MiB (default DefaultRegionCacheMB; negative: none).
	RegionCacheMB int
	// TZ is the server's time zone: a date in as_of is the end of that day
	// there (default Asia/Shanghai).
	TZ *time.Location
	// PrivacyMinCell is the smallest grid cell, in metres, a viewer may ask
	// for (default 250).
	PrivacyMinCell float64
}

func (o *Options) defaults() {
	if o.MaxVertices <= 0 {
		o.MaxVertices = MaxVertices
	}
	if o.MaxIDs <= 0 {
		o.MaxIDs = 100_000
	}
	if o.MaxBatchLines <= 0 {
		o.MaxBatchLines = 100_000
	}
	if o.QueryTimeout <= 0 {
		o.QueryTimeout = 10 * time.Second
	}
	if o.PrivacyK <= 0 {
		o.PrivacyK = 3
	}
	if o.TZ == nil {
		o.TZ = Shanghai()
	}
	if o.PrivacyMinCell <= 0 {
		o.PrivacyMinCell = 250
	}
	if o.RegionCacheMB == 0 {
		o.RegionCacheMB = DefaultRegionCacheMB
	}
}

// DefaultRegionCacheMB is the default bound of the region cache: some
// hundreds of street polygons of 2,000 vertices, or tens of thousands of
// community polygons, with what the engine found inside them.
const DefaultRegionCacheMB = 64

// Shanghai returns the time zone Asia/Shanghai (UTC+8 without daylight
// saving, also where the system has no zone database).
func Shanghai() *time.Location {
	if l, err := time.LoadLocation("Asia/Shanghai"); err == nil {
		return l
	}
	return time.FixedZone("Asia/Shanghai", 8*3600)
}

// Answers computes the API's answers over one engine. It is safe for
// concurrent use.
type Answers struct {
	eng   *engine.Engine
	store *store.Store // nil: read-only (the command line)
	tiles *tiles.Cache
	opts  Options

	parsers fastjson.ParserPool
	bufs    sync.Pool          // *scratch
	viewers viewerCache        // viewers' protected hierarchies, lately computed
	regions *regioncache.Cache // polygons' prepared areas, by content; nil: none
}

// scratch is one answer's reusable buffers, pooled.
type scratch struct {
	w        jsonw
	geom     geometryDecoder
	geomText []byte       // the geometry's JSON text in the body being answered
	area     *engine.Area // the geometry's area, when the cache knew its text
	unit     unitRef      // the polygon query's unit
	res      engine.PolygonResult
}

// New returns the answers of eng, writing through st (nil: no writes).
func New(eng *engine.Engine, st *store.Store, opts Options) *Answers {
	opts.defaults()
	a := &Answers{eng: eng, store: st, opts: opts}
	a.tiles = tiles.NewCache(eng, int64(opts.TileCacheMB)<<20)
	a.regions = regioncache.New(int64(opts.RegionCacheMB) << 20)
	a.bufs.New = func() any { return new(scratch) }
	return a
}

// Engine returns the engine the answers read.
func (a *Answers) Engine() *engine.Engine { return a.eng }

// RegionCache returns the cache of polygons' prepared areas (nil when
// disabled).
func (a *Answers) RegionCache() *regioncache.Cache { return a.regions }

// Tiles returns the tile cache.
func (a *Answers) Tiles() *tiles.Cache { return a.tiles }

// Policy returns the privacy policy of a caller: viewers' counts from 1 to
// k−1 are withheld; the others see everything.
func (a *Answers) Policy(c *Caller) privacy.Policy {
	if c.Role == Viewer {
		return privacy.ForK(a.opts.PrivacyK)
	}
	return privacy.Policy{}
}

func (a *Answers) scratch() *scratch {
	sc := a.bufs.Get().(*scratch)
	sc.w.b = sc.w.b[:0]
	sc.w.suppressed = false
	return sc
}

// done returns a scratch and the answer's bytes, copied out of it.
func (a *Answers) done(sc *scratch) []byte {
	out := append([]byte(nil), sc.w.b...)
	if cap(sc.w.b) > 1<<20 {
		sc.w.b = nil // do not pin huge answers in the pool
	}
	a.bufs.Put(sc)
	return out
}

// Query is a request's query parameters.
type Query interface {
	// Get returns the parameter's value, "" when absent.
	Get(name string) string
}

// Values is a Query over a map, for callers without a transport.
type Values map[string]string

// Get returns the value of name.
func (v Values) Get(name string) string { return v[name] }

// finish closes an answer object with suppressed, version and took_us.
func finish(w *jsonw, version engine.Version, start time.Time) {
	if w.suppressed {
		w.raw(`,"suppressed":true`)
	}
	w.raw(`,"version":`)
	w.uint(uint64(version))
	w.raw(`,"took_us":`)
	w.int(time.Since(start).Microseconds())
	w.raw("}\n")
}

// shown writes counts as the policy shows them.
func (w *jsonw) shown(p privacy.Policy, c *engine.Counts, names []string) {
	sc := p.Counts(c.Total, c.Matched, c.Flags)
	w.counts(&sc, names)
}
