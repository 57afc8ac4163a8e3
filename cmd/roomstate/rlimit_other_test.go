//go:build !unix

package main

import "testing"

// raiseOpenFiles cannot know the limit here: the test is skipped.
func raiseOpenFiles(t *testing.T, n uint64) {
	t.Skipf("this test needs %d open files and raises the limit only on Unix", n)
}
