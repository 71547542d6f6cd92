/*
 * cache.h — LRU cache of decompressed blocks with a byte budget.
 *
 * Entries are keyed by (file number, block offset).  A handle pins its entry:
 * pinned entries are never freed, even when evicted from the LRU list, until
 * released; the budget counts pinned and unpinned entries alike, so it can
 * be exceeded only by what callers hold pinned.
 *
 * Thread safety: every function may be called from any thread (sharded
 * mutexes inside).
 */
#ifndef HDB_CACHE_H
#define HDB_CACHE_H

#include <stddef.h>
#include <stdint.h>

typedef struct hdb_cache hdb_cache;
typedef struct hdb_cache_handle hdb_cache_handle;

hdb_cache *hdb_cache_new(size_t capacity); /* NULL on ENOMEM */
void hdb_cache_free(hdb_cache *c);         /* REQUIRES: no handle pinned */

/* A pinned handle, or NULL when absent. */
hdb_cache_handle *hdb_cache_lookup(hdb_cache *c, uint64_t file, uint64_t offset);
/* Inserts data (malloc'd; the cache frees it) of len bytes and returns it
 * pinned.  If the key is present the new entry replaces it for later
 * lookups.  NULL on ENOMEM, in which case data has been freed. */
hdb_cache_handle *hdb_cache_insert(hdb_cache *c, uint64_t file, uint64_t offset, void *data, size_t len);
const void *hdb_cache_data(const hdb_cache_handle *h, size_t *len);
void hdb_cache_release(hdb_cache *c, hdb_cache_handle *h);

typedef struct hdb_cache_stats {
	uint64_t hits, misses, usage, capacity, entries;
} hdb_cache_stats;
void hdb_cache_get_stats(hdb_cache *c, hdb_cache_stats *st);

#endif
