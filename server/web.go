package server

import (
	"io/fs"
	"mime"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/roomstate/roomstate/answer"
	"github.com/roomstate/roomstate/fault"
	"github.com/roomstate/roomstate/web"
	"github.com/valyala/fasthttp"
)

// assets finds MapLibre's files: the directory given, or web's default
// place relative to the working directory or to the executable.
func findAssets(dir string) (fs.FS, string) {
	var tries []string
	if dir != "" {
		tries = append(tries, dir)
	} else {
		tries = append(tries, web.DefaultAssets)
		if exe, err := os.Executable(); err == nil {
			tries = append(tries, filepath.Join(filepath.Dir(exe), "..", web.DefaultAssets), filepath.Join(filepath.Dir(exe), web.DefaultAssets))
		}
	}
	for _, d := range tries {
		ok := true
		for _, f := range web.Required {
			if _, err := os.Stat(filepath.Join(d, f)); err != nil {
				ok = false
				break
			}
		}
		if ok {
			abs, _ := filepath.Abs(d)
			return os.DirFS(d), abs
		}
	}
	return nil, ""
}

const missingAssets = `<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>roomstate</title>
<style>body{font-family:system-ui,sans-serif;background:#0f1720;color:#e6edf3;max-width:46rem;margin:4rem auto;line-height:1.6}code{background:#22313f;padding:.1rem .3rem}</style></head>
<body><h1>房态图：缺少地图组件 · MapLibre assets are missing</h1>
<p>The dashboard uses MapLibre GL JS from npm, which this server could not find.
In the roomstate source directory run</p><p><code>npm ci --prefix web</code></p>
<p>then restart the server (or start it with <code>--assets DIR</code> pointing at <code>maplibre-gl/dist</code>).
<code>make demo</code> does this for you. The HTTP API works without it.</p>
<p>仪表盘需要 MapLibre GL JS（npm 安装）。请在源码目录运行 <code>npm ci --prefix web</code> 后重启服务。</p></body></html>`

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
	}
	if t := mime.TypeByExtension(path.Ext(name)); t != "" {
		return t
	}
	return "application/octet-stream"
}

func serveFS(ctx *fasthttp.RequestCtx, fsys fs.FS, name string) error {
	if !fs.ValidPath(name) || strings.Contains(name, "..") {
		return fault.New(fault.BadRequest, "bad path")
	}
	b, err := fs.ReadFile(fsys, name)
	if err != nil {
		return fault.New(fault.NotFound, "no such file: %s", name)
	}
	ctx.SetContentType(contentType(name))
	ctx.Response.Header.Set("Cache-Control", "no-cache")
	ctx.SetBody(b)
	return nil
}

// index serves the dashboard, or how to get its assets.
func (s *Server) index(ctx *fasthttp.RequestCtx, _ []string, _ *answer.Caller) error {
	if s.assets == nil {
		ctx.SetContentType("text/html; charset=utf-8")
		ctx.SetStatusCode(fasthttp.StatusServiceUnavailable)
		ctx.SetBodyString(missingAssets)
		return nil
	}
	return serveFS(ctx, web.Static(), "index.html")
}

func (s *Server) staticFile(ctx *fasthttp.RequestCtx, segs []string, _ *answer.Caller) error {
	return serveFS(ctx, web.Static(), strings.Join(segs[1:], "/"))
}

func (s *Server) assetFile(ctx *fasthttp.RequestCtx, segs []string, _ *answer.Caller) error {
	if s.assets == nil {
		return fault.New(fault.NotFound, "MapLibre assets are missing: run `npm ci --prefix web` and restart")
	}
	return serveFS(ctx, s.assets, strings.Join(segs[2:], "/"))
}
