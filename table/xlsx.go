package table

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/xuri/excelize/v2"
)

// Column widths of a worksheet, in Excel's units (about the width of a
// digit of the default font): a CJK character takes about two.
const (
	minWidth = 6
	maxWidth = 60
)

// XLSX returns the table as a workbook: one worksheet per sheet (the
// first active), its header row bold and frozen, counts and decimal numbers
// (to 15 significant digits, see ExcelNumber) as number cells (a withheld
// count, a missing number: an empty cell), text
// as text (never read as a formula or a number), each column as wide as its
// widest text.
func (t *Table) XLSX() ([]byte, error) {
	f := excelize.NewFile()
	defer f.Close()
	bold, err := f.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true},
		Fill:      excelize.Fill{Type: "pattern", Pattern: 1, Color: []string{"#EDEDED"}},
		Alignment: &excelize.Alignment{Vertical: "center"}})
	if err != nil {
		return nil, fmt.Errorf("table: header style: %w", err)
	}
	sheets := t.Sheets
	if len(sheets) == 0 {
		sheets = []Sheet{{}}
	}
	used := map[string]bool{}
	for i := range sheets {
		sh := &sheets[i]
		name := uniqueName(SheetName(sh.Name), used)
		if i == 0 {
			if err := f.SetSheetName("Sheet1", name); err != nil {
				return nil, fmt.Errorf("table: sheet %q: %w", name, err)
			}
		} else if _, err := f.NewSheet(name); err != nil {
			return nil, fmt.Errorf("table: sheet %q: %w", name, err)
		}
		if err := writeSheet(f, name, sh, bold); err != nil {
			return nil, fmt.Errorf("table: sheet %q: %w", name, err)
		}
	}
	f.SetActiveSheet(0)
	buf, err := f.WriteToBuffer()
	if err != nil {
		return nil, fmt.Errorf("table: %w", err)
	}
	return buf.Bytes(), nil
}

// ExcelNumber returns x as a workbook holds it: rounded to 15 significant
// digits, the precision of a spreadsheet's numbers. (excelize would cut the
// digits beyond the fifteenth; rounding first keeps the nearest value.)
func ExcelNumber(x float64) float64 {
	r, err := strconv.ParseFloat(strconv.FormatFloat(x, 'g', 15, 64), 64)
	if err != nil {
		return x
	}
	return r
}

// uniqueName returns name, or name with a number, not yet in used
// (worksheet names are compared without regard to case).
func uniqueName(name string, used map[string]bool) string {
	key := strings.ToLower
	cand := name
	for n := 2; used[key(cand)]; n++ {
		suffix := fmt.Sprintf(" (%d)", n)
		r := []rune(name)
		if len(r)+len([]rune(suffix)) > maxSheetName {
			r = r[:maxSheetName-len([]rune(suffix))]
		}
		cand = string(r) + suffix
	}
	used[key(cand)] = true
	return cand
}

// writeSheet streams one sheet into the worksheet name.
func writeSheet(f *excelize.File, name string, sh *Sheet, headerStyle int) error {
	sw, err := f.NewStreamWriter(name)
	if err != nil {
		return err
	}
	// widths first: the stream writer wants them before any row
	for i, c := range sh.Columns {
		w := displayWidth(c.Header) + 3 // bold, and room for the filter button
		for _, row := range sh.Rows {
			if i >= len(row) {
				continue
			}
			n := 0
			switch {
			case c.Kind == Text:
				n = displayWidth(row[i].Text)
			case c.Kind == Number:
				if row[i].HasNumber {
					n = len(formatNumber(row[i].Number))
				}
			case !row[i].Count.Withheld:
				n = len(fmt.Sprint(row[i].Count.N))
			}
			w = max(w, n+2)
		}
		if err := sw.SetColWidth(i+1, i+1, float64(min(max(w, minWidth), maxWidth))); err != nil {
			return err
		}
	}
	if err := sw.SetPanes(&excelize.Panes{Freeze: true, YSplit: 1, TopLeftCell: "A2", ActivePane: "bottomLeft",
		Selection: []excelize.Selection{{SQRef: "A2", ActiveCell: "A2", Pane: "bottomLeft"}}}); err != nil {
		return err
	}
	vals := make([]any, len(sh.Columns))
	for i, c := range sh.Columns {
		vals[i] = excelize.Cell{StyleID: headerStyle, Value: c.Header}
	}
	if err := sw.SetRow("A1", vals); err != nil {
		return err
	}
	for r, row := range sh.Rows {
		for i, c := range sh.Columns {
			vals[i] = nil
			if i >= len(row) {
				continue
			}
			switch {
			case c.Kind == Text:
				vals[i] = row[i].Text // a string cell: never a formula
			case c.Kind == Number:
				if row[i].HasNumber {
					vals[i] = ExcelNumber(row[i].Number)
				}
			case !row[i].Count.Withheld:
				vals[i] = row[i].Count.N
			}
		}
		cell, err := excelize.CoordinatesToCellName(1, r+2)
		if err != nil {
			return err
		}
		if err := sw.SetRow(cell, vals); err != nil {
			return err
		}
	}
	if err := sw.Flush(); err != nil {
		return err
	}
	if len(sh.Columns) == 0 {
		return nil
	}
	last, err := excelize.CoordinatesToCellName(len(sh.Columns), len(sh.Rows)+1)
	if err != nil {
		return err
	}
	return f.AutoFilter(name, "A1:"+last, nil)
}
