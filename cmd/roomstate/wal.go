package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"time"

	"github.com/roomstate/roomstate/engine"
	"github.com/roomstate/roomstate/store"
	"github.com/roomstate/roomstate/wal"
)

const walUsage = `Usage:
  roomstate wal check DIR [--records] [--replay]
        read the change log and the newest snapshot of a data directory and say whether a server can start from them
  roomstate wal cut DIR --segment FILE --offset N [--yes]
        cut a damaged log at a record boundary; what is cut is kept beside it

The change log (DIR/wal-*.log) holds every change a server acknowledged. At its start
the server reads all of it: a record a crash left half written at the very end is cut off
with a warning (the change was never acknowledged); any other damage stops the start
with the file, the byte offset and what is wrong, and nothing is cut. Then:

  1. Stop, and keep a copy of the directory as it is (cp -a DIR DIR.damaged).
  2. roomstate wal check DIR  shows every segment, where the log can be read to, and the
     damage. Restoring the directory from a backup loses nothing that the backup holds.
  3. Otherwise, roomstate wal cut DIR --segment FILE --offset N --yes ends the log where
     it stops reading back, the place check prints (and the only one cut accepts). The
     changes after it are lost (the server starts without them); their bytes stay in
     FILE.N.cut (later segments in their own .0.cut files) and the cut is recorded in
     DIR/operator.log.

Run "roomstate wal check -h" or "roomstate wal cut -h" for their flags.
`

// runWAL runs "roomstate wal SUBCOMMAND".
func runWAL(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, walUsage)
		return errors.New("wal: give a subcommand: check or cut")
	}
	switch args[0] {
	case "check":
		return runWALCheck(ctx, args[1:], stdout, stderr)
	case "cut":
		return runWALCut(ctx, args[1:], stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, walUsage)
		return nil
	}
	fmt.Fprint(stderr, walUsage)
	return fmt.Errorf("wal: unknown subcommand %q", args[0])
}

// parseWithDir parses flags that may come before or after the one DIR
// argument.
func parseWithDir(fs *flag.FlagSet, cmd string, args []string) (string, error) {
	var dir string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		dir, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return "", err
	}
	switch {
	case dir == "" && fs.NArg() == 1:
		dir = fs.Arg(0)
	case dir == "" || fs.NArg() > 0:
		fs.Usage()
		return "", fmt.Errorf("wal %s: give one data directory", cmd)
	}
	return dir, nil
}

