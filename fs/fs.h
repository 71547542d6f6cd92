/*
 * fs.h — the hybriddb file system: FUSE low-level operations over an engine.
 *
 * Collections are directories and documents are files named "*.json"; the
 * mapping to engine keys is fs_format.h.  What the fs guarantees:
 *   - Close-to-open: an open file's writes go to a private buffer that is
 *     committed, as one atomic batch with the entry's new size and times,
 *     when the file is flushed (close), fsync'd or released.  A "*.json"
 *     buffer must be valid JSON or the close fails with EINVAL and the
 *     previous version stays.  Readers see the content as of their open,
 *     even when the file is removed or replaced meanwhile; a reader that
 *     uses the page cache sees the committed version (the cache is one per
 *     inode), and an in-place rewrite's open is answered only once such
 *     readers of other processes are gone, or after 2 s (park.c: the open
 *     waits without holding a worker thread), so it never changes under
 *     them.  Until the close only the writer's process sees the new size
 *     (fs_file_getattr).  A document being created is not there for
 *     other processes' read-only opens (ENOENT) until its first close.
 *   - close() returns after the commit is in the WAL and the MemTable;
 *     with sync_always, after the WAL is on stable storage; fsync() always
 *     waits for stable storage.
 *   - Every change to more than one key is one engine batch: crash-atomic.
 *     A document created by an open that never finished (the daemon died)
 *     is gone after the next mount.
 *   - statfs and /.stats answer from counters kept in the superblock.
 *
 * Which close decides: the kernel flushes at the close of every descriptor
 * that shares an open file.  A close by another process than the opener
 * (a child that inherited it: `{ cmd1; cmd2; } > f.json`) commits valid
 * content and otherwise stays quiet.  A close by the opener while it still
 * holds another descriptor on the file (a shell's open, dup2, close) fails
 * but keeps the buffer.  The opener's last close fails and gives the
 * changes up at once, so "the previous version (or absence)" holds when
 * close() returns; release does the same for whatever is left.
 *
 * Decisions (see also mount/hybriddb.1):
 *   - Hard links: EPERM.  mknod: regular files only (others EPERM), and not
 *     under a "*.json" name (an empty file is not a document: EINVAL).
 *   - A "*.json" file created and closed without valid JSON is removed
 *     again (the close fails with EINVAL): a failed `cp` or `touch` leaves
 *     no invalid document behind.  Exception: a new file with no
 *     permission bits (mode 0) closed empty stays, empty: GNU tar creates
 *     such a placeholder for a symlink it makes at the end.
 *   - A write past max_doc_size fails with EFBIG, and then nothing of that
 *     open is committed (the close fails with EFBIG too).
 *   - Extended attributes are not supported: every xattr call fails with
 *     EOPNOTSUPP, answered by the kernel without a round trip after the
 *     first (the operations are left out, so libfuse says ENOSYS once).
 *   - /.stats reports size 0 and is opened with direct_io; its JSON is
 *     generated at open and stays fixed for that handle.
 *   - Queries, indexes and JSON Lines (qvfs.h, query.h, qindex.h,
 *     import.h, jsonl.h): every directory but the root is a collection and
 *     answers for the reserved names .where, .indexes, .import and
 *     .export.jsonl, which are never listed and cannot be created,
 *     removed or renamed onto (EPERM).  Conditions follow MongoDB's type
 *     bracketing; numbers compare as doubles.  Index entries change in the
 *     batch of the document change that implies them.  An .import is one
 *     batch applied at close (EINVAL for a bad line, logged with line and
 *     byte; at most 512 MiB); export lines carry "_id", the file name
 *     without ".json", and skip documents that are not objects.
 *   - Tables (tables.h, schema.h, csv.h): a collection whose .schema is
 *     written checks every committed document against it (EINVAL, logged
 *     as "<path>: column <c>: <reason>"), and answers for .export.csv and
 *     .import.csv.
 *   - atime follows relatime (updated on the first read of an open when
 *     older than mtime/ctime or a day), or never with noatime.
 *
 * Thread safety: the operations run on libfuse's worker threads; see
 * fs_internal.h for the locks.
 */
#ifndef HDB_FS_H
#define HDB_FS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "hybriddb.h"

struct fuse_lowlevel_ops;
struct fuse_session;

typedef struct hdb_fs hdb_fs;

typedef struct hdb_fs_opts {
	bool read_only;        /* refuse every change with EROFS */
	bool sync_always;      /* each commit is durable before its reply */
	bool noatime;          /* never update atime on read */
	bool splice;           /* ask the kernel to move request and reply
	                          data through pipes (BENCHMARKS.md: slower
	                          for documents, so off by default) */
	uint64_t max_doc_size; /* largest file content; default 64 MiB */
	uint32_t owner_uid;    /* owner of a new root and of /.control */
	uint32_t owner_gid;
	const char *data_dir;  /* for statfs's free space; NULL: none known */
} hdb_fs_opts;

