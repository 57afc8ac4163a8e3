package loader

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geojson"
	"github.com/roomstate/roomstate/coord"
	"github.com/roomstate/roomstate/engine"
)

// lineIndex turns byte offsets into lines and columns. It keeps no table
// of lines (a file of newlines would cost 8 bytes of table a byte): features
// come in file order, so each position is counted on from the last one asked
// for, and only a position before it is counted again from the start.
type lineIndex struct {
	data []byte
	// the last position asked for, and where its line starts
	lastOff, lastLine, lastCol, lineStart int
}

func newLineIndex(data []byte) *lineIndex {
	return &lineIndex{data: data, lastLine: 1, lastCol: 1}
}

// pos returns the 1-based line and column (in characters) of the value at
// or after offset off.
func (li *lineIndex) pos(off int64) (line, col int) {
	o := int(min(max(off, 0), int64(len(li.data))))
	// skip white space to the value itself
	for o < len(li.data) && (li.data[o] == ' ' || li.data[o] == '\n' || li.data[o] == '\r' || li.data[o] == '\t' || li.data[o] == ',') {
		o++
	}
	if o < li.lastOff {
		li.lastOff, li.lastLine, li.lastCol, li.lineStart = 0, 1, 1, 0
	}
	seg := li.data[li.lastOff:o]
	if n := bytes.Count(seg, []byte{'\n'}); n > 0 {
		li.lastLine += n
		li.lineStart = li.lastOff + bytes.LastIndexByte(seg, '\n') + 1
		col = utf8.RuneCount(li.data[li.lineStart:o]) + 1
	} else {
		col = li.lastCol + utf8.RuneCount(seg)
	}
	li.lastOff, li.lastCol = o, col
	return li.lastLine, col
}

// utf8BOM is the byte order mark some tools write at the start of a UTF-8
// file.
var utf8BOM = []byte("\xef\xbb\xbf")

// featureStream walks the features of a GeoJSON FeatureCollection, handing
// each feature's raw bytes and position to fn until it returns false. A
// feature longer than maxFeature bytes (0: no limit) is refused before it
// is decoded, and ends the walk.
func featureStream(name string, data []byte, maxFeature int, errs *engine.LoadError, fn func(raw json.RawMessage, line, col, index int) bool) {
	data = bytes.TrimPrefix(data, utf8BOM) // Windows tools write one; JSON has none
	li := newLineIndex(data)
	dec := json.NewDecoder(bytes.NewReader(data))
	problem := func(off int64, reason string) {
		l, c := li.pos(off)
		errs.Add(engine.Problem{Source: name, Line: l, Column: c, Reason: reason})
	}
	syntax := func(err error) {
		off := dec.InputOffset()
		if se, ok := err.(*json.SyntaxError); ok {
			off = se.Offset - 1
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			problem(int64(len(data)), "the file ends in the middle of the JSON")
			return
		}
		problem(off, "JSON: "+err.Error())
	}
	tok, err := dec.Token()
	if err != nil {
		syntax(err)
		return
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		problem(0, "want a GeoJSON FeatureCollection object")
		return
	}
	sawType, sawFeatures := false, false
	for dec.More() {
		keyOff := dec.InputOffset()
		tok, err := dec.Token()
		if err != nil {
			syntax(err)
			return
		}
		key, _ := tok.(string)
		switch key {
		case "type":
			var t string
			valOff := dec.InputOffset()
			if err := dec.Decode(&t); err != nil || t != "FeatureCollection" {
				problem(valOff, fmt.Sprintf("type is %q; want \"FeatureCollection\"", t))
				return
			}
			sawType = true
		case "features":
			sawFeatures = true
			valOff := dec.InputOffset()
			tok, err := dec.Token()
			if err != nil {
				syntax(err)
				return
			}
			if d, ok := tok.(json.Delim); !ok || d != '[' {
				problem(valOff, "features must be an array")
				return
			}
			for i := 0; dec.More(); i++ {
				off := dec.InputOffset()
				if maxFeature > 0 && valueTooLong(data, off, maxFeature) {
					problem(off, fmt.Sprintf("feature %d is longer than %d bytes (the limit of a feature)", i, maxFeature))
					return
				}
				var raw json.RawMessage
				if err := dec.Decode(&raw); err != nil {
					syntax(err)
					return
				}
				l, c := li.pos(off)
				if !fn(raw, l, c, i) || errs.More > 10*engine.MaxProblems {
					return
				}
			}
			if _, err := dec.Token(); err != nil {
				syntax(err)
				return
			}
		default:
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				_ = keyOff
				syntax(err)
				return
			}
		}
	}
	if _, err := dec.Token(); err != nil {
		syntax(err)
		return
	}
	if _, err := dec.Token(); err != io.EOF {
		problem(dec.InputOffset(), "unexpected data after the FeatureCollection")
	}
	if !sawType {
		problem(0, "no \"type\": \"FeatureCollection\"")
	}
	if !sawFeatures {
		problem(0, "no \"features\" array")
	}
}