func runWALCheck(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("wal check DIR [--records] [--replay]",
		"Read the change log of the data directory DIR (its wal-*.log segments) as a server's start\n"+
			"would, changing nothing, and print each segment: the sequence numbers it holds, its records,\n"+
			"and its size. The last lines say whether a server can start from it:\n"+
			"  ok           every record reads back;\n"+
			"  torn tail    the newest record was cut short by a crash: the server cuts it off at its\n"+
			"               next start (that change was never acknowledged); exit status 0;\n"+
			"  DAMAGE       anything else: the file, the byte offset and what is wrong, and the\n"+
			"               \"roomstate wal cut\" command that would end the log there; exit status 1.\n"+
			"Segments after damage are listed with the records they hold on their own: those are the\n"+
			"changes a cut would lose. Then it restores the newest snapshot (DIR/snapshot-*.msgpack) in\n"+
			"memory, as a start does, and checks that the log holds every change after it (with --replay\n"+
			"it also applies them, as a start does); a snapshot a start would refuse is DAMAGE too (exit\n"+
			"status 1): restore the directory from a backup. That takes the memory and time of a start.\n"+
			"Before all that it reads the audit trail (DIR/audit.log, or the newest rotated audit file) as a\n"+
			"start does: a last entry that does not decode stops a start, and is DAMAGE here (exit status 1):\n"+
			"restore the directory from a backup, or move that file aside.\n"+
			"Safe to run while a server is using the directory (a write in progress may then show as a\n"+
			"torn tail).",
		"  roomstate wal check /var/lib/roomstate\n  roomstate wal check /var/lib/roomstate --records | less", stderr)
	records := fs.Bool("records", false, "also print every record: segment, byte offset, first sequence number, count, payload bytes")
	replay := fs.Bool("replay", false, "also apply the log's changes after the snapshot, as a start does")
	dir, err := parseWithDir(fs, "check", args)
	if err != nil {
		return err
	}
	var each func(string, int64, wal.Record)
	if *records {
		each = func(path string, off int64, r wal.Record) {
			fmt.Fprintf(stdout, "  record  %s  byte %d  seq %d  count %d  %d bytes\n", filepath.Base(path), off, r.Seq, r.Count, len(r.Data))
		}
	}
	rep, err := wal.Inspect(dir, each)
	if err != nil {
		return fmt.Errorf("wal check: %w", err)
	}
	if len(rep.Segments) == 0 {
		return fmt.Errorf("wal check: no log segments (wal-*.log) in %s", dir)
	}
	total := 0
	for _, s := range rep.Segments {
		status := "ok"
		switch {
		case !s.Checked:
			status = "after the damage: not part of the log that can be read"
		case rep.Torn != nil && rep.Torn.Path == s.Path:
			status = fmt.Sprintf("torn tail at byte %d", rep.Torn.Offset)
		case s.End < s.Size:
			status = fmt.Sprintf("readable to byte %d", s.End)
		}
		if s.Checked {
			total += s.Records
		}
		fmt.Fprintf(stdout, "%s  first %d  next %d  %d records  %d bytes  %s\n",
			filepath.Base(s.Path), s.First, s.Next, s.Records, s.Size, status)
	}
	last := rep.Segments[len(rep.Segments)-1]
	if rep.Damage == nil {
		if err := checkState(stdout, dir, *replay); err != nil {
			return err
		}
	}
	switch {
	case rep.Damage != nil:
		var ce *wal.CorruptError
		var fe *wal.FormatError
		path, off := "", int64(0)
		switch {
		case errors.As(rep.Damage, &ce):
			path, off = ce.Path, ce.Offset // the damaged frame starts where the log reads to
			fmt.Fprintf(stdout, "DAMAGE: %s at byte %d: %s\n", ce.Path, ce.Offset, ce.Reason)
		case errors.As(rep.Damage, &fe):
			fmt.Fprintf(stdout, "DAMAGE: %v\n", fe)
			fmt.Fprintf(stdout, "%d records read back before it. The file is of another format rather than damaged: "+
				"moving it away (roomstate wal cut %s --segment %s --offset 0 --yes) loses what it holds unless a snapshot covers it.\n",
				total, dir, filepath.Base(fe.Path))
			return fmt.Errorf("wal check: the log in %s holds a file of another format: a server will not start from it", dir)
		}
		fmt.Fprintf(stdout, "%d records read back before it (the next would start at sequence %d).\n"+
			"To end the log there, losing what follows (restore the directory from a backup instead if you can):\n"+
			"  roomstate wal cut %s --segment %s --offset %d --yes\n", total, readTo(rep), dir, filepath.Base(path), off)
		return fmt.Errorf("wal check: the log in %s is damaged: a server will not start from it", dir)
	case rep.Torn != nil:
		fmt.Fprintf(stdout, "torn tail: %s at byte %d, %d bytes: %s.\n"+
			"A write cut short by a crash; the server cuts it off at its next start. %d records before it; the next starts at sequence %d.\n",
			filepath.Base(rep.Torn.Path), rep.Torn.Offset, rep.Torn.Size, rep.Torn.Reason, total, last.Next)
	default:
		fmt.Fprintf(stdout, "ok: %d records in %d segments; the next starts at sequence %d\n", total, len(rep.Segments), last.Next)
	}
	return nil
}

// checkState restores the newest snapshot of dir and checks the log
// joins it (with replay, applies the log after it), as a start does, and
// prints what it found; it returns the error of a state a start would
// refuse.
func checkState(stdout io.Writer, dir string, replay bool) error {
	rep, err := store.Check(dir, engine.Options{}, replay)
	if err != nil {
		fmt.Fprintf(stdout, "DAMAGE: %v\n", err)
		return fmt.Errorf("wal check: a server will not start from %s: %w", dir, err)
	}
	switch {
	case rep.Snapshot == "":
		fmt.Fprintf(stdout, "no snapshot: a start replays the log alone\n")
	default:
		fmt.Fprintf(stdout, "%s  version %d  restores\n", filepath.Base(rep.Snapshot), rep.Restored)
	}
	if replay {
		fmt.Fprintf(stdout, "replay: %d changes apply after it; a server starts at version %d\n", rep.Replayed, rep.Version)
	}
	return nil
}

// readTo is the sequence number after the last record that reads back.
func readTo(rep *wal.Report) uint64 {
	var n uint64
	for _, s := range rep.Segments {
		if s.Checked {
			n = s.Next
		}
	}
	return n
}

