package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"slices"
	"strings"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/roomstate/roomstate/connlimit"
	"github.com/roomstate/roomstate/replica"
	"github.com/roomstate/roomstate/server"
	"github.com/roomstate/roomstate/store"
)

// Replicas is the fixture's city served by two replicas on a JetStream
// stream, in process: NATS with JetStream (one server, or a cluster of
// three on loopback with the stream replicated three times), a leader that
// takes changes over HTTP (as `serve --nats`), and a follower that applies
// them. Every message is fsynced by JetStream before it is acknowledged.
type Replicas struct {
	Leader   *DurableServer // the leader's HTTP server, for the update workloads
	LeaderSt *store.Store
	Follower *store.Store
	URL      string // of the NATS server(s)
	nodes    int
	dirs     []string
	servers  []*natsserver.Server
	reps     []*replica.Replica
	stores   []*store.Store
}

// freePort finds a free loopback port.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// startNATS starts n NATS servers with JetStream (a cluster when n > 1).
func (r *Replicas) startNATS(n int) error {
	var cports []int
	for i := 0; i < n; i++ {
		p, err := freePort()
		if err != nil {
			return err
		}
		cports = append(cports, p)
	}
	var urls []string
	for i := 0; i < n; i++ {
		dir, err := os.MkdirTemp("", "roomstate-bench-nats-")
		if err != nil {
			return err
		}
		r.dirs = append(r.dirs, dir)
		o := &natsserver.Options{ServerName: fmt.Sprintf("bench-%d", i), Host: "127.0.0.1", Port: natsserver.RANDOM_PORT,
			JetStream: true, StoreDir: dir, SyncAlways: true, NoSigs: true, NoLog: true, MaxPayload: 8 << 20}
		if n > 1 {
			o.Cluster = natsserver.ClusterOpts{Name: "bench", Host: "127.0.0.1", Port: cports[i]}
			var routes []string
			for j, p := range cports {
				if j != i {
					routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", p))
				}
			}
			o.Routes = natsserver.RoutesFromStr(strings.Join(routes, ","))
		}
		s, err := natsserver.NewServer(o)
		if err != nil {
			return err
		}
		go s.Start()
		if !s.ReadyForConnections(30 * time.Second) {
			return fmt.Errorf("nats server %d not ready", i)
		}
		r.servers = append(r.servers, s)
		urls = append(urls, s.ClientURL())
	}
	r.URL = strings.Join(urls, ",")
	return nil
}

// node dials the stream and opens a store on it.
func (r *Replicas) node(name string) (*replica.Replica, *store.Store, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rep, err := replica.Dial(ctx, replica.Options{URL: r.URL, Node: name, Advertise: "http://" + name, Replicas: r.nodes})
	if err != nil {
		return nil, nil, err
	}
	st, err := store.Open(store.Options{Journal: rep, SnapshotEvery: 1 << 30, SnapshotInterval: 24 * time.Hour})
	if err != nil {
		rep.Close()
		return nil, nil, err
	}
	r.reps = append(r.reps, rep)
	r.stores = append(r.stores, st)
	return rep, st, nil
}

// StartReplicas seeds a stream on natsNodes NATS servers with the
// fixture's city and starts a leader (with its HTTP server) and a follower.
func (f *Fixture) StartReplicas(natsNodes int) (*Replicas, error) {
	r := &Replicas{nodes: natsNodes}
	if err := r.startNATS(natsNodes); err != nil {
		r.Close()
		return nil, err
	}
	lrep, lst, err := r.node("leader")
	if err != nil {
		r.Close()
		return nil, err
	}
	if err := lst.Restore(f.Eng.Export()); err != nil {
		r.Close()
		return nil, err
	}
	if err := lst.Seed("leader"); err != nil {
		r.Close()
		return nil, err
	}
	lrep.Start(lst)
	deadline := time.Now().Add(10 * time.Second)
	for lst.Replication().Role != "leader" {
		if time.Now().After(deadline) {
			r.Close()
			return nil, fmt.Errorf("the leader did not take the lease")
		}
		time.Sleep(10 * time.Millisecond)
	}
	frep, fst, err := r.node("follower")
	if err != nil {
		r.Close()
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := frep.Join(ctx, fst); err != nil {
		r.Close()
		return nil, err
	}
	frep.Start(fst)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		r.Close()
		return nil, err
	}
	srv := server.New(lst, server.Options{})
	hs := srv.HTTPServer()
	go hs.Serve(connlimit.New(ln, connlimit.Options{}))
	r.Leader = &DurableServer{HTTPServer: &HTTPServer{Addr: ln.Addr().String(), srv: srv, hs: hs, st: lst},
		ids: f.ids(200_000), rng: rand.New(rand.NewPCG(9, 9))}
	r.LeaderSt, r.Follower = lst, fst
	return r, nil
}

// Close stops everything and removes the NATS servers' directories.
func (r *Replicas) Close() {
	if r.Leader != nil {
		r.Leader.srv.Close()
		r.Leader.hs.Shutdown()
	}
	for i := len(r.reps) - 1; i >= 0; i-- {
		r.reps[i].Close()
		r.stores[i].Close()
	}
	for _, s := range r.servers {
		s.Shutdown()
		s.WaitForShutdown()
	}
	for _, d := range r.dirs {
		os.RemoveAll(d)
	}
}

// LagSampler records the leader's and the follower's versions over time,
// to tell how long the follower takes to reach each version the leader
// had.
type LagSampler struct {
	stop chan struct{}
	done chan struct{}
	t    []time.Time
	lead []uint64
	foll []uint64
}

// SampleLag samples every millisecond until Stop.
func (r *Replicas) SampleLag() *LagSampler {
	s := &LagSampler{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		tk := time.NewTicker(time.Millisecond)
		defer tk.Stop()
		for {
			select {
			case <-s.stop:
				return
			case now := <-tk.C:
				s.t = append(s.t, now)
				s.lead = append(s.lead, uint64(r.LeaderSt.Engine().Version()))
				s.foll = append(s.foll, uint64(r.Follower.Engine().Version()))
			}
		}
	}()
	return s
}

// Stop ends sampling and returns, for each sample, how long the follower
// took to reach the leader's version then (samples it never reached are
// left out), sorted.
func (s *LagSampler) Stop() []time.Duration {
	close(s.stop)
	<-s.done
	var out []time.Duration
	j := 0
	for i := range s.t {
		if j < i {
			j = i
		}
		for j < len(s.t) && s.foll[j] < s.lead[i] {
			j++
		}
		if j == len(s.t) {
			break
		}
		out = append(out, s.t[j].Sub(s.t[i]))
	}
	slices.Sort(out)
	return out
}

// CatchUp starts a new node with no data directory while the stream holds
// the seed snapshot and every change since: it returns the time to restore
// the newest snapshot (when `serve` prints "listening on") and to apply the
// stream after it (lag 0, at the leader's version).
func (r *Replicas) CatchUp() (restore, caughtUp time.Duration, err error) {
	start := time.Now()
	rep, st, err := r.node(fmt.Sprintf("joiner-%d", len(r.reps)))
	if err != nil {
		return 0, 0, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if err := rep.Join(ctx, st); err != nil {
		return 0, 0, err
	}
	restore = time.Since(start)
	rep.Start(st)
	target := r.LeaderSt.Engine().Version()
	if !st.WaitVersion(ctx, target) {
		return 0, 0, fmt.Errorf("the new node did not reach version %d", target)
	}
	return restore, time.Since(start), nil
}

// Percentile returns the p-th percentile (0–100) of sorted durations.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted)-1) * p / 100)
	return sorted[i]
}
