// Package expr is the flag-expression language of `where` and of scheme
// rules: flag names combined with &, |, !, parentheses, and/or/not, true and
// false, compiled to a small postfix program that evaluates either one
// dwelling's flags or 64 dwellings' flag words at once.
//
// It knows flags only as numbers given by a lookup; it knows nothing of
// dwellings, indexes or HTTP.
package expr

import (
	"fmt"

	"github.com/roomstate/roomstate/fault"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Expression limits. A `where` longer or deeper than these is rejected, so a
// hostile request cannot make the parser or the evaluator's stack grow without bound.
const (
	MaxExprLen   = 4096 // bytes
	MaxExprDepth = 64   // nesting of parentheses and negations
)

// evalStack bounds the evaluation stack: each nesting level leaves at most two
// operands pending (`a | b & (…)`).
const evalStack = 2*MaxExprDepth + 4

// FlagID numbers a flag in the list of known flags.
type FlagID uint16

// Error is a syntax or name error in a flag expression. Pos is the 1-based
// column (in characters) where the problem starts. It is of kind
// fault.BadExpression.
type Error struct {
	Expr   string
	Pos    int
	Reason string
}

func (e *Error) Error() string {
	return fmt.Sprintf("where: %s at column %d", e.Reason, e.Pos)
}

// Unwrap returns the error's kind.
func (e *Error) Unwrap() error { return fault.BadExpression }

// opcode of a compiled expression; a program is postfix.
type opcode uint8

const (
	opFlag opcode = iota // push the flag's word
	opNot
	opAnd
	opOr
	opTrue
	opFalse
)

type instr struct {
	op   opcode
	flag FlagID
}

// Expr is a compiled flag expression: `&`, `|`, `!`, parentheses, `and`, `or`,
// `not`, `true`, `false` over flag names. `!` binds tightest, then `&`, then `|`.
// An Expr is immutable and safe for concurrent use.
type Expr struct {
	canon string  // canonical form; the cache key of derived structures
	prog  []instr // postfix
	depth int     // evaluation stack depth needed
	flags []FlagID
}

// String returns the canonical form of the expression ("" for the empty expression).
func (e *Expr) String() string { return e.canon }

// Flags lists the flags the expression mentions.
func (e *Expr) Flags() []FlagID { return e.flags }

// IsTrue reports whether the expression is the empty (always true) expression.
func (e *Expr) IsTrue() bool { return len(e.prog) == 1 && e.prog[0].op == opTrue }

// True is the expression of an absent `where`: it holds for every dwelling.
var True = &Expr{prog: []instr{{op: opTrue}}, depth: 1}

// False holds for no dwelling.
var False = &Expr{canon: "false", prog: []instr{{op: opFalse}}, depth: 1}

// FlagLookup resolves a flag name to its id.
type FlagLookup func(name string) (FlagID, bool)

// Parse compiles src against the flags known to lookup. An empty or
// all-blank src is the always-true expression. Unknown flag names are errors.
func Parse(src string, lookup FlagLookup) (*Expr, error) {
	if len(src) > MaxExprLen {
		return nil, &Error{Expr: src, Pos: 1, Reason: fmt.Sprintf("expression longer than %d bytes", MaxExprLen)}
	}
	if !utf8.ValidString(src) {
		return nil, &Error{Expr: src, Pos: 1, Reason: "expression is not valid UTF-8"}
	}
	if strings.TrimSpace(src) == "" {
		return True, nil
	}
	p := exprParser{src: src, lookup: lookup}
	if err := p.lex(); err != nil {
		return nil, err
	}
	n, err := p.parseOr(0)
	if err != nil {
		return nil, err
	}
	if p.i < len(p.toks) {
		t := p.toks[p.i]
		return nil, p.errAt(t, fmt.Sprintf("unexpected %s", t.describe()))
	}
	e := &Expr{}
	var sb strings.Builder
	n.canon(&sb, 0)
	e.canon = sb.String()
	seen := map[FlagID]bool{}
	n.emit(&e.prog, 0, &e.depth)
	if e.depth > evalStack {
		return nil, &Error{Expr: src, Pos: 1, Reason: "expression too complex"}
	}
	for _, in := range e.prog {
		if in.op == opFlag && !seen[in.flag] {
			seen[in.flag] = true
			e.flags = append(e.flags, in.flag)
		}
	}
	return e, nil
}

type tokKind uint8

const (
	tokIdent tokKind = iota
	tokAnd
	tokOr
	tokNot
	tokLParen
	tokRParen
)

type token struct {
	kind tokKind
	text string
	col  int // 1-based, in characters
}

func (t token) describe() string {
	switch t.kind {
	case tokIdent:
		return fmt.Sprintf("name %q", t.text)
	case tokLParen:
		return `"("`
	case tokRParen:
		return `")"`
	default:
		return fmt.Sprintf("operator %q", t.text)
	}
}

type exprParser struct {
	src    string
	lookup FlagLookup
	toks   []token
	i      int
	endCol int
}

func (p *exprParser) errAt(t token, reason string) error {
	return &Error{Expr: p.src, Pos: t.col, Reason: reason}
}

func identRune(r rune) bool {
	return r == '_' || r == '-' || r == '.' || unicode.IsLetter(r) || unicode.IsDigit(r)
}

func (p *exprParser) lex() error {
	col := 0
	s := p.src
	for i := 0; i < len(s); {
		r, w := utf8.DecodeRuneInString(s[i:])
		col++
		start := col
		switch {
		case unicode.IsSpace(r):
			i += w
		case r == '&' || r == '|':
			text := s[i : i+1]
			if i+1 < len(s) && s[i+1] == s[i] { // && and || are accepted too
				text = s[i : i+2]
				col++
			}
			k := tokAnd
			if r == '|' {
				k = tokOr
			}
			p.toks = append(p.toks, token{kind: k, text: text, col: start})
			i += len(text)
		case r == '!':
			p.toks = append(p.toks, token{kind: tokNot, text: "!", col: start})
			i++
		case r == '(':
			p.toks = append(p.toks, token{kind: tokLParen, text: "(", col: start})
			i++
		case r == ')':
			p.toks = append(p.toks, token{kind: tokRParen, text: ")", col: start})
			i++
		case identRune(r):
			j := i + w
			for j < len(s) {
				r2, w2 := utf8.DecodeRuneInString(s[j:])
				if !identRune(r2) {
					break
				}
				j += w2
				col++
			}
			text := s[i:j]
			k := tokIdent
			switch strings.ToLower(text) {
			case "and":
				k = tokAnd
			case "or":
				k = tokOr
			case "not":
				k = tokNot
			}
			p.toks = append(p.toks, token{kind: k, text: text, col: start})
			i = j
		default:
			return &Error{Expr: p.src, Pos: start, Reason: fmt.Sprintf("unexpected character %q", r)}
		}
	}
	p.endCol = col + 1
	return nil
}

type exprNode struct {
	op    opcode
	flag  FlagID
	name  string
	left  *exprNode
	right *exprNode
}

func (p *exprParser) peek() (token, bool) {
	if p.i < len(p.toks) {
		return p.toks[p.i], true
	}
	return token{}, false
}

func (p *exprParser) endErr(reason string) error {
	return &Error{Expr: p.src, Pos: p.endCol, Reason: reason}
}

// depth counts open parentheses and negations, the only ways to nest.
func (p *exprParser) parseOr(depth int) (*exprNode, error) {
	left, err := p.parseAnd(depth)
	if err != nil {
		return nil, err
	}
	for {
		t, ok := p.peek()
		if !ok || t.kind != tokOr {
			return left, nil
		}
		p.i++
		right, err := p.parseAnd(depth)
		if err != nil {
			return nil, err
		}
		left = &exprNode{op: opOr, left: left, right: right}
	}
}

func (p *exprParser) parseAnd(depth int) (*exprNode, error) {
	left, err := p.parseNot(depth)
	if err != nil {
		return nil, err
	}
	for {
		t, ok := p.peek()
		if !ok || t.kind != tokAnd {
			return left, nil
		}
		p.i++
		right, err := p.parseNot(depth)
		if err != nil {
			return nil, err
		}
		left = &exprNode{op: opAnd, left: left, right: right}
	}
}

func (p *exprParser) parseNot(depth int) (*exprNode, error) {
	t, ok := p.peek()
	if depth > MaxExprDepth {
		if !ok {
			return nil, p.endErr(fmt.Sprintf("expression nested deeper than %d", MaxExprDepth))
		}
		return nil, p.errAt(t, fmt.Sprintf("expression nested deeper than %d", MaxExprDepth))
	}
	if !ok {
		return nil, p.endErr("expression ends where a flag name was expected")
	}
	switch t.kind {
	case tokNot:
		p.i++
		x, err := p.parseNot(depth + 1)
		if err != nil {
			return nil, err
		}
		return &exprNode{op: opNot, left: x}, nil
	case tokLParen:
		p.i++
		x, err := p.parseOr(depth + 1)
		if err != nil {
			return nil, err
		}
		c, ok := p.peek()
		if !ok {
			return nil, p.endErr(fmt.Sprintf("missing \")\" to close \"(\" at column %d", t.col))
		}
		if c.kind != tokRParen {
			return nil, p.errAt(c, fmt.Sprintf("expected \")\" but found %s", c.describe()))
		}
		p.i++
		return x, nil
	case tokIdent:
		p.i++
		switch strings.ToLower(t.text) {
		case "true":
			return &exprNode{op: opTrue}, nil
		case "false":
			return &exprNode{op: opFalse}, nil
		}
		id, ok := p.lookup(t.text)
		if !ok {
			return nil, p.errAt(t, fmt.Sprintf("unknown flag %q", t.text))
		}
		return &exprNode{op: opFlag, flag: id, name: t.text}, nil
	default:
		return nil, p.errAt(t, fmt.Sprintf("expected a flag name but found %s", t.describe()))
	}
}

// canon writes a fully determined form: operands of & and | are parenthesised
// only where precedence needs it.
func (n *exprNode) canon(sb *strings.Builder, parent int) {
	prec := map[opcode]int{opOr: 1, opAnd: 2, opNot: 3, opFlag: 4, opTrue: 4, opFalse: 4}[n.op]
	if prec < parent {
		sb.WriteByte('(')
		defer sb.WriteByte(')')
	}
	switch n.op {
	case opFlag:
		sb.WriteString(n.name)
	case opTrue:
		sb.WriteString("true")
	case opFalse:
		sb.WriteString("false")
	case opNot:
		sb.WriteByte('!')
		n.left.canon(sb, 3)
	case opAnd:
		n.left.canon(sb, 2)
		sb.WriteByte('&')
		n.right.canon(sb, 2)
	case opOr:
		n.left.canon(sb, 1)
		sb.WriteByte('|')
		n.right.canon(sb, 1)
	}
}

// emit appends postfix code and tracks the stack depth it needs.
func (n *exprNode) emit(prog *[]instr, depth int, maxDepth *int) int {
	switch n.op {
	case opFlag, opTrue, opFalse:
		*prog = append(*prog, instr{op: n.op, flag: n.flag})
		depth++
	case opNot:
		depth = n.left.emit(prog, depth, maxDepth)
		*prog = append(*prog, instr{op: opNot})
	default:
		depth = n.left.emit(prog, depth, maxDepth)
		depth = n.right.emit(prog, depth, maxDepth)
		*prog = append(*prog, instr{op: n.op})
		depth--
	}
	if depth > *maxDepth {
		*maxDepth = depth
	}
	return depth
}

// EvalBlock evaluates the expression over the 64 dwellings of block blk;
// words[f] is the dense bit array of flag f.
func (e *Expr) EvalBlock(words [][]uint64, blk int) uint64 {
	var stack [evalStack]uint64
	sp := 0
	for _, in := range e.prog {
		switch in.op {
		case opFlag:
			stack[sp] = words[in.flag][blk]
			sp++
		case opTrue:
			stack[sp] = ^uint64(0)
			sp++
		case opFalse:
			stack[sp] = 0
			sp++
		case opNot:
			stack[sp-1] = ^stack[sp-1]
		case opAnd:
			sp--
			stack[sp-1] &= stack[sp]
		case opOr:
			sp--
			stack[sp-1] |= stack[sp]
		}
	}
	return stack[0]
}

// EvalSet evaluates the expression for one dwelling whose flags are given by has.
func (e *Expr) EvalSet(has func(FlagID) bool) bool {
	var stack [evalStack]bool
	sp := 0
	for _, in := range e.prog {
		switch in.op {
		case opFlag:
			stack[sp] = has(in.flag)
			sp++
		case opTrue:
			stack[sp] = true
			sp++
		case opFalse:
			stack[sp] = false
			sp++
		case opNot:
			stack[sp-1] = !stack[sp-1]
		case opAnd:
			sp--
			stack[sp-1] = stack[sp-1] && stack[sp]
		case opOr:
			sp--
			stack[sp-1] = stack[sp-1] || stack[sp]
		}
	}
	return stack[0]
}
