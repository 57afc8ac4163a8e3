package bench

import (
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"time"

	"github.com/roomstate/roomstate/engine"
	"github.com/roomstate/roomstate/store"
)

// HistoryWindow is the span the history workloads spread their changes
// over: 30 days, so that "a day back" reaches a thirtieth of them.
const HistoryWindow = 30 * 24 * time.Hour

// ApplyHistory makes n changes to the fixture's engine, in requests of 100,
// stamped evenly over HistoryWindow after the load: mostly flags set and
// cleared, and one in fifty a dwelling moved to another building (a put).
// It returns the time of the last change (the workloads' now).
func (f *Fixture) ApplyHistory(n int) (time.Time, error) {
	rng := rand.New(rand.NewPCG(9, 9))
	ids := f.ids(200_000)
	start := time.Now()
	step := HistoryWindow / time.Duration(n)
	flags := []string{"isolated", "vaccinated", "rental", "elderly_alone"}
	t := start
	for i := 0; i < n; i += 100 {
		ops := make([]engine.Op, 0, 100)
		for j := i; j < min(i+100, n); j++ {
			id := ids[rng.IntN(len(ids))]
			if j%50 == 49 {
				d, err := f.Eng.Dwelling(id)
				if err != nil {
					return t, err
				}
				other, err := f.Eng.Dwelling(ids[rng.IntN(len(ids))])
				if err != nil {
					return t, err
				}
				ops = append(ops, engine.Op{Kind: engine.OpPut, ID: id, Put: &engine.DwellingInput{Lon: other.Lon, Lat: other.Lat,
					District: other.District, Street: other.Street, Community: other.Community, Grid: other.Grid,
					Building: other.Building, Unit: d.Unit, Floor: d.Floor, Room: d.Room, Flags: d.Flags}})
				continue
			}
			f := flags[rng.IntN(len(flags))]
			if rng.IntN(2) == 0 {
				ops = append(ops, engine.Op{Kind: engine.OpFlags, ID: id, Set: []string{f}})
			} else {
				ops = append(ops, engine.Op{Kind: engine.OpFlags, ID: id, Clear: []string{f}})
			}
		}
		t = start.Add(step * time.Duration(i+len(ops)))
		p := f.W.Prepare([]engine.Request{{Ops: ops}})
		if p.Errs[0] != nil {
			return t, p.Errs[0]
		}
		f.W.Commit(p, t)
		f.W.Maintain()
	}
	return t, nil
}

// HistoryWorkloads are the questions about the past, with now the time of
// the newest change: polygons as of a day back (and now, to compare), a
// district as of a day back, a 30-point daily series of a street.
func (f *Fixture) HistoryWorkloads(now time.Time) ([]Workload, error) {
	dayBack, err := f.Eng.VersionAt(now.Add(-24 * time.Hour))
	if err != nil {
		return nil, err
	}
	var ws []Workload
	for _, class := range []string{"community", "street", "district"} {
		qs := f.Polygons[class]
		var res engine.PolygonResult
		ws = append(ws, Workload{Name: "asof-1d/polygon/" + class, Op: func(i int) error {
			q := engine.PolygonQuery{Region: qs[i%len(qs)].Region, AsOf: engine.At(dayBack)}
			return f.Eng.PolygonStats(&q, &res)
		}})
	}
	streets, err := f.Eng.Units(engine.UnitsQuery{Level: "street"})
	if err != nil {
		return nil, err
	}
	var at []time.Time
	for d := 29; d >= 0; d-- {
		at = append(at, now.Add(-time.Duration(d)*24*time.Hour))
	}
	ws = append(ws,
		Workload{Name: "series-30d/street", Target: 10 * time.Millisecond, Op: func(i int) error {
			u := streets.Units[1+i%(len(streets.Units)-1)]
			_, _, err := f.Eng.Series(engine.SeriesQuery{Level: "street", ID: u.ID, At: at})
			return err
		}},
		Workload{Name: "series-30d/city", Op: func(i int) error {
			_, _, err := f.Eng.Series(engine.SeriesQuery{At: at})
			return err
		}},
		Workload{Name: "asof-1d/units/grid", Op: func(i int) error {
			_, err := f.Eng.Units(engine.UnitsQuery{Level: "grid", AsOf: engine.At(dayBack)})
			return err
		}},
	)
	return ws, nil
}

// HistoryMemory returns the bytes the retained history holds per change,
// measured as the history's own accounting and as the heap's growth
// (before: HeapAlloc after a collection, taken before ApplyHistory).
func (f *Fixture) HistoryMemory(before uint64) (own, heap float64, changes int) {
	_, _, changes, bytes := f.Eng.History()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return float64(bytes) / float64(changes), (float64(ms.HeapAlloc) - float64(before)) / float64(changes), changes
}

// HeapNow returns HeapAlloc after a collection.
func HeapNow() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// ReopenHistory measures a data directory holding the fixture's engine and
// its retained history: the snapshot's size per change beyond the city's,
// and the time to reopen it.
func (f *Fixture) ReopenHistory() (reopen time.Duration, snapBytes int64, err error) {
	dir, err := os.MkdirTemp("", "roomstate-history-")
	if err != nil {
		return 0, 0, err
	}
	defer os.RemoveAll(dir)
	st, err := store.Open(store.Options{Dir: dir})
	if err != nil {
		return 0, 0, err
	}
	if err := st.Restore(f.Eng.Export()); err != nil {
		st.Close()
		return 0, 0, err
	}
	if err := st.Close(); err != nil {
		return 0, 0, err
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if fi, err := e.Info(); err == nil {
			snapBytes += fi.Size()
		}
	}
	t := time.Now()
	st2, err := store.Open(store.Options{Dir: dir})
	reopen = time.Since(t)
	if err != nil {
		return 0, 0, err
	}
	_, _, n, _ := st2.Engine().History()
	_, _, want, _ := f.Eng.History()
	st2.Close()
	if n != want {
		return 0, 0, fmt.Errorf("reopened with %d retained changes, want %d", n, want)
	}
	return reopen, snapBytes, nil
}
