package loader

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/roomstate/roomstate/engine"
)

const header = "id,lon,lat,district,street,community,grid,building,unit,floor,room,isolated,vaccinated,rental,elderly_alone\n"

func readCSVString(t *testing.T, s string, opts Options) (*engine.Batch, error) {
	t.Helper()
	return ReadCSV("d.csv", strings.NewReader(s), int64(len(s)), opts)
}

func TestReadCSVGood(t *testing.T) {
	in := "\xef\xbb\xbf" + // a BOM
		"room,floor,id,lat,lon,grid,isolated,elderly_alone,custom_flag,note,unit,building,never\r\n" +
		"1203,12,PD-1,31.2301,121.5012,G1,1,FALSE,,hello,1,B1,\r\n" +
		"\"12\"\"03\",-1,PD-2,31.2301,121.5012,G1,0,True,1,\"a, \"\"quoted\"\"\nnote\",2,B1,\r\n" +
		"\r\n" +
		"3,,PD-3,31.24,121.51,G2,,,0,x,,,\n"
	b, err := readCSVString(t, in, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if b.Len() != 3 {
		t.Fatalf("%d rows, want 3", b.Len())
	}
	// custom_flag is a flag (its values are 0/1/empty); note is not; never
	// (empty throughout) is a flag no dwelling has
	flags := b.Flags()
	for _, want := range []string{"isolated", "elderly_alone", "custom_flag", "never"} {
		if !slices.Contains(flags, want) {
			t.Errorf("flags %v lack %s", flags, want)
		}
	}
	if slices.Contains(flags, "note") {
		t.Errorf("note taken as a flag: %v", flags)
	}
	e := engine.New(engine.Options{})
	if err := e.Load(b); err != nil {
		t.Fatal(err)
	}
	d, err := e.Dwelling("PD-2")
	if err != nil {
		t.Fatal(err)
	}
	if d.Room != `12"03` || d.Floor != -1 || d.Unit != "2" || d.Building != "B1" || d.Lon != 121.5012 || d.Lat != 31.2301 {
		t.Fatalf("PD-2 read as %+v", d)
	}
	if !slices.Equal(d.Flags, []string{"elderly_alone", "custom_flag"}) {
		t.Fatalf("PD-2 flags %v", d.Flags)
	}
	d3, _ := e.Dwelling("PD-3")
	if d3.Floor != engine.NoFloor || len(d3.Flags) != 0 {
		t.Fatalf("PD-3 read as %+v", d3)
	}
}

// TestReadCSVBad checks that every kind of bad input is reported with file,
// line and column, and yields no batch.
func TestReadCSVBad(t *testing.T) {
	cases := []struct {
		name, in string
		want     string // in the message: "d.csv:LINE:COL: ..."
	}{
		{"empty file", "", "d.csv:1:1: file is empty"},
		{"no id column", "lon,lat\n1,2\n", `no "id" column`},
		{"no lat column", "id,lon\n1,2\n", `no "lat" column`},
		{"duplicate column", "id,lon,lat,lon\n", `d.csv:1:12: column "lon" repeats column "lon"`},
		{"duplicate flag column", "id,lon,lat,x,x\n", `d.csv:1:14: column "x" appears twice`},
		{"empty column name", "id,lon,lat,,x\n", "d.csv:1:12: column name is empty"},
		{"missing id", header + ",121.5,31.2,,,,,,,,,0,0,0,0\n", "d.csv:2:1: id: id is empty"},
		{"bad lon", header + "a,12x,31.2,,,,,,,,,0,0,0,0\n", `d.csv:2:3: lon: "12x" is not a number`},
		{"empty lat", header + "a,121,,,,,,,,,,0,0,0,0\n", "d.csv:2:7: lat: coordinate is empty"},
		{"lat out of range", header + "a,121,91.5,,,,,,,,,0,0,0,0\n", "d.csv:2:7: lat: latitude 91.5 is out of range"},
		{"lon out of range", header + "a,-180.5,31,,,,,,,,,0,0,0,0\n", "d.csv:2:3: lon: longitude -180.5 is out of range"},
		{"NaN", header + "a,NaN,31,,,,,,,,,0,0,0,0\n", `d.csv:2:3: lon: "NaN" is not a number`},
		{"Inf", header + "a,121,+Inf,,,,,,,,,0,0,0,0\n", `d.csv:2:7: lat: "+Inf" is not a number`},
		{"bad flag", header + "a,121,31,,,,,,,,,0,2,0,0\n", `d.csv:2:20: vaccinated: "2" is not a flag value`},
		{"built-in flag not a flag value", "id,lon,lat,isolated\na,1,2,1\nb,1,2,maybe\n", `d.csv:3:7: isolated: "maybe" is not a flag value (0, 1, true, false or empty): it is a built-in flag`},
		{"built-in flag not a flag value first", "id,lon,lat,x,elderly_alone\na,1,2,1,maybe\n", `d.csv:2:9: elderly_alone: "maybe" is not a flag value`},
		{"bad floor", header + "a,121,31,,,,,,,B1,,0,0,0,0\n", `d.csv:2:16: floor: "B1" is not a floor number`},
		{"floor too big", header + "a,121,31,,,,,,,99999,,0,0,0,0\n", `floor: "99999" is not a floor number`},
		{"floor not whole", header + "a,121,31,,,,,,,3.5,,0,0,0,0\n", `floor: "3.5" is not a floor number`},
		{"hexadecimal lon", header + "a,0x1p4,31,,,,,,,,,0,0,0,0\n", `d.csv:2:3: lon: "0x1p4" is not a number`},
		{"digit separators", header + "a,12_1,31,,,,,,,,,0,0,0,0\n", `d.csv:2:3: lon: "12_1" is not a number`},
		{"a built-in flag twice, in two cases", "id,lon,lat,isolated,Isolated\n", `column "isolated" appears twice`},
		{"duplicate id", header + "a,121,31,,,,,,,,,0,0,0,0\nb,121,31,,,,,,,,,0,0,0,0\na,121,31,,,,,,,,,0,0,0,0\n", `d.csv:4:1: id: duplicate id "a" (first on line 2)`},
		{"too few fields", header + "a,121,31\n", "d.csv:2:9: row has 3 fields, the header has 15"},
		{"too many fields", "id,lon,lat\na,1,2,3\n", "row has 4 fields, the header has 3"},
		{"bare quote", "id,lon,lat\na\"b,1,2\n", "d.csv:2:2: bare \""},
		{"text after quote", "id,lon,lat\n\"a\"b,1,2\n", `d.csv:2:4: extraneous or missing "`},
		{"unclosed quote", "id,lon,lat\n\"a,1,2\nb,1,2\n", "d.csv:2:1: quoted field is never closed"},
		{"invalid UTF-8", header + "a,121,31,\xff\xfe,,,,,,,,0,0,0,0\n", "d.csv:2:10: district: value is not valid UTF-8"},
		{"control char in id", header + "a\x01b,121,31,,,,,,,,,0,0,0,0\n", "id: id \"a\\x01b\" holds a control character"},
		{"long id", header + strings.Repeat("x", 200) + ",121,31,,,,,,,,,0,0,0,0\n", "id is longer than 128 bytes"},
		{"column in characters", "id,lon,lat,community\n甲,1,2,乙\n", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b, err := readCSVString(t, c.in, Options{})
			if c.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var le *engine.LoadError
			if !errors.As(err, &le) {
				t.Fatalf("got %v (batch %v), want a LoadError", err, b)
			}
			if b != nil {
				t.Fatal("a batch came back with the error")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error\n%v\ndoes not contain\n%s", err, c.want)
			}
		})
	}
}

