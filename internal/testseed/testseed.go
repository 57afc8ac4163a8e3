// Package testseed gives the randomised tests their seed: SEED from the
// environment, else a fresh one (Get) or the test's own (Or), always
// logged, so that a failure can be replayed with SEED=…. It is for tests
// and knows nothing of what they randomise.
package testseed

import (
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
)

// Get returns SEED, or a fresh random seed; either is logged.
func Get(t testing.TB) uint64 {
	t.Helper()
	if v, ok := fromEnv(t); ok {
		return v
	}
	v := rand.Uint64() % 1_000_000
	t.Logf("SEED=%d (set SEED to replay)", v)
	return v
}

// Or returns SEED, or def; either is logged.
func Or(t testing.TB, def uint64) uint64 {
	t.Helper()
	if v, ok := fromEnv(t); ok {
		return v
	}
	t.Logf("SEED=%d (set SEED to try another)", def)
	return def
}

func fromEnv(t testing.TB) (uint64, bool) {
	t.Helper()
	s := os.Getenv("SEED")
	if s == "" {
		return 0, false
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		t.Fatalf("SEED=%q: %v", s, err)
	}
	t.Logf("SEED=%d (from the environment)", v)
	return v, true
}
