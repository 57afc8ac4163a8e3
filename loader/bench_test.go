package loader

import (
	"bytes"
	"sync"
	"testing"

	"github.com/roomstate/roomstate/city"
)

var (
	benchOnce sync.Once
	benchCSV  []byte
	benchRows int
)

// cityCSV is the synthetic city of about 1 M dwellings as CSV, made once.
func cityCSV(b *testing.B) []byte {
	benchOnce.Do(func() {
		var buf bytes.Buffer
		c := city.New(city.Config{N: 1_000_000, Seed: 1})
		if err := c.WriteCSV(&buf); err != nil {
			b.Fatal(err)
		}
		benchCSV, benchRows = buf.Bytes(), c.Size()
	})
	return benchCSV
}

// BenchmarkLoadCSV reads 1 M dwellings from CSV in memory into a batch: the
// loader's own speed, without the disk or the engine's build.
func BenchmarkLoadCSV(b *testing.B) {
	data := cityCSV(b)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	for b.Loop() {
		batch, err := ReadCSV("city.csv", bytes.NewReader(data), int64(len(data)), Options{})
		if err != nil {
			b.Fatal(err)
		}
		if batch.Len() != benchRows {
			b.Fatalf("%d rows, want %d", batch.Len(), benchRows)
		}
	}
	// CPU time is steadier than wall time on a shared machine
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
}