func TestReadCSVReportsEveryProblem(t *testing.T) {
	var sb strings.Builder
	sb.WriteString(header)
	for i := 0; i < 250; i++ {
		sb.WriteString("a,x,31,,,,,,,,,0,0,0,0\n")
	}
	_, err := readCSVString(t, sb.String(), Options{})
	var le *engine.LoadError
	if !errors.As(err, &le) || le.Len() != 250 { // rows with a bad lon are not added, so not duplicates either
		t.Fatalf("got %d problems (%v), want 250", le.Len(), err)
	}
	if len(le.Problems) != engine.MaxProblems {
		t.Fatalf("listed %d problems, want %d", len(le.Problems), engine.MaxProblems)
	}
}

func TestColumnIsCountedInCharacters(t *testing.T) {
	_, err := readCSVString(t, "id,community,lon,lat\n甲,乙丙,x,2\n", Options{})
	if err == nil || !strings.Contains(err.Error(), "d.csv:2:6: lon") {
		t.Fatalf("got %v, want the error at column 6", err)
	}
}

// TestFailedLoadChangesNothing loads good data, then a bad file, a file with
// an id already loaded, and two batches that clash: the engine is unchanged.
func TestFailedLoadChangesNothing(t *testing.T) {
	e := engine.New(engine.Options{})
	good, err := readCSVString(t, header+"a,121.5,31.2,D,S,C,G,B,1,1,101,1,0,0,0\nb,121.5,31.2,D,S,C,G,B,1,1,102,0,1,0,0\n", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Load(good); err != nil {
		t.Fatal(err)
	}
	snapshot := func() string {
		var sb strings.Builder
		for _, id := range []string{"a", "b", "c"} {
			d, err := e.Dwelling(id)
			sb.WriteString(id + ":")
			if err == nil {
				d.Version = 0
				sb.WriteString(strings.Join(d.Flags, "+") + d.Grid + d.Room)
			}
		}
		sb.WriteString(strings.Join(e.Flags(), ","))
		return sb.String()
	}
	before, v := snapshot(), e.Version()
	// an id already loaded
	again, err := readCSVString(t, header+"c,121.5,31.2,D,S,C,G,B,1,1,103,0,0,0,0\na,121.5,31.2,D,S,C,G,B,1,1,104,0,0,0,1\n", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Load(again); err == nil || !strings.Contains(err.Error(), `d.csv:3:1: id: duplicate id "a" (already loaded)`) {
		t.Fatalf("got %v", err)
	}
	// two batches that clash with each other, one bringing a new flag
	x, _ := ReadCSV("x.csv", strings.NewReader("id,lon,lat,newflag\nc,1,2,1\n"), 0, Options{})
	y, _ := ReadCSV("y.csv", strings.NewReader("id,lon,lat\nd,1,2\nc,1,2\n"), 0, Options{})
	if err := e.Load(x, y); err == nil || !strings.Contains(err.Error(), `y.csv:3:1: id: duplicate id "c" (first in x.csv:2)`) {
		t.Fatalf("got %v", err)
	}
	if after := snapshot(); after != before || e.Version() != v || e.Len() != 2 {
		t.Fatalf("engine changed by failed loads:\n%s\n%s", before, after)
	}
}

func TestGCJ02(t *testing.T) {
	// round trip inside China to well under a centimetre
	for _, p := range [][2]float64{{121.4737, 31.2304}, {116.3974, 39.9093}, {113.2644, 23.1291}} {
		g0, g1 := WGS84ToGCJ02(p[0], p[1])
		if math.Hypot(g0-p[0], g1-p[1]) < 0.001 {
			t.Fatalf("%v: no offset applied", p)
		}
		w0, w1 := GCJ02ToWGS84(g0, g1)
		if math.Abs(w0-p[0]) > 1e-8 || math.Abs(w1-p[1]) > 1e-8 {
			t.Fatalf("%v → %v,%v → %v,%v", p, g0, g1, w0, w1)
		}
	}
	// outside China nothing changes
	if a, b := GCJ02ToWGS84(2.35, 48.85); a != 2.35 || b != 48.85 {
		t.Fatal("Paris moved")
	}
	b, err := readCSVString(t, "id,lon,lat\na,121.478,31.228\n", Options{CRS: GCJ02})
	if err != nil {
		t.Fatal(err)
	}
	e := engine.New(engine.Options{})
	if err := e.Load(b); err != nil {
		t.Fatal(err)
	}
	d, _ := e.Dwelling("a")
	wl, wt := GCJ02ToWGS84(121.478, 31.228)
	if math.Abs(d.Lon-wl) > 1e-7 || math.Abs(d.Lat-wt) > 1e-7 {
		t.Fatalf("stored %v,%v; want %v,%v", d.Lon, d.Lat, wl, wt)
	}
}

func TestReadGeoJSON(t *testing.T) {
	in := `{"type":"FeatureCollection","features":[
{"type":"Feature","id":"a","geometry":{"type":"Point","coordinates":[121.5,31.2]},"properties":{"grid":"G1","building":"B1","floor":3,"room":"301","isolated":true,"vaccinated":0}},
{"type":"Feature","geometry":{"type":"Point","coordinates":[121.5,31.2]},"properties":{"id":"b","grid":"G1","building":"B1","floor":"2","isolated":false,"vaccinated":1,"extra":null}}
]}`
	b, err := ReadGeoJSON("d.geojson", []byte(in), Options{})
	if err != nil {
		t.Fatal(err)
	}
	e := engine.New(engine.Options{})
	if err := e.Load(b); err != nil {
		t.Fatal(err)
	}
	a, _ := e.Dwelling("a")
	bb, _ := e.Dwelling("b")
	if a == nil || bb == nil || a.Floor != 3 || !slices.Equal(a.Flags, []string{"isolated"}) || !slices.Equal(bb.Flags, []string{"vaccinated"}) {
		t.Fatalf("read %+v and %+v", a, bb)
	}
	bad := map[string]string{
		`{"type":"FeatureCollection","features":[{"type":"Feature","geometry":{"type":"LineString","coordinates":[[1,2],[3,4]]},"properties":{"id":"a"}}]}`:                                                                               "d.geojson:1:41: feature 0: geometry must be a Point",
		"{\"type\":\"FeatureCollection\",\"features\":[\n{\"type\":\"Feature\",\"geometry\":{\"type\":\"Point\",\"coordinates\":[1,95]},\"properties\":{\"id\":\"a\"}}]}":                                                                 "d.geojson:2:1: lat: latitude 95 is out of range",
		`{"type":"FeatureCollection","features":[{"type":"Feature","geometry":{"type":"Point","coordinates":[1,2]},"properties":{"id":"a","isolated":"maybe"}}]}`:                                                                         `isolated: "maybe" is not a flag value`,
		`{"type":"FeatureCollection","features":[{"type":"Feature","geometry":{"type":"Point","coordinates":[1,2]},"properties":{"id":"a"}},{"type":"Feature","geometry":{"type":"Point","coordinates":[1,2]},"properties":{"id":"a"}}]}`: `duplicate id "a"`,
		`{"type":"FeatureCollection","features":[{"type":"Feature"`: "the file ends in the middle of the JSON",
		`{"type":"Topology"}`: `type is "Topology"`,
		`[1,2]`:               "want a GeoJSON FeatureCollection",
	}
	for in, want := range bad {
		if _, err := ReadGeoJSON("d.geojson", []byte(in), Options{}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s:\n got %v\nwant %s", in, err, want)
		}
	}
}

func TestReadBoundaries(t *testing.T) {
	in := `{"type":"FeatureCollection","features":[
{"type":"Feature","properties":{"level":"grid","id":"G1","name":"第一网格"},"geometry":{"type":"Polygon","coordinates":[[[121,31],[121.1,31],[121.1,31.1],[121,31],[121,31]]]}}]}`
	bs, err := ReadBoundaries("b.geojson", []byte(in), WGS84)
	if err != nil || len(bs) != 1 || bs[0].Name != "第一网格" || bs[0].Level != engine.LevelGrid {
		t.Fatalf("%v %+v", err, bs)
	}
	bad := map[string]string{
		`{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"level":"planet","id":"x"},"geometry":{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,0]]]}}]}`: `level: feature 0: level "planet"`,
		`{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"level":"grid"},"geometry":{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,0]]]}}]}`:            "id: feature 0: no id",
		`{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"level":"grid","id":"x"},"geometry":{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,1]]]}}]}`:   "not a closed ring",
		`{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"level":"grid","id":"x"},"geometry":{"type":"Point","coordinates":[0,0]}}]}`:                           "must be a Polygon or MultiPolygon",
		`{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"level":"grid","id":"x"},"geometry":{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,100],[0,0]]]}}]}`: "latitude 100 is out of range",
	}
	for in, want := range bad {
		if _, err := ReadBoundaries("b.geojson", []byte(in), WGS84); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s:\n got %v\nwant %s", in, err, want)
		}
	}
}

// A whole collection on one line (as many tools write it): columns are
// counted on from the previous feature, not from the line's start (which was
// quadratic: 55 s for the 23,400 boundaries of a 10 M city), and must still
// be right, in characters.
func TestReadBoundariesOneLine(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"type":"FeatureCollection","features":[`)
	const n = 20_000
	var badCol int
	for i := range n {
		if i > 0 {
			b.WriteString(",")
		}
		level := "grid"
		if i == n-1 {
			level = "planet"
			badCol = utf8.RuneCountInString(b.String()) + 1
		}
		fmt.Fprintf(&b, `{"type":"Feature","properties":{"level":%q,"id":"网格%d"},"geometry":{"type":"Polygon","coordinates":[[[121,31],[121.1,31],[121.1,31.1],[121,31]]]}}`, level, i)
	}
	b.WriteString("]}")
	_, err := ReadBoundaries("b.geojson", []byte(b.String()), WGS84)
	want := fmt.Sprintf("b.geojson:1:%d: level: feature %d:", badCol, n-1)
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("got %v, want %s", err, want)
	}
}

func TestReadFileByExtension(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "d.csv")
	os.WriteFile(p, []byte("id,lon,lat\na,1,2\n"), 0o644)
	var calls int
	b, err := ReadFile(p, Options{Progress: func(done, total int64) { calls++ }})
	if err != nil || b.Len() != 1 || calls == 0 {
		t.Fatalf("%v %v %d", err, b, calls)
	}
	if _, err := ReadFile(filepath.Join(dir, "d.xlsx"), Options{}); err == nil {
		t.Fatal("no error for a missing file")
	}
}

// csvRecords reads all records with our reader, stopping at the first error.
func csvRecords(data []byte) ([][]string, error) {
	cr := newCSVReader(bytes.NewReader(data))
	var out [][]string
	for {
		fields, _, err := cr.next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		rec := make([]string, len(fields))
		for i, f := range fields {
			rec[i] = string(f)
		}
		out = append(out, rec)
	}
}

// FuzzCSVReader checks the reader against encoding/csv (strict quotes, any
// number of fields) on the same bytes, and that it never panics.
func FuzzCSVReader(f *testing.F) {
	for _, s := range []string{
		header + "a,1,2,,,,,,,,,0,0,0,0\n",
		"a,\"b\nc\",d\r\ne,f\n",
		"\"a\"\"b\",c\n\n\nd\r",
		"a\"b\n", "\"a\"b\n", "\"abc", "\r\n\r\n", "x,\"\",\"\"\"\"\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if bytes.HasPrefix(data, []byte("\xef\xbb\xbf")) {
			data = data[3:] // encoding/csv does not strip a BOM; we do
		}
		got, gerr := csvRecords(data)
		r := csv.NewReader(bytes.NewReader(data))
		r.FieldsPerRecord = -1
		var want [][]string
		var werr error
		for {
			rec, err := r.Read()
			if err == io.EOF {
				break
			}
			if err != nil {
				werr = err
				break
			}
			want = append(want, rec)
		}
		if (gerr == nil) != (werr == nil) {
			t.Fatalf("error mismatch: ours %v, encoding/csv %v", gerr, werr)
		}
		if !slices.EqualFunc(got, want, slices.Equal[[]string]) {
			t.Fatalf("records differ:\nours %q\nwant %q", got, want)
		}
	})
}

// FuzzReadCSV feeds arbitrary bytes to the dwellings reader: never a panic,
// and either a batch or a LoadError.
func FuzzReadCSV(f *testing.F) {
	f.Add([]byte(header + "a,121.5,31.2,D,S,C,G,B,1,12,1203,0,1,0,0\n"))
	f.Add([]byte("id,lon,lat,x\na,1,2,1\nb,1,2,q\n"))
	f.Add([]byte("id,lon,lat,size,rental,e\na,1,2,1,1,\nb,1,2,2,maybe,\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := ReadCSV("f.csv", bytes.NewReader(data), int64(len(data)), quiet)
		if err != nil {
			var le *engine.LoadError
			if !errors.As(err, &le) || le.Len() == 0 {
				t.Fatalf("error %v is not a LoadError", err)
			}
			return
		}
		checkFlags(t, b)
		if err := engine.New(engine.Options{}).Load(b); err != nil {
			t.Fatalf("a batch the reader accepted does not load: %v", err)
		}
	})
}

// quiet is Options that log nothing.
var quiet = Options{Logger: slog.New(slog.DiscardHandler)}

// checkFlags checks an accepted batch's flags: distinct, none a fixed
// column, within MaxFlags with the built-in ones.
func checkFlags(t *testing.T, b *engine.Batch) {
	t.Helper()
	seen := map[string]bool{}
	for _, f := range BuiltinFlags {
		seen[f] = false
	}
	for _, f := range b.Flags() {
		if seen[f] {
			t.Fatalf("flag %q twice in %v", f, b.Flags())
		}
		if _, fixed := fixedColumns[strings.ToLower(f)]; fixed {
			t.Fatalf("fixed column %q taken as a flag", f)
		}
		seen[f] = true
	}
	if len(seen) > MaxFlags {
		t.Fatalf("%d flags", len(seen))
	}
}

// FuzzReadGeoJSON feeds arbitrary bytes to the GeoJSON readers.
func FuzzReadGeoJSON(f *testing.F) {
	f.Add([]byte(`{"type":"FeatureCollection","features":[{"type":"Feature","geometry":{"type":"Point","coordinates":[1,2]},"properties":{"id":"a","isolated":1}}]}`))
	f.Add([]byte(`{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"level":"grid","id":"G"},"geometry":{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,0]]]}}]}`))
	f.Add([]byte(`{"type":"FeatureCollection","features":[{"type":"Feature","geometry":{"type":"Point","coordinates":[1,2]},"properties":{"id":"a","size":3,"note":{"a":1},"x":null,"rental":"maybe"}}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if b, err := ReadGeoJSON("f.geojson", data, quiet); err == nil {
			checkFlags(t, b)
			if err := engine.New(engine.Options{}).Load(b); err != nil {
				t.Fatalf("accepted batch does not load: %v", err)
			}
		}
		_, _ = ReadBoundaries("f.geojson", data, WGS84)
	})
}
