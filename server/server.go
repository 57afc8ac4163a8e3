// Package server serves the roomstate HTTP API of docs/API.md over fasthttp:
// polygon and grid queries, units, room-state maps, schemes, dwellings,
// health and Prometheus metrics. Handlers decode requests, call the engine
// (which knows nothing of HTTP) and write JSON; every error is a JSON body
// with a code, and a malformed request never brings the server down.
package server

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/roomstate/roomstate/engine"
	"github.com/roomstate/roomstate/store"
	"github.com/roomstate/roomstate/tiles"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"
	"github.com/valyala/fastjson"
)

// Options configure a Server. Zero values take the defaults.
type Options struct {
	Logger        *slog.Logger
	Registry      *prometheus.Registry // metrics go here; nil makes a private one
	MaxBodyBytes  int                  // request body limit (default 16 MiB)
	MaxVertices   int                  // per query geometry (default MaxVertices)
	MaxIDs        int                  // largest `limit` of an ids query (default 100,000)
	MaxBatchLines int                  // changes in one NDJSON batch (default 100,000)
	ReadTimeout   time.Duration        // to read a whole request from its first byte (default 30 s)
	WriteTimeout  time.Duration        // default 60 s
	IdleTimeout   time.Duration        // a keep-alive connection's wait for its next request (default 120 s)
	MaxConns      int                  // connections the listener (connlimit) allows in all (default 10,000)
	QueryTimeout  time.Duration        // time budget of one query (default 10 s)
	Access        *Access              // tokens; nil: no access control (loopback only)
	CORSOrigins   []string             // allowed origins; "*" for any
	AssetsDir     string               // MapLibre\'s dist directory ("" looks for web/node_modules)
	Basemap       string               // optional raster tile URL template for the dashboard
	TileCacheMB   int                  // tile cache size in MiB (default 256)

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
	if o.MaxVertices <= 0 {
		o.MaxVertices = MaxVertices
	}
	if o.MaxIDs <= 0 {
		o.MaxIDs = 100_000
	}
	if o.MaxBatchLines <= 0 {
		o.MaxBatchLines = 100_000
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
	if o.QueryTimeout <= 0 {
		o.QueryTimeout = 10 * time.Second
	}
}

// Server answers the HTTP API for one engine; every change goes through its
// store, the engine's one writer.
type Server struct {
	eng   *engine.Engine
	store *store.Store
	opts  Options
	log   *slog.Logger
	stop  chan struct{} // closed by Close: ends change streams
	once  sync.Once

	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	metrics  fasthttp.RequestHandler

	parsers fastjson.ParserPool
	bufs    sync.Pool // *reqState

	tiles     *tiles.Cache
	assets    fs.FS  // MapLibre's files; nil when missing
	AssetsDir string // where they were found
	access    *Access
}

// reqState is the per-request scratch, pooled.
type reqState struct {
	w    jsonw
	geom geometryDecoder
	res  engine.PolygonResult
}

// New returns a server for eng, writing through st.
func New(eng *engine.Engine, st *store.Store, opts Options) *Server {
	opts.defaults()
	s := &Server{eng: eng, store: st, opts: opts, log: opts.Logger, reg: opts.Registry, stop: make(chan struct{}), access: opts.Access}
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
	s.reg.MustRegister(s.requests, s.latency,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "roomstate_dwellings", Help: "Dwellings in the engine."},
			func() float64 { return float64(eng.Len()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "roomstate_version", Help: "Current change version."},
			func() float64 { return float64(eng.Version()) }))
	s.tiles = tiles.NewCache(eng, int64(opts.TileCacheMB)<<20)
	s.assets, s.AssetsDir = findAssets(opts.AssetsDir)
	s.reg.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "roomstate_tile_cache_hits_total", Help: "Tiles served from the cache."},
			func() float64 { return float64(s.tiles.Hits.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "roomstate_tile_renders_total", Help: "Tiles rendered (cache misses)."},
			func() float64 { return float64(s.tiles.Misses.Load()) }))
	s.metrics = fasthttpadaptor.NewFastHTTPHandler(promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{}))
	s.bufs.New = func() any { return new(reqState) }
	return s
}

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
	e := &apiError{Status: fasthttp.StatusBadRequest, Code: "bad_request", Message: "cannot read the request: " + err.Error()}
	switch {
	case errors.Is(err, fasthttp.ErrBodyTooLarge) || strings.Contains(err.Error(), "body size exceeds"):
		e.Status, e.Code = fasthttp.StatusRequestEntityTooLarge, "too_large"
	case errors.As(err, &small) || errors.Is(err, fasthttp.ErrSmallReadBuffer):
		e.Status, e.Code = fasthttp.StatusRequestHeaderFieldsTooLarge, "too_large"
		e.Message = fmt.Sprintf("the request line and headers are longer than %d bytes (the limit: docs/API.md, Limits); send a long where in a POST body", s.opts.MaxHeaderBytes)
	case errors.As(err, &ne) && ne.Timeout():
		e.Status, e.Code = fasthttp.StatusRequestTimeout, "timeout"
		e.Message = "the request was not sent in time"
	}
	writeError(ctx, e)
}

