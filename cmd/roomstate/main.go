// Command roomstate holds a city's dwellings in memory and serves its live
// room-state map (房态图): polygon, grid and unit statistics over any
// combination of states, room-state maps of buildings, vector tiles and a
// wall-screen dashboard.
//
// Run "roomstate help" for the subcommands.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

const usage = `roomstate: a live room-state map (房态图) of a city's dwellings

Usage:
  roomstate demo  [-n 1000000] [-seed 1] [-addr 127.0.0.1:8080]
        make a synthetic city, load it and serve the dashboard; prints the URL
  roomstate serve --load dwellings.csv [--load more.geojson] [--boundaries areas.geojson]
                  [--data-dir DIR] [--tokens tokens.json] [--addr 127.0.0.1:8080] [--crs wgs84|gcj02]
                  [--privacy-k 3] [--cors-origin ORIGIN] [--assets DIR] [--basemap URL] [--log-level info]
                  [--max-conns 10000] [--max-conns-per-ip 256] [--first-byte-timeout 5s]
                  [--trusted-proxy IP|CIDR] [--max-line-bytes 1MiB] [--max-field-bytes 64KiB]
                  [--history 400d] [--tz Asia/Shanghai] [--assignments persons.csv]
                  [--region-cache-mb 64] [--privacy-min-cell 250]
                  [--nats nats://HOST:4222 [--nats-replicas 3] [--advertise http://HOST:8080] [--node NAME]]
        load dwellings and serve the HTTP API, vector tiles and dashboard; with --data-dir
        every change is logged and fsynced before it is acknowledged, and survives restarts;
        --history keeps every change that long for as_of, since and series; --assignments
        says who answers for each building (楼组包干图);
        with --nats, a replica: changes go through a JetStream stream that every node applies
        in order; writes may go to any node (it redirects to the one that takes them)
  roomstate nats  --addr 127.0.0.1:4222 --data-dir DIR [--cluster HOST:PORT --routes URL,URL]
        run a NATS server with JetStream for serve --nats (one machine, a test, or a cluster node)
  roomstate gen   -n 1000000 -seed 1 [-kind realistic|disc] [-extent W,S,E,N] -out DIR
        write a synthetic city: DIR/dwellings.csv and DIR/boundaries.geojson
  roomstate query --load dwellings.csv --polygons areas.geojson [--where EXPR] [--group-by LEVEL]
                  [--ids] [--limit N] [--crs wgs84|gcj02]
        print one JSON line of statistics per polygon feature, as the HTTP API answers
  roomstate bench [-n 1000000] [-seed 1] [-city disc|realistic] [-json FILE] [-duration 1s] [-guard]
        measure every workload of the reference benchmark; -guard is the CI latency guard
  roomstate wal check DIR  |  roomstate wal cut DIR --segment FILE --offset N --yes
        read a data directory's change log and say whether a server can start from it;
        cut a damaged log at a record boundary (run "roomstate wal" for the procedure)
  roomstate version
        print the version, the commit it was built from and the dashboard libraries built in
  roomstate compare [-n 1000000] [-city realistic|disc] [-extent W,S,E,N] [-polygons FILE] [-json FILE]
        roomstate against PostgreSQL + PostGIS on the same city and polygons: checks every
        count is equal and prints p50/p99 of both (needs postgresql-15-postgis-3)

Run "roomstate COMMAND -h" for a command's flags. Flag expressions (--where) combine
flag names with & | ! and parentheses (or and, or, not): "isolated & !vaccinated".
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "roomstate:", err)
		os.Exit(1)
	}
}

// run executes one subcommand.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command given")
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return runServe(ctx, rest, stdout, stderr)
	case "demo":
		return runDemo(ctx, rest, stdout, stderr)
	case "gen":
		return runGen(ctx, rest, stdout, stderr)
	case "query":
		return runQuery(ctx, rest, stdout, stderr)
	case "bench":
		return runBench(ctx, rest, stdout, stderr)
	case "version", "-version", "--version":
		return runVersion(ctx, rest, stdout, stderr)
	case "wal":
		return runWAL(ctx, rest, stdout, stderr)
	case "nats":
		return runNATS(ctx, rest, stdout, stderr)
	case "compare":
		return runCompare(ctx, rest, stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", cmd)
}

// listFlag is a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return fmt.Sprint(*l) }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// newFlagSet makes a flag set whose -h prints a teaching usage.
func newFlagSet(name, synopsis, example string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: roomstate %s\n\n%s\n\nFlags:\n", name, synopsis)
		fs.PrintDefaults()
		if example != "" {
			fmt.Fprintf(stderr, "\nExample:\n%s\n", example)
		}
	}
	return fs
}
