/*
 * bench_leveldb.c — hdb-bench adapter for LevelDB through its C API.
 *
 * Settings: the shared budgets (32 MiB LRU block cache, 64 MiB write
 * buffer, Bloom filter of 10 bits per key) and LevelDB's defaults for the
 * rest: snappy compression, 4 KiB blocks, 2 MiB tables, no WAL fsync
 * unless a write asks for it.
 */
#include <stdio.h>
#include <stdlib.h>

#include <leveldb/c.h>

#include "bench.h"

static const char name[] = "leveldb";

struct bench_db {
	leveldb_t *db;
	leveldb_options_t *opt;
	leveldb_cache_t *cache;          /* referenced by opt until close */
	leveldb_filterpolicy_t *filter;  /* likewise */
	leveldb_readoptions_t *ro;
	leveldb_writeoptions_t *wo;      /* sync = false */
	leveldb_writeoptions_t *wo_sync; /* sync = true */
};

struct bench_iter {
	leveldb_iterator_t *it;
};

/* LevelDB reports failures as a malloc'd string in *err. */
static int fail(const char *op, char *err)
{
	bench_error(name, op, err);
	leveldb_free(err);
	return -1;
}

static void leveldb_bench_describe(char *buf, size_t len)
{
	snprintf(buf, len,
		 "LevelDB %d.%d: cache %u MiB (LRU), write buffer %u MiB, Bloom %d bits/key, "
		 "snappy (default), 4 KiB blocks (default), no WAL fsync except WriteOptions.sync "
		 "for fillsync",
		 leveldb_major_version(), leveldb_minor_version(), BENCH_CACHE_BYTES >> 20,
		 BENCH_WRITE_BUFFER_BYTES >> 20, BENCH_BLOOM_BITS);
}

/* Safe on a partly built handle: every destroy call accepts what create
 * returned, and fields never created are NULL. */
static void free_handle(struct bench_db *b)
{
	if (b->db)
		leveldb_close(b->db);
	if (b->opt)
		leveldb_options_destroy(b->opt);
	if (b->cache)
		leveldb_cache_destroy(b->cache);
	if (b->filter)
		leveldb_filterpolicy_destroy(b->filter);
	if (b->ro)
		leveldb_readoptions_destroy(b->ro);
	if (b->wo)
		leveldb_writeoptions_destroy(b->wo);
	if (b->wo_sync)
		leveldb_writeoptions_destroy(b->wo_sync);
	free(b);
}

static int leveldb_bench_open(const char *dir, struct bench_db **out)
{
	struct bench_db *b;
	char *err = NULL;

	b = calloc(1, sizeof(*b));
	if (!b)
		return bench_error(name, "open", "out of memory");
	b->opt = leveldb_options_create();
	b->cache = leveldb_cache_create_lru(BENCH_CACHE_BYTES);
	b->filter = leveldb_filterpolicy_create_bloom(BENCH_BLOOM_BITS);
	b->ro = leveldb_readoptions_create();
	b->wo = leveldb_writeoptions_create();
	b->wo_sync = leveldb_writeoptions_create();
	if (!b->opt || !b->cache || !b->filter || !b->ro || !b->wo || !b->wo_sync) {
		free_handle(b);
		return bench_error(name, "open", "out of memory");
	}
	leveldb_options_set_create_if_missing(b->opt, 1);
	leveldb_options_set_cache(b->opt, b->cache);
	leveldb_options_set_filter_policy(b->opt, b->filter);
	leveldb_options_set_write_buffer_size(b->opt, BENCH_WRITE_BUFFER_BYTES);
	leveldb_options_set_compression(b->opt, leveldb_snappy_compression);
	leveldb_writeoptions_set_sync(b->wo, 0);
	leveldb_writeoptions_set_sync(b->wo_sync, 1);

	b->db = leveldb_open(b->opt, dir, &err);
	if (err) {
		free_handle(b);
		return fail("open", err);
	}
	*out = b;
	return 0;
}

static int leveldb_bench_close(struct bench_db *b)
{
	free_handle(b);
	return 0;
}

static int leveldb_bench_put(struct bench_db *b, const char *key, size_t klen,
			     const char *val, size_t vlen, bool sync)
{
	char *err = NULL;

	leveldb_put(b->db, sync ? b->wo_sync : b->wo, key, klen, val, vlen, &err);
	return err ? fail("put", err) : 0;
}

static int leveldb_bench_get(struct bench_db *b, const char *key, size_t klen, size_t *vlen)
{
	char *err = NULL;
	char *val;

	val = leveldb_get(b->db, b->ro, key, klen, vlen, &err);
	if (err)
		return fail("get", err);
	if (!val)
		return 0;
	leveldb_free(val);
	return 1;
}

static int leveldb_bench_iter_new(struct bench_db *b, struct bench_iter **out)
{
	struct bench_iter *bi;

	bi = calloc(1, sizeof(*bi));
	if (!bi)
		return bench_error(name, "iter_new", "out of memory");
	bi->it = leveldb_create_iterator(b->db, b->ro);
	if (!bi->it) {
		free(bi);
		return bench_error(name, "iter_new", "out of memory");
	}
	*out = bi;
	return 0;
}

static void leveldb_bench_iter_free(struct bench_iter *bi)
{
	leveldb_iter_destroy(bi->it);
	free(bi);
}

static int iter_status(struct bench_iter *bi, const char *op)
{
	char *err = NULL;

	if (leveldb_iter_valid(bi->it))
		return 0;
	leveldb_iter_get_error(bi->it, &err);
	return err ? fail(op, err) : 0;
}

static int leveldb_bench_iter_seek(struct bench_iter *bi, const char *key, size_t klen)
{
	if (key)
		leveldb_iter_seek(bi->it, key, klen);
	else
		leveldb_iter_seek_to_first(bi->it);
	return iter_status(bi, "iter_seek");
}

static int leveldb_bench_iter_next(struct bench_iter *bi)
{
	leveldb_iter_next(bi->it);
	return iter_status(bi, "iter_next");
}

static bool leveldb_bench_iter_entry(struct bench_iter *bi, size_t *klen, size_t *vlen)
{
	if (!leveldb_iter_valid(bi->it))
		return false;
	leveldb_iter_key(bi->it, klen);
	leveldb_iter_value(bi->it, vlen);
	return true;
}

/* CompactRange flushes the MemTable first and reports no status. */
static int leveldb_bench_compact(struct bench_db *b)
{
	leveldb_compact_range(b->db, NULL, 0, NULL, 0);
	return 0;
}

const struct bench_engine bench_leveldb = {
	.name = name,
	.describe = leveldb_bench_describe,
	.open = leveldb_bench_open,
	.close = leveldb_bench_close,
	.put = leveldb_bench_put,
	.finish = NULL,
	.get = leveldb_bench_get,
	.iter_new = leveldb_bench_iter_new,
	.iter_free = leveldb_bench_iter_free,
	.iter_seek = leveldb_bench_iter_seek,
	.iter_next = leveldb_bench_iter_next,
	.iter_entry = leveldb_bench_iter_entry,
	.compact = leveldb_bench_compact,
};
