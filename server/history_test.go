package server_test

import (
	"encoding/json"
	"net/url"
	"testing"
	"time"
)

// TestHistoryGoneSaysWhen: a question before the retained history is 410
// history_gone with the oldest version and its time, the same the info
// answer gives with the server's time zone.
func TestHistoryGoneSaysWhen(t *testing.T) {
	f := start(t)
	code, out, _ := do(t, "GET", f.url+"/api/v1/units/street?as_of=2000-01-01", "")
	var gone struct {
		Error struct {
			Code       string
			Oldest     uint64
			OldestTime string `json:"oldest_time"`
		}
	}
	if err := json.Unmarshal(out, &gone); err != nil || code != 410 || gone.Error.Code != "history_gone" {
		t.Fatalf("as_of 2000-01-01: %d %s", code, out)
	}
	var info struct {
		TZ      string
		History struct {
			Oldest     uint64
			OldestTime string `json:"oldest_time"`
			Changes    int
		}
	}
	code, out, _ = do(t, "GET", f.url+"/api/v1/info", "")
	if err := json.Unmarshal(out, &info); err != nil || code != 200 {
		t.Fatalf("info: %d %s", code, out)
	}
	a, err1 := time.Parse(time.RFC3339Nano, gone.Error.OldestTime)
	b, err2 := time.Parse(time.RFC3339Nano, info.History.OldestTime)
	if err1 != nil || err2 != nil || !a.Equal(b) || a.IsZero() || gone.Error.Oldest != info.History.Oldest {
		t.Fatalf("410 says oldest %d at %q; info says %d at %q", gone.Error.Oldest, gone.Error.OldestTime, info.History.Oldest, info.History.OldestTime)
	}
	if info.TZ != "Asia/Shanghai" {
		t.Fatalf("info tz %q", info.TZ)
	}
	// the oldest state is there to ask for, escaped or with the offset's
	// "+" left as is (a space once decoded)
	for _, q := range []string{url.QueryEscape(info.History.OldestTime), info.History.OldestTime} {
		if code, out, _ := do(t, "GET", f.url+"/api/v1/units/street?as_of="+q, ""); code != 200 {
			t.Fatalf("as_of the oldest time %s: %d %s", q, code, out)
		}
	}
}
