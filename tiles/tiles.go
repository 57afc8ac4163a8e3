// Package tiles renders the room-state map as Mapbox Vector Tiles (spec 2.1,
// layer version 2, extent 4096, 64-unit buffer) through orb's encoding/mvt:
//
//   - buildings (zoom ≥ 13): a point per building with a stable numeric
//     feature id and properties id, total, matched, state, color and a count
//     per flag;
//   - cells (zoom < 13, and a crowded tile of more than BuildingBudget
//     buildings at any zoom): buildings aggregated into 128×128-unit cells, a
//     point at each cell's weighted centre with total, matched, buildings and
//     a count per flag;
//   - boundaries: the loaded areas of the levels shown at the zoom (district
//     from 0, street from 9, community from 11, grid from 13; a level with
//     more than UnitBudget units in the tile is left to closer zooms),
//     simplified to the zoom, with level, id, name, total and matched.
//
// Identical content gives identical bytes. Rendering knows nothing of HTTP;
// Cache keeps rendered tiles and re-renders only those whose content changed.
package tiles

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"hash/fnv"
	"math"
	"slices"
	"sync"

	"github.com/cespare/xxhash/v2"
	"github.com/paulmach/orb"
	"github.com/paulmach/orb/encoding/mvt"
	"github.com/paulmach/orb/encoding/mvt/vectortile"
	"github.com/paulmach/orb/geojson"
	"github.com/paulmach/orb/maptile"
	"github.com/paulmach/orb/planar"
	"github.com/paulmach/orb/simplify"
	"github.com/roomstate/roomstate/coord"
	"github.com/roomstate/roomstate/engine"
	"github.com/roomstate/roomstate/privacy"
	"github.com/roomstate/roomstate/scheme"
)

// Layout of a tile.
const (
	Extent       = 4096
	Buffer       = 64            // extent units around the tile
	CellSize     = 1 << cellBits // extent units of a low-zoom cell: 128
	BuildingZoom = 13            // buildings from this zoom, cells below
	// BuildingBudget is the most buildings a tile draws one by one: a
	// crowded tile (a dense centre at zoom 13) draws cells instead, as a
	// lower zoom does, so that no tile grows past about 200 KiB gzipped
	// (a building with its properties is 25–35 bytes gzipped)
	BuildingBudget = 4096
	// UnitBudget is the most units of one level a tile draws: a tile whose
	// box meets more (the communities of a dense city at zoom 11) leaves
	// that level out, and a closer zoom draws it (a unit's outline with its
	// properties is 60–100 bytes gzipped)
	UnitBudget = 2048
	MaxZoom    = 22
)

// levelMinZoom is the zoom from which a level's boundaries are drawn.
var levelMinZoom = [...]maptile.Zoom{engine.LevelDistrict: 0, engine.LevelStreet: 9, engine.LevelCommunity: 11, engine.LevelGrid: 13}

// Request names one tile.
type Request struct {
	Z, X, Y uint32
	Where   string
	Scheme  string
	// Policy decides which counts the tile shows (a viewer's withholds
	// small ones: such a property is left out and the feature gets
	// suppressed=true) and which states a building's colour may tell.
	Policy privacy.Policy
	// Published, when set (for viewers), gives the counts of buildings and
	// units as the whole published hierarchy's protection shows them; low
	// zoom cells then sum the buildings' shown counts only.
	Published Published
	// AsOf asks for the tile as it was at a past version.
	AsOf engine.AsOf
	// View "responsibility" colours buildings by who answers for them
	// (ViewResponsibility); "" by the scheme.
	View string
	// Campaign, when set, colours buildings by that campaign's progress:
	// state remaining, done or none (not with AsOf).
	Campaign string
}

// The views a tile may be drawn in besides the scheme's.
const ViewResponsibility = "responsibility"

// Palette colours buildings by person in the responsibility view: Paul
// Tol's muted scheme, told apart with every common colour-vision
// deficiency. A person's colour is PersonColor.
var Palette = [...]string{"#332288", "#88ccee", "#44aa99", "#117733", "#999933", "#ddcc77", "#cc6677", "#882255", "#aa4499"}

