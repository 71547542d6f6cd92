/*
 * test_version.c — version edits, versions (find_file, overlapping), the
 * level iterator and live files.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "errors.h"
#include "version.h"

/* ---- helpers ------------------------------------------------------------ */

/* A malloc'd internal key: ukey ‖ tag(seq, VALUE). */
static uint8_t *ikey(const char *ukey, uint64_t seq, size_t *n)
{
	hdb_buf b = { 0 };
	assert_int_equal(hdb_ikey_build(&b, ukey, strlen(ukey), seq, HDB_TYPE_VALUE), 0);
	*n = b.len;
	return b.data;
}

static hdb_fmeta *fmeta(uint64_t number, uint64_t size, const char *lo, const char *hi)
{
	size_t sn, ln;
	uint8_t *s = ikey(lo, 100, &sn), *l = ikey(hi, 1, &ln);
	hdb_fmeta *f = hdb_fmeta_new(number, size, s, sn, l, ln);
	assert_non_null(f);
	free(s);
	free(l);
	return f;
}

/* A version built by hand (no vset) holding refs to files at one level. */
static void hand_level(hdb_version *v, int level, hdb_fmeta **files, size_t n)
{
	v->files[level] = malloc(n * sizeof(*files));
	assert_non_null(v->files[level]);
	memcpy(v->files[level], files, n * sizeof(*files));
	v->nfiles[level] = n;
}

static hdb_version *hand_version(void)
{
	hdb_version *v = calloc(1, sizeof(*v));
	assert_non_null(v);
	v->refs = 1;
	return v;
}

static char *make_tmpdir(void)
{
	char tmpl[] = "/tmp/hdbtest.XXXXXX";
	char *d = mkdtemp(tmpl);
	assert_non_null(d);
	return strdup(d);
}

static void remove_tmpdir(char *dir)
{
	char **names;
	size_t n;
	assert_int_equal(hdb_list_dir(dir, &names, &n), 0);
	for (size_t i = 0; i < n; i++) {
		char p[4096];
		snprintf(p, sizeof(p), "%s/%s", dir, names[i]);
		unlink(p);
	}
	hdb_free_names(names, n);
	rmdir(dir);
	free(dir);
}

static const hdb_vset_options opts = {
	.l0_compaction_trigger = 4,
	.level1_max_bytes = 1000,
	.target_file_size = 100,
};

/* ---- version edits ------------------------------------------------------ */

static void fill_edit(hdb_vedit *e)
{
	hdb_vedit_init(e);
	e->has_log_number = true;
	e->log_number = 7;
	e->has_next_file = true;
	e->next_file = 300;
	e->has_last_seq = true;
	e->last_seq = UINT64_C(1) << 50;
	assert_int_equal(hdb_vedit_delete_file(e, 3, 17), 0);
	assert_int_equal(hdb_vedit_delete_file(e, 0, 200), 0);
	hdb_fmeta *f = fmeta(42, 123456, "apple", "pear");
	assert_int_equal(hdb_vedit_add_file(e, 6, f), 0);
	hdb_fmeta_unref(f);
	f = fmeta(43, 1, "", "z");
	assert_int_equal(hdb_vedit_add_file(e, 0, f), 0);
	hdb_fmeta_unref(f);
}

static void test_vedit_round_trip_keeps_every_field(void **state)
{
	hdb_vedit e, d;
	hdb_buf b = { 0 };
	fill_edit(&e);
	assert_int_equal(hdb_vedit_encode(&e, &b), 0);
	assert_int_equal(hdb_vedit_decode(&d, b.data, b.len, "MANIFEST-000001", 0), 0);
	assert_true(d.has_log_number && d.has_next_file && d.has_last_seq);
	assert_int_equal(d.log_number, 7);
	assert_int_equal(d.next_file, 300);
	assert_int_equal(d.last_seq, UINT64_C(1) << 50);
	assert_int_equal(d.ndeleted, 2);
	assert_int_equal(d.deleted[0].level, 3);
	assert_int_equal(d.deleted[0].number, 17);
	assert_int_equal(d.deleted[1].level, 0);
	assert_int_equal(d.deleted[1].number, 200);
	assert_int_equal(d.nadded, 2);
	for (size_t i = 0; i < 2; i++) {
		const hdb_fmeta *x = e.added[i].f, *y = d.added[i].f;
		assert_int_equal(d.added[i].level, e.added[i].level);
		assert_int_equal(y->number, x->number);
		assert_int_equal(y->size, x->size);
		assert_int_equal(y->smallest_len, x->smallest_len);
		assert_memory_equal(y->smallest, x->smallest, x->smallest_len);
		assert_int_equal(y->largest_len, x->largest_len);
		assert_memory_equal(y->largest, x->largest, x->largest_len);
		assert_int_equal(y->refs, 1);
	}
	hdb_buf_free(&b);
	hdb_vedit_free(&e);
	hdb_vedit_free(&d);
}

