package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMain lets the test binary be the roomstate binary: with
// ROOMSTATE_BE_MAIN set it runs main with the remaining arguments, so tests
// start the real program as a subprocess without building it separately.
func TestMain(m *testing.M) {
	if os.Getenv("ROOMSTATE_BE_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// proc is a roomstate subprocess.
type proc struct {
	cmd    *exec.Cmd
	url    string
	stderr *strings.Builder
	exited chan error
}

// startProc starts `roomstate args...` and waits until it prints
// "listening on http://ADDR".
func startProc(t *testing.T, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "ROOMSTATE_BE_MAIN=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, stderr: &strings.Builder{}, exited: make(chan error, 1)}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.exited <- cmd.Wait() }()
	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	deadline := time.After(60 * time.Second)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("roomstate %v exited before listening: %s", args, p.stderr.String())
			}
			if strings.HasPrefix(l, "listening on ") {
				p.url = strings.TrimPrefix(l, "listening on ")
				go io.Copy(io.Discard, out)
				return p
			}
		case <-deadline:
			cmd.Process.Kill()
			t.Fatalf("roomstate %v did not start: %s", args, p.stderr.String())
		}
	}
}

func (p *proc) kill() {
	p.cmd.Process.Kill() // SIGKILL
	<-p.exited
}

func (p *proc) stop(t *testing.T) {
	p.cmd.Process.Signal(os.Interrupt)
	select {
	case err := <-p.exited:
		if err != nil {
			t.Fatalf("clean shutdown failed: %v: %s", err, p.stderr.String())
		}
	case <-time.After(60 * time.Second):
		// a hang, or a machine too loaded to finish the final snapshot:
		// what the process said tells which
		p.cmd.Process.Signal(syscall.SIGQUIT) // goroutine dump on stderr
		time.Sleep(time.Second)
		p.cmd.Process.Kill()
		t.Fatalf("no clean shutdown within 60 s:\n%s", p.stderr.String())
	}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func genCity(t *testing.T, n int) string {
	t.Helper()
	dir := t.TempDir()
	var out strings.Builder
	if err := run(context.Background(), []string{"gen", "-n", fmt.Sprint(n), "-seed", "3", "-out", dir}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestServeDemoGenQuery(t *testing.T) {
	dir := genCity(t, 20_000)
	// query prints one line per feature, shaped like the HTTP answer
	var out strings.Builder
	err := run(context.Background(), []string{"query", "--load", filepath.Join(dir, "dwellings.csv"),
		"--polygons", filepath.Join(dir, "boundaries.geojson"), "--where", "isolated & !vaccinated", "--group-by", "grid"}, &out, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) < 20 || !strings.Contains(lines[0], `"feature":0,"properties":{`) || !strings.Contains(lines[0], `"matched":`) || !strings.Contains(lines[0], `"groups":[`) {
		t.Fatalf("query printed %d lines: %.300s", len(lines), out.String())
	}
	// serve refuses what it cannot do, clearly
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"serve"}, "--load"},
		{[]string{"serve", "--load", "nope.csv"}, "no such file"},
		{[]string{"serve", "--load", filepath.Join(dir, "dwellings.csv"), "--addr", "0.0.0.0:0"}, "non-loopback"},
		{[]string{"serve", "--data-dir", t.TempDir()}, "holds no state"},
		{[]string{"serve", "--load", filepath.Join(dir, "dwellings.csv"), "--crs", "mars"}, "unknown CRS"},
		{[]string{"frobnicate"}, "unknown command"},
	} {
		err := run(context.Background(), c.args, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: got %v, want %q", c.args, err, c.want)
		}
	}
	// a bad file is reported with file:line:column and nothing is served
	bad := filepath.Join(t.TempDir(), "bad.csv")
	os.WriteFile(bad, []byte("id,lon,lat\na,121.5,31.2\nb,121.5,91\n"), 0o644)
	err = run(context.Background(), []string{"serve", "--load", bad}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "bad.csv:3:9: lat: latitude 91 is out of range") {
		t.Fatalf("bad file: %v", err)
	}
	// serve answers, and shuts down cleanly on an interrupt
	p := startProc(t, "serve", "--load", filepath.Join(dir, "dwellings.csv"), "--boundaries", filepath.Join(dir, "boundaries.geojson"), "--addr", "127.0.0.1:0")
	if code, body := get(t, p.url+"/healthz"); code != 200 || !strings.Contains(body, `"status":"ok"`) {
		t.Fatalf("healthz: %d %s", code, body)
	}
	p.stop(t)
	// help teaches
	var help strings.Builder
	run(context.Background(), []string{"serve", "-h"}, io.Discard, &help)
	if !strings.Contains(help.String(), "Example:") || !strings.Contains(help.String(), "--data-dir") && !strings.Contains(help.String(), "-data-dir") {
		t.Fatalf("serve -h: %s", help.String())
	}
}

