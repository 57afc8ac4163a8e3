package compare

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/roomstate/roomstate/engine"
	"github.com/roomstate/roomstate/expr"
	"github.com/roomstate/roomstate/internal/testseed"
)

var testFlags = []string{"isolated", "vaccinated", "rental", "elderly_alone", "odd-name.2"}

func TestSQLWhereExamples(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", "TRUE"},
		{"   ", "TRUE"},
		{"isolated", `"isolated"`},
		{"a & !b | c", ""}, // unknown flags: an error
		{"isolated & !vaccinated | rental", `"isolated" AND NOT "vaccinated" OR "rental"`},
		{"isolated and not (vaccinated or rental)", `"isolated" AND NOT ("vaccinated" OR "rental")`},
		{"(rental | isolated) & !elderly_alone", `("rental" OR "isolated") AND NOT "elderly_alone"`},
		{"!!odd-name.2 && true || false", `NOT NOT "odd-name.2" AND TRUE OR FALSE`},
	} {
		got, err := SQLWhere(c.in, testFlags)
		if c.want == "" {
			if err == nil {
				t.Errorf("SQLWhere(%q) = %q, want an error", c.in, got)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("SQLWhere(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
}

// TestSQLWhereMeansTheSame: for random expressions and every assignment of
// the flags, the SQL (read with SQL's precedence by a small evaluator)
// agrees with the engine's own evaluation.
func TestSQLWhereMeansTheSame(t *testing.T) {
	rng := rand.New(rand.NewPCG(testseed.Or(t, 1), 7))
	ids := map[string]engine.FlagID{}
	for i, f := range testFlags {
		ids[f] = engine.FlagID(i)
	}
	lookup := func(n string) (engine.FlagID, bool) { id, ok := ids[n]; return id, ok }
	for i := 0; i < 500; i++ {
		src := randomExpr(rng, 0)
		x, err := expr.Parse(src, lookup)
		if err != nil {
			t.Fatalf("%q: %v", src, err)
		}
		sql, err := SQLWhere(src, testFlags)
		if err != nil {
			t.Fatalf("%q: %v", src, err)
		}
		for bits := 0; bits < 1<<len(testFlags); bits++ {
			has := func(f engine.FlagID) bool { return bits>>f&1 != 0 }
			want := x.EvalSet(has)
			got, err := evalSQL(sql, func(name string) bool { return has(ids[name]) })
			if err != nil {
				t.Fatalf("%q → %q: %v", src, sql, err)
			}
			if got != want {
				t.Fatalf("%q → %q: flags %05b: SQL says %v, the engine %v", src, sql, bits, got, want)
			}
		}
	}
}

func randomExpr(rng *rand.Rand, depth int) string {
	if depth > 3 || rng.IntN(3) == 0 {
		switch rng.IntN(12) {
		case 0:
			return "true"
		case 1:
			return "false"
		}
		return testFlags[rng.IntN(len(testFlags))]
	}
	switch rng.IntN(6) {
	case 0:
		return []string{"!", "not ", "! "}[rng.IntN(3)] + randomExpr(rng, depth+1)
	case 1:
		return "(" + randomExpr(rng, depth+1) + ")"
	case 2, 3:
		return randomExpr(rng, depth+1) + []string{" & ", "&&", " and "}[rng.IntN(3)] + randomExpr(rng, depth+1)
	}
	return randomExpr(rng, depth+1) + []string{" | ", "||", " or "}[rng.IntN(3)] + randomExpr(rng, depth+1)
}

// evalSQL evaluates the SQL SQLWhere writes: NOT binds tightest, then AND,
// then OR; quoted identifiers, TRUE, FALSE and parentheses.
func evalSQL(src string, col func(string) bool) (bool, error) {
	var toks []string
	for i := 0; i < len(src); {
		switch c := src[i]; {
		case c == ' ':
			i++
		case c == '(' || c == ')':
			toks = append(toks, string(c))
			i++
		case c == '"':
			j := i + 1
			for ; j < len(src); j++ {
				if src[j] == '"' {
					if j+1 < len(src) && src[j+1] == '"' {
						j++
						continue
					}
					break
				}
			}
			toks = append(toks, src[i:j+1])
			i = j + 1
		default:
			j := i
			for j < len(src) && src[j] != ' ' && src[j] != '(' && src[j] != ')' {
				j++
			}
			toks = append(toks, src[i:j])
			i = j
		}
	}
	p := 0
	var or, and, not func() (bool, error)
	or = func() (bool, error) {
		v, err := and()
		for err == nil && p < len(toks) && toks[p] == "OR" {
			p++
			var w bool
			w, err = and()
			v = v || w
		}
		return v, err
	}
	and = func() (bool, error) {
		v, err := not()
		for err == nil && p < len(toks) && toks[p] == "AND" {
			p++
			var w bool
			w, err = not()
			v = v && w
		}
		return v, err
	}
	not = func() (bool, error) {
		if p >= len(toks) {
			return false, fmt.Errorf("unexpected end")
		}
		t := toks[p]
		p++
		switch {
		case t == "NOT":
			v, err := not()
			return !v, err
		case t == "(":
			v, err := or()
			if err == nil && (p >= len(toks) || toks[p] != ")") {
				return false, fmt.Errorf("missing )")
			}
			p++
			return v, err
		case t == "TRUE":
			return true, nil
		case t == "FALSE":
			return false, nil
		case strings.HasPrefix(t, `"`):
			return col(strings.ReplaceAll(t[1:len(t)-1], `""`, `"`)), nil
		}
		return false, fmt.Errorf("unexpected %q", t)
	}
	v, err := or()
	if err == nil && p != len(toks) {
		err = fmt.Errorf("trailing %q", toks[p:])
	}
	return v, err
}

func TestQuoteIdent(t *testing.T) {
	if got := QuoteIdent(`a"b`); got != `"a""b"` {
		t.Fatalf("QuoteIdent: %s", got)
	}
}

func TestStatements(t *testing.T) {
	flags := []string{"isolated", "vaccinated"}
	for _, s := range []string{countSQL(`"isolated"`, flags), tileSQL("TRUE", flags), schemaSQL(flags), copySQL(flags)} {
		if strings.Count(s, "(") != strings.Count(s, ")") {
			t.Fatalf("unbalanced: %s", s)
		}
	}
	if c := countSQL(`"isolated"`, flags); !strings.Contains(c, `ST_Covers(`) || !strings.Contains(c, `FILTER (WHERE ("isolated") AND "vaccinated")`) {
		t.Fatalf("count statement: %s", c)
	}
}
