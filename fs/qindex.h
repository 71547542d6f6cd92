/*
 * qindex.h — secondary indexes over document fields: their definitions,
 * their maintenance inside the batches of document changes, building and
 * dropping.  The keys are in fs_format.h ('I' and 'X'); the value
 * encoding in query.h.
 *
 * Thread safety.  Index definitions are changed only with commit_mu held
 * and, inside it, fs->q->mu; so code running under commit_mu (every
 * maintenance hook) reads them without q->mu, and other readers (query
 * planning, listings, /.stats) take q->mu.  A build or a drop works in
 * chunks, each one transaction under commit_mu, and finds its definition
 * again at every chunk (a concurrent rmdir of the collection may have
 * removed it).  Lock order: commit_mu, then q->mu, then the inode table.
 */
#ifndef HDB_FS_QINDEX_H
#define HDB_FS_QINDEX_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "fs_internal.h"
#include "query.h"

/* Longest index entry key: 'X' | coll | field | 0 | value | name. */
#define FS_IKEY_MAX (HDB_FS_KEY_PREFIX + HDB_FS_NAME_MAX + 1 + HDB_QKEY_VAL_MAX + HDB_FS_NAME_MAX)

/* One index definition. */
typedef struct fs_qidx {
	uint64_t coll;          /* the collection's inode */
	char *field;            /* decoded dotted path, NUL-terminated */
	size_t flen;
	int state;              /* HDB_FS_INDEX_* */
	uint64_t indexed;       /* documents the build has indexed (this mount) */
	struct fs_qidx *next;
} fs_qidx;

struct fs_qvfs;

/* The query layer's state, fs->q. */
typedef struct fs_query {
	pthread_mutex_t mu;     /* guards defs (see above) */
	fs_qidx *defs;          /* every definition, any state */
	struct fs_qvfs *vfs;    /* the virtual namespace (qvfs.c) */
	atomic_uint_fast64_t q_indexed;   /* queries answered through an index */
	atomic_uint_fast64_t q_scanned;   /* queries answered by a scan */
	atomic_uint_fast64_t builds;      /* index builds finished */
	atomic_uint_fast64_t imports;     /* .import files applied */
	atomic_uint_fast64_t imported;    /* documents written by them */
	atomic_uint_fast64_t import_errors;
	atomic_uint_fast64_t exports;     /* .export.jsonl opens */
} fs_query;

/*
 * Sets up fs->q: loads the index definitions, and (read-write) finishes
 * the builds and drops a stop interrupted.  Called by hdb_fs_new once the
 * file system is loaded.  0 or a negative code.
 */
int fs_query_new(hdb_fs *fs);
/* Releases the virtual handles left open and frees fs->q (may be NULL). */
void fs_query_free(hdb_fs *fs);
/* Writes ,"queries":{...} for /.stats (counters, index builds). */
void fs_query_stats(hdb_fs *fs, FILE *f);

/*
 * Maintenance hooks: each adds to t's batch the index entry changes of a
 * document change, when the collections concerned have indexes (else they
 * cost one list walk).  REQUIRE commit_mu (inside t), and must run before
 * fs_txn_write; they read the committed content of the inodes concerned.
 */
/* ino, a regular file named name in coll, gets the content data[0..len). */
int fs_index_on_commit(hdb_fs *fs, fs_txn *t, uint64_t coll, const char *name, size_t nlen, uint64_t ino,
                       const void *data, size_t len);
/* A new regular file (coll, name) gets its first content data[0..len)
 * (it had none: no old entries to delete). */
int fs_index_on_create(hdb_fs *fs, fs_txn *t, uint64_t coll, const char *name, size_t nlen, const void *data,
                       size_t len);
/* Whether a document change in coll has index entries to maintain. */
bool fs_index_maintained(hdb_fs *fs, uint64_t coll);
/* The entry (coll, name) with attributes a is removed. */
int fs_index_on_unlink(hdb_fs *fs, fs_txn *t, uint64_t coll, const char *name, size_t nlen, const hdb_fs_attr *a);
/* src moves from (p1, n1) to (p2, n2), replacing dst (NULL: none), or
 * trading places with it (exchange). */
int fs_index_on_rename(hdb_fs *fs, fs_txn *t, uint64_t p1, const char *n1, size_t l1, const hdb_fs_attr *src,
                       uint64_t p2, const char *n2, size_t l2, const hdb_fs_attr *dst, bool exchange);
/* Directory dir (empty) is removed: its index definitions go too.  Call
 * fs_index_on_rmdir_done after the batch is written, still in the txn. */
int fs_index_on_rmdir(hdb_fs *fs, fs_txn *t, uint64_t dir);
void fs_index_on_rmdir_done(hdb_fs *fs, uint64_t dir);

/* Builds an index of coll over field (returns when it is ready): -EEXIST,
 * -EINVAL for a bad field, -ENOENT when coll went away meanwhile, -EROFS. */
int fs_index_create(hdb_fs *fs, uint64_t coll, const char *field, size_t flen);
/* Drops it (returns when its entries are gone): -ENOENT, -EROFS. */
int fs_index_drop(hdb_fs *fs, uint64_t coll, const char *field, size_t flen);
/* Whether coll has an index on field in state ready (usable by queries). */
bool fs_index_ready(hdb_fs *fs, uint64_t coll, const char *field, size_t flen);
/* Whether coll has an index on field that is building or ready. */
bool fs_index_exists(hdb_fs *fs, uint64_t coll, const char *field, size_t flen);
/* The fields of coll's building and ready indexes, sorted: a malloc'd
 * array of malloc'd strings (free each, then the array). */
int fs_index_list(hdb_fs *fs, uint64_t coll, char ***fields, size_t *n);

/*
 * Offline check (hybriddb check): every index in state ready has exactly
 * the entries its collection's documents imply, a building one has no
 * entry they do not imply, every entry belongs to a definition, and every
 * building or ready index belongs to a directory (is_dir(dctx, ino)).
 * report() is called once per problem (at most a few per index, then a
 * count); *problems counts them.  0 or a negative code.
 */
int fs_index_check(hdb_db *db, bool (*is_dir)(void *ctx, uint64_t ino), void *dctx,
                   void (*report)(void *ctx, const char *what), void *ctx, unsigned *problems);

/* Writes 'X' | coll | field | 0 into k; returns its length. */
size_t fs_ikey_prefix(uint8_t *k, uint64_t coll, const char *field, size_t flen);

#endif
