// Package replica keeps a store's journal in a NATS JetStream stream, so
// that several roomstate nodes apply the same changes in the same order
// and give the same answers. It owns the stream (one message per journal
// entry, appended with an expected last sequence so that a writer whose
// state is behind cannot append), the lease that says which node takes
// changes (a key in a JetStream KV bucket with a TTL, renewed by its
// holder), the snapshots nodes start from (a JetStream object store, with
// the stream trimmed before the oldest kept), following the stream into
// the store, and what /healthz says of it (role, lag, stale).
//
// It knows the store only through store.Journal and the store's methods
// that take entries and snapshots as bytes: it knows nothing of what a
// record or a snapshot holds, of the engine, or of HTTP beyond the base URL
// a node advertises.
package replica

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/roomstate/roomstate/store"
)

// Options configure a Replica. Zero values take the defaults.
type Options struct {
	// URL of the NATS server(s), comma separated: nats://host:4222.
	URL string
	// Stream is the JetStream stream of the journal (default "roomstate");
	// its lease bucket is STREAM_lease and its snapshots STREAM_snapshots.
	Stream string
	// Replicas of the stream, bucket and object store: 1 on one NATS
	// server, 3 on a three-node cluster (a change is then acknowledged
	// once two have stored it). Default 1.
	Replicas int
	// Node names this node in the lease and in logs (default: Advertise).
	Node string
	// Advertise is this node's base URL, http://host:port, where other
	// nodes send writers (307) while it holds the lease.
	Advertise string
	// LeaseTTL is how long a lease outlives its holder's last renewal
	// (default 2 s): writes move to another node within about that long
	// after the holder dies.
	LeaseTTL time.Duration
	// KeepSnapshots is how many snapshots the object store keeps (default
	// 2); the stream keeps the entries from the oldest kept on.
	KeepSnapshots int
	// Logger receives what the replica does (default: none).
	Logger *slog.Logger
}

