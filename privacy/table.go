package privacy

// Disclosure control of a table of counts, as statistical offices do it
// (primary, complementary and secondary suppression; see sdcTable or
// τ-ARGUS): the aim is that no count from 1 to k−1 can be obtained by adding
// or subtracting counts the table shows.
//
// A Table is rows of counts in a hierarchy (each row's counts are the sums
// of its children's, as a district's are its streets') and, within a row,
// columns that are subsets of others (dwellings matching `where` are a
// subset of all dwellings; those of them with a flag a subset of those).
// Protect decides which cells to withhold:
//
//  1. primary: a count from 1 to k−1;
//  2. complementary: a count whose superset minus it is from 1 to k−1 (the
//     dwellings not matching, say), when the superset is shown;
//  3. secondary: for each row and column, what its children withhold must
//     not be recoverable: with the row shown, the withheld children's sum
//     (the row minus the shown children) must be 0 or at least k, and not
//     come from a single child; with the row withheld, not every non-zero
//     child may be shown (their sum would give it back). Where this fails,
//     the smallest shown non-zero child is withheld too, or, when there is
//     none, the row itself — until every row holds.
//
// Rows a caller must never show whole (a building spread over two grids,
// whose parts are not published) are marked Hidden: every count withheld.
// Protect only ever withholds more, so it ends.

// Table is counts in a hierarchy.
type Table struct {
	// Super lists, per column, the columns that are its supersets in the
	// same row (for the complementary rule).
	Super [][]int
	Rows  []Row
}

// Row is one row of a table: its parent (-1 for a root), its counts (one
// per column) and whether it is hidden whole.
type Row struct {
	Parent int32
	Vals   []int64
	Hidden bool
}

// Mask says which cells of a table are withheld: Mask[row][col].
type Mask [][]bool

// Protect returns the cells of t to withhold under p. An exact policy
// withholds nothing.
func (p Policy) Protect(t *Table) Mask {
	m := make(Mask, len(t.Rows))
	for i := range m {
		m[i] = make([]bool, len(t.Rows[i].Vals))
	}
	if p.Exact() {
		return m
	}
	small := func(v int64) bool { return v > 0 && v < p.k }
	// primary and complementary
	for i, r := range t.Rows {
		for c, v := range r.Vals {
			w := r.Hidden || small(v)
			for _, s := range t.Super[c] {
				w = w || small(r.Vals[s]-v)
			}
			m[i][c] = w
		}
	}
	// children of each row
	kids := make([][]int32, len(t.Rows))
	for i, r := range t.Rows {
		if r.Parent >= 0 {
			kids[r.Parent] = append(kids[r.Parent], int32(i))
		}
	}
	// secondary, to a fixed point: a row's fix may break its parent's
	for changed := true; changed; {
		changed = false
		for i := range t.Rows {
			if len(kids[i]) == 0 {
				continue
			}
			for c := range t.Rows[i].Vals {
				for !p.holds(t, m, kids[i], i, c) {
					if j := smallestShown(t, m, kids[i], c); j >= 0 {
						m[j][c] = true
					} else {
						m[i][c] = true
					}
					changed = true
				}
			}
		}
	}
	return m
}

// holds reports whether row i's children keep what they withhold in column
// c: see the rules above.
func (p Policy) holds(t *Table, m Mask, kids []int32, i, c int) bool {
	var sum int64
	withheld, shown := 0, 0
	for _, j := range kids {
		v := t.Rows[j].Vals[c]
		if v == 0 {
			continue
		}
		if m[j][c] {
			sum += v
			withheld++
		} else {
			shown++
		}
	}
	if m[i][c] {
		return withheld > 0 || shown == 0
	}
	return withheld == 0 || withheld >= 2 && sum >= p.k
}

// smallestShown returns the shown child with the smallest non-zero count in
// column c, -1 when none.
func smallestShown(t *Table, m Mask, kids []int32, c int) int32 {
	best := int32(-1)
	for _, j := range kids {
		v := t.Rows[j].Vals[c]
		if v == 0 || m[j][c] {
			continue
		}
		if best < 0 || v < t.Rows[best].Vals[c] {
			best = j
		}
	}
	return best
}

// Cell shows one cell of a protected table.
func (m Mask) Cell(t *Table, row, col int) Value {
	if m[row][col] {
		return Value{Withheld: true}
	}
	return Value{N: t.Rows[row].Vals[col]}
}
