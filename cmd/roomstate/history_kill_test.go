package main

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// History and pending expiries survive SIGKILL (and a clean restart, after
// which the history is in the snapshot): answers as of past versions after
// the restart equal those before it.
func TestHistorySurvivesKill(t *testing.T) {
	if testing.Short() {
		t.Skip("real processes")
	}
	city := genCity(t, 4_000)
	csv := filepath.Join(city, "dwellings.csv")
	var ids []string
	f, _ := os.Open(csv)
	sc := bufio.NewScanner(f)
	sc.Scan()
	for sc.Scan() {
		ids = append(ids, strings.SplitN(sc.Text(), ",", 2)[0])
	}
	f.Close()
	dir := filepath.Join(t.TempDir(), "state")
	args := []string{"serve", "--data-dir", dir, "--addr", "127.0.0.1:0"}
	p := startProc(t, append(args, "--load", csv)...)
	rng := rand.New(rand.NewPCG(4, 5))
	send := func(method, path, body string) {
		t.Helper()
		req, _ := http.NewRequest(method, p.url+path, strings.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			t.Fatalf("%s %s: %d", method, path, resp.StatusCode)
		}
	}
	flags := []string{"isolated", "vaccinated", "rental", "elderly_alone"}
	var marks []string                       // versions to ask about
	expiring := map[string]map[string]bool{} // dwelling → flags set with until
	version := func() string {
		_, body := get(t, p.url+"/healthz")
		i := strings.Index(body, `"version":`)
		return strings.TrimRight(strings.SplitN(body[i+10:], ",", 2)[0], "}\n")
	}
	for i := 0; i < 400; i++ {
		id := ids[rng.IntN(len(ids))]
		switch rng.IntN(10) {
		case 0:
			send("PUT", "/api/v1/dwellings/NEW-"+fmt.Sprint(i), fmt.Sprintf(`{"lon":121.47,"lat":31.23,"building":"NB%d","grid":"G1","flags":["rental"]}`, i%7))
		case 1:
			send("DELETE", "/api/v1/dwellings/"+id, "")
			ids = removeID(ids, id)
			delete(expiring, id)
		default:
			until, fl := "", flags[rng.IntN(4)]
			if expiring[id] == nil {
				expiring[id] = map[string]bool{}
			}
			if rng.IntN(5) == 0 {
				until = fmt.Sprintf(`,"until":%q`, time.Now().Add(240*time.Hour).UTC().Format(time.RFC3339))
				expiring[id][fl] = true
			} else {
				delete(expiring[id], fl)
			}
			send("PATCH", "/api/v1/dwellings/"+id, fmt.Sprintf(`{"set":[%q]%s}`, fl, until))
		}
		if i%50 == 49 {
			marks = append(marks, version())
		}
	}
	questions := func(url string) []string {
		var out []string
		for _, v := range marks {
			for _, q := range []string{"/api/v1/units/grid?as_of=" + v, "/api/v1/legend?as_of=" + v + "&where=isolated",
				"/api/v1/units/street?as_of=" + v + "&since=" + marks[0]} {
				_, body := get(t, url+q)
				out = append(out, stripTook(body))
			}
		}
		n := 0
		for id, fl := range expiring {
			_, rec := get(t, url+"/api/v1/dwellings/"+id)
			for f := range fl {
				if !strings.Contains(rec, `"expires":{`) || !strings.Contains(rec[strings.Index(rec, `"expires"`):], `"`+f+`"`) {
					t.Errorf("%s: the expiry of %s is gone: %s", id, f, rec)
				}
				n++
			}
		}
		if n == 0 {
			t.Error("no pending expiry to check")
		}
		return out
	}
	before := questions(p.url)
	for round, stop := range []func(){p.kill, func() { p.stop(t) }} {
		stop()
		p = startProc(t, args...)
		after := questions(p.url)
		for i := range before {
			if before[i] != after[i] {
				t.Fatalf("round %d, question %d: after the restart\n%.300s\nwant\n%.300s", round, i, after[i], before[i])
			}
		}
	}
	p.stop(t)
}

func removeID(ids []string, id string) []string {
	for i, x := range ids {
		if x == id {
			return append(ids[:i], ids[i+1:]...)
		}
	}
	return ids
}

// stripTook drops the took_us member of an answer.
func stripTook(body string) string {
	i := strings.Index(body, `,"took_us":`)
	if i < 0 {
		return body
	}
	j := strings.IndexAny(body[i+11:], ",}")
	return body[:i] + body[i+11+j:]
}
