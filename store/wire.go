package store

import (
	"time"

	"github.com/roomstate/roomstate/engine"
	"github.com/roomstate/roomstate/history"
	"github.com/roomstate/roomstate/scheme"
)

// The store's formats: what a log record and a snapshot file hold, with the
// msgpack keys they are written under. The engine's types carry no encoding
// of their own; these mirror them field by field.

// record is one request in the log (or, from an older build, a scheme put
// without a version: schemes are now changes, engine.OpScheme).
type record struct {
	Version uint64     `msgpack:"v"` // version of its first change
	Ops     []wireOp   `msgpack:"ops,omitempty"`
	Scheme  *schemePut `msgpack:"scheme,omitempty"` // read, no longer written
	Who     *Who       `msgpack:"who,omitempty"`
	Seed    *seedMark  `msgpack:"seed,omitempty"`
}

// seedMark is the first entry of a journal: the node that loaded the state
// the journal starts from, and that state's version. It changes nothing;
// every replica starts from a snapshot that includes it.
type seedMark struct {
	Node    string `msgpack:"node"`
	Version uint64 `msgpack:"version"`
}

// wireOp is an engine.Op in the log.
type wireOp struct {
	Kind  engine.OpKind `msgpack:"k"`
	ID    string        `msgpack:"i"`
	Set   []string      `msgpack:"s,omitempty"`
	Clear []string      `msgpack:"c,omitempty"`
	Put   *wirePut      `msgpack:"p,omitempty"`
	Until int64         `msgpack:"u,omitempty"` // Unix ms
	// changes of no dwelling: ID is the unit's, the building's or the
	// campaign's
	Assign   *wireAssign   `msgpack:"a,omitempty"`
	Visit    *wireVisit    `msgpack:"vi,omitempty"`
	Campaign *wireCampaign `msgpack:"ca,omitempty"`
	Scheme   *wireScheme   `msgpack:"sc,omitempty"` // an OpScheme's; ID is its name
}

// wireAssign is an engine.AssignInput in the log.
type wireAssign struct {
	Level  engine.Level `msgpack:"l"`
	Person string       `msgpack:"p,omitempty"`
	Team   string       `msgpack:"t,omitempty"`
	Phone  string       `msgpack:"ph,omitempty"`
}

// wireVisit is an engine.VisitInput in the log.
type wireVisit struct {
	By   string `msgpack:"b,omitempty"`
	Note string `msgpack:"n,omitempty"`
}

// wireCampaign is an engine.CampaignInput in the log.
type wireCampaign struct {
	Label    string `msgpack:"l,omitempty"`
	Target   string `msgpack:"t"`
	Goal     string `msgpack:"g"`
	Deadline string `msgpack:"d,omitempty"`
}

// wirePut is an engine.DwellingInput in the log.
type wirePut struct {
	Lon       float64  `msgpack:"x"`
	Lat       float64  `msgpack:"y"`
	District  string   `msgpack:"d,omitempty"`
	Street    string   `msgpack:"s,omitempty"`
	Community string   `msgpack:"c,omitempty"`
	Grid      string   `msgpack:"g,omitempty"`
	Building  string   `msgpack:"b,omitempty"`
	Unit      string   `msgpack:"u,omitempty"`
	Floor     int16    `msgpack:"f"`
	Room      string   `msgpack:"r,omitempty"`
	Flags     []string `msgpack:"fl,omitempty"`
	// Expires: flag → Unix ms when it clears itself
	Expires map[string]int64 `msgpack:"e,omitempty"`
}

