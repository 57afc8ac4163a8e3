package loader

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/roomstate/roomstate/engine"
)

// TestPolygonFile: a query's polygons file is read as a load's files are:
// its byte order mark dropped, a syntax error named by line and column,
// and with gcj02 every position converted as the dwellings' are.
func TestPolygonFile(t *testing.T) {
	text := "{\"type\":\"FeatureCollection\",\"features\":[\n" +
		`{"type":"Feature","properties":{"n":7},"geometry":{"type":"Polygon","coordinates":[[[121.5,31.2],[121.6,31.2],[121.6,31.3],[121.5,31.2]]]}}` +
		"]}\n"
	got, err := PolygonFile("p.geojson", []byte("\xef\xbb\xbf"+text), WGS84)
	if err != nil || string(got) != text {
		t.Fatalf("wgs84 with a byte order mark: %q %v", got, err)
	}
	if _, err := PolygonFile("p.geojson", []byte(strings.Replace(text, `"properties"`, `"properties" 1`, 1)), WGS84); err == nil || !strings.Contains(err.Error(), "p.geojson:2:32: JSON:") {
		t.Fatalf("a syntax error: %v, want it at p.geojson:2:32", err)
	}
	if _, err := PolygonFile("p.geojson", []byte(text+"{}"), WGS84); err == nil || !strings.Contains(err.Error(), "p.geojson:") {
		t.Fatalf("data after the object: %v", err)
	}
	got, err = PolygonFile("p.geojson", []byte(text), GCJ02)
	if err != nil {
		t.Fatal(err)
	}
	var fc struct {
		Features []struct {
			Properties map[string]any
			Geometry   struct{ Coordinates [][][2]float64 }
		}
	}
	if err := json.Unmarshal(got, &fc); err != nil || len(fc.Features) != 1 || fc.Features[0].Properties["n"] != 7.0 {
		t.Fatalf("gcj02: %s %v", got, err)
	}
	for i, p := range [][2]float64{{121.5, 31.2}, {121.6, 31.2}, {121.6, 31.3}, {121.5, 31.2}} {
		lon, lat := GCJ02ToWGS84(p[0], p[1])
		if q := fc.Features[0].Geometry.Coordinates[0][i]; q != [2]float64{lon, lat} {
			t.Fatalf("position %d: %v, want %v", i, q, [2]float64{lon, lat})
		}
	}
}

// TestGeoJSONByteOrderMark: dwellings and boundaries files that start with
// a byte order mark load.
func TestGeoJSONByteOrderMark(t *testing.T) {
	dw := "\xef\xbb\xbf" + `{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"id":"a","isolated":1},"geometry":{"type":"Point","coordinates":[121.5,31.2]}}]}`
	b, err := ReadGeoJSON("d.geojson", []byte(dw), Options{})
	if err != nil || b.Len() != 1 {
		t.Fatalf("dwellings: %v", err)
	}
	bd := "\xef\xbb\xbf" + `{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"level":"grid","id":"G1"},"geometry":{"type":"Polygon","coordinates":[[[121,31],[122,31],[122,32],[121,31]]]}}]}`
	if bs, err := ReadBoundaries("b.geojson", []byte(bd), WGS84); err != nil || len(bs) != 1 {
		t.Fatalf("boundaries: %v", err)
	}
}

// TestWrittenOtherwise: a built-in flag's header in another case is that
// flag (CSV and GeoJSON), and a whole floor written 3.0 is floor 3.
func TestWrittenOtherwise(t *testing.T) {
	csv := "ID,LON,Lat,Isolated,VACCINATED,floor\na,121.5,31.2,1,TRUE,3.0\nb,121.5,31.2,0,0,-2.0\n"
	b, err := ReadCSV("d.csv", strings.NewReader(csv), int64(len(csv)), Options{})
	if err != nil {
		t.Fatal(err)
	}
	gj := `{"type":"FeatureCollection","features":[` +
		`{"type":"Feature","properties":{"id":"c","Isolated":true,"floor":3.0},"geometry":{"type":"Point","coordinates":[121.5,31.2]}},` +
		`{"type":"Feature","properties":{"id":"d","isolated":true},"geometry":{"type":"Point","coordinates":[121.5,31.2]}}]}`
	b2, err := ReadGeoJSON("d.geojson", []byte(gj), Options{})
	if err != nil {
		t.Fatal(err)
	}
	w := engine.New(engine.Options{})
	if err := w.Load(b, b2); err != nil {
		t.Fatal(err)
	}
	e := w.Engine
	if got := e.Flags(); !slices.Equal(got, engine.BuiltinFlags) {
		t.Fatalf("flags %v, want the built-ins only", got)
	}
	for id, want := range map[string]struct {
		flags []string
		floor int16
	}{"a": {[]string{"isolated", "vaccinated"}, 3}, "b": {nil, -2}, "c": {[]string{"isolated"}, 3}, "d": {[]string{"isolated"}, engine.NoFloor}} {
		d, err := e.Dwelling(id)
		if err != nil || !slices.Equal(d.Flags, want.flags) || d.Floor != want.floor {
			t.Fatalf("%s: %+v %v, want flags %v floor %d", id, d, err, want.flags, want.floor)
		}
	}
}

// TestBlanksAroundValues: blanks around an id or a unit's id are a
// spreadsheet's: " a1 " is dwelling a1, "G1 " grid G1 (blanks inside kept).
func TestBlanksAroundValues(t *testing.T) {
	csv := "id,lon,lat,grid,room\n a1 ,121.5,31.2,G1 ,12 03\na2,121.5,31.2,G1,1204\n"
	b, err := ReadCSV("d.csv", strings.NewReader(csv), int64(len(csv)), Options{})
	if err != nil {
		t.Fatal(err)
	}
	w := engine.New(engine.Options{})
	if err := w.Load(b); err != nil {
		t.Fatal(err)
	}
	d, err := w.Engine.Dwelling("a1")
	if err != nil || d.Grid != "G1" || d.Room != "12 03" {
		t.Fatalf("%+v %v", d, err)
	}
	if res, err := w.Engine.Units(engine.UnitsQuery{Level: "grid"}); err != nil || len(res.Units) != 1 || res.Units[0].Total != 2 {
		t.Fatalf("grids %+v %v, want one of two dwellings", res, err)
	}
}
