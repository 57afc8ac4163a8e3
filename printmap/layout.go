package printmap

// Layout: each building is a block drawn at a base size (a room 6 mm high),
// then placed on pages. A sheet of one building scales its block up to fill
// the first page (at most twice); a sheet of many places blocks left to
// right in shelves, page after page, in the order given, and scales down
// only a block larger than a page.

// Base metrics of a block, in millimetres.
const (
	cellH      = 6.0  // a room's height
	cellGap    = 0.6  // between two rooms
	minCellW   = 11.0 // a room's least width
	roomFS     = 2.3  // room numbers
	markR      = 1.55 // a room's shape
	blockHead  = 7.5  // the building's id line
	unitHead   = 4.2  // the units' names, when there are units
	unitGap    = 1.8  // between two units
	floorFS    = 2.4  // floor labels
	idFS       = 3.8  // the building's id
	detailFS   = 2.7
	gapX, gapY = 9.0, 9.0 // between blocks
	maxScale   = 2.0      // a single building's block is enlarged at most this much
)

// unitCol is one unit's columns in a block.
type unitCol struct {
	name  string
	x     float64 // from the rooms' left edge
	width int     // rooms: the most the unit has on any floor
}

// block is one building laid out at base size.
type block struct {
	b       *Building
	w, h    float64
	floorW  float64 // the floor labels' column
	cellW   float64 // a room's width
	content float64 // the width of a room's shape and number, centred in it
	units   []unitCol
	unitIdx map[string]int
	heads   bool // whether the units' names are shown
}

// layoutBlock measures a building's block.
func layoutBlock(b *Building, w *words) block {
	bl := block{b: b, unitIdx: map[string]int{}}
	// units in the order the floors list them; a unit first met on a lower
	// floor goes after the unit before it there
	var order []string
	widths := map[string]int{}
	longest := 0.0
	longestFloor := 0.0
	for _, fl := range b.Floors {
		prev := -1
		n := map[string]int{}
		for _, r := range fl.Rooms {
			n[r.Unit]++
			if n[r.Unit] == 1 {
				i := indexOf(order, r.Unit)
				if i < 0 {
					i = prev + 1
					order = append(order[:i], append([]string{r.Unit}, order[i:]...)...)
				}
				prev = i
			}
			longest = max(longest, textWidth(r.Room, roomFS))
		}
		for u, k := range n {
			widths[u] = max(widths[u], k)
		}
		longestFloor = max(longestFloor, textWidth(floorLabel(fl, w), floorFS))
	}
	bl.content = 0.8 + 2*markR + 1.2 + longest + 1.2
	bl.floorW = max(9, longestFloor+2.5)
	for _, u := range order {
		bl.unitIdx[u] = len(bl.units)
		bl.units = append(bl.units, unitCol{name: u, width: widths[u]})
	}
	bl.setCellW(max(minCellW, bl.content))
	bl.heads = len(order) > 1 || len(order) == 1 && order[0] != ""
	bl.h = blockHead + float64(len(b.Floors))*cellH
	if bl.heads {
		bl.h += unitHead
	}
	return bl
}

// setCellW sets the rooms' width, and with it the units' places and the
// block's width.
func (bl *block) setCellW(w float64) {
	bl.cellW = w
	x := 0.0
	for i := range bl.units {
		if i > 0 {
			x += unitGap
		}
		bl.units[i].x = x
		x += float64(bl.units[i].width) * w
	}
	bl.w = max(bl.floorW+x, textWidth(bl.b.ID, idFS)+2+textWidth(bl.b.Detail, detailFS))
}

// rooms is the number of room columns of a block.
func (bl *block) rooms() int {
	n := 0
	for _, u := range bl.units {
		n += u.width
	}
	return n
}

// top is where a block's floors start.
func (bl *block) top() float64 {
	if bl.heads {
		return blockHead + unitHead
	}
	return blockHead
}

