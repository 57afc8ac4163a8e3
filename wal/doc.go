// Package wal is an append-only, segmented, fsynced log of opaque payloads.
// It owns the bytes on disk and nothing else: what a payload means is its
// caller's business. Its one promise is that Open either returns every
// record ever acknowledged by Append, or fails naming the file, the byte
// offset and what is wrong; the only thing it ever cuts by itself is a
// record that a crash left half written at the very end of the newest file.
//
// # Sequence numbers
//
// Every record holds a run of sequence numbers: it starts at Seq and holds
// Count of them (Count may be 0 for a record that holds none, such as a
// setting that takes no number of its own). Records follow each other without
// a gap or an overlap: a record starts where the one before it ends
// (Seq+Count). A segment file is named by the first sequence number it
// holds, wal-<20 digits>.log. Rotate may start a segment further on (the
// caller's numbers jumped, say after a bulk load); the new segment's header
// says where the log before it ended, so a deliberate jump is told apart
// from a missing file.
//
// # Segment file
//
// A segment starts with a 40-byte header, then records back to back:
//
//	offset size
//	 0      8  magic 0x89 'R' 'S' 'W' 'A' 'L' '\r' '\n'
//	 8      4  format version, 1 (little endian, as every number here)
//	12      4  flags, 0
//	16      8  first: the first sequence number the segment holds (= its name)
//	24      8  prev next: where the segment before it ended (= first unless a jump)
//	32      4  prev CRC: the chained checksum at the end of the segment before (0 for the first)
//	36      4  CRC-32C of bytes 0-35
//
// A file without the magic (an older roomstate's segment, or something else)
// or of another format version is refused with a *FormatError. Segments are
// created whole: the header is written to a temporary file, fsynced and
// renamed into place, so a crash never leaves a half-written header.
//
// # Record frame
//
// Every frame starts at a multiple of 8 bytes from the start of the file:
//
//	offset size
//	 0      4  L, payload length in bytes (at most MaxRecord)
//	 4      4  count: sequence numbers the record holds
//	 8      8  seq: the first of them
//	16      4  chained CRC-32C: over bytes 0-15, the payload and the padding,
//	           continuing from the chained CRC of the record before (for a
//	           segment's first record, from its header's prev CRC)
//	20      4  header CRC: CRC-32C of bytes 0-19
//	24      L  payload
//	24+L    p  zero padding to the next multiple of 8 (p = 0…7)
//
// The header is 24 bytes at an 8-byte boundary and so never crosses a
// 512-byte sector boundary in its first 8 bytes (the length); its own
// checksum means a damaged length is recognised as damage instead of being
// followed. The chained CRC means a record can be neither dropped, repeated
// nor moved without the next record's check failing, even across segments.
//
// # Torn write or damage
//
// Appends do not preallocate: a crash in the middle of one leaves either a
// short file (it ends inside the last frame) or, on file systems that grow
// the size before the data is on disk, a tail of zeros from a sector
// boundary on. A frame that fails its checks is a torn write, cut off by
// Open with a warning, only if it is in the newest segment and one of:
//
//   - the file ends inside its header (fewer than 24 bytes left);
//   - its header is intact but the file ends before the frame does;
//   - every byte from it to the end of the file is zero;
//   - every byte from a 512-byte boundary inside it to the end of the
//     file is zero (the unwritten sectors);
//
// and, in every case, no whole header (its checksum holding) of a record
// that comes after it appears in the bytes that follow: a write cut short
// leaves a prefix of what was written, while bytes missing from the middle of
// the file can also leave it ending inside a record.
//
// Anything else is a *CorruptError and nothing is cut: a checksum mismatch
// followed by other data, a damaged header (an impossible or altered
// length) followed by data, a sequence number out of order, any failed check
// in a segment that is not the newest (its writes were complete before the
// next segment began), and segments that do not join (a missing segment, one
// from another log, an overlap). Cut is the operator's deliberate way to cut
// damaged data; roomstate wal check and roomstate wal cut are its commands.
//
// # Appending
//
// Append writes a group of records with one write and one fsync. When
// anything fails (a short write, no space, a failed fsync) it truncates the
// segment back to where the group began and fsyncs that before it returns:
// a group that was refused never comes back after a restart, and the log
// takes the next group as if the failed one never happened
// (errors.Is(err, ErrNoSpace) tells a full disk apart). Only when that
// truncation itself fails is the log broken (ErrBroken): the failed group
// may or may not be replayed after a restart, and no more appends are taken.
//
// A Log is not safe for concurrent use: one goroutine owns it.
package wal
