package region

import (
	"sync"
	"sync/atomic"
)

// bands is a point locator over a region's edges: its box cut into
// horizontal bands, each listing the edges whose y-extent meets it. A point
// needs only the edges of its band: those it may lie on, and those a
// westward ray from it may cross.
type bands struct {
	y0, h int64   // south edge and height (+1) of the box
	n     int64   // number of bands
	off   []int32 // band b's edges are edges[off[b]:off[b+1]]
	edges []Edge
}

// maxBandEntries bounds the band lists at this many edges per region edge
// (plus a constant); a region of long edges gets fewer bands.
const maxBandEntries = 8

// smallRegion is the most edges Locate tests one by one, without bands.
const smallRegion = 16

// locator holds a region's bands, built on first use.
type locator struct {
	once sync.Once
	b    *bands
	done atomic.Bool // b is set
}

// built returns the bands when they are built, nil before.
func (l *locator) built() *bands {
	if l.done.Load() {
		return l.b
	}
	return nil
}

// band returns the band of latitude y.
func (bs *bands) band(y int64) int64 {
	return (y - bs.y0) * bs.n / bs.h
}

// buildBands makes about one band per edge, fewer when long edges would
// list too many times.
func buildBands(edges []Edge, bbox [4]int32) *bands {
	bs := &bands{y0: int64(bbox[1]), h: int64(bbox[3]) - int64(bbox[1]) + 1}
	bs.n = min(int64(len(edges)), 1<<14, bs.h)
	for ; ; bs.n = (bs.n + 1) / 2 {
		total := int64(0)
		for i := range edges {
			lo, hi := bs.span(&edges[i])
			total += hi - lo + 1
		}
		if bs.n == 1 || total <= int64(maxBandEntries*len(edges)+1024) {
			break
		}
	}
	count := make([]int32, bs.n+1)
	for i := range edges {
		lo, hi := bs.span(&edges[i])
		for b := lo; b <= hi; b++ {
			count[b+1]++
		}
	}
	for b := int64(1); b <= bs.n; b++ {
		count[b] += count[b-1]
	}
	bs.off = count
	bs.edges = make([]Edge, count[bs.n])
	next := make([]int32, bs.n)
	copy(next, count[:bs.n])
	for i := range edges {
		lo, hi := bs.span(&edges[i])
		for b := lo; b <= hi; b++ {
			bs.edges[next[b]] = edges[i]
			next[b]++
		}
	}
	return bs
}

// span returns the first and last bands edge e meets.
func (bs *bands) span(e *Edge) (int64, int64) {
	lo, hi := int64(e.Y1), int64(e.Y2)
	if lo > hi {
		lo, hi = hi, lo
	}
	return bs.band(lo), bs.band(hi)
}

// Locate reports whether the region holds the point (boundary included),
// as Contains does, testing only the edges of the point's band. The first
// call builds the bands (about one per edge); it pays for itself after a
// handful of points on a region of many edges. Safe for concurrent use.
func (rg *Region) Locate(lon, lat int32) bool {
	if lon < rg.bbox[0] || lon > rg.bbox[2] || lat < rg.bbox[1] || lat > rg.bbox[3] {
		return false
	}
	if len(rg.edges) <= smallRegion {
		return rg.Contains(lon, lat)
	}
	rg.loc.once.Do(func() { rg.loc.b = buildBands(rg.edges, rg.bbox); rg.loc.done.Store(true) })
	bs := rg.loc.b
	b := bs.band(int64(lat))
	px, py := int64(lon), int64(lat)
	w := 0
	for i := bs.off[b]; i < bs.off[b+1]; i++ {
		on, step := Classify(&bs.edges[i], px, py)
		if on {
			return true
		}
		w += step
	}
	return w > 0
}
