package wal

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

const (
	// MaxRecord is the largest payload a record may hold, in bytes.
	MaxRecord = 1 << 30

	formatVersion   = 1
	segHeaderSize   = 40
	frameHeaderSize = 24
	// sectorSize is the unit in which a crash may leave data unwritten.
	sectorSize = 512
)

var magic = [8]byte{0x89, 'R', 'S', 'W', 'A', 'L', '\r', '\n'}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Record is one entry of the log: an opaque payload holding Count sequence
// numbers from Seq on.
type Record struct {
	Seq   uint64 // the first sequence number it holds
	Count uint32 // how many it holds (0: none; the next record starts at Seq too)
	Data  []byte // the payload
}

// Segment describes one segment file.
type Segment struct {
	Path    string
	First   uint64 // the first sequence number it holds (its name)
	Next    uint64 // the sequence number after its last valid record
	Records int    // valid records
	Size    int64  // bytes in the file
	End     int64  // byte offset after its last valid record
}

const segPrefix, segSuffix = "wal-", ".log"

// SegmentName is the file name of the segment starting at first.
func SegmentName(first uint64) string { return fmt.Sprintf("%s%020d%s", segPrefix, first, segSuffix) }

// parseSegmentName returns the first sequence number in a segment's name.
func parseSegmentName(name string) (uint64, bool) {
	if !strings.HasPrefix(name, segPrefix) || !strings.HasSuffix(name, segSuffix) {
		return 0, false
	}
	digits := name[len(segPrefix) : len(name)-len(segSuffix)]
	if len(digits) != 20 {
		return 0, false
	}
	v, err := strconv.ParseUint(digits, 10, 64)
	return v, err == nil
}

// listSegments returns the first sequence numbers of dir's segments, ascending.
func listSegments(dir string) ([]uint64, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []uint64
	for _, e := range ents {
		if v, ok := parseSegmentName(e.Name()); ok && e.Type().IsRegular() {
			out = append(out, v)
		}
	}
	slices.Sort(out)
	return out, nil
}

// segHeader is the fixed header of a segment.
type segHeader struct {
	first    uint64
	prevNext uint64
	prevCRC  uint32
}

func (h segHeader) encode() []byte {
	b := make([]byte, segHeaderSize)
	copy(b, magic[:])
	binary.LittleEndian.PutUint32(b[8:], formatVersion)
	binary.LittleEndian.PutUint64(b[16:], h.first)
	binary.LittleEndian.PutUint64(b[24:], h.prevNext)
	binary.LittleEndian.PutUint32(b[32:], h.prevCRC)
	binary.LittleEndian.PutUint32(b[36:], crc32.Checksum(b[:36], castagnoli))
	return b
}

func padding(n int) int { return (8 - n%8) % 8 }

// appendFrame encodes r after dst, chaining its CRC from prev.
func appendFrame(dst []byte, prev uint32, r Record) ([]byte, uint32) {
	n := len(r.Data)
	size := frameHeaderSize + n + padding(n)
	start := len(dst)
	dst = slices.Grow(dst, size)[:start+size]
	f := dst[start:]
	binary.LittleEndian.PutUint32(f[0:], uint32(n))
	binary.LittleEndian.PutUint32(f[4:], r.Count)
	binary.LittleEndian.PutUint64(f[8:], r.Seq)
	copy(f[frameHeaderSize:], r.Data)
	clear(f[frameHeaderSize+n:])
	crc := crc32.Update(prev, castagnoli, f[:16])
	crc = crc32.Update(crc, castagnoli, f[frameHeaderSize:])
	binary.LittleEndian.PutUint32(f[16:], crc)
	binary.LittleEndian.PutUint32(f[20:], crc32.Checksum(f[:20], castagnoli))
	return dst, crc
}

// scanned is what reading a segment found.
type scanned struct {
	Segment
	hdr   segHeader
	crc   uint32    // chained CRC after the last valid record
	empty bool      // a 0-byte file: no header yet
	torn  *TornTail // a torn last record (only in the newest segment)
}

