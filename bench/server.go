package bench

import (
	"fmt"

	"github.com/roomstate/roomstate/answer"
	"github.com/roomstate/roomstate/region"
)

// ServerWorkloads measure the polygon answer as the server computes it, from
// the request body to the answer's bytes (decoding the JSON, preparing the
// region, the query, writing the answer), without HTTP: the server time an
// answer reports as took_us. For every class of polygons, and for the
// real-shaped classes per vertex class ("server/real-street/v512-2047").
func (f *Fixture) ServerWorkloads() []Workload {
	a := answer.New(f.Eng, nil, answer.Options{})
	var ws []Workload
	for _, class := range Classes {
		for _, g := range f.vertexGroups(class) {
			bodies := make([][]byte, len(g.qs))
			for i, q := range g.qs {
				bodies[i] = PolygonBody(q.Geometry, "")
			}
			ws = append(ws, Workload{Name: "server/" + g.name, Op: func(i int) error {
				_, err := a.Polygon(bodies[i%len(bodies)], answer.System)
				return err
			}})
		}
	}
	return ws
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
	real := false
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
