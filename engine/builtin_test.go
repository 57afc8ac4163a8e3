package engine_test

import (
	"slices"
	"testing"

	"github.com/paulmach/orb"
	"github.com/roomstate/roomstate/engine"
	"github.com/roomstate/roomstate/region"
)

// everywhere is a region that holds every test dwelling.
func everywhere(t *testing.T) *region.Region {
	t.Helper()
	rg, err := region.New(orb.MultiPolygon{{{{100, 20}, {140, 20}, {140, 50}, {100, 50}, {100, 20}}}})
	if err != nil {
		t.Fatal(err)
	}
	return rg
}

// flagCounts asks a polygon query over every dwelling and returns its
// matched count and its count per flag, by name.
func flagCounts(t *testing.T, e *engine.Engine, where string) (int64, map[string]int64) {
	t.Helper()
	var res engine.PolygonResult
	if err := e.PolygonStats(&engine.PolygonQuery{Region: everywhere(t), Where: where}, &res); err != nil {
		t.Fatalf("where %q: %v", where, err)
	}
	out := map[string]int64{}
	for i, n := range res.FlagNames {
		out[n] = res.Flags[i]
	}
	return res.Matched, out
}

// TestBuiltinFlagsAlwaysKnown: an engine knows isolated, vaccinated, rental
// and elderly_alone, in that order ahead of the data's own flags, whether
// or not its data carries them: before any load, after a load of data that
// lacks some (they are clear then, and can be set and asked about), and
// after a load that carries them all (the order is the data's, unchanged).
func TestBuiltinFlagsAlwaysKnown(t *testing.T) {
	if got := engine.New(engine.Options{}).Flags(); !slices.Equal(got, engine.BuiltinFlags) {
		t.Fatalf("an empty engine knows %v, want %v", got, engine.BuiltinFlags)
	}

	// data without rental and elderly_alone, and a flag of its own
	b := engine.NewBatch("d.csv", []string{"vaccinated", "custom", "isolated"})
	for i, id := range []string{"a", "b", "c"} {
		r := engine.Record{ID: id, Lon: 121.5 + float64(i)*0.001, Lat: 31.2, Building: "B1", Floor: engine.NoFloor}
		r.SetFlag(i) // a: vaccinated, b: custom, c: isolated
		if err := b.Add(&r); err != nil {
			t.Fatal(err)
		}
	}
	w := engine.New(engine.Options{})
	if err := w.Load(b); err != nil {
		t.Fatal(err)
	}
	want := []string{"isolated", "vaccinated", "rental", "elderly_alone", "custom"}
	if got := w.Flags(); !slices.Equal(got, want) {
		t.Fatalf("flags %v, want %v", got, want)
	}
	// the data's bits landed on their flags, the missing ones are clear
	matched, counts := flagCounts(t, w.Engine, "")
	if matched != 3 || counts["vaccinated"] != 1 || counts["custom"] != 1 || counts["isolated"] != 1 ||
		counts["rental"] != 0 || counts["elderly_alone"] != 0 || len(counts) != 5 {
		t.Fatalf("matched %d, flags %v", matched, counts)
	}
	if d, err := w.Dwelling("b"); err != nil || !slices.Equal(d.Flags, []string{"custom"}) {
		t.Fatalf("b: %v %v", d, err)
	}
	if m, _ := flagCounts(t, w.Engine, "elderly_alone"); m != 0 {
		t.Fatalf("elderly_alone matched %d before it was set", m)
	}
	if _, err := apply(w, []engine.Op{{Kind: engine.OpFlags, ID: "a", Set: []string{"rental", "elderly_alone"}}}); err != nil {
		t.Fatal(err)
	}
	if m, _ := flagCounts(t, w.Engine, "elderly_alone & rental"); m != 1 {
		t.Fatalf("elderly_alone & rental matched %d after it was set, want 1", m)
	}
	if d, _ := w.Dwelling("a"); !slices.Equal(d.Flags, []string{"vaccinated", "rental", "elderly_alone"}) {
		t.Fatalf("a: %v", d.Flags)
	}

	// a dwelling put into an engine that never loaded anything
	w = engine.New(engine.Options{})
	put := &engine.DwellingInput{Lon: 121.5, Lat: 31.2, Building: "B1", Floor: engine.NoFloor, Flags: []string{"elderly_alone"}}
	if _, err := apply(w, []engine.Op{{Kind: engine.OpPut, ID: "p", Put: put}}); err != nil {
		t.Fatal(err)
	}
	if m, _ := flagCounts(t, w.Engine, "elderly_alone & !rental"); m != 1 {
		t.Fatalf("the put dwelling: matched %d", m)
	}

	// data that carries all four keeps the order it has today
	b = engine.NewBatch("all.csv", []string{"isolated", "vaccinated", "rental", "elderly_alone", "x"})
	if err := b.Add(&engine.Record{ID: "a", Lon: 121.5, Lat: 31.2, Floor: engine.NoFloor}); err != nil {
		t.Fatal(err)
	}
	w = engine.New(engine.Options{})
	if err := w.Load(b); err != nil {
		t.Fatal(err)
	}
	if got, want := w.Flags(), []string{"isolated", "vaccinated", "rental", "elderly_alone", "x"}; !slices.Equal(got, want) {
		t.Fatalf("flags %v, want %v", got, want)
	}
}

