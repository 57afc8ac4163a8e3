package answer

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/paulmach/orb"
	"github.com/roomstate/roomstate/city"
	"github.com/roomstate/roomstate/coord"
	"github.com/roomstate/roomstate/engine"
	"github.com/roomstate/roomstate/fault"
	"github.com/roomstate/roomstate/internal/testseed"
)

var tookUS = regexp.MustCompile(`"took_us":[0-9]+`)

// sameAnswer compares two answers but for took_us.
func sameAnswer(a, b []byte) bool {
	return tookUS.ReplaceAllString(string(a), "") == tookUS.ReplaceAllString(string(b), "")
}

// realCity loads a realistic city with its boundaries into a writer.
func realCity(t *testing.T, n int, seed uint64) (*engine.Writer, *city.City) {
	t.Helper()
	c := city.New(city.Config{N: n, Seed: seed, Kind: city.Realistic})
	b, err := c.Batch()
	if err != nil {
		t.Fatal(err)
	}
	w := engine.New(engine.Options{DeltaLimit: 1 << 20})
	if err := w.Load(b); err != nil {
		t.Fatal(err)
	}
	if err := w.AddBoundaries(c.Boundaries()); err != nil {
		t.Fatal(err)
	}
	return w, c
}

// geometryText writes mp as GeoJSON: compact with type first, or (other)
// with blanks, coordinates before type and numbers with trailing zeros,
// inside a FeatureCollection: the same geometry, another text.
func geometryText(mp orb.MultiPolygon, other bool) string {
	var sb strings.Builder
	num := func(v float64) {
		s := strconv.FormatFloat(v, 'f', -1, 64)
		if other {
			if !strings.Contains(s, ".") {
				s += "."
			}
			s += "00"
		}
		sb.WriteString(s)
	}
	sep := ","
	if other {
		sep = ", "
	}
	coords := func(p orb.Polygon) {
		sb.WriteString("[")
		for ri, r := range p {
			if ri > 0 {
				sb.WriteString(sep)
			}
			sb.WriteString("[")
			for i, pt := range r {
				if i > 0 {
					sb.WriteString(sep)
				}
				sb.WriteString("[")
				num(pt[0])
				sb.WriteString(sep)
				num(pt[1])
				sb.WriteString("]")
			}
			sb.WriteString("]")
		}
		sb.WriteString("]")
	}
	if other {
		sb.WriteString(`{"type": "FeatureCollection", "features": [`)
		for i, p := range mp {
			if i > 0 {
				sb.WriteString(", ")
			}
			sb.WriteString(`{"properties": {"n": ` + strconv.Itoa(i) + `}, "geometry": {"coordinates": `)
			coords(p)
			sb.WriteString(`, "type": "Polygon"}, "type": "Feature"}`)
		}
		sb.WriteString("]}")
		return sb.String()
	}
	sb.WriteString(`{"type":"MultiPolygon","coordinates":[`)
	for i, p := range mp {
		if i > 0 {
			sb.WriteString(",")
		}
		coords(p)
	}
	sb.WriteString("]}")
	return sb.String()
}

