// Package when reads the times and spans that roomstate's parameters and
// flags take, in one way everywhere: as_of, since, from, to and the audit's
// since and until; the until and expires of changes; step, stale and
// serve --history.
//
//   - A span is a decimal number and one unit, s, m, h or d (7d, 1.5h, 90s):
//     digits, optionally a point and more digits. No sign, exponent, hex,
//     underscore, NaN or Inf; one that does not fit a time.Duration (about
//     292 years) is refused, never wrapped.
//   - A time is RFC 3339's date-time: 2026-11-27T08:00:00+08:00, seconds
//     required, a fraction after a point (not a comma), Z or an offset of
//     hours 00–23 and minutes 00–59. As RFC 3339 allows, T and Z may be
//     lower case and a space may stand for the T (§5.6, NOTE). A space may
//     stand for an offset's "+" too: a query string written by hand sends
//     "+" unescaped, which reads as a space. A leap second (:60) is read as
//     the last millisecond of its minute (:59.999).
//   - A date is YYYY-MM-DD, a day of a time zone.
package when

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"
)

// MaxSpan is the longest span: the longest time.Duration, whole days.
const MaxSpan = time.Duration(math.MaxInt64) / (24 * time.Hour) * (24 * time.Hour)

// SpanForm says what a span is, for messages.
const SpanForm = "a number and s, m, h or d (e.g. 7d, 36h, 90s)"

// ErrTooLong says a span does not fit a time.Duration.
var ErrTooLong = errors.New("longer than the longest span")

var units = [256]time.Duration{'s': time.Second, 'm': time.Minute, 'h': time.Hour, 'd': 24 * time.Hour}

// Span reads a span: a decimal number and s, m, h or d. 0s is a span; the
// caller says which are too short.
func Span(s string) (time.Duration, error) {
	if len(s) < 2 || units[s[len(s)-1]] == 0 || !decimal(s[:len(s)-1]) {
		return 0, fmt.Errorf("want %s", SpanForm)
	}
	n, err := strconv.ParseFloat(s[:len(s)-1], 64)
	if err != nil {
		return 0, fmt.Errorf("want %s", SpanForm)
	}
	ns := n * float64(units[s[len(s)-1]])
	if ns >= float64(math.MaxInt64) {
		return 0, fmt.Errorf("%w, %dd", ErrTooLong, MaxSpan/(24*time.Hour))
	}
	return time.Duration(math.Round(ns)), nil
}

