// Package table lays an answer out as a spreadsheet and writes it in its two
// file forms: CSV (RFC 4180, UTF-8 with a byte-order mark, so that Excel on
// a Chinese desktop reads it right) and XLSX (a workbook of one worksheet per
// sheet, the header row bold and frozen, counts and rates as number cells,
// columns as wide as their text). A count the caller may not see (privacy.Value with
// Withheld) is written as an empty cell in both forms, never as a number.
//
// A table is what an answer builds when asked for a file: a few columns of
// text (id, name) and of counts (and a rate or two), and one row per unit
// or cell. Writing it
// needs nothing else, so a new answer exports by building a Table.
//
// It knows nothing of HTTP, of the engine, or of which answer a table comes
// from; what a count may show is decided before a table is built.
package table

import (
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/roomstate/roomstate/privacy"
)

// Kind is what a column holds.
type Kind uint8

// The kinds of column.
const (
	Text   Kind = iota // strings: ids, names, dates
	Count              // counts as shown by a privacy policy: numbers, or empty when withheld
	Number             // decimal numbers (a daily rate): numbers, or empty when there is none
)

// Column is one column of a sheet.
type Column struct {
	Header string
	Kind   Kind
}

// Cell is one cell: Text in a Text column, Count in a Count column,
// Number (when HasNumber) in a Number column. The zero Cell is an empty
// text, a count of 0, or an empty number.
type Cell struct {
	Text      string
	Count     privacy.Value
	Number    float64
	HasNumber bool // false: the Number column's cell is empty (withheld, or not defined)
}

// TextCell returns a cell of text.
func TextCell(s string) Cell { return Cell{Text: s} }

// CountCell returns a cell of a count as shown.
func CountCell(v privacy.Value) Cell { return Cell{Count: v} }

// NumberCell returns a cell of a decimal number; Cell{} is an empty one.
func NumberCell(x float64) Cell { return Cell{Number: x, HasNumber: true} }

// formatNumber writes a decimal number as the JSON answers do: the
// shortest form that reads back as the same float64.
func formatNumber(x float64) string { return strconv.FormatFloat(x, 'f', -1, 64) }

// Sheet is a header and rows: one worksheet of a workbook.
type Sheet struct {
	// Name names the worksheet. Characters a worksheet name may not hold
	// are replaced and it is cut to 31 characters (see SheetName).
	Name    string
	Columns []Column
	Rows    [][]Cell // each as long as Columns
}

// Table is one or more sheets. The first is the table itself (CSV holds
// it alone); later ones add context, such as the unit whose children the
// first one lists.
type Table struct {
	Sheets []Sheet
}

// maxSheetName is the longest worksheet name Excel accepts, in characters.
const maxSheetName = 31

// SheetName returns name as a worksheet may be named: no : \ / ? * [ ],
// not starting or ending with an apostrophe, at most 31 characters, and
// "Sheet" when nothing is left.
func SheetName(name string) string {
	name = strings.Map(func(r rune) rune {
		switch r {
		case ':', '\\', '/', '?', '*', '[', ']':
			return '_'
		}
		if r < 0x20 {
			return -1
		}
		return r
	}, name)
	name = strings.Trim(name, "'")
	if utf8.RuneCountInString(name) > maxSheetName {
		name = string([]rune(name)[:maxSheetName])
	}
	if strings.TrimSpace(name) == "" {
		return "Sheet"
	}
	return name
}

// displayWidth is how many columns of a monospaced terminal, or about how
// many digit widths of a spreadsheet, s takes: East Asian wide and
// full-width characters count two.
func displayWidth(s string) int {
	n := 0
	for _, r := range s {
		n++
		if wide(r) {
			n++
		}
	}
	return n
}

// wide reports whether r is an East Asian wide or full-width character
// (Unicode UAX #11, the ranges that matter for Chinese text).
func wide(r rune) bool {
	switch {
	case r < 0x1100:
		return false
	case r <= 0x115f, // Hangul Jamo
		r >= 0x2e80 && r <= 0x303e, // CJK radicals, punctuation
		r >= 0x3041 && r <= 0x33ff, // kana, CJK symbols
		r >= 0x3400 && r <= 0x4dbf, // CJK extension A
		r >= 0x4e00 && r <= 0x9fff, // CJK unified ideographs
		r >= 0xa000 && r <= 0xa4cf, // Yi
		r >= 0xac00 && r <= 0xd7a3, // Hangul syllables
		r >= 0xf900 && r <= 0xfaff, // CJK compatibility ideographs
		r >= 0xfe30 && r <= 0xfe4f, // CJK compatibility forms
		r >= 0xff00 && r <= 0xff60, // full-width forms
		r >= 0xffe0 && r <= 0xffe6,
		r >= 0x20000 && r <= 0x3fffd: // CJK extensions B and later
		return true
	}
	return false
}
