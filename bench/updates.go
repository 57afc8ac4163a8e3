package bench

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"time"

	"github.com/roomstate/roomstate/engine"
	"github.com/roomstate/roomstate/store"
	"github.com/valyala/fasthttp"
)

// ids returns up to n dwelling ids of the city, spread over it.
func (f *Fixture) ids(n int) []string {
	var out []string
	step := max(1, f.City.Size()/n)
	i := 0
	f.City.Dwellings(func(r *engine.Record) error {
		if i%step == 0 && len(out) < n {
			out = append(out, r.ID)
		}
		i++
		return nil
	})
	return out
}

var flagNames = []string{"isolated", "vaccinated", "rental", "elderly_alone"}

// randomFlagOps makes n single-flag changes of random dwellings.
func randomFlagOps(rng *rand.Rand, ids []string, n int) []engine.Op {
	ops := make([]engine.Op, n)
	for i := range ops {
		f := []string{flagNames[rng.IntN(len(flagNames))]}
		if rng.IntN(2) == 0 {
			ops[i] = engine.Op{Kind: engine.OpFlags, ID: ids[rng.IntN(len(ids))], Set: f}
		} else {
			ops[i] = engine.Op{Kind: engine.OpFlags, ID: ids[rng.IntN(len(ids))], Clear: f}
		}
	}
	return ops
}

// InProcessUpdates measures flag changes applied in process, in requests of
// batch changes, and returns changes per second (and the per-request result).
func (f *Fixture) InProcessUpdates(batch int, d time.Duration) (Result, float64, error) {
	rng := rand.New(rand.NewPCG(7, 7))
	ids := f.ids(200_000)
	reqs := make([][]engine.Request, 64)
	for i := range reqs {
		reqs[i] = []engine.Request{{Ops: randomFlagOps(rng, ids, batch)}}
	}
	cpu0 := cpuTime()
	r, err := Run(Workload{Name: fmt.Sprintf("update/in-process/batch%d", batch), Op: func(i int) error {
		// as the store's committer drives the writer: check, apply, housekeeping
		p := f.W.Prepare(reqs[i%len(reqs)])
		if p.Errs[0] != nil {
			return p.Errs[0]
		}
		f.W.Commit(p, time.Now())
		f.W.Maintain()
		return nil
	}}, d, 10)
	if r.Ops > 0 {
		r.CPUus = float64((cpuTime() - cpu0).Microseconds()) / float64(r.Ops)
	}
	return r, r.OpsPerSec * float64(batch), err
}

// DurableServer serves the fixture's engine over loopback HTTP with a store
// in a temporary data directory, as `serve --data-dir` does.
type DurableServer struct {
	*HTTPServer
	Dir string
	ids []string
	rng *rand.Rand
	mu  sync.Mutex
}

// StartDurable starts a durable server on the fixture's engine.
func (f *Fixture) StartDurable() (*DurableServer, error) {
	dir, err := os.MkdirTemp("", "roomstate-bench-")
	if err != nil {
		return nil, err
	}
	h, err := f.startHTTP(store.Options{Dir: dir, SnapshotEvery: 1 << 30})
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return &DurableServer{HTTPServer: h, Dir: dir, ids: f.ids(200_000), rng: rand.New(rand.NewPCG(8, 8))}, nil
}

// Close stops the server and removes its data directory.
func (d *DurableServer) Close() {
	d.HTTPServer.Close()
	os.RemoveAll(d.Dir)
}

func (d *DurableServer) batchBody(n int) []byte {
	d.mu.Lock()
	defer d.mu.Unlock()
	var b bytes.Buffer
	for i := 0; i < n; i++ {
		verb := "set"
		if d.rng.IntN(2) == 0 {
			verb = "clear"
		}
		fmt.Fprintf(&b, `{"id":%q,%q:[%q]}`+"\n", d.ids[d.rng.IntN(len(d.ids))], verb, flagNames[d.rng.IntN(4)])
	}
	return b.Bytes()
}

