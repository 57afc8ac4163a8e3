package web_test

import (
	"context"
	"debug/buildinfo"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// need skips, or fails when ROOMSTATE_E2E=1 (as in CI), for a missing part.
func need(t *testing.T, ok bool, what string) {
	t.Helper()
	if ok {
		return
	}
	if os.Getenv("ROOMSTATE_E2E") == "1" {
		t.Fatalf("end-to-end test: %s", what)
	}
	t.Skipf("end-to-end test skipped: %s (set ROOMSTATE_E2E=1 to make this a failure)", what)
}

func chromium() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// buildDir holds the roomstate binary built once for this package's tests;
// TestMain removes it.
var buildDir string

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// build runs go build ./cmd/roomstate as a user would, once.
var build = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "roomstate-build-")
	if err != nil {
		return "", err
	}
	buildDir = dir
	bin := filepath.Join(dir, "roomstate")
	// go test puts its own go first on PATH
	cmd := exec.Command("go", "build", "-o", bin, "github.com/roomstate/roomstate/cmd/roomstate")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

// loneBinary builds roomstate and copies the binary alone into a new empty
// directory, whose path it returns with the binary's.
func loneBinary(t *testing.T) (dir, bin string) {
	t.Helper()
	start := time.Now()
	built, err := build()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(built)
	if err != nil {
		t.Fatal(err)
	}
	dir = t.TempDir()
	bin = filepath.Join(dir, "roomstate")
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("roomstate built and copied alone into %s (%.1f MB) in %v", dir, float64(len(b))/1e6, time.Since(start).Round(time.Millisecond))
	return dir, bin
}

// loneEnv is all the binary gets of an environment: no GOPATH, no source
// tree, HOME its own directory.
func loneEnv(dir string) []string {
	return []string{"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=" + dir, "TZ=UTC"}
}

