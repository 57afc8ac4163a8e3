package store

import (
	"slices"
	"testing"
	"time"

	"github.com/roomstate/roomstate/engine"
)

func flagsOf(t *testing.T, e *engine.Engine, id string) ([]string, map[string]time.Time) {
	t.Helper()
	d, err := e.Dwelling(id)
	if err != nil {
		t.Fatal(err)
	}
	return d.Flags, d.Expires
}

// Flags set with until clear themselves at that time, as a change of the
// server's own (in the feed and the audit trail as "system"); setting a
// flag again without until or clearing it drops its expiry; an expiry that
// fell due while the server was down clears at the next start, before it
// answers; pending expiries survive restarts.
func TestExpiries(t *testing.T) {
	dir := t.TempDir()
	clk := &clock{t: time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)}
	s, e, c := openLoaded(t, 5_000, Options{Dir: dir, Clock: clk.now})
	all := ids(c)
	a, b, d := all[0], all[1], all[2]
	until := clk.now().Add(14 * 24 * time.Hour)
	set := func(id string, u time.Time) {
		t.Helper()
		if _, err := s.Submit(engine.Request{Ops: []engine.Op{{Kind: engine.OpFlags, ID: id, Set: []string{"isolated"}, Until: u}}}, &Who{Name: "grid worker"}); err != nil {
			t.Fatal(err)
		}
	}
	set(a, until)
	set(b, until)
	set(d, until)
	if _, exp := flagsOf(t, e, a); !exp["isolated"].Equal(until) {
		t.Fatalf("expires %v, want isolated at %v", exp, until)
	}
	set(b, time.Time{}) // set again without until: stays
	if _, err := submit(s, []engine.Op{{Kind: engine.OpFlags, ID: d, Clear: []string{"isolated"}}}, nil); err != nil {
		t.Fatal(err)
	}
	if _, exp := flagsOf(t, e, b); len(exp) != 0 {
		t.Fatalf("set again without until, yet expires %v", exp)
	}
	v := e.Version()
	clk.add(14*24*time.Hour - time.Second)
	time.Sleep(600 * time.Millisecond)
	if fl, _ := flagsOf(t, e, a); !slices.Contains(fl, "isolated") || e.Version() != v {
		t.Fatal("cleared before its time")
	}
	clk.add(time.Second)
	deadline := time.Now().Add(2 * time.Second)
	for {
		if fl, _ := flagsOf(t, e, a); !slices.Contains(fl, "isolated") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("not cleared within a second of its time")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if fl, _ := flagsOf(t, e, b); !slices.Contains(fl, "isolated") {
		t.Fatal("b, set again without until, was cleared")
	}
	evs, _, _ := s.Feed().Since(v, 10, nil)
	if len(evs) != 1 || evs[0].ID != a || !slices.Equal(evs[0].Clear, []string{"isolated"}) || !evs[0].Time.Equal(clk.now()) {
		t.Fatalf("feed after the expiry: %+v", evs)
	}
	audit, _, err := s.Audit(AuditQuery{Dwelling: a, Limit: 10})
	if err != nil || len(audit) != 2 || audit[1].Name != "system" {
		t.Fatalf("audit: %+v %v", audit, err)
	}
	// an expiry that falls due while the server is down
	set(b, clk.now().Add(time.Hour))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	clk.add(2 * time.Hour)
	s2, err := Open(Options{Dir: dir, Clock: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if fl, exp := flagsOf(t, s2.Engine(), b); slices.Contains(fl, "isolated") || len(exp) != 0 {
		t.Fatalf("due while down: still %v %v after the start", fl, exp)
	}
	// a pending expiry survives a restart without a clean close
	set2 := func(id string, u time.Time) {
		if _, err := s2.Submit(engine.Request{Ops: []engine.Op{{Kind: engine.OpFlags, ID: id, Set: []string{"isolated"}, Until: u}}}, nil); err != nil {
			t.Fatal(err)
		}
	}
	due := clk.now().Add(3 * time.Hour)
	set2(d, due)
	s2.wal.Close()
	s3, err := Open(Options{Dir: dir, Clock: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	defer s3.Close()
	if _, exp := flagsOf(t, s3.Engine(), d); !exp["isolated"].Equal(due) {
		t.Fatalf("after a crash: expires %v, want %v", exp, due)
	}
}

// A whole record (PUT) may carry when its flags clear themselves: the
// expiries are in the log with the record, so they survive a crash, and
// they fall due like a PATCH's until; a record put without them has none.
func TestPutExpiries(t *testing.T) {
	dir := t.TempDir()
	clk := &clock{t: time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)}
	s, e, c := openLoaded(t, 2_000, Options{Dir: dir, Clock: clk.now})
	all := ids(c)
	a, b := all[0], all[1]
	due := clk.now().Add(2 * time.Hour)
	put := func(s *Store, id string, flags []string, exp map[string]time.Time) error {
		d, err := s.Engine().Dwelling(id)
		if err != nil {
			t.Fatal(err)
		}
		_, err = s.Submit(engine.Request{Ops: []engine.Op{{Kind: engine.OpPut, ID: id, Put: &engine.DwellingInput{
			Lon: d.Lon, Lat: d.Lat, District: d.District, Street: d.Street, Community: d.Community, Grid: d.Grid,
			Building: d.Building, Unit: d.Unit, Floor: d.Floor, Room: d.Room, Flags: flags, Expires: exp}}}}, nil)
		return err
	}
	if err := put(s, a, []string{"isolated", "rental"}, map[string]time.Time{"isolated": due}); err != nil {
		t.Fatal(err)
	}
	if err := put(s, b, []string{"rental"}, map[string]time.Time{"isolated": due}); err == nil {
		t.Fatal("an expiry of a flag the record does not set was taken")
	}
	if _, exp := flagsOf(t, e, a); len(exp) != 1 || !exp["isolated"].Equal(due) {
		t.Fatalf("expires %v, want isolated at %v", exp, due)
	}
	s.wal.Close() // a crash: the log alone has it
	s2, err := Open(Options{Dir: dir, Clock: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if _, exp := flagsOf(t, s2.Engine(), a); len(exp) != 1 || !exp["isolated"].Equal(due) {
		t.Fatalf("after a crash: expires %v, want isolated at %v", exp, due)
	}
	clk.add(2 * time.Hour)
	deadline := time.Now().Add(2 * time.Second)
	for {
		fl, exp := flagsOf(t, s2.Engine(), a)
		if !slices.Contains(fl, "isolated") && len(exp) == 0 {
			if !slices.Contains(fl, "rental") {
				t.Fatal("rental, which had no expiry, was cleared")
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("not cleared within a second of its time")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// put again without expires: none
	if err := put(s2, a, []string{"isolated"}, map[string]time.Time{"isolated": clk.now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := put(s2, a, []string{"isolated"}, nil); err != nil {
		t.Fatal(err)
	}
	if _, exp := flagsOf(t, s2.Engine(), a); len(exp) != 0 {
		t.Fatalf("put without expires, yet expires %v", exp)
	}
}