// BatchThroughput sends NDJSON batches of batch changes from clients
// concurrent connections for about dur and returns changes per second and
// the per-batch latencies.
func (d *DurableServer) BatchThroughput(clients, batch int, dur time.Duration) (Result, float64, error) {
	bodies := make([][]byte, 32)
	for i := range bodies {
		bodies[i] = d.batchBody(batch)
	}
	hc := &fasthttp.HostClient{Addr: d.Addr, MaxConns: clients}
	var mu sync.Mutex
	var durs []time.Duration
	var firstErr error
	var wg sync.WaitGroup
	start := time.Now()
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			for i := c; time.Since(start) < dur; i += clients {
				req.Reset()
				req.SetRequestURI("http://" + d.Addr + "/api/v1/updates")
				req.Header.SetMethod("POST")
				req.Header.SetContentType("application/x-ndjson")
				req.SetBody(bodies[i%len(bodies)])
				t := time.Now()
				err := hc.Do(req, resp)
				el := time.Since(t)
				mu.Lock()
				if err == nil && resp.StatusCode() != 200 {
					err = fmt.Errorf("status %d: %s", resp.StatusCode(), resp.Body())
				}
				if err != nil && firstErr == nil {
					firstErr = err
				}
				durs = append(durs, el)
				mu.Unlock()
				if err != nil {
					return
				}
			}
		}(c)
	}
	wg.Wait()
	total := time.Since(start)
	r := Summarise(fmt.Sprintf("update/durable-http/batch%d/clients%d", batch, clients), durs, total, 0)
	return r, float64(len(durs)*batch) / total.Seconds(), firstErr
}

// PatchLatency sends single durable PATCHes one after another.
func (d *DurableServer) PatchLatency(dur time.Duration) (Result, error) {
	hc := &fasthttp.HostClient{Addr: d.Addr, MaxConns: 1}
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	return Run(Workload{Name: "update/durable-http/patch", Op: func(i int) error {
		d.mu.Lock()
		id := d.ids[d.rng.IntN(len(d.ids))]
		verb := "set"
		if i%2 == 0 {
			verb = "clear"
		}
		d.mu.Unlock()
		req.Reset()
		req.SetRequestURI("http://" + d.Addr + "/api/v1/dwellings/" + id)
		req.Header.SetMethod("PATCH")
		req.SetBodyString(fmt.Sprintf(`{%q:["rental"]}`, verb))
		if err := hc.Do(req, resp); err != nil {
			return err
		}
		if resp.StatusCode() != 200 {
			return fmt.Errorf("status %d: %s", resp.StatusCode(), resp.Body())
		}
		return nil
	}}, dur, 50)
}

// Reopen measures restoring a data directory: a snapshot of the fixture's
// engine is written, then opened into a fresh store.
func (f *Fixture) Reopen() (write, reopen time.Duration, size int64, err error) {
	dir, err := os.MkdirTemp("", "roomstate-reopen-")
	if err != nil {
		return 0, 0, 0, err
	}
	defer os.RemoveAll(dir)
	st, err := store.Open(store.Options{Dir: dir})
	if err != nil {
		return 0, 0, 0, err
	}
	if err := st.Restore(f.Eng.Export()); err != nil {
		return 0, 0, 0, err
	}
	t := time.Now()
	if err := st.Snapshot(); err != nil {
		return 0, 0, 0, err
	}
	write = time.Since(t)
	st.Close()
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if fi, err := e.Info(); err == nil {
			size += fi.Size()
		}
	}
	t = time.Now()
	st2, err := store.Open(store.Options{Dir: dir})
	reopen = time.Since(t)
	if err != nil {
		return 0, 0, 0, err
	}
	e := st2.Engine()
	if e.Len() != f.Eng.Len() {
		err = fmt.Errorf("reopened %d dwellings of %d", e.Len(), f.Eng.Len())
	}
	st2.Close()
	return write, reopen, size, err
}
