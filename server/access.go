package server

import (
	"bytes"
	"io"

	"github.com/valyala/fasthttp"
)

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

// schemeChanged is called after a scheme is replaced.
func (s *Server) schemeChanged(name string) {}

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }
