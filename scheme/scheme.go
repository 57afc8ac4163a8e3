// Package scheme holds colour schemes (图例): ordered rules that turn a
// dwelling's flags into the state, colour and shape of the room-state map.
// It checks schemes (names, colours, shapes, sizes) and compiles their rules
// against the known flags.
//
// It knows flags only through a lookup; it knows nothing of dwellings,
// storage or HTTP.
package scheme

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/roomstate/roomstate/expr"
	"github.com/roomstate/roomstate/fault"
)

// Rule is one entry of a scheme: dwellings for which When holds get State,
// drawn in Color with Shape. The default rule has no When.
type Rule struct {
	State   string `json:"state"`
	When    string `json:"when,omitempty"`
	Label   string `json:"label"`
	LabelEN string `json:"label_en,omitempty"`
	Color   string `json:"color"`
	Shape   string `json:"shape"`
}

// Scheme is an ordered list of rules: the first rule whose expression holds
// gives a dwelling its state; Default applies when none does.
type Scheme struct {
	Rules   []Rule `json:"rules"`
	Default Rule   `json:"default"`
}

// Default returns the built-in scheme named "default".
func Default() Scheme {
	return Scheme{
		Rules: []Rule{
			{State: "isolated", When: "isolated", Label: "居家隔离", LabelEN: "Home isolation", Color: "#d7191c", Shape: "square"},
			{State: "elderly_alone", When: "elderly_alone", Label: "独居老人", LabelEN: "Elderly living alone", Color: "#fdae61", Shape: "triangle"},
			{State: "rental", When: "rental", Label: "出租", LabelEN: "Rental", Color: "#2c7bb6", Shape: "diamond"},
			{State: "vaccinated", When: "vaccinated", Label: "已接种", LabelEN: "Vaccinated", Color: "#1a9641", Shape: "circle"},
		},
		Default: Rule{State: "normal", Label: "常住", LabelEN: "Resident", Color: "#bdbdbd", Shape: "circle"},
	}
}

// Equal reports whether two schemes are the same.
func Equal(a, b Scheme) bool { return slices.Equal(a.Rules, b.Rules) && a.Default == b.Default }

// Shapes a rule may use.
var Shapes = []string{"circle", "square", "triangle", "diamond", "star", "cross"}

// Limits of a scheme and of the set of schemes.
const (
	MaxRules   = 64   // rules in one scheme
	MaxText    = 256  // bytes of a state, label or when
	MaxSchemes = 256  // schemes an engine keeps, the default included
	MaxNameLen = 64   // bytes of a scheme's name
	maxWhen    = 1024 // bytes of one rule's expression
)

var (
	colorRE = regexp.MustCompile(`^#([0-9a-fA-F]{3}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})$`)
	nameRE  = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)
)

// ValidName reports whether name can name a scheme: 1–64 of A–Z a–z 0–9 _ . -.
func ValidName(name string) bool { return nameRE.MatchString(name) }

// Compiled is a checked scheme with its rules compiled. It is immutable.
type Compiled struct {
	Def   Scheme
	Rules []*expr.Expr
}

// Compile checks sc and compiles its rules against the flags lookup knows.
// A failure is of kind fault.BadScheme. The built-in scheme "default" may
// name flags the data lacks: such rules never match.
func Compile(name string, sc Scheme, lookup expr.FlagLookup) (*Compiled, error) {
	bad := func(format string, args ...any) error {
		return fault.New(fault.BadScheme, format, args...)
	}
	if !ValidName(name) {
		return nil, bad("scheme name %q: use 1-%d letters, digits, '_', '.', '-'", name, MaxNameLen)
	}
	if len(sc.Rules) > MaxRules {
		return nil, bad("scheme has %d rules; the limit is %d", len(sc.Rules), MaxRules)
	}
	// its own copy of the rules, never nil: a scheme without rules is the
	// same (and answers "rules": []) however it came, from JSON with the
	// rules left out, or from a log, journal or snapshot, where an empty
	// list comes back as none
	sc.Rules = append(make([]Rule, 0, len(sc.Rules)), sc.Rules...)
	c := &Compiled{Def: sc}
	seen := map[string]bool{}
	check := func(where string, r Rule) error {
		for _, f := range [][2]string{{"state", r.State}, {"label", r.Label}, {"label_en", r.LabelEN}} {
			if len(f[1]) > MaxText || !utf8.ValidString(f[1]) {
				return bad("%s.%s is longer than %d bytes or not UTF-8", where, f[0], MaxText)
			}
		}
		if len(r.When) > maxWhen {
			return bad("%s.when is longer than %d bytes", where, maxWhen)
		}
		if r.State == "" {
			return bad("%s: state is empty", where)
		}
		if seen[r.State] {
			return bad("%s: state %q appears twice", where, r.State)
		}
		seen[r.State] = true
		if !colorRE.MatchString(r.Color) {
			return bad("%s: color %q is not #rgb, #rrggbb or #rrggbbaa", where, r.Color)
		}
		if !slices.Contains(Shapes, r.Shape) {
			return bad("%s: shape %q is not one of %s", where, r.Shape, strings.Join(Shapes, ", "))
		}
		return nil
	}
	for i, r := range sc.Rules {
		where := fmt.Sprintf("rules[%d]", i)
		if err := check(where, r); err != nil {
			return nil, err
		}
		if strings.TrimSpace(r.When) == "" {
			return nil, bad("%s.when is empty; use the default rule for dwellings no rule matches", where)
		}
		x, err := expr.Parse(r.When, lookup)
		if err != nil {
			if name != "default" {
				return nil, bad("%s.when: %v", where, err)
			}
			// the built-in scheme names the built-in flags; data without
			// them simply never matches those rules
			x = expr.False
		}
		c.Rules = append(c.Rules, x)
	}
	if sc.Default.When != "" {
		return nil, bad("default.when must be empty: the default applies when no rule does")
	}
	if err := check("default", sc.Default); err != nil {
		return nil, err
	}
	return c, nil
}

// StateOf returns the index of the first rule that holds for a dwelling
// whose flags has reports; len(Rules) for the default.
func (c *Compiled) StateOf(has func(expr.FlagID) bool) int {
	for i, x := range c.Rules {
		if x.EvalSet(has) {
			return i
		}
	}
	return len(c.Rules)
}

// Rule returns rule i, the default for len(Rules).
func (c *Compiled) Rule(i int) *Rule {
	if i < len(c.Def.Rules) {
		return &c.Def.Rules[i]
	}
	return &c.Def.Default
}

// All returns the rules, then the default: a state index's rule is All()[i].
func (c *Compiled) All() []Rule { return append(slices.Clone(c.Def.Rules), c.Def.Default) }
