package answer

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"time"

	"github.com/roomstate/roomstate/engine"
	"github.com/roomstate/roomstate/fault"
	"github.com/roomstate/roomstate/internal/when"
	"github.com/roomstate/roomstate/privacy"
	"github.com/roomstate/roomstate/scheme"
	"github.com/roomstate/roomstate/store"
)

// Since reads where a change stream starts: the since parameter (or the
// Last-Event-ID a reconnecting client sends), else now. It checks the start
// against the feed: a start before a change the feed no longer has is
// fault.Gone with the oldest version still available (a load is no change:
// see store.Feed.Since).
func (a *Answers) Since(since string, c *Caller) (engine.Version, error) {
	if a.store == nil {
		return 0, fault.New(fault.Unavailable, "this server has no change feed")
	}
	feed := a.store.Feed()
	v := feed.Newest()
	if since != "" {
		n, err := strconv.ParseUint(since, 10, 64)
		if err != nil {
			return 0, fault.New(fault.BadRequest, "since must be a version number")
		}
		v = engine.Version(n)
	}
	if _, _, err := feed.Since(v, 0, nil); err != nil {
		return 0, feedError(err)
	}
	return v, nil
}

// feedError types the change feed's errors.
func feedError(err error) error {
	if g, ok := err.(*store.GoneError); ok {
		return &fault.Error{Kind: fault.Gone, Msg: g.Error(), Oldest: uint64(g.Oldest)}
	}
	if err == store.ErrClosed {
		return fault.New(fault.Unavailable, "the server is shutting down")
	}
	return err
}

// Changes returns up to max changes after since, and a channel closed when
// more arrive. A start the feed no longer holds is fault.Gone.
func (a *Answers) Changes(since engine.Version, max int, dst []engine.Event) ([]engine.Event, <-chan struct{}, error) {
	evs, wake, err := a.store.Feed().Since(since, max, dst)
	if err != nil {
		return nil, nil, feedError(err)
	}
	return evs, wake, nil
}

// EventJSON appends one change as the feed shows it to a caller under pol:
// {"version", "time", "op", "id", "building", "feature_id", "set", "clear"}.
// A viewer sees that the map changed, and when: {"version", "time"}; which
// building changed, and how, would be a count of one household. Changes of
// no dwelling (op assign, visit, campaign, campaign_end, scheme) are no household's:
// every caller sees them, with what writeChangeInfo writes, and "set" and
// "clear" empty (no flag changed), so that every event a caller other than
// a viewer gets has the members the contract lists.
func EventJSON(dst []byte, ev *engine.Event, pol privacy.Policy) []byte {
	w := jsonw{b: dst}
	w.raw(`{"version":`)
	w.uint(uint64(ev.Version))
	w.raw(`,"time":`)
	w.str(ev.Time.UTC().Format("2006-01-02T15:04:05.000Z07:00"))
	if pol.EventDetail() {
		w.raw(`,"op":`)
		w.str(ev.Op.String())
		w.raw(`,"id":`)
		w.str(ev.ID)
		w.raw(`,"building":`)
		w.str(ev.Building)
		w.raw(`,"feature_id":`)
		w.uint(engine.FeatureID(ev.Building))
		if ev.Info != nil {
			writeChangeInfo(&w, ev, pol)
			w.raw(`,"set":[],"clear":[]`)
		} else {
			w.raw(`,"set":`)
			w.strs(nonNil(ev.Set))
			w.raw(`,"clear":`)
			w.strs(nonNil(ev.Clear))
		}
	} else if ev.Info != nil {
		w.raw(`,"op":`)
		w.str(ev.Op.String())
		w.raw(`,"building":`)
		w.str(ev.Building)
		w.raw(`,"feature_id":`)
		w.uint(engine.FeatureID(ev.Building))
		writeChangeInfo(&w, ev, pol)
		w.raw(`,"set":[],"clear":[]`)
	}
	w.byte('}')
	return w.b
}

