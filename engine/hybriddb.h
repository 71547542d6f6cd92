/*
 * hybriddb.h — the storage engine's public C API.
 *
 * An embedded, ordered key-value store built as a log-structured merge tree:
 * a write-ahead log, a skiplist MemTable, immutable sorted tables (SSTables)
 * on disk, a manifest of table sets, and leveled compaction in a background
 * thread.  Keys and values are arbitrary byte strings; keys are ordered
 * bytewise (memcmp, shorter first on a common prefix).
 *
 * Errors: every function that can fail returns 0 on success or a negative
 * code: -errno for system errors (-ENOENT, -ENOSPC, -EINVAL, ...) or one of
 * the HDB_E* codes below.  hdb_strerror() names either kind.  When a call
 * fails because of on-disk data, hdb_errdetail() returns a message naming
 * the file and byte offset, valid in the calling thread until its next call.
 *
 * Thread safety: an hdb_db may be used from any number of threads at once.
 * An hdb_batch or hdb_iter belongs to one thread at a time.
 */
#ifndef HYBRIDDB_H
#define HYBRIDDB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Engine error codes, in a range no errno value reaches. */
enum {
	HDB_ENOTFOUND = -30800, /* key is absent (hdb_get) */
	HDB_ECORRUPT  = -30801, /* checksum or structure check failed on disk */
	HDB_ELOCKED   = -30802, /* the database is open in another process */
	HDB_EVERSION  = -30803, /* written by a newer format version */
	HDB_ENOTDB    = -30804, /* directory exists but is not a hybriddb database */
	HDB_ECLOSED   = -30805, /* the database hit a fatal write error; reads only */
};

const char *hdb_strerror(int err);
/* Detail of the last failure in this thread ("000012.sst offset 4096: ..."),
 * or "" when there is none. */
const char *hdb_errdetail(void);

typedef enum hdb_sync_policy {
	HDB_SYNC_PERIODIC = 0, /* fsync the WAL at least every sync_interval_ms */
	HDB_SYNC_ALWAYS,       /* every write is durable before it returns */
	HDB_SYNC_NEVER,        /* leave it to the OS (and to hdb_sync) */
} hdb_sync_policy;

/* What hdb_open does with a WAL segment whose damage is followed by intact
 * records (engine/wal_format.h).  A torn tail (what a crash leaves) is cut
 * and a zero-filled hole (pages of an unsynced write persisted out of
 * order) ends the replay in either mode: neither can hold a write after it
 * that an fsync acknowledged. */
typedef enum hdb_wal_recovery {
	HDB_WAL_STRICT = 0,     /* refuse: HDB_ECORRUPT, hdb_errdetail() names the
	                         * segment and offset, and nothing on disk changes */
	HDB_WAL_POINT_IN_TIME,  /* accept the loss: replay up to the damage, keep
	                         * the rest as NNNNNN.wal.damaged, log file,
	                         * offset and bytes through log() */
} hdb_wal_recovery;

struct hdb_env; /* file I/O layer; NULL means plain POSIX (see engine/env.h) */

typedef struct hdb_options {
	bool create_if_missing;      /* default true */
	bool error_if_exists;        /* default false */
	bool read_only;              /* no writes, no compaction, no WAL replay into new tables */
	size_t memtable_size;        /* bytes before a MemTable is frozen; default 64 MiB */
	size_t block_size;           /* target uncompressed data block; default 16 KiB */
	bool compression;            /* zlib per block; default true */
	int compression_level;       /* 1..9; default 1 */
	int bloom_bits_per_key;      /* 0 disables the filter; default 10 */
	size_t cache_size;           /* block cache byte budget; default 32 MiB */
	hdb_sync_policy sync;        /* default HDB_SYNC_PERIODIC */
	hdb_wal_recovery wal_recovery; /* default HDB_WAL_STRICT */
	unsigned sync_interval_ms;   /* for HDB_SYNC_PERIODIC; default 1000 */
	uint64_t target_file_size;   /* compaction output size; default 8 MiB */
	uint64_t level1_max_bytes;   /* L1 budget, x10 per level below; default 64 MiB */
	int l0_compaction_trigger;   /* L0 tables that start a compaction; default 4 */
	int l0_slowdown_trigger;     /* L0 tables that delay each write 1 ms; default 8 */
	int l0_stop_trigger;         /* L0 tables that make writes wait; default 12 */
	bool background_compaction;  /* default true; false leaves it to hdb_compact_range */
	struct hdb_env *env;         /* default NULL (POSIX) */
	/* Called for notable events and errors; default NULL logs nothing. */
	void (*log)(void *ctx, const char *msg);
	void *log_ctx;
} hdb_options;

void hdb_options_init(hdb_options *opt);

typedef struct hdb_db hdb_db;

/* Open or create the database in directory `path`.  On success *out owns it. */
int hdb_open(const char *path, const hdb_options *opt, hdb_db **out);
/* Flush nothing, lose nothing: the WAL holds everything not yet in tables.
 * Waits for background work, releases the lock, frees db.  Returns the first
 * error met while shutting down, but always frees. */
int hdb_close(hdb_db *db);

