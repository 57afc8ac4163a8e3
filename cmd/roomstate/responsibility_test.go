package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// acked follows one value a client keeps writing: the last acknowledged,
// and the one in flight when the server died (durable but unanswered, it
// may or may not be there).
type acked struct {
	last, inFlight string
}

// ok reports whether a value read back after a restart is one of them, and
// makes it the last acknowledged.
func (a *acked) ok(got string) bool {
	if got == a.last || a.inFlight != "" && got == a.inFlight {
		a.last, a.inFlight = got, ""
		return true
	}
	return false
}

func send(hc *http.Client, method, url, body string) (int, []byte, error) {
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	resp, err := hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b, nil
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	code, body := get(t, url)
	if code != 200 {
		t.Fatalf("GET %s: %d %s", url, code, body)
	}
	if err := json.Unmarshal([]byte(body), v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

// TestResponsibilityAndCampaignsSurviveKill runs the real binary with
// --data-dir and --assignments, has clients record visits, reassign
// buildings and make a campaign's tasks done while it is killed with
// SIGKILL at several points; after each restart (without --load or
// --assignments) every acknowledged visit, assignment and task is there.
// A bad assignments file stops the start and changes nothing.
func TestResponsibilityAndCampaignsSurviveKill(t *testing.T) {
	if testing.Short() {
		t.Skip("kill test: not in -short")
	}
	dir := genCity(t, 20_000)
	data := t.TempDir()
	// the city's first buildings and grids, and the campaign's tasks
	f, _ := os.Open(filepath.Join(dir, "dwellings.csv"))
	rows, err := csv.NewReader(f).ReadAll()
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	var buildings, grids, tasks []string
	seen := map[string]bool{}
	for _, r := range rows[1:] {
		if b := r[col["building"]]; !seen[b] && len(buildings) < 8 {
			seen[b] = true
			buildings = append(buildings, b)
		}
		if g := r[col["grid"]]; !seen[g] && len(grids) < 2 {
			seen[g] = true
			grids = append(grids, g)
		}
		if r[col["vaccinated"]] == "0" && len(tasks) < 2000 {
			tasks = append(tasks, r[col["id"]])
		}
	}
	asgFile := filepath.Join(t.TempDir(), "assignments.csv")
	os.WriteFile(asgFile, []byte(fmt.Sprintf("level,id,person,team\ngrid,%s,张三,一组\ngrid,%s,李四,二组\n", grids[0], grids[1])), 0o644)
	p := startProc(t, "serve", "--data-dir", data, "--addr", "127.0.0.1:0", "--log-level", "warn",
		"--load", filepath.Join(dir, "dwellings.csv"), "--assignments", asgFile)
	var as struct {
		Assignments []struct{ Level, ID, Person, Team string }
	}
	getJSON(t, p.url+"/api/v1/assignments", &as)
	if len(as.Assignments) != 2 || as.Assignments[0].Person == as.Assignments[1].Person || !strings.Contains("张三李四", as.Assignments[0].Person) ||
		!strings.Contains("张三李四", as.Assignments[1].Person) {
		t.Fatalf("assignments from the file: %+v", as)
	}
	hc := &http.Client{Timeout: 20 * time.Second}
	if code, body, err := send(hc, "PUT", p.url+"/api/v1/campaigns/vax", `{"label":"接种","target":"!vaccinated","goal":"vaccinated"}`); err != nil || code != 201 {
		t.Fatalf("campaign: %d %s %v", code, body, err)
	}
	var camp struct{ Total, Done int }
	getJSON(t, p.url+"/api/v1/campaigns/vax", &camp)
	total := camp.Total
	visits := make([]acked, len(buildings))
	owners := make([]acked, len(buildings))
	next := 0 // the next task to vaccinate
	var doneAcked, doneInFlight int
	args := []string{"serve", "--data-dir", data, "--addr", "127.0.0.1:0", "--log-level", "warn"}
	n := 0
	for round, runFor := range []time.Duration{400 * time.Millisecond, 1200 * time.Millisecond, 50 * time.Millisecond} {
		var wg sync.WaitGroup
		stop := make(chan struct{})
		var mu sync.Mutex
		sent := 0
		loop := func(fn func(i int) bool) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					if !fn(i) {
						return
					}
					mu.Lock()
					sent++
					mu.Unlock()
				}
			}()
		}
		url := p.url
		loop(func(i int) bool { // visits
			k := i % len(buildings)
			note := fmt.Sprintf("r%d-%d", round, i)
			visits[k].inFlight = note
			code, body, err := send(hc, "POST", url+"/api/v1/visits", fmt.Sprintf(`{"building":%q,"note":%q}`, buildings[k], note))
			if err != nil {
				return false
			}
			if code != 200 {
				t.Errorf("visit: %d %s", code, body)
				return false
			}
			visits[k].last, visits[k].inFlight = note, ""
			return true
		})
		loop(func(i int) bool { // reassignments of buildings
			k := i % len(buildings)
			person := fmt.Sprintf("P%d-%d", round, i)
			owners[k].inFlight = person
			code, body, err := send(hc, "PUT", url+"/api/v1/assignments", fmt.Sprintf(`[{"level":"building","id":%q,"person":%q}]`, buildings[k], person))
			if err != nil {
				return false
			}
			if code != 200 {
				t.Errorf("assignment: %d %s", code, body)
				return false
			}
			owners[k].last, owners[k].inFlight = person, ""
			return true
		})
		loop(func(i int) bool { // the campaign's tasks, one a request
			if next >= len(tasks) {
				return false
			}
			doneInFlight = 1
			code, body, err := send(hc, "PATCH", url+"/api/v1/dwellings/"+tasks[next], `{"set":["vaccinated"]}`)
			if err != nil {
				return false
			}
			if code != 200 {
				t.Errorf("task: %d %s", code, body)
				return false
			}
			next++
			doneAcked++
			doneInFlight = 0
			return true
		})
		time.Sleep(runFor)
		p.kill()
		close(stop)
		wg.Wait()
		n += sent
		p = startProc(t, args...)
		for k, b := range buildings {
			var rs struct {
				Building struct {
					Responsible *struct{ Person string }
					LastVisit   *struct{ Note string } `json:"last_visit"`
				}
			}
			getJSON(t, p.url+"/api/v1/buildings/"+b+"/roomstate", &rs)
			note, person := "", ""
			if v := rs.Building.LastVisit; v != nil {
				note = v.Note
			}
			if r := rs.Building.Responsible; r != nil {
				person = r.Person
			}
			if !visits[k].ok(note) {
				t.Fatalf("round %d: building %s shows visit %q; acknowledged %q, in flight %q", round, b, note, visits[k].last, visits[k].inFlight)
			}
			if owners[k].last == "" && person != owners[k].inFlight {
				owners[k].inFlight = "" // never acknowledged, and it did not make it: the grid's person
			} else if !owners[k].ok(person) {
				t.Fatalf("round %d: building %s answered by %q; acknowledged %q, in flight %q", round, b, person, owners[k].last, owners[k].inFlight)
			}
		}
		var c struct{ Total, Done, Remaining, Removed int }
		getJSON(t, p.url+"/api/v1/campaigns/vax", &c)
		switch {
		case c.Total != total || c.Total != c.Done+c.Remaining+c.Removed:
			t.Fatalf("round %d: campaign %+v, total was %d", round, c, total)
		case c.Done == camp.Done+doneAcked:
		case doneInFlight == 1 && c.Done == camp.Done+doneAcked+1:
			next++ // it made it
			doneAcked++
		default:
			t.Fatalf("round %d: %d done, %d acknowledged (in flight %d)", round, c.Done-camp.Done, doneAcked, doneInFlight)
		}
		doneInFlight = 0
		t.Logf("round %d: %d requests acknowledged before the kill, all there after the restart", round, sent)
	}
	if n < 300 {
		t.Fatalf("only %d requests acknowledged in all", n)
	}
	// the file given again replaces the rows it lists, the others stay
	p.stop(t)
	os.WriteFile(asgFile, []byte(fmt.Sprintf("level,id,person\ngrid,%s,王五\n", grids[0])), 0o644)
	p = startProc(t, append(args, "--assignments", asgFile)...)
	getJSON(t, p.url+"/api/v1/assignments?level=grid", &as)
	if len(as.Assignments) != 2 || as.Assignments[0].Person+as.Assignments[1].Person != "王五李四" && as.Assignments[0].Person+as.Assignments[1].Person != "李四王五" {
		t.Fatalf("after the file again: %+v", as)
	}
	p.stop(t)
	// a bad file: the start stops, naming the place, and nothing changes
	os.WriteFile(asgFile, []byte("level,id,person\ngrid,G1,赵六\ndistrict,D1,钱七\n"), 0o644)
	var out bytes.Buffer
	err = run(t.Context(), append(args, "--assignments", asgFile), &out, io.Discard)
	if err == nil || !strings.Contains(err.Error(), asgFile+":3:1: level") {
		t.Fatalf("a bad assignments file: %v", err)
	}
	p = startProc(t, args...)
	defer p.stop(t)
	getJSON(t, p.url+"/api/v1/assignments?level=grid", &as)
	if len(as.Assignments) != 2 {
		t.Fatalf("a refused file changed the assignments: %+v", as)
	}
}