func (o *Options) defaults() {
	if o.Stream == "" {
		o.Stream = "roomstate"
	}
	if o.Replicas <= 0 {
		o.Replicas = 1
	}
	if o.Node == "" {
		o.Node = o.Advertise
	}
	if o.LeaseTTL <= 0 {
		o.LeaseTTL = 2 * time.Second
	}
	if o.KeepSnapshots <= 0 {
		o.KeepSnapshots = 2
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// versionHeader carries, on each entry, the engine's version once it is
// applied: a node's lag is the newest entry's version minus its own.
const versionHeader = "Roomstate-Version"

// A snapshot is kept as parts of at most partSize bytes, each an object
// "snapshot-<seq>/<part>" put in chunks of objChunk bytes (within any
// server's max_payload, 1 MiB by default), then the object
// "snapshot-<seq>" that names how many parts there are: a part is put
// whole before the next, so that no more than a part waits in the stream's
// ingest queue (128 MiB by default; a 10 M-dwelling snapshot in one object
// was refused as "too many requests"), and a snapshot without its last
// object is not one.
const (
	objChunk = 512 << 10
	partSize = 32 << 20
)

// leaseKey is the lease's key in the bucket.
const leaseKey = "writer"

// Replica is a node's part in a journal kept in JetStream. It implements
// store.Journal. Dial it, open the store with it, Join, then Start.
type Replica struct {
	opts    Options
	log     *slog.Logger
	nc      *nats.Conn
	js      jetstream.JetStream
	stream  jetstream.Stream
	kv      jetstream.KeyValue
	obj     jetstream.ObjectStore
	subject string
	st      *store.Store

	msgID atomic.Uint64 // numbers this node's appends, for deduplication

	// the lease
	leading    atomic.Bool
	leaseUntil atomic.Int64                // Unix ns: the holder stops taking changes then unless renewed
	leader     atomic.Pointer[leaseHolder] // who holds it, as last read (nil: nobody)

	// the stream's newest entry, as last seen
	lastSeq     atomic.Uint64
	lastVersion atomic.Uint64
	down        atomic.Int64 // Unix ns since the connection is lost (0: connected)

	stop    context.CancelFunc
	started atomic.Bool // Start has run: st is set, the lease is watched
	wg      sync.WaitGroup
	closed  atomic.Bool
}

// leaseHolder is the lease's value: who holds it and where it takes writes.
type leaseHolder struct {
	Node string
	URL  string
}

func (l *leaseHolder) encode() []byte { return []byte(l.Node + "\n" + l.URL) }

func decodeHolder(b []byte) *leaseHolder {
	node, url, _ := strings.Cut(string(b), "\n")
	return &leaseHolder{Node: node, URL: url}
}

// Dial connects to NATS and makes sure the stream, the lease bucket and
// the object store exist. It waits for NATS (logging why) until ctx ends.
func Dial(ctx context.Context, opts Options) (*Replica, error) {
	opts.defaults()
	if opts.Advertise == "" {
		return nil, errors.New("replica: no advertised URL: other nodes would not know where to send writers")
	}
	r := &Replica{opts: opts, log: opts.Logger.With("stream", opts.Stream), subject: opts.Stream + ".entries"}
	nc, err := nats.Connect(opts.URL,
		nats.Name("roomstate "+opts.Node),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250*time.Millisecond),
		nats.RetryOnFailedConnect(true),
		nats.PingInterval(2*time.Second), nats.MaxPingsOutstanding(2), // a silent server is noticed within 4-6 s
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if r.closed.Load() {
				return
			}
			if r.down.CompareAndSwap(0, time.Now().UnixNano()) {
				r.log.Warn("lost the connection to NATS; answering reads, refusing changes until it is back", "err", err)
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) {
			r.down.Store(0)
			r.log.Info("connected to NATS again", "server", c.ConnectedUrlRedacted())
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("replica: connecting to %s: %w", opts.URL, err)
	}
	r.nc = nc
	if !nc.IsConnected() {
		r.down.Store(time.Now().UnixNano())
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("replica: %w", err)
	}
	r.js = js

	if err := r.ensure(ctx); err != nil {
		nc.Close()
		return nil, err
	}
	return r, nil
}

// retry runs f until it succeeds or ctx ends, logging why it waits.
func (r *Replica) retry(ctx context.Context, what string, f func(context.Context) error) error {
	logged := false
	for {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := f(cctx)
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("replica: %s: %w (gave up: %v)", what, err, ctx.Err())
		}
		if !logged {
			r.log.Warn("waiting for NATS JetStream", "to", what, "url", r.opts.URL, "err", err)
			logged = true
		}
		select {
		case <-time.After(500 * time.Millisecond):
		case <-ctx.Done():
		}
	}
}

// ensure finds or creates the stream, the lease bucket and the object store.
func (r *Replica) ensure(ctx context.Context) error {
	name := r.opts.Stream
	err := r.retry(ctx, "open the stream "+name, func(ctx context.Context) error {
		s, err := r.js.Stream(ctx, name)
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			s, err = r.js.CreateStream(ctx, jetstream.StreamConfig{
				Name:        name,
				Description: "roomstate: the journal of changes every node applies in order",
				Subjects:    []string{r.subject},
				Storage:     jetstream.FileStorage,
				Replicas:    r.opts.Replicas,
				Retention:   jetstream.LimitsPolicy,
				MaxMsgSize:  -1,
				Duplicates:  2 * time.Minute,
				AllowDirect: true,
			})
			if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
				s, err = r.js.Stream(ctx, name)
			}
		}
		if err == nil {
			r.stream = s
		}
		return err
	})
	if err != nil {
		return err
	}
	bucket := name + "_lease"
	err = r.retry(ctx, "open the lease bucket "+bucket, func(ctx context.Context) error {
		kv, err := r.js.KeyValue(ctx, bucket)
		if errors.Is(err, jetstream.ErrBucketNotFound) {
			kv, err = r.js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: bucket, TTL: r.opts.LeaseTTL, History: 1,
				Storage: jetstream.FileStorage, Replicas: r.opts.Replicas, Description: "roomstate: which node takes changes"})
			if errors.Is(err, jetstream.ErrBucketExists) {
				kv, err = r.js.KeyValue(ctx, bucket)
			}
		}
		if err == nil {
			r.kv = kv
		}
		return err
	})
	if err != nil {
		return err
	}
	objName := name + "_snapshots"
	return r.retry(ctx, "open the object store "+objName, func(ctx context.Context) error {
		o, err := r.js.ObjectStore(ctx, objName)
		if errors.Is(err, jetstream.ErrBucketNotFound) {
			o, err = r.js.CreateObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: objName, Storage: jetstream.FileStorage,
				Replicas: r.opts.Replicas, Description: "roomstate: snapshots nodes start from, each with the stream sequence it includes"})
			if errors.Is(err, jetstream.ErrBucketExists) {
				o, err = r.js.ObjectStore(ctx, objName)
			}
		}
		if err == nil {
			r.obj = o
		}
		return err
	})
}

