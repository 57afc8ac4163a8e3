// Package bench is the benchmark harness of PERFORMANCE.md as a library: a
// Fixture generates (or loads) a reference city (disc or realistic, package
// city) and its query polygons, Workloads name the operations measured, and
// Run measures one with p50, p99 and throughput. On the realistic city the
// city's own street and community boundaries are query polygons too
// (real-shaped: ragged, hundreds to thousands of vertices), measured by
// vertex-count class. It has no globals; `go test -bench`, `roomstate bench`
// and `roomstate compare` drive it. It knows the engine, tiles, server and
// store as a client does; it must not reach into their internals.
package bench

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/paulmach/orb"
	"github.com/roomstate/roomstate/city"
	"github.com/roomstate/roomstate/engine"
	"github.com/roomstate/roomstate/region"
)

// Config describes a benchmark run.
type Config struct {
	N        int       // dwellings of the generated city
	Seed     uint64    // of the city and the query polygons
	City     city.Kind // layout of the city (zero: disc)
	Extent   orb.Bound // a realistic city fills this box when not zero (city.Config.Extent)
	Polygons int       // random query polygons per size class (default 40)
	// RealCommunities is how many of a realistic city's community
	// boundaries are query polygons (default 200; all its streets are)
	RealCommunities int
	// BandHeight of the engine's row bands (0: the engine's default)
	BandHeight int32
}

// Query is a prepared query polygon with the number of dwellings inside.
type Query struct {
	Geometry orb.MultiPolygon
	Region   *region.Region
	Inside   int64
	Vertices int
	Holes    int
	// Unit is the boundary's unit, for a realistic city's own boundaries
	// (its level and id; zero otherwise)
	Unit engine.Boundary
}

// Fixture is a loaded city with its query polygons.
type Fixture struct {
	Cfg  Config
	City *city.City
	W    *engine.Writer // the city's engine, changed in process by the update workloads
	Eng  *engine.Engine // its read-only view
	// Polygons by class: community, street, district (random, by size);
	// on a realistic city also real-community and real-street (its own
	// boundaries), each sorted by vertices
	Polygons  map[string][]Query
	Buildings []string      // building ids, in a random order
	Load      time.Duration // generating and loading the city
}

// Classes of query polygons, in report order.
const (
	ClassCommunity     = "community"
	ClassStreet        = "street"
	ClassDistrict      = "district"
	ClassRealCommunity = "real-community"
	ClassRealStreet    = "real-street"
)

// Classes lists the polygon classes in report order.
var Classes = []string{ClassCommunity, ClassStreet, ClassDistrict, ClassRealCommunity, ClassRealStreet}

// RealClasses are the classes of real-shaped polygons.
var RealClasses = []string{ClassRealCommunity, ClassRealStreet}

// VertexClass names the vertex-count class of a polygon: 3-31, 32-127,
// 128-511, 512-2047 or 2048+ (vertices of all rings, closing positions not
// counted).
func VertexClass(v int) string {
	switch {
	case v < 32:
		return "v3-31"
	case v < 128:
		return "v32-127"
	case v < 512:
		return "v128-511"
	case v < 2048:
		return "v512-2047"
	}
	return "v2048+"
}

// VertexClasses lists the vertex classes in order.
var VertexClasses = []string{"v3-31", "v32-127", "v128-511", "v512-2047", "v2048+"}

// Size classes of query polygons, by the number of dwellings inside
// (PERFORMANCE.md): community 1–5 k, street 30–80 k, district a quarter of
// the city and at least 200 k.
func sizeClasses(n int) []struct {
	Name     string
	Lo, Hi   int64
	Vertices [2]int
} {
	district := int64(n / 4)
	return []struct {
		Name     string
		Lo, Hi   int64
		Vertices [2]int
	}{
		{"community", 1_000, 5_000, [2]int{16, 48}},
		{"street", 30_000, 80_000, [2]int{48, 160}},
		{"district", district, district * 3 / 2, [2]int{96, 320}},
	}
}

// Expressions are the `where` expressions of the workloads besides none.
var Expressions = []string{"isolated", "elderly_alone & !vaccinated", "(rental | isolated) & !elderly_alone"}

