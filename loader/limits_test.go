package loader

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/roomstate/roomstate/engine"
)

// wideCSV is a header of id, lon, lat and n flag columns c0…, and one row.
func wideCSV(n int) string {
	var b strings.Builder
	b.WriteString("id,lon,lat")
	for i := range n {
		fmt.Fprintf(&b, ",c%d", i)
	}
	b.WriteString("\na,121.5,31.2")
	for i := range n {
		b.WriteString([]string{",0", ",1"}[i%2])
	}
	b.WriteString("\n")
	return b.String()
}

// column returns the 1-based column of the i-th comma-separated field of
// the first line of s.
func column(s string, i int) int {
	line, _, _ := strings.Cut(s, "\n")
	fields := strings.Split(line, ",")
	if i == 0 {
		return 1
	}
	return utf8.RuneCountInString(strings.Join(fields[:i], ",")) + 2
}

// TestTooManyFlags: 70,000 flag columns (which wrapped a 16-bit flag number:
// c65542 answered with c6's count) are refused at the header, fast, naming
// the limit; 1,024 flags, the four built-in ones among them, load; the
// 1,025th is refused at its column once the file is read (only then is it
// known to be a flag), counting the flags already loaded; a column that
// turns out not to be a flag does not count.
func TestTooManyFlags(t *testing.T) {
	in := wideCSV(70_000)
	start := time.Now()
	b, err := readCSVString(t, in, Options{})
	took := time.Since(start)
	want := fmt.Sprintf("d.csv:1:%d: the header has 70003 columns: a file holds at most 4096 columns, of which at most 1024 flags", column(in, MaxColumns))
	if b != nil || err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("got %v, want %s", err, want)
	}
	if took > time.Second {
		t.Fatalf("refusing 70,000 columns took %v", took)
	}
	t.Logf("70,000 columns refused in %v", took)

	// exactly the limit loads, and every flag answers for itself
	room := MaxFlags - len(BuiltinFlags) // the flags a file may add
	b, err = readCSVString(t, wideCSV(room), Options{})
	if err != nil {
		t.Fatal(err)
	}
	e := engine.New(engine.Options{})
	if err := e.Load(b); err != nil {
		t.Fatal(err)
	}
	if d, _ := e.Dwelling("a"); len(e.Flags()) != MaxFlags || len(d.Flags) != room/2 || d.Flags[0] != "c1" || d.Flags[room/2-1] != fmt.Sprintf("c%d", room-1) {
		t.Fatalf("%d flags, dwelling has %d: %v…", len(e.Flags()), len(d.Flags), d.Flags[:3])
	}

	// one more: refused where the column is named, once
	in = wideCSV(room + 1)
	row := strings.SplitN(in, "\n", 3)[1]
	for i := range 50 {
		in += strings.Replace(row, "a,", fmt.Sprintf("b%d,", i), 1) + "\n"
	}
	_, err = readCSVString(t, in, Options{})
	want = fmt.Sprintf(`d.csv:1:%d: c%d: column "c%d" would be flag 1025: at most 1024 flags, 4 of them built in, already loaded or brought by an earlier file`, column(in, 3+room), room, room)
	var le *engine.LoadError
	if err == nil || !strings.Contains(err.Error(), want) || !errors.As(err, &le) || le.Len() != 1 {
		t.Fatalf("got %v, want %s and nothing else", err, want)
	}
	// unless a column turns out not to be a flag: the limit counts the
	// columns that end up flags
	in = wideCSV(room+1) + "b,121.5,31.2" + strings.Repeat(",1", 5) + ",x" + strings.Repeat(",1", room-5) + "\n"
	b, err = readCSVString(t, in, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Flags()) != room || slices.Contains(b.Flags(), "c5") {
		t.Fatalf("%d flags, c5 among them: %v", len(b.Flags()), slices.Contains(b.Flags(), "c5"))
	}
	// flags the engine holds already count
	loaded := slices.Clone(BuiltinFlags)
	for i := range room {
		loaded = append(loaded, fmt.Sprintf("old%d", i))
	}
	_, err = readCSVString(t, wideCSV(30), Options{KnownFlags: loaded[:1004]})
	if err == nil || !strings.Contains(err.Error(), `d.csv:1:`+fmt.Sprint(column(wideCSV(30), 23))+`: c20: column "c20" would be flag 1025: at most 1024 flags, 1004 of them built in, already loaded or brought by an earlier file (a column whose values are all 0, 1, true, false or empty is a flag)`) {
		t.Fatalf("got %v", err)
	}
	// a flag the engine holds takes no more room
	_, err = readCSVString(t, "id,lon,lat,old5,isolated\na,1,2,1,1\n", Options{KnownFlags: loaded})
	if err != nil {
		t.Fatal(err)
	}
	_, err = readCSVString(t, "id,lon,lat,old5,isolated,new\na,1,2,1,1,1\n", Options{KnownFlags: loaded})
	if err == nil || !strings.Contains(err.Error(), `d.csv:1:26: new: column "new" would be flag 1025`) {
		t.Fatalf("got %v", err)
	}
}