// The colours of the states the responsibility and campaign views give.
const (
	ColorUnassigned = "#dddddd" // a building nobody answers for (Tol's "bad data" grey)
	ColorRemaining  = "#ee7733" // a task still to do (Tol's vibrant orange)
	ColorDone       = "#0077bb" // every task present done (vibrant blue)
	ColorNone       = "#bbbbbb" // no task present (vibrant grey)
)

// PersonColor returns a person's colour in the responsibility view: FNV-1a
// of the name into Palette, the same on every server and in every tile.
func PersonColor(person string) string {
	h := fnv.New32a()
	h.Write([]byte(person))
	return Palette[h.Sum32()%uint32(len(Palette))]
}

// CampaignState is the state a building shows in a campaign's view:
// "remaining" when any task dwelling in it is not done, else "done" when it
// holds one, else "none"; with its colour. A policy that withholds a count
// from 1 to k−1 shows "none" (and ok false) for a building with that many
// tasks: its colour would tell that so few households are in the task set.
func CampaignState(pol privacy.Policy, tasks, remaining int64) (state, color string, ok bool) {
	if pol.Value(tasks).Withheld {
		return "none", ColorNone, false
	}
	switch {
	case remaining > 0:
		return "remaining", ColorRemaining, true
	case tasks > 0:
		return "done", ColorDone, true
	}
	return "none", ColorNone, true
}

// Tile is a rendered tile.
type Tile struct {
	Raw     []byte // the MVT; empty when the tile has no feature
	ETag    string // changes when the content does
	Version engine.Version
	deps    engine.TileDeps

	gzOnce sync.Once
	gz     []byte
}

// Gzipped returns Raw gzipped, compressed on first use.
func (t *Tile) Gzipped() []byte {
	t.gzOnce.Do(func() {
		var b bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&b, gzip.BestSpeed)
		zw.Write(t.Raw)
		zw.Close()
		t.gz = b.Bytes()
	})
	return t.gz
}

// Empty reports whether the tile has no feature.
func (t *Tile) Empty() bool { return len(t.Raw) == 0 }

// Published gives the counts of buildings and units a viewer may see.
type Published interface {
	Building(id string) privacy.Counts
	Unit(level engine.Level, id string) privacy.Counts
}

// ErrBadTile is a tile address outside the pyramid.
type ErrBadTile struct{ Reason string }

func (e *ErrBadTile) Error() string { return e.Reason }

// Check validates a tile address.
func Check(z, x, y uint32) error {
	if z > MaxZoom {
		return &ErrBadTile{fmt.Sprintf("zoom %d is beyond the maximum %d", z, MaxZoom)}
	}
	if n := uint32(1) << z; x >= n || y >= n {
		return &ErrBadTile{fmt.Sprintf("tile %d/%d/%d does not exist: at zoom %d, x and y go from 0 to %d", z, x, y, z, n-1)}
	}
	return nil
}

// Renderer draws tiles from an engine.
type Renderer struct {
	eng *engine.Engine

	mu               sync.Mutex               // guards simplified and simplifiedPoints
	simplified       map[simpleKey]*worldGeom // boundaries simplified and projected per zoom
	simplifiedPoints int

	wholeBuildings bool // cells from whole buildings even when counts would do (tests compare the two)
	budget         int  // BuildingBudget (tests lower it)
	unitBudget     int  // UnitBudget (tests lower it)
}

type simpleKey struct {
	level engine.Level
	id    string
	z     maptile.Zoom
	src   *orb.Polygon // identity of the source geometry
}

// NewRenderer returns a renderer for eng.
func NewRenderer(eng *engine.Engine) *Renderer {
	return &Renderer{eng: eng, simplified: map[simpleKey]*worldGeom{}, budget: BuildingBudget, unitBudget: UnitBudget}
}