static void test_vedit_empty_encodes_to_nothing(void **state)
{
	hdb_vedit e, d;
	hdb_buf b = { 0 };
	hdb_vedit_init(&e);
	assert_int_equal(hdb_vedit_encode(&e, &b), 0);
	assert_int_equal(b.len, 0);
	assert_int_equal(hdb_vedit_decode(&d, (const uint8_t *)"", 0, "m", 0), 0);
	assert_false(d.has_log_number || d.has_next_file || d.has_last_seq);
	assert_int_equal(d.nadded + d.ndeleted, 0);
	hdb_vedit_free(&d);
}

/* Every prefix either decodes to a subset of the fields or is corrupt. */
static void test_vedit_truncation_at_every_offset_is_corrupt_or_clean(void **state)
{
	hdb_vedit e, d;
	hdb_buf b = { 0 };
	size_t corrupt = 0;
	fill_edit(&e);
	assert_int_equal(hdb_vedit_encode(&e, &b), 0);
	for (size_t n = 0; n < b.len; n++) {
		uint8_t *copy = malloc(n ? n : 1);
		assert_non_null(copy);
		memcpy(copy, b.data, n);
		int rc = hdb_vedit_decode(&d, copy, n, "m", 0);
		assert_true(rc == 0 || rc == HDB_ECORRUPT);
		if (rc)
			corrupt++;
		assert_true(d.nadded <= 2 && d.ndeleted <= 2);
		hdb_vedit_free(&d);
		free(copy);
	}
	/* Cutting inside the two added files alone gives dozens of failures. */
	assert_true(corrupt > 30);
	hdb_buf_free(&b);
	hdb_vedit_free(&e);
}

static void test_vedit_unknown_tag_is_corrupt_with_offset(void **state)
{
	const uint8_t bad[] = { 1, 5, 9, 1 }; /* log_number 5, then tag 9 */
	hdb_vedit d;
	assert_int_equal(hdb_vedit_decode(&d, bad, sizeof(bad), "MANIFEST-000004", 100), HDB_ECORRUPT);
	assert_string_equal(hdb_errdetail(), "MANIFEST-000004 offset 102: unknown field tag");
	assert_false(d.has_log_number);
}

static void test_vedit_level_out_of_range_is_corrupt(void **state)
{
	const uint8_t bad[] = { 4, HDB_MAX_LEVELS, 3 };
	hdb_vedit d;
	assert_int_equal(hdb_vedit_decode(&d, bad, sizeof(bad), "m", 0), HDB_ECORRUPT);
	assert_non_null(strstr(hdb_errdetail(), "level out of range"));
}

static void test_vedit_key_shorter_than_tag_is_corrupt(void **state)
{
	const uint8_t bad[] = { 5, 1, 9, 100, 3, 'a', 'b', 'c', 3, 'x', 'y', 'z' };
	hdb_vedit d;
	assert_int_equal(hdb_vedit_decode(&d, bad, sizeof(bad), "m", 0), HDB_ECORRUPT);
	assert_non_null(strstr(hdb_errdetail(), "shorter than its tag"));
}

static void test_vedit_smallest_above_largest_is_corrupt(void **state)
{
	hdb_vedit e, d;
	hdb_buf b = { 0 };
	size_t sn, ln;
	uint8_t *s = ikey("b", 1, &sn), *l = ikey("a", 1, &ln);
	hdb_vedit_init(&e);
	/* Encode by hand: hdb_fmeta_new does not judge key order. */
	hdb_fmeta *f = hdb_fmeta_new(9, 1, s, sn, l, ln);
	assert_non_null(f);
	assert_int_equal(hdb_vedit_add_file(&e, 1, f), 0);
	assert_int_equal(hdb_vedit_encode(&e, &b), 0);
	assert_int_equal(hdb_vedit_decode(&d, b.data, b.len, "m", 0), HDB_ECORRUPT);
	hdb_fmeta_unref(f);
	hdb_vedit_free(&e);
	hdb_buf_free(&b);
	free(s);
	free(l);
}

