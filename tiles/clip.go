package tiles

import (
	"sync"

	"github.com/paulmach/orb"
)

// clipRing is orb's clip.Ring of ring translated by (-dx, -dy), computed as
// orb computes it (Sutherland–Hodgman, one side of the box a pass, the same
// arithmetic on the same translated points) without translating the whole
// ring first: a ragged boundary's ring crossing a tile holds thousands of
// points, a few of which are in the tile. The passes work in pooled
// buffers; the result is a ring of its own (nil when nothing is left).
func clipRing(box orb.Bound, ring orb.Ring, dx, dy float64) orb.Ring {
	if len(ring) == 0 {
		return nil
	}
	sc := clipBufs.Get().(*clipScratch)
	defer clipBufs.Put(sc)
	last := len(ring) - 1
	closed := orb.Point{ring[0][0] - dx, ring[0][1] - dy} == orb.Point{ring[last][0] - dx, ring[last][1] - dy}
	// the first pass reads the ring, translating each point as orb's
	// caller would have; the others read the previous pass's points
	in := clipPass(box, 1, ring, dx, dy, closed, sc.a[:0])
	spare := sc.b[:0]
	for edge := 2; edge <= 8 && len(in) > 0; edge <<= 1 {
		out := clipPass(box, edge, in, 0, 0, closed, spare)
		in, spare = out, in
	}
	sc.keep(in, spare)
	if len(in) == 0 {
		return nil
	}
	n := len(in)
	if closed && in[0] != in[n-1] {
		n++ // closed again, as orb closes it
	}
	r := make(orb.Ring, len(in), n)
	copy(r, in)
	if n > len(in) {
		r = append(r, in[0])
	}
	return r
}

// clipPass is one pass of orb's clipping: the points of in, translated by
// (-dx, -dy), against one side of box (edge), appended to out[:0]; closed
// says whether the ring orb was given was closed.
func clipPass(box orb.Bound, edge int, in orb.Ring, dx, dy float64, closed bool, out orb.Ring) orb.Ring {
	out = out[:0]
	at := func(i int) orb.Point { return orb.Point{in[i][0] - dx, in[i][1] - dy} }
	prev := at(len(in) - 1)
	if !closed {
		prev = at(0)
	}
	prevInside := bitCode(box, prev)&edge == 0
	for i := range in {
		p := at(i)
		inside := bitCode(box, p)&edge == 0
		if inside != prevInside {
			out = append(out, intersect(box, edge, prev, p))
		}
		if inside {
			out = append(out, p)
		}
		prev, prevInside = p, inside
	}
	return out
}

// clipScratch is clipRing's two buffers, kept between calls.
type clipScratch struct{ a, b orb.Ring }

// keep holds on to the buffers the passes grew, but not huge ones.
func (sc *clipScratch) keep(x, y orb.Ring) {
	const most = 1 << 16
	sc.a, sc.b = nil, nil
	if cap(x) <= most {
		sc.a = x[:0]
	}
	if cap(y) <= most {
		sc.b = y[:0]
	}
}

var clipBufs = sync.Pool{New: func() any { return new(clipScratch) }}

// bitCode is orb's: where p lies against each side of b.
func bitCode(b orb.Bound, p orb.Point) int {
	code := 0
	if p[0] < b.Min[0] {
		code |= 1
	} else if p[0] > b.Max[0] {
		code |= 2
	}
	if p[1] < b.Min[1] {
		code |= 4
	} else if p[1] > b.Max[1] {
		code |= 8
	}
	return code
}

// intersect is orb's: where segment a–b crosses side edge of box.
func intersect(box orb.Bound, edge int, a, b orb.Point) orb.Point {
	switch {
	case edge&8 != 0: // top
		return orb.Point{a[0] + (b[0]-a[0])*(box.Max[1]-a[1])/(b[1]-a[1]), box.Max[1]}
	case edge&4 != 0: // bottom
		return orb.Point{a[0] + (b[0]-a[0])*(box.Min[1]-a[1])/(b[1]-a[1]), box.Min[1]}
	case edge&2 != 0: // right
		return orb.Point{box.Max[0], a[1] + (b[1]-a[1])*(box.Max[0]-a[0])/(b[0]-a[0])}
	default: // left
		return orb.Point{box.Min[0], a[1] + (b[1]-a[1])*(box.Min[0]-a[0])/(b[0]-a[0])}
	}
}
