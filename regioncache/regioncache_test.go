package regioncache

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"

	"github.com/paulmach/orb"
	"github.com/roomstate/roomstate/engine"
	"github.com/roomstate/roomstate/region"
)

// square returns a square polygon at (x, y) of side d, its JSON text (with
// a long shared prefix when pad), and its area.
func square(t testing.TB, x, y, d float64, pad bool) (orb.MultiPolygon, []byte, *engine.Area) {
	t.Helper()
	mp := orb.MultiPolygon{{{{x, y}, {x + d, y}, {x + d, y + d}, {x, y + d}, {x, y}}}}
	text := []byte(`{"type":"Polygon",`)
	if pad {
		text = append(text, `"properties":{"note":"a prefix that many geometries share, longer than the key"},`...)
	}
	text = append(text, `"coordinates":[[`...)
	for i, p := range mp[0][0] {
		if i > 0 {
			text = append(text, ',')
		}
		text = append(text, '[')
		text = strconv.AppendFloat(text, p[0], 'f', -1, 64)
		text = append(text, ',')
		text = strconv.AppendFloat(text, p[1], 'f', -1, 64)
		text = append(text, ']')
	}
	text = append(text, "]]}"...)
	rg, err := region.New(mp)
	if err != nil {
		t.Fatal(err)
	}
	return mp, text, engine.NewArea(rg)
}

func TestFindByTextAndGeometry(t *testing.T) {
	c := New(1 << 20)
	mp, text, a := square(t, 121, 31, 0.01, false)
	if got, _ := c.FindText(append(append([]byte{}, text...), `,"where":"x"}`...)); got != nil {
		t.Fatal("found in an empty cache")
	}
	if got := c.FindGeometry(mp, text); got != nil {
		t.Fatal("found in an empty cache")
	}
	c.Add(text, mp, a)
	// the text at the start of a longer body
	body := append(append([]byte{}, text...), `,"where":"isolated"}`...)
	if got, n := c.FindText(body); got != a || n != len(text) {
		t.Fatalf("by text: %p %d, want %p %d", got, n, a, len(text))
	}
	// any byte different, also the last: not found by text
	for _, i := range []int{0, PrefixLen - 1, PrefixLen, len(text) / 2, len(text) - 1} {
		b := append([]byte{}, body...)
		b[i] ^= 1
		if got, _ := c.FindText(b); got != nil {
			t.Fatalf("byte %d changed: still found by text", i)
		}
	}
	// a text cut short: not found
	if got, _ := c.FindText(text[:len(text)-1]); got != nil {
		t.Fatal("a prefix of the text found it")
	}
	// the same geometry written otherwise (members in another order): found
	// by geometry, then by that text too
	at := bytes.Index(text, []byte(`"coordinates"`))
	other := append(append(append([]byte("{"), text[at:len(text)-1]...), ','), text[1:at-1]...)
	other = append(other, '}')
	if got, _ := c.FindText(other); got != nil {
		t.Fatal("another text found it before it was seen")
	}
	if got := c.FindGeometry(copyGeometry(mp), other); got != a {
		t.Fatal("not found by geometry")
	}
	if got, n := c.FindText(other); got != a || n != len(other) {
		t.Fatal("the other text was not kept")
	}
	// a different geometry: not found
	mp2, _, _ := square(t, 121, 31, 0.0100001, false)
	if got := c.FindGeometry(mp2, nil); got != nil {
		t.Fatal("a different geometry found it")
	}
	st := c.Stats()
	if st.TextHits != 2 || st.GeometryHits != 1 || st.Misses != 2 || st.Entries != 1 || st.Bytes <= int64(len(text)+len(other)) {
		t.Fatalf("stats %+v", st)
	}
}