func TestTokensAndReload(t *testing.T) {
	dir := genCity(t, 20_000)
	tokens := filepath.Join(t.TempDir(), "tokens.json")
	// a short token is accepted, with a warning naming its entry
	write := func(tok string) {
		os.WriteFile(tokens, []byte(`[{"name":"wall","token":"`+tok+`","role":"viewer"},
			{"name":"kiosk","token":"k7x9q","role":"viewer"}]`), 0o600)
	}
	write("first-token-0123456789")
	// a bad tokens file stops the start with a clear message
	bad := filepath.Join(t.TempDir(), "bad.json")
	for _, c := range []struct{ file, want string }{
		{`[{"name":"x","token":"","role":"viewer"}]`, `tokens[0] (x): token is empty`},
		{`[{"name":"x","token":"abc","role":"viewer"},{"name":"y","token":"abc","role":"admin"}]`, `tokens[1] (y): token used twice`},
		{`[{"name":"x","token":"abc","role":"root"}]`, `tokens[0] (x): role "root"`},
	} {
		os.WriteFile(bad, []byte(c.file), 0o600)
		// refused before anything is loaded: the data directory stays
		// without state, and the same command with the file put right
		// starts afresh
		data := filepath.Join(t.TempDir(), "data")
		err := run(context.Background(), []string{"serve", "--load", filepath.Join(dir, "dwellings.csv"), "--data-dir", data, "--tokens", bad}, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), bad+": "+c.want) {
			t.Fatalf("bad tokens %s: %v", c.file, err)
		}
		if files, _ := os.ReadDir(data); len(files) > 0 {
			t.Fatalf("bad tokens %s: the refused start left %d files in the data directory", c.file, len(files))
		}
	}
	p := startProc(t, "serve", "--load", filepath.Join(dir, "dwellings.csv"), "--addr", "127.0.0.1:0", "--tokens", tokens)
	defer p.stop(t)
	call := func(tok string) int {
		req, _ := http.NewRequest("GET", p.url+"/api/v1/units/district", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if call("first-token-0123456789") != 200 || call("second-token-0123456789") != 401 || call("k7x9q") != 200 {
		t.Fatal("tokens not in force")
	}
	if !strings.Contains(p.stderr.String(), "short token") || !strings.Contains(p.stderr.String(), "name=kiosk") {
		t.Fatalf("no warning about the short token:\n%s", p.stderr.String())
	}
	write("second-token-0123456789")
	p.cmd.Process.Signal(syscall.SIGHUP)
	deadline := time.Now().Add(5 * time.Second)
	for call("second-token-0123456789") != 200 {
		if time.Now().After(deadline) {
			t.Fatal("tokens not reloaded on SIGHUP")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if call("first-token-0123456789") != 401 {
		t.Fatal("the old token still works after the reload")
	}
	if strings.Contains(p.stderr.String(), "0123456789") || strings.Contains(p.stderr.String(), "k7x9q") {
		t.Fatal("a token reached the log")
	}
}

func TestBenchCommand(t *testing.T) {
	out := filepath.Join(t.TempDir(), "bench.json")
	var table strings.Builder
	if err := run(context.Background(), []string{"bench", "-n", "60000", "-duration", "30ms", "-json", out}, &table, io.Discard); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"polygon/district/where1"`, `"brute/community"`, `"tile/uncached/z14"`, `"http/polygon/street"`,
		`"cached_tile_http_req_per_s"`, `"rss_bytes_per_dwelling"`, `"updates_durable_http_per_s"`, `"reopen_s"`, `"load_csv_s"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("report lacks %s", want)
		}
	}
	if !strings.Contains(table.String(), "p50 µs") {
		t.Fatalf("no table: %s", table.String())
	}
	var guard strings.Builder
	if err := run(context.Background(), []string{"bench", "-n", "60000", "-guard", "-min-community", "1e9"}, &guard, io.Discard); err == nil ||
		!strings.Contains(guard.String(), "FAIL") {
		t.Fatalf("an impossible guard passed: %v %s", err, guard.String())
	}
	// the guard checks the realistic city's own boundaries too
	guard.Reset()
	if err := run(context.Background(), []string{"bench", "-n", "60000", "-guard", "-min-real-street", "1e9"}, &guard, io.Discard); err == nil ||
		!strings.Contains(guard.String(), "real-street") || !strings.Contains(guard.String(), "FAIL") {
		t.Fatalf("an impossible realistic guard passed: %v %s", err, guard.String())
	}
	// the realistic city, measured by vertex class
	table.Reset()
	if err := run(context.Background(), []string{"bench", "-n", "60000", "-city", "realistic", "-duration", "10ms", "-json", out}, &table, io.Discard); err != nil {
		t.Fatal(err)
	}
	b, _ = os.ReadFile(out)
	for _, want := range []string{`"city": "realistic"`, `"polygon/real-street"`, `"polygon/real-community/v3-31"`, `"brute/real-street"`, `"ratio_brute_over_engine/real-street"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("realistic report lacks %s", want)
		}
	}
	if err := run(context.Background(), []string{"bench", "-city", "square"}, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "unknown kind") {
		t.Fatalf("bench -city square: %v", err)
	}
}

func TestGenKinds(t *testing.T) {
	dir := t.TempDir()
	var out strings.Builder
	if err := run(context.Background(), []string{"gen", "-n", "20000", "-kind", "disc", "-out", dir}, &out, io.Discard); err != nil ||
		!strings.Contains(out.String(), "disc city") {
		t.Fatalf("gen -kind disc: %v %s", err, out.String())
	}
	out.Reset()
	if err := run(context.Background(), []string{"gen", "-n", "20000", "-extent", "120.85,30.69,121.98,31.87", "-out", dir}, &out, io.Discard); err != nil ||
		!strings.Contains(out.String(), "realistic city") {
		t.Fatalf("gen -extent: %v %s", err, out.String())
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"gen", "-kind", "square", "-out", dir}, "unknown kind"},
		{[]string{"gen", "-kind", "disc", "-extent", "1,2,3,4", "-out", dir}, "needs -kind realistic"},
		{[]string{"gen", "-extent", "1,2,3", "-out", dir}, "want 4 comma-separated numbers"},
		{[]string{"gen", "-extent", "3,2,1,4", "-out", dir}, "west < east"},
		{[]string{"gen", "-center", "200,1", "-out", dir}, "out of range"},
	} {
		if err := run(context.Background(), c.args, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: got %v, want %q", c.args, err, c.want)
		}
	}
	var help strings.Builder
	run(context.Background(), []string{"compare", "-h"}, io.Discard, &help)
	if !strings.Contains(help.String(), "ST_Covers") || !strings.Contains(help.String(), "Example:") {
		t.Fatalf("compare -h does not teach: %s", help.String())
	}
}
