/*
 * test_sst.c — SSTable builder and reader: point reads, iteration and
 * seeks with and without compression, versions and tombstones, the block
 * cache, and corruption of data, index, footer and length.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "block.h"
#include "cache.h"
#include "db_fixture.h"
#include "env.h"
#include "hybriddb.h"
#include "memtable.h"
#include "sst.h"
#include "sst_format.h"

#include <zlib.h>

#define MAXSEQ HDB_MAX_SEQ

struct sst_fixture {
	char dir[64];
	char path[128]; /* dir/000007.sst */
	hdb_cache *cache;
};

static int setup(void **state)
{
	struct sst_fixture *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	if (db_fixture_mkdtemp(f->dir, sizeof(f->dir)))
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/000007.sst", f->dir);
	f->cache = hdb_cache_new(64 << 20);
	if (!f->cache)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct sst_fixture *f = *state;
	db_fixture_rm_tree(f->dir);
	hdb_cache_free(f->cache);
	free(f);
	return 0;
}

static hdb_sst_options opts(bool compression, size_t block_size)
{
	return (hdb_sst_options){
		.block_size = block_size,
		.restart_interval = 16,
		.compression = compression,
		.compression_level = 1,
		.bloom_bits_per_key = 10,
	};
}

static size_t ukey_of(char *buf, size_t n, int i)
{
	return (size_t)snprintf(buf, n, "user%08d", i);
}

/* Compressible values of varying length. */
static size_t val_of(char *buf, size_t n, int i)
{
	return (size_t)snprintf(buf, n, "value-%d-%.*s", i, i % 40, "abcabcabcabcabcabcabcabcabcabcabcabcabcabc");
}

static size_t ikey_of(uint8_t *buf, const void *ukey, size_t n, uint64_t seq, enum hdb_vtype t)
{
	memcpy(buf, ukey, n);
	hdb_put_u64(buf + n, hdb_tag(seq, t));
	return n + HDB_TAG_SIZE;
}

static void add(hdb_sst_builder *b, const char *ukey, uint64_t seq, enum hdb_vtype t, const void *v,
                size_t vn)
{
	uint8_t ik[256];
	size_t kn = ikey_of(ik, ukey, strlen(ukey), seq, t);
	assert_int_equal(hdb_sst_builder_add(b, ik, kn, v, vn), 0);
}

/* Table of n keys user%08d, key i at sequence i + 1. */
static uint64_t build_n(const char *path, int n, const hdb_sst_options *o)
{
	hdb_sst_builder *b;
	assert_int_equal(hdb_sst_builder_new(hdb_env_posix(), path, o, &b), 0);
	for (int i = 0; i < n; i++) {
		char k[32], v[64];
		ukey_of(k, sizeof(k), i);
		size_t vn = val_of(v, sizeof(v), i);
		add(b, k, (uint64_t)i + 1, HDB_TYPE_VALUE, v, vn);
	}
	assert_int_equal(hdb_sst_builder_entries(b), (uint64_t)n);
	uint64_t size;
	assert_int_equal(hdb_sst_builder_finish(b, &size), 0);
	hdb_sst_builder_free(b);
	return size;
}

static hdb_sst_reader *open_ok(struct sst_fixture *f, bool cached)
{
	hdb_sst_reader *r;
	assert_int_equal(hdb_sst_open(f->path, 7, cached ? f->cache : NULL, &r), 0);
	return r;
}

static void expect_found(hdb_sst_reader *r, int i, bool fill, hdb_sst_counters *c)
{
	char k[32], v[64];
	size_t kn = ukey_of(k, sizeof(k), i), vn = val_of(v, sizeof(v), i);
	void *got = NULL;
	size_t gn = 0;
	assert_int_equal(hdb_sst_get(r, k, kn, MAXSEQ, &got, &gn, fill, c), HDB_LOOKUP_FOUND);
	assert_int_equal(gn, vn);
	assert_memory_equal(got, v, vn);
	free(got);
}

static void expect_entry(hdb_iiter *it, int i)
{
	char k[32], v[64];
	size_t kn = ukey_of(k, sizeof(k), i), vn = val_of(v, sizeof(v), i);
	assert_true(hdb_iiter_valid(it));
	hdb_slice ks = hdb_iiter_key(it), vs = hdb_iiter_value(it);
	assert_int_equal(ks.len, kn + HDB_TAG_SIZE);
	assert_memory_equal(ks.data, k, kn);
	assert_int_equal(hdb_ikey_seq(ks.data, ks.len), (uint64_t)i + 1);
	assert_int_equal(hdb_ikey_type(ks.data, ks.len), HDB_TYPE_VALUE);
	assert_int_equal(vs.len, vn);
	assert_memory_equal(vs.data, v, vn);
}

/* The data block handles of a table, read with the format's own helpers. */
static size_t data_blocks(const char *path, hdb_sst_handle *hs, size_t max)
{
	uint8_t *file;
	size_t len, n = 0;
	hdb_sst_footer foot;
	assert_int_equal(hdb_read_file(path, &file, &len), 0);
	assert_true(len >= HDB_SST_FOOTER_SIZE);
	hdb_sst_footer_decode(file + len - HDB_SST_FOOTER_SIZE, &foot);
	hdb_iiter *ix = hdb_block_iter_new(file + foot.index.offset, foot.index.size, hdb_ikey_cmp_fn,
	                                   NULL, NULL, NULL, 0);
	assert_non_null(ix);
	for (hdb_iiter_seek_first(ix); hdb_iiter_valid(ix) && n < max; hdb_iiter_next(ix))
		assert_true(hdb_sst_handle_decode(hdb_iiter_value(ix), &hs[n++]));
	assert_int_equal(hdb_iiter_status(ix), 0);
	hdb_iiter_destroy(ix);
	free(file);
	return n;
}

static hdb_sst_footer footer_of(const char *path)
{
	uint8_t *file;
	size_t len;
	hdb_sst_footer foot;
	assert_int_equal(hdb_read_file(path, &file, &len), 0);
	hdb_sst_footer_decode(file + len - HDB_SST_FOOTER_SIZE, &foot);
	free(file);
	return foot;
}

static void flip_byte(const char *path, uint64_t off)
{
	int fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	uint8_t c;
	assert_int_equal(pread(fd, &c, 1, (off_t)off), 1);
	c ^= 0x5a;
	assert_int_equal(pwrite(fd, &c, 1, (off_t)off), 1);
	close(fd);
}

static void expect_detail(const char *file, uint64_t off)
{
	char want[96];
	snprintf(want, sizeof(want), "%s offset %llu:", file, (unsigned long long)off);
	assert_non_null(strstr(hdb_errdetail(), want));
}

/*
 * Reading back what was written.
 */

