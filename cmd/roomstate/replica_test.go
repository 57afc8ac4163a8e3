package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/roomstate/roomstate/internal/testseed"
)

// health is what /healthz says of a node.
type health struct {
	Status  string
	Role    string
	Lag     uint64
	Version uint64
}

func healthOf(url string) (health, error) {
	var h health
	hc := &http.Client{Timeout: 2 * time.Second}
	resp, err := hc.Get(url + "/healthz")
	if err != nil {
		return h, err
	}
	defer resp.Body.Close()
	err = json.NewDecoder(resp.Body).Decode(&h)
	return h, err
}

// cluster is `roomstate nats` and the roomstate nodes on it.
type cluster struct {
	t     *testing.T
	nats  *proc
	mu    sync.Mutex
	nodes []*proc    // nil while killed
	args  [][]string // each node's arguments, to restart it
}

// node returns node i (nil while it is down).
func (c *cluster) node(i int) *proc {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[i%len(c.nodes)]
}

func (c *cluster) set(i int, p *proc) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.nodes[i] = p
}

// startNATS runs `roomstate nats` on a free port.
func startNATS(t *testing.T) *proc {
	p := startProc(t, "nats", "--addr", "127.0.0.1:0", "--data-dir", t.TempDir(), "--log-level", "warn")
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			p.kill()
		}
	})
	return p
}

// startNode starts a node and stops it at the end of the test.
func (c *cluster) startNode(args ...string) int {
	p := startProc(c.t, args...)
	c.nodes = append(c.nodes, p)
	c.args = append(c.args, args)
	i := len(c.nodes) - 1
	c.t.Cleanup(func() {
		if p := c.node(i); p != nil && p.cmd.ProcessState == nil {
			p.kill()
		}
	})
	return i
}