// decimal: digits, optionally a point and more digits.
func decimal(s string) bool {
	i := 0
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	if i == 0 {
		return false
	}
	if i == len(s) {
		return true
	}
	if s[i] != '.' || i+1 == len(s) {
		return false
	}
	for _, c := range []byte(s[i+1:]) {
		if !isDigit(c) {
			return false
		}
	}
	return true
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// num reads s[i:i+n] as a number of n digits.
func num(s string, i, n int) (int, bool) {
	if i+n > len(s) {
		return 0, false
	}
	v := 0
	for _, c := range []byte(s[i : i+n]) {
		if !isDigit(c) {
			return 0, false
		}
		v = v*10 + int(c-'0')
	}
	return v, true
}

// ErrNotTime says s is not shaped like a date-time at all (as opposed to
// one with a field out of range), so that a caller may try other forms.
var ErrNotTime = errors.New("not an RFC 3339 time")

// date reads YYYY-MM-DD at the start of s.
func date(s string) (y int, m time.Month, d int, err error) {
	y, ok1 := num(s, 0, 4)
	mm, ok2 := num(s, 5, 2)
	d, ok3 := num(s, 8, 2)
	if !ok1 || !ok2 || !ok3 || s[4] != '-' || s[7] != '-' {
		return 0, 0, 0, ErrNotTime
	}
	if mm < 1 || mm > 12 {
		return 0, 0, 0, fmt.Errorf("month %02d: want 01 to 12", mm)
	}
	if last := time.Date(y, time.Month(mm)+1, 0, 0, 0, 0, 0, time.UTC).Day(); d < 1 || d > last {
		return 0, 0, 0, fmt.Errorf("day %02d: want 01 to %02d in %04d-%02d", d, last, y, mm)
	}
	return y, time.Month(mm), d, nil
}

// Time reads an RFC 3339 date-time (see the package's comment). Its error
// is ErrNotTime when s is not shaped like one, else says what is wrong.
func Time(s string) (time.Time, error) {
	// 2026-11-27T08:00:00 and an offset
	if len(s) < 19 || s[10] != 'T' && s[10] != 't' && s[10] != ' ' {
		return time.Time{}, ErrNotTime
	}
	y, mo, d, err := date(s)
	if err != nil {
		return time.Time{}, err
	}
	hh, ok1 := num(s, 11, 2)
	mm, ok2 := num(s, 14, 2)
	ss, ok3 := num(s, 17, 2)
	if !ok1 || !ok2 || !ok3 || s[13] != ':' || s[16] != ':' {
		return time.Time{}, ErrNotTime
	}
	switch {
	case hh > 23:
		return time.Time{}, fmt.Errorf("hour %02d: want 00 to 23", hh)
	case mm > 59:
		return time.Time{}, fmt.Errorf("minute %02d: want 00 to 59", mm)
	case ss > 60:
		return time.Time{}, fmt.Errorf("second %02d: want 00 to 59 (60: a leap second)", ss)
	}
	i, ns := 19, 0
	if i < len(s) && s[i] == ',' {
		return time.Time{}, fmt.Errorf("a fraction of a second follows a point, not a comma")
	}
	if i < len(s) && s[i] == '.' {
		i++
		j := i
		for i < len(s) && isDigit(s[i]) {
			if i-j < 9 {
				ns = ns*10 + int(s[i]-'0')
			}
			i++
		}
		if i == j {
			return time.Time{}, fmt.Errorf("a point with no digits of a fraction after it")
		}
		for k := i - j; k < 9; k++ {
			ns *= 10
		}
	}
	if ss == 60 { // a leap second: the last millisecond of the minute
		ss, ns = 59, int(999*time.Millisecond)
	}
	var loc *time.Location
	switch rest := s[i:]; {
	case rest == "Z" || rest == "z":
		loc = time.UTC
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-' || rest[0] == ' ') && rest[3] == ':':
		oh, ok1 := num(rest, 1, 2)
		om, ok2 := num(rest, 4, 2)
		if !ok1 || !ok2 {
			return time.Time{}, fmt.Errorf("offset %q: want Z, or +hh:mm or -hh:mm", rest)
		}
		if oh > 23 || om > 59 {
			return time.Time{}, fmt.Errorf("offset %q: hours go from 00 to 23, minutes from 00 to 59", rest)
		}
		off := oh*3600 + om*60
		if rest[0] == '-' {
			off = -off
		}
		loc = time.FixedZone("", off)
	case rest == "":
		return time.Time{}, fmt.Errorf("no offset: end with Z or an offset such as +08:00")
	default:
		return time.Time{}, fmt.Errorf("%q after the seconds: want Z, or +hh:mm or -hh:mm", rest)
	}
	return time.Date(y, mo, d, hh, mm, ss, ns, loc), nil
}

// Day reads a date, YYYY-MM-DD, as a day of loc: its first instant and the
// next day's. Its error is ErrNotTime when s is not shaped like a date.
func Day(s string, loc *time.Location) (start, next time.Time, err error) {
	if len(s) != 10 {
		return time.Time{}, time.Time{}, ErrNotTime
	}
	y, m, d, err := date(s)
	if err != nil {
		return time.Time{}, time.Time{}, err
	}
	return time.Date(y, m, d, 0, 0, 0, 0, loc), time.Date(y, m, d+1, 0, 0, 0, 0, loc), nil
}
