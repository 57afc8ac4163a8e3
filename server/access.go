package server

import (
	"bytes"
	"io"
	"time"

	"github.com/roomstate/roomstate/engine"
	"github.com/roomstate/roomstate/store"

	"github.com/valyala/fasthttp"
)

// Access is the token configuration (nil: no tokens, every request is
// trusted, and the server listens on loopback only).
type Access struct{}

// perm is what a request needs of its caller's role.
type perm int

const (
	permRead   perm = iota // aggregates and tiles: every role
	permDetail             // dwelling ids and room-state maps: analyst and up
	permWrite              // changes to dwellings: editor (inside its scope) and admin
	permAdmin              // schemes, audit: admin
)

// caller is who sent a request; nil when the server runs without tokens.
type caller struct {
	name      string
	role      string
	suppressK int64 // > 0 for viewers: counts from 1 to k-1 are hidden
}

// callerKey is the user value under which a request's caller is kept.
const callerKey = "roomstate.caller"

// allow checks that the request's caller may do what p names.
func (s *Server) allow(ctx *fasthttp.RequestCtx, p perm) error {
	return nil
}

// allowWrite checks that the caller may make these changes (role and scope);
// lines, for a batch, locates the first change outside the scope.
func (s *Server) allowWrite(ctx *fasthttp.RequestCtx, ops []engine.Op, lines []int) error {
	return s.allow(ctx, permWrite)
}

// who describes the caller for the audit trail.
func (s *Server) who(ctx *fasthttp.RequestCtx) *store.Who {
	w := &store.Who{Time: time.Now().UTC(), Remote: ctx.RemoteIP().String()}
	if c, ok := ctx.UserValue(callerKey).(*caller); ok && c != nil {
		w.Name, w.Role = c.name, c.role
	}
	return w
}

// schemeChanged is called after a scheme is replaced.
func (s *Server) schemeChanged(name string) {}

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }
