/*
 * test_bloom.c — Bloom filter: hash stability, no false negatives, a low
 * false-positive rate, and tolerance of malformed filters.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <cmocka.h>

#include "bloom.h"

static void key_of(char *buf, size_t n, const char *prefix, int i)
{
	snprintf(buf, n, "%s%08d", prefix, i);
}

static uint32_t *hashes_of(const char *prefix, int n)
{
	uint32_t *h = malloc(sizeof(*h) * (size_t)(n ? n : 1));
	assert_non_null(h);
	for (int i = 0; i < n; i++) {
		char k[32];
		key_of(k, sizeof(k), prefix, i);
		h[i] = hdb_bloom_hash(k, strlen(k));
	}
	return h;
}

static void build(hdb_buf *f, const char *prefix, int n, int bits)
{
	uint32_t *h = hashes_of(prefix, n);
	assert_int_equal(hdb_bloom_build(f, h, (size_t)n, bits), 0);
	free(h);
}

/* The hash is part of the file format: MurmurHash3_x86_32, seed 0xbc9f1d34
 * (values from an independent implementation checked against the
 * reference vectors). */
static void test_bloom_hash_matches_format(void **state)
{
	assert_int_equal(hdb_bloom_hash("", 0), 0x3f177186u);
	assert_int_equal(hdb_bloom_hash("a", 1), 0x6dba6b55u);
	assert_int_equal(hdb_bloom_hash("ab", 2), 0x424bf1b6u);
	assert_int_equal(hdb_bloom_hash("abc", 3), 0x3445203eu);
	assert_int_equal(hdb_bloom_hash("hybriddb", 8), 0x525b5004u);
	assert_int_equal(hdb_bloom_hash("users/alice.json", 16), 0x3be25452u);
}

static void test_bloom_no_false_negatives_for_10k_keys(void **state)
{
	hdb_buf f = { 0 };
	const int n = 10000;
	build(&f, "key", n, 10);
	uint32_t *h = hashes_of("key", n);
	for (int i = 0; i < n; i++)
		assert_true(hdb_bloom_may_contain(f.data, f.len, h[i]));
	free(h);
	hdb_buf_free(&f);
}

static void test_bloom_false_positive_rate_below_2_percent(void **state)
{
	hdb_buf f = { 0 };
	const int n = 10000, probes = 10000;
	build(&f, "key", n, 10);
	uint32_t *h = hashes_of("absent", probes);
	int fp = 0;
	for (int i = 0; i < probes; i++)
		fp += hdb_bloom_may_contain(f.data, f.len, h[i]);
	assert_true(fp < probes / 50);
	free(h);
	hdb_buf_free(&f);
}

static void test_bloom_filter_size_and_k_byte(void **state)
{
	hdb_buf f = { 0 };
	build(&f, "key", 100, 10);
	assert_int_equal(f.len, 1000 / 8 + 1);
	assert_int_equal(f.data[f.len - 1], 6); /* floor(10 * 0.69) */
	hdb_buf_free(&f);
}

static void test_bloom_small_filter_has_64_bits(void **state)
{
	hdb_buf f = { 0 };
	build(&f, "key", 1, 10);
	assert_int_equal(f.len, 8 + 1);
	hdb_buf_free(&f);
}

static void test_bloom_appends_to_existing_buffer(void **state)
{
	hdb_buf f = { 0 };
	assert_int_equal(hdb_buf_append(&f, "xyz", 3), 0);
	build(&f, "key", 100, 10);
	assert_int_equal(f.len, 3 + 126);
	assert_memory_equal(f.data, "xyz", 3);
	uint32_t *h = hashes_of("key", 100);
	for (int i = 0; i < 100; i++)
		assert_true(hdb_bloom_may_contain(f.data + 3, f.len - 3, h[i]));
	free(h);
	hdb_buf_free(&f);
}

static void test_bloom_k_is_clamped_to_30(void **state)
{
	hdb_buf f = { 0 };
	build(&f, "key", 10, 100);
	assert_int_equal(f.data[f.len - 1], 30);
	hdb_buf_free(&f);
}

static void test_bloom_empty_filter_rejects_keys(void **state)
{
	hdb_buf f = { 0 };
	build(&f, "key", 0, 10);
	uint32_t *h = hashes_of("key", 100);
	for (int i = 0; i < 100; i++)
		assert_false(hdb_bloom_may_contain(f.data, f.len, h[i]));
	free(h);
	hdb_buf_free(&f);
}

static void test_bloom_future_k_answers_may_contain(void **state)
{
	uint8_t f[9] = { 0 };
	f[8] = 31;
	assert_true(hdb_bloom_may_contain(f, sizeof(f), 12345));
	f[8] = 0;
	assert_true(hdb_bloom_may_contain(f, sizeof(f), 12345));
	f[8] = 1;
	assert_false(hdb_bloom_may_contain(f, sizeof(f), 12345));
}

static void test_bloom_short_filter_answers_may_contain(void **state)
{
	uint8_t f[1] = { 6 };
	assert_true(hdb_bloom_may_contain(f, 1, 1));
	assert_true(hdb_bloom_may_contain(f, 0, 1));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bloom_hash_matches_format),
		cmocka_unit_test(test_bloom_no_false_negatives_for_10k_keys),
		cmocka_unit_test(test_bloom_false_positive_rate_below_2_percent),
		cmocka_unit_test(test_bloom_filter_size_and_k_byte),
		cmocka_unit_test(test_bloom_small_filter_has_64_bits),
		cmocka_unit_test(test_bloom_appends_to_existing_buffer),
		cmocka_unit_test(test_bloom_k_is_clamped_to_30),
		cmocka_unit_test(test_bloom_empty_filter_rejects_keys),
		cmocka_unit_test(test_bloom_future_k_answers_may_contain),
		cmocka_unit_test(test_bloom_short_filter_answers_may_contain),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
