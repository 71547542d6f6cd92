/*
 * test_iter.c — the merging iterator and the empty iterator.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "hybriddb.h"
#include "iter.h"

/* An iterator over a fixed array of NUL-terminated keys (value = key),
 * failing with `err` once it reaches index `fail_at`. */
struct array_iter {
	hdb_iiter base;
	const char **keys;
	size_t n, pos;
	size_t fail_at;
	int err;
	int *destroyed;
};

static bool a_valid(hdb_iiter *it)
{
	struct array_iter *a = (struct array_iter *)it;
	return a->pos < a->n && a->pos < a->fail_at;
}

static void a_seek_first(hdb_iiter *it)
{
	((struct array_iter *)it)->pos = 0;
}

static void a_seek(hdb_iiter *it, const uint8_t *k, size_t n)
{
	struct array_iter *a = (struct array_iter *)it;
	for (a->pos = 0; a->pos < a->n; a->pos++)
		if (hdb_bytes_cmp((const uint8_t *)a->keys[a->pos], strlen(a->keys[a->pos]), k, n) >= 0)
			break;
}

static void a_next(hdb_iiter *it)
{
	((struct array_iter *)it)->pos++;
}

static hdb_slice a_key(hdb_iiter *it)
{
	struct array_iter *a = (struct array_iter *)it;
	return hdb_slice_make(a->keys[a->pos], strlen(a->keys[a->pos]));
}

static int a_status(hdb_iiter *it)
{
	struct array_iter *a = (struct array_iter *)it;
	return a->pos >= a->fail_at ? a->err : 0;
}

static void a_destroy(hdb_iiter *it)
{
	struct array_iter *a = (struct array_iter *)it;
	if (a->destroyed)
		(*a->destroyed)++;
	free(a);
}

static const struct hdb_iiter_ops array_ops = {
	.valid = a_valid,
	.seek_first = a_seek_first,
	.seek = a_seek,
	.next = a_next,
	.key = a_key,
	.value = a_key,
	.status = a_status,
	.destroy = a_destroy,
};

static hdb_iiter *array_iter(const char **keys, size_t n)
{
	struct array_iter *a = calloc(1, sizeof(*a));
	assert_non_null(a);
	a->base.ops = &array_ops;
	a->keys = keys;
	a->n = n;
	a->fail_at = SIZE_MAX;
	return &a->base;
}

/* Collects the merged keys, comma-separated, into out. */
static void drain(hdb_iiter *m, char *out, size_t cap)
{
	out[0] = 0;
	for (; hdb_iiter_valid(m); hdb_iiter_next(m)) {
		hdb_slice k = hdb_iiter_key(m);
		size_t len = strlen(out);
		assert_true(len + k.len + 2 < cap);
		if (len)
			out[len++] = ',';
		memcpy(out + len, k.data, k.len);
		out[len + k.len] = 0;
	}
}

static void test_iter_merge_yields_union_in_order(void **state)
{
	static const char *a[] = { "b", "d", "f" }, *b[] = { "a", "e" }, *c[] = { "c", "g", "h" };
	hdb_iiter *kids[] = { array_iter(a, 3), array_iter(b, 2), array_iter(c, 3) };
	hdb_iiter *m = hdb_merge_iter_new(hdb_bytes_cmp_fn, kids, 3);
	char out[64];
	hdb_iiter_seek_first(m);
	drain(m, out, sizeof(out));
	assert_string_equal(out, "a,b,c,d,e,f,g,h");
	assert_int_equal(hdb_iiter_status(m), 0);
	hdb_iiter_destroy(m);
}

static void test_iter_merge_equal_keys_lower_child_first(void **state)
{
	static const char *a[] = { "k" }, *b[] = { "k" };
	struct array_iter *first = (struct array_iter *)array_iter(a, 1);
	hdb_iiter *kids[] = { &first->base, array_iter(b, 1) };
	hdb_iiter *m = hdb_merge_iter_new(hdb_bytes_cmp_fn, kids, 2);
	hdb_iiter_seek_first(m);
	assert_true(hdb_iiter_valid(m));
	/* the first child's entry comes first: its key slice points into a[] */
	assert_ptr_equal(hdb_iiter_key(m).data, a[0]);
	hdb_iiter_next(m);
	assert_ptr_equal(hdb_iiter_key(m).data, b[0]);
	hdb_iiter_next(m);
	assert_false(hdb_iiter_valid(m));
	hdb_iiter_destroy(m);
}

