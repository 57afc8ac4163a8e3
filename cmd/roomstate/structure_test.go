package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A wall screen that subscribes to the change feed without since right
// after `serve --load --data-dir` starts must receive the first change made
// after it connected, not "gone" (the load once moved the engine's version
// behind the feed's back).
func TestSubscriberAfterLoadGetsTheChange(t *testing.T) {
	dir := genCity(t, 5_000)
	p := startProc(t, "serve", "--load", filepath.Join(dir, "dwellings.csv"), "--boundaries", filepath.Join(dir, "boundaries.geojson"),
		"--data-dir", t.TempDir(), "--addr", "127.0.0.1:0")
	defer p.stop(t)
	id := firstID(t, filepath.Join(dir, "dwellings.csv"))

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", p.url+"/api/v1/changes", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("changes: %d", resp.StatusCode)
	}
	events := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		var ev string
		for sc.Scan() {
			l := sc.Text()
			switch {
			case strings.HasPrefix(l, "event: "):
				ev = strings.TrimPrefix(l, "event: ")
			case strings.HasPrefix(l, "data: "):
				events <- ev + " " + strings.TrimPrefix(l, "data: ")
			}
		}
		close(events)
	}()
	time.Sleep(200 * time.Millisecond) // the stream is open before the change
	patch, _ := http.NewRequest("PATCH", p.url+"/api/v1/dwellings/"+id, strings.NewReader(`{"set": ["isolated"]}`))
	pr, err := http.DefaultClient.Do(patch)
	if err != nil {
		t.Fatal(err)
	}
	var ans struct{ Version uint64 }
	json.NewDecoder(pr.Body).Decode(&ans)
	pr.Body.Close()
	if pr.StatusCode != 200 {
		t.Fatalf("PATCH: %d", pr.StatusCode)
	}
	select {
	case ev, ok := <-events:
		if !ok || !strings.HasPrefix(ev, "change ") || !strings.Contains(ev, fmt.Sprintf(`"version":%d`, ans.Version)) ||
			!strings.Contains(ev, `"id":"`+id+`"`) || !strings.Contains(ev, `"time":"`) {
			t.Fatalf("the subscriber got %q, want the change of version %d to %s", ev, ans.Version, id)
		}
	case <-ctx.Done():
		t.Fatal("the subscriber got nothing")
	}
}

func firstID(t *testing.T, csv string) string {
	t.Helper()
	f, err := os.Open(csv)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan()
	sc.Scan()
	return strings.SplitN(sc.Text(), ",", 2)[0]
}

// `roomstate query` prints, for each polygon, the very answer of POST
// /api/v1/query/polygon for the same polygon (but took_us), groups
// included: both come from the one answer layer.
func TestQueryCommandEqualsHTTP(t *testing.T) {
	dir := genCity(t, 20_000)
	csv, bounds := filepath.Join(dir, "dwellings.csv"), filepath.Join(dir, "boundaries.geojson")
	for _, c := range []struct{ where, groupBy string }{{"isolated & !vaccinated", "grid"}, {"", "building"}, {"rental | elderly_alone", ""}} {
		args := []string{"query", "--load", csv, "--polygons", bounds}
		if c.where != "" {
			args = append(args, "--where", c.where)
		}
		if c.groupBy != "" {
			args = append(args, "--group-by", c.groupBy)
		}
		var out strings.Builder
		if err := run(context.Background(), args, &out, io.Discard); err != nil {
			t.Fatal(err)
		}
		cli := strings.Split(strings.TrimSpace(out.String()), "\n")

		p := startProc(t, "serve", "--load", csv, "--addr", "127.0.0.1:0")
		data, _ := os.ReadFile(bounds)
		var fc struct{ Features []json.RawMessage }
		if err := json.Unmarshal(data, &fc); err != nil {
			t.Fatal(err)
		}
		if len(fc.Features) != len(cli) || len(cli) < 20 {
			t.Fatalf("%d features, %d lines", len(fc.Features), len(cli))
		}
		for i, f := range fc.Features {
			body := map[string]any{"geometry": f}
			if c.where != "" {
				body["where"] = c.where
			}
			if c.groupBy != "" {
				body["group_by"] = c.groupBy
			}
			b, _ := json.Marshal(body)
			resp, err := http.Post(p.url+"/api/v1/query/polygon", "application/json", bytes.NewReader(b))
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var h, q map[string]json.RawMessage
			if err := json.Unmarshal(got, &h); err != nil {
				t.Fatalf("feature %d: %v: %s", i, err, got)
			}
			if err := json.Unmarshal([]byte(cli[i]), &q); err != nil {
				t.Fatal(err)
			}
			delete(h, "took_us")
			delete(q, "took_us")
			if string(q["feature"]) != fmt.Sprint(i) {
				t.Fatalf("line %d is feature %s", i, q["feature"])
			}
			delete(q, "feature")
			delete(q, "properties")
			hb, _ := json.Marshal(h)
			qb, _ := json.Marshal(q)
			if !bytes.Equal(hb, qb) {
				t.Fatalf("where %q group_by %q feature %d: HTTP %.300s\nquery %.300s", c.where, c.groupBy, i, hb, qb)
			}
		}
		p.stop(t)
	}
}