static void test_sst_get_finds_every_key_uncompressed(void **state)
{
	struct sst_fixture *f = *state;
	hdb_sst_options o = opts(false, 0);
	const int n = 100000;
	uint64_t size = build_n(f->path, n, &o);
	hdb_sst_reader *r = open_ok(f, false);
	assert_int_equal(hdb_sst_entries(r), (uint64_t)n);
	assert_int_equal(hdb_sst_file_size(r), size);
	for (int i = 0; i < n; i++)
		expect_found(r, i, true, NULL);
	hdb_sst_unref(r);
}

static void test_sst_get_finds_every_key_compressed(void **state)
{
	struct sst_fixture *f = *state;
	hdb_sst_options o = opts(true, 0);
	const int n = 100000;
	build_n(f->path, n, &o);
	hdb_sst_reader *r = open_ok(f, true);
	hdb_sst_counters c = { 0 };
	for (int i = 0; i < n; i++)
		expect_found(r, i, true, &c);
	assert_true(c.cache_misses > 0);
	assert_true(c.cache_hits > c.cache_misses);
	hdb_sst_unref(r);
}

static void test_sst_compression_shrinks_file(void **state)
{
	struct sst_fixture *f = *state;
	hdb_sst_options raw = opts(false, 0), z = opts(true, 0);
	uint64_t raw_size = build_n(f->path, 20000, &raw);
	char zpath[160];
	snprintf(zpath, sizeof(zpath), "%s/000008.sst", f->dir);
	uint64_t z_size = build_n(zpath, 20000, &z);
	assert_true(z_size < raw_size / 2);
}

static void iterate_all(struct sst_fixture *f, bool compression, bool cached)
{
	hdb_sst_options o = opts(compression, 0);
	const int n = 100000;
	build_n(f->path, n, &o);
	hdb_sst_reader *r = open_ok(f, cached);
	hdb_iiter *it = hdb_sst_iter_new(r, true);
	assert_non_null(it);
	int i = 0;
	for (hdb_iiter_seek_first(it); hdb_iiter_valid(it); hdb_iiter_next(it))
		expect_entry(it, i++);
	assert_int_equal(i, n);
	assert_int_equal(hdb_iiter_status(it), 0);
	hdb_iiter_destroy(it);
	hdb_sst_unref(r);
}

static void test_sst_iter_returns_all_entries_uncompressed(void **state)
{
	iterate_all(*state, false, false);
}

static void test_sst_iter_returns_all_entries_compressed(void **state)
{
	iterate_all(*state, true, true);
}

static void test_sst_iter_returns_all_entries_compressed_without_cache(void **state)
{
	iterate_all(*state, true, false);
}

/* Resident bytes of this process's mapping of path (/proc/self/smaps). */
static uint64_t mapped_rss(const char *path)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	assert_non_null(f);
	char line[512];
	bool in = false;
	uint64_t kb = 0;
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;
		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2) /* a mapping's first line */
			in = strstr(line, path) != NULL;
		unsigned long long v;
		if (in && sscanf(line, "Rss: %llu kB", &v) == 1)
			kb += v;
	}
	fclose(f);
	return kb * 1024;
}

/* A compressed table of 100000 keys without a filter (only the index
 * stays in use), opened uncached; *size gets its size. */
static hdb_sst_reader *open_unfiltered(struct sst_fixture *f, uint64_t *size)
{
	hdb_sst_options o = opts(true, 0);
	o.bloom_bits_per_key = 0;
	*size = build_n(f->path, 100000, &o);
	return open_ok(f, false);
}

/* Drops r; fails when more than size / div of its table was resident. */
static void unref_expecting_unmapped(struct sst_fixture *f, hdb_sst_reader *r, uint64_t size, uint64_t div,
                                     const char *after)
{
	uint64_t rss = mapped_rss(f->path);
	hdb_sst_unref(r);
	if (rss > size / div)
		fail_msg("%llu of the table's %llu bytes still resident after %s", (unsigned long long)rss,
		         (unsigned long long)size, after);
}

/* A scan inflates every block; the mapped bytes it read must not stay in
 * the process's resident set (a daemon would grow by every table it
 * compacts). */
static void test_sst_scan_leaves_no_data_pages_resident(void **state)
{
	struct sst_fixture *f = *state;
	uint64_t size;
	hdb_sst_reader *r = open_unfiltered(f, &size);
	hdb_iiter *it = hdb_sst_iter_new(r, false);
	assert_non_null(it);
	int i = 0;
	for (hdb_iiter_seek_first(it); hdb_iiter_valid(it); hdb_iiter_next(it))
		expect_entry(it, i++);
	assert_int_equal(i, 100000);
	assert_int_equal(hdb_iiter_status(it), 0);
	hdb_iiter_destroy(it);
	unref_expecting_unmapped(f, r, size, 8, "the scan");
}

/* Point reads inflate blocks too: after every 16th, the reader drops what
 * the reads mapped (32 reads spread over the table here). */
static void test_sst_point_reads_leave_few_pages_resident(void **state)
{
	struct sst_fixture *f = *state;
	uint64_t size;
	hdb_sst_reader *r = open_unfiltered(f, &size);
	for (int i = 0; i < 32; i++)
		expect_found(r, i * 3121, false, NULL);
	unref_expecting_unmapped(f, r, size, 4, "point reads");
}

static void test_sst_seek_lands_on_first_key_at_or_after(void **state)
{
	struct sst_fixture *f = *state;
	hdb_sst_options o = opts(true, 4096);
	const int n = 20000;
	build_n(f->path, n, &o);
	hdb_sst_reader *r = open_ok(f, true);
	hdb_iiter *it = hdb_sst_iter_new(r, true);
	assert_non_null(it);
	for (int i = 0; i < n; i += 7) {
		char k[32];
		uint8_t ik[64];
		size_t kn = ukey_of(k, sizeof(k), i);
		/* Exactly the newest version. */
		hdb_iiter_seek(it, ik, ikey_of(ik, k, kn, MAXSEQ, HDB_TYPE_SEEK));
		expect_entry(it, i);
		/* Just after key i's user key: lands on i + 1. */
		k[kn] = '\0';
		hdb_iiter_seek(it, ik, ikey_of(ik, k, kn + 1, MAXSEQ, HDB_TYPE_SEEK));
		if (i + 1 < n)
			expect_entry(it, i + 1);
		else
			assert_false(hdb_iiter_valid(it));
		/* Below key i's sequence: past its only version. */
		hdb_iiter_seek(it, ik, ikey_of(ik, k, kn, (uint64_t)i, HDB_TYPE_SEEK));
		if (i + 1 < n)
			expect_entry(it, i + 1);
	}
	hdb_iiter_seek(it, (const uint8_t *)"zzzzzzzzzzzz", 12);
	assert_false(hdb_iiter_valid(it));
	assert_int_equal(hdb_iiter_status(it), 0);
	hdb_iiter_seek(it, (const uint8_t *)"a\0\0\0\0\0\0\0\0", 9);
	expect_entry(it, 0);
	hdb_iiter_destroy(it);
	hdb_sst_unref(r);
}