// runLone runs the binary from its directory and returns its output.
func runLone(t *testing.T, dir, bin string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir, cmd.Env = dir, loneEnv(dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("roomstate %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// serveLone makes a small city beside the binary and serves it from the
// binary's directory, which holds nothing else: no web/, no node_modules;
// serve gets args too. It returns the server's URL; the server is stopped at
// the end of the test.
func serveLone(t *testing.T, dir, bin string, n int, args ...string) string {
	t.Helper()
	runLone(t, dir, bin, "gen", "-n", fmt.Sprint(n), "-seed", "21", "-out", "city")
	ents, _ := os.ReadDir(dir)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, []string{"city", "roomstate"}) {
		t.Fatalf("the binary's directory holds %v, want only the binary and its city", names)
	}
	return startLone(t, dir, bin, append([]string{"serve", "--load", "city/dwellings.csv", "--boundaries", "city/boundaries.geojson", "--addr", "127.0.0.1:0"}, args...)...)
}

// server is a roomstate server as the tests ask it, with a token (or none).
type server struct{ url, token string }

// json sends a request with a JSON body to the server's path and decodes
// the answer into v (unless nil); any status but 2xx fails the test.
func (s server) json(t *testing.T, method, path, body string, v any) {
	t.Helper()
	u := s.url + path
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if s.token != "" {
		req.Header.Set("Authorization", "Bearer "+s.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		t.Fatalf("%s %s: %d %s", method, u, resp.StatusCode, b)
	}
	if v != nil {
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("%s %s: %v", method, u, err)
		}
	}
}

// TestLoneBinary: the binary alone in an empty directory prints its version
// with the embedded libraries' and serves the dashboard's files itself.
func TestLoneBinary(t *testing.T) {
	dir, bin := loneBinary(t)
	v := runLone(t, dir, bin, "version")
	t.Logf("roomstate version:\n%s", v)
	libs, err := libraries()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range libs {
		if !strings.Contains(v, l) {
			t.Errorf("version does not name %s", l)
		}
	}
	// what go build stamped (no commit in a git worktree or with
	// -buildvcs=false) is what the binary says
	bi, err := buildinfo.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	if mv := bi.Main.Version; mv != "" && !strings.Contains(v, mv) {
		t.Errorf("version does not say the module version %s", mv)
	}
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && !strings.Contains(v, s.Value) {
			t.Errorf("version does not name the commit %s", s.Value)
		}
	}

	u := serveLone(t, dir, bin, 2_000)
	for _, p := range []string{"/", "/static/app.js", "/static/app.css", "/assets/maplibre/maplibre-gl.mjs",
		"/assets/maplibre/maplibre-gl-worker.mjs", "/assets/maplibre/maplibre-gl.css", "/assets/uplot/uPlot.esm.js",
		"/assets/uplot/uPlot.min.css", "/assets/maplibre/LICENSE.txt", "/assets/uplot/LICENSE"} {
		resp, err := http.Get(u + p)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || len(b) == 0 {
			t.Errorf("%s: %d, %d bytes", p, resp.StatusCode, len(b))
		}
	}
}

// libraries names the embedded libraries as "package version", from the
// lockfile the tests hold them to.
func libraries() ([]string, error) {
	b, err := os.ReadFile("package-lock.json")
	if err != nil {
		return nil, err
	}
	var lock struct {
		Packages map[string]struct {
			Version      string
			Dependencies map[string]string
		}
	}
	if err := json.Unmarshal(b, &lock); err != nil {
		return nil, err
	}
	var out []string
	for name := range lock.Packages[""].Dependencies {
		out = append(out, name+" "+lock.Packages["node_modules/"+name].Version)
	}
	return out, nil
}

// building is what the browser test needs to know of one building, asked
// of the server as any client would.
type building struct {
	id                          string
	dwelling, dwelling2         string // two of its dwellings
	district, street, community string
	lon, lat                    float64
	rooms                       int
	featureID                   uint64
}

// roomState is the part of a building's room-state map the test reads.
type roomState struct {
	Building struct {
		ID                          string
		FeatureID                   uint64 `json:"feature_id"`
		Lon, Lat                    float64
		District, Street, Community string
		Total                       int
	}
	Floors []struct{ Rooms []struct{ ID string } }
}

// buildings calls fn with the room-state map of each building having
// matched dwellings of where and at least min dwellings, until fn returns true.
func buildings(t *testing.T, s server, where string, min int, fn func(m *roomState) bool) {
	t.Helper()
	var grid struct {
		Cells []struct {
			ID             string
			Total, Matched int
		}
	}
	s.json(t, "POST", "/api/v1/query/grid", fmt.Sprintf(`{"level": "building", "where": %q}`, where), &grid)
	for _, c := range grid.Cells {
		if c.Matched != 0 || c.Total < min {
			continue
		}
		var m roomState
		s.json(t, "GET", "/api/v1/buildings/"+url.PathEscape(c.ID)+"/roomstate", "", &m)
		if fn(&m) {
			return
		}
	}
	t.Fatalf("no building of at least %d dwellings, none of them %s, to suit the test", min, where)
}

// pickBuilding finds a building without an isolated dwelling.
func pickBuilding(t *testing.T, s server) building {
	t.Helper()
	var b building
	buildings(t, s, "isolated", 2, func(m *roomState) bool {
		var ids []string
		for _, f := range m.Floors {
			for _, r := range f.Rooms {
				ids = append(ids, r.ID)
			}
		}
		mb := m.Building
		b = building{id: mb.ID, dwelling: ids[0], dwelling2: ids[1], district: mb.District, street: mb.Street,
			community: mb.Community, lon: mb.Lon, lat: mb.Lat, rooms: mb.Total, featureID: mb.FeatureID}
		return true
	})
	return b
}

// dwellingOutside finds a dwelling of the street outside the community.
func dwellingOutside(t *testing.T, s server, street, community string) (id, itsCommunity string) {
	t.Helper()
	buildings(t, s, "false", 1, func(m *roomState) bool {
		if m.Building.Street != street || m.Building.Community == community {
			return false
		}
		id, itsCommunity = m.Floors[0].Rooms[0].ID, m.Building.Community
		return true
	})
	return id, itsCommunity
}

// serverZone is the time zone the server writes times in (its --tz), as
// the offset of a time its history answer carries; at is a time the history
// holds.
func serverZone(t *testing.T, s server, at time.Time) *time.Location {
	t.Helper()
	var h struct{ Points []struct{ Time string } }
	ts := url.QueryEscape(at.Format(time.RFC3339))
	s.json(t, "GET", "/api/v1/history?from="+ts+"&to="+ts, "", &h)
	if len(h.Points) == 0 {
		t.Fatal("the history has no point")
	}
	p, err := time.Parse(time.RFC3339, h.Points[0].Time)
	if err != nil {
		t.Fatal(err)
	}
	return p.Location()
}

// version is the server's version now.
func version(t *testing.T, s server) uint64 {
	t.Helper()
	var h struct{ Version uint64 }
	s.json(t, "GET", "/healthz", "", &h)
	return h.Version
}

// stateColor is the colour the default scheme gives a state.
func stateColor(t *testing.T, s server, state string) string {
	t.Helper()
	var l struct {
		Legend []struct{ State, Color string }
	}
	s.json(t, "GET", "/api/v1/legend", "", &l)
	for _, s := range l.Legend {
		if s.State == state {
			return s.Color
		}
	}
	t.Fatalf("the legend has no state %s", state)
	return ""
}

// requestLog records what the page asked for: any request to another host,
// and any dashboard file (/, /static/, /assets/) that did not load.
// newRequestLog records what a page asks of the server at base.
func newRequestLog(base string) *requestLog {
	u, _ := url.Parse(base)
	return &requestLog{host: u.Host, urls: map[network.RequestID]string{}}
}

type requestLog struct {
	host string

	mu       sync.Mutex
	urls     map[network.RequestID]string
	files    []string // dashboard files requested, by path
	problems []string
}

func (r *requestLog) listen(ev any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch ev := ev.(type) {
	case *network.EventRequestWillBeSent:
		r.urls[ev.RequestID] = ev.Request.URL
		u, err := url.Parse(ev.Request.URL)
		if err != nil || (u.Scheme == "http" || u.Scheme == "https" || u.Scheme == "ws" || u.Scheme == "wss") && u.Host != r.host {
			r.problems = append(r.problems, "request to another host: "+ev.Request.URL)
		} else if err == nil && isFile(u.Path) && u.Host == r.host {
			r.files = append(r.files, u.Path)
		}
	case *network.EventResponseReceived:
		if u, err := url.Parse(ev.Response.URL); err == nil && isFile(u.Path) && ev.Response.Status >= 400 {
			r.problems = append(r.problems, fmt.Sprintf("%s: %d", ev.Response.URL, ev.Response.Status))
		}
	case *network.EventLoadingFailed:
		if u, err := url.Parse(r.urls[ev.RequestID]); err == nil && isFile(u.Path) && !ev.Canceled {
			r.problems = append(r.problems, fmt.Sprintf("%s: %s", u, ev.ErrorText))
		}
	}
}

func isFile(p string) bool {
	return p == "/" || strings.HasPrefix(p, "/static/") || strings.HasPrefix(p, "/assets/")
}

// check reports the problems seen since the last check.
func (r *requestLog) check(t *testing.T) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range r.problems {
		t.Error(p)
	}
	r.problems = r.problems[:0]
}

