package printmap

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/roomstate/roomstate/privacy"
)

// building makes a building of floors × perFloor rooms in units of two.
func building(id string, floors, perFloor int, rng *rand.Rand) Building {
	b := Building{ID: id, Detail: fmt.Sprintf("%d 户", floors*perFloor)}
	shapes := []string{"circle", "square", "triangle", "diamond", "star", "cross"}
	for f := floors; f >= 1; f-- {
		fl := Floor{Floor: f, Known: true}
		for k := 0; k < perFloor; k++ {
			s := shapes[rng.IntN(len(shapes))]
			fl.Rooms = append(fl.Rooms, Room{ID: fmt.Sprintf("%s-%d-%d", id, f, k), Unit: fmt.Sprint(k/2 + 1),
				Room: fmt.Sprintf("%d%02d", f, k+1), State: s, Color: "#123456", Shape: s})
		}
		b.Floors = append(b.Floors, fl)
	}
	return b
}

// TestPlacement: blocks lie inside their page's content area, never over
// one another, in as few pages as their area needs; a single building
// fills its page.
func TestPlacement(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	for trial := 0; trial < 50; trial++ {
		n := 2 + rng.IntN(40)
		var bs []Building
		for i := 0; i < n; i++ {
			bs = append(bs, building(fmt.Sprint("B", i), 1+rng.IntN(60), 1+rng.IntN(12), rng))
		}
		var blocks []block
		area := 0.0
		for i := range bs {
			blocks = append(blocks, layoutBlock(&bs[i], &dict[ZH]))
			area += blocks[i].w * blocks[i].h
		}
		firstTop, bottom := 50.0, PageH-footer
		pl, pages := place(blocks, firstTop, contTop, bottom)
		for i, p := range pl {
			top := contTop
			if p.page == 0 {
				top = firstTop
			}
			w, h := blocks[i].w*p.scale, blocks[i].h*p.scale
			if p.x < margin-1e-6 || p.x+w > margin+availW+1e-6 || p.y < top-1e-6 || p.y+h > bottom+1e-6 || p.page >= pages {
				t.Fatalf("trial %d: block %d (%.0f×%.0f) at page %d (%.1f, %.1f) scale %.2f: off the page", trial, i, blocks[i].w, blocks[i].h, p.page, p.x, p.y, p.scale)
			}
			for j := 0; j < i; j++ {
				q := pl[j]
				if q.page != p.page {
					continue
				}
				w2, h2 := blocks[j].w*q.scale, blocks[j].h*q.scale
				if p.x < q.x+w2 && q.x < p.x+w && p.y < q.y+h2 && q.y < p.y+h {
					t.Fatalf("trial %d: blocks %d and %d overlap", trial, i, j)
				}
			}
		}
		if per := availW * (bottom - contTop); float64(pages) > 3*area/per+2 {
			t.Errorf("trial %d: %d pages for blocks of %.1f pages' area", trial, pages, area/per)
		}
	}
	one := building("B1", 33, 8, rng)
	bl := layoutBlock(&one, &dict[ZH])
	pl, pages := place([]block{bl}, 50, contTop, PageH-footer)
	if pages != 1 || pl[0].scale < 1.3 {
		t.Errorf("a 33-floor building: %d pages at scale %.2f, want one page, enlarged", pages, pl[0].scale)
	}
}

type xmlRoom struct {
	ID    string `xml:"data-id,attr"`
	State string `xml:"data-state,attr"`
	Flags string `xml:"data-flags,attr"`
}

// TestSVG: the document parses as XML, holds one room group per dwelling
// with its state and colour, escapes what it prints, and one page group per
// page.
func TestSVG(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	sh := &Sheet{Title: `网格 <G1> & "一"`, Subtitle: "社区 梅园", Scheme: "default", Version: 1882,
		Time: time.Date(2026, 11, 27, 8, 0, 0, 0, time.FixedZone("CST", 8*3600)), Printed: time.Now(),
		Legend: []LegendEntry{{State: "isolated", Label: "居家隔离", Color: "#d7191c", Shape: "square", Count: privacy.Value{N: 2}},
			{State: "normal", Label: "常住", Color: "#bdbdbd", Shape: "circle", Count: privacy.Value{Withheld: true}}}}
	want := 0
	for i := 0; i < 12; i++ {
		b := building(fmt.Sprintf("B%02d", i), 6+rng.IntN(28), 2+rng.IntN(7), rng)
		for _, fl := range b.Floors {
			want += len(fl.Rooms)
		}
		sh.Buildings = append(sh.Buildings, b)
	}
	sh.Buildings[0].Floors[0].Rooms[0].ID = "a\"<b>&\x01"
	sh.Buildings[0].Floors[0].Rooms[0].Flags = []string{"isolated", "rental"}
	out := sh.SVG()
	dec := xml.NewDecoder(bytes.NewReader(out))
	rooms, pages, marks, legends := 0, 0, 0, 0
	var first xmlRoom
	inRoom := false
	for {
		tok, err := dec.Token()
		if err != nil {
			if err.Error() != "EOF" {
				t.Fatalf("not XML: %v", err)
			}
			break
		}
		se, ok := tok.(xml.StartElement)
		if !ok {
			if ee, ok := tok.(xml.EndElement); ok && ee.Name.Local == "g" {
				inRoom = false
			}
			continue
		}
		class := attr(se, "class")
		switch {
		case se.Name.Local == "g" && class == "room":
			rooms++
			inRoom = true
			if rooms == 1 {
				dec.DecodeElement(&first, &se)
				inRoom = false
				marks++
			}
		case se.Name.Local == "g" && class == "page":
			pages++
		case se.Name.Local == "g" && class == "legend":
			legends++
		case inRoom && class == "mark":
			if attr(se, "fill") != "#123456" {
				t.Fatalf("mark filled %q", attr(se, "fill"))
			}
			marks++
		}
	}
	if rooms != want || marks != want {
		t.Errorf("%d rooms and %d marks, want %d", rooms, marks, want)
	}
	if first.ID != "a\"<b>&\uFFFD" || first.Flags != "isolated rental" {
		t.Errorf("first room %+v", first)
	}
	if !bytes.Contains(out, []byte(fmt.Sprintf(`data-pages="%d"`, pages))) || pages < 2 {
		t.Errorf("%d page groups; root says %s", pages, out[:400])
	}
	if legends != pages { // a page handed out alone is read alone
		t.Errorf("%d legends on %d pages", legends, pages)
	}
	for _, s := range []string{`data-version="1882"`, "版本 1882", "2026-11-27 08:00:00 +08:00", "@page { size: 297mm 420mm; margin: 0 }",
		"Noto Sans CJK SC", "Microsoft YaHei", "第 1 / ", `data-count=""`, "常住 <tspan class=\"count\">—"} {
		if !bytes.Contains(out, []byte(s)) {
			t.Errorf("the sheet lacks %q", s)
		}
	}
	if strings.Contains(string(out), `<G1>`) {
		t.Error("title not escaped")
	}
}

func attr(se xml.StartElement, name string) string {
	for _, a := range se.Attr {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}
