package replica

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/roomstate/roomstate/city"
	"github.com/roomstate/roomstate/engine"
	"github.com/roomstate/roomstate/store"
)

// TestNATSLostAndBack: the NATS server goes away (shut down) and comes back
// on the same port with its store directory. Meanwhile both nodes answer
// reads as before, /healthz says "stale" with the time the connection was
// lost, the leader stops taking changes (its role turns follower), and
// every change, on either node, is refused with 503 unavailable and
// Retry-After: 1, applying nothing. Once NATS is back both nodes say "ok"
// by themselves, a node takes the lease, changes sent to either node are
// accepted, and both apply them.
func TestNATSLostAndBack(t *testing.T) {
	nats := startNATSProc(t)
	c := city.New(city.Config{N: 2_000, Seed: 9})
	b, err := c.Batch()
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	c.Dwellings(func(r *engine.Record) error {
		if len(ids) < 10 {
			ids = append(ids, r.ID)
		}
		return nil
	})
	a := serveNode(t, nats.url(), "a", t.TempDir(), time.Second, time.Now, func(st *store.Store) error {
		if err := st.Load([]*engine.Batch{b}, c.Boundaries()); err != nil {
			return err
		}
		return st.Seed("a")
	})
	waitFor(t, 10*time.Second, "a takes the lease", func() bool { return a.st.Replication().Role == "leader" })
	bn := serveNode(t, nats.url(), "b", "", time.Second, time.Now, nil)
	nodes := []*served{a, bn}
	write(t, bn, "PATCH", "/api/v1/dwellings/"+ids[0], `{"set":["isolated"]}`, 200) // through the 307 to a
	v := converged(t, 10*time.Second, nodes...)
	reads := []struct{ method, path, body string }{
		{"GET", "/api/v1/dwellings/" + ids[0], ""},
		{"GET", "/api/v1/units/grid?where=isolated", ""},
		{"POST", "/api/v1/query/grid", `{"level":"community","where":"isolated | rental"}`},
	}
	d0, err := a.st.Engine().Dwelling(ids[0])
	if err != nil {
		t.Fatal(err)
	}
	building := d0.Building
	flagsOf := func(n *served, id string) string {
		d, err := n.st.Engine().Dwelling(id)
		if err != nil {
			t.Fatal(err)
		}
		return strings.Join(d.Flags, ",")
	}
	refused := []string{flagsOf(a, ids[1]), flagsOf(a, ids[2])}
	before := map[string]string{}
	for _, q := range reads {
		before[q.path] = comparable(mustAsk(t, a, q.method, q.path, q.body, v))
	}

	down := time.Now()
	lost := down.UTC().Truncate(time.Second)
	nats.stop()
	for _, n := range nodes {
		waitFor(t, 10*time.Second, n.name+" says stale", func() bool { return healthOf(t, n).Status == "stale" })
		h := healthOf(t, n)
		at, ok := strings.CutPrefix(h.Reason, "no connection to NATS since ")
		at, _, _ = strings.Cut(at, ": ")
		when, err := time.Parse(time.RFC3339, at)
		if !ok || err != nil || when.Before(lost) || when.After(time.Now()) || h.Version != uint64(v) {
			t.Fatalf("%s while NATS is down: %+v (lost at %s)", n.name, h, lost.Format(time.RFC3339))
		}
	}
	// the leader stops taking changes once its lease can no longer be
	// renewed (before anyone else could take it)
	waitFor(t, 10*time.Second, "a steps down", func() bool { return healthOf(t, a).Role == "follower" })
	// an outage of three lease TTLs: reads answer, changes are refused,
	// throughout
	for round := 0; round == 0 || time.Since(down) < 3*time.Second; round++ {
		duringOutage(t, nodes, reads, before, ids, building, v)
	}

	nats.start()
	for _, n := range nodes {
		waitFor(t, 15*time.Second, n.name+" says ok again", func() bool { return healthOf(t, n).Status == "ok" })
	}
	// changes are taken again, sent to either node, once a node holds the
	// lease (503 until then)
	for i, n := range []*served{bn, a, bn} {
		id := fmt.Sprintf("AFTER-%d", i)
		body := fmt.Sprintf(`{"lon":%v,"lat":%v,"building":%q,"floor":%d,"room":"%d01"}`, d0.Lon, d0.Lat, building, 30+i, 30+i)
		start := time.Now()
		write(t, n, "PUT", "/api/v1/dwellings/"+id, body, 201) // 503 until a node holds the lease
		t.Logf("change %d (to %s) accepted %v after the first try", i, n.name, time.Since(start).Round(time.Millisecond))
	}
	v2 := converged(t, 10*time.Second, nodes...)
	if v2 != v+3 {
		t.Fatalf("after the outage at version %d, want %d", v2, v+3)
	}
	for _, n := range nodes {
		for i := 0; i < 3; i++ {
			if d, err := n.st.Engine().Dwelling(fmt.Sprintf("AFTER-%d", i)); err != nil || d.Building != building {
				t.Fatalf("%s: a dwelling added after the outage: %+v %v", n.name, d, err)
			}
		}
		if got := []string{flagsOf(n, ids[1]), flagsOf(n, ids[2])}; got[0] != refused[0] || got[1] != refused[1] {
			t.Fatalf("%s: changes refused during the outage were applied: flags %v, were %v", n.name, got, refused)
		}
		if h := healthOf(t, n); h.Status != "ok" || h.Lag != 0 {
			t.Fatalf("%s after the outage: %+v", n.name, h)
		}
	}
}