// Render draws one tile.
func (r *Renderer) Render(req *Request) (*Tile, error) {
	if err := Check(req.Z, req.X, req.Y); err != nil {
		return nil, err
	}
	if req.Scheme == "" {
		req.Scheme = "default"
	}
	t := maptile.New(req.X, req.Y, maptile.Zoom(req.Z))
	// the box of everything that can show: the tile, its buffer, and for
	// cells the whole of the cells that reach into the buffer
	margin := Buffer
	if req.Z < BuildingZoom {
		margin = CellSize
	}
	q := &engine.TileQuery{
		BBox:     tileBox(t, margin),
		Where:    req.Where,
		Scheme:   req.Scheme,
		AsOf:     req.AsOf,
		Campaign: req.Campaign,
	}
	var cells *cellGrid
	if req.Z < BuildingZoom && req.Published == nil && !r.wholeBuildings {
		// cells as the engine keeps them summed (a viewer's cells sum what
		// each building shows: the whole path); the grid's outer ring,
		// whose centres can never fall in the buffer, is left out
		cells = newCellGrid()
		span := int64(Extent / CellSize)
		x0, y0 := int64(t.X)*span-2, int64(t.Y)*span-2
		minx, miny := int64(t.X)<<extentBits, int64(t.Y)<<extentBits
		q.Cells = &engine.CellAsk{Level: uint8(t.Z) + extentBits, Shift: cellBits,
			X0: x0 + 1, Y0: y0 + 1, X1: x0 + cellSpan - 1, Y1: y0 + cellSpan - 1,
			Each: func(s *engine.CellSum) {
				c := &cells.cells[(s.Y-y0)*cellSpan+s.X-x0]
				c.sx, c.sy = float64(s.SX-minx*s.Weight), float64(s.SY-miny*s.Weight)
				c.n, c.bld = s.Weight, s.Buildings
				c.c.Total, c.c.Matched = s.Counts[0], s.Counts[1]
				c.c.Flags = slices.Clone(s.Counts[2:])
			}}
	}
	for l, mz := range levelMinZoom {
		if maptile.Zoom(req.Z) >= mz {
			q.Levels = append(q.Levels, engine.Level(l))
		}
	}
	d, err := r.eng.TileData(q)
	if err != nil {
		return nil, err
	}
	pts := projectBuildings(d, t)
	crowd := req.Z >= BuildingZoom && crowded(pts, r.budget)
	if crowd {
		// cells after all: read again, as far as the cells reaching into
		// the buffer go (a crowded tile is rare, and cached)
		q.BBox = tileBox(t, CellSize)
		if d, err = r.eng.TileData(q); err != nil {
			return nil, err
		}
		pts = projectBuildings(d, t)
	}
	var vt vectortile.Tile
	var points *pointLayer
	if req.Z >= BuildingZoom && !crowd {
		points = buildingsLayer(d, pts, req)
	} else {
		points = cellsLayer(d, t, pts, req, cells)
	}
	if len(points.layer.Features) > 0 {
		vt.Layers = append(vt.Layers, &points.layer)
	}
	if l := r.boundariesLayer(d, t, req.Policy, req.Published); len(l.Features) > 0 {
		bt, err := mvt.MarshalToVectorTile(mvt.Layers{l})
		if err != nil {
			return nil, fmt.Errorf("tiles: encoding %d/%d/%d: %w", req.Z, req.X, req.Y, err)
		}
		vt.Layers = append(vt.Layers, bt.Layers...)
	}
	tile := &Tile{Version: d.Version, deps: d.Deps}
	if len(vt.Layers) > 0 {
		tile.Raw = marshalTile(&vt)
	}
	// xxHash: FNV's byte a step was 6 % of a dense tile
	tile.ETag = fmt.Sprintf(`"%016x"`, xxhash.Sum64(tile.Raw))
	return tile, nil
}

// tileBox is the box, in fixed point, of tile t and margin extent units
// around it (and a little more).
func tileBox(t maptile.Tile, margin int) [4]int32 {
	b := t.Bound(float64(margin) / Extent * 1.01)
	return [4]int32{coord.ToE7(b.Min[0]) - 1, coord.ToE7(b.Min[1]) - 1, coord.ToE7(b.Max[0]) + 1, coord.ToE7(b.Max[1]) + 1}
}

