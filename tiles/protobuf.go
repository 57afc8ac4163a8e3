package tiles

import (
	"encoding/binary"
	"math"
	"sync"

	"github.com/paulmach/orb/encoding/mvt/vectortile"
)

// marshalTile writes t as the protocol buffer of the vector tile spec, byte
// for byte as its generated Marshal does (fields in number order, packed
// tags and geometry), without the generated code's per-value extension
// bookkeeping: a dense z14 tile has hundreds of values, and sizing and
// writing them through it took 16 % of rendering the tile.
//
// The layers are written into a pooled buffer first, and the tile into one
// allocation of its exact size: grown by appending, a dense tile's 200 KiB
// were allocated about four times over (a tenth of its rendering).
func marshalTile(t *vectortile.Tile) []byte {
	mb := marshalBufs.Get().(*marshalBuf)
	defer mb.put()
	mb.layers, mb.ends = mb.layers[:0], mb.ends[:0]
	for _, l := range t.Layers {
		mb.layers = appendLayer(mb.layers, l, &mb.msg)
		mb.ends = append(mb.ends, len(mb.layers))
	}
	n, start := 0, 0
	for _, end := range mb.ends {
		n += varintLen(3<<3|2) + varintLen(uint64(end-start)) + end - start
		start = end
	}
	out := make([]byte, 0, n)
	start = 0
	for _, end := range mb.ends {
		out = appendBytesField(out, 3, mb.layers[start:end])
		start = end
	}
	return out
}

// marshalBuf is marshalTile's scratch: the layers one after another, where
// each ends, and a feature or value being written.
type marshalBuf struct {
	layers, msg []byte
	ends        []int
}

var marshalBufs = sync.Pool{New: func() any { return new(marshalBuf) }}

// put returns mb to the pool, unless a huge tile grew it.
func (mb *marshalBuf) put() {
	if cap(mb.layers) <= 4<<20 {
		marshalBufs.Put(mb)
	}
}

func appendLayer(b []byte, l *vectortile.Tile_Layer, msg *[]byte) []byte {
	if l.Name != nil {
		b = appendBytesField(b, 1, []byte(*l.Name))
	}
	for _, f := range l.Features {
		*msg = appendFeature((*msg)[:0], f)
		b = appendBytesField(b, 2, *msg)
	}
	for _, k := range l.Keys {
		b = appendBytesField(b, 3, []byte(k))
	}
	for _, v := range l.Values {
		*msg = appendValue((*msg)[:0], v)
		b = appendBytesField(b, 4, *msg)
	}
	if l.Extent != nil {
		b = appendVarintField(b, 5, uint64(*l.Extent))
	}
	if l.Version != nil {
		b = appendVarintField(b, 15, uint64(*l.Version))
	}
	return b
}

func appendFeature(b []byte, f *vectortile.Tile_Feature) []byte {
	if f.Id != nil {
		b = appendVarintField(b, 1, *f.Id)
	}
	b = appendPacked(b, 2, f.Tags)
	if f.Type != nil {
		b = appendVarintField(b, 3, uint64(*f.Type))
	}
	return appendPacked(b, 4, f.Geometry)
}

func appendValue(b []byte, v *vectortile.Tile_Value) []byte {
	if v.StringValue != nil {
		b = appendBytesField(b, 1, []byte(*v.StringValue))
	}
	if v.FloatValue != nil {
		b = binary.LittleEndian.AppendUint32(appendVarint(b, 2<<3|5), math.Float32bits(*v.FloatValue))
	}
	if v.DoubleValue != nil {
		b = binary.LittleEndian.AppendUint64(appendVarint(b, 3<<3|1), math.Float64bits(*v.DoubleValue))
	}
	if v.IntValue != nil {
		b = appendVarintField(b, 4, uint64(*v.IntValue))
	}
	if v.UintValue != nil {
		b = appendVarintField(b, 5, *v.UintValue)
	}
	if v.SintValue != nil {
		s := *v.SintValue
		b = appendVarintField(b, 6, uint64(s<<1)^uint64(s>>63))
	}
	if v.BoolValue != nil {
		var x uint64
		if *v.BoolValue {
			x = 1
		}
		b = appendVarintField(b, 7, x)
	}
	return b
}

func appendPacked(b []byte, field int, xs []uint32) []byte {
	if len(xs) == 0 {
		return b
	}
	n := 0
	for _, x := range xs {
		n += varintLen(uint64(x))
	}
	b = appendVarint(appendVarint(b, uint64(field)<<3|2), uint64(n))
	for _, x := range xs {
		b = appendVarint(b, uint64(x))
	}
	return b
}

func appendBytesField(b []byte, field int, v []byte) []byte {
	return append(appendVarint(appendVarint(b, uint64(field)<<3|2), uint64(len(v))), v...)
}

func appendVarintField(b []byte, field int, v uint64) []byte {
	return appendVarint(appendVarint(b, uint64(field)<<3), v)
}

func appendVarint(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

func varintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}
