package loader

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/roomstate/roomstate/engine"
)

// AssignmentRow is one row of an assignments file: who answers for a unit.
// An empty Person removes the unit's assignment.
type AssignmentRow struct {
	Level  engine.Level
	ID     string
	Person string
	Team   string
	Phone  string
	Line   int // in the file, for messages
}

// MaxAssignmentRows bounds the rows of one assignments file.
const MaxAssignmentRows = 1_000_000

// ReadAssignmentsFile reads an assignments file (CSV): see ReadAssignments.
func ReadAssignmentsFile(path string) ([]AssignmentRow, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ReadAssignments(path, f)
}

// ReadAssignments reads an assignments CSV (UTF-8, header row, RFC 4180):
// columns level, id and person, optionally team and phone, in any order
// (names matched without regard to case); level is building, grid,
// community or street. An empty person removes the unit's assignment. All
// or nothing: every problem (a missing column, an unknown level, an empty
// id, a unit listed twice, a field too long) is reported as
// file:line:column, and then no row is returned.
func ReadAssignments(name string, r io.Reader) ([]AssignmentRow, error) {
	cr := newCSVReader(r)
	var lerr engine.LoadError
	problem := func(line, col int, field, format string, args ...any) {
		lerr.Add(engine.Problem{Source: name, Line: line, Column: col, Field: field, Reason: fmt.Sprintf(format, args...)})
	}
	syntax := func(err error) error {
		if se, ok := err.(*csvSyntaxError); ok {
			problem(se.Line, se.Column, "", "%s", se.Reason)
			return &lerr
		}
		return fmt.Errorf("%s: %w", name, err)
	}
	header, line, err := cr.next()
	if err == io.EOF {
		problem(1, 1, "", "the file is empty: want a header row level,id,person[,team][,phone]")
		return nil, &lerr
	}
	if err != nil {
		return nil, syntax(err)
	}
	cols := map[string]int{}
	for i, h := range header {
		n := strings.ToLower(strings.TrimSpace(string(h)))
		l, c := cr.fieldPos(i)
		switch n {
		case "level", "id", "person", "team", "phone":
			if _, dup := cols[n]; dup {
				problem(l, c, n, "column %q appears twice", n)
			}
			cols[n] = i
		default:
			problem(l, c, n, "unknown column %q (want level, id, person, team, phone)", n)
		}
	}
	for _, need := range []string{"level", "id", "person"} {
		if _, ok := cols[need]; !ok {
			problem(line, 1, "", "no %q column: want a header row level,id,person[,team][,phone]", need)
		}
	}
	if lerr.Len() > 0 {
		return nil, &lerr
	}
	var rows []AssignmentRow
	first := map[[2]string]int{} // level, id → line
	for {
		fields, line, err := cr.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, syntax(err)
		}
		if len(fields) != len(header) {
			l, c := cr.fieldPos(min(len(fields), len(header)))
			problem(l, c, "", "%d fields; the header has %d", len(fields), len(header))
			continue
		}
		if len(rows) >= MaxAssignmentRows {
			problem(line, 1, "", "more than %d rows; split the file", MaxAssignmentRows)
			return nil, &lerr
		}
		get := func(col string) string {
			if i, ok := cols[col]; ok {
				return strings.TrimSpace(string(fields[i]))
			}
			return ""
		}
		at := func(col string) (int, int) { return cr.fieldPos(cols[col]) }
		row := AssignmentRow{ID: get("id"), Person: get("person"), Team: get("team"), Phone: get("phone"), Line: line}
		lv := strings.ToLower(get("level"))
		l, lerr2 := engine.ParseLevel(lv)
		if lerr2 != nil || !engine.Assignable(l) {
			ln, c := at("level")
			problem(ln, c, "level", "%q: want building, grid, community or street", lv)
			continue
		}
		row.Level = l
		if err := engine.CheckAssignment(l, row.ID, &engine.AssignInput{Level: l, Person: row.Person, Team: row.Team, Phone: row.Phone}); err != nil {
			col := "id"
			for _, c := range []string{"person", "team", "phone"} {
				if strings.HasPrefix(err.Error(), c) {
					col = c
				}
			}
			if strings.Contains(err.Error(), "need a person") {
				col = "person"
			}
			ln, c := at(col)
			problem(ln, c, col, "%v", err)
			continue
		}
		k := [2]string{lv, row.ID}
		if prev, dup := first[k]; dup {
			ln, c := at("id")
			problem(ln, c, "id", "%s %q is listed twice (first on line %d)", lv, row.ID, prev)
			continue
		}
		first[k] = line
		rows = append(rows, row)
	}
	if lerr.Len() > 0 {
		return nil, &lerr
	}
	return rows, nil
}
