package store

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"

	"github.com/roomstate/roomstate/engine"
	"github.com/vmihailenco/msgpack/v5"
)

// A snapshot file is
//
//	"RSSNAP01" | u64 body length | u32 CRC-32C of the body | body (msgpack snapshotFile)
//
// written to a temporary file, fsynced, renamed into place, and the
// directory fsynced.

var snapMagic = []byte("RSSNAP01")

const snapHeader = 8 + 8 + 4

// encodeSnapshot returns the bytes of a snapshot file holding snap, which
// includes the journal's entries up to seq (0 without a journal), and the
// files loaded into it.
func encodeSnapshot(snap *engine.Snapshot, seq uint64, inputs []Input) ([]byte, error) {
	s := snapshotToFile(snap)
	s.Seq, s.Inputs = seq, inputsToWire(inputs)
	// encode into a buffer sized up front: grown by doubling, a 10 M-dwelling
	// snapshot spent two thirds of its time clearing and copying buffers
	var buf bytes.Buffer
	buf.Grow(snapHeader + approxSize(s))
	buf.Write(make([]byte, snapHeader))
	if err := msgpack.NewEncoder(&buf).Encode(s); err != nil {
		return nil, fmt.Errorf("encoding snapshot: %w", err)
	}
	b := buf.Bytes()
	body := b[snapHeader:]
	copy(b[:8], snapMagic)
	binary.LittleEndian.PutUint64(b[8:16], uint64(len(body)))
	binary.LittleEndian.PutUint32(b[16:20], crc32.Checksum(body, castagnoli))
	return b, nil
}

// writeSnapshot stores snap as dir/snapshot-<version>.msgpack, atomically.
func writeSnapshot(dir string, snap *engine.Snapshot, seq uint64) (string, error) {
	b, err := encodeSnapshot(snap, seq, nil)
	if err != nil {
		return "", err
	}
	return writeSnapshotFile(dir, snap.Version, b)
}

// writeSnapshotFile stores the bytes of a snapshot file of version v as
// dir/snapshot-<v>.msgpack: a temporary file, fsynced, renamed into place,
// and the directory fsynced.
func writeSnapshotFile(dir string, v uint64, b []byte) (string, error) {
	final := filepath.Join(dir, snapshotName(v))
	tmp := final + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return "", err
	}
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	w := bufio.NewWriterSize(f, 1<<20)
	if _, err := w.Write(b); err != nil {
		return "", err
	}
	if err := w.Flush(); err != nil {
		return "", err
	}
	if err := f.Sync(); err != nil {
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, final); err != nil {
		return "", err
	}
	ok = true
	return final, syncDir(dir)
}

// approxSize is a little more than the encoded size of s: its columns, and
// a margin for the tables and the encoding's headers.
func approxSize(s *snapshotFile) int {
	n := len(s.IDs) + len(s.IDEnd) + len(s.Lon) + len(s.Lat) + len(s.Area) + len(s.Bld) + len(s.Unit) + len(s.Room) + len(s.Floor) + len(s.Areas)
	for _, b := range s.FlagBitmaps {
		n += len(b) + 8
	}
	for _, b := range s.Buildings {
		n += len(b) + 5
	}
	for _, str := range s.Strings {
		n += len(str) + 5
	}
	for l := range s.Units {
		for i := range s.Units[l] {
			n += len(s.Units[l][i]) + len(s.UnitNames[l][i]) + 10
		}
	}
	for _, b := range s.Boundaries {
		for _, p := range b.Polygons {
			for _, r := range p {
				n += 9*len(r) + 8
			}
		}
	}
	return n + 1<<16
}

// readSnapshot reads and checks a snapshot file; seq is the journal's
// entries it includes (0 without a journal), inputs the files loaded into
// it.
func readSnapshot(path string) (snap *engine.Snapshot, seq uint64, inputs []Input, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, 0, nil, err
	}
	return decodeSnapshot(path, data)
}

// decodeSnapshot checks and decodes the bytes of a snapshot file; name
// says where they come from, for errors.
func decodeSnapshot(name string, data []byte) (*engine.Snapshot, uint64, []Input, error) {
	corrupt := func(why string) error { return &CorruptError{Path: name, Reason: why} }
	if len(data) < snapHeader || !bytes.Equal(data[:8], snapMagic) {
		return nil, 0, nil, corrupt("not a roomstate snapshot (bad header)")
	}
	size := binary.LittleEndian.Uint64(data[8:16])
	if size != uint64(len(data)-snapHeader) {
		return nil, 0, nil, corrupt(fmt.Sprintf("the header says %d bytes of body, the file has %d", size, len(data)-snapHeader))
	}
	body := data[snapHeader:]
	if crc32.Checksum(body, castagnoli) != binary.LittleEndian.Uint32(data[16:20]) {
		return nil, 0, nil, corrupt("checksum mismatch")
	}
	var s snapshotFile
	if err := msgpack.NewDecoder(bytes.NewReader(body)).Decode(&s); err != nil && err != io.EOF {
		return nil, 0, nil, corrupt("does not decode: " + err.Error())
	}
	return snapshotFromFile(&s), s.Seq, inputsFromWire(s.Inputs), nil
}
