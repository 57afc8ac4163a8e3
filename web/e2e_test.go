package web_test

import (
	"bufio"
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
// binary's directory, which holds nothing else: no web/, no node_modules.
// It returns the server's URL; the server is stopped at the end of the test.
func serveLone(t *testing.T, dir, bin string, n int) string {
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
	cmd := exec.Command(bin, "serve", "--load", "city/dwellings.csv", "--boundaries", "city/boundaries.geojson", "--addr", "127.0.0.1:0")
	cmd.Dir, cmd.Env = dir, loneEnv(dir)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
			t.Error("roomstate did not stop within 10 s of SIGINT")
		}
		if t.Failed() {
			t.Logf("roomstate's log:\n%s", stderr.String())
		}
	})
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if l, ok := strings.CutPrefix(sc.Text(), "listening on "); ok {
				lines <- l
			}
		}
		close(lines)
	}()
	select {
	case u, ok := <-lines:
		if !ok {
			t.Fatalf("roomstate exited before listening:\n%s", stderr.String())
		}
		return u
	case <-time.After(30 * time.Second):
		t.Fatalf("roomstate did not listen within 30 s:\n%s", stderr.String())
	}
	return ""
}

func httpJSON(t *testing.T, method, u, body string, v any) {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
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
	id, dwelling string
	lon, lat     float64
	rooms        int
	featureID    uint64
}

// pickBuilding finds a building without an isolated dwelling.
func pickBuilding(t *testing.T, u string) building {
	t.Helper()
	var grid struct {
		Cells []struct {
			ID             string
			Total, Matched int
		}
	}
	httpJSON(t, "POST", u+"/api/v1/query/grid", `{"level": "building", "where": "isolated"}`, &grid)
	for _, c := range grid.Cells {
		if c.Matched != 0 || c.Total < 2 {
			continue
		}
		var m struct {
			Building struct {
				ID        string
				FeatureID uint64 `json:"feature_id"`
				Lon, Lat  float64
				Total     int
			}
			Floors []struct{ Rooms []struct{ ID string } }
		}
		httpJSON(t, "GET", u+"/api/v1/buildings/"+url.PathEscape(c.ID)+"/roomstate", "", &m)
		return building{id: m.Building.ID, dwelling: m.Floors[0].Rooms[0].ID, lon: m.Building.Lon, lat: m.Building.Lat,
			rooms: m.Building.Total, featureID: m.Building.FeatureID}
	}
	t.Fatal("no building without an isolated dwelling")
	return building{}
}

