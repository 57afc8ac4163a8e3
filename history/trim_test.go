package history

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"
)

// model is a brute-force history: every change ever appended, whole, and
// what a trim dropped.
type model struct {
	first  uint64 // version of the first change
	baseMs int64  // time of the state before the first retained change
	trim   int    // changes trimmed
	all    []mchange
}

// mchange is one change as the model keeps it.
type mchange struct {
	e     Entry
	high  []uint16   // high flags before a flags change (nil: none)
	pos   [][2]int32 // where it was indexed
	after uint64     // flags after when the log keeps them
	known bool
}

func (m *model) retained() []mchange { return m.all[m.trim:] }
func (m *model) oldest() uint64      { return m.first + uint64(m.trim) - 1 }
func (m *model) newest() uint64      { return m.first + uint64(len(m.all)) - 1 }

func (m *model) get(v uint64) *mchange { return &m.all[v-m.first] }

// trimTo drops the changes before ms, as Trim should.
func (m *model) trimTo(ms int64) {
	for m.trim < len(m.all) && m.all[m.trim].e.Ms < ms {
		m.baseMs = m.all[m.trim].e.Ms
		m.trim++
	}
}

// searchWant is what Search(box, after) must give: every (version,
// position) of a retained change after after indexed inside box.
func (m *model) searchWant(box [4]int32, after uint64) []string {
	var out []string
	for _, c := range m.retained() {
		if c.e.Ver <= after {
			continue
		}
		for _, p := range c.pos {
			if p[0] >= box[0] && p[0] <= box[2] && p[1] >= box[1] && p[1] <= box[3] {
				out = append(out, fmt.Sprint(c.e.Ver, p))
			}
		}
	}
	slices.Sort(out)
	return out
}

// areasWant is what EachInAreas(areas, after) must give, sorted.
func (m *model) areasWant(areas []uint32, after uint64) []uint64 {
	var out []uint64
	for _, c := range m.retained() {
		if c.e.Ver <= after || c.e.Kind == Other {
			continue
		}
		if slices.Contains(areas, c.e.Area) {
			out = append(out, c.e.Ver)
		}
		if b := c.e.Before; b != nil && b.Exists && b.Area != c.e.Area && slices.Contains(areas, b.Area) {
			out = append(out, c.e.Ver)
		}
	}
	slices.Sort(out)
	return out
}