// endless yields a header, then one line of n bytes of x that is never
// ended, counting what is read.
type endless struct {
	head string
	n    int64
	read int64
}

func (e *endless) Read(p []byte) (int, error) {
	if e.read < int64(len(e.head)) {
		k := copy(p, e.head[e.read:])
		e.read += int64(k)
		return k, nil
	}
	left := int64(len(e.head)) + e.n - e.read
	if left <= 0 {
		return 0, io.EOF
	}
	k := int(min(int64(len(p)), left))
	for i := range k {
		p[i] = 'x'
	}
	e.read += int64(k)
	return k, nil
}

// TestGiantLine: a 1 GiB line is refused after reading a few MiB of it, in
// bounded memory (it peaked at 3.9 GB before the limit), with the place of
// the first byte past the limit.
func TestGiantLine(t *testing.T) {
	for _, c := range []struct {
		name, head string
		want       string
	}{
		{"unquoted", "id,lon,lat\n", "big.csv:2:1048577: record longer than 1048576 bytes (the CSV line limit)"},
		{"in a quoted field", "id,lon,lat\na,1,2\n\"", "big.csv:3:1048577: record longer than 1048576 bytes"},
		{"header", "", "big.csv:1:1048577: record longer than 1048576 bytes"},
	} {
		t.Run(c.name, func(t *testing.T) {
			src := &endless{head: c.head, n: 1 << 30}
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			b, err := ReadCSV("big.csv", src, 0, Options{})
			runtime.ReadMemStats(&after)
			if b != nil || err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want %s", err, c.want)
			}
			// everything allocated while reading, an upper bound of the peak
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 16<<20 {
				t.Fatalf("reading allocated %d MiB", alloc>>20)
			}
			if src.read > 4<<20 {
				t.Fatalf("read %d MiB of the line before refusing it", src.read>>20)
			}
		})
	}
	// a quoted field that goes on over many short lines is one record
	var b strings.Builder
	b.WriteString("id,lon,lat\na,1,2\nb,1,\"")
	for b.Len() < 1<<20*13/10 { // CRLF is read as LF
		b.WriteString("line\r\n")
	}
	_, err := readCSVString(t, b.String(), Options{})
	if err == nil || !strings.Contains(err.Error(), "record longer than 1048576 bytes") {
		t.Fatalf("got %v", err)
	}
}

