/*
 * test_block.c — block builder and iterator: round trips, seeks, and
 * hostile contents (flipped bytes, truncations) that must end in
 * HDB_ECORRUPT or well-formed entries, never a crash.
 */
#include <setjmp.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <cmocka.h>

#include "block.h"
#include "hybriddb.h"
#include "sst_format.h"

/* Keys are even numbers so that odd ones fall between them. */
static int key_of(char *buf, size_t n, int i)
{
	return snprintf(buf, n, "key%08d", 2 * i);
}

static int val_of(char *buf, size_t n, int i)
{
	return snprintf(buf, n, "value-%d", i * 7);
}

/* A finished block of n entries, copied to a malloc'd buffer. */
static uint8_t *build(int n, int interval, size_t *len)
{
	hdb_block_builder *b = hdb_block_builder_new(interval);
	assert_non_null(b);
	for (int i = 0; i < n; i++) {
		char k[32], v[32];
		int kn = key_of(k, sizeof(k), i), vn = val_of(v, sizeof(v), i);
		assert_int_equal(hdb_block_builder_add(b, (uint8_t *)k, (size_t)kn, (uint8_t *)v, (size_t)vn), 0);
	}
	size_t expect = hdb_block_builder_size(b);
	hdb_slice s;
	assert_int_equal(hdb_block_builder_finish(b, &s), 0);
	assert_int_equal(s.len, expect);
	uint8_t *copy = malloc(s.len);
	assert_non_null(copy);
	memcpy(copy, s.data, s.len);
	*len = s.len;
	hdb_block_builder_free(b);
	return copy;
}

static hdb_iiter *iter(const uint8_t *data, size_t n)
{
	hdb_iiter *it = hdb_block_iter_new(data, n, hdb_bytes_cmp_fn, NULL, NULL, "000042.sst", 4096);
	assert_non_null(it);
	return it;
}

static void expect_entry(hdb_iiter *it, int i)
{
	char k[32], v[32];
	int kn = key_of(k, sizeof(k), i), vn = val_of(v, sizeof(v), i);
	assert_true(hdb_iiter_valid(it));
	hdb_slice ks = hdb_iiter_key(it), vs = hdb_iiter_value(it);
	assert_int_equal(ks.len, kn);
	assert_memory_equal(ks.data, k, (size_t)kn);
	assert_int_equal(vs.len, vn);
	assert_memory_equal(vs.data, v, (size_t)vn);
}

static void check_scan(int n, int interval)
{
	size_t len;
	uint8_t *data = build(n, interval, &len);
	hdb_iiter *it = iter(data, len);
	int i = 0;
	for (hdb_iiter_seek_first(it); hdb_iiter_valid(it); hdb_iiter_next(it))
		expect_entry(it, i++);
	assert_int_equal(i, n);
	assert_int_equal(hdb_iiter_status(it), 0);
	hdb_iiter_destroy(it);
	free(data);
}

static void check_seeks(int n, int interval)
{
	size_t len;
	uint8_t *data = build(n, interval, &len);
	hdb_iiter *it = iter(data, len);
	char k[32];
	for (int i = 0; i < n; i++) {
		/* Exactly at key i. */
		int kn = key_of(k, sizeof(k), i);
		hdb_iiter_seek(it, (uint8_t *)k, (size_t)kn);
		expect_entry(it, i);
		/* Between key i-1 and key i lands on i. */
		kn = snprintf(k, sizeof(k), "key%08d", 2 * i - 1);
		hdb_iiter_seek(it, (uint8_t *)k, (size_t)kn);
		expect_entry(it, i);
	}
	int kn = snprintf(k, sizeof(k), "key%08d", 2 * n);
	hdb_iiter_seek(it, (uint8_t *)k, (size_t)kn);
	assert_false(hdb_iiter_valid(it));
	assert_int_equal(hdb_iiter_status(it), 0);
	hdb_iiter_seek(it, (const uint8_t *)"", 0);
	if (n)
		expect_entry(it, 0);
	hdb_iiter_destroy(it);
	free(data);
}

static const int sizes[] = { 1, 2, 15, 16, 17, 100, 1000, 10000 };

static void test_block_scan_returns_every_entry_restart_16(void **state)
{
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		check_scan(sizes[i], 16);
}

static void test_block_scan_returns_every_entry_restart_1(void **state)
{
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		check_scan(sizes[i], 1);
}

static void test_block_seek_finds_every_key_and_gap_restart_16(void **state)
{
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		check_seeks(sizes[i], 16);
}