// NewFixture generates the city, loads it and prepares query polygons.
func NewFixture(cfg Config) (*Fixture, error) {
	if cfg.Polygons <= 0 {
		cfg.Polygons = 40
	}
	if cfg.RealCommunities <= 0 {
		cfg.RealCommunities = 200
	}
	start := time.Now()
	c := city.New(city.Config{N: cfg.N, Seed: cfg.Seed, Kind: cfg.City, Extent: cfg.Extent})
	b, err := c.Batch()
	if err != nil {
		return nil, err
	}
	e := engine.New(engine.Options{BandHeight: cfg.BandHeight})
	if err := e.Load(b); err != nil {
		return nil, err
	}
	bounds := c.Boundaries()
	if err := e.AddBoundaries(bounds); err != nil {
		return nil, err
	}
	f := &Fixture{Cfg: cfg, City: c, W: e, Eng: e.Engine, Polygons: map[string][]Query{}, Load: time.Since(start)}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0xbe7c))
	var centres []orb.Point
	var ids strings.Builder // the building ids in one string: one object, not one an id
	var ends []int
	_ = c.Dwellings(func(r *engine.Record) error {
		if r.Floor == 1 && r.Unit == "1" && r.Room[len(r.Room)-1] == '1' {
			centres = append(centres, orb.Point{r.Lon, r.Lat})
			ids.WriteString(r.Building)
			ends = append(ends, ids.Len())
		}
		return nil
	})
	all, from := ids.String(), 0
	f.Buildings = make([]string, 0, len(ends))
	for _, end := range ends {
		f.Buildings = append(f.Buildings, all[from:end])
		from = end
	}
	rng.Shuffle(len(f.Buildings), func(i, j int) { f.Buildings[i], f.Buildings[j] = f.Buildings[j], f.Buildings[i] })
	for _, sc := range sizeClasses(cfg.N) {
		for tries := 0; len(f.Polygons[sc.Name]) < cfg.Polygons && tries < cfg.Polygons*20; tries++ {
			q, ok := f.makeQuery(rng, centres[rng.IntN(len(centres))], sc.Lo, sc.Hi, sc.Vertices)
			if ok {
				f.Polygons[sc.Name] = append(f.Polygons[sc.Name], q)
			}
		}
		if len(f.Polygons[sc.Name]) == 0 {
			return nil, fmt.Errorf("bench: no %s-sized polygon found in a city of %d", sc.Name, cfg.N)
		}
	}
	if cfg.City == city.Realistic {
		if err := f.addRealPolygons(rng, bounds); err != nil {
			return nil, err
		}
	}
	runtime.GC()
	return f, nil
}

// addRealPolygons makes the city's own boundaries query polygons: every
// street and a sample of the communities.
func (f *Fixture) addRealPolygons(rng *rand.Rand, bounds []engine.Boundary) error {
	var comms []engine.Boundary
	for _, b := range bounds {
		switch b.Level {
		case engine.LevelStreet:
			q, err := f.queryOf(b.Geometry)
			if err != nil {
				return fmt.Errorf("bench: street %s: %w", b.ID, err)
			}
			q.Unit = engine.Boundary{Level: b.Level, ID: b.ID}
			f.Polygons[ClassRealStreet] = append(f.Polygons[ClassRealStreet], q)
		case engine.LevelCommunity:
			comms = append(comms, b)
		}
	}
	rng.Shuffle(len(comms), func(i, j int) { comms[i], comms[j] = comms[j], comms[i] })
	for _, b := range comms[:min(len(comms), f.Cfg.RealCommunities)] {
		q, err := f.queryOf(b.Geometry)
		if err != nil {
			return fmt.Errorf("bench: community %s: %w", b.ID, err)
		}
		q.Unit = engine.Boundary{Level: b.Level, ID: b.ID}
		f.Polygons[ClassRealCommunity] = append(f.Polygons[ClassRealCommunity], q)
	}
	for _, class := range RealClasses {
		// by vertices, ties in the order made: the guard takes polygons of all sizes from it
		slices.SortStableFunc(f.Polygons[class], func(a, b Query) int { return a.Vertices - b.Vertices })
	}
	return nil
}

