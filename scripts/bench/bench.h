/*
 * bench.h — the table every engine adapter of hdb-bench fills in.
 *
 * hdb-bench runs one loop per workload and calls the engine only through a
 * struct bench_engine, so every engine sees the same keys, values and call
 * pattern.  An adapter keeps its engine's settings (cache budget, Bloom
 * filter, write buffer, compression) in one place and describes them for
 * the report header.
 *
 * Errors: every function returns 0 (or the count documented below) on
 * success and -1 on failure, after printing what failed to stderr through
 * bench_error().  The engine's own codes never leak into the driver: the
 * driver only needs to know that the run is void.
 *
 * Thread safety: none needed.  Each engine runs alone, single-threaded, in
 * its own child process, so that its peak RSS is its own.
 */
#ifndef HDB_BENCH_H
#define HDB_BENCH_H

#include <stdbool.h>
#include <stddef.h>

/* Budgets shared by every engine, so that no engine wins by using more RAM. */
#define BENCH_CACHE_BYTES        (32u << 20)
#define BENCH_WRITE_BUFFER_BYTES (64u << 20)
#define BENCH_BLOOM_BITS         10
/* SQLite has no write buffer; it groups non-durable writes instead. */
#define BENCH_SQLITE_TXN_ROWS    1000

struct bench_db;   /* an open database, engine-specific */
struct bench_iter; /* an iterator over it, engine-specific */

struct bench_engine {
	const char *name; /* as given to --engines */
	/* One Markdown list item naming the version and settings. */
	void (*describe)(char *buf, size_t len);
	/* Open the database kept in directory `dir` (which exists, maybe
	 * empty), creating it if needed.  On success *out owns it. */
	int (*open)(const char *dir, struct bench_db **out);
	/* Close and free db, even on failure. */
	int (*close)(struct bench_db *db);
	/* Store key -> val; with `sync` the write is durable before return. */
	int (*put)(struct bench_db *db, const char *key, size_t klen,
		   const char *val, size_t vlen, bool sync);
	/* End of a write workload: make grouped writes visible.  NULL when the
	 * engine groups nothing. */
	int (*finish)(struct bench_db *db);
	/* Point read: 1 and *vlen set when found, 0 when absent, -1 on error. */
	int (*get)(struct bench_db *db, const char *key, size_t klen, size_t *vlen);
	/* The iterator must be freed before db is closed. */
	int (*iter_new)(struct bench_db *db, struct bench_iter **out);
	void (*iter_free)(struct bench_iter *it);
	/* Go to the first key >= key, or to the first key when key is NULL. */
	int (*iter_seek)(struct bench_iter *it, const char *key, size_t klen);
	int (*iter_next)(struct bench_iter *it);
	/* True and the entry's sizes when the iterator is on an entry.  The
	 * bytes themselves stay untouched: every engine already had to read
	 * them to position the iterator. */
	bool (*iter_entry)(struct bench_iter *it, size_t *klen, size_t *vlen);
	/* Compact the whole key range as far as the engine goes, and leave the
	 * directory holding only live data (flush, checkpoint). */
	int (*compact)(struct bench_db *db);
};

/* Adapters, each compiled only when its library was found. */
extern const struct bench_engine bench_hybriddb;
extern const struct bench_engine bench_leveldb;
extern const struct bench_engine bench_rocksdb;
extern const struct bench_engine bench_sqlite;

/* Print "engine: op: msg" to stderr and return -1. */
int bench_error(const char *engine, const char *op, const char *msg);

#endif /* HDB_BENCH_H */
