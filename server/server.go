// Package server serves the roomstate HTTP API of docs/API.md over fasthttp:
// it routes requests, authenticates callers, applies limits, counts metrics,
// and hands each request to the answer layer, which computes the body. It
// maps the kinds of failure (package fault) to HTTP statuses in one table;
// every error is a JSON body with a code, and a malformed request never
// brings the server down.
//
// It knows nothing of how answers are computed or stored.
package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/roomstate/roomstate/answer"
	"github.com/roomstate/roomstate/engine"
	"github.com/roomstate/roomstate/fault"
	"github.com/roomstate/roomstate/store"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"
)

// Options configure a Server. Zero values take the defaults.
type Options struct {
	Logger       *slog.Logger
	Registry     *prometheus.Registry // metrics go here; nil makes a private one
	MaxBodyBytes int                  // request body limit (default 16 MiB)
	ReadTimeout  time.Duration        // to read a whole request from its first byte (default 30 s)
	WriteTimeout time.Duration        // default 60 s
	IdleTimeout  time.Duration        // a keep-alive connection's wait for its next request (default 120 s)
	MaxConns     int                  // connections the listener (connlimit) allows in all (default 10,000)
	Access       *Access              // tokens; nil: no access control (loopback only)
	CORSOrigins  []string             // allowed origins; "*" for any
	AssetsDir    string               // a directory of MapLibre's dist files to serve instead of the embedded copy (development)
	Basemap      string               // optional raster tile URL template for the dashboard
	Answers      answer.Options       // limits of the answers (vertices, ids, batch lines, query time, tile cache)

	// MaxHeaderBytes bounds a request's line and headers together (it is
	// each connection's read buffer): a 4,096-byte where fits in a GET even
	// with every byte percent-encoded. Default DefaultMaxHeaderBytes.
	MaxHeaderBytes int
	// TrustedProxies are the addresses whose X-Forwarded-Host, -Proto and
	// -For headers are believed; from anyone else they are ignored.
	TrustedProxies []netip.Prefix
}

func (o *Options) defaults() {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = 16 << 20
	}
	if o.ReadTimeout <= 0 {
		o.ReadTimeout = 30 * time.Second
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 60 * time.Second
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = 120 * time.Second
	}
	if o.MaxConns <= 0 {
		o.MaxConns = 10_000
	}
	if o.MaxHeaderBytes <= 0 {
		o.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if o.Access != nil {
		o.Answers.PrivacyK = int(o.Access.k)
	}
}

// Server answers the HTTP API for the engine a store owns.
type Server struct {
	ans  *answer.Answers
	st   *store.Store
	opts Options
	log  *slog.Logger
	stop chan struct{} // closed by Close: ends change streams
	once sync.Once

	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	metrics  fasthttp.RequestHandler

	assets    fs.FS     // MapLibre's files: embedded, or from AssetsDir; nil when AssetsDir lacks them
	AssetsDir string    // the --assets directory; "" for the embedded copy
	files     fileCache // the dashboard's embedded files, ready to serve (web.go)
	access    *Access
}

