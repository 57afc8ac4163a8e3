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
	// Parts lists, per column, the columns of the same row it is the sum
	// of (nil for most): a campaign's tasks are those done, remaining and
	// removed. The secondary rule holds between a column and its parts as
	// between a row and its children.
	Parts [][]int
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
	// secondary, to a fixed point: a row's fix may break its parent's, a
	// column's its sum's
	var parts []cell
	for changed := true; changed; {
		changed = false
		for i := range t.Rows {
			for c := range t.Rows[i].Vals {
				if len(kids[i]) > 0 {
					parts = parts[:0]
					for _, j := range kids[i] {
						parts = append(parts, cell{int(j), c})
					}
					changed = p.secure(t, m, cell{i, c}, parts) || changed
				}
				if c < len(t.Parts) && len(t.Parts[c]) > 0 {
					parts = parts[:0]
					for _, pc := range t.Parts[c] {
						parts = append(parts, cell{i, pc})
					}
					changed = p.secure(t, m, cell{i, c}, parts) || changed
				}
			}
		}
	}
	return m
}

// cell is a table cell: row and column.
type cell struct{ row, col int }

// secure withholds cells until the sum cell and its parts hold (see
// holds): the smallest shown non-zero part, or when there is none the sum
// itself. It reports whether it withheld anything.
func (p Policy) secure(t *Table, m Mask, sum cell, parts []cell) bool {
	changed := false
	for !p.holds(t, m, sum, parts) {
		best := -1
		for k, x := range parts {
			v := t.Rows[x.row].Vals[x.col]
			if v == 0 || m[x.row][x.col] {
				continue
			}
			if best < 0 || v < t.Rows[parts[best].row].Vals[parts[best].col] {
				best = k
			}
		}
		if best >= 0 {
			m[parts[best].row][parts[best].col] = true
		} else {
			m[sum.row][sum.col] = true
		}
		changed = true
	}
	return changed
}

// holds reports whether the parts of a sum cell (a row's children in one
// column, or a column's parts in one row) keep what they withhold: with
// the sum shown, the withheld parts must be none, or at least two summing
// to k or more; with the sum withheld, not every non-zero part may be
// shown (their sum would give it back).
func (p Policy) holds(t *Table, m Mask, sum cell, parts []cell) bool {
	var total int64
	withheld, shown := 0, 0
	for _, x := range parts {
		v := t.Rows[x.row].Vals[x.col]
		if v == 0 {
			continue
		}
		if m[x.row][x.col] {
			total += v
			withheld++
		} else {
			shown++
		}
	}
	if m[sum.row][sum.col] {
		return withheld > 0 || shown == 0
	}
	return withheld == 0 || withheld >= 2 && total >= p.k
}

// Cell shows one cell of a protected table.
func (m Mask) Cell(t *Table, row, col int) Value {
	if m[row][col] {
		return Value{Withheld: true}
	}
	return Value{N: t.Rows[row].Vals[col]}
}
