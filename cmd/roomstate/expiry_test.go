package main

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// With real time through the real binary: a flag set with until shows its
// expiry on the dwelling, clears itself within a second of that time, and
// the audit trail names the server ("system") as who cleared it.
func TestExpiryThroughTheBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("waits a few seconds")
	}
	dir := genCity(t, 2_000)
	csv := filepath.Join(dir, "dwellings.csv")
	p := startProc(t, "serve", "--load", csv, "--data-dir", t.TempDir(), "--addr", "127.0.0.1:0")
	defer p.stop(t)
	id := firstID(t, csv)
	until := time.Now().Add(2 * time.Second).UTC()
	body := `{"set":["isolated"],"until":"` + until.Format(time.RFC3339Nano) + `"}`
	req, _ := http.NewRequest("PATCH", p.url+"/api/v1/dwellings/"+id, strings.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("PATCH: %v %v", err, resp.Status)
	}
	resp.Body.Close()
	_, rec := get(t, p.url+"/api/v1/dwellings/"+id)
	var d struct {
		Flags   []string
		Expires map[string]time.Time
	}
	json.Unmarshal([]byte(rec), &d)
	if !d.Expires["isolated"].Equal(until.Truncate(time.Millisecond)) {
		t.Fatalf("expires: %s", rec)
	}
	// a past until is refused
	req, _ = http.NewRequest("PATCH", p.url+"/api/v1/dwellings/"+id, strings.NewReader(`{"set":["rental"],"until":"2020-01-01T00:00:00Z"}`))
	if resp, _ := http.DefaultClient.Do(req); resp.StatusCode != 400 {
		t.Fatalf("a past until: %d", resp.StatusCode)
	}
	for {
		_, rec = get(t, p.url+"/api/v1/dwellings/"+id)
		if !strings.Contains(rec, `"isolated"`) {
			break
		}
		if time.Now().After(until.Add(time.Second)) {
			t.Fatalf("still isolated a second after until: %s", rec)
		}
		time.Sleep(50 * time.Millisecond)
	}
	_, audit := get(t, p.url+"/api/v1/audit?dwelling="+id)
	if !strings.Contains(audit, `"name":"system"`) {
		t.Fatalf("audit: %s", audit)
	}
}