func toWire(ops []engine.Op) []wireOp {
	out := make([]wireOp, len(ops))
	for i, op := range ops {
		out[i] = wireOp{Kind: op.Kind, ID: op.ID, Set: op.Set, Clear: op.Clear}
		if !op.Until.IsZero() {
			out[i].Until = op.Until.UnixMilli()
		}
		if a := op.Assign; a != nil {
			out[i].Assign = &wireAssign{Level: a.Level, Person: a.Person, Team: a.Team, Phone: a.Phone}
		}
		if v := op.Visit; v != nil {
			out[i].Visit = &wireVisit{By: v.By, Note: v.Note}
		}
		if c := op.Campaign; c != nil {
			out[i].Campaign = &wireCampaign{Label: c.Label, Target: c.Target, Goal: c.Goal, Deadline: c.Deadline}
		}
		if sc := op.Scheme; sc != nil {
			ws := schemeToWire(*sc)
			out[i].Scheme = &ws
		}
		if p := op.Put; p != nil {
			out[i].Put = &wirePut{Lon: p.Lon, Lat: p.Lat, District: p.District, Street: p.Street, Community: p.Community,
				Grid: p.Grid, Building: p.Building, Unit: p.Unit, Floor: p.Floor, Room: p.Room, Flags: p.Flags}
			if len(p.Expires) > 0 {
				out[i].Put.Expires = make(map[string]int64, len(p.Expires))
				for n, t := range p.Expires {
					out[i].Put.Expires[n] = t.UnixMilli()
				}
			}
		}
	}
	return out
}

func fromWire(ops []wireOp) []engine.Op {
	out := make([]engine.Op, len(ops))
	for i, op := range ops {
		out[i] = engine.Op{Kind: op.Kind, ID: op.ID, Set: op.Set, Clear: op.Clear}
		if op.Until != 0 {
			out[i].Until = time.UnixMilli(op.Until)
		}
		if a := op.Assign; a != nil {
			out[i].Assign = &engine.AssignInput{Level: a.Level, Person: a.Person, Team: a.Team, Phone: a.Phone}
		}
		if v := op.Visit; v != nil {
			out[i].Visit = &engine.VisitInput{By: v.By, Note: v.Note}
		}
		if c := op.Campaign; c != nil {
			out[i].Campaign = &engine.CampaignInput{Label: c.Label, Target: c.Target, Goal: c.Goal, Deadline: c.Deadline}
		}
		if ws := op.Scheme; ws != nil {
			sc := schemeFromWire(*ws)
			out[i].Scheme = &sc
		}
		if p := op.Put; p != nil {
			out[i].Put = &engine.DwellingInput{Lon: p.Lon, Lat: p.Lat, District: p.District, Street: p.Street, Community: p.Community,
				Grid: p.Grid, Building: p.Building, Unit: p.Unit, Floor: p.Floor, Room: p.Room, Flags: p.Flags}
			if len(p.Expires) > 0 {
				out[i].Put.Expires = make(map[string]time.Time, len(p.Expires))
				for n, ms := range p.Expires {
					out[i].Put.Expires[n] = time.UnixMilli(ms)
				}
			}
		}
	}
	return out
}

// schemePut is a scheme stored under a name, in the log.
type schemePut struct {
	Name   string
	Scheme scheme.Scheme
}

// wireScheme and wireRule are a scheme as the log and snapshots hold it.
type wireScheme struct {
	Rules   []wireRule `msgpack:"rules"`
	Default wireRule   `msgpack:"default"`
}

type wireRule struct {
	State   string `msgpack:"state"`
	When    string `msgpack:"when,omitempty"`
	Label   string `msgpack:"label"`
	LabelEN string `msgpack:"label_en,omitempty"`
	Color   string `msgpack:"color"`
	Shape   string `msgpack:"shape"`
}

func schemeToWire(sc scheme.Scheme) wireScheme {
	out := wireScheme{Default: wireRule(sc.Default)}
	for _, r := range sc.Rules {
		out.Rules = append(out.Rules, wireRule(r))
	}
	return out
}

func schemeFromWire(ws wireScheme) scheme.Scheme {
	out := scheme.Scheme{Default: scheme.Rule(ws.Default)}
	for _, r := range ws.Rules {
		out.Rules = append(out.Rules, scheme.Rule(r))
	}
	return out
}

// MarshalMsgpack writes a scheme put with the scheme in its wire form.
func (p *schemePut) MarshalMsgpack() ([]byte, error) {
	return msgpackMarshal(struct {
		Name   string     `msgpack:"name"`
		Scheme wireScheme `msgpack:"scheme"`
	}{p.Name, schemeToWire(p.Scheme)})
}

