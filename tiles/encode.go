package tiles

import (
	"github.com/paulmach/orb/encoding/mvt/vectortile"
	"github.com/roomstate/roomstate/privacy"
)

// pointLayer builds a layer of point features straight into orb's
// vectortile protobuf types. orb's mvt.Marshal reads properties from a map
// per feature and sorts its keys every time: for the hundreds of building
// points of a dense tile that was half of the rendering time. Here keys have
// a fixed order and values are deduplicated as orb does (same value types),
// so the output decodes exactly as orb's would.
type pointLayer struct {
	layer    vectortile.Tile_Layer
	keys     map[string]uint32
	small    [smallInts]uint32 // index+1 of the small non-negative integers
	ints     map[int64]uint32
	strings  map[string]uint32
	bools    [2]uint32 // index+1
	tags     []uint32  // of the feature being built
	features []vectortile.Tile_Feature
	ids      []uint64
	ints32   []uint32 // tags and geometries of the features
	// nextKey is the key index after the last one looked up: features put
	// their properties in the same order, so it is usually the next one
	nextKey int
	// values and what they point to, allocated a chunk at a time (a
	// chunk is never grown in place: pointers into it stay good)
	vals   []vectortile.Tile_Value
	vInts  []int64
	vStrs  []string
	vBools []bool // two at most
}

// valueChunk is the values allocated at a time.
const valueChunk = 256

// smallInts: integers below this are looked up in an array, not a map
// (most counts of a tile are small).
const smallInts = 256

func newPointLayer(name string, features int) *pointLayer {
	v, e := uint32(2), uint32(Extent)
	return &pointLayer{
		layer:    vectortile.Tile_Layer{Name: &name, Version: &v, Extent: &e, Features: make([]*vectortile.Tile_Feature, 0, features)},
		keys:     map[string]uint32{},
		ints:     map[int64]uint32{},
		strings:  make(map[string]uint32, features),
		features: make([]vectortile.Tile_Feature, 0, features),
		ids:      make([]uint64, 0, features),
		ints32:   make([]uint32, 0, features*int32sPerFeature),
	}
}

// int32sPerFeature is room for a feature's tags (a key and a value index
// for each of about a dozen properties) and its point, so that the shared
// array is not grown again and again.
const int32sPerFeature = 28

func (l *pointLayer) key(k string) uint32 {
	if n := l.nextKey; n < len(l.layer.Keys) && l.layer.Keys[n] == k {
		l.nextKey++
		return uint32(n)
	}
	i, ok := l.keys[k]
	if !ok {
		i = uint32(len(l.layer.Keys))
		l.layer.Keys = append(l.layer.Keys, k)
		l.keys[k] = i
	}
	l.nextKey = int(i) + 1
	return i
}

// newValue adds a value to the layer: tv's fields point into the layer's
// chunks.
func (l *pointLayer) newValue() (*vectortile.Tile_Value, uint32) {
	tv := inChunk(&l.vals, vectortile.Tile_Value{})
	l.layer.Values = append(l.layer.Values, tv)
	return tv, uint32(len(l.layer.Values) - 1)
}

// inChunk stores v in *chunk, starting a new chunk when it is full, and
// returns where it lies (good for the chunk's life: a chunk never grows in
// place).
func inChunk[T any](chunk *[]T, v T) *T {
	if len(*chunk) == cap(*chunk) {
		*chunk = make([]T, 0, valueChunk)
	}
	*chunk = append(*chunk, v)
	return &(*chunk)[len(*chunk)-1]
}

func (l *pointLayer) intValue(v int64) uint32 {
	tv, i := l.newValue()
	tv.SintValue = inChunk(&l.vInts, v)
	return i
}

func (l *pointLayer) stringValue(v string) uint32 {
	tv, i := l.newValue()
	tv.StringValue = inChunk(&l.vStrs, v)
	return i
}

func (l *pointLayer) putInt(k string, v int64) {
	var i uint32
	switch {
	case v >= 0 && v < smallInts:
		if l.small[v] == 0 {
			l.small[v] = l.intValue(v) + 1
		}
		i = l.small[v] - 1
	default:
		var ok bool
		if i, ok = l.ints[v]; !ok {
			i = l.intValue(v)
			l.ints[v] = i
		}
	}
	l.tags = append(l.tags, l.key(k), i)
}

func (l *pointLayer) putString(k, v string) {
	i, ok := l.strings[v]
	if !ok {
		i = l.stringValue(v)
		l.strings[v] = i
	}
	l.tags = append(l.tags, l.key(k), i)
}

// putUnique puts a string no other feature of the layer has (a building's
// id): not looked up, as it cannot repeat.
func (l *pointLayer) putUnique(k, v string) {
	l.tags = append(l.tags, l.key(k), l.stringValue(v))
}

func (l *pointLayer) putBool(k string, v bool) {
	j := 0
	if v {
		j = 1
	}
	if l.bools[j] == 0 {
		tv, i := l.newValue()
		tv.BoolValue = inChunk(&l.vBools, v)
		l.bools[j] = i + 1
	}
	l.tags = append(l.tags, l.key(k), l.bools[j]-1)
}

var pointType = vectortile.Tile_POINT

// zigzag encodes a signed coordinate as the MVT spec says.
func zigzag(v int32) uint32 { return uint32((v << 1) ^ (v >> 31)) }

// add ends the feature being built: a point at x, y with the tags put so far.
func (l *pointLayer) add(id uint64, x, y int32) {
	// Features, ids, tags and geometries live in shared arrays: a slice
	// taken before one of them grows keeps the older array, still intact.
	l.ids = append(l.ids, id)
	t := len(l.ints32)
	l.ints32 = append(l.ints32, l.tags...)
	l.ints32 = append(l.ints32, 1<<3|1, zigzag(x), zigzag(y)) // MoveTo, one point
	g := len(l.ints32) - 3
	l.features = append(l.features, vectortile.Tile_Feature{
		Id:       &l.ids[len(l.ids)-1],
		Tags:     l.ints32[t:g:g],
		Type:     &pointType,
		Geometry: l.ints32[g : g+3 : g+3],
	})
	l.layer.Features = append(l.layer.Features, &l.features[len(l.features)-1])
	l.tags = l.tags[:0]
}

// putCounts adds total, matched and per-flag counts as shown: a withheld
// count is left out, and the feature gets suppressed=true.
func (l *pointLayer) putCounts(c *privacy.Counts, names []string) { l.putCountsOr(c, names, false) }

// putCountsOr is putCounts with suppressed=true also when more is withheld.
func (l *pointLayer) putCountsOr(c *privacy.Counts, names []string, more bool) {
	put := func(name string, v privacy.Value) {
		if !v.Withheld {
			l.putInt(name, v.N)
		}
	}
	put("total", c.Total)
	put("matched", c.Matched)
	for i, v := range c.Flags {
		put(names[i], v)
	}
	if more || c.Withheld() {
		l.putBool("suppressed", true)
	}
}