static void test_vedit_huge_key_length_is_corrupt(void **state)
{
	const uint8_t bad[] = { 5, 1, 9, 100, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01 };
	hdb_vedit d;
	assert_int_equal(hdb_vedit_decode(&d, bad, sizeof(bad), "m", 0), HDB_ECORRUPT);
	assert_non_null(strstr(hdb_errdetail(), "truncated key"));
}

static void test_vedit_add_file_takes_a_reference(void **state)
{
	hdb_vedit e;
	hdb_fmeta *f = fmeta(5, 10, "a", "b");
	hdb_vedit_init(&e);
	assert_int_equal(hdb_vedit_add_file(&e, 1, f), 0);
	assert_int_equal(f->refs, 2);
	hdb_vedit_free(&e);
	assert_int_equal(f->refs, 1);
	hdb_fmeta_unref(f);
}

/* ---- find_file and overlapping ------------------------------------------- */

/* L1: [b..d] #1, [f..h] #2, [k..m] #3. */
static hdb_version *three_file_version(void)
{
	hdb_version *v = hand_version();
	hdb_fmeta *files[] = { fmeta(1, 10, "b", "d"), fmeta(2, 20, "f", "h"), fmeta(3, 30, "k", "m") };
	hand_level(v, 1, files, 3);
	return v;
}

static void free_hand_version(hdb_version *v)
{
	for (int l = 0; l < HDB_MAX_LEVELS; l++) {
		for (size_t i = 0; i < v->nfiles[l]; i++)
			hdb_fmeta_unref(v->files[l][i]);
		free(v->files[l]);
	}
	free(v);
}

static size_t find(const hdb_version *v, const char *ukey, uint64_t seq)
{
	size_t n;
	uint8_t *k = ikey(ukey, seq, &n);
	size_t r = hdb_version_find_file(v, 1, k, n);
	free(k);
	return r;
}

static void test_version_find_file_returns_first_file_ending_at_or_after(void **state)
{
	hdb_version *v = three_file_version();
	assert_int_equal(find(v, "a", 5), 0);
	assert_int_equal(find(v, "d", 1), 0);  /* the largest key itself */
	assert_int_equal(find(v, "d", 0), 1);  /* older than the largest: past it */
	assert_int_equal(find(v, "e", 5), 1);
	assert_int_equal(find(v, "h", 5), 1);
	assert_int_equal(find(v, "j", 5), 2);
	assert_int_equal(find(v, "n", 5), 3);
	free_hand_version(v);
}

static void test_version_find_file_on_empty_level_is_zero(void **state)
{
	hdb_version *v = hand_version();
	size_t n;
	uint8_t *k = ikey("x", 1, &n);
	assert_int_equal(hdb_version_find_file(v, 2, k, n), 0);
	free(k);
	free_hand_version(v);
}

static size_t overlap_count(const hdb_version *v, int level, const char *lo, const char *hi,
                            uint64_t *first)
{
	hdb_fmeta **out;
	size_t n;
	assert_int_equal(hdb_version_overlapping(v, level, (const uint8_t *)lo, lo ? strlen(lo) : 0,
	                                         (const uint8_t *)hi, hi ? strlen(hi) : 0, &out, &n), 0);
	if (n)
		*first = out[0]->number;
	else
		assert_null(out);
	free(out);
	return n;
}

static void test_version_overlapping_in_sorted_level(void **state)
{
	hdb_version *v = three_file_version();
	uint64_t first = 0;
	assert_int_equal(overlap_count(v, 1, "e", "e", &first), 0);
	assert_int_equal(overlap_count(v, 1, "d", "f", &first), 2);
	assert_int_equal(first, 1);
	assert_int_equal(overlap_count(v, 1, "g", "z", &first), 2);
	assert_int_equal(first, 2);
	assert_int_equal(overlap_count(v, 1, NULL, "b", &first), 1);
	assert_int_equal(first, 1);
	assert_int_equal(overlap_count(v, 1, "m", NULL, &first), 1);
	assert_int_equal(first, 3);
	assert_int_equal(overlap_count(v, 1, NULL, NULL, &first), 3);
	assert_int_equal(overlap_count(v, 1, "n", NULL, &first), 0);
	free_hand_version(v);
}

