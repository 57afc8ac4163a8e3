package answer

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/roomstate/roomstate/city"
	"github.com/roomstate/roomstate/engine"
)

// TestNoGridIsNoUnit: one dwelling of a community has no grid. No answer
// lists a unit "" (units, a community's children, grid-by-level cells), for
// analysts and viewers; the community counts the dwelling; and a viewer
// cannot get it back as the community minus its shown grids: the protection
// withholds with it, as for any child.
func TestNoGridIsNoUnit(t *testing.T) {
	c := city.New(city.Config{N: 5_000, Seed: 11})
	b := engine.NewBatch("one without a grid", city.FlagNames())
	var lone *engine.Record
	err := c.Dwellings(func(r *engine.Record) error {
		r2 := *r
		r2.Flags = slices.Clone(r.Flags)
		if lone == nil {
			r2.Grid = ""
			lone = &r2
		}
		return b.Add(&r2)
	})
	if err != nil {
		t.Fatal(err)
	}
	w := engine.New(engine.Options{})
	if err := w.Load(b); err != nil {
		t.Fatal(err)
	}
	a := New(w.Engine, nil, Options{})
	viewer, analyst := &Caller{Name: "wall", Role: Viewer}, &Caller{Name: "x", Role: Analyst}
	for _, who := range []*Caller{viewer, analyst} {
		for _, where := range []string{"", "isolated", "!isolated"} {
			q := Values{"where": where}
			out, err := a.Units("grid", q, who)
			if err != nil {
				t.Fatal(err)
			}
			var list struct{ Units []shownUnit }
			if err := json.Unmarshal(out, &list); err != nil {
				t.Fatal(err)
			}
			for _, u := range list.Units {
				if u.ID == "" {
					t.Fatalf("%s, where %q: grid \"\" listed", who.Role, where)
				}
			}
			out, err = a.Grid([]byte(`{"level":"grid","where":"`+where+`"}`), who)
			if err != nil {
				t.Fatal(err)
			}
			var cells struct{ Cells []struct{ ID string } }
			if err := json.Unmarshal(out, &cells); err != nil {
				t.Fatal(err)
			}
			for _, cl := range cells.Cells {
				if cl.ID == "" {
					t.Fatalf("%s, where %q: a grid cell \"\"", who.Role, where)
				}
			}
			u := unitOf(t, a, who, "community", lone.Community, q)
			var shown, withheld int64
			for _, ch := range u.Children {
				switch {
				case ch.ID == "":
					t.Fatalf("%s, where %q: community %s has a child \"\"", who.Role, where, lone.Community)
				case ch.Total == nil:
					withheld++
				default:
					shown += *ch.Total
				}
			}
			if who == analyst {
				if u.Total == nil || withheld > 0 || *u.Total != shown+1 {
					t.Fatalf("where %q: community %v, its grids %d: want them plus the one without a grid", where, u.Total, shown)
				}
			} else if u.Total != nil && withheld == 0 {
				t.Fatalf("where %q: the viewer's community %d minus its shown grids %d gives the one without a grid", where, *u.Total, shown)
			}
		}
	}
}
