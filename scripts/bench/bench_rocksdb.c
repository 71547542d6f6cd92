/*
 * bench_rocksdb.c — hdb-bench adapter for RocksDB through its C API.
 *
 * Settings: the shared budgets (32 MiB LRU block cache, 64 MiB write
 * buffer, Bloom filter of 10 bits per key) and RocksDB's defaults for the
 * rest: its default compression (snappy when built with it), 4 KiB blocks,
 * two background jobs, no WAL fsync unless a write asks for it.
 */
#include <stdio.h>
#include <stdlib.h>

#include <rocksdb/c.h>

#include "bench.h"

#ifndef BENCH_ROCKSDB_VERSION
#define BENCH_ROCKSDB_VERSION "unknown"
#endif

static const char name[] = "rocksdb";

struct bench_db {
	rocksdb_t *db;
	rocksdb_cache_t *cache;     /* our reference; the table options hold another */
	rocksdb_readoptions_t *ro;
	rocksdb_writeoptions_t *wo;      /* sync = false */
	rocksdb_writeoptions_t *wo_sync; /* sync = true */
};

struct bench_iter {
	rocksdb_iterator_t *it;
};

/* RocksDB reports failures as a malloc'd string in *err. */
static int fail(const char *op, char *err)
{
	bench_error(name, op, err);
	rocksdb_free(err);
	return -1;
}

static const char *compression_name(int type)
{
	static const char *const names[] = {
		"none", "snappy", "zlib", "bzip2", "lz4", "lz4hc", "xpress", "zstd",
	};

	if (type < 0 || type >= (int)(sizeof(names) / sizeof(names[0])))
		return "other";
	return names[type];
}

static void rocksdb_bench_describe(char *buf, size_t len)
{
	rocksdb_options_t *opt = rocksdb_options_create();
	int compression = opt ? rocksdb_options_get_compression(opt) : -1;

	snprintf(buf, len,
		 "RocksDB %s: block cache %u MiB (LRU), write buffer %u MiB, Bloom %d bits/key, "
		 "%s (default), 4 KiB blocks (default), default background jobs, "
		 "no WAL fsync except WriteOptions.sync for fillsync",
		 BENCH_ROCKSDB_VERSION, BENCH_CACHE_BYTES >> 20, BENCH_WRITE_BUFFER_BYTES >> 20,
		 BENCH_BLOOM_BITS, compression_name(compression));
	if (opt)
		rocksdb_options_destroy(opt);
}

static void free_handle(struct bench_db *b)
{
	if (b->db)
		rocksdb_close(b->db);
	if (b->cache)
		rocksdb_cache_destroy(b->cache);
	if (b->ro)
		rocksdb_readoptions_destroy(b->ro);
	if (b->wo)
		rocksdb_writeoptions_destroy(b->wo);
	if (b->wo_sync)
		rocksdb_writeoptions_destroy(b->wo_sync);
	free(b);
}

/* Options are copied by rocksdb_open; the filter policy passes to the table
 * options, which rocksdb_options_set_block_based_table_factory copies. */
static rocksdb_options_t *make_options(rocksdb_cache_t *cache)
{
	rocksdb_block_based_table_options_t *table;
	rocksdb_options_t *opt;

	opt = rocksdb_options_create();
	table = rocksdb_block_based_options_create();
	if (!opt || !table)
		goto out;
	rocksdb_block_based_options_set_block_cache(table, cache);
	rocksdb_block_based_options_set_filter_policy(table,
						      rocksdb_filterpolicy_create_bloom(BENCH_BLOOM_BITS));
	rocksdb_options_set_block_based_table_factory(opt, table);
	rocksdb_options_set_create_if_missing(opt, 1);
	rocksdb_options_set_write_buffer_size(opt, BENCH_WRITE_BUFFER_BYTES);
out:
	if (table)
		rocksdb_block_based_options_destroy(table);
	if (opt && !table) {
		rocksdb_options_destroy(opt);
		opt = NULL;
	}
	return opt;
}

