package replica

import (
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/roomstate/roomstate/city"
	"github.com/roomstate/roomstate/engine"
	"github.com/roomstate/roomstate/store"
)

// TestEveryKindReplicates: every kind of change the one writer applies,
// sent over HTTP to any node of three on one JetStream stream (a follower
// answers 307 and the client follows it to the leader), reaches every node:
// new dwellings, a move to another building, deletes and re-adds, flags
// (PATCH and NDJSON) with and without until, an expiry falling due (the
// leader's own change), schemes, assignments put, replaced and removed,
// visits, a campaign started, changed and another ended. Every node then
// reaches the same version and gives byte-identical answers (but for
// took_us): dwellings with their until, polygon counts of a unit with a
// where, units, responsibility coverage with stale, a person's workload,
// a campaign's numbers by unit, schemes, assignments, a building's room
// state with its responsible and last visit, and questions as_of a past
// version. A fourth node that starts later with no data directory (the
// snapshot kept in the object store halfway through, then the stream
// after it) answers the same too.
func TestEveryKindReplicates(t *testing.T) {
	nats := startNATSProc(t)
	clk := &testClock{t: time.Now()}
	c := city.New(city.Config{N: 3_000, Seed: 7})
	b, err := c.Batch()
	if err != nil {
		t.Fatal(err)
	}
	var recs []engine.Record
	c.Dwellings(func(r *engine.Record) error {
		recs = append(recs, *r)
		return nil
	})
	a := serveNode(t, nats.url(), "a", t.TempDir(), 10*time.Second, clk.now, func(st *store.Store) error {
		if err := st.Load([]*engine.Batch{b}, c.Boundaries()); err != nil {
			return err
		}
		return st.Seed("a")
	})
	waitFor(t, 10*time.Second, "a takes the lease", func() bool { return a.st.Replication().Role == "leader" })
	bn := serveNode(t, nats.url(), "b", t.TempDir(), 10*time.Second, clk.now, nil)
	cn := serveNode(t, nats.url(), "c", "", 10*time.Second, clk.now, nil)
	nodes := []*served{a, bn, cn}
	v0 := a.st.Engine().Version()

	// some dwellings, each in a building of its own, and their units
	byBuilding := map[string]engine.Record{}
	var picks []engine.Record
	for _, r := range recs {
		if _, seen := byBuilding[r.Building]; !seen {
			byBuilding[r.Building] = r
			picks = append(picks, r)
		}
	}
	if len(picks) < 12 {
		t.Fatalf("only %d buildings", len(picks))
	}
	hasFlag := func(id, flag string) bool {
		d, err := a.st.Engine().Dwelling(id)
		if err != nil {
			t.Fatal(err)
		}
		return slices.Contains(d.Flags, flag)
	}
	// send sends a change to node i (round robin over the nodes, so that
	// two of three go through a follower's 307), wanting one of codes.
	step := 0
	send := func(method, path, body string, codes ...int) []byte {
		t.Helper()
		n := nodes[step%len(nodes)]
		step++
		return write(t, n, method, path, body, codes...)
	}
	put := func(id string, r engine.Record, floor int, room string, flags ...string) string {
		fl, _ := json.Marshal(flags)
		return fmt.Sprintf(`{"lon":%v,"lat":%v,"district":%q,"street":%q,"community":%q,"grid":%q,"building":%q,"unit":"9","floor":%d,"room":%q,"flags":%s}`,
			r.Lon, r.Lat, r.District, r.Street, r.Community, r.Grid, r.Building, floor, room, fl)
	}
	until := func(d time.Duration) string { return clk.now().Add(d).Format(time.RFC3339Nano) }

	// dwellings: new ones, a move to another building, deletes, re-adds
	p0, p1, p2, p3 := picks[0], picks[1], picks[2], picks[3]
	send("PUT", "/api/v1/dwellings/NEW-1", put("NEW-1", p0, 3, "301", "rental"), 201)
	send("PUT", "/api/v1/dwellings/NEW-2", put("NEW-2", p1, 4, "401", "elderly_alone"), 201)
	send("PUT", "/api/v1/dwellings/NEW-1", put("NEW-1", p2, 5, "502", "rental", "isolated"), 200) // moves to p2's building
	gone := recs[40].ID
	send("DELETE", "/api/v1/dwellings/"+gone, "", 200)
	send("DELETE", "/api/v1/dwellings/NEW-2", "", 200)
	send("PUT", "/api/v1/dwellings/"+gone, put(gone, p3, 2, "202", "isolated"), 201) // back, elsewhere
	send("PUT", "/api/v1/dwellings/NEW-2", put("NEW-2", p1, 6, "601"), 201)
	send("POST", "/api/v1/updates", fmt.Sprintf(`{"id":%q,"set":["isolated"]}`+"\n"+`{"id":%q,"clear":["rental"],"set":["vaccinated"]}`+"\n"+
		`{"id":%q,"set":["rental"],"until":%q}`+"\n", recs[3].ID, recs[4].ID, recs[5].ID, until(3*time.Hour)), 200)
	past := a.st.Engine().Version() // asked as_of below

	// flags that clear themselves, a scheme, responsibility, campaigns
	expiring, pending := recs[0].ID, recs[1].ID
	send("PATCH", "/api/v1/dwellings/"+expiring, fmt.Sprintf(`{"set":["isolated"],"until":%q}`, until(time.Hour)), 200)
	send("PATCH", "/api/v1/dwellings/"+pending, fmt.Sprintf(`{"set":["rental"],"until":%q}`, until(2*time.Hour)), 200)
	send("PUT", "/api/v1/schemes/quiet", `{"rules":[{"state":"iso","when":"isolated","label":"隔离","color":"#ff0000","shape":"square"}],`+
		`"default":{"state":"n","label":"其他","color":"#cccccc","shape":"circle"}}`, 200)
	send("PUT", "/api/v1/schemes/plain", `{"rules":[],"default":{"state":"n","label":"全部","color":"#999","shape":"circle"}}`, 200)
	bld := byBuilding[recs[0].Building]
	send("PUT", "/api/v1/assignments", fmt.Sprintf(`[{"level":"building","id":%q,"person":"张三","team":"一组","phone":"13800000001"},`+
		`{"level":"grid","id":%q,"person":"李四"},{"level":"community","id":%q,"person":"王五","team":"二组"}]`,
		bld.Building, p1.Grid, p2.Community), 200)
	send("POST", "/api/v1/visits", fmt.Sprintf(`{"building":%q,"note":"已走访"}`, bld.Building), 200)
	send("PUT", "/api/v1/campaigns/vax", `{"label":"疫苗接种","target":"elderly_alone & !vaccinated","goal":"vaccinated","deadline":"2030-12-31"}`, 201)
	send("PUT", "/api/v1/campaigns/drill", `{"target":"isolated","goal":"vaccinated"}`, 201)
	// halfway: a snapshot in the object store (the late node starts from it)
	if err := a.st.Snapshot(); err != nil {
		t.Fatal(err)
	}
	mid, midV := a.st.Applied(), a.st.Engine().Version()

	// after the snapshot: progress, replacements, removals, the expiry
	clk.add(24 * time.Hour / 24 / 2) // half an hour: days and stale move too
	var tasks []string
	for _, r := range recs {
		if hasFlag(r.ID, "elderly_alone") && !hasFlag(r.ID, "vaccinated") {
			tasks = append(tasks, r.ID)
		}
	}
	if len(tasks) < 6 {
		t.Fatalf("only %d tasks", len(tasks))
	}
	for _, id := range tasks[:4] {
		send("PATCH", "/api/v1/dwellings/"+id, `{"set":["vaccinated"]}`, 200)
	}
	send("DELETE", "/api/v1/dwellings/"+tasks[5], "", 200) // a task removed
	send("PUT", "/api/v1/assignments", fmt.Sprintf(`[{"level":"building","id":%q,"person":"李四","phone":"13900000002"},{"level":"community","id":%q,"person":null}]`,
		bld.Building, p2.Community), 200)
	send("POST", "/api/v1/visits", fmt.Sprintf(`{"building":%q}`, p1.Building), 200)
	send("PUT", "/api/v1/campaigns/vax", `{"label":"疫苗接种（加强）","target":"elderly_alone & !vaccinated","goal":"vaccinated"}`, 200)
	send("DELETE", "/api/v1/campaigns/drill", "", 200)
	send("PUT", "/api/v1/schemes/quiet", `{"rules":[{"state":"rent","when":"rental","label":"出租","color":"#00ff00","shape":"star"}],`+
		`"default":{"state":"n","label":"其他","color":"#cccccc","shape":"circle"}}`, 200)
	// every kind at once, from concurrent clients to every node: the
	// leader's groups hold several requests of several kinds, and schemes
	// between them
	entries := a.st.Applied()
	var wg sync.WaitGroup
	var burst atomic.Int64
	for g := 0; g < 5; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 8; i++ {
				n := nodes[(g+i)%len(nodes)]
				r := picks[4+(g*8+i)%(len(picks)-4)]
				var method, path, body string
				switch g {
				case 0:
					method, path, body = "PATCH", "/api/v1/dwellings/"+recs[100+i].ID, fmt.Sprintf(`{"set":["isolated"],"until":%q}`, until(time.Duration(5+i)*time.Hour))
				case 1:
					method, path, body = "PUT", fmt.Sprintf("/api/v1/schemes/s%d", i%3), fmt.Sprintf(`{"rules":[{"state":"x","when":"isolated","label":"%d","color":"#ff0000","shape":"square"}],`+
						`"default":{"state":"n","label":"n","color":"#cccccc","shape":"circle"}}`, i)
				case 2:
					method, path, body = "POST", "/api/v1/visits", fmt.Sprintf(`{"building":%q,"note":"%d"}`, r.Building, i)
				case 3:
					method, path, body = "PUT", "/api/v1/assignments", fmt.Sprintf(`[{"level":"building","id":%q,"person":"赵%d"}]`, r.Building, i%3)
				case 4:
					method, path, body = "PUT", fmt.Sprintf("/api/v1/dwellings/BURST-%d", i%3), put("", r, i, fmt.Sprint(i), "rental")
					if i%4 == 3 {
						method, path, body = "DELETE", fmt.Sprintf("/api/v1/dwellings/BURST-%d", i%3), ""
					}
				}
				for try := 0; ; try++ {
					code, out, h := call(t, method, n.url+path, body)
					if code == 200 || code == 201 {
						break
					}
					if code != 503 || h.Get("Retry-After") == "" || try == 100 {
						t.Errorf("%s %s (to %s) %s: %d %s", method, path, n.name, body, code, out)
						return
					}
					time.Sleep(100 * time.Millisecond)
				}
				burst.Add(1)
			}
		}(g)
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	t.Logf("%d concurrent requests in %d journal entries", burst.Load(), a.st.Applied()-entries)
	v := a.st.Engine().Version()
	clk.add(time.Hour / 2) // the first until falls due: the leader clears it
	waitFor(t, 10*time.Second, "the leader clears the expired flag", func() bool { return !hasFlag(expiring, "isolated") })
	if a.st.Engine().Version() != v+1 {
		t.Fatalf("the expiry took versions %d to %d, want one", v, a.st.Engine().Version())
	}

	// what every node must answer alike, with a check of the leader's
	// answer where it shows a change took effect
	esc := url.PathEscape
	type question struct {
		method, path, body string
		want               []string // in the answer
	}
	qs := []question{
		{"GET", "/api/v1/dwellings/NEW-1", "", []string{`"building":"` + p2.Building + `"`, `"room":"502"`}},
		{"GET", "/api/v1/dwellings/NEW-2", "", []string{`"room":"601"`}},
		{"GET", "/api/v1/dwellings/" + gone, "", []string{`"building":"` + p3.Building + `"`}},
		{"GET", "/api/v1/dwellings/" + tasks[5], "", []string{`not_found`}},
		{"GET", "/api/v1/dwellings/" + expiring, "", nil},
		{"GET", "/api/v1/dwellings/" + pending, "", []string{`"expires":{"rental":`}},
		{"GET", "/api/v1/dwellings/" + recs[5].ID, "", []string{`"expires":{"rental":`}},
		{"GET", "/api/v1/dwellings/" + recs[4].ID, "", []string{`"vaccinated"`}},
		{"GET", "/api/v1/dwellings/" + recs[100].ID, "", []string{`"expires":{"isolated":`}},
		{"GET", "/api/v1/dwellings/BURST-0", "", []string{`"room":"6"`}},
		{"GET", "/api/v1/dwellings/BURST-1", "", []string{`not_found`}},
		{"GET", "/api/v1/schemes/s2", "", nil},
		{"POST", "/api/v1/query/polygon", fmt.Sprintf(`{"unit":{"level":"street","id":%q},"where":"isolated | rental","group_by":"grid"}`, p2.Street), []string{`"matched"`}},
		{"POST", "/api/v1/query/polygon", fmt.Sprintf(`{"unit":{"level":"street","id":%q},"where":"isolated & !vaccinated","group_by":"building","as_of":%d}`, p2.Street, past), nil},
		{"POST", "/api/v1/query/grid", fmt.Sprintf(`{"level":"community","where":"rental","as_of":%d}`, past), nil},
		{"POST", "/api/v1/query/grid", `{"level":"grid","where":"elderly_alone & !vaccinated"}`, nil},
		{"GET", "/api/v1/units/grid?where=" + esc("isolated|rental"), "", nil},
		{"GET", "/api/v1/units/community/" + esc(p2.Community) + "?where=isolated", "", nil},
		{"GET", "/api/v1/units/street?where=isolated&as_of=" + fmt.Sprint(past), "", nil},
		{"GET", "/api/v1/responsibility?level=grid&where=isolated&stale=1h", "", []string{`"assigned"`}},
		{"GET", "/api/v1/responsibility?level=community&where=rental", "", nil},
		{"GET", "/api/v1/persons/" + esc("李四") + "?where=rental", "", []string{`"id":"` + bld.Building + `"`}},
		{"GET", "/api/v1/persons/" + esc("王五"), "", []string{`not_found`}},
		{"GET", "/api/v1/persons/" + esc("张三"), "", []string{`not_found`}},
		{"GET", "/api/v1/assignments", "", []string{`"13900000002"`}},
		{"GET", "/api/v1/campaigns", "", []string{`"name":"vax"`, `疫苗接种（加强）`}},
		{"GET", "/api/v1/campaigns/vax?level=grid", "", []string{`"done":4`, `"removed":1`}},
		{"GET", "/api/v1/campaigns/vax?level=community", "", nil},
		{"GET", "/api/v1/campaigns/drill", "", []string{`not_found`}},
		{"GET", "/api/v1/schemes", "", []string{`"rent"`, `"plain":{"rules":[]`}},
		{"GET", "/api/v1/buildings/" + esc(bld.Building) + "/roomstate?scheme=quiet", "", []string{`"person":"李四"`, `"last_visit":{`}},
		{"GET", "/api/v1/buildings/" + esc(p2.Building) + "/roomstate?as_of=" + fmt.Sprint(past), "", nil},
		{"GET", "/api/v1/legend?scheme=quiet", "", nil},
		// a series to a fixed time (to=now would differ by the nanoseconds
		// between two nodes' answers), from the default: as far back as the
		// history every node keeps goes
		{"GET", "/api/v1/history?level=street&id=" + esc(p2.Street) + "&where=isolated&step=1h&to=" + url.QueryEscape(clk.now().Format(time.RFC3339Nano)), "", []string{`"points":[{`}},
	}
	if strings.Contains(string(mustAsk(t, a, "GET", "/api/v1/dwellings/"+expiring, "", 0)), `"isolated"`) {
		t.Fatal("the expired flag is still shown")
	}
	ask := func(nodes []*served, v engine.Version) {
		t.Helper()
		for _, q := range qs {
			want := comparable(mustAsk(t, nodes[0], q.method, q.path, q.body, v))
			for _, w := range q.want {
				if !strings.Contains(want, w) {
					t.Errorf("%s %s on %s: %s\nwant it to hold %s", q.method, q.path, nodes[0].name, want, w)
				}
			}
			for _, n := range nodes[1:] {
				if got := comparable(mustAsk(t, n, q.method, q.path, q.body, v)); got != want {
					t.Errorf("%s %s %s:\n%s answers %s\n%s answers %s", q.method, q.path, q.body, nodes[0].name, want, n.name, got)
				}
			}
		}
	}
	v = converged(t, 10*time.Second, nodes...)
	ask(nodes, v)
	sameTrail(t, v0, nodes...)

	// a node that starts later with no data directory: the snapshot kept
	// halfway, then the stream after it
	dn := serveNode(t, nats.url(), "d", "", 10*time.Second, clk.now, nil)
	converged(t, 10*time.Second, a, dn)
	ask([]*served{a, dn}, v)
	sameTrail(t, midV, a, dn)
	seqs, err := a.r.snapshots(t.Context())
	if err != nil || len(seqs) == 0 || seqs[len(seqs)-1] != mid {
		t.Fatalf("kept snapshots %v (%v), want the newest at entry %d", seqs, err, mid)
	}
	if dn.joined != mid || mid >= a.st.Applied() {
		t.Fatalf("d started from entry %d, want the snapshot's %d, behind the stream's end %d", dn.joined, mid, a.st.Applied())
	}
	for _, n := range nodes[1:] {
		if h := healthOf(t, n); h.Status != "ok" || h.Role != "follower" || h.Lag != 0 {
			t.Errorf("%s: %+v", n.name, h)
		}
	}
}

