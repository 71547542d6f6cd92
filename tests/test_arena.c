/*
 * test_arena.c — the MemTable's bump allocator.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "arena.h"

#define BLOCK (64 * 1024)

static void test_arena_new_has_zero_usage(void **state)
{
	hdb_arena *a = hdb_arena_new();
	assert_non_null(a);
	assert_int_equal(hdb_arena_usage(a), 0);
	hdb_arena_free(a);
}

static void test_arena_alloc_is_8_byte_aligned(void **state)
{
	hdb_arena *a = hdb_arena_new();
	assert_non_null(a);
	for (size_t n = 0; n < 3000; n++) {
		void *p = hdb_arena_alloc(a, n % 37);
		assert_non_null(p);
		assert_int_equal((uintptr_t)p % 8, 0);
	}
	hdb_arena_free(a);
}

static void test_arena_first_small_alloc_costs_one_block(void **state)
{
	hdb_arena *a = hdb_arena_new();
	assert_non_null(a);
	assert_non_null(hdb_arena_alloc(a, 1));
	assert_int_equal(hdb_arena_usage(a), BLOCK);
	assert_non_null(hdb_arena_alloc(a, 100));
	assert_int_equal(hdb_arena_usage(a), BLOCK);
	hdb_arena_free(a);
}

static void test_arena_usage_grows_block_by_block(void **state)
{
	hdb_arena *a = hdb_arena_new();
	assert_non_null(a);
	/* 1000 bytes each: 65 fit in a block (minus its header), 200 need 4. */
	for (int i = 0; i < 200; i++)
		assert_non_null(hdb_arena_alloc(a, 1000));
	assert_int_equal(hdb_arena_usage(a), 4 * BLOCK);
	hdb_arena_free(a);
}

static void test_arena_large_alloc_gets_own_block(void **state)
{
	hdb_arena *a = hdb_arena_new();
	assert_non_null(a);
	/* Leave about 17 KiB free in the first block. */
	for (int i = 0; i < 3; i++)
		assert_non_null(hdb_arena_alloc(a, 16000));
	size_t before = hdb_arena_usage(a);
	assert_int_equal(before, BLOCK);

	size_t big = 20000; /* over a quarter block, and does not fit */
	assert_non_null(hdb_arena_alloc(a, big));
	size_t grew = hdb_arena_usage(a) - before;
	assert_in_range(grew, big, big + 64);

	/* The partly used block was kept: this still fits in it. */
	assert_non_null(hdb_arena_alloc(a, 16000));
	assert_int_equal(hdb_arena_usage(a), before + grew);
	hdb_arena_free(a);
}

static void test_arena_allocations_do_not_overlap(void **state)
{
	enum { N = 2000 };
	static uint8_t *ptrs[N];
	hdb_arena *a = hdb_arena_new();
	assert_non_null(a);
	for (int i = 0; i < N; i++) {
		size_t n = (size_t)(i * 131) % (BLOCK / 2) + 1;
		ptrs[i] = hdb_arena_alloc(a, n);
		assert_non_null(ptrs[i]);
		memset(ptrs[i], i & 0xff, n);
	}
	for (int i = 0; i < N; i++) {
		size_t n = (size_t)(i * 131) % (BLOCK / 2) + 1;
		for (size_t j = 0; j < n; j++)
			assert_int_equal(ptrs[i][j], i & 0xff);
	}
	hdb_arena_free(a);
}

static void test_arena_zero_size_allocs_are_distinct(void **state)
{
	hdb_arena *a = hdb_arena_new();
	assert_non_null(a);
	void *p = hdb_arena_alloc(a, 0);
	void *q = hdb_arena_alloc(a, 0);
	assert_non_null(p);
	assert_non_null(q);
	assert_ptr_not_equal(p, q);
	hdb_arena_free(a);
}

static void test_arena_huge_alloc_fails_cleanly(void **state)
{
	hdb_arena *a = hdb_arena_new();
	assert_non_null(a);
	assert_null(hdb_arena_alloc(a, SIZE_MAX - 4));
	assert_int_equal(hdb_arena_usage(a), 0);
	hdb_arena_free(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_arena_new_has_zero_usage),
		cmocka_unit_test(test_arena_alloc_is_8_byte_aligned),
		cmocka_unit_test(test_arena_first_small_alloc_costs_one_block),
		cmocka_unit_test(test_arena_usage_grows_block_by_block),
		cmocka_unit_test(test_arena_large_alloc_gets_own_block),
		cmocka_unit_test(test_arena_allocations_do_not_overlap),
		cmocka_unit_test(test_arena_zero_size_allocs_are_distinct),
		cmocka_unit_test(test_arena_huge_alloc_fails_cleanly),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
