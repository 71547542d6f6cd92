/*
 * test_memtable.c — versions, tombstones, snapshots and iteration of the
 * in-memory write buffer.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "memtable.h"

static int setup(void **state)
{
	hdb_mem *m = hdb_mem_new();
	*state = m;
	return m ? 0 : -1;
}

static int teardown(void **state)
{
	hdb_mem_unref(*state);
	return 0;
}

static void put(hdb_mem *m, uint64_t seq, const char *k, const char *v)
{
	assert_int_equal(hdb_mem_add(m, seq, HDB_TYPE_VALUE, k, strlen(k), v, strlen(v)), 0);
}

static void del(hdb_mem *m, uint64_t seq, const char *k)
{
	assert_int_equal(hdb_mem_add(m, seq, HDB_TYPE_DELETE, k, strlen(k), NULL, 0), 0);
}

static void assert_found(hdb_mem *m, const char *k, uint64_t seq, const char *want)
{
	void *v = NULL;
	size_t vlen = 0;
	assert_int_equal(hdb_mem_get(m, k, strlen(k), seq, &v, &vlen), HDB_LOOKUP_FOUND);
	assert_non_null(v);
	assert_int_equal(vlen, strlen(want));
	assert_memory_equal(v, want, vlen);
	free(v);
}

static int lookup(hdb_mem *m, const char *k, uint64_t seq)
{
	void *v = (void *)1;
	size_t vlen = 1;
	int rc = hdb_mem_get(m, k, strlen(k), seq, &v, &vlen);
	if (rc == HDB_LOOKUP_FOUND)
		free(v);
	else
		assert_null(v);
	return rc;
}

/* Builds user key ‖ tag in buf; returns its length. */
static size_t ikey(uint8_t *buf, const char *k, uint64_t seq, enum hdb_vtype t)
{
	size_t n = strlen(k);
	memcpy(buf, k, n);
	hdb_put_u64(buf + n, hdb_tag(seq, t));
	return n + HDB_TAG_SIZE;
}

static void test_mem_new_is_empty(void **state)
{
	hdb_mem *m = *state;
	assert_int_equal(hdb_mem_entries(m), 0);
	assert_int_equal(lookup(m, "a", HDB_MAX_SEQ), HDB_LOOKUP_ABSENT);
}

static void test_mem_get_returns_newest_version_at_seq(void **state)
{
	hdb_mem *m = *state;
	put(m, 10, "k", "v10");
	put(m, 20, "k", "v20");
	put(m, 30, "k", "v30");
	assert_found(m, "k", 10, "v10");
	assert_found(m, "k", 19, "v10");
	assert_found(m, "k", 20, "v20");
	assert_found(m, "k", 29, "v20");
	assert_found(m, "k", HDB_MAX_SEQ, "v30");
}

static void test_mem_get_before_first_version_is_absent(void **state)
{
	hdb_mem *m = *state;
	put(m, 10, "k", "v10");
	assert_int_equal(lookup(m, "k", 9), HDB_LOOKUP_ABSENT);
	assert_int_equal(lookup(m, "k", 0), HDB_LOOKUP_ABSENT);
}

static void test_mem_get_tombstone_hides_older_value(void **state)
{
	hdb_mem *m = *state;
	put(m, 1, "k", "old");
	del(m, 2, "k");
	assert_int_equal(lookup(m, "k", 2), HDB_LOOKUP_DELETED);
	assert_int_equal(lookup(m, "k", 100), HDB_LOOKUP_DELETED);
	assert_found(m, "k", 1, "old");
}

static void test_mem_get_value_after_tombstone_is_found(void **state)
{
	hdb_mem *m = *state;
	put(m, 1, "k", "old");
	del(m, 2, "k");
	put(m, 3, "k", "new");
	assert_found(m, "k", 3, "new");
	assert_int_equal(lookup(m, "k", 2), HDB_LOOKUP_DELETED);
}

static void test_mem_get_does_not_match_neighbour_keys(void **state)
{
	hdb_mem *m = *state;
	put(m, 1, "ab", "x");
	put(m, 2, "abc", "y");
	put(m, 3, "b", "z");
	assert_int_equal(lookup(m, "a", 10), HDB_LOOKUP_ABSENT);
	assert_int_equal(lookup(m, "abb", 10), HDB_LOOKUP_ABSENT);
	assert_int_equal(lookup(m, "abcd", 10), HDB_LOOKUP_ABSENT);
	assert_int_equal(lookup(m, "c", 10), HDB_LOOKUP_ABSENT);
	assert_found(m, "ab", 10, "x");
	assert_found(m, "abc", 10, "y");
}