// compareLog fails unless l answers every query as the model says.
func compareLog(t *testing.T, what string, l *Log, m *model, rng *rand.Rand, boxes [][4]int32, nd int) {
	t.Helper()
	if err := l.Check(); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if l.Oldest() != m.oldest() || l.Newest() != m.newest() || l.Len() != len(m.retained()) || l.OldestMs() != m.baseMs {
		t.Fatalf("%s: oldest %d newest %d len %d at %d, want %d %d %d at %d", what,
			l.Oldest(), l.Newest(), l.Len(), l.OldestMs(), m.oldest(), m.newest(), len(m.retained()), m.baseMs)
	}
	if want := m.newest(); l.LastChange() != want && !(len(m.all) == 0) {
		t.Fatalf("%s: last change %d, want %d", what, l.LastChange(), want)
	}
	var scanned []uint64
	l.Scan(0, func(v uint64) { scanned = append(scanned, v) })
	if len(scanned) != len(m.retained()) || len(scanned) > 0 && scanned[0] != m.oldest()+1 {
		t.Fatalf("%s: scanned %d changes, want %d", what, len(scanned), len(m.retained()))
	}
	for _, c := range m.retained() {
		v := c.e.Ver
		e := l.At(v)
		if e.Ms != c.e.Ms || e.DID != c.e.DID || e.Kind != c.e.Kind || e.Area != c.e.Area || e.Low != c.e.Low ||
			l.MsOf(v) != c.e.Ms || l.DID(v) != c.e.DID {
			t.Fatalf("%s: change %d is %+v, want %+v", what, v, e, c.e)
		}
		if a, k := l.AreaOf(v); a != c.e.Area || k != c.e.Kind {
			t.Fatalf("%s: area of %d: %d %d", what, v, a, k)
		}
		rec, low, high := l.Before(v)
		switch c.e.Kind {
		case Put, Delete:
			want := Record{}
			if c.e.Before != nil {
				want = *c.e.Before
			}
			if rec == nil || e.Before == nil || !recordEqual(*rec, want) || !recordEqual(*e.Before, want) {
				t.Fatalf("%s: record before %d: %+v, want %+v", what, v, rec, want)
			}
		case Flags:
			if rec != nil || low != c.e.Low || !slices.Equal(high, c.high) || (high == nil) != (c.high == nil) {
				t.Fatalf("%s: flags before %d: %v %x %v, want %x %v", what, v, rec, low, high, c.e.Low, c.high)
			}
		default:
			if rec != nil || e.Before != nil {
				t.Fatalf("%s: change %d of no dwelling has a record", what, v)
			}
		}
		after, ok := l.FlagsAfter(v)
		if ok != c.known || after != c.after {
			t.Fatalf("%s: flags after %d: %x %v, want %x %v", what, v, after, ok, c.after, c.known)
		}
	}
	// times: before the oldest state, at every change's time and between
	for _, c := range append([]mchange{{e: Entry{Ms: m.baseMs - 1}}, {e: Entry{Ms: m.baseMs}}}, m.retained()...) {
		for _, ms := range []int64{c.e.Ms, c.e.Ms + 1} {
			v, ok := l.VersionAt(ms)
			wantOK := ms >= m.baseMs
			ret := m.retained()
			want := m.oldest() + uint64(sort.Search(len(ret), func(i int) bool { return ret[i].e.Ms > ms }))
			if ok != wantOK || ok && v != want {
				t.Fatalf("%s: version at %d: %d %v, want %d %v", what, ms, v, ok, want, wantOK)
			}
		}
	}
	afters := []uint64{0, m.oldest(), m.newest()}
	for range 6 {
		afters = append(afters, m.oldest()+uint64(rng.IntN(len(m.retained())+1)))
	}
	if m.oldest() > m.first {
		afters = append(afters, m.oldest()-1-uint64(rng.IntN(int(m.oldest()-m.first+1))))
	}
	places := make([][]uint64, nd) // the model's place changes by dwelling
	for _, c := range m.retained() {
		if c.e.Kind == Put || c.e.Kind == Delete {
			places[c.e.DID] = append(places[c.e.DID], c.e.Ver)
		}
	}
	for _, after := range afters {
		for _, box := range boxes {
			var got []string
			l.Search(box, after, func(v uint64, lon, lat int32) { got = append(got, fmt.Sprint(v, [2]int32{lon, lat})) })
			slices.Sort(got)
			if want := m.searchWant(box, after); !slices.Equal(got, want) {
				t.Fatalf("%s: search %v after %d: %d hits, want %d", what, box, after, len(got), len(want))
			}
		}
		for _, areas := range [][]uint32{{0}, {1, 2}, {0, 3, 5}, {4, 1 << 20}} {
			var got []uint64
			l.EachInAreas(areas, after, func(v uint64) { got = append(got, v) })
			slices.Sort(got)
			if want := m.areasWant(areas, after); !slices.Equal(got, want) {
				t.Fatalf("%s: areas %v after %d: %d changes, want %d", what, areas, after, len(got), len(want))
			}
		}
		for d := range uint32(nd) {
			got, ok := l.NextPlaceChange(d, after)
			var want uint64
			vs := places[d]
			if i := sort.Search(len(vs), func(i int) bool { return vs[i] > after }); i < len(vs) {
				want = vs[i]
			}
			if ok != (want != 0) || got != want {
				t.Fatalf("%s: dwelling %d's next place change after %d: %d %v, want %d", what, d, after, got, ok, want)
			}
		}
	}
}

func recordEqual(a, b Record) bool {
	return a.Exists == b.Exists && a.ID == b.ID && a.Lon == b.Lon && a.Lat == b.Lat && a.Area == b.Area && a.Bld == b.Bld &&
		a.Unit == b.Unit && a.Room == b.Room && a.Floor == b.Floor && a.Low == b.Low && slices.Equal(a.High, b.High)
}

// TestTrimExportImport: random changes (flags, puts, deletes, moves,
// changes of no dwelling) with trims at random times, the trims falling
// inside the open points, inside runs and across all of them, and
// renumbering the changes now and then: after each,
// the log and its export imported answer every query as a brute-force
// model does, every structure of both refers only to retained changes, and
// an export of the import is the export it came from.
func TestTrimExportImport(t *testing.T) {
	defer func(m int, r uint32) { maxRun, rebaseAt = m, r }(maxRun, rebaseAt)
	for seed := uint64(1); seed <= 6; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			maxRun = []int{1 << 16, 3000, 2048}[seed%3]
			// half of them renumbered often (global indexes are 32 bits)
			rebaseAt = []uint32{1 << 31, 700}[seed%2]
			rng := rand.New(rand.NewPCG(seed, 77))
			testTrimExportImport(t, rng)
		})
	}
}