// queryOf prepares a query polygon and counts the dwellings inside.
func (f *Fixture) queryOf(mp orb.MultiPolygon) (Query, error) {
	rg, err := region.New(mp)
	if err != nil {
		return Query{}, err
	}
	var res engine.PolygonResult
	if err := f.Eng.PolygonStats(&engine.PolygonQuery{Region: rg}, &res); err != nil {
		return Query{}, err
	}
	q := Query{Geometry: mp, Region: rg, Inside: res.Total}
	for _, p := range mp {
		q.Holes += len(p) - 1
		for _, r := range p {
			q.Vertices += len(r) - 1
		}
	}
	return q, nil
}

// Spread returns k polygons of qs (sorted by vertices) spread evenly over
// it, so they span its vertex counts.
func Spread(qs []Query, k int) []Query {
	if len(qs) <= k {
		return qs
	}
	out := make([]Query, k)
	for i := range out {
		out[i] = qs[i*(len(qs)-1)/max(1, k-1)]
	}
	return out
}

// makeQuery grows an irregular star polygon around c until it holds lo–hi
// dwellings; a third get a hole.
func (f *Fixture) makeQuery(rng *rand.Rand, c orb.Point, lo, hi int64, vr [2]int) (Query, bool) {
	nv := vr[0] + rng.IntN(vr[1]-vr[0]+1)
	angles := make([]float64, nv)
	radii := make([]float64, nv)
	for i := range angles {
		angles[i] = 2 * math.Pi * (float64(i) + 0.7*rng.Float64()) / float64(nv)
		radii[i] = 0.45 + 0.55*rng.Float64() // concave
	}
	kx := 1 / math.Cos(c[1]*math.Pi/180)
	shape := func(scale float64, ang, rad []float64, rot float64) orb.Ring {
		r := make(orb.Ring, 0, len(ang)+1)
		for i := range ang {
			a := ang[i] + rot
			r = append(r, orb.Point{round7(c[0] + scale*rad[i]*math.Cos(a)*kx), round7(c[1] + scale*rad[i]*math.Sin(a))})
		}
		return append(r, r[0])
	}
	count := func(mp orb.MultiPolygon) (int64, *region.Region) {
		rg, err := region.New(mp)
		if err != nil {
			return -1, nil
		}
		var res engine.PolygonResult
		if err := f.Eng.PolygonStats(&engine.PolygonQuery{Region: rg}, &res); err != nil {
			return -1, nil
		}
		return res.Total, rg
	}
	target := (lo + hi) / 2
	sLo, sHi := 0.0001, 2.0
	var scale float64
	for it := 0; it < 40; it++ {
		scale = math.Sqrt(sLo * sHi)
		n, _ := count(orb.MultiPolygon{{shape(scale, angles, radii, 0)}})
		if n < 0 {
			return Query{}, false
		}
		if n < target {
			sLo = scale
		} else {
			sHi = scale
		}
		if n >= lo && n <= hi && it > 6 {
			break
		}
	}
	poly := orb.Polygon{shape(scale, angles, radii, 0)}
	if rng.IntN(3) == 0 {
		hn := 6 + rng.IntN(10)
		ha, hr := make([]float64, hn), make([]float64, hn)
		for i := range ha {
			ha[i] = 2 * math.Pi * float64(i) / float64(hn)
			hr[i] = 0.12 + 0.15*rng.Float64()
		}
		hole := shape(scale, ha, hr, 0.3)
		slices.Reverse(hole)
		poly = append(poly, hole)
	}
	mp := orb.MultiPolygon{poly}
	n, rg := count(mp)
	if n < lo || n > hi {
		return Query{}, false
	}
	q := Query{Geometry: mp, Region: rg, Inside: n, Holes: len(poly) - 1}
	for _, r := range poly {
		q.Vertices += len(r) - 1
	}
	return q, true
}

func round7(v float64) float64 { return math.Round(v*1e7) / 1e7 }

