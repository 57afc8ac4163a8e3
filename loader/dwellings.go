// Package loader reads dwellings (CSV or GeoJSON) and area boundaries
// (GeoJSON) into engine batches, all or nothing: every bad row, coordinate,
// duplicate id or flag value is reported as file:line:column with a reason,
// and a file with any problem yields no batch at all. A column is a flag by
// its name (a built-in flag, or one known already: Options.KnownFlags) or,
// any other column, when every value it has is a flag value; a data column
// (a note, a household size) is dropped, with a log line, and fails
// nothing. It bounds what a file can make it hold: a CSV record and field
// (Options.MaxLineBytes, MaxFieldBytes), a GeoJSON dwelling feature and
// property value, and the columns (MaxColumns) and flags (MaxFlags) a file
// brings. It knows the engine's batches and nothing of HTTP, storage or the
// command line.
package loader

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/roomstate/roomstate/engine"
)

// BuiltinFlags are flags by name: a column that carries one is a flag
// whatever its values (a value that is not a flag value is a bad row), and
// the engine knows them even when no column does (engine.BuiltinFlags).
var BuiltinFlags = engine.BuiltinFlags

// MaxIDLen bounds a dwelling id, in bytes.
const MaxIDLen = 128

// Limits on the shape of a dwellings file, checked as early as they can be:
// the columns at the header, the flags once the file is read (only then is
// it known which columns are flags).
const (
	// MaxFlags is the most flags the engine holds: the built-in ones, those
	// already loaded and every file's new ones together (docs/API.md).
	MaxFlags = 1024
	// MaxColumns is the most columns of a CSV header (or distinct
	// properties of a GeoJSON file): the flags, the fixed columns, and
	// data columns that are read and dropped.
	MaxColumns = 4096
)

// Options configure a load.
type Options struct {
	CRS CRS
	// KnownFlags are read as flags whatever their values, like
	// BuiltinFlags: a value that is not a flag value is a bad row. They are
	// the flags the engine will hold when this file is applied: its
	// current ones and those the files loaded with it, before it, bring
	// (they count against MaxFlags as loaded already). Any other column that is not a fixed one (id, lon, lat,
	// the hierarchy, unit, floor, room) is a flag when all its values are
	// flag values or empty, and is dropped otherwise.
	KnownFlags []string
	// Logger gets an info line for each column dropped as not a flag (nil:
	// slog.Default()).
	Logger *slog.Logger
	// Progress, when set, is called now and then with the bytes read so far
	// and the total (0 when unknown).
	Progress func(done, total int64)
	// MaxLineBytes bounds a CSV record (a line, or the lines a quoted
	// field joins) and a GeoJSON dwelling feature; 0 means
	// DefaultMaxLineBytes.
	MaxLineBytes int
	// MaxFieldBytes bounds a CSV field and a GeoJSON property value; 0
	// means DefaultMaxFieldBytes.
	MaxFieldBytes int
}

func (o *Options) limits() (line, field int) {
	line, field = o.MaxLineBytes, o.MaxFieldBytes
	if line <= 0 {
		line = DefaultMaxLineBytes
	}
	if field <= 0 {
		field = DefaultMaxFieldBytes
	}
	return line, field
}

// ReadFile reads dwellings from a .csv, .geojson or .json file.
func ReadFile(path string, opts Options) (*engine.Batch, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var size int64
	if fi, err := f.Stat(); err == nil {
		size = fi.Size()
	}
	switch strings.ToLower(filepath.Ext(path)) {
	case ".geojson", ".json":
		data, err := io.ReadAll(f)
		if err != nil {
			return nil, err
		}
		return ReadGeoJSON(path, data, opts)
	case ".csv", ".txt", "":
		return ReadCSV(path, f, size, opts)
	}
	return nil, fmt.Errorf("%s: unknown file type (want .csv, .geojson or .json)", path)
}

// column roles in a dwellings file
type role int

const (
	roleDropped role = iota // a candidate flag that showed a non-flag value: data we do not keep
	roleID
	roleLon
	roleLat
	roleDistrict
	roleStreet
	roleCommunity
	roleGrid
	roleBuilding
	roleUnit
	roleFloor
	roleRoom
	roleFlag    // a flag by its name: every value must be a flag value
	rolePending // a candidate flag: a flag if every value is a flag value
)

var fixedColumns = map[string]role{
	"id": roleID, "lon": roleLon, "lng": roleLon, "longitude": roleLon, "lat": roleLat, "latitude": roleLat,
	"district": roleDistrict, "street": roleStreet, "community": roleCommunity, "grid": roleGrid,
	"building": roleBuilding, "unit": roleUnit, "floor": roleFloor, "room": roleRoom,
}

