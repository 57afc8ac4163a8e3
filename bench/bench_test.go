package bench

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/roomstate/roomstate/city"
)

// The fixtures of `go test -bench`: ROOMSTATE_BENCH_N dwellings (default
// 1 M), the disc city and the realistic one.
var (
	fixOnce, realOnce sync.Once
	fix, realFix      *Fixture
	fixErr, realErr   error
)

func benchConfig() Config {
	n := 1_000_000
	if s := os.Getenv("ROOMSTATE_BENCH_N"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	var band int
	if s := os.Getenv("ROOMSTATE_BENCH_BAND"); s != "" {
		band, _ = strconv.Atoi(s)
	}
	return Config{N: n, Seed: 1, BandHeight: int32(band)}
}

func fixture(b *testing.B) *Fixture {
	fixOnce.Do(func() { fix, fixErr = NewFixture(benchConfig()) })
	if fixErr != nil {
		b.Fatal(fixErr)
	}
	return fix
}

func realFixture(b *testing.B) *Fixture {
	realOnce.Do(func() {
		cfg := benchConfig()
		cfg.City = city.Realistic
		realFix, realErr = NewFixture(cfg)
	})
	if realErr != nil {
		b.Fatal(realErr)
	}
	return realFix
}

// benchWorkloads runs each workload as a sub-benchmark, reporting p50 and p99.
func benchWorkloads(b *testing.B, ws []Workload) {
	for _, w := range ws {
		b.Run(w.Name, func(b *testing.B) {
			b.ReportAllocs()
			durs := make([]time.Duration, 0, b.N)
			start := time.Now()
			for i := 0; i < b.N; i++ {
				t, err := w.Do(i)
				if err != nil {
					b.Fatal(err)
				}
				durs = append(durs, t)
			}
			r := Summarise(w.Name, durs, time.Since(start), w.Target)
			b.ReportMetric(r.P50us, "p50-µs")
			b.ReportMetric(r.P99us, "p99-µs")
		})
	}
}

// BenchmarkEngine: polygon statistics per size class (with and without
// `where`), brute force, grid aggregation and room-state maps.
func BenchmarkEngine(b *testing.B) {
	f := fixture(b)
	b.Logf("city: %d dwellings, %d buildings; polygons: %d per class", f.Eng.Len(), f.City.Buildings(), len(f.Polygons["community"]))
	benchWorkloads(b, f.EngineWorkloads())
}

// BenchmarkRealistic: the same workloads on the realistic city, with its
// own street and community boundaries as query polygons by vertex class
// (polygon/real-street/v512-2047 …) and their brute-force baseline.
func BenchmarkRealistic(b *testing.B) {
	f := realFixture(b)
	b.Logf("realistic city: %d dwellings, %d buildings; %d real streets, %d real communities", f.Eng.Len(), f.City.Buildings(),
		len(f.Polygons[ClassRealStreet]), len(f.Polygons[ClassRealCommunity]))
	benchWorkloads(b, f.EngineWorkloads())
}

// TestRealisticFixture: the realistic city's own boundaries are query
// polygons, counted as brute force counts them, in vertex classes, and
// Spread picks across their sizes.
func TestRealisticFixture(t *testing.T) {
	f, err := NewFixture(Config{N: 150_000, Seed: 3, City: city.Realistic, Polygons: 2, RealCommunities: 30})
	if err != nil {
		t.Fatal(err)
	}
	streets, comms := f.Polygons[ClassRealStreet], f.Polygons[ClassRealCommunity]
	if len(streets) != 5 || len(comms) != 30 {
		t.Fatalf("%d real streets, %d real communities; want 5 and 30", len(streets), len(comms))
	}
	classes := map[string]int{}
	for _, class := range RealClasses {
		for _, q := range f.Polygons[class] {
			c, err := f.Eng.BruteStats(q.Region, "")
			if err != nil || c.Total != q.Inside {
				t.Fatalf("%s of %d vertices: engine %d, brute force %d (%v)", class, q.Vertices, q.Inside, c.Total, err)
			}
			classes[class+"/"+VertexClass(q.Vertices)]++
		}
		qs := f.Polygons[class]
		sp := Spread(qs, 4)
		if len(sp) != 4 || sp[0].Vertices != qs[0].Vertices || sp[3].Vertices != qs[len(qs)-1].Vertices {
			t.Fatalf("Spread of %s does not span it", class)
		}
	}
	t.Logf("vertex classes: %v", classes)
	names := map[string]bool{}
	for _, w := range f.RealWorkloads() {
		names[w.Name] = true
		if _, err := w.Do(0); err != nil {
			t.Fatal(err)
		}
	}
	if !names["polygon/real-street"] || !names["polygon/real-community/where"] || len(names) < 5 {
		t.Fatalf("real workloads: %v", names)
	}
	for _, w := range f.BruteWorkloads() {
		names[w.Name] = true
	}
	if !names["brute/real-street"] {
		t.Fatalf("no brute-force baseline for real streets: %v", names)
	}
}

func TestVertexClass(t *testing.T) {
	for v, want := range map[int]string{4: "v3-31", 31: "v3-31", 32: "v32-127", 511: "v128-511", 512: "v512-2047", 5000: "v2048+"} {
		if got := VertexClass(v); got != want {
			t.Errorf("VertexClass(%d) = %s, want %s", v, got, want)
		}
	}
}

func TestFixturePolygonsInRange(t *testing.T) {
	f, err := NewFixture(Config{N: 200_000, Seed: 2, Polygons: 5})
	if err != nil {
		t.Fatal(err)
	}
	for _, sc := range sizeClasses(200_000) {
		qs := f.Polygons[sc.Name]
		if len(qs) != 5 {
			t.Fatalf("%s: %d polygons", sc.Name, len(qs))
		}
		for _, q := range qs {
			if q.Inside < sc.Lo || q.Inside > sc.Hi {
				t.Fatalf("%s polygon holds %d, want %d–%d", sc.Name, q.Inside, sc.Lo, sc.Hi)
			}
			// the engine agrees with the brute force on them
			c, _ := f.Eng.BruteStats(q.Region, "")
			if c.Total != q.Inside {
				t.Fatalf("%s: engine %d, brute force %d", sc.Name, q.Inside, c.Total)
			}
		}
	}
}

// BenchmarkUpdates: in-process flag changes, durable NDJSON batches and
// single PATCHes over HTTP, and reopening a data directory. It changes the
// fixture's flags, so it runs after BenchmarkEngine.
func BenchmarkUpdates(b *testing.B) {
	f := fixture(b)
	b.Run("in-process", func(b *testing.B) { benchInProcessUpdates(b, f) })
	d, err := f.StartDurable()
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	b.Run("durable-batch-http", func(b *testing.B) {
		r, perSec, err := d.BatchThroughput(4, 1000, 2*time.Second)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(perSec, "updates/s")
		b.ReportMetric(r.P50us, "p50-µs/batch")
	})
	b.Run("durable-patch-http", func(b *testing.B) {
		r, err := d.PatchLatency(2 * time.Second)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(r.P50us, "p50-µs")
		b.ReportMetric(r.P99us, "p99-µs")
	})
	b.Run("reopen", func(b *testing.B) {
		w, r, size, err := f.Reopen()
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(w.Seconds(), "snapshot-s")
		b.ReportMetric(r.Seconds(), "reopen-s")
		b.ReportMetric(float64(size)/float64(f.Eng.Len()), "bytes/dwelling")
	})
}

// BenchmarkRealisticUpdates: in-process flag changes on the realistic
// city (dense centre, compounds of very different sizes), as
// BenchmarkUpdates/in-process does on the disc.
func BenchmarkRealisticUpdates(b *testing.B) { benchInProcessUpdates(b, realFixture(b)) }

// BenchmarkRealisticCollect: one garbage collection of the process holding
// the realistic city's engine (and the fixture's generator, a benchmark's
// own: some hundreds of thousands of objects a server does not hold), forced,
// as the collector runs one every second or two under a stream of changes;
// the engine's objects are what it marks. Run it first or alone: other
// workloads leave garbage of their own.
func BenchmarkRealisticCollect(b *testing.B) {
	realFixture(b)
	runtime.GC()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		runtime.GC()
	}
}

