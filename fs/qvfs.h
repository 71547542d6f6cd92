/*
 * qvfs.h — the query namespace: virtual files and directories that every
 * collection (every directory but the root) answers lookups for.
 *
 *   C/.where/               query directory with no condition: every document
 *   Q/COND/                 query directory: the documents of Q that also
 *                           satisfy COND (query.h), so conditions AND
 *   Q/NAME.json             a document of Q: the SAME inode as C/NAME.json
 *                           (reads, writes, stat all go to the document)
 *   Q/.count                "N\n", the number of documents of Q
 *   Q/.export.jsonl         the documents of Q as JSON Lines (jsonl.h)
 *   C/.export.jsonl         every document of C as JSON Lines
 *   C/.import               write JSON Lines here; applied at close (import.h)
 *   C/.indexes/             one directory per index (qindex.h), named by its
 *                           field with %XX escapes; mkdir builds one (and
 *                           returns when it is ready), rmdir drops it
 *   C/.schema               the table schema of C (tables.h): read it, write
 *                           it (applied at close), rm it
 *   T/.export.csv           a table's documents as CSV (schema.h), also
 *   Q/.export.csv           in a query directory of a table
 *   T/.import.csv           write CSV here; applied at close (import.h)
 *
 * Decisions:
 *   - The names .where, .indexes, .export.jsonl, .import, .schema,
 *     .export.csv and .import.csv are reserved in every collection:
 *     creating, removing or renaming onto them fails with EPERM, except
 *     that creating .schema writes a schema, creating .import.csv in a
 *     table opens it, and unlinking .schema removes the schema.  They are found by lookup only, never listed, so `ls -a`,
 *     `cp -r`, `rm -r`, `find`, `rsync` and `grep -r` see only documents.
 *     Inside a query directory, likewise, .count and .export.jsonl are not
 *     listed.  (A file stored under such a name before this version is
 *     hidden behind the virtual one.)
 *   - In a query directory a name ending in ".json" that names a document
 *     of the collection is that document (ENOENT when it does not satisfy
 *     Q); any other name is a condition.  A malformed condition is ENOENT,
 *     and the daemon logs why (except for "*.json" names, which are
 *     taken for documents that are not there).  A name over 255 bytes is
 *     ENAMETOOLONG here too, in .indexes as well, as it is everywhere.
 *   - The kernel caches no name inside a query directory and no virtual
 *     name (entry timeout 0): every path resolution evaluates again.  A
 *     listing is the query's answer at opendir (a snapshot).
 *   - Inode numbers have the top bit set (HDB_FS_VIRT_INO) and live in a
 *     table for as long as the kernel references them.
 *   - Modes follow the collection's: query directories and index directories
 *     r-x, .indexes rwx, .count and .export.jsonl r--, .import -w- (each
 *     masked by the collection's bits); owner and times are the
 *     collection's; files report size 0 and are opened with direct_io, so
 *     readers read until end of file.
 *   - .count is computed when opened; .export.jsonl streams from a snapshot
 *     taken at open, generating lines as they are read (a read from an
 *     offset before the current window starts over, with a new snapshot).
 *     Opening either for writing: EACCES.
 *   - .schema, .export.csv and .import.csv exist only in a table (a
 *     collection with a schema): elsewhere lookup, open and create of
 *     .export.csv and .import.csv answer ENOENT, and .schema is ENOENT
 *     until created.  .schema is rw- (masked by the collection's bits) and
 *     reports the stored schema's size; an open for reading or for writing
 *     without O_TRUNC starts from the stored bytes, like a regular file; it
 *     is applied like .import (fs_table_set: EINVAL for a bad schema or a
 *     document that does not fit, logged; at most FS_SCHEMA_MAX bytes,
 *     else EFBIG), and an open that writes nothing changes nothing (so
 *     `: > C/.schema` does not remove it: rm does).  Renaming onto .schema
 *     is EPERM: write it (cp, >) instead.  .export.csv streams like
 *     .export.jsonl, with the schema taken at open (a header, then one row
 *     per document in name order); .import.csv behaves like .import.
 *   - .import accepts writes at any offset up to FS_IMPORT_MAX bytes (past
 *     it: EFBIG) into a buffer of its open handle; opening it for reading
 *     is EACCES.  The buffer is applied by the first close from the
 *     opening process that follows a write (a child that inherited the
 *     descriptor does not apply it), or at release; that close fails with
 *     EINVAL when a line is bad (logged with line number and byte offset),
 *     EFBIG, or the engine's error, and then nothing is applied.  Either
 *     way the buffer is emptied.  New documents belong to the opener, mode
 *     0644.  Truncating .import (O_TRUNC, `>`) is accepted and does
 *     nothing else.
 *   - Anything else inside a virtual directory (create, unlink, rename,
 *     symlink, link) fails with EPERM.
 *
 * Thread safety: the node table has its own mutex, a leaf lock (no other
 * lock is taken while it is held); a handle has its own mutex, taken
 * before commit_mu.
 */
#ifndef HDB_FS_QVFS_H
#define HDB_FS_QVFS_H

#include <stdbool.h>
#include <stdint.h>

#include "fs.h"

struct fuse_lowlevel_ops;
struct fs_qvfs;

int fs_qvfs_new(hdb_fs *fs, struct fs_qvfs **out);
/* Frees the table and the handles still open (an .import not yet applied
 * is dropped, logged). */
void fs_qvfs_free(hdb_fs *fs, struct fs_qvfs *v);

/* The operations table that serves the query namespace and passes every
 * other request to base (which must stay valid).  Call before the session
 * is created. */
const struct fuse_lowlevel_ops *fs_qvfs_ops(const struct fuse_lowlevel_ops *base);

/* Whether name is reserved in a collection (.where, .indexes, ...). */
bool fs_qvfs_reserved(const char *name);

/*
 * Whether the kernel may hold a cached negative entry for (parent, name):
 * true when that name was looked up within the last FS_STORED_TIMEOUT
 * seconds (a Bloom filter of every lookup, two generations, so false
 * positives are possible, false negatives are not).  An import that
 * creates a name the kernel did not create itself must invalidate such an
 * entry; this tells it which of its names need the round trip.
 */
bool fs_qvfs_maybe_looked_up(hdb_fs *fs, uint64_t parent, const char *name, size_t nlen);

#endif
