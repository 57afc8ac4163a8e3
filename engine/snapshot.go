package engine

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"slices"
	"unsafe"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/paulmach/orb"
	"github.com/roomstate/roomstate/coord"
	"github.com/roomstate/roomstate/history"
	"github.com/roomstate/roomstate/scheme"
)

// Snapshot is the whole state of an engine in a form to persist: columns of
// the live dwellings (big columns as little-endian byte blobs, so they
// encode and decode as one copy), the tables they refer to, flags as roaring
// bitmaps (in roaring's portable format, made from the engine's flag words
// when the snapshot is written), schemes and boundaries. Frozen.Snapshot makes one and
// Writer.Restore reads one back; how it is written to disk is the store's
// business.
type Snapshot struct {
	Format     int
	Version    uint64
	N          int
	BandHeight int32
	Flags      []string
	// per dwelling, in slot order
	IDs   []byte // the ids, back to back
	IDEnd []byte // uint32 each: where each id ends
	Lon   []byte // int32 each, 1e-7 degrees
	Lat   []byte
	Area  []byte // uint32: index into Areas
	Bld   []byte // uint32: index into Buildings
	Unit  []byte // uint32: index into Strings
	Room  []byte
	Floor []byte // int16
	DIDs  []byte // uint32: the dwelling's stable number
	// NextDID is the number the next new dwelling gets.
	NextDID uint32
	// per flag: the dwellings (numbered as above) carrying it, a roaring
	// bitmap in the portable serialisation format
	FlagBitmaps [][]byte
	// tables
	Areas     []byte // 4 × uint32 each: unit numbers of district, street, community, grid
	Units     [4][]string
	UnitNames [4][]string
	Buildings []string
	Strings   []string
	// other state
	Schemes    map[string]scheme.Scheme
	Boundaries []SnapshotBoundary
	// History is the retained change log (nil: it starts at this snapshot).
	History *history.State
	// Expiries are the flags due to clear themselves.
	Expiries []Expiry
	// Assignments, Visits (each building's last) and Campaigns: see
	// responsibility.go and campaign.go.
	Assignments []AssignmentRecord
	Visits      []VisitRecord
	Campaigns   []CampaignRecord
	// RespLog: the assignments and visits History retains, by version,
	// with what each replaced (answers as of a past version undo them).
	// A snapshot written before it was kept has none: as of a version
	// before such a snapshot, responsibility is the snapshot's.
	RespLog []RespChangeRecord
	// SchemeLog: the scheme puts History retains, by version, with the
	// scheme each replaced (answers as of a past version undo them). A
	// snapshot written before it was kept has none: as of a version before
	// such a snapshot, the schemes are the snapshot's.
	SchemeLog []SchemeChangeRecord
}

// SnapshotBoundary is a boundary in a snapshot.
type SnapshotBoundary struct {
	Level    uint8
	Unit     uint32
	Polygons [][][]float64 // polygon → ring → lon, lat, lon, lat…
}

// SnapshotFormat is the version of the Snapshot layout (3: dwelling numbers; 2: flags as roaring
// bitmaps, not bit columns).
const SnapshotFormat = 3

func blob[T any](s []T) []byte {
	if len(s) == 0 {
		return nil
	}
	var z T
	return slices.Clone(unsafe.Slice((*byte)(unsafe.Pointer(&s[0])), len(s)*int(unsafe.Sizeof(z))))
}

func unblob[T any](b []byte, n int) ([]T, error) {
	var z T
	size := int(unsafe.Sizeof(z))
	if len(b) != n*size {
		return nil, fmt.Errorf("column of %d bytes, want %d", len(b), n*size)
	}
	out := make([]T, n)
	if n > 0 {
		copy(unsafe.Slice((*byte)(unsafe.Pointer(&out[0])), n*size), b)
	}
	return out, nil
}

func init() {
	// blobs are little-endian; refuse to run where a plain copy would not be
	var x uint16 = 1
	if binary.LittleEndian.Uint16(unsafe.Slice((*byte)(unsafe.Pointer(&x)), 2)) != 1 {
		panic("engine: snapshots need a little-endian machine")
	}
}

