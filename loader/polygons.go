package loader

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// PolygonFile prepares a GeoJSON file of query polygons (`roomstate query
// --polygons`) as loads prepare their files: a leading byte order mark
// dropped, the JSON checked (an error names the file, line and column), and
// with GCJ02 every position of every "coordinates" member converted to
// WGS84, as the dwellings and boundaries of a load are, so that both are
// counted in one system. The geometries themselves are checked later, each
// as a polygon query checks its own.
func PolygonFile(name string, data []byte, crs CRS) ([]byte, error) {
	data = bytes.TrimPrefix(data, utf8BOM)
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	err := dec.Decode(&v)
	if err == nil {
		if _, terr := dec.Token(); terr != io.EOF {
			err = errors.New("unexpected data after the GeoJSON object")
		}
	}
	if err != nil {
		off := dec.InputOffset()
		var se *json.SyntaxError
		if errors.As(err, &se) {
			off = se.Offset - 1
		}
		reason := "JSON: " + err.Error()
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			off, reason = int64(len(data)), "the file ends in the middle of the JSON"
		}
		line, col := newLineIndex(data).pos(off)
		return nil, fmt.Errorf("%s:%d:%d: %s", name, line, col, reason)
	}
	conv := crs.converter()
	if conv == nil {
		return data, nil
	}
	convertCoordinates(v, conv)
	return json.Marshal(v)
}

// convertCoordinates converts, in place, the positions under every
// "coordinates" member of a decoded GeoJSON value.
func convertCoordinates(v any, conv func(lon, lat float64) (float64, float64)) {
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			if k == "coordinates" {
				convertPositions(x, conv)
			} else {
				convertCoordinates(x, conv)
			}
		}
	case []any:
		for _, x := range t {
			convertCoordinates(x, conv)
		}
	}
}

// convertPositions converts the positions of a coordinates array, at any
// depth: an array whose first two members are numbers is a position.
func convertPositions(v any, conv func(lon, lat float64) (float64, float64)) {
	a, ok := v.([]any)
	if !ok {
		return
	}
	if len(a) >= 2 {
		lonN, ok1 := a[0].(json.Number)
		latN, ok2 := a[1].(json.Number)
		if ok1 && ok2 {
			lon, err1 := lonN.Float64()
			lat, err2 := latN.Float64()
			if err1 == nil && err2 == nil {
				lon, lat = conv(lon, lat)
				a[0], a[1] = json.Number(strconv.FormatFloat(lon, 'f', -1, 64)), json.Number(strconv.FormatFloat(lat, 'f', -1, 64))
			}
			return
		}
	}
	for _, x := range a {
		convertPositions(x, conv)
	}
}