// benchInProcessUpdates measures f's in-process flag changes in batches of
// 1,000 and reports changes per second, p50 and CPU a batch.
func benchInProcessUpdates(b *testing.B, f *Fixture) {
	r, perSec, err := f.InProcessUpdates(1000, time.Second)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(perSec, "updates/s")
	b.ReportMetric(r.P50us, "p50-µs/batch")
	b.ReportMetric(r.CPUus, "cpu-µs/batch")
	b.ReportMetric(r.MeanUS, "mean-µs/batch")
	b.ReportMetric(r.P99us, "p99-µs/batch")
}

// BenchmarkTiles: uncached tile rendering.
func BenchmarkTiles(b *testing.B) {
	benchWorkloads(b, fixture(b).TileWorkloads())
}

// BenchmarkRealisticTiles: the tile workloads on the realistic city, whose
// dense centre and ragged boundaries make heavier tiles than the disc's.
func BenchmarkRealisticTiles(b *testing.B) {
	benchWorkloads(b, realFixture(b).TileWorkloads())
}

// BenchmarkReplicas: the update workloads through a JetStream stream (one
// NATS server, then a cluster of three on loopback with the stream kept
// three times), with a follower applying them: durable NDJSON batches and
// single PATCHes to the leader over HTTP, the follower's lag meanwhile
// (how long it takes to reach each version the leader had), and a new
// node catching up from the seed snapshot and every change since.
// ROOMSTATE_BENCH_NATS=1 or 3 runs one of the two.
func BenchmarkReplicas(b *testing.B) {
	f := fixture(b)
	sizes := []int{1, 3}
	if s := os.Getenv("ROOMSTATE_BENCH_NATS"); s != "" {
		n, _ := strconv.Atoi(s)
		sizes = []int{n}
	}
	for _, nodes := range sizes {
		b.Run(fmt.Sprintf("nats%d", nodes), func(b *testing.B) {
			r, err := f.StartReplicas(nodes)
			if err != nil {
				b.Fatal(err)
			}
			defer r.Close()
			b.Run("durable-batch-http", func(b *testing.B) {
				s := r.SampleLag()
				res, perSec, err := r.Leader.BatchThroughput(4, 1000, 3*time.Second)
				time.Sleep(time.Second) // the follower finishes
				lags := s.Stop()
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(perSec, "updates/s")
				b.ReportMetric(res.P50us, "p50-µs/batch")
				b.ReportMetric(res.P99us, "p99-µs/batch")
				b.ReportMetric(float64(Percentile(lags, 50).Microseconds())/1000, "lag-p50-ms")
				b.ReportMetric(float64(Percentile(lags, 99).Microseconds())/1000, "lag-p99-ms")
			})
			b.Run("durable-patch-http", func(b *testing.B) {
				res, err := r.Leader.PatchLatency(2 * time.Second)
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(res.P50us, "p50-µs")
				b.ReportMetric(res.P99us, "p99-µs")
			})
			b.Run("catch-up", func(b *testing.B) {
				changes := r.LeaderSt.Engine().Version()
				restore, done, err := r.CatchUp()
				if err != nil {
					b.Fatal(err)
				}
				b.Logf("a new node: snapshot of %d dwellings restored in %v, %d versions in all, caught up in %v",
					f.Eng.Len(), restore.Round(time.Millisecond), changes, done.Round(time.Millisecond))
				b.ReportMetric(restore.Seconds(), "restore-s")
				b.ReportMetric(done.Seconds(), "caught-up-s")
			})
		})
	}
}

