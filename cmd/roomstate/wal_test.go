package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/roomstate/roomstate/engine"
	"github.com/roomstate/roomstate/loader"
	"github.com/roomstate/roomstate/store"
	"github.com/roomstate/roomstate/wal"
)

// walDir writes a log of two segments, 20 records each, and returns its
// directory and the newest segment's name.
func walDir(t *testing.T) (string, string) {
	t.Helper()
	dir := t.TempDir()
	l, err := wal.Open(dir, wal.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 40 {
		if i == 20 {
			l.Rotate(l.Next())
		}
		if err := l.Append([]wal.Record{{Seq: l.Next(), Count: 1, Data: fmt.Appendf(nil, "change %d %0200d", i, i)}}); err != nil {
			t.Fatal(err)
		}
	}
	segs := l.Segments()
	l.Close()
	return dir, filepath.Base(segs[1].Path)
}

func runArgs(args ...string) (string, string, error) {
	var out, errb bytes.Buffer
	err := run(context.Background(), args, &out, &errb)
	return out.String(), errb.String(), err
}

func TestWALCheckAndCut(t *testing.T) {
	dir, newest := walDir(t)
	out, _, err := runArgs("wal", "check", dir)
	if err != nil || !strings.Contains(out, "ok: 40 records in 2 segments; the next starts at sequence 41") {
		t.Fatalf("check of a good log: %v\n%s", err, out)
	}
	// a torn tail is not damage
	p := filepath.Join(dir, newest)
	b, _ := os.ReadFile(p)
	os.WriteFile(p, b[:len(b)-5], 0o644)
	out, _, err = runArgs("wal", "check", "--records", dir)
	if err != nil || !strings.Contains(out, "torn tail: "+newest) || strings.Count(out, "  record  ") != 39 {
		t.Fatalf("check of a torn log: %v\n%s", err, out)
	}
	os.WriteFile(p, b, 0o644)
	// damage in the middle of the newest segment
	b[len(b)/2] ^= 0x55
	os.WriteFile(p, b, 0o644)
	out, _, err = runArgs("wal", "check", dir)
	if err == nil || !strings.Contains(out, "DAMAGE: "+p+" at byte ") {
		t.Fatalf("check of a damaged log: %v\n%s", err, out)
	}
	i := strings.Index(out, "roomstate wal cut ")
	if i < 0 {
		t.Fatalf("check names no cut command:\n%s", out)
	}
	cmd := strings.Fields(strings.TrimSpace(out[i:]))[1:] // wal cut DIR --segment F --offset N --yes
	if len(cmd) != 8 || cmd[4] != newest {
		t.Fatalf("the cut command: %q", cmd)
	}
	// without --yes: says what, cuts nothing
	dry := cmd[:len(cmd)-1]
	out, _, err = runArgs(dry...)
	if err == nil || !strings.Contains(out, "would be removed") {
		t.Fatalf("cut without --yes: %v\n%s", err, out)
	}
	if now, _ := os.ReadFile(p); !bytes.Equal(now, b) {
		t.Fatal("cut without --yes changed the segment")
	}
	// a bad offset is refused
	if _, _, err := runArgs("wal", "cut", dir, "--segment", newest, "--offset", "41", "--yes"); err == nil {
		t.Fatal("a cut inside a record was accepted")
	}
	out, _, err = runArgs(cmd...)
	if err != nil || !strings.Contains(out, "cut.") {
		t.Fatalf("cut: %v\n%s", err, out)
	}
	out, _, err = runArgs("wal", "check", dir)
	if err != nil || !strings.Contains(out, "ok: ") {
		t.Fatalf("check after the cut: %v\n%s", err, out)
	}
	ops, _ := os.ReadFile(filepath.Join(dir, "operator.log"))
	var line map[string]any
	if err := json.Unmarshal(ops, &line); err != nil || line["action"] != "wal cut" || line["segment"] != newest || line["damage"] == "" || line["user"] == "" {
		t.Fatalf("operator.log: %v %s", err, ops)
	}
	if _, err := os.Stat(p + "." + cmd[6] + ".cut"); err != nil {
		t.Fatalf("no .cut file: %v", err)
	}
}

func TestWALHelpAndMistakes(t *testing.T) {
	for _, args := range [][]string{{"wal", "check", "-h"}, {"wal", "cut", "-h"}} {
		_, help, err := runArgs(args...)
		if !errors.Is(err, flag.ErrHelp) || !strings.Contains(help, "Example:") {
			t.Fatalf("%v: %v\n%s", args, err, help)
		}
	}
	if out, _, err := runArgs("wal", "help"); err != nil || !strings.Contains(out, "roomstate wal cut DIR") {
		t.Fatalf("wal help: %v %s", err, out)
	}
	for _, args := range [][]string{{"wal"}, {"wal", "mend"}, {"wal", "check"}, {"wal", "check", t.TempDir()}, {"wal", "cut", t.TempDir()},
		{"wal", "check", "a", "b"}} {
		if _, _, err := runArgs(args...); err == nil {
			t.Fatalf("%q accepted", args)
		}
	}
}

// TestWALCheckSnapshot: wal check restores the newest snapshot as a start
// does and reports one a start would refuse as DAMAGE (exit status 1) with
// the reason the start gives, where it said ok before; --replay applies
// the log after it.
func TestWALCheckSnapshot(t *testing.T) {
	dir := t.TempDir()
	csv := filepath.Join(t.TempDir(), "d.csv")
	os.WriteFile(csv, []byte("id,lon,lat,isolated\na1,121.5,31.2,1\na2,121.5,31.2,0\n"), 0o644)
	st, err := store.Open(store.Options{Dir: dir, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	var errOut strings.Builder
	if _, err := loadFiles(st, []string{csv}, nil, loader.Options{}, fileLoad{record: true}, &errOut); err != nil {
		t.Fatal(err)
	}
	if err := st.Snapshot(); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Submit(engine.Request{Ops: []engine.Op{{Kind: engine.OpFlags, ID: "a2", Set: []string{"isolated"}}}}, nil); err != nil {
		t.Fatal(err)
	}
	v := st.Engine().Version()
	st.Close()
	snaps, _ := filepath.Glob(filepath.Join(dir, "snapshot-*.msgpack"))
	if len(snaps) != 1 {
		t.Fatalf("snapshots %v", snaps)
	}
	out, _, err := runArgs("wal", "check", dir, "--replay")
	if err != nil || !strings.Contains(out, filepath.Base(snaps[0])+"  version "+fmt.Sprint(v)+"  restores") ||
		!strings.Contains(out, "replay: 0 changes apply after it; a server starts at version "+fmt.Sprint(v)) || !strings.Contains(out, "\nok: ") {
		t.Fatalf("check of a good directory: %v\n%s", err, out)
	}
	// the snapshot's body damaged: a start refuses it, and so does check
	b, _ := os.ReadFile(snaps[0])
	b[len(b)-3] ^= 0x40
	os.WriteFile(snaps[0], b, 0o644)
	_, serr := store.Open(store.Options{Dir: dir, NoSync: true})
	if serr == nil {
		t.Fatal("a start from a damaged snapshot")
	}
	out, _, err = runArgs("wal", "check", dir)
	if err == nil || !strings.Contains(out, "DAMAGE: "+serr.Error()) || strings.Contains(out, "\nok: ") {
		t.Fatalf("check of a directory a start refuses (%v): %v\n%s", serr, err, out)
	}
}