// valueTooLong reports whether the JSON object or array at or after off
// (past white space and a comma) runs on beyond limit bytes. It reads at
// most limit bytes; a value that ends, or is malformed, within them is not
// too long (the decoder reports what is wrong with it).
func valueTooLong(data []byte, off int64, limit int) bool {
	i := int(min(max(off, 0), int64(len(data))))
	for i < len(data) && (data[i] == ' ' || data[i] == '\n' || data[i] == '\r' || data[i] == '\t' || data[i] == ',') {
		i++
	}
	if i == len(data) || data[i] != '{' && data[i] != '[' {
		return false
	}
	end := i + limit
	if end >= len(data) {
		return false // the data ends first
	}
	depth, inStr := 0, false
	for j := i; j < end; j++ {
		switch ch := data[j]; {
		case inStr:
			if ch == '\\' {
				j++
			} else if ch == '"' {
				inStr = false
			}
		case ch == '"':
			inStr = true
		case ch == '{' || ch == '[':
			depth++
		case ch == '}' || ch == ']':
			if depth--; depth <= 0 {
				return false
			}
		}
	}
	return true
}

// ReadGeoJSON reads dwellings from a GeoJSON FeatureCollection of Points whose
// properties carry the columns of the CSV form (id may also be the feature's id).
func ReadGeoJSON(name string, data []byte, opts Options) (*engine.Batch, error) {
	errs := &engine.LoadError{}
	b := engine.NewBatch(name, nil)
	cols := newColumns(opts)
	colIdx := map[string]int{}
	for _, n := range []string{"id", "lon", "lat"} {
		cols.add(n, 1, 1, b)
		colIdx[n] = len(cols.names) - 1
	}
	maxLine, maxField := opts.limits()
	rr := newRowReader(name, cols, b, opts, errs)
	var fields [][]byte
	featureStream(name, data, maxLine, errs, func(raw json.RawMessage, line, col, index int) bool {
		var f struct {
			Type       string                     `json:"type"`
			ID         json.RawMessage            `json:"id"`
			Geometry   *json.RawMessage           `json:"geometry"`
			Properties map[string]json.RawMessage `json:"properties"`
		}
		at := func(reason string, args ...any) {
			errs.Add(engine.Problem{Source: name, Line: line, Column: col, Reason: fmt.Sprintf("feature %d: ", index) + fmt.Sprintf(reason, args...)})
		}
		if err := json.Unmarshal(raw, &f); err != nil {
			at("%v", err)
			return true
		}
		if f.Type != "Feature" {
			at("type is %q; want \"Feature\"", f.Type)
			return true
		}
		var pt struct {
			Type        string    `json:"type"`
			Coordinates []float64 `json:"coordinates"`
		}
		if f.Geometry == nil || json.Unmarshal(*f.Geometry, &pt) != nil || pt.Type != "Point" || len(pt.Coordinates) < 2 {
			at("geometry must be a Point with [lon, lat]")
			return true
		}
		for i := range fields {
			fields[i] = fields[i][:0]
		}
		for len(fields) < len(cols.names) {
			fields = append(fields, nil)
		}
		keys := make([]string, 0, len(f.Properties))
		for k := range f.Properties {
			keys = append(keys, k)
		}
		sort.Strings(keys) // new columns in a stable order
		for _, k := range keys {
			ci, ok := colIdx[strings.ToLower(k)]
			if !ok {
				ci, ok = colIdx[k]
			}
			if !ok {
				if reason, fatal, good := cols.add(k, line, col, b); !good {
					at("property %q: %s", k, reason)
					if fatal {
						return false
					}
					continue
				}
				ci = len(cols.names) - 1
				colIdx[k] = ci
				if r := cols.roles[ci]; r != roleFlag && r != rolePending || slices.Contains(BuiltinFlags, strings.ToLower(k)) {
					colIdx[strings.ToLower(k)] = ci
				}
				fields = append(fields, nil)
			}
			raw := f.Properties[k]
			v, err := jsonScalar(raw)
			if err != nil {
				if r := cols.roles[ci]; r != rolePending && r != roleDropped {
					at("property %q: %v", k, err)
					continue
				}
				// an object or array where a candidate flag's value stands:
				// not a flag value, and not kept (a little of it names it)
				v = raw[:min(len(raw), 41)]
			}
			if len(v) > maxField {
				at("property %q: value longer than %d bytes (the field limit)", k, maxField)
				continue
			}
			fields[ci] = append(fields[ci], v...)
		}
		if len(fields[colIdx["id"]]) == 0 && len(f.ID) > 0 {
			v, err := jsonScalar(f.ID)
			if err == nil {
				fields[colIdx["id"]] = append(fields[colIdx["id"]], v...)
			}
		}
		fields[colIdx["lon"]] = strconv.AppendFloat(fields[colIdx["lon"]], pt.Coordinates[0], 'g', -1, 64)
		fields[colIdx["lat"]] = strconv.AppendFloat(fields[colIdx["lat"]], pt.Coordinates[1], 'g', -1, 64)
		rr.row(fields, line, func(int) (int, int) { return line, col })
		return !rr.fatal
	})
	rr.finish()
	if opts.Progress != nil {
		opts.Progress(int64(len(data)), int64(len(data)))
	}
	if errs.Len() > 0 {
		return nil, errs
	}
	return b, nil
}

