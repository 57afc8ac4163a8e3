package tiles

import (
	"github.com/paulmach/orb/encoding/mvt/vectortile"
)

// pointLayer builds a layer of point features straight into orb's
// vectortile protobuf types. orb's mvt.Marshal reads properties from a map
// per feature and sorts its keys every time: for the hundreds of building
// points of a dense tile that was half of the rendering time. Here keys have
// a fixed order and values are deduplicated as orb does (same value types),
// so the output decodes exactly as orb's would.
type pointLayer struct {
	layer  vectortile.Tile_Layer
	keys   map[string]uint32
	values map[valueKey]uint32
	tags   []uint32 // of the feature being built
}

type valueKind uint8

const (
	kindSint valueKind = iota
	kindString
	kindBool
)

type valueKey struct {
	kind valueKind
	i    int64
	s    string
}

func newPointLayer(name string) *pointLayer {
	v, e := uint32(2), uint32(Extent)
	return &pointLayer{
		layer:  vectortile.Tile_Layer{Name: &name, Version: &v, Extent: &e},
		keys:   map[string]uint32{},
		values: map[valueKey]uint32{},
	}
}

func (l *pointLayer) key(k string) uint32 {
	i, ok := l.keys[k]
	if !ok {
		i = uint32(len(l.layer.Keys))
		l.layer.Keys = append(l.layer.Keys, k)
		l.keys[k] = i
	}
	return i
}

func (l *pointLayer) value(vk valueKey) uint32 {
	i, ok := l.values[vk]
	if ok {
		return i
	}
	i = uint32(len(l.layer.Values))
	tv := &vectortile.Tile_Value{}
	switch vk.kind {
	case kindSint:
		v := vk.i
		tv.SintValue = &v
	case kindString:
		s := vk.s
		tv.StringValue = &s
	case kindBool:
		b := vk.i != 0
		tv.BoolValue = &b
	}
	l.layer.Values = append(l.layer.Values, tv)
	l.values[vk] = i
	return i
}

func (l *pointLayer) putInt(k string, v int64) {
	l.tags = append(l.tags, l.key(k), l.value(valueKey{kind: kindSint, i: v}))
}

func (l *pointLayer) putString(k, v string) {
	l.tags = append(l.tags, l.key(k), l.value(valueKey{kind: kindString, s: v}))
}

func (l *pointLayer) putBool(k string, v bool) {
	var i int64
	if v {
		i = 1
	}
	l.tags = append(l.tags, l.key(k), l.value(valueKey{kind: kindBool, i: i}))
}

// zigzag encodes a signed coordinate as the MVT spec says.
func zigzag(v int32) uint32 { return uint32((v << 1) ^ (v >> 31)) }

// add ends the feature being built: a point at x, y with the tags put so far.
func (l *pointLayer) add(id uint64, x, y int32) {
	typ := vectortile.Tile_POINT
	f := &vectortile.Tile_Feature{
		Id:       &id,
		Tags:     append([]uint32(nil), l.tags...),
		Type:     &typ,
		Geometry: []uint32{1<<3 | 1, zigzag(x), zigzag(y)}, // MoveTo, one point
	}
	l.layer.Features = append(l.layer.Features, f)
	l.tags = l.tags[:0]
}

// putCounts adds total, matched and per-flag counts, hiding small ones when
// k > 0 (suppressed=true then).
func (l *pointLayer) putCounts(total, matched int64, flags []int64, names []string, k int64) {
	hidden := false
	put := func(name string, v int64) {
		if k > 0 && v > 0 && v < k {
			hidden = true
			return
		}
		l.putInt(name, v)
	}
	put("total", total)
	put("matched", matched)
	for i, v := range flags {
		put(names[i], v)
	}
	if hidden {
		l.putBool("suppressed", true)
	}
}
