package main

import (
	"flag"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/roomstate/roomstate/connlimit"
	"github.com/roomstate/roomstate/loader"
)

// byteSize is a flag of a size in bytes: 1048576, 1MiB, 64KiB, 512B (k, M
// and G are read as KiB, MiB and GiB).
type byteSize int

func (b *byteSize) String() string {
	switch n := int(*b); {
	case n >= 1<<20 && n%(1<<20) == 0:
		return strconv.Itoa(n>>20) + "MiB"
	case n >= 1<<10 && n%(1<<10) == 0:
		return strconv.Itoa(n>>10) + "KiB"
	default:
		return strconv.Itoa(n)
	}
}

func (b *byteSize) Set(s string) error {
	t := strings.TrimSpace(s)
	mult := 1
	for _, u := range []struct {
		suffix string
		mult   int
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}, {"k", 1 << 10}, {"B", 1}} {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.Atoi(t)
	if err != nil || n <= 0 || n > (1<<31)/mult {
		return fmt.Errorf("%q: want a size such as 1048576, 1MiB or 64KiB", s)
	}
	*b = byteSize(n * mult)
	return nil
}

// loadFlags are the flags of commands that read dwellings files.
type loadFlags struct {
	crs       string
	maxLine   byteSize
	maxField  byteSize
	parsedCRS loader.CRS
}

func addLoadFlags(fs *flag.FlagSet, lf *loadFlags) {
	fs.StringVar(&lf.crs, "crs", "wgs84", "coordinates of the input files: wgs84, or gcj02 (most Chinese map sources; converted to WGS84)")
	lf.maxLine, lf.maxField = loader.DefaultMaxLineBytes, loader.DefaultMaxFieldBytes
	fs.Var(&lf.maxLine, "max-line-bytes", "`SIZE` of the longest CSV record (a line, or the lines a quoted field joins) and GeoJSON dwelling\n"+
		"feature a file may hold; a longer one stops the load with file:line:column, after reading\n"+
		"no more than a few MiB of it (a file that is not CSV, or a quote never closed)")
	fs.Var(&lf.maxField, "max-field-bytes", "`SIZE` of the longest CSV field and GeoJSON property value (ids are at most 128 bytes\n"+
		"in any case); sizes as 1048576, 1MiB or 64KiB")
}

// options checks the flags and returns the loader's options.
func (lf *loadFlags) options() (loader.Options, error) {
	crs, err := loader.ParseCRS(lf.crs)
	if err != nil {
		return loader.Options{}, err
	}
	lf.parsedCRS = crs
	return loader.Options{CRS: crs, MaxLineBytes: int(lf.maxLine), MaxFieldBytes: int(lf.maxField)}, nil
}

// connFlags are the connection limits of serve and demo.
type connFlags struct {
	maxConns      int
	maxConnsPerIP int
	firstByte     time.Duration
	proxies       listFlag
}

func addConnFlags(fs *flag.FlagSet, cf *connFlags) {
	fs.IntVar(&cf.maxConns, "max-conns", connlimit.DefaultTotal, "connections open at once, from all clients together; beyond it a new connection is\n"+
		"answered 503 (code unavailable, with Retry-After) and closed. Lowered to fit the process's\n"+
		"open-file limit (ulimit -n)")
	fs.IntVar(&cf.maxConnsPerIP, "max-conns-per-ip", connlimit.DefaultPerAddr, "connections open at once from one client address (an IPv6 /64 counts as one);\n"+
		"beyond it that address is answered 503 with Retry-After while every other address is\n"+
		"served. A browser opens about 6; raise it for many clients behind one NAT, and list\n"+
		"reverse proxies with --trusted-proxy, which this limit does not count")
	fs.DurationVar(&cf.firstByte, "first-byte-timeout", connlimit.DefaultFirstByte, "a new connection that sends nothing for this long is closed without an answer,\n"+
		"so idle connections cannot hold places (a whole request then has 30 s, an idle\n"+
		"keep-alive connection 120 s)")
	fs.Var(&cf.proxies, "trusted-proxy", "`IP or CIDR` of a reverse proxy whose X-Forwarded-Host and X-Forwarded-Proto headers\n"+
		"are believed for the URLs tiles.json hands out; from anyone else they are ignored and\n"+
		"the Host the client connected with is used. Not held to --max-conns-per-ip.\n"+
		"Repeatable, e.g. --trusted-proxy 10.0.0.0/8 --trusted-proxy 192.0.2.7")
}

// fitOpenFiles lowers maxConns to what the process may open, keeping room
// for its own files and for refusing connections (each needs a descriptor
// for a moment).
func (cf *connFlags) fitOpenFiles(log *slog.Logger) {
	limit, ok := openFileLimit()
	if !ok {
		return
	}
	const spare = 256
	if fit := int(min(limit, 1<<30)) - spare; cf.maxConns > fit && fit > 0 {
		log.Warn("--max-conns lowered to fit the open-file limit (raise it with ulimit -n)", "max_conns", fit, "asked", cf.maxConns, "open_file_limit", limit)
		cf.maxConns = fit
	}
}
