package server

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"sync/atomic"
	"unicode/utf8"

	"github.com/roomstate/roomstate/answer"
	"github.com/roomstate/roomstate/engine"
	"github.com/roomstate/roomstate/fault"
	"github.com/valyala/fasthttp"
)

// Role names, as tokens files write them.
const (
	RoleViewer  = "viewer"  // aggregates and tiles; small counts hidden
	RoleAnalyst = "analyst" // plus dwelling ids, records and room-state maps
	RoleEditor  = "editor"  // plus changes, inside its scope
	RoleAdmin   = "admin"   // everything: schemes, audit, any change
)

// Scope limits where an editor may change dwellings: a dwelling is in scope
// when its district, street, community, grid or building is listed, or when
// a person listed answers for its building at the moment of the change
// (楼组包干: the right moves with a reassignment at once).
type Scope struct {
	District  []string `json:"district,omitempty"`
	Street    []string `json:"street,omitempty"`
	Community []string `json:"community,omitempty"`
	Grid      []string `json:"grid,omitempty"`
	Building  []string `json:"building,omitempty"`
	Person    []string `json:"person,omitempty"`
}

func (sc *Scope) empty() bool {
	return len(sc.District)+len(sc.Street)+len(sc.Community)+len(sc.Grid)+len(sc.Building)+len(sc.Person) == 0
}

// check refuses empty names in a scope.
func (sc *Scope) check() error {
	for _, list := range []struct {
		what  string
		names []string
	}{{"district", sc.District}, {"street", sc.Street}, {"community", sc.Community}, {"grid", sc.Grid},
		{"building", sc.Building}, {"person", sc.Person}} {
		for _, n := range list.names {
			if strings.TrimSpace(n) == "" {
				return fmt.Errorf("scope.%s holds an empty name", list.what)
			}
		}
	}
	return nil
}

// Token is one entry of the tokens file.
type Token struct {
	Name  string `json:"name"`
	Token string `json:"token"`
	Role  string `json:"role"`
	Scope Scope  `json:"scope"`
}

// Access holds the tokens; nil means no tokens (every request is trusted,
// and the server listens on loopback only).
type Access struct {
	entries atomic.Pointer[[]accessEntry]
	k       int64
}

type accessEntry struct {
	hash [32]byte
	c    answer.Caller
}

// MinTokenLen is the shortest token that is not reported as weak: a
// shorter one is accepted (the contract sets no length), and ShortTokens
// names it so that the server can warn at start.
const MinTokenLen = 16

// ParseTokens reads and checks a tokens file's content: a JSON list of
// {"name", "token", "role", "scope"}.
func ParseTokens(data []byte) ([]Token, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var ts []Token
	if err := dec.Decode(&ts); err != nil {
		return nil, fmt.Errorf("tokens: %v (want a JSON list of {\"name\", \"token\", \"role\", \"scope\"})", err)
	}
	if dec.More() {
		return nil, fmt.Errorf("tokens: data after the list")
	}
	names := map[string]bool{}
	secrets := map[string]bool{}
	for i, t := range ts {
		where := fmt.Sprintf("tokens[%d]", i)
		if t.Name != "" {
			where += fmt.Sprintf(" (%s)", t.Name)
		}
		switch {
		case t.Name == "":
			return nil, fmt.Errorf("%s: name is empty; the name is what logs and the audit show", where)
		case names[t.Name]:
			return nil, fmt.Errorf("%s: name appears twice", where)
		case t.Token == "":
			return nil, fmt.Errorf("%s: token is empty", where)
		case secrets[t.Token]:
			return nil, fmt.Errorf("%s: token used twice", where)
		}
		if _, ok := answer.ParseRole(t.Role); !ok {
			return nil, fmt.Errorf("%s: role %q: want viewer, analyst, editor or admin", where, t.Role)
		}
		if t.Role == RoleEditor && t.Scope.empty() {
			return nil, fmt.Errorf("%s: an editor needs a scope, e.g. {\"grid\": [\"G0131\"]} or {\"person\": [\"张三\"]}", where)
		}
		if err := t.Scope.check(); err != nil {
			return nil, fmt.Errorf("%s: %v", where, err)
		}
		names[t.Name], secrets[t.Token] = true, true
	}
	return ts, nil
}