// UnmarshalMsgpack reads a scheme put.
func (p *schemePut) UnmarshalMsgpack(b []byte) error {
	var w struct {
		Name   string     `msgpack:"name"`
		Scheme wireScheme `msgpack:"scheme"`
	}
	if err := msgpackUnmarshal(b, &w); err != nil {
		return err
	}
	p.Name, p.Scheme = w.Name, schemeFromWire(w.Scheme)
	return nil
}

// snapshotFile is an engine.Snapshot as a snapshot file holds it.
type snapshotFile struct {
	Format      int                   `msgpack:"format"`
	Version     uint64                `msgpack:"version"`
	Seq         uint64                `msgpack:"seq,omitempty"` // entries of the journal it includes (replicas)
	N           int                   `msgpack:"n"`
	BandHeight  int32                 `msgpack:"band_height"`
	Flags       []string              `msgpack:"flags"`
	IDs         []byte                `msgpack:"ids"`
	IDEnd       []byte                `msgpack:"id_end"`
	Lon         []byte                `msgpack:"lon"`
	Lat         []byte                `msgpack:"lat"`
	Area        []byte                `msgpack:"area"`
	Bld         []byte                `msgpack:"bld"`
	Unit        []byte                `msgpack:"unit"`
	Room        []byte                `msgpack:"room"`
	Floor       []byte                `msgpack:"floor"`
	DIDs        []byte                `msgpack:"dids"`
	NextDID     uint32                `msgpack:"next_did"`
	FlagBitmaps [][]byte              `msgpack:"flag_bitmaps"`
	Areas       []byte                `msgpack:"areas"`
	Units       [4][]string           `msgpack:"units"`
	UnitNames   [4][]string           `msgpack:"unit_names"`
	Buildings   []string              `msgpack:"buildings"`
	Strings     []string              `msgpack:"strings"`
	Schemes     map[string]wireScheme `msgpack:"schemes"`
	Boundaries  []wireBoundary        `msgpack:"boundaries"`
	History     *wireHistory          `msgpack:"history,omitempty"`
	Expiries    []wireExpiry          `msgpack:"expiries,omitempty"`
	Assignments []wireAssignment      `msgpack:"assignments,omitempty"`
	Visits      []wireLastVisit       `msgpack:"visits,omitempty"`
	Campaigns   []wireCampaignState   `msgpack:"campaigns,omitempty"`
	RespLog     []wireRespChange      `msgpack:"resp_log,omitempty"`   // absent in snapshots before it was kept
	SchemeLog   []wireSchemeChange    `msgpack:"scheme_log,omitempty"` // absent in snapshots before it was kept
	Inputs      []wireInput           `msgpack:"inputs,omitempty"`     // the files loaded into the state (Store.Inputs)
}

// wireAssignment is an assignment in a snapshot.
type wireAssignment struct {
	Level  uint8  `msgpack:"l"`
	ID     string `msgpack:"i"`
	Person string `msgpack:"p"`
	Team   string `msgpack:"t,omitempty"`
	Phone  string `msgpack:"ph,omitempty"`
}

// wireLastVisit is a building's last visit in a snapshot.
type wireLastVisit struct {
	Building string `msgpack:"b"`
	Ms       int64  `msgpack:"t"`
	By       string `msgpack:"by,omitempty"`
	Note     string `msgpack:"n,omitempty"`
}

// wireRespChange is a retained assignment or visit in a snapshot
// (engine.RespChangeRecord).
type wireRespChange struct {
	Ver    uint64 `msgpack:"v"`
	Visit  bool   `msgpack:"visit,omitempty"`
	Level  uint8  `msgpack:"l"`
	ID     string `msgpack:"i"`
	Had    bool   `msgpack:"had,omitempty"`
	Person string `msgpack:"p,omitempty"`
	Team   string `msgpack:"t,omitempty"`
	Phone  string `msgpack:"ph,omitempty"`
	Ms     int64  `msgpack:"ms,omitempty"`
	By     string `msgpack:"by,omitempty"`
	Note   string `msgpack:"n,omitempty"`
}

// wireSchemeChange is a retained scheme put in a snapshot
// (engine.SchemeChangeRecord): Scheme is what it replaced, nil when the
// name was new.
type wireSchemeChange struct {
	Ver    uint64      `msgpack:"v"`
	Name   string      `msgpack:"n"`
	Scheme *wireScheme `msgpack:"sc,omitempty"`
}