// New returns a server for the engine st owns, writing through st.
func New(st *store.Store, opts Options) *Server {
	opts.defaults()
	eng := st.Engine()
	s := &Server{ans: answer.New(eng, st, opts.Answers), st: st, opts: opts, log: opts.Logger, reg: opts.Registry,
		stop: make(chan struct{}), access: opts.Access}
	if s.reg == nil {
		s.reg = prometheus.NewRegistry()
		s.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	s.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "roomstate_http_requests_total", Help: "HTTP requests by route and status code.",
	}, []string{"route", "code"})
	s.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "roomstate_http_request_duration_seconds", Help: "HTTP request latency by route.",
		Buckets: []float64{10e-6, 25e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 0.1, 0.25, 0.5, 1, 2.5},
	}, []string{"route"})
	tc := s.ans.Tiles()
	rc := s.ans.RegionCache()
	s.reg.MustRegister(s.requests, s.latency,
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "roomstate_region_cache_hits_total",
			Help: regionHitsHelp, ConstLabels: prometheus.Labels{"by": "text"}},
			func() float64 { return float64(rc.Stats().TextHits) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "roomstate_region_cache_hits_total",
			Help: regionHitsHelp, ConstLabels: prometheus.Labels{"by": "geometry"}},
			func() float64 { return float64(rc.Stats().GeometryHits) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "roomstate_region_cache_misses_total",
			Help: "Polygons whose region was prepared (validated, converted) because the region cache did not hold it."},
			func() float64 { return float64(rc.Stats().Misses) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "roomstate_region_cache_bytes", Help: "Memory held by the region cache (about)."},
			func() float64 { return float64(rc.Stats().Bytes) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "roomstate_region_cache_max_bytes", Help: "The region cache's bound (--region-cache-mb)."},
			func() float64 { return float64(rc.Stats().MaxBytes) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "roomstate_region_cache_entries", Help: "Polygons held by the region cache."},
			func() float64 { return float64(rc.Stats().Entries) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "roomstate_dwellings", Help: "Dwellings in the engine."},
			func() float64 { return float64(eng.Len()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "roomstate_version", Help: "Current change version."},
			func() float64 { return float64(eng.Version()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "roomstate_tile_cache_hits_total", Help: "Tiles served from the cache."},
			func() float64 { return float64(tc.Hits.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "roomstate_tile_renders_total", Help: "Tiles rendered (cache misses)."},
			func() float64 { return float64(tc.Misses.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "roomstate_replica_lag",
			Help: "Changes stored in the replicas' stream and not yet applied by this node (0 without --nats)."},
			func() float64 { return float64(st.Replication().Lag) }),
		roleCollector{st})
	s.assets, s.AssetsDir = findAssets(opts.AssetsDir)
	s.metrics = fasthttpadaptor.NewFastHTTPHandler(promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{}))
	return s
}

// regionHitsHelp explains roomstate_region_cache_hits_total.
const regionHitsHelp = "Polygons whose prepared region came from the region cache: by=text, the same JSON text as before (not decoded again); by=geometry, the same geometry written otherwise."

// DefaultMaxHeaderBytes is the default of Options.MaxHeaderBytes: a
// 4,096-byte where percent-encoded throughout (12 KiB) and 4 KiB more.
const DefaultMaxHeaderBytes = 16 << 10

// HTTPServer returns a fasthttp server with the configured limits. Serve
// it on a connlimit listener: that is where connections are counted,
// refused, and closed quietly when silent or slow.
func (s *Server) HTTPServer() *fasthttp.Server {
	return &fasthttp.Server{
		Handler:            s.Handle,
		Name:               "roomstate",
		MaxRequestBodySize: s.opts.MaxBodyBytes,
		ReadBufferSize:     s.opts.MaxHeaderBytes,
		ReadTimeout:        s.opts.ReadTimeout,
		WriteTimeout:       s.opts.WriteTimeout,
		IdleTimeout:        s.opts.IdleTimeout,
		// above the listener's limit: connections closing are still
		// counted by fasthttp for a moment after the listener freed them
		Concurrency:                   s.opts.MaxConns + s.opts.MaxConns/4 + 64,
		DisableHeaderNamesNormalizing: false,
		NoDefaultServerHeader:         false,
		ReduceMemoryUsage:             false,
		Logger:                        fasthttpLogger{s.log},
		ErrorHandler:                  s.readError,
	}
}

// readError answers a request that could not be read. A timeout's answer
// is for a client that sent part of a request and went quiet; the connlimit
// listener drops it and closes the connection without a word.
func (s *Server) readError(ctx *fasthttp.RequestCtx, err error) {
	var small *fasthttp.ErrSmallBuffer
	var ne net.Error
	status, code, msg := fasthttp.StatusBadRequest, "bad_request", "cannot read the request: "+err.Error()
	switch {
	case errors.Is(err, fasthttp.ErrBodyTooLarge) || strings.Contains(err.Error(), "body size exceeds"):
		status, code = fasthttp.StatusRequestEntityTooLarge, "too_large"
	case errors.As(err, &small) || errors.Is(err, fasthttp.ErrSmallReadBuffer):
		status, code = fasthttp.StatusRequestHeaderFieldsTooLarge, "too_large"
		msg = fmt.Sprintf("the request line and headers are longer than %d bytes (the limit: docs/API.md, Limits); send a long where in a POST body", s.opts.MaxHeaderBytes)
	case errors.As(err, &ne) && ne.Timeout():
		status, code, msg = fasthttp.StatusRequestTimeout, "timeout", "the request was not sent in time"
	}
	writeErrorBody(ctx, status, code, msg, fault.Error{})
}

// Close ends the change streams (call before shutting the HTTP server down).
func (s *Server) Close() { s.once.Do(func() { close(s.stop) }) }