static void test_version_overlapping_in_l0_scans_every_file(void **state)
{
	hdb_version *v = hand_version();
	hdb_fmeta *files[] = { fmeta(4, 1, "a", "z"), fmeta(5, 1, "c", "d"), fmeta(6, 1, "p", "q") };
	uint64_t first = 0;
	hand_level(v, 0, files, 3);
	assert_int_equal(overlap_count(v, 0, "p", "p", &first), 2);
	assert_int_equal(first, 4);
	assert_int_equal(overlap_count(v, 0, "e", "f", &first), 1);
	assert_int_equal(overlap_count(v, 0, "0", "1", &first), 0);
	free_hand_version(v);
}

static void test_version_level_bytes_sums_sizes(void **state)
{
	hdb_version *v = three_file_version();
	assert_int_equal(hdb_version_level_bytes(v, 1), 60);
	assert_int_equal(hdb_version_level_bytes(v, 2), 0);
	free_hand_version(v);
}

/* ---- level iterator -------------------------------------------------------- */

struct mem_iter {
	hdb_iiter base;
	uint8_t **keys;
	size_t *lens;
	size_t n, pos;
	int err; /* reported once the iterator runs off its end */
};

static bool mi_valid(hdb_iiter *it)
{
	struct mem_iter *m = (struct mem_iter *)it;
	return m->pos < m->n;
}

static void mi_seek_first(hdb_iiter *it)
{
	((struct mem_iter *)it)->pos = 0;
}

static void mi_seek(hdb_iiter *it, const uint8_t *k, size_t n)
{
	struct mem_iter *m = (struct mem_iter *)it;
	for (m->pos = 0; m->pos < m->n; m->pos++)
		if (hdb_ikey_cmp(m->keys[m->pos], m->lens[m->pos], k, n) >= 0)
			break;
}

static void mi_next(hdb_iiter *it)
{
	((struct mem_iter *)it)->pos++;
}

static hdb_slice mi_key(hdb_iiter *it)
{
	struct mem_iter *m = (struct mem_iter *)it;
	return hdb_slice_make(m->keys[m->pos], m->lens[m->pos]);
}

static hdb_slice mi_value(hdb_iiter *it)
{
	return hdb_slice_make("v", 1);
}

static int mi_status(hdb_iiter *it)
{
	struct mem_iter *m = (struct mem_iter *)it;
	return m->pos >= m->n ? m->err : 0;
}

static void mi_destroy(hdb_iiter *it)
{
	struct mem_iter *m = (struct mem_iter *)it;
	for (size_t i = 0; i < m->n; i++)
		free(m->keys[i]);
	free(m->keys);
	free(m->lens);
	free(m);
}

static const struct hdb_iiter_ops mem_iter_ops = {
	.valid = mi_valid, .seek_first = mi_seek_first, .seek = mi_seek, .next = mi_next,
	.key = mi_key, .value = mi_value, .status = mi_status, .destroy = mi_destroy,
};

struct open_ctx {
	int opens;
	uint64_t fail_number; /* this file's iterator ends with -EIO */
	uint64_t empty_number; /* this file's iterator holds nothing */
};

/* Each file #N of [lo..hi] holds every one-letter key from lo to hi. */
static hdb_iiter *fake_open(void *vctx, const hdb_fmeta *f)
{
	struct open_ctx *ctx = vctx;
	struct mem_iter *m = calloc(1, sizeof(*m));
	assert_non_null(m);
	ctx->opens++;
	m->base.ops = &mem_iter_ops;
	char lo = (char)f->smallest[0], hi = (char)f->largest[0];
	m->keys = calloc(26, sizeof(*m->keys));
	m->lens = calloc(26, sizeof(*m->lens));
	assert_true(m->keys && m->lens);
	if (f->number != ctx->empty_number)
		for (char c = lo; c <= hi; c++) {
			char u[2] = { c, 0 };
			m->keys[m->n] = ikey(u, 5, &m->lens[m->n]);
			m->n++;
		}
	if (f->number == ctx->fail_number)
		m->err = -EIO;
	return &m->base;
}

static void collect(hdb_iiter *it, char *out)
{
	size_t i = 0;
	for (; hdb_iiter_valid(it); hdb_iiter_next(it))
		out[i++] = (char)hdb_iiter_key(it).data[0];
	out[i] = 0;
}

