package server_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/roomstate/roomstate/engine"
	"github.com/roomstate/roomstate/table"
	"github.com/xuri/excelize/v2"
)

// exportCase is an exportable request: its JSON answer's rows are at rows.
type exportCase struct {
	name   string
	method string
	path   string // with its query, without format
	body   string
	rows   string // the JSON member listing the rows
}

// exportCases are every endpoint that exports, over the secured city.
func exportCases(t *testing.T, s *secured) []exportCase {
	t.Helper()
	res, err := s.eng.Units(engine.UnitsQuery{Level: "community"})
	if err != nil || len(res.Units) == 0 {
		t.Fatalf("no communities: %v", err)
	}
	community := res.Units[0].ID
	esc := url.PathEscape
	return []exportCase{
		{"units", "GET", "/api/v1/units/grid?where=isolated", "", "units"},
		{"units of a level", "GET", "/api/v1/units/community", "", "units"},
		{"unit's buildings", "GET", "/api/v1/units/grid/" + esc(s.grid) + "?where=isolated", "", "children"},
		{"unit's grids", "GET", "/api/v1/units/community/" + esc(community) + "?where=elderly_alone", "", "children"},
		{"polygon by grid", "POST", "/api/v1/query/polygon", fmt.Sprintf(`{"geometry":%s,"group_by":"grid","where":"isolated | elderly_alone"}`, square(121.47, 31.23, 0.01)), "groups"},
		{"polygon by community", "POST", "/api/v1/query/polygon", fmt.Sprintf(`{"geometry":%s,"group_by":"community"}`, square(121.47, 31.23, 0.02)), "groups"},
		{"grid cells", "POST", "/api/v1/query/grid", `{"cell_m":300,"where":"isolated"}`, "cells"},
		{"grid by level", "POST", "/api/v1/query/grid", `{"level":"grid","where":"rental & elderly_alone"}`, "cells"},
	}
}

// with adds query parameters to a path.
func with(path string, kv ...string) string {
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	for i := 0; i+1 < len(kv); i += 2 {
		path += sep + kv[i] + "=" + url.QueryEscape(kv[i+1])
		sep = "&"
	}
	return path
}