func testTrimExportImport(t *testing.T, rng *rand.Rand) {
	const nd = 40
	const areas = 6
	type place struct {
		area     uint32
		lon, lat int32
		exists   bool
		high     []uint16
	}
	coord := func() int32 {
		if rng.IntN(5) == 0 {
			return rng.Int32N(1<<31-1) - 1<<30
		}
		return rng.Int32N(1 << 20)
	}
	dw := make([]place, nd)
	for i := range dw {
		dw[i] = place{uint32(rng.IntN(areas)), coord(), coord(), rng.IntN(4) > 0, nil}
	}
	boxes := [][4]int32{{0, 0, 1 << 20, 1 << 20}, {1 << 18, 1 << 18, 3 << 18, 3 << 18}, {-1 << 31, -1 << 22, 1<<31 - 1, 1 << 22}, {-1 << 30, -1 << 28, 0, -1 << 26}}
	const start = 1_000_000
	l := New(99, start)
	m := &model{first: 100, baseMs: start}
	ms := int64(start)
	total := 6000 + rng.IntN(8000)
	checks := 0
	for n := 0; n < total; n++ {
		// times advance by 0 to 3 ms: trims fall between equal times too
		ms += int64(rng.IntN(4))
		d := uint32(rng.IntN(nd))
		p := &dw[d]
		c := mchange{e: Entry{Ver: l.Newest() + 1, Ms: ms, DID: d, Area: p.area}}
		c.pos = [][2]int32{{p.lon, p.lat}}
		switch k := rng.IntN(12); {
		case k == 0:
			c.e.Kind, c.e.DID, c.e.Area, c.pos = Other, 0, 0, nil
		case k <= 2 || !p.exists:
			before := Record{Exists: p.exists, Area: p.area, Lon: p.lon, Lat: p.lat, Low: rng.Uint64(), ID: fmt.Sprint("d", d), High: p.high}
			if !p.exists {
				before = Record{}
			}
			c.e.Kind, c.e.Before = Put, &before
			if !p.exists || rng.IntN(2) == 0 { // a move, maybe to another area
				p.area, p.lon, p.lat = uint32(rng.IntN(areas)), coord(), coord()
			}
			p.exists = true
			c.e.Area = p.area
			after := [2]int32{p.lon, p.lat}
			switch {
			case !before.Exists:
				c.pos = [][2]int32{after}
			case after != c.pos[0]:
				c.pos = append(c.pos, after)
			}
		case k == 3:
			c.e.Kind, c.e.Before = Delete, &Record{Exists: true, Area: p.area, Lon: p.lon, Lat: p.lat, High: p.high}
			p.exists = false
		default:
			c.e.Kind, c.e.Low = Flags, rng.Uint64()
			c.high = p.high
			switch rng.IntN(3) {
			case 0:
				c.e.FlippedAll = true
			case 1:
				c.e.Flipped, c.e.FlippedAll = 1<<rng.IntN(64), true
			default:
				c.e.Flipped = rng.Uint64()
			}
			if c.e.FlippedAll && c.e.Flipped&(c.e.Flipped-1) == 0 {
				c.after, c.known = c.e.Low^c.e.Flipped, true
			}
			if rng.IntN(5) == 0 { // flags ≥ 64 change now and then
				if p.high == nil {
					p.high = []uint16{uint16(64 + rng.IntN(10))}
				} else {
					p.high = nil
				}
			}
		}
		l.Append(c.e, c.pos...)
		if c.e.Kind == Flags {
			l.AppendHigh(c.high)
		}
		m.all = append(m.all, c)
		switch r := rng.IntN(500); {
		case r == 0 || len(l.open) == 0: // no trim: an export now (as when open points were just sealed)
			im, err := Import(l.Export(), areas)
			if err != nil {
				t.Fatalf("change %d: the export does not import: %v", n, err)
			}
			compareLog(t, fmt.Sprintf("change %d, imported", n), im, m, rng, boxes, nd)
			continue
		case r == 1: // a trim of everything retained
			l.Trim(ms + 1)
			m.trimTo(ms + 1)
		case r == 2 || r == 3: // a trim somewhere in the retained window, or in its newest changes
			ret := m.retained()
			if len(ret) == 0 {
				continue
			}
			i := rng.IntN(len(ret))
			if r == 3 {
				i = max(0, len(ret)-1-rng.IntN(100))
			}
			cut := ret[i].e.Ms + int64(rng.IntN(2))
			l.Trim(cut)
			m.trimTo(cut)
		default:
			continue
		}
		checks++
		compareLog(t, fmt.Sprintf("change %d, trimmed", n), l, m, rng, boxes, nd)
		s := l.Export()
		im, err := Import(s, areas)
		if err != nil {
			t.Fatalf("change %d: the export of a trimmed log does not import: %v", n, err)
		}
		compareLog(t, fmt.Sprintf("change %d, trimmed and imported", n), im, m, rng, boxes, nd)
		if !statesEqual(im.Export(), s) {
			t.Fatalf("change %d: an imported log exports another state", n)
		}
		// both go on alike: a change each, and another trim
		if rng.IntN(3) == 0 {
			cut := ms - int64(rng.IntN(200))
			l.Trim(cut)
			im.Trim(cut)
			m.trimTo(cut)
			compareLog(t, fmt.Sprintf("change %d, imported and trimmed again", n), im, m, rng, boxes, nd)
			compareLog(t, fmt.Sprintf("change %d, trimmed again", n), l, m, rng, boxes, nd)
		}
	}
	if checks < 5 {
		t.Fatalf("%d trims checked", checks)
	}
	if rebaseAt < 1<<31 && l.first == m.first {
		t.Fatal("never renumbered")
	}
	compareLog(t, "at the end", l, m, rng, boxes, nd)
}

