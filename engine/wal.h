/*
 * wal.h — write-ahead log segments: writer and replay.
 *
 * A segment is a sequence of records (format in wal_format.h); each record's
 * payload is one encoded write batch (batch.h).  The writer is used by one
 * thread at a time (the DB's write leader, or the sync thread under the
 * DB's WAL lock).
 */
#ifndef HDB_WAL_H
#define HDB_WAL_H

#include "env.h"
#include <stdbool.h>
#include <stdint.h>

typedef struct hdb_wal_writer hdb_wal_writer;

/* Creates a new, empty segment at path (fails if it exists). */
int hdb_wal_writer_open(hdb_env *env, const char *path, hdb_wal_writer **out);
/* Appends one record in a single write(2).  When the disk is full
 * (ENOSPC, EDQUOT) the partial record is truncated away and the writer stays
 * usable; any other failure, or a failed truncate, makes every later append
 * and sync fail with the same error. */
int hdb_wal_append(hdb_wal_writer *w, const uint8_t *payload, size_t n);
/* False once an append or sync has failed for good. */
bool hdb_wal_usable(const hdb_wal_writer *w);
/* Makes every appended record durable. */
int hdb_wal_sync(hdb_wal_writer *w);
/* Bytes in the segment so far. */
uint64_t hdb_wal_size(const hdb_wal_writer *w);
/* Closes (without syncing) and frees; returns close's error. */
int hdb_wal_writer_close(hdb_wal_writer *w);

/* Called for each intact record in order; a non-zero return stops the replay
 * and is returned by hdb_wal_replay.  payload is valid only during the call.
 * fn may be NULL to only validate (hdb_check). */
typedef int (*hdb_wal_record_fn)(void *ctx, const uint8_t *payload, size_t n);

/* What the bad tail of a segment is (wal_format.h). */
typedef enum hdb_wal_damage {
	HDB_WAL_CLEAN = 0, /* every byte belongs to an intact record */
	HDB_WAL_TORN,      /* nothing intact follows the first bad record */
	HDB_WAL_HOLE,      /* a zero-filled page, then intact records */
	HDB_WAL_CORRUPT,   /* changed bytes, then intact records */
} hdb_wal_damage;

typedef struct hdb_wal_replay_result {
	uint64_t records;     /* intact records delivered */
	uint64_t valid_end;   /* offset just past the last intact record */
	uint64_t file_size;   /* bytes in the file; > valid_end means a bad tail */
	const char *tail_why; /* static text: why the tail was rejected, or NULL */
	hdb_wal_damage damage;/* what the bad tail is within this segment */
	uint64_t resume;      /* hole, corrupt: where intact records start again */
	bool tail_zero;       /* every byte from valid_end to the end is zero */
} hdb_wal_replay_result;

/* Reads path from the start and delivers every record up to the first one
 * that is truncated or fails its checksum.  Never reads out of bounds. */
int hdb_wal_replay(const char *path, hdb_wal_record_fn fn, void *ctx, hdb_wal_replay_result *res);

/* What segment i of the n live segments segs (oldest first) means for the
 * log as a whole: its own damage, except that a torn segment followed by a
 * later one holding intact records is a hole or corruption (wal_format.h). */
hdb_wal_damage hdb_wal_log_damage(const hdb_wal_replay_result *segs, size_t n, size_t i);
/* Static text naming a damage kind, for messages. */
const char *hdb_wal_damage_name(hdb_wal_damage d);

#endif
