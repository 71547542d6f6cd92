/*
 * test_skiplist.c — ordered set in an arena, one writer and lock-free readers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>

#include "arena.h"
#include "skiplist.h"

#define NKEYS 10000
#define MAXKEY 16

struct key {
	size_t len;
	uint8_t b[MAXKEY];
};

struct fixture {
	hdb_arena *arena;
	hdb_skiplist *sl;
	struct key *keys;  /* NKEYS distinct random keys, sorted */
	struct key *order; /* the same keys in insertion order */
	uint64_t rng;
};

static int bytes_cmp(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
	return hdb_bytes_cmp(a, an, b, bn);
}

static uint64_t next_rand(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static int key_qsort_cmp(const void *a, const void *b)
{
	const struct key *x = a, *y = b;
	return hdb_bytes_cmp(x->b, x->len, y->b, y->len);
}

static void random_key(uint64_t *rng, struct key *k)
{
	k->len = 1 + next_rand(rng) % MAXKEY;
	for (size_t i = 0; i < k->len; i++)
		k->b[i] = (uint8_t)(next_rand(rng) % 4 + 'a'); /* small alphabet: shared prefixes */
}

/* Fills f->keys with NKEYS distinct sorted keys and f->order with a shuffle. */
static void make_keys(struct fixture *f)
{
	size_t n = 0;
	while (n < NKEYS) {
		while (n < NKEYS)
			random_key(&f->rng, &f->keys[n++]);
		qsort(f->keys, n, sizeof(*f->keys), key_qsort_cmp);
		size_t w = 1;
		for (size_t r = 1; r < n; r++)
			if (key_qsort_cmp(&f->keys[r], &f->keys[w - 1]))
				f->keys[w++] = f->keys[r];
		n = w;
	}
	memcpy(f->order, f->keys, NKEYS * sizeof(*f->keys));
	for (size_t i = NKEYS - 1; i > 0; i--) {
		size_t j = next_rand(&f->rng) % (i + 1);
		struct key t = f->order[i];
		f->order[i] = f->order[j];
		f->order[j] = t;
	}
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	f->rng = 0x1234567887654321ull;
	f->arena = hdb_arena_new();
	f->sl = f->arena ? hdb_skiplist_new(f->arena, bytes_cmp) : NULL;
	f->keys = malloc(NKEYS * sizeof(*f->keys));
	f->order = malloc(NKEYS * sizeof(*f->order));
	*state = f;
	return f->sl && f->keys && f->order ? 0 : -1;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	hdb_skiplist_free(f->sl);
	hdb_arena_free(f->arena);
	free(f->keys);
	free(f->order);
	free(f);
	return 0;
}

static void insert_all(struct fixture *f)
{
	make_keys(f);
	for (size_t i = 0; i < NKEYS; i++)
		assert_int_equal(hdb_skiplist_insert(f->sl, f->order[i].b, f->order[i].len), 0);
}

static void assert_at(const hdb_skipcursor *c, const struct key *k)
{
	size_t n, keylen;
	assert_true(hdb_skipcursor_valid(c));
	const uint8_t *e = hdb_skipcursor_entry(c, &n, &keylen);
	assert_int_equal(n, k->len);
	assert_int_equal(keylen, k->len);
	assert_memory_equal(e, k->b, k->len);
}

static void test_skiplist_empty_list_is_invalid(void **state)
{
	struct fixture *f = *state;
	hdb_skipcursor c;
	hdb_skipcursor_init(&c, f->sl);
	assert_false(hdb_skipcursor_valid(&c));
	hdb_skipcursor_seek_first(&c);
	assert_false(hdb_skipcursor_valid(&c));
	hdb_skipcursor_seek(&c, (const uint8_t *)"a", 1);
	assert_false(hdb_skipcursor_valid(&c));
}

static void test_skiplist_iterates_in_sorted_order(void **state)
{
	struct fixture *f = *state;
	insert_all(f);
	hdb_skipcursor c;
	hdb_skipcursor_init(&c, f->sl);
	hdb_skipcursor_seek_first(&c);
	for (size_t i = 0; i < NKEYS; i++) {
		assert_at(&c, &f->keys[i]);
		hdb_skipcursor_next(&c);
	}
	assert_false(hdb_skipcursor_valid(&c));
}

static void test_skiplist_seek_exact_key_lands_on_it(void **state)
{
	struct fixture *f = *state;
	insert_all(f);
	hdb_skipcursor c;
	hdb_skipcursor_init(&c, f->sl);
	for (size_t i = 0; i < NKEYS; i++) {
		hdb_skipcursor_seek(&c, f->keys[i].b, f->keys[i].len);
		assert_at(&c, &f->keys[i]);
	}
}

/* Index of the first sorted key >= k, NKEYS if none. */
static size_t lower_bound(const struct fixture *f, const struct key *k)
{
	size_t lo = 0, hi = NKEYS;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (key_qsort_cmp(&f->keys[mid], k) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static void test_skiplist_seek_finds_first_greater_or_equal(void **state)
{
	struct fixture *f = *state;
	insert_all(f);
	hdb_skipcursor c;
	hdb_skipcursor_init(&c, f->sl);
	size_t past_end = 0;
	for (int i = 0; i < 5000; i++) {
		struct key probe;
		random_key(&f->rng, &probe);
		size_t want = lower_bound(f, &probe);
		hdb_skipcursor_seek(&c, probe.b, probe.len);
		if (want == NKEYS) {
			assert_false(hdb_skipcursor_valid(&c));
			past_end++;
			continue;
		}
		assert_at(&c, &f->keys[want]);
	}
	assert_true(past_end < 5000);
}

static void test_skiplist_seek_past_end_is_invalid(void **state)
{
	struct fixture *f = *state;
	insert_all(f);
	hdb_skipcursor c;
	hdb_skipcursor_init(&c, f->sl);
	hdb_skipcursor_seek(&c, (const uint8_t *)"e", 1); /* keys use a..d */
	assert_false(hdb_skipcursor_valid(&c));

	const struct key *last = &f->keys[NKEYS - 1];
	hdb_skipcursor_seek(&c, last->b, last->len);
	assert_at(&c, last);
	hdb_skipcursor_next(&c);
	assert_false(hdb_skipcursor_valid(&c));
}

static void test_skiplist_seek_before_first_lands_on_first(void **state)
{
	struct fixture *f = *state;
	insert_all(f);
	hdb_skipcursor c;
	hdb_skipcursor_init(&c, f->sl);
	hdb_skipcursor_seek(&c, (const uint8_t *)"", 0);
	assert_at(&c, &f->keys[0]);
}

static void test_skiplist_reserved_entry_orders_by_key_prefix(void **state)
{
	struct fixture *f = *state;
	/* Same payload bytes after different keys: only keylen bytes count. */
	static const char *const keys[] = { "m", "b", "x", "bb" };
	for (size_t i = 0; i < 4; i++) {
		size_t kl = strlen(keys[i]);
		hdb_skipnode *node;
		uint8_t *p = hdb_skiplist_reserve(f->sl, kl + 3, &node);
		assert_non_null(p);
		memcpy(p, keys[i], kl);
		memcpy(p + kl, "zzz", 3);
		hdb_skiplist_link(f->sl, node, kl);
	}
	static const char *const want[] = { "b", "bb", "m", "x" };
	hdb_skipcursor c;
	hdb_skipcursor_init(&c, f->sl);
	hdb_skipcursor_seek_first(&c);
	for (size_t i = 0; i < 4; i++) {
		size_t n, keylen;
		assert_true(hdb_skipcursor_valid(&c));
		const uint8_t *e = hdb_skipcursor_entry(&c, &n, &keylen);
		assert_int_equal(keylen, strlen(want[i]));
		assert_int_equal(n, keylen + 3);
		assert_memory_equal(e, want[i], keylen);
		assert_memory_equal(e + keylen, "zzz", 3);
		hdb_skipcursor_next(&c);
	}
	assert_false(hdb_skipcursor_valid(&c));
	/* "bc" is past "b" and "bb"; were the payload compared, "bzzz" would
	 * be the answer. */
	hdb_skipcursor_seek(&c, (const uint8_t *)"bc", 2);
	assert_true(hdb_skipcursor_valid(&c));
	size_t n, keylen;
	const uint8_t *e = hdb_skipcursor_entry(&c, &n, &keylen);
	assert_int_equal(keylen, 1);
	assert_memory_equal(e, "m", 1);
}

static void test_skiplist_empty_entry_is_stored(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(hdb_skiplist_insert(f->sl, (const uint8_t *)"k", 1), 0);
	assert_int_equal(hdb_skiplist_insert(f->sl, NULL, 0), 0);
	hdb_skipcursor c;
	hdb_skipcursor_init(&c, f->sl);
	hdb_skipcursor_seek_first(&c);
	size_t n = 99, keylen = 99;
	hdb_skipcursor_entry(&c, &n, &keylen);
	assert_int_equal(n, 0);
	assert_int_equal(keylen, 0);
	hdb_skipcursor_next(&c);
	hdb_skipcursor_entry(&c, &n, &keylen);
	assert_int_equal(n, 1);
}

/*
 * Concurrency: one writer inserts a shuffled permutation of 0..CN-1 while
 * readers scan.  A key is 16 bytes: the number big-endian, then its mix, so
 * a torn or unpublished entry shows as a mismatch.  Before each scan a
 * reader reads how many inserts have completed, d; the scan must be strictly
 * ascending and contain every one of the first d keys of the permutation.
 */
#define CN 20000
#define CREADERS 2

struct conc {
	hdb_skiplist *sl;
	uint32_t perm[CN];     /* insertion order */
	uint32_t pos[CN];      /* pos[k]: index of k in perm */
	atomic_uint done;      /* inserts completed, release-stored */
	atomic_int failures;   /* reader-detected errors */
	atomic_uint scans;     /* completed reader scans */
};

static uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= UINT64_C(0xff51afd7ed558ccd);
	x ^= x >> 33;
	return x;
}

static void encode_key(uint8_t *p, uint32_t k)
{
	uint64_t m = mix(k);
	for (int i = 0; i < 8; i++) {
		p[i] = (uint8_t)((uint64_t)k >> (56 - 8 * i));
		p[8 + i] = (uint8_t)(m >> (8 * i));
	}
}

static void *writer_main(void *arg)
{
	struct conc *cs = arg;
	uint8_t key[16];
	for (unsigned i = 0; i < CN; i++) {
		encode_key(key, cs->perm[i]);
		if (hdb_skiplist_insert(cs->sl, key, sizeof(key)) != 0)
			atomic_fetch_add(&cs->failures, 1);
		atomic_store_explicit(&cs->done, i + 1, memory_order_release);
	}
	return NULL;
}

/* One scan; returns the number of errors seen. */
static int reader_scan(struct conc *cs)
{
	unsigned d = atomic_load_explicit(&cs->done, memory_order_acquire);
	unsigned seen_before = 0;
	int64_t prev = -1;
	hdb_skipcursor c;
	hdb_skipcursor_init(&c, cs->sl);
	for (hdb_skipcursor_seek_first(&c); hdb_skipcursor_valid(&c); hdb_skipcursor_next(&c)) {
		size_t n, keylen;
		const uint8_t *e = hdb_skipcursor_entry(&c, &n, &keylen);
		if (n != 16 || keylen != 16)
			return 1;
		uint8_t want[16];
		uint64_t k = 0;
		for (int i = 0; i < 8; i++)
			k = k << 8 | e[i];
		if (k >= CN)
			return 1;
		encode_key(want, (uint32_t)k);
		if (memcmp(e, want, 16) != 0 || (int64_t)k <= prev)
			return 1;
		prev = (int64_t)k;
		if (cs->pos[k] < d)
			seen_before++;
	}
	return seen_before != d;
}

static void *reader_main(void *arg)
{
	struct conc *cs = arg;
	for (;;) {
		bool last = atomic_load_explicit(&cs->done, memory_order_acquire) == CN;
		if (reader_scan(cs))
			atomic_fetch_add(&cs->failures, 1);
		atomic_fetch_add(&cs->scans, 1);
		if (last)
			return NULL;
	}
}

static void test_skiplist_concurrent_readers_see_ordered_complete_prefix(void **state)
{
	struct fixture *f = *state;
	struct conc *cs = calloc(1, sizeof(*cs));
	assert_non_null(cs);
	cs->sl = f->sl;
	for (uint32_t i = 0; i < CN; i++)
		cs->perm[i] = i;
	for (uint32_t i = CN - 1; i > 0; i--) {
		uint32_t j = (uint32_t)(next_rand(&f->rng) % (i + 1));
		uint32_t t = cs->perm[i];
		cs->perm[i] = cs->perm[j];
		cs->perm[j] = t;
	}
	for (uint32_t i = 0; i < CN; i++)
		cs->pos[cs->perm[i]] = i;
	atomic_init(&cs->done, 0);
	atomic_init(&cs->failures, 0);
	atomic_init(&cs->scans, 0);

	pthread_t readers[CREADERS], writer;
	for (int i = 0; i < CREADERS; i++)
		assert_int_equal(pthread_create(&readers[i], NULL, reader_main, cs), 0);
	assert_int_equal(pthread_create(&writer, NULL, writer_main, cs), 0);
	assert_int_equal(pthread_join(writer, NULL), 0);
	for (int i = 0; i < CREADERS; i++)
		assert_int_equal(pthread_join(readers[i], NULL), 0);

	assert_int_equal(atomic_load(&cs->failures), 0);
	/* Each reader ends with at least one scan of the complete list. */
	assert_true(atomic_load(&cs->scans) >= CREADERS);
	free(cs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_skiplist_empty_list_is_invalid, setup, teardown),
		cmocka_unit_test_setup_teardown(test_skiplist_iterates_in_sorted_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_skiplist_seek_exact_key_lands_on_it, setup, teardown),
		cmocka_unit_test_setup_teardown(test_skiplist_seek_finds_first_greater_or_equal, setup, teardown),
		cmocka_unit_test_setup_teardown(test_skiplist_seek_past_end_is_invalid, setup, teardown),
		cmocka_unit_test_setup_teardown(test_skiplist_seek_before_first_lands_on_first, setup, teardown),
		cmocka_unit_test_setup_teardown(test_skiplist_reserved_entry_orders_by_key_prefix, setup, teardown),
		cmocka_unit_test_setup_teardown(test_skiplist_empty_entry_is_stored, setup, teardown),
		cmocka_unit_test_setup_teardown(test_skiplist_concurrent_readers_see_ordered_complete_prefix, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
