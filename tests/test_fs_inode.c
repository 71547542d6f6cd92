/*
 * test_fs_inode.c — the inode table (fs/inode.c).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
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

static hdb_fs_attr dir_of(uint64_t ino)
{
	return (hdb_fs_attr){ .ino = ino, .mode = S_IFDIR | 0755 };
}

static void test_inode_ref_inserts_idle_file_with_name(void **state)
{
	hdb_itable *t = *state;
	hdb_fs_attr a = attr_of(20, 7);
	hdb_inode *i;
	hdb_itable_lock(t);
	assert_int_equal(hdb_itable_ref(t, 1, "a.json", 6, &a, 1, false, &i), 0);
	assert_ptr_equal(hdb_itable_get(t, 20), i);
	assert_string_equal(hdb_inode_name(i), "a.json");
	assert_int_equal(i->nlen, 6);
	assert_int_equal(i->parent, 1);
	assert_int_equal(i->nlookup, 1);
	assert_int_equal(hdb_inode_type(i), S_IFREG);
	assert_null(i->x); /* idle: its attributes stay in its entry */
	assert_int_equal(hdb_itable_loaded(t), 0);
	hdb_itable_unlock(t);
}

static void test_inode_directories_and_loaded_refs_carry_attributes(void **state)
{
	hdb_itable *t = *state;
	hdb_fs_attr d = dir_of(21), a = attr_of(22, 7);
	hdb_inode *i;
	hdb_itable_lock(t);
	assert_int_equal(hdb_itable_ref(t, 1, "c", 1, &d, 1, false, &i), 0);
	assert_non_null(i->x);
	assert_true(S_ISDIR(i->x->attr.mode));
	assert_int_equal(hdb_itable_ref(t, 21, "a.json", 6, &a, 1, true, &i), 0);
	assert_non_null(i->x);
	assert_int_equal(i->x->dsize, 7);
	assert_int_equal(i->x->attr.size, 7);
	assert_true(i->x->kcached); /* loaded from storage: the kernel may hold pages */
	assert_int_equal(hdb_itable_loaded(t), 2);
	hdb_itable_unlock(t);
}

static void test_inode_ref_keeps_cached_attributes(void **state)
{
	hdb_itable *t = *state;
	hdb_fs_attr a = attr_of(20, 7), stale = attr_of(20, 1);
	hdb_inode *i;
	hdb_itable_lock(t);
	hdb_itable_ref(t, 1, "a", 1, &a, 1, true, &i);
	i->x->attr.size = 99;
	assert_int_equal(hdb_itable_ref(t, 1, "a", 1, &stale, 2, true, &i), 0);
	assert_int_equal(i->x->attr.size, 99);
	assert_int_equal(i->nlookup, 3);
	hdb_itable_unlock(t);
}

static void test_inode_load_gives_idle_inode_attributes_once(void **state)
{
	hdb_itable *t = *state;
	hdb_fs_attr a = attr_of(20, 7), later = attr_of(20, 8);
	hdb_inode *i;
	hdb_itable_lock(t);
	hdb_itable_ref(t, 1, "a", 1, &a, 1, false, &i);
	assert_int_equal(hdb_inode_load(t, i, &a, NULL), 0);
	assert_int_equal(i->x->dsize, 7);
	assert_int_equal(hdb_inode_load(t, i, &later, NULL), 0);
	assert_int_equal(i->x->dsize, 7);
	assert_int_equal(hdb_itable_loaded(t), 1);
	hdb_itable_unlock(t);
}

static void test_inode_load_takes_the_spare(void **state)
{
	hdb_itable *t = *state;
	hdb_fs_attr a = attr_of(20, 7);
	hdb_inode *i;
	hdb_inode_ext *spare = malloc(sizeof(*spare));
	assert_non_null(spare);
	hdb_inode_ext *given = spare;
	hdb_itable_lock(t);
	hdb_itable_ref(t, 1, "a", 1, &a, 1, false, &i);
	assert_int_equal(hdb_inode_load(t, i, &a, &spare), 0);
	assert_null(spare);
	assert_ptr_equal(i->x, given);
	assert_int_equal(i->x->nopen, 0); /* cleared */
	hdb_itable_unlock(t);
}