// streamState returns the stream's first and last sequence.
func (r *Replica) streamState(ctx context.Context) (first, last uint64, err error) {
	err = r.retry(ctx, "read the stream's state", func(ctx context.Context) error {
		info, err := r.stream.Info(ctx)
		if err == nil {
			first, last = info.State.FirstSeq, info.State.LastSeq
		}
		return err
	})
	return first, last, err
}

// Empty reports whether the stream holds no entry yet (a --load may seed it).
func (r *Replica) Empty(ctx context.Context) (bool, error) {
	_, last, err := r.streamState(ctx)
	return last == 0, err
}

// Join brings st to the stream: it waits for a seed if the stream is
// empty, and restores the newest kept snapshot unless st's own state
// (from its data directory) can be followed from where it is. The entries
// after are applied once Start runs.
func (r *Replica) Join(ctx context.Context, st *store.Store) error {
	first, last, err := r.streamState(ctx)
	if err != nil {
		return err
	}
	if last == 0 {
		if st.Applied() > 0 {
			return fmt.Errorf("replica: the stream %s is empty but this data directory follows its entry %d: "+
				"the stream was deleted; start with an empty data directory and seed the stream with --load", r.opts.Stream, st.Applied())
		}
		r.log.Info("the stream is empty: waiting for a node to seed it with --load")
	}
	for {
		if st.Applied() > 0 && st.Applied()+1 >= first && st.Applied() <= last {
			r.log.Info("following the stream from this node's own snapshot", "entry", st.Applied(), "stream_last", last)
			return nil
		}
		if st.Applied() > last && last > 0 {
			return fmt.Errorf("replica: this data directory follows entry %d of the stream %s, which ends at %d: it belongs to another stream",
				st.Applied(), r.opts.Stream, last)
		}
		// the newest snapshot that the stream goes on from
		name, seq, err := r.newestSnapshot(ctx)
		if err != nil && ctx.Err() != nil {
			return err
		}
		if err == nil && name != "" && seq+1 >= first && seq > st.Applied() {
			start := time.Now()
			var data []byte
			if err := r.retry(ctx, "fetch the snapshot "+name, func(context.Context) error {
				gctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
				defer cancel()
				var err error
				data, err = r.getSnapshot(gctx, seq)
				return err
			}); err != nil {
				return err
			}
			fetched := time.Since(start)
			if _, err := st.RestoreSnapshot(data); err != nil {
				return fmt.Errorf("replica: restoring the snapshot %s: %w", name, err)
			}
			r.log.Info("restored the newest snapshot of the stream", "name", name, "entry", seq, "bytes", len(data),
				"fetch_seconds", fetched.Seconds(), "seconds", time.Since(start).Seconds())
			return nil
		}
		// a seed's snapshot is kept right after its entry: wait for it
		select {
		case <-ctx.Done():
			return fmt.Errorf("replica: no snapshot to start from in %s_snapshots: %w", r.opts.Stream, ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
		if first, last, err = r.streamState(ctx); err != nil {
			return err
		}
	}
}

// snapshotName names the snapshot that includes the entries up to seq.
func snapshotName(seq uint64) string { return fmt.Sprintf("snapshot-%020d", seq) }

// partName names part i of a snapshot.
func partName(seq uint64, i int) string { return fmt.Sprintf("%s/%05d", snapshotName(seq), i) }

// getSnapshot fetches a kept snapshot's bytes, its parts put together.
func (r *Replica) getSnapshot(ctx context.Context, seq uint64) ([]byte, error) {
	info, err := r.obj.GetInfo(ctx, snapshotName(seq))
	if err != nil {
		return nil, err
	}
	parts, err := strconv.Atoi(info.Metadata["parts"])
	if err != nil {
		return nil, fmt.Errorf("%s: no parts in its metadata", snapshotName(seq))
	}
	size, _ := strconv.Atoi(info.Metadata["bytes"])
	out := make([]byte, 0, size)
	for i := 0; i < parts; i++ {
		b, err := r.obj.GetBytes(ctx, partName(seq, i))
		if err != nil {
			return nil, fmt.Errorf("part %d of %s: %w", i, snapshotName(seq), err)
		}
		out = append(out, b...)
	}
	if len(out) != size {
		return nil, fmt.Errorf("%s: %d bytes, its metadata says %d", snapshotName(seq), len(out), size)
	}
	return out, nil
}

// deleteSnapshot removes a kept snapshot: the object that names it first,
// then its parts.
func (r *Replica) deleteSnapshot(ctx context.Context, seq uint64) {
	info, err := r.obj.GetInfo(ctx, snapshotName(seq))
	if err != nil {
		r.log.Warn("removing an old snapshot", "name", snapshotName(seq), "err", err)
		return
	}
	if err := r.obj.Delete(ctx, snapshotName(seq)); err != nil {
		r.log.Warn("removing an old snapshot", "name", snapshotName(seq), "err", err)
		return
	}
	parts, _ := strconv.Atoi(info.Metadata["parts"])
	for i := 0; i < parts; i++ {
		r.obj.Delete(ctx, partName(seq, i))
	}
}

// snapshots lists the kept snapshots' entry numbers, ascending.
func (r *Replica) snapshots(ctx context.Context) ([]uint64, error) {
	infos, err := r.obj.List(ctx)
	if errors.Is(err, jetstream.ErrNoObjectsFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var seqs []uint64
	for _, in := range infos {
		if s, ok := strings.CutPrefix(in.Name, "snapshot-"); ok && !strings.Contains(s, "/") {
			if n, err := strconv.ParseUint(s, 10, 64); err == nil {
				seqs = append(seqs, n)
			}
		}
	}
	sort.Slice(seqs, func(i, j int) bool { return seqs[i] < seqs[j] })
	return seqs, nil
}

// newestSnapshot names the newest kept snapshot ("" when there is none).
func (r *Replica) newestSnapshot(ctx context.Context) (string, uint64, error) {
	seqs, err := r.snapshots(ctx)
	if err != nil || len(seqs) == 0 {
		return "", 0, err
	}
	s := seqs[len(seqs)-1]
	return snapshotName(s), s, nil
}

// Start follows the stream into st from the entry after st.Applied(),
// takes part in the lease, and watches the stream's newest entry for the
// lag, until Close.
func (r *Replica) Start(st *store.Store) {
	r.st = st
	ctx, cancel := context.WithCancel(context.Background())
	r.stop = cancel
	r.pollLast(ctx)
	r.readLease(ctx)
	r.started.Store(true)
	r.wg.Add(3)
	go func() { defer r.wg.Done(); r.follow(ctx) }()
	go func() { defer r.wg.Done(); r.lease(ctx) }()
	go func() { defer r.wg.Done(); r.watch(ctx) }()
}

// Close steps down (so that another node takes changes at once), stops
// following and closes the connection.
func (r *Replica) Close() {
	if !r.closed.CompareAndSwap(false, true) {
		return
	}
	if r.stop != nil {
		r.stop()
	}
	r.wg.Wait()
	if r.leading.Swap(false) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		if e, err := r.kv.Get(ctx, leaseKey); err == nil && decodeHolder(e.Value()).Node == r.opts.Node {
			r.kv.Delete(ctx, leaseKey, jetstream.LastRevision(e.Revision()))
		}
		cancel()
		r.log.Info("stepped down: another node takes changes now")
	}
	r.nc.Close()
}

// follow delivers the stream's entries to the store in order, from the one
// after the store's last applied.
func (r *Replica) follow(ctx context.Context) {
	for ctx.Err() == nil {
		if err := r.followOnce(ctx); err != nil && ctx.Err() == nil {
			r.log.Warn("following the stream stopped; starting again", "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(500 * time.Millisecond):
			}
		}
	}
}

func (r *Replica) followOnce(ctx context.Context) error {
	next := r.st.Applied() + 1
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	cons, err := r.stream.OrderedConsumer(cctx, jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: next})
	cancel()
	if err != nil {
		return fmt.Errorf("creating the consumer: %w", err)
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(512))
	if err != nil {
		return fmt.Errorf("reading the stream: %w", err)
	}
	stop := context.AfterFunc(ctx, it.Stop)
	defer stop()
	defer it.Stop()
	for {
		msg, err := it.Next()
		if err != nil {
			return err
		}
		md, err := msg.Metadata()
		if err != nil {
			return err
		}
		seq := md.Sequence.Stream
		if seq > next {
			// entries were trimmed away before this node applied them: start
			// again from a newer snapshot
			r.log.Warn("the stream was trimmed past this node's position; restoring a newer snapshot", "applied", r.st.Applied(), "first_available", seq)
			if err := r.Join(ctx, r.st); err != nil {
				return err
			}
			return nil
		}
		next = seq + 1
		if err := r.st.Deliver(ctx, seq, msg.Data()); err != nil {
			return err
		}
		if md.NumPending == 0 {
			r.noteLast(seq, msg.Headers())
		}
	}
}

// noteLast records the stream's newest entry as seen in a message's header.
func (r *Replica) noteLast(seq uint64, h nats.Header) {
	if seq < r.lastSeq.Load() {
		return
	}
	r.lastSeq.Store(seq)
	if v, err := strconv.ParseUint(h.Get(versionHeader), 10, 64); err == nil {
		r.lastVersion.Store(v)
	}
}

// pollLast reads the stream's newest entry.
func (r *Replica) pollLast(ctx context.Context) {
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	m, err := r.stream.GetLastMsgForSubject(cctx, r.subject)
	if err != nil {
		return
	}
	r.noteLast(m.Sequence, m.Header)
}

// watch keeps the stream's newest entry known, for the lag.
func (r *Replica) watch(ctx context.Context) {
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if r.nc.IsConnected() {
			r.pollLast(ctx)
		}
	}
}