/* Single writes.  `sync` forces this write durable before return whatever
 * the policy. */
int hdb_put(hdb_db *db, const void *key, size_t klen, const void *val, size_t vlen, bool sync);
int hdb_delete(hdb_db *db, const void *key, size_t klen, bool sync);

/* Atomic batches: all of a batch's operations become visible (and durable)
 * together or not at all. */
typedef struct hdb_batch hdb_batch;
hdb_batch *hdb_batch_new(void);
void hdb_batch_free(hdb_batch *b);
void hdb_batch_clear(hdb_batch *b);
int hdb_batch_put(hdb_batch *b, const void *key, size_t klen, const void *val, size_t vlen);
int hdb_batch_delete(hdb_batch *b, const void *key, size_t klen);
uint32_t hdb_batch_count(const hdb_batch *b);
size_t hdb_batch_bytes(const hdb_batch *b);
int hdb_write(hdb_db *db, hdb_batch *b, bool sync);

/* Snapshots: a consistent read view at a sequence number. */
typedef struct hdb_snapshot hdb_snapshot;
const hdb_snapshot *hdb_snapshot_new(hdb_db *db);
void hdb_snapshot_release(hdb_db *db, const hdb_snapshot *snap);
uint64_t hdb_snapshot_seq(const hdb_snapshot *snap);

typedef struct hdb_read_options {
	const hdb_snapshot *snapshot; /* NULL: the latest state */
	const void *lower;            /* inclusive lower bound, or NULL */
	size_t lower_len;
	const void *upper;            /* exclusive upper bound, or NULL */
	size_t upper_len;
	bool fill_cache;              /* default true */
	bool verify;                  /* re-check block CRCs even when cached */
} hdb_read_options;

void hdb_read_options_init(hdb_read_options *ro);

/* Point read.  On success *val is malloc'd (caller frees) and *vlen set;
 * HDB_ENOTFOUND when absent.  ro may be NULL. */
int hdb_get(hdb_db *db, const hdb_read_options *ro, const void *key, size_t klen,
            void **val, size_t *vlen);

/* Forward iterators over live keys, in key order, within [lower, upper). */
typedef struct hdb_iter hdb_iter;
int hdb_iter_new(hdb_db *db, const hdb_read_options *ro, hdb_iter **out);
void hdb_iter_free(hdb_iter *it);
void hdb_iter_seek_first(hdb_iter *it);
void hdb_iter_seek(hdb_iter *it, const void *key, size_t klen); /* first key >= key */
bool hdb_iter_valid(const hdb_iter *it);
void hdb_iter_next(hdb_iter *it);
/* Valid until the next move of it. */
const void *hdb_iter_key(const hdb_iter *it, size_t *klen);
const void *hdb_iter_value(const hdb_iter *it, size_t *vlen);
/* 0, or the error that made the iterator stop early. */
int hdb_iter_status(const hdb_iter *it);

/* Freeze the MemTable and write it to an L0 table; returns when done. */
int hdb_flush(hdb_db *db);
/* Make the WAL durable now. */
int hdb_sync(hdb_db *db);
/* Compact every table overlapping [begin, end] (NULL = unbounded) down to the
 * bottom level; flushes the MemTable first.  Returns when done. */
int hdb_compact_range(hdb_db *db, const void *begin, size_t blen, const void *end, size_t elen);

#define HDB_MAX_LEVELS 7

typedef struct hdb_stats {
	uint64_t last_sequence;
	uint64_t memtable_bytes;       /* active + immutable */
	uint64_t wal_bytes;            /* live WAL segments */
	uint64_t tables[HDB_MAX_LEVELS];
	uint64_t level_bytes[HDB_MAX_LEVELS];
	uint64_t disk_bytes;           /* tables + WAL + manifest */
	uint64_t compactions;
	uint64_t flushes;
	uint64_t bytes_written_user;   /* key+value bytes handed to writes */
	uint64_t bytes_written_disk;   /* WAL + table bytes written */
	uint64_t bytes_compacted_read; /* table bytes read by compaction */
	uint64_t gets;
	uint64_t tables_probed;        /* SSTable lookups made by gets */
	uint64_t bloom_useful;         /* lookups a Bloom filter answered */
	uint64_t cache_hits;
	uint64_t cache_misses;
	uint64_t cache_bytes;
	uint64_t write_stalls;         /* writes delayed or stopped by L0 depth */
	uint64_t wal_syncs;
	uint64_t uptime_ms;
} hdb_stats;

int hdb_get_stats(hdb_db *db, hdb_stats *st);
/* The same figures as a JSON object, malloc'd; caller frees. */
int hdb_stats_json(hdb_db *db, char **json);

/* Verify every checksum of a closed database (or one opened elsewhere
 * read-only).  report() is called once per problem found; returns 0 when
 * everything is sound, HDB_ECORRUPT when problems were reported, or another
 * negative code when the check itself could not run. */
int hdb_check(const char *path, void (*report)(void *ctx, const char *file, uint64_t offset, const char *what),
              void *ctx);

#ifdef __cplusplus
}
#endif
#endif /* HYBRIDDB_H */