static void test_level_iter_walks_three_files_in_order(void **state)
{
	hdb_version *v = three_file_version();
	struct open_ctx ctx = { 0 };
	char got[32];
	hdb_iiter *it = hdb_level_iter_new(v, 1, fake_open, &ctx);
	assert_non_null(it);
	assert_int_equal(ctx.opens, 0); /* lazily */
	assert_int_equal(v->refs, 2);
	hdb_iiter_seek_first(it);
	collect(it, got);
	assert_string_equal(got, "bcdfghklm");
	assert_int_equal(hdb_iiter_status(it), 0);
	assert_int_equal(ctx.opens, 3);
	hdb_iiter_destroy(it);
	assert_int_equal(v->refs, 1);
	free_hand_version(v);
}

static void test_level_iter_seek_lands_in_the_right_file(void **state)
{
	hdb_version *v = three_file_version();
	struct open_ctx ctx = { 0 };
	char got[32];
	size_t n;
	hdb_iiter *it = hdb_level_iter_new(v, 1, fake_open, &ctx);
	assert_non_null(it);
	uint8_t *k = ikey("g", 9, &n);
	hdb_iiter_seek(it, k, n);
	free(k);
	assert_int_equal(ctx.opens, 1);
	collect(it, got);
	assert_string_equal(got, "ghklm");
	k = ikey("i", 9, &n); /* between files: the next file's first key */
	hdb_iiter_seek(it, k, n);
	free(k);
	assert_true(hdb_iiter_valid(it));
	assert_int_equal(hdb_iiter_key(it).data[0], 'k');
	k = ikey("z", 9, &n); /* past every file */
	hdb_iiter_seek(it, k, n);
	free(k);
	assert_false(hdb_iiter_valid(it));
	assert_int_equal(hdb_iiter_status(it), 0);
	hdb_iiter_destroy(it);
	free_hand_version(v);
}

static void test_level_iter_skips_an_empty_file(void **state)
{
	hdb_version *v = three_file_version();
	struct open_ctx ctx = { .empty_number = 2 };
	char got[32];
	hdb_iiter *it = hdb_level_iter_new(v, 1, fake_open, &ctx);
	assert_non_null(it);
	hdb_iiter_seek_first(it);
	collect(it, got);
	assert_string_equal(got, "bcdklm");
	hdb_iiter_destroy(it);
	free_hand_version(v);
}

static void test_level_iter_stops_with_a_child_error(void **state)
{
	hdb_version *v = three_file_version();
	struct open_ctx ctx = { .fail_number = 2 };
	char got[32];
	hdb_iiter *it = hdb_level_iter_new(v, 1, fake_open, &ctx);
	assert_non_null(it);
	hdb_iiter_seek_first(it);
	collect(it, got);
	assert_string_equal(got, "bcdfgh");
	assert_int_equal(hdb_iiter_status(it), -EIO);
	assert_int_equal(ctx.opens, 2); /* file 3 never opened */
	hdb_iiter_destroy(it);
	free_hand_version(v);
}

static void test_level_iter_on_empty_level_is_invalid(void **state)
{
	hdb_version *v = hand_version();
	struct open_ctx ctx = { 0 };
	hdb_iiter *it = hdb_level_iter_new(v, 3, fake_open, &ctx);
	assert_non_null(it);
	hdb_iiter_seek_first(it);
	assert_false(hdb_iiter_valid(it));
	assert_int_equal(hdb_iiter_status(it), 0);
	assert_int_equal(ctx.opens, 0);
	hdb_iiter_destroy(it);
	free_hand_version(v);
}

/* ---- versions in a set ------------------------------------------------------ */

static void apply_add(hdb_vset *vs, pthread_mutex_t *mu, int level, hdb_fmeta *f)
{
	hdb_vedit e;
	hdb_vedit_init(&e);
	assert_int_equal(hdb_vedit_add_file(&e, level, f), 0);
	hdb_fmeta_unref(f);
	pthread_mutex_lock(mu);
	assert_int_equal(hdb_vset_log_and_apply(vs, &e, mu), 0);
	pthread_mutex_unlock(mu);
	hdb_vedit_free(&e);
}

static void apply_delete(hdb_vset *vs, pthread_mutex_t *mu, int level, uint64_t number, int expect)
{
	hdb_vedit e;
	hdb_vedit_init(&e);
	assert_int_equal(hdb_vedit_delete_file(&e, level, number), 0);
	pthread_mutex_lock(mu);
	assert_int_equal(hdb_vset_log_and_apply(vs, &e, mu), expect);
	pthread_mutex_unlock(mu);
	hdb_vedit_free(&e);
}

