package scheme

import (
	"encoding/json"
	"testing"

	"github.com/roomstate/roomstate/expr"
)

// A scheme without rules is stored with an empty list, whether its rules
// were an empty list or none (as a log, a journal entry or a snapshot
// gives them back), so that every node and every restart answers it
// alike; and the stored rules are a copy of the caller's.
func TestCompileRulesNeverNil(t *testing.T) {
	lookup := func(string) (expr.FlagID, bool) { return 0, true }
	def := Rule{State: "n", Label: "n", Color: "#000", Shape: "circle"}
	for _, rules := range [][]Rule{nil, {}} {
		c, err := Compile("quiet", Scheme{Rules: rules, Default: def}, expr.FlagLookup(lookup))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(c.Def)
		if want := `{"rules":[],"default":{"state":"n","label":"n","color":"#000","shape":"circle"}}`; string(b) != want {
			t.Fatalf("rules %#v: stored as %s, want %s", rules, b, want)
		}
	}
	rules := []Rule{{State: "x", When: "a", Label: "x", Color: "#fff", Shape: "star"}}
	c, err := Compile("one", Scheme{Rules: rules, Default: def}, expr.FlagLookup(lookup))
	if err != nil {
		t.Fatal(err)
	}
	rules[0].State = "changed"
	if c.Def.Rules[0].State != "x" {
		t.Fatal("the compiled scheme shares the caller's rules")
	}
}
