package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"maps"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/roomstate/roomstate/city"
	"github.com/roomstate/roomstate/engine"
	"github.com/roomstate/roomstate/server"
	"github.com/roomstate/roomstate/store"
)

// svgRoom is a room as a printed sheet has it.
type svgRoom struct {
	state, flags, fill string
}

// readSheet parses a printed sheet: its rooms by dwelling id (a room
// printed twice fails the test), its version and its page groups.
func readSheet(t *testing.T, b []byte) (rooms map[string]svgRoom, version uint64, pages int) {
	t.Helper()
	rooms = map[string]svgRoom{}
	dec := xml.NewDecoder(bytes.NewReader(b))
	var cur string
	for {
		tok, err := dec.Token()
		if err != nil {
			if err.Error() == "EOF" {
				break
			}
			t.Fatalf("the sheet is not XML: %v", err)
		}
		switch el := tok.(type) {
		case xml.StartElement:
			a := map[string]string{}
			for _, at := range el.Attr {
				a[at.Name.Local] = at.Value
			}
			switch {
			case el.Name.Local == "svg":
				version, _ = strconv.ParseUint(a["data-version"], 10, 64)
			case a["class"] == "page":
				pages++
			case a["class"] == "room":
				cur = a["data-id"]
				if _, dup := rooms[cur]; dup {
					t.Fatalf("dwelling %s printed twice", cur)
				}
				rooms[cur] = svgRoom{state: a["data-state"], flags: a["data-flags"]}
			case a["class"] == "mark" && cur != "":
				r := rooms[cur]
				if r.fill != "" {
					t.Fatalf("room %s has two marks", cur)
				}
				r.fill = a["fill"]
				rooms[cur] = r
			}
		case xml.EndElement:
			if el.Name.Local == "g" {
				cur = ""
			}
		}
	}
	return rooms, version, pages
}

// jsonMap is the JSON room-state answer of one building.
type jsonMap struct {
	Floors []struct {
		Rooms []struct {
			ID    string   `json:"id"`
			Flags []string `json:"flags"`
			State string   `json:"state"`
			Color string   `json:"color"`
		} `json:"rooms"`
	} `json:"floors"`
}

// sameRooms checks that the sheet holds every room of the JSON maps, in
// its state, colour and flags, and nothing else.
func sameRooms(t *testing.T, sheet map[string]svgRoom, maps []jsonMap) {
	t.Helper()
	n := 0
	for _, m := range maps {
		for _, fl := range m.Floors {
			for _, r := range fl.Rooms {
				n++
				got, ok := sheet[r.ID]
				if !ok {
					t.Fatalf("dwelling %s is not on the sheet", r.ID)
				}
				if got.state != r.State || got.fill != r.Color || got.flags != strings.Join(r.Flags, " ") {
					t.Fatalf("dwelling %s printed %+v, JSON says %s %s %v", r.ID, got, r.State, r.Color, r.Flags)
				}
			}
		}
	}
	if n != len(sheet) {
		t.Fatalf("the sheet prints %d dwellings, the JSON has %d", len(sheet), n)
	}
}

