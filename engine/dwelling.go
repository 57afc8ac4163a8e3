package engine

import (
	"time"

	"github.com/roomstate/roomstate/coord"
	"github.com/roomstate/roomstate/fault"
)

// Dwelling is one dwelling's record as the API shows it.
type Dwelling struct {
	ID        string
	Lon, Lat  float64
	District  string
	Street    string
	Community string
	Grid      string
	Building  string
	Unit      string
	Floor     int16 // NoFloor when unknown
	Room      string
	Flags     []string
	// Expires lists the flags that clear themselves, and when.
	Expires map[string]time.Time
	Version Version
}

// Dwelling returns the record of a dwelling, or a *NotFoundError.
func (e *Engine) Dwelling(id string) (*Dwelling, error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	st := e.st
	p, ok := st.lookup(id)
	if !ok {
		return nil, fault.New(fault.NotFound, "dwelling %q not found", id)
	}
	d := st.dwelling(p)
	d.Expires = e.expiresOf(st, st.did[p])
	d.Version = e.version
	return d, nil
}

func (st *state) dwelling(p uint32) *Dwelling {
	at := st.areas[st.area[p]]
	d := &Dwelling{
		ID: st.idOf(p), Lon: coord.FromE7(st.lon[p]), Lat: coord.FromE7(st.lat[p]),
		District: st.levels[LevelDistrict].ids[at[LevelDistrict]], Street: st.levels[LevelStreet].ids[at[LevelStreet]],
		Community: st.levels[LevelCommunity].ids[at[LevelCommunity]], Grid: st.levels[LevelGrid].ids[at[LevelGrid]],
		Building: st.blds[st.bld[p]].id, Unit: st.strs.strs[st.unit[p]], Floor: st.floor[p], Room: st.strs.strs[st.room[p]],
		Flags: []string{},
	}
	for _, f := range st.flagsOf(p) {
		d.Flags = append(d.Flags, st.flagNames[f])
	}
	return d
}
