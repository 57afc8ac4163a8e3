package replica

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/roomstate/roomstate/engine"
	"github.com/roomstate/roomstate/server"
	"github.com/roomstate/roomstate/store"
)

// Nodes served over HTTP, as `roomstate serve --nats` runs them (a
// listener first, so that the node advertises its URL; then the replica,
// the store, seeding or joining, Start, and the HTTP server), in this
// process, on a NATS server with JetStream in this process too.

// natsProc is an embedded NATS server that can be stopped and started
// again on the same port and store directory (JetStream file storage, as
// `roomstate nats` keeps it).
type natsProc struct {
	t    *testing.T
	opts natsserver.Options
	mu   sync.Mutex
	s    *natsserver.Server
}

// startNATSProc starts a NATS server with JetStream on a free port.
func startNATSProc(t *testing.T) *natsProc {
	t.Helper()
	n := &natsProc{t: t, opts: natsserver.Options{Host: "127.0.0.1", Port: natsserver.RANDOM_PORT, JetStream: true,
		StoreDir: t.TempDir(), NoSigs: true, NoLog: true, MaxPayload: 8 << 20}}
	n.start()
	n.opts.Port = n.s.Addr().(*net.TCPAddr).Port
	t.Cleanup(n.stop)
	return n
}

func (n *natsProc) start() {
	n.t.Helper()
	opts := n.opts // NewServer keeps and changes its options
	s, err := natsserver.NewServer(&opts)
	if err != nil {
		n.t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		n.t.Fatal("nats: not ready")
	}
	n.mu.Lock()
	n.s = s
	n.mu.Unlock()
}

// stop shuts the server down (a no-op when it is down).
func (n *natsProc) stop() {
	n.mu.Lock()
	s := n.s
	n.s = nil
	n.mu.Unlock()
	if s != nil {
		s.Shutdown()
		s.WaitForShutdown()
	}
}

func (n *natsProc) url() string {
	return "nats://" + net.JoinHostPort(n.opts.Host, strconv.Itoa(n.opts.Port))
}

// testClock is a time the test moves, shared by the nodes of a test: the
// time of changes, of expiries, and of answers that depend on now (a
// campaign's days, `stale`), so that nodes asked at different moments
// answer alike and a flag's `until` falls due when the test says.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// served is a node: its replica, store and HTTP server.
type served struct {
	name string
	url  string
	r    *Replica
	st   *store.Store
	stop func()
	// joined is the journal entry the node's state included when it
	// started following (seeded or joined)
	joined uint64
}

// serveNode starts a node on the NATS server at natsURL, with data
// directory dir ("" for none) and lease TTL ttl. seed, when set, loads its state and seeds
// the (empty) stream; otherwise the node joins it. The node stops at the
// end of the test.
func serveNode(t *testing.T, natsURL, name, dir string, ttl time.Duration, clk func() time.Time, seed func(*store.Store) error) *served {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	r, err := Dial(ctx, Options{URL: natsURL, Node: name, Advertise: url, LeaseTTL: ttl})
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	st, err := store.Open(store.Options{Journal: r, Dir: dir, SnapshotEvery: 1_000_000, Clock: clk,
		Engine: engine.Options{Clock: clk, DeltaLimit: 200}})
	if err != nil {
		r.Close()
		ln.Close()
		t.Fatal(err)
	}
	n := &served{name: name, url: url, r: r, st: st}
	if seed != nil {
		err = seed(st)
	} else {
		err = r.Join(ctx, st)
	}
	if err != nil {
		r.Close()
		st.Close()
		ln.Close()
		t.Fatalf("%s: %v", name, err)
	}
	n.joined = st.Applied()
	r.Start(st)
	srv := server.New(st, server.Options{})
	hs := srv.HTTPServer()
	go hs.Serve(ln)
	var once sync.Once
	n.stop = func() {
		once.Do(func() {
			srv.Close()
			hs.Shutdown()
			r.Close()
			st.Close()
		})
	}
	t.Cleanup(n.stop)
	return n
}

// httpClient follows a follower's 307 to the leader with the same method
// and body, as clients of the API do.
var httpClient = &http.Client{Timeout: 20 * time.Second}

// call sends a request and returns the status, body and headers.
func call(t *testing.T, method, url, body string) (int, []byte, http.Header) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	return resp.StatusCode, b, resp.Header
}

