package table

import (
	"bytes"
	"encoding/csv"
	"strconv"
)

// bom is the UTF-8 byte-order mark: Excel takes a CSV file without it for
// the system's code page (GBK on a Chinese desktop) and garbles Chinese.
const bom = "\ufeff"

// CSV returns the first sheet as CSV: RFC 4180 (fields quoted where they
// need it, CRLF line ends), UTF-8 with a byte-order mark, the header row
// first. A withheld count, or a missing number, is an empty field.
func (t *Table) CSV() []byte {
	var buf bytes.Buffer
	buf.WriteString(bom)
	if len(t.Sheets) == 0 {
		return buf.Bytes()
	}
	sh := &t.Sheets[0]
	w := csv.NewWriter(&buf)
	w.UseCRLF = true
	rec := make([]string, len(sh.Columns))
	for i, c := range sh.Columns {
		rec[i] = c.Header
	}
	w.Write(rec) // a bytes.Buffer does not fail
	for _, row := range sh.Rows {
		for i, c := range sh.Columns {
			rec[i] = ""
			if i >= len(row) {
				continue
			}
			switch {
			case c.Kind == Text:
				rec[i] = row[i].Text
			case c.Kind == Number:
				if row[i].HasNumber {
					rec[i] = formatNumber(row[i].Number)
				}
			case !row[i].Count.Withheld:
				rec[i] = strconv.FormatInt(row[i].Count.N, 10)
			}
		}
		w.Write(rec)
	}
	w.Flush()
	return buf.Bytes()
}