// Workload is one measured operation; Op performs the i-th operation.
type Workload struct {
	Name   string
	Op     func(i int) error
	Target time.Duration // p50 target of PERFORMANCE.md at 10 M, 0 when none
	// Timed, when set instead of Op, performs the i-th operation and
	// returns how long its measured part took (for operations that must
	// prepare something first, such as a polygon never sent before).
	Timed func(i int) (time.Duration, error)
}

// Do performs the i-th operation and returns how long it took.
func (w *Workload) Do(i int) (time.Duration, error) {
	if w.Timed != nil {
		return w.Timed(i)
	}
	t := time.Now()
	err := w.Op(i)
	return time.Since(t), err
}

// Result is the measurement of a workload.
type Result struct {
	Name      string  `json:"name"`
	Ops       int     `json:"ops"`
	P50us     float64 `json:"p50_us"`
	P99us     float64 `json:"p99_us"`
	MeanUS    float64 `json:"mean_us"`
	OpsPerSec float64 `json:"ops_per_sec"`
	TargetUS  float64 `json:"target_us,omitempty"`
	Note      string  `json:"note,omitempty"`
	CPUus     float64 `json:"cpu_us,omitempty"` // CPU time of the process per operation, when measured
}

// Run measures w for about d (and at least minOps operations).
func Run(w Workload, d time.Duration, minOps int) (Result, error) {
	// warm up: caches, rank indexes
	for i := 0; i < 3; i++ {
		if _, err := w.Do(i); err != nil {
			return Result{}, fmt.Errorf("%s: %w", w.Name, err)
		}
	}
	var durs []time.Duration
	start := time.Now()
	for i := 3; i < minOps+3 || time.Since(start) < d; i++ {
		t, err := w.Do(i)
		if err != nil {
			return Result{}, fmt.Errorf("%s: %w", w.Name, err)
		}
		durs = append(durs, t)
		if i > 5_000_000 {
			break
		}
	}
	total := time.Since(start)
	return Summarise(w.Name, durs, total, w.Target), nil
}

// Summarise turns per-operation durations into a Result.
func Summarise(name string, durs []time.Duration, total time.Duration, target time.Duration) Result {
	slices.Sort(durs)
	var sum time.Duration
	for _, d := range durs {
		sum += d
	}
	us := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }
	r := Result{Name: name, Ops: len(durs), TargetUS: us(target)}
	if len(durs) > 0 {
		r.P50us = us(durs[len(durs)/2])
		r.P99us = us(durs[min(len(durs)-1, len(durs)*99/100)])
		r.MeanUS = us(sum / time.Duration(len(durs)))
		r.OpsPerSec = float64(len(durs)) / total.Seconds()
	}
	return r
}

// EngineWorkloads lists the in-process query workloads: polygon statistics
// per size class without and with each expression, the same by brute force,
// grid aggregation and room-state maps.
func (f *Fixture) EngineWorkloads() []Workload {
	var ws []Workload
	targets := map[string]time.Duration{"community": 20 * time.Microsecond, "district": 500 * time.Microsecond}
	for _, class := range []string{"community", "street", "district"} {
		qs := f.Polygons[class]
		for wi, where := range append([]string{""}, Expressions...) {
			name := "polygon/" + class
			if where != "" {
				name += fmt.Sprintf("/where%d", wi)
			}
			var res engine.PolygonResult
			ws = append(ws, Workload{Name: name, Target: targets[class], Op: func(i int) error {
				q := engine.PolygonQuery{Region: qs[i%len(qs)].Region, Where: where}
				return f.Eng.PolygonStats(&q, &res)
			}})
		}
	}
	ws = append(ws, f.afterUpdates()...)
	ws = append(ws, f.RealWorkloads()...)
	ws = append(ws, f.BruteWorkloads()...)
	ws = append(ws,
		Workload{Name: "grid/500m", Target: 20 * time.Millisecond, Op: func(int) error {
			_, err := f.Eng.Grid(&engine.GridQuery{CellM: 500})
			return err
		}},
		Workload{Name: "grid/500m/where", Target: 20 * time.Millisecond, Op: func(int) error {
			_, err := f.Eng.Grid(&engine.GridQuery{CellM: 500, Where: "isolated"})
			return err
		}},
		Workload{Name: "grid/community", Target: 2 * time.Millisecond, Op: func(int) error {
			_, err := f.Eng.Grid(&engine.GridQuery{Level: "community"})
			return err
		}},
		Workload{Name: "grid/community/where", Target: 2 * time.Millisecond, Op: func(int) error {
			_, err := f.Eng.Grid(&engine.GridQuery{Level: "community", Where: "elderly_alone & !vaccinated"})
			return err
		}},
		Workload{Name: "roomstate/building", Target: 10 * time.Microsecond, Op: func(i int) error {
			_, err := f.Eng.BuildingRoomState(f.Buildings[i%len(f.Buildings)], "default", engine.AsOf{})
			return err
		}},
	)
	return ws
}