// Close ends the change streams (call before shutting the HTTP server down).
func (s *Server) Close() { s.once.Do(func() { close(s.stop) }) }

// Serve answers requests on ln until it is closed.
func (s *Server) Serve(ln net.Listener) error { return s.HTTPServer().Serve(ln) }

type fasthttpLogger struct{ l *slog.Logger }

func (f fasthttpLogger) Printf(format string, args ...any) { f.l.Debug(fmt.Sprintf(format, args...)) }

// apiError is an error answer: {"error": {"code", "message", "line"?}}.
type apiError struct {
	Status  int
	Code    string
	Message string
	Line    int    // for batch and load errors
	Oldest  uint64 // for gone: the oldest version the change feed still holds
}

func (e *apiError) Error() string { return e.Message }

func errf(status int, code, format string, args ...any) *apiError {
	return &apiError{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// toAPIError maps engine and decoding errors to HTTP answers.
func toAPIError(err error) *apiError {
	var ae *apiError
	var ge *engine.GeometryError
	var qe *engine.QueryError
	var nf *engine.NotFoundError
	var ee *engine.ExprError
	var de *decodeError
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.As(err, &ge):
		if ge.Code == "too_large" {
			return errf(fasthttp.StatusRequestEntityTooLarge, "too_large", "%s", ge.Reason)
		}
		return errf(fasthttp.StatusBadRequest, ge.Code, "%s", ge.Reason)
	case errors.As(err, &qe):
		if qe.Code == "too_large" {
			return errf(fasthttp.StatusRequestEntityTooLarge, qe.Code, "%s", qe.Message)
		}
		if qe.Code == "timeout" {
			return errf(fasthttp.StatusUnprocessableEntity, qe.Code, "%s", qe.Message)
		}
		return errf(fasthttp.StatusBadRequest, qe.Code, "%s", qe.Message)
	case errors.As(err, &nf):
		return errf(fasthttp.StatusNotFound, "not_found", "%s", nf.Error())
	case errors.As(err, &ee):
		return errf(fasthttp.StatusBadRequest, "bad_expression", "%s", ee.Error())
	case errors.As(err, &de):
		if de.code == "too_large" {
			return errf(fasthttp.StatusRequestEntityTooLarge, de.code, "%s", de.msg)
		}
		return errf(fasthttp.StatusBadRequest, de.code, "%s", de.msg)
	}
	return errf(fasthttp.StatusInternalServerError, "internal", "internal error: %v", err)
}

func writeError(ctx *fasthttp.RequestCtx, e *apiError) {
	var w jsonw
	w.raw(`{"error":{"code":`)
	w.str(e.Code)
	w.raw(`,"message":`)
	w.str(e.Message)
	if e.Line > 0 {
		w.raw(`,"line":`)
		w.int(int64(e.Line))
	}
	if e.Oldest > 0 {
		w.raw(`,"oldest":`)
		w.uint(e.Oldest)
	}
	w.raw("}}\n")
	ctx.Response.Header.SetContentType("application/json; charset=utf-8")
	ctx.SetStatusCode(e.Status)
	ctx.SetBody(w.b)
}

// route names a request for metrics: the pattern, never the raw path.
type route struct {
	name    string
	methods string // allowed, comma separated
	open    bool   // needs no token: health checks and the dashboard's files
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
			writeError(ctx, errf(fasthttp.StatusInternalServerError, "internal", "internal error"))
		}
		code := ctx.Response.StatusCode()
		s.requests.WithLabelValues(name, statusText(code)).Inc()
		s.latency.WithLabelValues(name).Observe(time.Since(start).Seconds())
		if code >= 500 {
			s.log.Error("request failed", "route", name, "status", code, "remote", ctx.RemoteIP().String())
		}
	}()
	segs, err := splitPath(ctx.URI().PathOriginal())
	if err != nil {
		name = "bad_path"
		writeError(ctx, errf(fasthttp.StatusBadRequest, "bad_request", "%v", err))
		return
	}
	if s.cors(ctx) {
		name = "preflight"
		return
	}
	r, h := s.match(segs)
	name = r.name
	if h == nil {
		writeError(ctx, errf(fasthttp.StatusNotFound, "not_found", "no such endpoint: %s", ctx.Path()))
		return
	}
	m := string(ctx.Method())
	if m == "HEAD" {
		m = "GET"
	}
	if !methodAllowed(r.methods, m) {
		ctx.Response.Header.Set("Allow", r.methods)
		writeError(ctx, errf(fasthttp.StatusMethodNotAllowed, "method_not_allowed", "%s is not allowed here; use %s", ctx.Method(), r.methods))
		return
	}
	if err := s.authenticate(ctx, r); err != nil {
		writeError(ctx, toAPIError(err))
		return
	}
	if err := h(ctx, segs); err != nil {
		writeError(ctx, toAPIError(err))
	}
}

