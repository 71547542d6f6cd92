/*
 * arena.h — bump allocator for a MemTable's nodes, keys and values.
 *
 * Memory is taken in blocks and freed all at once with the arena.  Thread
 * safety: allocation is for the single writer (the MemTable's insert lock);
 * memory_usage() may be read by any thread.
 */
#ifndef HDB_ARENA_H
#define HDB_ARENA_H

#include <stddef.h>

typedef struct hdb_arena hdb_arena;

hdb_arena *hdb_arena_new(void);
void hdb_arena_free(hdb_arena *a);
/* Memory aligned for any pointer or uint64_t; NULL on allocation failure. */
void *hdb_arena_alloc(hdb_arena *a, size_t n);
/* Bytes reserved from the system, including block overhead. */
size_t hdb_arena_usage(const hdb_arena *a);

#endif
