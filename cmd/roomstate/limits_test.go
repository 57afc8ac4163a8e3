package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// httpFrom is an HTTP client whose connections come from ip (Linux answers
// the whole 127/8 on loopback), one connection a request.
func httpFrom(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}}
}

func getFrom(t *testing.T, hc *http.Client, url string, hdr ...string) (int, string, http.Header, time.Duration) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	start := time.Now()
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header, time.Since(start)
}

// TestConnectionFlood runs the real binary and opens 10,000 idle
// connections to it from 127.0.0.2 (they locked every client out, /healthz
// included, with fasthttp's plain-text 503 for 30 s at a time). Meanwhile
// 127.0.0.1's /healthz and queries are answered within 1 s; 127.0.0.2's
// connections past --max-conns-per-ip get a JSON 503 with Retry-After, and
// those it was allowed are closed without a word when they stay silent.
func TestConnectionFlood(t *testing.T) {
	if testing.Short() {
		t.Skip("flood: not in -short")
	}
	const flood = 10_000
	raiseOpenFiles(t, flood+1000)
	dir := genCity(t, 20_000)
	p := startProc(t, "serve", "--load", filepath.Join(dir, "dwellings.csv"), "--addr", "127.0.0.1:0", "--log-level", "error")
	defer p.stop(t)
	addr := strings.TrimPrefix(p.url, "http://")
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}, Timeout: 10 * time.Second}
	if c, err := d.Dial("tcp", addr); err != nil {
		t.Skipf("cannot connect from 127.0.0.2 (Linux answers the whole 127/8 on loopback; this system does not): %v", err)
	} else {
		c.Close()
	}

	// 127.0.0.1 asks for /healthz and a query every 100 ms throughout
	local := httpFrom("127.0.0.1")
	stop := make(chan struct{})
	var slowest atomic.Int64
	var asked atomic.Int64
	var checks sync.WaitGroup
	checks.Add(1)
	go func() {
		defer checks.Done()
		for {
			for _, path := range []string{"/healthz", "/api/v1/units/grid?where=" + url.QueryEscape("isolated & !vaccinated")} {
				code, body, _, took := getFrom(t, local, p.url+path)
				if code != 200 {
					t.Errorf("127.0.0.1 during the flood: GET %s: %d %.200s", path, code, body)
				}
				if took.Nanoseconds() > slowest.Load() {
					slowest.Store(took.Nanoseconds())
				}
				asked.Add(1)
			}
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()

	start := time.Now()
	conns := make([]net.Conn, flood)
	var dialErrs atomic.Int64
	var dials sync.WaitGroup
	next := atomic.Int64{}
	for range 32 {
		dials.Add(1)
		go func() {
			defer dials.Done()
			for i := int(next.Add(1)) - 1; i < flood; i = int(next.Add(1)) - 1 {
				c, err := d.Dial("tcp", addr)
				if err != nil {
					dialErrs.Add(1)
					continue
				}
				conns[i] = c
			}
		}()
	}
	dials.Wait()
	dialled := time.Since(start)
	if n := dialErrs.Load(); n > 0 {
		t.Fatalf("%d of %d connections could not be made", n, flood)
	}

	// every connection either is refused with the JSON 503, or says nothing
	// and is closed quietly after --first-byte-timeout (5 s)
	var refusedN, quietN atomic.Int64
	var reads sync.WaitGroup
	for _, c := range conns {
		reads.Add(1)
		go func(c net.Conn) {
			defer reads.Done()
			defer c.Close()
			c.SetReadDeadline(time.Now().Add(20 * time.Second))
			br := bufio.NewReader(c)
			if _, err := br.Peek(1); err == io.EOF {
				quietN.Add(1)
				return
			} else if err != nil {
				t.Errorf("a flood connection: %v", err)
				return
			}
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Errorf("a flood connection got no HTTP answer: %v", err)
				return
			}
			defer resp.Body.Close()
			var e struct {
				Error struct{ Code, Message string }
			}
			err = json.NewDecoder(resp.Body).Decode(&e)
			if resp.StatusCode != 503 || err != nil || e.Error.Code != "unavailable" || resp.Header.Get("Retry-After") == "" {
				t.Errorf("a flood connection: %d, Retry-After %q, %v %+v", resp.StatusCode, resp.Header.Get("Retry-After"), err, e)
				return
			}
			refusedN.Add(1)
		}(c)
	}
	reads.Wait()
	close(stop)
	checks.Wait()
	if t.Failed() {
		return
	}
	refused, quiet := refusedN.Load(), quietN.Load()
	t.Logf("%d connections made in %v: %d refused with a 503, %d closed quietly; 127.0.0.1 asked %d times, slowest answer %v",
		flood, dialled, refused, quiet, asked.Load(), time.Duration(slowest.Load()))
	// 256 places; more only if some were freed (5 s) while dialling
	if quiet < 256 || refused+quiet != flood || quiet > 256 && dialled < 4*time.Second {
		t.Fatalf("%d refused, %d quiet", refused, quiet)
	}
	if s := time.Duration(slowest.Load()); s > time.Second {
		t.Fatalf("127.0.0.1 waited %v for an answer during the flood", s)
	}
	// the flood's places are free again
	if code, _, _, _ := getFrom(t, httpFrom("127.0.0.2"), p.url+"/healthz"); code != 200 {
		t.Fatalf("127.0.0.2 after the flood: %d", code)
	}
	_, metrics, _, _ := getFrom(t, local, p.url+"/metrics")
	if !strings.Contains(metrics, fmt.Sprintf(`roomstate_connections_refused_total{reason="per_address"} %d`, refused)) {
		t.Fatalf("metrics lack the refusals:\n%s", grepLines(metrics, "roomstate_connections"))
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestHostileHeadersAndURLs runs the real binary: a spoofed X-Forwarded-Host
// is ignored in /tiles.json and honoured from a --trusted-proxy; a GET with
// a 4,096-byte where (over 6 KB encoded) is answered; an idle connection is
// closed without an unprompted 400.
func TestHostileHeadersAndURLs(t *testing.T) {
	dir := genCity(t, 20_000)
	p := startProc(t, "serve", "--load", filepath.Join(dir, "dwellings.csv"), "--addr", "127.0.0.1:0",
		"--trusted-proxy", "127.0.0.3", "--first-byte-timeout", "1s", "--log-level", "error")
	defer p.stop(t)
	tiles := func(from string, hdr ...string) string {
		code, body, _, _ := getFrom(t, httpFrom(from), p.url+"/tiles.json", hdr...)
		var tj struct{ Tiles []string }
		if code != 200 || json.Unmarshal([]byte(body), &tj) != nil || len(tj.Tiles) != 1 {
			t.Fatalf("tiles.json from %s: %d %s", from, code, body)
		}
		return tj.Tiles[0]
	}
	spoof := []string{"X-Forwarded-Host", "evil.example", "X-Forwarded-Proto", "https"}
	if got := tiles("127.0.0.1", spoof...); got != p.url+"/tiles/{z}/{x}/{y}.mvt" {
		t.Fatalf("a spoofed X-Forwarded-Host was believed: %s", got)
	}
	if got := tiles("127.0.0.3", "X-Forwarded-Host", "map.example.org", "X-Forwarded-Proto", "https"); got != "https://map.example.org/tiles/{z}/{x}/{y}.mvt" {
		t.Fatalf("the trusted proxy was not believed: %s", got)
	}

	where := "isolated"
	for len(where)+len(" | (rental & !vaccinated)") <= 4096 {
		where += " | (rental & !vaccinated)"
	}
	var enc strings.Builder
	for i := range len(where) {
		fmt.Fprintf(&enc, "%%%02X", where[i])
	}
	for _, path := range []string{"/api/v1/units/grid?where=", "/api/v1/legend?where="} {
		u := p.url + path + enc.String()
		code, body, _, _ := getFrom(t, httpFrom("127.0.0.1"), u)
		if code != 200 || len(u) < 6000 {
			t.Fatalf("GET of %d bytes: %d %.200s", len(u), code, body)
		}
	}

	c, err := net.Dial("tcp", strings.TrimPrefix(p.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	start := time.Now()
	b, err := io.ReadAll(c)
	if len(b) != 0 || err != nil || time.Since(start) > 5*time.Second {
		t.Fatalf("an idle connection got %q, %v after %v; want a quiet close after 1 s", b, err, time.Since(start))
	}
}

// TestLoadLimitsThroughServe: serve --load refuses 70,000 flag columns at
// the header, fast, naming the limit, and a line past --max-line-bytes.
func TestLoadLimitsThroughServe(t *testing.T) {
	var b bytes.Buffer
	b.WriteString("id,lon,lat")
	for i := range 70_000 {
		fmt.Fprintf(&b, ",c%d", i)
	}
	b.WriteString("\na,121.5,31.2")
	for i := range 70_000 {
		b.WriteString([]string{",0", ",1"}[i%2])
	}
	b.WriteString("\n")
	wide := filepath.Join(t.TempDir(), "wide.csv")
	if err := os.WriteFile(wide, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "serve", "--load", wide, "--addr", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "ROOMSTATE_BE_MAIN=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	err := cmd.Run()
	took := time.Since(start)
	if err == nil || !strings.Contains(stderr.String(), "wide.csv:1:") || !strings.Contains(stderr.String(), "at most 1024 flags") {
		t.Fatalf("serve --load of 70,000 flags: %v: %s", err, stderr.String())
	}
	t.Logf("refused in %v (the whole process): %s", took, strings.TrimSpace(stderr.String()))
	if took > 5*time.Second {
		t.Fatalf("refusing took %v", took)
	}

	long := filepath.Join(t.TempDir(), "long.csv")
	os.WriteFile(long, []byte("id,lon,lat,note\na,1,2,"+strings.Repeat("x", 300)+"\n"), 0o644)
	err = run(context.Background(), []string{"serve", "--load", long, "--max-line-bytes", "256"}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "long.csv:2:257: record longer than 256 bytes") {
		t.Fatalf("--max-line-bytes: %v", err)
	}
	err = run(context.Background(), []string{"serve", "--load", long, "--max-field-bytes", "100B"}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "long.csv:2:7: field longer than 100 bytes") {
		t.Fatalf("--max-field-bytes: %v", err)
	}
	if err := run(context.Background(), []string{"serve", "--load", long, "--max-field-bytes", "lots"}, io.Discard, io.Discard); err == nil {
		t.Fatal("a bad size was accepted")
	}
	if err := run(context.Background(), []string{"serve", "--load", long, "--trusted-proxy", "10.0.0.0/40"}, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "trusted proxy") {
		t.Fatalf("a bad --trusted-proxy: %v", err)
	}
	// and the help teaches them
	for _, c := range []string{"serve", "demo"} {
		var help strings.Builder
		run(context.Background(), []string{c, "-h"}, io.Discard, &help)
		for _, f := range []string{"-max-conns-per-ip", "-first-byte-timeout", "-trusted-proxy", "-max-conns"} {
			if !strings.Contains(help.String(), f) {
				t.Errorf("%s -h lacks %s", c, f)
			}
		}
		if c == "serve" && !strings.Contains(help.String(), "-max-line-bytes") {
			t.Errorf("serve -h lacks -max-line-bytes")
		}
	}
}
