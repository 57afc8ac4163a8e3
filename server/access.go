package server

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/roomstate/roomstate/engine"
	"github.com/roomstate/roomstate/store"
	"github.com/valyala/fasthttp"
)

// Roles, from least to most.
const (
	RoleViewer  = "viewer"  // aggregates and tiles; small counts hidden
	RoleAnalyst = "analyst" // plus dwelling ids, records and room-state maps
	RoleEditor  = "editor"  // plus changes, inside its scope
	RoleAdmin   = "admin"   // everything: schemes, audit, any change
)

var roleRank = map[string]int{RoleViewer: 0, RoleAnalyst: 1, RoleEditor: 2, RoleAdmin: 3}

// perm is what a request needs of its caller's role.
type perm int

const (
	permRead   perm = iota // aggregates and tiles: every role
	permDetail             // dwelling ids and room-state maps: analyst and up
	permWrite              // changes to dwellings: editor (inside its scope) and admin
	permAdmin              // schemes, audit: admin
)

var permRole = map[perm]string{permRead: RoleViewer, permDetail: RoleAnalyst, permWrite: RoleEditor, permAdmin: RoleAdmin}

// Scope limits where an editor may change dwellings: a dwelling is in scope
// when its grid, community or building is listed.
type Scope struct {
	Grid      []string `json:"grid,omitempty"`
	Community []string `json:"community,omitempty"`
	Building  []string `json:"building,omitempty"`
}

func (sc *Scope) empty() bool { return len(sc.Grid)+len(sc.Community)+len(sc.Building) == 0 }

func (sc *Scope) holds(grid, community, building string) bool {
	return slices.Contains(sc.Grid, grid) || slices.Contains(sc.Community, community) || slices.Contains(sc.Building, building)
}

// Token is one entry of the tokens file.
type Token struct {
	Name  string `json:"name"`
	Token string `json:"token"`
	Role  string `json:"role"`
	Scope Scope  `json:"scope"`
}

// caller is who sent a request.
type caller struct {
	name      string
	role      string
	scope     *Scope // editors: where they may write
	suppressK int64  // > 0 for viewers: counts from 1 to k-1 are hidden
}

// Access holds the tokens; nil means no tokens (every request is trusted,
// and the server listens on loopback only).
type Access struct {
	entries atomic.Pointer[[]accessEntry]
	k       int64
}

type accessEntry struct {
	hash [32]byte
	c    caller
}

// MinTokenLen is the shortest token accepted.
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
		case len(t.Token) < MinTokenLen:
			return nil, fmt.Errorf("%s: token shorter than %d characters", where, MinTokenLen)
		case secrets[t.Token]:
			return nil, fmt.Errorf("%s: token used twice", where)
		}
		if _, ok := roleRank[t.Role]; !ok {
			return nil, fmt.Errorf("%s: role %q: want viewer, analyst, editor or admin", where, t.Role)
		}
		if t.Role == RoleEditor && t.Scope.empty() {
			return nil, fmt.Errorf("%s: an editor needs a scope, e.g. {\"grid\": [\"G0131\"]}", where)
		}
		names[t.Name], secrets[t.Token] = true, true
	}
	return ts, nil
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
		e := accessEntry{hash: sha256.Sum256([]byte(t.Token)), c: caller{name: t.Name, role: t.Role}}
		if t.Role == RoleViewer {
			e.c.suppressK = a.k
		}
		if t.Role == RoleEditor {
			sc := t.Scope
			e.c.scope = &sc
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
func (a *Access) identify(ctx *fasthttp.RequestCtx) *caller {
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

// callerKey is the user value under which a request's caller is kept.
const callerKey = "roomstate.caller"

// authenticate runs before routing: with tokens configured, every request
// but health checks and the dashboard's files needs a valid token.
func (s *Server) authenticate(ctx *fasthttp.RequestCtx, r route) error {
	if s.access == nil || r.open {
		return nil
	}
	c := s.access.identify(ctx)
	if c == nil {
		ctx.Response.Header.Set("WWW-Authenticate", `Bearer realm="roomstate"`)
		return errf(fasthttp.StatusUnauthorized, "unauthorized", "a valid token is required: send Authorization: Bearer TOKEN")
	}
	ctx.SetUserValue(callerKey, c)
	return nil
}

func callerOf(ctx *fasthttp.RequestCtx) *caller {
	c, _ := ctx.UserValue(callerKey).(*caller)
	return c
}

// allow checks that the request's caller may do what p names.
func (s *Server) allow(ctx *fasthttp.RequestCtx, p perm) error {
	if s.access == nil {
		return nil
	}
	c := callerOf(ctx)
	if c == nil {
		return errf(fasthttp.StatusUnauthorized, "unauthorized", "a valid token is required")
	}
	if roleRank[c.role] < roleRank[permRole[p]] {
		return errf(fasthttp.StatusForbidden, "forbidden", "role %s may not do this (needs %s)", c.role, permRole[p])
	}
	return nil
}

// allowWrite checks role and returns the scope check the store runs with
// the changes, so that the check and the changes see the same state.
func (s *Server) allowWrite(ctx *fasthttp.RequestCtx, ops []engine.Op, lines []int) (func(*engine.Engine) error, error) {
	if err := s.allow(ctx, permWrite); err != nil {
		return nil, err
	}
	c := callerOf(ctx)
	if c == nil || c.role == RoleAdmin || c.scope == nil {
		return nil, nil
	}
	scope := c.scope
	return func(e *engine.Engine) error {
		for i, op := range ops {
			where := ""
			if lines != nil {
				where = fmt.Sprintf("line %d: ", lines[i])
			}
			out := func(what string) error {
				ae := errf(fasthttp.StatusForbidden, "forbidden", "%sdwelling %q %s is outside the scope of %s; nothing was applied", where, op.ID, what, c.name)
				if lines != nil {
					ae.Line = lines[i]
				}
				return ae
			}
			if d, err := e.Dwelling(op.ID); err == nil {
				if !scope.holds(d.Grid, d.Community, d.Building) {
					return out("")
				}
			} else if op.Kind != engine.OpPut {
				continue // unknown: the store's check says so
			}
			if op.Kind == engine.OpPut && op.Put != nil && !scope.holds(op.Put.Grid, op.Put.Community, op.Put.Building) {
				return out("as sent")
			}
		}
		return nil
	}, nil
}

// who describes the caller for the audit trail.
func (s *Server) who(ctx *fasthttp.RequestCtx) *store.Who {
	w := &store.Who{Time: time.Now().UTC(), Remote: ctx.RemoteIP().String()}
	if c := callerOf(ctx); c != nil {
		w.Name, w.Role = c.name, c.role
	}
	return w
}

// suppressK is the k of small-count suppression for this request's caller
// (0: exact numbers).
func (s *Server) suppressK(ctx *fasthttp.RequestCtx) int64 {
	if c := callerOf(ctx); c != nil {
		return c.suppressK
	}
	return 0
}