static void test_sst_absent_keys_are_answered_by_bloom(void **state)
{
	struct sst_fixture *f = *state;
	hdb_sst_options o = opts(false, 0);
	build_n(f->path, 10000, &o);
	hdb_sst_reader *r = open_ok(f, false);
	hdb_sst_counters c = { 0 };
	for (int i = 0; i < 1000; i++) {
		char k[32];
		size_t kn = (size_t)snprintf(k, sizeof(k), "absent%d", i);
		void *v = NULL;
		size_t vn;
		assert_int_equal(hdb_sst_get(r, k, kn, MAXSEQ, &v, &vn, true, &c), HDB_LOOKUP_ABSENT);
		assert_null(v);
	}
	assert_true(c.bloom_negative >= 970);
	assert_true(c.bloom_negative <= 1000);
	hdb_sst_unref(r);
}

static void test_sst_absent_keys_without_filter_are_absent(void **state)
{
	struct sst_fixture *f = *state;
	hdb_sst_options o = opts(false, 0);
	o.bloom_bits_per_key = 0;
	build_n(f->path, 10000, &o);
	assert_int_equal(footer_of(f->path).filter.size, 0);
	hdb_sst_reader *r = open_ok(f, false);
	hdb_sst_counters c = { 0 };
	for (int i = 0; i < 10000; i += 3) {
		char k[32];
		size_t kn = ukey_of(k, sizeof(k), i);
		k[kn++] = '!';
		void *v;
		size_t vn;
		assert_int_equal(hdb_sst_get(r, k, kn, MAXSEQ, &v, &vn, true, &c), HDB_LOOKUP_ABSENT);
		expect_found(r, i, true, &c);
	}
	assert_int_equal(c.bloom_negative, 0);
	hdb_sst_unref(r);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* Hex keys differ early, so the index holds shortened separators: every
 * key and every gap between keys must still resolve exactly. */
static void test_sst_shortened_separators_keep_reads_exact(void **state)
{
	struct sst_fixture *f = *state;
	hdb_sst_options o = opts(false, 1024);
	enum { N = 20000 };
	static char keys[N][12];
	for (uint32_t i = 0; i < N; i++)
		snprintf(keys[i], sizeof(keys[i]), "%08x", i * 2654435761u);
	qsort(keys, N, sizeof(keys[0]), cmp_str);

	hdb_sst_builder *b;
	assert_int_equal(hdb_sst_builder_new(hdb_env_posix(), f->path, &o, &b), 0);
	for (int i = 0; i < N; i++)
		add(b, keys[i], 5, HDB_TYPE_VALUE, keys[i], 8);
	assert_int_equal(hdb_sst_builder_finish(b, NULL), 0);
	hdb_sst_builder_free(b);

	hdb_sst_reader *r = open_ok(f, false);
	hdb_iiter *it = hdb_sst_iter_new(r, false);
	assert_non_null(it);
	for (int i = 0; i < N; i++) {
		void *v;
		size_t vn;
		assert_int_equal(hdb_sst_get(r, keys[i], 8, MAXSEQ, &v, &vn, false, NULL), HDB_LOOKUP_FOUND);
		assert_int_equal(vn, 8);
		assert_memory_equal(v, keys[i], 8);
		free(v);
		/* keys[i] ‖ "~" sorts between keys[i] and keys[i + 1]. */
		char gap[9];
		memcpy(gap, keys[i], 8);
		gap[8] = '~';
		assert_int_equal(hdb_sst_get(r, gap, 9, MAXSEQ, &v, &vn, false, NULL), HDB_LOOKUP_ABSENT);
		uint8_t ik[32];
		hdb_iiter_seek(it, ik, ikey_of(ik, gap, 9, MAXSEQ, HDB_TYPE_SEEK));
		if (i + 1 == N) {
			assert_false(hdb_iiter_valid(it));
			continue;
		}
		assert_true(hdb_iiter_valid(it));
		assert_memory_equal(hdb_iiter_key(it).data, keys[i + 1], 8);
	}
	assert_int_equal(hdb_iiter_status(it), 0);
	hdb_iiter_destroy(it);
	hdb_sst_unref(r);
}

/*
 * Versions and tombstones.
 */

/* "m" at even sequences 2..4000 (100-byte values: ~25 blocks of 4 KiB),
 * between "a" and "z". */
static void build_versions(const char *path, bool compression)
{
	hdb_sst_options o = opts(compression, 4096);
	hdb_sst_builder *b;
	char v[128];
	assert_int_equal(hdb_sst_builder_new(hdb_env_posix(), path, &o, &b), 0);
	add(b, "a", 1, HDB_TYPE_VALUE, "A", 1);
	for (int s = 4000; s >= 2; s -= 2) {
		int vn = snprintf(v, sizeof(v), "%0100d", s);
		add(b, "m", (uint64_t)s, HDB_TYPE_VALUE, v, (size_t)vn);
	}
	add(b, "z", 1, HDB_TYPE_VALUE, "Z", 1);
	assert_int_equal(hdb_sst_builder_finish(b, NULL), 0);
	hdb_sst_builder_free(b);
}

static void check_versions(struct sst_fixture *f, bool compression)
{
	build_versions(f->path, compression);
	hdb_sst_handle hs[64];
	assert_true(data_blocks(f->path, hs, 64) > 20);
	hdb_sst_reader *r = open_ok(f, compression);
	for (uint64_t s = 0; s <= 4001; s++) {
		void *v = NULL;
		size_t vn = 0;
		int rc = hdb_sst_get(r, "m", 1, s, &v, &vn, true, NULL);
		if (s < 2) {
			assert_int_equal(rc, HDB_LOOKUP_ABSENT);
			continue;
		}
		char want[128];
		snprintf(want, sizeof(want), "%0100d", (int)(s & ~(uint64_t)1));
		assert_int_equal(rc, HDB_LOOKUP_FOUND);
		assert_int_equal(vn, 100);
		assert_memory_equal(v, want, 100);
		free(v);
	}
	hdb_sst_unref(r);
}

static void test_sst_versions_across_blocks_resolve_by_sequence(void **state)
{
	check_versions(*state, false);
}

static void test_sst_versions_across_blocks_resolve_by_sequence_compressed(void **state)
{
	check_versions(*state, true);
}

static void test_sst_get_at_older_sequence_sees_older_version(void **state)
{
	struct sst_fixture *f = *state;
	hdb_sst_options o = opts(false, 0);
	hdb_sst_builder *b;
	assert_int_equal(hdb_sst_builder_new(hdb_env_posix(), f->path, &o, &b), 0);
	add(b, "a", 10, HDB_TYPE_VALUE, "new", 3);
	add(b, "a", 5, HDB_TYPE_VALUE, "old", 3);
	assert_int_equal(hdb_sst_builder_finish(b, NULL), 0);
	hdb_sst_builder_free(b);

	hdb_sst_reader *r = open_ok(f, false);
	void *v;
	size_t vn;
	assert_int_equal(hdb_sst_get(r, "a", 1, 7, &v, &vn, true, NULL), HDB_LOOKUP_FOUND);
	assert_int_equal(vn, 3);
	assert_memory_equal(v, "old", 3);
	free(v);
	assert_int_equal(hdb_sst_get(r, "a", 1, 10, &v, &vn, true, NULL), HDB_LOOKUP_FOUND);
	assert_memory_equal(v, "new", 3);
	free(v);
	assert_int_equal(hdb_sst_get(r, "a", 1, 4, &v, &vn, true, NULL), HDB_LOOKUP_ABSENT);
	hdb_sst_unref(r);
}

static void test_sst_tombstone_reads_as_deleted(void **state)
{
	struct sst_fixture *f = *state;
	hdb_sst_options o = opts(false, 0);
	hdb_sst_builder *b;
	assert_int_equal(hdb_sst_builder_new(hdb_env_posix(), f->path, &o, &b), 0);
	add(b, "a", 10, HDB_TYPE_DELETE, "", 0);
	add(b, "a", 5, HDB_TYPE_VALUE, "old", 3);
	add(b, "b", 3, HDB_TYPE_VALUE, "", 0);
	assert_int_equal(hdb_sst_builder_finish(b, NULL), 0);
	hdb_sst_builder_free(b);

	hdb_sst_reader *r = open_ok(f, false);
	void *v = NULL;
	size_t vn = 99;
	assert_int_equal(hdb_sst_get(r, "a", 1, MAXSEQ, &v, &vn, true, NULL), HDB_LOOKUP_DELETED);
	assert_null(v);
	assert_int_equal(hdb_sst_get(r, "a", 1, 9, &v, &vn, true, NULL), HDB_LOOKUP_FOUND);
	assert_memory_equal(v, "old", 3);
	free(v);
	/* An empty value is found, not confused with absence. */
	assert_int_equal(hdb_sst_get(r, "b", 1, MAXSEQ, &v, &vn, true, NULL), HDB_LOOKUP_FOUND);
	assert_int_equal(vn, 0);
	free(v);
	hdb_sst_unref(r);
}

static void test_sst_empty_table_has_no_entries(void **state)
{
	struct sst_fixture *f = *state;
	hdb_sst_options o = opts(true, 0);
	build_n(f->path, 0, &o);
	hdb_sst_reader *r = open_ok(f, true);
	assert_int_equal(hdb_sst_entries(r), 0);
	void *v;
	size_t vn;
	assert_int_equal(hdb_sst_get(r, "a", 1, MAXSEQ, &v, &vn, true, NULL), HDB_LOOKUP_ABSENT);
	hdb_iiter *it = hdb_sst_iter_new(r, true);
	assert_non_null(it);
	hdb_iiter_seek_first(it);
	assert_false(hdb_iiter_valid(it));
	assert_int_equal(hdb_iiter_status(it), 0);
	hdb_iiter_destroy(it);
	hdb_sst_unref(r);
	assert_int_equal(hdb_sst_check(f->path, NULL, NULL), 0);
}

static void test_sst_value_larger_than_a_block_round_trips(void **state)
{
	struct sst_fixture *f = *state;
	hdb_sst_options o = opts(true, 0);
	size_t big = 1 << 20;
	uint8_t *v = malloc(big);
	assert_non_null(v);
	for (size_t i = 0; i < big; i++)
		v[i] = (uint8_t)(i * 31 / 7);
	hdb_sst_builder *b;
	assert_int_equal(hdb_sst_builder_new(hdb_env_posix(), f->path, &o, &b), 0);
	add(b, "big", 1, HDB_TYPE_VALUE, v, big);
	add(b, "small", 1, HDB_TYPE_VALUE, "s", 1);
	assert_int_equal(hdb_sst_builder_finish(b, NULL), 0);
	hdb_sst_builder_free(b);

	hdb_sst_reader *r = open_ok(f, true);
	void *got;
	size_t gn;
	assert_int_equal(hdb_sst_get(r, "big", 3, MAXSEQ, &got, &gn, true, NULL), HDB_LOOKUP_FOUND);
	assert_int_equal(gn, big);
	assert_memory_equal(got, v, big);
	free(got);
	assert_int_equal(hdb_sst_get(r, "small", 5, MAXSEQ, &got, &gn, true, NULL), HDB_LOOKUP_FOUND);
	free(got);
	hdb_sst_unref(r);
	free(v);
}

/*
 * Cache, lifetime, builder.
 */

static void test_sst_second_get_hits_cache(void **state)
{
	struct sst_fixture *f = *state;
	hdb_sst_options o = opts(true, 0);
	build_n(f->path, 1000, &o);
	hdb_sst_reader *r = open_ok(f, true);
	hdb_sst_counters c = { 0 };
	expect_found(r, 500, true, &c);
	assert_int_equal(c.cache_misses, 1);
	assert_int_equal(c.cache_hits, 0);
	expect_found(r, 500, true, &c);
	assert_int_equal(c.cache_misses, 1);
	assert_int_equal(c.cache_hits, 1);
	hdb_cache_stats st;
	hdb_cache_get_stats(f->cache, &st);
	assert_int_equal(st.entries, 1);
	hdb_sst_unref(r);
}

static void test_sst_get_without_fill_cache_leaves_cache_empty(void **state)
{
	struct sst_fixture *f = *state;
	hdb_sst_options o = opts(true, 0);
	build_n(f->path, 1000, &o);
	hdb_sst_reader *r = open_ok(f, true);
	hdb_sst_counters c = { 0 };
	expect_found(r, 500, false, &c);
	expect_found(r, 500, false, &c);
	assert_int_equal(c.cache_misses, 2);
	hdb_cache_stats st;
	hdb_cache_get_stats(f->cache, &st);
	assert_int_equal(st.entries, 0);
	hdb_sst_unref(r);
}

static void test_sst_iter_keeps_reader_alive(void **state)
{
	struct sst_fixture *f = *state;
	hdb_sst_options o = opts(false, 0);
	build_n(f->path, 5000, &o);
	hdb_sst_reader *r = open_ok(f, false);
	hdb_iiter *it = hdb_sst_iter_new(r, false);
	assert_non_null(it);
	hdb_sst_unref(r);
	int i = 0;
	for (hdb_iiter_seek_first(it); hdb_iiter_valid(it); hdb_iiter_next(it))
		expect_entry(it, i++);
	assert_int_equal(i, 5000);
	hdb_iiter_destroy(it);
}

static void test_sst_builder_refuses_existing_file(void **state)
{
	struct sst_fixture *f = *state;
	hdb_sst_options o = opts(false, 0);
	build_n(f->path, 10, &o);
	hdb_sst_builder *b = NULL;
	assert_int_equal(hdb_sst_builder_new(hdb_env_posix(), f->path, &o, &b), -EEXIST);
	assert_null(b);
}

/* Uncompressed, the estimate counts each pending block at its final size,
 * so it never shrinks and never exceeds the file. */
static void test_sst_finish_size_matches_file(void **state)
{
	struct sst_fixture *f = *state;
	hdb_sst_options o = opts(false, 0);
	hdb_sst_builder *b;
	assert_int_equal(hdb_sst_builder_new(hdb_env_posix(), f->path, &o, &b), 0);
	uint64_t est = 0;
	for (int i = 0; i < 5000; i++) {
		char k[32], v[64];
		ukey_of(k, sizeof(k), i);
		add(b, k, (uint64_t)i + 1, HDB_TYPE_VALUE, v, val_of(v, sizeof(v), i));
		assert_true(hdb_sst_builder_size(b) >= est);
		est = hdb_sst_builder_size(b);
	}
	uint64_t size;
	assert_int_equal(hdb_sst_builder_finish(b, &size), 0);
	hdb_sst_builder_free(b);
	struct stat st;
	assert_int_equal(stat(f->path, &st), 0);
	assert_int_equal((uint64_t)st.st_size, size);
	assert_true(est <= size);
	hdb_sst_reader *r = open_ok(f, false);
	assert_true(hdb_sst_memory(r) >= strlen("000007.sst"));
	assert_true(hdb_sst_memory(r) < 4096);
	hdb_sst_unref(r);
}

/*
 * Corruption.
 */

/* Flips a byte in the middle of data block 1 and gets every key: the keys
 * of that block fail with a detail naming it, every other key still reads
 * correctly. */
static void check_flipped_data_block(struct sst_fixture *f, bool compression)
{
	hdb_sst_options o = opts(compression, 0);
	const int n = 5000;
	build_n(f->path, n, &o);
	hdb_sst_handle hs[64];
	assert_true(data_blocks(f->path, hs, 64) >= 3);
	flip_byte(f->path, hs[1].offset + hs[1].size / 2);

	hdb_sst_reader *r = open_ok(f, compression);
	int bad = 0;
	for (int i = 0; i < n; i++) {
		char k[32], v[64];
		size_t kn = ukey_of(k, sizeof(k), i), vn = val_of(v, sizeof(v), i);
		void *got;
		size_t gn;
		int rc = hdb_sst_get(r, k, kn, MAXSEQ, &got, &gn, true, NULL);
		if (rc == HDB_ECORRUPT) {
			expect_detail("000007.sst", hs[1].offset);
			assert_non_null(strstr(hdb_errdetail(), "checksum"));
			bad++;
			continue;
		}
		assert_int_equal(rc, HDB_LOOKUP_FOUND);
		assert_int_equal(gn, vn);
		assert_memory_equal(got, v, vn);
		free(got);
	}
	assert_true(bad > 10);
	assert_true(bad < n / 2);

	/* A scan stops at the block with the error. */
	hdb_iiter *it = hdb_sst_iter_new(r, true);
	assert_non_null(it);
	int i = 0;
	for (hdb_iiter_seek_first(it); hdb_iiter_valid(it); hdb_iiter_next(it))
		expect_entry(it, i++);
	assert_int_equal(hdb_iiter_status(it), HDB_ECORRUPT);
	expect_detail("000007.sst", hs[1].offset);
	assert_true(i > 0 && i < n);
	hdb_iiter_destroy(it);
	hdb_sst_unref(r);
}

static void test_sst_flipped_data_byte_is_corrupt(void **state)
{
	check_flipped_data_block(*state, false);
}

static void test_sst_flipped_data_byte_is_corrupt_compressed(void **state)
{
	check_flipped_data_block(*state, true);
}

static void test_sst_flipped_index_byte_fails_open(void **state)
{
	struct sst_fixture *f = *state;
	hdb_sst_options o = opts(false, 0);
	build_n(f->path, 5000, &o);
	hdb_sst_footer foot = footer_of(f->path);
	flip_byte(f->path, foot.index.offset + foot.index.size / 3);
	hdb_sst_reader *r = NULL;
	assert_int_equal(hdb_sst_open(f->path, 7, f->cache, &r), HDB_ECORRUPT);
	assert_null(r);
	expect_detail("000007.sst", foot.index.offset);
}

/* The filter only saves reads: a damaged one is left out at open, every
 * key is still found, and the check reports the damage. */
static void test_sst_flipped_filter_byte_opens_without_filter(void **state)
{
	struct sst_fixture *f = *state;
	hdb_sst_options o = opts(false, 0);
	build_n(f->path, 5000, &o);
	hdb_sst_footer foot = footer_of(f->path);
	assert_true(foot.filter.size > 0);
	flip_byte(f->path, foot.filter.offset + 1);
	hdb_sst_reader *r = NULL;
	assert_int_equal(hdb_sst_open(f->path, 7, NULL, &r), 0);
	for (int i = 0; i < 5000; i += 97) {
		char k[32];
		void *got;
		size_t gn;
		assert_int_equal(hdb_sst_get(r, k, ukey_of(k, sizeof(k), i), MAXSEQ, &got, &gn, true, NULL),
		                 HDB_LOOKUP_FOUND);
		free(got);
	}
	hdb_sst_unref(r);
	assert_int_equal(hdb_sst_check(f->path, NULL, NULL), HDB_ECORRUPT);
}

static void test_sst_flipped_footer_byte_fails_open(void **state)
{
	struct sst_fixture *f = *state;
	hdb_sst_options o = opts(false, 0);
	uint64_t size = build_n(f->path, 100, &o);
	uint64_t foot = size - HDB_SST_FOOTER_SIZE;
	for (uint64_t i = 0; i < HDB_SST_FOOTER_SIZE; i++) {
		flip_byte(f->path, foot + i);
		hdb_sst_reader *r = NULL;
		assert_int_equal(hdb_sst_open(f->path, 7, NULL, &r), HDB_ECORRUPT);
		assert_null(r);
		expect_detail("000007.sst", foot);
		flip_byte(f->path, foot + i);
	}
	hdb_sst_reader *r = open_ok(f, false);
	hdb_sst_unref(r);
}

static void test_sst_newer_version_is_eversion(void **state)
{
	struct sst_fixture *f = *state;
	hdb_sst_options o = opts(false, 0);
	uint64_t size = build_n(f->path, 100, &o);
	hdb_sst_footer foot = footer_of(f->path);
	foot.version = HDB_SST_VERSION + 1;
	uint8_t buf[HDB_SST_FOOTER_SIZE];
	hdb_sst_footer_encode(buf, &foot);
	int fd = open(f->path, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, buf, sizeof(buf), (off_t)(size - sizeof(buf))), (ssize_t)sizeof(buf));
	close(fd);
	hdb_sst_reader *r = NULL;
	assert_int_equal(hdb_sst_open(f->path, 7, NULL, &r), HDB_EVERSION);
	assert_null(r);
}

