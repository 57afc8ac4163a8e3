package web_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"
	"github.com/xuri/excelize/v2"
)

// TestDashboardDownloadsAndPrints drives the dashboard's download buttons
// (CSV and XLSX of the summary table, as files the browser saves) and its
// print buttons (the building's and the grid's printable maps, opened in a
// new tab) in headless Chromium against the binary alone.
func TestDashboardDownloadsAndPrints(t *testing.T) {
	exe := chromium()
	need(t, exe != "", "no chromium on PATH (Debian: apt-get install chromium)")
	dir, bin := loneBinary(t)
	base := serveLone(t, dir, bin, 20_000)
	downloads := t.TempDir()

	ctx := openBrowser(t, exe, newRequestLog(base))
	if _, err := chromedp.CallBrowser(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllow, DownloadPath: downloads}); err != nil {
		t.Fatal(err)
	}
	poll := func(what, js string) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](js))
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			if ok {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 20 s", what)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	// saved waits for a downloaded file whose name ends in ext.
	saved := func(ext string) (string, []byte) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for time.Now().Before(deadline) {
			ents, _ := os.ReadDir(downloads)
			for _, e := range ents {
				if strings.HasSuffix(e.Name(), ext) {
					b, err := os.ReadFile(filepath.Join(downloads, e.Name()))
					if err == nil && len(b) > 0 {
						return e.Name(), b
					}
				}
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatalf("no %s file was downloaded", ext)
		return "", nil
	}

	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS(`body[data-ready="1"]`))); err != nil {
		t.Fatalf("dashboard did not start: %v", err)
	}
	poll("summary rows", `document.querySelectorAll('#summary tbody tr').length > 0`)
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#export-csv`))); err != nil {
		t.Fatal(err)
	}
	name, csv := saved(".csv")
	if !bytes.HasPrefix(csv, []byte("\ufeff编号,名称,总户数,符合条件户数")) || !strings.Contains(name, "区") {
		t.Errorf("the CSV download %q starts %q", name, csv[:min(len(csv), 80)])
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#export-xlsx`))); err != nil {
		t.Fatal(err)
	}
	name, xlsx := saved(".xlsx")
	f, err := excelize.OpenReader(bytes.NewReader(xlsx))
	if err != nil {
		t.Fatalf("the XLSX download %q: %v", name, err)
	}
	rows, _ := f.GetRows(f.GetSheetList()[0])
	if len(rows) < 2 || rows[0][0] != "编号" {
		t.Errorf("the XLSX download %q holds %q", name, rows)
	}
	f.Close()

	// down to a grid: its map can be printed; then a building of it
	for depth := 2; depth <= 5; depth++ {
		if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#summary tbody tr:first-child`))); err != nil {
			t.Fatal(err)
		}
		poll("drill down", `document.querySelectorAll('#crumbs a').length === `+string(rune('0'+depth)))
	}
	poll("grid print button", `!document.querySelector('#print-unit').hidden`)
	shots := os.Getenv("ROOMSTATE_SCREENSHOTS")
	if shots != "" {
		chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector('#export-csv').scrollIntoView({block: 'center'}); true`))
		if png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot()); err == nil {
			os.WriteFile(filepath.Join(shots, "dashboard-export-buttons.png"), png, 0o644)
		}
	}
	openedSheet := func(button, shot string) {
		t.Helper()
		ch := chromedp.WaitNewTarget(ctx, func(i *target.Info) bool { return true })
		if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(button))); err != nil {
			t.Fatal(err)
		}
		var id target.ID
		select {
		case id = <-ch:
		case <-time.After(10 * time.Second):
			t.Fatalf("%s opened no tab", button)
		}
		tctx, tcancel := chromedp.NewContext(ctx, chromedp.WithTargetID(id))
		defer tcancel()
		deadline := time.Now().Add(20 * time.Second)
		for {
			n, err := chromedp.Run(tctx, chromedp.Evaluate[int](`location.protocol === 'blob:' && document.querySelector('svg') ? document.querySelectorAll('g.room').length : 0`))
			if err == nil && n > 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: the new tab shows no printable map (%v)", button, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
		if shots != "" {
			if png, err := chromedp.Run(tctx, chromedp.CaptureScreenshot()); err == nil {
				os.WriteFile(filepath.Join(shots, shot), png, 0o644)
			}
		}
		chromedp.Cancel(tctx)
	}
	openedSheet(`#print-unit`, "dashboard-print-grid.png")
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#summary tbody tr:first-child`))); err != nil {
		t.Fatal(err)
	}
	poll("building panel", `!document.querySelector('#building').hidden && document.querySelectorAll('#floors .room').length > 0`)
	if shots != "" {
		if png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot()); err == nil {
			os.WriteFile(filepath.Join(shots, "dashboard-building-panel.png"), png, 0o644)
		}
	}
	openedSheet(`#print-building`, "dashboard-print-building.png")
}
