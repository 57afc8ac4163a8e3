package connlimit

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"syscall"
	"testing"
	"time"
)

// serve accepts on l and, for every connection, reads with a long deadline
// (as an HTTP server would) and answers "HTTP/1.1 408" when its read fails,
// or echoes what it read.
func serve(t *testing.T, l *Listener) {
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetReadDeadline(time.Now().Add(10 * time.Second))
				buf := make([]byte, 64)
				for {
					n, err := c.Read(buf)
					if err != nil {
						if err != io.EOF {
							c.Write([]byte("HTTP/1.1 408 Request Timeout\r\n\r\n"))
						}
						return
					}
					c.Write(buf[:n])
				}
			}()
		}
	}()
	t.Cleanup(func() { l.Close() })
}

func listen(t *testing.T, opts Options) (*Listener, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := New(ln, opts)
	serve(t, l)
	return l, ln.Addr().String()
}

// dialFrom connects to addr from the local address from (any 127/8 address
// works on Linux loopback).
func dialFrom(t *testing.T, from, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Skipf("cannot dial from %s (needs the whole 127/8 on loopback, as Linux has): %v", from, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// refused reads a refusal from c: a 503 with Retry-After and the JSON error.
func refused(t *testing.T, c net.Conn) bool {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	var e struct {
		Error struct{ Code, Message string }
	}
	if err := json.NewDecoder(resp.Body).Decode(&e); err != nil {
		t.Fatalf("refusal body: %v", err)
	}
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "5" || e.Error.Code != "unavailable" || e.Error.Message == "" ||
		resp.Header.Get("Content-Type") != "application/json; charset=utf-8" {
		t.Fatalf("refusal: %d %v %+v", resp.StatusCode, resp.Header, e)
	}
	return true
}

// echoes reports whether c is served: what it writes comes back.
func echoes(t *testing.T, c net.Conn) bool {
	t.Helper()
	if _, err := c.Write([]byte("ping")); err != nil {
		return false
	}
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, 4)
	_, err := io.ReadFull(c, buf)
	return err == nil && string(buf) == "ping"
}

func TestPerAddressLimit(t *testing.T) {
	l, addr := listen(t, Options{PerAddr: 3, Exempt: []netip.Prefix{netip.MustParsePrefix("127.0.0.3/32")}})
	var flood []net.Conn
	for range 5 {
		flood = append(flood, dialFrom(t, "127.0.0.2", addr))
	}
	// accepted in the order dialled: the first three are served
	for i, c := range flood {
		if i < 3 && !echoes(t, c) || i >= 3 && !refused(t, c) {
			t.Fatalf("connection %d: served or refused wrongly", i)
		}
	}
	if l.Refused(ReasonPerAddr) != 2 || l.Open() != 3 {
		t.Fatalf("refused %d, open %d; want 2 and 3", l.Refused(ReasonPerAddr), l.Open())
	}
	// another address is served, and so is an exempt one beyond the limit
	if !echoes(t, dialFrom(t, "127.0.0.1", addr)) {
		t.Fatal("another address is not served")
	}
	for range 5 {
		if !echoes(t, dialFrom(t, "127.0.0.3", addr)) {
			t.Fatal("an exempt address is limited")
		}
	}
	// closing one frees its place
	flood[0].Close()
	deadline := time.Now().Add(2 * time.Second)
	for {
		c := dialFrom(t, "127.0.0.2", addr)
		if echoes(t, c) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a closed connection's place was not freed")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestTotalLimit(t *testing.T) {
	l, addr := listen(t, Options{PerAddr: 10, Total: 4})
	froms := []string{"127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"}
	for _, f := range froms {
		if !echoes(t, dialFrom(t, f, addr)) {
			t.Fatal("not served within the limit")
		}
	}
	if c := dialFrom(t, "127.0.0.6", addr); !refused(t, c) || l.Refused(ReasonTotal) != 1 {
		t.Fatal("the fifth connection was not refused")
	}
	if l.Open() != 4 {
		t.Fatalf("%d open", l.Open())
	}
}

// TestSilentConnectionClosedQuietly: a connection that sends nothing is
// closed after FirstByte without a word (the server's timeout answer is
// dropped); one that sends keeps the server's own, longer deadline.
func TestSilentConnectionClosedQuietly(t *testing.T) {
	l, addr := listen(t, Options{FirstByte: 300 * time.Millisecond})
	c := dialFrom(t, "127.0.0.1", addr)
	start := time.Now()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := c.Read(make([]byte, 100))
	if n != 0 || err != io.EOF {
		t.Fatalf("a silent connection got %d bytes, %v", n, err)
	}
	if took := time.Since(start); took < 250*time.Millisecond || took > 3*time.Second {
		t.Fatalf("closed after %v, want about 300ms", took)
	}
	if l.TimedOut() != 1 {
		t.Fatalf("%d timed out", l.TimedOut())
	}
	// a byte before FirstByte lifts it: later data is read and answered
	c = dialFrom(t, "127.0.0.1", addr)
	time.Sleep(100 * time.Millisecond)
	if !echoes(t, c) {
		t.Fatal("first byte not served")
	}
	time.Sleep(500 * time.Millisecond)
	if !echoes(t, c) {
		t.Fatal("the first-byte deadline held after the first byte")
	}
}

func TestKey(t *testing.T) {
	l := New(nil, Options{Exempt: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
	for _, c := range []struct {
		addr, key string
		limited   bool
	}{
		{"192.0.2.7", "192.0.2.7", true},
		{"::ffff:192.0.2.7", "192.0.2.7", true},
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::", true},
		{"10.1.2.3", "10.1.2.3", false},
	} {
		k, lim := l.key(fakeConn{addr: &net.TCPAddr{IP: net.ParseIP(c.addr)}})
		if k.String() != c.key || lim != c.limited {
			t.Errorf("%s: key %s %v, want %s %v", c.addr, k, lim, c.key, c.limited)
		}
	}
	if _, lim := l.key(fakeConn{addr: &net.UnixAddr{Name: "/tmp/s"}}); lim {
		t.Error("a Unix socket is limited")
	}
}

type fakeConn struct {
	net.Conn
	addr net.Addr
}

func (f fakeConn) RemoteAddr() net.Addr { return f.addr }

// TestAcceptWaitsOutPassingErrors: running out of file descriptors
// (EMFILE) made fasthttp's Serve return, ending the server.
func TestAcceptWaitsOutPassingErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fl := &flaky{Listener: ln, fails: 3}
	l := New(fl, Options{})
	defer l.Close()
	go func() {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err == nil {
			defer c.Close()
			time.Sleep(time.Second)
		}
	}()
	c, err := l.Accept()
	if err != nil || fl.fails != 0 {
		t.Fatalf("%v, %d failures left", err, fl.fails)
	}
	c.Close()
	l.Close()
	if _, err := l.Accept(); err == nil {
		t.Fatal("accepted on a closed listener")
	}
}

// flaky fails its first Accepts with EMFILE.
type flaky struct {
	net.Listener
	fails int
}

func (f *flaky) Accept() (net.Conn, error) {
	if f.fails > 0 {
		f.fails--
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	}
	return f.Listener.Accept()
}
