package server

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/base64"
	"io/fs"
	"mime"
	"path"
	"strings"
	"sync"

	"github.com/roomstate/roomstate/answer"
	"github.com/roomstate/roomstate/fault"
	"github.com/roomstate/roomstate/web"
	"github.com/valyala/fasthttp"
)

// findAssets returns MapLibre's files: the copy embedded in the binary, or
// with dir the files in that directory (development), and that directory.
// A directory without MapLibre gives nil: the dashboard then explains.
func findAssets(dir string) (fs.FS, string) {
	if dir == "" {
		return web.Embedded("maplibre"), ""
	}
	fsys, err := web.MapLibreDir(dir)
	if err != nil {
		return nil, dir
	}
	return fsys, dir
}

const missingAssets = `<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>roomstate</title>
<style>body{font-family:system-ui,sans-serif;background:#0f1720;color:#e6edf3;max-width:46rem;margin:4rem auto;line-height:1.6}code{background:#22313f;padding:.1rem .3rem}</style></head>
<body><h1>房态图：缺少地图组件 · MapLibre assets are missing</h1>
<p>This server was started with <code>--assets DIR</code>, and that directory does not hold MapLibre GL JS's
dist files (<code>maplibre-gl.mjs</code>, <code>maplibre-gl-worker.mjs</code>, <code>maplibre-gl.css</code>).</p>
<p>Start it without <code>--assets</code> to use the copy built into roomstate, or point it at
<code>web/node_modules/maplibre-gl/dist</code> after <code>npm ci --prefix web</code>. The HTTP API works without it.</p>
<p>服务以 <code>--assets</code> 启动，但该目录中没有 MapLibre GL JS。去掉 <code>--assets</code> 即使用程序内置的版本。</p></body></html>`

func contentType(name string) string {
	switch path.Ext(name) {
	case ".mjs", ".js":
		return "text/javascript; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	case ".html":
		return "text/html; charset=utf-8"
	case ".map", ".json":
		return "application/json"
	case ".txt", ".md", "":
		return "text/plain; charset=utf-8" // licences: LICENSE, LICENSE.txt, README.md
	}
	if t := mime.TypeByExtension(path.Ext(name)); t != "" {
		return t
	}
	return "application/octet-stream"
}

// readyFile is a file ready to serve: its bytes, a gzipped copy when that
// is smaller, and its ETag.
type readyFile struct {
	body   []byte
	gz     []byte // nil when gzip does not pay
	etag   string // of body
	etagGz string // of gz: the same content, another representation
	ctype  string
}

func newReadyFile(name string, b []byte) *readyFile {
	sum := sha256.Sum256(b)
	tag := base64.RawURLEncoding.EncodeToString(sum[:18])
	f := &readyFile{body: b, etag: `"` + tag + `"`, etagGz: `"` + tag + `-gz"`, ctype: contentType(name)}
	if len(b) >= 1024 && (strings.HasPrefix(f.ctype, "text/") || f.ctype == "application/json" || f.ctype == "image/svg+xml") {
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		zw.Write(b)
		zw.Close()
		if buf.Len() < len(b) {
			f.gz = buf.Bytes()
		}
	}
	return f
}

// fileCache keeps the embedded files ready to serve: they cannot change
// while the process runs, so each is read, hashed and gzipped once. Files
// of an --assets directory are read on every request, so that edits show.
// Only files that exist under a valid path are kept, so it holds at most
// the embedded files. The zero value is ready.
type fileCache struct {
	m sync.Map // key "static/NAME" or "assets/LIB/NAME" → *readyFile
}

func (c *fileCache) get(key string, fsys fs.FS, name string, cache bool) (*readyFile, error) {
	if cache {
		if f, ok := c.m.Load(key); ok {
			return f.(*readyFile), nil
		}
	}
	b, err := fs.ReadFile(fsys, name)
	if err != nil {
		return nil, err
	}
	f := newReadyFile(name, b)
	if cache {
		// two first requests may both have read it: all share the one kept
		kept, _ := c.m.LoadOrStore(key, f)
		return kept.(*readyFile), nil
	}
	return f, nil
}

// serveFile answers a GET of a dashboard file: 304 when the client's copy
// is current, gzipped when the client takes it.
func (s *Server) serveFile(ctx *fasthttp.RequestCtx, key string, fsys fs.FS, name string, cache bool) error {
	if !fs.ValidPath(name) || strings.Contains(name, "..") {
		return fault.New(fault.BadRequest, "bad path")
	}
	f, err := s.files.get(key, fsys, name, cache)
	if err != nil {
		return fault.New(fault.NotFound, "no such file: %s", name)
	}
	gz := f.gz != nil && ctx.Request.Header.HasAcceptEncoding("gzip")
	etag := f.etag
	if gz {
		etag = f.etagGz
	}
	h := &ctx.Response.Header
	h.Set("ETag", etag)
	h.Set("Cache-Control", "no-cache") // one URL for every build: revalidate with the ETag
	h.Set("Vary", "Accept-Encoding")
	if inm := ctx.Request.Header.Peek("If-None-Match"); len(inm) > 0 && (etagMatch(inm, f.etag) || etagMatch(inm, f.etagGz)) {
		ctx.SetStatusCode(fasthttp.StatusNotModified)
		return nil
	}
	ctx.SetContentType(f.ctype)
	if gz {
		h.Set("Content-Encoding", "gzip")
		ctx.SetBody(f.gz)
		return nil
	}
	ctx.SetBody(f.body)
	return nil
}

// index serves the dashboard, or, when --assets names a directory without
// MapLibre, what to do about it.
func (s *Server) index(ctx *fasthttp.RequestCtx, _ []string, _ *answer.Caller) error {
	if s.assets == nil {
		ctx.SetContentType("text/html; charset=utf-8")
		ctx.SetStatusCode(fasthttp.StatusServiceUnavailable)
		ctx.SetBodyString(missingAssets)
		return nil
	}
	return s.serveFile(ctx, "static/index.html", web.Static(), "index.html", true)
}

// staticFile serves /static/NAME: the dashboard's own files.
func (s *Server) staticFile(ctx *fasthttp.RequestCtx, segs []string, _ *answer.Caller) error {
	name := strings.Join(segs[1:], "/")
	return s.serveFile(ctx, "static/"+name, web.Static(), name, true)
}

// assetFile serves /assets/LIB/NAME: third-party code embedded in the
// binary (MapLibre from --assets DIR when given).
func (s *Server) assetFile(ctx *fasthttp.RequestCtx, segs []string, _ *answer.Caller) error {
	lib, name := segs[1], strings.Join(segs[2:], "/")
	fsys, cache := web.Embedded(lib), true
	if lib == "maplibre" {
		fsys, cache = s.assets, s.AssetsDir == ""
	}
	if fsys == nil {
		return fault.New(fault.NotFound, "no such file: %s", ctx.Path())
	}
	return s.serveFile(ctx, "assets/"+lib+"/"+name, fsys, name, cache)
}
