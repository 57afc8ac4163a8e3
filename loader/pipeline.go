package loader

import (
	"cmp"
	"fmt"
	"io"
	"slices"

	"github.com/roomstate/roomstate/engine"
)

// The CSV reader runs in two stages on two goroutines: one tokenises and
// checks rows into chunks of records, the other adds the records to the
// batch (hashing ids, interning names). On a 10 M-row file each stage takes
// about half of the work.

const chunkRows = 8192

// chunk carries parsed rows from the parser to the batch. Its strings point
// into arena, which only grows while the chunk is filled.
type chunk struct {
	recs  []engine.Record
	offs  [][8][2]uint32 // arena ranges of the record's string fields
	idPos [][2]int       // line and column of each record's id, for messages
	flags []uint64       // flag words of all records, flagStride each
	arena []byte
}

// stringFields lists the string fields of a record in the order of chunk.offs.
func stringFields(r *engine.Record) [8]*string {
	return [8]*string{&r.ID, &r.District, &r.Street, &r.Community, &r.Grid, &r.Building, &r.Unit, &r.Room}
}

// readRows parses every row of cr and adds it to rr's batch. Problems go to
// rr.errs; the returned error is an I/O failure.
func readRows(cr *csvReader, rr *rowReader, size int64, progress func(done, total int64)) error {
	full := make(chan *chunk, 4)
	free := make(chan *chunk, 6)
	for i := 0; i < 6; i++ {
		free <- &chunk{}
	}
	addErrs := &engine.LoadError{}
	done := make(chan struct{})
	// the parser changes the roles of candidate flag columns as it reads:
	// the batch stage reads none of them, and the batch's flags are fixed
	// before it starts (columns.add)
	idName := rr.cols.names[max(rr.idField, 0)]
	go func() { // the batch stage
		defer close(done)
		for c := range full {
			for i := range c.recs {
				r := &c.recs[i]
				for k, p := range stringFields(r) {
					o := c.offs[i][k]
					*p = unsafeString(c.arena[o[0]:o[1]])
				}
				if err := rr.batch.Add(r); err != nil {
					pos := c.idPos[i]
					addErrs.Add(engine.Problem{Source: rr.source, Line: pos[0], Column: pos[1], Field: idName, Reason: err.Error()})
				}
			}
			free <- c
		}
	}()
	var ioErr error
	var nextReport int64
	c := <-free
	c.reset()
	send := func() {
		full <- c
		c = <-free
		c.reset()
	}
	for {
		fields, line, err := cr.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			if se, ok := err.(*csvSyntaxError); ok {
				rr.errs.Add(engine.Problem{Source: rr.source, Line: se.Line, Column: se.Column, Reason: se.Reason})
				break // the rest of the file cannot be read reliably
			}
			ioErr = fmt.Errorf("%s: %w", rr.source, err)
			break
		}
		if len(fields) != len(rr.cols.names) {
			l, col := cr.fieldPos(min(len(fields), len(rr.cols.names)))
			rr.errs.Add(engine.Problem{Source: rr.source, Line: l, Column: col,
				Reason: fmt.Sprintf("row has %d fields, the header has %d", len(fields), len(rr.cols.names))})
			continue
		}
		if !rr.parse(fields, line, cr.fieldPos) {
			if rr.fatal || rr.errs.More > 10*engine.MaxProblems {
				break // a limit reached, or enough to act on
			}
			continue
		}
		c.add(&rr.rec, rr.rec.Line, rr.rec.IDColumn)
		if len(c.recs) == chunkRows {
			send()
		}
		if progress != nil && cr.read >= nextReport {
			progress(cr.read, size)
			nextReport = cr.read + 4<<20
		}
	}
	full <- c
	close(full)
	<-done
	// problems of both stages and duplicate ids, in file order
	for _, p := range addErrs.Problems {
		rr.errs.Add(p)
	}
	rr.errs.More += addErrs.More
	rr.finish()
	slices.SortStableFunc(rr.errs.Problems, func(a, b engine.Problem) int { return cmp.Compare(a.Line, b.Line) })
	return ioErr
}

func (c *chunk) reset() {
	c.recs = c.recs[:0]
	c.offs = c.offs[:0]
	c.idPos = c.idPos[:0]
	c.flags = c.flags[:0]
	c.arena = c.arena[:0]
}

// add copies a parsed record into the chunk.
func (c *chunk) add(r *engine.Record, idLine, idCol int) {
	var offs [8][2]uint32
	for k, p := range stringFields(r) {
		start := len(c.arena)
		c.arena = append(c.arena, *p...)
		offs[k] = [2]uint32{uint32(start), uint32(len(c.arena))}
	}
	c.recs = append(c.recs, *r)
	nr := &c.recs[len(c.recs)-1]
	// the flag words get their own copy (the parser reuses r.Flags)
	start := len(c.flags)
	c.flags = append(c.flags, r.Flags...)
	nr.Flags = c.flags[start:len(c.flags):len(c.flags)]
	c.offs = append(c.offs, offs)
	c.idPos = append(c.idPos, [2]int{idLine, idCol})
}