// projectBuildings returns every building's point in the tile's extent
// units, projected by orb's MVT projection (so a point maps back to its
// lon/lat within a unit).
func projectBuildings(d *engine.TileData, t maptile.Tile) []orb.Point {
	mp := make(orb.MultiPoint, len(d.Buildings))
	for i := range d.Buildings {
		b := &d.Buildings[i]
		mp[i] = orb.Point{coord.FromE7(b.Lon), coord.FromE7(b.Lat)}
	}
	// one feature: orb projects every point of it in one call
	l := &mvt.Layer{Extent: Extent, Features: []*geojson.Feature{{Geometry: mp}}}
	l.ProjectToTile(t)
	return l.Features[0].Geometry.(orb.MultiPoint)
}

// crowded reports whether more than budget of the buildings at pts (in
// tile units) are in the tile or its buffer.
func crowded(pts []orb.Point, budget int) bool {
	if len(pts) <= budget {
		return false
	}
	n := 0
	for _, p := range pts {
		if inBuffer(p[0], p[1]) {
			n++
		}
	}
	return n > budget
}

func inBuffer(x, y float64) bool {
	return x >= -Buffer && x < Extent+Buffer && y >= -Buffer && y < Extent+Buffer
}

// addCounts puts total and matched into props (boundaries) as shown.
func addCounts(props geojson.Properties, c *privacy.Counts) {
	for _, kv := range []struct {
		name string
		v    privacy.Value
	}{{"total", c.Total}, {"matched", c.Matched}} {
		if kv.v.Withheld {
			props["suppressed"] = true
		} else {
			props[kv.name] = kv.v.N
		}
	}
}

// shownBuilding returns a building's counts as the tile may show them.
func shownBuilding(b *engine.TileBuilding, pol privacy.Policy, pub Published) privacy.Counts {
	if pub != nil {
		return pub.Building(b.ID)
	}
	return pol.Counts(b.Total, b.Matched, b.Flags)
}

// ShownState is the state a building's colour may show under pol: the first
// rule held by a number of its matched dwellings that pol shows, else the
// default (len(b.Rules)); the default too when the building's counts are
// withheld (shown, its colour would tell what they hide).
func ShownState(pol privacy.Policy, b *engine.TileBuilding, shown *privacy.Counts) int {
	if pol.Exact() {
		return b.State
	}
	if shown != nil && (shown.Total.Withheld || shown.Matched.Withheld) {
		return len(b.Rules)
	}
	for i, n := range b.Rules {
		if n > 0 && pol.ShowsState(n) {
			return i
		}
	}
	return len(b.Rules)
}

func buildingsLayer(d *engine.TileData, pts []orb.Point, req *Request) *pointLayer {
	l := newPointLayer("buildings", len(d.Buildings))
	for i := range d.Buildings {
		b := &d.Buildings[i]
		x, y := pts[i][0], pts[i][1]
		if !inBuffer(x, y) {
			continue
		}
		sc := shownBuilding(b, req.Policy, req.Published)
		l.putUnique("id", b.ID)
		state, color, shown := BuildingLook(req, d.Rules, b, &sc)
		l.putString("state", state)
		l.putString("color", color)
		if a := b.Responsible; a != nil {
			l.putInt("assigned", 1)
			if req.View == ViewResponsibility {
				l.putString("person", a.Person)
				if a.Team != "" {
					l.putString("team", a.Team)
				}
			}
		} else {
			l.putInt("assigned", 0)
		}
		if b.LastVisit > 0 {
			l.putInt("last_visit", b.LastVisit/1000)
		}
		l.putCountsOr(&sc, d.FlagNames, !shown)
		l.add(b.FID, int32(x), int32(y))
	}
	return l
}