// caughtUp reports whether this node has applied every entry it knows of.
func (r *Replica) caughtUp() bool { return r.st.Applied() >= r.lastSeq.Load() }

// lease takes the lease when nobody holds it and this node is caught up,
// renews it while held, and keeps the holder known to the others.
func (r *Replica) lease(ctx context.Context) {
	ttl := r.opts.LeaseTTL
	me := &leaseHolder{Node: r.opts.Node, URL: r.opts.Advertise}
	var rev uint64
	var renewed time.Time
	t := time.NewTicker(ttl / 8)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := time.Now()
		if r.leading.Load() {
			if now.UnixNano() >= r.leaseUntil.Load() {
				r.leading.Store(false)
				r.log.Warn("lease not renewed in time; no longer taking changes")
				continue
			}
			if now.Sub(renewed) < ttl/4 {
				continue
			}
			cctx, cancel := context.WithTimeout(ctx, ttl/2)
			n, err := r.kv.Update(cctx, leaseKey, me.encode(), rev)
			cancel()
			switch {
			case err == nil:
				rev, renewed = n, now
				r.leaseUntil.Store(now.Add(ttl - ttl/4).UnixNano())
			case errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyNotFound) || isWrongLast(err):
				r.leading.Store(false)
				r.log.Warn("lease lost to another node", "err", err)
			default:
				r.log.Debug("lease not renewed; trying again", "err", err)
			}
			continue
		}
		if !r.nc.IsConnected() {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, ttl/2)
		e, err := r.kv.Get(cctx, leaseKey)
		cancel()
		switch {
		case err == nil:
			h := decodeHolder(e.Value())
			if h.Node != r.opts.Node {
				r.leader.Store(h)
				continue
			}
			// a lease of this node's from before a restart: take it back
			if !r.caughtUp() {
				continue
			}
			cctx, cancel := context.WithTimeout(ctx, ttl/2)
			n, err := r.kv.Update(cctx, leaseKey, me.encode(), e.Revision())
			cancel()
			if err == nil {
				r.becomeLeader(ctx, n, now, me)
				rev, renewed = n, now
			}
		case errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted):
			r.leader.Store(nil)
			if !r.caughtUp() {
				continue
			}
			cctx, cancel := context.WithTimeout(ctx, ttl/2)
			n, err := r.kv.Create(cctx, leaseKey, me.encode())
			cancel()
			if err == nil {
				r.becomeLeader(ctx, n, now, me)
				rev, renewed = n, now
			}
		}
	}
}

