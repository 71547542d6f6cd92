/*
 * test_cache.c — block cache: hits, LRU order, budget, pinning, threads.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "cache.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* The cache splits its budget evenly over this many shards. */
#define SHARDS 16

static void *block(size_t len, uint8_t fill)
{
	void *p = malloc(len ? len : 1);
	assert_non_null(p);
	memset(p, fill, len);
	return p;
}

static void insert_released(hdb_cache *c, uint64_t file, uint64_t off, size_t len)
{
	hdb_cache_handle *h = hdb_cache_insert(c, file, off, block(len, (uint8_t)off), len);
	assert_non_null(h);
	hdb_cache_release(c, h);
}

static bool present(hdb_cache *c, uint64_t file, uint64_t off)
{
	hdb_cache_handle *h = hdb_cache_lookup(c, file, off);
	hdb_cache_release(c, h);
	return h != NULL;
}

/*
 * Finds n offsets (in file 0) whose keys share a shard, using only the
 * public API: an anchor that fills its shard's budget exactly is evicted by
 * the next insert into the same shard and by no other.
 */
static void same_shard_offsets(uint64_t *out, size_t n)
{
	const size_t per_shard = 100;
	hdb_cache *c = hdb_cache_new(per_shard * SHARDS);
	assert_non_null(c);
	insert_released(c, 0, 0, per_shard);
	out[0] = 0;
	size_t found = 1;
	for (uint64_t off = 1; found < n; off++) {
		assert_true(off < 100000);
		insert_released(c, 0, off, 1);
		if (!present(c, 0, 0)) {
			out[found++] = off;
			insert_released(c, 0, 0, per_shard);
		}
	}
	hdb_cache_free(c);
}

static void test_cache_lookup_of_absent_key_misses(void **state)
{
	hdb_cache *c = hdb_cache_new(1 << 20);
	assert_non_null(c);
	assert_null(hdb_cache_lookup(c, 1, 0));
	hdb_cache_stats st;
	hdb_cache_get_stats(c, &st);
	assert_int_equal(st.misses, 1);
	assert_int_equal(st.hits, 0);
	assert_int_equal(st.entries, 0);
	assert_int_equal(st.usage, 0);
	assert_int_equal(st.capacity, 1 << 20);
	hdb_cache_free(c);
}

static void test_cache_lookup_after_insert_hits(void **state)
{
	hdb_cache *c = hdb_cache_new(1 << 20);
	assert_non_null(c);
	hdb_cache_handle *h = hdb_cache_insert(c, 3, 4096, block(100, 0xab), 100);
	assert_non_null(h);
	hdb_cache_release(c, h);

	h = hdb_cache_lookup(c, 3, 4096);
	assert_non_null(h);
	size_t len = 0;
	const uint8_t *d = hdb_cache_data(h, &len);
	assert_int_equal(len, 100);
	assert_int_equal(d[0], 0xab);
	assert_int_equal(d[99], 0xab);
	hdb_cache_release(c, h);

	hdb_cache_stats st;
	hdb_cache_get_stats(c, &st);
	assert_int_equal(st.hits, 1);
	assert_int_equal(st.misses, 0);
	assert_int_equal(st.entries, 1);
	assert_int_equal(st.usage, 100);
	hdb_cache_free(c);
}

static void test_cache_keys_distinguish_file_and_offset(void **state)
{
	hdb_cache *c = hdb_cache_new(1 << 20);
	assert_non_null(c);
	insert_released(c, 1, 2, 10);
	assert_true(present(c, 1, 2));
	assert_false(present(c, 2, 1));
	assert_false(present(c, 1, 3));
	assert_false(present(c, 0, 2));
	hdb_cache_free(c);
}

static void test_cache_evicts_least_recently_used(void **state)
{
	uint64_t k[4];
	same_shard_offsets(k, 4);
	hdb_cache *c = hdb_cache_new(30 * SHARDS);
	assert_non_null(c);
	insert_released(c, 0, k[0], 10);
	insert_released(c, 0, k[1], 10);
	insert_released(c, 0, k[2], 10);
	assert_true(present(c, 0, k[0])); /* k[1] is now the oldest */
	insert_released(c, 0, k[3], 10);

	assert_true(present(c, 0, k[0]));
	assert_false(present(c, 0, k[1]));
	assert_true(present(c, 0, k[2]));
	assert_true(present(c, 0, k[3]));
	hdb_cache_stats st;
	hdb_cache_get_stats(c, &st);
	assert_int_equal(st.entries, 3);
	assert_int_equal(st.usage, 30);
	hdb_cache_free(c);
}