static void test_block_seek_finds_every_key_and_gap_restart_1(void **state)
{
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		check_seeks(sizes[i], 1);
}

static void test_block_empty_block_is_valid_and_empty(void **state)
{
	size_t len;
	uint8_t *data = build(0, 16, &len);
	assert_int_equal(len, 4);
	hdb_iiter *it = iter(data, len);
	hdb_iiter_seek_first(it);
	assert_false(hdb_iiter_valid(it));
	hdb_iiter_seek(it, (const uint8_t *)"a", 1);
	assert_false(hdb_iiter_valid(it));
	assert_int_equal(hdb_iiter_status(it), 0);
	hdb_iiter_destroy(it);
	free(data);
}

static void test_block_prefix_compression_shrinks_keys(void **state)
{
	size_t len;
	uint8_t *data = build(1000, 16, &len);
	/* 1000 x (11-byte key + ~9-byte value) uncompressed would exceed 20000. */
	assert_true(len < 15000);
	free(data);
}

static void test_block_builder_reset_starts_a_new_block(void **state)
{
	hdb_block_builder *b = hdb_block_builder_new(16);
	assert_non_null(b);
	assert_true(hdb_block_builder_empty(b));
	assert_int_equal(hdb_block_builder_add(b, (const uint8_t *)"zzz", 3, (const uint8_t *)"1", 1), 0);
	assert_false(hdb_block_builder_empty(b));
	hdb_block_builder_reset(b);
	assert_true(hdb_block_builder_empty(b));
	assert_int_equal(hdb_block_builder_add(b, (const uint8_t *)"aaa", 3, (const uint8_t *)"2", 1), 0);
	hdb_slice s;
	assert_int_equal(hdb_block_builder_finish(b, &s), 0);
	/* One entry: 3 varints, key, value, one restart, the count. */
	assert_int_equal(s.len, 3 + 3 + 1 + 4 + 4);
	hdb_iiter *it = iter(s.data, s.len);
	hdb_iiter_seek_first(it);
	assert_true(hdb_iiter_valid(it));
	assert_memory_equal(hdb_iiter_key(it).data, "aaa", 3);
	hdb_iiter_next(it);
	assert_false(hdb_iiter_valid(it));
	hdb_iiter_destroy(it);
	hdb_block_builder_free(b);
}

static int released;

static void count_release(void *ctx)
{
	released += *(int *)ctx;
}

static void test_block_destroy_calls_release(void **state)
{
	size_t len;
	uint8_t *data = build(10, 16, &len);
	int weight = 5;
	released = 0;
	hdb_iiter *it = hdb_block_iter_new(data, len, hdb_bytes_cmp_fn, count_release, &weight, NULL, 0);
	assert_non_null(it);
	assert_int_equal(released, 0);
	hdb_iiter_destroy(it);
	assert_int_equal(released, 5);
	free(data);
}

static void test_block_bad_restart_count_is_corrupt_with_detail(void **state)
{
	size_t len;
	uint8_t *data = build(100, 16, &len);
	hdb_put_u32(data + len - 4, 0xffffff);
	hdb_iiter *it = iter(data, len);
	hdb_iiter_seek_first(it);
	assert_false(hdb_iiter_valid(it));
	assert_int_equal(hdb_iiter_status(it), HDB_ECORRUPT);
	assert_non_null(strstr(hdb_errdetail(), "000042.sst"));
	assert_non_null(strstr(hdb_errdetail(), "4096"));
	hdb_iiter_destroy(it);
	free(data);
}

static void test_block_too_short_is_corrupt(void **state)
{
	uint8_t data[3] = { 0 };
	hdb_iiter *it = iter(data, sizeof(data));
	hdb_iiter_seek(it, (const uint8_t *)"a", 1);
	assert_false(hdb_iiter_valid(it));
	assert_int_equal(hdb_iiter_status(it), HDB_ECORRUPT);
	hdb_iiter_destroy(it);
}

static void test_block_restart_offset_out_of_range_is_corrupt(void **state)
{
	size_t len;
	uint8_t *data = build(100, 16, &len);
	/* Restart point 3 of 7, the first one a seek probes, points past the entries. */
	size_t restarts = len - 4 - 7 * 4;
	assert_int_equal(hdb_get_u32(data + len - 4), 7);
	hdb_put_u32(data + restarts + 3 * 4, (uint32_t)len);
	hdb_iiter *it = iter(data, len);
	hdb_iiter_seek(it, (const uint8_t *)"key00000150", 11);
	assert_false(hdb_iiter_valid(it));
	assert_int_equal(hdb_iiter_status(it), HDB_ECORRUPT);
	hdb_iiter_destroy(it);
	free(data);
}

