package printmap

import (
	"bytes"
	"encoding/xml"
	"math"
	"strconv"
	"strings"
	"time"
)

// The first page's header, in millimetres from the paper's top edge.
const (
	titleY    = margin + 9
	subtitleY = titleY + 7
	legendY   = subtitleY + 9 // the first legend row's middle
	legendFS  = 3.6
	legendR   = 2.1
	legendRow = 6.5
	rightW    = 78.0 // the version block at the right of the title
	contTop   = margin + 13
)

// style is the sheet's stylesheet: A3 pages without margins for print,
// colours printed as they are, the CJK font stack.
const style = `@page { size: 297mm 420mm; margin: 0 }
svg { -webkit-print-color-adjust: exact; print-color-adjust: exact; background: #fff }
text { font-family: ` + FontStack + `; fill: #222 }
.paper { fill: #fff }
.frame { fill: none; stroke: #9e9e9e; stroke-width: .3 }
.rule { stroke: #bdbdbd; stroke-width: .3 }
.title { font-size: 8px; font-weight: 700 }
.subtitle { font-size: 3.8px; fill: #555 }
.version { font-size: 5px; font-weight: 700 }
.meta { font-size: 2.9px; fill: #555 }
.legend { font-size: 3.6px }
.legend .count { font-weight: 700 }
.foot { font-size: 2.8px; fill: #666 }
.bid { font-size: 3.8px; font-weight: 700 }
.bdetail { font-size: 2.7px; fill: #666 }
.unit { font-size: 2.4px; fill: #555 }
.fl { font-size: 2.4px; fill: #555 }
.cell { stroke: #cfcfcf; stroke-width: .15; fill-opacity: .16 }
.mark { stroke: #000; stroke-opacity: .35; stroke-width: .12 }
.rn { font-size: 2.3px }
`

// svgw writes SVG text into a buffer.
type svgw struct{ bytes.Buffer }

func (w *svgw) s(parts ...string) {
	for _, p := range parts {
		w.WriteString(p)
	}
}

// esc writes s escaped for XML text and attribute values (characters XML
// cannot hold become U+FFFD).
func (w *svgw) esc(s string) { xml.EscapeText(w, []byte(s)) }

// attr writes ` name="value"`, escaped.
func (w *svgw) attr(name, value string) {
	w.s(" ", name, `="`)
	w.esc(value)
	w.WriteByte('"')
}

// text writes <text class x y [anchor]>s</text>.
func (w *svgw) text(class string, x, y float64, anchor, s string) {
	w.s(`<text class="`, class, `" x="`, num(x), `" y="`, num(y), `"`)
	if anchor != "" {
		w.s(` text-anchor="`, anchor, `"`)
	}
	w.WriteByte('>')
	w.esc(s)
	w.s("</text>")
}

// legendItem is a legend entry placed in the header.
type legendItem struct {
	e    *LegendEntry
	x, y float64
}

// legendLayout places the legend's entries in rows from legendY.
func (s *Sheet) legendLayout() ([]legendItem, float64) {
	var out []legendItem
	x, y := margin, legendY
	for i := range s.Legend {
		e := &s.Legend[i]
		w := 2*legendR + 1.5 + textWidth(e.Label+" "+countText(e), legendFS) + 7
		if x > margin && x+w > margin+availW {
			x, y = margin, y+legendRow
		}
		out = append(out, legendItem{e: e, x: x, y: y})
		x += w
	}
	return out, y
}

func countText(e *LegendEntry) string {
	if e.Count.Withheld {
		return "—"
	}
	return strconv.FormatInt(e.Count.N, 10)
}

