//go:build unix

package main

import (
	"syscall"
	"testing"
)

// raiseOpenFiles makes room for n open files in this process (and the
// servers it starts), or skips the test.
func raiseOpenFiles(t *testing.T, n uint64) {
	t.Helper()
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		t.Skipf("cannot read RLIMIT_NOFILE: %v", err)
	}
	if uint64(rl.Cur) >= n {
		return
	}
	if uint64(rl.Max) < n {
		t.Skipf("this test needs %d open files; RLIMIT_NOFILE allows at most %d (raise the hard limit: ulimit -Hn)", n, rl.Max)
	}
	old := rl
	rl.Cur = rl.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		t.Skipf("cannot raise RLIMIT_NOFILE to %d: %v", n, err)
	}
	t.Cleanup(func() { syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old) })
}
