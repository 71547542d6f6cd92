/*
 * iter.h — the engine's internal iterator interface.
 *
 * MemTables, blocks, tables, levels and merges all expose their entries as an
 * hdb_iiter over (key, value) slices in the order of the comparator they were
 * built with (internal-key order everywhere but in unit tests).  A slice from
 * key() or value() stays valid until the iterator moves or is destroyed.
 *
 * When an iterator meets an error (a bad checksum, I/O failure) it becomes
 * invalid and status() returns the code; hdb_errdetail() names file and offset.
 *
 * Thread safety: an iterator belongs to one thread at a time.
 */
#ifndef HDB_ITER_H
#define HDB_ITER_H

#include "coding.h"
#include "ikey.h"

typedef struct hdb_iiter hdb_iiter;

struct hdb_iiter_ops {
	bool (*valid)(hdb_iiter *it);
	void (*seek_first)(hdb_iiter *it);
	void (*seek)(hdb_iiter *it, const uint8_t *key, size_t n); /* first entry >= key */
	void (*next)(hdb_iiter *it);                                /* REQUIRES: valid */
	hdb_slice (*key)(hdb_iiter *it);                            /* REQUIRES: valid */
	hdb_slice (*value)(hdb_iiter *it);                          /* REQUIRES: valid */
	int (*status)(hdb_iiter *it);
	void (*destroy)(hdb_iiter *it);
};

/* Embed as the first member of every iterator struct. */
struct hdb_iiter {
	const struct hdb_iiter_ops *ops;
};

static inline bool hdb_iiter_valid(hdb_iiter *it) { return it->ops->valid(it); }
static inline void hdb_iiter_seek_first(hdb_iiter *it) { it->ops->seek_first(it); }
static inline void hdb_iiter_seek(hdb_iiter *it, const uint8_t *k, size_t n) { it->ops->seek(it, k, n); }
static inline void hdb_iiter_next(hdb_iiter *it) { it->ops->next(it); }
static inline hdb_slice hdb_iiter_key(hdb_iiter *it) { return it->ops->key(it); }
static inline hdb_slice hdb_iiter_value(hdb_iiter *it) { return it->ops->value(it); }
static inline int hdb_iiter_status(hdb_iiter *it) { return it->ops->status(it); }
static inline void hdb_iiter_destroy(hdb_iiter *it)
{
	if (it)
		it->ops->destroy(it);
}

/* An always-invalid iterator carrying status `err` (0 for a plain empty one);
 * NULL only on allocation failure. */
hdb_iiter *hdb_iiter_empty(int err);

/* Merging iterator: the union of n children in cmp order; on equal keys the
 * child with the lower index comes first.  Takes ownership of children (and
 * destroys them even on failure); the array itself is copied. */
hdb_iiter *hdb_merge_iter_new(hdb_cmp_fn cmp, hdb_iiter **children, size_t n);

#endif
