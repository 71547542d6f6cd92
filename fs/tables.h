/*
 * tables.h — collections with a schema ("tables"): storing the schema of
 * <collection>/.schema, keeping it parsed in memory, and checking every
 * committed document of a table against it.  The schema format and the
 * document rules are fs/schema.h; the key is in fs_format.h ('S').
 *
 * Decisions:
 *   - A schema belongs to the collection's inode: renaming a table keeps
 *     it; rmdir of a table that holds no entry succeeds and deletes the
 *     schema in its batch (`rm -r` works: .schema is never listed).
 *   - Only documents count: regular files named "*.json" directly in the
 *     table.  Other names (editor and rsync temporaries, `.42.json.swp`)
 *     are stored as they are, so write-temp-then-rename works: the check
 *     happens when content is committed under, or renamed onto, a document
 *     name.  Subdirectories of a table are independent collections (they
 *     have no schema unless given one).  A document with no content (a
 *     create whose first close has not happened yet) is not checked until
 *     it gets content.
 *   - Every check of a change runs under commit_mu, inside the change's
 *     transaction, against the schema in force at that moment; storing a
 *     schema checks the documents under commit_mu too.  So no write can
 *     slip between a schema's check of the documents and its store, and no
 *     document is ever committed against a schema that is no longer the
 *     table's.
 *   - A violation fails the change with -EINVAL, changes nothing, and is
 *     logged as "<path>: column <c>: <reason>".
 *
 * Thread safety: the in-memory map has its own mutex, a leaf lock (taken
 * after commit_mu; nothing is taken while it is held).  It changes only
 * with commit_mu held, so code under commit_mu sees the schemas that the
 * engine holds.  A schema (fs_table) is immutable and reference counted:
 * fs_table_get hands one out to code that needs it outside commit_mu
 * (exports, CSV imports).
 */
#ifndef HDB_FS_TABLES_H
#define HDB_FS_TABLES_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "fs_internal.h"
#include "schema.h"

/* Largest .schema accepted (EFBIG past it). */
#define FS_SCHEMA_MAX ((uint64_t)1 << 20)

/* One table's schema: immutable once published. */
typedef struct fs_table {
	atomic_uint refs;
	uint64_t coll;     /* the collection's inode */
	uint8_t *raw;      /* the schema as written (the 'S' value) */
	size_t rawlen;
	bool broken;       /* raw did not parse at mount: s is empty */
	hdb_schema s;
} fs_table;

/* Loads every schema key into fs->tables.  Called by hdb_fs_new. */
int fs_tables_new(hdb_fs *fs);
void fs_tables_free(hdb_fs *fs);
/* Writes ,"tables":{...} for /.stats. */
void fs_tables_stats(hdb_fs *fs, FILE *f);

/* coll's schema with a reference (release with fs_table_put), or NULL
 * when coll is not a table. */
fs_table *fs_table_get(hdb_fs *fs, uint64_t coll);
void fs_table_put(fs_table *t);
/* Whether coll is a table (cheap when there is none at all). */
bool fs_table_exists(hdb_fs *fs, uint64_t coll);

/* Appends the CSV record of document doc[0..len) under t's schema to out,
 * as .export.csv and `hybriddb export --csv` write it: a document that is
 * not a JSON object has no record (nothing appended).  0 or -ENOMEM. */
int fs_table_csv_row(const fs_table *t, const void *doc, size_t len, hdb_wbuf *out);

/*
 * REQUIRES commit_mu.  Checks content doc[0..len) that is about to be
 * committed as (coll, name): 0 when coll is no table, name no document
 * name, or the content is empty; else the schema check.  A violation is
 * logged (what: a prefix such as "/t/.import: line 3", or NULL for the
 * path of the document) unless quiet, counted, and returns -EINVAL; a
 * table whose schema is broken returns -EIO.
 */
int fs_table_check_locked(hdb_fs *fs, uint64_t coll, const char *name, size_t nlen, const void *doc, size_t len,
                          const char *what, bool quiet);

/* Checks doc against an explicit schema t (already referenced), logged
 * like fs_table_check_locked; for imports, which check before they lock. */
int fs_table_check_with(hdb_fs *fs, const fs_table *t, const char *name, size_t nlen, const void *doc,
                        size_t len, const char *what);

/*
 * Makes buf[0..len) coll's schema (a write to .schema): parses it, checks
 * every document when the change needs it (hdb_schema_needs_revalidation,
 * or coll had no schema), then stores it in one batch.  -EINVAL (logged)
 * for a bad schema or a document that does not fit; nothing changes then.
 */
int fs_table_set(hdb_fs *fs, uint64_t coll, const void *buf, size_t len);
/* Removes coll's schema: 0 or -ENOENT when coll is no table. */
int fs_table_remove(hdb_fs *fs, uint64_t coll);

/* REQUIRES commit_mu.  Directory dir goes away in t (rmdir, or replaced
 * by a rename): its schema key goes too.  After the batch is written call
 * fs_table_on_rmdir_done, still in the transaction. */
int fs_table_on_rmdir(hdb_fs *fs, fs_txn *t, uint64_t dir);
void fs_table_on_rmdir_done(hdb_fs *fs, uint64_t dir);

/*
 * Offline check (hybriddb check): every schema key is well formed, parses,
 * belongs to a directory (is_dir(dctx, ino) answers), and every document
 * of its table fits it.  report() once per problem (at most a few per
 * table, then a count); *problems counts them.  0 or a negative code.
 */
int fs_tables_check(hdb_db *db, bool (*is_dir)(void *dctx, uint64_t ino), void *dctx,
                    void (*report)(void *ctx, const char *what), void *ctx, unsigned *problems);

#endif