// TestPrintedMapsMatchTheJSON: a building's and a grid's printed sheet hold
// one room per dwelling in the JSON's state and colour, the JSON's
// version, as of a past version too; only analysts and above may print.
func TestPrintedMapsMatchTheJSON(t *testing.T) {
	s := startSecured(t)
	c := s.inScope[0]
	rec, err := s.eng.Dwelling(c)
	if err != nil {
		t.Fatal(err)
	}
	bu := rec.Building
	bpath := "/api/v1/buildings/" + url.PathEscape(bu) + "/roomstate"
	gpath := "/api/v1/units/grid/" + url.PathEscape(s.grid) + "/roomstate"
	check := func(q string) uint64 {
		t.Helper()
		_, jb := s.do(t, analystTok, "GET", bpath+q, nil)
		var m jsonMap
		var mv struct{ Version uint64 }
		json.Unmarshal(jb, &m)
		json.Unmarshal(jb, &mv)
		code, sb, h := s.doFile(t, analystTok, "GET", bpath+".svg"+q, "")
		if code != 200 || !strings.HasPrefix(h.Get("Content-Type"), "image/svg+xml") {
			t.Fatalf("building sheet: %d %s %.300s", code, h.Get("Content-Type"), sb)
		}
		rooms, v, pages := readSheet(t, sb)
		sameRooms(t, rooms, []jsonMap{m})
		if v != mv.Version || pages != 1 || !bytes.Contains(sb, []byte(fmt.Sprintf("版本 %d", v))) {
			t.Fatalf("building sheet: version %d on %d pages, JSON version %d", v, pages, mv.Version)
		}
		_, jb = s.do(t, analystTok, "GET", gpath+q, nil)
		var gm struct{ Buildings []jsonMap }
		json.Unmarshal(jb, &gm)
		json.Unmarshal(jb, &mv)
		code, sb, _ = s.doFile(t, analystTok, "GET", gpath+".svg"+q, "")
		if code != 200 {
			t.Fatalf("grid sheet: %d %s", code, sb)
		}
		rooms, v, _ = readSheet(t, sb)
		sameRooms(t, rooms, gm.Buildings)
		if v != mv.Version {
			t.Fatalf("grid sheet: version %d, JSON %d", v, mv.Version)
		}
		if !bytes.Contains(sb, []byte(s.grid)) || !bytes.Contains(sb, []byte(rec.Community)) {
			t.Errorf("the grid sheet's title names neither its grid nor its community")
		}
		return v
	}
	before := check("")
	if code, b := s.do(t, editorTok, "PATCH", "/api/v1/dwellings/"+url.PathEscape(c), []byte(`{"set":["isolated"],"clear":["vaccinated"]}`)); code != 200 {
		t.Fatalf("patch: %d %s", code, b)
	}
	if now := check("?scheme=default"); now != before+1 {
		t.Errorf("after a change the sheet shows version %d, want %d", now, before+1)
	}
	if past := check(fmt.Sprintf("?as_of=%d", before)); past != before {
		t.Errorf("as_of=%d shows version %d", before, past)
	}
	// in English, and refused where the JSON is
	if code, b, _ := s.doFile(t, analystTok, "GET", bpath+".svg?lang=en", ""); code != 200 || !bytes.Contains(b, []byte("Building "+bu)) {
		t.Errorf("lang=en: %d %.200s", code, b)
	}
	for _, tc := range []struct {
		tok, path string
		code      int
	}{
		{viewerTok, bpath + ".svg", 403}, {viewerTok, gpath + ".svg", 403}, {"", bpath + ".svg", 401},
		{analystTok, "/api/v1/buildings/nope/roomstate.svg", 404}, {analystTok, "/api/v1/units/planet/x/roomstate.svg", 400},
		{analystTok, bpath + ".svg?scheme=nope", 404}, {analystTok, bpath + ".svg?as_of=yesterday", 400},
	} {
		if code, b := s.do(t, tc.tok, "GET", tc.path, nil); code != tc.code || !bytes.HasPrefix(b, []byte(`{"error":`)) {
			t.Errorf("%s: %d %s, want %d", tc.path, code, b, tc.code)
		}
	}
}

// tallCity returns a small city with a building of 33 floors (the
// generator's highest) and at least 6 dwellings a floor, and that building.
func tallCity(t *testing.T) (*city.City, string) {
	for seed := uint64(1); seed < 50; seed++ {
		c := city.New(city.Config{N: 12_000, Seed: seed})
		floors, rooms := map[string]int{}, map[string]int{}
		c.Dwellings(func(r *engine.Record) error {
			floors[r.Building] = max(floors[r.Building], int(r.Floor))
			rooms[r.Building]++
			return nil
		})
		for _, b := range slices.Sorted(maps.Keys(floors)) {
			if floors[b] == 33 && rooms[b] >= 6*33 {
				return c, b
			}
		}
	}
	t.Fatal("no seed makes a 33-floor building of 6 dwellings a floor")
	return nil, ""
}