// TestSharedPrefix: texts alike in their first PrefixLen bytes are told
// apart by their whole text; the newest maxPerPrefix of them are found by
// text, the others (and all) by geometry.
func TestSharedPrefix(t *testing.T) {
	c := New(1 << 20)
	var texts [][]byte
	var geoms []orb.MultiPolygon
	var areas []*engine.Area
	for i := range 20 {
		mp, text, a := square(t, 121, 31+float64(i)*0.01, 0.005, true)
		c.Add(text, mp, a)
		texts, geoms, areas = append(texts, text), append(geoms, mp), append(areas, a)
	}
	for i, text := range texts {
		got, n := c.FindText(append(append([]byte{}, text...), '}'))
		switch {
		case i >= len(texts)-maxPerPrefix && (got != areas[i] || n != len(text)):
			t.Fatalf("text %d: found %p, want %p", i, got, areas[i])
		case i < len(texts)-maxPerPrefix && got != nil:
			t.Fatalf("text %d: found among more than %d of one prefix", i, maxPerPrefix)
		}
		if c.FindGeometry(geoms[i], nil) != areas[i] {
			t.Fatalf("geometry %d not found", i)
		}
	}
	st := c.Stats()
	want := int64(0)
	for e := c.head.next; e != &c.head; e = e.next {
		want += e.measure()
	}
	if st.Bytes != want {
		t.Fatalf("bytes %d, the entries measure %d", st.Bytes, want)
	}
}

// TestBounded: the cache holds at most its bytes, dropping the least
// recently used first.
func TestBounded(t *testing.T) {
	_, _, a := square(t, 121, 31, 0.01, false)
	one := int64(0)
	{
		c := New(1 << 30)
		mp, text, _ := square(t, 121, 31, 0.01, false)
		c.Add(text, mp, a)
		one = c.Stats().Bytes
	}
	c := New(10*one + one/2)
	var geoms []orb.MultiPolygon
	for i := range 30 {
		mp, text, a := square(t, 121+float64(i)*0.01, 31, 0.005, false)
		c.Add(text, mp, a)
		geoms = append(geoms, mp)
		c.FindGeometry(geoms[0], nil) // the first stays in use
		if st := c.Stats(); st.Bytes > 10*one+one/2 || st.Entries > 10 {
			t.Fatalf("after %d: %+v (one is %d bytes)", i, st, one)
		}
	}
	if c.FindGeometry(geoms[0], nil) == nil {
		t.Fatal("the entry in use was dropped")
	}
	if c.FindGeometry(geoms[1], nil) != nil {
		t.Fatal("an old entry was kept")
	}
	if c.FindGeometry(geoms[29], nil) == nil {
		t.Fatal("the newest entry was dropped")
	}
	// an entry larger than the cache is not kept
	small := New(100)
	mp, text, a2 := square(t, 121, 31, 0.01, false)
	small.Add(text, mp, a2)
	if st := small.Stats(); st.Entries != 0 || st.Bytes != 0 {
		t.Fatalf("a cache of 100 bytes: %+v", st)
	}
}

func TestNilCache(t *testing.T) {
	var c *Cache = New(0)
	mp, text, a := square(t, 121, 31, 0.01, false)
	c.Add(text, mp, a)
	if got, _ := c.FindText(text); got != nil || c.FindGeometry(mp, text) != nil || c.Stats() != (Stats{}) {
		t.Fatal("a disabled cache kept something")
	}
}

// TestConcurrent: finds and adds from many goroutines (run with -race).
func TestConcurrent(t *testing.T) {
	type poly struct {
		mp   orb.MultiPolygon
		text []byte
		a    *engine.Area
	}
	var ps []poly
	for i := range 40 {
		mp, text, a := square(t, 121+float64(i%8)*0.01, 31+float64(i/8)*0.01, 0.005, i%2 == 0)
		ps = append(ps, poly{mp, text, a})
	}
	c := New(int64(len(ps[0].text)) * 30) // small: evictions happen
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 1))
			for range 2000 {
				p := ps[rng.IntN(len(ps))]
				if a, n := c.FindText(p.text); a != nil {
					if a != p.a || n != len(p.text) {
						panic(fmt.Sprintf("found another area: %p, want %p", a, p.a))
					}
					continue
				}
				if a := c.FindGeometry(p.mp, p.text); a != nil && a != p.a {
					panic("found another area by geometry")
				}
				c.Add(p.text, p.mp, p.a)
			}
		}()
	}
	wg.Wait()
	if st := c.Stats(); st.Bytes > int64(len(ps[0].text))*30 {
		t.Fatalf("over its bound: %+v", st)
	}
}

// blanks writes text with white space: between every two tokens (wide), or
// after commas and colons as Python's json does; inside strings never.
func blanks(text []byte, wide bool) []byte {
	var out []byte
	var str jsonStrings
	for _, c := range text {
		out = append(out, c)
		if str.next(c) {
			continue
		}
		if c == ',' || c == ':' || wide && (c == '[' || c == '{') {
			out = append(out, ' ')
			if wide {
				out = append(out, "\n\t"...)
			}
		}
	}
	return out
}