// jsonScalar renders a JSON scalar as CSV would hold it: strings unquoted,
// numbers as written, booleans as true/false, null as empty.
func jsonScalar(raw json.RawMessage) ([]byte, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	switch raw[0] {
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, err
		}
		return []byte(s), nil
	case '{', '[':
		return nil, fmt.Errorf("want a string, number or boolean")
	}
	return raw, nil
}

// MaxBoundaryBytes bounds one boundary feature's GeoJSON text (some two
// million vertices), so that decoding a hostile file costs no more than
// the file and this much.
const MaxBoundaryBytes = 64 << 20

// ReadBoundariesFile reads area boundaries from a GeoJSON file.
func ReadBoundariesFile(path string, crs CRS) ([]engine.Boundary, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ReadBoundaries(path, data, crs)
}

// ReadBoundaries reads a GeoJSON FeatureCollection of Polygon and
// MultiPolygon features with properties level (district, street, community
// or grid), id, and optionally name.
func ReadBoundaries(name string, data []byte, crs CRS) ([]engine.Boundary, error) {
	errs := &engine.LoadError{}
	var out []engine.Boundary
	seen := map[string]int{}
	conv := crs.converter()
	featureStream(name, data, MaxBoundaryBytes, errs, func(raw json.RawMessage, line, col, index int) bool {
		at := func(field, reason string, args ...any) {
			errs.Add(engine.Problem{Source: name, Line: line, Column: col, Field: field, Reason: fmt.Sprintf("feature %d: ", index) + fmt.Sprintf(reason, args...)})
		}
		f, err := geojson.UnmarshalFeature(raw)
		if err != nil {
			at("", "%v", err)
			return true
		}
		levelName, _ := f.Properties["level"].(string)
		level, err := engine.ParseLevel(levelName)
		if err != nil || level == engine.LevelBuilding {
			at("level", "level %q: want district, street, community or grid", levelName)
			return true
		}
		var id string
		switch v := f.Properties["id"].(type) {
		case string:
			id = v
		case float64:
			id = strconv.FormatFloat(v, 'f', -1, 64)
		}
		if id == "" {
			at("id", "no id: the id must match the dwellings' %s column", levelName)
			return true
		}
		nameProp, _ := f.Properties["name"].(string)
		key := levelName + "\x00" + id
		if first, dup := seen[key]; dup {
			at("id", "%s %q appears twice (first as feature %d)", levelName, id, first)
			return true
		}
		seen[key] = index
		var mp orb.MultiPolygon
		switch g := f.Geometry.(type) {
		case orb.Polygon:
			mp = orb.MultiPolygon{g}
		case orb.MultiPolygon:
			mp = g
		default:
			at("geometry", "geometry must be a Polygon or MultiPolygon")
			return true
		}
		for pi, p := range mp {
			if len(p) == 0 {
				at("geometry", "polygon %d has no rings", pi)
				return true
			}
			for ri, r := range p {
				if len(r) < 4 || r[0] != r[len(r)-1] {
					at("geometry", "polygon %d ring %d is not a closed ring of at least 4 positions", pi, ri)
					return true
				}
				for vi := range r {
					if conv != nil {
						r[vi][0], r[vi][1] = conv(r[vi][0], r[vi][1])
					}
					if err := coord.ValidLonLat(r[vi][0], r[vi][1]); err != nil {
						at("geometry", "polygon %d ring %d position %d: %v", pi, ri, vi, err)
						return true
					}
				}
			}
		}
		out = append(out, engine.Boundary{Level: level, ID: id, Name: nameProp, Geometry: mp})
		return true
	})
	if errs.Len() > 0 {
		return nil, errs
	}
	return out, nil
}
