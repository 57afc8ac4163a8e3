package bench

import (
	"os"
	"strconv"
	"sync"
	"testing"
	"time"
)

// The fixture of `go test -bench`: ROOMSTATE_BENCH_N dwellings (default 1 M).
var (
	fixOnce sync.Once
	fix     *Fixture
	fixErr  error
)

func fixture(b *testing.B) *Fixture {
	fixOnce.Do(func() {
		n := 1_000_000
		if s := os.Getenv("ROOMSTATE_BENCH_N"); s != "" {
			n, _ = strconv.Atoi(s)
		}
		var band int
		if s := os.Getenv("ROOMSTATE_BENCH_BAND"); s != "" {
			band, _ = strconv.Atoi(s)
		}
		fix, fixErr = NewFixture(Config{N: n, Seed: 1, BandHeight: int32(band)})
	})
	if fixErr != nil {
		b.Fatal(fixErr)
	}
	return fix
}

// benchWorkloads runs each workload as a sub-benchmark, reporting p50 and p99.
func benchWorkloads(b *testing.B, ws []Workload) {
	for _, w := range ws {
		b.Run(w.Name, func(b *testing.B) {
			b.ReportAllocs()
			durs := make([]time.Duration, 0, b.N)
			start := time.Now()
			for i := 0; i < b.N; i++ {
				t := time.Now()
				if err := w.Op(i); err != nil {
					b.Fatal(err)
				}
				durs = append(durs, time.Since(t))
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
	b.Run("in-process", func(b *testing.B) {
		r, perSec, err := f.InProcessUpdates(1000, time.Second)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(perSec, "updates/s")
		b.ReportMetric(r.P50us, "p50-µs/batch")
		b.ReportMetric(r.CPUus, "cpu-µs/batch")
	})
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

// BenchmarkTiles: uncached tile rendering.
func BenchmarkTiles(b *testing.B) {
	benchWorkloads(b, fixture(b).TileWorkloads())
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
