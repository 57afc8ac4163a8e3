package privacy

import (
	"math/rand/v2"
	"testing"

	"github.com/roomstate/roomstate/internal/testseed"
)

// randomTable makes a three-level hierarchy (root, units, leaves) whose
// rows are sums of their children, with columns total ⊇ matched ⊇ flag.
func randomTable(rng *rand.Rand) *Table {
	t := &Table{Super: [][]int{nil, {0}, {0, 1}}}
	t.Rows = append(t.Rows, Row{Parent: -1, Vals: make([]int64, 3)})
	units := 1 + rng.IntN(6)
	for u := 0; u < units; u++ {
		ui := int32(len(t.Rows))
		t.Rows = append(t.Rows, Row{Parent: 0, Vals: make([]int64, 3)})
		for l := 0; l < rng.IntN(6); l++ {
			total := int64(rng.IntN(12))
			if rng.IntN(3) == 0 {
				total = int64(rng.IntN(200))
			}
			matched := total - int64(rng.IntN(int(min(total, 3))+1))
			flag := matched - int64(rng.IntN(int(min(matched, 3))+1))
			if rng.IntN(2) == 0 {
				matched, flag = int64(rng.IntN(int(total)+1)), 0
			}
			leaf := Row{Parent: ui, Vals: []int64{total, matched, flag}, Hidden: rng.IntN(15) == 0}
			t.Rows = append(t.Rows, leaf)
			for c := range leaf.Vals {
				t.Rows[ui].Vals[c] += leaf.Vals[c]
				t.Rows[0].Vals[c] += leaf.Vals[c]
			}
		}
	}
	return t
}