// BuildingLook is the state and colour a building shows in req's view:
// the scheme's state as req.Policy lets its colour tell, given the counts it
// shows (ShownState); in the responsibility view "assigned" in its
// person's colour or "unassigned"; in a campaign's view its progress
// (CampaignState). shown is false when the policy kept a state back.
func BuildingLook(req *Request, rules []scheme.Rule, b *engine.TileBuilding, counts *privacy.Counts) (state, color string, shown bool) {
	switch {
	case req.Campaign != "":
		return CampaignState(req.Policy, b.Tasks, b.Remaining)
	case req.View == ViewResponsibility:
		if b.Responsible == nil {
			return "unassigned", ColorUnassigned, true
		}
		return "assigned", PersonColor(b.Responsible.Person), true
	}
	rule := rules[ShownState(req.Policy, b, counts)]
	return rule.State, rule.Color, true
}

// cellSpan is the cells a low-zoom tile's data can reach on each axis: its
// 32, and two beyond each side (the box reaches 1.01 cells past its buffer).
const cellSpan = Extent/CellSize + 4

// cellBits is CellSize's bits (a cell is a whole number of bits of the
// world's grid, so that the engine keeps cells summed).
const cellBits = 7

// cellGrid sums buildings into a low-zoom tile's cells, indexed from two
// cells west and north of the tile.
type cellGrid struct {
	cells []cell
}

type cell struct {
	sx, sy   float64 // sums of coordinates weighted by dwellings (whole numbers: exact)
	n        int64
	bld      int64
	c        engine.Counts
	withheld bool // a building's count left out (a viewer's: see cellsLayer)
	state    int  // a crowded tile's: the first rule its buildings show
}

func newCellGrid() *cellGrid {
	return &cellGrid{cells: make([]cell, cellSpan*cellSpan)}
}

// at returns the cell of tile position x, y, with room for nf flags (nil
// beyond the grid, which the tile's box does not reach).
func (g *cellGrid) at(x, y float64, nf int) *cell {
	cx, cy := int(math.Floor(x/CellSize))+2, int(math.Floor(y/CellSize))+2
	if cx < 0 || cy < 0 || cx >= cellSpan || cy >= cellSpan {
		return nil
	}
	c := &g.cells[cy*cellSpan+cx]
	if c.c.Flags == nil {
		c.c.Flags = make([]int64, nf)
	}
	return c
}

// place adds a building of total dwellings at x, y to its cell.
func (c *cell) place(x, y float64, total int64) {
	w := float64(max(total, 1))
	c.sx += x * w
	c.sy += y * w
	c.n += int64(w)
	c.bld++
}

// cellsLayer draws a low-zoom tile's cells: g when the buildings were
// summed into it as the engine read them, else from d's whole buildings.
// A crowded tile's cells (from the buildings' zoom) also tell the state and
// colour of the scheme's view, as its buildings would: the first rule any
// of their buildings shows, so that they look like the buildings of the
// tiles around them.
func cellsLayer(d *engine.TileData, t maptile.Tile, pts []orb.Point, req *Request, g *cellGrid) *pointLayer {
	pol, pub := req.Policy, req.Published
	states := req.Z >= BuildingZoom && req.Campaign == "" && req.View != ViewResponsibility
	if g == nil {
		g = newCellGrid()
	}
	for i := range d.Buildings {
		b := &d.Buildings[i]
		x, y := pts[i][0], pts[i][1]
		c := g.at(x, y, len(d.FlagNames))
		if c == nil {
			continue
		}
		if states {
			shown := shownBuilding(b, pol, pub)
			s := ShownState(pol, b, &shown)
			if c.bld == 0 || s < c.state {
				c.state = s
			}
		}
		c.place(x, y, b.Total)
		if pub == nil {
			c.c.Total += b.Total
			c.c.Matched += b.Matched
			for j, v := range b.Flags {
				c.c.Flags[j] += v
			}
			continue
		}
		// a viewer's cell is the sum of the counts its buildings show:
		// it tells nothing the buildings do not
		sb := pub.Building(b.ID)
		for _, pair := range []struct {
			v   privacy.Value
			dst *int64
		}{{sb.Total, &c.c.Total}, {sb.Matched, &c.c.Matched}} {
			*pair.dst += pair.v.N
			c.withheld = c.withheld || pair.v.Withheld
		}
		for j, v := range sb.Flags {
			c.c.Flags[j] += v.N
			c.withheld = c.withheld || v.Withheld
		}
	}
	// by cell row, then column: the grid's order
	l := newPointLayer("cells", 64)
	span := int64(Extent / CellSize)
	for k := range g.cells {
		c := &g.cells[k]
		if c.bld == 0 {
			continue
		}
		x, y := math.Floor(c.sx/float64(c.n)), math.Floor(c.sy/float64(c.n))
		if !inBuffer(x, y) {
			continue
		}
		gx, gy := int64(t.X)*span+int64(k%cellSpan-2), int64(t.Y)*span+int64(k/cellSpan-2)
		l.putInt("buildings", c.bld)
		sc := pol.Counts(c.c.Total, c.c.Matched, c.c.Flags)
		if pub != nil {
			sc = privacy.Policy{}.Counts(c.c.Total, c.c.Matched, c.c.Flags)
			if c.withheld {
				l.putBool("suppressed", true)
			}
		}
		l.putCounts(&sc, d.FlagNames)
		if states {
			l.putString("state", d.Rules[c.state].State)
			l.putString("color", d.Rules[c.state].Color)
		}
		l.add(uint64(gx)<<26|uint64(gy), int32(x), int32(y))
	}
	return l
}

