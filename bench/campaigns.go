package bench

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"time"

	"github.com/roomstate/roomstate/answer"
	"github.com/roomstate/roomstate/engine"
)

// CampaignDefs are the ten campaigns of the campaign benchmark: at the
// reference flag rates their task sets hold 1 % to 20 % of the city (100 k
// to 2 M dwellings of 10 M).
var CampaignDefs = []struct{ Name, Target, Goal string }{
	{"isolation", "isolated", "!isolated"},                           // 2 %
	{"elderly", "elderly_alone", "vaccinated"},                       // 5 %
	{"rental", "rental", "!rental"},                                  // 20 %
	{"unvaccinated", "!vaccinated", "vaccinated"},                    // 15 %
	{"elderly-rental", "elderly_alone & rental", "vaccinated"},       // 1 %
	{"rental-unvaccinated", "rental & !vaccinated", "vaccinated"},    // 3 %
	{"watch", "isolated | elderly_alone", "vaccinated"},              // 7 %
	{"owners-unvaccinated", "!vaccinated & !rental", "rental"},       // 12 %
	{"elderly-vaccinated", "vaccinated & elderly_alone", "isolated"}, // 4 %
	{"isolated-vaccinated", "isolated & vaccinated", "!isolated"},    // 2 %
}

// CampaignSetup is what SetUpCampaigns did: each campaign's name and task
// count, the bytes the campaigns hold (as the engine counts them, after
// the progress; and as the heap grew when they started), and the progress
// changes applied.
type CampaignSetup struct {
	Names     []string
	Tasks     []int64
	Bytes     int64
	HeapBytes int64
	Changes   int
	Took      time.Duration // starting the ten campaigns
}

// SetUpCampaigns gives every other grid and every tenth building a
// responsible person, visits every fourth building, starts the ten
// campaigns of CampaignDefs and then applies changes random flag changes
// as their progress (all within the last minute: every rise falls in the
// daily rate's window, the dearest case). It changes the fixture.
func (f *Fixture) SetUpCampaigns(changes int) (*CampaignSetup, error) {
	now := time.Now()
	apply := func(ops []engine.Op) error {
		for len(ops) > 0 {
			n := min(len(ops), 4096)
			reqs := make([]engine.Request, n)
			for i := range reqs {
				reqs[i] = engine.Request{Ops: ops[i : i+1]}
			}
			p := f.W.Prepare(reqs)
			for _, err := range p.Errs {
				if err != nil {
					return err
				}
			}
			f.W.Commit(p, now)
			f.W.Maintain()
			ops = ops[n:]
		}
		return nil
	}
	grids, err := f.Eng.Units(engine.UnitsQuery{Level: "grid"})
	if err != nil {
		return nil, err
	}
	var ops []engine.Op
	for i, u := range grids.Units {
		if i%2 == 0 && u.ID != "" {
			ops = append(ops, answer.AssignOp(engine.LevelGrid, u.ID, fmt.Sprintf("网格员%d", i), "", ""))
		}
	}
	for i, b := range f.Buildings {
		if i%10 == 0 {
			ops = append(ops, answer.AssignOp(engine.LevelBuilding, b, fmt.Sprintf("楼组长%d", i), "", ""))
		}
		if i%4 == 0 {
			ops = append(ops, engine.Op{Kind: engine.OpVisit, ID: b, Visit: &engine.VisitInput{By: "bench"}})
		}
	}
	if err := apply(ops); err != nil {
		return nil, err
	}
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	s := &CampaignSetup{Changes: changes}
	ops = ops[:0]
	for _, d := range CampaignDefs {
		ops = append(ops, engine.Op{Kind: engine.OpCampaign, ID: d.Name, Campaign: &engine.CampaignInput{Label: d.Name, Target: d.Target, Goal: d.Goal}})
	}
	if err := apply(ops); err != nil {
		return nil, err
	}
	s.Took = time.Since(start)
	runtime.GC()
	runtime.ReadMemStats(&after)
	s.HeapBytes = int64(after.HeapAlloc) - int64(before.HeapAlloc)
	rng := rand.New(rand.NewPCG(9, 9))
	if err := apply(randomFlagOps(rng, f.ids(200_000), changes)); err != nil {
		return nil, err
	}
	s.Bytes = f.Eng.CampaignMemory()
	list, _ := f.Eng.Campaigns()
	for _, c := range list {
		s.Names = append(s.Names, c.Name)
		s.Tasks = append(s.Tasks, c.Total)
	}
	return s, nil
}

// CampaignWorkloads are the answers of campaigns and responsibility, as
// bytes (engine and encoding), read by an admin: a campaign by street and
// by grid (the ten campaigns in turn), and coverage by grid (with where and
// stale).
func (f *Fixture) CampaignWorkloads(names []string) []Workload {
	a := answer.New(f.Eng, nil, answer.Options{})
	campaign := func(level string) func(i int) error {
		return func(i int) error {
			_, err := a.Campaign(names[i%len(names)], answer.Values{"level": level}, answer.System)
			return err
		}
	}
	return []Workload{
		{Name: "campaign/street", Op: campaign("street"), Target: 5 * time.Millisecond},
		{Name: "campaign/grid", Op: campaign("grid"), Target: 20 * time.Millisecond},
		{Name: "campaigns/list", Op: func(int) error { _, err := a.Campaigns(answer.System); return err }},
		{Name: "coverage/grid", Op: func(int) error {
			_, err := a.Responsibility(answer.Values{"level": "grid", "stale": "7d"}, answer.System)
			return err
		}, Target: 10 * time.Millisecond},
		{Name: "coverage/grid/where", Op: func(int) error {
			_, err := a.Responsibility(answer.Values{"level": "grid", "stale": "7d", "where": "elderly_alone & !vaccinated"}, answer.System)
			return err
		}, Target: 10 * time.Millisecond},
	}
}
