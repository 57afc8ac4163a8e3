package region

import (
	"math"
	"math/big"
	"math/rand/v2"
	"testing"
)

// checkSimpleBrute is the oracle of checkSimple: every pair of edges of
// the polygon tested, by the same rules.
func checkSimpleBrute(edges []Edge, ringLens []int) bool {
	ring := make([]int, 0, len(edges))
	pos := make([]int, 0, len(edges))
	for ri, n := range ringLens {
		for j := range n {
			ring = append(ring, ri)
			pos = append(pos, j)
		}
	}
	for i := range edges {
		for j := i + 1; j < len(edges); j++ {
			same := ring[i] == ring[j]
			adjacent := false
			if same {
				n := ringLens[ring[i]]
				d := pos[i] - pos[j]
				adjacent = d == 1 || d == -1 || d == n-1 || d == 1-n
			}
			if segmentsIntersect(&edges[i], &edges[j], adjacent, !same) {
				return false
			}
		}
	}
	return true
}

// ringEdges turns closed rings of points into edges, ring after ring.
func ringEdges(rings [][][2]int32) ([]Edge, []int) {
	var edges []Edge
	var lens []int
	for _, r := range rings {
		for i := 0; i+1 < len(r); i++ {
			edges = append(edges, Edge{r[i][0], r[i][1], r[i+1][0], r[i+1][1]})
		}
		lens = append(lens, len(r)-1)
	}
	return edges, lens
}

// randomRings makes a polygon likely to be at the edge of validity: random
// walks on a coarse grid (collinear overlaps, spikes, vertices on edges,
// rings touching), jittered stars, long thin slivers, huge coordinates.
func randomRings(rng *rand.Rand) [][][2]int32 {
	kind := rng.IntN(5)
	grid := int32(1 + rng.IntN(4))
	var off [2]int32
	if rng.IntN(4) == 0 { // far from the origin, up to the extremes of the range
		off = [2]int32{int32(rng.IntN(3_600_000_000) - 1_800_000_000), int32(rng.IntN(1_800_000_000) - 900_000_000)}
	}
	pt := func(x, y int32) [2]int32 { return [2]int32{off[0] + x, off[1] + y} }
	var rings [][][2]int32
	nr := 1 + rng.IntN(3)
	for r := 0; r < nr; r++ {
		n := 3 + rng.IntN(12)
		var ring [][2]int32
		switch kind {
		case 0, 1: // a walk on a small grid
			for range n {
				ring = append(ring, pt(grid*int32(rng.IntN(6)), grid*int32(rng.IntN(6))))
			}
		case 2: // a star around a centre, some radii zero-ish
			for i := range n {
				a := float64(i) / float64(n) * 6.283
				rad := float64(1 + rng.IntN(20))
				ring = append(ring, pt(int32(rad*math.Cos(a)), int32(rad*math.Sin(a))))
			}
		case 3: // a ragged strip: many short edges forth, then back
			for i := range n {
				ring = append(ring, pt(int32(i)*grid, int32(rng.IntN(3))))
			}
			for i := n - 1; i >= 0; i-- {
				ring = append(ring, pt(int32(i)*grid, int32(3+rng.IntN(3))-int32(rng.IntN(2))*3))
			}
		case 4: // a big square with small rings inside, touching or not
			if r == 0 {
				ring = [][2]int32{pt(0, 0), pt(20, 0), pt(20, 20), pt(0, 20)}
			} else {
				x, y := int32(rng.IntN(20)), int32(rng.IntN(20))
				ring = [][2]int32{pt(x, y), pt(x+int32(1+rng.IntN(5)), y), pt(x, y+int32(1+rng.IntN(5)))}
			}
		}
		clean := openRing(ring)
		if len(clean) < 3 {
			continue
		}
		rings = append(rings, append(clean, clean[0]))
	}
	return rings
}

// openRing drops a ring's repeated positions, as New does, and its closing
// position: what remains are its distinct vertices in order.
func openRing(ring [][2]int32) [][2]int32 {
	var clean [][2]int32
	for _, p := range ring {
		if len(clean) == 0 || clean[len(clean)-1] != p {
			clean = append(clean, p)
		}
	}
	for len(clean) > 1 && clean[len(clean)-1] == clean[0] {
		clean = clean[:len(clean)-1]
	}
	return clean
}

