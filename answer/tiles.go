package answer

import (
	"errors"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/roomstate/roomstate/engine"
	"github.com/roomstate/roomstate/fault"
	"github.com/roomstate/roomstate/tiles"
)

// Tile answers GET /tiles/{z}/{x}/{y}.mvt (y may end in .mvt or .pbf): the
// tile as the caller may see it, from the cache when it is current; fixed
// when it is as of a version (an integer as_of) before the newest, whose
// tile never changes (as /tiles.json?as_of= names them): the dwellings'
// states, the scheme's colours and the responsibility view's persons and
// visits are all as they were at that version.
func (a *Answers) Tile(z, x, y string, q Query, c *Caller) (t *tiles.Tile, fixed bool, err error) {
	// the newest version before the tile is drawn: a version before it is
	// past when the tile is drawn as well (read after, a version the
	// engine reached while drawing would mark a tile of an older state)
	newest := a.eng.Version()
	t, err = a.tile(z, x, y, q, c)
	if err != nil {
		return nil, false, err
	}
	if v, e := strconv.ParseUint(strings.TrimSpace(q.Get("as_of")), 10, 64); e == nil {
		fixed = engine.Version(v) < newest && q.Get("campaign") == ""
	}
	return t, fixed, nil
}

// tile is Tile's tile.
func (a *Answers) tile(z, x, y string, q Query, c *Caller) (*tiles.Tile, error) {
	for _, ext := range []string{".mvt", ".pbf"} {
		y = strings.TrimSuffix(y, ext)
	}
	var zxy [3]uint32
	for i, p := range []string{z, x, y} {
		v, err := strconv.ParseUint(p, 10, 32)
		if err != nil {
			return nil, fault.New(fault.BadTile, "tile address %s/%s/%s: z, x and y must be whole numbers (/tiles/{z}/{x}/{y}.mvt)", z, x, y)
		}
		zxy[i] = uint32(v)
	}
	at, err := a.asOf("as_of", q.Get("as_of"))
	if err != nil {
		return nil, err
	}
	vw, err := a.viewFor(c, q.Get("where"), &at, nil)
	if err != nil {
		return nil, err
	}
	view, err := viewOf(q)
	if err != nil {
		return nil, err
	}
	req := &tiles.Request{Z: zxy[0], X: zxy[1], Y: zxy[2], Where: q.Get("where"), Scheme: schemeName(q), Policy: vw.pol, AsOf: at,
		View: view, Campaign: q.Get("campaign")}
	if vw.h != nil {
		req.Published = vw.h
	}
	t, err := a.tiles.Get(req)
	var bt *tiles.ErrBadTile
	if errors.As(err, &bt) {
		return nil, fault.New(fault.BadTile, "%v", err)
	}
	return t, err
}

// viewOf reads the view parameter of tiles: "" (the scheme's colours) or
// "responsibility".
func viewOf(q Query) (string, error) {
	switch v := q.Get("view"); v {
	case "", tiles.ViewResponsibility:
		return v, nil
	default:
		return "", fault.New(fault.BadRequest, "view %q: want responsibility, or none for the scheme's colours", v)
	}
}

