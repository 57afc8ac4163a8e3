package main

import (
	"bytes"
	"encoding/binary"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/roomstate/roomstate/wal"
)

// Damage in the middle of the newest log file, made as a hostile test made
// it, stops `serve` with the file and the offset, and cuts nothing; only a
// record cut short at the very end is taken for a torn write and cut.
func TestServeRefusesDamagedLog(t *testing.T) {
	if testing.Short() {
		t.Skip("real processes")
	}
	city := genCity(t, 3_000)
	csv := filepath.Join(city, "dwellings.csv")
	dir := filepath.Join(t.TempDir(), "state")
	p := startProc(t, "serve", "--load", csv, "--data-dir", dir, "--addr", "127.0.0.1:0")
	id := firstID(t, csv)
	for i := 0; i < 300; i++ {
		verb := "set"
		if i%2 == 1 {
			verb = "clear"
		}
		req, _ := http.NewRequest("PATCH", p.url+"/api/v1/dwellings/"+id, strings.NewReader(`{"`+verb+`":["rental"]}`))
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("PATCH %d: %v", i, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	p.kill() // the log keeps every change; no snapshot after the load
	var seg string
	var offs []int64
	if _, err := wal.Inspect(dir, func(path string, off int64, _ wal.Record) { seg, offs = path, append(offs, off) }); err != nil || len(offs) < 300 {
		t.Fatalf("%d records: %v", len(offs), err)
	}
	orig, _ := os.ReadFile(seg)
	mid := offs[len(offs)/2] // a record in the middle
	rng := rand.New(rand.NewPCG(1, 2))
	damages := []struct {
		name string
		do   func(b []byte) []byte
	}{
		{"a zeroed 4 KiB page", func(b []byte) []byte { clear(b[mid : mid+4096]); return b }},
		{"100 random bytes", func(b []byte) []byte {
			for i := mid + 3; i < mid+103; i++ {
				b[i] = byte(rng.Uint32())
			}
			return b
		}},
		{"inserted bytes", func(b []byte) []byte {
			return append(b[:mid+5:mid+5], append([]byte("garbage!"), orig[mid+5:]...)...)
		}},
		{"a record length of 0xFFFFFFFF", func(b []byte) []byte {
			binary.LittleEndian.PutUint32(b[mid:], 0xFFFFFFFF)
			return b
		}},
		{"a record length +1000", func(b []byte) []byte {
			binary.LittleEndian.PutUint32(b[mid:], binary.LittleEndian.Uint32(b[mid:])+1000)
			return b
		}},
		{"damage in the last record, not at the end", func(b []byte) []byte {
			last := offs[len(offs)-1]
			b[last+30] ^= 0x5a
			return b
		}},
	}
	copyDir := func() string {
		d := filepath.Join(t.TempDir(), "state")
		os.MkdirAll(d, 0o755)
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			b, _ := os.ReadFile(filepath.Join(dir, e.Name()))
			os.WriteFile(filepath.Join(d, e.Name()), b, 0o644)
		}
		return d
	}
	for _, dm := range damages {
		d := copyDir()
		path := filepath.Join(d, filepath.Base(seg))
		bad := dm.do(append([]byte(nil), orig...))
		os.WriteFile(path, bad, 0o644)
		var stderr bytes.Buffer
		err := run(t.Context(), []string{"serve", "--data-dir", d, "--addr", "127.0.0.1:0"}, io.Discard, &stderr)
		if err == nil || !strings.Contains(err.Error(), filepath.Base(seg)) || !strings.Contains(err.Error(), "byte") {
			t.Fatalf("%s: serve started or did not name the file and offset: %v", dm.name, err)
		}
		after, _ := os.ReadFile(path)
		if !bytes.Equal(after, bad) {
			t.Fatalf("%s: the log file was changed (%d bytes, was %d)", dm.name, len(after), len(bad))
		}
	}
	// a genuinely torn last record: cut, with a warning, and serve starts
	d := copyDir()
	path := filepath.Join(d, filepath.Base(seg))
	os.WriteFile(path, orig[:offs[len(offs)-1]+10], 0o644)
	q := startProc(t, "serve", "--data-dir", d, "--addr", "127.0.0.1:0")
	if _, body := get(t, q.url+"/healthz"); !strings.Contains(body, `"status":"ok"`) {
		t.Fatalf("after a torn tail: %s", body)
	}
	q.stop(t)
	if !strings.Contains(q.stderr.String(), "torn") {
		t.Fatalf("no warning about the torn record: %s", q.stderr.String())
	}
}