func (r *Replica) becomeLeader(ctx context.Context, rev uint64, now time.Time, me *leaseHolder) {
	r.leaseUntil.Store(now.Add(r.opts.LeaseTTL - r.opts.LeaseTTL/4).UnixNano())
	r.leading.Store(true)
	r.leader.Store(me)
	r.log.Info("took the lease: this node takes changes", "node", r.opts.Node, "url", r.opts.Advertise, "revision", rev)
	// a stream whose snapshots are missing (its seeder died before keeping
	// one) gets one now
	go func() {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if name, _, err := r.newestSnapshot(cctx); err == nil && name == "" {
			r.log.Info("the object store holds no snapshot: keeping one")
			if err := r.st.Snapshot(); err != nil {
				r.log.Error("keeping a snapshot", "err", err)
			}
		}
	}()
}

func isWrongLast(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}

// Append implements store.Journal: one message, published expecting the
// stream's last sequence to be after. A publish whose answer is lost is
// sent again with the same message id; if the stream moved on meanwhile,
// the message after `after` tells whether it was this one.
func (r *Replica) Append(ctx context.Context, after uint64, data []byte, version uint64) (uint64, error) {
	msg := nats.NewMsg(r.subject)
	msg.Data = data
	msg.Header.Set(versionHeader, strconv.FormatUint(version, 10))
	id := r.opts.Node + "/" + strconv.FormatInt(time.Now().UnixNano(), 36) + "/" + strconv.FormatUint(r.msgID.Add(1), 10)
	msg.Header.Set(jetstream.MsgIDHeader, id)
	for attempt := 0; ; attempt++ {
		cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		ack, err := r.js.PublishMsg(cctx, msg, jetstream.WithExpectLastSequence(after))
		cancel()
		if err == nil {
			r.noteLast(ack.Sequence, msg.Header)
			return ack.Sequence, nil
		}
		if isWrongLast(err) {
			if attempt > 0 { // an earlier try may have been stored after all
				gctx, cancel := context.WithTimeout(ctx, 3*time.Second)
				m, gerr := r.stream.GetMsg(gctx, after+1)
				cancel()
				if gerr == nil && m.Header.Get(jetstream.MsgIDHeader) == id {
					return after + 1, nil
				}
			}
			_, last, _ := r.lastKnown(ctx)
			return 0, &store.BehindError{Last: last}
		}
		if ctx.Err() != nil {
			return 0, fmt.Errorf("replica: appending to the stream %s: %w", r.opts.Stream, err)
		}
		r.log.Debug("append not acknowledged; sending it again", "err", err, "attempt", attempt)
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("replica: appending to the stream %s: %w", r.opts.Stream, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// lastKnown asks the stream for its last sequence.
func (r *Replica) lastKnown(ctx context.Context) (first, last uint64, err error) {
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	info, err := r.stream.Info(cctx)
	if err != nil {
		return 0, 0, err
	}
	return info.State.FirstSeq, info.State.LastSeq, nil
}

// MaxEntry implements store.Journal: the server's largest message, less
// room for the headers.
func (r *Replica) MaxEntry() int {
	return int(r.nc.MaxPayload()) - 1024
}

// Writer implements store.Journal.
func (r *Replica) Writer() (string, error) {
	if !r.nc.IsConnected() {
		return "", errors.New("no connection to NATS")
	}
	if r.leading.Load() && time.Now().UnixNano() < r.leaseUntil.Load() {
		return "", nil
	}
	// the holder as last read (Start reads it before the node serves; the
	// lease goroutine every TTL/8): never a network call here, since the
	// store's committer asks too
	if h := r.leader.Load(); h != nil && h.Node != r.opts.Node {
		return h.URL, nil
	}
	return "", errors.New("no node holds the lease yet (one is being chosen)")
}

// readLease reads who holds the lease.
func (r *Replica) readLease(ctx context.Context) {
	e, err := r.kv.Get(ctx, leaseKey)
	switch {
	case err == nil:
		if h := decodeHolder(e.Value()); h.Node != r.opts.Node {
			r.leader.Store(h)
		}
	case errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted):
		r.leader.Store(nil)
	}
}

// Keep implements store.Journal: the snapshot goes into the object store;
// snapshots beyond the newest KeepSnapshots are removed, and the stream's
// entries before the oldest kept.
func (r *Replica) Keep(ctx context.Context, seq, version uint64, snapshot []byte) error {
	name := snapshotName(seq)
	parts := 0
	for off := 0; off < len(snapshot) || parts == 0; off += partSize {
		part := snapshot[off:min(off+partSize, len(snapshot))]
		if _, err := r.obj.Put(ctx, jetstream.ObjectMeta{Name: partName(seq, parts), Opts: &jetstream.ObjectMetaOptions{ChunkSize: objChunk}},
			bytes.NewReader(part)); err != nil {
			return fmt.Errorf("replica: putting part %d of %s into %s_snapshots: %w", parts, name, r.opts.Stream, err)
		}
		parts++
	}
	_, err := r.obj.Put(ctx, jetstream.ObjectMeta{Name: name, Metadata: map[string]string{
		"seq": strconv.FormatUint(seq, 10), "version": strconv.FormatUint(version, 10), "node": r.opts.Node,
		"parts": strconv.Itoa(parts), "bytes": strconv.Itoa(len(snapshot))}}, bytes.NewReader(nil))
	if err != nil {
		return fmt.Errorf("replica: putting %s into %s_snapshots: %w", name, r.opts.Stream, err)
	}
	seqs, err := r.snapshots(ctx)
	if err != nil {
		return nil // kept; trimming waits for the next one
	}
	if len(seqs) <= r.opts.KeepSnapshots {
		return nil
	}
	old := seqs[:len(seqs)-r.opts.KeepSnapshots]
	oldest := seqs[len(seqs)-r.opts.KeepSnapshots]
	for _, s := range old {
		r.deleteSnapshot(ctx, s)
	}
	// entries before the oldest kept snapshot are in every snapshot kept
	if err := r.stream.Purge(ctx, jetstream.WithPurgeSequence(oldest)); err != nil {
		r.log.Warn("trimming the stream", "before", oldest, "err", err)
	} else {
		r.log.Info("stream trimmed", "before", oldest)
	}
	return nil
}

// Replication implements store.Journal.
func (r *Replica) Replication() store.Replication {
	rep := store.Replication{Role: "follower"}
	if r.leading.Load() {
		rep.Role = "leader"
	}
	if r.started.Load() {
		if last, v := r.lastVersion.Load(), uint64(r.st.Engine().Version()); last > v {
			rep.Lag = last - v
		}
	}
	if d := r.down.Load(); d != 0 {
		rep.Stale = fmt.Sprintf("no connection to NATS since %s: answers are of the state this node had then, changes are refused",
			time.Unix(0, d).UTC().Format(time.RFC3339))
	}
	return rep
}

// Leader returns the base URL of the node holding the lease ("" when no
// node is known to).
func (r *Replica) Leader() string {
	if h := r.leader.Load(); h != nil {
		return h.URL
	}
	return ""
}
