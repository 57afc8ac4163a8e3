// Package printmap lays room-state maps (房态图) out as a printable sheet: one
// SVG document of A3 portrait pages (297 × 420 mm) stacked one under the
// other, each in a frame, the first headed by the title, what the map is of,
// and the legend with its counts; then every building as floors (top first)
// × rooms (in unit, then room order), each room in its state's colour and
// shape with its number; and on every page a footer with the version and
// time the map shows and the page's number.
//
// Why one SVG of stacked pages: an SVG document has no pages of its own, and
// one SVG per page would be many files. A CSS rule in the document, @page {
// size: 297mm 420mm; margin: 0 }, makes a browser print it on A3 sheets
// without margins; since each page group is exactly one sheet high, every
// printed sheet is one page, its frame whole (Chromium's print to PDF gives
// one A3 page per group). On screen the pages scroll one after the other.
// User units are millimetres.
//
// Each dwelling is one <g class="room" data-id="…" data-state="…"
// data-flags="…"> holding its shape (filled in its colour), so a program
// can read a printed map back; the root carries data-version and data-time.
//
// It knows nothing of HTTP, of the engine, or of who may see what: the
// caller gives it the rooms, states, colours and counts to print.
package printmap

import (
	"strconv"
	"strings"
	"time"

	"github.com/roomstate/roomstate/privacy"
)

// Lang is the language of a sheet's own words (floors, units, pages).
type Lang uint8

// The languages.
const (
	ZH Lang = iota // Chinese (the default)
	EN             // English
)

// Sheet is what one printed room-state map shows.
type Sheet struct {
	Lang     Lang
	Title    string // e.g. 楼栋 B000412 房态图
	Subtitle string // where it is, e.g. 网格 G00012 · 梅园居委会 · 陆家嘴街道
	Scheme   string // the scheme's name
	Version  uint64 // the version of the state shown
	// Time is when the state shown began (the time of its version's change);
	// zero when unknown. Printed is when the sheet was made.
	Time, Printed time.Time
	Legend        []LegendEntry // the states with their counts over the whole sheet
	Buildings     []Building
}

// LegendEntry is one state of the scheme with its count as shown.
type LegendEntry struct {
	State, Label, Color, Shape string
	Count                      privacy.Value
}

// Building is one building's floors.
type Building struct {
	ID     string
	Detail string  // printed after the id, e.g. its grid and size
	Floors []Floor // top floor first
}

// Floor is one floor's rooms.
type Floor struct {
	Floor int
	Known bool // false: rooms whose floor is not known
	Rooms []Room
}

// Room is one dwelling.
type Room struct {
	ID, Unit, Room string
	State          string
	Color, Shape   string
	Flags          []string
	FlagLabels     []string // the flags as printed in its tooltip (Flags when nil)
}

// Page geometry, in millimetres.
const (
	PageW  = 297.0 // A3 portrait
	PageH  = 420.0
	margin = 12.0
	frame  = 6.0 // the frame's inset from the paper's edge
	availW = PageW - 2*margin
	footer = 16.0 // from the bottom edge to the content's end
)

// FontStack is the font list of every text: fonts that render Chinese on
// Linux, macOS and Windows desktops, then any sans-serif.
const FontStack = `"Noto Sans CJK SC", "Source Han Sans SC", "PingFang SC", "Microsoft YaHei", "WenQuanYi Micro Hei", sans-serif`

// words are a sheet's own words.
type words struct {
	floor       func(n int) string
	unknown     string
	unit        func(u string) string
	page        func(i, n int) string
	version     func(v uint64) string
	stateAt     string
	printed     string
	scheme      string
	continued   string
	dwellings   func(n int) string
	legendTitle string
	xmlLang     string
}

var dict = [...]words{
	ZH: {
		floor:       func(n int) string { return strconv.Itoa(n) + "层" },
		unknown:     "楼层不详",
		unit:        func(u string) string { return u + "单元" },
		page:        func(i, n int) string { return "第 " + strconv.Itoa(i) + " / " + strconv.Itoa(n) + " 页" },
		version:     func(v uint64) string { return "版本 " + strconv.FormatUint(v, 10) },
		stateAt:     "数据时点",
		printed:     "打印于",
		scheme:      "图例方案",
		continued:   "（续）",
		dwellings:   func(n int) string { return strconv.Itoa(n) + " 户" },
		legendTitle: "图例",
		xmlLang:     "zh-CN",
	},
	EN: {
		floor:       func(n int) string { return "F" + strconv.Itoa(n) },
		unknown:     "floor unknown",
		unit:        func(u string) string { return "Unit " + u },
		page:        func(i, n int) string { return "Page " + strconv.Itoa(i) + " of " + strconv.Itoa(n) },
		version:     func(v uint64) string { return "Version " + strconv.FormatUint(v, 10) },
		stateAt:     "State at",
		printed:     "Printed",
		scheme:      "Scheme",
		continued:   " (continued)",
		dwellings:   func(n int) string { return strconv.Itoa(n) + " dwellings" },
		legendTitle: "Legend",
		xmlLang:     "en",
	},
}

func (s *Sheet) words() *words {
	if s.Lang == EN {
		return &dict[EN]
	}
	return &dict[ZH]
}

// textWidth estimates the width of s set in size fs (millimetres): wide
// (CJK) characters a full em, digits and Latin letters about 0.56 em.
func textWidth(s string, fs float64) float64 {
	w := 0.0
	for _, r := range s {
		switch {
		case wide(r):
			w += 1
		case r == ' ' || r == '.' || r == ',' || r == ':' || r == '·' || r == '|' || r == 'i' || r == 'l':
			w += 0.32
		case r >= 'A' && r <= 'Z' || r == 'm' || r == 'w':
			w += 0.68
		default:
			w += 0.56
		}
	}
	return w * fs
}

// wide reports whether r is set a full em wide: CJK and full-width forms.
func wide(r rune) bool {
	return r >= 0x1100 && (r <= 0x115f || r >= 0x2e80 && r <= 0xa4cf || r >= 0xac00 && r <= 0xd7a3 ||
		r >= 0xf900 && r <= 0xfaff || r >= 0xfe30 && r <= 0xfe4f || r >= 0xff00 && r <= 0xff60 ||
		r >= 0xffe0 && r <= 0xffe6 || r >= 0x20000)
}

// fmtTime writes a time for people: date, time to the second, UTC offset.
func fmtTime(t time.Time) string { return t.Format("2006-01-02 15:04:05 Z07:00") }

// num writes a length in millimetres, to a hundredth.
func num(v float64) string {
	s := strconv.FormatFloat(v, 'f', 2, 64)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	if s == "-0" || s == "" {
		return "0"
	}
	return s
}
