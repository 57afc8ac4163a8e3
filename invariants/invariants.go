// Package invariants says whether roomstate's expensive self-checks run:
// after every applied group of changes the engine compares its derived
// structures (rank totals and flag counts, tile stamps) with their sources,
// checks that no dead slot carries a flag, and panics on a mismatch. They are on under the race detector and with the
// build tag `invariants` (as in pebble's internal/invariants), off in
// production builds.
//
// It knows nothing of what is checked.
package invariants
