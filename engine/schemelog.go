package engine

import (
	"fmt"
	"sort"

	"github.com/roomstate/roomstate/fault"
	"github.com/roomstate/roomstate/scheme"
)

// Schemes as of a past version. A scheme put is a change with a version
// (OpScheme); an answer as of an earlier version colours the map by the
// scheme as it was then. As with assignments and visits (resp.log), every
// retained scheme put is kept with the definition it replaced; an answer
// as of version V takes, for a name, the definition the first put of that
// name after V replaced (none: the scheme did not exist then), or the
// current one when the name was not put since. Those at or before the
// history's oldest version go (trimSchemes). In snapshots.

// schemeChange is one retained put of scheme name, at version ver, with
// the compiled scheme it replaced (nil: the name was new).
type schemeChange struct {
	ver  Version
	name string
	had  *scheme.Compiled
}

// logScheme keeps the put of scheme name that is about to be applied,
// with what it replaces. Caller is the writer, holding the write lock.
func (w *Writer) logScheme(name string, ver Version) {
	e := w.Engine
	e.schemeLog = append(e.schemeLog, schemeChange{ver: ver, name: name, had: e.schemes[name]})
}

// trimSchemes drops the logged scheme puts no answer as of a retained
// version undoes: those at or before the history's oldest version. It
// copies what it keeps, so that a frozen view of the log stays as it was.
// Caller is the writer, holding the write lock.
func (w *Writer) trimSchemes() {
	e := w.Engine
	log, oldest := e.schemeLog, Version(e.hist.Oldest())
	if n := sort.Search(len(log), func(i int) bool { return log[i].ver > oldest }); n > 0 {
		e.schemeLog = append([]schemeChange(nil), log[n:]...)
	}
}

// schemeThen returns the scheme named name as of version v, a past
// version that resolve accepted, or a fault.NotFound when there was no
// such scheme then (it was made later). Caller holds the read lock.
func (e *Engine) schemeThen(name string, v Version) (*scheme.Compiled, error) {
	log := e.schemeLog
	for _, c := range log[sort.Search(len(log), func(i int) bool { return log[i].ver > v }):] {
		if c.name == name {
			// the first put of the name after v replaced what it was at v
			if c.had == nil {
				return nil, fault.New(fault.NotFound, "scheme %q not found as of version %d (it was made at version %d)", name, v, c.ver)
			}
			return c.had, nil
		}
	}
	return e.schemeNamed(name)
}

// schemeAsOf returns the scheme named name as the answer as of v shows it
// (isPast as resolve tells). Caller holds the read lock.
func (e *Engine) schemeAsOf(name string, v Version, isPast bool) (*scheme.Compiled, error) {
	if !isPast {
		return e.schemeNamed(name)
	}
	return e.schemeThen(name, v)
}

// SchemeAsOf returns the named scheme as of at, and the version that is:
// the definition an answer as of at colours by. A name unknown then is a
// fault.NotFound, as an unknown name now is; at before the retained
// history is a fault.HistoryGone unless the name is unknown now.
func (e *Engine) SchemeAsOf(name string, at AsOf) (scheme.Scheme, Version, error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if _, err := e.schemeNamed(name); err != nil {
		return scheme.Scheme{}, 0, err
	}
	v, isPast, err := e.resolve(at)
	if err != nil {
		return scheme.Scheme{}, 0, err
	}
	sc, err := e.schemeAsOf(name, v, isPast)
	if err != nil {
		return scheme.Scheme{}, 0, err
	}
	return sc.Def, v, nil
}

// recompileSchemeLog compiles the logged schemes again against the flags
// of a new state, as install does with the current ones. Caller is the
// writer, holding the write lock.
func (w *Writer) recompileSchemeLog() {
	e := w.Engine
	var out []schemeChange
	for i, c := range e.schemeLog {
		if c.had == nil {
			continue
		}
		if nc, err := scheme.Compile(c.name, c.had.Def, e.st.flagLookup); err == nil {
			if out == nil {
				out = append([]schemeChange(nil), e.schemeLog...) // a frozen view keeps the old
			}
			out[i].had = nc
		}
	}
	if out != nil {
		e.schemeLog = out
	}
}

// SchemeChangeRecord is a retained scheme put in a snapshot: at version
// Ver, scheme Name was put; Scheme is what it replaced (Had false: the
// name was new).
type SchemeChangeRecord struct {
	Ver    uint64
	Name   string
	Had    bool
	Scheme scheme.Scheme
}

// exportSchemeLog lists the retained scheme puts, by version. Caller holds
// the lock.
func (e *Engine) exportSchemeLog() []SchemeChangeRecord {
	out := make([]SchemeChangeRecord, len(e.schemeLog))
	for i, c := range e.schemeLog {
		out[i] = SchemeChangeRecord{Ver: uint64(c.ver), Name: c.name}
		if c.had != nil {
			out[i].Had, out[i].Scheme = true, c.had.Def
		}
	}
	return out
}

// importSchemeLog reads a snapshot's retained scheme puts, compiling what
// each replaced against st's flags: versions in order, at most newest;
// those at or before oldest (which no answer undoes) are left out.
func importSchemeLog(st *state, log []SchemeChangeRecord, oldest, newest uint64) ([]schemeChange, error) {
	var out []schemeChange
	prev := uint64(0)
	for _, c := range log {
		// a scheme put outside any change (PutScheme) shares the version
		// of the change before it
		if c.Ver < prev || c.Ver > newest {
			return nil, fmt.Errorf("a put of scheme %q of version %d out of order (after %d, up to %d)", c.Name, c.Ver, prev, newest)
		}
		prev = c.Ver
		if !scheme.ValidName(c.Name) {
			return nil, fmt.Errorf("a put of scheme %q at version %d: not a scheme's name", c.Name, c.Ver)
		}
		if c.Ver <= oldest {
			continue
		}
		sc := schemeChange{ver: Version(c.Ver), name: c.Name}
		if c.Had {
			cc, err := scheme.Compile(c.Name, c.Scheme, st.flagLookup)
			if err != nil {
				return nil, fmt.Errorf("scheme %q before version %d: %w", c.Name, c.Ver, err)
			}
			sc.had = cc
		}
		out = append(out, sc)
	}
	return out, nil
}
