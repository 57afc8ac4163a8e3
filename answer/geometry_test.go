package answer

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/paulmach/orb"
	"github.com/roomstate/roomstate/coord"
	"github.com/roomstate/roomstate/engine"
	"github.com/roomstate/roomstate/fault"
	"github.com/roomstate/roomstate/internal/testseed"
	"github.com/roomstate/roomstate/privacy"
	"github.com/roomstate/roomstate/region"
)

// decodeGeometryForTest decodes the "geometry" member of a request body as
// the polygon answer does.
func decodeGeometryForTest(body []byte) (orb.MultiPolygon, error) {
	a := &Answers{opts: Options{}}
	a.opts.defaults()
	sc := new(scratch)
	var q engine.PolygonQuery
	geom, err := a.readPolygonBody(body, true, sc, &q)
	switch {
	case err != nil:
		return nil, err
	case !geom:
		return nil, errors.New("no geometry")
	case sc.geom.err != nil:
		return nil, sc.geom.err
	}
	return sc.geom.mp, nil
}

// refDecode is the reference: encoding/json into a struct, then the same
// union and checks the fast decoder promises.
func refDecode(data []byte) (orb.MultiPolygon, bool) {
	var v struct {
		Geometry json.RawMessage `json:"geometry"`
	}
	if json.Unmarshal(data, &v) != nil || v.Geometry == nil || foldedKey(data, "geometry") {
		return nil, false
	}
	return refGeom(v.Geometry)
}

// foldedKey reports whether raw is an object with a member whose name is
// one of names only when case is ignored: encoding/json reads such a
// member into the field, the API (as GeoJSON) takes names as written and
// refuses it as unknown, so the reference must not read it either.
func foldedKey(raw json.RawMessage, names ...string) bool {
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return false
	}
	for k := range m {
		for _, n := range names {
			if k != n && strings.EqualFold(k, n) {
				return true
			}
		}
	}
	return false
}

func refGeom(raw json.RawMessage) (orb.MultiPolygon, bool) {
	var g struct {
		Type        string            `json:"type"`
		Coordinates json.RawMessage   `json:"coordinates"`
		Geometry    json.RawMessage   `json:"geometry"`
		Features    []json.RawMessage `json:"features"`
		Geometries  []json.RawMessage `json:"geometries"`
	}
	if json.Unmarshal(raw, &g) != nil || foldedKey(raw, "type", "coordinates", "geometry", "features", "geometries") {
		return nil, false
	}
	var mp orb.MultiPolygon
	switch g.Type {
	case "Polygon":
		var p [][][]float64
		if json.Unmarshal(g.Coordinates, &p) != nil {
			return nil, false
		}
		poly, ok := refPoly(p)
		return orb.MultiPolygon{poly}, ok
	case "MultiPolygon":
		var ps [][][][]float64
		if json.Unmarshal(g.Coordinates, &ps) != nil || len(ps) == 0 {
			return nil, false
		}
		for _, p := range ps {
			poly, ok := refPoly(p)
			if !ok {
				return nil, false
			}
			mp = append(mp, poly)
		}
		return mp, true
	case "Feature":
		return refGeom(g.Geometry)
	case "FeatureCollection":
		if len(g.Features) == 0 {
			return nil, false
		}
		for _, f := range g.Features {
			m, ok := refGeom(f)
			if !ok {
				return nil, false
			}
			mp = append(mp, m...)
		}
		return mp, true
	}
	return nil, false
}

func refPoly(p [][][]float64) (orb.Polygon, bool) {
	if len(p) == 0 {
		return nil, false
	}
	var poly orb.Polygon
	for _, r := range p {
		if len(r) < 4 {
			return nil, false
		}
		var ring orb.Ring
		for _, pos := range r {
			if len(pos) < 2 || len(pos) > 3 || coord.ValidLonLat(pos[0], pos[1]) != nil {
				return nil, false
			}
			ring = append(ring, orb.Point{pos[0], pos[1]})
		}
		if ring[0] != ring[len(ring)-1] {
			return nil, false
		}
		poly = append(poly, ring)
	}
	return poly, true
}