/* Defaults; owner is the calling process's uid/gid. */
void hdb_fs_opts_init(hdb_fs_opts *o);

/*
 * Attaches a file system to an open engine.  A database with no keys is
 * initialized (superblock and root directory; in memory only when
 * read_only).  Fails with HDB_EVERSION for a newer fs format, HDB_ENOTDB
 * when the database holds keys but no fs superblock, HDB_ECORRUPT for a
 * damaged superblock or root entry.  The db must outlive the fs.
 */
int hdb_fs_new(hdb_db *db, const hdb_fs_opts *o, hdb_fs **out);

/* Releases the handles still open (as a close would: valid changes are
 * committed) and frees fs; the caller closes the engine afterwards.  Call
 * after the session loop has ended. */
void hdb_fs_free(hdb_fs *fs);

/* The operations table to pass to fuse_session_new() with fs as userdata. */
const struct fuse_lowlevel_ops *hdb_fs_ops(void);

/* Gives the fs its session, for cache invalidation notices.  Call before
 * the session loop starts. */
void hdb_fs_set_session(hdb_fs *fs, struct fuse_session *se);

/* The /.stats document: fs counters, op counters, uptime and the engine's
 * figures under "engine".  malloc'd; caller frees. */
int hdb_fs_stats_json(hdb_fs *fs, char **json);

/*
 * Checks the fs layer of a database: the superblock, every entry and
 * content key, that every entry's parent is a directory, that the
 * counters match a recount, indexes, and that every schema belongs to a
 * collection and every document of a table fits its schema.  report() is called once per problem; returns
 * 0 when sound, HDB_ECORRUPT when problems were reported, or another
 * negative code when the check could not run.
 */
int hdb_fs_check(hdb_db *db, void (*report)(void *ctx, const char *what), void *ctx);

/*
 * Offline query tools (hybriddb import, export, find; fs/qcli.c).  A
 * collection is named by its path from the root ("users", "a/b").
 */
typedef struct hdb_fs_import_stats {
	uint64_t lines;      /* documents read */
	uint64_t created;
	uint64_t replaced;
	size_t err_line;     /* a bad line: its number (1-based) and byte offset */
	size_t err_offset;
} hdb_fs_import_stats;

/* The most input one import applies as one atomic batch (and the most an
 * .import or .import.csv file takes). */
#define HDB_FS_IMPORT_MAX ((uint64_t)512 << 20)

enum hdb_fs_import_format { HDB_FS_IMPORT_JSONL, HDB_FS_IMPORT_CSV };

/* Whether the collection is a table (has a schema): 1, 0, -EIO when its
 * schema does not parse, or -ENOENT / -ENOTDIR / -EINVAL for a bad
 * collection. */
int hdb_fs_is_table(hdb_fs *fs, const char *collection);

/*
 * Imports data[0..len) into the collection, as the mount's .import (JSON
 * Lines) or .import.csv (CSV) would (fs/import.h).  progress (may be
 * NULL) sees bytes done.
 * JSON Lines: the collection is created with its parents when missing.
 * Input over HDB_FS_IMPORT_MAX is checked whole first, then applied in
 * batches of whole lines: a bad line still applies nothing, but a crash
 * may leave the first batches applied.
 * CSV: the collection must be a table: -ENOENT when it is missing, -EINVAL
 * (logged) when it has no schema, -EIO when its schema does not parse.
 * Always one atomic batch, so at most HDB_FS_IMPORT_MAX bytes (-EFBIG).
 */
int hdb_fs_import(hdb_fs *fs, const char *collection, enum hdb_fs_import_format format, const void *data,
                  size_t len, void (*progress)(void *ctx, uint64_t done, uint64_t total), void *ctx,
                  hdb_fs_import_stats *st);

enum hdb_fs_find_output { HDB_FS_FIND_JSONL, HDB_FS_FIND_NAMES, HDB_FS_FIND_COUNT, HDB_FS_FIND_CSV };

/* Writes the documents of the collection matching every condition (the
 * .where syntax, query.h) to out: as JSON Lines, their file names, their
 * count, or CSV as .export.csv writes it (a table's header, then a record
 * per document that is an object; -ENOENT when the collection has no
 * schema, -EIO when it does not parse).  -EINVAL for a malformed
 * condition (*why says why), -ENOENT / -ENOTDIR for a bad collection. */
int hdb_fs_find(hdb_fs *fs, const char *collection, const char *const *conds, size_t n,
                enum hdb_fs_find_output what, FILE *out, const char **why, uint64_t *matches);

#endif
