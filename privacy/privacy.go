// Package privacy is the one disclosure policy of roomstate: it turns the
// exact counts of an answer into the counts a caller may be shown. Every
// encoder of counts (JSON answers, vector tiles, the change feed, exports)
// takes its figures from a Policy, so that a viewer's answer cannot be built
// around it.
//
// A Policy with k > 0 (a viewer's) withholds every count from 1 to k−1, so
// that a wall screen never singles out a household. A zero Policy shows
// every count exactly (analysts and above).
//
// It knows counts and their relations, nothing of where they come from or
// how they are written.
package privacy

// Policy decides what of a count a caller may see. The zero Policy shows
// everything.
type Policy struct {
	k int64
}

// ForK returns the policy that withholds counts from 1 to k−1; k ≤ 1 shows
// everything.
func ForK(k int) Policy {
	if k <= 1 {
		return Policy{}
	}
	return Policy{k: int64(k)}
}

// Exact reports whether the policy shows every count as it is.
func (p Policy) Exact() bool { return p.k == 0 }

// K is the smallest non-zero count the policy shows (0 when exact).
func (p Policy) K() int64 { return p.k }

// Value is a count as shown: N, or nothing when Withheld.
type Value struct {
	N        int64
	Withheld bool
}

// Counts are an aggregate's figures as shown: dwellings, those matching
// `where`, and per flag those matched carrying it.
type Counts struct {
	Total, Matched Value
	Flags          []Value
}

// Withheld reports whether any figure of c is withheld.
func (c *Counts) Withheld() bool {
	if c.Total.Withheld || c.Matched.Withheld {
		return true
	}
	for _, f := range c.Flags {
		if f.Withheld {
			return true
		}
	}
	return false
}

// Value shows one count.
func (p Policy) Value(n int64) Value {
	if p.k > 0 && n > 0 && n < p.k {
		return Value{Withheld: true}
	}
	return Value{N: n}
}

// Counts shows an aggregate's figures: total, matched and per flag.
func (p Policy) Counts(total, matched int64, flags []int64) Counts {
	c := Counts{Total: p.Value(total), Matched: p.Value(matched), Flags: make([]Value, len(flags))}
	for i, f := range flags {
		c.Flags[i] = p.Value(f)
	}
	return c
}

// ShowsState reports whether a map may show that a building is in a state
// held by n of its dwellings (its colour tells that n ≥ 1).
func (p Policy) ShowsState(n int64) bool { return !p.Value(n).Withheld }

// EventDetail reports whether change events may name the dwelling and its
// flags (for a viewer they carry only what changed where, not who).
func (p Policy) EventDetail() bool { return p.k == 0 }