func randomBody(rng *rand.Rand) []byte {
	// coordinates as clients write them: full precision, or rounded to 7,
	// 6 or 0 decimals (the decoder's eight-digit path), either hemisphere
	digits := []float64{0, 1e7, 1e6, 1}[rng.IntN(4)]
	sx, sy := float64(1-2*rng.IntN(2)), float64(1-2*rng.IntN(2))
	num := func(v float64) float64 {
		if digits == 0 {
			return v
		}
		return math.Round(v*digits) / digits
	}
	ring := func() [][]float64 {
		n := 3 + rng.IntN(30)
		var r [][]float64
		for i := 0; i < n; i++ {
			r = append(r, []float64{sx * num(121+rng.Float64()), sy * num(31+rng.Float64())})
		}
		if rng.IntN(16) == 0 { // a position out of range, to be refused
			r[rng.IntN(n)][rng.IntN(2)] = sx * num(180+90*rng.Float64())
		}
		return append(r, r[0])
	}
	poly := func() [][][]float64 {
		p := [][][]float64{ring()}
		if rng.IntN(3) == 0 {
			p = append(p, ring())
		}
		return p
	}
	var g any
	switch rng.IntN(4) {
	case 0:
		g = map[string]any{"type": "Polygon", "coordinates": poly()}
	case 1:
		g = map[string]any{"type": "MultiPolygon", "coordinates": [][][][]float64{poly(), poly()}}
	case 2:
		g = map[string]any{"type": "Feature", "properties": map[string]any{"name": "x"}, "geometry": map[string]any{"type": "Polygon", "coordinates": poly()}}
	default:
		g = map[string]any{"type": "FeatureCollection", "features": []any{
			map[string]any{"type": "Feature", "geometry": map[string]any{"type": "Polygon", "coordinates": poly()}},
			map[string]any{"type": "Feature", "geometry": map[string]any{"type": "MultiPolygon", "coordinates": [][][][]float64{poly()}}},
		}}
	}
	b, _ := json.Marshal(map[string]any{"geometry": g})
	return b
}

func TestDecoderMatchesEncodingJSON(t *testing.T) {
	rng := rand.New(rand.NewPCG(testseed.Get(t), 9))
	for i := 0; i < 500; i++ {
		body := randomBody(rng)
		got, gerr := decodeGeometryForTest(body)
		want, ok := refDecode(body)
		if (gerr == nil) != ok {
			t.Fatalf("%s: fast decoder error %v, reference ok=%v", body, gerr, ok)
		}
		if ok && !got.Equal(want) {
			t.Fatalf("%s: decoded differently", body)
		}
	}
}

