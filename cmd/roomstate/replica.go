package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/roomstate/roomstate/loader"
	"github.com/roomstate/roomstate/replica"
	"github.com/roomstate/roomstate/store"
)

// replicaFlags are serve's flags for running as one of several replicas.
type replicaFlags struct {
	url           string
	stream        string
	replicas      int
	advertise     string
	node          string
	leaseTTL      time.Duration
	snapshotEvery int
}

func addReplicaFlags(fs *flag.FlagSet, rf *replicaFlags) {
	fs.StringVar(&rf.url, "nats", "", "run as a replica: every change goes through a JetStream stream on this NATS server (nats://HOST:4222;\n"+
		"comma-separate the servers of a cluster) and every node on the stream applies it, in order. The first\n"+
		"node seeds an empty stream with --load; the others start with no --load and follow. Writes may go to\n"+
		"any node: the one holding the lease takes them, the others answer 307 with its URL (see --advertise)")
	fs.StringVar(&rf.stream, "nats-stream", "roomstate", "the JetStream stream of the replicas (its lease bucket is STREAM_lease, its snapshots STREAM_snapshots)")
	fs.IntVar(&rf.replicas, "nats-replicas", 1, "copies JetStream keeps of the stream, lease and snapshots when it creates them: 1 on one NATS\n"+
		"server, 3 on a three-node cluster (a change is then acknowledged once two servers have stored it)")
	fs.StringVar(&rf.advertise, "advertise", "", "this node's base URL as other nodes and clients reach it, e.g. http://10.0.0.5:8080: where\n"+
		"the others send writers while this node takes changes (default: http:// and the address it listens on)")
	fs.StringVar(&rf.node, "node", "", "this node's name in the lease and the audit of the stream (default: its --advertise URL)")
	fs.DurationVar(&rf.leaseTTL, "lease-ttl", 2*time.Second, "how long the lease outlives its holder: writes move to another node about this long after\n"+
		"the node taking them dies (a bucket created earlier keeps its own)")
	fs.IntVar(&rf.snapshotEvery, "snapshot-every", 1_000_000, "changes between snapshots (with --nats the node taking changes keeps each in JetStream, and\n"+
		"the stream is trimmed before the oldest of the two newest)")
}

// serveReplica runs serve as a replica on a JetStream stream: it listens
// first (so that it knows the URL it advertises), seeds the stream with the
// files to load or joins it (restoring the newest snapshot kept in it
// unless its data directory lets it follow on), prints "listening on" and
// serves while it catches up.
func serveReplica(ctx context.Context, rf *replicaFlags, sf *serverFlags, loads, bounds []string, lopts loader.Options,
	dataDir string, log *slog.Logger, stdout, stderr io.Writer) error {
	// the server flags were checked (sf.check), the loopback rule among them
	if len(loads) == 0 && len(bounds) > 0 {
		return errors.New("serve: --boundaries with --nats come with the --load that seeds the stream")
	}
	tcp, err := net.Listen("tcp", sf.addr)
	if err != nil {
		return err
	}
	ok := false
	defer func() {
		if !ok {
			tcp.Close()
		}
	}()
	adv := rf.advertise
	if adv == "" {
		adv = "http://" + tcp.Addr().String()
	}
	adv = strings.TrimSuffix(adv, "/")
	if !strings.HasPrefix(adv, "http://") && !strings.HasPrefix(adv, "https://") {
		return fmt.Errorf("--advertise %q: want a base URL such as http://10.0.0.5:8080", rf.advertise)
	}
	if rf.snapshotEvery <= 0 {
		return fmt.Errorf("--snapshot-every %d: want a positive number of changes", rf.snapshotEvery)
	}
	node := rf.node
	if node == "" {
		node = adv
	}
	log = log.With("node", node)
	start := time.Now()
	rep, err := replica.Dial(ctx, replica.Options{URL: rf.url, Stream: rf.stream, Replicas: rf.replicas, Node: node,
		Advertise: adv, LeaseTTL: rf.leaseTTL, Logger: log})
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	repOpen := true
	defer func() {
		if repOpen {
			rep.Close()
		}
	}()
	so, err := sf.storeOptions()
	if err != nil {
		return err
	}
	so.Dir, so.Logger, so.Journal, so.SnapshotEvery = dataDir, log, rep, rf.snapshotEvery
	st, err := store.Open(so)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	stOpen := true
	defer func() {
		if stOpen {
			st.Close()
		}
	}()
	if len(loads) > 0 {
		empty, err := rep.Empty(ctx)
		if err != nil {
			return fmt.Errorf("serve: %w", err)
		}
		if !empty || st.Applied() > 0 {
			return fmt.Errorf("serve: --load with --nats seeds an empty stream, and the stream %s holds changes already: "+
				"start this node without --load to follow it (to start over, delete the stream and its _lease and _snapshots buckets)", rf.stream)
		}
		if _, err := loadFiles(st, loads, bounds, lopts, fileLoad{record: true, log: log}, stderr); err != nil {
			return err
		}
		if err := st.Seed(node); err != nil {
			return fmt.Errorf("serve: %w", err)
		}
		log.Info("seeded the stream", "dwellings", st.Engine().Len(), "version", st.Engine().Version(), "seconds", time.Since(start).Seconds())
	} else {
		if err := rep.Join(ctx, st); err != nil {
			return fmt.Errorf("serve: %w", err)
		}
		log.Info("joined the stream", "dwellings", st.Engine().Len(), "version", st.Engine().Version(), "entry", st.Applied(),
			"seconds", time.Since(start).Seconds())
	}
	rep.Start(st)
	ok, repOpen, stOpen = true, false, false
	return serveStore(ctx, st, sf, log, stdout, tcp, rep)
}
