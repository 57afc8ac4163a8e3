package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRestartWithTheSameCommandLine: a restart script repeats its command
// line. `serve --load d.csv --boundaries b.geojson --data-dir DIR`, started
// again after a SIGKILL or a clean stop, reopens DIR: the files it holds
// already are skipped (an info line says so) and every change made since
// is kept. A file with new content is added; one whose ids DIR holds is
// refused whole, naming file, line and column, and changes nothing.
func TestRestartWithTheSameCommandLine(t *testing.T) {
	dir := genCity(t, 3_000)
	data := t.TempDir()
	csv, bounds := filepath.Join(dir, "dwellings.csv"), filepath.Join(dir, "boundaries.geojson")
	args := []string{"serve", "--load", csv, "--boundaries", bounds, "--data-dir", data, "--addr", "127.0.0.1:0"}
	p := startProc(t, args...)
	defer func() {
		if p.cmd.ProcessState == nil { // still running: a failure left it
			p.kill()
		}
	}()
	send := func(method, path, body string) {
		t.Helper()
		req, _ := http.NewRequest(method, p.url+path, strings.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 && resp.StatusCode != 201 {
			t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, b)
		}
	}
	flags := func(id string) string {
		t.Helper()
		code, body := get(t, p.url+"/api/v1/dwellings/"+id)
		if code == 404 {
			return "gone"
		}
		var d struct{ Flags []string }
		if err := json.Unmarshal([]byte(body), &d); code != 200 || err != nil {
			t.Fatalf("dwelling %s: %d %s", id, code, body)
		}
		return strings.Join(d.Flags, "+")
	}
	health := func() string { // dwellings and version
		t.Helper()
		_, body := get(t, p.url+"/healthz")
		return body
	}
	gridName := func(id string) string {
		t.Helper()
		_, body := get(t, p.url+"/api/v1/units/grid/"+id)
		var u struct{ Name string }
		json.Unmarshal([]byte(body), &u)
		return u.Name
	}
	wantSkipped := func(files ...string) {
		t.Helper()
		for _, f := range files {
			if !strings.Contains(p.stderr.String(), "file skipped") || !strings.Contains(p.stderr.String(), "file="+f) {
				t.Fatalf("no info line saying %s was skipped:\n%s", f, p.stderr.String())
			}
		}
	}
	// changes after the first start: a flag, a deletion, a new dwelling
	send("PATCH", "/api/v1/dwellings/RS-00000001", `{"set":["isolated"],"clear":["vaccinated"]}`)
	send("DELETE", "/api/v1/dwellings/RS-00000002", "")
	send("PUT", "/api/v1/dwellings/NEW-1", `{"lon":121.47,"lat":31.23,"grid":"G00001","building":"B-NEW","floor":1,"room":"101","flags":["rental"]}`)
	state := func() string {
		return flags("RS-00000001") + " " + flags("RS-00000002") + " " + flags("NEW-1") + " " + health()
	}
	want := state()
	if !strings.HasPrefix(want, "isolated gone rental ") {
		t.Fatalf("the changes did not apply: %s", want)
	}

	// the same command line after a SIGKILL, then after a clean stop
	p.kill()
	p = startProc(t, args...)
	wantSkipped(csv, bounds)
	if got := state(); got != want {
		t.Fatalf("after a SIGKILL and the same command line: %s, want %s", got, want)
	}
	send("PATCH", "/api/v1/dwellings/RS-00000003", `{"set":["elderly_alone"]}`)
	want = state() + flags("RS-00000003")
	p.stop(t)
	p = startProc(t, args...)
	wantSkipped(csv, bounds)
	if got := state() + flags("RS-00000003"); got != want {
		t.Fatalf("after a clean stop and the same command line: %s, want %s", got, want)
	}

	// a new file, and boundaries with a renamed grid, are added
	more := filepath.Join(t.TempDir(), "more.csv")
	os.WriteFile(more, []byte("id,lon,lat,grid,building,floor,room,isolated\nMORE-1,121.47,31.23,G00001,B-MORE,1,101,1\nMORE-2,121.47,31.23,G00001,B-MORE,1,102,0\n"), 0o644)
	renamed := filepath.Join(t.TempDir(), "renamed.geojson")
	os.WriteFile(renamed, []byte(`{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"level":"grid","id":"G00001","name":"一号网格"},`+
		`"geometry":{"type":"Polygon","coordinates":[[[121.46,31.22],[121.48,31.22],[121.48,31.24],[121.46,31.24],[121.46,31.22]]]}}]}`), 0o644)
	p.stop(t)
	args2 := append(append([]string{}, args...), "--load", more, "--boundaries", renamed)
	p = startProc(t, args2...)
	wantSkipped(csv)
	if got := flags("MORE-1") + " " + flags("MORE-2") + " " + flags("RS-00000001") + " " + flags("RS-00000002") + " " + gridName("G00001"); got != "isolated  isolated gone 一号网格" {
		t.Fatalf("after adding a file: %s", got)
	}
	withMore := health()
	p.kill()
	p = startProc(t, args2...)
	wantSkipped(csv, more, bounds, renamed)
	if h := health(); h != withMore || gridName("G00001") != "一号网格" {
		t.Fatalf("the same command line again: %s, want %s", h, withMore)
	}
	p.stop(t)

	// a file of new content holding an id the directory has: refused whole
	clash := filepath.Join(t.TempDir(), "clash.csv")
	os.WriteFile(clash, []byte("id,lon,lat\nCLASH-1,121.47,31.23\nMORE-2,121.47,31.23\n"), 0o644)
	var stderr bytes.Buffer
	err := run(context.Background(), append(append([]string{}, args2...), "--load", clash), io.Discard, &stderr)
	if err == nil || !strings.Contains(err.Error(), clash+`:3:1: id: duplicate id "MORE-2" (the data directory `+data+` already holds it)`) ||
		!strings.Contains(err.Error(), "to start afresh") {
		t.Fatalf("a clashing file: %v", err)
	}
	p = startProc(t, args2...)
	if h := health(); h != withMore || flags("CLASH-1") != "gone" {
		t.Fatalf("a refused load changed the directory: %s, want %s", h, withMore)
	}
	p.stop(t)
}
