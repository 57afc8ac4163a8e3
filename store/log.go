package store

import (
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/vmihailenco/msgpack/v5"
)

// The log's records: each request of changes (or scheme put) is one wal
// record whose sequence number is the version of its first change and
// whose count is its number of changes (0 for a scheme); its bytes are a
// msgpack record (wire.go). How records are framed on disk is package
// wal's business.

func encodeRecord(r *record) ([]byte, error) { return msgpack.Marshal(r) }

func decodeRecord(b []byte) (*record, error) {
	var r record
	if err := msgpack.Unmarshal(b, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

func msgpackMarshal(v any) ([]byte, error) { return msgpack.Marshal(v) }

func msgpackUnmarshal(b []byte, v any) error { return msgpack.Unmarshal(b, v) }

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

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
		"Restore the data directory from a backup, or see `roomstate wal check`", e.Path, e.Offset, e.Reason)
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
