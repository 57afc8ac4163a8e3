package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// soakDuration is how long TestSoak loads the server: ROOMSTATE_SOAK (a Go
// duration, e.g. 5m), else 12 s, short enough for make test.
func soakDuration(t *testing.T) time.Duration {
	s := os.Getenv("ROOMSTATE_SOAK")
	if s == "" {
		return 12 * time.Second
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 3*time.Second {
		t.Fatalf("ROOMSTATE_SOAK=%q: want a duration of at least 3s (e.g. 5m)", s)
	}
	return d
}

// soakChange is an acknowledged change of one dwelling's flags, as the
// change feed must show it at its version.
type soakChange struct {
	id         string
	set, clear []string
}

// soakLedger is what the server acknowledged: each change by version, and
// each dwelling's last acknowledged flag code.
type soakLedger struct {
	mu        sync.Mutex
	byVersion map[uint64]soakChange
	last      map[string]int
}

func (l *soakLedger) ack(v uint64, ids []string, set, clear []string, c int) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	// a batch of n lines is versions v−n+1 … v, a line a version
	for i, id := range ids {
		ver := v - uint64(len(ids)-1-i)
		if _, dup := l.byVersion[ver]; dup {
			return fmt.Errorf("version %d acknowledged twice", ver)
		}
		l.byVersion[ver] = soakChange{id: id, set: set, clear: clear}
		l.last[id] = c
	}
	return nil
}

// soakStats counts what the clients saw; bad keeps the first failures.
type soakStats struct {
	requests, writes atomic.Int64
	mu               sync.Mutex
	bad              []string
	nbad             int
}

func (s *soakStats) fail(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nbad++
	if len(s.bad) < 20 {
		s.bad = append(s.bad, fmt.Sprintf(format, args...))
	}
}

// do sends one request and returns the status and body; a transport error
// or a status other than want is a failure (a 5xx above all).
func (s *soakStats) do(hc *http.Client, method, url, ctype string, body []byte, want ...int) (int, []byte, bool) {
	s.requests.Add(1)
	req, _ := http.NewRequest(method, url, bytes.NewReader(body))
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := hc.Do(req)
	if err != nil {
		s.fail("%s %s: %v", method, url, err)
		return 0, nil, false
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !slices.Contains(want, resp.StatusCode) {
		s.fail("%s %s: %d %.200s", method, url, resp.StatusCode, b)
		return resp.StatusCode, b, false
	}
	return resp.StatusCode, b, true
}

// soakSub is one subscriber of the change feed: the versions it received,
// in order, and their events.
type soakSub struct {
	name       string
	reconnect  time.Duration // drop the stream and resume with Last-Event-ID this often (0: never)
	first      uint64        // the first version it is to receive
	versions   []uint64
	events     map[uint64]string
	last       atomic.Uint64
	reconnects int
	err        error
}

// run reads the feed from since until ctx ends, resuming after each drop,
// each gone and each end of the stream from the last version received.
func (sb *soakSub) run(ctx context.Context, url string, since uint64) {
	sb.events = map[uint64]string{}
	sb.last.Store(since)
	for ctx.Err() == nil {
		cctx, cancel := context.WithCancel(ctx)
		if sb.reconnect > 0 {
			time.AfterFunc(sb.reconnect, cancel)
		}
		req, _ := http.NewRequestWithContext(cctx, "GET", url+"/api/v1/changes", nil)
		req.Header.Set("Last-Event-ID", strconv.FormatUint(sb.last.Load(), 10))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			cancel()
			if ctx.Err() == nil && cctx.Err() == nil {
				sb.err = fmt.Errorf("connect: %v", err)
				return
			}
			continue
		}
		if resp.StatusCode != 200 {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			cancel()
			sb.err = fmt.Errorf("changes since %d: %d %s", sb.last.Load(), resp.StatusCode, b)
			return
		}
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		var id uint64
		var kind, data string
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if kind == "change" {
					var ev struct{ Version uint64 }
					if err := json.Unmarshal([]byte(data), &ev); err != nil || ev.Version != id {
						sb.err = fmt.Errorf("event id %d with data %s", id, data)
					}
					sb.versions = append(sb.versions, id)
					sb.events[id] = data
					sb.last.Store(id)
				}
				kind, data = "", ""
			case strings.HasPrefix(line, "id: "):
				id, _ = strconv.ParseUint(line[4:], 10, 64)
			case strings.HasPrefix(line, "event: "):
				kind = line[7:]
			case strings.HasPrefix(line, "data: "):
				data = line[6:]
			}
			if sb.err != nil {
				break
			}
		}
		resp.Body.Close()
		cancel()
		if sb.err != nil {
			return
		}
		sb.reconnects++ // gone, the end of the stream or our own drop: resume
	}
}