// wireCampaignState is a running campaign in a snapshot (engine.CampaignRecord).
type wireCampaignState struct {
	Name      string      `msgpack:"name"`
	Label     string      `msgpack:"label,omitempty"`
	Target    string      `msgpack:"target"`
	Goal      string      `msgpack:"goal"`
	Deadline  string      `msgpack:"deadline,omitempty"`
	Created   int64       `msgpack:"created"`
	Version   uint64      `msgpack:"version"`
	Tasks     []byte      `msgpack:"tasks"`
	Units     [4][]string `msgpack:"units"`
	Tuples    []byte      `msgpack:"tuples"`
	TaskTuple []byte      `msgpack:"task_tuple"`
	Done0     int64       `msgpack:"done0"`
	LogMs     []byte      `msgpack:"log_ms"`
	LogRef    []byte      `msgpack:"log_ref"`
}

// wireExpiry is a pending expiry in a snapshot.
type wireExpiry struct {
	DID  uint32 `msgpack:"d"`
	Flag string `msgpack:"f"`
	Ms   int64  `msgpack:"t"`
}

// wireHistory is the retained change log in a snapshot.
type wireHistory struct {
	First  uint64       `msgpack:"first"`
	Base   uint32       `msgpack:"base"`
	BaseMs int64        `msgpack:"base_ms"`
	Before uint64       `msgpack:"before,omitempty"` // absent in snapshots before it was kept
	Ms     []byte       `msgpack:"ms"`
	DID    []byte       `msgpack:"did"`
	Area   []byte       `msgpack:"area"`
	Low    []byte       `msgpack:"low"`
	Aux    []byte       `msgpack:"aux"`
	Kind   []byte       `msgpack:"kind"`
	Flip   []byte       `msgpack:"flip,omitempty"` // absent in snapshots before it was kept
	Recs   []wireRecord `msgpack:"recs"`
	Highs  [][]uint16   `msgpack:"highs"`
	PtLat  []byte       `msgpack:"pt_lat"`
	PtLon  []byte       `msgpack:"pt_lon"`
	PtIdx  []byte       `msgpack:"pt_idx"`
}

// wireRecord is a dwelling's state before a put or a delete.
type wireRecord struct {
	Exists bool     `msgpack:"e"`
	ID     string   `msgpack:"i"`
	Lon    int32    `msgpack:"x"`
	Lat    int32    `msgpack:"y"`
	Area   uint32   `msgpack:"a"`
	Bld    uint32   `msgpack:"b"`
	Unit   uint32   `msgpack:"u"`
	Room   uint32   `msgpack:"r"`
	Floor  int16    `msgpack:"f"`
	Low    uint64   `msgpack:"l"`
	High   []uint16 `msgpack:"h,omitempty"`
}

func historyToWire(h *history.State) *wireHistory {
	if h == nil {
		return nil
	}
	w := &wireHistory{First: h.First, Base: h.Base, BaseMs: h.BaseMs, Before: h.Before, Ms: h.Ms, DID: h.DID, Area: h.Area, Low: h.Low,
		Aux: h.Aux, Kind: h.Kind, Flip: h.Flip, Highs: h.Highs, PtLat: h.PtLat, PtLon: h.PtLon, PtIdx: h.PtIdx}
	w.Recs = make([]wireRecord, len(h.Recs))
	for i, r := range h.Recs {
		w.Recs[i] = wireRecord(r)
	}
	return w
}

func historyFromWire(w *wireHistory) *history.State {
	if w == nil {
		return nil
	}
	h := &history.State{First: w.First, Base: w.Base, BaseMs: w.BaseMs, Before: w.Before, Ms: w.Ms, DID: w.DID, Area: w.Area, Low: w.Low,
		Aux: w.Aux, Kind: w.Kind, Flip: w.Flip, Highs: w.Highs, PtLat: w.PtLat, PtLon: w.PtLon, PtIdx: w.PtIdx}
	h.Recs = make([]history.Record, len(w.Recs))
	for i, r := range w.Recs {
		h.Recs[i] = history.Record(r)
	}
	return h
}

