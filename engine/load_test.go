package engine_test

import (
	"errors"
	"testing"

	"github.com/roomstate/roomstate/engine"
)

// TestDuplicateHeld: a load whose id the engine holds already is refused
// whole, and its problem is marked Held (so that a caller can say where
// the id is held); a clash between the load's own batches is not.
func TestDuplicateHeld(t *testing.T) {
	batch := func(name string, ids ...string) *engine.Batch {
		b := engine.NewBatch(name, nil)
		for _, id := range ids {
			if err := b.Add(&engine.Record{ID: id, Lon: 121.5, Lat: 31.2}); err != nil {
				t.Fatal(err)
			}
		}
		return b
	}
	w := engine.New(engine.Options{})
	if err := w.Load(batch("a.csv", "a1", "a2")); err != nil {
		t.Fatal(err)
	}
	err := w.Load(batch("b.csv", "b1", "a2"), batch("c.csv", "b1"))
	var le *engine.LoadError
	if !errors.As(err, &le) || len(le.Problems) != 2 {
		t.Fatalf("got %v", err)
	}
	for _, p := range le.Problems {
		if held := p.Source == "b.csv"; p.Held != held || p.Field != "id" {
			t.Fatalf("%s: held %v", p.Error(), p.Held)
		}
	}
	if w.Len() != 2 {
		t.Fatalf("%d dwellings after a refused load", w.Len())
	}
}
