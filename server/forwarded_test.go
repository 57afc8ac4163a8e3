package server_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/roomstate/roomstate/city"
	"github.com/roomstate/roomstate/connlimit"
	"github.com/roomstate/roomstate/engine"
	"github.com/roomstate/roomstate/expr"
	"github.com/roomstate/roomstate/server"
	"github.com/roomstate/roomstate/store"
	"github.com/valyala/fasthttp"
)

// startLimited serves a small city on a connlimit listener with short
// timeouts, trusting 127.0.0.3 as a proxy; it returns the server and its
// address.
func startLimited(t *testing.T) (*server.Server, string) {
	t.Helper()
	c := city.New(city.Config{N: 3_000, Seed: 5})
	b, _ := c.Batch()
	st, err := store.Open(store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Load([]*engine.Batch{b}, nil); err != nil {
		t.Fatal(err)
	}
	proxies, err := server.ParseTrustedProxies([]string{"127.0.0.3"})
	if err != nil {
		t.Fatal(err)
	}
	srv := server.New(st, server.Options{TrustedProxies: proxies, ReadTimeout: 500 * time.Millisecond})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := srv.HTTPServer()
	go hs.Serve(connlimit.New(ln, connlimit.Options{FirstByte: 300 * time.Millisecond, Exempt: proxies}))
	t.Cleanup(func() { srv.Close(); hs.Shutdown(); st.Close() })
	return srv, ln.Addr().String()
}

// clientFrom is an HTTP client whose connections come from a local address
// of 127/8 (Linux answers all of it on loopback).
func clientFrom(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: d.DialContext}}
}

func tileURL(t *testing.T, hc *http.Client, addr string, hdr ...string) string {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+addr+"/tiles.json", nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Skipf("cannot reach the server from this address: %v", err)
	}
	defer resp.Body.Close()
	var tj struct{ Tiles []string }
	if err := json.NewDecoder(resp.Body).Decode(&tj); err != nil || len(tj.Tiles) != 1 {
		t.Fatalf("tiles.json: %d %v %v", resp.StatusCode, err, tj)
	}
	return tj.Tiles[0]
}

// TestForwardedHeadersOnlyFromTrustedProxies: a client cannot point
// tiles.json at another host; a trusted proxy can say how it was reached.
func TestForwardedHeadersOnlyFromTrustedProxies(t *testing.T) {
	_, addr := startLimited(t)
	spoof := []string{"X-Forwarded-Host", "evil.example", "X-Forwarded-Proto", "https"}
	own := "http://" + addr + "/tiles/{z}/{x}/{y}.mvt"
	if got := tileURL(t, clientFrom("127.0.0.1"), addr, spoof...); got != own {
		t.Fatalf("a client's X-Forwarded-Host was believed: %s", got)
	}
	if got := tileURL(t, clientFrom("127.0.0.3"), addr, "X-Forwarded-Host", "map.example.org, inner.local", "X-Forwarded-Proto", "https"); got != "https://map.example.org/tiles/{z}/{x}/{y}.mvt" {
		t.Fatalf("the trusted proxy's headers were not: %s", got)
	}
	// a Host that is no host gives way to the listening address
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET /tiles.json HTTP/1.1\r\nHost: evil.example:x\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	if strings.Contains(string(b), "evil") || resp.StatusCode == 200 && !strings.Contains(string(b), `"http://`+addr+`/tiles/`) {
		t.Fatalf("a bad Host: %d %s", resp.StatusCode, b)
	}
}

