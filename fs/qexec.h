/*
 * qexec.h — running a query: the documents of one collection that satisfy
 * every condition of a list (AND), in name order, as a stream.
 *
 * Plan: when a condition is indexable (query.h) and its field has a ready
 * index, the cursor walks that index's range for the condition (EQ
 * preferred over a range), collects the names it yields, sorts them, and
 * then reads each document's entry (and content, when other conditions or
 * the caller need it).  Otherwise it scans: the collection's entries in
 * chunks of FS_QCHUNK, each chunk's contents fetched in inode order
 * (inode order is creation order, so documents written together are read
 * sequentially), every condition evaluated; a chunk's lower half is
 * fetched and evaluated by a helper thread of the cursor, with its own
 * iterator, while the cursor's thread does the upper half (inflating table
 * blocks is most of a scan's time).
 * Either way the answer is the same set, in the same order.  Memory: a
 * scan holds one chunk; an index plan holds the names its range yields.
 *
 * A cursor reads one snapshot of the database, taken at open: it sees
 * nothing written after.  Only "*.json" regular files are documents.
 *
 * Thread safety: a cursor belongs to one thread at a time; the conditions
 * must stay alive and unchanged while it is open.
 */
#ifndef HDB_FS_QEXEC_H
#define HDB_FS_QEXEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fs_internal.h"
#include "query.h"

#define FS_QCHUNK 2048

/* What fs_qcur_next returns; valid until the next call or the free. */
typedef struct fs_qmatch {
	const char *name;     /* file name, NUL-terminated */
	size_t nlen;
	hdb_fs_attr attr;     /* its entry */
	const uint8_t *doc;   /* content (with FS_Q_DOCS), NULL when empty */
	size_t dlen;
} fs_qmatch;

#define FS_Q_DOCS 1u /* matches carry their content */

typedef struct fs_qcur fs_qcur;

/* Opens a cursor over directory coll's documents matching conds[0..n). */
int fs_qcur_open(hdb_fs *fs, uint64_t coll, const hdb_qcond *const *conds, size_t n, unsigned flags,
                 fs_qcur **out);
/* 1 with *m filled, 0 at the end, or a negative code. */
int fs_qcur_next(fs_qcur *c, fs_qmatch *m);
void fs_qcur_free(fs_qcur *c);
/* Whether the cursor's plan uses an index. */
bool fs_qcur_indexed(const fs_qcur *c);

/* The number of matches (an index answers a single indexed condition
 * without reading documents). */
int fs_query_count(hdb_fs *fs, uint64_t coll, const hdb_qcond *const *conds, size_t n, uint64_t *count);

#endif
