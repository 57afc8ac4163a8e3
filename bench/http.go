package bench

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/maptile"
	"github.com/roomstate/roomstate/connlimit"
	"github.com/roomstate/roomstate/engine"
	"github.com/roomstate/roomstate/loader"
	"github.com/roomstate/roomstate/server"
	"github.com/roomstate/roomstate/store"
	"github.com/valyala/fasthttp"
)

// HTTPServer serves the fixture's engine on loopback without a data
// directory, for the read workloads over HTTP.
type HTTPServer struct {
	Addr string
	srv  *server.Server
	hs   *fasthttp.Server
	st   *store.Store
}

// StartHTTP starts it.
func (f *Fixture) StartHTTP() (*HTTPServer, error) {
	return f.startHTTP(store.Options{})
}

// startHTTP serves a copy of the fixture's city with a store of opts on a
// free loopback port, as `serve` does: the store owns its own engine,
// restored from a snapshot of the fixture's.
func (f *Fixture) startHTTP(opts store.Options) (*HTTPServer, error) {
	st, err := store.Open(opts)
	if err != nil {
		return nil, err
	}
	if err := st.Restore(f.Eng.Export()); err != nil {
		st.Close()
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		st.Close()
		return nil, err
	}
	srv := server.New(st, server.Options{})
	hs := srv.HTTPServer()
	go hs.Serve(connlimit.New(ln, connlimit.Options{})) // the listener serve has
	return &HTTPServer{Addr: ln.Addr().String(), srv: srv, hs: hs, st: st}, nil
}

// Close stops it.
func (h *HTTPServer) Close() {
	h.srv.Close()
	h.hs.Shutdown()
	h.st.Close()
}

// PolygonBodies are the JSON request bodies of a size class's polygons.
func (f *Fixture) PolygonBodies(class, where string) [][]byte {
	var out [][]byte
	for _, q := range f.Polygons[class] {
		out = append(out, PolygonBody(q.Geometry, where))
	}
	return out
}

// PolygonBody is the JSON body of POST /api/v1/query/polygon for mp: a
// Polygon when it has one part, else a MultiPolygon.
func PolygonBody(mp orb.MultiPolygon, where string) []byte {
	geom := map[string]any{"type": "MultiPolygon", "coordinates": mp}
	if len(mp) == 1 {
		geom = map[string]any{"type": "Polygon", "coordinates": mp[0]}
	}
	b, _ := json.Marshal(map[string]any{"geometry": geom, "where": where})
	return b
}

// HTTPPolygonWorkloads send polygon queries over HTTP, one at a time: the
// end-to-end time, JSON decoding of the geometry included.
func (h *HTTPServer) HTTPPolygonWorkloads(f *Fixture) []Workload {
	hc := &fasthttp.HostClient{Addr: h.Addr, MaxConns: 1}
	var ws []Workload
	for _, class := range Classes {
		bodies := f.PolygonBodies(class, "")
		if len(bodies) == 0 {
			continue
		}
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		ws = append(ws, Workload{Name: "http/polygon/" + class, Op: func(i int) error {
			req.Reset()
			req.SetRequestURI("http://" + h.Addr + "/api/v1/query/polygon")
			req.Header.SetMethod("POST")
			req.SetBody(bodies[i%len(bodies)])
			if err := hc.Do(req, resp); err != nil {
				return err
			}
			if resp.StatusCode() != 200 {
				return fmt.Errorf("status %d: %s", resp.StatusCode(), resp.Body())
			}
			return nil
		}})
	}
	return ws
}

// CachedTileThroughput requests one cached tile from clients connections
// for about d and returns requests per second.
func (h *HTTPServer) CachedTileThroughput(t maptile.Tile, clients int, d time.Duration) (float64, error) {
	hc := &fasthttp.HostClient{Addr: h.Addr, MaxConns: clients}
	uri := fmt.Sprintf("http://%s/tiles/%d/%d/%d.mvt", h.Addr, t.Z, t.X, t.Y)
	var n int64
	var mu sync.Mutex
	var firstErr error
	var wg sync.WaitGroup
	start := time.Now()
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			req.SetRequestURI(uri)
			req.Header.Set("Accept-Encoding", "gzip")
			local := int64(0)
			for time.Since(start) < d {
				if err := hc.Do(req, resp); err != nil || resp.StatusCode() != 200 {
					mu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("tile: %v %d", err, resp.StatusCode())
					}
					mu.Unlock()
					return
				}
				local++
			}
			mu.Lock()
			n += local
			mu.Unlock()
		}()
	}
	wg.Wait()
	return float64(n) / time.Since(start).Seconds(), firstErr
}

// LoadCSV writes the city as CSV and measures reading and loading it into
// a new engine, as `serve --load` does.
func (f *Fixture) LoadCSV() (time.Duration, int64, error) {
	dir, err := os.MkdirTemp("", "roomstate-load-")
	if err != nil {
		return 0, 0, err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "dwellings.csv")
	out, err := os.Create(path)
	if err != nil {
		return 0, 0, err
	}
	if err := f.City.WriteCSV(out); err != nil {
		out.Close()
		return 0, 0, err
	}
	out.Close()
	fi, _ := os.Stat(path)
	runtime.GC()
	start := time.Now()
	b, err := loader.ReadFile(path, loader.Options{})
	if err != nil {
		return 0, 0, err
	}
	e := engine.New(engine.Options{})
	if err := e.Load(b); err != nil {
		return 0, 0, err
	}
	el := time.Since(start)
	if e.Len() != f.Eng.Len() {
		return 0, 0, fmt.Errorf("loaded %d of %d", e.Len(), f.Eng.Len())
	}
	return el, fi.Size(), nil
}

// RSS returns the resident set size of this process, in bytes.
func RSS() int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			f := strings.Fields(line)
			if len(f) >= 2 {
				kb, _ := strconv.ParseInt(f[1], 10, 64)
				return kb << 10
			}
		}
	}
	return 0
}

// MemoryPerDwelling is the process's resident memory per dwelling after a
// collection that returns freed memory to the system: the engine, its
// indexes and rank caches warmed by the workloads, and the harness itself.
func (f *Fixture) MemoryPerDwelling() float64 {
	runtime.GC()
	debug.FreeOSMemory()
	return float64(RSS()) / float64(f.Eng.Len())
}