static void test_cache_usage_stays_within_capacity(void **state)
{
	const size_t capacity = 1000 * SHARDS;
	hdb_cache *c = hdb_cache_new(capacity);
	assert_non_null(c);
	unsigned seed = 7;
	for (int i = 0; i < 5000; i++) {
		insert_released(c, (uint64_t)(rand_r(&seed) % 8), (uint64_t)(rand_r(&seed) % 4096) * 4096, 100);
		hdb_cache_stats st;
		hdb_cache_get_stats(c, &st);
		assert_true(st.usage <= capacity);
		assert_int_equal(st.usage, st.entries * 100);
	}
	hdb_cache_free(c);
}

static void test_cache_pinned_entry_is_not_evicted(void **state)
{
	uint64_t k[3];
	same_shard_offsets(k, 3);
	hdb_cache *c = hdb_cache_new(10 * SHARDS);
	assert_non_null(c);
	hdb_cache_handle *pinned = hdb_cache_insert(c, 0, k[0], block(10, 0x11), 10);
	assert_non_null(pinned);
	insert_released(c, 0, k[1], 10);
	insert_released(c, 0, k[2], 10);

	assert_true(present(c, 0, k[0]));
	assert_false(present(c, 0, k[1]));
	assert_false(present(c, 0, k[2]));
	size_t len;
	const uint8_t *d = hdb_cache_data(pinned, &len);
	assert_int_equal(len, 10);
	assert_int_equal(d[9], 0x11);
	hdb_cache_stats st;
	hdb_cache_get_stats(c, &st);
	assert_int_equal(st.usage, 10);
	hdb_cache_release(c, pinned);
	hdb_cache_free(c);
}

static void test_cache_release_over_budget_evicts(void **state)
{
	uint64_t k[2];
	same_shard_offsets(k, 2);
	hdb_cache *c = hdb_cache_new(10 * SHARDS);
	assert_non_null(c);
	hdb_cache_handle *h0 = hdb_cache_insert(c, 0, k[0], block(10, 1), 10);
	hdb_cache_handle *h1 = hdb_cache_insert(c, 0, k[1], block(10, 2), 10);
	assert_non_null(h0);
	assert_non_null(h1);
	hdb_cache_stats st;
	hdb_cache_get_stats(c, &st);
	assert_int_equal(st.usage, 20); /* over budget only by what is pinned */

	hdb_cache_release(c, h0);
	hdb_cache_get_stats(c, &st);
	assert_int_equal(st.usage, 10);
	assert_false(present(c, 0, k[0]));
	assert_true(present(c, 0, k[1]));
	hdb_cache_release(c, h1);
	hdb_cache_free(c);
}

static void test_cache_insert_replaces_existing_key(void **state)
{
	hdb_cache *c = hdb_cache_new(1 << 20);
	assert_non_null(c);
	hdb_cache_handle *old = hdb_cache_insert(c, 5, 0, block(8, 'o'), 8);
	assert_non_null(old);
	insert_released(c, 5, 0, 20);

	hdb_cache_handle *h = hdb_cache_lookup(c, 5, 0);
	assert_non_null(h);
	size_t len;
	hdb_cache_data(h, &len);
	assert_int_equal(len, 20);
	hdb_cache_release(c, h);

	/* The replaced entry stays readable while pinned. */
	const uint8_t *d = hdb_cache_data(old, &len);
	assert_int_equal(len, 8);
	assert_int_equal(d[7], 'o');
	hdb_cache_stats st;
	hdb_cache_get_stats(c, &st);
	assert_int_equal(st.entries, 1);
	assert_int_equal(st.usage, 20);
	hdb_cache_release(c, old);
	hdb_cache_free(c);
}

static void test_cache_zero_capacity_keeps_nothing(void **state)
{
	hdb_cache *c = hdb_cache_new(0);
	assert_non_null(c);
	insert_released(c, 1, 1, 10);
	assert_false(present(c, 1, 1));
	hdb_cache_stats st;
	hdb_cache_get_stats(c, &st);
	assert_int_equal(st.entries, 0);
	assert_int_equal(st.usage, 0);
	hdb_cache_free(c);
}