// checkBoth runs checkSimple on a polygon's edges twice: as it runs (the
// one pass, giving way to sorted cells when crowded) and with the sorted
// cells alone. Both must agree.
func checkBoth(t *testing.T, edges []Edge, lens []int) error {
	t.Helper()
	ps := emptyStats
	for i := range edges {
		ps.add(&edges[i])
	}
	err := checkSimple(edges, lens, &ps, 0, 1)
	defer func(w int) { linkedWork = w }(linkedWork)
	linkedWork = -1 << 20
	if sorted := checkSimple(edges, lens, &ps, 0, 1); (sorted == nil) != (err == nil) {
		t.Fatalf("the one pass says %v, the sorted cells %v", err, sorted)
	}
	return err
}

// TestCheckSimpleIsBrute: the simplicity check accepts exactly the polygons
// that testing every pair of edges accepts, on polygons made to be at the
// edge of validity, both ways (one pass and sorted cells).
func TestCheckSimpleIsBrute(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	valid, invalid := 0, 0
	for round := range 200_000 {
		rings := randomRings(rng)
		if len(rings) == 0 {
			continue
		}
		if round%4 == 0 {
			rings = spread(rings)
		}
		edges, lens := ringEdges(rings)
		want := checkSimpleBrute(edges, lens)
		err := checkBoth(t, edges, lens)
		if (err == nil) != want {
			t.Fatalf("round %d: rings %v: checkSimple says %v, every pair says simple=%v", round, rings, err, want)
		}
		if want {
			valid++
		} else {
			invalid++
		}
	}
	t.Logf("%d simple polygons, %d not", valid, invalid)
	if valid < 1000 || invalid < 1000 {
		t.Fatalf("too few of one kind: %d simple, %d not", valid, invalid)
	}
}

// TestOrientExact: orient against big.Int products, on coordinates in range
// (the int64 path) and on any int32 values (the 128-bit path).
func TestOrientExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	ref := func(ax, ay, bx, by, px, py int64) int {
		l := new(big.Int).Mul(big.NewInt(bx-ax), big.NewInt(py-ay))
		r := new(big.Int).Mul(big.NewInt(by-ay), big.NewInt(px-ax))
		return l.Cmp(r)
	}
	extremes := []int64{math.MinInt32, math.MinInt32 + 1, -1_800_000_000, -900_000_000, -1, 0, 1, 900_000_000, 1_800_000_000, math.MaxInt32 - 1, math.MaxInt32}
	val := func() int64 {
		switch rng.IntN(3) {
		case 0:
			return extremes[rng.IntN(len(extremes))]
		case 1:
			return int64(rng.Int32()) - int64(rng.Int32())/2
		}
		return int64(rng.IntN(7) - 3)
	}
	for range 1_000_000 {
		ax, ay, bx, by, px, py := val(), val(), val(), val(), val(), val()
		if rng.IntN(4) == 0 { // collinear: p on the line through a and b, scaled
			k := int64(rng.IntN(3) - 1)
			px, py = ax+k*(bx-ax), ay+k*(by-ay)
			if px < math.MinInt32 || px > math.MaxInt32 || py < math.MinInt32 || py > math.MaxInt32 {
				continue
			}
		}
		if got, want := orient(ax, ay, bx, by, px, py), ref(ax, ay, bx, by, px, py); got != want {
			t.Fatalf("orient(%d,%d, %d,%d, %d,%d) = %d, want %d", ax, ay, bx, by, px, py, got, want)
		}
	}
}

// raggedRings is a polygon of hundreds to thousands of edges: a ragged star
// (radii varying edge to edge, as real boundaries do), sometimes with a few
// long edges among many short ones (crowded cells), with holes, and, for
// about half of them, one vertex moved across the ring so that it may cross.
func raggedRings(rng *rand.Rand) [][][2]int32 {
	n := 100 + rng.IntN(1500)
	var outer [][2]int32
	long := rng.IntN(3) == 0
	for i := range n {
		a := 2 * math.Pi * float64(i) / float64(n)
		r := 1e5 * (0.6 + 0.4*rng.Float64())
		if long && i < n/3 { // a third of the turn in a few long edges
			if i%(n/12+1) != 0 {
				continue
			}
			r = 1e5
		}
		outer = append(outer, [2]int32{int32(r * math.Cos(a)), int32(r * math.Sin(a))})
	}
	if rng.IntN(2) == 0 { // move a vertex somewhere else on the ring
		outer[rng.IntN(len(outer))] = outer[rng.IntN(len(outer))]
		outer[rng.IntN(len(outer))][0] += int32(rng.IntN(20_001) - 10_000)
	}
	clean := openRing(outer)
	rings := [][][2]int32{append(clean, clean[0])}
	for range rng.IntN(3) { // small holes, clockwise, some touching or crossing the outer ring
		cx, cy := int32(rng.IntN(120_001)-60_000), int32(rng.IntN(120_001)-60_000)
		d := int32(1000 + rng.IntN(20_000))
		rings = append(rings, [][2]int32{{cx, cy}, {cx, cy + d}, {cx + d, cy + d}, {cx + d, cy}, {cx, cy}})
	}
	return rings
}

