package answer

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"math/bits"
	"strconv"
	"unsafe"

	"github.com/roomstate/roomstate/fault"
)

// jscan reads JSON text in place, checking the grammar of RFC 8259 as it
// goes: the polygon request is read with it, so that the thousands of
// numbers of a street's coordinates are parsed once, straight into float64,
// without building a tree of values first. The first syntax error is kept
// (err) and stops the reading; callers check ok().
type jscan struct {
	b   []byte
	i   int
	err error
}

// maxJSONDepth bounds the nesting of arrays and objects.
const maxJSONDepth = 300

func (s *jscan) ok() bool { return s.err == nil }

// fail records a syntax error at the current offset.
func (s *jscan) fail(what string) {
	if s.err == nil {
		at := "the end"
		if s.i < len(s.b) {
			at = "byte " + strconv.Itoa(s.i) + " (" + strconv.QuoteRune(rune(s.b[s.i])) + ")"
		}
		s.err = fault.New(fault.BadJSON, "body is not valid JSON: %s at %s", what, at)
	}
}

// ws skips white space.
func (s *jscan) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// peek returns the byte at the offset, 0 at the end.
func (s *jscan) peek() byte {
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

// eat consumes c after white space, or fails.
func (s *jscan) eat(c byte, what string) bool {
	s.ws()
	if s.peek() != c {
		s.fail(what)
		return false
	}
	s.i++
	return true
}

// str reads a string at the offset and returns its text between the
// quotes, escapes not decoded; escaped says whether it has any.
func (s *jscan) str() (raw []byte, escaped bool) {
	if s.peek() != '"' {
		s.fail("expected a string")
		return nil, false
	}
	s.i++
	start := s.i
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			raw = s.b[start:s.i]
			s.i++
			return raw, escaped
		case c == '\\':
			escaped = true
			s.i++
			switch s.peek() {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.i++
			case 'u':
				s.i++
				for k := 0; k < 4; k++ {
					if !isHex(s.peek()) {
						s.fail("bad \\u escape")
						return nil, false
					}
					s.i++
				}
			default:
				s.fail("bad escape")
				return nil, false
			}
		case c < 0x20:
			s.fail("control character in a string")
			return nil, false
		default:
			s.i++
		}
	}
	s.fail("unterminated string")
	return nil, false
}

func isHex(c byte) bool { return c-'0' < 10 || (c|0x20)-'a' < 6 }

// stringValue returns a string's text with escapes decoded.
func stringValue(raw []byte, escaped bool) string {
	if !escaped {
		return string(raw)
	}
	q := make([]byte, 0, len(raw)+2)
	q = append(append(append(q, '"'), raw...), '"')
	var out string
	_ = json.Unmarshal(q, &out) // valid: the scanner checked its escapes
	return out
}

// keyIs reports whether a member's name, as str read it, is want.
func keyIs(raw []byte, escaped bool, want string) bool {
	if !escaped {
		return string(raw) == want
	}
	return stringValue(raw, true) == want
}

// literal reads true, false or null.
func (s *jscan) literal(word string) {
	if len(s.b)-s.i < len(word) || string(s.b[s.i:s.i+len(word)]) != word {
		s.fail("unexpected character")
		return
	}
	s.i += len(word)
}

// skip passes over one value after white space.
func (s *jscan) skip(depth int) {
	s.ws()
	switch c := s.peek(); {
	case c == '"':
		s.str()
	case c == '{':
		if depth >= maxJSONDepth {
			s.fail("nested too deeply")
			return
		}
		s.i++
		s.ws()
		if s.peek() == '}' {
			s.i++
			return
		}
		for s.ok() {
			s.ws()
			s.str()
			if !s.eat(':', "expected ':'") {
				return
			}
			s.skip(depth + 1)
			if !s.ok() || !s.more('}') {
				return
			}
		}
	case c == '[':
		if depth >= maxJSONDepth {
			s.fail("nested too deeply")
			return
		}
		s.i++
		s.ws()
		if s.peek() == ']' {
			s.i++
			return
		}
		for s.ok() {
			s.skip(depth + 1)
			if !s.ok() || !s.more(']') {
				return
			}
		}
	case c == 't':
		s.literal("true")
	case c == 'f':
		s.literal("false")
	case c == 'n' && s.i+1 < len(s.b) && s.b[s.i+1] == 'u':
		s.literal("null")
	case c == '-' || c-'0' < 10:
		if _, ok := s.nonFinite(); !ok {
			s.number()
		}
	default:
		if _, ok := s.nonFinite(); !ok {
			s.fail("expected a value")
		}
	}
}

// nonFinite reads NaN, Inf or Infinity (any case, with a sign or not):
// not JSON, but taken for numbers as fastjson takes them, so that a
// coordinate NaN is told as a bad position rather than bad JSON.
func (s *jscan) nonFinite() (float64, bool) {
	b, i := s.b, s.i
	sign := 1.0
	if i < len(b) && (b[i] == '-' || b[i] == '+') {
		if b[i] == '-' {
			sign = -1
		}
		i++
	}
	word := func(w string) bool {
		if len(b)-i < len(w) {
			return false
		}
		for k := 0; k < len(w); k++ {
			if b[i+k]|0x20 != w[k] {
				return false
			}
		}
		return true
	}
	switch {
	case word("nan"):
		s.i = i + 3
		return math.NaN(), true
	case word("infinity"):
		s.i = i + 8
		return math.Inf(int(sign)), true
	case word("inf"):
		s.i = i + 3
		return math.Inf(int(sign)), true
	}
	return 0, false
}

// more reads the comma between elements (true: another follows) or the
// closing bracket (false), after white space.
func (s *jscan) more(close byte) bool {
	s.ws()
	switch s.peek() {
	case ',':
		s.i++
		return true
	case close:
		s.i++
		return false
	}
	s.fail("expected ',' or '" + string(close) + "'")
	return false
}

// shortNumber reads the usual coordinate, [-]digits[.digits] with at most
// seven digits before the point and eight after it, eight digits at a time
// (SWAR: the bytes of a 64-bit word tested and converted together); ok is
// false for anything else, left to number's digit-by-digit loop, which
// gives the same value.
func (s *jscan) shortNumber() (float64, bool) {
	f, i, ok := shortNumberAt(s.b, s.i)
	if ok {
		s.i = i
	}
	return f, ok
}

// shortNumberAt is shortNumber at offset i of b, returning the offset
// after the number: with the offset in a register rather than in the
// scanner, a loop of numbers does not wait on memory for it.
func shortNumberAt(b []byte, i int) (float64, int, bool) {
	if len(b)-i < 20 { // room for the sign, two words and the byte after
		return 0, i, false
	}
	neg := b[i] == '-'
	if neg {
		i++
	}
	w := binary.LittleEndian.Uint64(b[i:])
	k := leadingDigits(w)
	if k == 0 || k == 8 || b[i] == '0' && k > 1 {
		return 0, i, false
	}
	m := eightDigits(w << (64 - 8*k))
	i = advance(i, k)
	frac := 0
	if b[i] == '.' {
		i++
		w = binary.LittleEndian.Uint64(b[i:])
		frac = leadingDigits(w)
		if frac == 0 || frac == 8 {
			return 0, i, false
		}
		m = m*uint64(pow10int[frac]) + eightDigits(w<<(64-8*frac))
		i = advance(i, frac)
	}
	if b[i]|0x20 == 'e' || b[i] == '.' {
		return 0, i, false
	}
	f := float64(m) / pow10[frac] // m < 10^15: exact, and so is the one division's rounding
	if neg {
		f = -f
	}
	return f, i, true
}

// advance returns i+k, 0 < k < 8, by a branch on k rather than an addition:
// the coordinates of one geometry are mostly written with as many digits
// as each other, so the branch is predicted and the offset of the next
// number is known before this one's digits are counted. With the addition,
// every number's offset waits for the previous number's digits to be read
// and counted: a chain of loads that bounds the whole decoding.
func advance(i, k int) int {
	switch k {
	case 1:
		return i + 1
	case 2:
		return i + 2
	case 3:
		return i + 3
	case 4:
		return i + 4
	case 5:
		return i + 5
	case 6:
		return i + 6
	}
	return i + 7
}

// pow10int are powers of ten as integers.
var pow10int = [...]uint64{1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000}

// leadingDigits returns how many of w's bytes, from the first in memory
// (the lowest), are ASCII digits before the first that is not.
func leadingDigits(w uint64) int {
	// a byte is a digit when it is 0x30..0x39: its high nibble is 3 and
	// adding 6 does not carry into the high nibble
	hi := w & 0xF0F0F0F0F0F0F0F0
	carried := (w + 0x0606060606060606) & 0xF0F0F0F0F0F0F0F0
	bad := (hi ^ 0x3030303030303030) | (carried ^ 0x3030303030303030)
	// bad has bits in exactly the bytes that are not digits (those below
	// a non-digit may carry wrongly, but only bytes after the first
	// non-digit are affected, and they are not counted)
	if bad == 0 {
		return 8
	}
	return bits.TrailingZeros64(bad) / 8
}

// eightDigits converts eight ASCII digits, the first in memory (the
// lowest byte) the most significant, to their value; bytes that are 0
// count as leading zeros.
func eightDigits(w uint64) uint64 {
	w = (w & 0x0F0F0F0F0F0F0F0F) * 2561 >> 8
	w = (w & 0x00FF00FF00FF00FF) * 6553601 >> 16
	return (w & 0x0000FFFF0000FFFF) * 42949672960001 >> 32
}

// pow10 are the powers of ten that float64 holds exactly.
var pow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
	1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// number reads a number at the offset and returns its value, correctly
// rounded as strconv.ParseFloat rounds it (±Inf beyond float64's range).
// Up to 19 significant digits and a power of ten up to 22 away take
// Clinger's fast path: the digits as an exact integer, one exact
// multiplication or division; anything else goes to strconv.
func (s *jscan) number() float64 {
	if f, ok := s.shortNumber(); ok {
		return f
	}
	return s.longNumber()
}

// longNumber is number digit by digit.
func (s *jscan) longNumber() float64 {
	b := s.b
	i := s.i
	start := i
	neg := false
	if i < len(b) && b[i] == '-' {
		neg = true
		i++
	}
	var m uint64
	nd := 0 // significant digits in m
	exp := 0
	slow := false
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i]-'1' < 9:
		for i < len(b) && b[i]-'0' < 10 {
			if nd < 19 {
				m = m*10 + uint64(b[i]-'0')
				nd++
			} else {
				exp++
				slow = slow || b[i] != '0'
			}
			i++
		}
	default:
		s.i = i
		s.fail("bad number")
		return 0
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || b[i]-'0' >= 10 {
			s.i = i
			s.fail("bad number")
			return 0
		}
		for i < len(b) && b[i]-'0' < 10 {
			switch {
			case m == 0 && b[i] == '0':
				exp-- // a leading zero
			case nd < 19:
				m = m*10 + uint64(b[i]-'0')
				nd++
				exp--
			default:
				slow = slow || b[i] != '0'
			}
			i++
		}
	}
	if i < len(b) && b[i]|0x20 == 'e' {
		i++
		eneg := false
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			eneg = b[i] == '-'
			i++
		}
		if i >= len(b) || b[i]-'0' >= 10 {
			s.i = i
			s.fail("bad number")
			return 0
		}
		e := 0
		for i < len(b) && b[i]-'0' < 10 {
			if e < 100_000 {
				e = e*10 + int(b[i]-'0')
			}
			i++
		}
		if eneg {
			e = -e
		}
		exp += e
	}
	s.i = i
	var f float64
	switch {
	case m == 0 && !slow:
		f = 0
	case !slow && m <= 1<<53 && exp >= -22 && exp <= 22:
		f = float64(m)
		if exp < 0 {
			f /= pow10[-exp]
		} else {
			f *= pow10[exp]
		}
	default:
		tok := b[start:i]
		v, _ := strconv.ParseFloat(unsafe.String(unsafe.SliceData(tok), len(tok)), 64)
		return v // ±Inf when out of range, with the sign
	}
	if neg {
		f = -f
	}
	return f
}
