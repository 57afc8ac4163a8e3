package server_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/roomstate/roomstate/city"
	"github.com/roomstate/roomstate/engine"
	"github.com/roomstate/roomstate/server"
	"github.com/roomstate/roomstate/store"
)

// writable starts a fresh server (its own engine) for tests that change data.
func writable(t *testing.T, opts store.Options) (*engine.Engine, *store.Store, string, []string) {
	t.Helper()
	c := city.New(city.Config{N: 20_000, Seed: 6})
	b, _ := c.Batch()
	st, err := store.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Load([]*engine.Batch{b}, nil); err != nil {
		t.Fatal(err)
	}
	url, stop := listen(t, st, server.Options{})
	t.Cleanup(stop)
	var ids []string
	c.Dwellings(func(r *engine.Record) error { ids = append(ids, r.ID); return nil })
	return st.Engine(), st, url, ids
}

func TestWriteEndpoints(t *testing.T) {
	e, _, url, ids := writable(t, store.Options{})
	v0 := e.Version()
	cases := []struct {
		method, path, body string
		status             int
		contains           string
	}{
		{"PATCH", "/api/v1/dwellings/" + ids[0], `{"set":["isolated"],"clear":["vaccinated"]}`, 200, `"flags":["isolated"`},
		{"PATCH", "/api/v1/dwellings/" + ids[0], `{"set":["bogus"]}`, 400, `"code":"bad_flag"`},
		{"PATCH", "/api/v1/dwellings/nope", `{"set":["isolated"]}`, 404, `"code":"not_found"`},
		{"PATCH", "/api/v1/dwellings/" + ids[0], `{}`, 400, `at least one flag`},
		{"PATCH", "/api/v1/dwellings/" + ids[0], `{"set":"isolated"}`, 400, `set must be an array`},
		{"PATCH", "/api/v1/dwellings/" + ids[0], `{"set":["isolated"],"clear":["isolated"]}`, 400, `both set and cleared`},
		{"PATCH", "/api/v1/dwellings/" + ids[0], `{"set":["isolated"],"colour":1}`, 400, `unknown field`},
		{"PATCH", "/api/v1/dwellings/" + ids[0], `{"id":"` + ids[1] + `","set":["isolated"]}`, 400, `differs`},
		{"PATCH", "/api/v1/dwellings/" + ids[0], `{"id":"` + ids[0] + `","set":["rental"],"clear":["rental2"]}`, 400, `"code":"bad_flag"`},
		{"POST", "/api/v1/updates", `{"id":"` + ids[1] + `","set":["rental"]}` + "\n\n" + `{"id":"` + ids[2] + `","clear":["rental"]}` + "\n", 200, `"applied":2`},
		{"POST", "/api/v1/updates", `{"id":"` + ids[1] + `","set":["isolated"]}` + "\n" + `{"id":"nope","set":["rental"]}`, 400, `"line":2`},
		{"POST", "/api/v1/updates", `{"id":"` + ids[1] + `","set":["isolated"]}` + "\n" + `{"id":`, 400, `"line":2`},
		{"POST", "/api/v1/updates", `{"id":"` + ids[1] + `","set":["isolated"]}` + "\n" + `{"id":"` + ids[2] + `","set":["bogus"]}`, 400, `"code":"bad_flag"`},
		{"POST", "/api/v1/updates", `[1,2]`, 400, `"line":1`},
		{"POST", "/api/v1/updates", ``, 400, `"code":"bad_json"`},
		{"PUT", "/api/v1/dwellings/NEW-1", `{"lon":121.47,"lat":31.23,"building":"NB","unit":"1","floor":3,"room":"301","flags":["rental"]}`, 201, `"building":"NB"`},
		{"PUT", "/api/v1/dwellings/NEW-1", `{"lon":121.48,"lat":31.23,"building":"NB","floor":4,"room":"401"}`, 200, `"floor":4`},
		{"PUT", "/api/v1/dwellings/NEW-2", `{"lon":121.47}`, 400, `lon and lat are required`},
		{"PUT", "/api/v1/dwellings/NEW-2", `{"lon":500,"lat":31}`, 400, `out of range`},
		{"PUT", "/api/v1/dwellings/NEW-2", `{"id":"OTHER","lon":121,"lat":31}`, 400, `differs`},
		{"PUT", "/api/v1/dwellings/NEW-2", `{"lon":121,"lat":31,"flags":["bogus"]}`, 400, `unknown flag`},
		{"PUT", "/api/v1/dwellings/NEW-2", `{"lon":121,"lat":31,"floor":1.5}`, 400, `floor must be an integer`},
		{"DELETE", "/api/v1/dwellings/NEW-1", ``, 200, `"deleted":true`},
		{"DELETE", "/api/v1/dwellings/NEW-1", ``, 404, `"code":"not_found"`},
		{"GET", "/api/v1/dwellings/NEW-1", ``, 404, `"code":"not_found"`},
		{"POST", "/api/v1/dwellings/" + ids[0], ``, 405, `method_not_allowed`},
	}
	for _, c := range cases {
		code, out, _ := do(t, c.method, url+c.path, c.body)
		if code != c.status || !strings.Contains(string(out), c.contains) {
			t.Errorf("%s %s %q:\n got %d %s\nwant %d containing %s", c.method, c.path, c.body, code, clip(out), c.status, c.contains)
		}
	}
	// exactly the accepted changes moved the version: 1 patch, 2 batch lines, 2 puts, 1 delete
	if got := e.Version() - v0; got != 6 {
		t.Fatalf("version moved by %d, want 6", got)
	}
	d, _ := e.Dwelling(ids[1])
	if !contains(d.Flags, "rental") || contains(d.Flags, "isolated") && !wasIsolated(t, ids[1]) {
		t.Fatalf("%s flags %v", ids[1], d.Flags)
	}
}

