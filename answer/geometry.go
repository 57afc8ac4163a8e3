package answer

import (
	"fmt"
	"math"

	"github.com/paulmach/orb"
	"github.com/roomstate/roomstate/fault"
	"github.com/valyala/fastjson"
)

func badGeom(format string, args ...any) error {
	return fault.New(fault.BadGeometry, format, args...)
}

// geometryDecoder turns a GeoJSON Polygon, MultiPolygon, Feature or
// FeatureCollection (their union) into one MultiPolygon, reusing its buffers.
// It reads fastjson values: decoding a 700-vertex polygon with encoding/json
// costs more than the query itself.
type geometryDecoder struct {
	mp       orb.MultiPolygon
	pts      []orb.Point // backing store of every ring
	vertices int
	maxVerts int
}

func (d *geometryDecoder) reset(maxVerts int) {
	d.mp = d.mp[:0]
	d.pts = d.pts[:0]
	d.vertices = 0
	d.maxVerts = maxVerts
}

// decode reads v, a geometry or a feature (collection), at path (for messages).
func (d *geometryDecoder) decode(v *fastjson.Value, path string) error {
	if v == nil || v.Type() != fastjson.TypeObject {
		return badGeom("%s must be a GeoJSON object", path)
	}
	t := v.Get("type")
	if t == nil || t.Type() != fastjson.TypeString {
		return badGeom("%s.type is missing", path)
	}
	typ := string(t.GetStringBytes())
	switch typ {
	case "Polygon":
		return d.polygon(v.Get("coordinates"), path+".coordinates")
	case "MultiPolygon":
		c := v.Get("coordinates")
		if c == nil || c.Type() != fastjson.TypeArray {
			return badGeom("%s.coordinates must be an array of polygons", path)
		}
		arr, _ := c.Array()
		if len(arr) == 0 {
			return badGeom("%s.coordinates has no polygon", path)
		}
		for i, p := range arr {
			if err := d.polygon(p, fmt.Sprintf("%s.coordinates[%d]", path, i)); err != nil {
				return err
			}
		}
		return nil
	case "Feature":
		g := v.Get("geometry")
		if g == nil || g.Type() == fastjson.TypeNull {
			return badGeom("%s.geometry is missing", path)
		}
		return d.decode(g, path+".geometry")
	case "FeatureCollection":
		fs := v.Get("features")
		if fs == nil || fs.Type() != fastjson.TypeArray {
			return badGeom("%s.features must be an array", path)
		}
		arr, _ := fs.Array()
		if len(arr) == 0 {
			return badGeom("%s.features is empty", path)
		}
		for i, f := range arr {
			if err := d.decode(f, fmt.Sprintf("%s.features[%d]", path, i)); err != nil {
				return err
			}
		}
		return nil
	case "GeometryCollection":
		gs := v.Get("geometries")
		if gs == nil || gs.Type() != fastjson.TypeArray {
			return badGeom("%s.geometries must be an array", path)
		}
		arr, _ := gs.Array()
		for i, g := range arr {
			if err := d.decode(g, fmt.Sprintf("%s.geometries[%d]", path, i)); err != nil {
				return err
			}
		}
		return nil
	}
	return badGeom("%s.type is %q: want Polygon, MultiPolygon, Feature or FeatureCollection", path, typ)
}

func (d *geometryDecoder) polygon(c *fastjson.Value, path string) error {
	if c == nil || c.Type() != fastjson.TypeArray {
		return badGeom("%s must be an array of rings", path)
	}
	rings, _ := c.Array()
	if len(rings) == 0 {
		return badGeom("%s has no rings", path)
	}
	poly := make(orb.Polygon, 0, len(rings))
	for ri, r := range rings {
		if r.Type() != fastjson.TypeArray {
			return badGeom("%s[%d] must be an array of positions", path, ri)
		}
		pos, _ := r.Array()
		d.vertices += len(pos)
		if d.vertices > d.maxVerts {
			return fault.New(fault.TooLarge, "geometry has more than %d vertices", d.maxVerts)
		}
		start := len(d.pts)
		for pi, p := range pos {
			xy, err := p.Array()
			if err != nil || len(xy) < 2 || len(xy) > 3 {
				return badGeom("%s[%d][%d] must be a position [lon, lat]", path, ri, pi)
			}
			lon, err1 := xy[0].Float64()
			lat, err2 := xy[1].Float64()
			if err1 != nil || err2 != nil || xy[0].Type() != fastjson.TypeNumber || xy[1].Type() != fastjson.TypeNumber {
				return badGeom("%s[%d][%d] must hold numbers", path, ri, pi)
			}
			if math.IsNaN(lon) || math.IsInf(lon, 0) || math.IsNaN(lat) || math.IsInf(lat, 0) ||
				lon < -180 || lon > 180 || lat < -90 || lat > 90 {
				return badGeom("%s[%d][%d] = [%v, %v] is not a lon/lat position", path, ri, pi, lon, lat)
			}
			d.pts = append(d.pts, orb.Point{lon, lat})
		}
		ring := orb.Ring(d.pts[start:len(d.pts):len(d.pts)])
		if len(ring) < 4 {
			return badGeom("%s[%d] has %d positions; a ring needs at least 4", path, ri, len(ring))
		}
		if ring[0] != ring[len(ring)-1] {
			return badGeom("%s[%d] is not closed: its first position differs from its last", path, ri)
		}
		poly = append(poly, ring)
	}
	d.mp = append(d.mp, poly)
	return nil
}
