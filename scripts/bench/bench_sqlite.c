/*
 * bench_sqlite.c — hdb-bench adapter for SQLite.
 *
 * Settings: one table kv(k BLOB PRIMARY KEY, v BLOB) WITHOUT ROWID, so the
 * rows live in the primary-key B-tree as in a key-value store; WAL journal;
 * a 32 MiB page cache; prepared statements only.  SQLite has no write
 * buffer, so non-durable writes are grouped BENCH_SQLITE_TXN_ROWS to a
 * transaction under synchronous=NORMAL (WAL fsync only at checkpoints); a
 * durable write is one transaction under synchronous=FULL (WAL fsync at
 * every commit).
 */
#include <stdio.h>
#include <stdlib.h>

#include <sqlite3.h>

#include "bench.h"

static const char name[] = "sqlite";

struct bench_db {
	sqlite3 *db;
	sqlite3_stmt *put;    /* INSERT OR REPLACE, ?1 = key, ?2 = value */
	sqlite3_stmt *get;    /* ?1 = key */
	sqlite3_stmt *begin;
	sqlite3_stmt *commit;
	bool in_txn;          /* a BEGIN is open */
	unsigned pending;     /* rows written in the open transaction */
	bool sync_full;       /* synchronous=FULL is set */
};

struct bench_iter {
	struct bench_db *b;
	sqlite3_stmt *first;  /* every row in key order */
	sqlite3_stmt *from;   /* rows with k >= ?1 in key order */
	sqlite3_stmt *cur;    /* the one of the two in use, or NULL */
	int rc;               /* last sqlite3_step() result of cur */
};

static int fail(struct bench_db *b, const char *op)
{
	return bench_error(name, op, sqlite3_errmsg(b->db));
}

static void sqlite_bench_describe(char *buf, size_t len)
{
	snprintf(buf, len,
		 "SQLite %s: table kv(k BLOB PRIMARY KEY, v BLOB) WITHOUT ROWID, WAL, "
		 "page cache %u MiB, default page size, prepared statements, "
		 "%d rows per transaction with synchronous=NORMAL for fills, "
		 "one row per transaction with synchronous=FULL for fillsync",
		 sqlite3_libversion(), BENCH_CACHE_BYTES >> 20, BENCH_SQLITE_TXN_ROWS);
}

static int exec(struct bench_db *b, const char *sql)
{
	char *err = NULL;

	if (sqlite3_exec(b->db, sql, NULL, NULL, &err) == SQLITE_OK)
		return 0;
	bench_error(name, sql, err ? err : sqlite3_errmsg(b->db));
	sqlite3_free(err);
	return -1;
}

/* Run a prepared statement that returns no rows, and reset it. */
static int step_done(struct bench_db *b, sqlite3_stmt *st, const char *op)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : fail(b, op);
}

static int prepare(struct bench_db *b, const char *sql, sqlite3_stmt **st)
{
	if (sqlite3_prepare_v2(b->db, sql, -1, st, NULL) == SQLITE_OK)
		return 0;
	return fail(b, sql);
}

static int commit(struct bench_db *b)
{
	if (!b->in_txn)
		return 0;
	b->in_txn = false;
	b->pending = 0;
	return step_done(b, b->commit, "COMMIT");
}

static void free_handle(struct bench_db *b)
{
	sqlite3_finalize(b->put);
	sqlite3_finalize(b->get);
	sqlite3_finalize(b->begin);
	sqlite3_finalize(b->commit);
	sqlite3_close(b->db);
	free(b);
}

static int setup(struct bench_db *b, const char *dir)
{
	char path[4096];
	char pragma[64];

	if ((size_t)snprintf(path, sizeof(path), "%s/kv.sqlite", dir) >= sizeof(path))
		return bench_error(name, "open", "path too long");
	if (sqlite3_open(path, &b->db) != SQLITE_OK)
		return b->db ? fail(b, "open") : bench_error(name, "open", "out of memory");
	/* Negative cache_size is in KiB rather than pages. */
	snprintf(pragma, sizeof(pragma), "PRAGMA cache_size = -%u", BENCH_CACHE_BYTES >> 10);
	if (exec(b, "PRAGMA journal_mode = WAL") || exec(b, "PRAGMA synchronous = NORMAL") ||
	    exec(b, pragma) ||
	    exec(b, "CREATE TABLE IF NOT EXISTS kv(k BLOB PRIMARY KEY, v BLOB) WITHOUT ROWID"))
		return -1;
	if (prepare(b, "INSERT OR REPLACE INTO kv(k, v) VALUES(?1, ?2)", &b->put) ||
	    prepare(b, "SELECT v FROM kv WHERE k = ?1", &b->get) ||
	    prepare(b, "BEGIN", &b->begin) || prepare(b, "COMMIT", &b->commit))
		return -1;
	return 0;
}

static int sqlite_bench_open(const char *dir, struct bench_db **out)
{
	struct bench_db *b;

	b = calloc(1, sizeof(*b));
	if (!b)
		return bench_error(name, "open", "out of memory");
	if (setup(b, dir)) {
		free_handle(b);
		return -1;
	}
	*out = b;
	return 0;
}

