/*
 * test_mount_options.c — `hybriddb mount -o` parsing (mount/options.c).
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "options.h"

static int setup(void **state)
{
	static hdb_mount_cfg c;
	hdb_mount_cfg_init(&c);
	*state = &c;
	return 0;
}

static int teardown(void **state)
{
	hdb_mount_cfg_free(*state);
	return 0;
}

static void test_options_size_suffixes_are_powers_of_1024(void **state)
{
	uint64_t v;
	assert_int_equal(hdb_parse_size("4096", &v), 0);
	assert_int_equal(v, 4096);
	assert_int_equal(hdb_parse_size("8k", &v), 0);
	assert_int_equal(v, 8192);
	assert_int_equal(hdb_parse_size("64M", &v), 0);
	assert_int_equal(v, 64ull << 20);
	assert_int_equal(hdb_parse_size("2G", &v), 0);
	assert_int_equal(v, 2ull << 30);
	assert_int_equal(hdb_parse_size("3MiB", &v), 0);
	assert_int_equal(v, 3ull << 20);
}

static void test_options_size_rejects_garbage(void **state)
{
	uint64_t v;
	assert_int_equal(hdb_parse_size("", &v), -EINVAL);
	assert_int_equal(hdb_parse_size("-1", &v), -EINVAL);
	assert_int_equal(hdb_parse_size("12x", &v), -EINVAL);
	assert_int_equal(hdb_parse_size("k", &v), -EINVAL);
	assert_int_equal(hdb_parse_size("99999999999999999999G", &v), -EINVAL);
}

static void test_options_sync_always_sets_fs_and_engine(void **state)
{
	hdb_mount_cfg *c = *state;
	char err[128];
	assert_int_equal(hdb_mount_apply_opts(c, "sync=always", err, sizeof(err)), 0);
	assert_true(c->fs.sync_always);
	assert_int_equal(c->eng.sync, HDB_SYNC_PERIODIC);
	assert_int_equal(hdb_mount_apply_opts(c, "sync=never", err, sizeof(err)), 0);
	assert_false(c->fs.sync_always);
	assert_int_equal(c->eng.sync, HDB_SYNC_NEVER);
}

static void test_options_bad_sync_value_is_einval_with_reason(void **state)
{
	hdb_mount_cfg *c = *state;
	char err[128] = "";
	assert_int_equal(hdb_mount_apply_opts(c, "sync=sometimes", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "sync=sometimes"));
}

static void test_options_mount_defaults_are_small_buffers(void **state)
{
	hdb_mount_cfg *c = *state;
	assert_int_equal(c->eng.memtable_size, 16u << 20);
	assert_int_equal(c->eng.cache_size, 32u << 20);
	assert_false(c->clone_fd);
	assert_false(c->fs.splice);
}

static void test_options_transport_tuning_applies(void **state)
{
	hdb_mount_cfg *c = *state;
	char err[128] = "";
	assert_int_equal(hdb_mount_apply_opts(c, "clone_fd,splice", err, sizeof(err)), 0);
	assert_true(c->clone_fd);
	assert_true(c->fs.splice);
	assert_null(c->fuse_opts); /* ours, not passed to libfuse */
}

static void test_options_sizes_and_compression_apply(void **state)
{
	hdb_mount_cfg *c = *state;
	char err[128];
	assert_int_equal(hdb_mount_apply_opts(c, "memtable_size=1M,cache_size=2M,max_doc_size=3k,compression=off",
	                                      err, sizeof(err)),
	                 0);
	assert_int_equal(c->eng.memtable_size, 1u << 20);
	assert_int_equal(c->eng.cache_size, 2u << 20);
	assert_int_equal(c->fs.max_doc_size, 3u << 10);
	assert_false(c->eng.compression);
	assert_null(c->fuse_opts);
}

static void test_options_tiny_memtable_is_einval(void **state)
{
	hdb_mount_cfg *c = *state;
	char err[128];
	assert_int_equal(hdb_mount_apply_opts(c, "memtable_size=1k", err, sizeof(err)), -EINVAL);
}

static void test_options_mount8_noise_is_dropped(void **state)
{
	hdb_mount_cfg *c = *state;
	char err[128];
	assert_int_equal(hdb_mount_apply_opts(c, "rw,defaults,auto,nouser,_netdev,nofail,x-systemd.automount,dev,suid,exec,async",
	                                      err, sizeof(err)),
	                 0);
	assert_null(c->fuse_opts);
}

static void test_options_unknown_go_to_libfuse_in_order(void **state)
{
	hdb_mount_cfg *c = *state;
	char err[128];
	assert_int_equal(hdb_mount_apply_opts(c, "allow_other,sync=never,auto_unmount", err, sizeof(err)), 0);
	assert_string_equal(c->fuse_opts, "allow_other,auto_unmount");
}

static void test_options_ro_is_ours_and_the_kernels(void **state)
{
	hdb_mount_cfg *c = *state;
	char err[128];
	assert_int_equal(hdb_mount_apply_opts(c, "ro", err, sizeof(err)), 0);
	assert_true(c->fs.read_only);
	assert_true(c->eng.read_only);
	assert_string_equal(c->fuse_opts, "ro");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_options_size_suffixes_are_powers_of_1024),
		cmocka_unit_test(test_options_size_rejects_garbage),
		cmocka_unit_test_setup_teardown(test_options_sync_always_sets_fs_and_engine, setup, teardown),
		cmocka_unit_test_setup_teardown(test_options_bad_sync_value_is_einval_with_reason, setup, teardown),
		cmocka_unit_test_setup_teardown(test_options_sizes_and_compression_apply, setup, teardown),
		cmocka_unit_test_setup_teardown(test_options_tiny_memtable_is_einval, setup, teardown),
		cmocka_unit_test_setup_teardown(test_options_mount_defaults_are_small_buffers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_options_transport_tuning_applies, setup, teardown),
		cmocka_unit_test_setup_teardown(test_options_mount8_noise_is_dropped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_options_unknown_go_to_libfuse_in_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_options_ro_is_ours_and_the_kernels, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
