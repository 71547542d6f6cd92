/*
 * test_batch.c — write batch encoding, appending and hostile-input parsing.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "batch.h"
#include "errors.h"
#include "wal_format.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_OPS 16

/* Ops collected by iteration, copied out of the batch. */
struct seen {
	uint32_t n;
	uint64_t seq[MAX_OPS];
	enum hdb_vtype type[MAX_OPS];
	hdb_buf key[MAX_OPS];
	hdb_buf val[MAX_OPS];
	int fail_at; /* return -7 on this op; -1 never */
};

static int record_op(void *ctx, uint64_t seq, enum hdb_vtype type, const uint8_t *key, size_t klen,
                     const uint8_t *val, size_t vlen)
{
	struct seen *s = ctx;
	if ((int)s->n == s->fail_at)
		return -7;
	assert_true(s->n < MAX_OPS);
	s->seq[s->n] = seq;
	s->type[s->n] = type;
	assert_int_equal(hdb_buf_append(&s->key[s->n], key, klen), 0);
	assert_int_equal(hdb_buf_append(&s->val[s->n], val, vlen), 0);
	s->n++;
	return 0;
}

static void seen_free(struct seen *s)
{
	for (size_t i = 0; i < MAX_OPS; i++) {
		hdb_buf_free(&s->key[i]);
		hdb_buf_free(&s->val[i]);
	}
}

static void assert_op(const struct seen *s, uint32_t i, uint64_t seq, enum hdb_vtype t, const char *key,
                      const char *val)
{
	assert_int_equal(s->seq[i], seq);
	assert_int_equal(s->type[i], t);
	assert_int_equal(s->key[i].len, strlen(key));
	assert_memory_equal(s->key[i].data, key, strlen(key));
	assert_int_equal(s->val[i].len, strlen(val));
	assert_memory_equal(s->val[i].data, val, strlen(val));
}

/* Iterates over a private, exactly sized copy so ASan sees any overread. */
static int iterate_copy(const uint8_t *rep, size_t n, struct seen *s, uint32_t *count)
{
	uint8_t *copy = malloc(n ? n : 1);
	assert_non_null(copy);
	memcpy(copy, rep, n);
	int rc = hdb_batch_iterate(copy, n, record_op, s, count);
	free(copy);
	return rc;
}

/* A batch of four ops with seq 100, used by several tests. */
static hdb_batch *sample_batch(void)
{
	hdb_batch *b = hdb_batch_new();
	assert_non_null(b);
	assert_int_equal(hdb_batch_put(b, "apple", 5, "red", 3), 0);
	assert_int_equal(hdb_batch_delete(b, "banana", 6), 0);
	assert_int_equal(hdb_batch_put(b, "", 0, "", 0), 0);
	assert_int_equal(hdb_batch_put(b, "cherry", 6, "dark", 4), 0);
	hdb_batch_set_seq(b, 100);
	return b;
}

static void test_batch_new_is_empty(void **state)
{
	hdb_batch *b = hdb_batch_new();
	assert_non_null(b);
	assert_int_equal(hdb_batch_count(b), 0);
	assert_int_equal(hdb_batch_bytes(b), HDB_BATCH_HEADER);
	assert_int_equal(hdb_batch_seq(b), 0);
	hdb_batch_free(b);
}

static void test_batch_round_trip_delivers_ops_in_order(void **state)
{
	hdb_batch *b = sample_batch();
	struct seen s = { .fail_at = -1 };
	uint32_t count = 0;
	assert_int_equal(hdb_batch_iterate(b->rep.data, b->rep.len, record_op, &s, &count), 0);
	assert_int_equal(count, 4);
	assert_int_equal(s.n, 4);
	assert_op(&s, 0, 100, HDB_TYPE_VALUE, "apple", "red");
	assert_op(&s, 1, 101, HDB_TYPE_DELETE, "banana", "");
	assert_op(&s, 2, 102, HDB_TYPE_VALUE, "", "");
	assert_op(&s, 3, 103, HDB_TYPE_VALUE, "cherry", "dark");
	seen_free(&s);
	hdb_batch_free(b);
}