// TestRegionCacheHitIsMiss: a polygon answered from the region cache (found
// by its text, or by its geometry written otherwise) gives the answer a
// server without the cache gives, with where, group_by, ids and as_of, on
// the realistic city's ragged boundaries and on random stars, before and
// after changes (flags, dwellings added, moved and deleted inside the
// polygons) and a compaction.
func TestRegionCacheHitIsMiss(t *testing.T) {
	seed := testseed.Get(t)
	rng := rand.New(rand.NewPCG(seed, 15))
	w, c := realCity(t, 30_000, seed)
	cached := New(w.Engine, nil, Options{})
	plain := New(w.Engine, nil, Options{RegionCacheMB: -1})
	if plain.RegionCache() != nil || cached.RegionCache() == nil {
		t.Fatal("region caches not as configured")
	}
	var geoms []orb.MultiPolygon
	for _, b := range c.Boundaries() {
		if (b.Level == engine.LevelStreet || b.Level == engine.LevelCommunity) && rng.IntN(8) == 0 && len(geoms) < 24 {
			geoms = append(geoms, b.Geometry)
		}
	}
	var pts [][2]float64
	_ = c.Dwellings(func(r *engine.Record) error {
		pts = append(pts, [2]float64{r.Lon, r.Lat})
		return nil
	})
	for len(geoms) < 32 {
		p := pts[rng.IntN(len(pts))]
		var ring orb.Ring
		n := 5 + rng.IntN(40)
		for i := range n {
			a := 2 * 3.14159 * (float64(i) + 0.5*rng.Float64()) / float64(n)
			r := 0.002 + 0.01*rng.Float64()
			ring = append(ring, orb.Point{coord.FromE7(coord.ToE7(p[0] + r*math.Cos(a))), coord.FromE7(coord.ToE7(p[1] + r*math.Sin(a)))})
		}
		geoms = append(geoms, orb.MultiPolygon{{append(ring, ring[0])}})
	}
	loaded := w.Engine.Version()
	wheres := []string{"", "isolated", "elderly_alone & !vaccinated"}
	check := func(what string, asOf engine.Version) {
		t.Helper()
		for gi, g := range geoms {
			for k := range 2 {
				where := wheres[(gi+k)%len(wheres)]
				extra := fmt.Sprintf(`,"where":%q,"group_by":"community"`, where)
				if k == 1 && asOf == 0 {
					extra += `,"ids":true,"limit":50`
				}
				if asOf > 0 {
					extra += fmt.Sprintf(`,"as_of":%d`, asOf)
				}
				for _, other := range []bool{false, true} {
					body := []byte(`{"geometry":` + geometryText(g, other) + extra + `}`)
					want, err := plain.Polygon(body, System)
					if err != nil {
						if errors.Is(err, fault.BadGeometry) {
							continue // a random star may cross itself
						}
						t.Fatalf("%s: polygon %d: %v", what, gi, err)
					}
					for pass := range 2 {
						got, err := cached.Polygon(body, System)
						if err != nil {
							t.Fatalf("%s: polygon %d, other text %v, pass %d: %v", what, gi, other, pass, err)
						}
						if !sameAnswer(got, want) {
							t.Fatalf("%s: polygon %d, other text %v, pass %d:\n cached %s\n plain  %s", what, gi, other, pass, got, want)
						}
					}
				}
			}
		}
	}
	check("loaded", 0)
	st := cached.RegionCache().Stats()
	if st.TextHits == 0 || st.GeometryHits == 0 || st.Misses == 0 || st.Entries == 0 || st.Bytes == 0 {
		t.Fatalf("stats after the first round: %+v", st)
	}
	// changes inside the polygons: flags, new dwellings (the delta), moves, deletes
	var ops []engine.Op
	for i := range 400 {
		g := geoms[rng.IntN(len(geoms))]
		v := g[0][0][rng.IntN(len(g[0][0]))] // on a vertex: on the boundary
		id := fmt.Sprintf("NEW-%d", i)
		switch i % 4 {
		case 0, 1:
			ops = append(ops, engine.Op{Kind: engine.OpPut, ID: id, Put: &engine.DwellingInput{Lon: v[0], Lat: v[1],
				Street: "S-new", Community: "C-new", Building: fmt.Sprintf("NB%d", i%7), Flags: []string{"isolated"}}})
		case 2:
			var r *engine.Record
			_ = c.Dwellings(func(x *engine.Record) error {
				if r == nil && rng.IntN(500) == 0 {
					r = x
				}
				return nil
			})
			if r != nil {
				ops = append(ops, engine.Op{Kind: engine.OpFlags, ID: r.ID, Set: []string{"elderly_alone"}, Clear: []string{"vaccinated"}})
			}
		}
	}
	if _, err := w.Apply(engine.Request{Ops: ops}, time.Now()); err != nil {
		t.Fatal(err)
	}
	var moves []engine.Op
	for i := range 100 {
		g := geoms[rng.IntN(len(geoms))]
		v := g[0][0][0]
		if i%2 == 0 { // moved
			moves = append(moves, engine.Op{Kind: engine.OpPut, ID: fmt.Sprintf("NEW-%d", 4*i), Put: &engine.DwellingInput{Lon: v[0] + 0.0001, Lat: v[1], Building: "MOVED"}})
		} else {
			moves = append(moves, engine.Op{Kind: engine.OpDelete, ID: fmt.Sprintf("NEW-%d", 4*i+1)})
		}
	}
	if _, err := w.Apply(engine.Request{Ops: moves}, time.Now()); err != nil {
		t.Fatal(err)
	}
	check("after changes", 0)
	check("after changes, as of the load", loaded)
	w.Compact()
	check("after a compaction", 0)
	check("after a compaction, as of the load", loaded)
}

