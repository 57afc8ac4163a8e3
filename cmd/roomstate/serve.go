package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/roomstate/roomstate/answer"
	"github.com/roomstate/roomstate/connlimit"
	"github.com/roomstate/roomstate/engine"
	"github.com/roomstate/roomstate/internal/when"
	"github.com/roomstate/roomstate/loader"
	"github.com/roomstate/roomstate/replica"
	"github.com/roomstate/roomstate/server"
	"github.com/roomstate/roomstate/store"
	"github.com/roomstate/roomstate/web"
)

// serverFlags are the flags serve and demo share.
type serverFlags struct {
	addr      string
	tokens    string
	privacyK  int
	assets    string
	basemap   string
	cors      listFlag
	logLevel  string
	logFormat string
	conns     connFlags
	history   string
	tz        string
	minCell   float64
	regionMB  int
}

func addServerFlags(fs *flag.FlagSet, sf *serverFlags) {
	fs.StringVar(&sf.addr, "addr", "127.0.0.1:8080", "address to listen on (host:port; port 0 picks a free one)")
	fs.StringVar(&sf.tokens, "tokens", "", "JSON list of {\"name\", \"token\", \"role\", \"scope\"}: roles viewer, analyst, editor (writes only inside\n"+
		"its scope: lists of district, street, community, grid, building or person, e.g. {\"grid\": [\"G0131\"]}) and admin;\n"+
		"requests carry Authorization: Bearer TOKEN (a token shorter than 16 characters is accepted with a warning).\n"+
		"Reloaded on SIGHUP. Without it the server only listens on loopback")
	fs.IntVar(&sf.privacyK, "privacy-k", 3, "viewers see no count from 1 to k-1: such counts are null with \"suppressed\": true")
	fs.Float64Var(&sf.minCell, "privacy-min-cell", 250, "viewers see grid cells of at least this many metres (and no free polygons)")
	fs.StringVar(&sf.history, "history", "400d", "keep every change this long, for as_of, since and series (a number and s, m, h or d, from 1s to 106751d)")
	fs.IntVar(&sf.regionMB, "region-cache-mb", answer.DefaultRegionCacheMB, "keep the prepared regions of polygons sent again, up to this many MiB (0: none): the same polygon\nagain is neither decoded (same bytes), validated nor swept again")
	fs.StringVar(&sf.tz, "tz", "Asia/Shanghai", "the time zone of dates in as_of, since, series and the audit (2026-11-26 is the end of that day there):\n"+
		"a zone database name such as Asia/Shanghai or UTC; Local: this machine's zone, by its name")
	fs.StringVar(&sf.assets, "assets", "", "`DIR` of MapLibre's dist files to serve instead of the copy built in (development,\ne.g. web/node_modules/maplibre-gl/dist after npm ci --prefix web)")
	fs.StringVar(&sf.basemap, "basemap", "", "optional raster tile URL template under the dashboard's map, e.g. https://tile.example.org/{z}/{x}/{y}.png (none by default: works offline)")
	fs.Var(&sf.cors, "cors-origin", "allow this origin (e.g. https://dash.example.org, or *) to call the API from a browser; repeatable")
	fs.StringVar(&sf.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.StringVar(&sf.logFormat, "log-format", "text", "log format: text or json")
	addConnFlags(fs, &sf.conns)
}

// check refuses flag values that cannot work, before anything is loaded.
func (sf *serverFlags) check() error {
	if sf.regionMB < 0 {
		return fmt.Errorf("--region-cache-mb %d: want 0 (none) or more", sf.regionMB)
	}
	if sf.assets != "" {
		if _, err := web.MapLibreDir(sf.assets); err != nil {
			return fmt.Errorf("--assets: %w", err)
		}
	}
	// what serving reads of its flags, read now: a start refused for them
	// has loaded nothing, so the same command put right starts afresh
	if sf.tokens != "" {
		if _, err := server.LoadTokensFile(sf.tokens); err != nil {
			return fmt.Errorf("--tokens: %w", err)
		}
	} else if err := checkLoopback(sf.addr); err != nil {
		return err
	}
	if _, err := server.ParseTrustedProxies(sf.conns.proxies); err != nil {
		return fmt.Errorf("--trusted-proxy: %w", err)
	}
	if _, err := sf.location(); err != nil {
		return err
	}
	_, err := sf.storeOptions()
	return err
}

// regionCacheMB is answer.Options.RegionCacheMB for --region-cache-mb
// (whose 0 means none).
func (sf *serverFlags) regionCacheMB() int {
	if sf.regionMB == 0 {
		return -1
	}
	return sf.regionMB
}

// storeOptions are the store options the flags set.
func (sf *serverFlags) storeOptions() (store.Options, error) {
	d, err := parseDays(sf.history)
	if err != nil {
		return store.Options{}, fmt.Errorf("--history %q: %v", sf.history, err)
	}
	return store.Options{Engine: engine.Options{History: d}}, nil
}

// location is the --tz time zone. "" is refused (Go would read it as UTC
// without a word), and so is Local unless this machine's zone has a name
// (TZ, /etc/localtime's link into the zone database, /etc/timezone): the
// zone's name is what info's tz tells clients, and "Local" tells them
// nothing.
func (sf *serverFlags) location() (*time.Location, error) {
	name := sf.tz
	switch strings.TrimSpace(name) {
	case "":
		return nil, fmt.Errorf("--tz %q: want a time zone name such as Asia/Shanghai or UTC", sf.tz)
	case "Local":
		local, err := localZoneName()
		if err != nil {
			return nil, fmt.Errorf("--tz Local: %v; give the zone's name, such as Asia/Shanghai or UTC", err)
		}
		name = local
	}
	l, err := time.LoadLocation(name)
	if err != nil {
		if name == "Asia/Shanghai" {
			return answer.Shanghai(), nil // no zone database on this system
		}
		if name != sf.tz {
			return nil, fmt.Errorf("--tz Local (%s): %v", name, err)
		}
		return nil, fmt.Errorf("--tz %q: %v", sf.tz, err)
	}
	return l, nil
}

// zoneFiles are where localZoneName looks (a test points them elsewhere).
var zoneFiles = struct{ localtime, timezone string }{"/etc/localtime", "/etc/timezone"}

// localZoneName is the name of this machine's time zone: TZ when it names
// one (":" and all), else where /etc/localtime links to in the zone
// database, else /etc/timezone (Debian's).
func localZoneName() (string, error) {
	if tz, ok := os.LookupEnv("TZ"); ok {
		tz = strings.TrimPrefix(tz, ":")
		if tz == "" {
			return "UTC", nil // TZ set empty: Go and libc use UTC
		}
		if i := strings.LastIndex(tz, "zoneinfo/"); i >= 0 && strings.HasPrefix(tz, "/") {
			tz = tz[i+len("zoneinfo/"):] // a file of the zone database
		}
		if _, err := time.LoadLocation(tz); err != nil || strings.HasPrefix(tz, "/") {
			return "", fmt.Errorf("TZ %q is not a zone name", tz)
		}
		return tz, nil
	}
	if target, err := os.Readlink(zoneFiles.localtime); err == nil {
		if i := strings.LastIndex(target, "zoneinfo/"); i >= 0 {
			name := target[i+len("zoneinfo/"):]
			if _, err := time.LoadLocation(name); err == nil {
				return name, nil
			}
		}
	}
	if b, err := os.ReadFile(zoneFiles.timezone); err == nil {
		name := strings.TrimSpace(string(b))
		if _, err := time.LoadLocation(name); name != "" && err == nil {
			return name, nil
		}
	}
	return "", fmt.Errorf("this machine's time zone has no name to be found (TZ unset, %s not a link into the zone database, no %s)", zoneFiles.localtime, zoneFiles.timezone)
}

// parseDays reads --history: a span (a number and s, m, h or d), at least
// 1s; also a Go duration (72h30m), which earlier builds took, so that a
// command line that started them starts this one.
func parseDays(s string) (time.Duration, error) {
	d, err := when.Span(s)
	if err != nil {
		gd, gerr := time.ParseDuration(strings.TrimSpace(s))
		if gerr != nil || gd <= 0 {
			return 0, err
		}
		d = gd
	}
	if d < time.Second {
		return 0, fmt.Errorf("at least 1s, e.g. 400d or 72h")
	}
	return d, nil
}

func (sf *serverFlags) logger(stderr io.Writer) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(sf.logLevel)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", sf.logLevel)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch sf.logFormat {
	case "text":
		return slog.New(slog.NewTextHandler(stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(stderr, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", sf.logFormat)
}

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("serve --load FILE [flags]",
		"Load dwellings (CSV or GeoJSON; all or nothing: any bad row is reported as file:line:column and\n"+
			"nothing is loaded) and serve the HTTP API of docs/API.md and the dashboard at /.\n"+
			"Without --tokens the server only listens on loopback addresses.",
		"  roomstate serve --load city/dwellings.csv --boundaries city/boundaries.geojson --addr 127.0.0.1:8080\n"+
			"  curl -s localhost:8080/api/v1/query/polygon -d '{\"geometry\":{...},\"where\":\"isolated & !vaccinated\"}'", stderr)
	var loads, bounds listFlag
	var sf serverFlags
	var lf loadFlags
	fs.Var(&loads, "load", "dwellings file (.csv, .geojson); repeatable. With --data-dir needed only the first time:\na file whose content the directory holds already is skipped (see --data-dir)")
	fs.Var(&bounds, "boundaries", "area boundaries (GeoJSON with properties level, id, name); repeatable")
	assignments := fs.String("assignments", "", "who answers for each building, grid, community or street (楼组包干): a CSV with columns\n"+
		"level,id,person and optionally team,phone; applied through the store at start (all or nothing), each row\n"+
		"replacing its unit's assignment (an empty person removes it). Needed only on a data directory's first start")
	addLoadFlags(fs, &lf)
	dataDir := fs.String("data-dir", "", "keep state here: a log of every change (fsynced before the answer) and snapshots;\n"+
		"a directory that holds state is reopened, and --load is only needed the first time. The directory\n"+
		"records the content (SHA-256) of every file loaded into it: given again with the same content (a\n"+
		"restart repeating its command line), a --load or --boundaries file is skipped and the changes made\n"+
		"since are kept; a file with new content is added (all or nothing: an id the directory holds refuses it).\n"+
		"With --nats: snapshots and the audit trail only (the stream is the log), for a quick restart")
	var rf replicaFlags
	addReplicaFlags(fs, &rf)
	addServerFlags(fs, &sf)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("serve: unexpected argument %q (use --load FILE)", fs.Arg(0))
	}
	lopts, err := lf.options()
	if err != nil {
		return err
	}
	log, err := sf.logger(stderr)
	if err != nil {
		return err
	}
	lopts.Logger = log
	if err := sf.check(); err != nil {
		return err
	}
	if rf.url != "" && *assignments != "" {
		return errors.New("serve: --assignments with --nats: replicas share one log, so send the file's rows once with PUT /api/v1/assignments (any node redirects it to the one that takes changes)")
	}
	if rf.url != "" {
		return serveReplica(ctx, &rf, &sf, loads, bounds, lopts, *dataDir, log, stdout, stderr)
	}
	if len(loads) == 0 && *dataDir == "" {
		fs.Usage()
		return errors.New("serve: give at least one --load FILE, or a --data-dir that holds state")
	}
	// a bad assignments file stops the start before anything is loaded
	var rows []loader.AssignmentRow
	if *assignments != "" {
		if rows, err = loader.ReadAssignmentsFile(*assignments); err != nil {
			return fmt.Errorf("--assignments: %w", err)
		}
	}
	start := time.Now()
	so, err := sf.storeOptions()
	if err != nil {
		return err
	}
	so.Dir, so.Logger = *dataDir, log
	st, err := store.Open(so)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	eng := st.Engine()
	if st.HadState() {
		log.Info("data directory reopened", "dir", *dataDir, "dwellings", eng.Len(), "version", eng.Version(), "seconds", time.Since(start).Seconds())
	} else if len(loads) == 0 {
		st.Close()
		return fmt.Errorf("serve: the data directory %s holds no state yet: give --load FILE the first time", *dataDir)
	}
	if len(loads) > 0 || len(bounds) > 0 {
		start = time.Now()
		// through the store: durable (a snapshot) before anyone is told,
		// and the change feed starts after it; with a data directory the
		// files are recorded with the load, and those it holds already are
		// skipped, so that a restart may repeat its command line
		fl := fileLoad{record: *dataDir != "", skipLoaded: *dataDir != "", log: log}
		loaded, err := loadFiles(st, loads, bounds, lopts, fl, stderr)
		if err != nil {
			st.Close()
			return heldHint(err, st, *dataDir)
		}
		if loaded {
			log.Info("loaded", "dwellings", eng.Len(), "flags", strings.Join(eng.Flags(), ","), "seconds", time.Since(start).Seconds())
		}
	}
	if *assignments != "" {
		if err := applyAssignments(st, *assignments, rows, log); err != nil {
			st.Close()
			return err
		}
	}
	return serveStore(ctx, st, &sf, log, stdout, nil, nil)
}

// heldHint explains a load refused for ids that a reopened data directory
// holds already: each such problem says so, and the error ends with what
// to do about it. Other errors are returned as they are.
func heldHint(err error, st *store.Store, dir string) error {
	var le *engine.LoadError
	if dir == "" || !st.HadState() || !errors.As(err, &le) {
		return err
	}
	held := 0
	for i := range le.Problems {
		if p := &le.Problems[i]; p.Held {
			p.Reason = strings.TrimSuffix(p.Reason, " (already loaded)") + fmt.Sprintf(" (the data directory %s already holds it)", dir)
			held++
		}
	}
	if held == 0 {
		return err
	}
	return fmt.Errorf("%w\nthe data directory %s holds state already. A --load file whose content was loaded into it before is skipped;\n"+
		"this one's content is new, and holds ids the directory has (from another file, or added since).\n"+
		"To add dwellings, give a file of new ids only (change held ones with PUT /api/v1/dwellings/{id});\n"+
		"to start afresh, stop the server and start it with an empty --data-dir (or move %s away)", le, dir, dir)
}

// applyAssignments applies the rows of an assignments file that change
// anything through the store, as the system, before the server answers:
// all or nothing.
func applyAssignments(st *store.Store, path string, rows []loader.AssignmentRow, log *slog.Logger) error {
	ops := make([]engine.Op, len(rows))
	set := make([]engine.Assignment, 0, len(rows))
	for i, r := range rows {
		ops[i] = answer.AssignOp(r.Level, r.ID, r.Person, r.Team, r.Phone)
		if r.Person != "" {
			set = append(set, engine.Assignment{Level: r.Level, ID: r.ID})
		}
	}
	changed, v, err := answer.ApplyAssignments(st, ops)
	if err != nil {
		var oe *engine.OpError
		if errors.As(err, &oe) && oe.Index < len(rows) {
			return fmt.Errorf("--assignments: %s:%d: %v; nothing was applied", path, rows[oe.Index].Line, oe.Err)
		}
		return fmt.Errorf("--assignments: %w", err)
	}
	log.Info("assignments applied", "file", path, "rows", len(rows), "changed", changed, "version", v)
	if idle := st.Engine().Unoccupied(set); len(idle) > 0 {
		log.Warn("assignments of units that hold no dwelling (they take effect when one arrives; a misspelt id?)",
			"count", len(idle), "first", idle[0].Level.String()+" "+idle[0].ID)
	}
	return nil
}

// serveStore listens (on tcp when given, else on --addr) and serves until
// ctx is done, then shuts down cleanly: change streams end, requests in
// flight finish, a replica steps down, and the store writes its final
// snapshot.
func serveStore(ctx context.Context, st *store.Store, sf *serverFlags, log *slog.Logger, stdout io.Writer, tcp net.Listener, rep *replica.Replica) (err error) {
	defer func() {
		if tcp != nil {
			tcp.Close() // closed already when served; not when refused before
		}
		if rep != nil {
			rep.Close()
		}
		if cerr := st.Close(); err == nil {
			err = cerr
		}
	}()
	// give back what loading or reopening left behind (read buffers, the
	// load's batch, sort space): at 10 M dwellings RSS goes from ~170 to
	// ~90 bytes a dwelling
	debug.FreeOSMemory()
	var access *server.Access
	if sf.tokens != "" {
		ts, err := server.LoadTokensFile(sf.tokens)
		if err != nil {
			return fmt.Errorf("--tokens: %w", err)
		}
		warnShortTokens(log, ts)
		access = server.NewAccess(ts, sf.privacyK)
		log.Info("access control on", "tokens", len(ts), "privacy_k", sf.privacyK)
		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		defer signal.Stop(hup)
		go func() {
			for range hup {
				ts, err := server.LoadTokensFile(sf.tokens)
				if err != nil {
					log.Error("tokens not reloaded; the old ones stay", "err", err)
					continue
				}
				warnShortTokens(log, ts)
				access.Set(ts)
				log.Info("tokens reloaded", "tokens", len(ts))
			}
		}()
	} else if err := checkLoopback(sf.addr); err != nil {
		return err
	}
	proxies, err := server.ParseTrustedProxies(sf.conns.proxies)
	if err != nil {
		return fmt.Errorf("--trusted-proxy: %w", err)
	}
	sf.conns.fitOpenFiles(log)
	if tcp == nil {
		if tcp, err = net.Listen("tcp", sf.addr); err != nil {
			return err
		}
	}
	ln := connlimit.New(tcp, connlimit.Options{PerAddr: sf.conns.maxConnsPerIP, Total: sf.conns.maxConns,
		FirstByte: sf.conns.firstByte, Exempt: proxies, Logger: log})
	tz, err := sf.location()
	if err != nil {
		return err
	}
	srv := server.New(st, server.Options{Logger: log, CORSOrigins: sf.cors, AssetsDir: sf.assets, Basemap: sf.basemap, Access: access,
		Answers:  answer.Options{TZ: tz, PrivacyMinCell: sf.minCell, RegionCacheMB: sf.regionCacheMB()},
		MaxConns: sf.conns.maxConns, TrustedProxies: proxies, Registry: connMetrics(ln)})
	if srv.AssetsDir != "" {
		log.Info("MapLibre served from --assets instead of the copy built in", "dir", srv.AssetsDir)
	}
	hs := srv.HTTPServer()
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	fmt.Fprintf(stdout, "listening on http://%s\n", ln.Addr())
	log.Info("serving", "addr", ln.Addr().String())
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	srv.Close()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return hs.ShutdownWithContext(sctx)
}

// warnShortTokens logs a warning for each token shorter than
// server.MinTokenLen characters, naming its entry (never the token).
func warnShortTokens(log *slog.Logger, ts []server.Token) {
	for _, name := range server.ShortTokens(ts) {
		log.Warn("short token: accepted, but easy to guess; use a long random one of at least min_chars characters",
			"name", name, "min_chars", server.MinTokenLen)
	}
}

// checkLoopback refuses to listen beyond this machine without access tokens.
func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--addr %q: %v", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("--addr %s: refusing to listen on a non-loopback address without --tokens: "+
			"dwelling states are personal data; give --tokens FILE, or listen on 127.0.0.1", addr)
	}
	return nil
}

// connMetrics is the server's metrics registry: the Go and process
// collectors the server would register itself, and the listener's
// connections.
func connMetrics(ln *connlimit.Listener) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "roomstate_connections_open", Help: "Connections accepted and not yet closed."},
			func() float64 { return float64(ln.Open()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "roomstate_connections_timed_out_total",
			Help: "Connections closed without an answer: silent past --first-byte-timeout, or slow past the read timeout."},
			func() float64 { return float64(ln.TimedOut()) }))
	for _, reason := range []string{connlimit.ReasonPerAddr, connlimit.ReasonTotal} {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "roomstate_connections_refused_total",
			Help: "Connections refused with a 503: per_address (--max-conns-per-ip) or total (--max-conns).", ConstLabels: prometheus.Labels{"reason": reason}},
			func() float64 { return float64(ln.Refused(reason)) }))
	}
	return reg
}