// TestLineAndFieldLimits checks the limits at their edges, and that
// Options sets them.
func TestLineAndFieldLimits(t *testing.T) {
	long := strings.Repeat("y", DefaultMaxFieldBytes)
	// a field at the limit loads, quoted or not; one byte more does not
	for _, in := range []string{
		"id,lon,lat,note\na,1,2," + long + "\n",
		"id,lon,lat,note\na,1,2,\"" + long + "\"\n",
	} {
		if _, err := readCSVString(t, in, Options{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, in := range []string{
		"id,lon,lat,note\na,1,2," + long + "y\n",
		"id,lon,lat,note\na,1,2,\"" + long + "y\"\n",
		"id,lon,lat,note\na,1,2,\"" + long[:100] + "\r\n" + long + "\"\n",
	} {
		_, err := readCSVString(t, in, Options{})
		if err == nil || !strings.Contains(err.Error(), "d.csv:2:7: field longer than 65536 bytes (the CSV field limit)") {
			t.Fatalf("got %v", err)
		}
	}
	// set through Options: the line limit counts bytes without the line end
	opts := Options{MaxLineBytes: 20, MaxFieldBytes: 5}
	if _, err := readCSVString(t, "id,lon,lat\r\nabcde,1,2\r\nb,1,2\r\n", opts); err != nil {
		t.Fatal(err)
	}
	for in, want := range map[string]string{
		"id,lon,lat\nabcdef,1,2\n":                                "d.csv:2:1: field longer than 5 bytes",
		"id,lon,lat\na,1,2,,,,,,,,,,,,,,,,,,,,,,,,,,\n":           "d.csv:2:21: record longer than 20 bytes",
		"id,lon,lat\na,1,\"2\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\"\n": "d.csv:16:1: record longer than 20 bytes",
		"\xef\xbb\xbfid,lon,lat,a,b,c,d,e,f,g,h\n":                "d.csv:1:21: record longer than 20 bytes",
	} {
		_, err := readCSVString(t, in, opts)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: got %v, want %s", in, err, want)
		}
	}
}

// TestGeoJSONLimits: a feature past the line limit is refused before it is
// decoded, a property value past the field limit and too many properties
// are refused, all with their place.
func TestGeoJSONLimits(t *testing.T) {
	feature := func(props string) string {
		return `{"type":"Feature","geometry":{"type":"Point","coordinates":[1,2]},"properties":{"id":"a"` + props + `}}`
	}
	coll := func(fs ...string) []byte {
		return []byte(`{"type":"FeatureCollection","features":[` + "\n" + strings.Join(fs, ",\n") + "\n]}")
	}
	big := `,"note":"` + strings.Repeat("n", 2<<20) + `"`
	_, err := ReadGeoJSON("d.geojson", coll(feature(""), feature(big)), Options{})
	if err == nil || !strings.Contains(err.Error(), "d.geojson:3:1: feature 1 is longer than 1048576 bytes (the limit of a feature)") {
		t.Fatalf("got %v", err)
	}
	value := `,"note":"` + strings.Repeat("n", DefaultMaxFieldBytes+1) + `"`
	_, err = ReadGeoJSON("d.geojson", coll(feature(value)), Options{})
	if err == nil || !strings.Contains(err.Error(), `d.geojson:2:1: feature 0: property "note": value longer than 65536 bytes (the field limit)`) {
		t.Fatalf("got %v", err)
	}
	var many strings.Builder
	for i := range MaxColumns {
		fmt.Fprintf(&many, `,"p%05d":1`, i)
	}
	start := time.Now()
	_, err = ReadGeoJSON("d.geojson", coll(feature(many.String())), Options{})
	if err == nil || !strings.Contains(err.Error(), `property "p04093": more than 4096 columns`) || time.Since(start) > time.Second {
		t.Fatalf("got %v in %v", err, time.Since(start))
	}
	// 1,024 flags with the built-in ones load; one more does not
	var flags strings.Builder
	for i := range MaxFlags - len(BuiltinFlags) {
		fmt.Fprintf(&flags, `,"f%05d":1`, i)
	}
	if _, err = ReadGeoJSON("d.geojson", coll(feature(flags.String())), Options{}); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(&flags, `,"f%05d":1`, MaxFlags-len(BuiltinFlags))
	_, err = ReadGeoJSON("d.geojson", coll(feature(flags.String())), Options{})
	if err == nil || !strings.Contains(err.Error(), `d.geojson:2:1: f01020: column "f01020" would be flag 1025: at most 1024 flags`) {
		t.Fatalf("got %v", err)
	}
	// the pre-scan does not misjudge strings holding brackets and quotes
	odd := `,"note":"]}]}\"{[` + strings.Repeat(" ", 100) + `"`
	if _, err := ReadGeoJSON("d.geojson", coll(feature(odd)), Options{MaxLineBytes: 300}); err != nil {
		t.Fatal(err)
	}
	if !valueTooLong([]byte(`, {"a":"]]]]]]]]]]]]]]]"}`), 0, 10) || valueTooLong([]byte(`{"a":"]"}  `), 0, 9) {
		t.Fatal("valueTooLong misjudges")
	}
}

// FuzzCSVLimits reads arbitrary bytes with small limits and checks them
// against the reader without limits (itself checked against encoding/csv by
// FuzzCSVReader): the same records up to the first one past a limit, then a
// limit error there; never a panic.
func FuzzCSVLimits(f *testing.F) {
	for _, s := range []string{
		"a,b,c\nabcdefgh,1\n", "\"a\nb\nc\nd\",e\n", "x\r\n\r\nyyyyyyyyyyyyyyy\r\n", "\xef\xbb\xbfab,\"c\"\"d\"\n", "\"abc",
	} {
		f.Add([]byte(s), uint8(8), uint8(4))
	}
	f.Fuzz(func(t *testing.T, data []byte, line, field uint8) {
		maxLine, maxField := int(line%32)+1, int(field%16)+1
		type rec struct {
			fields []string
			raw    int // bytes of the record without its line end
		}
		var all []rec
		var allErr error
		cr := newCSVReader(bytes.NewReader(data))
		for {
			fs, _, err := cr.next()
			if err != nil {
				if err != io.EOF {
					allErr = err
				}
				break
			}
			r := rec{raw: len(trimEOL(cr.raw))}
			for _, f := range fs {
				r.fields = append(r.fields, string(f))
			}
			all = append(all, r)
		}
		lim := newCSVReader(bytes.NewReader(data))
		lim.maxLine, lim.maxField = maxLine, maxField
		for i := 0; ; i++ {
			fs, _, err := lim.next()
			if i == len(all) {
				// the unlimited reader ended here: with the same error, or a
				// limit met on the way to it
				var se *csvSyntaxError
				if err == io.EOF && allErr == nil || err != nil && errors.As(err, &se) && se.Limit && allErr != nil {
					return
				}
				if err != nil && allErr != nil && err.Error() == allErr.Error() {
					return
				}
				t.Fatalf("record %d: got %v, want %v", i, err, allErr)
			}
			r := all[i]
			over := r.raw > maxLine
			for _, f := range r.fields {
				over = over || len(f) > maxField
			}
			if over {
				var se *csvSyntaxError
				if !errors.As(err, &se) || !se.Limit {
					t.Fatalf("record %d (%d bytes, fields %q) past a limit (%d, %d): got %v", i, r.raw, r.fields, maxLine, maxField, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("record %d within the limits: %v", i, err)
			}
			if len(fs) != len(r.fields) {
				t.Fatalf("record %d: %d fields, want %d", i, len(fs), len(r.fields))
			}
			for k, f := range fs {
				if string(f) != r.fields[k] {
					t.Fatalf("record %d field %d: %q, want %q", i, k, f, r.fields[k])
				}
			}
		}
	})
}

// TestGeoJSONInBoundedMemory: a file of newlines cost 8 bytes of line table
// a byte (with the JSON decoder's buffer, some 20 times the file); positions
// are now counted as features come, and what is left is the decoder's
// buffer, which holds a run of white space whole: a few times the file. A
// boundary feature past MaxBoundaryBytes is refused before it is decoded.
func TestGeoJSONInBoundedMemory(t *testing.T) {
	var b bytes.Buffer
	b.WriteString(`{"type":"FeatureCollection","features":[`)
	b.Write(bytes.Repeat([]byte("\n"), 32<<20))
	b.WriteString(`  {"type":"Feature","geometry":{"type":"LineString","coordinates":[[1,2],[3,4]]},"properties":{"id":"a"}}]}`)
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := ReadGeoJSON("d.geojson", b.Bytes(), Options{})
	runtime.ReadMemStats(&after)
	want := fmt.Sprintf("d.geojson:%d:3: feature 0: geometry must be a Point", 32<<20+1)
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("got %v, want %s", err, want)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 5*32<<20 {
		t.Fatalf("reading a 32 MiB file allocated %d MiB", alloc>>20)
	}

	b.Reset()
	b.WriteString(`{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"level":"grid","id":"G"},"geometry":{"type":"Polygon","coordinates":[[`)
	for b.Len() <= MaxBoundaryBytes+100 {
		b.WriteString("[121.123456,31.123456],")
	}
	b.WriteString("[121,31]]]}}]}")
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err = ReadBoundaries("b.geojson", b.Bytes(), WGS84)
	runtime.ReadMemStats(&after)
	if err == nil || !strings.Contains(err.Error(), "b.geojson:1:41: feature 0 is longer than 67108864 bytes") {
		t.Fatalf("got %v", err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 8<<20 {
		t.Fatalf("refusing a 64 MiB boundary allocated %d MiB", alloc>>20)
	}
}

// FuzzLineIndex checks positions counted on from the last one against
// counting from the start, for offsets (at character starts) in any order.
func FuzzLineIndex(f *testing.F) {
	f.Add([]byte("ab\n\nçd, e\r\n\tf"), []byte{0, 3, 9, 2, 200, 5})
	f.Fuzz(func(t *testing.T, data, offs []byte) {
		li := newLineIndex(data)
		for _, o := range offs {
			off := int64(o) * int64(len(data)+1) / 256
			for off < int64(len(data)) && !utf8.RuneStart(data[off]) {
				off++ // the decoder's offsets are never inside a character
			}
			line, col := li.pos(off)
			// naive: skip white space and commas, then count from the start
			i := int(off)
			for i < len(data) && strings.IndexByte(" \n\r\t,", data[i]) >= 0 {
				i++
			}
			nl := bytes.LastIndexByte(data[:i], '\n')
			wl, wc := bytes.Count(data[:i], []byte{'\n'})+1, utf8.RuneCount(data[nl+1:i])+1
			if line != wl || col != wc {
				t.Fatalf("offset %d of %q: %d:%d, want %d:%d", off, data, line, col, wl, wc)
			}
		}
	})
}