// TestPolygonUnit: a unit in the polygon body answers as its boundary sent
// as a geometry; bad units are refused with the right kind; viewers may not
// ask.
func TestPolygonUnit(t *testing.T) {
	w, c := realCity(t, 20_000, 3)
	a := New(w.Engine, nil, Options{})
	n := 0
	for _, b := range c.Boundaries() {
		if n++; n%7 != 0 {
			continue
		}
		for _, extra := range []string{``, `,"where":"isolated","group_by":"grid"`, `,"group_by":"building","ids":true,"limit":20`} {
			want, err := a.Polygon([]byte(`{"geometry":`+geometryText(b.Geometry, false)+extra+`}`), System)
			if err != nil {
				t.Fatal(err)
			}
			for range 2 {
				got, err := a.Polygon([]byte(fmt.Sprintf(`{"unit":{"level":%q,"id":%q}%s}`, b.Level, b.ID, extra)), System)
				if err != nil {
					t.Fatalf("%s %s: %v", b.Level, b.ID, err)
				}
				if !sameAnswer(got, want) {
					t.Fatalf("%s %s: unit %s, geometry %s", b.Level, b.ID, got, want)
				}
			}
		}
	}
	var anyStreet string
	for _, b := range c.Boundaries() {
		if b.Level == engine.LevelStreet {
			anyStreet = b.ID
		}
	}
	viewer := &Caller{Name: "wall", Role: Viewer}
	for _, tc := range []struct {
		body   string
		caller *Caller
		kind   error
	}{
		{`{"unit":{"level":"town","id":"x"}}`, System, fault.BadRequest},
		{`{"unit":{"level":"building","id":"x"}}`, System, fault.BadRequest},
		{`{"unit":{"level":"street","id":"no such street"}}`, System, fault.NotFound},
		{`{"unit":{"level":"street"}}`, System, fault.BadRequest},
		{`{"unit":{"level":"street","id":7}}`, System, fault.BadRequest},
		{`{"unit":{"level":"street","id":"x","name":"y"}}`, System, fault.BadRequest},
		{`{"unit":"street"}`, System, fault.BadRequest},
		{`{"unit":{"level":"street","id":"` + anyStreet + `"},"geometry":{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,0]]]}}`, System, fault.BadRequest},
		{`{"unit":{"level":"street","id":"` + anyStreet + `"}}`, viewer, fault.Forbidden},
		{`{"where":"isolated"}`, System, fault.BadGeometry},
	} {
		_, err := a.Polygon([]byte(tc.body), tc.caller)
		if !errors.Is(err, tc.kind) {
			t.Errorf("%s as %s: %v, want %v", tc.body, tc.caller.Role, err, tc.kind)
		}
	}
	// a unit known from its dwellings only (no boundary): not found
	if _, err := w.Apply(engine.Request{Ops: []engine.Op{{Kind: engine.OpPut, ID: "lone", Put: &engine.DwellingInput{Lon: 121.4, Lat: 31.2, Grid: "G-lone", Building: "LB"}}}}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Polygon([]byte(`{"unit":{"level":"grid","id":"G-lone"}}`), System); !errors.Is(err, fault.NotFound) {
		t.Fatalf("a grid without a boundary: %v", err)
	}
}

// TestCachedTextBlanks: a polygon kept in the region cache is found again
// with other white space between its tokens, but a body whose blanks break
// a number is not JSON, cached or not.
func TestCachedTextBlanks(t *testing.T) {
	w, c := realCity(t, 5_000, 7)
	a := New(w.Engine, nil, Options{})
	var g orb.MultiPolygon
	for _, b := range c.Boundaries() {
		if b.Level == engine.LevelStreet {
			g = b.Geometry
			break
		}
	}
	text := geometryText(g, false)
	want, err := a.Polygon([]byte(`{"geometry":`+text+`}`), System)
	if err != nil {
		t.Fatal(err)
	}
	spaced := strings.ReplaceAll(strings.ReplaceAll(text, ",", ", "), ":", ": ")
	got, err := a.Polygon([]byte(`{"geometry": `+spaced+` }`), System)
	if err != nil || !sameAnswer(got, want) {
		t.Fatalf("with blanks: %s, %v; want %s", got, err, want)
	}
	if st := a.RegionCache().Stats(); st.TextHits != 1 || st.Misses != 1 {
		t.Fatalf("stats %+v: want one text hit", st)
	}
	at := strings.Index(text, ".")
	broken := text[:at] + " " + text[at:] // 121 .47
	if _, err := a.Polygon([]byte(`{"geometry":`+broken+`}`), System); !errors.Is(err, fault.BadJSON) {
		t.Fatalf("a blank in a number: %v, want bad JSON", err)
	}
}

// TestPolygonIDLimit: "ids": true lists at most limit ids: 1,000 when the
// body names no limit, none for "limit": 0 ("ids": []), limit for any other.
// PolygonBody (the query command's) sends a limit of 0 as such.
func TestPolygonIDLimit(t *testing.T) {
	w, c := realCity(t, 30_000, 3)
	a := New(w.Engine, nil, Options{})
	var street string
	for _, b := range c.Boundaries() {
		if b.Level == engine.LevelStreet {
			street = b.ID
			break
		}
	}
	ids := func(extra string) (total int64, n int, present bool) {
		t.Helper()
		out, err := a.Polygon([]byte(`{"unit":{"level":"street","id":"`+street+`"}`+extra+`}`), System)
		if err != nil {
			t.Fatalf("%s: %v", extra, err)
		}
		var ans struct {
			Total int64
			IDs   *[]string
		}
		if err := json.Unmarshal(out, &ans); err != nil {
			t.Fatal(err)
		}
		if ans.IDs == nil {
			return ans.Total, 0, false
		}
		return ans.Total, len(*ans.IDs), true
	}
	total, n, ok := ids(`,"ids":true`)
	if total <= engine.DefaultIDLimit || !ok || n != engine.DefaultIDLimit {
		t.Fatalf("no limit: %d of %d ids (listed %v), want %d", n, total, ok, engine.DefaultIDLimit)
	}
	if _, n, ok := ids(`,"ids":true,"limit":0`); !ok || n != 0 {
		t.Fatalf(`"limit": 0: %d ids (listed %v), want "ids": []`, n, ok)
	}
	if _, n, ok := ids(`,"ids":true,"limit":7`); !ok || n != 7 {
		t.Fatalf(`"limit": 7: %d ids (listed %v)`, n, ok)
	}
	if _, _, ok := ids(`,"ids":false,"limit":0`); ok {
		t.Fatal(`"ids": false lists ids`)
	}
	if b := string(PolygonBody([]byte(`{}`), PolygonParams{IDs: true, Limit: 0})); !strings.Contains(b, `"limit":0`) {
		t.Fatalf("PolygonBody with no ids asked: %s", b)
	}
}