// doFile is s.do that also returns the headers.
func (s *secured) doFile(t *testing.T, token, method, path, body string) (int, []byte, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(method, s.url+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	buf.ReadFrom(resp.Body)
	return resp.StatusCode, buf.Bytes(), resp.Header
}

// jsonRows reads the rows of a JSON answer as a table should hold them:
// id, name, total, matched, each flag (null: ""), and the delta's when
// rows carry one. names gives a group's name (polygon groups carry none).
func jsonRows(t *testing.T, body []byte, member string, flags []string) (rows [][]string, withheld int) {
	t.Helper()
	var ans map[string]json.RawMessage
	if err := json.Unmarshal(body, &ans); err != nil {
		t.Fatal(err)
	}
	var items []map[string]any
	if err := json.Unmarshal(ans[member], &items); err != nil {
		t.Fatalf("%s: %v", member, err)
	}
	cell := func(v any) string {
		if v == nil {
			withheld++
			return ""
		}
		return fmt.Sprint(int64(v.(float64)))
	}
	for _, it := range items {
		name, _ := it["name"].(string)
		row := []string{it["id"].(string), name, cell(it["total"]), cell(it["matched"])}
		fl := it["flags"].(map[string]any)
		for _, f := range flags {
			row = append(row, cell(fl[f]))
		}
		if d, ok := it["delta"].(map[string]any); ok {
			row = append(row, cell(d["total"]), cell(d["matched"]))
			for _, f := range flags {
				row = append(row, cell(d["flags"].(map[string]any)[f]))
			}
		}
		rows = append(rows, row)
	}
	return rows, withheld
}

var (
	headersZH = []string{"编号", "名称", "总户数", "符合条件户数", "居家隔离", "已接种", "出租", "独居老人"}
	headersEN = []string{"id", "name", "total", "matched", "isolated", "vaccinated", "rental", "elderly_alone"}
)

// TestExportsHoldTheJSONsNumbers: for every exportable endpoint, for an
// analyst and for a viewer, CSV and XLSX hold exactly the rows and numbers
// of the JSON answer (a withheld count: an empty cell), under Chinese or
// English headers in the same order, as attachments with a file name.
func TestExportsHoldTheJSONsNumbers(t *testing.T) {
	s := startSecured(t)
	flags := s.eng.Flags()
	withheldSeen := 0
	for _, tc := range exportCases(t, s) {
		for _, who := range []struct{ name, tok string }{{"analyst", analystTok}, {"viewer", viewerTok}} {
			t.Run(tc.name+"/"+who.name, func(t *testing.T) {
				code, jb, _ := s.doFile(t, who.tok, tc.method, tc.path, tc.body)
				if code != 200 {
					// a viewer refused the JSON is refused the file alike
					for _, f := range []string{"csv", "xlsx"} {
						if c, b, _ := s.doFile(t, who.tok, tc.method, with(tc.path, "format", f), tc.body); c != code {
							t.Fatalf("JSON %d, %s %d %s", code, f, c, b)
						}
					}
					t.Skipf("JSON answer %d: %s", code, jb)
				}
				want, withheld := jsonRows(t, jb, tc.rows, flags)
				if who.name == "analyst" && withheld > 0 {
					t.Fatalf("an analyst's answer withholds %d counts", withheld)
				}
				withheldSeen += withheld
				if len(want) == 0 {
					t.Fatalf("no rows to compare: %s", jb)
				}
				if tc.rows == "groups" {
					fillNames(t, s, want)
				}
				for _, lang := range []string{"", "en"} {
					header := headersZH
					if lang == "en" {
						header = headersEN
					}
					// CSV
					code, b, h := s.doFile(t, who.tok, tc.method, with(tc.path, "format", "csv", "lang", lang), tc.body)
					if code != 200 {
						t.Fatalf("csv: %d %s", code, b)
					}
					if ct := h.Get("Content-Type"); ct != "text/csv; charset=utf-8" {
						t.Errorf("csv Content-Type %q", ct)
					}
					checkDisposition(t, h.Get("Content-Disposition"), ".csv", lang)
					if !bytes.HasPrefix(b, []byte("\ufeff")) {
						t.Fatal("csv without a byte-order mark")
					}
					recs, err := csv.NewReader(bytes.NewReader(b[3:])).ReadAll()
					if err != nil {
						t.Fatal(err)
					}
					compareTable(t, "csv "+lang, recs, header, want)
					// XLSX
					code, b, h = s.doFile(t, who.tok, tc.method, with(tc.path, "format", "xlsx", "lang", lang), tc.body)
					if code != 200 {
						t.Fatalf("xlsx: %d %s", code, b)
					}
					if ct := h.Get("Content-Type"); ct != "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" {
						t.Errorf("xlsx Content-Type %q", ct)
					}
					checkDisposition(t, h.Get("Content-Disposition"), ".xlsx", lang)
					f, err := excelize.OpenReader(bytes.NewReader(b))
					if err != nil {
						t.Fatal(err)
					}
					sheet := f.GetSheetList()[0]
					rows, err := f.GetRows(sheet)
					if err != nil {
						t.Fatal(err)
					}
					for i := range rows { // GetRows drops trailing empty cells
						for len(rows[i]) < len(rows[0]) {
							rows[i] = append(rows[i], "")
						}
					}
					compareTable(t, "xlsx "+lang, rows, header, want)
					// counts are number cells, not text
					for r := range want {
						for c := 2; c < len(want[r]); c++ {
							if want[r][c] == "" {
								continue
							}
							name, _ := excelize.CoordinatesToCellName(c+1, r+2)
							if ct, _ := f.GetCellType(sheet, name); ct != excelize.CellTypeNumber && ct != excelize.CellTypeUnset {
								t.Fatalf("xlsx %s holds a count as %v", name, ct)
							}
						}
					}
					if tc.rows == "children" { // a second sheet: the unit itself
						var top map[string]any
						json.Unmarshal(jb, &top)
						delete(top, "children")
						one, _ := json.Marshal(map[string]any{"unit": []any{top}})
						want2, _ := jsonRows(t, one, "unit", flags)
						rows2, err := f.GetRows(f.GetSheetList()[1])
						if err != nil {
							t.Fatal(err)
						}
						for len(rows2[1]) < len(rows2[0]) {
							rows2[1] = append(rows2[1], "")
						}
						compareTable(t, "xlsx unit sheet "+lang, rows2, header, want2)
					}
					if p, err := f.GetPanes(sheet); err != nil || !p.Freeze || p.YSplit != 1 {
						t.Errorf("xlsx header row not frozen: %+v %v", p, err)
					}
					f.Close()
				}
			})
		}
	}
	if withheldSeen == 0 {
		t.Error("no viewer's answer withheld a count: the test checks nothing of suppression")
	}
}

// fillNames gives polygon groups (which carry only ids) the names of their
// units, as the export does.
func fillNames(t *testing.T, s *secured, rows [][]string) {
	names := map[string]string{}
	for _, lv := range []string{"district", "street", "community", "grid"} {
		res, err := s.eng.Units(engine.UnitsQuery{Level: lv})
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range res.Units {
			names[u.ID] = u.Name
		}
	}
	for _, r := range rows {
		r[1] = names[r[0]]
	}
}

func compareTable(t *testing.T, what string, got [][]string, header []string, want [][]string) {
	t.Helper()
	if len(got) == 0 || !slices.Equal(got[0][:min(len(got[0]), len(header))], header) {
		t.Fatalf("%s: header %q, want %q first", what, got[0], header)
	}
	if len(got)-1 != len(want) {
		t.Fatalf("%s: %d rows, want %d", what, len(got)-1, len(want))
	}
	for i, w := range want {
		if !slices.Equal(got[i+1], w) {
			t.Fatalf("%s: row %d is %q, want %q (the JSON's)", what, i+1, got[i+1], w)
		}
	}
	if len(got[0]) != len(want[0]) {
		t.Fatalf("%s: %d columns, rows have %d", what, len(got[0]), len(want[0]))
	}
}

// checkDisposition wants an attachment with an ASCII filename and a UTF-8
// filename* (RFC 6266), Chinese unless lang is en.
func checkDisposition(t *testing.T, cd, ext, lang string) {
	t.Helper()
	if !strings.HasPrefix(cd, "attachment;") {
		t.Fatalf("Content-Disposition %q: not an attachment", cd)
	}
	_, star, ok := strings.Cut(cd, "filename*=UTF-8''")
	if !ok || !strings.Contains(cd, `filename="`) {
		t.Fatalf("Content-Disposition %q: want filename and filename*", cd)
	}
	name, err := url.PathUnescape(star)
	if err != nil || !strings.HasSuffix(name, ext) {
		t.Fatalf("filename* %q (%q): want a name ending in %s", star, name, ext)
	}
	chinese := strings.ContainsFunc(name, func(r rune) bool { return r >= 0x4e00 && r <= 0x9fff })
	if lang != "en" && !chinese || lang == "en" && !(name[0] >= 'a' && name[0] <= 'z') {
		t.Errorf("file name %q for lang %q", name, lang)
	}
	ascii := cd[strings.Index(cd, `filename="`)+10:]
	ascii = ascii[:strings.IndexByte(ascii, '"')]
	if !strings.HasSuffix(ascii, ext) || strings.ContainsFunc(ascii, func(r rune) bool { return r > 0x7e }) {
		t.Errorf("ASCII filename %q", ascii)
	}
}

// TestExportDelta: with ?since=, files add the change of each count.
func TestExportDelta(t *testing.T) {
	s := startSecured(t)
	since := s.eng.Version()
	if code, b := s.do(t, editorTok, "PATCH", "/api/v1/dwellings/"+url.PathEscape(s.inScope[0]), []byte(`{"set":["isolated","rental"]}`)); code != 200 {
		t.Fatalf("patch: %d %s", code, b)
	}
	path := fmt.Sprintf("/api/v1/units/grid?since=%d", since)
	_, jb, _ := s.doFile(t, analystTok, "GET", path, "")
	want, _ := jsonRows(t, jb, "units", s.eng.Flags())
	_, b, _ := s.doFile(t, analystTok, "GET", with(path, "format", "csv", "lang", "en"), "")
	recs, err := csv.NewReader(bytes.NewReader(b[3:])).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	header := append(slices.Clone(headersEN), "delta_total", "delta_matched", "delta_isolated", "delta_vaccinated", "delta_rental", "delta_elderly_alone")
	compareTable(t, "csv", recs, header, want)
	moved := 0
	for _, r := range want {
		if r[len(r)-4] == "1" { // delta_isolated
			moved++
		}
	}
	if moved != 1 {
		t.Errorf("%d grids with one more isolated dwelling, want 1", moved)
	}
}

// TestExportErrors: bad formats, languages, and a polygon without groups
// are 400 bad_request naming what is allowed.
func TestExportErrors(t *testing.T) {
	s := startSecured(t)
	for _, tc := range []struct {
		method, path, body, want string
	}{
		{"GET", "/api/v1/units/grid?format=pdf", "", "json, csv or xlsx"},
		{"GET", "/api/v1/units/grid?format=csv&lang=fr", "", "zh"},
		{"POST", "/api/v1/query/polygon?format=xlsx", fmt.Sprintf(`{"geometry":%s}`, square(121.47, 31.23, 0.01)), "group_by"},
		{"POST", "/api/v1/query/grid?format=ods", `{"cell_m":500}`, "json, csv or xlsx"},
	} {
		code, b := s.do(t, analystTok, tc.method, tc.path, []byte(tc.body))
		var e struct {
			Error struct{ Code, Message string }
		}
		json.Unmarshal(b, &e)
		if code != 400 || e.Error.Code != "bad_request" || !strings.Contains(e.Error.Message, tc.want) {
			t.Errorf("%s %s: %d %s, want 400 bad_request naming %q", tc.method, tc.path, code, b, tc.want)
		}
	}
	// a bad request is still a bad request: its error, not the format's
	if code, b := s.do(t, analystTok, "GET", "/api/v1/units/grid?format=csv&where=bogus", nil); code != 400 || !bytes.Contains(b, []byte("bad_expression")) {
		t.Errorf("bad where with format=csv: %d %s", code, b)
	}
	if code, _ := s.do(t, "", "GET", "/api/v1/units/grid?format=csv", nil); code != 401 {
		t.Errorf("no token: %d, want 401", code)
	}
}

// colKind is what a column of an exported table holds, for reading the
// JSON answer as the file should show it.
type colKind uint8

const (
	textCol   colKind = iota // a string (null: "")
	countCol                 // an integer count (null: "", withheld)
	numberCol                // a decimal number (null: "")
)

// jsonCol is one column of a file: the member of each row and its kind.
type jsonCol struct {
	key  string
	kind colKind
}

// jsonTable reads rows (a JSON list of objects) as a file must hold them,
// cell by cell: a count as its integer, a number in its shortest form (in
// a workbook rounded to 15 significant digits: inXLSX), a null as "". It
// returns the number of counts withheld (null) as well.
func jsonTable(t *testing.T, rows []map[string]any, cols []jsonCol, inXLSX bool) (out [][]string, withheld int) {
	t.Helper()
	for _, r := range rows {
		var line []string
		for _, c := range cols {
			v, ok := r[c.key]
			if !ok {
				t.Fatalf("row %v has no %q", r, c.key)
			}
			switch {
			case v == nil:
				if c.kind == countCol {
					withheld++
				}
				line = append(line, "")
			case c.kind == textCol:
				line = append(line, v.(string))
			case c.kind == countCol:
				line = append(line, strconv.FormatInt(int64(v.(float64)), 10))
			default:
				x := v.(float64)
				if inXLSX {
					x = table.ExcelNumber(x)
				}
				line = append(line, strconv.FormatFloat(x, 'f', -1, 64))
			}
		}
		out = append(out, line)
	}
	return out, withheld
}

// fileSheets reads a downloaded file back: a CSV's one table, or every
// sheet of a workbook (raw values: numbers as stored), each row as long
// as its header.
func fileSheets(t *testing.T, format string, b []byte) [][][]string {
	t.Helper()
	if format == "csv" {
		if !bytes.HasPrefix(b, []byte("\ufeff")) {
			t.Fatal("csv without a byte-order mark")
		}
		recs, err := csv.NewReader(bytes.NewReader(b[3:])).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		return [][][]string{recs}
	}
	f, err := excelize.OpenReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out [][][]string
	for _, sh := range f.GetSheetList() {
		rows, err := f.GetRows(sh, excelize.Options{RawCellValue: true})
		if err != nil {
			t.Fatal(err)
		}
		for i := range rows {
			for len(rows[i]) < len(rows[0]) {
				rows[i] = append(rows[i], "")
			}
		}
		if p, err := f.GetPanes(sh); err != nil || !p.Freeze || p.YSplit != 1 {
			t.Errorf("sheet %s: header row not frozen: %+v %v", sh, p, err)
		}
		out = append(out, rows)
	}
	return out
}

// fileCase is an export of responsibility or campaigns and how to read its
// JSON: the sheets a workbook holds, in order (a CSV holds the first).
type fileCase struct {
	name   string
	path   string
	sheets []fileSheet
}

// fileSheet is one sheet: the JSON member listing its rows ("" the answer
// itself, as one row), its columns and their headers.
type fileSheet struct {
	member     string
	cols       []jsonCol
	zh, en     []string
	namePrefix string // the Chinese file name starts so
}

// TestResponsibilityAndCampaignExports: coverage per unit and a campaign's
// units (with, in a workbook, the campaign's totals and its days) export
// as CSV and XLSX holding exactly the JSON's numbers, for an analyst and
// for a viewer (counts withheld: empty cells), under Chinese or English
// headers, as attachments with a Chinese filename*.
func TestResponsibilityAndCampaignExports(t *testing.T) {
	s := startSecured(t)
	// assignments: the editor's grid to one person, a few buildings of other
	// grids to another (small counts a viewer may not see), a visit
	buildings := map[string]bool{}
	var own []string
	for _, id := range s.outScope {
		d, _ := s.eng.Dwelling(id)
		if !buildings[d.Building] && len(own) < 4 {
			buildings[d.Building] = true
			own = append(own, d.Building)
		}
	}
	asg := fmt.Sprintf(`[{"level":"grid","id":%q,"person":"张三","team":"一组"}`, s.grid)
	for _, b := range own {
		asg += fmt.Sprintf(`,{"level":"building","id":%q,"person":"李四"}`, b)
	}
	asg += "]"
	if code, b := s.do(t, adminTok, "PUT", "/api/v1/assignments", []byte(asg)); code != 200 {
		t.Fatalf("assignments: %d %s", code, b)
	}
	if code, b := s.do(t, adminTok, "POST", "/api/v1/visits", []byte(fmt.Sprintf(`{"building":%q,"note":"扫楼"}`, own[0]))); code != 200 {
		t.Fatalf("visit: %d %s", code, b)
	}
	// a campaign with some progress and a removed task
	if code, b := s.do(t, adminTok, "PUT", "/api/v1/campaigns/vax", []byte(`{"label":"独居老人疫苗接种","target":"elderly_alone & !vaccinated","goal":"vaccinated","deadline":"2026-12-31"}`)); code != 201 {
		t.Fatalf("campaign: %d %s", code, b)
	}
	var tasks []string
	for _, id := range append(slices.Clone(s.inScope), s.outScope...) {
		if d, _ := s.eng.Dwelling(id); slices.Contains(d.Flags, "elderly_alone") && !slices.Contains(d.Flags, "vaccinated") {
			tasks = append(tasks, id)
		}
	}
	for _, id := range tasks[:len(tasks)/4] {
		if code, b := s.do(t, adminTok, "PATCH", "/api/v1/dwellings/"+url.PathEscape(id), []byte(`{"set":["vaccinated"]}`)); code != 200 {
			t.Fatalf("patch: %d %s", code, b)
		}
	}
	if code, b := s.do(t, adminTok, "DELETE", "/api/v1/dwellings/"+url.PathEscape(tasks[len(tasks)-1]), nil); code != 200 {
		t.Fatalf("delete: %d %s", code, b)
	}

	coverage := fileSheet{member: "units",
		cols: []jsonCol{{"id", textCol}, {"name", textCol}, {"buildings", countCol}, {"assigned", countCol}, {"unassigned", countCol}, {"matched_unassigned", countCol}, {"stale", countCol}},
		zh:   []string{"编号", "名称", "楼栋数", "已包干", "未包干", "未包干楼栋内符合条件户数", "超期未走访"},
		en:   []string{"id", "name", "buildings", "assigned", "unassigned", "matched_unassigned", "stale"}, namePrefix: "包干覆盖_按"}
	noStale := coverage
	noStale.cols, noStale.zh, noStale.en = coverage.cols[:6], coverage.zh[:6], coverage.en[:6]
	progress := []jsonCol{{"total", countCol}, {"done", countCol}, {"remaining", countCol}, {"removed", countCol}, {"rate_7d", numberCol}, {"eta", textCol}}
	progressZH := []string{"任务总量", "已完成", "剩余任务量", "已移除", "日均", "预计完成"}
	progressEN := []string{"total", "done", "remaining", "removed", "rate_7d", "eta"}
	campaign := []fileSheet{
		{member: "units", cols: append([]jsonCol{{"id", textCol}, {"name", textCol}}, progress...),
			zh: append([]string{"编号", "名称"}, progressZH...), en: append([]string{"id", "name"}, progressEN...), namePrefix: "专项任务_独居老人疫苗接种_按"},
		{member: "", cols: append([]jsonCol{{"name", textCol}, {"label", textCol}, {"target", textCol}, {"goal", textCol}, {"created", textCol}, {"deadline", textCol}}, progress...),
			zh: append([]string{"任务", "任务名称", "任务对象", "完成条件", "开始时间", "截止日期"}, progressZH...),
			en: append([]string{"name", "label", "target", "goal", "created", "deadline"}, progressEN...)},
		{member: "days", cols: []jsonCol{{"date", textCol}, {"done", countCol}, {"done_today", countCol}},
			zh: []string{"日期", "累计完成", "当日完成"}, en: []string{"date", "done", "done_today"}},
	}
	cases := []fileCase{
		{"coverage by grid", "/api/v1/responsibility?level=grid&where=elderly_alone&stale=7d", []fileSheet{coverage}},
		{"coverage by community", "/api/v1/responsibility?level=community&where=isolated", []fileSheet{noStale}},
		{"campaign by community", "/api/v1/campaigns/vax?level=community", campaign},
		{"campaign by grid", "/api/v1/campaigns/vax?level=grid", campaign},
	}
	withheldSeen := 0
	for _, tc := range cases {
		for _, who := range []struct{ name, tok string }{{"analyst", analystTok}, {"viewer", viewerTok}} {
			t.Run(tc.name+"/"+who.name, func(t *testing.T) {
				code, jb, _ := s.doFile(t, who.tok, "GET", tc.path, "")
				if code != 200 {
					t.Fatalf("JSON: %d %s", code, jb)
				}
				var ans map[string]any
				if err := json.Unmarshal(jb, &ans); err != nil {
					t.Fatal(err)
				}
				rowsOf := func(sh fileSheet) []map[string]any {
					if sh.member == "" {
						return []map[string]any{ans}
					}
					var out []map[string]any
					for _, r := range ans[sh.member].([]any) {
						out = append(out, r.(map[string]any))
					}
					return out
				}
				first, withheld := jsonTable(t, rowsOf(tc.sheets[0]), tc.sheets[0].cols, false)
				if len(first) < 2 {
					t.Fatalf("too few rows to compare: %s", jb)
				}
				if who.name == "analyst" && withheld > 0 {
					t.Fatalf("an analyst's answer withholds %d counts", withheld)
				}
				if who.name == "viewer" {
					withheldSeen += withheld
				}
				for _, format := range []string{"csv", "xlsx"} {
					for _, lang := range []string{"", "en"} {
						code, b, h := s.doFile(t, who.tok, "GET", with(tc.path, "format", format, "lang", lang), "")
						if code != 200 {
							t.Fatalf("%s %s: %d %s", format, lang, code, b)
						}
						wantType := map[string]string{"csv": "text/csv; charset=utf-8", "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}[format]
						if ct := h.Get("Content-Type"); ct != wantType {
							t.Errorf("%s Content-Type %q", format, ct)
						}
						cd := h.Get("Content-Disposition")
						checkDisposition(t, cd, "."+format, lang)
						star, _ := url.PathUnescape(cd[strings.Index(cd, "filename*=UTF-8''")+17:])
						if lang == "" && !strings.HasPrefix(star, tc.sheets[0].namePrefix) {
							t.Errorf("file name %q, want it to start with %q", star, tc.sheets[0].namePrefix)
						}
						got := fileSheets(t, format, b)
						want := tc.sheets
						if format == "csv" {
							want = want[:1]
						}
						if len(got) != len(want) {
							t.Fatalf("%s: %d sheets, want %d", format, len(got), len(want))
						}
						for i, sh := range want {
							rows, _ := jsonTable(t, rowsOf(sh), sh.cols, format == "xlsx")
							header := sh.zh
							if lang == "en" {
								header = sh.en
							}
							compareTable(t, fmt.Sprintf("%s %s sheet %d", format, lang, i+1), got[i], header, rows)
						}
					}
				}
			})
		}
	}
	if withheldSeen == 0 {
		t.Error("no viewer's answer withheld a count: the test checks nothing of suppression")
	}
}

// TestResponsibilityAndCampaignExportErrors: a bad format or language, a
// bad parameter, an unknown campaign and a missing token are the JSON
// request's errors.
func TestResponsibilityAndCampaignExportErrors(t *testing.T) {
	s := startSecured(t)
	if code, b := s.do(t, adminTok, "PUT", "/api/v1/campaigns/vax", []byte(`{"target":"elderly_alone","goal":"vaccinated"}`)); code != 201 {
		t.Fatalf("campaign: %d %s", code, b)
	}
	for _, tc := range []struct {
		tok, path string
		status    int
		code      string
		want      string
	}{
		{analystTok, "/api/v1/responsibility?format=pdf", 400, "bad_request", "json, csv or xlsx"},
		{analystTok, "/api/v1/responsibility?format=csv&lang=fr", 400, "bad_request", "zh"},
		{analystTok, "/api/v1/responsibility?format=xlsx&stale=soon", 400, "bad_request", "stale"},
		{analystTok, "/api/v1/responsibility?format=csv&where=bogus", 400, "bad_expression", ""},
		{analystTok, "/api/v1/responsibility?format=csv&level=planet", 400, "bad_request", ""},
		{analystTok, "/api/v1/campaigns/vax?format=ods", 400, "bad_request", "json, csv or xlsx"},
		{viewerTok, "/api/v1/campaigns/vax?format=xlsx&lang=de", 400, "bad_request", "zh"},
		{analystTok, "/api/v1/campaigns/vax?format=csv&level=building", 400, "bad_request", "level"},
		{viewerTok, "/api/v1/campaigns/nope?format=csv", 404, "not_found", ""},
		{"", "/api/v1/campaigns/vax?format=csv", 401, "unauthorized", ""},
		{"", "/api/v1/responsibility?format=xlsx", 401, "unauthorized", ""},
	} {
		code, b := s.do(t, tc.tok, "GET", tc.path, nil)
		var e struct {
			Error struct{ Code, Message string }
		}
		json.Unmarshal(b, &e)
		if code != tc.status || e.Error.Code != tc.code || !strings.Contains(e.Error.Message, tc.want) {
			t.Errorf("GET %s: %d %s, want %d %s naming %q", tc.path, code, b, tc.status, tc.code, tc.want)
		}
	}
}