// duringOutage checks, on each node while NATS is down, that reads answer
// as before, that every kind of change is refused with 503 unavailable
// and Retry-After: 1, applying nothing, and that /healthz says stale.
func duringOutage(t *testing.T, nodes []*served, reads []struct{ method, path, body string }, before map[string]string, ids []string, building string, v engine.Version) {
	t.Helper()
	for _, n := range nodes {
		for _, q := range reads {
			if got := comparable(mustAsk(t, n, q.method, q.path, q.body, 0)); got != before[q.path] {
				t.Fatalf("%s %s on %s while NATS is down:\n%s\nwas %s", q.method, q.path, n.name, got, before[q.path])
			}
		}
		for _, w := range []struct{ method, path, body string }{
			{"PATCH", "/api/v1/dwellings/" + ids[1], `{"set":["rental"]}`},
			{"POST", "/api/v1/updates", fmt.Sprintf(`{"id":%q,"set":["rental"]}`, ids[2])},
			{"PUT", "/api/v1/schemes/quiet", `{"rules":[],"default":{"state":"n","label":"n","color":"#000000","shape":"circle"}}`},
			{"POST", "/api/v1/visits", fmt.Sprintf(`{"building":%q}`, building)},
		} {
			code, out, h := call(t, w.method, n.url+w.path, w.body)
			var e struct{ Error struct{ Code string } }
			json.Unmarshal(out, &e)
			if code != 503 || e.Error.Code != "unavailable" || h.Get("Retry-After") != "1" {
				t.Fatalf("%s %s on %s while NATS is down: %d Retry-After %q %s", w.method, w.path, n.name, code, h.Get("Retry-After"), out)
			}
		}
		if n.st.Engine().Version() != v {
			t.Fatalf("%s applied a change while NATS was down", n.name)
		}
		if h := healthOf(t, n); h.Status != "stale" || h.Role != "follower" {
			t.Fatalf("%s while NATS is down: %+v", n.name, h)
		}
	}

}