// scanSegment reads the segment at path (named first) and calls each, if
// not nil, for every valid record in order; r.Data is valid only during the
// call. newest says whether it is the newest segment, where a torn last
// record is allowed (and reported in torn, with End before it). prev, when
// not nil, is the segment before it, which it must continue. On damage it
// returns what it read up to the damage and a *CorruptError or *FormatError.
func scanSegment(path string, first uint64, newest bool, prev *scanned, each func(off int64, r Record) error) (*scanned, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	size := st.Size()
	s := &scanned{Segment: Segment{Path: path, First: first, Next: first, Size: size}}
	if size == 0 {
		if !newest {
			return s, &CorruptError{Path: path, Reason: "empty file (not even a header) in the middle of the log"}
		}
		if prev != nil && first < prev.Next {
			return s, &CorruptError{Path: path, Reason: fmt.Sprintf("an empty segment starting at sequence %d, but %s already holds up to %d (an overlap)",
				first, filepath.Base(prev.Path), prev.Next-1)}
		}
		s.empty = true
		return s, nil
	}
	if s.hdr, err = readHeader(f, path, first, size); err != nil {
		return s, err
	}
	if prev != nil {
		if err := joins(prev, s); err != nil {
			return s, err
		}
	}
	sc := frameScanner{f: f, path: path, size: size, newest: newest}
	off, next, crc := int64(segHeaderSize), s.hdr.first, s.hdr.prevCRC
	s.Next, s.End, s.crc = next, off, crc
	r := bufio.NewReaderSize(io.NewSectionReader(f, off, size-off), 256<<10)
	var h [frameHeaderSize]byte
	var buf []byte
	for off < size {
		if size-off < frameHeaderSize {
			return s, sc.fail(s, off, off+frameHeaderSize, true, next,
				fmt.Sprintf("the file ends inside a record header (%d of %d bytes)", size-off, frameHeaderSize))
		}
		if _, err := io.ReadFull(r, h[:]); err != nil {
			return s, fmt.Errorf("%s: reading byte %d: %w", path, off, err)
		}
		n := binary.LittleEndian.Uint32(h[0:])
		count := binary.LittleEndian.Uint32(h[4:])
		seq := binary.LittleEndian.Uint64(h[8:])
		sum := binary.LittleEndian.Uint32(h[16:])
		if crc32.Checksum(h[:20], castagnoli) != binary.LittleEndian.Uint32(h[20:]) {
			why := fmt.Sprintf("record header checksum mismatch (its length field says %d bytes)", n)
			switch {
			case h == [frameHeaderSize]byte{}:
				why = "zeros where a record header should be"
			case n > MaxRecord:
				why = fmt.Sprintf("impossible record length %d (record header checksum mismatch)", n)
			}
			return s, sc.fail(s, off, off+frameHeaderSize, false, next, why)
		}
		if n > MaxRecord {
			return s, &CorruptError{Path: path, Offset: off, Reason: fmt.Sprintf("record length %d over the limit %d", n, MaxRecord)}
		}
		if seq != next {
			return s, &CorruptError{Path: path, Offset: off, Reason: fmt.Sprintf(
				"record holds sequence %d, but the log before it ends at %d (a gap or an overlap)", seq, next)}
		}
		if seq+uint64(count) < seq {
			return s, &CorruptError{Path: path, Offset: off, Reason: fmt.Sprintf("record of sequence %d holds %d numbers: past the largest", seq, count)}
		}
		body := int64(n) + int64(padding(int(n)))
		end := off + frameHeaderSize + body
		if end > size {
			return s, sc.fail(s, off, end, true, seq+uint64(count),
				fmt.Sprintf("the file ends inside a record (%d of %d bytes)", size-off, end-off))
		}
		buf = slices.Grow(buf[:0], int(body))[:body]
		if _, err := io.ReadFull(r, buf); err != nil {
			return s, fmt.Errorf("%s: reading byte %d: %w", path, off+frameHeaderSize, err)
		}
		c := crc32.Update(crc, castagnoli, h[:16])
		if c = crc32.Update(c, castagnoli, buf); c != sum {
			return s, sc.fail(s, off, end, false, seq+uint64(count), fmt.Sprintf("record checksum mismatch (sequence %d, %d bytes)", seq, n))
		}
		if each != nil {
			if err := each(off, Record{Seq: seq, Count: count, Data: buf[:n]}); err != nil {
				return s, err
			}
		}
		off, next, crc = end, seq+uint64(count), c
		s.Next, s.End, s.crc = next, off, crc
		s.Records++
	}
	return s, nil
}

