package city

import (
	"bytes"
	"encoding/csv"
	"io"
	"testing"

	"github.com/roomstate/roomstate/internal/testseed"
	"github.com/roomstate/roomstate/region"
)

// TestSizeIsN: whatever N, small or not, a city of either kind has exactly N
// dwellings, its CSV has one row per dwelling, its
// buildings hold what Size says, and its boundaries are valid, down to a
// city of one dwelling.
func TestSizeIsN(t *testing.T) {
	seed := testseed.Or(t, 1)
	for _, kind := range []Kind{Disc, Realistic} {
		for _, n := range []int{1, 2, 10, 100, 1000, 3000, 5000, 20000} {
			c := New(Config{N: n, Seed: seed, Kind: kind})
			if s := c.Size(); s != n {
				t.Errorf("%s city of N = %d: Size %d, want %d", kind, n, s, n)
			}
			var buf bytes.Buffer
			if err := c.WriteCSV(&buf); err != nil {
				t.Fatal(err)
			}
			rd := csv.NewReader(&buf)
			header, err := rd.Read()
			if err != nil {
				t.Fatal(err)
			}
			rows, buildings := 0, map[string]bool{}
			for {
				rec, err := rd.Read()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatalf("%s city of N = %d: row %d: %v", kind, n, rows+1, err)
				}
				if len(rec) != len(header) {
					t.Fatalf("%s city of N = %d: row %d has %d fields, header %d", kind, n, rows+1, len(rec), len(header))
				}
				rows++
				buildings[rec[7]] = true
			}
			if rows != c.Size() {
				t.Errorf("%s city of N = %d: %d CSV rows, Size %d", kind, n, rows, c.Size())
			}
			if len(buildings) != c.Buildings() {
				t.Errorf("%s city of N = %d: %d buildings in the CSV, Buildings %d", kind, n, len(buildings), c.Buildings())
			}
			for i, b := range c.buildings {
				if b.floors < 1 || b.perFl < 1 || b.top < 0 || b.top >= b.perFl {
					t.Errorf("%s city of N = %d: building %s of %d floors × %d, top floor %d", kind, n, buildingID(i), b.floors, b.perFl, b.top)
				}
			}
			if kind == Realistic {
				sum, blds := 0, 0
				for _, k := range c.compounds {
					sum += k.dwellings
					blds += k.buildings
				}
				if sum != c.Size() || blds != c.Buildings() {
					t.Errorf("%s city of N = %d: compounds hold %d dwellings in %d buildings, the city %d in %d",
						kind, n, sum, blds, c.Size(), c.Buildings())
				}
			}
			if n <= 10 {
				for _, b := range c.Boundaries() {
					if _, err := region.New(b.Geometry); err != nil {
						t.Errorf("%s city of N = %d: %s %s: %v", kind, n, b.Level, b.ID, err)
					}
				}
			}
		}
	}
}