static void write_prefix(const char *path, const uint8_t *data, size_t n)
{
	FILE *fp = fopen(path, "wb");
	assert_non_null(fp);
	assert_int_equal(fwrite(data, 1, n, fp), n);
	assert_int_equal(fclose(fp), 0);
}

static void test_sst_truncated_file_is_corrupt(void **state)
{
	struct sst_fixture *f = *state;
	hdb_sst_options o = opts(true, 0);
	build_n(f->path, 5000, &o);
	uint8_t *file;
	size_t len;
	assert_int_equal(hdb_read_file(f->path, &file, &len), 0);
	char cut[160];
	snprintf(cut, sizeof(cut), "%s/000009.sst", f->dir);
	size_t lens[] = { 0, 1, 10, 55, 56, len / 2, len - 57, len - 56, len - 1 };
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		write_prefix(cut, file, lens[i]);
		hdb_sst_reader *r = NULL;
		assert_int_equal(hdb_sst_open(cut, 9, NULL, &r), HDB_ECORRUPT);
		assert_null(r);
		assert_non_null(strstr(hdb_errdetail(), "000009.sst offset "));
		assert_int_equal(hdb_sst_check(cut, NULL, NULL), HDB_ECORRUPT);
		unlink(cut);
	}
	free(file);
}