func TestClientAddr(t *testing.T) {
	proxies, err := server.ParseTrustedProxies([]string{"10.0.0.0/8", "192.0.2.1,::1"})
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	srv := server.New(st, server.Options{TrustedProxies: proxies})
	for _, c := range []struct{ peer, xff, want string }{
		{"203.0.113.9", "1.2.3.4", "203.0.113.9"},                       // not a proxy: its header is not read
		{"10.1.1.1", "198.51.100.7", "198.51.100.7"},                    // one proxy
		{"10.1.1.1", "6.6.6.6, 198.51.100.7, 10.2.2.2", "198.51.100.7"}, // the client's own claim (6.6.6.6) is not reached
		{"192.0.2.1", "", "192.0.2.1"},                                  // a proxy that says nothing
		{"10.1.1.1", "garbage, 198.51.100.7", "198.51.100.7"},           // garbage left of a believed hop is not reached
		{"10.1.1.1", "198.51.100.7, garbage", "10.1.1.1"},               // garbage from the proxy: stop at the proxy
		{"::1", "2001:db8::5", "2001:db8::5"},
	} {
		var req fasthttp.Request
		if c.xff != "" {
			req.Header.Set("X-Forwarded-For", c.xff)
		}
		var ctx fasthttp.RequestCtx
		ctx.Init(&req, &net.TCPAddr{IP: net.ParseIP(c.peer), Port: 1}, nil)
		if got := srv.ClientAddr(&ctx); got != netip.MustParseAddr(c.want) {
			t.Errorf("peer %s, X-Forwarded-For %q: %s, want %s", c.peer, c.xff, got, c.want)
		}
	}
	if _, err := server.ParseTrustedProxies([]string{"10.0.0.0/33"}); err == nil {
		t.Error("a bad block was accepted")
	}
}

// TestLongWhereOverGET: a where of 4,096 bytes (the most docs/API.md
// allows), in a URL of 5.6 KiB as url.QueryEscape writes it and of 12 KiB
// with every byte percent-encoded, is answered (past 4 KiB it was "400 small
// read buffer"); a request line past the header limit gets a JSON 431.
func TestLongWhereOverGET(t *testing.T) {
	_, addr := startLimited(t)
	where := "isolated"
	for len(where)+len(" | (rental & !vaccinated)") <= expr.MaxExprLen {
		where += " | (rental & !vaccinated)"
	}
	where += strings.Repeat(" ", expr.MaxExprLen-len(where))
	var every strings.Builder // every byte percent-encoded: the worst case
	for i := range len(where) {
		fmt.Fprintf(&every, "%%%02X", where[i])
	}
	for _, q := range []string{url.QueryEscape(where), every.String()} {
		u := "http://" + addr + "/api/v1/legend?where=" + q
		if len(u) < 5<<10 {
			t.Fatalf("the URL is only %d bytes", len(u))
		}
		code, body, _ := do(t, "GET", u, "")
		if code != 200 || !strings.Contains(string(body), `"legend"`) {
			t.Fatalf("GET with a %d-byte URL: %d %.300s", len(u), code, body)
		}
	}
	code, body, _ := do(t, "GET", "http://"+addr+"/api/v1/legend?where="+strings.Repeat("%7C", 6000), "")
	var e struct {
		Error struct{ Code, Message string }
	}
	if json.Unmarshal(body, &e); code != 431 || e.Error.Code != "too_large" || !strings.Contains(e.Error.Message, "16384 bytes") {
		t.Fatalf("an 18 KB URL: %d %s", code, body)
	}
}

// TestSlowRequestClosedQuietly: a client that starts a request and goes
// quiet is closed without an answer when the read timeout passes (it got
// an unprompted "400 … i/o timeout"), as is one that sends nothing.
func TestSlowRequestClosedQuietly(t *testing.T) {
	_, addr := startLimited(t)
	for _, start := range []string{"", "GET /healthz HTTP/1.1\r\nHost: x\r\n"} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c.Write([]byte(start))
		began := time.Now()
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		b, err := io.ReadAll(c)
		c.Close()
		if len(b) != 0 || err != nil {
			t.Fatalf("after %q: got %q, %v; want a quiet close", start, b, err)
		}
		if took := time.Since(began); took > 3*time.Second {
			t.Fatalf("after %q: closed after %v", start, took)
		}
	}
	// a keep-alive connection is served, and its next request too
	hc := clientFrom("127.0.0.1")
	for range 2 {
		resp, err := hc.Get("http://" + addr + "/healthz")
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("%v %v", resp, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		time.Sleep(400 * time.Millisecond) // past FirstByte: it applies to new connections only
	}
}
