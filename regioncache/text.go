package regioncache

import (
	"bytes"
	"encoding/binary"
	"hash/maphash"
)

// A geometry's text is kept without JSON's insignificant white space (the
// blanks between tokens; those inside strings are kept), so that the same
// geometry written with other white space (one client writes `[1, 2]`,
// another `[1,2]`) is found by its text too, without its numbers being
// read. A kept text remembers where its strings are: a blank met there is
// part of a string, which the kept text would hold, so it differs.

// text is a geometry's JSON text, compact.
type text struct {
	b    []byte
	strs []int32 // per string: the index of its opening quote and of its closing one
}

// isBlank reports whether c is JSON's insignificant white space.
func isBlank(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// compact returns raw, one complete JSON value, without the white space
// between its tokens. Strings are found with IndexByte (vectors), and the
// stretches between them are copied whole when they hold no blank, as in a
// text written compact.
func compact(raw []byte) text {
	t := text{b: make([]byte, 0, len(raw))}
	for i := 0; i < len(raw); {
		q := bytes.IndexByte(raw[i:], '"')
		if q < 0 {
			t.b = appendNoBlanks(t.b, raw[i:])
			break
		}
		t.b = appendNoBlanks(t.b, raw[i:i+q])
		open := i + q
		end := len(raw) - 1 // the closing quote (the last byte of a string cut short)
		for j := open + 1; j < len(raw); {
			k := bytes.IndexByte(raw[j:], '"')
			if k < 0 {
				break
			}
			j += k
			if !escaped(raw, j) {
				end = j
				break
			}
			j++
		}
		t.strs = append(t.strs, int32(len(t.b)))
		t.b = append(t.b, raw[open:end+1]...)
		t.strs = append(t.strs, int32(len(t.b)-1))
		i = end + 1
	}
	return t
}

// escaped reports whether the quote at raw[j] is escaped: an odd number of
// backslashes before it.
func escaped(raw []byte, j int) bool {
	n := 0
	for j-n-1 >= 0 && raw[j-n-1] == '\\' {
		n++
	}
	return n%2 == 1
}

// appendNoBlanks appends seg, outside any string, without its blanks.
func appendNoBlanks(dst, seg []byte) []byte {
	if bytes.IndexByte(seg, ' ') < 0 && bytes.IndexByte(seg, '\n') < 0 && bytes.IndexByte(seg, '\t') < 0 && bytes.IndexByte(seg, '\r') < 0 {
		return append(dst, seg...)
	}
	for _, c := range seg {
		if !isBlank(c) {
			dst = append(dst, c)
		}
	}
	return dst
}

// inString reports whether position j of t is inside one of its strings:
// after an opening quote, up to its closing one.
func (t *text) inString(j int) bool {
	for k := 0; k+1 < len(t.strs); k += 2 {
		if int(t.strs[k]) < j && j <= int(t.strs[k+1]) {
			return true
		}
		if int(t.strs[k]) >= j {
			return false
		}
	}
	return false
}

// inToken reports whether c can be part of a number or of true, false or
// null: in a compact text two such bytes side by side are one token.
func inToken(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-' || c == '+' || c == '.'
}

// maxBlanks bounds the blanks match skips before it gives up: a text far
// from compact (indented, a value a line) is found faster by its geometry.
const maxBlanks = 1 << 14

// match returns how many bytes of b, from its start, make t's JSON text
// but for white space between tokens; ok is false when b does not begin
// with it.
func (t *text) match(b []byte) (n int, ok bool) {
	i, j := 0, 0
	tb := t.b
	blanks := 0
	for j < len(tb) {
		// memequal's vectors over long stretches, then shorter ones
		for _, w := range [...]int{4096, 64} {
			for i+w <= len(b) && j+w <= len(tb) && bytes.Equal(b[i:i+w], tb[j:j+w]) {
				i, j = i+w, j+w
			}
		}
		for i+8 <= len(b) && j+8 <= len(tb) && binary.LittleEndian.Uint64(b[i:]) == binary.LittleEndian.Uint64(tb[j:]) {
			i, j = i+8, j+8
		}
		if j == len(tb) {
			break
		}
		if i == len(b) {
			return 0, false
		}
		switch c := b[i]; {
		case c == tb[j]:
			i, j = i+1, j+1
		case isBlank(c) && !t.inString(j) && !(j > 0 && inToken(tb[j-1]) && inToken(tb[j])):
			// a blank between tokens: not in a string, nor in a number or
			// a literal (121 .47 is not JSON)
			if blanks++; blanks > maxBlanks {
				return 0, false
			}
			i++
		default:
			return 0, false
		}
	}
	return i, true
}

// prefixKey hashes the first PrefixLen bytes of the compact JSON text b
// begins with; ok is false when b has fewer.
func prefixKey(seed maphash.Seed, b []byte) (uint64, bool) {
	var buf [PrefixLen]byte
	k := 0
	var str jsonStrings
	for _, c := range b {
		if k == PrefixLen {
			break
		}
		if !str.next(c) && isBlank(c) {
			continue
		}
		buf[k] = c
		k++
	}
	if k < PrefixLen {
		return 0, false
	}
	return maphash.Bytes(seed, buf[:]), true
}

// jsonStrings follows a JSON text byte by byte, telling the bytes of its
// strings (their quotes included) from the rest.
type jsonStrings struct{ in, esc bool }

// next takes the next byte, c, and reports whether it is part of a string.
func (s *jsonStrings) next(c byte) bool {
	switch {
	case s.in:
		switch {
		case s.esc:
			s.esc = false
		case c == '\\':
			s.esc = true
		case c == '"':
			s.in = false
		}
		return true
	case c == '"':
		s.in = true
		return true
	}
	return false
}
