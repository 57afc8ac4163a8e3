package wal

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestRealDiskFull fills a small tmpfs: the append that meets the full disk
// is refused with ErrNoSpace and cut back, appends resume by themselves once
// space is freed, and after a reopen the log holds exactly the acknowledged
// groups. It needs root (to mount) and is skipped without.
func TestRealDiskFull(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a small tmpfs")
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=256k"); err != nil {
		t.Skipf("cannot mount a tmpfs here: %v", err)
	}
	t.Cleanup(func() { syscall.Unmount(dir, syscall.MNT_DETACH) })
	ballast := filepath.Join(dir, "ballast")
	if err := os.WriteFile(ballast, make([]byte, 64<<10), 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	acked := 0
	for {
		err = l.Append(group(l, "full", 64))
		if err != nil {
			break
		}
		acked += 64
	}
	if !errors.Is(err, ErrNoSpace) || errors.Is(err, ErrBroken) || acked == 0 {
		t.Fatalf("after %d records: %v, want ErrNoSpace", acked, err)
	}
	t.Logf("%d records acknowledged, then: %v", acked, err)
	if err := l.Append(group(l, "still full", 64)); !errors.Is(err, ErrNoSpace) {
		t.Fatalf("still full: %v", err)
	}
	os.Remove(ballast)
	if err := l.Append(group(l, "resumed", 64)); err != nil {
		t.Fatalf("space freed, append: %v", err)
	}
	l.Close()
	got, _ := payloads(t, dir)
	if len(got) != acked+64 || got[acked][:7] != "resumed" {
		t.Fatalf("after a reopen %d records, want %d acknowledged and 64 resumed", len(got), acked)
	}
	for _, p := range got[:acked] {
		if p[:4] != "full" {
			t.Fatalf("a refused record came back: %q", p)
		}
	}
}