// Frozen is a view of an engine's state at one version that later changes
// do not touch; Snapshot turns it into a Snapshot at leisure.
type Frozen struct {
	st      *state
	hist    *history.State
	exp     []Expiry
	asg     []AssignmentRecord
	visits  []VisitRecord
	respLog []RespChangeRecord
	schLog  []SchemeChangeRecord
	camps   []frozenCampaign
	version Version
	schemes map[string]scheme.Scheme
	band    int32
}

// Version is the version the view was frozen at.
func (fz *Frozen) Version() Version { return fz.version }

// Freeze takes a view of the current state, holding the read lock only to
// copy the few arrays that change in place.
func (e *Engine) Freeze() *Frozen {
	e.mu.RLock()
	defer e.mu.RUnlock()
	fz := &Frozen{st: e.st.frozen(), hist: e.hist.Export(), exp: e.exportExpiries(e.st), version: e.version, schemes: map[string]scheme.Scheme{}, band: e.st.index.h,
		camps: e.freezeCampaigns()}
	fz.asg, fz.visits = e.exportResp()
	fz.respLog = e.exportRespLog()
	fz.schLog = e.exportSchemeLog()
	for n, s := range e.schemes {
		if n != "default" || !scheme.Equal(s.Def, scheme.Default()) {
			fz.schemes[n] = s.Def
		}
	}
	if e.opts.BandHeight == 0 {
		fz.band = 0 // chosen from the data again on restore
	}
	return fz
}

// Export copies the engine's current state into a Snapshot.
func (e *Engine) Export() *Snapshot { return e.Freeze().Snapshot() }

// Snapshot copies the frozen state into a Snapshot; it takes no lock.
func (fz *Frozen) Snapshot() *Snapshot {
	st := fz.st
	s := &Snapshot{Format: SnapshotFormat, Version: uint64(fz.version), N: st.nLive, BandHeight: fz.band,
		Flags: slices.Clone(st.flagNames), Schemes: fz.schemes, History: fz.hist, Expiries: fz.exp,
		Assignments: fz.asg, Visits: fz.visits, RespLog: fz.respLog, SchemeLog: fz.schLog}
	for i := range fz.camps {
		s.Campaigns = append(s.Campaigns, fz.camps[i].record())
	}
	live := make([]uint32, 0, st.nLive)
	for p := uint32(0); p < uint32(st.n); p++ {
		if st.isLive(p) {
			live = append(live, p)
		}
	}
	n := len(live)
	idEnd := make([]uint32, n)
	ids := make([]byte, 0, len(st.idBuf))
	lon, lat := make([]int32, n), make([]int32, n)
	area, bld, unit, room, did := make([]uint32, n), make([]uint32, n), make([]uint32, n), make([]uint32, n), make([]uint32, n)
	floor := make([]int16, n)
	for i, p := range live {
		ids = append(ids, st.idOf(p)...)
		idEnd[i] = uint32(len(ids))
		lon[i], lat[i] = st.lon[p], st.lat[p]
		area[i], bld[i], unit[i], room[i], floor[i] = st.area[p], st.bld[p], st.unit[p], st.room[p], st.floor[p]
		did[i] = st.did[p]
	}
	s.IDs, s.IDEnd, s.Lon, s.Lat = ids, blob(idEnd), blob(lon), blob(lat)
	s.Area, s.Bld, s.Unit, s.Room, s.Floor = blob(area), blob(bld), blob(unit), blob(room), blob(floor)
	s.DIDs, s.NextDID = blob(did), st.nextDID
	s.FlagBitmaps = make([][]byte, len(st.words))
	for f, words := range st.words {
		// slots to snapshot numbers: the same when no slot is dead
		// (flags of dead slots are always clear)
		if n != st.n {
			renumbered := make([]uint64, (n+63)/64)
			j := 0
			for wi, w := range words[:min(len(words), len(st.live))] {
				// a flag of a dead slot (none: the writer clears them)
				// would fall on the next live dwelling
				for w &= st.live[wi]; w != 0; w &= w - 1 {
					p := uint32(wi*64 + bits.TrailingZeros64(w))
					for live[j] < p {
						j++
					}
					renumbered[j>>6] |= 1 << (j & 63)
				}
			}
			words = renumbered
		}
		bm := roaring.FromDense(words, true)
		bm.RunOptimize()
		b, err := bm.ToBytes()
		if err != nil { // cannot happen: it writes to memory
			panic(err)
		}
		s.FlagBitmaps[f] = b
	}
	s.Areas = blob(st.areas)
	for l := range st.levels {
		s.Units[l] = slices.Clone(st.levels[l].ids)
		s.UnitNames[l] = slices.Clone(st.levels[l].names)
	}
	s.Buildings = make([]string, len(st.blds))
	for i := range st.blds {
		s.Buildings[i] = st.blds[i].id
	}
	s.Strings = slices.Clone(st.strs.strs)
	for _, b := range st.bounds {
		sb := SnapshotBoundary{Level: uint8(b.level), Unit: b.unit}
		for _, poly := range b.geom {
			var rings [][]float64
			for _, ring := range poly {
				flat := make([]float64, 0, 2*len(ring))
				for _, pt := range ring {
					flat = append(flat, pt[0], pt[1])
				}
				rings = append(rings, flat)
			}
			sb.Polygons = append(sb.Polygons, rings)
		}
		s.Boundaries = append(s.Boundaries, sb)
	}
	return s
}