static bool contains(const uint64_t *a, size_t n, uint64_t x)
{
	for (size_t i = 0; i < n; i++)
		if (a[i] == x)
			return true;
	return false;
}

static void test_vset_live_files_include_files_of_held_versions(void **state)
{
	char *dir = make_tmpdir();
	pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	hdb_vset *vs;
	uint64_t *nums;
	size_t n;
	assert_int_equal(hdb_vset_open(hdb_env_posix(), dir, &opts, true, false, &vs), 0);
	apply_add(vs, &mu, 0, fmeta(10, 5, "a", "b"));
	hdb_version *held = hdb_vset_current(vs);
	hdb_version_ref(held);
	apply_delete(vs, &mu, 0, 10, 0);
	apply_add(vs, &mu, 1, fmeta(11, 5, "a", "b"));

	assert_int_equal(hdb_vset_live_files(vs, &nums, &n), 0);
	assert_true(contains(nums, n, 10));
	assert_true(contains(nums, n, 11));
	free(nums);

	hdb_version_unref(held);
	assert_int_equal(hdb_vset_live_files(vs, &nums, &n), 0);
	assert_false(contains(nums, n, 10));
	assert_true(contains(nums, n, 11));
	/* 11 and the manifest (opened as 1, nothing else yet) */
	assert_int_equal(n, 2);
	assert_int_equal(nums[0], 1);
	assert_int_equal(nums[1], 11);
	free(nums);
	hdb_vset_free(vs);
	remove_tmpdir(dir);
}

static void test_vset_apply_rejects_deleting_a_missing_file(void **state)
{
	char *dir = make_tmpdir();
	pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	hdb_vset *vs;
	assert_int_equal(hdb_vset_open(hdb_env_posix(), dir, &opts, true, false, &vs), 0);
	apply_add(vs, &mu, 2, fmeta(10, 5, "a", "b"));
	hdb_version *before = hdb_vset_current(vs);
	apply_delete(vs, &mu, 2, 99, -EINVAL);
	apply_delete(vs, &mu, 1, 10, -EINVAL); /* wrong level */
	assert_ptr_equal(hdb_vset_current(vs), before);
	assert_int_equal(before->nfiles[2], 1);
	hdb_vset_free(vs);
	remove_tmpdir(dir);
}

static void test_vset_apply_rejects_overlap_in_a_sorted_level(void **state)
{
	char *dir = make_tmpdir();
	pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	hdb_vset *vs;
	hdb_vedit e;
	assert_int_equal(hdb_vset_open(hdb_env_posix(), dir, &opts, true, false, &vs), 0);
	apply_add(vs, &mu, 1, fmeta(10, 5, "a", "f"));
	hdb_vedit_init(&e);
	hdb_fmeta *f = fmeta(11, 5, "e", "k");
	assert_int_equal(hdb_vedit_add_file(&e, 1, f), 0);
	hdb_fmeta_unref(f);
	pthread_mutex_lock(&mu);
	assert_int_equal(hdb_vset_log_and_apply(vs, &e, &mu), -EINVAL);
	pthread_mutex_unlock(&mu);
	assert_int_equal(hdb_vset_current(vs)->nfiles[1], 1);
	hdb_vedit_free(&e);
	hdb_vset_free(vs);
	remove_tmpdir(dir);
}

static void test_vset_keeps_sorted_levels_ordered_by_smallest_key(void **state)
{
	char *dir = make_tmpdir();
	pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	hdb_vset *vs;
	assert_int_equal(hdb_vset_open(hdb_env_posix(), dir, &opts, true, false, &vs), 0);
	apply_add(vs, &mu, 2, fmeta(20, 5, "m", "p"));
	apply_add(vs, &mu, 2, fmeta(21, 5, "a", "c"));
	apply_add(vs, &mu, 2, fmeta(22, 5, "e", "g"));
	apply_add(vs, &mu, 0, fmeta(31, 5, "a", "z"));
	apply_add(vs, &mu, 0, fmeta(30, 5, "a", "z"));
	hdb_version *v = hdb_vset_current(vs);
	assert_int_equal(v->nfiles[2], 3);
	assert_int_equal(v->files[2][0]->number, 21);
	assert_int_equal(v->files[2][1]->number, 22);
	assert_int_equal(v->files[2][2]->number, 20);
	assert_int_equal(v->files[0][0]->number, 30); /* L0 by number */
	assert_int_equal(v->files[0][1]->number, 31);
	hdb_vset_free(vs);
	remove_tmpdir(dir);
}

