package answer

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/roomstate/roomstate/fault"
	"github.com/valyala/fastjson"
)

// Feature is one feature of a file of query areas: its JSON as written,
// and its properties.
type Feature struct {
	Raw        []byte // the feature (or geometry) object
	Properties []byte // its properties object, or nil
}

// DecodeFeatures splits a GeoJSON FeatureCollection (or a single Feature or
// geometry) into its features, unchecked: each is checked when asked.
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
		out[i].Raw = it.MarshalTo(nil)
		if props := it.Get("properties"); props != nil && props.Type() == fastjson.TypeObject {
			out[i].Properties = props.MarshalTo(nil)
		}
	}
	return out, nil
}

// PolygonParams are the fields of a polygon query besides its geometry.
type PolygonParams struct {
	Where   string
	GroupBy string
	IDs     bool
	Limit   int // with IDs: at most this many ids (0: none; engine.DefaultIDLimit is the server's default)
}

// PolygonBody returns the POST /api/v1/query/polygon body that asks about
// geometry (a GeoJSON object) with p.
func PolygonBody(geometry []byte, p PolygonParams) []byte {
	b := append([]byte(`{"geometry":`), geometry...)
	if p.Where != "" {
		b = append(b, `,"where":`...)
		b = strconv.AppendQuote(b, p.Where)
	}
	if p.GroupBy != "" {
		b = append(b, `,"group_by":`...)
		b = strconv.AppendQuote(b, p.GroupBy)
	}
	if p.IDs {
		b = append(b, `,"ids":true`...)
	}
	if p.IDs && p.Limit >= 0 { // 0 too: no ids, not the server's default
		b = append(b, `,"limit":`...)
		b = strconv.AppendInt(b, int64(p.Limit), 10)
	}
	return append(b, '}')
}

// FeatureLine answers a polygon query about one feature for caller c, as one
// JSON line: the answer of POST /api/v1/query/polygon with "feature" (its
// index) and "properties" first, or with "error" instead of the counts; ok
// is false for an error line.
func (a *Answers) FeatureLine(index int, f Feature, p PolygonParams, c *Caller) (line []byte, ok bool) {
	var w jsonw
	w.raw(`{"feature":`)
	w.int(int64(index))
	if f.Properties != nil {
		w.raw(`,"properties":`)
		w.raw(string(f.Properties))
	}
	ans, err := a.Polygon(PolygonBody(f.Raw, p), c)
	if err != nil {
		code := "internal"
		if k := fault.KindOf(err); k != nil {
			code = k.Error()
		}
		var fe *fault.Error
		msg := err.Error()
		if errors.As(err, &fe) {
			msg = fe.Msg
		}
		w.raw(`,"error":{"code":`)
		w.str(code)
		w.raw(`,"message":`)
		w.str(msg)
		w.raw("}}\n")
		return w.b, false
	}
	w.byte(',')
	w.b = append(w.b, ans[1:]...) // the answer's members after its '{'
	return w.b, true
}