// Restore replaces the engine's state with a snapshot, checking it whole
// first: a snapshot that does not hold together is an error and changes
// nothing.
func (w *Writer) Restore(s *Snapshot) error {
	e := w.Engine
	if s.Format != SnapshotFormat {
		return fmt.Errorf("snapshot format %d; this build reads %d", s.Format, SnapshotFormat)
	}
	n := s.N
	bad := func(what string, err error) error { return fmt.Errorf("snapshot: %s: %w", what, err) }
	idEnd, err := unblob[uint32](s.IDEnd, n)
	if err != nil {
		return bad("id_end", err)
	}
	lon, err := unblob[int32](s.Lon, n)
	if err != nil {
		return bad("lon", err)
	}
	lat, err := unblob[int32](s.Lat, n)
	if err != nil {
		return bad("lat", err)
	}
	area, err := unblob[uint32](s.Area, n)
	if err != nil {
		return bad("area", err)
	}
	bld, err := unblob[uint32](s.Bld, n)
	if err != nil {
		return bad("bld", err)
	}
	unit, err := unblob[uint32](s.Unit, n)
	if err != nil {
		return bad("unit", err)
	}
	room, err := unblob[uint32](s.Room, n)
	if err != nil {
		return bad("room", err)
	}
	floor, err := unblob[int16](s.Floor, n)
	if err != nil {
		return bad("floor", err)
	}
	dids, err := unblob[uint32](s.DIDs, n)
	if err != nil {
		return bad("dids", err)
	}
	// a bit a dwelling number (the state keeps 4 bytes a number below
	// NextDID anyway; a map of 10 M took a second of a reopen)
	seenDID := make([]uint64, (uint64(s.NextDID)+63)/64)
	for _, d := range dids {
		if d >= s.NextDID || seenDID[d>>6]&(1<<(d&63)) != 0 {
			return bad("dids", fmt.Errorf("dwelling number %d repeated or not below %d", d, s.NextDID))
		}
		seenDID[d>>6] |= 1 << (d & 63)
	}
	nw := (n + 63) >> 6
	if len(s.FlagBitmaps) != len(s.Flags) {
		return bad("flag_bitmaps", fmt.Errorf("%d bitmaps for %d flags", len(s.FlagBitmaps), len(s.Flags)))
	}
	bits := make([]uint64, nw*len(s.Flags))
	for f, data := range s.FlagBitmaps {
		bm, err := readBitmap(data)
		if err != nil {
			return bad("flag_bitmaps", fmt.Errorf("flag %q: %v", s.Flags[f], err))
		}
		if !bm.IsEmpty() && int64(bm.Maximum()) >= int64(n) {
			return bad("flag_bitmaps", fmt.Errorf("flag %q names dwelling %d of %d", s.Flags[f], bm.Maximum(), n))
		}
		copy(bits[f*nw:(f+1)*nw], bm.ToDense())
	}
	if len(s.Areas)%16 != 0 {
		return bad("areas", fmt.Errorf("length %d", len(s.Areas)))
	}
	areas, _ := unblob[areaTuple](s.Areas, len(s.Areas)/16)
	// every reference must point into its table
	var last uint32
	for i := 0; i < n; i++ {
		if idEnd[i] < last || int(idEnd[i]) > len(s.IDs) {
			return bad("ids", fmt.Errorf("id %d out of range", i))
		}
		last = idEnd[i]
		if int(area[i]) >= len(areas) || int(bld[i]) >= len(s.Buildings) || int(unit[i]) >= len(s.Strings) || int(room[i]) >= len(s.Strings) {
			return bad("dwellings", fmt.Errorf("dwelling %d refers outside a table", i))
		}
		if coord.ValidLonLat(coord.FromE7(lon[i]), coord.FromE7(lat[i])) != nil {
			return bad("dwellings", fmt.Errorf("dwelling %d has a bad position", i))
		}
	}
	for l := range s.Units {
		if len(s.Units[l]) == 0 || s.Units[l][0] != "" || len(s.UnitNames[l]) != len(s.Units[l]) {
			return bad("units", fmt.Errorf("level %d table is malformed", l))
		}
	}
	for _, at := range areas {
		for l, u := range at {
			if int(u) >= len(s.Units[l]) {
				return bad("areas", fmt.Errorf("unit %d out of range", u))
			}
		}
	}
	if len(s.Strings) == 0 || s.Strings[0] != "" {
		return bad("strings", fmt.Errorf("table is malformed"))
	}

	// the rows, as a lone batch would give them, then the usual build
	// tables are interned as a load would: each entry must land at its own
	// index (a duplicate would leave references pointing past the table)
	// the snapshot's flags keep their numbers (its history refers to
	// them); a built-in flag it lacks (one written before they were always
	// known) comes after them, clear
	st := newState()
	if err := st.startFlags(s.Flags); err != nil {
		return bad("flags", err)
	}
	for l := range st.levels {
		for u, id := range s.Units[l] {
			if k := st.levels[l].intern(id); int(k) != u {
				return bad("units", fmt.Errorf("level %d: duplicate unit %q", l, id))
			}
			st.levels[l].names[u] = s.UnitNames[l][u]
		}
	}
	for i, at := range areas {
		if int(st.internArea(at)) != i {
			return bad("areas", fmt.Errorf("area %d appears twice", i))
		}
	}
	for i, str := range s.Strings {
		if int(st.strs.intern(str)) != i {
			return bad("strings", fmt.Errorf("string %q appears twice", str))
		}
	}
	seenBld := make(map[string]struct{}, len(s.Buildings))
	for _, b := range s.Buildings {
		if _, dup := seenBld[b]; dup {
			return bad("buildings", fmt.Errorf("building %q appears twice", b))
		}
		seenBld[b] = struct{}{}
	}
	rs := &rowSet{n: n, lon: lon, lat: lat, idEnd: idEnd, idBuf: s.IDs, bkey: bld, area: area, unit: unit, room: room, floor: floor,
		did: dids, keys: strTable{strs: s.Buildings}}
	st.nextDID = s.NextDID
	rs.bits = make([][]uint64, len(s.Flags))
	for f := range rs.bits {
		rs.bits[f] = bits[f*nw : (f+1)*nw]
	}
	hashes := make([]uint64, n)
	for i := range hashes {
		hashes[i] = st.ids.hash(rs.idOf(uint32(i)))
	}
	ids, dups := bulkIDTable(st.ids.seed, hashes, rs.idOf)
	if len(dups) > 0 {
		return bad("ids", fmt.Errorf("id %q appears twice", rs.idOf(dups[0][0])))
	}
	band := s.BandHeight
	if band == 0 {
		band = e.opts.BandHeight
	}
	st.fill(rs, &ids, band)
	gs := make([]orb.MultiPolygon, len(s.Boundaries))
	for i, b := range s.Boundaries {
		if b.Level >= uint8(LevelBuilding) || int(b.Unit) >= len(s.Units[b.Level]) {
			return bad("boundaries", fmt.Errorf("boundary of level %d unit %d", b.Level, b.Unit))
		}
		var mp orb.MultiPolygon
		for _, rings := range b.Polygons {
			var poly orb.Polygon
			for _, flat := range rings {
				ring := make(orb.Ring, 0, len(flat)/2)
				for i := 0; i+1 < len(flat); i += 2 {
					ring = append(ring, orb.Point{flat[i], flat[i+1]})
				}
				poly = append(poly, ring)
			}
			mp = append(mp, poly)
		}
		gs[i] = mp
	}
	for i, ua := range prepareAreas(gs) {
		b := s.Boundaries[i]
		st.addBoundary(Level(b.Level), s.Units[b.Level][b.Unit], s.UnitNames[b.Level][b.Unit], gs[i], ua)
	}
	if len(s.Schemes) > scheme.MaxSchemes {
		return bad("schemes", fmt.Errorf("%d schemes; the limit is %d", len(s.Schemes), scheme.MaxSchemes))
	}
	compiled := map[string]*scheme.Compiled{}
	for name, sc := range s.Schemes {
		c, err := scheme.Compile(name, sc, st.flagLookup)
		if err != nil {
			return bad("schemes", err)
		}
		compiled[name] = c
	}
	// a snapshot without its history says nothing of the changes before
	// it: take it that they were changes up to its version (LastChange)
	hist := history.NewAfter(s.Version, w.opts.Clock().UnixMilli(), s.Version)
	if s.History != nil {
		if hist, err = history.Import(s.History, len(st.areas)); err != nil {
			return bad("history", err)
		}
		if hist.Newest() != s.Version {
			return bad("history", fmt.Errorf("it ends at version %d, the snapshot is of %d", hist.Newest(), s.Version))
		}
	}
	var exp expiries
	for _, x := range s.Expiries {
		f, ok := st.flagIndex[x.Flag]
		if !ok || int(x.DID) >= len(st.slotOf) || st.slotOf[x.DID] < 0 {
			return bad("expiries", fmt.Errorf("an expiry of flag %q of dwelling %d that does not exist", x.Flag, x.DID))
		}
		exp.set(expKey{x.DID, f}, x.Ms)
	}
	rp, err := importResp(s.Assignments, s.Visits)
	if err != nil {
		return bad("assignments", err)
	}
	if err := importRespLog(&rp, s.RespLog, hist.Oldest(), s.Version); err != nil {
		return bad("assignments' history", err)
	}
	schLog, err := importSchemeLog(st, s.SchemeLog, hist.Oldest(), s.Version)
	if err != nil {
		return bad("schemes' history", err)
	}
	camps, err := importCampaigns(st, s.Campaigns)
	if err != nil {
		return bad("campaigns", err)
	}
	w.waitCompaction()
	e.mu.Lock()
	defer e.mu.Unlock()
	e.schemes = compiled
	e.resp, e.camps = rp, camps
	e.schemeLog = schLog
	w.install(st)
	e.version = Version(s.Version)
	e.hist = hist
	e.exp = exp
	w.checkInvariants()
	return nil
}

// readBitmap decodes a roaring bitmap, turning a panic of the decoder on
// malformed bytes into an error.
func readBitmap(data []byte) (bm *roaring.Bitmap, err error) {
	defer func() {
		if p := recover(); p != nil {
			bm, err = nil, fmt.Errorf("malformed bitmap: %v", p)
		}
	}()
	bm = roaring.New()
	return bm, bm.UnmarshalBinary(data)
}
