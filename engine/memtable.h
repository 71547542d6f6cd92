/*
 * memtable.h — the in-memory write buffer: a skiplist of internal keys.
 *
 * Each entry holds internal key (user key ‖ tag) and value.  Reference
 * counted: the DB holds one reference for the active or immutable table and
 * every reader or iterator holds one while it uses it.
 *
 * Thread safety: hdb_mem_add is called by one writer at a time (the DB's
 * write leader); hdb_mem_get, iterators and hdb_mem_usage may run
 * concurrently from any thread.  ref/unref are atomic.
 */
#ifndef HDB_MEMTABLE_H
#define HDB_MEMTABLE_H

#include "iter.h"

typedef struct hdb_mem hdb_mem;

hdb_mem *hdb_mem_new(void);            /* refcount 1; NULL on ENOMEM */
void hdb_mem_ref(hdb_mem *m);
void hdb_mem_unref(hdb_mem *m);        /* frees at zero */

/* REQUIRES: single writer; seq unique.  0 or -ENOMEM. */
int hdb_mem_add(hdb_mem *m, uint64_t seq, enum hdb_vtype type,
                const void *key, size_t klen, const void *val, size_t vlen);

enum hdb_lookup {
	HDB_LOOKUP_ABSENT = 0,  /* no version of key visible at seq here */
	HDB_LOOKUP_FOUND = 1,   /* value copied to *val (malloc'd), *vlen */
	HDB_LOOKUP_DELETED = 2, /* newest visible version is a tombstone */
};

/* Newest version of key with sequence <= seq.  Returns an hdb_lookup value,
 * or -ENOMEM. */
int hdb_mem_get(hdb_mem *m, const void *key, size_t klen, uint64_t seq,
                void **val, size_t *vlen);

/* Iterator over (internal key, value); holds a reference to m. */
hdb_iiter *hdb_mem_iter_new(hdb_mem *m);

size_t hdb_mem_usage(const hdb_mem *m); /* arena bytes */
uint64_t hdb_mem_entries(const hdb_mem *m);

#endif
