// Package connlimit owns the listener side of a server's connection limits:
// how many connections one address, and all addresses together, may hold
// open; how long a new connection may stay silent before its first byte;
// and what a refused or timed-out connection is told: a minimal HTTP/1.1
// 503 with a JSON error and Retry-After when refused, nothing at all when
// it timed out. It sees TCP connections and writes that one answer itself;
// it knows nothing of routes, handlers or the HTTP server behind it.
//
// A Listener is safe for concurrent use; wrap the server's listener with
// New and hand the result to the HTTP server.
package connlimit

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of Options.
const (
	DefaultPerAddr    = 256
	DefaultTotal      = 10_000
	DefaultFirstByte  = 5 * time.Second
	DefaultRetryAfter = 5 * time.Second
)

// Options configure a Listener. Zero values take the defaults.
type Options struct {
	// PerAddr is how many connections one client address may hold open
	// (IPv6 addresses count per /64, the block one host is usually given).
	PerAddr int
	// Total is how many connections all clients together may hold open.
	Total int
	// FirstByte is how long a new connection may stay silent: one that
	// sends nothing for this long is closed without an answer. The server's
	// own read timeouts take over from its first byte.
	FirstByte time.Duration
	// RetryAfter is what refused clients are told to wait.
	RetryAfter time.Duration
	// Exempt addresses (trusted reverse proxies, which carry many clients
	// on their connections) are not held to PerAddr; Total still counts
	// them.
	Exempt []netip.Prefix
	// Logger gets refusals, summed over at most one line every 10 s.
	Logger *slog.Logger
}

func (o *Options) defaults() {
	if o.PerAddr <= 0 {
		o.PerAddr = DefaultPerAddr
	}
	if o.Total <= 0 {
		o.Total = DefaultTotal
	}
	if o.FirstByte <= 0 {
		o.FirstByte = DefaultFirstByte
	}
	if o.RetryAfter <= 0 {
		o.RetryAfter = DefaultRetryAfter
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Why a connection was refused.
const (
	ReasonPerAddr = "per_address" // its address holds PerAddr connections
	ReasonTotal   = "total"       // the server holds Total connections
)

// Listener wraps a net.Listener with the limits of its Options. Refused
// connections are answered and closed inside Accept, which only ever
// returns connections within the limits.
type Listener struct {
	net.Listener
	opts Options

	mu     sync.Mutex
	open   int                // connections accepted and not yet closed
	byAddr map[netip.Addr]int // open connections by address key; no zero entries

	refusedPerAddr, refusedTotal atomic.Uint64
	timedOut                     atomic.Uint64 // closed silent, or slow with their answer dropped

	answerPerAddr, answerTotal []byte     // the refusals' full HTTP answers
	lingering                  chan bool  // bounds goroutines reading refused clients' leftovers
	logMu                      sync.Mutex // guards lastLog and logged
	lastLog                    time.Time
	logged                     [2]uint64 // refusals already logged, per reason
}

// New returns ln with the limits of opts.
func New(ln net.Listener, opts Options) *Listener {
	opts.defaults()
	l := &Listener{Listener: ln, opts: opts, byAddr: map[netip.Addr]int{}, lingering: make(chan bool, 256)}
	l.answerPerAddr = answer(fmt.Sprintf("too many connections from your address (at most %d); close idle ones or retry later", opts.PerAddr), opts.RetryAfter)
	l.answerTotal = answer(fmt.Sprintf("the server holds its most connections (%d); retry later", opts.Total), opts.RetryAfter)
	return l
}

// answer is a complete HTTP/1.1 503 with the API's JSON error body.
func answer(msg string, retry time.Duration) []byte {
	body, _ := json.Marshal(map[string]map[string]string{"error": {"code": "unavailable", "message": msg}})
	body = append(body, '\n')
	secs := max(1, int((retry+time.Second-1)/time.Second))
	return []byte("HTTP/1.1 503 Service Unavailable\r\n" +
		"Content-Type: application/json; charset=utf-8\r\n" +
		"Retry-After: " + strconv.Itoa(secs) + "\r\n" +
		"Connection: close\r\n" +
		"Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + string(body))
}

// key is the address a connection counts under, and whether PerAddr
// applies to it.
func (l *Listener) key(c net.Conn) (netip.Addr, bool) {
	ta, ok := c.RemoteAddr().(*net.TCPAddr)
	if !ok {
		return netip.Addr{}, false // not TCP (a Unix socket): one local peer
	}
	a, ok := netip.AddrFromSlice(ta.IP)
	if !ok {
		return netip.Addr{}, false
	}
	a = a.Unmap()
	for _, p := range l.opts.Exempt {
		if p.Contains(a) {
			return a, false
		}
	}
	if a.Is6() {
		a = netip.PrefixFrom(a, 64).Masked().Addr()
	}
	return a, true
}

// Accept returns the next connection within the limits, answering and
// closing those beyond them. A passing failure to accept (out of file
// descriptors, a connection reset before it was taken) is waited out, as
// net/http does, instead of ending the server.
func (l *Listener) Accept() (net.Conn, error) {
	var delay time.Duration
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			var te interface{ Temporary() bool }
			if errors.As(err, &te) && te.Temporary() && !errors.Is(err, net.ErrClosed) {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				l.opts.Logger.Warn("cannot accept a connection; retrying", "err", err, "in", delay)
				time.Sleep(delay)
				continue
			}
			return nil, err
		}
		delay = 0
		key, limited := l.key(c)
		l.mu.Lock()
		switch {
		case l.open >= l.opts.Total:
			l.mu.Unlock()
			l.refusedTotal.Add(1)
			l.refuse(c, l.answerTotal)
		case limited && l.byAddr[key] >= l.opts.PerAddr:
			l.mu.Unlock()
			l.refusedPerAddr.Add(1)
			l.refuse(c, l.answerPerAddr)
		default:
			l.open++
			if limited {
				l.byAddr[key]++
			}
			l.mu.Unlock()
			return newConn(c, l, key, limited), nil
		}
		l.logRefusals()
	}
}

// refuse answers c with a 503 and closes it. Closing a socket with unread
// data makes the kernel send a reset, which can destroy the answer before
// the client reads it; so, while few are doing so, a goroutine half-closes
// the connection and reads what the client still sends for a moment.
func (l *Listener) refuse(c net.Conn, answer []byte) {
	c.SetWriteDeadline(time.Now().Add(time.Second))
	if _, err := c.Write(answer); err != nil {
		c.Close()
		return
	}
	select {
	case l.lingering <- true:
		go func() {
			defer func() { <-l.lingering }()
			if hc, ok := c.(interface{ CloseWrite() error }); ok {
				hc.CloseWrite()
			}
			c.SetReadDeadline(time.Now().Add(2 * time.Second))
			io.Copy(io.Discard, io.LimitReader(c, 64<<10))
			c.Close()
		}()
	default:
		c.Close()
	}
}

// logRefusals logs the refusals since the last line, at most every 10 s.
func (l *Listener) logRefusals() {
	l.logMu.Lock()
	defer l.logMu.Unlock()
	if time.Since(l.lastLog) < 10*time.Second {
		return
	}
	pa, tot := l.refusedPerAddr.Load(), l.refusedTotal.Load()
	l.opts.Logger.Warn("connections refused", "per_address", pa-l.logged[0], "total_limit", tot-l.logged[1],
		"max_per_address", l.opts.PerAddr, "max_total", l.opts.Total, "open", l.Open())
	l.logged = [2]uint64{pa, tot}
	l.lastLog = time.Now()
}

// Open is the number of connections accepted and not yet closed.
func (l *Listener) Open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.open
}

