package loader

import (
	"bytes"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/roomstate/roomstate/engine"
)

// logTo returns options whose logger writes to buf.
func logTo(buf *bytes.Buffer) Options {
	return Options{Logger: slog.New(slog.NewTextHandler(buf, nil))}
}

// loadBatch loads b into a new engine.
func loadBatch(t *testing.T, b *engine.Batch) *engine.Writer {
	t.Helper()
	w := engine.New(engine.Options{})
	if err := w.Load(b); err != nil {
		t.Fatal(err)
	}
	return w
}

// TestMixedColumnsAreNotFlags: a column is a flag exactly when all its
// values are flag values or empty. A data column (a household size whose
// first value is 1, a note) loads and is no flag, with one log line naming
// it and the first line that showed it is not a flag; a column empty
// throughout is a flag no dwelling has; the built-in flags are flags by
// name, and known even when no column carries them.
func TestMixedColumnsAreNotFlags(t *testing.T) {
	in := "id,lon,lat,building,household_size,note,isolated,vaccinated,custom,empty_col\n" +
		"a,121.5,31.2,B1,1,1,1,0,1,\n" +
		"b,121.5,31.2,B1,2,hello,0,1,0,\n" +
		"c,121.5,31.2,B1,3,,0,0,TRUE,\n" +
		"d,121.5,31.2,B1,1,0,0,0,,\n"
	var log bytes.Buffer
	b, err := readCSVString(t, in, logTo(&log))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := b.Flags(), []string{"isolated", "vaccinated", "custom", "empty_col"}; !slices.Equal(got, want) {
		t.Fatalf("flags %v, want %v", got, want)
	}
	lines := strings.Split(strings.TrimSpace(log.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "file=d.csv column=household_size line=3 at=17 value=2") ||
		!strings.Contains(lines[1], "file=d.csv column=note line=3 at=19 value=hello") || !strings.Contains(lines[0], "level=INFO") {
		t.Fatalf("log:\n%s", log.String())
	}
	w := loadBatch(t, b)
	if got, want := w.Flags(), []string{"isolated", "vaccinated", "rental", "elderly_alone", "custom", "empty_col"}; !slices.Equal(got, want) {
		t.Fatalf("engine flags %v, want %v", got, want)
	}
	for id, want := range map[string][]string{"a": {"isolated", "custom"}, "b": {"vaccinated"}, "c": {"custom"}, "d": {}} {
		if d, err := w.Dwelling(id); err != nil || !slices.Equal(d.Flags, want) {
			t.Fatalf("%s: %v %v, want %v", id, d, err, want)
		}
	}
	for _, where := range []string{"empty_col", "rental", "elderly_alone"} {
		if _, err := w.ParseWhere(where); err != nil {
			t.Fatalf("where %s: %v", where, err)
		}
	}
	for _, where := range []string{"note", "household_size"} {
		if _, err := w.ParseWhere(where); err == nil {
			t.Fatalf("where %s: no error", where)
		}
	}

	// a built-in flag's column is a flag whatever its values: "maybe" is
	// a bad row, where it stands, and nothing loads
	for _, c := range []struct{ in, want string }{
		{"id,lon,lat,note,rental\na,1,2,x,1\nb,1,2,y,maybe\n", `d.csv:3:9: rental: "maybe" is not a flag value (0, 1, true, false or empty): it is a built-in flag`},
		{"id,lon,lat,vaccinated\na,1,2,2\n", `d.csv:2:7: vaccinated: "2" is not a flag value`},
	} {
		log.Reset()
		b, err := readCSVString(t, c.in, logTo(&log))
		if b != nil || err == nil || !strings.Contains(err.Error(), c.want) {
			t.Fatalf("got %v, want %s", err, c.want)
		}
		if log.Len() != 0 {
			t.Fatalf("a refused load logged %s", log.String())
		}
	}
	// as is a flag the engine holds already
	_, err = readCSVString(t, "id,lon,lat,custom\na,1,2,maybe\n", Options{KnownFlags: []string{"custom"}})
	if err == nil || !strings.Contains(err.Error(), `d.csv:2:7: custom: "maybe" is not a flag value (0, 1, true, false or empty): a flag of this name is known already`) {
		t.Fatalf("got %v", err)
	}
}

// TestColumnsDecidedLate: rows cross the parser's chunks (and the batch
// stage works on earlier ones meanwhile) before a column's first set value
// or its first value that is not a flag value: the late flag's bits are
// all there, the column that turns out not to be a flag takes its bits
// set so far with it, and the other flags keep theirs. Run with -race: the
// batch's flags do not change while rows are added.
func TestColumnsDecidedLate(t *testing.T) {
	const n = 5 * chunkRows
	var sb strings.Builder
	sb.WriteString("id,lon,lat,late,turns,even\n")
	for i := range n {
		late, turns := "", "1"
		if i >= n-1000 {
			late = "1"
		}
		if i >= 3*chunkRows {
			turns = "n/a"
		}
		fmt.Fprintf(&sb, "d%d,121.5,31.%04d,%s,%s,%d\n", i, i%10000, late, turns, 1-i%2)
	}
	var log bytes.Buffer
	b, err := readCSVString(t, sb.String(), logTo(&log))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := b.Flags(), []string{"late", "even"}; !slices.Equal(got, want) {
		t.Fatalf("flags %v, want %v", got, want)
	}
	if want := fmt.Sprintf("column=turns line=%d at=", 3*chunkRows+2); !strings.Contains(log.String(), want) {
		t.Fatalf("log %q lacks %q", log.String(), want)
	}
	w := loadBatch(t, b)
	counts := map[string]int{}
	for i := range n {
		d, err := w.Dwelling(fmt.Sprintf("d%d", i))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range d.Flags {
			counts[f]++
		}
	}
	if counts["late"] != 1000 || counts["even"] != n/2 || len(counts) != 2 {
		t.Fatalf("counts %v", counts)
	}
}

// TestGeoJSONMixedProperties: the same rule for GeoJSON properties: one
// holding strings, other numbers, or objects loads and is no flag; one
// holding booleans, 0, 1 or null is a flag; a built-in flag's property is
// a flag by name, and "maybe" there is refused at its feature.
func TestGeoJSONMixedProperties(t *testing.T) {
	feature := func(id, props string) string {
		return `{"type":"Feature","geometry":{"type":"Point","coordinates":[121.5,31.2]},"properties":{"id":"` + id + `"` + props + `}}`
	}
	coll := func(fs ...string) []byte {
		return []byte(`{"type":"FeatureCollection","features":[` + "\n" + strings.Join(fs, ",\n") + "\n]}")
	}
	data := coll(
		feature("a", `,"household_size":1,"note":"1","tags":["x"],"isolated":1,"custom":true,"blank":null`),
		feature("b", `,"household_size":2,"note":"hello","tags":{"k":1},"isolated":0,"custom":false,"blank":null`),
		feature("c", `,"household_size":3,"isolated":"true","custom":0`),
	)
	var log bytes.Buffer
	b, err := ReadGeoJSON("d.geojson", data, logTo(&log))
	if err != nil {
		t.Fatal(err)
	}
	flags := slices.Sorted(slices.Values(b.Flags()))
	if want := []string{"blank", "custom", "isolated"}; !slices.Equal(flags, want) {
		t.Fatalf("flags %v, want %v", flags, want)
	}
	for _, want := range []string{"column=household_size line=3", "column=note line=3", "column=tags line=2"} {
		if !strings.Contains(log.String(), want) {
			t.Fatalf("log lacks %q:\n%s", want, log.String())
		}
	}
	if got := strings.Count(log.String(), "\n"); got != 3 {
		t.Fatalf("%d log lines:\n%s", got, log.String())
	}
	w := loadBatch(t, b)
	if got, want := w.Flags(), []string{"isolated", "vaccinated", "rental", "elderly_alone"}; !slices.Equal(got[:4], want) || len(got) != 6 {
		t.Fatalf("engine flags %v", got)
	}
	for id, want := range map[string][]string{"a": {"isolated", "custom"}, "b": {}, "c": {"isolated"}} {
		d, err := w.Dwelling(id)
		if err != nil {
			t.Fatal(err)
		}
		if got := slices.Sorted(slices.Values(d.Flags)); !slices.Equal(got, slices.Sorted(slices.Values(want))) {
			t.Fatalf("%s: %v, want %v", id, d.Flags, want)
		}
	}

	for _, c := range []struct {
		data []byte
		want string
	}{
		{coll(feature("a", `,"elderly_alone":1`), feature("b", `,"elderly_alone":"maybe"`)), `d.geojson:3:1: elderly_alone: "maybe" is not a flag value (0, 1, true, false or empty): it is a built-in flag`},
		{coll(feature("a", `,"rental":2`)), `d.geojson:2:1: rental: "2" is not a flag value`},
		{coll(feature("a", `,"vaccinated":["x"]`)), `d.geojson:2:1: feature 0: property "vaccinated": want a string, number or boolean`},
	} {
		log.Reset()
		b, err := ReadGeoJSON("d.geojson", c.data, logTo(&log))
		if b != nil || err == nil || !strings.Contains(err.Error(), c.want) {
			t.Fatalf("got %v, want %s", err, c.want)
		}
		if log.Len() != 0 {
			t.Fatalf("a refused load logged %s", log.String())
		}
	}
}