static void test_batch_large_value_round_trips(void **state)
{
	size_t n = 300000;
	uint8_t *val = malloc(n);
	assert_non_null(val);
	for (size_t i = 0; i < n; i++)
		val[i] = (uint8_t)(i * 13);
	hdb_batch *b = hdb_batch_new();
	assert_non_null(b);
	assert_int_equal(hdb_batch_put(b, "big", 3, val, n), 0);
	/* type, klen varint, key, 3-byte vlen varint, value */
	assert_int_equal(hdb_batch_bytes(b), HDB_BATCH_HEADER + 1 + 1 + 3 + 3 + n);

	struct seen s = { .fail_at = -1 };
	assert_int_equal(hdb_batch_iterate(b->rep.data, b->rep.len, record_op, &s, NULL), 0);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.val[0].len, n);
	assert_memory_equal(s.val[0].data, val, n);
	seen_free(&s);
	hdb_batch_free(b);
	free(val);
}

static void test_batch_encoding_matches_format(void **state)
{
	hdb_batch *b = hdb_batch_new();
	assert_non_null(b);
	assert_int_equal(hdb_batch_put(b, "k", 1, "v", 1), 0);
	assert_int_equal(hdb_batch_delete(b, "d", 1), 0);
	hdb_batch_set_seq(b, 0x0102030405060708);
	const uint8_t want[] = {
		8, 7, 6, 5, 4, 3, 2, 1, /* seq */
		2, 0, 0, 0,             /* count */
		1, 1, 'k', 1, 'v',      /* put */
		0, 1, 'd',              /* delete */
	};
	assert_int_equal(hdb_batch_bytes(b), sizeof(want));
	assert_memory_equal(b->rep.data, want, sizeof(want));
	assert_int_equal(hdb_batch_seq(b), 0x0102030405060708);
	hdb_batch_free(b);
}

static void test_batch_append_concatenates_ops(void **state)
{
	hdb_batch *dst = hdb_batch_new();
	assert_non_null(dst);
	assert_int_equal(hdb_batch_put(dst, "a", 1, "1", 1), 0);
	hdb_batch_set_seq(dst, 10);
	hdb_batch *src = hdb_batch_new();
	assert_non_null(src);
	assert_int_equal(hdb_batch_delete(src, "b", 1), 0);
	assert_int_equal(hdb_batch_put(src, "c", 1, "3", 1), 0);
	hdb_batch_set_seq(src, 999);

	assert_int_equal(hdb_batch_append(dst, src), 0);
	assert_int_equal(hdb_batch_count(dst), 3);
	assert_int_equal(hdb_batch_seq(dst), 10);
	assert_int_equal(hdb_batch_bytes(dst), HDB_BATCH_HEADER + 5 + 3 + 5);

	struct seen s = { .fail_at = -1 };
	uint32_t count;
	assert_int_equal(hdb_batch_iterate(dst->rep.data, dst->rep.len, record_op, &s, &count), 0);
	assert_int_equal(count, 3);
	assert_op(&s, 0, 10, HDB_TYPE_VALUE, "a", "1");
	assert_op(&s, 1, 11, HDB_TYPE_DELETE, "b", "");
	assert_op(&s, 2, 12, HDB_TYPE_VALUE, "c", "3");
	seen_free(&s);
	hdb_batch_free(src);
	hdb_batch_free(dst);
}

static void test_batch_append_of_empty_batch_changes_nothing(void **state)
{
	hdb_batch *dst = sample_batch();
	hdb_batch *src = hdb_batch_new();
	assert_non_null(src);
	size_t bytes = hdb_batch_bytes(dst);
	assert_int_equal(hdb_batch_append(dst, src), 0);
	assert_int_equal(hdb_batch_count(dst), 4);
	assert_int_equal(hdb_batch_bytes(dst), bytes);
	hdb_batch_free(src);
	hdb_batch_free(dst);
}

static void test_batch_clear_resets_to_empty(void **state)
{
	hdb_batch *b = sample_batch();
	hdb_batch_clear(b);
	assert_int_equal(hdb_batch_count(b), 0);
	assert_int_equal(hdb_batch_bytes(b), HDB_BATCH_HEADER);
	assert_int_equal(hdb_batch_seq(b), 0);

	struct seen s = { .fail_at = -1 };
	uint32_t count = 99;
	assert_int_equal(hdb_batch_iterate(b->rep.data, b->rep.len, record_op, &s, &count), 0);
	assert_int_equal(count, 0);
	assert_int_equal(s.n, 0);

	assert_int_equal(hdb_batch_put(b, "x", 1, "y", 1), 0);
	assert_int_equal(hdb_batch_count(b), 1);
	hdb_batch_free(b);
}