// BenchmarkCampaigns: with responsibility assigned and the ten campaigns of
// CampaignDefs running (1–20 % of the city each) and progress made, the
// answers of a campaign by street and by grid and of coverage by grid, the
// memory the campaigns hold, and in-process flag updates with them
// running. It changes the fixture, so it runs only when
// ROOMSTATE_BENCH_CAMPAIGNS is set, and best alone:
//
//	ROOMSTATE_BENCH_CAMPAIGNS=1 ROOMSTATE_BENCH_N=10000000 go test -run '^$' -bench Campaigns ./bench
func BenchmarkCampaigns(b *testing.B) {
	if os.Getenv("ROOMSTATE_BENCH_CAMPAIGNS") == "" {
		b.Skip("set ROOMSTATE_BENCH_CAMPAIGNS=1 (it changes the fixture)")
	}
	f := fixture(b)
	s, err := f.SetUpCampaigns(500_000)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("city: %d dwellings; %d campaigns started in %v, tasks %v; %d changes since", f.Eng.Len(), len(s.Names), s.Took, s.Tasks, s.Changes)
	b.Logf("campaigns hold %.1f MB (the engine's count), heap grew %.1f MB: %.1f MB a campaign", float64(s.Bytes)/1e6,
		float64(s.HeapBytes)/1e6, float64(s.Bytes)/1e6/float64(len(s.Names)))
	b.Run("memory", func(b *testing.B) {
		b.ReportMetric(float64(s.Bytes)/float64(len(s.Names)), "bytes/campaign")
		b.ReportMetric(float64(s.HeapBytes)/float64(len(s.Names)), "heap-bytes/campaign")
	})
	benchWorkloads(b, f.CampaignWorkloads(s.Names))
	b.Run("updates-with-campaigns", func(b *testing.B) {
		_, perSec, err := f.InProcessUpdates(1000, time.Second)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(perSec, "updates/s")
	})
}

// BenchmarkServer: the polygon answer from request body to answer bytes
// (server time without HTTP) and region.New alone, on the realistic city's
// random and real-shaped polygons, the latter per vertex class.
func BenchmarkServer(b *testing.B) {
	f := realFixture(b)
	benchWorkloads(b, f.ServerWorkloads())
	benchWorkloads(b, f.PrepareWorkloads())
}

// TestTileSizes: every zoom has tiles, one at z0, more at z12, the largest
// gzipped no larger than raw but for gzip's own few bytes.
func TestTileSizes(t *testing.T) {
	f, err := NewFixture(Config{N: 50_000, Seed: 4, City: city.Realistic, Polygons: 1, RealCommunities: 1})
	if err != nil {
		t.Fatal(err)
	}
	sizes, err := f.TileSizes(12)
	if err != nil {
		t.Fatal(err)
	}
	if len(sizes) != 13 || sizes[0].Tiles != 1 || sizes[12].Tiles < 2 {
		t.Fatalf("sizes %+v", sizes)
	}
	for _, s := range sizes {
		if s.MaxGzipped == 0 || s.MaxGzipped > s.MaxRaw+64 {
			t.Fatalf("z%d: %+v", s.Z, s)
		}
	}
}