// columns maps the fields of a header (or the properties of a feature) to roles.
type columns struct {
	names   []string
	roles   []role
	flagIdx []int     // batch flag position, for flag and candidate flag columns
	dropped []notFlag // for a dropped candidate: its first value that is not a flag value
	at      [][2]int  // line and column where each column is named
	index   map[string]int
	fixed   [rolePending]int // column of each fixed role, +1 (0: none)
	known   map[string]bool  // flags by name: the built-in ones and the engine's
}

// notFlag is where a candidate flag column showed a value that is not a
// flag value, and the value (clipped), for the log line that drops it.
type notFlag struct {
	line, col int
	value     string
}

func newColumns(opts Options) *columns {
	c := &columns{known: map[string]bool{}, index: map[string]int{}}
	for _, f := range BuiltinFlags {
		c.known[f] = true
	}
	for _, f := range opts.KnownFlags {
		c.known[f] = true
	}
	return c
}

// add registers a column named at line:col; it returns a reason when the
// name is not usable, and fatal when no more columns fit. A column that is
// not a fixed one takes a flag position in b at once (a candidate's is
// dropped at the end if it turns out not to be a flag), so that the batch's
// flags do not change while rows are added.
func (c *columns) add(name string, line, col int, b *engine.Batch) (reason string, fatal, ok bool) {
	if len(c.names) >= MaxColumns {
		return fmt.Sprintf("more than %d columns: a file holds at most %d columns, of which at most %d flags", MaxColumns, MaxColumns, MaxFlags), true, false
	}
	if !utf8.ValidString(name) {
		return "column name is not valid UTF-8", false, false
	}
	name = strings.TrimSpace(name)
	if name == "" {
		return "column name is empty", false, false
	}
	key := strings.ToLower(name)
	if r, ok := fixedColumns[key]; ok {
		if i := c.fixed[r]; i > 0 {
			return fmt.Sprintf("column %q repeats column %q", name, c.names[i-1]), false, false
		}
		c.fixed[r] = len(c.names) + 1
		c.push(name, r, line, col)
		return "", false, true
	}
	if slices.Contains(BuiltinFlags, key) {
		name = key // a built-in flag, however its header is written (Isolated, VACCINATED)
	}
	if _, dup := c.index[name]; dup {
		return fmt.Sprintf("column %q appears twice", name), false, false
	}
	r := rolePending
	if c.known[name] {
		r = roleFlag
	}
	c.push(name, r, line, col)
	c.flagIdx[len(c.flagIdx)-1] = b.AddFlag(name)
	return "", false, true
}

func (c *columns) push(name string, r role, line, col int) {
	c.index[name] = len(c.names)
	c.names = append(c.names, name)
	c.roles = append(c.roles, r)
	c.flagIdx = append(c.flagIdx, -1)
	c.dropped = append(c.dropped, notFlag{})
	c.at = append(c.at, [2]int{line, col})
}

func (c *columns) has(r role) bool { return slices.Contains(c.roles, r) }

// parseFlag reads a flag value: 0/1/true/false in any case, or empty (false).
func parseFlag(v []byte) (bool, bool) {
	v = bytes.TrimSpace(v)
	switch len(v) {
	case 0:
		return false, true
	case 1:
		switch v[0] {
		case '0':
			return false, true
		case '1':
			return true, true
		}
		return false, false
	}
	if bytes.EqualFold(v, []byte("true")) {
		return true, true
	}
	if bytes.EqualFold(v, []byte("false")) {
		return false, true
	}
	return false, false
}

// rowReader turns the fields of one row into a record, reporting problems.
type rowReader struct {
	source  string
	cols    *columns
	batch   *engine.Batch
	conv    func(lon, lat float64) (float64, float64)
	rec     engine.Record
	errs    *engine.LoadError
	log     *slog.Logger
	idField int  // index of the id column
	fatal   bool // a limit was reached: stop reading
}

func newRowReader(source string, cols *columns, b *engine.Batch, opts Options, errs *engine.LoadError) *rowReader {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	return &rowReader{source: source, cols: cols, batch: b, conv: opts.CRS.converter(), errs: errs, log: log,
		idField: slices.Index(cols.roles, roleID)}
}

// problem records a problem at a line and column about a field.
func (rr *rowReader) problem(line, col int, field, format string, args ...any) {
	rr.errs.Add(engine.Problem{Source: rr.source, Line: line, Column: col, Field: field, Reason: fmt.Sprintf(format, args...)})
}

// row adds one row to the batch; pos(i) gives the line and column of field i.
func (rr *rowReader) row(fields [][]byte, line int, pos func(i int) (int, int)) {
	if !rr.parse(fields, line, pos) {
		return
	}
	if err := rr.batch.Add(&rr.rec); err != nil {
		rr.addError(err, pos)
	}
}

