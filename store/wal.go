package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/vmihailenco/msgpack/v5"
)

// A log segment holds records back to back:
//
//	u32 payload length | u32 CRC-32C of the payload | payload (msgpack record)
//
// Segment files are named wal-<first version, 20 digits>.log. A record is
// one request: its changes replay together or not at all.

const recordHeader = 8

// maxRecord bounds a record's length, so a garbled length field is not
// taken for a huge record.
const maxRecord = 1 << 30

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func encodeRecord(dst []byte, r *record) ([]byte, error) {
	payload, err := msgpack.Marshal(r)
	if err != nil {
		return dst, err
	}
	var h [recordHeader]byte
	binary.LittleEndian.PutUint32(h[:4], uint32(len(payload)))
	binary.LittleEndian.PutUint32(h[4:], crc32.Checksum(payload, castagnoli))
	dst = append(dst, h[:]...)
	return append(dst, payload...), nil
}

func segmentName(first uint64) string { return fmt.Sprintf("wal-%020d.log", first) }

func snapshotName(v uint64) string { return fmt.Sprintf("snapshot-%020d.msgpack", v) }

// listFiles returns the versions in the names of files with prefix and
// suffix in dir, ascending.
func listFiles(dir, prefix, suffix string) ([]uint64, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []uint64
	for _, e := range ents {
		n := e.Name()
		if !strings.HasPrefix(n, prefix) || !strings.HasSuffix(n, suffix) {
			continue
		}
		v, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(n, prefix), suffix), 10, 64)
		if err != nil {
			continue
		}
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out, nil
}

// CorruptError reports damage that recovery must not paper over.
type CorruptError struct {
	Path   string
	Offset int64
	Reason string
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("%s: corrupt at byte %d: %s; refusing to start with data missing. "+
		"Restore the data directory from a backup, or move this file away to start from what precedes it", e.Path, e.Offset, e.Reason)
}

// readSegment calls fn for each complete record of a segment. A damaged
// record at the end (a torn write) is reported as tornAt ≥ 0 when last is
// true; damage followed by a valid record, or in a segment that is not the
// last, is a *CorruptError.
func readSegment(path string, last bool, fn func(r *record) error) (tornAt int64, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return -1, err
	}
	off := int64(0)
	for off < int64(len(data)) {
		r, n, why := parseRecord(data[off:])
		if why == "" {
			if err := fn(r); err != nil {
				return -1, err
			}
			off += n
			continue
		}
		// damage: a torn tail only if nothing valid follows
		if n > 0 && off+n < int64(len(data)) {
			if _, _, why2 := parseRecord(data[off+n:]); why2 == "" {
				return -1, &CorruptError{Path: path, Offset: off, Reason: why + ", and valid records follow"}
			}
		}
		if !last {
			return -1, &CorruptError{Path: path, Offset: off, Reason: why + " in a segment that is not the last"}
		}
		return off, nil
	}
	return -1, nil
}

// parseRecord reads one record; why is "" for a good one. n is the length
// the header claims (0 when even the header is incomplete).
func parseRecord(b []byte) (*record, int64, string) {
	if len(b) < recordHeader {
		return nil, 0, "incomplete record header"
	}
	size := binary.LittleEndian.Uint32(b[:4])
	sum := binary.LittleEndian.Uint32(b[4:8])
	if size > maxRecord {
		return nil, 0, "record length out of range"
	}
	n := int64(recordHeader) + int64(size)
	if int64(len(b)) < n {
		return nil, n, "record cut short"
	}
	payload := b[recordHeader:n]
	if crc32.Checksum(payload, castagnoli) != sum {
		return nil, n, "record checksum mismatch"
	}
	var r record
	if err := msgpack.Unmarshal(payload, &r); err != nil {
		return nil, n, "record does not decode: " + err.Error()
	}
	return &r, n, ""
}

// truncate cuts a segment at off and makes that durable.
func truncate(path string, off int64) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Truncate(off); err != nil {
		return err
	}
	return f.Sync()
}

// syncDir makes renames and creations in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return err
	}
	return nil
}

// openSegment creates (or opens for append) the segment starting at first.
func openSegment(dir string, first uint64) (*os.File, error) {
	path := filepath.Join(dir, segmentName(first))
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syncDir(dir); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

func msgpackMarshal(v any) ([]byte, error) { return msgpack.Marshal(v) }

func msgpackUnmarshal(b []byte, v any) error { return msgpack.Unmarshal(b, v) }