static void test_cache_grows_past_initial_buckets(void **state)
{
	hdb_cache *c = hdb_cache_new(1 << 24);
	assert_non_null(c);
	for (uint64_t i = 0; i < 5000; i++)
		insert_released(c, i % 7, i * 4097, 16);
	for (uint64_t i = 0; i < 5000; i++) {
		hdb_cache_handle *h = hdb_cache_lookup(c, i % 7, i * 4097);
		assert_non_null(h);
		const uint8_t *d = hdb_cache_data(h, NULL);
		assert_int_equal(d[0], (uint8_t)(i * 4097));
		hdb_cache_release(c, h);
	}
	hdb_cache_stats st;
	hdb_cache_get_stats(c, &st);
	assert_int_equal(st.entries, 5000);
	assert_int_equal(st.hits, 5000);
	hdb_cache_free(c);
}

#define THREADS 4
#define THREAD_OPS 100000

struct worker {
	hdb_cache *cache;
	unsigned seed;
	uint64_t lookups;
	int bad; /* blocks whose bytes did not match their key */
};

/* A block names its key in its first 16 bytes.  No cmocka assertion here:
 * they may only run on the test's own thread. */
static void *keyed_block(uint64_t file, uint64_t off, size_t len)
{
	uint8_t *p = malloc(len);
	if (!p)
		return NULL;
	memset(p, 0x5a, len);
	memcpy(p, &file, 8);
	memcpy(p + 8, &off, 8);
	return p;
}

static void *worker_run(void *arg)
{
	struct worker *w = arg;
	for (int i = 0; i < THREAD_OPS; i++) {
		uint64_t file = (uint64_t)(rand_r(&w->seed) % 4);
		uint64_t off = (uint64_t)(rand_r(&w->seed) % 512);
		hdb_cache_handle *h = hdb_cache_lookup(w->cache, file, off);
		w->lookups++;
		if (!h) {
			size_t len = 17 + (size_t)(rand_r(&w->seed) % 240);
			void *data = keyed_block(file, off, len);
			if (!data)
				continue;
			h = hdb_cache_insert(w->cache, file, off, data, len);
			if (!h)
				continue;
		}
		uint64_t f, o;
		size_t len;
		const uint8_t *d = hdb_cache_data(h, &len);
		memcpy(&f, d, 8);
		memcpy(&o, d + 8, 8);
		if (f != file || o != off || len < 17 || d[len - 1] != 0x5a)
			w->bad++;
		hdb_cache_release(w->cache, h);
	}
	return NULL;
}

static void test_cache_threads_share_cache_safely(void **state)
{
	const size_t capacity = 64 * 1024;
	hdb_cache *c = hdb_cache_new(capacity);
	assert_non_null(c);
	struct worker w[THREADS];
	pthread_t t[THREADS];
	for (int i = 0; i < THREADS; i++) {
		w[i] = (struct worker){ .cache = c, .seed = (unsigned)i + 1 };
		assert_int_equal(pthread_create(&t[i], NULL, worker_run, &w[i]), 0);
	}
	/* Join every thread before any assertion can leave this function. */
	int joined = 0;
	for (int i = 0; i < THREADS; i++)
		joined += pthread_join(t[i], NULL) == 0;
	assert_int_equal(joined, THREADS);
	uint64_t lookups = 0;
	for (int i = 0; i < THREADS; i++) {
		assert_int_equal(w[i].bad, 0);
		lookups += w[i].lookups;
	}
	hdb_cache_stats st;
	hdb_cache_get_stats(c, &st);
	assert_int_equal(lookups, (uint64_t)THREADS * THREAD_OPS);
	assert_int_equal(st.hits + st.misses, lookups);
	assert_true(st.hits > 0);
	assert_true(st.usage <= capacity);
	hdb_cache_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cache_lookup_of_absent_key_misses),
		cmocka_unit_test(test_cache_lookup_after_insert_hits),
		cmocka_unit_test(test_cache_keys_distinguish_file_and_offset),
		cmocka_unit_test(test_cache_evicts_least_recently_used),
		cmocka_unit_test(test_cache_usage_stays_within_capacity),
		cmocka_unit_test(test_cache_pinned_entry_is_not_evicted),
		cmocka_unit_test(test_cache_release_over_budget_evicts),
		cmocka_unit_test(test_cache_insert_replaces_existing_key),
		cmocka_unit_test(test_cache_zero_capacity_keeps_nothing),
		cmocka_unit_test(test_cache_grows_past_initial_buckets),
		cmocka_unit_test(test_cache_threads_share_cache_safely),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
