package bench

import (
	"bytes"
	"fmt"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geojson"
	"github.com/roomstate/roomstate/answer"
	"github.com/roomstate/roomstate/engine"
	"github.com/roomstate/roomstate/region"
)

// ServerWorkloads measure the polygon answer as the server computes it, from
// the request body to the answer's bytes (decoding the JSON, preparing the
// region, the query, writing the answer), without HTTP: the server time an
// answer reports as took_us, with the region cache of serve's default size.
// For every class of polygons, and for the real-shaped classes per vertex
// class ("server/real-street/v512-2047"):
//
//   - server/…: the first time: every operation sends a polygon the server
//     has not seen (one vertex moved by a few 1e-7 degrees), so it is
//     decoded, validated and swept, then
//     added to the cache; making the body is not timed;
//   - server/…/again: the same bytes again (found in the cache by text);
//   - server/…/same-geometry: the same polygon in bytes never sent before
//     (other white space), found in the cache by its decoded positions;
//   - server/…/unit (real-shaped classes): {"unit": {"level", "id"}}, the
//     boundary the engine keeps prepared.
func (f *Fixture) ServerWorkloads() []Workload {
	a := answer.New(f.Eng, nil, answer.Options{})
	var ws []Workload
	for _, class := range append(Classes, ClassExtra) {
		for _, g := range f.vertexGroups(class) {
			qs := g.qs
			bodies := make([][]byte, len(qs))
			for i, q := range qs {
				bodies[i] = PolygonBody(q.Geometry, "")
			}
			var buf []byte
			seq := 0 // never the same polygon twice, however often the workload runs
			ws = append(ws, Workload{Name: "server/" + g.name, Timed: func(i int) (time.Duration, error) {
				q := qs[i%len(qs)]
				for k := 0; ; k++ {
					seq++
					buf = movedBody(buf[:0], q.Geometry, seq)
					t := time.Now()
					_, err := a.Polygon(buf, answer.System)
					d := time.Since(t)
					if err == nil || k == 10 {
						return d, err
					} // moving the vertex made the ring cross itself: move it elsewhere
				}
			}}, Workload{Name: "server/" + g.name + "/again", Op: func(i int) error {
				_, err := a.Polygon(bodies[i%len(bodies)], answer.System)
				return err
			}}, Workload{Name: "server/" + g.name + "/same-geometry", Timed: func(i int) (time.Duration, error) {
				// the same polygon written otherwise every time (white space
				// the cache has not seen before the geometry): found by its
				// decoded positions, not by its text
				seq++
				body := bodies[i%len(bodies)]
				at := bytes.Index(body, []byte(`"geometry":{`)) + len(`"geometry":{`)
				buf = append(buf[:0], body[:at]...)
				for k := 0; k < 24; k++ { // seq in the geometry's white space: never the same text twice
					buf = append(buf, " \t"[seq>>k&1])
				}
				buf = append(buf, body[at:]...)
				t := time.Now()
				_, err := a.Polygon(buf, answer.System)
				return time.Since(t), err
			}})
			if qs[0].Unit.ID != "" {
				units := make([][]byte, len(qs))
				for i, q := range qs {
					units[i] = fmt.Appendf(nil, `{"unit":{"level":%q,"id":%q}}`, q.Unit.Level, q.Unit.ID)
				}
				ws = append(ws, Workload{Name: "server/" + g.name + "/unit", Op: func(i int) error {
					_, err := a.Polygon(units[i%len(units)], answer.System)
					return err
				}})
			}
		}
	}
	return ws
}

// movedBody appends to dst the polygon body of mp with one vertex of its
// first ring moved by a few 1e-7 degrees (at most half a metre), k telling
// which and how far: a polygon no server has seen, for each k below 50
// times the ring's vertices.
func movedBody(dst []byte, mp orb.MultiPolygon, k int) []byte {
	n := len(mp[0][0]) - 1
	j := k % n
	dx := float64(1+k/n%50) * 1e-7
	dy := dx
	dst = append(dst, `{"geometry":{"type":"MultiPolygon","coordinates":[`...)
	for pi, p := range mp {
		if pi > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, '[')
		for ri, r := range p {
			if ri > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, '[')
			for i, pt := range r {
				if i > 0 {
					dst = append(dst, ',')
				}
				x, y := pt[0], pt[1]
				if pi == 0 && ri == 0 && (i == j || j == 0 && i == len(r)-1) {
					x, y = round7(x+dx), round7(y+dy)
				}
				dst = append(dst, '[')
				dst = strconv.AppendFloat(dst, x, 'f', -1, 64)
				dst = append(dst, ',')
				dst = strconv.AppendFloat(dst, y, 'f', -1, 64)
				dst = append(dst, ']')
			}
			dst = append(dst, ']')
		}
		dst = append(dst, ']')
	}
	return append(dst, "]}}"...)
}

