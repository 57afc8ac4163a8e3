package server

import (
	"strconv"
	"time"

	"github.com/roomstate/roomstate/store"
	"github.com/valyala/fasthttp"
)

// parseTime reads RFC 3339 (2026-11-23T08:00:00Z), a date (2026-11-23, UTC)
// or Unix seconds.
func parseTime(s string) (time.Time, bool) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, true
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, true
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.Unix(n, 0).UTC(), true
	}
	return time.Time{}, false
}

// audit answers GET /api/v1/audit?dwelling=&grid=&name=&since=&until=&after=&limit=
// for admins: accepted changes in version order, a page at a time; "next"
// is the after of the next page, null on the last.
func (s *Server) auditLog(ctx *fasthttp.RequestCtx, _ []string) error {
	if err := s.allow(ctx, permAdmin); err != nil {
		return err
	}
	args := ctx.QueryArgs()
	q := store.AuditQuery{Dwelling: string(args.Peek("dwelling")), Grid: string(args.Peek("grid")), Name: string(args.Peek("name"))}
	for _, p := range []struct {
		key string
		dst *time.Time
	}{{"since", &q.Since}, {"until", &q.Until}} {
		if v := args.Peek(p.key); len(v) > 0 {
			t, ok := parseTime(string(v))
			if !ok {
				return errf(fasthttp.StatusBadRequest, "bad_request", "%s: want RFC 3339 (2026-11-23T08:00:00Z), a date or Unix seconds", p.key)
			}
			*p.dst = t
		}
	}
	if v := args.Peek("after"); len(v) > 0 {
		n, err := strconv.ParseUint(string(v), 10, 64)
		if err != nil {
			return errf(fasthttp.StatusBadRequest, "bad_request", "after must be a version number")
		}
		q.After = n
	}
	if v := args.Peek("limit"); len(v) > 0 {
		n, err := strconv.Atoi(string(v))
		if err != nil || n < 1 || n > 1000 {
			return errf(fasthttp.StatusBadRequest, "bad_request", "limit must be from 1 to 1000")
		}
		q.Limit = n
	}
	entries, more, err := s.store.Audit(q)
	if err != nil {
		return err
	}
	var next any
	if more && len(entries) > 0 {
		next = entries[len(entries)-1].Version
	}
	if entries == nil {
		entries = []store.AuditEntry{}
	}
	return sendJSON(ctx, map[string]any{"entries": entries, "next": next})
}
