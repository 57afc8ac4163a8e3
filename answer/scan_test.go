package answer

import (
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/roomstate/roomstate/engine"
	"github.com/roomstate/roomstate/fault"
)

// FuzzJSONNumber: the scanner's numbers against encoding/json's grammar
// and strconv.ParseFloat's value, bit for bit (the sign of zero included).
func FuzzJSONNumber(f *testing.F) {
	for _, s := range []string{"0", "-0", "121.4567891", "31.2", "1e22", "1e23", "9007199254740993", "0.1", "-180",
		"1.7976931348623157e308", "1e400", "-1e-400", "123456789012345678901234567890", "0.00000000000000000000000001",
		"0.9007199254740993", "9007199254740993e-5", "01", "1.", ".5", "-", "1e", "1e+", "2.5E-3", "4.9e-324", "12345678901234567890.5", "100000000000000000000000"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		s := jscan{b: []byte(text)}
		v := s.number()
		valid := json.Valid([]byte(text)) && text != "" && (text[0] == '-' || text[0]-'0' < 10) &&
			strings.TrimRight(text, " \t\r\n") == text
		whole := s.ok() && s.i == len(text)
		if whole != valid {
			t.Fatalf("%q: scanner takes it whole %v (err %v, at %d), encoding/json says valid %v", text, whole, s.err, s.i, valid)
		}
		// followed by more, as in an array of coordinates, where the
		// eight-digit path has room to read ahead: the same as digit by digit
		for _, tail := range []string{",31.2345678],[121.4567891,31.0000001]]", "]", " ,0", "}", "01234567890123456789"} {
			s1, s2 := jscan{b: []byte(text + tail)}, jscan{b: []byte(text + tail)}
			v1, v2 := s1.number(), s2.longNumber()
			if s1.i != s2.i || (s1.err == nil) != (s2.err == nil) || math.Float64bits(v1) != math.Float64bits(v2) {
				t.Fatalf("%q followed by %q: read %d bytes as %v (err %v); digit by digit %d bytes as %v (err %v)", text, tail, s1.i, v1, s1.err, s2.i, v2, s2.err)
			}
		}
		if !valid {
			return
		}
		want, err := strconv.ParseFloat(text, 64)
		if err != nil && !errors.Is(err, strconv.ErrRange) {
			t.Fatalf("%q: strconv: %v", text, err)
		}
		if math.Float64bits(v) != math.Float64bits(want) {
			t.Fatalf("%q: scanner %v (%#x), strconv %v (%#x)", text, v, math.Float64bits(v), want, math.Float64bits(want))
		}
	})
}

// FuzzPolygonBody: a body is refused as not JSON exactly when
// encoding/json finds it invalid (or nested deeper than 300), and its
// members are read as fastjson read them.
func FuzzPolygonBody(f *testing.F) {
	for _, s := range []string{
		`{"geometry":{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,0]]]},"where":"isolated","limit":5}`,
		`{"where":"a\u0026b","group_by":"grid","ids":false,"as_of":null}`,
		`{"geometry":{"coordinates":[[[0,0],[1,0],[1,1],[0,0]]],"type":"Polygon","bbox":[0,0,1,1]}}`,
		`{"geometry":{"type":"Feature","properties":{"a":[1,{"b":"}"}]},"geometry":null}}`,
		`{"geo\u006detry":{"type":"FeatureCollection","features":[]}}`,
		`{"geometry":{"type":"Polygon","coordinates":[[[NaN,1],[1,-Infinity],[1,2],[nan,1]]]}}`,
		`{}`, `[]`, `{"a":1,}`, `{"a" 1}`, `{"a":tru}`, `{"a":"\x"}`, `{"a":1} x`, ` {"where" : "" } `,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		a := &Answers{opts: Options{}}
		a.opts.defaults()
		var q engine.PolygonQuery
		_, err := a.readPolygonBody([]byte(text), true, new(scratch), &q)
		bad := errors.Is(err, fault.BadJSON)
		valid := json.Valid([]byte(text)) && strings.TrimSpace(text) != ""
		if bad && valid && !strings.Contains(err.Error(), "nested too deeply") && !strings.Contains(err.Error(), "must be a JSON object") {
			t.Fatalf("%q: refused as not JSON (%v), encoding/json reads it", text, err)
		}
		if !bad && !valid && !nonFiniteIn(text) {
			t.Fatalf("%q: taken (err %v), encoding/json says it is not JSON", text, err)
		}
	})
}

// nonFiniteIn reports whether text holds NaN or Inf in any case, which the
// scanner takes for numbers as fastjson did.
func nonFiniteIn(text string) bool {
	l := strings.ToLower(text)
	return strings.Contains(l, "nan") || strings.Contains(l, "inf")
}

// BenchmarkReadPolygonBody reads the body of a 2,000-vertex polygon (7
// decimals, as json.Marshal writes rounded coordinates): the decoding part
// of a polygon query's server time.
func BenchmarkReadPolygonBody(b *testing.B) {
	body := []byte(`{"geometry":{"type":"Polygon","coordinates":[[`)
	for i := 0; i < 2000; i++ {
		a := 2 * math.Pi * float64(i) / 2000
		body = strconv.AppendFloat(append(body, '['), math.Round((121.4+0.05*math.Cos(a))*1e7)/1e7, 'f', -1, 64)
		body = strconv.AppendFloat(append(body, ','), math.Round((31.2+0.05*math.Sin(a))*1e7)/1e7, 'f', -1, 64)
		body = append(body, "],"...)
	}
	body = append(body, `[121.45,31.2]]]},"where":"isolated"}`...)
	a := &Answers{opts: Options{}}
	a.opts.defaults()
	sc := new(scratch)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		var q engine.PolygonQuery
		if _, err := a.readPolygonBody(body, true, sc, &q); err != nil || sc.geom.err != nil {
			b.Fatal(err, sc.geom.err)
		}
	}
}