static void test_vset_move_between_levels_in_one_edit(void **state)
{
	char *dir = make_tmpdir();
	pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	hdb_vset *vs;
	hdb_vedit e;
	assert_int_equal(hdb_vset_open(hdb_env_posix(), dir, &opts, true, false, &vs), 0);
	apply_add(vs, &mu, 1, fmeta(10, 5, "a", "f"));
	hdb_fmeta *f = hdb_vset_current(vs)->files[1][0];
	hdb_vedit_init(&e);
	assert_int_equal(hdb_vedit_delete_file(&e, 1, 10), 0);
	assert_int_equal(hdb_vedit_add_file(&e, 2, f), 0);
	pthread_mutex_lock(&mu);
	assert_int_equal(hdb_vset_log_and_apply(vs, &e, &mu), 0);
	pthread_mutex_unlock(&mu);
	hdb_vedit_free(&e);
	hdb_version *v = hdb_vset_current(vs);
	assert_int_equal(v->nfiles[1], 0);
	assert_int_equal(v->nfiles[2], 1);
	assert_ptr_equal(v->files[2][0], f);
	hdb_vset_free(vs);
	remove_tmpdir(dir);
}

static void test_vset_scores_l0_by_file_count(void **state)
{
	char *dir = make_tmpdir();
	pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	hdb_vset *vs;
	assert_int_equal(hdb_vset_open(hdb_env_posix(), dir, &opts, true, false, &vs), 0);
	for (uint64_t i = 0; i < 2; i++)
		apply_add(vs, &mu, 0, fmeta(10 + i, 5, "a", "b"));
	hdb_version *v = hdb_vset_current(vs);
	assert_int_equal(v->compaction_level, 0);
	assert_true(v->compaction_score > 0.49 && v->compaction_score < 0.51);
	hdb_vset_free(vs);
	remove_tmpdir(dir);
}

/* Random adds, deletes and moves against a model, reopened now and then:
 * exercises the builder's hash map (growth, deletion with collisions) and
 * replay.  File i gets number random << 11 | i, so that numbers collide in
 * the map (sequential ones never do) and i can be read back. */
enum { MODEL_FILES = 1500, MODEL_BITS = 11 };

struct model_file {
	uint64_t number;
	int level; /* -1: deleted */
};

static void check_model(hdb_vset *vs, const struct model_file *m, size_t n)
{
	hdb_version *v = hdb_vset_current(vs);
	size_t want[HDB_MAX_LEVELS] = { 0 };
	for (size_t i = 0; i < n; i++)
		if (m[i].level >= 0)
			want[m[i].level]++;
	for (int l = 0; l < HDB_MAX_LEVELS; l++) {
		assert_int_equal(v->nfiles[l], want[l]);
		size_t prev = 0;
		for (size_t i = 0; i < v->nfiles[l]; i++) {
			size_t idx = v->files[l][i]->number & ((1u << MODEL_BITS) - 1);
			assert_true(idx < n);
			assert_int_equal(m[idx].number, v->files[l][i]->number);
			assert_int_equal(m[idx].level, l);
			/* L0 is in number order, the others in key order */
			if (i > 0 && l == 0)
				assert_true(v->files[0][i - 1]->number < m[idx].number);
			else if (i > 0)
				assert_true(prev < idx);
			prev = idx;
		}
	}
}

static hdb_fmeta *model_file(const struct model_file *m, size_t idx)
{
	char lo[32], hi[32];
	snprintf(lo, sizeof(lo), "%08zu", idx);
	snprintf(hi, sizeof(hi), "%08zu~", idx);
	return fmeta(m[idx].number, 1, lo, hi);
}