// check reports what is wrong with the feed the subscriber received: every
// version from its first to final once, in order, each the acknowledged
// change.
func (sb *soakSub) check(final uint64, l *soakLedger) error {
	if sb.err != nil {
		return sb.err
	}
	first := sb.first
	want := first
	for i, v := range sb.versions {
		if v != want {
			return fmt.Errorf("event %d is version %d, want %d (after %v)", i, v, want, sb.versions[max(0, i-3):i])
		}
		want++
	}
	if want != final+1 {
		return fmt.Errorf("received versions %d to %d, want to %d", first, want-1, final)
	}
	for v := first; v <= final; v++ {
		c, ok := l.byVersion[v]
		if !ok {
			return fmt.Errorf("version %d is in the feed but was never acknowledged", v)
		}
		var ev struct {
			Op, ID     string
			Set, Clear []string
		}
		if err := json.Unmarshal([]byte(sb.events[v]), &ev); err != nil {
			return fmt.Errorf("version %d: %v", v, err)
		}
		if ev.Op != "flags" || ev.ID != c.id || !sameSet(ev.Set, c.set) || !sameSet(ev.Clear, c.clear) {
			return fmt.Errorf("version %d: the feed says %s, the change acknowledged was %s set %v clear %v", v, sb.events[v], c.id, c.set, c.clear)
		}
	}
	return nil
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// rssOf is a process's resident set in bytes (0 where /proc is not there).
func rssOf(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

// tileOf is the tile at zoom z holding a point.
func tileOf(lon, lat float64, z int) (int, int) {
	n := math.Exp2(float64(z))
	x := int((lon + 180) / 360 * n)
	r := lat * math.Pi / 180
	y := int((1 - math.Log(math.Tan(r)+1/math.Cos(r))/math.Pi) / 2 * n)
	return x, y
}

// TestSoak runs the real binary (serve --load with --data-dir) for a
// bounded time (ROOMSTATE_SOAK, default 12 s) under concurrent clients:
// writers sending durable PATCHes and NDJSON batches to dwellings of their
// own, readers asking polygon queries, units (with since), the legend,
// dwellings and tiles, and change feed subscribers (one reading from the
// start, one dropping its stream every 1.5 s and resuming with
// Last-Event-ID, one joining halfway through from some thousands of changes
// back). At the end: no 5xx (nor any other unexpected status or broken
// connection), and no reader's answer older than the one before; every
// acknowledged change is what its dwelling shows, and the server's version
// is the last acknowledged; each subscriber received every version once,
// in order, each the change acknowledged at it; and the process's resident
// memory at the end is within twice what it was a third of the way in.
func TestSoak(t *testing.T) {
	if testing.Short() {
		t.Skip("soak test: not in -short")
	}
	dur := soakDuration(t)
	dir := genCity(t, 30_000)
	csv := filepath.Join(dir, "dwellings.csv")
	// history kept for a second: it is trimmed once a minute, so after a
	// minute what it holds stops growing (as does the change feed's
	// backlog, once it holds its 100,000 changes), and memory that still
	// grows in a long run is a leak
	p := startProc(t, "serve", "--load", csv, "--boundaries", filepath.Join(dir, "boundaries.geojson"),
		"--data-dir", t.TempDir(), "--addr", "127.0.0.1:0", "--log-level", "warn", "--history", "1s")
	stopped := false
	defer func() {
		if !stopped {
			p.kill()
		}
	}()
	// first fill the change feed's backlog (100,000 changes), so that a
	// third of the way in it holds all it ever will
	warm := time.Now()
	for b := 0; b < 10; b++ {
		verb := []string{"set", "clear"}[b%2]
		var body bytes.Buffer
		for i := 1; i <= 10_000; i++ {
			fmt.Fprintf(&body, "{\"id\":\"RS-%08d\",%q:[\"rental\"]}\n", i, verb)
		}
		if code, out, err := send(http.DefaultClient, "POST", p.url+"/api/v1/updates", body.String()); err != nil || code != 200 {
			t.Fatalf("warming up: %d %s %v", code, out, err)
		}
	}
	t.Logf("100,000 changes to fill the feed's backlog in %v", time.Since(warm).Round(time.Millisecond))
	var h health
	getJSON(t, p.url+"/healthz", &h)
	v0 := h.Version
	w, s, e, n := cityBox(t, csv)

	// writers: dwellings of their own, disjoint
	const patchers, batchers, batchLines, perPatcher = 3, 2, 12, 4
	var ids []string
	for i := 1; len(ids) < patchers*perPatcher+batchers*batchLines; i++ {
		ids = append(ids, fmt.Sprintf("RS-%08d", i*53))
	}
	ledger := &soakLedger{byVersion: map[uint64]soakChange{}, last: map[string]int{}}
	stats := &soakStats{}
	hc := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 32}}

	// readers' questions: a fixed pool, so that caches fill and stay full
	rng := rand.New(rand.NewPCG(7, 7))
	polygons := randomQueries(rng, 24, w, s, e, n)
	var grids struct{ Units []struct{ ID string } }
	getJSON(t, p.url+"/api/v1/units/grid", &grids)
	if len(grids.Units) == 0 {
		t.Fatal("no grids")
	}
	var tiles []string
	for z := 12; z <= 15; z++ {
		for i := 0; i < 8; i++ {
			x, y := tileOf(w+rng.Float64()*(e-w), s+rng.Float64()*(n-s), z)
			tiles = append(tiles, fmt.Sprintf("/tiles/%d/%d/%d.mvt", z, x, y))
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	subs := []*soakSub{{name: "from the start"}, {name: "resuming", reconnect: 1500 * time.Millisecond}, {name: "joining late"}}
	var subsWG sync.WaitGroup
	subCtx, stopSubs := context.WithCancel(context.Background())
	defer stopSubs()
	startSub := func(sb *soakSub, since uint64) {
		sb.first = since + 1
		subsWG.Add(1)
		go func() { defer subsWG.Done(); sb.run(subCtx, p.url, since) }()
	}
	startSub(subs[0], v0)
	startSub(subs[1], v0)

	// each client sends a request, then waits pause: the writers at a
	// steady rate (some 2,000 changes a second at most, as a city's busiest
	// hour might see; as many as a slow machine allows), the readers as fast
	// as they are answered
	var wg sync.WaitGroup
	loop := func(pause time.Duration, f func(i int) bool) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				if !f(i) {
					return
				}
				if pause > 0 {
					select {
					case <-ctx.Done():
					case <-time.After(pause):
					}
				}
			}
		}()
	}
	for k := 0; k < patchers; k++ {
		own := ids[k*perPatcher : (k+1)*perPatcher]
		loop(4*time.Millisecond, func(i int) bool {
			id := own[i%len(own)]
			set, clear := code(i)
			b, _ := json.Marshal(map[string]any{"set": set, "clear": clear})
			_, out, ok := stats.do(hc, "PATCH", p.url+"/api/v1/dwellings/"+id, "application/json", b, 200)
			if !ok {
				return false
			}
			var ans struct {
				Version uint64
				Flags   []string
			}
			if err := json.Unmarshal(out, &ans); err != nil || decode(ans.Flags) != i%15+1 {
				stats.fail("PATCH %s: %s", id, out)
				return false
			}
			if err := ledger.ack(ans.Version, []string{id}, set, clear, i%15+1); err != nil {
				stats.fail("%v", err)
				return false
			}
			stats.writes.Add(1)
			return true
		})
	}
	for k := 0; k < batchers; k++ {
		own := ids[patchers*perPatcher+k*batchLines : patchers*perPatcher+(k+1)*batchLines]
		loop(20*time.Millisecond, func(i int) bool {
			set, clear := code(i)
			var body bytes.Buffer
			for _, id := range own {
				b, _ := json.Marshal(map[string]any{"id": id, "set": set, "clear": clear})
				body.Write(b)
				body.WriteByte('\n')
			}
			_, out, ok := stats.do(hc, "POST", p.url+"/api/v1/updates", "application/x-ndjson", body.Bytes(), 200)
			if !ok {
				return false
			}
			var ans struct{ Applied, Version uint64 }
			if err := json.Unmarshal(out, &ans); err != nil || ans.Applied != uint64(len(own)) {
				stats.fail("batch: %s", out)
				return false
			}
			if err := ledger.ack(ans.Version, own, set, clear, i%15+1); err != nil {
				stats.fail("%v", err)
				return false
			}
			stats.writes.Add(int64(len(own)))
			return true
		})
	}
	// readers: each answer's version no older than the reader's last
	versioned := func(what string, out []byte, last *uint64) bool {
		var ans struct{ Version uint64 }
		if err := json.Unmarshal(out, &ans); err != nil || ans.Version < *last {
			stats.fail("%s: version %d after %d: %.200s", what, ans.Version, *last, out)
			return false
		}
		*last = ans.Version
		return true
	}
	for k := 0; k < 2; k++ {
		var last uint64
		loop(0, func(i int) bool {
			_, out, ok := stats.do(hc, "POST", p.url+"/api/v1/query/polygon", "application/json", polygons[(i*2+k)%len(polygons)], 200)
			return ok && versioned("polygon", out, &last)
		})
	}
	{
		var last uint64
		loop(0, func(i int) bool {
			g := grids.Units[i%len(grids.Units)].ID
			// since a version of a moment ago (the history kept is short)
			since := strconv.FormatUint(max(v0, last-min(last, 20)), 10)
			paths := []string{"/api/v1/units/street", "/api/v1/units/grid?where=isolated", "/api/v1/units/grid/" + g + "?since=" + since,
				"/api/v1/legend?where=rental", "/api/v1/dwellings/" + ids[i%len(ids)]}
			path := paths[i%len(paths)]
			_, out, ok := stats.do(hc, "GET", p.url+path, "", nil, 200)
			return ok && versioned(path, out, &last)
		})
	}
	loop(0, func(i int) bool {
		_, _, ok := stats.do(hc, "GET", p.url+tiles[i%len(tiles)], "", nil, 200)
		return ok
	})

	// resident memory every tenth of the run, for the log
	var rssMu sync.Mutex
	var rssSeen []string
	wg.Add(1)
	go func() {
		defer wg.Done()
		for tick := time.NewTicker(dur / 10); ; {
			select {
			case <-ctx.Done():
				tick.Stop()
				return
			case <-tick.C:
				rssMu.Lock()
				rssSeen = append(rssSeen, fmt.Sprint(rssOf(p.cmd.Process.Pid)>>20))
				rssMu.Unlock()
			}
		}
	}()
	// a third of the way: resident memory; halfway: the late subscriber
	time.Sleep(dur / 3)
	rssThird := rssOf(p.cmd.Process.Pid)
	time.Sleep(dur/2 - dur/3)
	// from some thousands of changes back (the feed keeps 100,000)
	ledger.mu.Lock()
	since := v0 + uint64(len(ledger.byVersion))
	ledger.mu.Unlock()
	startSub(subs[2], max(v0, since-min(since, 5000)))
	time.Sleep(dur - dur/2)
	cancel()
	wg.Wait()
	rssEnd := rssOf(p.cmd.Process.Pid)

	stats.mu.Lock()
	if stats.nbad > 0 {
		t.Errorf("%d requests failed, the first:\n%s", stats.nbad, strings.Join(stats.bad, "\n"))
	}
	stats.mu.Unlock()
	if stats.writes.Load() < 100 {
		t.Fatalf("only %d changes acknowledged in %v: the test did not load the server", stats.writes.Load(), dur)
	}

	// every acknowledged change is there, and nothing else
	var final uint64
	for v := range ledger.byVersion {
		final = max(final, v)
	}
	getJSON(t, p.url+"/healthz", &h)
	if h.Version != final {
		t.Errorf("the server is at version %d; the last acknowledged change is %d", h.Version, final)
	}
	if got := uint64(len(ledger.byVersion)); got != final-v0 {
		t.Errorf("%d changes acknowledged from version %d to %d", got, v0+1, final)
	}
	for id, c := range ledger.last {
		var d struct{ Flags []string }
		getJSON(t, p.url+"/api/v1/dwellings/"+id, &d)
		if decode(d.Flags) != c {
			t.Errorf("dwelling %s shows %v (code %d); the last acknowledged change gave it code %d", id, d.Flags, decode(d.Flags), c)
		}
	}

	// every subscriber has every change, once, in order
	deadline := time.Now().Add(60 * time.Second)
	for _, sb := range subs {
		for sb.last.Load() < final && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
	}
	stopSubs()
	subsWG.Wait()
	for _, sb := range subs {
		if err := sb.check(final, ledger); err != nil {
			t.Errorf("subscriber %s (%d reconnects): %v", sb.name, sb.reconnects, err)
		}
	}

	t.Logf("%v: %d requests, %d changes acknowledged (versions %d to %d); subscribers' reconnects %d, %d, %d (the last from %d); RSS %d MiB a third of the way, %d MiB at the end (every tenth: %s MiB)",
		dur, stats.requests.Load(), stats.writes.Load(), v0+1, final, subs[0].reconnects, subs[1].reconnects, subs[2].reconnects, subs[2].first,
		rssThird>>20, rssEnd>>20, strings.Join(rssSeen, " "))
	if rssThird > 0 && rssEnd > 2*rssThird {
		t.Errorf("resident memory grew from %d MiB a third of the way to %d MiB at the end", rssThird>>20, rssEnd>>20)
	}
	stopped = true
	p.stop(t)
}
