package replica

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/roomstate/roomstate/city"
	"github.com/roomstate/roomstate/engine"
	"github.com/roomstate/roomstate/store"
)

// runNATS starts a NATS server with JetStream in this process, as
// nats-server's own tests do, and returns its client URL.
func runNATS(t *testing.T) string {
	t.Helper()
	s, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: natsserver.RANDOM_PORT, JetStream: true,
		StoreDir: t.TempDir(), NoSigs: true, NoLog: true, MaxPayload: 8 << 20})
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats: not ready")
	}
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	return s.ClientURL()
}

// node is one replica: its Replica and its store.
type node struct {
	r  *Replica
	st *store.Store
}

func dial(t *testing.T, url, name string, dir string) *node {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := Dial(ctx, Options{URL: url, Node: name, Advertise: "http://" + name, LeaseTTL: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(store.Options{Journal: r, Dir: dir, SnapshotEvery: 50, Engine: engine.Options{DeltaLimit: 200}})
	if err != nil {
		t.Fatal(err)
	}
	n := &node{r: r, st: st}
	t.Cleanup(n.close)
	return n
}

func (n *node) close() {
	n.r.Close()
	n.st.Close()
}

// waitFor polls cond for up to d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func flagOp(id, flag string, set bool) engine.Request {
	op := engine.Op{Kind: engine.OpFlags, ID: id}
	if set {
		op.Set = []string{flag}
	} else {
		op.Clear = []string{flag}
	}
	return engine.Request{Ops: []engine.Op{op}}
}

// TestSeedFollowRedirectTrim: one node seeds the stream, a second joins
// from the kept snapshot; changes go to the lease holder and reach the
// other; the follower redirects; an append behind the stream is refused;
// snapshots are kept and the stream trimmed; a third node joining after
// the trim starts from the newest snapshot and converges.
func TestSeedFollowRedirectTrim(t *testing.T) {
	url := runNATS(t)
	c := city.New(city.Config{N: 3_000, Seed: 5})
	b, err := c.Batch()
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	c.Dwellings(func(r *engine.Record) error {
		if len(ids) < 200 {
			ids = append(ids, r.ID)
		}
		return nil
	})
	a := dial(t, url, "a", t.TempDir())
	if empty, err := a.r.Empty(context.Background()); err != nil || !empty {
		t.Fatalf("a new stream: empty %v, %v", empty, err)
	}
	if err := a.st.Load([]*engine.Batch{b}, c.Boundaries()); err != nil {
		t.Fatal(err)
	}
	if err := a.st.Seed("a"); err != nil {
		t.Fatal(err)
	}
	if a.st.Applied() != 1 {
		t.Fatalf("the seed is entry %d", a.st.Applied())
	}
	a.r.Start(a.st)
	waitFor(t, 5*time.Second, "a takes the lease", func() bool { u, err := a.r.Writer(); return err == nil && u == "" })

	bn := dial(t, url, "b", "")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := bn.r.Join(ctx, bn.st); err != nil {
		t.Fatal(err)
	}
	bn.r.Start(bn.st)
	if bn.st.Engine().Len() != a.st.Engine().Len() {
		t.Fatalf("b joined with %d dwellings, a has %d", bn.st.Engine().Len(), a.st.Engine().Len())
	}
	// changes on the leader reach the follower, at the same versions
	for i := 0; i < 300; i++ {
		evs, err := a.st.Submit(flagOp(ids[i%len(ids)], "isolated", i%3 != 0), nil)
		if err != nil {
			t.Fatalf("change %d: %v", i, err)
		}
		if i == 299 {
			v := evs[0].Version
			wctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			if !bn.st.WaitVersion(wctx, v) {
				t.Fatalf("b did not reach version %d (at %d)", v, bn.st.Engine().Version())
			}
			cancel()
		}
	}
	// the follower sends writers to the leader
	_, err = bn.st.Submit(flagOp(ids[0], "rental", true), nil)
	var redirect *store.RedirectError
	if !errors.As(err, &redirect) || redirect.URL != "http://a" {
		t.Fatalf("a change on the follower: %v, want a redirect to http://a", err)
	}
	if rep := bn.st.Replication(); rep.Role != "follower" || a.st.Replication().Role != "leader" {
		t.Fatalf("roles: a %s, b %s", a.st.Replication().Role, rep.Role)
	}
	// fencing: an append expecting an old last entry stores nothing
	_, err = bn.r.Append(context.Background(), 1, []byte("x"), 1)
	var behind *store.BehindError
	if !errors.As(err, &behind) || behind.Last != a.st.Applied() {
		t.Fatalf("an append behind the stream: %v (stream at %d)", err, a.st.Applied())
	}
	// snapshots were kept every 50 changes; two remain and the stream starts
	// at the oldest
	waitFor(t, 5*time.Second, "snapshots kept and the stream trimmed", func() bool {
		seqs, err := a.r.snapshots(context.Background())
		first, _, _ := a.r.lastKnown(context.Background())
		return err == nil && len(seqs) == 2 && first == seqs[0] && first > 1
	})
	// a third node joins after the trim, from the newest snapshot
	cn := dial(t, url, "c", "")
	if err := cn.r.Join(ctx, cn.st); err != nil {
		t.Fatal(err)
	}
	if cn.st.Applied() <= 1 {
		t.Fatalf("c started from entry %d: not from a newer snapshot", cn.st.Applied())
	}
	cn.r.Start(cn.st)
	for i := 0; i < 20; i++ {
		if _, err := a.st.Submit(flagOp(ids[i], "elderly_alone", true), nil); err != nil {
			t.Fatal(err)
		}
	}
	v := a.st.Engine().Version()
	for _, n := range []*node{bn, cn} {
		wctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if !n.st.WaitVersion(wctx, v) {
			t.Fatalf("%s did not converge", n.r.opts.Node)
		}
		cancel()
	}
	want := fingerprint(t, a.st.Engine())
	for _, n := range []*node{bn, cn} {
		if got := fingerprint(t, n.st.Engine()); got != want {
			t.Fatalf("%s differs from the leader", n.r.opts.Node)
		}
	}
	waitFor(t, 2*time.Second, "no lag", func() bool { return cn.st.Replication().Lag == 0 && bn.st.Replication().Lag == 0 })
	// the leader steps down on close; another takes the lease
	a.close()
	waitFor(t, 5*time.Second, "another node takes the lease", func() bool {
		return bn.st.Replication().Role == "leader" || cn.st.Replication().Role == "leader"
	})
}

// fingerprint summarises an engine's state: version, counts per building
// and flag.
func fingerprint(t *testing.T, e *engine.Engine) string {
	t.Helper()
	res, err := e.Grid(&engine.GridQuery{Level: "building"})
	if err != nil {
		t.Fatal(err)
	}
	s := fmt.Sprintf("v%d n%d", e.Version(), e.Len())
	for _, c := range res.Cells {
		s += fmt.Sprintf("|%s %d %v", c.ID, c.Total, c.Flags)
	}
	return s
}