// TestCheckSimpleRagged: on ragged polygons of hundreds to thousands of
// edges, simple or not, crowded or not, the check agrees with every pair
// tested, both ways.
func TestCheckSimpleRagged(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	rounds := 300
	if testing.Short() {
		rounds = 60
	}
	valid, invalid := 0, 0
	for round := range rounds {
		rings := raggedRings(rng)
		edges, lens := ringEdges(rings)
		want := checkSimpleBrute(edges, lens)
		if err := checkBoth(t, edges, lens); (err == nil) != want {
			t.Fatalf("round %d (%d edges): checkSimple says %v, every pair says simple=%v", round, len(edges), err, want)
		}
		if want {
			valid++
		} else {
			invalid++
		}
	}
	t.Logf("%d simple polygons, %d not", valid, invalid)
	if valid < rounds/10 || invalid < rounds/10 {
		t.Fatalf("too few of one kind: %d simple, %d not", valid, invalid)
	}
}

// spread scales rings about their centre to span most of the int32 range
// (wider than 2^31 units, where the check's products need more than int64):
// a scale by a whole number keeps every crossing and every touch.
func spread(rings [][][2]int32) [][][2]int32 {
	lo, hi := [2]int64{math.MaxInt64, math.MaxInt64}, [2]int64{math.MinInt64, math.MinInt64}
	for _, r := range rings {
		for _, p := range r {
			for d := range 2 {
				lo[d], hi[d] = min(lo[d], int64(p[d])), max(hi[d], int64(p[d]))
			}
		}
	}
	var c [2]int64
	reach := int64(1)
	for d := range 2 {
		c[d] = (lo[d] + hi[d]) / 2
		reach = max(reach, hi[d]-c[d], c[d]-lo[d])
	}
	k := int64(2_100_000_000) / reach
	out := make([][][2]int32, len(rings))
	for i, r := range rings {
		for _, p := range r {
			var q [2]int32
			for d := range 2 {
				q[d] = int32((int64(p[d]) - c[d]) * k)
			}
			out[i] = append(out[i], q)
		}
	}
	return out
}

// TestClassifyIsOnSegmentAndWindingStep: Classify agrees with onSegment and,
// off the edge, with windingStep, for edges of every direction (level,
// upright, long, a unit long) and points around, on and a unit off them.
func TestClassifyIsOnSegmentAndWindingStep(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 18))
	for range 2_000_000 {
		r := int32(1 + rng.IntN(8))
		if rng.IntN(8) == 0 {
			r = 1 << 30
		}
		c := func() int32 { return int32(rng.Int64N(2*int64(r)+1) - int64(r)) }
		e := Edge{c(), c(), c(), c()}
		if e.X1 == e.X2 && e.Y1 == e.Y2 {
			continue
		}
		px, py := int64(c()), int64(c())
		if rng.IntN(4) == 0 { // on the line through the edge, or by a unit
			k := rng.Int64N(3) - 1
			px, py = int64(e.X1)+k*(int64(e.X2)-int64(e.X1))+rng.Int64N(3)-1, int64(e.Y1)+k*(int64(e.Y2)-int64(e.Y1))
		}
		on, step := Classify(&e, px, py)
		if want := onSegment(&e, px, py); on != want {
			t.Fatalf("edge %v, point %d,%d: on %v, onSegment %v", e, px, py, on, want)
		}
		if want := windingStep(&e, px, py); !on && step != want {
			t.Fatalf("edge %v, point %d,%d: step %d, windingStep %d", e, px, py, step, want)
		}
	}
}

// windingStep, the oracle of Classify's step, returns the change of the winding number that edge e makes for
// a point p when a ray is cast from p to the west: +1 for a downward edge
// crossing west of p, -1 for an upward one, 0 otherwise. Half-open in y.
func windingStep(e *Edge, px, py int64) int {
	y1, y2 := int64(e.Y1), int64(e.Y2)
	if (y1 <= py) == (y2 <= py) {
		return 0
	}
	o := orient(int64(e.X1), y1, int64(e.X2), y2, px, py)
	if y2 > y1 { // upward: crossing west of p when p is right of the edge
		if o < 0 {
			return -1
		}
	} else if o > 0 {
		return 1
	}
	return 0
}