// After the store has closed (shutting down), a write or a scheme is not
// the client's fault: 503 unavailable, and nothing changes.
func TestWritesWhileShuttingDown(t *testing.T) {
	e, st, url, ids := writable(t, store.Options{})
	st.Close()
	v0 := e.Version()
	for _, c := range []struct{ method, path, body string }{
		{"PATCH", "/api/v1/dwellings/" + ids[0], `{"set":["isolated"]}`},
		{"POST", "/api/v1/updates", `{"id":"` + ids[1] + `","set":["rental"]}`},
		{"PUT", "/api/v1/schemes/quiet", `{"rules":[],"default":{"state":"n","label":"n","color":"#000000","shape":"circle"}}`},
	} {
		code, out, _ := do(t, c.method, url+c.path, c.body)
		if code != 503 || !strings.Contains(string(out), `"code":"unavailable"`) {
			t.Errorf("%s %s: got %d %s, want 503 unavailable", c.method, c.path, code, clip(out))
		}
	}
	if e.Version() != v0 {
		t.Fatal("a change was applied")
	}
	if _, ok := e.Scheme("quiet"); ok {
		t.Fatal("the scheme was installed")
	}
}

func contains(s []string, x string) bool {
	for _, v := range s {
		if v == x {
			return true
		}
	}
	return false
}

// wasIsolated: the generated city may have made it isolated to begin with.
func wasIsolated(t *testing.T, id string) bool {
	c := city.New(city.Config{N: 20_000, Seed: 6})
	iso := false
	c.Dwellings(func(r *engine.Record) error {
		if r.ID == id {
			iso = r.Flags[0]&1 != 0
		}
		return nil
	})
	return iso
}

// TestReadYourWrites: a query answered after a write's response reflects it.
func TestReadYourWrites(t *testing.T) {
	e, _, url, ids := writable(t, store.Options{})
	d, _ := e.Dwelling(ids[5])
	body := fmt.Sprintf(`{"geometry":{"type":"Polygon","coordinates":[[[%v,%v],[%v,%v],[%v,%v],[%v,%v],[%v,%v]]]},"where":"isolated"}`,
		d.Lon-0.0001, d.Lat-0.0001, d.Lon+0.0001, d.Lat-0.0001, d.Lon+0.0001, d.Lat+0.0001, d.Lon-0.0001, d.Lat+0.0001, d.Lon-0.0001, d.Lat-0.0001)
	matched := func() int64 {
		_, out, _ := do(t, "POST", url+"/api/v1/query/polygon", body)
		var a polyAnswer
		json.Unmarshal(out, &a)
		return a.Matched
	}
	for i := 0; i < 20; i++ {
		before := matched()
		op, delta := "set", int64(1)
		if contains(mustDwelling(t, e, ids[5]).Flags, "isolated") {
			op, delta = "clear", -1
		}
		if code, out, _ := do(t, "PATCH", url+"/api/v1/dwellings/"+ids[5], `{"`+op+`":["isolated"]}`); code != 200 {
			t.Fatalf("%d %s", code, out)
		}
		if got := matched(); got != before+delta {
			t.Fatalf("after %s: matched %d, want %d", op, got, before+delta)
		}
	}
}