static void test_mem_get_empty_value_is_found(void **state)
{
	hdb_mem *m = *state;
	put(m, 5, "k", "");
	void *v = NULL;
	size_t vlen = 99;
	assert_int_equal(hdb_mem_get(m, "k", 1, 5, &v, &vlen), HDB_LOOKUP_FOUND);
	assert_non_null(v);
	assert_int_equal(vlen, 0);
	free(v);
}

static void test_mem_get_long_key_and_binary_value(void **state)
{
	hdb_mem *m = *state;
	/* Longer than the lookup key's stack buffer, with NULs inside. */
	uint8_t key[1000], val[3000];
	for (size_t i = 0; i < sizeof(key); i++)
		key[i] = (uint8_t)(i * 7);
	for (size_t i = 0; i < sizeof(val); i++)
		val[i] = (uint8_t)(i * 13);
	assert_int_equal(hdb_mem_add(m, 7, HDB_TYPE_VALUE, key, sizeof(key), val, sizeof(val)), 0);
	void *v = NULL;
	size_t vlen = 0;
	assert_int_equal(hdb_mem_get(m, key, sizeof(key), 7, &v, &vlen), HDB_LOOKUP_FOUND);
	assert_int_equal(vlen, sizeof(val));
	assert_memory_equal(v, val, sizeof(val));
	free(v);
	assert_int_equal(hdb_mem_get(m, key, sizeof(key) - 1, 7, &v, &vlen), HDB_LOOKUP_ABSENT);
}

static void test_mem_iter_orders_versions_newest_first(void **state)
{
	hdb_mem *m = *state;
	/* Interleave versions of three keys, inserted out of order. */
	uint64_t seq = 1;
	for (int round = 0; round < 50; round++) {
		put(m, seq++, "b", "vb");
		put(m, seq++, "a", "va");
		if (round % 5 == 4)
			del(m, seq++, "c");
		else
			put(m, seq++, "c", "vc");
	}
	hdb_iiter *it = hdb_mem_iter_new(m);
	assert_non_null(it);
	const char *prev_user = "";
	uint64_t prev_seq = 0;
	size_t count = 0;
	for (hdb_iiter_seek_first(it); hdb_iiter_valid(it); hdb_iiter_next(it)) {
		hdb_slice k = hdb_iiter_key(it);
		hdb_slice v = hdb_iiter_value(it);
		assert_int_equal(k.len, 1 + HDB_TAG_SIZE);
		uint64_t s = hdb_ikey_seq(k.data, k.len);
		const char *user = k.data[0] == 'a' ? "a" : k.data[0] == 'b' ? "b" : "c";
		if (strcmp(user, prev_user) == 0)
			assert_true(s < prev_seq);
		else
			assert_true(strcmp(user, prev_user) > 0);
		if (hdb_ikey_type(k.data, k.len) == HDB_TYPE_DELETE) {
			assert_int_equal(v.len, 0);
		} else {
			assert_int_equal(v.len, 2);
			assert_int_equal(v.data[1], user[0]);
		}
		prev_user = user;
		prev_seq = s;
		count++;
	}
	assert_int_equal(count, 150);
	assert_int_equal(hdb_iiter_status(it), 0);
	hdb_iiter_destroy(it);
}

static void test_mem_iter_first_entry_of_key_is_highest_seq(void **state)
{
	hdb_mem *m = *state;
	put(m, 3, "k", "v3");
	put(m, 9, "k", "v9");
	put(m, 5, "k", "v5");
	hdb_iiter *it = hdb_mem_iter_new(m);
	assert_non_null(it);
	static const uint64_t want[] = { 9, 5, 3 };
	hdb_iiter_seek_first(it);
	for (size_t i = 0; i < 3; i++) {
		assert_true(hdb_iiter_valid(it));
		hdb_slice k = hdb_iiter_key(it);
		assert_int_equal(hdb_ikey_seq(k.data, k.len), want[i]);
		assert_int_equal(hdb_ikey_type(k.data, k.len), HDB_TYPE_VALUE);
		hdb_iiter_next(it);
	}
	assert_false(hdb_iiter_valid(it));
	hdb_iiter_destroy(it);
}

static void test_mem_iter_seek_respects_snapshot_seq(void **state)
{
	hdb_mem *m = *state;
	put(m, 10, "k", "v10");
	put(m, 20, "k", "v20");
	put(m, 30, "l", "l30");
	hdb_iiter *it = hdb_mem_iter_new(m);
	assert_non_null(it);
	uint8_t lk[64];

	hdb_iiter_seek(it, lk, ikey(lk, "k", 25, HDB_TYPE_SEEK));
	assert_true(hdb_iiter_valid(it));
	hdb_slice k = hdb_iiter_key(it);
	assert_int_equal(hdb_ikey_seq(k.data, k.len), 20);
	hdb_slice v = hdb_iiter_value(it);
	assert_int_equal(v.len, 3);
	assert_memory_equal(v.data, "v20", 3);

	hdb_iiter_seek(it, lk, ikey(lk, "k", 15, HDB_TYPE_SEEK));
	k = hdb_iiter_key(it);
	assert_int_equal(hdb_ikey_seq(k.data, k.len), 10);

	/* Nothing of "k" visible at 5: the seek lands on the next user key. */
	hdb_iiter_seek(it, lk, ikey(lk, "k", 5, HDB_TYPE_SEEK));
	assert_true(hdb_iiter_valid(it));
	k = hdb_iiter_key(it);
	assert_int_equal(hdb_ikey_user(k.data, k.len).len, 1);
	assert_int_equal(k.data[0], 'l');

	hdb_iiter_seek(it, lk, ikey(lk, "l", 29, HDB_TYPE_SEEK));
	assert_false(hdb_iiter_valid(it));
	hdb_iiter_destroy(it);
}

