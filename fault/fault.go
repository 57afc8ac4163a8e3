// Package fault names the kinds of failure that every layer of roomstate
// reports: a request that is malformed, names something unknown, is too
// large, is not allowed, or meets a server that cannot take it now. Each kind
// is a sentinel error; errors carry their own message and wrap their kind, so
// that errors.Is tells the kinds apart and the HTTP server maps each kind to
// one status and code in one table.
//
// It knows nothing of HTTP, of the engine or of any answer's shape.
package fault

import (
	"errors"
	"fmt"
	"time"
)

// The kinds of failure. Their text is the code the API reports.
var (
	BadRequest    = errors.New("bad_request")    // a parameter or field is wrong
	BadJSON       = errors.New("bad_json")       // a body is not the JSON asked for
	BadGeometry   = errors.New("bad_geometry")   // a polygon is not valid
	BadExpression = errors.New("bad_expression") // a flag expression does not parse
	BadFlag       = errors.New("bad_flag")       // a change names an unknown flag
	BadScheme     = errors.New("bad_scheme")     // a colour scheme does not check
	BadTile       = errors.New("bad_tile")       // a tile address outside the pyramid
	NotFound      = errors.New("not_found")      // an unknown dwelling, building, unit, scheme…
	TooLarge      = errors.New("too_large")      // over a limit of size or count
	Timeout       = errors.New("timeout")        // over the time budget of a query
	Unauthorized  = errors.New("unauthorized")   // no valid token
	Forbidden     = errors.New("forbidden")      // outside the caller's role or scope
	Gone          = errors.New("gone")           // changes older than the feed keeps
	HistoryGone   = errors.New("history_gone")   // a time before the retained history
	Conflict      = errors.New("conflict")       // the state moved on; try again
	Unavailable   = errors.New("unavailable")    // the server cannot take it now (closing, disk full, no quorum)
	Lagging       = errors.New("lagging")        // a replica has not reached the version asked for
)

// Error is a failure of one kind with its own message. Line, when not zero,
// is the line of a batch or file the failure is about; Oldest, when not zero,
// the oldest version still available (Gone, HistoryGone), and OldestTime
// the time of that state (HistoryGone); RetryAfter, in seconds, when trying
// again later may work (Unavailable).
type Error struct {
	Kind       error
	Msg        string
	Line       int
	Oldest     uint64
	OldestTime time.Time
	RetryAfter int
}

func (e *Error) Error() string { return e.Msg }

// Unwrap returns the kind, for errors.Is.
func (e *Error) Unwrap() error { return e.Kind }

// New returns an error of kind with a formatted message.
func New(kind error, format string, args ...any) *Error {
	return &Error{Kind: kind, Msg: fmt.Sprintf(format, args...)}
}

// Wrap returns an error of kind whose message is err's; nil stays nil.
func Wrap(kind error, err error) error {
	if err == nil {
		return nil
	}
	return &wrapped{kind: kind, err: err}
}

type wrapped struct {
	kind error
	err  error
}

func (w *wrapped) Error() string { return w.err.Error() }

// Unwrap returns both the kind and the wrapped error.
func (w *wrapped) Unwrap() []error { return []error{w.kind, w.err} }

// Kinds lists every kind, for tables that must cover them all.
var Kinds = []error{BadRequest, BadJSON, BadGeometry, BadExpression, BadFlag, BadScheme, BadTile, NotFound,
	TooLarge, Timeout, Unauthorized, Forbidden, Gone, HistoryGone, Conflict, Unavailable, Lagging}

// KindOf returns the kind err is of, or nil when it is of none (a bug).
func KindOf(err error) error {
	for _, k := range Kinds {
		if errors.Is(err, k) {
			return k
		}
	}
	return nil
}

// Info returns the details an *Error carries (zero when err holds none).
func Info(err error) (line int, oldest uint64, retryAfter int) {
	d := Details(err)
	return d.Line, d.Oldest, d.RetryAfter
}

// Details returns the *Error err holds, or a zero one.
func Details(err error) Error {
	var e *Error
	if errors.As(err, &e) {
		return *e
	}
	return Error{}
}