// finish ends the batch: it drops the candidate flag columns that turned
// out not to be flags, checks the flags that remain against MaxFlags,
// reports duplicate ids, and when all is well logs each dropped column.
func (rr *rowReader) finish() {
	c := rr.cols
	var drop []int
	if !rr.fatal {
		// the flags: the built-in ones and the engine's (c.known), then
		// this file's candidates that kept to flag values (one empty
		// throughout is a flag no dwelling has), in column order
		n := len(c.known)
		for i, r := range c.roles {
			switch r {
			case roleDropped:
				if c.flagIdx[i] >= 0 {
					drop = append(drop, c.flagIdx[i])
				}
			case rolePending:
				if n++; n > MaxFlags && !rr.fatal {
					rr.problem(c.at[i][0], c.at[i][1], c.names[i],
						"column %q would be flag %d: at most %d flags, %d of them built in, already loaded or brought by an earlier file (a column whose values are all 0, 1, true, false or empty is a flag)",
						c.names[i], n, MaxFlags, len(c.known))
					rr.fatal = true
				}
			}
		}
		rr.batch.DropFlags(drop)
	}
	if err := rr.batch.Finish(); err != nil {
		var le *engine.LoadError
		if errors.As(err, &le) {
			for _, p := range le.Problems {
				rr.errs.Add(p)
			}
			rr.errs.More += le.More
		} else {
			rr.errs.Add(engine.Problem{Source: rr.source, Reason: err.Error()})
		}
	}
	if rr.errs.Len() > 0 {
		return
	}
	for i, r := range c.roles {
		if r == roleDropped {
			d := c.dropped[i]
			rr.log.Info("column is not a flag: its values are dropped", "file", rr.source, "column", c.names[i],
				"line", d.line, "at", d.col, "value", d.value)
		}
	}
}

// addError reports a batch's refusal of a row at its id field.
func (rr *rowReader) addError(err error, pos func(i int) (int, int)) {
	idCol := slices.Index(rr.cols.roles, roleID)
	l, col := pos(idCol)
	rr.problem(l, col, rr.cols.names[max(idCol, 0)], "%v", err)
}

// parse reads one row into rr.rec, reporting its problems; false when the
// row is bad.
func (rr *rowReader) parse(fields [][]byte, line int, pos func(i int) (int, int)) bool {
	r := &rr.rec
	*r = engine.Record{Flags: r.Flags[:0], Floor: engine.NoFloor, Line: line}
	if i := rr.idField; i < len(fields) {
		r.Line, r.IDColumn = pos(i) // duplicates are reported where the id stands
	}
	bad := false
	var lon, lat float64
	lonOK, latOK := false, false
	for i, v := range fields {
		c := rr.cols
		name := c.names[i]
		switch c.roles[i] {
		case roleDropped:
			continue
		case roleFlag, rolePending:
			set, ok := parseFlag(v)
			if !ok {
				l, col := pos(i)
				if c.roles[i] == rolePending {
					// not a flag column after all: its values are data we
					// do not keep (finish drops the bits it set so far)
					c.roles[i] = roleDropped
					c.dropped[i] = notFlag{line: l, col: col, value: clip(v)}
					continue
				}
				why := "a flag of this name is known already (loaded before, or brought by an earlier file of this load)"
				if slices.Contains(BuiltinFlags, name) {
					why = "it is a built-in flag"
				}
				rr.problem(l, col, name, "%q is not a flag value (0, 1, true, false or empty): %s", clip(v), why)
				bad = true
				continue
			}
			if set {
				r.SetFlag(c.flagIdx[i])
			}
			continue
		}
		if !utf8.Valid(v) {
			l, col := pos(i)
			rr.problem(l, col, name, "value is not valid UTF-8")
			bad = true
			continue
		}
		// blanks around a value are a spreadsheet's, never meant: "G1 " is
		// grid G1, " a1" dwelling a1 (blanks inside a value are kept)
		s := strings.TrimSpace(unsafeString(v))
		switch c.roles[i] {
		case roleID:
			switch {
			case len(s) == 0:
				l, col := pos(i)
				rr.problem(l, col, name, "id is empty")
				bad = true
			case len(s) > MaxIDLen:
				l, col := pos(i)
				rr.problem(l, col, name, "id is longer than %d bytes", MaxIDLen)
				bad = true
			case hasControl(s):
				l, col := pos(i)
				rr.problem(l, col, name, "id %q holds a control character", clip(v))
				bad = true
			}
			r.ID = s
		case roleLon, roleLat:
			f, err := strconv.ParseFloat(s, 64)
			if err == nil && !decimal(s) {
				err = strconv.ErrSyntax // Go's hexadecimal and digit separators are no coordinates
			}
			if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
				l, col := pos(i)
				if len(s) == 0 {
					rr.problem(l, col, name, "coordinate is empty")
				} else {
					rr.problem(l, col, name, "%q is not a number", clip(v))
				}
				bad = true
				continue
			}
			if c.roles[i] == roleLon {
				lon, lonOK = f, true
				if f < -180 || f > 180 {
					l, col := pos(i)
					rr.problem(l, col, name, "longitude %v is out of range [-180, 180]", f)
					bad, lonOK = true, false
				}
			} else {
				lat, latOK = f, true
				if f < -90 || f > 90 {
					l, col := pos(i)
					rr.problem(l, col, name, "latitude %v is out of range [-90, 90]", f)
					bad, latOK = true, false
				}
			}
		case roleDistrict:
			r.District = s
		case roleStreet:
			r.Street = s
		case roleCommunity:
			r.Community = s
		case roleGrid:
			r.Grid = s
		case roleBuilding:
			r.Building = s
		case roleUnit:
			r.Unit = s
		case roleRoom:
			r.Room = s
		case roleFloor:
			if s == "" {
				continue
			}
			f, err := strconv.Atoi(s)
			if err != nil && decimal(s) { // 3.0: spreadsheets and pandas write whole numbers so
				if v, perr := strconv.ParseFloat(s, 64); perr == nil && v == math.Trunc(v) && math.Abs(v) <= 32767 {
					f, err = int(v), nil
				}
			}
			if err != nil || f < -32767 || f > 32767 {
				l, col := pos(i)
				rr.problem(l, col, name, "%q is not a floor number (an integer; basements negative)", clip(v))
				bad = true
				continue
			}
			r.Floor = int16(f)
		}
	}
	if bad || !lonOK || !latOK {
		return false
	}
	if rr.conv != nil {
		lon, lat = rr.conv(lon, lat)
	}
	r.Lon, r.Lat = lon, lat
	return true
}