// TestFindTextAsideBlanks: a geometry's text written with other white space
// between its tokens is found by text, to its end; white space inside a
// string, or any other byte changed, is not the same text.
func TestFindTextAsideBlanks(t *testing.T) {
	for _, form := range []string{"", "padded", "type last"} {
		pad := form == "padded"
		c := New(1 << 20)
		mp, text, a := square(t, 121, 31, 0.01, pad)
		if form == "type last" { // its strings past the key's bytes
			at := bytes.Index(text, []byte(`"coordinates"`))
			text = append(append(append([]byte("{"), text[at:len(text)-1]...), ','), text[1:at-1]...)
			text = append(text, '}')
		}
		c.Add(blanks(text, true), mp, a) // kept as sent with blanks: found without too
		for _, v := range [][]byte{text, blanks(text, false), blanks(text, true)} {
			body := append(append([]byte{}, v...), " ,\"where\":\"isolated\"}"...)
			if got, n := c.FindText(body); got != a || n != len(v) {
				t.Fatalf("%s, %q: found %p after %d bytes, want %p after %d", form, v, got, n, a, len(v))
			}
		}
		// white space inside a string is part of it; any other byte matters
		for _, v := range [][]byte{
			bytes.Replace(text, []byte(`"Polygon"`), []byte(`"Poly gon"`), 1),
			bytes.Replace(text, []byte(`"Polygon"`), []byte(`" Polygon"`), 1),
			bytes.Replace(text, []byte(`"Polygon"`), []byte(`"Polygon "`), 1),
			bytes.Replace(text, []byte(`many geometries`), []byte(`many  geometries`), 1),
			bytes.Replace(text, []byte(`,`), []byte(`,,`), 1),
			bytes.Replace(text, []byte(`121.`), []byte(`121 .`), 1), // a blank in a number is not JSON
			bytes.Replace(text, []byte(`121.`), []byte(`12 1.`), 1),
			bytes.Replace(text, []byte(`,31`), []byte(`,3 1`), 1),
			bytes.Replace(text, []byte(`]]}`), []byte(`] ]`), 1),
			text[:len(text)-1],
		} {
			if bytes.Equal(v, text) {
				continue // no such string without padding
			}
			if got, _ := c.FindText(v); got != nil {
				t.Fatalf("%s: %q found", form, v)
			}
		}
	}
}

// FuzzTextMatch: a kept text (any JSON value, compacted) matches the bytes
// that make it with white space between tokens, to their end; and whatever
// it matches compacts to it: a blank inside a string is never skipped.
func FuzzTextMatch(f *testing.F) {
	f.Add([]byte(`{"type":"Polygon","coordinates":[[[1,2],[3,4]]]}`), []byte(`{ "type" : "Polygon" , "coordinates":[[[1, 2],[3,4]]]} ,`))
	f.Add([]byte(`{"coordinates":[[1,2]],"type":"Poly gon"}`), []byte(`{"coordinates":[[1,2]],"type":"Polygon"}`))
	f.Add([]byte(`["a\" b", "c"]`), []byte(`["a\"  b","c"]`))
	f.Add([]byte(`[121.47,-31.2e5,true,null]`), []byte(`[121 .47, - 31.2e5,tr ue,null ]`))
	f.Fuzz(func(t *testing.T, raw, b []byte) {
		raw = bytes.Trim(raw, " \t\r\n") // a kept text is one value: from its first byte to its last
		if !json.Valid(raw) {
			return
		}
		tt := compact(raw)
		if !json.Valid(tt.b) {
			t.Fatalf("compact(%q) = %q: not JSON", raw, tt.b)
		}
		if n, ok := tt.match(b); ok {
			if got := compact(b[:n]); !bytes.Equal(got.b, tt.b) {
				t.Fatalf("%q matched %q, which compacts to %q", tt.b, b[:n], got.b)
			}
			if !json.Valid(b[:n]) {
				t.Fatalf("%q matched %q, which is not JSON", tt.b, b[:n])
			}
		}
		for _, wide := range []bool{false, true} {
			v := blanks(raw, wide)
			if n, ok := tt.match(v); !ok || n != len(v) {
				t.Fatalf("%q does not match %q (%d, %v)", tt.b, v, n, ok)
			}
		}
	})
}