// SVG returns the sheet as an SVG document.
func (s *Sheet) SVG() []byte {
	wd := s.words()
	blocks := make([]block, len(s.Buildings))
	for i := range s.Buildings {
		blocks[i] = layoutBlock(&s.Buildings[i], wd)
	}
	legend, lastRow := s.legendLayout()
	ruleY := lastRow + legendRow/2 + 1
	// every page carries the header with the legend and its counts: a page
	// handed out alone is read alone
	places, pages := place(blocks, ruleY+5, ruleY+5, PageH-footer)

	var w svgw
	h := PageH * float64(pages)
	w.s(`<?xml version="1.0" encoding="UTF-8"?>`, "\n", `<svg xmlns="http://www.w3.org/2000/svg"`)
	w.attr("xml:lang", wd.xmlLang)
	w.s(` width="297mm" height="`, num(h), `mm" viewBox="0 0 `, num(PageW), " ", num(h), `"`)
	w.attr("font-family", FontStack)
	w.s(` data-version="`, strconv.FormatUint(s.Version, 10), `"`)
	if !s.Time.IsZero() {
		w.s(` data-time="`, s.Time.Format(time.RFC3339Nano), `"`)
	}
	w.s(` data-pages="`, strconv.Itoa(pages), `" data-scheme="`)
	w.esc(s.Scheme)
	w.s(`">`, "\n<title>")
	w.esc(s.Title)
	w.s("</title>\n<style>\n", style, "</style>\n")
	for p := 0; p < pages; p++ {
		top := PageH * float64(p)
		w.s(`<g class="page" data-page="`, strconv.Itoa(p+1), `" transform="translate(0 `, num(top), `)">`, "\n")
		w.s(`<rect class="paper" width="`, num(PageW), `" height="`, num(PageH), `"/>`)
		w.s(`<rect class="frame" x="`, num(frame), `" y="`, num(frame), `" width="`, num(PageW-2*frame), `" height="`, num(PageH-2*frame), `"/>`, "\n")
		title := s.Title
		if p > 0 {
			title += wd.continued
		}
		s.header(&w, wd, title, legend, ruleY)
		for i := range blocks {
			if places[i].page == p {
				s.block(&w, wd, &blocks[i], places[i])
			}
		}
		s.footer(&w, wd, p+1, pages)
		w.s("</g>\n")
	}
	w.s("</svg>\n")
	return w.Bytes()
}

// fitSize returns size, or less so that s fits in width.
func fitSize(s string, size, width float64) float64 {
	if tw := textWidth(s, size); tw > width {
		return size * width / tw
	}
	return size
}

// header writes a page's title (the sheet's, "continued" after the first
// page), subtitle, version and time, and legend.
func (s *Sheet) header(w *svgw, wd *words, title string, legend []legendItem, ruleY float64) {
	fs := fitSize(title, 8, availW-rightW)
	w.s(`<text class="title" x="`, num(margin), `" y="`, num(titleY), `" style="font-size:`, num(fs), `px">`)
	w.esc(title)
	w.s("</text>\n")
	fs = fitSize(s.Subtitle, 3.8, availW-rightW)
	w.s(`<text class="subtitle" x="`, num(margin), `" y="`, num(subtitleY), `" style="font-size:`, num(fs), `px">`)
	w.esc(s.Subtitle)
	w.s("</text>\n")
	right := margin + availW
	w.s(`<text class="version" x="`, num(right), `" y="`, num(titleY-1), `" text-anchor="end" data-version="`,
		strconv.FormatUint(s.Version, 10), `">`)
	w.esc(wd.version(s.Version))
	w.s("</text>")
	if !s.Time.IsZero() {
		w.s(`<text class="meta time" x="`, num(right), `" y="`, num(titleY+4.5), `" text-anchor="end" data-time="`,
			s.Time.Format(time.RFC3339Nano), `">`)
		w.esc(wd.stateAt + " " + fmtTime(s.Time))
		w.s("</text>")
	}
	meta := wd.scheme + " " + s.Scheme
	if !s.Printed.IsZero() {
		meta += " · " + wd.printed + " " + fmtTime(s.Printed)
	}
	w.text("meta", right, titleY+8.5, "end", meta)
	w.s("\n")
	w.s(`<g class="legend" aria-label="`)
	w.esc(wd.legendTitle)
	w.s(`">`)
	for _, it := range legend {
		e := it.e
		w.s(`<g class="entry"`)
		w.attr("data-state", e.State)
		if e.Count.Withheld {
			w.s(` data-count=""`)
		} else {
			w.s(` data-count="`, strconv.FormatInt(e.Count.N, 10), `"`)
		}
		w.s(">")
		shape(w, e.Shape, e.Color, it.x+legendR, it.y, legendR)
		tx := it.x + 2*legendR + 1.5
		w.s(`<text x="`, num(tx), `" y="`, num(it.y+legendFS*0.36), `">`)
		w.esc(e.Label)
		w.s(` <tspan class="count">`, countText(e), "</tspan></text></g>")
	}
	w.s("</g>\n")
	w.s(`<line class="rule" x1="`, num(margin), `" y1="`, num(ruleY), `" x2="`, num(margin+availW), `" y2="`, num(ruleY), `"/>`, "\n")
}

// footer writes a page's footer: what it shows, the version and time, the
// page's number.
func (s *Sheet) footer(w *svgw, wd *words, page, pages int) {
	y := PageH - frame - 3.2
	left := s.Title + " · " + wd.version(s.Version)
	if !s.Time.IsZero() {
		left += " · " + wd.stateAt + " " + fmtTime(s.Time)
	}
	w.text("foot", margin, y, "", left)
	w.text("foot", margin+availW, y, "end", wd.page(page, pages))
	w.s("\n")
}

