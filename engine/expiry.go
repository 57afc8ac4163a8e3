package engine

import (
	"slices"
	"time"
)

// Expiries: a change that sets flags may say until when (Op.Until), and a
// whole record (OpPut) when each of its flags does (DwellingInput.Expires);
// at that time the flags clear themselves, as a change of the server's own.
// The writer keeps, per dwelling and flag, when it is due; setting the flag
// again without until, clearing it, replacing the dwelling without an
// expiry for it, or deleting the dwelling drops it. The store asks the writer what is due (DueExpiries) and submits
// it like any other request, so that it is logged, audited and published.

// expKey names one flag of one dwelling.
type expKey struct {
	did  uint32
	flag FlagID
}

// expiries is the writer's table of pending expiries. Guarded by the
// engine's lock (written by the writer, read by readers of a dwelling).
type expiries struct {
	due  map[expKey]int64 // Unix ms
	next int64            // earliest of due, or less (0: unknown)
}

func (x *expiries) set(k expKey, ms int64) {
	if x.due == nil {
		x.due = map[expKey]int64{}
	}
	x.due[k] = ms
	if x.next != 0 && ms < x.next { // 0: unknown, recomputed when asked
		x.next = ms
	}
}

func (x *expiries) drop(k expKey) {
	if _, ok := x.due[k]; ok {
		delete(x.due, k)
		x.next = 0
	}
}

// dropDwelling drops every expiry of a dwelling.
func (x *expiries) dropDwelling(did uint32, nf int) {
	if len(x.due) == 0 {
		return
	}
	for f := 0; f < nf; f++ {
		x.drop(expKey{did, FlagID(f)})
	}
}

// earliest returns the earliest due time (ok false when none).
func (x *expiries) earliest() (int64, bool) {
	if len(x.due) == 0 {
		return 0, false
	}
	if x.next == 0 {
		first := true
		for _, ms := range x.due {
			if first || ms < x.next {
				x.next, first = ms, false
			}
		}
	}
	return x.next, true
}

// expire records what op does to the dwelling's expiries. Caller is the
// writer, after applying op to the dwelling did.
func (w *Writer) expire(st *state, op *Op, did uint32) {
	x := &w.exp
	switch op.Kind {
	case OpFlags:
		for _, n := range op.Set {
			k := expKey{did, st.flagIndex[n]}
			if op.Until.IsZero() {
				x.drop(k)
			} else {
				x.set(k, op.Until.UnixMilli())
			}
		}
		for _, n := range op.Clear {
			x.drop(expKey{did, st.flagIndex[n]})
		}
	case OpPut:
		x.dropDwelling(did, st.nFlags())
		for n, t := range op.Put.Expires {
			x.set(expKey{did, st.flagIndex[n]}, t.UnixMilli())
		}
	case OpDelete:
		x.dropDwelling(did, st.nFlags())
	}
}

// NextExpiry returns when the earliest pending expiry falls due.
func (w *Writer) NextExpiry() (time.Time, bool) {
	ms, ok := w.exp.earliest()
	return time.UnixMilli(ms), ok
}

// DueExpiries returns the changes that clear the flags due at or before t:
// one per dwelling, in dwelling order. Applying them drops the expiries.
func (w *Writer) DueExpiries(t time.Time) []Op {
	ms := t.UnixMilli()
	if next, ok := w.exp.earliest(); !ok || next > ms {
		return nil
	}
	st := w.st
	byDID := map[uint32][]string{}
	for k, due := range w.exp.due {
		if due <= ms {
			byDID[k.did] = append(byDID[k.did], st.flagNames[k.flag])
		}
	}
	dids := make([]uint32, 0, len(byDID))
	for d := range byDID {
		dids = append(dids, d)
	}
	slices.Sort(dids)
	var ops []Op
	for _, d := range dids {
		if int(d) >= len(st.slotOf) || st.slotOf[d] < 0 {
			continue // cannot happen: a delete drops them
		}
		flags := byDID[d]
		slices.Sort(flags)
		ops = append(ops, Op{Kind: OpFlags, ID: st.idOf(uint32(st.slotOf[d])), Clear: flags})
	}
	return ops
}

// expiresOf returns a dwelling's pending expiries by flag name. Caller
// holds the read lock.
func (e *Engine) expiresOf(st *state, did uint32) map[string]time.Time {
	var out map[string]time.Time
	if len(e.exp.due) == 0 {
		return nil
	}
	for f := range st.flagNames {
		if ms, ok := e.exp.due[expKey{did, FlagID(f)}]; ok {
			if out == nil {
				out = map[string]time.Time{}
			}
			out[st.flagNames[f]] = time.UnixMilli(ms)
		}
	}
	return out
}

// Expiry is a pending expiry in a snapshot.
type Expiry struct {
	DID  uint32
	Flag string
	Ms   int64
}

// exportExpiries lists the pending expiries, in a stable order.
func (e *Engine) exportExpiries(st *state) []Expiry {
	out := make([]Expiry, 0, len(e.exp.due))
	for k, ms := range e.exp.due {
		out = append(out, Expiry{DID: k.did, Flag: st.flagNames[k.flag], Ms: ms})
	}
	slices.SortFunc(out, func(a, b Expiry) int {
		if a.DID != b.DID {
			return int(a.DID) - int(b.DID)
		}
		return cmpString(a.Flag, b.Flag)
	})
	return out
}
