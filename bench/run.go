package bench

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/paulmach/orb/maptile"
	"github.com/roomstate/roomstate/engine"
)

// RunOptions say what a full run measures and for how long.
type RunOptions struct {
	PerWorkload time.Duration // about this long each (default 1 s)
	GuardOnly   bool          // only what the CI guard needs: polygons and brute force
	PolygonOnly bool          // only polygon queries: in the engine and as the server answers them (server time)
	Log         io.Writer     // progress, one line per workload (nil: none)
}

// Report is the outcome of a run.
type Report struct {
	Machine   string             `json:"machine"`
	City      string             `json:"city"` // disc or realistic
	GoVersion string             `json:"go_version"`
	Cores     int                `json:"cores"`
	Dwellings int                `json:"dwellings"`
	Buildings int                `json:"buildings"`
	Polygons  map[string]string  `json:"polygons"` // per class: dwellings inside and vertices
	Results   []Result           `json:"results"`
	Figures   map[string]float64 `json:"figures"` // single numbers: load seconds, memory, throughputs, ratios
	Started   time.Time          `json:"started"`
	Took      float64            `json:"took_s"`
}

func (r *Report) result(name string) (Result, bool) {
	for _, x := range r.Results {
		if x.Name == name {
			return x, true
		}
	}
	return Result{}, false
}

// Ratio is brute-force p50 over engine p50 for a polygon class: the figure
// the CI guard watches, stable across machines because both run here, now.
func (r *Report) Ratio(class string) float64 {
	e, ok1 := r.result("polygon/" + class)
	b, ok2 := r.result("brute/" + class)
	if !ok1 || !ok2 || e.P50us == 0 {
		return 0
	}
	return b.P50us / e.P50us
}

func cpuModel() string {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "model name") {
			if _, v, ok := strings.Cut(line, ":"); ok {
				return strings.TrimSpace(v)
			}
		}
	}
	return runtime.GOARCH
}