// TestPrintedMapsInChromium prints a 33-floor building's sheet and a grid's
// in headless Chromium: screenshots (kept in ROOMSTATE_SCREENSHOTS when
// set) and a PDF with one A3 page per page group.
func TestPrintedMapsInChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test: not in -short")
	}
	exe := ""
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			exe = p
			break
		}
	}
	if exe == "" {
		if os.Getenv("ROOMSTATE_E2E") == "1" {
			t.Fatal("no chromium on PATH")
		}
		t.Skip("no chromium on PATH (set ROOMSTATE_E2E=1 to make this a failure)")
	}
	cty, tall := tallCity(t)
	b, err := cty.Batch()
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Load([]*engine.Batch{b}, cty.Boundaries()); err != nil {
		t.Fatal(err)
	}
	base, stop := listen(t, st, server.Options{})
	t.Cleanup(stop)
	rec := struct{ Grid string }{}
	m, err := st.Engine().BuildingRoomState(tall, "default", engine.AsOf{})
	if err != nil {
		t.Fatal(err)
	}
	rec.Grid = m.Buildings[0].Building.Grid

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"),
		chromedp.Flag("no-proxy-server", true),
		chromedp.UserDataDir(t.TempDir()),
		// A3 at 96 dpi: 297 mm = 1123 px
		chromedp.WindowSize(1123, 1588),
	)
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	defer cancel()
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	ctx, cancel = context.WithTimeout(ctx, 120*time.Second)
	defer cancel()
	shots := os.Getenv("ROOMSTATE_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	}
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	pageRE := regexp.MustCompile(`/Type\s*/Page[^s]`)
	boxRE := regexp.MustCompile(`/MediaBox\s*\[\s*0\s+0\s+([0-9.]+)\s+([0-9.]+)\s*\]`)
	for _, sheet := range []struct{ file, path string }{
		{"roomstate-building-33-floors", "/api/v1/buildings/" + url.PathEscape(tall) + "/roomstate.svg"},
		{"roomstate-grid", "/api/v1/units/grid/" + url.PathEscape(rec.Grid) + "/roomstate.svg"},
	} {
		if err := chromedp.Do(ctx, chromedp.Navigate(base+sheet.path), chromedp.WaitReady(chromedp.CSS(`svg`))); err != nil {
			t.Fatalf("%s: %v", sheet.path, err)
		}
		info, err := chromedp.Run(ctx, chromedp.Evaluate[struct {
			Rooms, Pages int
			TitleWidth   float64
			Font         string
		}](`(() => { const s = document.querySelector('svg');
			return {rooms: document.querySelectorAll('g.room').length, pages: +s.dataset.pages,
				titleWidth: document.querySelector('text.title').getBBox().width,
				font: getComputedStyle(document.querySelector('text.title')).fontFamily}; })()`))
		if err != nil {
			t.Fatal(err)
		}
		if info.Rooms == 0 || info.TitleWidth < 40 || !strings.Contains(info.Font, "Noto Sans CJK SC") {
			t.Errorf("%s: %+v", sheet.file, info)
		}
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(shots, sheet.file+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
		pdf, err := chromedp.Run(ctx, func(ctx context.Context, tg *chromedp.Target) ([]byte, error) {
			yes := true
			r, err := cdp.Call(ctx, tg, page.PrintToPDF, page.PrintToPDFParams{PreferCSSPageSize: &yes, PrintBackground: &yes})
			return r.Data, err
		})
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(shots, sheet.file+".pdf"), pdf, 0o644)
		if n := len(pageRE.FindAll(pdf, -1)); n != info.Pages {
			t.Errorf("%s: the PDF has %d pages, the sheet %d page groups", sheet.file, n, info.Pages)
		}
		for _, mb := range boxRE.FindAllSubmatch(pdf, -1) {
			w, _ := strconv.ParseFloat(string(mb[1]), 64)
			h, _ := strconv.ParseFloat(string(mb[2]), 64)
			if w < 838 || w > 846 || h < 1186 || h > 1195 { // A3: 841.9 × 1190.6 pt
				t.Errorf("%s: a %.1f × %.1f pt page, want A3", sheet.file, w, h)
			}
		}
		t.Logf("%s: %d rooms on %d A3 pages; screenshot and PDF in %s", sheet.file, info.Rooms, info.Pages, shots)
	}
}
