package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
)

// runNATS runs a NATS server with JetStream in this process: the journal,
// lease and snapshots of `serve --nats` on one machine, a test, or each
// node of a small cluster. Production may point --nats at any NATS cluster
// instead.
func runNATS(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("nats --addr HOST:PORT --data-dir DIR [--cluster HOST:PORT --routes URL,URL --name NAME]",
		"Run a NATS server with JetStream in this process, for serve --nats. Every message is fsynced before it\n"+
			"is acknowledged (--sync always), so a change acknowledged by roomstate survives a crash of this\n"+
			"process or of the machine. With --cluster and --routes, three of these (on three machines) form a\n"+
			"JetStream cluster: start serve with --nats-replicas 3 and a change is acknowledged once two of\n"+
			"them have stored it. Stop with Ctrl-C (or SIGTERM). Production may use any NATS cluster with\n"+
			"JetStream instead (docs/SCALING.md).",
		"  roomstate nats --addr 127.0.0.1:4222 --data-dir /var/lib/roomstate-nats\n"+
			"  roomstate serve --nats nats://127.0.0.1:4222 --load city/dwellings.csv --addr 127.0.0.1:8080\n"+
			"  roomstate serve --nats nats://127.0.0.1:4222 --addr 127.0.0.1:8081     # a second node: follows, redirects writes\n"+
			"\n"+
			"  # a three-node cluster (one line per machine)\n"+
			"  roomstate nats --name n1 --addr 0.0.0.0:4222 --cluster 10.0.0.1:6222 --routes nats://10.0.0.2:6222,nats://10.0.0.3:6222 --data-dir /var/lib/nats\n"+
			"  roomstate nats --name n2 --addr 0.0.0.0:4222 --cluster 10.0.0.2:6222 --routes nats://10.0.0.1:6222,nats://10.0.0.3:6222 --data-dir /var/lib/nats\n"+
			"  roomstate nats --name n3 --addr 0.0.0.0:4222 --cluster 10.0.0.3:6222 --routes nats://10.0.0.1:6222,nats://10.0.0.2:6222 --data-dir /var/lib/nats", stderr)
	addr := fs.String("addr", "127.0.0.1:4222", "client address to listen on (host:port; port 0 picks a free one)")
	dataDir := fs.String("data-dir", "", "where JetStream keeps its streams (required): the journal of changes, the lease and the snapshots")
	name := fs.String("name", "", "this server's name, unique in a cluster (default: from --addr)")
	cluster := fs.String("cluster", "", "address for cluster routes (host:port); with --routes, joins a JetStream cluster")
	clusterName := fs.String("cluster-name", "roomstate", "the cluster's name: the same on every server of one cluster")
	routes := fs.String("routes", "", "comma-separated routes to the other servers of the cluster, nats://host:port of their --cluster")
	maxPayload := byteSize(8 << 20)
	fs.Var(&maxPayload, "max-payload", "largest message: one journal entry (a group of changes; one NDJSON batch must fit in one, ~60 bytes a line; at most 64MiB)")
	sync := fs.String("sync", "always", "fsync policy of JetStream: always (each message before its acknowledgement), or an interval such as 1s\n(faster, but a machine that loses power loses what was not synced)")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("nats: unexpected argument %q", fs.Arg(0))
	}
	if *dataDir == "" {
		fs.Usage()
		return errors.New("nats: give --data-dir DIR: JetStream keeps the journal there")
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("--log-level %q: want debug, info, warn or error", *logLevel)
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lvl}))
	host, port, err := splitHostPort("--addr", *addr)
	if err != nil {
		return err
	}
	if maxPayload > 64<<20 {
		return fmt.Errorf("--max-payload %v: at most 64MiB", &maxPayload)
	}
	if err := os.MkdirAll(*dataDir, 0o755); err != nil {
		return fmt.Errorf("nats: --data-dir: %w", err)
	}
	opts := &natsserver.Options{
		ServerName: *name,
		Host:       host,
		Port:       port,
		JetStream:  true,
		StoreDir:   *dataDir,
		MaxPayload: int32(maxPayload),
		NoSigs:     true, // this process handles signals
	}
	if opts.ServerName == "" {
		opts.ServerName = "roomstate-nats-" + strings.NewReplacer(":", "-", ".", "-").Replace(*addr)
	}
	if *sync == "always" {
		opts.SyncAlways = true
	} else if d, err := time.ParseDuration(*sync); err == nil && d > 0 {
		opts.SyncInterval = d
	} else {
		return fmt.Errorf("--sync %q: want always or an interval such as 1s", *sync)
	}
	if *cluster != "" {
		ch, cp, err := splitHostPort("--cluster", *cluster)
		if err != nil {
			return err
		}
		opts.Cluster = natsserver.ClusterOpts{Name: *clusterName, Host: ch, Port: cp}
		if *routes != "" {
			opts.Routes = natsserver.RoutesFromStr(*routes)
		}
	} else if *routes != "" {
		return errors.New("nats: --routes needs --cluster HOST:PORT (where this server takes routes)")
	}
	s, err := natsserver.NewServer(opts)
	if err != nil {
		return fmt.Errorf("nats: %w", err)
	}
	s.SetLoggerV2(natsLogger{log}, lvl <= slog.LevelDebug, false, false)
	go s.Start()
	if !s.ReadyForConnections(30 * time.Second) {
		s.Shutdown()
		return fmt.Errorf("nats: the server did not accept connections within 30 s (is %s in use?)", *addr)
	}
	fmt.Fprintf(stdout, "listening on %s\n", s.ClientURL())
	log.Info("NATS with JetStream serving", "url", s.ClientURL(), "name", opts.ServerName, "data_dir", *dataDir,
		"sync_always", opts.SyncAlways, "cluster", *cluster, "routes", *routes)
	<-ctx.Done()
	log.Info("shutting down")
	s.Shutdown()
	s.WaitForShutdown()
	return nil
}

// splitHostPort reads host:port; port 0 picks a free port.
func splitHostPort(flagName, addr string) (string, int, error) {
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("%s %q: %v", flagName, addr, err)
	}
	n, err := strconv.Atoi(p)
	if err != nil || n < 0 || n > 65535 {
		return "", 0, fmt.Errorf("%s %q: bad port", flagName, addr)
	}
	if n == 0 {
		n = natsserver.RANDOM_PORT
	}
	return h, n, nil
}

// natsLogger sends the NATS server's log to slog.
type natsLogger struct{ l *slog.Logger }

func (n natsLogger) Noticef(format string, v ...any) { n.l.Info("nats: " + fmt.Sprintf(format, v...)) }
func (n natsLogger) Warnf(format string, v ...any)   { n.l.Warn("nats: " + fmt.Sprintf(format, v...)) }
func (n natsLogger) Fatalf(format string, v ...any)  { n.l.Error("nats: " + fmt.Sprintf(format, v...)) }
func (n natsLogger) Errorf(format string, v ...any)  { n.l.Error("nats: " + fmt.Sprintf(format, v...)) }
func (n natsLogger) Debugf(format string, v ...any)  { n.l.Debug("nats: " + fmt.Sprintf(format, v...)) }
func (n natsLogger) Tracef(format string, v ...any)  { n.l.Debug("nats: " + fmt.Sprintf(format, v...)) }