func mustDwelling(t *testing.T, e *engine.Engine, id string) *engine.Dwelling {
	d, err := e.Dwelling(id)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

type sseEvent struct {
	id   uint64
	kind string
	data string
}

// readSSE reads events from a stream until n are read or the context ends.
func readSSE(ctx context.Context, t *testing.T, url string, n int) ([]sseEvent, int) {
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return nil, resp.StatusCode
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		t.Fatalf("content type %q", ct)
	}
	var out []sseEvent
	var cur sseEvent
	sc := bufio.NewScanner(resp.Body)
	for len(out) < n && sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if cur.kind != "" {
				out = append(out, cur)
			}
			cur = sseEvent{}
		case strings.HasPrefix(line, "id: "):
			cur.id, _ = strconv.ParseUint(line[4:], 10, 64)
		case strings.HasPrefix(line, "event: "):
			cur.kind = line[7:]
		case strings.HasPrefix(line, "data: "):
			cur.data = line[6:]
		}
	}
	return out, 200
}

func TestChangeFeed(t *testing.T) {
	e, _, url, ids := writable(t, store.Options{Backlog: 500})
	start := e.Version()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// a subscriber from now sees every change, in order
	var got []sseEvent
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		got, _ = readSSE(ctx, t, fmt.Sprintf("%s/api/v1/changes?since=%d", url, start), 300)
	}()
	time.Sleep(100 * time.Millisecond)
	var wwg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wwg.Add(1)
		go func(w int) {
			defer wwg.Done()
			for i := 0; i < 25; i++ {
				var lines []string
				for k := 0; k < 3; k++ {
					lines = append(lines, fmt.Sprintf(`{"id":%q,"set":["rental"]}`, ids[(w*100+i*3+k)%len(ids)]))
				}
				if code, out, _ := do(t, "POST", url+"/api/v1/updates", strings.Join(lines, "\n")); code != 200 {
					t.Errorf("%d %s", code, out)
				}
			}
		}(w)
	}
	wwg.Wait()
	wg.Wait()
	if len(got) != 300 {
		t.Fatalf("subscriber saw %d events, want 300", len(got))
	}
	for i, ev := range got {
		if ev.id != uint64(start)+uint64(i)+1 || ev.kind != "change" {
			t.Fatalf("event %d: %+v", i, ev)
		}
		var body struct {
			Version  uint64
			ID       string
			Building string
			Set      []string
		}
		if err := json.Unmarshal([]byte(ev.data), &body); err != nil || body.Version != ev.id || body.ID == "" || body.Building == "" || body.Set[0] != "rental" {
			t.Fatalf("event %d data %s", i, ev.data)
		}
	}
	// a client that reconnects with since gets what it missed
	missed := uint64(start) + 150
	again, _ := readSSE(ctx, t, fmt.Sprintf("%s/api/v1/changes?since=%d", url, missed), 150)
	if len(again) != 150 || again[0].id != missed+1 || again[149].id != uint64(start)+300 {
		t.Fatalf("reconnect: %d events from %v", len(again), again[0].id)
	}
	// so does one that says Last-Event-ID (what EventSource sends)
	req, _ := http.NewRequestWithContext(ctx, "GET", url+"/api/v1/changes", nil)
	req.Header.Set("Last-Event-ID", strconv.FormatUint(missed+140, 10))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "id: ") {
			if sc.Text() != fmt.Sprintf("id: %d", missed+141) {
				t.Fatalf("Last-Event-ID resume starts at %s", sc.Text())
			}
			break
		}
	}
	resp.Body.Close()
	// before the backlog but after no dropped change (the load's versions):
	// from the backlog's oldest change
	early, _ := readSSE(ctx, t, fmt.Sprintf("%s/api/v1/changes?since=%d", url, start-100), 1)
	if len(early) != 1 || early[0].id != uint64(start)+1 {
		t.Fatalf("since %d, in the load: %v, want the first change %d", start-100, early, start+1)
	}
	// 250 changes more push the first 50 out of the backlog of 500: a since
	// before one of those is 410 with the oldest version still kept
	for i := 0; i < 250; i++ {
		if code, out, _ := do(t, "PATCH", url+"/api/v1/dwellings/"+ids[i%len(ids)], `{"set":["isolated"]}`); code != 200 {
			t.Fatalf("%d %s", code, out)
		}
	}
	for _, since := range []uint64{0, uint64(start) - 100, uint64(start), uint64(start) + 49} {
		code, out, _ := do(t, "GET", fmt.Sprintf("%s/api/v1/changes?since=%d", url, since), "")
		var gone struct {
			Error struct {
				Code   string
				Oldest uint64
			}
		}
		json.Unmarshal(out, &gone)
		if code != 410 || gone.Error.Code != "gone" || gone.Error.Oldest != uint64(start)+51 {
			t.Fatalf("since %d, before a change pushed out: %d %s", since, code, out)
		}
	}
	kept, _ := readSSE(ctx, t, fmt.Sprintf("%s/api/v1/changes?since=%d", url, uint64(start)+50), 1)
	if len(kept) != 1 || kept[0].id != uint64(start)+51 {
		t.Fatalf("since the last change pushed out: %v", kept)
	}
	if code, _, _ := do(t, "GET", url+"/api/v1/changes?since=abc", ""); code != 400 {
		t.Fatalf("bad since: %d", code)
	}
}

