package expr_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/roomstate/roomstate/expr"
	"github.com/roomstate/roomstate/fault"
)

func TestExprErrorsPointAtPosition(t *testing.T) {
	lookup := func(name string) (expr.FlagID, bool) {
		i := slices.Index([]string{"isolated", "vaccinated"}, name)
		return expr.FlagID(i), i >= 0
	}
	cases := []struct {
		src string
		col int
		msg string
	}{
		{"isolated & ", 12, "ends"},
		{"isolated & & vaccinated", 12, "operator"},
		{"(isolated", 10, "missing"},
		{"isolated)", 9, "unexpected"},
		{"isolated & bogus", 12, "unknown flag \"bogus\""},
		{"isolated $ vaccinated", 10, "unexpected character"},
		{"居家 & isolated", 1, "unknown flag"},
		{strings.Repeat("(", 80) + "isolated" + strings.Repeat(")", 80), 66, "nested"},
	}
	for _, c := range cases {
		_, err := expr.Parse(c.src, lookup)
		ee, ok := err.(*expr.Error)
		if !ok {
			t.Fatalf("%q: got %v, want an expr.Error", c.src, err)
		}
		if ee.Pos != c.col || !strings.Contains(ee.Error(), c.msg) {
			t.Errorf("%q: got %q at column %d, want %q at column %d", c.src, ee.Error(), ee.Pos, c.msg, c.col)
		}
	}
	good := map[string]string{
		"isolated & !vaccinated":             "isolated&!vaccinated",
		"isolated and not vaccinated":        "isolated&!vaccinated",
		"isolated | vaccinated & false":      "isolated|vaccinated&false",
		"(isolated | vaccinated) & true":     "(isolated|vaccinated)&true",
		"!!isolated":                         "!!isolated",
		"isolated && vaccinated || isolated": "isolated&vaccinated|isolated",
	}
	for src, canon := range good {
		x, err := expr.Parse(src, lookup)
		if err != nil {
			t.Fatalf("%q: %v", src, err)
		}
		if x.String() != canon {
			t.Errorf("%q: canonical %q, want %q", src, x.String(), canon)
		}
	}
}

func TestExprPrecedence(t *testing.T) {
	names := []string{"a", "b", "c"}
	lookup := func(name string) (expr.FlagID, bool) {
		i := slices.Index(names, name)
		return expr.FlagID(i), i >= 0
	}
	// ! binds tightest, then &, then |: check every assignment
	cases := map[string]func(a, b, c bool) bool{
		"a | b & c":        func(a, b, c bool) bool { return a || (b && c) },
		"!a & b":           func(a, b, c bool) bool { return !a && b },
		"!(a & b) | c":     func(a, b, c bool) bool { return !(a && b) || c },
		"a & b | !c":       func(a, b, c bool) bool { return (a && b) || !c },
		"not a or b and c": func(a, b, c bool) bool { return !a || (b && c) },
	}
	for src, want := range cases {
		x, err := expr.Parse(src, lookup)
		if err != nil {
			t.Fatal(err)
		}
		for m := 0; m < 8; m++ {
			v := [3]bool{m&1 != 0, m&2 != 0, m&4 != 0}
			got := x.EvalSet(func(f expr.FlagID) bool { return v[f] })
			if got != want(v[0], v[1], v[2]) {
				t.Errorf("%q with a=%v b=%v c=%v: got %v", src, v[0], v[1], v[2], got)
			}
		}
	}
}

func TestErrorsAreBadExpression(t *testing.T) {
	_, err := expr.Parse("bogus", func(string) (expr.FlagID, bool) { return 0, false })
	if !errors.Is(err, fault.BadExpression) {
		t.Fatalf("%v is not of kind bad_expression", err)
	}
}

// FuzzParseExpr: the parser never panics, and what it accepts has a
// canonical form that parses to the same canonical form.
func FuzzParseExpr(f *testing.F) {
	names := []string{"isolated", "vaccinated", "rental", "elderly_alone", "居家观察"}
	lookup := func(n string) (expr.FlagID, bool) {
		for i, m := range names {
			if m == n {
				return expr.FlagID(i), true
			}
		}
		return 0, false
	}
	for _, s := range []string{"isolated & !vaccinated", "(a|b", "not (rental or elderly_alone) and 居家观察", "!!!", "&&||", "((((isolated))))"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		x, err := expr.Parse(src, lookup)
		if err != nil {
			if _, ok := err.(*expr.Error); !ok {
				t.Fatalf("error %T %v is not an expr.Error", err, err)
			}
			return
		}
		y, err := expr.Parse(x.String(), lookup)
		if err != nil || y.String() != x.String() {
			t.Fatalf("canonical form %q of %q does not round-trip: %v", x.String(), src, err)
		}
		for m := 0; m < 32; m++ {
			has := func(f expr.FlagID) bool { return m>>f&1 != 0 }
			if x.EvalSet(has) != y.EvalSet(has) {
				t.Fatalf("%q and its canonical form %q differ", src, x.String())
			}
		}
	})
}