// Serve answers requests on ln until it is closed.
func (s *Server) Serve(ln net.Listener) error { return s.HTTPServer().Serve(ln) }

type fasthttpLogger struct{ l *slog.Logger }

func (f fasthttpLogger) Printf(format string, args ...any) { f.l.Debug(fmt.Sprintf(format, args...)) }

// statusOf is the one table from kinds of failure to HTTP statuses.
var statusOf = map[error]int{
	fault.BadRequest:    fasthttp.StatusBadRequest,
	fault.BadJSON:       fasthttp.StatusBadRequest,
	fault.BadGeometry:   fasthttp.StatusBadRequest,
	fault.BadExpression: fasthttp.StatusBadRequest,
	fault.BadFlag:       fasthttp.StatusBadRequest,
	fault.BadScheme:     fasthttp.StatusBadRequest,
	fault.BadTile:       fasthttp.StatusBadRequest,
	fault.NotFound:      fasthttp.StatusNotFound,
	fault.TooLarge:      fasthttp.StatusRequestEntityTooLarge,
	fault.Timeout:       fasthttp.StatusUnprocessableEntity,
	fault.Unauthorized:  fasthttp.StatusUnauthorized,
	fault.Forbidden:     fasthttp.StatusForbidden,
	fault.Gone:          fasthttp.StatusGone,
	fault.HistoryGone:   fasthttp.StatusGone,
	fault.Conflict:      fasthttp.StatusConflict,
	fault.Unavailable:   fasthttp.StatusServiceUnavailable,
	fault.Lagging:       fasthttp.StatusServiceUnavailable,
}

// writeError writes an error answer: {"error": {"code", "message", "line"?,
// "oldest"?}} with the status of its kind. An error of no kind is a bug:
// 500 internal. A change sent to a replica that does not take changes is
// redirected (307) to the one that does, same path and query.
func writeError(ctx *fasthttp.RequestCtx, err error) {
	var redirect *store.RedirectError
	if errors.As(err, &redirect) {
		ctx.Response.Header.Set("Location", redirect.URL+string(ctx.RequestURI()))
		writeErrorBody(ctx, fasthttp.StatusTemporaryRedirect, "redirect", redirect.Error()+": send it there (same method, path and body)", fault.Error{})
		return
	}
	status, code, msg := fasthttp.StatusInternalServerError, "internal", "internal error: "+err.Error()
	if k := fault.KindOf(err); k != nil {
		status, code, msg = statusOf[k], k.Error(), err.Error()
	}
	d := fault.Details(err)
	if code == fault.NotFound.Error() && d.Line > 0 {
		status = fasthttp.StatusBadRequest // a line of a batch names an unknown dwelling: the batch is bad
	}
	if d.RetryAfter > 0 {
		ctx.Response.Header.Set("Retry-After", strconv.Itoa(d.RetryAfter))
	}
	writeErrorBody(ctx, status, code, msg, d)
}

// writeErrorBody writes an error answer with the given status and members,
// and the details d carries: line, oldest and oldest_time when set.
func writeErrorBody(ctx *fasthttp.RequestCtx, status int, code, msg string, d fault.Error) {
	line, oldest := d.Line, d.Oldest
	var w []byte
	w = append(w, `{"error":{"code":`...)
	w = strconv.AppendQuote(w, code)
	w = append(w, `,"message":`...)
	m, _ := json.Marshal(msg)
	w = append(w, m...)
	if line > 0 {
		w = append(w, `,"line":`...)
		w = strconv.AppendInt(w, int64(line), 10)
	}
	if oldest > 0 {
		w = append(w, `,"oldest":`...)
		w = strconv.AppendUint(w, oldest, 10)
	}
	if !d.OldestTime.IsZero() {
		w = append(w, `,"oldest_time":"`...)
		w = d.OldestTime.UTC().AppendFormat(w, "2006-01-02T15:04:05.000Z07:00")
		w = append(w, '"')
	}
	w = append(w, "}}\n"...)
	ctx.Response.Header.SetContentType("application/json; charset=utf-8")
	ctx.SetStatusCode(status)
	ctx.SetBody(w)
}

// send writes a JSON answer.
func send(ctx *fasthttp.RequestCtx, body []byte) {
	ctx.Response.Header.SetContentType("application/json; charset=utf-8")
	ctx.SetBody(body)
}

