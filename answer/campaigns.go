package answer

import (
	"errors"
	"slices"
	"strings"
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

// showProgress shows p with the counts as given (each withheld or not):
// the rate and the date are withheld with the rise they come from, with
// done (the rise is done now minus done at the window's start, which a
// viewer may know: 0 at the start, or a day's end), or (the date) with
// remaining.
func showProgress(total, done, remaining, removed, rise privacy.Value, p *engine.CampaignProgress, days int, now time.Time, tz *time.Location) shownProgress {
	s := shownProgress{total: total, done: done, remaining: remaining, removed: removed}
	if rise.Withheld || done.Withheld {
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

// exactProgress shows p whole (analysts and above).
func exactProgress(p *engine.CampaignProgress, days int, now time.Time, tz *time.Location) shownProgress {
	v := func(n int64) privacy.Value { return privacy.Value{N: n} }
	return showProgress(v(p.Total), v(p.Done), v(p.Remaining), v(p.Removed), v(p.Rise), p, days, now, tz)
}

// campaignView is a campaign's whole tree of units protected for a viewer
// as one table (city → district → street → community → grid), so that
// answers at every level withhold consistently and none, nor any sum or
// difference of them, gives back a withheld count. Columns: tasks, done,
// remaining, removed (tasks their sum) and the rise of done over the rate's
// window.
type campaignView struct {
	tree *engine.CampaignTree
	tb   *privacy.Table
	m    privacy.Mask
	rows [4][]int // by level, campaign-local unit → row
}

// protectCampaign builds and protects a campaign's tree under pol.
func protectCampaign(pol privacy.Policy, tree *engine.CampaignTree) *campaignView {
	cv := &campaignView{tree: tree, tb: &privacy.Table{Super: [][]int{nil, {0}, {0}, {0}, nil}, Parts: [][]int{{1, 2, 3}}}}
	vals := func(p *engine.CampaignProgress) []int64 {
		return []int64{p.Total, p.Done, p.Remaining, p.Removed, p.Rise}
	}
	cv.tb.Rows = append(cv.tb.Rows, privacy.Row{Parent: -1, Vals: vals(&tree.Report.CampaignProgress)})
	for l := range cv.rows {
		cv.rows[l] = make([]int, len(tree.Units[l]))
		for u := range cv.rows[l] {
			cv.rows[l][u] = -1
		}
	}
	// units under the parents the tuples give them; one under two parents
	// is no tree's: hidden. One with no id (tasks with no unit at its level)
	// is not published: hidden when it has siblings, whose parent minus
	// them it is; as an only child it is its parent again, and hides
	// nothing.
	noID := map[int]bool{}
	for _, tp := range tree.Tuples {
		parent := 0
		for l := range tp {
			u := tp[l]
			row := cv.rows[l][u]
			if row < 0 {
				row = len(cv.tb.Rows)
				cv.rows[l][u] = row
				cu := &tree.Units[l][u]
				cv.tb.Rows = append(cv.tb.Rows, privacy.Row{Parent: int32(parent), Vals: vals(&cu.CampaignProgress)})
				noID[row] = cu.ID == ""
			} else if int(cv.tb.Rows[row].Parent) != parent {
				cv.tb.Rows[row].Hidden = true
			}
			parent = row
		}
	}
	kids := make([]int, len(cv.tb.Rows))
	for _, r := range cv.tb.Rows[1:] {
		kids[r.Parent]++
	}
	for row := range noID {
		if noID[row] && kids[cv.tb.Rows[row].Parent] > 1 {
			cv.tb.Rows[row].Hidden = true
		}
	}
	cv.m = pol.Protect(cv.tb)
	// a fall of done is as telling as a rise: a rise from −1 to −(k−1) too
	for i, r := range cv.tb.Rows {
		if x := -r.Vals[4]; x > 0 && pol.Value(x).Withheld {
			cv.m[i][4] = true
		}
	}
	return cv
}

// progress shows one row (0: the city; else see rows).
func (cv *campaignView) progress(row int, p *engine.CampaignProgress, r *engine.CampaignReport, tz *time.Location) shownProgress {
	if row < 0 { // no task of the campaign in it
		return exactProgress(p, r.WindowDays, r.Now, tz)
	}
	c := func(col int) privacy.Value { return cv.m.Cell(cv.tb, row, col) }
	return showProgress(c(0), c(1), c(2), c(3), c(4), p, r.WindowDays, r.Now, tz)
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

// writeCampaignHead writes a campaign's definition and its figures as s
// shows them (no braces).
func (a *Answers) writeCampaignHead(w *jsonw, r *engine.CampaignReport, s *shownProgress) {
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
	writeProgress(w, s)
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
		r := &rs[i]
		s := exactProgress(&r.CampaignProgress, r.WindowDays, r.Now, a.opts.TZ)
		if !pol.Exact() {
			// the city's figures as the campaign's protected tree shows them
			tree, err := a.eng.CampaignTree(r.Name, a.opts.TZ)
			if err != nil {
				continue // ended meanwhile
			}
			s = protectCampaign(pol, tree).progress(0, &tree.Report.CampaignProgress, tree.Report, a.opts.TZ)
			r = tree.Report
		}
		w.comma(i)
		w.byte('{')
		a.writeCampaignHead(w, r, &s)
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
	pol := a.Policy(c)
	r, err := a.eng.Campaign(name, level, a.opts.TZ)
	if err != nil {
		return nil, err
	}
	head := exactProgress(&r.CampaignProgress, r.WindowDays, r.Now, a.opts.TZ)
	unit := func(i int) shownProgress {
		return exactProgress(&r.Units[i].CampaignProgress, r.WindowDays, r.Now, a.opts.TZ)
	}
	if !pol.Exact() {
		// a viewer's: every level from one protected tree of one moment
		tree, err := a.eng.CampaignTree(name, a.opts.TZ)
		if err != nil {
			return nil, err
		}
		cv := protectCampaign(pol, tree)
		r = tree.Report
		r.Level = level
		r.Units = r.Units[:0]
		var rows []int
		for u, cu := range tree.Units[level] {
			if cu.ID != "" {
				r.Units = append(r.Units, cu)
				rows = append(rows, cv.rows[level][u])
			}
		}
		sortUnits(r.Units, rows)
		head = cv.progress(0, &r.CampaignProgress, r, a.opts.TZ)
		unit = func(i int) shownProgress { return cv.progress(rows[i], &r.Units[i].CampaignProgress, r, a.opts.TZ) }
	}
	sc := a.scratch()
	w := &sc.w
	w.grow(len(r.Units)*192 + len(r.Days)*48 + 1024)
	w.byte('{')
	a.writeCampaignHead(w, r, &head)
	w.raw(`,"days":[`)
	for i := range r.Days {
		d := &r.Days[i]
		today := pol.Value(abs(d.DoneToday))
		done := pol.Value(d.Done)
		if i == len(r.Days)-1 && head.done.Withheld {
			// today's done is the campaign's done now, withheld above (with
			// today's rise, which yesterday's done would turn into it)
			today = privacy.Value{Withheld: true}
		}
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
		w.unitRef(u.Level.String(), u.ID)
		w.raw(`,"name":`)
		w.str(u.Name)
		w.byte(',')
		s := unit(i)
		writeProgress(w, &s)
		w.byte('}')
	}
	w.byte(']')
	finish(w, r.Version, start)
	return a.done(sc), nil
}

// sortUnits sorts units by id, rows alongside, as the engine's report
// lists them.
func sortUnits(units []engine.CampaignUnit, rows []int) {
	idx := make([]int, len(units))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int { return strings.Compare(units[a].ID, units[b].ID) })
	us, rs := slices.Clone(units), slices.Clone(rows)
	for i, j := range idx {
		units[i], rows[i] = us[j], rs[j]
	}
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