static void test_sst_missing_file_is_enoent(void **state)
{
	struct sst_fixture *f = *state;
	hdb_sst_reader *r = NULL;
	assert_int_equal(hdb_sst_open(f->path, 7, NULL, &r), -ENOENT);
	assert_int_equal(hdb_sst_check(f->path, NULL, NULL), -ENOENT);
}

/* Any single flipped byte anywhere is caught: open fails, or each read
 * returns the right bytes or HDB_ECORRUPT, and the check always fails. */
static void test_sst_random_flips_never_return_wrong_bytes(void **state)
{
	struct sst_fixture *f = *state;
	hdb_sst_options o = opts(true, 1024);
	const int n = 500;
	build_n(f->path, n, &o);
	uint8_t *file;
	size_t len;
	assert_int_equal(hdb_read_file(f->path, &file, &len), 0);
	hdb_sst_footer foot = footer_of(f->path);
	char path[160];
	snprintf(path, sizeof(path), "%s/000011.sst", f->dir);
	srand(99);
	int opened = 0;
	for (int round = 0; round < 300; round++) {
		size_t at = (size_t)rand() % len;
		uint8_t orig = file[at];
		file[at] ^= (uint8_t)(1 + rand() % 255);
		write_prefix(path, file, len);
		hdb_sst_reader *r = NULL;
		int rc = hdb_sst_open(path, 1000 + (uint64_t)round, f->cache, &r);
		if (rc == 0) {
			opened++;
			for (int i = 0; i < n; i++) {
				char k[32], v[64];
				size_t kn = ukey_of(k, sizeof(k), i), vn = val_of(v, sizeof(v), i);
				void *got;
				size_t gn;
				rc = hdb_sst_get(r, k, kn, MAXSEQ, &got, &gn, true, NULL);
				if (rc == HDB_ECORRUPT)
					continue;
				assert_int_equal(rc, HDB_LOOKUP_FOUND);
				assert_int_equal(gn, vn);
				assert_memory_equal(got, v, vn);
				free(got);
			}
			hdb_iiter *it = hdb_sst_iter_new(r, true);
			assert_non_null(it);
			int i = 0;
			for (hdb_iiter_seek_first(it); hdb_iiter_valid(it); hdb_iiter_next(it))
				expect_entry(it, i++);
			/* a damaged filter is left out: then every block is intact */
			bool in_filter = at >= foot.filter.offset &&
			                 at < foot.filter.offset + foot.filter.size + HDB_SST_BLOCK_TRAILER_SIZE;
			assert_int_equal(hdb_iiter_status(it), in_filter ? 0 : HDB_ECORRUPT);
			hdb_iiter_destroy(it);
			hdb_sst_unref(r);
		} else {
			assert_int_equal(rc, HDB_ECORRUPT);
		}
		assert_int_equal(hdb_sst_check(path, NULL, NULL), HDB_ECORRUPT);
		unlink(path);
		file[at] = orig;
	}
	assert_true(opened > 100);
	free(file);
}

