package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// A full disk: the server's data directory is a small tmpfs. While it is
// full, changes are refused with 503 unavailable and /healthz says degraded
// with the reason; a refused change is never applied, not even after a
// restart; once space returns, changes are accepted again without a
// restart. Several rounds, each ending in a SIGKILL.
func TestFullDiskRefusesAndResumes(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	if testing.Short() {
		t.Skip("a few seconds of real processes")
	}
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs: %v: %s", err, out)
	}
	defer exec.Command("umount", "-l", mnt).Run()
	dir := genCity(t, 3_000)
	csv := filepath.Join(dir, "dwellings.csv")
	var ids []string // dwellings not isolated: each request isolates one of them
	f, _ := os.Open(csv)
	sc := bufio.NewScanner(f)
	sc.Scan()
	header := strings.Split(sc.Text(), ",")
	iso := -1
	for i, h := range header {
		if h == "isolated" {
			iso = i
		}
	}
	for sc.Scan() {
		cols := strings.Split(sc.Text(), ",")
		if cols[iso] == "0" {
			ids = append(ids, cols[0])
		}
	}
	f.Close()
	data := filepath.Join(mnt, "state")
	args := []string{"serve", "--data-dir", data, "--addr", "127.0.0.1:0"}
	p := startProc(t, append(args, "--load", csv)...)
	accepted, refused := map[string]bool{}, map[string]bool{}
	next := 0
	patch := func(url string, id string) int {
		req, _ := http.NewRequest("PATCH", url+"/api/v1/dwellings/"+id, strings.NewReader(`{"set":["isolated"]}`))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0
		}
		defer resp.Body.Close()
		if resp.StatusCode == 503 {
			var e struct {
				Error struct{ Code, Message string }
			}
			json.NewDecoder(resp.Body).Decode(&e)
			if e.Error.Code != "unavailable" || !strings.Contains(e.Error.Message, "full") || resp.Header.Get("Retry-After") == "" {
				t.Errorf("refused with %+v (Retry-After %q)", e, resp.Header.Get("Retry-After"))
			}
		}
		io.Copy(io.Discard, resp.Body)
		return resp.StatusCode
	}
	// several clients at once, so that groups share a write
	burst := func(url string, n int) {
		var mu sync.Mutex
		var wg sync.WaitGroup
		for c := 0; c < 4; c++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					mu.Lock()
					if n == 0 || next >= len(ids) {
						mu.Unlock()
						return
					}
					n--
					id := ids[next]
					next++
					mu.Unlock()
					code := patch(url, id)
					mu.Lock()
					switch code {
					case 200:
						accepted[id] = true
					case 503:
						refused[id] = true
					default:
						t.Errorf("PATCH %s: status %d", id, code)
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
	}
	filler := filepath.Join(mnt, "filler")
	fill := func() {
		fh, err := os.Create(filler)
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 4096)
		for {
			if _, err := fh.Write(buf); err != nil {
				if !errors.Is(err, syscall.ENOSPC) {
					t.Fatal(err)
				}
				break
			}
		}
		fh.Close()
	}
	for round := 0; round < 3; round++ {
		burst(p.url, 40)
		fill()
		before := len(refused)
		burst(p.url, 60)
		if len(refused) == before {
			t.Fatalf("round %d: nothing refused on a full disk", round)
		}
		if code, body := get(t, p.url+"/healthz"); code != 200 || !strings.Contains(body, `"status":"degraded"`) || !strings.Contains(body, "full") {
			t.Fatalf("round %d: healthz on a full disk: %d %s", round, code, body)
		}
		os.Remove(filler)
		ok := len(accepted)
		burst(p.url, 40) // resumes by itself
		if len(accepted) == ok {
			t.Fatalf("round %d: nothing accepted after space returned", round)
		}
		if _, body := get(t, p.url+"/healthz"); !strings.Contains(body, `"status":"ok"`) {
			t.Fatalf("round %d: still degraded: %s", round, body)
		}
		p.kill()
		p = startProc(t, args...)
		for id := range accepted {
			if _, body := get(t, p.url+"/api/v1/dwellings/"+id); !strings.Contains(body, `"isolated"`) {
				t.Fatalf("round %d: acknowledged change to %s lost: %s", round, id, body)
			}
		}
		for id := range refused {
			if _, body := get(t, p.url+"/api/v1/dwellings/"+id); strings.Contains(body, `"isolated"`) {
				t.Fatalf("round %d: refused change to %s was applied after a restart", round, id)
			}
		}
	}
	p.stop(t)
	t.Log(fmt.Sprintf("%d changes accepted, %d refused", len(accepted), len(refused)))
}
