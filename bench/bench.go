// Package bench is the benchmark harness of PERFORMANCE.md as a library: a
// Fixture generates (or loads) the reference city and its query polygons,
// Workloads name the operations measured, and Run measures one with p50, p99
// and throughput. It has no globals; `go test -bench` and `roomstate bench`
// both drive it.
package bench

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"time"

	"github.com/paulmach/orb"
	"github.com/roomstate/roomstate/city"
	"github.com/roomstate/roomstate/engine"
	"github.com/roomstate/roomstate/region"
)

// Config describes a benchmark run.
type Config struct {
	N        int    // dwellings of the generated city
	Seed     uint64 // of the city and the query polygons
	Polygons int    // query polygons per size class (default 40)
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
}

// Fixture is a loaded city with its query polygons.
type Fixture struct {
	Cfg       Config
	City      *city.City
	W         *engine.Writer     // the city's engine, changed in process by the update workloads
	Eng       *engine.Engine     // its read-only view
	Polygons  map[string][]Query // by size class: community, street, district
	Buildings []string           // building ids, in a random order
	Load      time.Duration      // generating and loading the city
}

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
	start := time.Now()
	c := city.New(city.Config{N: cfg.N, Seed: cfg.Seed})
	b, err := c.Batch()
	if err != nil {
		return nil, err
	}
	e := engine.New(engine.Options{BandHeight: cfg.BandHeight})
	if err := e.Load(b); err != nil {
		return nil, err
	}
	if err := e.AddBoundaries(c.Boundaries()); err != nil {
		return nil, err
	}
	f := &Fixture{Cfg: cfg, City: c, W: e, Eng: e.Engine, Polygons: map[string][]Query{}, Load: time.Since(start)}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0xbe7c))
	var centres []orb.Point
	_ = c.Dwellings(func(r *engine.Record) error {
		if r.Floor == 1 && r.Unit == "1" && r.Room[len(r.Room)-1] == '1' {
			centres = append(centres, orb.Point{r.Lon, r.Lat})
			f.Buildings = append(f.Buildings, r.Building)
		}
		return nil
	})
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
	runtime.GC()
	return f, nil
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
		if err := w.Op(i); err != nil {
			return Result{}, fmt.Errorf("%s: %w", w.Name, err)
		}
	}
	var durs []time.Duration
	start := time.Now()
	for i := 0; i < minOps || time.Since(start) < d; i++ {
		t := time.Now()
		if err := w.Op(i); err != nil {
			return Result{}, fmt.Errorf("%s: %w", w.Name, err)
		}
		durs = append(durs, time.Since(t))
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

// BruteWorkloads are the polygon workloads answered by testing every
// dwelling (after a bounding-box check): the baseline the CI guard compares with.
func (f *Fixture) BruteWorkloads() []Workload {
	var ws []Workload
	for _, class := range []string{"community", "street", "district"} {
		qs := f.Polygons[class]
		ws = append(ws, Workload{Name: "brute/" + class, Op: func(i int) error {
			_, err := f.Eng.BruteStats(qs[i%len(qs)].Region, "")
			return err
		}})
	}
	return ws
}