// ShortTokens returns the names of the entries whose token is shorter than
// MinTokenLen characters: accepted, but easier to guess, so worth a warning.
// It never returns a token.
func ShortTokens(ts []Token) []string {
	var names []string
	for _, t := range ts {
		if utf8.RuneCountInString(t.Token) < MinTokenLen {
			names = append(names, t.Name)
		}
	}
	return names
}

// NewAccess makes the access control of a list of tokens; k is the
// smallest count viewers see (default 3).
func NewAccess(ts []Token, k int) *Access {
	if k <= 0 {
		k = 3
	}
	a := &Access{k: int64(k)}
	a.Set(ts)
	return a
}

// Set replaces the tokens (for a reload on SIGHUP).
func (a *Access) Set(ts []Token) {
	es := make([]accessEntry, 0, len(ts))
	for _, t := range ts {
		role, _ := answer.ParseRole(t.Role)
		e := accessEntry{hash: sha256.Sum256([]byte(t.Token)), c: answer.Caller{Name: t.Name, Role: role}}
		if role == answer.Editor {
			e.c.Scope = &engine.Scope{District: t.Scope.District, Street: t.Scope.Street, Community: t.Scope.Community,
				Grid: t.Scope.Grid, Building: t.Scope.Building, Person: t.Scope.Person}
		}
		es = append(es, e)
	}
	a.entries.Store(&es)
}

// LoadTokensFile reads a tokens file.
func LoadTokensFile(path string) ([]Token, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, 16<<20))
	if err != nil {
		return nil, err
	}
	ts, err := ParseTokens(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return ts, nil
}

// identify finds the caller of a request: Authorization: Bearer TOKEN, or
// access_token in the query (EventSource cannot set headers). The token is
// compared in constant time after hashing, and never logged.
func (a *Access) identify(ctx *fasthttp.RequestCtx) *answer.Caller {
	var tok []byte
	if h := ctx.Request.Header.Peek("Authorization"); len(h) > 7 && strings.EqualFold(string(h[:7]), "bearer ") {
		tok = bytes.TrimSpace(h[7:])
	} else if q := ctx.QueryArgs().Peek("access_token"); len(q) > 0 {
		tok = q
	}
	if len(tok) == 0 {
		return nil
	}
	h := sha256.Sum256(tok)
	// every entry is compared, in constant time, with no early exit: the
	// time taken says nothing of which token, or how much of one, matched
	found := -1
	es := *a.entries.Load()
	for i := range es {
		if subtle.ConstantTimeCompare(es[i].hash[:], h[:]) == 1 {
			found = i
		}
	}
	if found < 0 {
		return nil
	}
	c := es[found].c
	return &c
}

// authenticate finds a request's caller: with tokens configured, every
// request but health checks and the dashboard's files needs a valid token;
// without, every request is trusted (the server listens on loopback only).
func (s *Server) authenticate(ctx *fasthttp.RequestCtx, r route) (*answer.Caller, error) {
	remote := s.ClientAddr(ctx).String()
	if s.access == nil {
		return &answer.Caller{Name: "", Role: answer.Admin, Remote: remote}, nil
	}
	if r.open {
		return &answer.Caller{Role: answer.Viewer, Remote: remote}, nil
	}
	c := s.access.identify(ctx)
	if c == nil {
		ctx.Response.Header.Set("WWW-Authenticate", `Bearer realm="roomstate"`)
		return nil, fault.New(fault.Unauthorized, "a valid token is required: send Authorization: Bearer TOKEN")
	}
	c.Remote = remote
	return c, nil
}
