package store

import (
	"slices"
	"time"

	"github.com/roomstate/roomstate/engine"
)

// Kinds of Input.
const (
	InputDwellings  = "dwellings"
	InputBoundaries = "boundaries"
)

// Input is a file whose content was loaded into the store (LoadInputs).
// With a data directory the store keeps the list in every snapshot,
// written with the load that brought each file, so that a directory that
// is reopened knows which contents it holds already: a crash leaves a load
// either applied and recorded, or neither.
type Input struct {
	Kind   string    // InputDwellings or InputBoundaries
	Path   string    // as it was given (e.g. on the command line)
	SHA256 string    // of the file's content, in lower-case hex
	Load   int       // which load of the store's state brought it: 1, 2, …
	Time   time.Time // when that load was applied
}

// wireInput is an Input in a snapshot.
type wireInput struct {
	Kind   string `msgpack:"k"`
	Path   string `msgpack:"p"`
	SHA256 string `msgpack:"h"`
	Load   int    `msgpack:"n"`
	Ms     int64  `msgpack:"t"`
}

func inputsToWire(in []Input) []wireInput {
	var out []wireInput
	for _, x := range in {
		out = append(out, wireInput{Kind: x.Kind, Path: x.Path, SHA256: x.SHA256, Load: x.Load, Ms: x.Time.UnixMilli()})
	}
	return out
}

func inputsFromWire(in []wireInput) []Input {
	var out []Input
	for _, x := range in {
		out = append(out, Input{Kind: x.Kind, Path: x.Path, SHA256: x.SHA256, Load: x.Load, Time: time.UnixMilli(x.Ms)})
	}
	return out
}

// Inputs returns the files loaded into the store's state, oldest load
// first: with a data directory, those of every load since the directory
// was first filled (a restored snapshot brings its own list).
func (s *Store) Inputs() []Input {
	s.inputsMu.Lock()
	defer s.inputsMu.Unlock()
	return slices.Clone(s.inputs)
}

// setInputs replaces the list (a restored state's).
func (s *Store) setInputs(in []Input) {
	s.inputsMu.Lock()
	s.inputs = slices.Clone(in)
	s.inputsMu.Unlock()
}

// addInputs records the files of a load just applied, as the next load.
func (s *Store) addInputs(in []Input, t time.Time) {
	if len(in) == 0 {
		return
	}
	s.inputsMu.Lock()
	defer s.inputsMu.Unlock()
	n := 1
	if len(s.inputs) > 0 {
		n = s.inputs[len(s.inputs)-1].Load + 1
	}
	for _, x := range in {
		x.Load, x.Time = n, t
		s.inputs = append(s.inputs, x)
	}
}

// LoadInputs is Load, recording the files the batches and boundaries were
// read from (Inputs) with it: with a data directory, in the snapshot that
// makes the load durable, so that the load and its record are on disk
// together or not at all. Each Input's Load and Time are set by the store.
func (s *Store) LoadInputs(batches []*engine.Batch, bounds []engine.Boundary, inputs []Input) error {
	req := &request{load: &load{batches: batches, bounds: bounds, inputs: inputs}, done: make(chan result, 1)}
	if err := s.send(req); err != nil {
		return err
	}
	return (<-req.done).err
}
