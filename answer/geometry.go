package answer

import (
	"fmt"

	"github.com/paulmach/orb"
	"github.com/roomstate/roomstate/fault"
)

func badGeom(format string, args ...any) error {
	return fault.New(fault.BadGeometry, format, args...)
}

// geometryDecoder turns a GeoJSON Polygon, MultiPolygon, Feature,
// FeatureCollection or GeometryCollection (their union) into one
// MultiPolygon, reading the JSON text in place (jscan) and reusing its
// buffers: decoding a 2,000-vertex street through a tree of JSON values cost
// more than answering it. Members are read in any order; when "coordinates"
// (or "geometry", "features", "geometries") comes before "type", it is
// passed over and read again once the type is known. The first occurrence of
// a member counts. A geometry error (err) does not stop the reading: the
// JSON goes on being checked to its end, so that a body that is not JSON is
// told so first.
type geometryDecoder struct {
	mp       orb.MultiPolygon
	pts      []orb.Point // backing store of every ring
	rings    []orb.Ring  // backing store of every polygon
	vertices int
	maxVerts int
	err      error // the first geometry error
}

func (d *geometryDecoder) reset(maxVerts int) {
	d.mp = d.mp[:0]
	d.pts = d.pts[:0]
	d.rings = d.rings[:0]
	d.vertices = 0
	d.maxVerts = maxVerts
	d.err = nil
}

// fail records a geometry error, the first one only.
func (d *geometryDecoder) fail(err error) {
	if d.err == nil {
		d.err = err
	}
}

// member offsets of a GeoJSON object, -1 when absent
const (
	mCoordinates = iota
	mGeometry
	mFeatures
	mGeometries
	nMembers
)

var memberNames = [nMembers]string{"coordinates", "geometry", "features", "geometries"}

// memberOf returns which member a type reads, -1 for none (unknown type).
func memberOf(typ string) int {
	switch typ {
	case "Polygon", "MultiPolygon":
		return mCoordinates
	case "Feature":
		return mGeometry
	case "FeatureCollection":
		return mFeatures
	case "GeometryCollection":
		return mGeometries
	}
	return -1
}

// decode reads the value at s's offset, a geometry or a feature
// (collection), at path (for messages).
func (d *geometryDecoder) decode(s *jscan, path string, depth int) {
	s.ws()
	if s.peek() != '{' {
		d.fail(badGeom("%s must be a GeoJSON object", path))
		s.skip(depth)
		return
	}
	if depth >= maxJSONDepth {
		s.fail("nested too deeply")
		return
	}
	s.i++
	var typ string
	typSeen, typString := false, false
	var at [nMembers]int // offsets of members passed over
	var seen [nMembers]bool
	var read bool // the type's member was read in place
	// coordinates before the type (as encoders that sort keys write them)
	// are read as the type their nesting says, kept if the type agrees and
	// forgotten otherwise: one pass instead of a pass over to find the type
	// and another to read them
	var guess string
	mark := d.mark()
	s.ws()
	if s.peek() == '}' {
		s.i++
	} else {
		for s.ok() {
			s.ws()
			k, esc := s.str()
			if !s.eat(':', "expected ':'") {
				return
			}
			s.ws()
			m := -1
			for j, name := range memberNames {
				if keyIs(k, esc, name) {
					m = j
				}
			}
			switch {
			case keyIs(k, esc, "type") && !typSeen:
				typSeen = true
				if s.peek() == '"' {
					raw, e := s.str()
					typ, typString = stringValue(raw, e), true
				} else {
					s.skip(depth + 1)
				}
				if guess != "" {
					if typString && typ == guess {
						read = true
					} else { // read as another type: as if passed over
						d.rewind(mark)
					}
					guess = ""
				}
			case m >= 0 && !seen[m]:
				seen[m] = true
				if typString && memberOf(typ) == m && d.err == nil {
					read = true
					d.member(s, typ, path, depth+1)
				} else if g := nestingType(s); !typSeen && m == mCoordinates && d.err == nil && g != "" {
					at[m] = s.i
					sub := *s
					d.member(&sub, g, path, depth+1)
					if sub.ok() && d.err == nil {
						guess, s.i = g, sub.i
					} else { // read again once the type is known, as before
						d.rewind(mark)
						s.skip(depth + 1)
					}
				} else {
					at[m] = s.i
					s.skip(depth + 1)
				}
			default:
				s.skip(depth + 1)
			}
			if !s.ok() || !s.more('}') {
				break
			}
		}
	}
	if !s.ok() || d.err != nil {
		return
	}
	if !typString {
		d.fail(badGeom("%s.type is missing", path))
		return
	}
	m := memberOf(typ)
	switch {
	case m < 0:
		d.fail(badGeom("%s.type is %q: want Polygon, MultiPolygon, Feature or FeatureCollection", path, typ))
	case read:
	case !seen[m]:
		d.missing(typ, path)
	default: // passed over before the type was known: read it now
		sub := jscan{b: s.b, i: at[m]}
		d.member(&sub, typ, path, depth+1)
	}
}