func statusText(code int) string {
	switch code {
	case 200:
		return "200"
	case 304:
		return "304"
	case 400:
		return "400"
	case 404:
		return "404"
	}
	return fmt.Sprint(code)
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

type handler func(ctx *fasthttp.RequestCtx, segs []string) error

// match routes a path to a handler.
func (s *Server) match(segs []string) (route, handler) {
	n := len(segs)
	switch {
	case n == 0 || n == 1 && segs[0] == "index.html":
		return route{name: "dashboard", methods: "GET", open: true}, s.index
	case n >= 2 && segs[0] == "static":
		return route{name: "static", methods: "GET", open: true}, s.staticFile
	case n >= 3 && segs[0] == "assets" && segs[1] == "maplibre":
		return route{name: "assets", methods: "GET", open: true}, s.assetFile
	case n == 4 && segs[0] == "tiles":
		return route{name: "tile", methods: "GET"}, s.tile
	case n == 1 && segs[0] == "tiles.json":
		return route{name: "tilejson", methods: "GET"}, s.tileJSON
	case n == 1 && segs[0] == "healthz":
		return route{name: "healthz", methods: "GET", open: true}, s.healthz
	case n == 1 && segs[0] == "metrics":
		return route{name: "metrics", methods: "GET", open: false}, func(ctx *fasthttp.RequestCtx, _ []string) error {
			if err := s.allow(ctx, permRead); err != nil {
				return err
			}
			s.metrics(ctx)
			return nil
		}
	case n < 3 || segs[0] != "api" || segs[1] != "v1":
		return route{name: "unknown", methods: "", open: false}, nil
	}
	a := segs[2:]
	n = len(a)
	switch a[0] {
	case "query":
		if n == 2 && a[1] == "polygon" {
			return route{name: "query_polygon", methods: "POST"}, s.queryPolygon
		}
		if n == 2 && a[1] == "grid" {
			return route{name: "query_grid", methods: "POST"}, s.queryGrid
		}
	case "buildings":
		if n == 3 && a[2] == "roomstate" {
			return route{name: "building_roomstate", methods: "GET"}, s.buildingRoomState
		}
		if n == 2 && a[1] == "states" {
			return route{name: "building_states", methods: "POST"}, s.buildingStates
		}
	case "legend":
		if n == 1 {
			return route{name: "legend", methods: "GET"}, s.legend
		}
	case "audit":
		if n == 1 {
			return route{name: "audit", methods: "GET"}, s.auditLog
		}
	case "info":
		if n == 1 {
			return route{name: "info", methods: "GET"}, s.info
		}
	case "units":
		switch n {
		case 2:
			return route{name: "units", methods: "GET"}, s.units
		case 3:
			return route{name: "unit", methods: "GET"}, s.unit
		case 4:
			if a[3] == "roomstate" {
				return route{name: "unit_roomstate", methods: "GET"}, s.unitRoomState
			}
		}
	case "schemes":
		if n == 1 {
			return route{name: "schemes", methods: "GET"}, s.schemes
		}
		if n == 2 {
			return route{name: "scheme", methods: "GET, PUT"}, s.scheme
		}
	case "dwellings":
		if n == 2 {
			return route{name: "dwelling", methods: "GET, PUT, PATCH, DELETE"}, s.dwellingAny
		}
	case "updates":
		if n == 1 {
			return route{name: "updates", methods: "POST"}, s.postUpdates
		}
	case "changes":
		if n == 1 {
			return route{name: "changes", methods: "GET"}, s.changes
		}
	}
	return route{name: "unknown", methods: "", open: false}, nil
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
	h.Set("Access-Control-Expose-Headers", "ETag, Content-Encoding")
	if string(ctx.Method()) == "OPTIONS" && len(ctx.Request.Header.Peek("Access-Control-Request-Method")) > 0 {
		h.Set("Access-Control-Allow-Methods", "GET, POST, PUT, PATCH, DELETE, OPTIONS")
		h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, If-None-Match")
		h.Set("Access-Control-Max-Age", "600")
		ctx.SetStatusCode(fasthttp.StatusNoContent)
		return true
	}
	return false
}

func (s *Server) healthz(ctx *fasthttp.RequestCtx, _ []string) error {
	ctx.SetContentType("application/json; charset=utf-8")
	var w jsonw
	w.raw(`{"status":"ok","dwellings":`)
	w.int(int64(s.eng.Len()))
	w.raw(`,"version":`)
	w.uint(uint64(s.eng.Version()))
	w.raw("}\n")
	ctx.SetBody(w.b)
	return nil
}
