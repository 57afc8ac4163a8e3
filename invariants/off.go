//go:build !(invariants || race)

package invariants

// On is false: the self-checks do not run.
const On = false