static void test_batch_zeroed_struct_is_usable(void **state)
{
	hdb_batch b = { 0 };
	assert_int_equal(hdb_batch_seq(&b), 0);
	assert_int_equal(hdb_batch_put(&b, "k", 1, "v", 1), 0);
	hdb_batch_set_seq(&b, 5);
	assert_int_equal(hdb_batch_count(&b), 1);
	assert_int_equal(hdb_batch_bytes(&b), HDB_BATCH_HEADER + 5);

	struct seen s = { .fail_at = -1 };
	assert_int_equal(hdb_batch_iterate(b.rep.data, b.rep.len, record_op, &s, NULL), 0);
	assert_op(&s, 0, 5, HDB_TYPE_VALUE, "k", "v");
	seen_free(&s);
	hdb_buf_free(&b.rep);
}

static void test_batch_put_refuses_oversized_key(void **state)
{
	hdb_batch *b = hdb_batch_new();
	assert_non_null(b);
	uint8_t byte = 0;
	/* Refused before the key is read, so one byte stands for it. */
	assert_int_equal(hdb_batch_put(b, &byte, (size_t)HDB_WAL_MAX_RECORD + 1, "v", 1), -EFBIG);
	assert_int_equal(hdb_batch_delete(b, &byte, (size_t)HDB_WAL_MAX_RECORD), -EFBIG);
	assert_int_equal(hdb_batch_count(b), 0);
	assert_int_equal(hdb_batch_bytes(b), HDB_BATCH_HEADER);
	hdb_batch_free(b);
}

static void test_batch_truncation_at_every_offset_is_corrupt(void **state)
{
	hdb_batch *b = sample_batch();
	for (size_t n = 0; n < b->rep.len; n++) {
		struct seen s = { .fail_at = -1 };
		assert_int_equal(iterate_copy(b->rep.data, n, &s, NULL), HDB_ECORRUPT);
		assert_int_equal(s.n, 0);
	}
	hdb_batch_free(b);
}

static void test_batch_trailing_bytes_are_corrupt(void **state)
{
	hdb_batch *b = sample_batch();
	size_t n = b->rep.len;
	uint8_t extra = 0;
	assert_int_equal(hdb_buf_append(&b->rep, &extra, 1), 0);
	struct seen s = { .fail_at = -1 };
	assert_int_equal(iterate_copy(b->rep.data, b->rep.len, &s, NULL), HDB_ECORRUPT);
	assert_int_equal(s.n, 0);
	char want[64];
	snprintf(want, sizeof(want), "batch offset %zu: bytes after the last operation", n);
	assert_string_equal(hdb_errdetail(), want);
	hdb_batch_free(b);
}

static void test_batch_count_above_ops_is_corrupt(void **state)
{
	hdb_batch *b = sample_batch();
	hdb_put_u32(b->rep.data + 8, 5);
	struct seen s = { .fail_at = -1 };
	assert_int_equal(iterate_copy(b->rep.data, b->rep.len, &s, NULL), HDB_ECORRUPT);
	assert_int_equal(s.n, 0);
	hdb_batch_free(b);
}

static void test_batch_count_below_ops_is_corrupt(void **state)
{
	hdb_batch *b = sample_batch();
	hdb_put_u32(b->rep.data + 8, 3);
	struct seen s = { .fail_at = -1 };
	assert_int_equal(iterate_copy(b->rep.data, b->rep.len, &s, NULL), HDB_ECORRUPT);
	assert_int_equal(s.n, 0);
	hdb_batch_free(b);
}

static void test_batch_bad_op_type_is_corrupt(void **state)
{
	const uint8_t rep[] = { 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 2, 1, 'k' };
	struct seen s = { .fail_at = -1 };
	assert_int_equal(iterate_copy(rep, sizeof(rep), &s, NULL), HDB_ECORRUPT);
	assert_string_equal(hdb_errdetail(), "batch offset 12: bad operation type");
}

static void test_batch_overlong_varint_is_corrupt(void **state)
{
	const uint8_t rep[] = { 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0x80, 0x80, 0x80, 0x80, 0x80,
		                0x80, 0x80, 0x80, 0x80, 0x80, 0x01 };
	struct seen s = { .fail_at = -1 };
	assert_int_equal(iterate_copy(rep, sizeof(rep), &s, NULL), HDB_ECORRUPT);
	assert_string_equal(hdb_errdetail(), "batch offset 13: truncated or overlong length varint");
}

static void test_batch_length_over_limit_is_corrupt(void **state)
{
	/* klen = 2^30 + 1 */
	const uint8_t rep[] = { 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0x81, 0x80, 0x80, 0x80, 0x04 };
	struct seen s = { .fail_at = -1 };
	assert_int_equal(iterate_copy(rep, sizeof(rep), &s, NULL), HDB_ECORRUPT);
	assert_string_equal(hdb_errdetail(), "batch offset 13: length over the limit");
}