// readHeader reads and checks a segment's header.
func readHeader(f *os.File, path string, first uint64, size int64) (segHeader, error) {
	var b [segHeaderSize]byte
	n, err := f.ReadAt(b[:], 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return segHeader{}, err
	}
	if n < len(magic) || !bytes.Equal(b[:len(magic)], magic[:]) {
		return segHeader{}, &FormatError{Path: path, Reason: foreignReason(f, b[:n], size)}
	}
	if n < segHeaderSize {
		return segHeader{}, &CorruptError{Path: path, Reason: fmt.Sprintf("the segment header is cut short (%d of %d bytes)", n, segHeaderSize)}
	}
	if crc32.Checksum(b[:36], castagnoli) != binary.LittleEndian.Uint32(b[36:]) {
		return segHeader{}, &CorruptError{Path: path, Reason: "segment header checksum mismatch"}
	}
	if v := binary.LittleEndian.Uint32(b[8:]); v != formatVersion {
		return segHeader{}, &FormatError{Path: path, Reason: fmt.Sprintf("format version %d; this roomstate reads version %d", v, formatVersion)}
	}
	if fl := binary.LittleEndian.Uint32(b[12:]); fl != 0 {
		return segHeader{}, &FormatError{Path: path, Reason: fmt.Sprintf("unknown flags %#x in the header", fl)}
	}
	h := segHeader{first: binary.LittleEndian.Uint64(b[16:]), prevNext: binary.LittleEndian.Uint64(b[24:]), prevCRC: binary.LittleEndian.Uint32(b[32:])}
	if h.first != first {
		return h, &CorruptError{Path: path, Reason: fmt.Sprintf("the header says the segment starts at sequence %d, its name says %d", h.first, first)}
	}
	if h.prevNext > h.first {
		return h, &CorruptError{Path: path, Reason: fmt.Sprintf("the header says the log before it ends at sequence %d, after the segment's own start %d", h.prevNext, h.first)}
	}
	return h, nil
}

// foreignReason says what a file without the magic looks like.
func foreignReason(f *os.File, b []byte, size int64) string {
	if len(b) >= 8 {
		// the format before headers: u32 length | u32 CRC-32C | payload
		n := int64(binary.LittleEndian.Uint32(b[0:]))
		if 8+n <= size && n <= 64<<20 {
			p := make([]byte, n)
			if _, err := f.ReadAt(p, 8); err == nil && crc32.Checksum(p, castagnoli) == binary.LittleEndian.Uint32(b[4:]) {
				return "it has no header and starts like a segment of the older format (records without a segment header). " +
					"Start the older roomstate on this directory once and stop it cleanly (SIGTERM) so that it writes a snapshot, " +
					"then move its wal-*.log files out of the directory"
			}
		}
	}
	return fmt.Sprintf("it does not start with the magic %q (it starts with %x)", magic[:], b[:min(len(b), 8)])
}

// frameScanner decides whether a frame that fails its checks is a torn write.
type frameScanner struct {
	f      *os.File
	path   string
	size   int64
	newest bool
}

// fail classifies the frame at off, which would end at end, failing for
// why: a torn write (recorded in s, nil error) or a *CorruptError. cutShort
// says the file ends before the frame does, with its header whole or itself
// cut short. after is the least sequence number a record after it holds.
func (sc *frameScanner) fail(s *scanned, off, end int64, cutShort bool, after uint64, why string) error {
	if !sc.newest {
		return &CorruptError{Path: sc.path, Offset: off, Reason: why +
			", in a segment that is not the newest (its writes were complete before the next segment began)"}
	}
	if !cutShort {
		zero, err := zeroFrom(sc.f, off, sc.size)
		if err != nil {
			return fmt.Errorf("%s: %w", sc.path, err)
		}
		switch k := roundUp(zero, sectorSize); {
		case zero <= off:
			why += "; only zeros from there to the end of the file"
		case k < end:
			why += fmt.Sprintf("; zeros from byte %d (a sector boundary) to the end of the file", k)
		case zero > end:
			return &CorruptError{Path: sc.path, Offset: off, Reason: why +
				fmt.Sprintf("; %d bytes follow it, so this is damage, not a write cut short", sc.size-end)}
		default:
			return &CorruptError{Path: sc.path, Offset: off, Reason: why +
				"; it is the last record, but its end is not zeros from a sector boundary on, so this is damage, not a write cut short"}
		}
	}
	// a write cut short leaves a prefix of what was written: no whole record
	// that comes after this one can follow it
	if at, seq, ok, err := successor(sc.f, off+1, sc.size, after); err != nil {
		return fmt.Errorf("%s: %w", sc.path, err)
	} else if ok {
		return &CorruptError{Path: sc.path, Offset: off, Reason: why + fmt.Sprintf(
			"; but the whole header of a later record (sequence %d) follows at byte %d: bytes are missing or were added, "+
				"so this is damage, not a write cut short", seq, at)}
	}
	s.torn = &TornTail{Path: sc.path, Offset: off, Size: sc.size - off, Reason: why}
	return nil
}

