/*
 * test_fs_wbuf.c — open files' content buffers (fs/wbuf.c).
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "wbuf.h"

#define MAX (1u << 20)

static void test_wbuf_write_then_read_back(void **state)
{
	hdb_wbuf b;
	const uint8_t *p;
	hdb_wbuf_init(&b);
	assert_int_equal(hdb_wbuf_write(&b, 0, "hello", 5, MAX), 0);
	assert_int_equal(hdb_wbuf_read(&b, 1, 100, &p), 4);
	assert_memory_equal(p, "ello", 4);
	hdb_wbuf_free(&b);
}

static void test_wbuf_write_past_end_zero_fills_hole(void **state)
{
	hdb_wbuf b;
	const uint8_t *p;
	hdb_wbuf_init(&b);
	hdb_wbuf_write(&b, 0, "ab", 2, MAX);
	assert_int_equal(hdb_wbuf_write(&b, 6, "z", 1, MAX), 0);
	assert_int_equal(b.len, 7);
	assert_int_equal(hdb_wbuf_read(&b, 0, 7, &p), 7);
	assert_memory_equal(p, "ab\0\0\0\0z", 7);
	hdb_wbuf_free(&b);
}

static void test_wbuf_overwrite_in_middle_keeps_length(void **state)
{
	hdb_wbuf b;
	hdb_wbuf_init(&b);
	hdb_wbuf_write(&b, 0, "abcdef", 6, MAX);
	hdb_wbuf_write(&b, 2, "XY", 2, MAX);
	assert_int_equal(b.len, 6);
	assert_memory_equal(b.data, "abXYef", 6);
	hdb_wbuf_free(&b);
}

static void test_wbuf_write_crossing_limit_is_efbig_and_unchanged(void **state)
{
	hdb_wbuf b;
	hdb_wbuf_init(&b);
	hdb_wbuf_write(&b, 0, "1234", 4, 8);
	assert_int_equal(hdb_wbuf_write(&b, 6, "abc", 3, 8), -EFBIG);
	assert_int_equal(b.len, 4);
	assert_memory_equal(b.data, "1234", 4);
	assert_int_equal(hdb_wbuf_write(&b, 5, "abc", 3, 8), 0);
	assert_int_equal(b.len, 8);
	hdb_wbuf_free(&b);
}

static void test_wbuf_write_at_huge_offset_is_efbig(void **state)
{
	hdb_wbuf b;
	hdb_wbuf_init(&b);
	assert_int_equal(hdb_wbuf_write(&b, UINT64_MAX - 1, "ab", 2, MAX), -EFBIG);
	assert_int_equal(b.len, 0);
	hdb_wbuf_free(&b);
}

static void test_wbuf_truncate_shrinks_and_grows_with_zeros(void **state)
{
	hdb_wbuf b;
	hdb_wbuf_init(&b);
	hdb_wbuf_write(&b, 0, "abcdef", 6, MAX);
	assert_int_equal(hdb_wbuf_truncate(&b, 2, MAX), 0);
	assert_int_equal(b.len, 2);
	assert_int_equal(hdb_wbuf_truncate(&b, 5, MAX), 0);
	assert_memory_equal(b.data, "ab\0\0\0", 5);
	assert_int_equal(hdb_wbuf_truncate(&b, MAX + 1, MAX), -EFBIG);
	assert_int_equal(b.len, 5);
	hdb_wbuf_free(&b);
}

static void test_wbuf_read_past_end_is_empty(void **state)
{
	hdb_wbuf b;
	const uint8_t *p;
	hdb_wbuf_init(&b);
	hdb_wbuf_write(&b, 0, "abc", 3, MAX);
	assert_int_equal(hdb_wbuf_read(&b, 3, 10, &p), 0);
	assert_int_equal(hdb_wbuf_read(&b, 100, 10, &p), 0);
	hdb_wbuf_free(&b);
}

static void test_wbuf_adopt_takes_ownership(void **state)
{
	hdb_wbuf b;
	hdb_wbuf_init(&b);
	char *d = malloc(3);
	assert_non_null(d);
	memcpy(d, "xyz", 3);
	hdb_wbuf_adopt(&b, d, 3);
	assert_int_equal(hdb_wbuf_write(&b, 3, "!", 1, MAX), 0);
	assert_memory_equal(b.data, "xyz!", 4);
	hdb_wbuf_free(&b);
	assert_null(b.data);
}

static void test_wbuf_many_small_appends(void **state)
{
	hdb_wbuf b;
	hdb_wbuf_init(&b);
	for (int i = 0; i < 100000; i++)
		assert_int_equal(hdb_wbuf_write(&b, b.len, "a", 1, MAX), 0);
	assert_int_equal(b.len, 100000);
	assert_true(b.cap >= b.len);
	hdb_wbuf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wbuf_write_then_read_back),
		cmocka_unit_test(test_wbuf_write_past_end_zero_fills_hole),
		cmocka_unit_test(test_wbuf_overwrite_in_middle_keeps_length),
		cmocka_unit_test(test_wbuf_write_crossing_limit_is_efbig_and_unchanged),
		cmocka_unit_test(test_wbuf_write_at_huge_offset_is_efbig),
		cmocka_unit_test(test_wbuf_truncate_shrinks_and_grows_with_zeros),
		cmocka_unit_test(test_wbuf_read_past_end_is_empty),
		cmocka_unit_test(test_wbuf_adopt_takes_ownership),
		cmocka_unit_test(test_wbuf_many_small_appends),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
