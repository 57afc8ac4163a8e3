package store

import (
	"errors"
	"os"
	"path/filepath"

	"github.com/roomstate/roomstate/engine"
	"github.com/roomstate/roomstate/wal"
)

// CheckReport is what Check found a start would do.
type CheckReport struct {
	Snapshot string         // the snapshot it would restore ("" when none)
	Restored engine.Version // that snapshot's version
	Replayed int            // the changes of the log it would apply after it
	Version  engine.Version // the version it would start at
}

// Check does in memory of its own what Open does with the data directory
// dir, changing nothing there: it restores the newest snapshot, checks
// that the log holds every change after it, and with replay applies the
// log's records after it; it says what stops that, as Open would (a
// *CorruptError naming the file), or what it found. It applies only the
// records of the log that read back (wal.Inspect reports damage to the log
// itself). A snapshot takes as much memory and time as at a start: the
// engine is made with opts.
func Check(dir string, opts engine.Options, replay bool) (*CheckReport, error) {
	// a start opens the audit trail first, and refuses one whose entries it
	// reads do not decode
	if err := checkAudit(dir); err != nil {
		return nil, err
	}
	w := engine.New(opts)
	defer w.Close() // a compaction the replay started
	path, _, _, err := restoreNewest(w, dir)
	if err != nil {
		return nil, err
	}
	rep := &CheckReport{Snapshot: path, Restored: w.Engine.Version()}
	var rerr error
	log, err := wal.Inspect(dir, func(_ string, _ int64, wr wal.Record) {
		if rerr != nil || !replay {
			return
		}
		evs, _, err := replayRecord(w, dir, wr)
		if err != nil {
			rerr = err
			return
		}
		if evs != nil {
			w.Maintain()
		}
		rep.Replayed += len(evs)
	})
	if err != nil {
		return nil, err
	}
	if len(log.Segments) > 0 {
		if err := joinsSnapshot(log.Segments[0].Segment, rep.Restored); err != nil {
			return nil, err
		}
	}
	if rerr != nil {
		return nil, rerr
	}
	rep.Version = w.Engine.Version()
	return rep, nil
}

// checkAudit reads, changing nothing, what opening the audit trail at a
// start reads (openAuditWith): the last complete entry of audit.log and its
// first, or without one the last of the newest rotated file; its error is
// the one a start would refuse with. A torn last line (cut off at a start)
// is no error.
func checkAudit(dir string) error {
	path := filepath.Join(dir, auditFile)
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil // a start creates it
	}
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	end, line, err := lastLine(f, st.Size())
	if err != nil {
		return err
	}
	if end > 0 {
		if _, err := decodeEntry(path, end-int64(len(line))-1, line); err != nil {
			return err
		}
		_, err := firstEntry(path)
		return err
	}
	rot, err := rotatedFiles(dir)
	if err != nil || len(rot) == 0 {
		return err
	}
	_, err = lastEntry(filepath.Join(dir, rotatedName(rot[len(rot)-1])))
	return err
}