// successor looks in f from byte from to size for a record header whose
// checksum holds and whose sequence number is at least after: a record that
// should come later.
func successor(f io.ReaderAt, from, size int64, after uint64) (int64, uint64, bool, error) {
	const chunk = 1 << 20
	buf := make([]byte, min(size-from, chunk+frameHeaderSize))
	for base := from; base+frameHeaderSize <= size; base += chunk {
		b := buf[:min(int64(len(buf)), size-base)]
		if _, err := f.ReadAt(b, base); err != nil && !errors.Is(err, io.EOF) {
			return 0, 0, false, err
		}
		for i := 0; i+frameHeaderSize <= len(b) && i < chunk; i++ {
			seq := binary.LittleEndian.Uint64(b[i+8:])
			if seq < after || seq-after > 1<<32 {
				continue
			}
			if crc32.Checksum(b[i:i+20], castagnoli) == binary.LittleEndian.Uint32(b[i+20:]) {
				return base + int64(i), seq, true, nil
			}
		}
	}
	return 0, 0, false, nil
}

func roundUp(x, unit int64) int64 { return (x + unit - 1) / unit * unit }

// zeroFrom returns the smallest k ≥ lo such that bytes k to size of f are
// all zero (size when the last byte is not).
func zeroFrom(f io.ReaderAt, lo, size int64) (int64, error) {
	buf := make([]byte, 64<<10)
	for hi := size; hi > lo; {
		n := min(int64(len(buf)), hi-lo)
		b := buf[:n]
		if _, err := f.ReadAt(b, hi-n); err != nil && !errors.Is(err, io.EOF) {
			return 0, err
		}
		for i := n - 1; i >= 0; i-- {
			if b[i] != 0 {
				return hi - n + i + 1, nil
			}
		}
		hi -= n
	}
	return lo, nil
}

// joins checks that segment s continues the one before it, prev.
func joins(prev, s *scanned) error {
	if s.hdr.prevNext != prev.Next || s.hdr.prevCRC != prev.crc {
		if s.hdr.first < prev.Next {
			return &CorruptError{Path: s.Path, Reason: fmt.Sprintf("it starts at sequence %d, but %s already holds up to %d (an overlap)",
				s.hdr.first, filepath.Base(prev.Path), prev.Next-1)}
		}
		return &CorruptError{Path: s.Path, Reason: fmt.Sprintf(
			"its header says the log before it ends at sequence %d with checksum %08x, but %s ends at %d with checksum %08x "+
				"(a segment is missing, or one is from another log)", s.hdr.prevNext, s.hdr.prevCRC, filepath.Base(prev.Path), prev.Next, prev.crc)}
	}
	return nil
}

// scanLog reads dir's segments (firsts, ascending) in order, checking that
// each joins the one before. It stops at the first damage and returns what it
// read up to there.
func scanLog(dir string, firsts []uint64, each func(path string, off int64, r Record) error) ([]*scanned, error) {
	var out []*scanned
	for i, first := range firsts {
		path := filepath.Join(dir, SegmentName(first))
		var fn func(int64, Record) error
		if each != nil {
			fn = func(off int64, r Record) error { return each(path, off, r) }
		}
		var prev *scanned
		if i > 0 {
			prev = out[i-1]
		}
		s, err := scanSegment(path, first, i == len(firsts)-1, prev, fn)
		if s != nil {
			out = append(out, s)
		}
		if err != nil {
			return out, err
		}
	}
	return out, nil
}