// afterUpdates are street polygons with a where, each asked right after a
// batch of 1,000 random flag changes (applied as the store's committer
// applies them, not timed): what an analyst's query costs while grid
// workers change the city, the counting structures of its where brought up
// to date first.
func (f *Fixture) afterUpdates() []Workload {
	var once sync.Once
	var ids []string
	rng := rand.New(rand.NewPCG(11, 11))
	qs := f.Polygons[ClassStreet]
	var res engine.PolygonResult
	return []Workload{{Name: "polygon/street/where1/after-updates", Timed: func(i int) (time.Duration, error) {
		once.Do(func() { ids = f.ids(100_000) })
		p := f.W.Prepare([]engine.Request{{Ops: randomFlagOps(rng, ids, 1000)}})
		if p.Errs[0] != nil {
			return 0, p.Errs[0]
		}
		f.W.Commit(p, time.Now())
		f.W.Maintain()
		start := time.Now()
		err := f.Eng.PolygonStats(&engine.PolygonQuery{Region: qs[i%len(qs)].Region, Where: Expressions[0]}, &res)
		return time.Since(start), err
	}}}
}

// RealWorkloads are polygon statistics over the real-shaped polygons of a
// realistic city (none on the disc): per class over all its polygons
// ("polygon/real-street"), per class and vertex class
// ("polygon/real-street/v512-2047"), and per class with a where.
func (f *Fixture) RealWorkloads() []Workload {
	var ws []Workload
	for _, class := range append(RealClasses, ClassExtra) {
		byV := map[string][]Query{}
		for _, q := range f.Polygons[class] {
			byV[VertexClass(q.Vertices)] = append(byV[VertexClass(q.Vertices)], q)
		}
		if all := f.Polygons[class]; len(all) > 0 {
			var res engine.PolygonResult
			ws = append(ws, Workload{Name: "polygon/" + class, Op: func(i int) error {
				return f.Eng.PolygonStats(&engine.PolygonQuery{Region: all[i%len(all)].Region}, &res)
			}})
		}
		for _, vc := range VertexClasses {
			qs := byV[vc]
			if len(qs) == 0 {
				continue
			}
			var res engine.PolygonResult
			ws = append(ws, Workload{Name: "polygon/" + class + "/" + vc, Op: func(i int) error {
				return f.Eng.PolygonStats(&engine.PolygonQuery{Region: qs[i%len(qs)].Region}, &res)
			}})
		}
		if qs := f.Polygons[class]; len(qs) > 0 {
			var res engine.PolygonResult
			ws = append(ws, Workload{Name: "polygon/" + class + "/where", Op: func(i int) error {
				return f.Eng.PolygonStats(&engine.PolygonQuery{Region: qs[i%len(qs)].Region, Where: Expressions[0]}, &res)
			}})
		}
	}
	return ws
}

// BruteWorkloads are the polygon workloads answered by testing every
// dwelling (after a bounding-box check): the baseline the CI guard compares
// with, for every class the fixture has.
func (f *Fixture) BruteWorkloads() []Workload {
	var ws []Workload
	for _, class := range Classes {
		qs := f.Polygons[class]
		if len(qs) == 0 {
			continue
		}
		ws = append(ws, Workload{Name: "brute/" + class, Op: func(i int) error {
			_, err := f.Eng.BruteStats(qs[i%len(qs)].Region, "")
			return err
		}})
	}
	return ws
}
