package engine_test

import (
	"slices"
	"strconv"
	"testing"

	"github.com/roomstate/roomstate/city"
	"github.com/roomstate/roomstate/engine"
	"github.com/roomstate/roomstate/scheme"
)

// flagBit returns the bit of a generated flag.
func flagBit(name string) uint64 { return 1 << slices.Index(city.FlagNames(), name) }

func TestRoomStateFollowsRuleOrder(t *testing.T) {
	tc := loadCity(t, 20_000, 11, 0)
	byBuilding := map[string][]rec{}
	floorOf := map[string]int{}
	for _, r := range tc.recs {
		byBuilding[r.units[4]] = append(byBuilding[r.units[4]], r)
	}
	_ = tc.city.Dwellings(func(r *engine.Record) error { floorOf[r.ID] = int(r.Floor); return nil })
	// a custom scheme whose first rule overlaps later ones
	custom := scheme.Scheme{
		Rules: []scheme.Rule{
			{State: "unvaccinated_elderly", When: "elderly_alone & !vaccinated", Label: "未接种独居老人", Color: "#ff0000", Shape: "star"},
			{State: "isolated", When: "isolated", Label: "居家隔离", Color: "#d7191c", Shape: "square"},
			{State: "rental", When: "rental or elderly_alone", Label: "出租", Color: "#2c7bb6", Shape: "diamond"},
		},
		Default: scheme.Rule{State: "normal", Label: "常住", Color: "#bdbdbd", Shape: "circle"},
	}
	if err := tc.eng.PutScheme("custom", custom); err != nil {
		t.Fatal(err)
	}
	iso, vac, rent, eld := flagBit("isolated"), flagBit("vaccinated"), flagBit("rental"), flagBit("elderly_alone")
	schemes := map[string]func(m uint64) string{
		"default": func(m uint64) string {
			switch {
			case m&iso != 0:
				return "isolated"
			case m&eld != 0:
				return "elderly_alone"
			case m&rent != 0:
				return "rental"
			case m&vac != 0:
				return "vaccinated"
			}
			return "normal"
		},
		"custom": func(m uint64) string {
			switch {
			case m&eld != 0 && m&vac == 0:
				return "unvaccinated_elderly"
			case m&iso != 0:
				return "isolated"
			case m&(rent|eld) != 0:
				return "rental"
			}
			return "normal"
		},
	}
	checked := 0
	for bid, recs := range byBuilding {
		if checked++; checked > 40 {
			break
		}
		for name, stateOf := range schemes {
			m, err := tc.eng.BuildingRoomState(bid, name, engine.AsOf{})
			if err != nil {
				t.Fatal(err)
			}
			bm := m.Buildings[0]
			if bm.Building.ID != bid || bm.Building.Total != len(recs) {
				t.Fatalf("%s: building %+v, want %d dwellings", bid, bm.Building, len(recs))
			}
			want := map[string]string{}
			legend := map[string]int{}
			for _, r := range recs {
				want[r.id] = stateOf(r.flags)
				legend[want[r.id]]++
			}
			sc, _ := tc.eng.Scheme(name)
			rules := append(slices.Clone(sc.Rules), sc.Default)
			n := 0
			lastFloor := 1 << 30
			for _, fl := range bm.Floors {
				if int(fl.Floor) >= lastFloor {
					t.Fatalf("%s: floors not top first", bid)
				}
				lastFloor = int(fl.Floor)
				for i, room := range fl.Rooms {
					n++
					if floorOf[room.ID] != int(fl.Floor) {
						t.Fatalf("%s: room %s on floor %d, listed on %d", bid, room.ID, floorOf[room.ID], fl.Floor)
					}
					if got := rules[room.State].State; got != want[room.ID] {
						t.Fatalf("%s scheme %s: room %s state %s, want %s", bid, name, room.ID, got, want[room.ID])
					}
					if i > 0 {
						prev := fl.Rooms[i-1]
						pu, _ := strconv.Atoi(prev.Unit)
						cu, _ := strconv.Atoi(room.Unit)
						pr, _ := strconv.Atoi(prev.Room)
						cr, _ := strconv.Atoi(room.Room)
						if pu > cu || pu == cu && pr >= cr {
							t.Fatalf("%s: rooms not in unit, room order: %s/%s before %s/%s", bid, prev.Unit, prev.Room, room.Unit, room.Room)
						}
					}
				}
			}
			if n != len(recs) {
				t.Fatalf("%s: %d rooms, want %d", bid, n, len(recs))
			}
			for _, le := range bm.Legend {
				if le.Count != legend[le.State] {
					t.Fatalf("%s: legend %s = %d, want %d", bid, le.State, le.Count, legend[le.State])
				}
			}
		}
	}
	// a grid's map holds exactly its dwellings
	grid := tc.recs[0].units[3]
	m, err := tc.eng.UnitRoomState(engine.LevelGrid, grid, "default", engine.AsOf{})
	if err != nil {
		t.Fatal(err)
	}
	n, want := 0, 0
	for _, b := range m.Buildings {
		for _, fl := range b.Floors {
			n += len(fl.Rooms)
		}
	}
	for _, r := range tc.recs {
		if r.units[3] == grid {
			want++
		}
	}
	if n != want {
		t.Fatalf("grid %s: %d rooms, want %d", grid, n, want)
	}
}

func TestSchemeValidation(t *testing.T) {
	tc := loadCity(t, 20_000, 11, 0)
	ok := scheme.Rule{State: "x", When: "isolated", Label: "x", Color: "#abcdef", Shape: "circle"}
	def := scheme.Rule{State: "normal", Label: "n", Color: "#bdbdbd", Shape: "circle"}
	bad := map[string]scheme.Scheme{
		"unknown flag": {Rules: []scheme.Rule{{State: "x", When: "bogus", Label: "x", Color: "#abcdef", Shape: "circle"}}, Default: def},
		"bad colour":   {Rules: []scheme.Rule{{State: "x", When: "isolated", Label: "x", Color: "red", Shape: "circle"}}, Default: def},
		"bad shape":    {Rules: []scheme.Rule{{State: "x", When: "isolated", Label: "x", Color: "#abcdef", Shape: "blob"}}, Default: def},
		"empty when":   {Rules: []scheme.Rule{{State: "x", When: " ", Label: "x", Color: "#abcdef", Shape: "circle"}}, Default: def},
		"twice":        {Rules: []scheme.Rule{ok, ok}, Default: def},
		"no default":   {Rules: []scheme.Rule{ok}},
	}
	for what, sc := range bad {
		if err := tc.eng.PutScheme("s", sc); err == nil {
			t.Errorf("%s: accepted", what)
		}
	}
	if err := tc.eng.PutScheme("bad name/..", scheme.Scheme{Rules: []scheme.Rule{ok}, Default: def}); err == nil {
		t.Error("bad name accepted")
	}
	if _, ok := tc.eng.Scheme("s"); ok {
		t.Error("a rejected scheme was stored")
	}
}