// TestNodeCutOff: one node at a time loses its connection to NATS while
// the other keeps it. A follower cut off answers reads of the state it
// has, says stale, refuses changes with 503 unavailable while the leader
// goes on taking them, and once its connection is back applies what it
// missed by itself. A leader cut off stops taking changes (before the
// other node takes the lease: never two nodes taking changes), the other
// node takes the lease and the changes, and once back the old leader
// follows it, catches up and sends writers to it.
func TestNodeCutOff(t *testing.T) {
	nats := startNATSProc(t)
	c := city.New(city.Config{N: 2_000, Seed: 11})
	b, err := c.Batch()
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	c.Dwellings(func(r *engine.Record) error {
		if len(ids) < 100 {
			ids = append(ids, r.ID)
		}
		return nil
	})
	target := strings.TrimPrefix(nats.url(), "nats://")
	ca, cb := newCutter(t, target), newCutter(t, target)
	a := serveNode(t, ca.url(), "a", t.TempDir(), time.Second, time.Now, func(st *store.Store) error {
		if err := st.Load([]*engine.Batch{b}, c.Boundaries()); err != nil {
			return err
		}
		return st.Seed("a")
	})
	waitFor(t, 10*time.Second, "a takes the lease", func() bool { return a.st.Replication().Role == "leader" })
	bn := serveNode(t, cb.url(), "b", "", time.Second, time.Now, nil)
	nodes := []*served{a, bn}
	change := func(n *served, i int) {
		t.Helper()
		write(t, n, "PATCH", "/api/v1/dwellings/"+ids[i%len(ids)], fmt.Sprintf(`{"set":["isolated"],"clear":["rental"],"until":%q}`,
			time.Now().Add(time.Duration(i+1)*time.Hour).Format(time.RFC3339)), 200)
	}
	refused := func(n *served, i int) {
		t.Helper()
		v := n.st.Engine().Version()
		code, out, h := call(t, "PUT", n.url+"/api/v1/dwellings/CUT-"+fmt.Sprint(i), `{"lon":121.47,"lat":31.23,"building":"CUT"}`)
		var e struct{ Error struct{ Code string } }
		json.Unmarshal(out, &e)
		if code != 503 || e.Error.Code != "unavailable" || h.Get("Retry-After") != "1" || n.st.Engine().Version() != v {
			t.Fatalf("a change on %s, cut off: %d Retry-After %q %s", n.name, code, h.Get("Retry-After"), out)
		}
	}
	same := func() {
		t.Helper()
		v := converged(t, 15*time.Second, nodes...)
		for _, q := range []struct{ method, path, body string }{
			{"GET", "/api/v1/dwellings/" + ids[7], ""},
			{"GET", "/api/v1/units/grid?where=isolated", ""},
			{"GET", "/api/v1/schemes", ""},
		} {
			if x, y := comparable(mustAsk(t, a, q.method, q.path, q.body, v)), comparable(mustAsk(t, bn, q.method, q.path, q.body, v)); x != y {
				t.Fatalf("%s %s: a answers %s, b %s", q.method, q.path, x, y)
			}
		}
		for _, n := range nodes {
			waitFor(t, 5*time.Second, n.name+" ok, no lag", func() bool { h := healthOf(t, n); return h.Status == "ok" && h.Lag == 0 })
		}
	}
	for i := 0; i < 5; i++ {
		change(bn, i)
	}
	same()

	// the follower is cut off; the leader goes on
	cb.cut()
	waitFor(t, 10*time.Second, "b says stale", func() bool { return healthOf(t, bn).Status == "stale" })
	vb := bn.st.Engine().Version()
	refused(bn, 0)
	for i := 5; i < 40; i++ {
		change(a, i)
	}
	write(t, a, "PUT", "/api/v1/schemes/cut", `{"rules":[],"default":{"state":"n","label":"n","color":"#000000","shape":"circle"}}`, 200)
	waitFor(t, 10*time.Second, "a leads, b cut off", func() bool { h := healthOf(t, a); return h.Status == "ok" && h.Role == "leader" })
	if h := healthOf(t, bn); h.Status != "stale" || h.Version != uint64(vb) || bn.st.Engine().Version() != vb {
		t.Fatalf("b, cut off, moved: %+v (was at %d)", h, vb)
	}
	cb.mend()
	same()

	// the leader is cut off: it stops taking changes, b takes the lease
	ca.cut()
	waitFor(t, 10*time.Second, "a says stale", func() bool { return healthOf(t, a).Status == "stale" })
	waitFor(t, 15*time.Second, "b takes the lease", func() bool {
		if takesChanges(a) && takesChanges(bn) {
			t.Fatal("two nodes take changes")
		}
		return bn.st.Replication().Role == "leader"
	})
	refused(a, 1)
	for i := 40; i < 60; i++ {
		change(bn, i)
	}
	va := a.st.Engine().Version()
	if va >= bn.st.Engine().Version() {
		t.Fatalf("a at %d, b at %d", va, bn.st.Engine().Version())
	}
	ca.mend()
	same()
	if h := healthOf(t, a); h.Role != "follower" {
		t.Fatalf("a after its connection is back: %+v", h)
	}
	// writers sent to a go to b (once a has read who holds the lease:
	// 503 with Retry-After: 1 until then)
	start := time.Now()
	for i := 60; i < 65; i++ {
		change(a, i)
	}
	t.Logf("changes through a accepted within %v of its catching up", time.Since(start).Round(time.Millisecond))
	same()
}

