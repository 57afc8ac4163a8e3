package loader

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"unicode/utf8"
)

// The default limits of a CSV record, so that no input makes the reader
// hold more than a few MiB whatever its size or shape.
const (
	// DefaultMaxLineBytes bounds a record: a line, or the lines a quoted
	// field joins, without its line end.
	DefaultMaxLineBytes = 1 << 20
	// DefaultMaxFieldBytes bounds one field (and a GeoJSON property value).
	DefaultMaxFieldBytes = 64 << 10
)

// csvReader reads RFC 4180 records without allocating per record: fields
// are slices of an internal buffer, valid until the next call. It accepts what
// encoding/csv accepts with FieldsPerRecord = -1 and strict quotes (empty
// lines skipped, CR before LF dropped, CRLF inside quotes read as LF), and it
// knows where every field starts, for messages.
type csvReader struct {
	r       *bufio.Reader
	line    int    // lines consumed so far
	raw     []byte // the current record's lines, as read
	rawLine int    // line number of raw's first line
	out     []byte // unquoted field contents
	ends    []int  // end of each field in out
	starts  []int  // start of each field in raw
	fields  [][]byte
	first   bool
	read    int64 // bytes consumed, for progress
	// limits, in bytes: a record (without its line end) and a field
	maxLine, maxField int
}

// csvSyntaxError is a quoting error, or a record or field past its limit,
// at a line and column. Either way the rest of the file cannot be read.
type csvSyntaxError struct {
	Line, Column int
	Reason       string
	Limit        bool // a limit, not a quoting error
}

func (e *csvSyntaxError) Error() string { return e.Reason }

var (
	errBareQuote  = "bare \" in a field that is not quoted (quote the whole field and double the quote)"
	errQuoteAfter = "extraneous or missing \" in a quoted field"
	errOpenQuote  = "quoted field is never closed"
)

// newCSVReader reads r with the default limits.
func newCSVReader(r io.Reader) *csvReader {
	return &csvReader{r: bufio.NewReaderSize(r, 1<<20), first: true,
		maxLine: DefaultMaxLineBytes, maxField: DefaultMaxFieldBytes}
}

// readLine returns the next line including its '\n' (if any), appended to
// raw. A record longer than maxLine is an error as soon as it is seen, so
// raw never holds more than maxLine and one buffer's worth.
func (c *csvReader) readLine() (int, error) {
	start := len(c.raw)
	for {
		chunk, err := c.r.ReadSlice('\n')
		c.raw = append(c.raw, chunk...)
		c.read += int64(len(chunk))
		if err == bufio.ErrBufferFull {
			if len(c.raw) > c.maxLine+4 { // room for a BOM and a CR still to drop
				return start, c.tooLong()
			}
			continue
		}
		if len(c.raw) > start {
			c.line++
			// as encoding/csv: drop a trailing \r before EOF, and read \r\n as \n
			if err == io.EOF && c.raw[len(c.raw)-1] == '\r' {
				c.raw = c.raw[:len(c.raw)-1]
			}
			if n := len(c.raw); n-start >= 2 && c.raw[n-2] == '\r' && c.raw[n-1] == '\n' {
				c.raw[n-2] = '\n'
				c.raw = c.raw[:n-1]
			}
			if c.first {
				c.first = false
				if bytes.HasPrefix(c.raw[start:], []byte("\xef\xbb\xbf")) {
					c.raw = append(c.raw[:start], c.raw[start+3:]...)
				}
			}
			if err == io.EOF {
				err = nil
			}
			if len(trimEOL(c.raw)) > c.maxLine {
				return start, c.tooLong()
			}
			return start, err
		}
		return start, err
	}
}

// tooLong is the error of a record past maxLine, placed at its first byte
// beyond the limit.
func (c *csvReader) tooLong() error {
	if c.first && bytes.HasPrefix(c.raw, []byte("\xef\xbb\xbf")) {
		c.raw = c.raw[3:]
	}
	ln, col := c.position(c.maxLine)
	return &csvSyntaxError{Line: ln, Column: col, Limit: true,
		Reason: fmt.Sprintf("record longer than %d bytes (the CSV line limit): not a CSV file, or a quote never closed?", c.maxLine)}
}

// checkFields refuses a record with a field longer than maxField.
func (c *csvReader) checkFields(fields [][]byte) error {
	for i, f := range fields {
		if len(f) > c.maxField {
			ln, col := c.position(c.starts[i])
			return &csvSyntaxError{Line: ln, Column: col, Limit: true,
				Reason: fmt.Sprintf("field longer than %d bytes (the CSV field limit)", c.maxField)}
		}
	}
	return nil
}