// statesEqual says whether two states hold the same log.
func statesEqual(a, b *State) bool {
	eqb := slices.Equal[[]byte]
	if a.First != b.First || a.Base != b.Base || a.BaseMs != b.BaseMs || a.Before != b.Before ||
		!eqb(a.Ms, b.Ms) || !eqb(a.DID, b.DID) || !eqb(a.Area, b.Area) || !eqb(a.Low, b.Low) || !eqb(a.Aux, b.Aux) ||
		!eqb(a.Kind, b.Kind) || !eqb(a.Flip, b.Flip) || len(a.Recs) != len(b.Recs) || len(a.Highs) != len(b.Highs) {
		return false
	}
	for i := range a.Recs {
		if !recordEqual(a.Recs[i], b.Recs[i]) {
			return false
		}
	}
	for i := range a.Highs {
		if !slices.Equal(a.Highs[i], b.Highs[i]) {
			return false
		}
	}
	// points: the same multiset
	pts := func(s *State) []string {
		var out []string
		for i := 0; i < len(s.PtIdx)/4; i++ {
			out = append(out, fmt.Sprint(s.PtIdx[4*i:4*i+4], s.PtLat[4*i:4*i+4], s.PtLon[4*i:4*i+4]))
		}
		slices.Sort(out)
		return out
	}
	return slices.Equal(pts(a), pts(b))
}

// TestImportTrimmedByOlderBuild: a state written by a build whose trims
// left the trimmed changes' positions (open ones and in runs) and their
// before-records and high flags behind imports as the state of the same log
// written now does, holding none of them; a position after the newest
// change, or a change of no dwelling or a flags change that names a
// record, is still refused.
func TestImportTrimmedByOlderBuild(t *testing.T) {
	l := New(9, 1000)
	for i := range 3000 {
		v := l.Newest() + 1
		pos := [2]int32{int32(i % 97), int32(i % 89 << 14)}
		switch i % 5 {
		case 0:
			l.Append(Entry{Ver: v, Ms: 1000 + int64(i), DID: uint32(i % 7), Kind: Put, Area: 1,
				Before: &Record{Exists: true, Lon: pos[0], Lat: pos[1], High: []uint16{70}}}, pos, [2]int32{pos[0] + 1, pos[1]})
		case 1:
			l.Append(Entry{Ver: v, Ms: 1000 + int64(i), Kind: Other})
		default:
			l.Append(Entry{Ver: v, Ms: 1000 + int64(i), DID: uint32(i % 7), Kind: Flags, Low: 3}, pos)
			l.AppendHigh([]uint16{uint16(64 + i%3)})
		}
	}
	whole := l.Export()
	l.Trim(1000 + 2500) // inside the open points, and inside a run
	if err := l.Check(); err != nil {
		t.Fatal(err)
	}
	now := l.Export()
	// as the older build wrote it: every record and high flag since the
	// log began (the columns' aux numbering them so), every position
	old := *now
	old.Recs, old.Highs = whole.Recs, whole.Highs
	old.Aux = whole.Aux[4*(now.Base-whole.Base):]
	old.PtLat, old.PtLon, old.PtIdx = whole.PtLat, whole.PtLon, whole.PtIdx
	if len(old.Recs) == len(now.Recs) || len(old.PtIdx) == len(now.PtIdx) {
		t.Fatal("the trim dropped no record or position: the test tests nothing")
	}
	im, err := Import(&old, 2)
	if err != nil {
		t.Fatalf("a state of the older build: %v", err)
	}
	if err := im.Check(); err != nil {
		t.Fatal(err)
	}
	if !statesEqual(im.Export(), now) {
		t.Fatal("the older build's state imports as another log than the same log's state now")
	}
	for name, damage := range map[string]func(s *State){
		"position after the newest change": func(s *State) {
			s.PtIdx = append(slices.Clone(s.PtIdx), 0, 0, 0, 0)
			le := uint32(s.Base) + uint32(len(s.Ms)/8)
			s.PtIdx[len(s.PtIdx)-4], s.PtIdx[len(s.PtIdx)-3], s.PtIdx[len(s.PtIdx)-2], s.PtIdx[len(s.PtIdx)-1] = byte(le), byte(le>>8), byte(le>>16), byte(le>>24)
			s.PtLat = append(slices.Clone(s.PtLat), 0, 0, 0, 0)
			s.PtLon = append(slices.Clone(s.PtLon), 0, 0, 0, 0)
		},
		"record of a change of no dwelling": func(s *State) { recordOfFirst(s, Other) },
		"record of a flags change":          func(s *State) { recordOfFirst(s, Flags) },
		"record beyond the records": func(s *State) {
			s.Recs = s.Recs[:len(s.Recs)-1]
		},
	} {
		s := old
		damage(&s)
		if _, err := Import(&s, 2); err == nil {
			t.Errorf("%s: imported", name)
		}
	}
}