// page drives the dashboard in one browser tab.
type page struct {
	t     *testing.T
	ctx   context.Context
	reqs  *requestLog
	shots string // where screenshots go
}

// openBrowser starts a headless Chromium that can resolve no host name (the
// page reaches only the server's address) and records what the page asks
// for in reqs; extra options add to the usual ones (chromedp.Env, say). It is
// stopped at the end of the test.
func openBrowser(t *testing.T, exe string, reqs *requestLog, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.Flag("disable-gpu", false),
		chromedp.Flag("use-angle", "swiftshader"),
		chromedp.Flag("enable-unsafe-swiftshader", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		// no network but the server: no host name resolves, no proxy
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"),
		chromedp.Flag("no-proxy-server", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1600, 1000),
	)
	opts = append(opts, extra...)
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf), chromedp.WithListener(reqs.listen))
	t.Cleanup(cancel)
	// the first run starts the browser, under the context without a timeout
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	ctx, cancel = context.WithTimeout(ctx, 150*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](p *page, js string) T {
	p.t.Helper()
	v, err := chromedp.Run(p.ctx, chromedp.Evaluate[T](js))
	if err != nil {
		p.reqs.check(p.t)
		p.t.Fatalf("%s: %v", js, err)
	}
	return v
}

// poll waits until the JavaScript expression js is true.
func (p *page) poll(what, js string, within time.Duration) {
	p.t.Helper()
	deadline := time.Now().Add(within)
	for {
		if eval[bool](p, js) {
			return
		}
		if time.Now().After(deadline) {
			p.reqs.check(p.t)
			p.t.Fatalf("%s: not within %v", what, within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// do runs chromedp actions.
func (p *page) do(actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	if err := chromedp.Do(p.ctx, actions...); err != nil {
		p.reqs.check(p.t)
		p.t.Fatal(err)
	}
}

// click clicks the element sel names.
func (p *page) click(sel string) {
	p.t.Helper()
	p.do(chromedp.Click(chromedp.CSS(sel)))
}

// shot saves a screenshot of the page as name and returns its size. It is
// of the viewport (the dashboard fills it): a "full" screenshot, beyond the
// viewport, resizes the page for the capture, and a map resized that way
// is captured half redrawn.
func (p *page) shot(name string) int {
	p.t.Helper()
	png, err := chromedp.Run(p.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		p.t.Fatal(err)
	}
	f := filepath.Join(p.shots, name)
	if err := os.WriteFile(f, png, 0o644); err != nil {
		p.t.Fatal(err)
	}
	p.t.Logf("screenshot: %s (%d bytes)", f, len(png))
	return len(png)
}

// js helpers the checks below share, defined in the page once.
const pageHelpers = `
window.__t = {
  count: (state) => parseInt(document.querySelector('#legend li[data-state="' + state + '"] .count').textContent.replace(/[^0-9]/g, ''), 10),
  row: (id) => [...document.querySelectorAll('#summary tbody tr')].find((r) => r.dataset.id === id),
  delta: (id) => { const r = __t.row(id); return r ? r.querySelector('td.delta').textContent : null; },
  // the building's feature as the map draws it: its tile's colour, and the
  // colour live changes gave it (feature-state), if any
  feature: (fid) => { const m = __roomstateMap;
    const f = m.queryRenderedFeatures({layers: ['buildings']}).find((f) => f.id === fid);
    return f ? {color: f.properties.color, live: (m.getFeatureState({source: 'rs', sourceLayer: 'buildings', id: fid}) || {}).color || null} : null; },
  // the source's tile URL ('' until MapLibre has read the source's
  // options: that is after the page is ready when everything it asks comes
  // quickly, a past view's tiles from the browser's cache say)
  tiles: () => { const s = __roomstateMap.getSource('rs'); return s && s.tiles ? s.tiles[0] : ''; },
  rooms: () => document.querySelectorAll('#floors .room').length,
  isolatedRooms: () => document.querySelectorAll('#floors .room[data-state="isolated"]').length,
  // the trend chart: uPlot's series and how much of its canvas is drawn
  trend: () => { const u = __roomstateTrend.plot; if (!u) return null;
    const c = u.ctx.canvas, d = u.ctx.getImageData(0, 0, c.width, c.height).data;
    let drawn = 0; for (let i = 3; i < d.length; i += 4) if (d[i] !== 0) drawn++;
    return {series: u.series.length, points: u.data[0].length, drawn, last: u.data.slice(1).map((s) => s[s.length - 1])}; },
};
true`

// TestDashboardEndToEnd builds roomstate, copies the binary alone into an
// empty directory and starts it from there on a generated city, then drives
// the dashboard in headless Chromium, which can resolve no host name (the
// page reaches only the server's address): every file the page asks for
// comes from the binary; the map renders building features, a click opens
// the building's room-state map with the right number of rooms, and a PATCH
// recolours the building and updates the legend within a second. The summary
// shows each unit's change (▲/▼), the trend chart draws one line per state,
// and the time control moves map, legend, summary and room-state map back to
// a moment before the changes, with a banner, unmoved by live changes, until
// "back to live"; a moment before the history kept is explained; an address
// as of a version shows that version.
func TestDashboardEndToEnd(t *testing.T) {
	exe := chromium()
	need(t, exe != "", "no chromium on PATH (Debian: apt-get install chromium)")
	dir, bin := loneBinary(t)
	base := serveLone(t, dir, bin, 20_000)
	loaded := time.Now()
	srv := server{url: base}
	v0 := version(t, srv)
	bu := pickBuilding(t, srv)
	gone, goneCommunity := dwellingOutside(t, srv, bu.street, bu.community)
	red := stateColor(t, srv, "isolated")
	reqs := newRequestLog(base)
	shots := os.Getenv("ROOMSTATE_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	}
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	p := &page{t: t, ctx: openBrowser(t, exe, reqs), reqs: reqs, shots: shots}

	p.do(chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS(`body[data-ready="1"]`)))
	eval[bool](p, pageHelpers)
	// the whole city: cells and boundaries
	eval[bool](p, `__roomstateMap.setZoom(12); true`)
	p.poll("overview rendered", `(() => { const m = __roomstateMap;
		return m.loaded() && m.queryRenderedFeatures({layers: ['cells']}).length > 0; })()`, 30*time.Second)
	p.shot("dashboard-overview.png")
	// the map (and its worker, which draws the features) and the charts came from the binary
	reqs.check(t)
	reqs.mu.Lock()
	for _, f := range []string{"/", "/static/app.js", "/static/asof.js", "/static/trend.js", "/assets/maplibre/maplibre-gl.mjs",
		"/assets/maplibre/maplibre-gl-worker.mjs", "/assets/maplibre/maplibre-gl.css", "/assets/uplot/uPlot.esm.js", "/assets/uplot/uPlot.min.css"} {
		if !slices.Contains(reqs.files, f) {
			t.Errorf("the page did not load %s (it loaded %v)", f, reqs.files)
		}
	}
	reqs.mu.Unlock()

	// the map renders building features around the chosen building, which
	// is shown left of where its room-state map opens
	jump := fmt.Sprintf(`__roomstateMap.jumpTo({center: [%v, %v], zoom: 18, padding: {right: 780}}); true`, bu.lon, bu.lat)
	eval[bool](p, jump)
	p.poll("building features rendered", fmt.Sprintf(`__roomstateMap.loaded() && __t.feature(%d) !== null`, bu.featureID), 30*time.Second)
	p.poll("legend shown", `document.querySelectorAll('#legend li').length >= 5`, 10*time.Second)
	states := eval[int](p, `document.querySelectorAll('#legend li').length`)

	// click the building: its room-state map, room by room
	pt := eval[struct{ X, Y float64 }](p, fmt.Sprintf(`(() => {
		const p = __roomstateMap.project([%v, %v]);
		const r = document.getElementById('map').getBoundingClientRect();
		return {X: p.x + r.left, Y: p.y + r.top}; })()`, bu.lon, bu.lat))
	p.do(chromedp.MouseClickXY(pt.X, pt.Y))
	p.poll("room-state map opened", fmt.Sprintf(`(() => { const b = document.getElementById('building');
		return !b.hidden && document.getElementById('building-title').textContent.includes(%q); })()`, bu.id), 10*time.Second)
	if n := eval[int](p, `__t.rooms()`); n != bu.rooms {
		t.Fatalf("room-state map shows %d rooms, building %s has %d", n, bu.id, bu.rooms)
	}

	// before: a moment after the load and before any change, in whole
	// seconds (the time control's precision), some seconds after the load
	// for the trend to show a few of them
	time.Sleep(time.Until(loaded.Add(3 * time.Second)))
	before := time.Now().Truncate(time.Second)
	zone := serverZone(t, srv, before)
	time.Sleep(time.Until(before.Add(100 * time.Millisecond)))

	// a change shows within a second: legend count and the building's colour
	isolated := eval[int](p, `__t.count('isolated')`)
	srv.json(t, "PATCH", "/api/v1/dwellings/"+url.PathEscape(bu.dwelling), `{"set":["isolated"]}`, nil)
	changed := time.Now()
	p.poll("building recoloured", fmt.Sprintf(`(() => { const s = __roomstateMap.getFeatureState({source: 'rs', sourceLayer: 'buildings', id: %d});
		return s && s.color === %q; })()`, bu.featureID, red), time.Second)
	p.poll("legend count updated", fmt.Sprintf(`__t.count('isolated') === %d`, isolated+1), time.Second)
	t.Logf("change shown %v after the PATCH answered", time.Since(changed).Round(time.Millisecond))
	p.poll("room-state map follows", `__t.isolatedRooms() === 1`, 2*time.Second)

	// more changes: a dwelling added to the building, one removed elsewhere
	var rec map[string]any
	srv.json(t, "GET", "/api/v1/dwellings/"+url.PathEscape(bu.dwelling2), "", &rec)
	delete(rec, "version")
	rec["id"], rec["room"] = "E2E-NEW-1", "E2E"
	body, _ := json.Marshal(rec)
	srv.json(t, "PUT", "/api/v1/dwellings/E2E-NEW-1", string(body), nil)
	srv.json(t, "DELETE", "/api/v1/dwellings/"+url.PathEscape(gone), "", nil)
	p.poll("room-state map shows the new dwelling", fmt.Sprintf(`__t.rooms() === %d`, bu.rooms+1), 2*time.Second)

	// the summary shows each unit's change: down to the communities of the street
	for _, id := range []string{bu.district, bu.street} {
		p.poll("summary row "+id, fmt.Sprintf(`!!__t.row(%q)`, id), 5*time.Second)
		eval[bool](p, fmt.Sprintf(`__t.row(%q).click(); true`, id))
	}
	p.poll("▲ on the community that gained a dwelling", fmt.Sprintf(`__t.delta(%q) === '▲ 1'`, bu.community), 5*time.Second)
	p.poll("▼ on the community that lost one", fmt.Sprintf(`__t.delta(%q) === '▼ 1'`, goneCommunity), 5*time.Second)

	// the trend chart: one line per state of the legend, drawn
	p.poll("trend chart drawn", fmt.Sprintf(`(() => { const c = __t.trend();
		return c !== null && c.series === %d && c.points >= 2 && c.drawn > 2000; })()`, states+1), 10*time.Second)

	// back at the building, the wall screen as it is now
	eval[bool](p, jump)
	p.poll("building features rendered", fmt.Sprintf(`__roomstateMap.loaded() && __t.feature(%d) !== null`, bu.featureID), 30*time.Second)
	if n := p.shot("dashboard-zh.png"); n < 20_000 {
		t.Fatalf("screenshot of %d bytes: the page looks empty", n)
	}

	// as of the moment before the changes: the map, legend, summary and
	// room-state map as they were, and a banner that says so
	at := before.In(zone)
	asOf := func() {
		t.Helper()
		p.do(chromedp.SetValue(chromedp.CSS(`#asof-date`), at.Format("2006-01-02")),
			chromedp.SetValue(chromedp.CSS(`#asof-time`), at.Format("15:04:05")))
		p.click(`#asof-go`)
		p.poll("banner shown", fmt.Sprintf(`!document.getElementById('asof-banner').hidden &&
			document.getElementById('asof-version').textContent.includes('%d')`, v0), 5*time.Second)
		p.poll("tiles as of the moment", fmt.Sprintf(`__t.tiles().includes('as_of=%d')`, v0), 2*time.Second)
		p.poll("the building as it was", fmt.Sprintf(`__roomstateMap.loaded() && (() => { const f = __t.feature(%d);
			return f !== null && f.color !== %q && f.live === null; })()`, bu.featureID, red), 10*time.Second)
		p.poll("legend as it was", fmt.Sprintf(`__t.count('isolated') === %d`, isolated), 5*time.Second)
		p.poll("room-state map as it was", fmt.Sprintf(`__t.rooms() === %d && __t.isolatedRooms() === 0 &&
			document.getElementById('building-meta').textContent.includes('%d')`, bu.rooms, v0), 5*time.Second)
		p.poll("summary as it was", fmt.Sprintf(`__t.delta(%q) === '0' && __t.delta(%q) === '0'`, bu.community, goneCommunity), 5*time.Second)
		p.poll("trend to the moment", fmt.Sprintf(`(() => { const c = __t.trend(); return c !== null && c.last[0] === %d; })()`, isolated), 10*time.Second)
	}
	asOf()
	p.shot("dashboard-asof-zh.png")

	// live changes do not move a historical view
	srv.json(t, "PATCH", "/api/v1/dwellings/"+url.PathEscape(bu.dwelling2), `{"set":["isolated"]}`, nil)
	time.Sleep(1500 * time.Millisecond)
	p.poll("still as it was", fmt.Sprintf(`__t.count('isolated') === %d && __t.isolatedRooms() === 0 && __t.feature(%d).live === null`,
		isolated, bu.featureID), time.Second)

	// back to live: everything as it is now, from new tiles
	p.click(`#back-live`)
	p.poll("banner gone", `document.getElementById('asof-banner').hidden && !__t.tiles().includes('as_of=')`, 2*time.Second)
	p.poll("legend live", fmt.Sprintf(`__t.count('isolated') === %d`, isolated+2), 5*time.Second)
	p.poll("the building as it is", fmt.Sprintf(`__roomstateMap.loaded() && (() => { const f = __t.feature(%d);
		return f !== null && f.color === %q; })()`, bu.featureID, red), 10*time.Second)
	p.poll("room-state map live", fmt.Sprintf(`__t.rooms() === %d && __t.isolatedRooms() === 2`, bu.rooms+1), 5*time.Second)
	p.poll("▲/▼ live", fmt.Sprintf(`__t.delta(%q) === '▲ 1' && __t.delta(%q) === '▼ 1'`, bu.community, goneCommunity), 5*time.Second)

	// English on a switch
	p.click(`#lang`)
	p.poll("English labels", `document.querySelector('h1').textContent === 'Room-state map' && document.querySelector('#legend li[data-state="isolated"] .label').textContent === 'Home isolation'`, 2*time.Second)
	p.shot("dashboard-en.png")
	// as of the same moment again, now that the map has loaded tiles with
	// the changes: the building's colour comes from tiles as of the moment
	asOf()
	p.poll("English banner", `document.querySelector('#asof-banner strong').textContent === 'Historical view'`, time.Second)
	p.shot("dashboard-asof-en.png")
	p.click(`#live`)
	p.poll("live again", `document.getElementById('asof-banner').hidden`, 2*time.Second)

	// a day before the history kept: explained, and the map stays live
	p.click(`#asof-yesterday`)
	p.poll("history gone explained", fmt.Sprintf(`(() => { const n = document.getElementById('notice');
		return !n.hidden && n.textContent.includes('(version %d)'); })()`, v0), 5*time.Second)
	if eval[bool](p, `!document.getElementById('asof-banner').hidden || __t.tiles().includes('as_of=')`) {
		t.Error("a moment before the history kept left the live map")
	}
	p.shot("dashboard-gone-en.png")

	// a bad filter is explained, not applied
	p.do(chromedp.SetValue(chromedp.CSS(`#where`), "isolated &"), chromedp.Click(chromedp.CSS(`#filter button[type="submit"]`)))
	p.poll("filter error shown", `document.getElementById('where-error').textContent.includes('column')`, 2*time.Second)

	// an address with as_of a version shows the map as of that version
	p.do(chromedp.Navigate(fmt.Sprintf("%s/?as_of=%d", base, v0)), chromedp.WaitVisible(chromedp.CSS(`body[data-ready="1"]`)))
	eval[bool](p, pageHelpers)
	p.poll("as_of a version shown", fmt.Sprintf(`!document.getElementById('asof-banner').hidden &&
		document.getElementById('asof-version').textContent.includes('%d') && __t.tiles().includes('as_of=%d')`, v0, v0), 5*time.Second)
	reqs.check(t)
}

// TestDashboardViewer drives the dashboard as a viewer (tokens, a privacy k
// of 10): counts withheld from viewers (null) show as nothing, not as
// "null" or ▲/▼ of nothing, in the summary, its change since yesterday and
// the trend (no change shows as 0); the time control works as for anyone.
func TestDashboardViewer(t *testing.T) {
	exe := chromium()
	need(t, exe != "", "no chromium on PATH (Debian: apt-get install chromium)")
	dir, bin := loneBinary(t)
	const viewer, admin = "viewer-token-0123456789", "admin-token-0123456789"
	tokens := filepath.Join(t.TempDir(), "tokens.json")
	if err := os.WriteFile(tokens, []byte(`[{"name": "wall", "token": "`+viewer+`", "role": "viewer"},
		{"name": "ops", "token": "`+admin+`", "role": "admin"}]`), 0o600); err != nil {
		t.Fatal(err)
	}
	base := serveLone(t, dir, bin, 5_000, "--tokens", tokens, "--privacy-k", "10")
	loaded := time.Now()
	adm := server{url: base, token: admin}
	v0 := version(t, adm)
	bu := pickBuilding(t, adm)
	reqs := newRequestLog(base)
	shots := os.Getenv("ROOMSTATE_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	}
	p := &page{t: t, ctx: openBrowser(t, exe, reqs), reqs: reqs, shots: shots}

	// one isolated dwelling more, a second or more after the load: a change
	// of 1, which a viewer may not see
	time.Sleep(time.Until(loaded.Add(1100 * time.Millisecond)))
	before := time.Now().Truncate(time.Second)
	zone := serverZone(t, adm, before)
	time.Sleep(time.Until(before.Add(100 * time.Millisecond)))
	adm.json(t, "PATCH", "/api/v1/dwellings/"+url.PathEscape(bu.dwelling), `{"set":["isolated"]}`, nil)

	// the token as the API takes it in a query (access_token); ?token= is
	// the other tests'
	p.do(chromedp.Navigate(base+"/?access_token="+viewer+"&where=isolated"), chromedp.WaitVisible(chromedp.CSS(`body[data-ready="1"]`)))
	eval[bool](p, pageHelpers)
	for _, id := range []string{bu.district, bu.street} {
		p.poll("summary row "+id, fmt.Sprintf(`!!__t.row(%q)`, id), 5*time.Second)
		eval[bool](p, fmt.Sprintf(`__t.row(%q).click(); true`, id))
	}
	p.poll("communities shown", fmt.Sprintf(`!!__t.row(%q)`, bu.community), 5*time.Second)
	// withheld: nothing; shown: a count
	clean := `(() => { const side = document.getElementById('side').textContent;
		const deltas = [...document.querySelectorAll('#summary td.delta')].map((td) => td.textContent);
		return !/null|NaN|undefined/.test(side) && deltas.every((d) => d === '' || /^([▲▼] [0-9,]+|0)$/.test(d)); })()`
	p.poll("no null shown", clean, 2*time.Second)
	if d := eval[string](p, fmt.Sprintf(`__t.delta(%q)`, bu.community)); d != "" {
		t.Errorf("a viewer sees the change of one isolated dwelling as %q", d)
	}
	p.poll("trend chart drawn", `(() => { const c = __t.trend(); return c !== null && c.series === 6 && c.drawn > 500; })()`, 10*time.Second)

	// as of the moment before the change
	at := before.In(zone)
	p.do(chromedp.SetValue(chromedp.CSS(`#asof-date`), at.Format("2006-01-02")),
		chromedp.SetValue(chromedp.CSS(`#asof-time`), at.Format("15:04:05")))
	p.click(`#asof-go`)
	p.poll("banner shown", fmt.Sprintf(`!document.getElementById('asof-banner').hidden &&
		document.getElementById('asof-version').textContent.includes('%d')`, v0), 5*time.Second)
	p.poll("tiles as of the moment", fmt.Sprintf(`__t.tiles().includes('as_of=%d')`, v0), 2*time.Second)
	p.poll("no null shown as of the moment", clean, 5*time.Second)
	p.shot("dashboard-viewer-asof-zh.png")
	// a viewer is offered no room-by-room print, a community's neither
	eval[bool](p, fmt.Sprintf(`__t.row(%q).click(); true`, bu.community))
	p.poll("a community's summary", `(window.__roomstateState.crumbs.slice(-1)[0] || {}).level === 'community'`, 5*time.Second)
	if eval[bool](p, `!document.getElementById('print-unit').hidden`) {
		t.Error("a viewer is offered the print of a community's room-state map")
	}
	reqs.check(t)
}
