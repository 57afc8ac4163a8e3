package city

// Stateless randomness for geometry that neighbouring units must agree on:
// a lattice corner's displacement and a shared edge's wiggles are functions
// of the seed and the corner or edge, not of the order units are drawn in.

// mix is splitmix64's finaliser: a bijection that scatters bits.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// hash3 mixes a seed, a tag naming the use, and two numbers.
func hash3(seed, tag, a, b uint64) uint64 {
	return mix(mix(mix(seed^tag*0x9e3779b97f4a7c15)+a) + b)
}

// unit01 maps a hash to [0, 1).
func unit01(h uint64) float64 { return float64(h>>11) / (1 << 53) }

// Tags of hash3, one per use.
const (
	tagCornerX uint64 = iota + 1
	tagCornerY
	tagEdgePieces
	tagEdgeT
	tagEdgeV
	tagShore
)