/* Walks a block to the end, touching every byte it hands out; returns
 * the final status. */
static int walk(const uint8_t *data, size_t len, int n)
{
	hdb_iiter *it = hdb_block_iter_new(data, len, hdb_bytes_cmp_fn, NULL, NULL, "x.sst", 0);
	assert_non_null(it);
	int count = 0;
	unsigned sum = 0;
	for (hdb_iiter_seek_first(it); hdb_iiter_valid(it); hdb_iiter_next(it)) {
		hdb_slice k = hdb_iiter_key(it), v = hdb_iiter_value(it);
		for (size_t i = 0; i < k.len; i++)
			sum += k.data[i];
		for (size_t i = 0; i < v.len; i++)
			sum += v.data[i];
		count++;
	}
	(void)sum;
	int st = hdb_iiter_status(it);
	assert_true(st == 0 || st == HDB_ECORRUPT);
	/* Each entry takes at least 3 bytes, so a block cannot invent many. */
	assert_true((size_t)count <= len / 3);
	char k[32];
	for (int i = 0; i < n; i += 7) {
		int kn = key_of(k, sizeof(k), i);
		hdb_iiter_seek(it, (uint8_t *)k, (size_t)kn);
		if (hdb_iiter_valid(it))
			assert_true(hdb_iiter_key(it).len < len);
		st = hdb_iiter_status(it);
		assert_true(st == 0 || st == HDB_ECORRUPT);
	}
	hdb_iiter_destroy(it);
	return st;
}

static void test_block_random_flips_never_crash(void **state)
{
	size_t len;
	const int n = 300;
	uint8_t *data = build(n, 16, &len);
	int corrupt = 0;
	srand(1234);
	for (int round = 0; round < 2000; round++) {
		/* A private copy of exactly len bytes so ASan sees any overrun. */
		uint8_t *copy = malloc(len);
		assert_non_null(copy);
		memcpy(copy, data, len);
		int flips = 1 + rand() % 3;
		for (int f = 0; f < flips; f++)
			copy[(size_t)rand() % len] ^= (uint8_t)(1 + rand() % 255);
		corrupt += walk(copy, len, n) == HDB_ECORRUPT;
		free(copy);
	}
	/* Flips in headers and restarts must be detected, not just survived. */
	assert_true(corrupt > 100);
	free(data);
}

static void test_block_truncations_never_crash(void **state)
{
	size_t len;
	const int n = 100;
	uint8_t *data = build(n, 16, &len);
	for (size_t cut = 0; cut < len; cut++) {
		uint8_t *copy = malloc(cut ? cut : 1);
		assert_non_null(copy);
		memcpy(copy, data, cut);
		/* Every cut of this block leaves a restart array that fails checks. */
		assert_int_equal(walk(copy, cut, n), HDB_ECORRUPT);
		free(copy);
	}
	free(data);
}

static void test_block_builder_refuses_block_over_4gib_addressing(void **state)
{
	hdb_block_builder *b = hdb_block_builder_new(16);
	assert_non_null(b);
	/* The length alone is refused before any byte is read. */
	assert_int_equal(hdb_block_builder_add(b, (const uint8_t *)"k", 1, (const uint8_t *)"v",
	                                       (size_t)UINT32_MAX), -EFBIG);
	assert_true(hdb_block_builder_empty(b));
	hdb_block_builder_free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_block_scan_returns_every_entry_restart_16),
		cmocka_unit_test(test_block_scan_returns_every_entry_restart_1),
		cmocka_unit_test(test_block_seek_finds_every_key_and_gap_restart_16),
		cmocka_unit_test(test_block_seek_finds_every_key_and_gap_restart_1),
		cmocka_unit_test(test_block_empty_block_is_valid_and_empty),
		cmocka_unit_test(test_block_prefix_compression_shrinks_keys),
		cmocka_unit_test(test_block_builder_reset_starts_a_new_block),
		cmocka_unit_test(test_block_destroy_calls_release),
		cmocka_unit_test(test_block_bad_restart_count_is_corrupt_with_detail),
		cmocka_unit_test(test_block_too_short_is_corrupt),
		cmocka_unit_test(test_block_restart_offset_out_of_range_is_corrupt),
		cmocka_unit_test(test_block_random_flips_never_crash),
		cmocka_unit_test(test_block_truncations_never_crash),
		cmocka_unit_test(test_block_builder_refuses_block_over_4gib_addressing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