/* What hdb_sst_check reported: how many problems, and the first one. */
struct reports {
	int n;
	char file[64];
	uint64_t offset;
	char what[128];
};

static void record(void *ctx, const char *file, uint64_t offset, const char *what)
{
	struct reports *rp = ctx;
	if (!rp->n++) {
		snprintf(rp->file, sizeof(rp->file), "%s", file);
		rp->offset = offset;
		snprintf(rp->what, sizeof(rp->what), "%s", what);
	}
}

/*
 * Hand-made tables: checksums that hold over contents that lie.
 */

static hdb_sst_handle raw_block(hdb_buf *file, const void *stored, size_t n, uint8_t type)
{
	hdb_sst_handle h = { file->len, n };
	uint8_t t[HDB_SST_BLOCK_TRAILER_SIZE] = { type };
	hdb_put_u32(t + 1, hdb_sst_block_crc(stored, n, type));
	assert_int_equal(hdb_buf_append(file, stored, n), 0);
	assert_int_equal(hdb_buf_append(file, t, sizeof(t)), 0);
	return h;
}

/* A block of (key, value) pairs in the order given, as the builder would
 * write them if it did not check the order. */
static hdb_sst_handle kv_block(hdb_buf *file, const char *const *keys, size_t n, uint64_t seq)
{
	hdb_block_builder *b = hdb_block_builder_new(16);
	assert_non_null(b);
	for (size_t i = 0; i < n; i++) {
		uint8_t ik[64];
		size_t kn = ikey_of(ik, keys[i], strlen(keys[i]), seq, HDB_TYPE_VALUE);
		assert_int_equal(hdb_block_builder_add(b, ik, kn, (const uint8_t *)"v", 1), 0);
	}
	hdb_slice c;
	assert_int_equal(hdb_block_builder_finish(b, &c), 0);
	hdb_sst_handle h = raw_block(file, c.data, c.len, HDB_SST_COMPRESS_NONE);
	hdb_block_builder_free(b);
	return h;
}

