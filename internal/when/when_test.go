package when

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestSpan(t *testing.T) {
	for s, want := range map[string]time.Duration{
		"1s": time.Second, "90s": 90 * time.Second, "30m": 30 * time.Minute, "1.5h": 90 * time.Minute,
		"7d": 7 * 24 * time.Hour, "0s": 0, "0.001s": time.Millisecond, "400d": 400 * 24 * time.Hour,
		"106751d": 106751 * 24 * time.Hour,
	} {
		if got, err := Span(s); err != nil || got != want {
			t.Errorf("Span(%q) = %v, %v; want %v", s, got, err, want)
		}
	}
	// what strconv.ParseFloat or time.ParseDuration would take, and no span
	for _, s := range []string{"", "s", "d", "NaNs", "nans", "NaNd", "infd", "+Infs", "0x1p1s", "1e3s", "1_0s", "+5s", "-5s",
		".5h", "5.h", "1h30m", "5", "5ms", "5 d", " 5d", "5D", "1000000d", "99999999999999999999s", "106752d"} {
		if got, err := Span(s); err == nil {
			t.Errorf("Span(%q) = %v, want an error", s, got)
		}
	}
	if _, err := Span("1000000d"); err == nil || !strings.Contains(err.Error(), "106751d") {
		t.Errorf("Span(1000000d): %v, want the longest span named", err)
	}
}

func TestTime(t *testing.T) {
	cst := time.FixedZone("", 8*3600)
	for s, want := range map[string]time.Time{
		"2026-11-27T08:00:00+08:00":       time.Date(2026, 11, 27, 8, 0, 0, 0, cst),
		"2026-11-27T00:00:00Z":            time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC),
		"2026-11-27t00:00:00z":            time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC),
		"2026-11-27 00:00:00Z":            time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC),
		"2026-11-27 08:00:00 08:00":       time.Date(2026, 11, 27, 8, 0, 0, 0, cst), // "+" unescaped in a query string
		"2026-11-27T08:00:00.5+08:00":     time.Date(2026, 11, 27, 8, 0, 0, 5e8, cst),
		"2026-11-27T08:00:00.123456789Z":  time.Date(2026, 11, 27, 8, 0, 0, 123456789, time.UTC),
		"2026-11-27T08:00:00.1234567891Z": time.Date(2026, 11, 27, 8, 0, 0, 123456789, time.UTC),
		"2026-11-27T08:00:00-05:30":       time.Date(2026, 11, 27, 8, 0, 0, 0, time.FixedZone("", -(5*3600+1800))),
		"2026-11-27T08:00:00+14:30":       time.Date(2026, 11, 27, 8, 0, 0, 0, time.FixedZone("", 14*3600+1800)), // valid RFC 3339
		"2026-11-27T08:00:00+23:59":       time.Date(2026, 11, 27, 8, 0, 0, 0, time.FixedZone("", 23*3600+59*60)),
		"2016-12-31T23:59:60Z":            time.Date(2016, 12, 31, 23, 59, 59, 999e6, time.UTC), // a leap second
		"2024-02-29T00:00:00Z":            time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC),
	} {
		got, err := Time(s)
		if err != nil || !got.Equal(want) {
			t.Errorf("Time(%q) = %v, %v; want %v", s, got, err, want)
		}
	}
	for s, why := range map[string]string{
		"2026-11-27T08:00:00+24:00":  "offset",
		"2026-11-27T08:00:00+23:60":  "offset",
		"2026-11-27T08:00:00,5Z":     "comma",
		"2026-11-27T08:00:00.Z":      "point",
		"2026-11-27T24:00:00Z":       "hour",
		"2026-11-27T08:60:00Z":       "minute",
		"2026-11-27T08:00:61Z":       "second",
		"2026-02-29T08:00:00Z":       "day",
		"2026-13-01T08:00:00Z":       "month",
		"2026-11-27T08:00:00":        "offset",
		"2026-11-27T08:00:00+0800":   "after the seconds",
		"2026-11-27T08:00:00+08:00x": "after the seconds",
		"2026-11-27T08:00:00ZZ":      "after the seconds",
	} {
		if _, err := Time(s); err == nil || errors.Is(err, ErrNotTime) || !strings.Contains(err.Error(), why) {
			t.Errorf("Time(%q): %v, want an error saying %q", s, err, why)
		}
	}
	for _, s := range []string{"", "2026-11-27", "2026-11-27T08:00Z", "20261127T080000Z", "40006", "yesterday", "2026-11-27X08:00:00Z"} {
		if _, err := Time(s); !errors.Is(err, ErrNotTime) {
			t.Errorf("Time(%q): %v, want ErrNotTime", s, err)
		}
	}
}

func TestDay(t *testing.T) {
	sh := time.FixedZone("CST", 8*3600)
	start, next, err := Day("2026-11-26", sh)
	if err != nil || !start.Equal(time.Date(2026, 11, 26, 0, 0, 0, 0, sh)) || !next.Equal(time.Date(2026, 11, 27, 0, 0, 0, 0, sh)) {
		t.Fatalf("Day(2026-11-26) = %v, %v, %v", start, next, err)
	}
	if _, _, err := Day("2026-02-30", sh); err == nil || errors.Is(err, ErrNotTime) {
		t.Errorf("Day(2026-02-30): %v, want a day out of range", err)
	}
	for _, s := range []string{"20261126", "2026-11-26T00:00:00Z", "2026/11/26", ""} {
		if _, _, err := Day(s, sh); !errors.Is(err, ErrNotTime) {
			t.Errorf("Day(%q): %v, want ErrNotTime", s, err)
		}
	}
}

// FuzzTime: no input panics, and what is read as a time is one that Go's
// RFC 3339 reads alike once put in its canonical form.
func FuzzTime(f *testing.F) {
	for _, s := range []string{"2026-11-27T08:00:00+08:00", "2026-11-27t08:00:00.5z", "2026-11-27 08:00:00 08:00", "2026-11-27T08:00:00", "2026-11-27T08:00:00."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := Time(s)
		if err != nil {
			return
		}
		back, err := time.Parse(time.RFC3339Nano, got.Format(time.RFC3339Nano))
		if err != nil || !back.Equal(got) {
			t.Fatalf("Time(%q) = %v, which does not read back: %v", s, got, err)
		}
	})
}
