/*
 * wal_format.h — on-disk format of a write-ahead log segment (NNNNNN.wal).
 *
 * A segment is a plain sequence of records with no file header: its number
 * comes from its name, and format changes are announced by the database's
 * format version (manifest), not per segment.  An empty file is a valid,
 * empty segment.
 *
 * Record (all integers little-endian):
 *
 *   offset  size    field    meaning
 *   0       4       crc      zlib CRC-32 (hdb_crc32) over type and payload,
 *                            i.e. bytes [8, 9 + length) of the record
 *   4       4       length   payload bytes, 0 .. HDB_WAL_MAX_RECORD
 *   8       1       type     HDB_WAL_TYPE_FULL; every other value is reserved
 *   9       length  payload  one encoded write batch (batch.h)
 *
 * The length is not covered by the CRC directly: a damaged length makes the
 * CRC run over the wrong bytes (or past the end of the file), so it fails.
 *
 * A record is intact when its 9-byte header is complete, its length is at
 * most HDB_WAL_MAX_RECORD, its payload is complete, its CRC matches and its
 * type is FULL.  Replay delivers records in order and stops at the first one
 * that is not intact: everything from there to the end of the file is the
 * tail.  The writer emits each record with a single write(2), so a crash can
 * tear only the last record.
 *
 * What a bad tail is, by what follows its first bad record at offset B:
 *
 *   torn     no intact record follows: the record's claimed extent reaches
 *            the end of the file (a prefix of the last write survived), or
 *            zeros or garbage run to the end.  A crash leaves this.
 *   hole     intact records follow and the span from B to the first of them
 *            holds a zero-filled, HDB_WAL_PAGE-aligned page (or is all
 *            zeros): pages of an unsynced write persisted out of order.  No
 *            fsync can have acknowledged what follows a hole.
 *   corrupt  intact records follow and the span has no such page: bytes
 *            changed on disk, and what follows may hold acknowledged writes.
 *
 * "Intact records follow" is decided without trusting the bad record's
 * length: first the record its length points to, then a CRC that matches
 * over a different length (a damaged length field), then, when the claimed
 * extent stays inside the file, the first offset where an intact record
 * starts (a hole puts the next record anywhere).  That scan stops after
 * HDB_WAL_SCAN_BUDGET times the tail's size in checksummed bytes; a tail it
 * cannot settle counts as corrupt.  Across segments, a torn segment that a
 * later segment with intact records follows is a hole when its tail is all
 * zeros and corrupt otherwise (a segment is synced before the next one is
 * used, so a crash cannot tear it).
 *
 * Recovery cuts a torn tail; it replays up to a hole and keeps the rest as
 * NNNNNN.wal.damaged; it refuses to open past corruption unless told to
 * accept the loss (hybriddb.h, hdb_wal_recovery), which then treats it as a
 * hole.
 */
#ifndef HDB_WAL_FORMAT_H
#define HDB_WAL_FORMAT_H

#include <stdint.h>

#define HDB_WAL_OFF_CRC     0
#define HDB_WAL_OFF_LENGTH  4
#define HDB_WAL_OFF_TYPE    8
#define HDB_WAL_HEADER_SIZE 9

#define HDB_WAL_TYPE_FULL 1 /* the record holds one whole batch */

/* Longest payload; a header claiming more is corrupt. */
#define HDB_WAL_MAX_RECORD (UINT32_C(1) << 30)

/* The unit in which a file system persists an unsynced write (the page). */
#define HDB_WAL_PAGE 4096
/* Bound on the resynchronising scan: checksummed bytes per tail byte. */
#define HDB_WAL_SCAN_BUDGET 8

#endif
