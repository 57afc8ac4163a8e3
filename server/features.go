package server

import (
	"fmt"
	"time"

	"github.com/paulmach/orb"
	"github.com/roomstate/roomstate/engine"
	"github.com/valyala/fastjson"
)

// Feature is one polygon feature of a file of query areas.
type Feature struct {
	Geometry   orb.MultiPolygon
	Properties []byte // the raw JSON object, or nil
	Err        error  // the geometry could not be decoded
}

// DecodeFeatures reads a GeoJSON FeatureCollection (or a single Feature or
// geometry) of query areas with the same decoder as the HTTP API. A bad
// geometry is reported in its Feature, not as an error.
func DecodeFeatures(data []byte) ([]Feature, error) {
	var p fastjson.Parser
	v, err := p.ParseBytes(data)
	if err != nil {
		return nil, fmt.Errorf("not valid JSON: %v", err)
	}
	var items []*fastjson.Value
	if string(v.GetStringBytes("type")) == "FeatureCollection" {
		items = v.GetArray("features")
		if items == nil {
			return nil, fmt.Errorf("features must be an array")
		}
	} else {
		items = []*fastjson.Value{v}
	}
	out := make([]Feature, len(items))
	for i, it := range items {
		var d geometryDecoder
		d.reset(MaxVertices)
		if err := d.decode(it, fmt.Sprintf("features[%d]", i)); err != nil {
			out[i].Err = err
		} else {
			out[i].Geometry = d.mp
		}
		if props := it.Get("properties"); props != nil && props.Type() == fastjson.TypeObject {
			out[i].Properties = props.MarshalTo(nil)
		}
	}
	return out, nil
}

// QueryFeature answers q for one feature as one JSON line shaped like the
// HTTP answer, plus "feature" and "properties"; ok is false for an error line.
func QueryFeature(eng *engine.Engine, index int, f Feature, q engine.PolygonQuery) (line []byte, ok bool) {
	start := time.Now()
	var w jsonw
	w.raw(`{"feature":`)
	w.int(int64(index))
	if f.Properties != nil {
		w.raw(`,"properties":`)
		w.raw(string(f.Properties))
	}
	fail := func(err error) ([]byte, bool) {
		e := toAPIError(err)
		w.raw(`,"error":{"code":`)
		w.str(e.Code)
		w.raw(`,"message":`)
		w.str(e.Message)
		w.raw("}}\n")
		return w.b, false
	}
	if f.Err != nil {
		return fail(f.Err)
	}
	rg, err := engine.NewRegion(f.Geometry)
	if err != nil {
		return fail(err)
	}
	q.Region = rg
	var res engine.PolygonResult
	if err := eng.PolygonStats(&q, &res); err != nil {
		return fail(err)
	}
	w.byte(',')
	writePolygonAnswer(&w, &res, &q)
	w.raw(`,"version":`)
	w.uint(uint64(res.Version))
	w.raw(`,"took_us":`)
	w.int(time.Since(start).Microseconds())
	w.raw("}\n")
	return w.b, true
}