// writeChangeInfo writes what a change of no dwelling did: for "assign"
// the unit ("level", "unit") and who answers for it now ("person", "team":
// "" when nobody); for "visit" who recorded it ("by") and, beyond
// viewers, its "note"; for "campaign" and "campaign_end" the campaign
// ("campaign", "label", "tasks"). Its "id" is the unit's, building's or
// campaign's, for every caller: none of them is a household.
func writeChangeInfo(w *jsonw, ev *engine.Event, pol privacy.Policy) {
	in := ev.Info
	if !pol.EventDetail() {
		w.raw(`,"id":`)
		w.str(ev.ID)
	}
	switch ev.Op {
	case engine.OpAssign:
		w.raw(`,"level":`)
		w.str(in.Level.String())
		w.raw(`,"unit":`)
		w.str(ev.ID)
		w.raw(`,"person":`)
		w.str(in.Person)
		w.raw(`,"team":`)
		w.str(in.Team)
	case engine.OpVisit:
		w.raw(`,"by":`)
		w.str(in.By)
		if pol.EventDetail() {
			w.raw(`,"note":`)
			w.str(in.Note)
		}
	case engine.OpCampaign, engine.OpEndCampaign:
		w.raw(`,"campaign":`)
		w.str(ev.ID)
		w.raw(`,"label":`)
		w.str(in.Label)
		w.raw(`,"tasks":`)
		w.count(pol.Value(int64(in.Tasks)))
	}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// PutScheme answers PUT /api/v1/schemes/{name} (admins): the scheme as
// stored and the version of its change.
func (a *Answers) PutScheme(name string, body []byte, c *Caller) ([]byte, error) {
	if err := c.need(Admin); err != nil {
		return nil, err
	}
	var sc scheme.Scheme
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&sc); err != nil {
		if err == io.EOF {
			return nil, fault.New(fault.BadJSON, "scheme: the body is empty; want a scheme object")
		}
		return nil, fault.New(fault.BadJSON, "scheme: %v", err)
	}
	if dec.More() {
		return nil, fault.New(fault.BadJSON, "scheme: data after the scheme object")
	}
	evs, err := a.submit(c, []engine.Op{{Kind: engine.OpScheme, ID: name, Scheme: &sc}})
	if err != nil {
		return nil, err
	}
	stored, ok := a.eng.Scheme(name)
	if !ok {
		return nil, fault.New(fault.NotFound, "scheme %q not found", name)
	}
	return marshal(struct {
		scheme.Scheme
		Version engine.Version `json:"version"`
	}{stored, evs[len(evs)-1].Version})
}

// auditBound reads the audit's since or until: an RFC 3339 time, Unix
// seconds, or a date, a day in the server's time zone (since: from its
// start; until: through its end). It returns the bound as AuditQuery takes
// it: entries at or after since, and before until, so an until time is
// moved on by a nanosecond to take the entries at it.
func (a *Answers) auditBound(key, s string) (time.Time, error) {
	t, err := when.Time(s)
	if errors.Is(err, when.ErrNotTime) {
		var start, next time.Time
		if start, next, err = when.Day(s, a.opts.TZ); err == nil {
			if key == "until" {
				return next, nil
			}
			return start, nil
		}
		if errors.Is(err, when.ErrNotTime) {
			if n, e := strconv.ParseInt(s, 10, 64); e == nil {
				t, err = time.Unix(n, 0).UTC(), nil
			}
		}
	}
	if err != nil {
		why := ""
		if !errors.Is(err, when.ErrNotTime) {
			why = err.Error() + "; "
		}
		return time.Time{}, fault.New(fault.BadRequest, "%s %q: %swant an RFC 3339 time (2026-11-23T08:00:00+08:00), a date (2026-11-23: a day in %s) or Unix seconds", key, s, why, a.opts.TZ)
	}
	if key == "until" {
		return t.Add(time.Nanosecond), nil
	}
	return t, nil
}

// Audit answers GET /api/v1/audit?dwelling=&grid=&name=&since=&until=&after=&limit=
// for admins: accepted changes in version order, a page at a time; "next"
// is the after of the next page, null on the last.
func (a *Answers) Audit(q Query, c *Caller) ([]byte, error) {
	if err := c.need(Admin); err != nil {
		return nil, err
	}
	if a.store == nil {
		return nil, fault.New(fault.Unavailable, "this server keeps no audit trail")
	}
	aq := store.AuditQuery{Dwelling: q.Get("dwelling"), Grid: q.Get("grid"), Name: q.Get("name")}
	for _, p := range []struct {
		key string
		dst *time.Time
	}{{"since", &aq.Since}, {"until", &aq.Until}} {
		if v := q.Get(p.key); v != "" {
			t, err := a.auditBound(p.key, v)
			if err != nil {
				return nil, err
			}
			*p.dst = t
		}
	}
	if v := q.Get("after"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return nil, fault.New(fault.BadRequest, "after must be a version number")
		}
		aq.After = n
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return nil, fault.New(fault.BadRequest, "limit must be from 1 to 1000")
		}
		aq.Limit = n
	}
	entries, more, err := a.store.Audit(aq)
	if err != nil {
		return nil, err
	}
	var next any
	if more && len(entries) > 0 {
		next = entries[len(entries)-1].Version
	}
	if entries == nil {
		entries = []store.AuditEntry{}
	}
	return marshal(map[string]any{"entries": entries, "next": next})
}
