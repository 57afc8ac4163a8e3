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
// dir, changing nothing there: it reads the audit trail as a start does
// (a last entry that does not decode stops both), restores the newest snapshot, checks
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

// checkAudit reads the audit trail of dir as a start does (readAuditTail),
// changing nothing; its error is the one a start would refuse with.
func checkAudit(dir string) error {
	f, err := os.Open(filepath.Join(dir, auditFile))
	switch {
	case errors.Is(err, os.ErrNotExist): // a start creates it, then reads the rotated files
		_, err = readAuditTail(dir, nil, 0)
		return err
	case err != nil:
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	_, err = readAuditTail(dir, f, st.Size())
	return err
}
