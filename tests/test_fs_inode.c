/*
 * test_fs_inode.c — the inode table (fs/inode.c).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "inode.h"

static int setup(void **state)
{
	hdb_itable *t;
	if (hdb_itable_new(&t))
		return -1;
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	hdb_itable_free(*state);
	return 0;
}

static hdb_fs_attr attr_of(uint64_t ino, uint64_t size)
{
	return (hdb_fs_attr){ .ino = ino, .mode = S_IFREG | 0644, .size = size };
}

static void test_inode_ref_inserts_with_name_and_size(void **state)
{
	hdb_itable *t = *state;
	hdb_fs_attr a = attr_of(20, 7);
	hdb_inode *i;
	hdb_itable_lock(t);
	assert_int_equal(hdb_itable_ref(t, 1, "a.json", 6, &a, 1, &i), 0);
	assert_ptr_equal(hdb_itable_get(t, 20), i);
	assert_string_equal(i->name, "a.json");
	assert_int_equal(i->nlen, 6);
	assert_int_equal(i->parent, 1);
	assert_int_equal(i->nlookup, 1);
	assert_int_equal(i->dsize, 7);
	hdb_itable_unlock(t);
}

static void test_inode_ref_keeps_cached_attributes(void **state)
{
	hdb_itable *t = *state;
	hdb_fs_attr a = attr_of(20, 7), stale = attr_of(20, 1);
	hdb_inode *i;
	hdb_itable_lock(t);
	hdb_itable_ref(t, 1, "a", 1, &a, 1, &i);
	i->attr.size = 99;
	assert_int_equal(hdb_itable_ref(t, 1, "a", 1, &stale, 2, &i), 0);
	assert_int_equal(i->attr.size, 99);
	assert_int_equal(i->nlookup, 3);
	hdb_itable_unlock(t);
}

static void test_inode_forget_to_zero_frees(void **state)
{
	hdb_itable *t = *state;
	hdb_fs_attr a = attr_of(20, 0);
	hdb_itable_lock(t);
	hdb_itable_ref(t, 1, "a", 1, &a, 3, NULL);
	hdb_itable_forget(t, 20, 2);
	assert_non_null(hdb_itable_get(t, 20));
	hdb_itable_forget(t, 20, 1);
	assert_null(hdb_itable_get(t, 20));
	assert_int_equal(hdb_itable_count(t), 0);
	hdb_itable_unlock(t);
}

static void test_inode_open_handle_keeps_forgotten_inode(void **state)
{
	hdb_itable *t = *state;
	hdb_fs_attr a = attr_of(20, 0);
	hdb_inode *i;
	hdb_itable_lock(t);
	hdb_itable_ref(t, 1, "a", 1, &a, 1, &i);
	i->nopen = 1;
	hdb_itable_forget(t, 20, 1);
	assert_ptr_equal(hdb_itable_get(t, 20), i);
	i->nopen = 0;
	hdb_itable_drop_unused(t, i);
	assert_null(hdb_itable_get(t, 20));
	hdb_itable_unlock(t);
}

static void test_inode_pinned_is_never_dropped(void **state)
{
	hdb_itable *t = *state;
	hdb_fs_attr a = attr_of(1, 0);
	hdb_inode *i;
	hdb_itable_lock(t);
	hdb_itable_ref(t, 0, "", 0, &a, 1, &i);
	i->pinned = true;
	hdb_itable_forget(t, 1, 5);
	assert_ptr_equal(hdb_itable_get(t, 1), i);
	hdb_itable_unlock(t);
}

static void test_inode_forget_reports_freed_orphan(void **state)
{
	hdb_itable *t = *state;
	hdb_fs_attr a = attr_of(30, 0), b = attr_of(31, 0);
	hdb_inode *i;
	hdb_itable_lock(t);
	hdb_itable_ref(t, 1, "a", 1, &a, 1, &i);
	i->orphan = true;
	hdb_itable_ref(t, 1, "b", 1, &b, 1, NULL);
	assert_true(hdb_itable_forget(t, 30, 1));
	assert_false(hdb_itable_forget(t, 31, 1));
	assert_false(hdb_itable_forget(t, 32, 1));
	hdb_itable_unlock(t);
}

static void test_inode_set_name_moves(void **state)
{
	hdb_itable *t = *state;
	hdb_fs_attr a = attr_of(20, 0);
	hdb_inode *i;
	char *name = strdup("renamed.json");
	assert_non_null(name);
	hdb_itable_lock(t);
	hdb_itable_ref(t, 1, "a", 1, &a, 1, &i);
	hdb_inode_set_name(i, 17, name);
	assert_int_equal(i->parent, 17);
	assert_string_equal(i->name, "renamed.json");
	assert_int_equal(i->nlen, 12);
	hdb_itable_unlock(t);
}

static void test_inode_many_inodes_survive_growth(void **state)
{
	hdb_itable *t = *state;
	hdb_itable_lock(t);
	for (uint64_t ino = 16; ino < 16 + 5000; ino++) {
		hdb_fs_attr a = attr_of(ino, ino);
		assert_int_equal(hdb_itable_ref(t, 1, "x", 1, &a, 1, NULL), 0);
	}
	assert_int_equal(hdb_itable_count(t), 5000);
	for (uint64_t ino = 16; ino < 16 + 5000; ino++) {
		hdb_inode *i = hdb_itable_get(t, ino);
		assert_non_null(i);
		assert_int_equal(i->dsize, ino);
	}
	for (uint64_t ino = 16; ino < 16 + 5000; ino += 2)
		hdb_itable_forget(t, ino, 1);
	assert_int_equal(hdb_itable_count(t), 2500);
	assert_null(hdb_itable_get(t, 16));
	assert_non_null(hdb_itable_get(t, 17));
	hdb_itable_unlock(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_inode_ref_inserts_with_name_and_size, setup, teardown),
		cmocka_unit_test_setup_teardown(test_inode_ref_keeps_cached_attributes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_inode_forget_to_zero_frees, setup, teardown),
		cmocka_unit_test_setup_teardown(test_inode_open_handle_keeps_forgotten_inode, setup, teardown),
		cmocka_unit_test_setup_teardown(test_inode_pinned_is_never_dropped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_inode_forget_reports_freed_orphan, setup, teardown),
		cmocka_unit_test_setup_teardown(test_inode_set_name_moves, setup, teardown),
		cmocka_unit_test_setup_teardown(test_inode_many_inodes_survive_growth, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