static void test_inode_drop_unused_unloads_an_idle_file_only(void **state)
{
	hdb_itable *t = *state;
	hdb_fs_attr a = attr_of(20, 7), d = dir_of(21), b = attr_of(22, 1);
	hdb_inode *i, *dir, *gone;
	hdb_itable_lock(t);
	hdb_itable_ref(t, 1, "a", 1, &a, 1, true, &i);
	hdb_itable_ref(t, 1, "d", 1, &d, 1, false, &dir);
	hdb_itable_ref(t, 1, "b", 1, &b, 1, true, &gone);
	i->x->nopen = 1;
	assert_false(hdb_itable_drop_unused(t, i));
	assert_non_null(i->x); /* open */
	i->x->nopen = 0;
	i->x->pending = true;
	assert_false(hdb_itable_drop_unused(t, i));
	assert_non_null(i->x); /* creation not finished */
	i->x->pending = false;
	assert_false(hdb_itable_drop_unused(t, i));
	assert_null(i->x);
	assert_false(hdb_itable_drop_unused(t, dir));
	assert_non_null(dir->x); /* directories stay loaded */
	gone->unlinked = true;
	assert_false(hdb_itable_drop_unused(t, gone));
	assert_non_null(gone->x); /* its entry is gone: x is all there is */
	assert_int_equal(hdb_itable_loaded(t), 2);
	assert_ptr_equal(hdb_itable_get(t, 20), i);
	hdb_itable_unlock(t);
}

static void test_inode_forget_to_zero_frees(void **state)
{
	hdb_itable *t = *state;
	hdb_fs_attr a = attr_of(20, 0);
	hdb_itable_lock(t);
	hdb_itable_ref(t, 1, "a", 1, &a, 3, true, NULL);
	hdb_itable_forget(t, 20, 2);
	assert_non_null(hdb_itable_get(t, 20));
	hdb_itable_forget(t, 20, 1);
	assert_null(hdb_itable_get(t, 20));
	assert_int_equal(hdb_itable_count(t), 0);
	assert_int_equal(hdb_itable_loaded(t), 0);
	hdb_itable_unlock(t);
}

static void test_inode_lookup_count_saturates_and_pins(void **state)
{
	hdb_itable *t = *state;
	hdb_fs_attr a = attr_of(20, 0);
	hdb_inode *i;
	hdb_itable_lock(t);
	hdb_itable_ref(t, 1, "a", 1, &a, UINT32_MAX - 1, false, &i);
	assert_false(i->pinned);
	hdb_itable_ref(t, 1, "a", 1, &a, 5, false, &i);
	assert_true(i->pinned);
	assert_int_equal(i->nlookup, UINT32_MAX);
	hdb_itable_forget(t, 20, (uint64_t)UINT32_MAX + 4);
	assert_ptr_equal(hdb_itable_get(t, 20), i);
	hdb_itable_unlock(t);
}

static void test_inode_open_handle_keeps_forgotten_inode(void **state)
{
	hdb_itable *t = *state;
	hdb_fs_attr a = attr_of(20, 0);
	hdb_inode *i;
	hdb_itable_lock(t);
	hdb_itable_ref(t, 1, "a", 1, &a, 1, true, &i);
	i->x->nopen = 1;
	hdb_itable_forget(t, 20, 1);
	assert_ptr_equal(hdb_itable_get(t, 20), i);
	i->x->nopen = 0;
	hdb_itable_drop_unused(t, i);
	assert_null(hdb_itable_get(t, 20));
	hdb_itable_unlock(t);
}

static void test_inode_pinned_is_never_dropped(void **state)
{
	hdb_itable *t = *state;
	hdb_fs_attr a = dir_of(1);
	hdb_inode *i;
	hdb_itable_lock(t);
	hdb_itable_ref(t, 0, "", 0, &a, 1, true, &i);
	i->pinned = true;
	hdb_itable_forget(t, 1, 5);
	assert_ptr_equal(hdb_itable_get(t, 1), i);
	assert_string_equal(hdb_inode_name(i), "");
	hdb_itable_unlock(t);
}

static void test_inode_forget_reports_freed_orphan(void **state)
{
	hdb_itable *t = *state;
	hdb_fs_attr a = attr_of(30, 0), b = attr_of(31, 0);
	hdb_inode *i;
	hdb_itable_lock(t);
	hdb_itable_ref(t, 1, "a", 1, &a, 1, false, &i);
	i->orphan = true;
	hdb_itable_ref(t, 1, "b", 1, &b, 1, false, NULL);
	assert_true(hdb_itable_forget(t, 30, 1));
	assert_false(hdb_itable_forget(t, 31, 1));
	assert_false(hdb_itable_forget(t, 32, 1));
	hdb_itable_unlock(t);
}