func indexOf(ss []string, s string) int {
	for i, x := range ss {
		if x == s {
			return i
		}
	}
	return -1
}

func floorLabel(fl Floor, w *words) string {
	if !fl.Known {
		return w.unknown
	}
	return w.floor(fl.Floor)
}

// placement is where a block goes: its page (from 0), its top-left corner
// on that page, and its scale.
type placement struct {
	page  int
	x, y  float64
	scale float64
}

// place puts blocks on pages whose content starts at firstTop on the
// first page and at contTop on the others, and ends at bottom. It returns
// the placements and the number of pages.
//
// One building is centred and enlarged to fill its page. Many are packed in
// their order by the skyline bottom-left rule: each goes where its top is
// highest on the page (the leftmost such place), so a short building fills
// the space beside a tall one; when it fits nowhere, a new page starts.
func place(blocks []block, firstTop, contTop, bottom float64) ([]placement, int) {
	out := make([]placement, len(blocks))
	if len(blocks) == 1 {
		bl := &blocks[0]
		s := min(maxScale, availW/bl.w, (bottom-firstTop)/bl.h)
		// a tall, narrow building: wider rooms (at most 2.5 times) fill
		// more of the page's width at the same scale
		if n := bl.rooms(); n > 0 && bl.w*s < 0.75*availW {
			room := (0.75*availW/s - (bl.w - float64(n)*bl.cellW)) / float64(n)
			bl.setCellW(min(max(room, bl.cellW), 2.5*bl.cellW))
		}
		out[0] = placement{x: margin + (availW-bl.w*s)/2, y: firstTop, scale: s}
		return out, 1
	}
	page := 0
	sky := skyline{{x: 0, w: availW, y: firstTop}}
	for i := range blocks {
		bl := &blocks[i]
		s := min(1, availW/bl.w, (bottom-contTop)/bl.h) // a block larger than a page is shrunk to fit one
		w, h := bl.w*s, bl.h*s
		x, y, ok := sky.find(w, h, bottom)
		if !ok {
			page++
			sky = skyline{{x: 0, w: availW, y: contTop}}
			x, y, _ = sky.find(w, h, bottom)
		}
		sky.add(x, min(x+w+gapX, availW), y+h+gapY)
		out[i] = placement{page: page, x: margin + x, y: y, scale: s}
	}
	return out, page + 1
}

// skyline is the lower edge of what a page holds so far: segments left to
// right covering the page's width, each with the height (y) below which it
// is free.
type skyline []struct{ x, w, y float64 }

// find returns the top-left corner where a w × h box sits highest (then
// leftmost) without crossing bottom.
func (sk skyline) find(w, h, bottom float64) (x, y float64, ok bool) {
	const eps = 1e-6
	best := -1.0
	for i := range sk {
		x0 := sk[i].x
		if x0+w > availW+eps {
			break
		}
		top := 0.0
		for j := i; j < len(sk) && sk[j].x < x0+w-eps; j++ {
			top = max(top, sk[j].y)
		}
		if top+h > bottom+eps {
			continue
		}
		if best < 0 || top < y-eps {
			best, x, y = 1, x0, top
		}
	}
	return x, y, best >= 0
}

// add raises the skyline over [x0, x1) to y.
func (sk *skyline) add(x0, x1, y float64) {
	var out skyline
	for _, s := range *sk {
		if s.x+s.w <= x0 || s.x >= x1 { // outside
			out = append(out, s)
			continue
		}
		if s.x < x0 { // the part left of it
			out = append(out, struct{ x, w, y float64 }{s.x, x0 - s.x, s.y})
		}
		if len(out) == 0 || out[len(out)-1].x+out[len(out)-1].w <= x0 {
			out = append(out, struct{ x, w, y float64 }{x0, x1 - x0, y})
		}
		if s.x+s.w > x1 { // the part right of it
			out = append(out, struct{ x, w, y float64 }{x1, s.x + s.w - x1, s.y})
		}
	}
	*sk = out
}