static int sqlite_bench_close(struct bench_db *b)
{
	int err = commit(b);

	free_handle(b);
	return err;
}

/* Durable and grouped writes need different synchronous levels; switching
 * needs no open transaction. */
static int set_sync(struct bench_db *b, bool full)
{
	if (b->sync_full == full)
		return 0;
	if (commit(b) ||
	    exec(b, full ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL"))
		return -1;
	b->sync_full = full;
	return 0;
}

static int sqlite_bench_put(struct bench_db *b, const char *key, size_t klen,
			    const char *val, size_t vlen, bool sync)
{
	if (set_sync(b, sync))
		return -1;
	if (!sync && !b->in_txn) {
		if (step_done(b, b->begin, "BEGIN"))
			return -1;
		b->in_txn = true;
	}
	if (sqlite3_bind_blob(b->put, 1, key, (int)klen, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_blob(b->put, 2, val, (int)vlen, SQLITE_STATIC) != SQLITE_OK)
		return fail(b, "bind");
	if (step_done(b, b->put, "INSERT"))
		return -1;
	if (b->in_txn && ++b->pending >= BENCH_SQLITE_TXN_ROWS)
		return commit(b);
	return 0;
}

static int sqlite_bench_finish(struct bench_db *b)
{
	return commit(b);
}

static int sqlite_bench_get(struct bench_db *b, const char *key, size_t klen, size_t *vlen)
{
	int rc;

	if (sqlite3_bind_blob(b->get, 1, key, (int)klen, SQLITE_STATIC) != SQLITE_OK)
		return fail(b, "bind");
	rc = sqlite3_step(b->get);
	if (rc == SQLITE_ROW) {
		sqlite3_column_blob(b->get, 0);
		*vlen = (size_t)sqlite3_column_bytes(b->get, 0);
	}
	sqlite3_reset(b->get);
	if (rc == SQLITE_ROW)
		return 1;
	return rc == SQLITE_DONE ? 0 : fail(b, "SELECT");
}

static void sqlite_bench_iter_free(struct bench_iter *bi)
{
	sqlite3_finalize(bi->first);
	sqlite3_finalize(bi->from);
	free(bi);
}

static int sqlite_bench_iter_new(struct bench_db *b, struct bench_iter **out)
{
	struct bench_iter *bi;

	bi = calloc(1, sizeof(*bi));
	if (!bi)
		return bench_error(name, "iter_new", "out of memory");
	bi->b = b;
	if (prepare(b, "SELECT k, v FROM kv ORDER BY k", &bi->first) ||
	    prepare(b, "SELECT k, v FROM kv WHERE k >= ?1 ORDER BY k", &bi->from)) {
		sqlite_bench_iter_free(bi);
		return -1;
	}
	*out = bi;
	return 0;
}

static int iter_step(struct bench_iter *bi)
{
	bi->rc = sqlite3_step(bi->cur);
	if (bi->rc == SQLITE_ROW || bi->rc == SQLITE_DONE)
		return 0;
	return fail(bi->b, "SELECT");
}

static int sqlite_bench_iter_seek(struct bench_iter *bi, const char *key, size_t klen)
{
	if (bi->cur)
		sqlite3_reset(bi->cur);
	bi->cur = key ? bi->from : bi->first;
	if (key && sqlite3_bind_blob(bi->from, 1, key, (int)klen, SQLITE_TRANSIENT) != SQLITE_OK)
		return fail(bi->b, "bind");
	return iter_step(bi);
}

static int sqlite_bench_iter_next(struct bench_iter *bi)
{
	if (!bi->cur || bi->rc != SQLITE_ROW)
		return 0;
	return iter_step(bi);
}

static bool sqlite_bench_iter_entry(struct bench_iter *bi, size_t *klen, size_t *vlen)
{
	if (!bi->cur || bi->rc != SQLITE_ROW)
		return false;
	sqlite3_column_blob(bi->cur, 0);
	*klen = (size_t)sqlite3_column_bytes(bi->cur, 0);
	sqlite3_column_blob(bi->cur, 1);
	*vlen = (size_t)sqlite3_column_bytes(bi->cur, 1);
	return true;
}

/* VACUUM rebuilds the file through the WAL; the checkpoint then moves the
 * pages home and truncates the WAL, leaving only the database file. */
static int sqlite_bench_compact(struct bench_db *b)
{
	if (commit(b) || exec(b, "VACUUM") || exec(b, "PRAGMA wal_checkpoint(TRUNCATE)"))
		return -1;
	return 0;
}

const struct bench_engine bench_sqlite = {
	.name = name,
	.describe = sqlite_bench_describe,
	.open = sqlite_bench_open,
	.close = sqlite_bench_close,
	.put = sqlite_bench_put,
	.finish = sqlite_bench_finish,
	.get = sqlite_bench_get,
	.iter_new = sqlite_bench_iter_new,
	.iter_free = sqlite_bench_iter_free,
	.iter_seek = sqlite_bench_iter_seek,
	.iter_next = sqlite_bench_iter_next,
	.iter_entry = sqlite_bench_iter_entry,
	.compact = sqlite_bench_compact,
};
