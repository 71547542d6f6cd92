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

typedef struct hdb_wal_replay_result {
	uint64_t records;     /* intact records delivered */
	uint64_t valid_end;   /* offset just past the last intact record */
	uint64_t file_size;   /* bytes in the file; > valid_end means a bad tail */
	const char *tail_why; /* static text: why the tail was rejected, or NULL */
	bool torn;            /* the bad tail is what an interrupted append leaves:
	                       * the last record runs to or past the end of the
	                       * file, or only zero bytes follow valid_end; false
	                       * means damage with data after it */
} hdb_wal_replay_result;

/* Reads path from the start and delivers every record up to the first one
 * that is truncated or fails its checksum.  Never reads out of bounds. */
int hdb_wal_replay(const char *path, hdb_wal_record_fn fn, void *ctx, hdb_wal_replay_result *res);

#endif