static void test_mem_iter_sees_tombstone_entries(void **state)
{
	hdb_mem *m = *state;
	put(m, 1, "k", "v");
	del(m, 2, "k");
	hdb_iiter *it = hdb_mem_iter_new(m);
	assert_non_null(it);
	hdb_iiter_seek_first(it);
	assert_true(hdb_iiter_valid(it));
	hdb_slice k = hdb_iiter_key(it);
	assert_int_equal(hdb_ikey_type(k.data, k.len), HDB_TYPE_DELETE);
	assert_int_equal(hdb_ikey_seq(k.data, k.len), 2);
	hdb_iiter_next(it);
	k = hdb_iiter_key(it);
	assert_int_equal(hdb_ikey_type(k.data, k.len), HDB_TYPE_VALUE);
	hdb_iiter_destroy(it);
}

static void test_mem_iter_keeps_table_alive_after_unref(void **state)
{
	hdb_mem *m = hdb_mem_new();
	assert_non_null(m);
	put(m, 1, "k", "value");
	hdb_iiter *it = hdb_mem_iter_new(m);
	assert_non_null(it);
	hdb_mem_unref(m); /* the iterator's reference is now the last */
	hdb_iiter_seek_first(it);
	assert_true(hdb_iiter_valid(it));
	hdb_slice v = hdb_iiter_value(it);
	assert_int_equal(v.len, 5);
	assert_memory_equal(v.data, "value", 5);
	hdb_iiter_destroy(it); /* frees the table: ASan reports a leak if not */
}

static void test_mem_ref_unref_balance_frees_once(void **state)
{
	hdb_mem *m = hdb_mem_new();
	assert_non_null(m);
	hdb_mem_ref(m);
	hdb_mem_ref(m);
	hdb_mem_unref(m);
	hdb_mem_unref(m);
	put(m, 1, "still", "alive"); /* one reference left: use is valid */
	assert_found(m, "still", 1, "alive");
	hdb_mem_unref(m);
}

static void test_mem_entries_and_usage_grow(void **state)
{
	hdb_mem *m = *state;
	size_t before = hdb_mem_usage(m);
	char key[32], val[100];
	memset(val, 'x', sizeof(val));
	for (int i = 0; i < 2000; i++) {
		int n = snprintf(key, sizeof(key), "key%06d", i);
		assert_int_equal(hdb_mem_add(m, (uint64_t)i + 1, HDB_TYPE_VALUE, key, (size_t)n, val, sizeof(val)), 0);
	}
	assert_int_equal(hdb_mem_entries(m), 2000);
	/* At least the raw bytes of keys, tags and values. */
	assert_true(hdb_mem_usage(m) - before >= 2000 * (9 + HDB_TAG_SIZE + 100));
	void *v = NULL;
	size_t vlen = 0;
	assert_int_equal(hdb_mem_get(m, "key001234", 9, HDB_MAX_SEQ, &v, &vlen), HDB_LOOKUP_FOUND);
	assert_int_equal(vlen, sizeof(val));
	assert_memory_equal(v, val, sizeof(val));
	free(v);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_mem_new_is_empty),
		T(test_mem_get_returns_newest_version_at_seq),
		T(test_mem_get_before_first_version_is_absent),
		T(test_mem_get_tombstone_hides_older_value),
		T(test_mem_get_value_after_tombstone_is_found),
		T(test_mem_get_does_not_match_neighbour_keys),
		T(test_mem_get_empty_value_is_found),
		T(test_mem_get_long_key_and_binary_value),
		T(test_mem_iter_orders_versions_newest_first),
		T(test_mem_iter_first_entry_of_key_is_highest_seq),
		T(test_mem_iter_seek_respects_snapshot_seq),
		T(test_mem_iter_sees_tombstone_entries),
		cmocka_unit_test(test_mem_iter_keeps_table_alive_after_unref),
		cmocka_unit_test(test_mem_ref_unref_balance_frees_once),
		T(test_mem_entries_and_usage_grow),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