// PrepareWorkloads measure region.New alone (validation, orientation,
// fixed-point edges) on the polygons of every class, per vertex class for
// the real-shaped ones ("region/real-street/v512-2047").
func (f *Fixture) PrepareWorkloads() []Workload {
	var ws []Workload
	for _, class := range Classes {
		for _, g := range f.vertexGroups(class) {
			qs := g.qs
			ws = append(ws, Workload{Name: "region/" + g.name, Op: func(i int) error {
				_, err := region.New(qs[i%len(qs)].Geometry)
				return err
			}})
		}
	}
	return ws
}

// vertexGroup is a class's polygons, or those of one of its vertex classes.
type vertexGroup struct {
	name string // class, or class/vertex class
	qs   []Query
}

// vertexGroups returns a class's polygons as one group and, for the
// real-shaped classes, one group per vertex class.
func (f *Fixture) vertexGroups(class string) []vertexGroup {
	all := f.Polygons[class]
	if len(all) == 0 {
		return nil
	}
	out := []vertexGroup{{class, all}}
	real := class == ClassExtra
	for _, c := range RealClasses {
		real = real || c == class
	}
	if !real {
		return out
	}
	for _, vc := range VertexClasses {
		var qs []Query
		for _, q := range all {
			if VertexClass(q.Vertices) == vc {
				qs = append(qs, q)
			}
		}
		if len(qs) > 0 {
			out = append(out, vertexGroup{fmt.Sprintf("%s/%s", class, vc), qs})
		}
	}
	return out
}

// ClassExtra is the class of query polygons from a file (bench -polygons).
const ClassExtra = "extra"

// NamedPolygon is a query polygon read from a file, with its name.
type NamedPolygon struct {
	Name     string
	Geometry orb.MultiPolygon
}

// ReadPolygons reads every Polygon and MultiPolygon feature of a GeoJSON
// FeatureCollection, named by its property name_en, name or id (else its
// number).
func ReadPolygons(path string) ([]NamedPolygon, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	fc, err := geojson.UnmarshalFeatureCollection(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var out []NamedPolygon
	for i, f := range fc.Features {
		var mp orb.MultiPolygon
		switch g := f.Geometry.(type) {
		case orb.Polygon:
			mp = orb.MultiPolygon{g}
		case orb.MultiPolygon:
			mp = g
		default:
			return nil, fmt.Errorf("%s: feature %d is a %s, want a Polygon or MultiPolygon", path, i, f.Geometry.GeoJSONType())
		}
		name := fmt.Sprint(i)
		for _, k := range []string{"name_en", "name", "id"} {
			if s, ok := f.Properties[k].(string); ok && s != "" {
				name = s
				break
			}
		}
		out = append(out, NamedPolygon{name, mp})
	}
	return out, nil
}

// AddPolygons makes ps query polygons of class extra (measured by vertex
// class like the real-shaped ones) and returns those region.New refuses,
// which are left out.
func (f *Fixture) AddPolygons(ps []NamedPolygon) (rejected []string, err error) {
	for _, p := range ps {
		q, err := f.queryOf(p.Geometry)
		if err != nil {
			rejected = append(rejected, p.Name)
			continue
		}
		f.Polygons[ClassExtra] = append(f.Polygons[ClassExtra], q)
	}
	slices.SortStableFunc(f.Polygons[ClassExtra], func(a, b Query) int { return a.Vertices - b.Vertices })
	return rejected, nil
}

// UnitAreaBytes prepares the area of every boundary of the city, asks each
// once (so it keeps its cover), and returns what they hold together: the
// memory the engine keeps for units' polygons once every unit was asked.
func (f *Fixture) UnitAreaBytes() (int64, error) {
	var n int64
	var res engine.PolygonResult
	for _, b := range f.City.Boundaries() {
		a, err := f.Eng.UnitArea(b.Level, b.ID)
		if err != nil {
			return 0, fmt.Errorf("%s %s: %w", b.Level, b.ID, err)
		}
		if err := f.Eng.PolygonStats(&engine.PolygonQuery{Area: a}, &res); err != nil {
			return 0, err
		}
		n += int64(a.Bytes())
	}
	return n, nil
}
