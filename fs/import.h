/*
 * import.h — applying an import to a collection: JSON Lines (jsonl.h), or
 * CSV into a table (csv.h, tables.h).  Every record becomes a document
 * (created, or replaced in place: same inode, new content, like a write
 * and close), all in ONE engine batch with the superblock and the index
 * entries, so an import is applied entirely or not at all, and survives a
 * crash exactly like a single close.  Both formats share everything but
 * the reading of records, which yields (name, document) pairs.
 *
 * Order: lines are applied by name; when several lines name the same
 * document the last line wins.  Every line is checked before anything is
 * written: the first bad line fails the whole import with -EINVAL, logged
 * with its line number and byte offset.  A name that exists as a
 * directory or a symbolic link is an error too (-EINVAL, logged).
 *
 * Tables: in a collection with a schema every document is checked against
 * it (hdb_schema_check) after every record was read and before anything
 * is written; the first record that does not fit fails the import with
 * -EINVAL, logged with its line, document, column and reason.  The check
 * is made again under commit_mu when the schema changed in between.  A
 * JSON Lines record without `_id` in a table with a key is named from its
 * key (when the key member gives a valid name; otherwise it gets an id and
 * the check says what is wrong).
 *
 * CSV: the header and every row are converted by hdb_csv_import_header
 * and hdb_csv_import_row under the table's schema; a malformed record, a
 * bad header or a bad row fails the import with -EINVAL, logged with the
 * record's line number (and column).  Documents are named from the key
 * column, or get generated ids (hdb_jsonl_gen_id) when the table has no
 * key.  Input with no record at all (no header) and an import of CSV into
 * a collection that is no table: -EINVAL.
 *
 * Limits: the batch must fit the engine's atomic batch limit (1 GiB with
 * its keys); past it the import fails with -EFBIG and nothing is applied.
 * The .import file takes at most FS_IMPORT_MAX bytes.
 *
 * Thread safety: runs under commit_mu like every change (parsing and
 * sorting happen before it is taken).
 */
#ifndef HDB_FS_IMPORT_H
#define HDB_FS_IMPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "fs_internal.h"

#define FS_IMPORT_MAX HDB_FS_IMPORT_MAX

enum fs_import_format {
	FS_IMPORT_JSONL,    /* the default */
	FS_IMPORT_CSV,
};

typedef struct fs_import_opts {
	enum fs_import_format format;
	bool check_only;    /* read and check every record, write nothing */
	uint32_t uid, gid;  /* owner of new documents */
	mode_t mode;        /* permission bits of new documents */
	const char *what;   /* name for log lines, e.g. "/users/.import" */
	/* Called now and then while lines are read: bytes done of total. */
	void (*progress)(void *ctx, uint64_t done, uint64_t total);
	void *ctx;
} fs_import_opts;

typedef struct fs_import_result {
	uint64_t lines;     /* documents read (duplicates included) */
	uint64_t created;
	uint64_t replaced;
	size_t err_line;    /* on -EINVAL from a bad line: where (else 0) */
	size_t err_offset;  /* the bad byte of a malformed record, else the
	                       start of the record that does not fit */
} fs_import_result;

/* Imports buf[0..len) into directory coll, which must be in the inode
 * table (the kernel or the caller holds it).  0 or a negative code. */
int fs_import(hdb_fs *fs, uint64_t coll, const void *buf, size_t len, const fs_import_opts *o,
              fs_import_result *res);

#endif