func hasControl(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return true
		}
	}
	return false
}

// clip shortens a value for a message.
func clip(v []byte) string {
	if len(v) > 40 {
		return string(v[:40]) + "…"
	}
	return string(v)
}

// ReadCSV reads dwellings from CSV: a header row naming the columns (any
// order; id, lon and lat required), then one dwelling a row.
func ReadCSV(name string, r io.Reader, size int64, opts Options) (*engine.Batch, error) {
	cr := newCSVReader(r)
	cr.maxLine, cr.maxField = opts.limits()
	errs := &engine.LoadError{}
	b := engine.NewBatch(name, nil)
	if size > 0 {
		b.Reserve(int(size / 100)) // a row of the reference city is ~115 bytes
	}
	cols := newColumns(opts)
	fail := func(line, col int, reason string) (*engine.Batch, error) {
		errs.Add(engine.Problem{Source: name, Line: line, Column: col, Reason: reason})
		return nil, errs
	}
	header, line, err := cr.next()
	if err == io.EOF {
		return fail(1, 1, "file is empty: want a header row naming id, lon, lat and the other columns")
	}
	if err != nil {
		if se, ok := err.(*csvSyntaxError); ok {
			return fail(se.Line, se.Column, se.Reason)
		}
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(header) > MaxColumns {
		l, c := cr.fieldPos(MaxColumns)
		return fail(l, c, fmt.Sprintf("the header has %d columns: a file holds at most %d columns, of which at most %d flags", len(header), MaxColumns, MaxFlags))
	}
	at := cr.fieldPositions()
	for i, h := range header {
		l, c := at[i][0], at[i][1]
		if reason, fatal, ok := cols.add(string(h), l, c, b); !ok {
			errs.Add(engine.Problem{Source: name, Line: l, Column: c, Reason: reason})
			if fatal {
				return nil, errs
			}
		}
	}
	for _, req := range []struct {
		r    role
		name string
	}{{roleID, "id"}, {roleLon, "lon"}, {roleLat, "lat"}} {
		if !cols.has(req.r) {
			errs.Add(engine.Problem{Source: name, Line: line, Column: 1, Reason: fmt.Sprintf("no %q column (the header has: %s)", req.name, strings.Join(cols.names, ", "))})
		}
	}
	if errs.Len() > 0 {
		return nil, errs
	}
	rr := newRowReader(name, cols, b, opts, errs)
	if err := readRows(cr, rr, size, opts.Progress); err != nil {
		return nil, err
	}
	if opts.Progress != nil {
		opts.Progress(cr.read, size)
	}
	if errs.Len() > 0 {
		return nil, errs
	}
	return b, nil
}

// decimal reports whether s is written as a decimal number: digits, a
// point, a sign and an exponent only (not 0x1p4 nor 1_000, which
// strconv.ParseFloat takes too).
func decimal(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9', c == '.', c == '-', c == '+', c == 'e', c == 'E':
		default:
			return false
		}
	}
	return true
}