// write sends a change as clients of the API do: following a follower's
// 307, and sending it again while the answer is 503 with Retry-After (no
// node takes changes for a moment: the lease changing hands, or a leader
// starved of the CPU past its lease on a loaded machine). It fails the
// test unless the status comes to be one of codes, and returns the answer.
func write(t *testing.T, n *served, method, path, body string, codes ...int) []byte {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		code, out, h := call(t, method, n.url+path, body)
		if slices.Contains(codes, code) {
			return out
		}
		if code != 503 || h.Get("Retry-After") == "" || time.Now().After(deadline) {
			t.Fatalf("%s %s (to %s) %s: %d %s", method, path, n.name, body, code, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// health is what /healthz says of a node.
type health struct {
	Status  string
	Reason  string
	Role    string
	Lag     uint64
	Version uint64
}

func healthOf(t *testing.T, n *served) health {
	t.Helper()
	code, b, _ := call(t, "GET", n.url+"/healthz", "")
	var h health
	if err := json.Unmarshal(b, &h); err != nil || code != 200 {
		t.Fatalf("%s /healthz: %d %s", n.name, code, b)
	}
	return h
}

// tookUS is the one member of an answer that differs between nodes (and
// between two askings of one node) by design.
var tookUS = regexp.MustCompile(`"took_us":[0-9]+`)

func comparable(b []byte) string { return tookUS.ReplaceAllString(string(b), `"took_us":0`) }

// converged waits until every node has applied the same journal entries
// and reached the same version, and returns that version.
func converged(t *testing.T, within time.Duration, nodes ...*served) engine.Version {
	t.Helper()
	var v engine.Version
	waitFor(t, within, "the nodes converge", func() bool {
		v = nodes[0].st.Engine().Version()
		for _, n := range nodes[1:] {
			if n.st.Engine().Version() != v || n.st.Applied() != nodes[0].st.Applied() {
				return false
			}
		}
		return true
	})
	return v
}

// cutter is a TCP proxy between one node and the NATS server, to fail
// one node's network to NATS while the others' works. Cut, it drops the
// node's connections and refuses new ones (the node notices at once);
// silenced, it keeps every connection open and forwards nothing either
// way (a partition: the node notices by its pings going unanswered).
// Mended, it forwards again on the same address (connections from before
// a silence are dropped then: their streams lost bytes).
type cutter struct {
	t      *testing.T
	target string
	addr   string
	silent atomic.Bool
	mu     sync.Mutex
	ln     net.Listener
	conns  map[net.Conn]bool
}

// newCutter proxies to the NATS server at target (host:port).
func newCutter(t *testing.T, target string) *cutter {
	t.Helper()
	c := &cutter{t: t, target: target, addr: "127.0.0.1:0", conns: map[net.Conn]bool{}}
	c.mend()
	t.Cleanup(c.cut)
	return c
}

func (c *cutter) url() string { return "nats://" + c.addr }

// mend forwards again: it listens again (on the address it had) after a
// cut, and drops the connections that lived through a silence.
func (c *cutter) mend() {
	c.t.Helper()
	if c.silent.Swap(false) {
		c.dropConns()
		return
	}
	var ln net.Listener
	var err error
	for i := 0; i < 50; i++ { // the old listener's port may take a moment to free
		if ln, err = net.Listen("tcp", c.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		c.t.Fatal(err)
	}
	c.mu.Lock()
	c.ln, c.addr = ln, ln.Addr().String()
	c.mu.Unlock()
	go func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", c.target)
			if err != nil {
				in.Close()
				continue
			}
			c.mu.Lock()
			if c.ln != ln { // cut meanwhile
				c.mu.Unlock()
				in.Close()
				out.Close()
				return
			}
			c.conns[in], c.conns[out] = true, true
			c.mu.Unlock()
			go c.pipe(out, in)
			go c.pipe(in, out)
		}
	}()
}

// pipe forwards src to dst, dropping what arrives while silent.
func (c *cutter) pipe(dst, src net.Conn) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 64<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && !c.silent.Load() {
			if _, err := dst.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// silence stops forwarding, keeping every connection open.
func (c *cutter) silence() { c.silent.Store(true) }

// cut closes the listener and every connection through it.
func (c *cutter) cut() {
	c.mu.Lock()
	if c.ln != nil {
		c.ln.Close()
		c.ln = nil
	}
	c.mu.Unlock()
	c.dropConns()
}

func (c *cutter) dropConns() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for conn := range c.conns {
		conn.Close()
		delete(c.conns, conn)
	}
}