func FuzzDecodeGeometry(f *testing.F) {
	rng := rand.New(rand.NewPCG(1, 1))
	for i := 0; i < 8; i++ {
		f.Add(randomBody(rng))
	}
	f.Add([]byte(`{"geometry":{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,0]]]}}`))
	f.Add([]byte(`{"geometry":{"type":"FeatureCollection","features":[]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, gerr := decodeGeometryForTest(data)
		want, ok := refDecode(data)
		if gerr == nil && !ok {
			// fastjson is laxer than encoding/json only on things we do not read
			// (duplicate keys, invalid UTF-8 in strings): the geometry must still
			// be a valid one
			if _, err := region.New(got); err != nil {
				if !errors.Is(err, fault.BadGeometry) && !errors.Is(err, fault.TooLarge) {
					t.Fatalf("decoded geometry fails with a non-geometry error: %v", err)
				}
			}
			return
		}
		if gerr != nil && ok && json.Valid(data) {
			t.Fatalf("fast decoder rejects what encoding/json reads: %v", gerr)
		}
		if ok && gerr == nil && !got.Equal(want) {
			t.Fatalf("decoded differently")
		}
	})
}

// A viewer's change events say when the map changed, not where nor who.
func TestViewerEvents(t *testing.T) {
	ev := &engine.Event{Version: 7, Time: time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC), Op: engine.OpFlags, ID: "PD-1",
		Building: "B1", Set: []string{"isolated"}}
	got := string(EventJSON(nil, ev, privacy.ForK(3)))
	if got != `{"version":7,"time":"2026-11-27T08:00:00.000Z"}` {
		t.Fatalf("viewer: %s", got)
	}
	if full := string(EventJSON(nil, ev, privacy.Policy{})); !strings.Contains(full, `"id":"PD-1"`) || !strings.Contains(full, `"building":"B1"`) {
		t.Fatalf("analyst: %s", full)
	}
}

// TestCoordinatesBeforeType: a geometry whose coordinates come before its
// type (as encoders that sort keys write it) is read in one pass when its
// nesting guesses the type, and decodes, or fails, exactly as with the type
// first: when the guess is wrong (a Polygon's coordinates four arrays deep,
// a Feature with stray coordinates) as when it is right.
func TestCoordinatesBeforeType(t *testing.T) {
	const ring = `[[0,0],[1,0],[1,1],[0,0]]`
	cases := []struct{ typ, rest string }{
		{"Polygon", `"coordinates":[` + ring + `]`},
		{"MultiPolygon", `"coordinates":[[` + ring + `],[[[2,2],[3,2],[3,3],[2,2]]]]`},
		{"Polygon", `"coordinates":[[` + ring + `]]`},           // too deep for a Polygon
		{"MultiPolygon", `"coordinates":[` + ring + `]`},        // too shallow
		{"Polygon", `"coordinates":[[[0,0],[1,0],[1,1]]]`},      // ring not closed
		{"Polygon", `"coordinates":[[[0,0],[1,"x"],[1,1]]]`},    // not a number
		{"Polygon", `"coordinates":[[[0,0],[1,0],[1,1],[0,0]]`}, // bad JSON
		{"Feature", `"coordinates":[` + ring + `],"geometry":{"type":"Polygon","coordinates":[[[5,5],[6,5],[6,6],[5,5]]]}`},
		{"Point", `"coordinates":[` + ring + `]`},
		{"", `"coordinates":[` + ring + `]`}, // no type
	}
	for _, c := range cases {
		typ := ""
		if c.typ != "" {
			typ = `"type":"` + c.typ + `"`
		}
		first := `{"geometry":{` + typ + "," + c.rest + `}}`
		last := `{"geometry":{` + c.rest + "," + typ + `}}`
		if c.typ == "" {
			first = `{"geometry":{` + c.rest + `}}`
			last = first
		}
		g1, e1 := decodeGeometryForTest([]byte(first))
		g2, e2 := decodeGeometryForTest([]byte(last))
		if errors.Is(e1, fault.BadJSON) && errors.Is(e2, fault.BadJSON) {
			continue // both refused as JSON; the offsets differ with the order
		}
		if fmt.Sprint(e1) != fmt.Sprint(e2) || !g1.Equal(g2) {
			t.Errorf("%s\n  type first: %v %v\n  type last:  %v %v", last, g1, e1, g2, e2)
		}
	}
}

// TestVertexLimit: a geometry of as many vertices as the limit is read, one
// more is refused as too large, whether its positions are written the
// usual way (read in the tight loop), with blanks (the long way) or mixed.
func TestVertexLimit(t *testing.T) {
	ring := func(n int, blank func(i int) bool) string {
		var sb strings.Builder
		sb.WriteString(`{"geometry":{"type":"Polygon","coordinates":[[`)
		for i := range n {
			if i > 0 {
				sb.WriteString(",")
			}
			x, y := 121+float64(i%7)*0.001, 31+float64(i/7)*0.001
			if i == n-1 {
				x, y = 121, 31
			}
			if blank(i) {
				fmt.Fprintf(&sb, "[ %v, %v ]", x, y)
			} else {
				fmt.Fprintf(&sb, "[%v,%v]", x, y)
			}
		}
		sb.WriteString(`]]},"group_by":"community","where":"isolated | vaccinated"}`) // room after the last position
		return sb.String()
	}
	const limit = 12
	for name, blank := range map[string]func(int) bool{
		"usual":  func(int) bool { return false },
		"blanks": func(int) bool { return true },
		"mixed":  func(i int) bool { return i%3 == 1 },
		"last":   func(i int) bool { return i >= limit-1 },
	} {
		for _, n := range []int{limit, limit + 1, limit + 5} {
			a := &Answers{opts: Options{MaxVertices: limit}}
			a.opts.defaults()
			sc := new(scratch)
			var q engine.PolygonQuery
			_, err := a.readPolygonBody([]byte(ring(n, blank)), true, sc, &q)
			if err == nil {
				err = sc.geom.err
			}
			switch {
			case n <= limit && err != nil:
				t.Fatalf("%s, %d vertices: %v", name, n, err)
			case n > limit && !errors.Is(err, fault.TooLarge):
				t.Fatalf("%s, %d vertices: %v, want too large", name, n, err)
			case n <= limit && len(sc.geom.pts) != n:
				t.Fatalf("%s: %d positions read, want %d", name, len(sc.geom.pts), n)
			}
		}
	}
}