// route names a request for metrics: the pattern, never the raw path.
type route struct {
	name    string
	methods string // allowed, comma separated
	open    bool   // needs no token: health checks, the dashboard's files and the OpenAPI document
	// unversioned: takes no min_version (docs/API.md, Operations): health
	// checks, metrics and the dashboard's files answer at once, whatever
	// version this node is at; every other route waits for min_version
	unversioned bool
}

// Handle is the fasthttp handler: it recovers from panics, so one bad
// request cannot stop the server.
func (s *Server) Handle(ctx *fasthttp.RequestCtx) {
	start := time.Now()
	name := "unknown"
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("panic in handler", "path", string(ctx.Path()), "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			if os.Getenv("ROOMSTATE_DEBUG_PANIC") != "" {
				fmt.Fprintln(os.Stderr, "PANIC", p, string(debug.Stack()))
			}
			ctx.ResetBody()
			writeError(ctx, errors.New("internal error"))
		}
		code := ctx.Response.StatusCode()
		s.requests.WithLabelValues(name, strconv.Itoa(code)).Inc()
		s.latency.WithLabelValues(name).Observe(time.Since(start).Seconds())
		if code >= 500 {
			s.log.Error("request failed", "route", name, "status", code, "remote", ctx.RemoteIP().String())
		}
	}()
	segs, err := splitPath(ctx.URI().PathOriginal())
	if err != nil {
		name = "bad_path"
		writeError(ctx, fault.New(fault.BadRequest, "%v", err))
		return
	}
	if s.cors(ctx) {
		name = "preflight"
		return
	}
	r, h := s.match(segs)
	name = r.name
	if h == nil {
		writeError(ctx, fault.New(fault.NotFound, "no such endpoint: %s", ctx.Path()))
		return
	}
	m := string(ctx.Method())
	if m == "HEAD" {
		m = "GET"
	}
	if !methodAllowed(r.methods, m) {
		ctx.Response.Header.Set("Allow", r.methods)
		writeErrorBody(ctx, fasthttp.StatusMethodNotAllowed, "method_not_allowed",
			fmt.Sprintf("%s is not allowed here; use %s", ctx.Method(), r.methods), fault.Error{})
		return
	}
	c, err := s.authenticate(ctx, r)
	if err != nil {
		writeError(ctx, err)
		return
	}
	if !r.unversioned {
		if err := s.minVersion(ctx); err != nil {
			writeError(ctx, err)
			return
		}
	}
	if err := timeParamsTaken(ctx, r); err != nil {
		writeError(ctx, err)
		return
	}
	if err := h(ctx, segs, c); err != nil {
		writeError(ctx, err)
	}
}

// timeParams are the parameters of the past, as_of (the state as of a
// moment) and since (a change since one), that each route reads from its
// query string; "*" leaves a route's to itself.
var timeParams = map[string]string{
	"tile": "as_of", "tilejson": "as_of", "legend": "as_of",
	"building_roomstate": "as_of", "building_roomstate_svg": "as_of", "unit_roomstate": "as_of", "unit_roomstate_svg": "as_of",
	"units": "as_of since", "unit": "as_of since",
	"changes": "since", "audit": "since",
	// the responsibility's and persons' as_of are being settled apart
	"responsibility": "*", "person": "*",
}

// timeParamsTaken refuses an as_of or since that the route does not read:
// answered as if it were, the current state would pass for the state asked
// for. Other unknown query parameters are ignored, as they change nothing
// (a cache buster, say); the dashboard's files and health checks, which read
// none, are not asked.
func timeParamsTaken(ctx *fasthttp.RequestCtx, r route) error {
	takes := timeParams[r.name]
	if r.open || r.unversioned || takes == "*" {
		return nil
	}
	for _, p := range []string{"as_of", "since"} {
		if len(ctx.QueryArgs().Peek(p)) == 0 || strings.Contains(takes, p) {
			continue
		}
		if p == "as_of" && (r.name == "query_polygon" || r.name == "query_grid") {
			return fault.New(fault.BadRequest, "as_of: %s takes it in the JSON body (\"as_of\": …), not in the query string", ctx.Path())
		}
		return fault.New(fault.BadRequest, "%s: %s %s does not take %s (it answers the current state); leave it out (docs/API.md, History, lists what takes it)", p, ctx.Method(), ctx.Path(), p)
	}
	return nil
}

