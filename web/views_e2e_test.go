package web_test

import (
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/roomstate/roomstate/tiles"
)

// progress is a campaign's or a unit's figures as the API gives them
// (null: withheld from a viewer, or no rate or date).
type progress struct {
	Total, Done, Remaining, Removed *int64
	Rate                            *float64 `json:"rate_7d"`
	ETA                             *string
}

type campaignUnit struct {
	Level, ID, Name string
	progress
}

// campaignAnswer is GET /api/v1/campaigns/{name}?level=….
type campaignAnswer struct {
	Name, Label, Created string
	Deadline             *string
	progress
	Days []struct {
		Date            string
		Done, DoneToday *int64
	}
	Level string
	Units []campaignUnit
}

// coverageUnit is a unit of GET /api/v1/responsibility.
type coverageUnit struct {
	Level, ID, Name                        string
	Buildings, Assigned, Unassigned, Stale *int64
	MatchedUnassigned                      *int64 `json:"matched_unassigned"`
}

// personWork is GET /api/v1/persons/{person}.
type personWork struct {
	Person    string
	Units     []struct{ Level, ID, Team, Phone string }
	Buildings []struct {
		ID             string
		Total, Matched *int64
		Level, Unit    string
	}
	Total, Matched *int64
}

// commas writes n as the dashboard does (toLocaleString, zh-CN and en-US
// alike): 12,345.
func commas(s string) string {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	intPart, frac, _ := strings.Cut(s, ".")
	var b strings.Builder
	for i, c := range intPart {
		if i > 0 && (len(intPart)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	out := b.String()
	if frac != "" {
		out += "." + frac
	}
	if neg {
		out = "-" + out
	}
	return out
}

// countText is how the dashboard shows a count: withheld, "—".
func countText(v *int64) string {
	if v == nil {
		return "—"
	}
	return commas(strconv.FormatInt(*v, 10))
}

// texts are a campaign's or unit's figures as the panel should show them.
func (p *progress) texts(lang string) map[string]string {
	rate := "—"
	if p.Rate != nil {
		rate = commas(strconv.FormatFloat(math.Round(*p.Rate*10)/10, 'f', -1, 64))
	}
	eta := "—"
	switch {
	case p.ETA != nil:
		eta = *p.ETA
	case p.Remaining != nil && *p.Remaining == 0:
		eta = map[string]string{"zh": "已完成", "en": "done"}[lang]
	}
	return map[string]string{"total": countText(p.Total), "done": countText(p.Done), "remaining": countText(p.Remaining),
		"rate_7d": rate, "eta": eta}
}

// rank sorts rows as the panels do: by key's value, most first, a withheld
// one (from 1 to k−1) counting as ½, then by the next keys, then by id.
func rank[T any](rows []T, id func(*T) string, keys ...func(*T) *int64) {
	val := func(v *int64) float64 {
		if v == nil {
			return 0.5
		}
		return float64(*v)
	}
	slices.SortStableFunc(rows, func(a, b T) int {
		for _, k := range keys {
			if d := val(k(&b)) - val(k(&a)); d != 0 {
				return int(math.Copysign(1, d))
			}
		}
		return strings.Compare(id(&a), id(&b))
	})
}

// campaignRows are the rows the campaign panel should show for the units of
// c under the unit whose children are kids (nil: all), in its order.
func campaignRows(c *campaignAnswer, kids map[string]bool, lang string) []map[string]string {
	var us []campaignUnit
	for _, u := range c.Units {
		if kids == nil || kids[u.ID] {
			us = append(us, u)
		}
	}
	rank(us, func(u *campaignUnit) string { return u.ID },
		func(u *campaignUnit) *int64 { return u.Remaining }, func(u *campaignUnit) *int64 { return u.Total })
	var out []map[string]string
	for _, u := range us {
		m := u.texts(lang)
		m["id"] = u.ID
		out = append(out, m)
	}
	return out
}

// coverageRows are the rows the coverage table should show.
func coverageRows(us []coverageUnit, kids map[string]bool) []map[string]string {
	var rows []coverageUnit
	for _, u := range us {
		if kids == nil || kids[u.ID] {
			rows = append(rows, u)
		}
	}
	rank(rows, func(u *coverageUnit) string { return u.ID }, func(u *coverageUnit) *int64 { return u.MatchedUnassigned },
		func(u *coverageUnit) *int64 { return u.Unassigned }, func(u *coverageUnit) *int64 { return u.Stale })
	var out []map[string]string
	for _, u := range rows {
		out = append(out, map[string]string{"id": u.ID, "buildings": countText(u.Buildings), "assigned": countText(u.Assigned),
			"unassigned": countText(u.Unassigned), "matched_unassigned": countText(u.MatchedUnassigned), "stale": countText(u.Stale)})
	}
	return out
}

// children are the ids of the units one level below a unit.
func children(t *testing.T, s server, level, id string) map[string]bool {
	t.Helper()
	var u struct{ Children []struct{ ID string } }
	s.json(t, "GET", "/api/v1/units/"+level+"/"+url.PathEscape(id), "", &u)
	out := map[string]bool{}
	for _, c := range u.Children {
		out[c.ID] = true
	}
	return out
}

// until polls check (which says what differs, or "" when nothing does)
// until it passes, and fails the test with the last difference after within.
func (p *page) until(what string, within time.Duration, check func() string) {
	p.t.Helper()
	deadline := time.Now().Add(within)
	for {
		diff := check()
		if diff == "" {
			return
		}
		if time.Now().After(deadline) {
			p.reqs.check(p.t)
			p.t.Fatalf("%s: not within %v: %s", what, within, diff)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// table reads the rows of a panel's table: each row's id and its cells by
// data-k.
func (p *page) table(sel string) []map[string]string {
	p.t.Helper()
	return eval[[]map[string]string](p, fmt.Sprintf(`__v.table(%q)`, sel))
}

// same says how got and want differ, or "".
func same(got, want any) string {
	g, _ := json.Marshal(got)
	w, _ := json.Marshal(want)
	if string(g) == string(w) {
		return ""
	}
	return fmt.Sprintf("the page shows\n  %s\nthe API says\n  %s", g, w)
}

// viewHelpers are the checks' JavaScript for the views, defined in the page
// beside pageHelpers.
const viewHelpers = `
window.__v = {
  table: (sel) => [...document.querySelectorAll(sel + ' tbody tr')].map((tr) => ({id: tr.dataset.id,
    ...Object.fromEntries([...tr.querySelectorAll('td[data-k]')].map((td) => [td.dataset.k, td.textContent]))})),
  row: (sel, id) => [...document.querySelectorAll(sel + ' tbody tr')].find((r) => r.dataset.id === id),
  kpis: (sel) => Object.fromEntries([...document.querySelectorAll(sel + ' .kpi')].map((k) => [k.dataset.k, k.querySelector('.v').textContent])),
  tiles: () => { const s = __roomstateMap.getSource('rs'); return s && s.tiles ? s.tiles[0] : ''; }, // '' until MapLibre read the source (see e2e_test.go)
  // the building's feature as the map draws it: its tile's colour and state,
  // and what live changes set (feature-state)
  feature: (fid) => { const m = __roomstateMap;
    const f = m.queryRenderedFeatures({layers: ['buildings']}).find((f) => f.id === fid);
    if (!f) return null;
    const s = m.getFeatureState({source: 'rs', sourceLayer: 'buildings', id: fid}) || {};
    return {color: f.properties.color, state: f.properties.state, person: f.properties.person || '',
      liveColor: s.color || '', liveState: s.state || ''}; },
  // the burn-down chart: uPlot's series and how much of its canvas is drawn
  chart: () => { const u = __roomstateBurndown.plot; if (!u) return null;
    const c = u.ctx.canvas, d = u.ctx.getImageData(0, 0, c.width, c.height).data;
    let drawn = 0; for (let i = 3; i < d.length; i += 4) if (d[i] !== 0) drawn++;
    return {series: u.series.length, points: u.data[0].length, drawn}; },
  persons: () => [...document.querySelectorAll('#persons li[data-person]')].map((li) => ({person: li.dataset.person,
    color: li.dataset.color || '', n: li.querySelector('.n').textContent, title: li.title})),
  click: (el) => { if (!el) return false; el.click(); return true; },
  // right: room on the right kept free (for the room-state panel)
  center: (lon, lat, zoom, right) => { __roomstateMap.jumpTo({center: [lon, lat], zoom, padding: {right: right || 0}}); return true; },
  idle: () => __roomstateMap.loaded() && !__roomstateMap.isMoving(),
  text: (sel) => { const e = document.querySelector(sel); return e ? e.textContent : ''; },
};
true`

// taskBuilding is a building holding tasks of the campaign, and those tasks.
type taskBuilding struct {
	id, street, community, grid string
	fid                         uint64
	lon, lat                    float64
	tasks                       []string // dwellings matching the target
}

// taskBuildings lists buildings holding dwellings of where, with those
// dwellings, until fn returns true.
func taskBuildings(t *testing.T, s server, where string, fn func(b *taskBuilding) bool) {
	t.Helper()
	var grid struct {
		Cells []struct {
			ID      string
			Matched *int64
		}
	}
	s.json(t, "POST", "/api/v1/query/grid", fmt.Sprintf(`{"level": "building", "where": %q}`, where), &grid)
	for _, c := range grid.Cells {
		if c.Matched == nil || *c.Matched == 0 {
			continue
		}
		var m struct {
			Building struct {
				ID, Street, Community, Grid string
				FeatureID                   uint64 `json:"feature_id"`
				Lon, Lat                    float64
			}
			Floors []struct {
				Rooms []struct {
					ID    string
					Flags []string
				}
			}
		}
		s.json(t, "GET", "/api/v1/buildings/"+url.PathEscape(c.ID)+"/roomstate", "", &m)
		b := &taskBuilding{id: m.Building.ID, street: m.Building.Street, community: m.Building.Community, grid: m.Building.Grid,
			fid: m.Building.FeatureID, lon: m.Building.Lon, lat: m.Building.Lat}
		for _, f := range m.Floors {
			for _, r := range f.Rooms {
				if slices.Contains(r.Flags, "elderly_alone") && !slices.Contains(r.Flags, "vaccinated") {
					b.tasks = append(b.tasks, r.ID)
				}
			}
		}
		if fn(b) {
			return
		}
	}
	t.Fatalf("no building suits the test")
}

// rgb writes a colour #rrggbb as CSS reads it back: rgb(r, g, b).
func rgb(hex string) string {
	v, _ := strconv.ParseUint(strings.TrimPrefix(hex, "#"), 16, 32)
	return fmt.Sprintf("rgb(%d, %d, %d)", v>>16, v>>8&0xff, v&0xff)
}

// screenshots is where the tests' screenshots go: ROOMSTATE_SCREENSHOTS or
// the test's temporary directory.
func screenshots(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("ROOMSTATE_SCREENSHOTS")
	if dir == "" {
		dir = t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// The campaign's task set and goal, as the tests start it.
const (
	campaignTarget = "elderly_alone & !vaccinated"
	campaignGoal   = "vaccinated"
)

// TestDashboardCampaignAndResponsibility drives the campaign panel and the
// responsibility view in headless Chromium against the binary alone, on a
// city of three streets set up through the API: assignments at the street,
// community, grid and building levels, a campaign with some progress, and a
// visit. The campaign panel shows the city's figures and the streets (then a
// street's communities) exactly as the API gives them, ranked by remaining,
// with a burn-down chart; the map asks for the campaign's tiles, and a PATCH
// completing a building's tasks recolours it and moves the figures live.
// The responsibility view asks for the tiles by person, shows coverage per
// unit as the API does, the persons in view in their tiles' colours, a
// person's workload on a click, unassigned buildings grey, and a
// reassignment recolours a building live. The room-state panel names who
// answers for a building, through which assignment, and its last visit.
func TestDashboardCampaignAndResponsibility(t *testing.T) {
	exe := chromium()
	need(t, exe != "", "no chromium on PATH (Debian: apt-get install chromium)")
	dir, bin := loneBinary(t)
	base := serveLone(t, dir, bin, 80_000)
	srv := server{url: base}

	// the city's streets: the first answered for as a whole; in the second
	// a community, one of its grids and one of that grid's buildings; the
	// rest unassigned
	var streets struct{ Units []struct{ ID string } }
	srv.json(t, "GET", "/api/v1/units/street", "", &streets)
	if len(streets.Units) < 3 {
		t.Fatalf("the city has %d streets, the test wants 3", len(streets.Units))
	}
	s0, s1, s2 := streets.Units[0].ID, streets.Units[1].ID, streets.Units[2].ID
	var bz, bu, ba *taskBuilding // 赵六's building (and its grid 张三's), one nobody answers for, one to complete live
	taskBuildings(t, srv, campaignTarget, func(b *taskBuilding) bool {
		switch {
		case b.street == s1 && bz == nil:
			bz = b
		case b.street == s2 && bu == nil:
			bu = b
		case b.street == s2 && ba == nil && len(b.tasks) >= 2 && len(b.tasks) <= 4 && b.id != bu.id:
			ba = b
		}
		return bz != nil && bu != nil && ba != nil
	})
	c1, g1 := bz.community, bz.grid
	srv.json(t, "PUT", "/api/v1/assignments", fmt.Sprintf(`[
		{"level": "street", "id": %q, "person": "王芳", "team": "街道办", "phone": "13800000001"},
		{"level": "community", "id": %q, "person": "李强", "team": "居委会", "phone": "13800000002"},
		{"level": "grid", "id": %q, "person": "张三", "team": "第一网格", "phone": "13800000003"},
		{"level": "building", "id": %q, "person": "赵六", "team": "楼组长", "phone": "13800000004"}]`, s0, c1, g1, bz.id), nil)
	var started campaignAnswer
	srv.json(t, "PUT", "/api/v1/campaigns/vax", `{"label": "独居老人疫苗接种", "target": "`+campaignTarget+`", "goal": "`+campaignGoal+`"}`, &started)
	created, err := time.Parse(time.RFC3339, started.Created)
	if err != nil {
		t.Fatal(err)
	}
	deadline := created.AddDate(0, 0, 14).Format("2006-01-02")
	srv.json(t, "PUT", "/api/v1/campaigns/vax", `{"label": "独居老人疫苗接种", "target": "`+campaignTarget+`", "goal": "`+campaignGoal+`", "deadline": "`+deadline+`"}`, nil)
	// some progress: the tasks of a few buildings of the first street done
	done := 0
	taskBuildings(t, srv, campaignTarget, func(b *taskBuilding) bool {
		if b.street != s0 {
			return false
		}
		for _, id := range b.tasks {
			srv.json(t, "PATCH", "/api/v1/dwellings/"+url.PathEscape(id), `{"set": ["vaccinated"]}`, nil)
			done++
		}
		return done >= 8
	})
	srv.json(t, "POST", "/api/v1/visits", fmt.Sprintf(`{"building": %q, "note": "扫楼"}`, bz.id), nil)
	t.Logf("streets %s (王芳), %s (community %s 李强, grid %s 张三, building %s 赵六), %s; %d tasks done; building %s to complete live",
		s0, s1, c1, g1, bz.id, s2, done, ba.id)

	reqs := newRequestLog(base)
	p := &page{t: t, ctx: openBrowser(t, exe, reqs), reqs: reqs, shots: screenshots(t)}
	p.do(chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS(`body[data-ready="1"]`)))
	eval[bool](p, pageHelpers)
	eval[bool](p, viewHelpers)

	// --- the campaign panel ---
	p.click(`#views button[data-view="campaign"]`)
	p.poll("campaign tiles", `__v.tiles().includes('campaign=vax')`, 5*time.Second)
	tilesAsked := func(param string) {
		t.Helper()
		p.poll("the map asks for tiles with "+param, fmt.Sprintf(`__roomstateTileRequests.some((u) => u.includes('/tiles/') && u.includes(%q))`, param), 20*time.Second)
	}
	tilesAsked("campaign=vax")
	checkCampaign := func(lang string, kids map[string]bool, level string) {
		t.Helper()
		p.until("campaign panel = API", 5*time.Second, func() string {
			var c campaignAnswer
			srv.json(t, "GET", "/api/v1/campaigns/vax?level="+level, "", &c)
			if d := same(eval[map[string]string](p, `__v.kpis('#campaign-kpis')`), c.texts(lang)); d != "" {
				return "figures: " + d
			}
			return same(p.table("#campaign-units"), campaignRows(&c, kids, lang))
		})
	}
	checkCampaign("zh", nil, "street")
	p.poll("burn-down drawn", `(() => { const c = __v.chart(); return c !== null && c.series === 4 && c.drawn > 1500; })()`, 5*time.Second)
	if got := eval[string](p, `__v.text('#campaign-rank')`); got != "街道排名（按剩余任务量）" {
		t.Errorf("the ranking's title is %q", got)
	}
	checkBurndownSeries(p)

	// a building of the third street with all its tasks remaining: done live
	eval[bool](p, fmt.Sprintf(`__v.center(%v, %v, 17)`, ba.lon, ba.lat))
	p.poll("building rendered in the campaign's colours", fmt.Sprintf(`__v.idle() && (() => { const f = __v.feature(%d);
		return f !== null && f.state === 'remaining' && f.color === %q; })()`, ba.fid, tiles.ColorRemaining), 20*time.Second)
	before := eval[map[string]string](p, `__v.kpis('#campaign-kpis')`)["done"]
	var batch strings.Builder
	for _, id := range ba.tasks {
		fmt.Fprintf(&batch, "{\"id\": %q, \"set\": [\"vaccinated\"]}\n", id)
	}
	srv.json(t, "POST", "/api/v1/updates", batch.String(), nil)
	changed := time.Now()
	p.poll("building recoloured done", fmt.Sprintf(`(() => { const f = __v.feature(%d);
		return f !== null && f.liveState === 'done' && f.liveColor === %q; })()`, ba.fid, tiles.ColorDone), 2*time.Second)
	t.Logf("building recoloured %v after the batch answered", time.Since(changed).Round(time.Millisecond))
	p.poll("figures updated", fmt.Sprintf(`__v.kpis('#campaign-kpis').done !== %q`, before), 3*time.Second)
	checkCampaign("zh", nil, "street")

	// down to the third street's communities
	p.poll("street row", fmt.Sprintf(`__v.click(__v.row('#campaign-units', %q))`, s2), 5*time.Second)
	checkCampaign("zh", children(t, srv, "street", s2), "community")
	if got := eval[string](p, `__v.text('#campaign-crumbs')`); !strings.Contains(got, s2) {
		t.Errorf("the drill-down's path reads %q", got)
	}
	if eval[string](p, fmt.Sprintf(`__v.row('#campaign-units', %q).querySelector('[data-k="remaining"]').textContent`, ba.community)) == "" {
		t.Errorf("the community of the building done live is not listed")
	}
	p.click(`#campaign-crumbs a:first-child`)
	checkCampaign("zh", nil, "street")
	var info struct{ Bounds []float64 }
	srv.json(t, "GET", "/api/v1/info", "", &info)
	fitCity := fmt.Sprintf(`__roomstateMap.fitBounds([[%v, %v], [%v, %v]], {padding: 20, duration: 0}); true`, info.Bounds[0], info.Bounds[1], info.Bounds[2], info.Bounds[3])
	eval[bool](p, fitCity)
	p.poll("city rendered", `__v.idle() && __roomstateMap.areTilesLoaded()`, 20*time.Second)
	p.shot("dashboard-campaign-zh.png")

	// in English
	p.click(`#lang`)
	p.poll("English campaign panel", `document.querySelector('#campaign-kpis [data-k="total"] .k').textContent === 'Tasks' &&
		document.querySelector('#views button[data-view="campaign"]').textContent === 'Campaigns'`, 2*time.Second)
	checkCampaign("en", nil, "street")
	p.poll("burn-down drawn", `(() => { const c = __v.chart(); return c !== null && c.drawn > 1500; })()`, 5*time.Second)
	p.shot("dashboard-campaign-en.png")
	p.click(`#lang`)
	p.poll("Chinese again", `document.querySelector('#campaign-kpis [data-k="total"] .k').textContent === '任务总量'`, 2*time.Second)

	// --- the responsibility view ---
	p.click(`#views button[data-view="responsibility"]`)
	p.poll("tiles by person", `__v.tiles().includes('view=responsibility') && !__v.tiles().includes('campaign=')`, 5*time.Second)
	tilesAsked("view=responsibility")
	checkCoverage := func(level string, kids map[string]bool) {
		t.Helper()
		p.until("coverage = API", 5*time.Second, func() string {
			var r struct{ Units []coverageUnit }
			srv.json(t, "GET", "/api/v1/responsibility?stale=7d&level="+level, "", &r)
			return same(p.table("#coverage"), coverageRows(r.Units, kids))
		})
	}
	checkCoverage("street", nil)
	p.poll("street row", fmt.Sprintf(`__v.click(__v.row('#coverage', %q))`, s1), 5*time.Second)
	checkCoverage("community", children(t, srv, "street", s1))

	// around 赵六's building: the persons in view in their tiles' colours
	eval[bool](p, fmt.Sprintf(`__v.center(%v, %v, 16)`, bz.lon, bz.lat))
	p.poll("赵六's building rendered", fmt.Sprintf(`__v.idle() && (() => { const f = __v.feature(%d);
		return f !== null && f.person === '赵六'; })()`, bz.fid), 20*time.Second)
	if f := eval[map[string]string](p, fmt.Sprintf(`__v.feature(%d)`, bz.fid)); f["color"] != tiles.PersonColor("赵六") || f["state"] != "assigned" {
		t.Errorf("赵六's building is drawn %v, want state assigned in %s", f, tiles.PersonColor("赵六"))
	}
	type personRow struct{ Person, Color, N, Title string }
	p.until("persons in view", 5*time.Second, func() string {
		ps := eval[[]personRow](p, `__v.persons()`)
		var names []string
		for _, r := range ps {
			names = append(names, r.Person)
			if r.Person != "" && r.Color != tiles.PersonColor(r.Person) {
				return fmt.Sprintf("%s listed in %s, the tiles' colour is %s", r.Person, r.Color, tiles.PersonColor(r.Person))
			}
		}
		if !slices.Contains(names, "赵六") || !slices.Contains(names, "张三") || !slices.Contains(names, "") {
			return fmt.Sprintf("listed: %q; want 赵六, 张三 and the unassigned", names)
		}
		return ""
	})

	eval[bool](p, fmt.Sprintf(`__v.center(%v, %v, 15)`, bz.lon, bz.lat))
	p.poll("rendered", `__v.idle() && __roomstateMap.areTilesLoaded()`, 20*time.Second)
	p.shot("dashboard-responsibility-zh.png")
	// the most lines a unit's name takes in the coverage table
	const nameLines = `Math.max(...[...document.querySelectorAll('#coverage tbody td:first-child')].map((td) => {
		const r = document.createRange(); r.selectNodeContents(td); return new Set([...r.getClientRects()].map((b) => Math.round(b.top))).size; }))`
	zhLines := eval[int](p, nameLines)

	// in English: the panel's labels in English, none of its Chinese ones
	// left (names of persons, teams and units are data, in Chinese in both),
	// the same coverage and persons, and the longer column heads leave the
	// units' names as much room as in Chinese
	p.click(`#lang`)
	p.poll("English responsibility panel", `document.querySelector('#views button[data-view="responsibility"]').textContent === 'Responsibility' &&
		document.querySelector('[data-pane="responsibility"] h2[data-i18n="coverage"]').textContent === 'Coverage'`, 2*time.Second)
	checkCoverage("community", children(t, srv, "street", s1))
	p.until("English labels", 5*time.Second, func() string {
		got := eval[map[string]string](p, `(() => {
			const q = (s) => { const e = document.querySelector(s); return e ? e.textContent : null; };
			const pane = '[data-pane="responsibility"] ';
			return {tab: q('#views button[data-view="responsibility"]'), persons: q(pane + 'h2[data-i18n="persons"]'),
				coverage: q(pane + 'h2[data-i18n="coverage"]'), heads: [...document.querySelectorAll('#coverage thead th')].map((th) => th.textContent).join('|'),
				muTitle: document.getElementById('coverage-mu').title, stale: q('label[for="stale"]'),
				staleChosen: document.querySelector('#stale').selectedOptions[0].textContent, city: q('#coverage-crumbs a:first-child'),
				unassigned: q('#persons li.unassigned .name'), unassignedN: q('#persons li.unassigned .n'),
				caption: q('#persons-caption')}; })()`)
		want := map[string]string{"tab": "Responsibility", "persons": "Responsible persons", "coverage": "Coverage",
			"heads": "Unit|Buildings|Assigned|Unassigned|Dwellings unassigned|Not visited", "muTitle": "Dwellings in unassigned buildings",
			"stale": "Visited within", "staleChosen": "7 days", "city": "City", "unassigned": "Unassigned"}
		for k, v := range want {
			if got[k] != v {
				return fmt.Sprintf("%s reads %q, want %q", k, got[k], v)
			}
		}
		if !regexp.MustCompile(`^\d+ bldg$`).MatchString(got["unassignedN"]) || !regexp.MustCompile(`^\d+ buildings in view, \d+ persons$`).MatchString(got["caption"]) {
			return fmt.Sprintf("the unassigned buildings read %q, the persons' caption %q", got["unassignedN"], got["caption"])
		}
		return ""
	})
	// every label of the panel (the tabs, headings, column heads, captions,
	// the period's choices, the path's first step, each person's count, the
	// unassigned row) without a Chinese character
	if zh := eval[[]string](p, `[...document.querySelectorAll('#views button, [data-pane="responsibility"] :is(h2:not(#person-name), th, label, .caption, option, #coverage-crumbs a:first-child, #persons .n, #persons li.unassigned .name, #persons li.more), #coverage-mu')]
		.flatMap((e) => [e.textContent, e.title || '']).filter((s) => /[\u3400-\u9fff]/.test(s))`); len(zh) > 0 {
		t.Errorf("Chinese labels in the English responsibility panel: %q", zh)
	}
	p.until("persons in view, in English", 5*time.Second, func() string {
		for _, r := range eval[[]personRow](p, `__v.persons()`) {
			if r.Person == "赵六" && !regexp.MustCompile(`^\d+ bldg$`).MatchString(r.N) {
				return fmt.Sprintf("赵六's buildings read %q", r.N)
			}
		}
		return ""
	})
	if en := eval[int](p, nameLines); en > zhLines {
		t.Errorf("units' names take up to %d lines in the English coverage table, %d in Chinese", en, zhLines)
	}
	p.poll("rendered", `__v.idle() && __roomstateMap.areTilesLoaded()`, 20*time.Second)
	p.shot("dashboard-responsibility-en.png")
	p.click(`#lang`)
	p.poll("Chinese again", `document.querySelector('[data-pane="responsibility"] h2[data-i18n="coverage"]').textContent === '包干覆盖'`, 2*time.Second)

	// 张三's workload
	p.poll("张三 clickable", `__v.click(document.querySelector('#persons li[data-person="张三"]'))`, 2*time.Second)
	var zhang personWork
	srv.json(t, "GET", "/api/v1/persons/"+url.PathEscape("张三"), "", &zhang)
	p.until("workload = API", 5*time.Second, func() string {
		if eval[bool](p, `document.getElementById('person-card').hidden`) {
			return "no workload shown"
		}
		want := map[string]string{"buildings": countText(ptr(int64(len(zhang.Buildings)))), "total": countText(zhang.Total)}
		if d := same(eval[map[string]string](p, `__v.kpis('#person-kpis')`), want); d != "" {
			return d
		}
		var rows []map[string]string
		for _, b := range zhang.Buildings {
			rows = append(rows, map[string]string{"id": b.ID, "total": countText(b.Total), "matched": countText(b.Matched), "via": "网格 " + b.Unit})
		}
		return same(p.table("#person-buildings"), rows)
	})
	if got := eval[string](p, `__v.text('#person-units')`); !strings.Contains(got, g1) || !strings.Contains(got, "13800000003") {
		t.Errorf("张三's units read %q", got)
	}

	// a building of the third street: nobody answers for it, then 钱七 does
	eval[bool](p, fmt.Sprintf(`__v.center(%v, %v, 16)`, bu.lon, bu.lat))
	p.poll("unassigned building grey", fmt.Sprintf(`__v.idle() && (() => { const f = __v.feature(%d);
		return f !== null && f.state === 'unassigned' && f.color === %q; })()`, bu.fid, tiles.ColorUnassigned), 20*time.Second)
	srv.json(t, "PUT", "/api/v1/assignments", fmt.Sprintf(`[{"level": "building", "id": %q, "person": "钱七", "team": "志愿者"}]`, bu.id), nil)
	p.poll("reassigned building recoloured", fmt.Sprintf(`(() => { const f = __v.feature(%d);
		return f !== null && f.liveState === 'assigned' && f.liveColor === %q; })()`, bu.fid, tiles.PersonColor("钱七")), 2*time.Second)
	p.until("coverage follows", 5*time.Second, func() string {
		var r struct{ Units []coverageUnit }
		srv.json(t, "GET", "/api/v1/responsibility?stale=7d&level=community", "", &r)
		return same(p.table("#coverage"), coverageRows(r.Units, children(t, srv, "street", s1)))
	})

	// back at 张三's grid for the picture
	eval[bool](p, fmt.Sprintf(`__v.center(%v, %v, 15.5)`, bz.lon, bz.lat))
	p.poll("rendered", `__v.idle() && __roomstateMap.areTilesLoaded()`, 20*time.Second)
	p.shot("dashboard-responsibility-person-zh.png")

	// a building of 张三's grid, from the workload's list: through the grid
	other := ""
	for _, b := range zhang.Buildings {
		if b.ID != bz.id {
			other = b.ID
			break
		}
	}
	if other != "" {
		p.poll("workload row", fmt.Sprintf(`__v.click(__v.row('#person-buildings', %q))`, other), 2*time.Second)
		p.poll("room-state panel names 张三", fmt.Sprintf(`document.getElementById('building-title').textContent.includes(%q) &&
			__v.text('#building-resp .person-link') === '张三' && __v.text('#building-resp .via') === %q &&
			__v.text('#building-resp .visit') === '从未走访'`, other, "经网格 "+g1+" 包干"), 5*time.Second)
	}

	// with nobody chosen, 赵六's building
	p.click(`#person-close`)
	p.poll("workload closed", `document.getElementById('person-card').hidden`, time.Second)
	// the room-state panel of 赵六's building: who, through what, last visit
	eval[bool](p, fmt.Sprintf(`__v.center(%v, %v, 18, 780)`, bz.lon, bz.lat))
	p.poll("赵六's building rendered", fmt.Sprintf(`__v.idle() && __v.feature(%d) !== null`, bz.fid), 20*time.Second)
	pt := eval[struct{ X, Y float64 }](p, fmt.Sprintf(`(() => {
		const p = __roomstateMap.project([%v, %v]);
		const r = document.getElementById('map').getBoundingClientRect();
		return {X: p.x + r.left, Y: p.y + r.top}; })()`, bz.lon, bz.lat))
	p.do(chromedp.MouseClickXY(pt.X, pt.Y))
	p.until("room-state panel names 赵六", 5*time.Second, func() string {
		got := eval[[]string](p, `['#building-title', '#building-resp .person-link'].map(__v.text)`)
		if got[0] != "楼栋 "+bz.id || got[1] != "赵六" {
			return fmt.Sprintf("the panel shows %q", got)
		}
		return ""
	})
	resp := eval[string](p, `__v.text('#building-resp')`)
	for _, want := range []string{"包干责任人", "楼组长", "13800000004", "本楼栋指派", "最近走访", created.Format("2006-01-02")} {
		if !strings.Contains(resp, want) {
			t.Errorf("the room-state panel's responsible line %q does not say %q", resp, want)
		}
	}
	if sw := eval[string](p, `document.querySelector('#building-resp .swatch').style.background`); sw != rgb(tiles.PersonColor("赵六")) {
		t.Errorf("the panel's swatch of 赵六 is %s, the tiles' colour %s", sw, rgb(tiles.PersonColor("赵六")))
	}
	p.shot("dashboard-building-responsible-zh.png")
	reqs.check(t)
}

func ptr[T any](v T) *T { return &v }

// TestDashboardViewsViewer drives the campaign panel and the responsibility
// view as a viewer (a privacy k of 10): counts the API withholds (null) show
// as "—" and nothing else, never as 0 or "null"; the persons' workloads are
// not offered (analysts and above).
func TestDashboardViewsViewer(t *testing.T) {
	exe := chromium()
	need(t, exe != "", "no chromium on PATH (Debian: apt-get install chromium)")
	dir, bin := loneBinary(t)
	const viewer, admin = "viewer-token-0123456789", "admin-token-0123456789"
	tokens := filepath.Join(t.TempDir(), "tokens.json")
	if err := os.WriteFile(tokens, []byte(`[{"name": "wall", "token": "`+viewer+`", "role": "viewer"},
		{"name": "ops", "token": "`+admin+`", "role": "admin"}]`), 0o600); err != nil {
		t.Fatal(err)
	}
	base := serveLone(t, dir, bin, 20_000, "--tokens", tokens, "--privacy-k", "10")
	adm := server{url: base, token: admin}
	view := server{url: base, token: viewer}
	var streets struct{ Units []struct{ ID string } }
	adm.json(t, "GET", "/api/v1/units/street", "", &streets)
	street := streets.Units[0].ID
	var some *taskBuilding
	taskBuildings(t, adm, campaignTarget, func(b *taskBuilding) bool { some = b; return true })
	adm.json(t, "PUT", "/api/v1/assignments", fmt.Sprintf(`[{"level": "grid", "id": %q, "person": "张三", "team": "第一网格"}]`, some.grid), nil)
	adm.json(t, "PUT", "/api/v1/campaigns/vax", `{"label": "独居老人疫苗接种", "target": "`+campaignTarget+`", "goal": "`+campaignGoal+`"}`, nil)
	for _, id := range some.tasks {
		adm.json(t, "PATCH", "/api/v1/dwellings/"+url.PathEscape(id), `{"set": ["vaccinated"]}`, nil)
	}

	reqs := newRequestLog(base)
	p := &page{t: t, ctx: openBrowser(t, exe, reqs), reqs: reqs, shots: screenshots(t)}
	p.do(chromedp.Navigate(base+"/?token="+viewer+"&view=campaign"), chromedp.WaitVisible(chromedp.CSS(`body[data-ready="1"]`)))
	eval[bool](p, pageHelpers)
	eval[bool](p, viewHelpers)
	clean := `!/null|NaN|undefined/.test(document.getElementById('side').textContent)`

	// the campaign's communities: some withheld
	p.poll("street row", fmt.Sprintf(`__v.click(__v.row('#campaign-units', %q))`, street), 10*time.Second)
	kids := children(t, view, "street", street)
	withheld := 0
	p.until("campaign panel = the viewer's API", 5*time.Second, func() string {
		var c campaignAnswer
		view.json(t, "GET", "/api/v1/campaigns/vax?level=community", "", &c)
		withheld = 0
		for _, u := range c.Units {
			if kids[u.ID] && (u.Total == nil || u.Remaining == nil || u.Done == nil) {
				withheld++
			}
		}
		if d := same(eval[map[string]string](p, `__v.kpis('#campaign-kpis')`), c.texts("zh")); d != "" {
			return "figures: " + d
		}
		return same(p.table("#campaign-units"), campaignRows(&c, kids, "zh"))
	})
	if withheld == 0 {
		t.Fatal("no count of the communities is withheld: the test shows nothing")
	}
	t.Logf("%d communities with counts withheld", withheld)
	p.poll("no null shown", clean, time.Second)
	// the burn-down: drawn from what is shown, or (every count withheld) not
	// at all, saying why
	var city campaignAnswer
	view.json(t, "GET", "/api/v1/campaigns/vax", "", &city)
	if city.Remaining == nil {
		p.poll("burn-down withheld", `__v.chart() === null && __v.text('#burndown-note') === '数字小于公开阈值，已隐藏'`, 5*time.Second)
	} else {
		p.poll("burn-down drawn", `(() => { const c = __v.chart(); return c !== null && c.drawn > 500; })()`, 5*time.Second)
	}
	p.shot("dashboard-viewer-campaign-zh.png")

	// coverage, as a viewer sees it
	p.click(`#views button[data-view="responsibility"]`)
	p.poll("street row", fmt.Sprintf(`__v.click(__v.row('#coverage', %q))`, street), 10*time.Second)
	p.until("coverage = the viewer's API", 5*time.Second, func() string {
		var r struct{ Units []coverageUnit }
		view.json(t, "GET", "/api/v1/responsibility?stale=7d&level=community", "", &r)
		return same(p.table("#coverage"), coverageRows(r.Units, kids))
	})
	p.poll("no null shown", clean, time.Second)
	// the persons in view are listed, their workloads not offered
	eval[bool](p, fmt.Sprintf(`__v.center(%v, %v, 16)`, some.lon, some.lat))
	p.poll("张三 listed", `__v.idle() && __v.persons().some((r) => r.person === '张三')`, 20*time.Second)
	eval[bool](p, `__v.click(document.querySelector('#persons li[data-person="张三"]'))`)
	p.poll("explained", `!document.getElementById('notice').hidden && document.getElementById('notice').textContent.includes('分析员')`, 2*time.Second)
	if !eval[bool](p, `document.getElementById('person-card').hidden`) {
		t.Error("a viewer is shown a person's workload")
	}
	p.shot("dashboard-viewer-responsibility-zh.png")
	reqs.check(t)
}

// checkBurndownSeries holds the burn-down's data to a campaign of several
// days (which a test of minutes cannot make): a past day's remaining is the
// total less that day's done and the tasks removed by now, today's the
// answer's remaining; the ideal line runs from the total on the first day to
// 0 on the deadline, the forecast from today's remaining to 0 at eta; a
// withheld day is a gap.
func checkBurndownSeries(p *page) {
	p.t.Helper()
	const answer = `{"created": "2026-11-20T09:00:00.000+08:00", "deadline": "2026-11-30", "total": 100, "done": 40,
		"remaining": 58, "removed": 2, "eta": "2026-12-05", "rate_7d": 5.8,
		"days": [{"date": "2026-11-20", "done": 0}, {"date": "2026-11-21", "done": 10}, {"date": "2026-11-22", "done": null},
			{"date": "2026-11-23", "done": 30}, {"date": "2026-11-24", "done": 40}]}`
	got, err := chromedp.Run(p.ctx, chromedp.Evaluate[struct {
		Xs                         []int64
		Remaining, Ideal, Forecast []*float64
	}](`import('/static/burndown.js').then((m) => m.burndownSeries(`+answer+`))`, chromedp.EvalAwaitPromise))
	if err != nil {
		p.t.Fatal(err)
	}
	day := func(d string) int64 {
		tm, _ := time.Parse("2006-01-02", d)
		return tm.Unix()
	}
	if len(got.Xs) != 16 || got.Xs[0] != day("2026-11-20") || got.Xs[15] != day("2026-12-05") {
		p.t.Fatalf("burn-down days %v: want 2026-11-20 to 2026-12-05 (eta)", got.Xs)
	}
	f := func(v float64) *float64 { return &v }
	want := map[string][]*float64{
		"remaining": {f(98), f(88), nil, f(68), f(58), nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil},
		"ideal":     {f(100), nil, nil, nil, nil, nil, nil, nil, nil, nil, f(0), nil, nil, nil, nil, nil},
		"forecast":  {nil, nil, nil, nil, f(58), nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, f(0)},
	}
	for name, g := range map[string][]*float64{"remaining": got.Remaining, "ideal": got.Ideal, "forecast": got.Forecast} {
		if d := same(g, want[name]); d != "" {
			p.t.Errorf("burn-down %s: %s", name, d)
		}
	}
}
