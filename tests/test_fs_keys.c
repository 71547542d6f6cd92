/*
 * test_fs_keys.c — the fs key schema (fs/keys.c, fs/fs_format.h).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "coding.h"
#include "hybriddb.h"
#include "keys.h"

static void test_keys_entry_key_layout_is_tag_be_parent_name(void **state)
{
	uint8_t key[HDB_FS_KEY_MAX];
	size_t n = hdb_fs_entry_key(key, 0x0102030405060708ull, "ab", 2);
	const uint8_t want[] = { 'E', 1, 2, 3, 4, 5, 6, 7, 8, 'a', 'b' };
	assert_int_equal(n, sizeof(want));
	assert_memory_equal(key, want, sizeof(want));
}

static void test_keys_entry_key_rejects_name_over_255(void **state)
{
	uint8_t key[HDB_FS_KEY_MAX];
	char name[256];
	memset(name, 'x', sizeof(name));
	assert_int_equal(hdb_fs_entry_key(key, 1, name, 256), 0);
	assert_int_equal(hdb_fs_entry_key(key, 1, name, 255), HDB_FS_KEY_MAX);
}

static void test_keys_directory_range_holds_its_entries_only(void **state)
{
	uint8_t lo[HDB_FS_KEY_PREFIX], hi[HDB_FS_KEY_PREFIX], k1[HDB_FS_KEY_MAX], k2[HDB_FS_KEY_MAX],
		k3[HDB_FS_KEY_MAX];
	hdb_fs_dir_bounds(lo, hi, 255);
	char maxname[255];
	memset(maxname, 0xff, sizeof(maxname));
	size_t n1 = hdb_fs_entry_key(k1, 255, "", 0);
	size_t n2 = hdb_fs_entry_key(k2, 255, maxname, sizeof(maxname));
	size_t n3 = hdb_fs_entry_key(k3, 256, "", 0);
	assert_true(hdb_bytes_cmp(lo, sizeof(lo), k1, n1) <= 0);
	assert_true(hdb_bytes_cmp(k2, n2, hi, sizeof(hi)) < 0);
	assert_true(hdb_bytes_cmp(k3, n3, hi, sizeof(hi)) >= 0);
}

static void test_keys_entry_key_decode_roundtrips(void **state)
{
	uint8_t key[HDB_FS_KEY_MAX];
	size_t n = hdb_fs_entry_key(key, 77, "doc.json", 8);
	uint64_t parent;
	const uint8_t *name;
	size_t nlen;
	assert_int_equal(hdb_fs_entry_key_decode(key, n, &parent, &name, &nlen), 0);
	assert_int_equal(parent, 77);
	assert_int_equal(nlen, 8);
	assert_memory_equal(name, "doc.json", 8);
}

static void test_keys_entry_key_decode_rejects_short_key(void **state)
{
	uint8_t key[4] = { 'E', 0, 0, 0 };
	uint64_t parent;
	const uint8_t *name;
	size_t nlen;
	assert_int_equal(hdb_fs_entry_key_decode(key, sizeof(key), &parent, &name, &nlen), HDB_ECORRUPT);
}

static hdb_fs_attr sample_attr(void)
{
	return (hdb_fs_attr){
		.ino = 42, .mode = S_IFREG | 0640, .uid = 1000, .gid = 100, .size = 12345,
		.atime = { -5, 1 }, .mtime = { 1700000000, 999999999 }, .ctime = { 3, 0 },
	};
}

static void assert_ts_equal(hdb_fs_ts x, hdb_fs_ts y)
{
	assert_int_equal(x.sec, y.sec);
	assert_int_equal(x.nsec, y.nsec);
}

static void test_keys_attr_roundtrips_with_negative_time(void **state)
{
	uint8_t val[HDB_FS_ENTRY_SIZE];
	hdb_fs_attr a = sample_attr(), b;
	hdb_fs_attr_encode(val, &a);
	assert_int_equal(hdb_fs_attr_decode(val, sizeof(val), &b), 0);
	assert_int_equal(b.ino, a.ino);
	assert_int_equal(b.mode, a.mode);
	assert_int_equal(b.uid, a.uid);
	assert_int_equal(b.gid, a.gid);
	assert_int_equal(b.size, a.size);
	assert_ts_equal(b.atime, a.atime);
	assert_ts_equal(b.mtime, a.mtime);
	assert_ts_equal(b.ctime, a.ctime);
	assert_true(b.atime.sec < 0);
}

static void test_keys_attr_value_is_little_endian(void **state)
{
	uint8_t val[HDB_FS_ENTRY_SIZE];
	hdb_fs_attr a = sample_attr();
	hdb_fs_attr_encode(val, &a);
	assert_int_equal(val[0], 42);
	assert_int_equal(val[1], 0);
	assert_int_equal(hdb_get_u32(val + 8), S_IFREG | 0640);
	assert_int_equal(hdb_get_u64(val + 20), 12345);
}

static void test_keys_attr_decode_rejects_wrong_length(void **state)
{
	uint8_t val[HDB_FS_ENTRY_SIZE + 1] = { 0 };
	hdb_fs_attr a = sample_attr(), b;
	hdb_fs_attr_encode(val, &a);
	assert_int_equal(hdb_fs_attr_decode(val, HDB_FS_ENTRY_SIZE + 1, &b), HDB_ECORRUPT);
	assert_int_equal(hdb_fs_attr_decode(val, HDB_FS_ENTRY_SIZE - 1, &b), HDB_ECORRUPT);
}

static void test_keys_attr_decode_rejects_device_mode(void **state)
{
	uint8_t val[HDB_FS_ENTRY_SIZE];
	hdb_fs_attr a = sample_attr(), b;
	a.mode = S_IFCHR | 0600;
	hdb_fs_attr_encode(val, &a);
	assert_int_equal(hdb_fs_attr_decode(val, sizeof(val), &b), HDB_ECORRUPT);
}

static void test_keys_attr_decode_rejects_nsec_of_a_second(void **state)
{
	uint8_t val[HDB_FS_ENTRY_SIZE];
	hdb_fs_attr a = sample_attr(), b;
	a.mtime.nsec = 1000000000;
	hdb_fs_attr_encode(val, &a);
	assert_int_equal(hdb_fs_attr_decode(val, sizeof(val), &b), HDB_ECORRUPT);
}

static void test_keys_attr_decode_rejects_inode_zero(void **state)
{
	uint8_t val[HDB_FS_ENTRY_SIZE];
	hdb_fs_attr a = sample_attr(), b;
	a.ino = 0;
	hdb_fs_attr_encode(val, &a);
	assert_int_equal(hdb_fs_attr_decode(val, sizeof(val), &b), HDB_ECORRUPT);
}

static hdb_fs_super sample_super(void)
{
	return (hdb_fs_super){ .version = HDB_FS_VERSION, .next_ino = 1000, .files = 7, .dirs = 2,
		               .docs = 5, .symlinks = 1, .bytes = 4096 };
}

static void test_keys_super_roundtrips(void **state)
{
	uint8_t val[HDB_FS_SUPER_SIZE];
	hdb_fs_super s = sample_super(), t;
	hdb_fs_super_encode(val, &s);
	assert_int_equal(hdb_fs_super_decode(val, sizeof(val), &t), 0);
	assert_int_equal(t.version, s.version);
	assert_int_equal(t.next_ino, s.next_ino);
	assert_int_equal(t.files, s.files);
	assert_int_equal(t.dirs, s.dirs);
	assert_int_equal(t.docs, s.docs);
	assert_int_equal(t.symlinks, s.symlinks);
	assert_int_equal(t.bytes, s.bytes);
}

static void test_keys_super_newer_version_is_eversion(void **state)
{
	uint8_t val[HDB_FS_SUPER_SIZE];
	hdb_fs_super s = sample_super(), t;
	s.version = HDB_FS_VERSION + 1;
	hdb_fs_super_encode(val, &s);
	assert_int_equal(hdb_fs_super_decode(val, sizeof(val), &t), HDB_EVERSION);
}

static void test_keys_super_bad_magic_is_corrupt(void **state)
{
	uint8_t val[HDB_FS_SUPER_SIZE];
	hdb_fs_super s = sample_super(), t;
	hdb_fs_super_encode(val, &s);
	val[0] ^= 1;
	assert_int_equal(hdb_fs_super_decode(val, sizeof(val), &t), HDB_ECORRUPT);
}

static void test_keys_super_next_inode_below_first_is_corrupt(void **state)
{
	uint8_t val[HDB_FS_SUPER_SIZE];
	hdb_fs_super s = sample_super(), t;
	s.next_ino = HDB_FS_FIRST_INO - 1;
	hdb_fs_super_encode(val, &s);
	assert_int_equal(hdb_fs_super_decode(val, sizeof(val), &t), HDB_ECORRUPT);
}

static void test_keys_super_truncated_is_corrupt(void **state)
{
	uint8_t val[HDB_FS_SUPER_SIZE];
	hdb_fs_super s = sample_super(), t;
	hdb_fs_super_encode(val, &s);
	assert_int_equal(hdb_fs_super_decode(val, sizeof(val) - 8, &t), HDB_ECORRUPT);
}

static void test_keys_ino_key_roundtrips_and_checks_tag(void **state)
{
	uint8_t key[HDB_FS_KEY_PREFIX];
	uint64_t ino;
	size_t n = hdb_fs_ino_key(key, HDB_FS_TAG_PENDING, 1ull << 40);
	assert_int_equal(hdb_fs_ino_key_decode(key, n, HDB_FS_TAG_PENDING, &ino), 0);
	assert_int_equal(ino, 1ull << 40);
	assert_int_equal(hdb_fs_ino_key_decode(key, n, HDB_FS_TAG_ORPHAN, &ino), HDB_ECORRUPT);
}

static void test_keys_doc_name_is_dot_json_suffix(void **state)
{
	assert_true(hdb_fs_is_doc_name("a.json", 6));
	assert_true(hdb_fs_is_doc_name(".json", 5));
	assert_false(hdb_fs_is_doc_name("a.json~", 7));
	assert_false(hdb_fs_is_doc_name("a.JSON", 6));
	assert_false(hdb_fs_is_doc_name("json", 4));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_keys_entry_key_layout_is_tag_be_parent_name),
		cmocka_unit_test(test_keys_entry_key_rejects_name_over_255),
		cmocka_unit_test(test_keys_directory_range_holds_its_entries_only),
		cmocka_unit_test(test_keys_entry_key_decode_roundtrips),
		cmocka_unit_test(test_keys_entry_key_decode_rejects_short_key),
		cmocka_unit_test(test_keys_attr_roundtrips_with_negative_time),
		cmocka_unit_test(test_keys_attr_value_is_little_endian),
		cmocka_unit_test(test_keys_attr_decode_rejects_wrong_length),
		cmocka_unit_test(test_keys_attr_decode_rejects_device_mode),
		cmocka_unit_test(test_keys_attr_decode_rejects_nsec_of_a_second),
		cmocka_unit_test(test_keys_attr_decode_rejects_inode_zero),
		cmocka_unit_test(test_keys_super_roundtrips),
		cmocka_unit_test(test_keys_super_newer_version_is_eversion),
		cmocka_unit_test(test_keys_super_bad_magic_is_corrupt),
		cmocka_unit_test(test_keys_super_next_inode_below_first_is_corrupt),
		cmocka_unit_test(test_keys_super_truncated_is_corrupt),
		cmocka_unit_test(test_keys_ino_key_roundtrips_and_checks_tag),
		cmocka_unit_test(test_keys_doc_name_is_dot_json_suffix),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
