// Package city generates the reference synthetic cities of PERFORMANCE.md:
// buildings of 6–33 floors with 2–8 dwellings a floor, flags at real-world
// rates, and a hierarchy of about 4 districts, 36 streets, 1,000 communities
// and 1,300 grids per million dwellings, with boundary polygons that tile the
// city and really contain their dwellings. Output is deterministic from the
// seed. It owns the layouts and their CSV and GeoJSON writers; it knows the
// engine's record and boundary types and its region check (tests), nothing of
// loading, serving or benchmarking.
//
// Two layouts (Kind):
//
// Disc, the original and the zero value: a lattice of square blocks of about
// 400 m inside a disc, buildings scattered over the blocks around a few
// centres. Districts, then streets, communities and grids are grown inside
// their parents by multi-source breadth-first search over the blocks, so every
// unit is a connected union of blocks and its boundary is the outline of those
// blocks (axis-aligned, concave, sometimes with holes).
//
// Realistic (realistic.go): an irregular outline cut by rivers, lakes and
// parks left empty; residential compounds of heavy-tailed sizes; units grown
// the same way over small cells, and boundaries as ragged as real ones:
// streets of hundreds to thousands of vertices, concave, some multipart and
// some with holes, communities of tens.
//
// In both, buildings stand strictly inside their cell, away from anything a
// boundary can draw, so no dwelling lies on a boundary.
//
// A city has exactly Config.N dwellings. Buildings are drawn whole, then the
// last of them are dropped and the last one kept is cut short (its top floor
// partly built, or fewer floors) to fit; the disc, whose buildings can fall
// short of N, first tops them up with more drawn from a stream of their own.
// Units are grown on the buildings as drawn, before the cut, so cutting never
// changes the layout, only the tail of the dwellings.
package city

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/paulmach/orb"
	"github.com/roomstate/roomstate/coord"
	"github.com/roomstate/roomstate/engine"
)

// Kind is a city layout.
type Kind uint8

// The layouts.
const (
	Disc      Kind = iota // square blocks in a disc (the zero value)
	Realistic             // ragged units, rivers and parks, heavy-tailed compounds
)