func methodAllowed(allowed, m string) bool {
	for _, a := range strings.Split(allowed, ", ") {
		if a == m {
			return true
		}
	}
	return false
}

// splitPath splits a raw path into unescaped segments, so that an id may
// hold an escaped '/'.
func splitPath(raw []byte) ([]string, error) {
	p := string(raw)
	if i := strings.IndexByte(p, '?'); i >= 0 {
		p = p[:i]
	}
	p = strings.TrimPrefix(p, "/")
	if p == "" {
		return nil, nil
	}
	parts := strings.Split(p, "/")
	for i, part := range parts {
		if !strings.ContainsRune(part, '%') {
			continue
		}
		u, err := url.PathUnescape(part)
		if err != nil {
			return nil, fmt.Errorf("bad escape in path segment %q", part)
		}
		parts[i] = u
	}
	return parts, nil
}

// cors answers preflight requests and adds CORS headers; true when the
// request was a preflight and is answered.
func (s *Server) cors(ctx *fasthttp.RequestCtx) bool {
	if len(s.opts.CORSOrigins) == 0 {
		return false
	}
	origin := string(ctx.Request.Header.Peek("Origin"))
	if origin == "" {
		return false
	}
	allowed := ""
	for _, o := range s.opts.CORSOrigins {
		if o == "*" {
			allowed = "*"
			break
		}
		if o == origin {
			allowed = origin
			break
		}
	}
	if allowed == "" {
		return false
	}
	h := &ctx.Response.Header
	h.Set("Access-Control-Allow-Origin", allowed)
	if allowed != "*" {
		h.Add("Vary", "Origin")
	}
	// Content-Disposition: an export's file name; Retry-After: when to ask
	// again after a 503 (lagging, unavailable)
	h.Set("Access-Control-Expose-Headers", "ETag, Content-Encoding, Content-Disposition, Retry-After")
	if string(ctx.Method()) == "OPTIONS" && len(ctx.Request.Header.Peek("Access-Control-Request-Method")) > 0 {
		h.Set("Access-Control-Allow-Methods", "GET, POST, PUT, PATCH, DELETE, OPTIONS")
		// every request header the API documents: the token, a body's type,
		// a tile's ETag, min_version's header and the change feed's resume
		h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, If-None-Match, X-Min-Version, Last-Event-ID")
		h.Set("Access-Control-Max-Age", "600")
		ctx.SetStatusCode(fasthttp.StatusNoContent)
		return true
	}
	return false
}

// maxVersionWait is how long a request with min_version waits for this
// node to reach it.
const maxVersionWait = time.Second

// minVersion waits, for a request with ?min_version=V (or the header
// X-Min-Version), until this node has applied version V: at most a
// second, then fault.Lagging. A replica that answers has every change a
// client was told of by V.
func (s *Server) minVersion(ctx *fasthttp.RequestCtx) error {
	arg := ctx.QueryArgs().Peek("min_version")
	if len(arg) == 0 {
		arg = ctx.Request.Header.Peek("X-Min-Version")
	}
	if len(arg) == 0 {
		return nil
	}
	v, err := strconv.ParseUint(string(arg), 10, 64)
	if err != nil {
		return fault.New(fault.BadRequest, "min_version must be a version number, e.g. min_version=1882")
	}
	wctx, cancel := context.WithTimeout(context.Background(), maxVersionWait)
	defer cancel()
	if s.st.WaitVersion(wctx, engine.Version(v)) {
		return nil
	}
	rep := s.st.Replication()
	return &fault.Error{Kind: fault.Lagging, RetryAfter: 1, Msg: fmt.Sprintf(
		"this node is at version %d and did not reach %d within %v (%d changes behind its stream); "+
			"ask again, or ask another node", s.st.Engine().Version(), v, maxVersionWait, rep.Lag)}
}

// roleCollector exports roomstate_replica_role{role="…"} 1 for this node's
// role now: leader, follower, or single without --nats.
type roleCollector struct{ st *store.Store }

var roleDesc = prometheus.NewDesc("roomstate_replica_role",
	"This node's role among replicas: leader (takes changes), follower, or single (no --nats); the value is 1.",
	[]string{"role"}, nil)

// Describe implements prometheus.Collector.
func (c roleCollector) Describe(ch chan<- *prometheus.Desc) { ch <- roleDesc }

// Collect implements prometheus.Collector.
func (c roleCollector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(roleDesc, prometheus.GaugeValue, 1, c.st.Replication().Role)
}
