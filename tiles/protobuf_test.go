package tiles

import (
	"bytes"
	"math"
	"testing"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/encoding/mvt/vectortile"
	"github.com/paulmach/orb/maptile"
)

// TestMarshalTileAsGenerated: tiles written by marshalTile are the bytes the
// generated protobuf code writes for the same tile, at every zoom of the
// test city (buildings, cells and boundaries layers), and for values of every
// kind.
func TestMarshalTileAsGenerated(t *testing.T) {
	e := loaded(t)
	r := NewRenderer(e.Engine)
	b := e.Bounds()
	centre := orb.Point{(b.Min[0] + b.Max[0]) / 2, (b.Min[1] + b.Max[1]) / 2}
	n := 0
	for z := maptile.Zoom(0); z <= 18; z++ {
		tl := maptile.At(centre, z)
		for _, where := range []string{"", "isolated"} {
			tile, err := r.Render(&Request{Z: uint32(z), X: tl.X, Y: tl.Y, Where: where})
			if err != nil {
				t.Fatal(err)
			}
			if len(tile.Raw) == 0 {
				continue
			}
			var vt vectortile.Tile
			if err := vt.Unmarshal(tile.Raw); err != nil {
				t.Fatalf("z%d: %v", z, err)
			}
			want, err := vt.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(tile.Raw, want) {
				t.Fatalf("z%d: %d bytes written, the generated code writes %d", z, len(tile.Raw), len(want))
			}
			n++
		}
	}
	if n < 20 {
		t.Fatalf("only %d tiles compared", n)
	}
	// values of every kind, and fields the renderer does not use
	s, f32, f64, i64, u64, s64, yes := "居委会", float32(1.5), math.Pi, int64(-3), uint64(1<<40), int64(-70000), true
	ext, ver, id, typ := uint32(4096), uint32(2), uint64(1<<53-1), vectortile.Tile_POINT
	name := "x"
	vt := vectortile.Tile{Layers: []*vectortile.Tile_Layer{{Version: &ver, Name: &name, Extent: &ext, Keys: []string{"a", "b"},
		Values: []*vectortile.Tile_Value{{StringValue: &s}, {FloatValue: &f32}, {DoubleValue: &f64}, {IntValue: &i64},
			{UintValue: &u64}, {SintValue: &s64}, {BoolValue: &yes}},
		Features: []*vectortile.Tile_Feature{{Id: &id, Tags: []uint32{0, 6, 1, 200}, Type: &typ, Geometry: []uint32{9, 50, 300000}}, {}}}}}
	want, err := vt.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if got := marshalTile(&vt); !bytes.Equal(got, want) {
		t.Fatalf("written %x\ngenerated %x", got, want)
	}
}