// TestChangeFeedFromTheLoad: on a freshly loaded server, since=0 (or any
// version of the load) is no gap: the load is no change, so the stream
// gives every change from the first after the load.
func TestChangeFeedFromTheLoad(t *testing.T) {
	e, _, url, ids := writable(t, store.Options{})
	loaded := uint64(e.Version())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i := 0; i < 3; i++ {
		if code, out, _ := do(t, "PATCH", url+"/api/v1/dwellings/"+ids[i], `{"set":["rental"]}`); code != 200 {
			t.Fatalf("%d %s", code, out)
		}
	}
	for _, since := range []uint64{0, 1, loaded - 1, loaded} {
		got, code := readSSE(ctx, t, fmt.Sprintf("%s/api/v1/changes?since=%d", url, since), 3)
		if code != 200 || len(got) != 3 {
			t.Fatalf("since %d on a fresh server: %d, %d events", since, code, len(got))
		}
		for i, ev := range got {
			var body struct {
				Version uint64
				ID      string
				Set     []string
			}
			if err := json.Unmarshal([]byte(ev.data), &body); err != nil || ev.id != loaded+uint64(i)+1 || body.Version != ev.id ||
				body.ID != ids[i] || len(body.Set) != 1 || body.Set[0] != "rental" {
				t.Fatalf("since %d: event %d: %+v", since, i, ev)
			}
		}
	}
}

