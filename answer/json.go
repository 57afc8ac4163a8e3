package answer

import (
	"math"
	"strconv"
	"unicode/utf8"

	"github.com/roomstate/roomstate/coord"
	"github.com/roomstate/roomstate/privacy"
)

// jsonw appends JSON to a byte slice: the hot answers are written by hand,
// without reflection, into a pooled buffer. Counts are written only as the
// privacy policy shows them; suppressed records that one was withheld.
type jsonw struct {
	b          []byte
	suppressed bool
}

func (w *jsonw) raw(s string)  { w.b = append(w.b, s...) }
func (w *jsonw) byte(c byte)   { w.b = append(w.b, c) }
func (w *jsonw) int(v int64)   { w.b = strconv.AppendInt(w.b, v, 10) }
func (w *jsonw) uint(v uint64) { w.b = strconv.AppendUint(w.b, v, 10) }
func (w *jsonw) e7(v int32)    { w.b = coord.AppendE7(w.b, v) }
func (w *jsonw) key(k string)  { w.str(k); w.byte(':') }
func (w *jsonw) comma(i int) {
	if i > 0 {
		w.byte(',')
	}
}

func (w *jsonw) float(v float64) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		w.raw("null")
		return
	}
	w.b = strconv.AppendFloat(w.b, v, 'f', -1, 64)
}

// count writes a count as shown: null when withheld.
func (w *jsonw) count(v privacy.Value) {
	if v.Withheld {
		w.raw("null")
		w.suppressed = true
		return
	}
	w.int(v.N)
}

const hexDigits = "0123456789abcdef"

// str writes a JSON string; invalid UTF-8 becomes U+FFFD.
func (w *jsonw) str(s string) {
	w.byte('"')
	if plainJSON(s) { // most ids and names: copied as they are
		w.b = append(w.b, s...)
		w.byte('"')
		return
	}
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			w.b = append(w.b, s[start:i]...)
			switch c {
			case '"', '\\':
				w.b = append(w.b, '\\', c)
			case '\n':
				w.raw(`\n`)
			case '\r':
				w.raw(`\r`)
			case '\t':
				w.raw(`\t`)
			default:
				w.raw(`\u00`)
				w.b = append(w.b, hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			w.b = append(w.b, s[start:i]...)
			w.raw(`\ufffd`)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			w.b = append(w.b, s[start:i]...)
			w.raw(`\u202`)
			w.b = append(w.b, hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	w.b = append(w.b, s[start:]...)
	w.byte('"')
}

// unitRef opens an object naming a unit: {"level":level,"id":id (the
// caller writes the rest and the closing brace).
func (w *jsonw) unitRef(level, id string) {
	w.raw(`{"level":`)
	w.str(level)
	w.raw(`,"id":`)
	w.str(id)
}

// plainJSON reports whether s needs no escaping in a JSON string as str
// writes it: valid UTF-8 without control characters, '"', '\\', '<', '>',
// '&', U+2028 or U+2029. A byte loop and utf8.ValidString are several times
// faster than decoding rune by rune (Chinese names are most of an answer's
// text).
func plainJSON(s string) bool {
	ascii := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= utf8.RuneSelf {
			ascii = false
			if c == 0xe2 && i+2 < len(s) && s[i+1] == 0x80 && (s[i+2] == 0xa8 || s[i+2] == 0xa9) {
				return false // U+2028, U+2029
			}
			continue
		}
		if c < 0x20 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return ascii || utf8.ValidString(s)
}

// counts writes "total", "matched" and "flags" members (no braces).
func (w *jsonw) counts(c *privacy.Counts, names []string) {
	w.key("total")
	w.count(c.Total)
	w.raw(`,"matched":`)
	w.count(c.Matched)
	w.raw(`,"flags":{`)
	for i, v := range c.Flags {
		w.comma(i)
		w.key(names[i])
		w.count(v)
	}
	w.byte('}')
}

func (w *jsonw) strs(ss []string) {
	w.byte('[')
	for i, s := range ss {
		w.comma(i)
		w.str(s)
	}
	w.byte(']')
}