// block writes one building where p puts it.
func (s *Sheet) block(w *svgw, wd *words, bl *block, p placement) {
	b := bl.b
	w.s(`<g class="building"`)
	w.attr("data-id", b.ID)
	w.s(` transform="translate(`, num(p.x), " ", num(p.y), `)`)
	if p.scale != 1 {
		w.s(` scale(`, strconv.FormatFloat(math.Round(p.scale*1e4)/1e4, 'f', -1, 64), `)`)
	}
	w.s(`">`, "\n")
	w.text("bid", 0, blockHead-2.3, "", b.ID)
	if b.Detail != "" {
		w.text("bdetail", textWidth(b.ID, idFS)+2, blockHead-2.3, "", b.Detail)
	}
	if bl.heads {
		for _, u := range bl.units {
			if u.name == "" {
				continue
			}
			cx := bl.floorW + u.x + float64(u.width)*bl.cellW/2
			w.text("unit", cx, blockHead+unitHead-1.2, "middle", wd.unit(u.name))
		}
	}
	cw := bl.cellW - cellGap
	ch := cellH - cellGap
	for i, fl := range b.Floors {
		y := bl.top() + float64(i)*cellH
		w.s(`<g class="floor"`)
		if fl.Known {
			w.s(` data-floor="`, strconv.Itoa(fl.Floor), `"`)
		}
		w.s(">")
		w.text("fl", bl.floorW-1.5, y+cellH/2+0.85, "end", floorLabel(fl, wd))
		k := map[string]int{} // rooms of each unit so far on this floor
		for j := range fl.Rooms {
			r := &fl.Rooms[j]
			u := bl.units[bl.unitIdx[r.Unit]]
			x := bl.floorW + u.x + float64(k[r.Unit])*bl.cellW
			k[r.Unit]++
			w.s(`<g class="room"`)
			w.attr("data-id", r.ID)
			w.attr("data-state", r.State)
			w.attr("data-flags", strings.Join(r.Flags, " "))
			w.s(` transform="translate(`, num(x), " ", num(y), `)"><title>`)
			tip := r.Room + " · " + r.ID
			if r.Unit != "" {
				tip = wd.unit(r.Unit) + " " + tip
			}
			labels := r.FlagLabels
			if labels == nil {
				labels = r.Flags
			}
			if len(labels) > 0 {
				sep := "、"
				if s.Lang == EN {
					sep = ", "
				}
				tip += " · " + strings.Join(labels, sep)
			}
			w.esc(tip)
			w.s(`</title><rect class="cell" y="`, num(cellGap/2), `" width="`, num(cw), `" height="`, num(ch), `" rx="0.6"`)
			w.attr("fill", r.Color)
			w.s("/>")
			pad := max(0, (bl.cellW-bl.content)/2) // content centred in a room wider than it
			shape(w, r.Shape, r.Color, pad+0.8+markR, cellH/2, markR)
			w.text("rn", pad+0.8+2*markR+1.2, cellH/2+0.8, "", r.Room)
			w.s("</g>")
		}
		w.s("</g>\n")
	}
	w.s("</g>\n")
}

// shape writes a mark of the scheme's shape (circle, square, triangle,
// diamond, star, cross; a circle for any other) centred at cx, cy, of
// radius r, filled with color.
func shape(w *svgw, name, color string, cx, cy, r float64) {
	pts := func(xy ...float64) {
		w.s(`<polygon class="mark" points="`)
		for i := 0; i+1 < len(xy); i += 2 {
			if i > 0 {
				w.WriteByte(' ')
			}
			w.s(num(cx+xy[i]*r), ",", num(cy+xy[i+1]*r))
		}
		w.s(`"`)
		w.attr("fill", color)
		w.s("/>")
	}
	switch name {
	case "square":
		w.s(`<rect class="mark" x="`, num(cx-0.85*r), `" y="`, num(cy-0.85*r), `" width="`, num(1.7*r), `" height="`, num(1.7*r), `"`)
		w.attr("fill", color)
		w.s("/>")
	case "triangle":
		pts(0, -1, 0.95, 0.75, -0.95, 0.75)
	case "diamond":
		pts(0, -1, 1, 0, 0, 1, -1, 0)
	case "star":
		var xy []float64
		for i := 0; i < 10; i++ {
			rr := 1.0
			if i%2 == 1 {
				rr = 0.45
			}
			a := -math.Pi/2 + float64(i)*math.Pi/5
			xy = append(xy, rr*math.Cos(a), rr*math.Sin(a)+0.08)
		}
		pts(xy...)
	case "cross":
		const a = 0.34
		pts(-a, -1, a, -1, a, -a, 1, -a, 1, a, a, a, a, 1, -a, 1, -a, a, -1, a, -1, -a, -a, -a)
	default:
		w.s(`<circle class="mark" cx="`, num(cx), `" cy="`, num(cy), `" r="`, num(r), `"`)
		w.attr("fill", color)
		w.s("/>")
	}
}