// worldFor returns a boundary simplified for zoom z and projected to whole
// extent units of the world at that zoom (cached): floor of orb's Mercator
// projection at zoom z+12. A tile's projection of it is then a translation
// by the tile's origin, which is exactly what orb's ProjectToTile computes.
func (r *Renderer) worldFor(b *engine.TileBoundary, z maptile.Zoom) *worldGeom {
	if len(b.Geometry) == 0 {
		return nil
	}
	key := simpleKey{level: b.Level, id: b.ID, z: z, src: &b.Geometry[0]}
	r.mu.Lock()
	g, ok := r.simplified[key]
	r.mu.Unlock()
	if ok {
		return g
	}
	// a quarter of a pixel of a 512-pixel tile, in degrees; below the
	// buildings' zoom, where a tile holds many units' ragged outlines, a
	// pixel
	tol := 360 / (4096 * math.Exp2(float64(z))) * 2
	if z < BuildingZoom {
		tol *= 4
	}
	g = &worldGeom{mp: simplify.DouglasPeucker(tol).MultiPolygon(b.Geometry.Clone())}
	scale := math.Exp2(float64(z) + extentBits)
	n := 0
	for _, p := range g.mp {
		bounds := make([]orb.Bound, len(p))
		for ri, ring := range p {
			for i, pt := range ring {
				x, y := worldPlanar(pt)
				ring[i] = orb.Point{math.Floor(x * scale), math.Floor(y * scale)}
			}
			bounds[ri] = ring.Bound()
			n += len(ring)
		}
		g.bounds = append(g.bounds, bounds)
	}
	r.mu.Lock()
	if r.simplifiedPoints+n > maxSimplifiedPoints {
		// bounded: start again rather than grow without end (zooms
		// visited × boundaries, and old geometries after reloads)
		clear(r.simplified)
		r.simplifiedPoints = 0
	}
	r.simplified[key] = g
	r.simplifiedPoints += n
	r.mu.Unlock()
	return g
}

// worldGeom is a boundary as worldFor keeps it: its polygons in world
// units, and each ring's box.
type worldGeom struct {
	mp     orb.MultiPolygon
	bounds [][]orb.Bound // per polygon, per ring
}