// RunAll measures every workload of PERFORMANCE.md on the fixture.
func (f *Fixture) RunAll(opts RunOptions) (*Report, error) {
	if opts.PerWorkload <= 0 {
		opts.PerWorkload = time.Second
	}
	logf := func(format string, args ...any) {
		if opts.Log != nil {
			fmt.Fprintf(opts.Log, format+"\n", args...)
		}
	}
	rep := &Report{Machine: cpuModel(), City: f.City.Kind().String(), GoVersion: runtime.Version(), Cores: runtime.NumCPU(), Dwellings: f.Eng.Len(),
		Buildings: f.City.Buildings(), Figures: map[string]float64{}, Polygons: map[string]string{}, Started: time.Now()}
	for class, qs := range f.Polygons {
		lo, hi, vlo, vhi, holes := qs[0].Inside, qs[0].Inside, qs[0].Vertices, qs[0].Vertices, 0
		for _, q := range qs {
			lo, hi = min(lo, q.Inside), max(hi, q.Inside)
			vlo, vhi = min(vlo, q.Vertices), max(vhi, q.Vertices)
			holes += q.Holes
		}
		rep.Polygons[class] = fmt.Sprintf("%d polygons, %d–%d dwellings inside, %d–%d vertices, %d with a hole", len(qs), lo, hi, vlo, vhi, holes)
	}
	run := func(ws []Workload, d time.Duration, minOps int) error {
		for _, w := range ws {
			r, err := Run(w, d, minOps)
			if err != nil {
				return err
			}
			logf("%-36s p50 %10.1f µs   p99 %10.1f µs   %10.0f ops/s", r.Name, r.P50us, r.P99us, r.OpsPerSec)
			rep.Results = append(rep.Results, r)
		}
		return nil
	}
	var queries []Workload
	for _, w := range f.EngineWorkloads() {
		poly := strings.HasPrefix(w.Name, "polygon/")
		if !strings.HasPrefix(w.Name, "brute/") && (!opts.GuardOnly || poly && !strings.Contains(w.Name, "where")) && (!opts.PolygonOnly || poly) {
			queries = append(queries, w)
		}
	}
	if err := run(queries, opts.PerWorkload, 20); err != nil {
		return nil, err
	}
	if err := run(f.ServerWorkloads(), opts.PerWorkload, 20); err != nil {
		return nil, err
	}
	if ub, err := f.UnitAreaBytes(); err != nil {
		return nil, err
	} else {
		rep.Figures["unit_areas_mib"] = float64(ub) / (1 << 20)
		rep.Figures["unit_areas_bytes_per_dwelling"] = float64(ub) / float64(f.Eng.Len())
		logf("%-36s %10.1f MiB (%.1f bytes a dwelling), every unit's boundary prepared and asked once", "memory/unit-areas", float64(ub)/(1<<20), float64(ub)/float64(f.Eng.Len()))
	}
	if opts.PolygonOnly {
		rep.Took = time.Since(rep.Started).Seconds()
		return rep, nil
	}
	// brute force takes up to a second an operation at 10 M: a few suffice
	if err := run(f.BruteWorkloads(), opts.PerWorkload, 3); err != nil {
		return nil, err
	}
	for _, c := range Classes {
		if len(f.Polygons[c]) > 0 {
			rep.Figures["ratio_brute_over_engine/"+c] = rep.Ratio(c)
		}
	}
	if opts.GuardOnly {
		rep.Took = time.Since(rep.Started).Seconds()
		return rep, nil
	}
	if err := run(f.TileWorkloads(), opts.PerWorkload, 20); err != nil {
		return nil, err
	}
	sizes, err := f.TileSizes(14)
	if err != nil {
		return nil, err
	}
	for _, ts := range sizes {
		rep.Figures[fmt.Sprintf("tile_max_gzipped_kib/z%02d", ts.Z)] = float64(ts.MaxGzipped) / 1024
		rep.Figures[fmt.Sprintf("tile_max_raw_kib/z%02d", ts.Z)] = float64(ts.MaxRaw) / 1024
		logf("%-36s %10.1f KiB gzipped (%.1f KiB raw), the largest of %d tiles: %d/%d/%d", fmt.Sprintf("tile/size/z%d", ts.Z),
			float64(ts.MaxGzipped)/1024, float64(ts.MaxRaw)/1024, ts.Tiles, ts.Largest.Z, ts.Largest.X, ts.Largest.Y)
	}
	h, err := f.StartHTTP()
	if err != nil {
		return nil, err
	}
	if err := run(h.HTTPPolygonWorkloads(f), opts.PerWorkload, 20); err != nil {
		h.Close()
		return nil, err
	}
	for _, c := range Classes {
		e, ok1 := rep.result("polygon/" + c)
		w, ok2 := rep.result("http/polygon/" + c)
		if !ok1 || !ok2 {
			continue
		}
		rep.Figures["http_over_engine_p50_us/"+c] = w.P50us - e.P50us
		rep.Figures["http_target_p50_us/"+c] = 3*e.P50us + 50
	}
	dense := f.DenseTile(14)
	tps, err := h.CachedTileThroughput(maptile.New(dense.X, dense.Y, dense.Z), 32, 3*time.Second)
	h.Close()
	if err != nil {
		return nil, err
	}
	rep.Figures["cached_tile_http_req_per_s"] = tps
	logf("%-36s %10.0f requests/s (32 connections, in-process client)", "tile/cached-http", tps)
	memory := f.MemoryPerDwelling()
	rep.Figures["rss_bytes_per_dwelling"] = memory
	logf("%-36s %10.1f bytes", "memory/rss-per-dwelling", memory)
	r, perSec, err := f.InProcessUpdates(1000, opts.PerWorkload)
	if err != nil {
		return nil, err
	}
	rep.Results = append(rep.Results, r)
	rep.Figures["updates_in_process_per_s"] = perSec
	logf("%-36s %10.0f updates/s", "update/in-process", perSec)
	d, err := f.StartDurable()
	if err != nil {
		return nil, err
	}
	r, perSec, err = d.BatchThroughput(4, 1000, 2*opts.PerWorkload)
	if err != nil {
		d.Close()
		return nil, err
	}
	rep.Results = append(rep.Results, r)
	rep.Figures["updates_durable_http_per_s"] = perSec
	logf("%-36s %10.0f updates/s (NDJSON batches of 1000, 4 clients)", "update/durable-http", perSec)
	r, err = d.PatchLatency(opts.PerWorkload)
	d.Close()
	if err != nil {
		return nil, err
	}
	rep.Results = append(rep.Results, r)
	logf("%-36s p50 %10.1f µs   p99 %10.1f µs", r.Name, r.P50us, r.P99us)
	load, size, err := f.LoadCSV()
	if err != nil {
		return nil, err
	}
	rep.Figures["load_csv_s"] = load.Seconds()
	rep.Figures["load_csv_mb"] = float64(size) / (1 << 20)
	logf("%-36s %10.2f s (%d MB of CSV)", "load/csv", load.Seconds(), size>>20)
	write, reopen, snapSize, err := f.Reopen()
	if err != nil {
		return nil, err
	}
	rep.Figures["snapshot_write_s"] = write.Seconds()
	rep.Figures["reopen_s"] = reopen.Seconds()
	rep.Figures["snapshot_bytes_per_dwelling"] = float64(snapSize) / float64(f.Eng.Len())
	logf("%-36s %10.2f s (snapshot written in %.2f s, %.1f bytes per dwelling)", "reopen", reopen.Seconds(), write.Seconds(), float64(snapSize)/float64(f.Eng.Len()))
	rep.Took = time.Since(rep.Started).Seconds()
	return rep, nil
}