/* Appends a one-entry index (separator `sep`@seq -> h) and the footer. */
static void finish_table(const char *path, hdb_buf *file, const char *sep, uint64_t seq,
                         hdb_sst_handle h, uint64_t entries)
{
	hdb_block_builder *ix = hdb_block_builder_new(1);
	assert_non_null(ix);
	uint8_t ik[64], hv[HDB_SST_HANDLE_MAX];
	size_t kn = ikey_of(ik, sep, strlen(sep), seq, HDB_TYPE_VALUE);
	assert_int_equal(hdb_block_builder_add(ix, ik, kn, hv, hdb_sst_handle_encode(hv, &h)), 0);
	hdb_slice c;
	assert_int_equal(hdb_block_builder_finish(ix, &c), 0);
	hdb_sst_footer foot = { .entries = entries, .version = HDB_SST_VERSION };
	foot.index = raw_block(file, c.data, c.len, HDB_SST_COMPRESS_NONE);
	hdb_block_builder_free(ix);
	uint8_t fb[HDB_SST_FOOTER_SIZE];
	hdb_sst_footer_encode(fb, &foot);
	assert_int_equal(hdb_buf_append(file, fb, sizeof(fb)), 0);
	write_prefix(path, file->data, file->len);
	hdb_buf_free(file);
}

static void test_sst_check_reports_keys_out_of_order(void **state)
{
	struct sst_fixture *f = *state;
	hdb_buf file = { 0 };
	static const char *const keys[] = { "b", "a" };
	hdb_sst_handle h = kv_block(&file, keys, 2, 1);
	finish_table(f->path, &file, "b", 1, h, 2);
	struct reports rp = { 0 };
	assert_int_equal(hdb_sst_check(f->path, record, &rp), HDB_ECORRUPT);
	assert_int_equal(rp.n, 1);
	assert_int_equal(rp.offset, 0);
	assert_string_equal(rp.what, "keys out of order");
}

static void test_sst_check_reports_key_above_separator(void **state)
{
	struct sst_fixture *f = *state;
	hdb_buf file = { 0 };
	static const char *const keys[] = { "a", "c" };
	hdb_sst_handle h = kv_block(&file, keys, 2, 1);
	finish_table(f->path, &file, "b", 1, h, 2);
	struct reports rp = { 0 };
	assert_int_equal(hdb_sst_check(f->path, record, &rp), HDB_ECORRUPT);
	assert_int_equal(rp.n, 1);
	assert_string_equal(rp.what, "last key above its index separator");
}

static void test_sst_check_reports_entry_count_mismatch(void **state)
{
	struct sst_fixture *f = *state;
	hdb_buf file = { 0 };
	static const char *const keys[] = { "a", "b" };
	hdb_sst_handle h = kv_block(&file, keys, 2, 1);
	finish_table(f->path, &file, "b", 1, h, 3);
	struct reports rp = { 0 };
	assert_int_equal(hdb_sst_check(f->path, record, &rp), HDB_ECORRUPT);
	assert_int_equal(rp.n, 1);
	assert_string_equal(rp.what, "entry count differs from the footer");
}

static void test_sst_key_shorter_than_tag_is_corrupt(void **state)
{
	struct sst_fixture *f = *state;
	hdb_buf file = { 0 };
	hdb_block_builder *b = hdb_block_builder_new(16);
	assert_non_null(b);
	assert_int_equal(hdb_block_builder_add(b, (const uint8_t *)"abc", 3, (const uint8_t *)"v", 1), 0);
	hdb_slice c;
	assert_int_equal(hdb_block_builder_finish(b, &c), 0);
	hdb_sst_handle h = raw_block(&file, c.data, c.len, HDB_SST_COMPRESS_NONE);
	hdb_block_builder_free(b);
	finish_table(f->path, &file, "abc", 1, h, 1);

	hdb_sst_reader *r = open_ok(f, false);
	void *v;
	size_t vn;
	assert_int_equal(hdb_sst_get(r, "", 0, MAXSEQ, &v, &vn, true, NULL), HDB_ECORRUPT);
	expect_detail("000007.sst", 0);
	hdb_sst_unref(r);
	struct reports rp = { 0 };
	assert_int_equal(hdb_sst_check(f->path, record, &rp), HDB_ECORRUPT);
	assert_string_equal(rp.what, "internal key shorter than its tag");
}

static void test_sst_unknown_compression_type_is_corrupt(void **state)
{
	struct sst_fixture *f = *state;
	hdb_buf file = { 0 };
	hdb_sst_handle h = raw_block(&file, "whatever", 8, 7);
	finish_table(f->path, &file, "a", 1, h, 1);
	hdb_sst_reader *r = open_ok(f, true);
	void *v;
	size_t vn;
	assert_int_equal(hdb_sst_get(r, "a", 1, MAXSEQ, &v, &vn, true, NULL), HDB_ECORRUPT);
	expect_detail("000007.sst", 0);
	assert_non_null(strstr(hdb_errdetail(), "compression"));
	hdb_sst_unref(r);
}

/* A zlib block claiming `claimed` bytes that inflates to `real` bytes. */
static void zlib_table(struct sst_fixture *f, uint64_t claimed, size_t real)
{
	uint8_t *plain = calloc(1, real), out[4096];
	assert_non_null(plain);
	z_stream zs = { 0 };
	assert_int_equal(deflateInit2(&zs, 1, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY), Z_OK);
	size_t hn = hdb_put_varint(out, claimed);
	zs.next_in = plain;
	zs.avail_in = (uInt)real;
	zs.next_out = out + hn;
	zs.avail_out = (uInt)(sizeof(out) - hn);
	assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
	size_t n = hn + zs.total_out;
	deflateEnd(&zs);
	free(plain);
	hdb_buf file = { 0 };
	hdb_sst_handle h = raw_block(&file, out, n, HDB_SST_COMPRESS_ZLIB);
	finish_table(f->path, &file, "a", 1, h, 1);
}

static void expect_get_corrupt(struct sst_fixture *f, const char *what)
{
	hdb_sst_reader *r = open_ok(f, true);
	void *v;
	size_t vn;
	assert_int_equal(hdb_sst_get(r, "a", 1, MAXSEQ, &v, &vn, true, NULL), HDB_ECORRUPT);
	expect_detail("000007.sst", 0);
	assert_non_null(strstr(hdb_errdetail(), what));
	hdb_sst_unref(r);
	hdb_cache_stats st;
	hdb_cache_get_stats(f->cache, &st);
	assert_int_equal(st.entries, 0);
}

