package server

import (
	"github.com/paulmach/orb"
	"github.com/valyala/fastjson"
)

// DecodeGeometryForTest decodes the "geometry" member of a request body as
// the polygon endpoint does.
func DecodeGeometryForTest(body []byte) (orb.MultiPolygon, error) {
	var p fastjson.Parser
	v, err := p.ParseBytes(body)
	if err != nil {
		return nil, err
	}
	var d geometryDecoder
	d.reset(MaxVertices)
	if err := d.decode(v.Get("geometry"), "geometry"); err != nil {
		return nil, err
	}
	return d.mp, nil
}