// WriteTable prints the report as a table.
func (rep *Report) WriteTable(w io.Writer) {
	fmt.Fprintf(w, "roomstate benchmark: %s city of %d dwellings, %d buildings; %s, %d cores, %s\n", rep.City, rep.Dwellings, rep.Buildings, rep.Machine, rep.Cores, rep.GoVersion)
	for _, c := range append(Classes, ClassExtra) {
		if p, ok := rep.Polygons[c]; ok {
			fmt.Fprintf(w, "  %-14s %s\n", c, p)
		}
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "workload\tp50 µs\tp99 µs\tops/s\ttarget p50 µs\t")
	for _, r := range rep.Results {
		target := ""
		if r.TargetUS > 0 {
			target = fmt.Sprintf("%.0f", r.TargetUS)
		}
		fmt.Fprintf(tw, "%s\t%.1f\t%.1f\t%.0f\t%s\t\n", r.Name, r.P50us, r.P99us, r.OpsPerSec, target)
	}
	tw.Flush()
	keys := make([]string, 0, len(rep.Figures))
	for k := range rep.Figures {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "%-44s %14.2f\n", k, rep.Figures[k])
	}
}

// GuardRatios measures, for each random size class, the first k polygons by
// the engine (median of 21 runs each) and by brute force (median of 3), and
// returns the brute-force total over the engine total: both on the same
// polygons, in the same run, so the ratio is steady where absolute times
// are not.
func (f *Fixture) GuardRatios(k int) (map[string]float64, error) {
	out := map[string]float64{}
	for _, class := range []string{ClassCommunity, ClassStreet, ClassDistrict} {
		r, err := f.GuardRatio(f.Polygons[class][:min(k, len(f.Polygons[class]))])
		if err != nil {
			return nil, fmt.Errorf("%s: %w", class, err)
		}
		out[class] = r
	}
	return out, nil
}

// GuardRatio is the brute-force time over the engine time on qs: for each
// polygon the median of 21 engine runs and of 3 brute-force runs, summed.
func (f *Fixture) GuardRatio(qs []Query) (float64, error) {
	median := func(n int, op func() error) (time.Duration, error) {
		ds := make([]time.Duration, 0, n)
		for i := 0; i < n; i++ {
			t := time.Now()
			if err := op(); err != nil {
				return 0, err
			}
			ds = append(ds, time.Since(t))
		}
		slices.Sort(ds)
		return ds[n/2], nil
	}
	var eng, brute time.Duration
	for _, q := range qs {
		rg := q.Region
		var res engine.PolygonResult
		e, err := median(21, func() error { return f.Eng.PolygonStats(&engine.PolygonQuery{Region: rg}, &res) })
		if err != nil {
			return 0, err
		}
		b, err := median(3, func() error { _, err := f.Eng.BruteStats(rg, ""); return err })
		if err != nil {
			return 0, err
		}
		eng += e
		brute += b
	}
	if eng == 0 {
		return 0, errors.New("bench: no polygon to guard")
	}
	return float64(brute) / float64(eng), nil
}
