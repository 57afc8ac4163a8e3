package answer

import (
	"errors"
	"time"

	"github.com/roomstate/roomstate/engine"
	"github.com/roomstate/roomstate/fault"
	"github.com/roomstate/roomstate/privacy"
	"github.com/valyala/fastjson"
)

// shownProgress is a campaign's (or a unit's) figures as a policy shows
// them: the counts, and the daily rate and the date remaining reaches 0 at
// it (nil and "" when not shown).
type shownProgress struct {
	total, done, remaining, removed privacy.Value
	rate                            float64
	hasRate                         bool
	eta                             time.Time // a day in the server's zone
	hasETA                          bool
}

// showProgress shows p under pol. Besides each count the policy withholds,
// one more of done, remaining and removed is withheld when only one of them
// is (total = done + remaining + removed would give it back); the rate and
// the date are withheld with the rise they come from, or with remaining.
func showProgress(pol privacy.Policy, p *engine.CampaignProgress, days int, now time.Time, tz *time.Location) shownProgress {
	s := shownProgress{total: pol.Value(p.Total), done: pol.Value(p.Done), remaining: pol.Value(p.Remaining), removed: pol.Value(p.Removed)}
	parts := [3]*privacy.Value{&s.done, &s.remaining, &s.removed}
	raw := [3]int64{p.Done, p.Remaining, p.Removed}
	withheld := 0
	for _, v := range parts {
		if v.Withheld {
			withheld++
		}
	}
	if withheld == 1 && !s.total.Withheld {
		// withhold the smallest other part that is not 0
		best := -1
		for i, v := range parts {
			if !v.Withheld && raw[i] > 0 && (best < 0 || raw[i] < raw[best]) {
				best = i
			}
		}
		if best >= 0 {
			*parts[best] = privacy.Value{Withheld: true}
		} else {
			s.total = privacy.Value{Withheld: true}
		}
	}
	rise := p.Rise
	if rise < 0 {
		rise = -rise
	}
	if pol.Value(rise).Withheld {
		return s
	}
	s.rate, s.hasRate = float64(p.Rise)/float64(days), true
	if p.Remaining > 0 && p.Rise > 0 && !s.remaining.Withheld {
		d := float64(p.Remaining) / s.rate
		if d < 100_000 {
			s.eta, s.hasETA = now.Add(time.Duration(d*float64(24*time.Hour))).In(tz), true
		}
	}
	return s
}

// writeProgress writes "total", "done", "remaining", "removed", "rate_7d"
// and "eta" (no braces).
func writeProgress(w *jsonw, s *shownProgress) {
	w.raw(`"total":`)
	w.count(s.total)
	w.raw(`,"done":`)
	w.count(s.done)
	w.raw(`,"remaining":`)
	w.count(s.remaining)
	w.raw(`,"removed":`)
	w.count(s.removed)
	w.raw(`,"rate_7d":`)
	if s.hasRate {
		w.float(s.rate)
	} else {
		w.raw("null")
	}
	w.raw(`,"eta":`)
	if s.hasETA {
		w.byte('"')
		w.b = s.eta.AppendFormat(w.b, "2006-01-02")
		w.byte('"')
	} else {
		w.raw("null")
	}
}

// writeCampaignHead writes a campaign's definition and figures (no
// braces).
func (a *Answers) writeCampaignHead(w *jsonw, pol privacy.Policy, r *engine.CampaignReport) {
	w.raw(`"name":`)
	w.str(r.Name)
	w.raw(`,"label":`)
	w.str(r.Label)
	w.raw(`,"target":`)
	w.str(r.Target)
	w.raw(`,"goal":`)
	w.str(r.Goal)
	w.raw(`,"created":`)
	w.str(r.Created.In(a.opts.TZ).Format(timeMs))
	w.raw(`,"deadline":`)
	if r.Deadline != "" {
		w.str(r.Deadline)
	} else {
		w.raw("null")
	}
	w.byte(',')
	s := showProgress(pol, &r.CampaignProgress, r.WindowDays, r.Now, a.opts.TZ)
	writeProgress(w, &s)
}

// Campaigns answers GET /api/v1/campaigns: {"campaigns": [{"name", "label",
// "target", "goal", "created", "deadline", "total", "done", "remaining",
// "removed", "rate_7d", "eta"}], "version"}, by name.
func (a *Answers) Campaigns(c *Caller) ([]byte, error) {
	start := time.Now()
	rs, v := a.eng.Campaigns()
	pol := a.Policy(c)
	sc := a.scratch()
	w := &sc.w
	w.raw(`{"campaigns":[`)
	for i := range rs {
		w.comma(i)
		w.byte('{')
		a.writeCampaignHead(w, pol, &rs[i])
		w.byte('}')
	}
	w.byte(']')
	finish(w, v, start)
	return a.done(sc), nil
}