static int rocksdb_bench_open(const char *dir, struct bench_db **out)
{
	rocksdb_options_t *opt = NULL;
	struct bench_db *b;
	char *err = NULL;

	b = calloc(1, sizeof(*b));
	if (!b)
		return bench_error(name, "open", "out of memory");
	b->cache = rocksdb_cache_create_lru(BENCH_CACHE_BYTES);
	b->ro = rocksdb_readoptions_create();
	b->wo = rocksdb_writeoptions_create();
	b->wo_sync = rocksdb_writeoptions_create();
	if (b->cache)
		opt = make_options(b->cache);
	if (!opt || !b->ro || !b->wo || !b->wo_sync) {
		free_handle(b);
		return bench_error(name, "open", "out of memory");
	}
	rocksdb_writeoptions_set_sync(b->wo, 0);
	rocksdb_writeoptions_set_sync(b->wo_sync, 1);

	b->db = rocksdb_open(opt, dir, &err);
	rocksdb_options_destroy(opt);
	if (err) {
		free_handle(b);
		return fail("open", err);
	}
	*out = b;
	return 0;
}

static int rocksdb_bench_close(struct bench_db *b)
{
	free_handle(b);
	return 0;
}

static int rocksdb_bench_put(struct bench_db *b, const char *key, size_t klen,
			     const char *val, size_t vlen, bool sync)
{
	char *err = NULL;

	rocksdb_put(b->db, sync ? b->wo_sync : b->wo, key, klen, val, vlen, &err);
	return err ? fail("put", err) : 0;
}

/* rocksdb_get copies the value into a malloc'd buffer, as hybriddb and
 * LevelDB do, so every engine pays for one copy. */
static int rocksdb_bench_get(struct bench_db *b, const char *key, size_t klen, size_t *vlen)
{
	char *err = NULL;
	char *val;

	val = rocksdb_get(b->db, b->ro, key, klen, vlen, &err);
	if (err)
		return fail("get", err);
	if (!val)
		return 0;
	rocksdb_free(val);
	return 1;
}

static int rocksdb_bench_iter_new(struct bench_db *b, struct bench_iter **out)
{
	struct bench_iter *bi;

	bi = calloc(1, sizeof(*bi));
	if (!bi)
		return bench_error(name, "iter_new", "out of memory");
	bi->it = rocksdb_create_iterator(b->db, b->ro);
	if (!bi->it) {
		free(bi);
		return bench_error(name, "iter_new", "out of memory");
	}
	*out = bi;
	return 0;
}

static void rocksdb_bench_iter_free(struct bench_iter *bi)
{
	rocksdb_iter_destroy(bi->it);
	free(bi);
}

static int iter_status(struct bench_iter *bi, const char *op)
{
	char *err = NULL;

	if (rocksdb_iter_valid(bi->it))
		return 0;
	rocksdb_iter_get_error(bi->it, &err);
	return err ? fail(op, err) : 0;
}

static int rocksdb_bench_iter_seek(struct bench_iter *bi, const char *key, size_t klen)
{
	if (key)
		rocksdb_iter_seek(bi->it, key, klen);
	else
		rocksdb_iter_seek_to_first(bi->it);
	return iter_status(bi, "iter_seek");
}

static int rocksdb_bench_iter_next(struct bench_iter *bi)
{
	rocksdb_iter_next(bi->it);
	return iter_status(bi, "iter_next");
}

static bool rocksdb_bench_iter_entry(struct bench_iter *bi, size_t *klen, size_t *vlen)
{
	if (!rocksdb_iter_valid(bi->it))
		return false;
	rocksdb_iter_key(bi->it, klen);
	rocksdb_iter_value(bi->it, vlen);
	return true;
}

/* CompactRange flushes the MemTable first and reports no status. */
static int rocksdb_bench_compact(struct bench_db *b)
{
	rocksdb_compact_range(b->db, NULL, 0, NULL, 0);
	return 0;
}

const struct bench_engine bench_rocksdb = {
	.name = name,
	.describe = rocksdb_bench_describe,
	.open = rocksdb_bench_open,
	.close = rocksdb_bench_close,
	.put = rocksdb_bench_put,
	.finish = NULL,
	.get = rocksdb_bench_get,
	.iter_new = rocksdb_bench_iter_new,
	.iter_free = rocksdb_bench_iter_free,
	.iter_seek = rocksdb_bench_iter_seek,
	.iter_next = rocksdb_bench_iter_next,
	.iter_entry = rocksdb_bench_iter_entry,
	.compact = rocksdb_bench_compact,
};
