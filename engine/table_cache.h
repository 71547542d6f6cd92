/*
 * table_cache.h — open SSTable readers by file number.
 *
 * Tables are opened (mmap'd) on first use and stay open until evicted when
 * the file becomes obsolete; each open table costs its struct and mapping,
 * not its data (pages come and go with the OS page cache).
 *
 * Thread safety: every function may be called from any thread.
 */
#ifndef HDB_TABLE_CACHE_H
#define HDB_TABLE_CACHE_H

#include "sst.h"

typedef struct hdb_tcache hdb_tcache;

hdb_tcache *hdb_tcache_new(const char *dir, hdb_cache *blocks);
void hdb_tcache_free(hdb_tcache *tc);

/* A referenced reader for table `number`; caller unrefs with hdb_sst_unref. */
int hdb_tcache_get(hdb_tcache *tc, uint64_t number, hdb_sst_reader **out);
void hdb_tcache_evict(hdb_tcache *tc, uint64_t number);
/* Heap bytes of open readers. */
size_t hdb_tcache_memory(hdb_tcache *tc);

/* Parses a file name "<decimal><suffix>" (e.g. "000123.sst"); false for
 * any other name. */
bool hdb_parse_file_number(const char *name, const char *suffix, uint64_t *number);

/* "dir/000123.sst" into buf. */
int hdb_table_path(char *buf, size_t n, const char *dir, uint64_t number);
int hdb_wal_path(char *buf, size_t n, const char *dir, uint64_t number);

#endif