/* One random change to e: add a new file, delete or move an older one. */
static void model_step(hdb_vedit *e, struct model_file *m, size_t *made, size_t old, unsigned *seed)
{
	int op = rand_r(seed) % 10;
	size_t pick = old ? (size_t)rand_r(seed) % old : 0;
	bool touched = false;
	for (size_t i = 0; i < e->ndeleted; i++)
		touched |= e->deleted[i].number == m[pick].number;
	if (op < 6 || !old || m[pick].level < 0 || touched) {
		size_t i = (*made)++;
		m[i].number = (uint64_t)rand_r(seed) << MODEL_BITS | i;
		m[i].level = rand_r(seed) % HDB_MAX_LEVELS;
		hdb_fmeta *f = model_file(m, i);
		assert_int_equal(hdb_vedit_add_file(e, m[i].level, f), 0);
		hdb_fmeta_unref(f);
	} else if (op < 8 || m[pick].level == HDB_MAX_LEVELS - 1) {
		assert_int_equal(hdb_vedit_delete_file(e, m[pick].level, m[pick].number), 0);
		m[pick].level = -1;
	} else {
		hdb_fmeta *f = model_file(m, pick);
		assert_int_equal(hdb_vedit_delete_file(e, m[pick].level, m[pick].number), 0);
		m[pick].level++;
		assert_int_equal(hdb_vedit_add_file(e, m[pick].level, f), 0);
		hdb_fmeta_unref(f);
	}
}

static void test_vset_random_edits_match_a_model_across_reopens(void **state)
{
	char *dir = make_tmpdir();
	pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	struct model_file *m = calloc(MODEL_FILES, sizeof(*m));
	size_t made = 0;
	hdb_vset *vs;
	unsigned seed = 12345;
	assert_non_null(m);
	assert_int_equal(hdb_vset_open(hdb_env_posix(), dir, &opts, true, false, &vs), 0);
	for (int round = 1; made < MODEL_FILES; round++) {
		hdb_vedit e;
		size_t old = made; /* deletions apply first: only older files */
		hdb_vedit_init(&e);
		for (int k = 0; k < 1 + rand_r(&seed) % 4 && made < MODEL_FILES; k++)
			model_step(&e, m, &made, old, &seed);
		pthread_mutex_lock(&mu);
		assert_int_equal(hdb_vset_log_and_apply(vs, &e, &mu), 0);
		pthread_mutex_unlock(&mu);
		hdb_vedit_free(&e);
		if (round % 300 == 0) {
			hdb_vset_free(vs);
			assert_int_equal(hdb_vset_open(hdb_env_posix(), dir, &opts, false, false, &vs), 0);
		}
		check_model(vs, m, made);
	}
	hdb_vset_free(vs);
	assert_int_equal(hdb_vset_open(hdb_env_posix(), dir, &opts, false, false, &vs), 0);
	check_model(vs, m, made);
	hdb_vset_free(vs);
	free(m);
	remove_tmpdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vedit_round_trip_keeps_every_field),
		cmocka_unit_test(test_vedit_empty_encodes_to_nothing),
		cmocka_unit_test(test_vedit_truncation_at_every_offset_is_corrupt_or_clean),
		cmocka_unit_test(test_vedit_unknown_tag_is_corrupt_with_offset),
		cmocka_unit_test(test_vedit_level_out_of_range_is_corrupt),
		cmocka_unit_test(test_vedit_key_shorter_than_tag_is_corrupt),
		cmocka_unit_test(test_vedit_smallest_above_largest_is_corrupt),
		cmocka_unit_test(test_vedit_huge_key_length_is_corrupt),
		cmocka_unit_test(test_vedit_add_file_takes_a_reference),
		cmocka_unit_test(test_version_find_file_returns_first_file_ending_at_or_after),
		cmocka_unit_test(test_version_find_file_on_empty_level_is_zero),
		cmocka_unit_test(test_version_overlapping_in_sorted_level),
		cmocka_unit_test(test_version_overlapping_in_l0_scans_every_file),
		cmocka_unit_test(test_version_level_bytes_sums_sizes),
		cmocka_unit_test(test_level_iter_walks_three_files_in_order),
		cmocka_unit_test(test_level_iter_seek_lands_in_the_right_file),
		cmocka_unit_test(test_level_iter_skips_an_empty_file),
		cmocka_unit_test(test_level_iter_stops_with_a_child_error),
		cmocka_unit_test(test_level_iter_on_empty_level_is_invalid),
		cmocka_unit_test(test_vset_live_files_include_files_of_held_versions),
		cmocka_unit_test(test_vset_apply_rejects_deleting_a_missing_file),
		cmocka_unit_test(test_vset_apply_rejects_overlap_in_a_sorted_level),
		cmocka_unit_test(test_vset_keeps_sorted_levels_ordered_by_smallest_key),
		cmocka_unit_test(test_vset_move_between_levels_in_one_edit),
		cmocka_unit_test(test_vset_scores_l0_by_file_count),
		cmocka_unit_test(test_vset_random_edits_match_a_model_across_reopens),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