static void test_inode_set_name_moves_between_inline_and_allocated(void **state)
{
	hdb_itable *t = *state;
	hdb_fs_attr a = attr_of(20, 0);
	hdb_inode *i;
	const char *long_name = "a-name-longer-than-fifteen-bytes.json";
	char *name = strdup(long_name);
	assert_non_null(name);
	hdb_itable_lock(t);
	hdb_itable_ref(t, 1, "a", 1, &a, 1, false, &i);
	hdb_inode_set_name(i, 17, name);
	assert_int_equal(i->parent, 17);
	assert_string_equal(hdb_inode_name(i), long_name);
	assert_int_equal(i->nlen, strlen(long_name));
	name = strdup("fifteen-bytes.j"); /* 15: the longest inline name */
	assert_non_null(name);
	hdb_inode_set_name(i, 18, name);
	assert_string_equal(hdb_inode_name(i), "fifteen-bytes.j");
	assert_ptr_equal(hdb_inode_name(i), i->nm.in);
	name = strdup("sixteen-bytes.js");
	assert_non_null(name);
	hdb_inode_set_name(i, 18, name);
	assert_string_equal(hdb_inode_name(i), "sixteen-bytes.js");
	assert_ptr_equal(hdb_inode_name(i), name);
	hdb_itable_unlock(t);
}

static void test_inode_long_name_is_copied(void **state)
{
	hdb_itable *t = *state;
	hdb_fs_attr a = attr_of(20, 0);
	char name[HDB_FS_NAME_MAX + 1];
	memset(name, 'n', HDB_FS_NAME_MAX);
	name[HDB_FS_NAME_MAX] = 0;
	hdb_inode *i;
	hdb_itable_lock(t);
	assert_int_equal(hdb_itable_ref(t, 1, name, HDB_FS_NAME_MAX, &a, 1, false, &i), 0);
	name[0] = 'x';
	assert_int_equal(i->nlen, HDB_FS_NAME_MAX);
	assert_int_equal(hdb_inode_name(i)[0], 'n');
	assert_int_equal(strlen(hdb_inode_name(i)), HDB_FS_NAME_MAX);
	hdb_itable_unlock(t);
}

static void test_inode_epoch_is_odd_during_a_change(void **state)
{
	hdb_itable *t = *state;
	hdb_itable_lock(t);
	uint64_t e = hdb_itable_epoch(t);
	assert_int_equal(e % 2, 0);
	hdb_itable_change_begin(t);
	hdb_itable_change_begin(t); /* a second write in the same change */
	assert_int_equal(hdb_itable_epoch(t), e + 1);
	hdb_itable_change_end(t);
	assert_int_equal(hdb_itable_epoch(t), e + 2);
	hdb_itable_change_end(t); /* a change that wrote nothing more */
	assert_int_equal(hdb_itable_epoch(t), e + 2);
	hdb_itable_unlock(t);
}

static void test_inode_many_inodes_survive_growth(void **state)
{
	hdb_itable *t = *state;
	hdb_itable_lock(t);
	for (uint64_t ino = 16; ino < 16 + 5000; ino++) {
		hdb_fs_attr a = attr_of(ino, ino);
		char name[32];
		int n = snprintf(name, sizeof(name), "%07llu.json", (unsigned long long)ino);
		assert_int_equal(hdb_itable_ref(t, 1, name, (size_t)n, &a, 1, ino % 3 == 0, NULL), 0);
	}
	assert_int_equal(hdb_itable_count(t), 5000);
	for (uint64_t ino = 16; ino < 16 + 5000; ino++) {
		hdb_inode *i = hdb_itable_get(t, ino);
		char name[32];
		snprintf(name, sizeof(name), "%07llu.json", (unsigned long long)ino);
		assert_non_null(i);
		assert_string_equal(hdb_inode_name(i), name);
		if (ino % 3 == 0)
			assert_int_equal(i->x->dsize, ino);
		else
			assert_null(i->x);
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
		cmocka_unit_test_setup_teardown(test_inode_ref_inserts_idle_file_with_name, setup, teardown),
		cmocka_unit_test_setup_teardown(test_inode_directories_and_loaded_refs_carry_attributes, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_inode_ref_keeps_cached_attributes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_inode_load_gives_idle_inode_attributes_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_inode_load_takes_the_spare, setup, teardown),
		cmocka_unit_test_setup_teardown(test_inode_drop_unused_unloads_an_idle_file_only, setup, teardown),
		cmocka_unit_test_setup_teardown(test_inode_forget_to_zero_frees, setup, teardown),
		cmocka_unit_test_setup_teardown(test_inode_lookup_count_saturates_and_pins, setup, teardown),
		cmocka_unit_test_setup_teardown(test_inode_open_handle_keeps_forgotten_inode, setup, teardown),
		cmocka_unit_test_setup_teardown(test_inode_pinned_is_never_dropped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_inode_forget_reports_freed_orphan, setup, teardown),
		cmocka_unit_test_setup_teardown(test_inode_set_name_moves_between_inline_and_allocated, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_inode_long_name_is_copied, setup, teardown),
		cmocka_unit_test_setup_teardown(test_inode_epoch_is_odd_during_a_change, setup, teardown),
		cmocka_unit_test_setup_teardown(test_inode_many_inodes_survive_growth, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