// TestProtectHolds checks the rules on random tables: no shown count from 1
// to k−1, no shown superset minus a shown subset from 1 to k−1, hidden
// rows withheld whole, and for every row the withheld children neither
// give back a single count nor a small sum.
func TestProtectHolds(t *testing.T) {
	rng := rand.New(rand.NewPCG(testseed.Get(t), 3))
	p := ForK(3)
	for n := 0; n < 3000; n++ {
		tb := randomTable(rng)
		m := p.Protect(tb)
		kids := map[int][]int{}
		for i, r := range tb.Rows {
			if r.Parent >= 0 {
				kids[int(r.Parent)] = append(kids[int(r.Parent)], i)
			}
		}
		for i, r := range tb.Rows {
			for c, v := range r.Vals {
				if m[i][c] {
					continue
				}
				if r.Hidden {
					t.Fatalf("table %d row %d: a hidden row shows column %d", n, i, c)
				}
				if v > 0 && v < 3 {
					t.Fatalf("table %d row %d col %d: shows %d", n, i, c, v)
				}
				for _, s := range tb.Super[c] {
					if d := r.Vals[s] - v; !m[i][s] && d > 0 && d < 3 {
						t.Fatalf("table %d row %d: columns %d and %d are shown and differ by %d", n, i, s, c, d)
					}
				}
			}
			for c := range r.Vals {
				var sum int64
				withheld, shown := 0, 0
				for _, j := range kids[i] {
					v := tb.Rows[j].Vals[c]
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
				if len(kids[i]) == 0 {
					continue
				}
				if !m[i][c] && (withheld == 1 || withheld > 1 && sum < 3) {
					t.Fatalf("table %d row %d col %d: shown, and its children withhold %d counts summing to %d", n, i, c, withheld, sum)
				}
				if m[i][c] && withheld == 0 && shown > 0 {
					t.Fatalf("table %d row %d col %d: withheld, and its children show it", n, i, c)
				}
			}
		}
	}
}

// The attack of the hostile test: a building of 144 dwellings, 1 isolated.
// where=!isolated matches 143: shown, it gives back the one (144 − 143).
func TestComplementIsWithheld(t *testing.T) {
	tb := &Table{Super: [][]int{nil, {0}}, Rows: []Row{{Parent: -1, Vals: []int64{144, 143}}}}
	m := ForK(3).Protect(tb)
	if m[0][0] || !m[0][1] {
		t.Fatalf("mask %v: want the total shown and matched withheld", m)
	}
	if m := (Policy{}).Protect(tb); m[0][1] {
		t.Fatal("an exact policy withheld a count")
	}
}

// A parent minus its shown children: three grids of 40, 41 and 2; the 2 is
// withheld, so one more grid must be.
func TestParentMinusChildren(t *testing.T) {
	tb := &Table{Super: [][]int{nil}, Rows: []Row{{Parent: -1, Vals: []int64{83}},
		{Parent: 0, Vals: []int64{40}}, {Parent: 0, Vals: []int64{41}}, {Parent: 0, Vals: []int64{2}}}}
	m := ForK(3).Protect(tb)
	if !m[3][0] || !m[1][0] || m[2][0] || m[0][0] {
		t.Fatalf("mask %v: want the 2 and the 40 withheld, the 41 and the total shown", m)
	}
}

// campaignTable makes a hierarchy like randomTable's whose columns are a
// campaign's: tasks = done + remaining + removed.
func campaignTable(rng *rand.Rand) *Table {
	t := &Table{Super: [][]int{nil, {0}, {0}, {0}}, Parts: [][]int{{1, 2, 3}}}
	t.Rows = append(t.Rows, Row{Parent: -1, Vals: make([]int64, 4)})
	units := 1 + rng.IntN(6)
	for u := 0; u < units; u++ {
		ui := int32(len(t.Rows))
		t.Rows = append(t.Rows, Row{Parent: 0, Vals: make([]int64, 4)})
		for l := 0; l < rng.IntN(6); l++ {
			v := []int64{0, int64(rng.IntN(8)), int64(rng.IntN(8)), int64(rng.IntN(3))}
			if rng.IntN(3) == 0 {
				v[1] = int64(rng.IntN(100))
			}
			v[0] = v[1] + v[2] + v[3]
			t.Rows = append(t.Rows, Row{Parent: ui, Vals: v})
			for c := range v {
				t.Rows[ui].Vals[c] += v[c]
				t.Rows[0].Vals[c] += v[c]
			}
		}
	}
	return t
}

// recovered runs the attack of someone who knows the table's sums: every
// relation (a row is its children's sum in each column, a column its
// parts' sum in each row) with one unknown term gives it back, and what
// comes back is known for the next relation, to a fixed point. It returns
// a withheld cell from 1 to k−1 so recovered, if any.
func recovered(tb *Table, m Mask, k int64) (row, col int, ok bool) {
	known := make([][]bool, len(m))
	for i := range m {
		known[i] = make([]bool, len(m[i]))
		for c := range m[i] {
			known[i][c] = !m[i][c]
		}
	}
	var rels [][]cell // sum first, then its parts
	kids := map[int][]int{}
	for i, r := range tb.Rows {
		if r.Parent >= 0 {
			kids[int(r.Parent)] = append(kids[int(r.Parent)], i)
		}
	}
	for i, r := range tb.Rows {
		for c := range r.Vals {
			if ks := kids[i]; len(ks) > 0 {
				rel := []cell{{i, c}}
				for _, j := range ks {
					rel = append(rel, cell{j, c})
				}
				rels = append(rels, rel)
			}
			if c < len(tb.Parts) && len(tb.Parts[c]) > 0 {
				rel := []cell{{i, c}}
				for _, pc := range tb.Parts[c] {
					rel = append(rel, cell{i, pc})
				}
				rels = append(rels, rel)
			}
		}
	}
	for changed := true; changed; {
		changed = false
		for _, rel := range rels {
			unknown := -1
			n := 0
			for x, cl := range rel {
				if !known[cl.row][cl.col] {
					unknown, n = x, n+1
				}
			}
			if n == 1 {
				cl := rel[unknown]
				known[cl.row][cl.col], changed = true, true
				if v := tb.Rows[cl.row].Vals[cl.col]; v > 0 && v < k {
					return cl.row, cl.col, true
				}
			}
		}
	}
	return 0, 0, false
}

// TestNothingSmallComesBack: on random tables of both kinds, the attack by
// sums gives back no withheld count from 1 to k−1.
func TestNothingSmallComesBack(t *testing.T) {
	rng := rand.New(rand.NewPCG(testseed.Get(t), 5))
	p := ForK(3)
	for n := 0; n < 5000; n++ {
		tb := randomTable(rng)
		if n%2 == 1 {
			tb = campaignTable(rng)
		}
		m := p.Protect(tb)
		if r, c, ok := recovered(tb, m, 3); ok {
			t.Fatalf("table %d (%v): row %d col %d = %d is withheld and comes back from sums; mask %v", n, tb.Rows, r, c, tb.Rows[r].Vals[c], m)
		}
	}
}
