package web_test

import (
	"bufio"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// startLone starts the lone binary with args from its directory and
// returns what it prints after "listening on " (its URL); it is stopped
// with SIGINT at the end of the test, and must stop within 10 s.
func startLone(t *testing.T, dir, bin string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, args...)
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
			t.Errorf("roomstate %s did not stop within 10 s of SIGINT", args[0])
		}
		if t.Failed() {
			t.Logf("roomstate %s's log:\n%s", args[0], stderr.String())
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
			t.Fatalf("roomstate %v exited before listening:\n%s", args, stderr.String())
		}
		return u
	case <-time.After(30 * time.Second):
		t.Fatalf("roomstate %v did not listen within 30 s:\n%s", args, stderr.String())
	}
	return ""
}

// TestFollowerDashboardIsLive: two replicas on `roomstate nats`; the
// dashboard of the follower recolours a building within a second of a
// PATCH sent to the other node: the follower's change feed is fed by what
// it applies from the stream.
func TestFollowerDashboardIsLive(t *testing.T) {
	exe := chromium()
	need(t, exe != "", "no chromium on PATH (Debian: apt-get install chromium)")
	dir, bin := loneBinary(t)
	runLone(t, dir, bin, "gen", "-n", "5000", "-seed", "21", "-out", "city")
	natsURL := startLone(t, dir, bin, "nats", "--addr", "127.0.0.1:0", "--data-dir", "nats", "--log-level", "warn")
	writer := startLone(t, dir, bin, "serve", "--nats", natsURL, "--load", "city/dwellings.csv", "--boundaries", "city/boundaries.geojson",
		"--addr", "127.0.0.1:0", "--log-level", "warn")
	follower := startLone(t, dir, bin, "serve", "--nats", natsURL, "--addr", "127.0.0.1:0", "--log-level", "warn")
	bu := pickBuilding(t, server{url: follower})
	red := stateColor(t, server{url: follower}, "isolated")

	ctx := openBrowser(t, exe, newRequestLog(follower))
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
				t.Fatalf("%s: not within %v", what, within)
			}
			time.Sleep(25 * time.Millisecond)
		}
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(follower+"/"), chromedp.WaitVisible(chromedp.CSS(`body[data-ready="1"]`))); err != nil {
		t.Fatalf("the follower's dashboard did not start: %v", err)
	}
	jump := fmt.Sprintf(`__roomstateMap.jumpTo({center: [%v, %v], zoom: 18}); true`, bu.lon, bu.lat)
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](jump)); err != nil {
		t.Fatal(err)
	}
	poll("building features rendered", `(() => { const m = __roomstateMap;
		return m.loaded() && m.queryRenderedFeatures({layers: ['buildings']}).length > 0; })()`, 30*time.Second)
	// the change goes to the other node
	server{url: writer}.json(t, "PATCH", "/api/v1/dwellings/"+url.PathEscape(bu.dwelling), `{"set":["isolated"]}`, nil)
	changed := time.Now()
	poll("the follower's map recoloured", fmt.Sprintf(`(() => { const s = __roomstateMap.getFeatureState({source: 'rs', sourceLayer: 'buildings', id: %d});
		return s && s.color === %q; })()`, bu.featureID, red), time.Second)
	t.Logf("the follower's dashboard showed the change %v after the writer answered", time.Since(changed).Round(time.Millisecond))
}
