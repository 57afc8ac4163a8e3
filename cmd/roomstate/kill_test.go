package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

var flagOrder = []string{"isolated", "vaccinated", "rental", "elderly_alone"}

// code turns a request number into a flag pattern: consecutive requests
// differ, so a dwelling shows which request last reached it.
func code(i int) (set, clear []string) {
	c := i%15 + 1
	for b, f := range flagOrder {
		if c>>b&1 != 0 {
			set = append(set, f)
		} else {
			clear = append(clear, f)
		}
	}
	return
}

func decode(flags []string) int {
	c := 0
	for b, f := range flagOrder {
		if slices.Contains(flags, f) {
			c |= 1 << b
		}
	}
	return c
}

// client owns some dwellings and changes them one request at a time: a batch
// client sets all its dwellings to its next request's code, a patch client
// its one dwelling. It remembers the last acknowledged request and the one
// in flight.
type client struct {
	ids      []string
	batch    bool
	next     int // number of the next request
	acked    int // last acknowledged request, -1 none
	inFlight int // request sent without an answer yet, -1 none
	lastBody string
}

func (c *client) send(url string, hc *http.Client) error {
	set, clear := code(c.next)
	var req *http.Request
	if c.batch {
		var body bytes.Buffer
		for _, id := range c.ids {
			b, _ := json.Marshal(map[string]any{"id": id, "set": set, "clear": clear})
			body.Write(b)
			body.WriteByte('\n')
		}
		req, _ = http.NewRequest("POST", url+"/api/v1/updates", &body)
		req.Header.Set("Content-Type", "application/x-ndjson")
	} else {
		b, _ := json.Marshal(map[string]any{"set": set, "clear": clear})
		req, _ = http.NewRequest("PATCH", url+"/api/v1/dwellings/"+c.ids[0], bytes.NewReader(b))
	}
	c.inFlight = c.next
	resp, err := hc.Do(req)
	if err != nil {
		return err // the server died: the request stays in flight
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	c.lastBody = string(b)
	if resp.StatusCode != 200 {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	c.acked, c.inFlight = c.next, -1
	c.next++
	return nil
}

// check reads the client's dwellings back: all show one code, that of the
// last acknowledged request or of the one in flight (durable but not yet
// acknowledged when the server died).
func (c *client) check(t *testing.T, url string) {
	t.Helper()
	seen := map[int]bool{}
	for _, id := range c.ids {
		code, body := get(t, url+"/api/v1/dwellings/"+id)
		if code != 200 {
			t.Fatalf("dwelling %s: %d %s", id, code, body)
		}
		var d struct{ Flags []string }
		json.Unmarshal([]byte(body), &d)
		seen[decode(d.Flags)] = true
	}
	if len(seen) != 1 {
		t.Fatalf("client %v: dwellings of one batch show codes %v: a batch was partly applied", c.ids[0], seen)
	}
	var got int
	for k := range seen {
		got = k
	}
	ok := false
	if c.acked >= 0 && got == c.acked%15+1 {
		ok = true
	}
	if c.inFlight >= 0 && got == c.inFlight%15+1 {
		ok = true
		c.acked, c.inFlight = c.inFlight, -1 // it made it
		c.next = c.acked + 1
	}
	if c.acked < 0 && c.inFlight < 0 {
		ok = true
	}
	if !ok {
		t.Fatalf("client %v: dwellings show code %d; last acknowledged request %d (code %d), in flight %d: an acknowledged change was lost",
			c.ids[0], got, c.acked, c.acked%15+1, c.inFlight)
	}
	c.inFlight = -1
}

// TestKillAndRecover runs the real binary with --data-dir, has clients send
// thousands of PATCHes and batches, kills the server with SIGKILL at several
// points and restarts it: every acknowledged change is there, no batch is
// partly applied.
func TestKillAndRecover(t *testing.T) {
	if testing.Short() {
		t.Skip("kill test: not in -short")
	}
	dir := genCity(t, 30_000)
	data := t.TempDir()
	csv := filepath.Join(dir, "dwellings.csv")
	// the clients' dwellings, disjoint
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
	args := []string{"serve", "--data-dir", data, "--addr", "127.0.0.1:0", "--log-level", "warn"}
	p := startProc(t, append(args, "--load", csv)...)
	total := 0
	// kill points: early, while busy, right after a restart, and late
	for round, runFor := range []time.Duration{300 * time.Millisecond, 1500 * time.Millisecond, 50 * time.Millisecond, 800 * time.Millisecond, 2 * time.Second} {
		hc := &http.Client{Timeout: 20 * time.Second}
		var wg sync.WaitGroup
		stop := make(chan struct{})
		var mu sync.Mutex
		sent := 0
		for _, c := range clients {
			wg.Add(1)
			go func(c *client) {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					if err := c.send(p.url, hc); err != nil {
						if !strings.Contains(err.Error(), "status") {
							return // connection refused or reset: the server is dead
						}
						t.Errorf("request refused: %v", err)
						return
					}
					mu.Lock()
					sent++
					mu.Unlock()
				}
			}(c)
		}
		time.Sleep(runFor)
		p.kill() // SIGKILL mid-stream
		close(stop)
		wg.Wait()
		total += sent
		p = startProc(t, args...) // no --load: the data dir holds the state
		for _, c := range clients {
			c.check(t, p.url)
		}
		code, body := get(t, p.url+"/healthz")
		if code != 200 || !strings.Contains(body, `"dwellings":`) {
			t.Fatalf("round %d: healthz %d %s", round, code, body)
		}
		t.Logf("round %d: %d requests acknowledged before the kill, all present after restart", round, sent)
	}
	if total < 1000 {
		t.Fatalf("only %d requests acknowledged in all: the test did not load the server", total)
	}
	p.stop(t)
}
