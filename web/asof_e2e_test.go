package web_test

import (
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/roomstate/roomstate/scheme"
)

// shanghai is the server's time zone in these tests (serve's default --tz,
// Asia/Shanghai, which has kept +08:00 since 1991).
var shanghai = time.FixedZone("UTC+8", 8*3600)

// asOfCity is a served city with a short history, and a browser whose time
// zone is not the server's, for the tests of the time control.
type asOfCity struct {
	srv        server
	p          *page
	bu         building
	v0         uint64    // the version loaded, the oldest kept
	oldestText string    // its time as the dashboard names it: the server's, to the second rounded up
	before     time.Time // a moment after the load, in whole seconds, before any change
	v1         uint64    // a change after before: an isolated dwelling more in bu
	t1         time.Time // when v1's state began, as the server says
	isolated0  int       // the legend's isolated dwellings as loaded
}

// newAsOfCity serves a city of 3,000 dwellings, changes it twice a second
// apart (versions v1 and v1+1) and opens a browser in America/New_York.
func newAsOfCity(t *testing.T) *asOfCity {
	t.Helper()
	exe := chromium()
	need(t, exe != "", "no chromium on PATH (Debian: apt-get install chromium)")
	dir, bin := loneBinary(t)
	base := serveLone(t, dir, bin, 3_000)
	loaded := time.Now()
	c := &asOfCity{srv: server{url: base}}
	c.v0 = version(t, c.srv)
	c.bu = pickBuilding(t, c.srv)
	var info struct {
		TZ      string
		History struct {
			Oldest     uint64
			OldestTime string `json:"oldest_time"`
		}
	}
	c.srv.json(t, "GET", "/api/v1/info", "", &info)
	if info.TZ != "Asia/Shanghai" || info.History.Oldest != c.v0 {
		t.Fatalf("info: tz %q, oldest %d (version %d)", info.TZ, info.History.Oldest, c.v0)
	}
	oldest, err := time.Parse(time.RFC3339Nano, info.History.OldestTime)
	if err != nil {
		t.Fatal(err)
	}
	c.oldestText = time.Unix(int64(math.Ceil(float64(oldest.UnixMilli())/1000)), 0).In(shanghai).Format("2006-01-02 15:04:05")

	time.Sleep(time.Until(loaded.Add(1100 * time.Millisecond)))
	c.before = time.Now().Truncate(time.Second)
	time.Sleep(time.Until(c.before.Add(100 * time.Millisecond)))
	c.isolated0 = c.isolated(t, "")
	var ch struct{ Version uint64 }
	c.srv.json(t, "PATCH", "/api/v1/dwellings/"+url.PathEscape(c.bu.dwelling), `{"set":["isolated"]}`, &ch)
	c.v1 = ch.Version
	time.Sleep(1100 * time.Millisecond)
	c.srv.json(t, "PATCH", "/api/v1/dwellings/"+url.PathEscape(c.bu.dwelling2), `{"set":["isolated"]}`, nil)
	var l struct{ Time string }
	c.srv.json(t, "GET", fmt.Sprintf("/api/v1/legend?as_of=%d", c.v1), "", &l)
	if c.t1, err = time.Parse(time.RFC3339Nano, l.Time); err != nil || c.v1 != c.v0+1 || c.isolated(t, fmt.Sprint(c.v1)) != c.isolated0+1 {
		t.Fatalf("version %d (loaded %d) at %q (%v)", c.v1, c.v0, l.Time, err)
	}

	reqs := newRequestLog(base)
	c.p = &page{t: t, ctx: openBrowser(t, exe, reqs, chromedp.Env("TZ=America/New_York")), reqs: reqs, shots: screenshots(t)}
	c.open("")
	if z := eval[string](c.p, `Intl.DateTimeFormat().resolvedOptions().timeZone`); z != "America/New_York" {
		t.Fatalf("the browser's time zone is %s, want America/New_York", z)
	}
	return c
}

// isolated is the legend's count of isolated dwellings as of asOf (now: "").
func (c *asOfCity) isolated(t *testing.T, asOf string) int {
	t.Helper()
	var l struct {
		Legend []struct {
			State string
			Count int
		}
	}
	c.srv.json(t, "GET", "/api/v1/legend?as_of="+url.QueryEscape(asOf), "", &l)
	for _, e := range l.Legend {
		if e.State == "isolated" {
			return e.Count
		}
	}
	t.Fatal("no isolated state in the legend")
	return 0
}

// open opens the dashboard with a query (?as_of=…).
func (c *asOfCity) open(query string) {
	c.p.t.Helper()
	c.p.do(chromedp.Navigate(c.srv.url+"/"+query), chromedp.WaitVisible(chromedp.CSS(`body[data-ready="1"]`)))
	eval[bool](c.p, pageHelpers)
}

