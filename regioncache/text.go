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
// between its tokens.
func compact(raw []byte) text {
	t := text{b: make([]byte, 0, len(raw))}
	in, esc := false, false
	for _, c := range raw {
		switch {
		case in:
			switch {
			case esc:
				esc = false
			case c == '\\':
				esc = true
			case c == '"':
				in = false
				t.strs = append(t.strs, int32(len(t.b)))
			}
		case c == '"':
			in = true
			t.strs = append(t.strs, int32(len(t.b)))
		case isBlank(c):
			continue
		}
		t.b = append(t.b, c)
	}
	return t
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
		for i+64 <= len(b) && j+64 <= len(tb) && bytes.Equal(b[i:i+64], tb[j:j+64]) { // memequal's vectors
			i, j = i+64, j+64
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
		case isBlank(c) && !t.inString(j):
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
	in, esc := false, false
	for _, c := range b {
		if k == PrefixLen {
			break
		}
		switch {
		case in:
			switch {
			case esc:
				esc = false
			case c == '\\':
				esc = true
			case c == '"':
				in = false
			}
		case c == '"':
			in = true
		case isBlank(c):
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