// decoderMark is how much a decoder had read, to go back to.
type decoderMark struct{ mp, pts, rings, vertices int }

func (d *geometryDecoder) mark() decoderMark {
	return decoderMark{len(d.mp), len(d.pts), len(d.rings), d.vertices}
}

// rewind forgets what was read since m, and its error.
func (d *geometryDecoder) rewind(m decoderMark) {
	d.mp, d.pts, d.rings, d.vertices = d.mp[:m.mp], d.pts[:m.pts], d.rings[:m.rings], m.vertices
	d.err = nil
}

// nestingType is the geometry type coordinates at s's offset are nested
// for: three arrays deep a Polygon, four a MultiPolygon ("" otherwise). s
// does not move.
func nestingType(s *jscan) string {
	n := 0
	for i := s.i; i < len(s.b) && n < 5; i++ {
		switch s.b[i] {
		case '[':
			n++
		case ' ', '\t', '\n', '\r':
		default:
			i = len(s.b)
		}
	}
	switch n {
	case 3:
		return "Polygon"
	case 4:
		return "MultiPolygon"
	}
	return ""
}

// missing records the error of a type without its member.
func (d *geometryDecoder) missing(typ, path string) {
	switch typ {
	case "Polygon":
		d.fail(badGeom("%s.coordinates must be an array of rings", path))
	case "MultiPolygon":
		d.fail(badGeom("%s.coordinates must be an array of polygons", path))
	case "Feature":
		d.fail(badGeom("%s.geometry is missing", path))
	case "FeatureCollection":
		d.fail(badGeom("%s.features must be an array", path))
	case "GeometryCollection":
		d.fail(badGeom("%s.geometries must be an array", path))
	}
}

// member reads the member a type reads, at s's offset. On a geometry
// error it passes over the rest of the value, so the JSON goes on being
// checked.
func (d *geometryDecoder) member(s *jscan, typ, path string, depth int) {
	start := s.i
	switch typ {
	case "Polygon":
		d.polygon(s, path+".coordinates", depth)
	case "MultiPolygon":
		d.array(s, depth, func(i int) { d.polygon(s, fmt.Sprintf("%s.coordinates[%d]", path, i), depth+1) },
			func() { d.fail(badGeom("%s.coordinates must be an array of polygons", path)) },
			func() { d.fail(badGeom("%s.coordinates has no polygon", path)) })
	case "Feature":
		if s.peek() == 'n' {
			s.literal("null")
			d.fail(badGeom("%s.geometry is missing", path))
			return
		}
		d.decode(s, path+".geometry", depth)
	case "FeatureCollection":
		d.array(s, depth, func(i int) { d.decode(s, fmt.Sprintf("%s.features[%d]", path, i), depth+1) },
			func() { d.fail(badGeom("%s.features must be an array", path)) },
			func() { d.fail(badGeom("%s.features is empty", path)) })
	case "GeometryCollection":
		d.array(s, depth, func(i int) { d.decode(s, fmt.Sprintf("%s.geometries[%d]", path, i), depth+1) },
			func() { d.fail(badGeom("%s.geometries must be an array", path)) }, nil)
	}
	if d.err != nil && s.ok() {
		s.i = start
		s.skip(depth)
	}
}

// array reads an array whose elements elem reads (i: the element's
// number), stopping at the first geometry error; notArray and empty record
// the errors of a value that is no array, or an empty one (nil: allowed).
func (d *geometryDecoder) array(s *jscan, depth int, elem func(i int), notArray, empty func()) {
	s.ws()
	if s.peek() != '[' {
		notArray()
		return
	}
	if depth >= maxJSONDepth {
		s.fail("nested too deeply")
		return
	}
	s.i++
	s.ws()
	if s.peek() == ']' {
		s.i++
		if empty != nil {
			empty()
		}
		return
	}
	for i := 0; s.ok() && d.err == nil; i++ {
		elem(i)
		if !s.ok() || d.err != nil || !s.more(']') {
			return
		}
	}
}