// Campaign answers GET /api/v1/campaigns/{name}?level=street: the campaign
// with its days from the start to today (in the server's time zone: done
// at the day's end, today's now, and its rise over the day before) and its
// units of the level (default street), each counting the tasks whose
// dwellings were in it at the start.
func (a *Answers) Campaign(name string, q Query, c *Caller) ([]byte, error) {
	start := time.Now()
	level := engine.LevelStreet
	if s := q.Get("level"); s != "" {
		l, err := engine.ParseLevel(s)
		if err != nil || l == engine.LevelBuilding {
			return nil, fault.New(fault.BadRequest, "level %q: want district, street, community or grid", s)
		}
		level = l
	}
	r, err := a.eng.Campaign(name, level, a.opts.TZ)
	if err != nil {
		return nil, err
	}
	pol := a.Policy(c)
	sc := a.scratch()
	w := &sc.w
	w.grow(len(r.Units)*192 + len(r.Days)*48 + 1024)
	w.byte('{')
	a.writeCampaignHead(w, pol, r)
	w.raw(`,"days":[`)
	for i := range r.Days {
		d := &r.Days[i]
		today := pol.Value(abs(d.DoneToday))
		done := pol.Value(d.Done)
		if today.Withheld {
			done = privacy.Value{Withheld: true}
		}
		w.comma(i)
		w.raw(`{"date":`)
		w.str(d.Date.Format("2006-01-02"))
		w.raw(`,"done":`)
		w.count(done)
		w.raw(`,"done_today":`)
		if today.Withheld {
			w.count(today)
		} else {
			w.int(d.DoneToday)
		}
		w.byte('}')
	}
	w.raw(`],"level":`)
	w.str(level.String())
	w.raw(`,"units":[`)
	for i := range r.Units {
		u := &r.Units[i]
		w.comma(i)
		w.raw(`{"level":`)
		w.str(u.Level.String())
		w.raw(`,"id":`)
		w.str(u.ID)
		w.raw(`,"name":`)
		w.str(u.Name)
		w.byte(',')
		s := showProgress(pol, &u.CampaignProgress, r.WindowDays, r.Now, a.opts.TZ)
		writeProgress(w, &s)
		w.byte('}')
	}
	w.byte(']')
	finish(w, r.Version, start)
	return a.done(sc), nil
}

// PutCampaign answers PUT /api/v1/campaigns/{name} (admins) {"label",
// "target", "goal", "deadline"}: it starts the campaign, its task set the
// dwellings for which target holds now; for a running one with the same
// target and goal it changes label and deadline (another target or goal is
// 409 conflict). The answer is the campaign's; created reports a start.
func (a *Answers) PutCampaign(name string, body []byte, c *Caller) (answer []byte, created bool, err error) {
	if err := c.need(Admin); err != nil {
		return nil, false, err
	}
	if err := engine.ValidCampaignName(name); err != nil {
		return nil, false, fault.New(fault.BadRequest, "%v", err)
	}
	p, obj, err := a.parseBody(body)
	if err != nil {
		return nil, false, err
	}
	in := &engine.CampaignInput{}
	var hasTarget, hasGoal bool
	var ferr error
	obj.Visit(func(k []byte, v *fastjson.Value) {
		if ferr != nil {
			return
		}
		switch string(k) {
		case "label":
			in.Label, ferr = fieldString(v, "label")
		case "target":
			in.Target, ferr = fieldString(v, "target")
			hasTarget = true
		case "goal":
			in.Goal, ferr = fieldString(v, "goal")
			hasGoal = true
		case "deadline":
			if in.Deadline, ferr = fieldString(v, "deadline"); ferr == nil && in.Deadline != "" {
				if _, err := time.Parse("2006-01-02", in.Deadline); err != nil {
					ferr = fault.New(fault.BadRequest, "deadline %q: want a date, e.g. 2026-12-31", in.Deadline)
				}
			}
		default:
			ferr = fault.New(fault.BadRequest, "unknown field %q (want label, target, goal, deadline)", k)
		}
	})
	a.parsers.Put(p)
	if ferr == nil && (!hasTarget || !hasGoal || in.Target == "" || in.Goal == "") {
		ferr = fault.New(fault.BadRequest, "target and goal are required: the flag expressions of the task set and of a task done")
	}
	if ferr != nil {
		return nil, false, ferr
	}
	evs, err := a.submitAdmin(c, []engine.Op{{Kind: engine.OpCampaign, ID: name, Campaign: in}})
	if err != nil {
		var oe *engine.OpError
		if errors.As(err, &oe) {
			return nil, false, oe.Err
		}
		return nil, false, err
	}
	ans, err := a.Campaign(name, Values{}, c)
	return ans, evs[0].Created, err
}

// DeleteCampaign answers DELETE /api/v1/campaigns/{name} (admins): it
// ends the campaign → {"name", "ended": true, "version"}.
func (a *Answers) DeleteCampaign(name string, c *Caller) ([]byte, error) {
	evs, err := a.submitAdmin(c, []engine.Op{{Kind: engine.OpEndCampaign, ID: name}})
	if err != nil {
		var oe *engine.OpError
		if errors.As(err, &oe) {
			return nil, oe.Err
		}
		return nil, err
	}
	sc := a.scratch()
	w := &sc.w
	w.raw(`{"name":`)
	w.str(name)
	w.raw(`,"ended":true,"version":`)
	w.uint(uint64(evs[0].Version))
	w.raw("}\n")
	return a.done(sc), nil
}