// A scheme put is a change like any other: its answer carries the version
// it took, the server's version moves by one, and the change feed has it
// for every caller (op "scheme", id its name).
func TestSchemeIsAChange(t *testing.T) {
	e, _, url, _ := writable(t, store.Options{})
	v0 := e.Version()
	code, out, _ := do(t, "PUT", url+"/api/v1/schemes/quiet", `{"rules":[],"default":{"state":"n","label":"n","color":"#000000","shape":"circle"}}`)
	var got struct {
		Version uint64
		Default struct{ State string }
	}
	if code != 200 || json.Unmarshal(out, &got) != nil || got.Version != uint64(v0)+1 || got.Default.State != "n" || e.Version() != v0+1 {
		t.Fatalf("PUT scheme: %d %s (version before %d, now %d)", code, clip(out), v0, e.Version())
	}
	// a bad scheme changes nothing
	if code, out, _ := do(t, "PUT", url+"/api/v1/schemes/bad", `{"rules":[{"state":"x","when":"bogus","label":"x","color":"#ff0000","shape":"square"}],"default":{"state":"o","label":"o","color":"#cccccc","shape":"circle"}}`); code != 400 || !strings.Contains(string(out), `"code":"bad_scheme"`) || e.Version() != v0+1 {
		t.Fatalf("bad scheme: %d %s, version %d", code, clip(out), e.Version())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	evs, code := readSSE(ctx, t, fmt.Sprintf("%s/api/v1/changes?since=%d", url, v0), 1)
	if code != 200 || len(evs) != 1 || !strings.Contains(fmt.Sprint(evs[0]), `"op":"scheme","id":"quiet"`) {
		t.Fatalf("the feed: %d %v", code, evs)
	}
}

// TestPutTakesTheRecordAsGetShowsIt: PUT takes back what GET gives, expires
// included (docs/API.md): the expiries it names are kept as sent, a PUT
// without expires leaves the flags without one, and an expiry of a flag the
// record does not set, or not in the future, is 400 with nothing applied.
func TestPutTakesTheRecordAsGetShowsIt(t *testing.T) {
	e, _, url, ids := writable(t, store.Options{})
	id := ids[3]
	path := url + "/api/v1/dwellings/" + id
	until := time.Now().Add(72 * time.Hour).UTC().Truncate(time.Millisecond)
	if code, out, _ := do(t, "PATCH", path, fmt.Sprintf(`{"set":["isolated"],"until":%q}`, until.Format(time.RFC3339Nano))); code != 200 {
		t.Fatalf("patch: %d %s", code, out)
	}
	code, got, _ := do(t, "GET", path, "")
	if code != 200 || !strings.Contains(string(got), `"expires":{"isolated":`) {
		t.Fatalf("get: %d %s", code, got)
	}
	// the record as GET shows it, sent back unchanged but for its room
	var rec map[string]any
	if err := json.Unmarshal(got, &rec); err != nil {
		t.Fatal(err)
	}
	rec["room"] = "9901"
	body, _ := json.Marshal(rec)
	code, out, _ := do(t, "PUT", path, string(body))
	if code != 200 || !strings.Contains(string(out), `"expires":{"isolated":"`+until.Format("2006-01-02T15:04:05.000Z07:00")+`"}`) {
		t.Fatalf("put of the record as GET shows it: %d %s", code, out)
	}
	d, err := e.Dwelling(id)
	if err != nil || d.Room != "9901" || !d.Expires["isolated"].Equal(until) || len(d.Expires) != 1 {
		t.Fatalf("after the put: room %q, expires %v (want isolated at %v), %v", d.Room, d.Expires, until, err)
	}
	// nothing applied by a bad expiry
	v := e.Version()
	for _, c := range []struct{ expires, want string }{
		{`{"rental":"` + until.Format(time.RFC3339) + `"}`, "which flags does not hold"},
		{`{"isolated":"2001-01-01T00:00:00Z"}`, "not in the future"},
		{`{"isolated":"tomorrow"}`, "RFC 3339"},
		{`["isolated"]`, "must be an object"},
	} {
		rec["expires"] = json.RawMessage(c.expires)
		body, _ := json.Marshal(rec)
		if code, out, _ := do(t, "PUT", path, string(body)); code != 400 || !strings.Contains(string(out), c.want) {
			t.Errorf("expires %s: %d %s, want 400 (%s)", c.expires, code, out, c.want)
		}
	}
	if e.Version() != v {
		t.Fatalf("a refused put took a version")
	}
	// without expires (or null): the record's flags have none
	rec["expires"] = nil
	body, _ = json.Marshal(rec)
	if code, out, _ := do(t, "PUT", path, string(body)); code != 200 || strings.Contains(string(out), "expires") {
		t.Fatalf("put with expires null: %d %s", code, out)
	}
	if d, _ := e.Dwelling(id); len(d.Expires) != 0 || !strings.Contains(strings.Join(d.Flags, ","), "isolated") {
		t.Fatalf("after a put without expires: flags %v, expires %v", d.Flags, d.Expires)
	}
}
