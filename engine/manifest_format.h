/*
 * manifest_format.h — on-disk format of CURRENT and MANIFEST-NNNNNN.
 *
 * Every integer is little-endian.  "varint" is the 7-bits-per-byte unsigned
 * encoding of coding.h (low groups first, high bit = more bytes follow), at
 * most 10 bytes.  Checksums are zlib's CRC-32 (hdb_crc32).
 *
 * CURRENT
 * -------
 *   "MANIFEST-" decimal-number "\n"
 *
 *   The number has 6 to 20 digits, zero-padded to 6 ("MANIFEST-000001\n"),
 *   and fits in a u64; nothing may follow the newline.  Anything else is
 *   HDB_ECORRUPT.  CURRENT is only ever replaced whole (write CURRENT.tmp,
 *   fsync, rename over CURRENT, fsync the directory), so it is never torn.
 *
 * MANIFEST-NNNNNN
 * ---------------
 *   header (16 bytes), then records until the end of the file.
 *
 *   Header:
 *     offset  size  field        meaning
 *     0       8     magic        HDB_MANIFEST_MAGIC ("HDBMANIF", no NUL)
 *     8       4     version      HDB_MANIFEST_VERSION; a reader meeting a
 *                                larger value fails with HDB_EVERSION
 *     12      4     header_crc   CRC-32 over bytes [0, 12)
 *
 *   The header layout (magic, version, header_crc) is frozen across format
 *   versions, so an old reader can tell a newer manifest (intact CRC, larger
 *   version: HDB_EVERSION) from a damaged one (bad magic or CRC, version 0:
 *   HDB_ECORRUPT).  The manifest's format version is the database's format
 *   version: WAL segments and tables carry none of their own.
 *
 *   Record (framed exactly like a WAL record, wal_format.h):
 *     offset  size    field    meaning
 *     0       4       crc      CRC-32 over type and payload, i.e. record
 *                              bytes [8, 9 + length)
 *     4       4       length   payload bytes, 0 .. HDB_MANIFEST_MAX_RECORD
 *     8       1       type     HDB_MANIFEST_TYPE_EDIT; other values reserved
 *     9       length  payload  one encoded version edit (below)
 *
 *   Each record is appended with one write(2) and synced before the edit is
 *   installed, so only the last record can be torn by a crash.  Replay stops
 *   at the first record that is truncated (header or payload runs past the
 *   end of the file), whose CRC fails while it ends exactly at the end of
 *   the file, or from which the rest of the file is all zero bytes: that is
 *   a torn tail, never acknowledged, and is ignored.  A CRC failure with
 *   non-zero bytes after the record, an intact record of another type, a
 *   header claiming more than HDB_MANIFEST_MAX_RECORD with the bytes present,
 *   or an edit that fails to decode or apply is HDB_ECORRUPT, with a detail
 *   naming the manifest and the record's (or field's) offset.
 *
 *   The first record of every manifest is a snapshot: an edit that adds
 *   every live file and sets log_number, next_file and last_seq.  Later
 *   records are the edits applied since, in order.
 *
 * Version edit (record payload)
 * -----------------------------
 *   A sequence of fields, each a varint tag followed by its values:
 *
 *     tag  name          values
 *     1    log_number    varint  WAL segments numbered below are obsolete
 *     2    next_file     varint  next file number to hand out
 *     3    last_seq      varint  last sequence number used
 *     4    deleted_file  varint level, varint number
 *     5    added_file    varint level, varint number, varint size,
 *                        varint len + smallest internal key,
 *                        varint len + largest internal key
 *
 *   level < HDB_MAX_LEVELS (7); internal keys are at least 8 bytes (user
 *   key ‖ tag, ikey.h) and smallest <= largest in internal-key order.
 *   Scalar fields may repeat: the last one wins.  Within one edit, every
 *   deletion applies before every addition (so a move from level L to L + 1
 *   is a deletion at L and an addition at L + 1 of the same number).  A
 *   deletion must name a live file at that level; an addition must not name
 *   a live file.  An unknown tag is HDB_ECORRUPT: a writer that needs a new
 *   tag must bump HDB_MANIFEST_VERSION so that older readers refuse the
 *   manifest with HDB_EVERSION instead.
 */
#ifndef HDB_MANIFEST_FORMAT_H
#define HDB_MANIFEST_FORMAT_H

#include <stdint.h>

#define HDB_MANIFEST_MAGIC      "HDBMANIF"
#define HDB_MANIFEST_MAGIC_SIZE 8
#define HDB_MANIFEST_VERSION    1
#define HDB_MANIFEST_HEADER_SIZE 16

#define HDB_MANIFEST_OFF_CRC     0
#define HDB_MANIFEST_OFF_LENGTH  4
#define HDB_MANIFEST_OFF_TYPE    8
#define HDB_MANIFEST_REC_HEADER  9

#define HDB_MANIFEST_TYPE_EDIT 1

/* Longest payload; a header claiming more is corrupt. */
#define HDB_MANIFEST_MAX_RECORD (UINT32_C(1) << 30)

enum hdb_vedit_tag {
	HDB_VEDIT_LOG_NUMBER = 1,
	HDB_VEDIT_NEXT_FILE = 2,
	HDB_VEDIT_LAST_SEQ = 3,
	HDB_VEDIT_DELETED_FILE = 4,
	HDB_VEDIT_ADDED_FILE = 5,
};

#define HDB_CURRENT_NAME       "CURRENT"
#define HDB_MANIFEST_PREFIX    "MANIFEST-"
#define HDB_MANIFEST_MIN_DIGITS 6
#define HDB_MANIFEST_MAX_DIGITS 20

#endif
