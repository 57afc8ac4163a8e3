//go:build invariants || race

package invariants

// On is true: the self-checks run.
const On = true
