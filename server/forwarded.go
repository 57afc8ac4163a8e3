package server

import (
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/valyala/fasthttp"
)

// ParseTrustedProxies reads addresses (192.0.2.7, 2001:db8::1) and CIDR
// blocks (10.0.0.0/8) for Options.TrustedProxies.
func ParseTrustedProxies(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range list {
		for _, f := range strings.Split(s, ",") {
			f = strings.TrimSpace(f)
			if f == "" {
				continue
			}
			if p, err := netip.ParsePrefix(f); err == nil {
				out = append(out, p.Masked())
				continue
			}
			a, err := netip.ParseAddr(f)
			if err != nil {
				return nil, fmt.Errorf("trusted proxy %q: want an IP address or a CIDR block such as 10.0.0.0/8", f)
			}
			a = a.Unmap()
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
		}
	}
	return out, nil
}

// trusted reports whether a is one of the trusted proxies.
func (s *Server) trusted(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range s.opts.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// peer is the address the request's connection comes from.
func peer(ctx *fasthttp.RequestCtx) netip.Addr {
	a, _ := netip.AddrFromSlice(ctx.RemoteIP())
	return a.Unmap()
}

// fromProxy reports whether the request came straight from a trusted
// proxy, whose X-Forwarded-* headers are then believed.
func (s *Server) fromProxy(ctx *fasthttp.RequestCtx) bool {
	return len(s.opts.TrustedProxies) > 0 && s.trusted(peer(ctx))
}

// ClientAddr is the address of the client behind the request: its
// connection's peer, or, when that is a trusted proxy, the nearest address
// in X-Forwarded-For that is not one (counted from the right, the end
// the proxies append to; what the client wrote on the left is not
// believed).
func (s *Server) ClientAddr(ctx *fasthttp.RequestCtx) netip.Addr {
	a := peer(ctx)
	if !s.fromProxy(ctx) {
		return a
	}
	var hops []string
	for _, v := range ctx.Request.Header.PeekAll("X-Forwarded-For") {
		hops = append(hops, strings.Split(string(v), ",")...)
	}
	for i := len(hops) - 1; i >= 0; i-- {
		h, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			return a // a hop that is no address: stop at the last one believed
		}
		a = h.Unmap()
		if !s.trusted(a) {
			return a
		}
	}
	return a
}

// forwarded returns the first value of a comma-separated header.
func forwarded(ctx *fasthttp.RequestCtx, name string) string {
	v, _, _ := strings.Cut(string(ctx.Request.Header.Peek(name)), ",")
	return strings.TrimSpace(v)
}

// validHost reports whether h may stand as the host (and port) of a URL we
// hand out: a name, an IPv4 address or a bracketed IPv6 address, and an
// optional port, nothing else.
func validHost(h string) bool {
	if h == "" || len(h) > 261 {
		return false
	}
	host, port, err := net.SplitHostPort(h)
	if err != nil {
		host, port = h, ""
	} else if port == "" || strings.Trim(port, "0123456789") != "" || len(port) > 5 {
		return false
	}
	if strings.HasPrefix(h, "[") {
		if port == "" { // "[::1]" without a port
			host = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
		}
		a, err := netip.ParseAddr(host)
		return err == nil && a.Is6()
	}
	for _, r := range host {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_') {
			return false
		}
	}
	return host != ""
}