// Refused is the number of connections refused so far for reason
// (ReasonPerAddr or ReasonTotal).
func (l *Listener) Refused(reason string) uint64 {
	if reason == ReasonTotal {
		return l.refusedTotal.Load()
	}
	return l.refusedPerAddr.Load()
}

// TimedOut is the number of connections whose reads timed out: silent
// past FirstByte, or slow past the server's own read timeouts.
func (l *Listener) TimedOut() uint64 { return l.timedOut.Load() }

func (l *Listener) release(key netip.Addr, limited bool) {
	l.mu.Lock()
	l.open--
	if limited {
		if n := l.byAddr[key] - 1; n > 0 {
			l.byAddr[key] = n
		} else {
			delete(l.byAddr, key)
		}
	}
	l.mu.Unlock()
}

// conn is an accepted connection. Until its first byte arrives its read
// deadline is at most FirstByte after it was accepted; after a read timed
// out, whatever the server writes is dropped, so that a silent or slow
// client is closed quietly rather than told about its own timeout.
type conn struct {
	net.Conn
	l       *Listener
	key     netip.Addr
	limited bool
	closed  sync.Once

	started atomic.Bool // the first byte has arrived
	mu      sync.Mutex  // guards firstBy and want while !started
	firstBy time.Time   // the read deadline until the first byte
	want    time.Time   // the read deadline the server asked for
	timeout atomic.Bool // a read timed out: writes are dropped
}

func newConn(c net.Conn, l *Listener, key netip.Addr, limited bool) *conn {
	cn := &conn{Conn: c, l: l, key: key, limited: limited, firstBy: time.Now().Add(l.opts.FirstByte)}
	c.SetReadDeadline(cn.firstBy)
	return cn
}

// Read reads from the connection, lifting the first-byte deadline once
// data arrives and noting timeouts.
func (c *conn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 && !c.started.Load() {
		c.mu.Lock()
		c.started.Store(true)
		want := c.want
		c.mu.Unlock()
		c.Conn.SetReadDeadline(want)
	}
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) && !c.timeout.Swap(true) {
		c.l.timedOut.Add(1)
	}
	return n, err
}

// Write writes to the connection, or drops the data once a read timed out.
func (c *conn) Write(p []byte) (int, error) {
	if c.timeout.Load() {
		return len(p), nil
	}
	return c.Conn.Write(p)
}

// SetReadDeadline sets the read deadline, no later than the first-byte
// deadline while nothing has arrived.
func (c *conn) SetReadDeadline(t time.Time) error {
	if !c.started.Load() {
		c.mu.Lock()
		if !c.started.Load() {
			c.want = t
			if t.IsZero() || t.After(c.firstBy) {
				t = c.firstBy
			}
		}
		c.mu.Unlock()
	}
	return c.Conn.SetReadDeadline(t)
}

// SetDeadline sets both deadlines, the read one as SetReadDeadline does.
func (c *conn) SetDeadline(t time.Time) error {
	if err := c.Conn.SetWriteDeadline(t); err != nil {
		return err
	}
	return c.SetReadDeadline(t)
}

// Close closes the connection and frees its place, once.
func (c *conn) Close() error {
	err := c.Conn.Close()
	c.closed.Do(func() { c.l.release(c.key, c.limited) })
	return err
}
