package loader

import (
	"errors"
	"strings"
	"testing"

	"github.com/roomstate/roomstate/engine"
)

func TestReadAssignments(t *testing.T) {
	rows, err := ReadAssignments("a.csv", strings.NewReader("\ufeffPerson,level,id,phone,team\r\n"+
		"张三,grid,G0131,13800000000,一组\r\n"+
		"李四,Building,B00412,,\r\n"+
		"\r\n"+
		"\"王五, 副组长\",street,陆家嘴街道,,\r\n"+
		",community,梅园社区,,\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := []AssignmentRow{
		{Level: engine.LevelGrid, ID: "G0131", Person: "张三", Team: "一组", Phone: "13800000000", Line: 2},
		{Level: engine.LevelBuilding, ID: "B00412", Person: "李四", Line: 3},
		{Level: engine.LevelStreet, ID: "陆家嘴街道", Person: "王五, 副组长", Line: 5},
		{Level: engine.LevelCommunity, ID: "梅园社区", Line: 6}, // removes the assignment
	}
	if len(rows) != len(want) {
		t.Fatalf("%d rows: %+v", len(rows), rows)
	}
	for i := range want {
		if rows[i] != want[i] {
			t.Fatalf("row %d: %+v, want %+v", i, rows[i], want[i])
		}
	}
}

// Every problem is named by file, line and column, and nothing is returned.
func TestReadAssignmentsErrors(t *testing.T) {
	for _, c := range []struct{ name, data, want string }{
		{"empty", "", "a.csv:1:1: the file is empty"},
		{"no person column", "level,id\ngrid,G1\n", `a.csv:1:1: no "person" column`},
		{"unknown column", "level,id,person,age\n", `a.csv:1:17: age: unknown column "age"`},
		{"unknown level", "level,id,person\ngrid,G1,张三\ndistrict,D1,李四\n", `a.csv:3:1: level: "district": want building, grid, community or street`},
		{"empty id", "id,level,person\n,grid,张三\n", "a.csv:2:1: id: id is empty"},
		{"twice", "level,id,person\ngrid,G1,张三\nbuilding,B1,王五\ngrid,G1,李四\n", `a.csv:4:6: id: grid "G1" is listed twice (first on line 2)`},
		{"fields", "level,id,person\ngrid,G1\n", "a.csv:2:8: 2 fields; the header has 3"},
		{"team without person", "level,id,person,team\ngrid,G1,,一组\n", "a.csv:2:9: person: team and phone need a person"},
		{"control", "level,id,person\ngrid,G1,\"a\x01b\"\n", "a.csv:2:9: person: person holds a control character"},
		{"quote", "level,id,person\ngrid,G\"1,x\n", "a.csv:2:7: bare \""},
	} {
		t.Run(c.name, func(t *testing.T) {
			rows, err := ReadAssignments("a.csv", strings.NewReader(c.data))
			var le *engine.LoadError
			if !errors.As(err, &le) || rows != nil {
				t.Fatalf("rows %v, error %v", rows, err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q, want %q", err, c.want)
			}
		})
	}
}

// FuzzReadAssignments: any bytes give rows or a LoadError naming the file
// with a line and a column, never a panic nor both; rows are well formed
// (a known level, an id, no unit twice, team and phone only with a person).
func FuzzReadAssignments(f *testing.F) {
	f.Add([]byte("level,id,person,team,phone\ngrid,G1,张三,一组,1\nbuilding,B1,,,\n"))
	f.Add([]byte("\ufeffPerson,level,id\r\n\"王五, 副组长\",street,S1\r\n"))
	f.Add([]byte("level,id,person\ngrid,G\"1,x\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rows, err := ReadAssignments("a.csv", strings.NewReader(string(data)))
		if err != nil {
			var le *engine.LoadError
			if rows != nil {
				t.Fatalf("rows and an error: %v", err)
			}
			if errors.As(err, &le) && !strings.Contains(err.Error(), "a.csv:") {
				t.Fatalf("error without its place: %v", err)
			}
			return
		}
		seen := map[[2]string]bool{}
		for _, r := range rows {
			if r.Level > engine.LevelGrid && r.Level != engine.LevelBuilding || r.Level == engine.LevelDistrict {
				t.Fatalf("row %+v: level", r)
			}
			if r.ID == "" || r.Line < 2 {
				t.Fatalf("row %+v: id or line", r)
			}
			k := [2]string{r.Level.String(), r.ID}
			if seen[k] {
				t.Fatalf("row %+v: twice", r)
			}
			seen[k] = true
			if r.Person == "" && (r.Team != "" || r.Phone != "") {
				t.Fatalf("row %+v: team or phone without a person", r)
			}
		}
	})
}