// String returns "disc" or "realistic".
func (k Kind) String() string {
	switch k {
	case Disc:
		return "disc"
	case Realistic:
		return "realistic"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// ParseKind parses "disc" or "realistic".
func ParseKind(s string) (Kind, error) {
	switch s {
	case "disc":
		return Disc, nil
	case "realistic":
		return Realistic, nil
	}
	return 0, fmt.Errorf("city: unknown kind %q (want realistic or disc)", s)
}

// Config describes a city to generate.
type Config struct {
	N    int    // dwellings, exactly (at least 1)
	Seed uint64 // same seed, same city
	Kind Kind   // layout; the zero value is Disc
	// Center of the city; zero means Shanghai (121.47, 31.23).
	Center orb.Point
	// Extent, when not zero, is the box (degrees) a realistic city fills,
	// whatever its size, instead of 60 m cells around Center. Disc ignores it.
	Extent orb.Bound
}

// Flag rates of the reference workload.
var FlagRates = []struct {
	Name string
	Rate float64
}{
	{"isolated", 0.02},
	{"vaccinated", 0.85},
	{"rental", 0.20},
	{"elderly_alone", 0.05},
}

// FlagNames lists the generated flags in column order.
func FlagNames() []string {
	out := make([]string, len(FlagRates))
	for i, f := range FlagRates {
		out[i] = f.Name
	}
	return out
}

// City is a generated city's layout: its units and buildings. Dwellings are
// produced on demand by Dwellings, so a 10 M city need not sit in memory twice.
type City struct {
	cfg       Config
	lon0      float64 // west edge of block column 0
	lat0      float64 // south edge of block row 0
	blockLon  float64
	blockLat  float64
	cols      int
	rows      int
	units     [4][]unit  // per level
	blockUnit [4][]int32 // per level, per block (cell): unit index, -1 outside the city
	buildings []bld
	compounds []compound // realistic layout only, in the order made
}

// compound is a residential compound of the realistic layout: its dwellings
// and buildings.
type compound struct{ dwellings, buildings int }

// Kind is the city's layout.
func (c *City) Kind() Kind { return c.cfg.Kind }

type unit struct {
	id     string
	name   string
	parent int32
	blocks []int32
}

type bld struct {
	lon    int32
	lat    int32
	block  int32
	floors int
	perFl  int
	top    int     // dwellings on the top floor of a building cut short; 0: a full floor of perFl
	isoP   float64 // isolation rate of this building
}

// size is the number of dwellings of the building.
func (b *bld) size() int {
	if b.top > 0 {
		return (b.floors-1)*b.perFl + b.top
	}
	return b.floors * b.perFl
}

// rooms is the number of dwellings on floor f (1 to floors).
func (b *bld) rooms(f int) int {
	if f == b.floors && b.top > 0 {
		return b.top
	}
	return b.perFl
}

// cut drops the last buildings and cuts the last one kept short, so that the
// city has exactly n dwellings (n ≥ 1); it must have at least n. The units
// are left as they are: they were grown on the buildings as drawn.
func (c *City) cut(n int) {
	size := c.Size()
	for len(c.buildings) > 1 && size-c.buildings[len(c.buildings)-1].size() >= n {
		size -= c.buildings[len(c.buildings)-1].size()
		c.buildings = c.buildings[:len(c.buildings)-1]
	}
	if size > n {
		b := &c.buildings[len(c.buildings)-1]
		keep := b.size() - (size - n)
		b.floors = (keep + b.perFl - 1) / b.perFl
		b.top = keep - (b.floors-1)*b.perFl
		if b.top == b.perFl {
			b.top = 0
		}
	}
	// the compounds (realistic layout) lose what their buildings lost
	kept := len(c.buildings)
	for i := range c.compounds {
		k := &c.compounds[i]
		if k.buildings >= kept {
			k.buildings = kept
			k.dwellings = 0
			for _, b := range c.buildings[len(c.buildings)-kept:] {
				k.dwellings += b.size()
			}
			c.compounds = c.compounds[:i+1]
			break
		}
		kept -= k.buildings
	}
}

// AvgPerBuilding is the mean number of dwellings of a building (6–33 floors
// × 2–8 a floor).
const AvgPerBuilding = 19.5 * 5

// New lays out a city of cfg.Kind.
func New(cfg Config) *City {
	if cfg.N < 1 {
		cfg.N = 1
	}
	if cfg.Center == (orb.Point{}) {
		cfg.Center = orb.Point{121.47, 31.23}
	}
	if cfg.Kind == Realistic {
		return newRealistic(cfg)
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x70a57a7e))
	c := &City{cfg: cfg}
	counts := levelCounts(cfg.N)
	nBlocks := counts[3] * 4
	radius := math.Sqrt(float64(nBlocks) / math.Pi)
	side := int(math.Ceil(2*radius)) + 2
	c.cols, c.rows = side, side
	// blocks of about 400 m
	c.blockLat = 0.0036
	c.blockLon = c.blockLat / math.Cos(cfg.Center[1]*math.Pi/180)
	c.lon0 = roundE7(cfg.Center[0] - float64(side)/2*c.blockLon)
	c.lat0 = roundE7(cfg.Center[1] - float64(side)/2*c.blockLat)
	inCity := make([]bool, side*side)
	var cityBlocks []int32
	for r := 0; r < side; r++ {
		for q := 0; q < side; q++ {
			dx, dy := float64(q)+0.5-float64(side)/2, float64(r)+0.5-float64(side)/2
			// a slightly ragged disc
			edge := radius * (1 + 0.08*math.Sin(3*math.Atan2(dy, dx)+float64(cfg.Seed%7)))
			if dx*dx+dy*dy <= edge*edge {
				inCity[r*side+q] = true
				cityBlocks = append(cityBlocks, int32(r*side+q))
			}
		}
	}
	for l := range c.blockUnit {
		c.blockUnit[l] = make([]int32, side*side)
		for i := range c.blockUnit[l] {
			c.blockUnit[l][i] = -1
		}
	}
	// buildings first: units are grown to hold balanced numbers of dwellings
	c.placeBuildings(rng, cityBlocks)
	weight := make([]float64, side*side)
	for _, b := range c.buildings {
		weight[b.block] += float64(b.size())
	}
	for _, b := range cityBlocks {
		weight[b] += 1 // empty blocks still count a little, so every unit gets some land
	}
	// grow each level inside the units of the level above
	parents := []unit{{parent: -1, blocks: cityBlocks}}
	for l := 0; l < 4; l++ {
		quota := apportion(counts[l], parents)
		for pi, p := range parents {
			kids := c.grow(rng, p.blocks, quota[pi], weight)
			for _, k := range kids {
				ui := int32(len(c.units[l]))
				k.parent = int32(pi)
				for _, b := range k.blocks {
					c.blockUnit[l][b] = ui
				}
				c.units[l] = append(c.units[l], k)
			}
		}
		parents = c.units[l]
	}
	c.nameUnits(rng)
	c.cut(cfg.N)
	return c
}

// apportion splits n children among parents in proportion to their blocks,
// at least one each and at most one per block.
func apportion(n int, parents []unit) []int {
	total := 0
	for _, p := range parents {
		total += len(p.blocks)
	}
	out := make([]int, len(parents))
	rem := make([]float64, len(parents))
	given := 0
	for i, p := range parents {
		exact := float64(n) * float64(len(p.blocks)) / float64(total)
		out[i] = max(1, int(exact))
		rem[i] = exact - float64(int(exact))
		given += out[i]
	}
	for given < n {
		best := -1
		for i := range parents {
			if out[i] < len(parents[i].blocks) && (best < 0 || rem[i] > rem[best]) {
				best = i
			}
		}
		if best < 0 {
			break
		}
		out[best]++
		rem[best] = -1
		given++
	}
	for i, p := range parents {
		out[i] = min(out[i], len(p.blocks))
	}
	return out
}

// grow splits a connected set of blocks into k connected parts of similar
// weight: from k random seeds, the lightest part takes the next block of its
// frontier until every block is taken.
func (c *City) grow(rng *rand.Rand, blocks []int32, k int, weight []float64) []unit {
	owner := make(map[int32]int, len(blocks))
	in := make(map[int32]bool, len(blocks))
	for _, b := range blocks {
		in[b] = true
	}
	perm := rng.Perm(len(blocks))
	parts := make([]unit, k)
	load := make([]float64, k)
	frontier := make([][]int32, k)
	h := &partHeap{load: load}
	for i := 0; i < k; i++ {
		b := blocks[perm[i]]
		owner[b] = i
		parts[i].blocks = append(parts[i].blocks, b)
		load[i] = weight[b]
		frontier[i] = c.neighbours(b, frontier[i][:0], in)
		h.push(i)
	}
	for h.len() > 0 {
		i := h.pop()
		// the next unowned block on i's frontier
		var nb int32 = -1
		for len(frontier[i]) > 0 {
			j := rng.IntN(len(frontier[i]))
			cand := frontier[i][j]
			frontier[i][j] = frontier[i][len(frontier[i])-1]
			frontier[i] = frontier[i][:len(frontier[i])-1]
			if _, taken := owner[cand]; !taken {
				nb = cand
				break
			}
		}
		if nb < 0 {
			continue // part i cannot grow any more
		}
		owner[nb] = i
		parts[i].blocks = append(parts[i].blocks, nb)
		load[i] += weight[nb]
		frontier[i] = c.neighbours(nb, frontier[i], in)
		h.push(i)
	}
	// blocks unreachable from any seed (a disconnected parent) join the first part
	for _, b := range blocks {
		if _, ok := owner[b]; !ok {
			owner[b] = 0
			parts[0].blocks = append(parts[0].blocks, b)
		}
	}
	return parts
}

// neighbours appends the 4-neighbours of b that are in the set.
func (c *City) neighbours(b int32, dst []int32, in map[int32]bool) []int32 {
	r, q := int(b)/c.cols, int(b)%c.cols
	for _, d := range [4][2]int{{-1, 0}, {1, 0}, {0, -1}, {0, 1}} {
		nr, nq := r+d[0], q+d[1]
		if nr < 0 || nq < 0 || nr >= c.rows || nq >= c.cols {
			continue
		}
		if nb := int32(nr*c.cols + nq); in[nb] {
			dst = append(dst, nb)
		}
	}
	return dst
}

// partHeap orders parts by load, lightest first (ties by index).
type partHeap struct {
	load []float64
	idx  []int
}

func (h *partHeap) len() int { return len(h.idx) }

func (h *partHeap) less(a, b int) bool {
	la, lb := h.load[h.idx[a]], h.load[h.idx[b]]
	return la < lb || la == lb && h.idx[a] < h.idx[b]
}

func (h *partHeap) push(i int) {
	h.idx = append(h.idx, i)
	for j := len(h.idx) - 1; j > 0; {
		p := (j - 1) / 2
		if !h.less(j, p) {
			break
		}
		h.idx[j], h.idx[p] = h.idx[p], h.idx[j]
		j = p
	}
}

func (h *partHeap) pop() int {
	top := h.idx[0]
	last := len(h.idx) - 1
	h.idx[0] = h.idx[last]
	h.idx = h.idx[:last]
	for j := 0; ; {
		l, r, m := 2*j+1, 2*j+2, j
		if l < len(h.idx) && h.less(l, m) {
			m = l
		}
		if r < len(h.idx) && h.less(r, m) {
			m = r
		}
		if m == j {
			break
		}
		h.idx[j], h.idx[m] = h.idx[m], h.idx[j]
		j = m
	}
	return top
}

var (
	districtNames = []string{"浦东新", "黄浦", "静安", "徐汇", "长宁", "普陀", "虹口", "杨浦", "闵行", "宝山", "嘉定", "金山", "松江", "青浦", "奉贤", "崇明"}
	streetWords   = []string{"陆家嘴", "潍坊", "塘桥", "洋泾", "花木", "金杨", "南码头", "周家渡", "上钢", "东明", "三林", "北蔡", "川沙", "高桥", "高行", "唐镇", "曹路", "金桥", "张江", "康桥", "外滩", "南京东路", "豫园", "老西门", "五里桥", "打浦桥", "淮海中路", "瑞金", "江宁路", "石门二路", "南京西路", "静安寺", "曹家渡", "天目西路", "北站", "宝山路", "芷江西路", "彭浦新村", "临汾路", "大宁路", "共和新路", "彭浦", "天平路", "湖南路", "斜土路", "枫林路", "长桥", "田林", "康健", "虹梅", "凌云", "龙华", "漕河泾", "华阳路", "江苏路", "新华路", "周家桥", "天山路", "仙霞", "虹桥", "程家桥", "北新泾", "新泾"}
	communityA    = []string{"梅园", "竹园", "松园", "兰园", "桃园", "杏园", "樱花", "海棠", "紫薇", "丁香", "银杏", "香樟", "翠竹", "绿洲", "阳光", "金色", "明珠", "东方", "滨江", "世纪", "锦绣", "华夏", "临沂", "崂山", "潍坊", "浦建", "南泉", "东昌", "文兰", "福山"}
	communityB    = []string{"一村", "二村", "三村", "四村", "五村", "六村", "七村", "八村", "新村", "苑", "家园", "花园", "公寓", "小区", "里", "坊"}
	numerals      = []string{"一", "二", "三", "四", "五", "六", "七", "八", "九", "十"}
)

func (c *City) nameUnits(rng *rand.Rand) {
	used := map[string]bool{}
	unique := func(base string, suffix string) string {
		name := base + suffix
		for n := 2; used[name]; n++ {
			name = fmt.Sprintf("%s%d%s", base, n, suffix)
		}
		used[name] = true
		return name
	}
	for i := range c.units[0] {
		u := &c.units[0][i]
		u.name = unique(districtNames[i%len(districtNames)], "区")
		u.id = u.name
	}
	sw := rng.Perm(len(streetWords))
	for i := range c.units[1] {
		u := &c.units[1][i]
		u.name = unique(streetWords[sw[i%len(sw)]], "街道")
		u.id = u.name
	}
	for i := range c.units[2] {
		u := &c.units[2][i]
		a := communityA[rng.IntN(len(communityA))]
		b := communityB[rng.IntN(len(communityB))]
		u.name = unique(a+b, "居委会")
		u.id = u.name
	}
	nth := map[int32]int{} // grids numbered within their community
	for i := range c.units[3] {
		u := &c.units[3][i]
		u.id = fmt.Sprintf("G%05d", i+1)
		comm := c.units[2][u.parent].name
		nth[u.parent]++
		n := nth[u.parent]
		if n <= len(numerals) {
			u.name = comm + "第" + numerals[n-1] + "网格"
		} else {
			u.name = fmt.Sprintf("%s第%d网格", comm, n)
		}
	}
}

// placeBuildings spreads buildings over the blocks, denser near a few centres:
// about N / AvgPerBuilding of them drawn from rng, then, if they hold fewer
// than N dwellings, more drawn the same way from a stream of their own (so
// that the first ones, and every draw from rng after them, do not depend on
// whether the city needed more).
func (c *City) placeBuildings(rng *rand.Rand, blocks []int32) {
	nb := max(1, int(math.Round(float64(c.cfg.N)/AvgPerBuilding)))
	type centre struct{ x, y, s, w float64 }
	var centres []centre
	for i := 0; i < 6; i++ {
		centres = append(centres, centre{rng.Float64()*float64(c.cols)*0.8 + 0.1*float64(c.cols),
			rng.Float64()*float64(c.rows)*0.8 + 0.1*float64(c.rows), float64(c.cols) * (0.05 + 0.12*rng.Float64()), 1 + 3*rng.Float64()})
	}
	cum := make([]float64, len(blocks))
	acc := 0.0
	for i, b := range blocks {
		x, y := float64(int(b)%c.cols)+0.5, float64(int(b)/c.cols)+0.5
		w := 0.3
		for _, ce := range centres {
			d2 := (x-ce.x)*(x-ce.x) + (y-ce.y)*(y-ce.y)
			w += ce.w * math.Exp(-d2/(2*ce.s*ce.s))
		}
		acc += w
		cum[i] = acc
	}
	// place draws the next building from r
	place := func(r *rand.Rand) bld {
		t := r.Float64() * acc
		lo, hi := 0, len(cum)-1
		for lo < hi {
			m := (lo + hi) / 2
			if cum[m] < t {
				lo = m + 1
			} else {
				hi = m
			}
		}
		b := blocks[lo]
		row, q := int(b)/c.cols, int(b)%c.cols
		// strictly inside the block, away from its edges
		fx := 0.1 + 0.8*r.Float64()
		fy := 0.1 + 0.8*r.Float64()
		lon := coord.ToE7(c.lon0 + (float64(q)+fx)*c.blockLon)
		lat := coord.ToE7(c.lat0 + (float64(row)+fy)*c.blockLat)
		iso := 0.005
		if r.Float64() < 0.1 {
			iso = 0.155
		}
		return bld{lon: lon, lat: lat, block: b,
			floors: 6 + r.IntN(28), perFl: 2 + r.IntN(7), isoP: iso}
	}
	c.buildings = make([]bld, 0, nb)
	for range nb {
		c.buildings = append(c.buildings, place(rng))
	}
	more := rand.New(rand.NewPCG(c.cfg.Seed, 0x70b0051e))
	for size := c.Size(); size < c.cfg.N; size += c.buildings[len(c.buildings)-1].size() {
		c.buildings = append(c.buildings, place(more))
	}
}

// buildingID is the id of building i: made when asked, not kept (a city of
// millions has hundreds of thousands of buildings, each id an object the
// garbage collector of a process holding the city would mark again and
// again).
func buildingID(i int) string { return fmt.Sprintf("B%06d", i+1) }

// Buildings is the number of buildings.
func (c *City) Buildings() int { return len(c.buildings) }

// Size is the number of dwellings the city has.
func (c *City) Size() int {
	n := 0
	for _, b := range c.buildings {
		n += b.size()
	}
	return n
}

// Dwellings calls fn for every dwelling, in a deterministic order. The record
// is reused between calls; its Flags follow FlagNames, all in Flags[0].
func (c *City) Dwellings(fn func(r *engine.Record) error) error {
	rng := rand.New(rand.NewPCG(c.cfg.Seed, 0xd3e11))
	r := engine.Record{Flags: make([]uint64, 1)} // Flags[0] holds every generated flag
	n := 0
	for i, b := range c.buildings {
		blk := b.block
		r.District = c.units[0][c.blockUnit[0][blk]].id
		r.Street = c.units[1][c.blockUnit[1][blk]].id
		r.Community = c.units[2][c.blockUnit[2][blk]].id
		r.Grid = c.units[3][c.blockUnit[3][blk]].id
		r.Building = buildingID(i)
		r.Lon, r.Lat = coord.FromE7(b.lon), coord.FromE7(b.lat)
		for f := b.floors; f >= 1; f-- {
			for k := range b.rooms(f) {
				n++
				r.ID = fmt.Sprintf("RS-%08d", n)
				r.Unit = fmt.Sprint(k/2 + 1)
				r.Floor = int16(f)
				r.Room = fmt.Sprintf("%d%02d", f, k+1)
				r.Line = n + 1
				r.ResetFlags()
				if rng.Float64() < b.isoP {
					r.SetFlag(0)
				}
				for fi := 1; fi < len(FlagRates); fi++ {
					if rng.Float64() < FlagRates[fi].Rate {
						r.SetFlag(fi)
					}
				}
				if err := fn(&r); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// Batch generates every dwelling into an engine batch.
func (c *City) Batch() (*engine.Batch, error) {
	b := engine.NewBatch("synthetic city", FlagNames())
	err := c.Dwellings(func(r *engine.Record) error { return b.Add(r) })
	return b, err
}

// Boundaries returns the outline of every unit of every level, districts
// first.
func (c *City) Boundaries() []engine.Boundary {
	var out []engine.Boundary
	for l := 0; l < 4; l++ {
		for ui, u := range c.units[l] {
			var g orb.MultiPolygon
			if c.cfg.Kind == Realistic {
				g = c.raggedOutline(l, int32(ui))
			} else {
				g = c.outline(u.blocks)
			}
			out = append(out, engine.Boundary{Level: engine.Level(l), ID: u.id, Name: u.name, Geometry: g})
		}
	}
	return out
}

func roundE7(v float64) float64 { return math.Round(v*1e7) / 1e7 }