// mustAsk asks node n (at version v or later: min_version) and returns
// the answer, whatever its status.
func mustAsk(t *testing.T, n *served, method, path, body string, v engine.Version) []byte {
	t.Helper()
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	code, out, _ := call(t, method, n.url+path+sep+"min_version="+fmt.Sprint(v), body)
	if code == 503 || code >= 500 {
		t.Fatalf("%s %s on %s: %d %s", method, path, n.name, code, out)
	}
	return out
}

// sameTrail checks that the nodes' change feeds (what their dashboards
// and SSE clients see) and audit trails after version from are the same.
func sameTrail(t *testing.T, from engine.Version, nodes ...*served) {
	t.Helper()
	var want, wantAudit string
	for i, n := range nodes {
		evs, _, err := n.st.Feed().Since(from, 100_000, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, err := json.Marshal(evs)
		if err != nil {
			t.Fatal(err)
		}
		audit := comparable(mustAsk(t, n, "GET", fmt.Sprintf("/api/v1/audit?after=%d&limit=1000", from), "", 0))
		if i == 0 {
			want, wantAudit = string(b), audit
			if len(evs) == 0 || !strings.Contains(audit, `"version"`) {
				t.Fatalf("%s: no changes after version %d in the feed (%d) or the audit trail (%s)", n.name, from, len(evs), audit)
			}
			continue
		}
		if string(b) != want {
			t.Errorf("the change feed after version %d:\n%s has %s\n%s has %s", from, nodes[0].name, want, n.name, b)
		}
		if audit != wantAudit {
			t.Errorf("the audit trail after version %d:\n%s has %s\n%s has %s", from, nodes[0].name, wantAudit, n.name, audit)
		}
	}
}