static void test_iter_merge_seek_positions_every_child(void **state)
{
	static const char *a[] = { "a", "c", "e" }, *b[] = { "b", "d", "f" };
	hdb_iiter *kids[] = { array_iter(a, 3), array_iter(b, 3) };
	hdb_iiter *m = hdb_merge_iter_new(hdb_bytes_cmp_fn, kids, 2);
	char out[64];
	hdb_iiter_seek(m, (const uint8_t *)"cc", 2);
	drain(m, out, sizeof(out));
	assert_string_equal(out, "d,e,f");
	hdb_iiter_seek(m, (const uint8_t *)"z", 1);
	assert_false(hdb_iiter_valid(m));
	hdb_iiter_destroy(m);
}

static void test_iter_merge_child_error_stops_and_reports(void **state)
{
	static const char *a[] = { "a", "b", "c" }, *b[] = { "x", "y" };
	struct array_iter *bad = (struct array_iter *)array_iter(a, 3);
	bad->fail_at = 1;
	bad->err = HDB_ECORRUPT;
	hdb_iiter *kids[] = { &bad->base, array_iter(b, 2) };
	hdb_iiter *m = hdb_merge_iter_new(hdb_bytes_cmp_fn, kids, 2);
	hdb_iiter_seek_first(m);
	assert_true(hdb_iiter_valid(m));
	hdb_iiter_next(m); /* the failing child drops out with its error */
	assert_false(hdb_iiter_valid(m));
	assert_int_equal(hdb_iiter_status(m), HDB_ECORRUPT);
	hdb_iiter_destroy(m);
}

static void test_iter_merge_of_nothing_is_empty(void **state)
{
	hdb_iiter *m = hdb_merge_iter_new(hdb_bytes_cmp_fn, NULL, 0);
	assert_non_null(m);
	hdb_iiter_seek_first(m);
	assert_false(hdb_iiter_valid(m));
	assert_int_equal(hdb_iiter_status(m), 0);
	hdb_iiter_destroy(m);
}

static void test_iter_merge_destroys_every_child(void **state)
{
	static const char *a[] = { "a" };
	int destroyed = 0;
	hdb_iiter *kids[3];
	for (int i = 0; i < 3; i++) {
		kids[i] = array_iter(a, 1);
		((struct array_iter *)kids[i])->destroyed = &destroyed;
	}
	hdb_iiter_destroy(hdb_merge_iter_new(hdb_bytes_cmp_fn, kids, 3));
	assert_int_equal(destroyed, 3);
}

static void test_iter_empty_carries_its_status(void **state)
{
	hdb_iiter *e = hdb_iiter_empty(-EIO);
	hdb_iiter_seek_first(e);
	assert_false(hdb_iiter_valid(e));
	assert_int_equal(hdb_iiter_status(e), -EIO);
	hdb_iiter_destroy(e);
}

static void test_iter_ikey_order_puts_newest_version_first(void **state)
{
	hdb_buf a = { 0 }, b = { 0 }, c = { 0 };
	assert_int_equal(hdb_ikey_build(&a, "k", 1, 5, HDB_TYPE_VALUE), 0);
	assert_int_equal(hdb_ikey_build(&b, "k", 1, 9, HDB_TYPE_DELETE), 0);
	assert_int_equal(hdb_ikey_build(&c, "ka", 1 + 1, 1, HDB_TYPE_VALUE), 0);
	assert_true(hdb_ikey_cmp(b.data, b.len, a.data, a.len) < 0); /* seq 9 before seq 5 */
	assert_true(hdb_ikey_cmp(a.data, a.len, c.data, c.len) < 0); /* "k" before "ka" */
	assert_int_equal(hdb_ikey_seq(b.data, b.len), 9);
	assert_int_equal(hdb_ikey_type(b.data, b.len), HDB_TYPE_DELETE);
	hdb_buf_free(&a);
	hdb_buf_free(&b);
	hdb_buf_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_iter_merge_yields_union_in_order),
		cmocka_unit_test(test_iter_merge_equal_keys_lower_child_first),
		cmocka_unit_test(test_iter_merge_seek_positions_every_child),
		cmocka_unit_test(test_iter_merge_child_error_stops_and_reports),
		cmocka_unit_test(test_iter_merge_of_nothing_is_empty),
		cmocka_unit_test(test_iter_merge_destroys_every_child),
		cmocka_unit_test(test_iter_empty_carries_its_status),
		cmocka_unit_test(test_iter_ikey_order_puts_newest_version_first),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