// TestTrimRenumbers: a log whose global indexes near their 32 bits (a
// state imported after billions of changes) goes on past them: trims
// renumber the retained changes, which are found, exported and imported
// as before.
func TestTrimRenumbers(t *testing.T) {
	l := New(0, 0)
	pos := func(v uint64) [2]int32 { return [2]int32{int32(v % 100), int32(v % 7)} }
	for v := uint64(1); v <= 50; v++ {
		l.Append(Entry{Ver: v, Ms: int64(v), DID: uint32(v % 5), Kind: Flags}, pos(v))
	}
	s := l.Export()
	// as if 2^32 - 100 changes had been trimmed before these
	const k = 1<<32 - 100
	s.Base += k
	for i := 0; i < len(s.PtIdx); i += 4 {
		g := uint32(s.PtIdx[i]) | uint32(s.PtIdx[i+1])<<8 | uint32(s.PtIdx[i+2])<<16 | uint32(s.PtIdx[i+3])<<24
		g += k
		s.PtIdx[i], s.PtIdx[i+1], s.PtIdx[i+2], s.PtIdx[i+3] = byte(g), byte(g>>8), byte(g>>16), byte(g>>24)
	}
	l, err := Import(s, 1)
	if err != nil {
		t.Fatal(err)
	}
	first := l.Oldest() + 1
	for i := range 300 {
		v := l.Newest() + 1
		l.Append(Entry{Ver: v, Ms: int64(100 + i), DID: uint32(v % 5), Kind: Flags}, pos(v))
		if i%10 == 9 {
			l.Trim(int64(100 + i - 30))
		}
	}
	if err := l.Check(); err != nil {
		t.Fatal(err)
	}
	if l.Len() != 31 || l.Newest() != first+349 {
		t.Fatalf("%d changes to %d, want 31 to %d", l.Len(), l.Newest(), first+349)
	}
	im, err := Import(l.Export(), 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, lg := range []*Log{l, im} {
		var got []uint64
		lg.Search([4]int32{0, 0, 100, 7}, lg.Newest()-20, func(v uint64, lon, lat int32) {
			if [2]int32{lon, lat} != pos(v) {
				t.Fatalf("change %d at %d %d, want %v", v, lon, lat, pos(v))
			}
			got = append(got, v)
		})
		slices.Sort(got)
		if len(got) != 20 || got[0] != lg.Newest()-19 || lg.At(got[0]).Ms != int64(100+300-20) {
			t.Fatalf("the newest 20 changes: %v", got)
		}
	}
}

// recordOfFirst damages s: the first change of kind k gets record 0 (only
// puts and deletes have records).
func recordOfFirst(s *State, k Kind) {
	s.Aux = slices.Clone(s.Aux)
	for i := range len(s.Kind) {
		if Kind(s.Kind[i]) == k {
			s.Aux[4*i] = 0
			s.Aux[4*i+1], s.Aux[4*i+2], s.Aux[4*i+3] = 0, 0, 0
			return
		}
	}
}