// next returns the next record's fields and the line it starts on.
// io.EOF at the end.
func (c *csvReader) next() ([][]byte, int, error) {
	for {
		c.raw = c.raw[:0]
		c.rawLine = c.line + 1 // the record starts on the next line
		if _, err := c.readLine(); err != nil {
			return nil, 0, err
		}
		// skip empty lines, as encoding/csv does
		if l := trimEOL(c.raw); len(l) == 0 {
			continue
		}
		break
	}
	c.starts = c.starts[:0]
	if line := trimEOL(c.raw); bytes.IndexByte(line, '"') < 0 {
		// no quotes, the common case: fields are slices of the line itself
		c.fields = c.fields[:0]
		s := 0
		for i, ch := range line {
			if ch == ',' {
				c.starts = append(c.starts, s)
				c.fields = append(c.fields, line[s:i:i])
				s = i + 1
			}
		}
		c.starts = append(c.starts, s)
		c.fields = append(c.fields, line[s:len(line):len(line)])
		if len(line) > c.maxField { // only then can a field be
			if err := c.checkFields(c.fields); err != nil {
				return nil, 0, err
			}
		}
		return c.fields, c.rawLine, nil
	}
	c.out = c.out[:0]
	c.ends = c.ends[:0]
	pos := 0 // in raw
	for {
		c.starts = append(c.starts, pos)
		if pos < len(c.raw) && c.raw[pos] == '"' {
			// quoted field
			pos++
			for {
				i := bytes.IndexByte(c.raw[pos:], '"')
				if i < 0 {
					// the field goes on past this line
					c.out = append(c.out, c.raw[pos:]...)
					pos = len(c.raw)
					if _, err := c.readLine(); err != nil || pos == len(c.raw) {
						if err != nil && err != io.EOF {
							return nil, 0, err
						}
						ln, col := c.position(c.starts[len(c.starts)-1])
						return nil, 0, &csvSyntaxError{Line: ln, Column: col, Reason: errOpenQuote}
					}
					continue
				}
				c.out = append(c.out, c.raw[pos:pos+i]...)
				pos += i + 1
				if pos < len(c.raw) && c.raw[pos] == '"' {
					c.out = append(c.out, '"')
					pos++
					continue
				}
				break
			}
			c.ends = append(c.ends, len(c.out))
			// after the closing quote: a comma, or the end of the record
			switch {
			case pos < len(c.raw) && c.raw[pos] == ',':
				pos++
				continue
			case len(trimEOL(c.raw[pos:])) == 0:
				return c.finished()
			default:
				ln, col := c.position(pos)
				return nil, 0, &csvSyntaxError{Line: ln, Column: col, Reason: errQuoteAfter}
			}
		}
		// unquoted field: up to the next comma or the end of the line
		end := pos
		for end < len(c.raw) && c.raw[end] != ',' && c.raw[end] != '\n' {
			end++
		}
		field := c.raw[pos:end]
		if end == len(c.raw) || c.raw[end] == '\n' {
			field = trimEOL(c.raw[pos:])
		}
		if q := bytes.IndexByte(field, '"'); q >= 0 {
			ln, col := c.position(pos + q)
			return nil, 0, &csvSyntaxError{Line: ln, Column: col, Reason: errBareQuote}
		}
		c.out = append(c.out, field...)
		c.ends = append(c.ends, len(c.out))
		if end < len(c.raw) && c.raw[end] == ',' {
			pos = end + 1
			continue
		}
		return c.finished()
	}
}

// finished returns the fields of a quoted record, checked against maxField.
func (c *csvReader) finished() ([][]byte, int, error) {
	fields := c.finish()
	if err := c.checkFields(fields); err != nil {
		return nil, 0, err
	}
	return fields, c.rawLine, nil
}

func (c *csvReader) finish() [][]byte {
	c.fields = c.fields[:0]
	s := 0
	for _, e := range c.ends {
		c.fields = append(c.fields, c.out[s:e:e])
		s = e
	}
	return c.fields
}

// position turns an offset in the current record's raw text into a line and
// a 1-based column counted in characters.
func (c *csvReader) position(off int) (line, col int) {
	off = min(off, len(c.raw))
	nl := bytes.LastIndexByte(c.raw[:off], '\n')
	line = c.rawLine + bytes.Count(c.raw[:off], []byte{'\n'})
	return line, utf8.RuneCount(c.raw[nl+1:off]) + 1
}

// fieldPos returns the line and column where field i of the current record
// starts.
func (c *csvReader) fieldPos(i int) (line, col int) {
	if i >= len(c.starts) {
		return c.position(len(trimEOL(c.raw)))
	}
	return c.position(c.starts[i])
}

// fieldPositions returns the line and column of every field of the current
// record, in one pass over it.
func (c *csvReader) fieldPositions() [][2]int {
	out := make([][2]int, len(c.starts))
	line, col, off := c.rawLine, 1, 0
	for i, s := range c.starts {
		for _, r := range string(c.raw[off:s]) {
			if r == '\n' {
				line, col = line+1, 1
			} else {
				col++
			}
		}
		off = s
		out[i] = [2]int{line, col}
	}
	return out
}

func trimEOL(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		return b[:n-1]
	}
	return b
}
