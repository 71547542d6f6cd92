/*
 * bench_hdb.c — hdb-bench adapter for hybriddb: default options with the
 * shared budgets (which are also hybriddb's defaults) set explicitly.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "hybriddb.h"

#ifndef BENCH_HDB_VERSION
#define BENCH_HDB_VERSION "unknown"
#endif

static const char name[] = "hybriddb";

struct bench_db {
	hdb_db *db;
};

struct bench_iter {
	hdb_iter *it;
};

static int fail(const char *op, int err)
{
	char msg[512];

	snprintf(msg, sizeof(msg), "%s %s", hdb_strerror(err), hdb_errdetail());
	return bench_error(name, op, msg);
}

static void set_options(hdb_options *opt)
{
	hdb_options_init(opt);
	opt->cache_size = BENCH_CACHE_BYTES;
	opt->memtable_size = BENCH_WRITE_BUFFER_BYTES;
	opt->bloom_bits_per_key = BENCH_BLOOM_BITS;
	/* For measuring the engine's own trade-offs; the default run uses
	 * the engine's defaults. */
	const char *bs = getenv("HDB_BENCH_BLOCK_SIZE");
	const char *comp = getenv("HDB_BENCH_COMPRESSION");
	if (bs && atol(bs) > 0)
		opt->block_size = (size_t)atol(bs);
	if (comp)
		opt->compression = strcmp(comp, "off") != 0;
}

static void hdb_bench_describe(char *buf, size_t len)
{
	hdb_options opt;

	set_options(&opt);
	snprintf(buf, len,
		 "hybriddb %s: cache %zu MiB, MemTable %zu MiB, Bloom %d bits/key, "
		 "zlib level %d, %zu KiB blocks, WAL fsync every %u ms "
		 "(the default policy; sync=true for fillsync), background compaction",
		 BENCH_HDB_VERSION, opt.cache_size >> 20, opt.memtable_size >> 20,
		 opt.bloom_bits_per_key, opt.compression ? opt.compression_level : 0,
		 opt.block_size >> 10, opt.sync_interval_ms);
}

static int hdb_bench_open(const char *dir, struct bench_db **out)
{
	hdb_options opt;
	struct bench_db *b;
	int err;

	b = calloc(1, sizeof(*b));
	if (!b)
		return bench_error(name, "open", "out of memory");
	set_options(&opt);
	err = hdb_open(dir, &opt, &b->db);
	if (err) {
		free(b);
		return fail("open", err);
	}
	*out = b;
	return 0;
}

static int hdb_bench_close(struct bench_db *b)
{
	int err = hdb_close(b->db);

	free(b);
	return err ? fail("close", err) : 0;
}

static int hdb_bench_put(struct bench_db *b, const char *key, size_t klen,
			 const char *val, size_t vlen, bool sync)
{
	int err = hdb_put(b->db, key, klen, val, vlen, sync);

	return err ? fail("put", err) : 0;
}

static int hdb_bench_get(struct bench_db *b, const char *key, size_t klen, size_t *vlen)
{
	void *val;
	int err;

	err = hdb_get(b->db, NULL, key, klen, &val, vlen);
	if (err == HDB_ENOTFOUND)
		return 0;
	if (err)
		return fail("get", err);
	free(val);
	return 1;
}

static int hdb_bench_iter_new(struct bench_db *b, struct bench_iter **out)
{
	hdb_read_options ro;
	struct bench_iter *bi;
	int err;

	bi = calloc(1, sizeof(*bi));
	if (!bi)
		return bench_error(name, "iter_new", "out of memory");
	hdb_read_options_init(&ro);
	err = hdb_iter_new(b->db, &ro, &bi->it);
	if (err) {
		free(bi);
		return fail("iter_new", err);
	}
	*out = bi;
	return 0;
}

static void hdb_bench_iter_free(struct bench_iter *bi)
{
	hdb_iter_free(bi->it);
	free(bi);
}

/* An iterator that stops early reports why only through its status. */
static int iter_status(struct bench_iter *bi, const char *op)
{
	int err;

	if (hdb_iter_valid(bi->it))
		return 0;
	err = hdb_iter_status(bi->it);
	return err ? fail(op, err) : 0;
}

static int hdb_bench_iter_seek(struct bench_iter *bi, const char *key, size_t klen)
{
	if (key)
		hdb_iter_seek(bi->it, key, klen);
	else
		hdb_iter_seek_first(bi->it);
	return iter_status(bi, "iter_seek");
}

static int hdb_bench_iter_next(struct bench_iter *bi)
{
	hdb_iter_next(bi->it);
	return iter_status(bi, "iter_next");
}

static bool hdb_bench_iter_entry(struct bench_iter *bi, size_t *klen, size_t *vlen)
{
	if (!hdb_iter_valid(bi->it))
		return false;
	hdb_iter_key(bi->it, klen);
	hdb_iter_value(bi->it, vlen);
	return true;
}

static int hdb_bench_compact(struct bench_db *b)
{
	int err = hdb_compact_range(b->db, NULL, 0, NULL, 0);

	return err ? fail("compact_range", err) : 0;
}

const struct bench_engine bench_hybriddb = {
	.name = name,
	.describe = hdb_bench_describe,
	.open = hdb_bench_open,
	.close = hdb_bench_close,
	.put = hdb_bench_put,
	.finish = NULL,
	.get = hdb_bench_get,
	.iter_new = hdb_bench_iter_new,
	.iter_free = hdb_bench_iter_free,
	.iter_seek = hdb_bench_iter_seek,
	.iter_next = hdb_bench_iter_next,
	.iter_entry = hdb_bench_iter_entry,
	.compact = hdb_bench_compact,
};
