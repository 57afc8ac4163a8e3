package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestTimeFlagsRefusedAtStart: --history and --tz values that cannot be
// meant are refused before anything is loaded, naming the flag: a span of
// NaN or past the longest (once silently the 400-day default), an empty
// zone (once silently UTC); the data directory stays empty.
func TestTimeFlagsRefusedAtStart(t *testing.T) {
	csv := filepath.Join(t.TempDir(), "d.csv")
	os.WriteFile(csv, []byte("id,lon,lat,building,isolated\na,121.5,31.2,B1,0\n"), 0o644)
	for _, c := range []struct {
		flags []string
		want  []string
	}{
		{[]string{"--history", "NaNd"}, []string{`--history "NaNd"`, "a number and s, m, h or d"}},
		{[]string{"--history", "nanh"}, []string{`--history "nanh"`}},
		{[]string{"--history", "1000000d"}, []string{`--history "1000000d"`, "106751d"}},
		{[]string{"--history", "0x1p1d"}, []string{`--history "0x1p1d"`}},
		{[]string{"--history", "0s"}, []string{`--history "0s"`, "at least 1s"}},
		{[]string{"--history", "-5d"}, []string{`--history "-5d"`}},
		{[]string{"--tz", ""}, []string{`--tz ""`, "Asia/Shanghai"}},
		{[]string{"--tz", "Mars/Olympus"}, []string{`--tz "Mars/Olympus"`}},
	} {
		data := filepath.Join(t.TempDir(), "data")
		args := append([]string{"serve", "--load", csv, "--data-dir", data, "--addr", "127.0.0.1:0"}, c.flags...)
		// a start that is not refused serves until the context ends
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := run(ctx, args, io.Discard, io.Discard)
		cancel()
		for _, w := range c.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("%v: %v, want an error saying %q", c.flags, err, w)
			}
		}
		if files, _ := os.ReadDir(data); len(files) > 0 {
			t.Errorf("%v: the refused start left %d files in the data directory", c.flags, len(files))
		}
	}
	for _, h := range []string{"400d", "1.5h", "90s", "106751d", "72h30m", "1h30m"} { // the last two: Go durations, as earlier builds took
		sf := serverFlags{history: h}
		if o, err := sf.storeOptions(); err != nil || o.Engine.History <= 0 {
			t.Errorf("--history %s: %v, %v", h, o.Engine.History, err)
		}
	}
}

// TestTZLocalByName: --tz Local is this machine's zone under its name (what
// info's tz tells clients), from TZ or /etc/localtime's link into the zone
// database or /etc/timezone; refused when it has none, never "Local".
func TestTZLocalByName(t *testing.T) {
	dir := t.TempDir()
	saved := zoneFiles
	t.Cleanup(func() { zoneFiles = saved })
	zoneFiles.localtime, zoneFiles.timezone = filepath.Join(dir, "localtime"), filepath.Join(dir, "timezone")
	loc := func(tz string) (string, error) {
		sf := serverFlags{tz: tz}
		l, err := sf.location()
		if err != nil {
			return "", err
		}
		return l.String(), nil
	}
	if _, err := time.LoadLocation("Asia/Tokyo"); err != nil {
		t.Skip("no zone database here")
	}
	t.Setenv("TZ", "Asia/Tokyo")
	if name, err := loc("Local"); err != nil || name != "Asia/Tokyo" {
		t.Errorf("--tz Local with TZ=Asia/Tokyo: %q, %v", name, err)
	}
	t.Setenv("TZ", ":Europe/Paris")
	if name, err := loc("Local"); err != nil || name != "Europe/Paris" {
		t.Errorf("--tz Local with TZ=:Europe/Paris: %q, %v", name, err)
	}
	os.Unsetenv("TZ")
	// no TZ, no files: refused, naming the flag
	if name, err := loc("Local"); err == nil || !strings.Contains(err.Error(), "--tz Local") {
		t.Errorf("--tz Local with no zone to be found: %q, %v", name, err)
	}
	// /etc/localtime a link into the zone database
	os.Symlink("/usr/share/zoneinfo/America/New_York", zoneFiles.localtime)
	if name, err := loc("Local"); err != nil || name != "America/New_York" {
		t.Errorf("--tz Local with localtime → America/New_York: %q, %v", name, err)
	}
	os.Remove(zoneFiles.localtime)
	os.WriteFile(zoneFiles.timezone, []byte("Asia/Kolkata\n"), 0o644)
	if name, err := loc("Local"); err != nil || name != "Asia/Kolkata" {
		t.Errorf("--tz Local with /etc/timezone Asia/Kolkata: %q, %v", name, err)
	}
	if name, err := loc("UTC"); err != nil || name != "UTC" {
		t.Errorf("--tz UTC: %q, %v", name, err)
	}
}