func runWALCut(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("wal cut DIR --segment FILE --offset N [--yes]",
		"End the change log of the data directory DIR where it stops reading back, at byte N of segment\n"+
			"FILE, so that a server can start from what precedes it. FILE and N are the ones \"roomstate wal\n"+
			"check DIR\" prints: the cut reads the log again and refuses any other place (even a record\n"+
			"boundary), so a typing mistake cannot cut good records. N is 0 when the whole segment is bad\n"+
			"(a damaged header, another format, a segment that does not join the one before).\n"+
			"Stop the server first: the cut refuses a directory in use.\n"+
			"Every change after the cut is lost to the server. Nothing is deleted: the bytes cut go to\n"+
			"FILE.N.cut beside the segment (fsynced before the segment is truncated), and segments after\n"+
			"it, which could no longer join the log, are renamed to <segment>.0.cut. Without --yes it only\n"+
			"says what it would do. Each cut is recorded in DIR/operator.log (JSON lines: when, who, what).\n"+
			"To undo a cut: cat FILE.N.cut >> FILE, and rename the .0.cut segments back.",
		"  roomstate wal check /var/lib/roomstate\n"+
			"  roomstate wal cut /var/lib/roomstate --segment wal-00000000000004200091.log --offset 4744\n"+
			"  roomstate wal cut /var/lib/roomstate --segment wal-00000000000004200091.log --offset 4744 --yes", stderr)
	segment := fs.String("segment", "", "the segment `FILE` to cut (its name, wal-<20 digits>.log, or its path)")
	offset := fs.Int64("offset", 0, "the byte offset `N` to cut at: where the log stops reading back, as check prints")
	yes := fs.Bool("yes", false, "cut; without it, only say what would be cut")
	dir, err := parseWithDir(fs, "cut", args)
	if err != nil {
		return err
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	if *segment == "" || !given["offset"] || *offset < 0 {
		fs.Usage()
		return errors.New("wal cut: give --segment FILE and --offset N (roomstate wal check DIR prints them)")
	}
	plan, err := wal.PlanCut(dir, *segment, *offset)
	if err != nil {
		return fmt.Errorf("wal cut: %w", err)
	}
	describeCut(stdout, plan, !*yes)
	if !*yes {
		return errors.New("wal cut: nothing was cut; add --yes to cut")
	}
	res, err := wal.Cut(dir, *segment, *offset)
	if lerr := recordCut(dir, args, res, err); lerr != nil {
		fmt.Fprintf(stderr, "roomstate: wal cut: recording the cut in %s: %v\n", filepath.Join(dir, "operator.log"), lerr)
	}
	if err != nil {
		return fmt.Errorf("wal cut: %w", err)
	}
	fmt.Fprintf(stdout, "cut. A server can start from %s now; the cut is recorded in %s\n", dir, filepath.Join(dir, "operator.log"))
	return nil
}

// describeCut prints what a cut does (or would do).
func describeCut(w io.Writer, r *wal.CutResult, dry bool) {
	will := "removed"
	if dry {
		will = "would be removed"
	}
	name := filepath.Base(r.Segment)
	if r.Offset == 0 {
		fmt.Fprintf(w, "%s %s whole (%d bytes), to %s\n", name, will, r.Bytes, filepath.Base(r.CutFile))
	} else if r.Bytes > 0 {
		fmt.Fprintf(w, "%s: bytes %d to %d %s, to %s\n", name, r.Offset, r.Offset+r.Bytes, will, filepath.Base(r.CutFile))
	}
	for _, m := range r.Moved {
		fmt.Fprintf(w, "%s %s whole (it follows the cut), to %s\n", strings.TrimSuffix(filepath.Base(m), ".0.cut"), will, filepath.Base(m))
	}
	if r.Damage != nil {
		var ce *wal.CorruptError
		if errors.As(r.Damage, &ce) {
			fmt.Fprintf(w, "the damage it removes: byte %d: %s\n", ce.Offset, ce.Reason)
		} else {
			fmt.Fprintf(w, "the damage it removes: %v\n", r.Damage)
		}
	}
	if r.Torn != nil {
		fmt.Fprintf(w, "the torn tail it removes: byte %d, %s\n", r.Torn.Offset, r.Torn.Reason)
	}
	if len(r.Moved) > 0 {
		fmt.Fprintf(w, "records in the segments after the cut, which %s with them: %d\n", will, r.Records)
	}
}

// recordCut appends a line saying who cut what, when, to DIR/operator.log.
func recordCut(dir string, args []string, res *wal.CutResult, cutErr error) error {
	line := struct {
		Time    time.Time `json:"time"`
		User    string    `json:"user"`
		SudoBy  string    `json:"sudo_user,omitempty"`
		Host    string    `json:"host"`
		Action  string    `json:"action"`
		Args    []string  `json:"args"`
		Segment string    `json:"segment,omitempty"`
		Offset  int64     `json:"offset"`
		Bytes   int64     `json:"bytes"`
		CutFile string    `json:"cut_file,omitempty"`
		Moved   []string  `json:"moved,omitempty"`
		Records int       `json:"records"`
		Damage  string    `json:"damage,omitempty"`
		Error   string    `json:"error,omitempty"`
	}{Time: time.Now().UTC(), User: os.Getenv("USER"), SudoBy: os.Getenv("SUDO_USER"), Action: "wal cut", Args: args}
	if u, err := user.Current(); err == nil {
		line.User = u.Username
	}
	line.Host, _ = os.Hostname()
	if res != nil {
		line.Segment, line.Offset, line.Bytes, line.CutFile, line.Moved, line.Records = filepath.Base(res.Segment), res.Offset, res.Bytes, res.CutFile, res.Moved, res.Records
		if res.Damage != nil {
			line.Damage = res.Damage.Error()
		} else if res.Torn != nil {
			line.Damage = "torn tail: " + res.Torn.Reason
		}
	}
	if cutErr != nil {
		line.Error = cutErr.Error()
	}
	b, err := json.Marshal(&line)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(filepath.Join(dir, "operator.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(append(b, '\n'))
	if serr := f.Sync(); err == nil {
		err = serr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