// leader returns the index of the node holding the lease, waiting for one.
func (c *cluster) leader(within time.Duration) int {
	deadline := time.Now().Add(within)
	for {
		for i, p := range c.nodes {
			if p == nil {
				continue
			}
			if h, err := healthOf(p.url); err == nil && h.Role == "leader" {
				return i
			}
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("no node took the lease within %v", within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// converge waits until every live node has the same version and no lag.
func (c *cluster) converge(within time.Duration) uint64 {
	deadline := time.Now().Add(within)
	for {
		var vs []uint64
		ok := true
		for _, p := range c.nodes {
			h, err := healthOf(p.url)
			if err != nil || h.Lag != 0 {
				ok = false
				break
			}
			vs = append(vs, h.Version)
		}
		if ok {
			same := true
			for _, v := range vs {
				same = same && v == vs[0]
			}
			if same {
				return vs[0]
			}
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("nodes did not converge within %v: versions %v", within, vs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// cityBox is the bounding box of a generated city's dwellings.
func cityBox(t *testing.T, csv string) (w, s, e, n float64) {
	f, err := os.Open(csv)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan()
	head := strings.Split(sc.Text(), ",")
	lonCol, latCol := -1, -1
	for i, h := range head {
		switch h {
		case "lon":
			lonCol = i
		case "lat":
			latCol = i
		}
	}
	w, s, e, n = 180, 90, -180, -90
	for sc.Scan() {
		fs := strings.Split(sc.Text(), ",")
		lon, _ := strconv.ParseFloat(fs[lonCol], 64)
		lat, _ := strconv.ParseFloat(fs[latCol], 64)
		w, e, s, n = min(w, lon), max(e, lon), min(s, lat), max(n, lat)
	}
	return
}

// randomQueries makes polygon queries over the box: irregular quadrilaterals
// of random sizes with a random where.
func randomQueries(rng *rand.Rand, k int, w, s, e, n float64) [][]byte {
	wheres := []string{"", "isolated", "isolated & !vaccinated", "rental | elderly_alone", "!vaccinated", "elderly_alone & rental"}
	var out [][]byte
	for i := 0; i < k; i++ {
		cx, cy := w+rng.Float64()*(e-w), s+rng.Float64()*(n-s)
		rx, ry := (e-w)*(0.02+rng.Float64()*0.3), (n-s)*(0.02+rng.Float64()*0.3)
		ring := [][2]float64{{cx - rx, cy - ry*rng.Float64()}, {cx + rx*rng.Float64(), cy - ry}, {cx + rx, cy + ry*rng.Float64()},
			{cx - rx*rng.Float64(), cy + ry}}
		ring = append(ring, ring[0])
		body := map[string]any{"geometry": map[string]any{"type": "Polygon", "coordinates": [][][2]float64{ring}}, "group_by": "grid"}
		if wh := wheres[rng.IntN(len(wheres))]; wh != "" {
			body["where"] = wh
		}
		b, _ := json.Marshal(body)
		out = append(out, b)
	}
	return out
}

// answersOf asks a node every query and returns the answers without took_us.
func answersOf(t *testing.T, url string, queries [][]byte) []string {
	t.Helper()
	var out []string
	for _, q := range queries {
		resp, err := http.Post(url+"/api/v1/query/polygon", "application/json", bytes.NewReader(q))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s: polygon query: %d %s", url, resp.StatusCode, b)
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		delete(m, "took_us")
		nb, _ := json.Marshal(m)
		out = append(out, string(nb))
	}
	return out
}

// TestReplicasKillAndConverge runs `roomstate nats` and three `serve --nats`
// nodes as real processes. Writers send PATCHes and NDJSON batches to all
// three nodes (following redirects to the node that takes changes); the
// leader, which holds every write, is killed with SIGKILL mid-stream at
// several points. A write sent 5 s after a kill succeeds; the killed node
// rejoins; once the nodes converge every acknowledged change is on every
// node, no batch is half applied, and the nodes give the same answers to
// 100 random polygons with where, at the same version.
func TestReplicasKillAndConverge(t *testing.T) {
	if testing.Short() {
		t.Skip("replica kill test: not in -short")
	}
	seed := testseed.Get(t)
	rng := rand.New(rand.NewPCG(seed, 13))
	dir := genCity(t, 30_000)
	csv := filepath.Join(dir, "dwellings.csv")
	nats := startNATS(t)
	c := &cluster{t: t, nats: nats}
	common := []string{"serve", "--nats", nats.url, "--addr", "127.0.0.1:0", "--log-level", "warn", "--snapshot-every", "3000"}
	c.startNode(append(clone(common), "--data-dir", t.TempDir(), "--load", csv, "--boundaries", filepath.Join(dir, "boundaries.geojson"))...)
	c.args[0] = append(clone(common), "--data-dir", c.args[0][len(common)+1]) // restarts: no --load
	c.startNode(append(clone(common), "--data-dir", t.TempDir())...)
	c.startNode(common...) // no data directory: starts from the newest snapshot kept in JetStream every time
	c.leader(10 * time.Second)

	var ids []string
	for i := 1; len(ids) < 8*8+8; i++ {
		ids = append(ids, fmt.Sprintf("RS-%08d", i*37))
	}
	var clients []*client
	for i := 0; i < 8; i++ {
		clients = append(clients, &client{ids: ids[i*8 : i*8+8], batch: true, acked: -1, inFlight: -1})
	}
	for i := 0; i < 8; i++ {
		clients = append(clients, &client{ids: []string{ids[64+i]}, acked: -1, inFlight: -1})
	}
	total := 0
	rounds := []time.Duration{400 * time.Millisecond, 1500 * time.Millisecond, 50 * time.Millisecond}
	if os.Getenv("ROOMSTATE_REPLICA_LONG") != "" {
		rounds = append(rounds, 3*time.Second, 800*time.Millisecond, 10*time.Millisecond)
	}
	for round, runFor := range rounds {
		stop := make(chan struct{})
		var killedAt atomic.Int64 // Unix ns; writers' errors after killedAt+5 s are failures
		var wg sync.WaitGroup
		var sent atomic.Int64
		var lateErrs atomic.Int64
		var lateErr atomic.Value
		for k, cl := range clients {
			wg.Add(1)
			go func(k int, cl *client) {
				defer wg.Done()
				hc := &http.Client{Timeout: 10 * time.Second}
				for {
					select {
					case <-stop:
						return
					default:
					}
					// each writer keeps to one node; if it is down, the next
					node := c.node(k + round)
					if node == nil {
						node = c.node(k + round + 1)
					}
					if node == nil {
						time.Sleep(20 * time.Millisecond)
						continue
					}
					if err := cl.send(node.url, hc); err != nil {
						if ka := killedAt.Load(); ka != 0 && time.Now().After(time.Unix(0, ka).Add(5*time.Second)) {
							lateErrs.Add(1)
							lateErr.Store(fmt.Sprintf("%s: %v (%s)", node.url, err, cl.lastBody))
						}
						time.Sleep(20 * time.Millisecond) // the same request again: it stays in flight
						continue
					}
					sent.Add(1)
				}
			}(k, cl)
		}
		time.Sleep(runFor)
		li := c.leader(10 * time.Second)
		c.nodes[li].kill() // SIGKILL mid-stream, the node taking every write
		killed := time.Now()
		killedAt.Store(killed.UnixNano())
		c.set(li, nil)
		time.Sleep(time.Until(killed.Add(5 * time.Second)))
		// a write sent to each surviving node 5 s after the kill succeeds,
		// possibly through a redirect
		for i, p := range c.nodes {
			if p == nil {
				continue
			}
			resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(patchReq(p.url, ids[0], "rental"))
			if err != nil {
				t.Fatalf("round %d: a write to node %d 5 s after the kill: %v", round, i, err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("round %d: a write to node %d 5 s after the kill: %d %s", round, i, resp.StatusCode, b)
			}
		}
		// the killed node rejoins while writers go on
		start := time.Now()
		c.set(li, startProc(t, c.args[li]...))
		rejoin := time.Since(start)
		time.Sleep(500 * time.Millisecond)
		close(stop)
		wg.Wait()
		if n := lateErrs.Load(); n > 0 {
			t.Fatalf("round %d: %d writes failed 5 s or more after the kill (last: %v)", round, n, lateErr.Load())
		}
		v := c.converge(30 * time.Second)
		// ids[0] was set to rental above: put it back under its client's code
		// by checking the client's other ids only (it belongs to client 0)
		for _, cl := range clients {
			for _, p := range c.nodes {
				saved := *cl
				cl.checkExcept(t, p.url, ids[0])
				if p != c.nodes[len(c.nodes)-1] {
					*cl = saved // check every node against the same expectation
				}
			}
		}
		total += int(sent.Load())
		t.Logf("round %d: %d requests acknowledged; leader (node %d) killed after %v; rejoined in %v; converged at version %d",
			round, sent.Load(), li, runFor, rejoin.Round(time.Millisecond), v)
	}
	if total < 500 {
		t.Fatalf("only %d requests acknowledged in all: the test did not load the nodes", total)
	}
	// min_version: a change acknowledged by one node is seen by another
	li := c.leader(5 * time.Second)
	resp, err := http.DefaultClient.Do(patchReq(c.nodes[li].url, ids[70], "isolated"))
	if err != nil {
		t.Fatal(err)
	}
	var ack struct{ Version uint64 }
	json.NewDecoder(resp.Body).Decode(&ack)
	resp.Body.Close()
	other := c.nodes[(li+1)%len(c.nodes)]
	code, body := get(t, fmt.Sprintf("%s/api/v1/dwellings/%s?min_version=%d", other.url, ids[70], ack.Version))
	if code != 200 || !strings.Contains(body, `"isolated"`) {
		t.Fatalf("a follower with min_version=%d: %d %s", ack.Version, code, body)
	}
	if code, body := get(t, fmt.Sprintf("%s/api/v1/dwellings/%s?min_version=%d", other.url, ids[70], ack.Version+1000)); code != 503 || !strings.Contains(body, `"lagging"`) {
		t.Fatalf("min_version ahead of every node: %d %s", code, body)
	}
	// identical answers and versions
	v := c.converge(20 * time.Second)
	w, s, e, n := cityBox(t, csv)
	queries := randomQueries(rng, 100, w, s, e, n)
	want := answersOf(t, c.nodes[0].url, queries)
	for i := 1; i < len(c.nodes); i++ {
		got := answersOf(t, c.nodes[i].url, queries)
		for q := range queries {
			if got[q] != want[q] {
				t.Fatalf("polygon %d: node 0 answers %.300s\nnode %d answers %.300s", q, want[q], i, got[q])
			}
		}
	}
	if !strings.Contains(want[0], fmt.Sprintf(`"version":%d`, v)) {
		t.Fatalf("answers are not at the converged version %d: %.200s", v, want[0])
	}
	// --load on a node whose stream is not empty is refused
	err = run(context.Background(), []string{"serve", "--nats", nats.url, "--load", csv, "--addr", "127.0.0.1:0", "--log-level", "error"}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "holds changes already") {
		t.Fatalf("--load on a stream that is not empty: %v", err)
	}
	for _, p := range c.nodes {
		p.stop(t)
	}
}

func clone(s []string) []string { return append([]string(nil), s...) }

func patchReq(url, id, flag string) *http.Request {
	req, _ := http.NewRequest("PATCH", url+"/api/v1/dwellings/"+id, bytes.NewReader([]byte(`{"set":["`+flag+`"]}`)))
	return req
}

// checkExcept is check without one dwelling (changed by the test itself).
func (c *client) checkExcept(t *testing.T, url, skip string) {
	t.Helper()
	ids := c.ids
	var kept []string
	for _, id := range ids {
		if id != skip {
			kept = append(kept, id)
		}
	}
	c.ids = kept
	defer func() { c.ids = ids }()
	c.check(t, url)
}