// text is the text of the element sel names.
func (c *asOfCity) text(sel string) string {
	c.p.t.Helper()
	return eval[string](c.p, fmt.Sprintf(`document.querySelector(%q).textContent`, sel))
}

// inputs is what the date and time inputs hold: "2026-11-27 21:30:05".
func (c *asOfCity) inputs() string {
	c.p.t.Helper()
	return eval[string](c.p, `document.getElementById('asof-date').value + ' ' + document.getElementById('asof-time').value`)
}

// waitBanner waits for the banner of a historical view of version v.
func (c *asOfCity) waitBanner(v uint64) {
	c.p.t.Helper()
	c.p.poll("banner shown", fmt.Sprintf(`!document.getElementById('asof-banner').hidden &&
		/\b%d$/.test(document.getElementById('asof-version').textContent)`, v), 5*time.Second)
}

// TestDashboardAsOfServerZone: in a browser whose time zone
// (America/New_York) is not the server's (Asia/Shanghai), every day and
// time the dashboard shows of a moment, and every one it sends, is the
// server's, whatever offset the address wrote a time with: the banner
// (which names the zone), the date and time inputs (the zone beside them),
// what the column of changes compares with, the time picked with the inputs
// and the notice of a moment before the history kept, as the page opens,
// before any other answer carried the server's offset.
func TestDashboardAsOfServerZone(t *testing.T) {
	c := newAsOfCity(t)
	p := c.p
	at := c.before.In(shanghai)
	wall := at.Format("2006-01-02 15:04:05")

	// as of a time the address writes in UTC
	c.open("?as_of=" + url.QueryEscape(c.before.UTC().Format(time.RFC3339)))
	c.waitBanner(c.v0)
	if got, want := c.text(`#asof-moment`), wall+" (Asia/Shanghai UTC+08:00)"; got != want {
		t.Errorf("banner: %q, want %q (the server's day and time)", got, want)
	}
	if got := c.inputs(); got != wall {
		t.Errorf("date and time inputs: %q, want %q", got, wall)
	}
	if got := eval[string](p, `(() => { const z = document.getElementById('asof-tz'); return z && !z.hidden ? z.textContent + ' | ' + z.title : ''; })()`); got != "UTC+08:00 | Asia/Shanghai UTC+08:00" {
		t.Errorf("the inputs' time zone is said as %q", got)
	}
	// the changes since the oldest state kept (the day before is before it)
	p.poll("summary of districts", fmt.Sprintf(`!!__t.row(%q)`, c.bu.district), 5*time.Second)
	if got := eval[string](p, `document.getElementById('delta-head').title`); !strings.Contains(got, c.oldestText) {
		t.Errorf("the column of changes says %q, want the oldest moment %s", got, c.oldestText)
	}
	p.shot("asof-zone-zh.png")

	// picked with the inputs: the server's day and time, sent with its offset
	p.click(`#live`)
	p.poll("live", `document.getElementById('asof-banner').hidden`, 2*time.Second)
	p.do(chromedp.SetValue(chromedp.CSS(`#asof-date`), at.Format("2006-01-02")),
		chromedp.SetValue(chromedp.CSS(`#asof-time`), at.Format("15:04:05")))
	p.click(`#asof-go`)
	c.waitBanner(c.v0)
	if got, want := eval[string](p, `new URL(location.href).searchParams.get('as_of')`), at.Format(time.RFC3339); got != want {
		t.Errorf("the address says as_of=%s, want %s", got, want)
	}

	// a day before the history kept, opened from the address
	yesterday := time.Now().In(shanghai).AddDate(0, 0, -1).Format("2006-01-02")
	c.open("?as_of=" + yesterday)
	p.poll("history gone explained", fmt.Sprintf(`(() => { const n = document.getElementById('notice');
		return !n.hidden && n.textContent.includes('（版本 %d）'); })()`, c.v0), 5*time.Second)
	if got := c.text(`#notice`); !strings.Contains(got, "最早可查看："+c.oldestText+"（") {
		t.Errorf("notice: %q, want the oldest moment %s", got, c.oldestText)
	}
	if eval[bool](p, `!document.getElementById('asof-banner').hidden`) {
		t.Error("a day before the history kept left the live map")
	}
	p.shot("asof-gone-zh.png")
	p.reqs.check(t)
}

