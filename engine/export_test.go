package engine

// SetParallelDeltas sets the number of changed dwellings from which a
// question about the past reads their states on two goroutines, and returns
// what restores it (the tests lower it so that the oracle checks that path).
func SetParallelDeltas(n int) (restore func()) {
	old := parallelDeltas
	parallelDeltas = n
	return func() { parallelDeltas = old }
}