// inTile returns g in tile t's extent units, clipped to the tile and its
// buffer (box), as orb's mvt clipping does (nil when nothing is left): a
// ring wholly in the box is copied, one wholly outside skipped, and only
// the others are clipped (a boundary's rings are mostly far bigger than a
// tile, or far from it).
func (g *worldGeom) inTile(t maptile.Tile, box orb.Bound) orb.Geometry {
	minx, miny := float64(uint64(t.X)<<extentBits), float64(uint64(t.Y)<<extentBits)
	world := orb.Bound{Min: orb.Point{box.Min[0] + minx, box.Min[1] + miny}, Max: orb.Point{box.Max[0] + minx, box.Max[1] + miny}}
	var out orb.MultiPolygon
	for pi, p := range g.mp {
		var poly orb.Polygon
		for ri, ring := range p {
			rb := g.bounds[pi][ri]
			var r orb.Ring
			switch {
			case rb.Max[0] < world.Min[0] || rb.Min[0] > world.Max[0] || rb.Max[1] < world.Min[1] || rb.Min[1] > world.Max[1]:
				// wholly outside
			case rb.Min[0] < world.Min[0] || rb.Max[0] > world.Max[0] || rb.Min[1] < world.Min[1] || rb.Max[1] > world.Max[1]:
				r = clipRing(box, ring, minx, miny)
			default:
				r = make(orb.Ring, len(ring))
				for i, pt := range ring {
					r[i] = orb.Point{pt[0] - minx, pt[1] - miny}
				}
			}
			if r == nil && ri == 0 {
				break // the outer ring is gone: the polygon with it
			}
			if r != nil {
				poly = append(poly, r)
			}
		}
		if poly != nil {
			out = append(out, poly)
		}
	}
	switch len(out) {
	case 0:
		return nil
	case 1:
		return out[0]
	}
	return out
}

// extentBits is log2(Extent).
const extentBits = 12

// maxSimplifiedPoints bounds the cache of projected boundaries (16 bytes a
// point).
const maxSimplifiedPoints = 4 << 20

// worldPlanar is orb's Mercator projection (internal/mercator.ToPlanar) at
// zoom 0: coordinates in [0, 1). Its last step is the multiplication by the
// zoom's tile count, so scaling this by a power of two gives the same bits.
func worldPlanar(p orb.Point) (x, y float64) {
	x = p[0]/360.0 + 0.5
	siny := math.Sin(p[1] * math.Pi / 180.0)
	switch {
	case siny > 0.9999:
		y = 0
	case siny < -0.9999:
		y = 1 // orb: maxtiles - 1, beyond any tile we draw
	default:
		y = 0.5 + 0.5*math.Log((1.0+siny)/(1.0-siny))/(-2*math.Pi)
	}
	return x, y
}

func (r *Renderer) boundariesLayer(d *engine.TileData, t maptile.Tile, pol privacy.Policy, pub Published) *mvt.Layer {
	l := &mvt.Layer{Name: "boundaries", Version: 2, Extent: Extent}
	box := orb.Bound{Min: orb.Point{-Buffer, -Buffer}, Max: orb.Point{Extent + Buffer, Extent + Buffer}}
	var perLevel [engine.LevelBuilding + 1]int
	for i := range d.Boundaries {
		perLevel[d.Boundaries[i].Level]++
	}
	for i := range d.Boundaries {
		b := &d.Boundaries[i]
		if perLevel[b.Level] > r.unitBudget {
			continue // too many for one tile: a closer zoom draws them
		}
		wg := r.worldFor(b, t.Z)
		if wg == nil {
			continue
		}
		// into the tile's extent units (a translation by its origin), then
		// clipped; what covers less than a unit is dropped
		g := wg.inTile(t, box)
		if g == nil || planar.Area(g) < 1 {
			continue
		}
		f := geojson.NewFeature(g)
		h := fnv.New64a()
		h.Write([]byte(b.Level.String()))
		h.Write([]byte{0})
		h.Write([]byte(b.ID))
		f.ID = h.Sum64() & (1<<53 - 1)
		f.Properties["level"] = b.Level.String()
		f.Properties["id"] = b.ID
		if b.Name != "" {
			f.Properties["name"] = b.Name
		}
		sc := pol.Counts(b.Total, b.Matched, b.Flags)
		if pub != nil {
			sc = pub.Unit(b.Level, b.ID)
		}
		addCounts(f.Properties, &sc)
		l.Features = append(l.Features, f)
	}
	return l
}
