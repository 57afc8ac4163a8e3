package engine

import (
	"math"
	"unsafe"
)

// DefaultBandHeight is the height of a row band in 1e-7 degrees (0.0005°,
// about 55 m) where the data does not choose one.
const DefaultBandHeight = 5000

// autoBandHeight chooses a band height from the data: the mean spacing of
// its distinct points (counted as changes of position between consecutive
// rows, which is exact when a building's dwellings are adjacent), so that a polygon edge's strip in a band holds about
// one point. Measured on the reference city (1 M dwellings, ~10 k points):
// 0.0005° bands gave 300 µs for a district polygon, 0.003° 100 µs.
func autoBandHeight(lon, lat []int32) int32 {
	if len(lon) == 0 {
		return DefaultBandHeight
	}
	minX, maxX, minY, maxY := lon[0], lon[0], lat[0], lat[0]
	points := 1
	for i := 1; i < len(lon); i++ {
		minX, maxX = min(minX, lon[i]), max(maxX, lon[i])
		minY, maxY = min(minY, lat[i]), max(maxY, lat[i])
		if lon[i] != lon[i-1] || lat[i] != lat[i-1] {
			points++
		}
	}
	// in float64: a span across the globe does not fit int32
	area := (float64(maxX) - float64(minX) + 1) * (float64(maxY) - float64(minY) + 1)
	h := int32(min(max(math.Sqrt(area/float64(points)), 2000), 200_000))
	return h + h&1
}

// colTarget is the mean number of dwellings per column of a band's directory.
const colTarget = 16

// bandIndex orders the distinct points of the main slots by (band, lon) and
// finds, for a band and a longitude, the first point at or east of it in O(1)
// plus a short search. Dwellings of one building share a point, so there are
// far fewer points than dwellings; point p holds slots [first[p], first[p+1]).
type bandIndex struct {
	lat0 int32 // south edge of band 0
	h    int32 // band height, even
	nb   int   // number of bands
	// start[b] is the first point of band b; start[nb] is the number of points
	start []uint32
	// per band column directory: columns of width colW[b] from colLon[b];
	// dir[colOff[b]+c] is the first point of band b with lon >= colLon[b]+c*colW[b]
	colLon []int32
	colW   []int32
	colOff []uint32
	dir    []uint32
	lon    []int32  // per point
	lat    []int32  // per point
	first  []uint32 // per point and one more: its first slot
}

// buildPoints finds the distinct points of slots sorted by (band, lon, lat)
// and indexes them.
func buildPoints(lon, lat []int32, lat0, h int32) *bandIndex {
	var plon, plat []int32
	var first []uint32
	for i := range lon {
		if i == 0 || lon[i] != lon[i-1] || lat[i] != lat[i-1] {
			plon = append(plon, lon[i])
			plat = append(plat, lat[i])
			first = append(first, uint32(i))
		}
	}
	first = append(first, uint32(len(lon)))
	ix := buildBandIndex(plon, plat, lat0, h)
	ix.lat, ix.first = plat, first
	return ix
}

func unsafeString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// bandOf returns the band of a latitude, not clamped.
func (ix *bandIndex) bandOf(lat int64) int64 {
	d := lat - int64(ix.lat0)
	switch {
	case d < 0:
		return (d - int64(ix.h) + 1) / int64(ix.h)
	case d < 1<<32: // any latitude in the index's range: a 32-bit division, a third of a 64-bit one's time
		return int64(uint32(d) / uint32(ix.h))
	}
	return d / int64(ix.h)
}

// buildBandIndex builds the directory over points [0, n) already sorted by
// (band, lon): lon and lat are their coordinates.
func buildBandIndex(lon, lat []int32, lat0, h int32) *bandIndex {
	n := len(lon)
	ix := &bandIndex{lat0: lat0, h: h, lon: lon}
	if n == 0 {
		ix.start = []uint32{0}
		ix.colOff = []uint32{0}
		ix.first = []uint32{0}
		return ix
	}
	maxBand := ix.bandOf(int64(lat[n-1]))
	ix.nb = int(maxBand) + 1
	ix.start = make([]uint32, ix.nb+1)
	ix.colLon = make([]int32, ix.nb)
	ix.colW = make([]int32, ix.nb)
	ix.colOff = make([]uint32, ix.nb+1)
	p := 0
	for b := 0; b < ix.nb; b++ {
		ix.start[b] = uint32(p)
		q := p
		for q < n && ix.bandOf(int64(lat[q])) == int64(b) {
			q++
		}
		ix.colOff[b] = uint32(len(ix.dir))
		if q > p {
			minLon, maxLon := lon[p], lon[q-1]
			ncols := (q - p + colTarget - 1) / colTarget
			span := int64(maxLon) - int64(minLon) + 1
			w := (span + int64(ncols) - 1) / int64(ncols)
			if w < 1 {
				w = 1
			}
			ncols = int((span + w - 1) / w)
			ix.colLon[b] = minLon
			ix.colW[b] = int32(w)
			r := p
			for c := 0; c < ncols; c++ {
				edge := int64(minLon) + int64(c)*w
				for r < q && int64(lon[r]) < edge {
					r++
				}
				ix.dir = append(ix.dir, uint32(r))
			}
		}
		p = q
	}
	ix.start[ix.nb] = uint32(n)
	ix.colOff[ix.nb] = uint32(len(ix.dir))
	return ix
}

// lowerFrom is lower(b, x) for an x whose answer is known to be at or after
// point from of band b: a sweep moving east along a band asks for points
// just past those it has read, so a few steps from there (in lines already
// in the cache) usually find it; otherwise the directory does.
func (ix *bandIndex) lowerFrom(b int, from uint32, x int64) uint32 {
	e := ix.start[b+1]
	for i := 0; i < lowerSteps && from < e; i, from = i+1, from+1 {
		if int64(ix.lon[from]) >= x {
			return from
		}
	}
	if from == e {
		return e
	}
	return max(from, ix.lower(b, x))
}

// lowerSteps is how many points lowerFrom reads before it asks the directory.
const lowerSteps = 8

// lower returns the first point of band b whose lon is >= x (the band's end
// when there is none).
func (ix *bandIndex) lower(b int, x int64) uint32 {
	s, e := ix.start[b], ix.start[b+1]
	if s == e || x <= int64(ix.colLon[b]) {
		return s
	}
	off := ix.colOff[b]
	nc := int64(ix.colOff[b+1] - off)
	c := (x - int64(ix.colLon[b])) / int64(ix.colW[b])
	var lo, hi uint32
	if c >= nc {
		lo, hi = ix.dir[off+uint32(nc-1)], e
	} else {
		lo = ix.dir[off+uint32(c)]
		if c+1 < nc {
			hi = ix.dir[off+uint32(c)+1]
		} else {
			hi = e
		}
	}
	lon := ix.lon
	for lo < hi {
		m := (lo + hi) >> 1
		if int64(lon[m]) < x {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}