// TestRestoreAddsMissingBuiltinFlags: a snapshot written before the
// built-in flags were always known (its flags lack some) still restores:
// its own flags keep their numbers and bits, the missing built-in ones
// come after them, clear, and two engines restored from it (a reopen and a
// replica) agree.
func TestRestoreAddsMissingBuiltinFlags(t *testing.T) {
	b := engine.NewBatch("old.csv", []string{"vaccinated", "isolated", "custom"})
	for i, id := range []string{"a", "b", "c"} {
		r := engine.Record{ID: id, Lon: 121.5 + float64(i)*0.001, Lat: 31.2, Building: "B1", Floor: engine.NoFloor}
		r.SetFlag(i)
		if err := b.Add(&r); err != nil {
			t.Fatal(err)
		}
	}
	w := engine.New(engine.Options{})
	if err := w.Load(b); err != nil {
		t.Fatal(err)
	}
	if _, err := apply(w, []engine.Op{{Kind: engine.OpFlags, ID: "c", Set: []string{"custom"}}}); err != nil {
		t.Fatal(err)
	}
	// the snapshot as an older build wrote it: only the data's flags
	s := w.Export()
	var flags []string
	var bitmaps [][]byte
	for i, f := range s.Flags {
		if f == "isolated" || f == "vaccinated" || f == "custom" {
			flags, bitmaps = append(flags, f), append(bitmaps, s.FlagBitmaps[i])
		}
	}
	// in the order an older build kept: the data's
	order := []string{"vaccinated", "isolated", "custom"}
	s.Flags, s.FlagBitmaps = make([]string, 3), make([][]byte, 3)
	for i, f := range order {
		k := slices.Index(flags, f)
		s.Flags[i], s.FlagBitmaps[i] = f, bitmaps[k]
	}
	r1, r2 := engine.New(engine.Options{}), engine.New(engine.Options{})
	for _, r := range []*engine.Writer{r1, r2} {
		if err := r.Restore(s); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"vaccinated", "isolated", "custom", "rental", "elderly_alone"}
	if got := r1.Flags(); !slices.Equal(got, want) {
		t.Fatalf("flags %v, want %v", got, want)
	}
	for id, fl := range map[string][]string{"a": {"vaccinated"}, "b": {"isolated"}, "c": {"custom"}} {
		if d, err := r1.Dwelling(id); err != nil || !slices.Equal(d.Flags, fl) {
			t.Fatalf("%s: %v %v, want %v", id, d, err, fl)
		}
	}
	for _, r := range []*engine.Writer{r1, r2} {
		if _, err := apply(r, []engine.Op{{Kind: engine.OpFlags, ID: "a", Set: []string{"rental"}}}); err != nil {
			t.Fatal(err)
		}
	}
	m1, c1 := flagCounts(t, r1.Engine, "rental")
	m2, c2 := flagCounts(t, r2.Engine, "rental")
	if m1 != 1 || m2 != 1 || c1["vaccinated"] != 1 || c2["vaccinated"] != 1 || !slices.Equal(r1.Flags(), r2.Flags()) {
		t.Fatalf("reopen %d %v, replica %d %v", m1, c1, m2, c2)
	}
	// and the restored state's own snapshot restores to the same flags
	r3 := engine.New(engine.Options{})
	if err := r3.Restore(r1.Export()); err != nil || !slices.Equal(r3.Flags(), want) {
		t.Fatalf("%v %v", r3.Flags(), err)
	}
}

// TestBatchDropFlags: dropping flags of a batch keeps the others' bits.
func TestBatchDropFlags(t *testing.T) {
	b := engine.NewBatch("d.csv", []string{"p", "note", "q", "size"})
	for i, id := range []string{"a", "b"} {
		r := engine.Record{ID: id, Lon: 121.5, Lat: 31.2 + float64(i)*0.001, Floor: engine.NoFloor}
		for f := range 4 {
			if (f+i)%2 == 0 {
				r.SetFlag(f)
			}
		}
		if err := b.Add(&r); err != nil {
			t.Fatal(err)
		}
	}
	b.DropFlags([]int{1, 3})
	if !slices.Equal(b.Flags(), []string{"p", "q"}) {
		t.Fatalf("flags %v", b.Flags())
	}
	w := engine.New(engine.Options{})
	if err := w.Load(b); err != nil {
		t.Fatal(err)
	}
	if d, _ := w.Dwelling("a"); !slices.Equal(d.Flags, []string{"p", "q"}) {
		t.Fatalf("a: %v", d.Flags)
	}
	if d, _ := w.Dwelling("b"); len(d.Flags) != 0 {
		t.Fatalf("b: %v", d.Flags)
	}
}
