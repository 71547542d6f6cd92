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
 * tail, which recovery truncates.  The writer emits each record with a single
 * write(2), so a crash can tear only the last record.
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

#endif