// TileJSON answers GET /tiles.json: TileJSON 3.0.0 for MapLibre, with tile
// URLs under base (scheme://host of the server as the client reached it).
// where and scheme pass on to the tile URL.
func (a *Answers) TileJSON(base string, q Query, c *Caller) ([]byte, error) {
	v := url.Values{}
	if w := q.Get("where"); w != "" {
		if _, err := a.eng.ParseWhere(w); err != nil {
			return nil, err
		}
		v.Set("where", w)
	}
	if sc := q.Get("scheme"); sc != "" {
		if _, ok := a.eng.Scheme(sc); !ok {
			return nil, fault.New(fault.NotFound, "scheme %q not found", sc)
		}
		v.Set("scheme", sc)
	}
	view, err := viewOf(q)
	if err != nil {
		return nil, err
	}
	if view != "" {
		v.Set("view", view)
	}
	// a past state is named by its version in the tile URLs: its tiles
	// never change, and a date names the same tiles all day; the answer
	// carries the version, as every answer as of a state does
	var version any
	asOf := q.Get("as_of")
	if asOf != "" {
		at, err := a.asOf("as_of", asOf)
		if err != nil {
			return nil, err
		}
		ver, err := a.eng.Resolve(at)
		if err != nil {
			return nil, err
		}
		if ver < a.eng.Version() {
			v.Set("as_of", strconv.FormatUint(uint64(ver), 10))
			// the tiles colour by the scheme as it was then: one made
			// later is unknown to them, refused here as they would
			if sc := q.Get("scheme"); sc != "" {
				if _, _, err := a.eng.SchemeAsOf(sc, engine.At(ver)); err != nil {
					return nil, err
				}
			}
		}
		version = uint64(ver)
	}
	if name := q.Get("campaign"); name != "" {
		// refused here as its tiles would refuse it, rather than a
		// TileJSON whose every tile is a 400
		if v.Has("as_of") {
			return nil, fault.New(fault.BadRequest, "campaign %q with as_of %s: a campaign's progress is shown as it is now, not with as_of (a past state); leave out one of campaign and as_of", name, asOf)
		}
		if _, err := a.eng.Campaign(name, engine.LevelDistrict, time.UTC); err != nil {
			return nil, err
		}
		v.Set("campaign", name)
	}
	tileURL := base + "/tiles/{z}/{x}/{y}.mvt"
	if len(v) > 0 {
		tileURL += "?" + v.Encode()
	}
	b := a.eng.Bounds()
	if a.eng.Len() == 0 { // nothing loaded yet: the whole world
		b.Min, b.Max = [2]float64{-180, -85}, [2]float64{180, 85}
	}
	flags := map[string]string{"total": "Number: dwellings", "matched": "Number: dwellings matching where"}
	for _, f := range a.eng.Flags() {
		flags[f] = "Number: matched dwellings with " + f
	}
	bfields := map[string]string{"id": "String: building id", "state": "String: state under the scheme (view=responsibility: assigned or unassigned; campaign=NAME: remaining, done or none)",
		"color": "String: the state's colour", "assigned": "Number: 1 when someone answers for the building, else 0",
		"last_visit": "Number: the last visit, Unix seconds (absent: never visited)",
		"person":     "String: who answers for the building (view=responsibility)", "team": "String: their team (view=responsibility)"}
	cfields := map[string]string{"buildings": "Number: buildings in the cell"}
	for k, v := range flags {
		bfields[k], cfields[k] = v, v
	}
	tj := map[string]any{
		"tilejson": "3.0.0",
		"name":     "roomstate",
		"scheme":   "xyz",
		"tiles":    []string{tileURL},
		"minzoom":  0,
		"maxzoom":  tiles.MaxZoom,
		"bounds":   []float64{b.Min[0], b.Min[1], b.Max[0], b.Max[1]},
		"center":   []float64{(b.Min[0] + b.Max[0]) / 2, (b.Min[1] + b.Max[1]) / 2, 11},
		"vector_layers": []map[string]any{
			{"id": "buildings", "minzoom": tiles.BuildingZoom, "maxzoom": tiles.MaxZoom, "fields": bfields,
				"description": "one point per building; feature id = the building's feature_id"},
			{"id": "cells", "minzoom": 0, "maxzoom": tiles.MaxZoom, "fields": cfields, // crowded tiles draw cells at any zoom
				"description": "buildings aggregated into 128×128-unit cells"},
			{"id": "boundaries", "minzoom": 0, "maxzoom": tiles.MaxZoom,
				"fields":      map[string]string{"level": "String", "id": "String", "name": "String", "total": "Number", "matched": "Number"},
				"description": "districts from zoom 0, streets from 9, communities from 11, grids from 13"},
		},
	}
	if version != nil {
		tj["version"] = version
	}
	return marshal(tj)
}
