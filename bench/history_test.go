package bench

import (
	"os"
	"strconv"
	"testing"

	"github.com/roomstate/roomstate/engine"
)

// BenchmarkHistory: questions about the past on a city of ROOMSTATE_BENCH_N
// dwellings (default 1 M) with ROOMSTATE_HISTORY changes (default 100,000)
// spread over 30 days: polygons now and as of a day back, a 30-point daily
// series, units as of a day back; memory per retained change; reopening a
// data directory that holds them. The fixture is its own (it changes).
func BenchmarkHistory(b *testing.B) {
	n, changes := 1_000_000, 100_000
	if s := os.Getenv("ROOMSTATE_BENCH_N"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	if s := os.Getenv("ROOMSTATE_HISTORY"); s != "" {
		changes, _ = strconv.Atoi(s)
	}
	f, err := NewFixture(Config{N: n, Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	before := HeapNow()
	now, err := f.ApplyHistory(changes)
	if err != nil {
		b.Fatal(err)
	}
	// measured in the steady state: a compaction of a 10 M city still
	// running from the last moves takes a core for seconds
	f.W.Compact()
	own, heap, kept := f.HistoryMemory(before)
	ws, err := f.HistoryWorkloads(now)
	if err != nil {
		b.Fatal(err)
	}
	qs := f.Polygons["community"]
	var res engine.PolygonResult
	ws = append([]Workload{{Name: "now/polygon/community", Op: func(i int) error {
		return f.Eng.PolygonStats(&engine.PolygonQuery{Region: qs[i%len(qs)].Region}, &res)
	}}}, ws...)
	benchWorkloads(b, ws)
	b.Run("memory", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
		}
		b.ReportMetric(own, "B/change-own")
		b.ReportMetric(heap, "B/change-heap")
		b.ReportMetric(float64(kept), "changes")
	})
	// reopening takes seconds: measured once, whatever -benchtime says
	d, sz, err := f.ReopenHistory()
	if err != nil {
		b.Fatal(err)
	}
	b.Run("reopen", func(b *testing.B) {
		b.ReportMetric(d.Seconds(), "s")
		b.ReportMetric(float64(sz)/float64(n+changes), "B/dwelling+change-on-disk")
	})
}
