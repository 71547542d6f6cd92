/*
 * sst.h — SSTables: immutable sorted files of (internal key, value), written
 * once by a builder and read through mmap (format in sst_format.h).
 *
 * Thread safety: a builder belongs to one thread.  A reader is immutable
 * after open and may be used by any number of threads; ref/unref are atomic.
 */
#ifndef HDB_SST_H
#define HDB_SST_H

#include "cache.h"
#include "env.h"
#include "iter.h"

typedef struct hdb_sst_options {
	size_t block_size;      /* target uncompressed data block size */
	int restart_interval;   /* keys between restart points (16) */
	bool compression;       /* zlib each data block when it saves >= 1/8 */
	int compression_level;
	int bloom_bits_per_key; /* 0: no filter */
} hdb_sst_options;

typedef struct hdb_sst_builder hdb_sst_builder;

/* Creates path (must not exist) for writing through env. */
int hdb_sst_builder_new(hdb_env *env, const char *path, const hdb_sst_options *o,
                        hdb_sst_builder **out);
/* REQUIRES: ikey greater (internal order) than every key added before. */
int hdb_sst_builder_add(hdb_sst_builder *b, const uint8_t *ikey, size_t klen,
                        const uint8_t *val, size_t vlen);
uint64_t hdb_sst_builder_entries(const hdb_sst_builder *b);
/* Bytes written so far plus the pending block: a size estimate. */
uint64_t hdb_sst_builder_size(const hdb_sst_builder *b);
/* Writes the last block, filter, index and footer, syncs and closes the
 * file; *file_size is its final size. */
int hdb_sst_builder_finish(hdb_sst_builder *b, uint64_t *file_size);
/* Frees the builder, closing the file if still open (it is not removed). */
void hdb_sst_builder_free(hdb_sst_builder *b);

typedef struct hdb_sst_reader hdb_sst_reader;

/* Maps path, checks the footer, index and filter (HDB_ECORRUPT with a detail
 * on failure).  `number` keys the block cache (may be NULL: no caching). */
int hdb_sst_open(const char *path, uint64_t number, hdb_cache *cache, hdb_sst_reader **out);
void hdb_sst_ref(hdb_sst_reader *r);
void hdb_sst_unref(hdb_sst_reader *r); /* unmaps at zero */

typedef struct hdb_sst_counters {
	uint64_t bloom_negative; /* lookups the filter answered */
	uint64_t cache_hits;
	uint64_t cache_misses;
} hdb_sst_counters;

/* Newest version of ukey with sequence <= seq in this table: an hdb_lookup
 * value (memtable.h) with *val malloc'd on FOUND, or a negative error.
 * counters may be NULL; they are added to without locking by the caller's
 * choice (use per-thread or accept races in statistics). */
int hdb_sst_get(hdb_sst_reader *r, const void *ukey, size_t ulen, uint64_t seq,
                void **val, size_t *vlen, bool fill_cache, hdb_sst_counters *counters);

/* Iterator over (internal key, value); holds a reference to r. */
hdb_iiter *hdb_sst_iter_new(hdb_sst_reader *r, bool fill_cache);

uint64_t hdb_sst_file_size(const hdb_sst_reader *r);
uint64_t hdb_sst_entries(const hdb_sst_reader *r);
/* Heap bytes held for the index (and anything else kept per open table). */
size_t hdb_sst_memory(const hdb_sst_reader *r);

/* Verifies every checksum and structure of the table at path without a
 * cache; report is called per problem with the file name and offset.
 * Returns 0, HDB_ECORRUPT (problems reported) or -errno. */
int hdb_sst_check(const char *path,
                  void (*report)(void *ctx, const char *file, uint64_t offset, const char *what),
                  void *ctx);

#endif