// polygon reads a polygon's rings.
func (d *geometryDecoder) polygon(s *jscan, path string, depth int) {
	s.ws()
	if s.peek() != '[' {
		d.fail(badGeom("%s must be an array of rings", path))
		return
	}
	if depth+2 >= maxJSONDepth {
		s.fail("nested too deeply")
		return
	}
	s.i++
	s.ws()
	if s.peek() == ']' {
		s.i++
		d.fail(badGeom("%s has no rings", path))
		return
	}
	first := len(d.rings)
	for ri := 0; ; ri++ {
		if !d.ring(s, path, ri) {
			return
		}
		if !s.more(']') {
			break
		}
	}
	if s.ok() {
		d.mp = append(d.mp, orb.Polygon(d.rings[first:len(d.rings):len(d.rings)]))
	}
}

// ring reads ring ri of a polygon; false on an error of either kind.
func (d *geometryDecoder) ring(s *jscan, path string, ri int) bool {
	s.ws()
	if s.peek() != '[' {
		d.fail(badGeom("%s[%d] must be an array of positions", path, ri))
		return false
	}
	s.i++
	start := len(d.pts)
	s.ws()
	if s.peek() == ']' {
		s.i++
	} else {
		for pi := 0; ; pi++ {
			n, end := d.positions(s)
			if pi += n; end {
				break
			}
			if d.vertices++; d.vertices > d.maxVerts {
				d.fail(fault.New(fault.TooLarge, "geometry has more than %d vertices", d.maxVerts))
				return false
			}
			if !d.position(s, path, ri, pi) {
				return false
			}
			if !s.more(']') {
				break
			}
		}
		if !s.ok() {
			return false
		}
	}
	ring := orb.Ring(d.pts[start:len(d.pts):len(d.pts)])
	if len(ring) < 4 {
		d.fail(badGeom("%s[%d] has %d positions; a ring needs at least 4", path, ri, len(ring)))
		return false
	}
	if ring[0] != ring[len(ring)-1] {
		d.fail(badGeom("%s[%d] is not closed: its first position differs from its last", path, ri))
		return false
	}
	d.rings = append(d.rings, ring)
	return true
}

// positions reads the usual positions of a ring, [lon,lat] of short
// numbers in range, each followed by a comma, without blanks, in a loop of
// its own (the scanner's offset in a register), up to the vertex limit; a
// position followed by the ring's closing bracket ends the ring (end is
// true, the bracket read). It stops before anything else, for position and
// more to read or refuse; n is how many positions it read.
func (d *geometryDecoder) positions(s *jscan) (n int, end bool) {
	b, i, pts := s.b, s.i, d.pts
	for room := d.maxVerts - d.vertices; n < room && i < len(b) && b[i] == '['; {
		lon, j, ok := shortNumberAt(b, i+1)
		if !ok || b[j] != ',' {
			break
		}
		lat, j, ok := shortNumberAt(b, j+1)
		if !ok || b[j] != ']' || j+1 == len(b) || !(lon >= -180 && lon <= 180 && lat >= -90 && lat <= 90) {
			break
		}
		if c := b[j+1]; c != ',' && c != ']' {
			break // blanks after it: the long way
		}
		pts = append(pts, orb.Point{lon, lat})
		n++
		i = j + 2
		if b[j+1] == ']' {
			end = true
			break
		}
	}
	s.i, d.pts = i, pts
	d.vertices += n
	return n, end
}

// position reads [lon, lat] or [lon, lat, altitude]; false on an error of
// either kind.
func (d *geometryDecoder) position(s *jscan, path string, ri, pi int) bool {
	// (the usual [lon,lat] are read by positions before this)
	s.ws()
	if s.peek() != '[' {
		d.fail(badGeom("%s[%d][%d] must be a position [lon, lat]", path, ri, pi))
		return false
	}
	s.i++
	var xy [3]float64
	n := 0
	numbers := true
	s.ws()
	if s.peek() == ']' {
		s.i++
	} else {
		for {
			s.ws()
			if v, ok := s.nonFinite(); ok {
				if n < 3 {
					xy[n] = v
				}
			} else if c := s.peek(); c == '-' || c-'0' < 10 {
				v := s.number()
				if n < 3 {
					xy[n] = v
				}
			} else {
				numbers = false
				s.skip(1)
			}
			n++
			if !s.ok() || !s.more(']') {
				break
			}
		}
	}
	if !s.ok() {
		return false
	}
	if n < 2 || n > 3 {
		d.fail(badGeom("%s[%d][%d] must be a position [lon, lat]", path, ri, pi))
		return false
	}
	if !numbers {
		d.fail(badGeom("%s[%d][%d] must hold numbers", path, ri, pi))
		return false
	}
	lon, lat := xy[0], xy[1]
	if !(lon >= -180 && lon <= 180 && lat >= -90 && lat <= 90) { // NaN and ±Inf fail too
		d.fail(badGeom("%s[%d][%d] = [%v, %v] is not a lon/lat position", path, ri, pi, lon, lat))
		return false
	}
	d.pts = append(d.pts, orb.Point{lon, lat})
	return true
}