// stateColor is the colour the default scheme gives a state.
func stateColor(t *testing.T, u, state string) string {
	t.Helper()
	var l struct {
		Legend []struct{ State, Color string }
	}
	httpJSON(t, "GET", u+"/api/v1/legend", "", &l)
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

// TestDashboardEndToEnd builds roomstate, copies the binary alone into an
// empty directory and starts it from there on a generated city, then drives
// the dashboard in headless Chromium, which can resolve no host name (the
// page reaches only the server's address): every file the page asks for
// comes from the binary; the map renders building features, a click opens
// the building's room-state map with the right number of rooms, and a PATCH
// recolours the building and updates the legend within a second.
func TestDashboardEndToEnd(t *testing.T) {
	exe := chromium()
	need(t, exe != "", "no chromium on PATH (Debian: apt-get install chromium)")
	dir, bin := loneBinary(t)
	base := serveLone(t, dir, bin, 20_000)
	bu := pickBuilding(t, base)
	red := stateColor(t, base, "isolated")
	srvURL, _ := url.Parse(base)
	reqs := &requestLog{host: srvURL.Host, urls: map[network.RequestID]string{}}

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
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf), chromedp.WithListener(reqs.listen))
	defer cancel()
	// the first run starts the browser, under the context without a timeout
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	ctx, cancel = context.WithTimeout(ctx, 120*time.Second)
	defer cancel()

	poll := func(what, js string, within time.Duration) {
		t.Helper()
		deadline := time.Now().Add(within)
		for {
			ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](js))
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			if ok {
				return
			}
			if time.Now().After(deadline) {
				reqs.check(t)
				t.Fatalf("%s: not within %v", what, within)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS(`body[data-ready="1"]`))); err != nil {
		reqs.check(t)
		t.Fatalf("dashboard did not start: %v", err)
	}
	// the whole city: cells and boundaries
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`__roomstateMap.setZoom(12); true`)); err != nil {
		t.Fatal(err)
	}
	poll("overview rendered", `(() => { const m = __roomstateMap;
		return m.loaded() && m.queryRenderedFeatures({layers: ['cells']}).length > 0; })()`, 30*time.Second)
	shots := os.Getenv("ROOMSTATE_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	}
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	if png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)); err == nil {
		os.WriteFile(filepath.Join(shots, "dashboard-overview.png"), png, 0o644)
	}
	// the map (and its worker, which draws the features) came from the binary
	reqs.check(t)
	reqs.mu.Lock()
	for _, f := range []string{"/", "/static/app.js", "/assets/maplibre/maplibre-gl.mjs", "/assets/maplibre/maplibre-gl-worker.mjs", "/assets/maplibre/maplibre-gl.css"} {
		if !slices.Contains(reqs.files, f) {
			t.Errorf("the page did not load %s (it loaded %v)", f, reqs.files)
		}
	}
	reqs.mu.Unlock()

	// the map renders building features around the chosen building
	jump := fmt.Sprintf(`__roomstateMap.jumpTo({center: [%v, %v], zoom: 18}); true`, bu.lon, bu.lat)
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](jump)); err != nil {
		t.Fatal(err)
	}
	poll("building features rendered", `(() => { const m = __roomstateMap;
		return m.loaded() && m.queryRenderedFeatures({layers: ['buildings']}).length > 0; })()`, 30*time.Second)
	poll("legend shown", `document.querySelectorAll('#legend li').length >= 5`, 10*time.Second)

	// click the building: its room-state map, room by room
	pt, err := chromedp.Run(ctx, chromedp.Evaluate[struct{ X, Y float64 }](fmt.Sprintf(`(() => {
		const p = __roomstateMap.project([%v, %v]);
		const r = document.getElementById('map').getBoundingClientRect();
		return {X: p.x + r.left, Y: p.y + r.top}; })()`, bu.lon, bu.lat)))
	if err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.MouseClickXY(pt.X, pt.Y)); err != nil {
		t.Fatal(err)
	}
	poll("room-state map opened", fmt.Sprintf(`(() => { const b = document.getElementById('building');
		return !b.hidden && document.getElementById('building-title').textContent.includes(%q); })()`, bu.id), 10*time.Second)
	n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('#floors .room').length`))
	if err != nil {
		t.Fatal(err)
	}
	if n != bu.rooms {
		t.Fatalf("room-state map shows %d rooms, building %s has %d", n, bu.id, bu.rooms)
	}

	// a change shows within a second: legend count and the building's colour
	before, err := chromedp.Run(ctx, chromedp.Evaluate[int](`parseInt(document.querySelector('#legend li[data-state="isolated"] .count').textContent.replace(/[^0-9]/g, ''), 10)`))
	if err != nil {
		t.Fatal(err)
	}
	httpJSON(t, "PATCH", base+"/api/v1/dwellings/"+url.PathEscape(bu.dwelling), `{"set":["isolated"]}`, nil)
	changed := time.Now()
	poll("building recoloured", fmt.Sprintf(`(() => { const s = __roomstateMap.getFeatureState({source: 'rs', sourceLayer: 'buildings', id: %d});
		return s && s.color === %q; })()`, bu.featureID, red), time.Second)
	poll("legend count updated", fmt.Sprintf(`parseInt(document.querySelector('#legend li[data-state="isolated"] .count').textContent.replace(/[^0-9]/g, ''), 10) === %d`, before+1), time.Second)
	t.Logf("change shown %v after the PATCH answered", time.Since(changed).Round(time.Millisecond))
	poll("room-state map follows", `[...document.querySelectorAll('#floors .room')].some(r => r.dataset.state === 'isolated')`, 2*time.Second)

	// a screenshot of what the wall screen shows
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	shot := filepath.Join(shots, "dashboard-zh.png")
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes)", shot, len(png))
	if len(png) < 20_000 {
		t.Fatalf("screenshot of %d bytes: the page looks empty", len(png))
	}
	// English on a switch
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#lang`))); err != nil {
		t.Fatal(err)
	}
	poll("English labels", `document.querySelector('h1').textContent === 'Room-state map' && document.querySelector('#legend li[data-state="isolated"] .label').textContent === 'Home isolation'`, 2*time.Second)
	if png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)); err == nil {
		os.WriteFile(filepath.Join(shots, "dashboard-en.png"), png, 0o644)
	}
	// a bad filter is explained, not applied
	if err := chromedp.Do(ctx, chromedp.SetValue(chromedp.CSS(`#where`), "isolated &"), chromedp.Click(chromedp.CSS(`#filter button[type="submit"]`))); err != nil {
		t.Fatal(err)
	}
	poll("filter error shown", `document.getElementById('where-error').textContent.includes('column')`, 2*time.Second)
	reqs.check(t)
}