// TestLeaderPartitioned: the leader's network to NATS goes silent (no
// connection closes: a partition), with a change on its way. Reads go on
// answering throughout, the change in flight is answered 503 unavailable
// once the journal's deadline (10 s) passes and is applied nowhere, the
// leader says stale once its pings go unanswered, the other node takes the
// lease and the changes, and once the partition heals the old leader
// follows it and catches up.
func TestLeaderPartitioned(t *testing.T) {
	nats := startNATSProc(t)
	c := city.New(city.Config{N: 2_000, Seed: 13})
	b, err := c.Batch()
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	c.Dwellings(func(r *engine.Record) error {
		if len(ids) < 40 {
			ids = append(ids, r.ID)
		}
		return nil
	})
	ca := newCutter(t, strings.TrimPrefix(nats.url(), "nats://"))
	a := serveNode(t, ca.url(), "a", t.TempDir(), time.Second, time.Now, func(st *store.Store) error {
		if err := st.Load([]*engine.Batch{b}, c.Boundaries()); err != nil {
			return err
		}
		return st.Seed("a")
	})
	waitFor(t, 10*time.Second, "a takes the lease", func() bool { return a.st.Replication().Role == "leader" })
	bn := serveNode(t, nats.url(), "b", "", time.Second, time.Now, nil)
	write(t, bn, "PATCH", "/api/v1/dwellings/"+ids[0], `{"set":["isolated"]}`, 200)
	v := converged(t, 10*time.Second, a, bn)
	read := comparable(mustAsk(t, a, "GET", "/api/v1/units/grid?where=isolated", "", v))

	// a change in flight when the partition starts: the leader took it
	// (its lease was renewed within the last TTL/4) and waits for the stream
	ca.silence()
	start := time.Now()
	type answer struct {
		code int
		out  []byte
		h    http.Header
		err  error
	}
	inFlight := make(chan answer, 1)
	go func() {
		req, _ := http.NewRequest("PUT", a.url+"/api/v1/dwellings/LOST-1", strings.NewReader(`{"lon":121.47,"lat":31.23,"building":"LOST"}`))
		resp, err := httpClient.Do(req)
		if err != nil {
			inFlight <- answer{err: err}
			return
		}
		defer resp.Body.Close()
		out, err := io.ReadAll(resp.Body)
		inFlight <- answer{resp.StatusCode, out, resp.Header, err}
	}()
	// reads answer meanwhile, though the one writer waits for the stream
	for i := 0; i < 5; i++ {
		if got := comparable(mustAsk(t, a, "GET", "/api/v1/units/grid?where=isolated", "", 0)); got != read {
			t.Fatalf("a read while partitioned: %s, was %s", got, read)
		}
		time.Sleep(50 * time.Millisecond)
	}
	waitFor(t, 15*time.Second, "b takes the lease", func() bool {
		if takesChanges(a) && takesChanges(bn) {
			t.Fatal("two nodes take changes")
		}
		return bn.st.Replication().Role == "leader"
	})
	for i := 1; i < 10; i++ {
		write(t, bn, "PATCH", "/api/v1/dwellings/"+ids[i], `{"set":["rental"]}`, 200)
	}
	waitFor(t, 15*time.Second, "a says stale", func() bool { return healthOf(t, a).Status == "stale" })
	t.Logf("a stale %v after the partition began", time.Since(start).Round(time.Millisecond))
	select {
	case r := <-inFlight:
		var e struct {
			Error struct{ Code, Message string }
		}
		json.Unmarshal(r.out, &e)
		took := time.Since(start)
		if r.err != nil {
			t.Fatalf("the change in flight: %v", r.err)
		}
		if r.code != 503 || e.Error.Code != "unavailable" || r.h.Get("Retry-After") != "1" || took > 15*time.Second {
			t.Fatalf("the change in flight: %d after %v, Retry-After %q %s", r.code, took, r.h.Get("Retry-After"), r.out)
		}
		t.Logf("the change in flight answered %d after %v: %s", r.code, took.Round(time.Millisecond), e.Error.Message)
	case <-time.After(20 * time.Second):
		t.Fatal("the change in flight was not answered within 20 s")
	}
	if code, out, h := call(t, "PATCH", a.url+"/api/v1/dwellings/"+ids[20], `{"set":["rental"]}`); code != 503 || h.Get("Retry-After") != "1" {
		t.Fatalf("a change on a, partitioned: %d %s", code, out)
	}

	ca.mend()
	waitFor(t, 15*time.Second, "a says ok again", func() bool { return healthOf(t, a).Status == "ok" })
	v2 := converged(t, 15*time.Second, a, bn)
	if v2 != v+9 {
		t.Fatalf("at version %d after the partition, want %d (the 9 changes on b)", v2, v+9)
	}
	for _, n := range []*served{a, bn} {
		if _, err := n.st.Engine().Dwelling("LOST-1"); err == nil {
			t.Fatalf("%s applied the change refused in the partition", n.name)
		}
		if h := healthOf(t, n); h.Status != "ok" || h.Lag != 0 {
			t.Fatalf("%s after the partition: %+v", n.name, h)
		}
	}
	if h := healthOf(t, a); h.Role != "follower" {
		t.Fatalf("a after the partition: %+v", h)
	}
}

// takesChanges reports whether n would take a change now (it holds the
// lease, renewed in time, and reaches NATS).
func takesChanges(n *served) bool {
	u, err := n.r.Writer()
	return err == nil && u == ""
}