static void test_sst_inflated_length_shorter_than_claimed_is_corrupt(void **state)
{
	zlib_table(*state, 2000, 1000);
	expect_get_corrupt(*state, "inflate");
}

static void test_sst_inflated_length_longer_than_claimed_is_corrupt(void **state)
{
	zlib_table(*state, 1000, 2000);
	expect_get_corrupt(*state, "inflate");
}

static void test_sst_huge_claimed_length_is_corrupt(void **state)
{
	zlib_table(*state, UINT64_C(1) << 40, 1000);
	expect_get_corrupt(*state, "uncompressed block length");
}

static void test_sst_index_handle_out_of_range_is_corrupt(void **state)
{
	struct sst_fixture *f = *state;
	hdb_buf file = { 0 };
	static const char *const keys[] = { "a" };
	kv_block(&file, keys, 1, 1);
	hdb_sst_handle bogus = { 1u << 30, 100 };
	finish_table(f->path, &file, "a", 1, bogus, 1);
	hdb_sst_reader *r = open_ok(f, false);
	void *v;
	size_t vn;
	assert_int_equal(hdb_sst_get(r, "a", 1, MAXSEQ, &v, &vn, true, NULL), HDB_ECORRUPT);
	expect_detail("000007.sst", 1u << 30);
	assert_non_null(strstr(hdb_errdetail(), "out of range"));
	hdb_sst_unref(r);
}

/*
 * hdb_sst_check.
 */

static void test_sst_check_clean_table_reports_nothing(void **state)
{
	struct sst_fixture *f = *state;
	hdb_sst_options o = opts(true, 0);
	build_n(f->path, 20000, &o);
	struct reports rp = { 0 };
	assert_int_equal(hdb_sst_check(f->path, record, &rp), 0);
	assert_int_equal(rp.n, 0);
}

static void test_sst_check_clean_versions_table_reports_nothing(void **state)
{
	struct sst_fixture *f = *state;
	build_versions(f->path, true);
	struct reports rp = { 0 };
	assert_int_equal(hdb_sst_check(f->path, record, &rp), 0);
	assert_int_equal(rp.n, 0);
}

static void check_reports_block(struct sst_fixture *f, bool compression)
{
	hdb_sst_options o = opts(compression, 0);
	build_n(f->path, 20000, &o);
	hdb_sst_handle hs[256];
	size_t nb = data_blocks(f->path, hs, 256);
	assert_true(nb >= 4);
	flip_byte(f->path, hs[2].offset + 3);
	struct reports rp = { 0 };
	assert_int_equal(hdb_sst_check(f->path, record, &rp), HDB_ECORRUPT);
	/* The bad block, and the entry count it leaves short. */
	assert_int_equal(rp.n, 2);
	assert_string_equal(rp.file, "000007.sst");
	assert_int_equal(rp.offset, hs[2].offset);
	assert_string_equal(rp.what, "block checksum mismatch");
}

static void test_sst_check_reports_corrupt_block_offset(void **state)
{
	check_reports_block(*state, false);
}

static void test_sst_check_reports_corrupt_block_offset_compressed(void **state)
{
	check_reports_block(*state, true);
}

static void test_sst_check_reports_bad_footer(void **state)
{
	struct sst_fixture *f = *state;
	hdb_sst_options o = opts(false, 0);
	uint64_t size = build_n(f->path, 100, &o);
	flip_byte(f->path, size - 1);
	struct reports rp = { 0 };
	assert_int_equal(hdb_sst_check(f->path, record, &rp), HDB_ECORRUPT);
	assert_int_equal(rp.n, 1);
	assert_int_equal(rp.offset, size - HDB_SST_FOOTER_SIZE);
	assert_string_equal(rp.what, "bad table magic");
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_sst_get_finds_every_key_uncompressed),
		T(test_sst_get_finds_every_key_compressed),
		T(test_sst_compression_shrinks_file),
		T(test_sst_iter_returns_all_entries_uncompressed),
		T(test_sst_iter_returns_all_entries_compressed),
		T(test_sst_iter_returns_all_entries_compressed_without_cache),
		T(test_sst_scan_leaves_no_data_pages_resident),
		T(test_sst_point_reads_leave_few_pages_resident),
		T(test_sst_seek_lands_on_first_key_at_or_after),
		T(test_sst_absent_keys_are_answered_by_bloom),
		T(test_sst_absent_keys_without_filter_are_absent),
		T(test_sst_shortened_separators_keep_reads_exact),
		T(test_sst_versions_across_blocks_resolve_by_sequence),
		T(test_sst_versions_across_blocks_resolve_by_sequence_compressed),
		T(test_sst_get_at_older_sequence_sees_older_version),
		T(test_sst_tombstone_reads_as_deleted),
		T(test_sst_empty_table_has_no_entries),
		T(test_sst_value_larger_than_a_block_round_trips),
		T(test_sst_second_get_hits_cache),
		T(test_sst_get_without_fill_cache_leaves_cache_empty),
		T(test_sst_iter_keeps_reader_alive),
		T(test_sst_builder_refuses_existing_file),
		T(test_sst_finish_size_matches_file),
		T(test_sst_flipped_data_byte_is_corrupt),
		T(test_sst_flipped_data_byte_is_corrupt_compressed),
		T(test_sst_flipped_index_byte_fails_open),
		T(test_sst_flipped_filter_byte_opens_without_filter),
		T(test_sst_flipped_footer_byte_fails_open),
		T(test_sst_newer_version_is_eversion),
		T(test_sst_truncated_file_is_corrupt),
		T(test_sst_missing_file_is_enoent),
		T(test_sst_random_flips_never_return_wrong_bytes),
		T(test_sst_check_clean_table_reports_nothing),
		T(test_sst_check_clean_versions_table_reports_nothing),
		T(test_sst_check_reports_corrupt_block_offset),
		T(test_sst_check_reports_corrupt_block_offset_compressed),
		T(test_sst_check_reports_bad_footer),
		T(test_sst_check_reports_keys_out_of_order),
		T(test_sst_check_reports_key_above_separator),
		T(test_sst_check_reports_entry_count_mismatch),
		T(test_sst_key_shorter_than_tag_is_corrupt),
		T(test_sst_unknown_compression_type_is_corrupt),
		T(test_sst_inflated_length_shorter_than_claimed_is_corrupt),
		T(test_sst_inflated_length_longer_than_claimed_is_corrupt),
		T(test_sst_huge_claimed_length_is_corrupt),
		T(test_sst_index_handle_out_of_range_is_corrupt),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