type wireBoundary struct {
	Level    uint8         `msgpack:"level"`
	Unit     uint32        `msgpack:"unit"`
	Polygons [][][]float64 `msgpack:"polygons"`
}

func snapshotToFile(s *engine.Snapshot) *snapshotFile {
	f := &snapshotFile{Format: s.Format, Version: s.Version, N: s.N, BandHeight: s.BandHeight, Flags: s.Flags,
		IDs: s.IDs, IDEnd: s.IDEnd, Lon: s.Lon, Lat: s.Lat, Area: s.Area, Bld: s.Bld, Unit: s.Unit, Room: s.Room,
		Floor: s.Floor, DIDs: s.DIDs, NextDID: s.NextDID, FlagBitmaps: s.FlagBitmaps, Areas: s.Areas, Units: s.Units, UnitNames: s.UnitNames,
		Buildings: s.Buildings, Strings: s.Strings, Schemes: map[string]wireScheme{}, History: historyToWire(s.History)}
	for _, x := range s.Expiries {
		f.Expiries = append(f.Expiries, wireExpiry(x))
	}
	for _, a := range s.Assignments {
		f.Assignments = append(f.Assignments, wireAssignment(a))
	}
	for _, v := range s.Visits {
		f.Visits = append(f.Visits, wireLastVisit(v))
	}
	for _, c := range s.Campaigns {
		f.Campaigns = append(f.Campaigns, wireCampaignState(c))
	}
	for _, c := range s.RespLog {
		f.RespLog = append(f.RespLog, wireRespChange(c))
	}
	for _, c := range s.SchemeLog {
		wc := wireSchemeChange{Ver: c.Ver, Name: c.Name}
		if c.Had {
			ws := schemeToWire(c.Scheme)
			wc.Scheme = &ws
		}
		f.SchemeLog = append(f.SchemeLog, wc)
	}
	for n, sc := range s.Schemes {
		f.Schemes[n] = schemeToWire(sc)
	}
	for _, b := range s.Boundaries {
		f.Boundaries = append(f.Boundaries, wireBoundary(b))
	}
	return f
}

func snapshotFromFile(f *snapshotFile) *engine.Snapshot {
	s := &engine.Snapshot{Format: f.Format, Version: f.Version, N: f.N, BandHeight: f.BandHeight, Flags: f.Flags,
		IDs: f.IDs, IDEnd: f.IDEnd, Lon: f.Lon, Lat: f.Lat, Area: f.Area, Bld: f.Bld, Unit: f.Unit, Room: f.Room,
		Floor: f.Floor, DIDs: f.DIDs, NextDID: f.NextDID, FlagBitmaps: f.FlagBitmaps, Areas: f.Areas, Units: f.Units, UnitNames: f.UnitNames,
		Buildings: f.Buildings, Strings: f.Strings, Schemes: map[string]scheme.Scheme{}, History: historyFromWire(f.History)}
	for _, x := range f.Expiries {
		s.Expiries = append(s.Expiries, engine.Expiry(x))
	}
	for _, a := range f.Assignments {
		s.Assignments = append(s.Assignments, engine.AssignmentRecord(a))
	}
	for _, v := range f.Visits {
		s.Visits = append(s.Visits, engine.VisitRecord(v))
	}
	for _, c := range f.Campaigns {
		s.Campaigns = append(s.Campaigns, engine.CampaignRecord(c))
	}
	for _, c := range f.RespLog {
		s.RespLog = append(s.RespLog, engine.RespChangeRecord(c))
	}
	for _, c := range f.SchemeLog {
		r := engine.SchemeChangeRecord{Ver: c.Ver, Name: c.Name}
		if c.Scheme != nil {
			r.Had, r.Scheme = true, schemeFromWire(*c.Scheme)
		}
		s.SchemeLog = append(s.SchemeLog, r)
	}
	for n, sc := range f.Schemes {
		s.Schemes[n] = schemeFromWire(sc)
	}
	for _, b := range f.Boundaries {
		s.Boundaries = append(s.Boundaries, engine.SnapshotBoundary(b))
	}
	return s
}