static void test_batch_length_past_end_is_corrupt(void **state)
{
	const uint8_t rep[] = { 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 1, 'k', 5, 'v' };
	struct seen s = { .fail_at = -1 };
	assert_int_equal(iterate_copy(rep, sizeof(rep), &s, NULL), HDB_ECORRUPT);
	assert_string_equal(hdb_errdetail(), "batch offset 15: length runs past the end of the batch");
}

static void test_batch_sequence_overflow_is_corrupt(void **state)
{
	hdb_batch *b = hdb_batch_new();
	assert_non_null(b);
	assert_int_equal(hdb_batch_delete(b, "a", 1), 0);
	assert_int_equal(hdb_batch_delete(b, "b", 1), 0);
	hdb_batch_set_seq(b, HDB_MAX_SEQ - 1);
	struct seen s = { .fail_at = -1 };
	assert_int_equal(iterate_copy(b->rep.data, b->rep.len, &s, NULL), 0);
	assert_int_equal(s.seq[1], HDB_MAX_SEQ);
	seen_free(&s);

	hdb_batch_set_seq(b, HDB_MAX_SEQ);
	struct seen s2 = { .fail_at = -1 };
	assert_int_equal(iterate_copy(b->rep.data, b->rep.len, &s2, NULL), HDB_ECORRUPT);
	assert_int_equal(s2.n, 0);
	hdb_batch_free(b);
}

static void test_batch_callback_error_is_returned(void **state)
{
	hdb_batch *b = sample_batch();
	struct seen s = { .fail_at = 2 };
	assert_int_equal(hdb_batch_iterate(b->rep.data, b->rep.len, record_op, &s, NULL), -7);
	assert_int_equal(s.n, 2);
	seen_free(&s);
	hdb_batch_free(b);
}

static void test_batch_random_damage_is_corrupt_or_whole(void **state)
{
	hdb_batch *b = sample_batch();
	size_t n = b->rep.len;
	uint8_t *buf = malloc(n);
	assert_non_null(buf);
	unsigned seed = 12345;
	for (int iter = 0; iter < 20000; iter++) {
		memcpy(buf, b->rep.data, n);
		int flips = 1 + rand_r(&seed) % 3;
		for (int k = 0; k < flips; k++)
			buf[(size_t)rand_r(&seed) % n] ^= (uint8_t)(1 + rand_r(&seed) % 255);
		size_t len = (size_t)rand_r(&seed) % (n + 1);
		struct seen s = { .fail_at = -1 };
		uint32_t count = 0;
		int rc = iterate_copy(buf, len, &s, &count);
		if (rc == 0)
			assert_int_equal(s.n, count);
		else
			assert_true(rc == HDB_ECORRUPT && s.n == 0);
		seen_free(&s);
	}
	free(buf);
	hdb_batch_free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_batch_new_is_empty),
		cmocka_unit_test(test_batch_round_trip_delivers_ops_in_order),
		cmocka_unit_test(test_batch_large_value_round_trips),
		cmocka_unit_test(test_batch_encoding_matches_format),
		cmocka_unit_test(test_batch_append_concatenates_ops),
		cmocka_unit_test(test_batch_append_of_empty_batch_changes_nothing),
		cmocka_unit_test(test_batch_clear_resets_to_empty),
		cmocka_unit_test(test_batch_zeroed_struct_is_usable),
		cmocka_unit_test(test_batch_put_refuses_oversized_key),
		cmocka_unit_test(test_batch_truncation_at_every_offset_is_corrupt),
		cmocka_unit_test(test_batch_trailing_bytes_are_corrupt),
		cmocka_unit_test(test_batch_count_above_ops_is_corrupt),
		cmocka_unit_test(test_batch_count_below_ops_is_corrupt),
		cmocka_unit_test(test_batch_bad_op_type_is_corrupt),
		cmocka_unit_test(test_batch_overlong_varint_is_corrupt),
		cmocka_unit_test(test_batch_length_over_limit_is_corrupt),
		cmocka_unit_test(test_batch_length_past_end_is_corrupt),
		cmocka_unit_test(test_batch_sequence_overflow_is_corrupt),
		cmocka_unit_test(test_batch_callback_error_is_returned),
		cmocka_unit_test(test_batch_random_damage_is_corrupt_or_whole),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
