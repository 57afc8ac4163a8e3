package table_test

import (
	"bytes"
	"encoding/csv"
	"strings"
	"testing"

	"github.com/roomstate/roomstate/privacy"
	"github.com/roomstate/roomstate/table"
	"github.com/xuri/excelize/v2"
)

func sample() *table.Table {
	cols := []table.Column{{Header: "编号"}, {Header: "名称"}, {Header: "总户数", Kind: table.Count}, {Header: "居家隔离", Kind: table.Count}}
	return &table.Table{Sheets: []table.Sheet{
		{Name: "网格 [G1]", Columns: cols, Rows: [][]table.Cell{
			{table.TextCell("B1"), table.TextCell(`梅园"一号",楼`), table.CountCell(privacy.Value{N: 120}), table.CountCell(privacy.Value{Withheld: true})},
			{table.TextCell("=1+1"), table.TextCell("0012"), table.CountCell(privacy.Value{N: 0}), table.CountCell(privacy.Value{N: 7})},
		}},
		{Name: "网格 [G1]", Columns: cols[:3], Rows: [][]table.Cell{{table.TextCell("G1"), table.TextCell("一网格"), table.CountCell(privacy.Value{N: 120})}}},
	}}
}

func TestCSV(t *testing.T) {
	b := sample().CSV()
	if !bytes.HasPrefix(b, []byte("\ufeff")) {
		t.Fatal("no byte-order mark")
	}
	recs, err := csv.NewReader(bytes.NewReader(b[3:])).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{{"编号", "名称", "总户数", "居家隔离"}, {"B1", `梅园"一号",楼`, "120", ""}, {"=1+1", "0012", "0", "7"}}
	if len(recs) != len(want) {
		t.Fatalf("%d records, want %d", len(recs), len(want))
	}
	for i := range want {
		if strings.Join(recs[i], "|") != strings.Join(want[i], "|") {
			t.Errorf("record %d: %q, want %q", i, recs[i], want[i])
		}
	}
	if !bytes.Contains(b, []byte("\r\n")) {
		t.Error("RFC 4180 wants CRLF line ends")
	}
}

func TestXLSX(t *testing.T) {
	b, err := sample().XLSX()
	if err != nil {
		t.Fatal(err)
	}
	f, err := excelize.OpenReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sheets := f.GetSheetList()
	if len(sheets) != 2 || sheets[0] != "网格 _G1_" || sheets[1] != "网格 _G1_ (2)" {
		t.Fatalf("sheets %q", sheets)
	}
	rows, err := f.GetRows(sheets[0])
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(rows[1], "|"); got != `B1|梅园"一号",楼|120` {
		t.Errorf("row 1: %q (a withheld count must be an empty cell)", got)
	}
	for cell, want := range map[string]excelize.CellType{"C2": excelize.CellTypeNumber, "D3": excelize.CellTypeNumber,
		"A3": excelize.CellTypeSharedString, "B3": excelize.CellTypeSharedString} {
		ct, err := f.GetCellType(sheets[0], cell)
		if err != nil {
			t.Fatal(err)
		}
		// a number cell may carry no type attribute (the default, "n")
		if ct != want && !(want == excelize.CellTypeSharedString && ct == excelize.CellTypeInlineString) &&
			!(want == excelize.CellTypeNumber && ct == excelize.CellTypeUnset) {
			t.Errorf("%s: cell type %v, want %v", cell, ct, want)
		}
	}
	if v, _ := f.GetCellValue(sheets[0], "D2"); v != "" {
		t.Errorf("withheld D2 = %q", v)
	}
	if fm, _ := f.GetCellFormula(sheets[0], "A3"); fm != "" {
		t.Errorf("text became a formula: %q", fm)
	}
	if v, _ := f.GetCellValue(sheets[0], "B3"); v != "0012" {
		t.Errorf("text read as a number: %q", v)
	}
	p, err := f.GetPanes(sheets[0])
	if err != nil || !p.Freeze || p.YSplit != 1 {
		t.Errorf("header row not frozen: %+v %v", p, err)
	}
	st, _ := f.GetCellStyle(sheets[0], "A1")
	if s, err := f.GetStyle(st); err != nil || s.Font == nil || !s.Font.Bold {
		t.Errorf("header not bold: %+v %v", s, err)
	}
	if w, _ := f.GetColWidth(sheets[0], "B"); w < 14 {
		t.Errorf("column B %v wide, too narrow for 梅园\"一号\",楼", w)
	}
}

func TestSheetName(t *testing.T) {
	for in, want := range map[string]string{"": "Sheet", "a/b:c": "a_b_c", "'x'": "x",
		strings.Repeat("网", 40): strings.Repeat("网", 31)} {
		if got := table.SheetName(in); got != want {
			t.Errorf("SheetName(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestNumbers: a Number column holds decimal numbers as the JSON writes
// them (the shortest form that reads back the same) in CSV, as number cells
// rounded to a spreadsheet's 15 significant digits in a workbook, and an
// empty cell for a missing one.
func TestNumbers(t *testing.T) {
	tb := &table.Table{Sheets: []table.Sheet{{Name: "rates",
		Columns: []table.Column{{Header: "编号"}, {Header: "日均", Kind: table.Number}, {Header: "预计完成"}},
		Rows: [][]table.Cell{
			{table.TextCell("S1"), table.NumberCell(1.0 / 7), table.TextCell("2026-12-31")},
			{table.TextCell("S2"), {}, table.TextCell("")},
			{table.TextCell("S3"), table.NumberCell(-2.5), table.TextCell("")},
			{table.TextCell("S4"), table.NumberCell(0), table.TextCell("")},
		}}}}
	recs, err := csv.NewReader(bytes.NewReader(tb.CSV()[3:])).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"日均", "0.14285714285714285", "", "-2.5", "0"}
	for i, w := range want {
		if recs[i][1] != w {
			t.Errorf("csv row %d: %q, want %q", i, recs[i][1], w)
		}
	}
	b, err := tb.XLSX()
	if err != nil {
		t.Fatal(err)
	}
	f, err := excelize.OpenReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := f.GetRows("rates", excelize.Options{RawCellValue: true})
	if err != nil {
		t.Fatal(err)
	}
	want[1] = "0.142857142857143" // rounded, not cut to …142
	for i, w := range want {
		got := ""
		if len(rows[i]) > 1 {
			got = rows[i][1]
		}
		if got != w {
			t.Errorf("xlsx row %d: %q, want %q", i, got, w)
		}
	}
	for _, cell := range []string{"B2", "B4", "B5"} {
		if ct, _ := f.GetCellType("rates", cell); ct != excelize.CellTypeNumber && ct != excelize.CellTypeUnset {
			t.Errorf("%s: cell type %v, want a number", cell, ct)
		}
	}
}