// TestDashboardAsOfVersion: an address as of a version shows the map as of
// that version (tiles, legend, trend to it), saying which version and when
// its state began (in the server's time, the inputs too) and keeping the
// version in the address; a version before the history kept is explained.
// A unit whose count did not change shows 0 as its change, not nothing (no
// figure), with what did change on hover.
func TestDashboardAsOfVersion(t *testing.T) {
	c := newAsOfCity(t)
	p := c.p
	wall := c.t1.In(shanghai).Format("2006-01-02 15:04:05")
	c.open(fmt.Sprintf("?as_of=%d", c.v1))
	c.waitBanner(c.v1)
	if got, want := c.text(`#asof-version`), fmt.Sprintf("版本 %d", c.v1); got != want {
		t.Errorf("banner: %q, want %q", got, want)
	}
	if got, want := c.text(`#asof-moment`), wall+" (Asia/Shanghai UTC+08:00)"; got != want {
		t.Errorf("banner as of version %d: %q, want %q", c.v1, got, want)
	}
	if got := c.inputs(); got != wall {
		t.Errorf("date and time inputs as of version %d: %q, want %q", c.v1, got, wall)
	}
	p.poll("tiles as of the version", fmt.Sprintf(`__t.tiles().includes('as_of=%d')`, c.v1), 2*time.Second)
	p.poll("legend as of the version", fmt.Sprintf(`__t.count('isolated') === %d`, c.isolated0+1), 5*time.Second)
	p.poll("trend to the version", fmt.Sprintf(`(() => { const t = __t.trend(); return t !== null && t.last[0] === %d; })()`, c.isolated0+1), 10*time.Second)
	if got := eval[string](p, `new URL(location.href).searchParams.get('as_of')`); got != fmt.Sprint(c.v1) {
		t.Errorf("the address says as_of=%s, want the version %d", got, c.v1)
	}
	// since the oldest state kept (the day before is before it), a flag set
	// is no change of the dwellings counted (there is no filter): 0, and
	// the flag's change on hover
	p.poll("summary of districts", fmt.Sprintf(`!!__t.row(%q)`, c.bu.district), 5*time.Second)
	if got := eval[string](p, fmt.Sprintf(`__t.delta(%q) + ' | ' + __t.row(%q).querySelector('td.delta').title`, c.bu.district, c.bu.district)); !strings.HasPrefix(got, "0 | ") || !strings.Contains(got, "居家隔离 +1") {
		t.Errorf("the change of a district that gained an isolated dwelling and no dwelling: %q, want 0 with 居家隔离 +1 on hover", got)
	}
	p.shot("asof-version-zh.png")
	p.click(`#lang`)
	p.poll("English banner", fmt.Sprintf(`document.getElementById('asof-version').textContent === 'version %d'`, c.v1), 2*time.Second)
	p.shot("asof-version-en.png")

	// a scheme made after the version: the address asking for the version
	// under it shows the version under default, and says so; choosing it
	// while the version is shown goes back to default, and says why
	sc, _ := json.Marshal(scheme.Default())
	c.srv.json(t, "PUT", "/api/v1/schemes/later", string(sc), nil)
	c.open(fmt.Sprintf("?as_of=%d&scheme=later", c.v1))
	c.waitBanner(c.v1)
	laterNotice := `(() => { const n = document.getElementById('notice'); return !n.hidden && n.textContent.includes('later'); })()`
	p.poll("a scheme made later explained", laterNotice, 5*time.Second)
	p.shot("asof-scheme-later.png")
	p.poll("tiles as of the version under default", fmt.Sprintf(`__t.tiles().includes('as_of=%d') && !__t.tiles().includes('scheme=')`, c.v1), 5*time.Second)
	if got := eval[string](p, `document.getElementById('scheme').value`); got != "default" {
		t.Errorf("the scheme chosen as of a version before scheme later: %q, want default", got)
	}
	eval[bool](p, `(() => { document.getElementById('notice').hidden = true; const s = document.getElementById('scheme');
		s.value = 'later'; s.dispatchEvent(new Event('change')); return true; })()`)
	p.poll("choosing a scheme made later explained", laterNotice, 5*time.Second)
	p.poll("the choice back to default", `document.getElementById('scheme').value === 'default'`, 2*time.Second)
	if eval[bool](p, `__t.tiles().includes('scheme=later')`) {
		t.Error("tiles under a scheme made after the version shown")
	}

	// a version before the history kept: explained, live
	c.open(fmt.Sprintf("?as_of=%d", c.v0-1))
	p.poll("history gone explained", fmt.Sprintf(`(() => { const n = document.getElementById('notice');
		return !n.hidden && n.textContent.includes('(version %d)'); })()`, c.v0), 5*time.Second)
	if eval[bool](p, `!document.getElementById('asof-banner').hidden || __t.tiles().includes('as_of=')`) {
		t.Error("a version before the history kept left the live map")
	}
	p.reqs.check(t)
}
