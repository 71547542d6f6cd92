/*
 * test_fs_tables.c — table schemas on the fs layer over a real engine,
 * without FUSE (fs/tables.c and its hooks): what a mount cannot show, such
 * as the superblock's format version, a stored schema that does not
 * parse, and hybriddb check on schema keys written behind the fs's back.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "fs_fixture.h"
#include "fs_internal.h"
#include "hybriddb.h"
#include "import.h"
#include "keys.h"
#include "qindex.h"
#include "tables.h"

#define SCHEMA "{\"columns\":{\"id\":\"integer\",\"name\":\"string\"},\"key\":\"id\"}"

static int setup(void **state)
{
	*state = fs_fixture_new_coll(0, "t");
	return *state ? 0 : -1;
}

static int teardown(void **state)
{
	return fs_fixture_free(*state);
}

static uint32_t sb_version(struct fs_env *e)
{
	void *v;
	size_t vl;
	hdb_fs_super s;
	assert_int_equal(hdb_get(e->db, NULL, HDB_FS_KEY_SUPER, HDB_FS_KEY_SUPER_LEN, &v, &vl), 0);
	assert_int_equal(hdb_fs_super_decode(v, vl, &s), 0);
	free(v);
	return s.version;
}

/* Rewrites the superblock as an older program left it, and reopens. */
static void downgrade(struct fs_env *e, uint32_t version)
{
	void *v;
	size_t vl;
	hdb_fs_super s;
	assert_int_equal(hdb_get(e->db, NULL, HDB_FS_KEY_SUPER, HDB_FS_KEY_SUPER_LEN, &v, &vl), 0);
	assert_int_equal(hdb_fs_super_decode(v, vl, &s), 0);
	free(v);
	s.version = version;
	uint8_t val[HDB_FS_SUPER_SIZE];
	hdb_fs_super_encode(val, &s);
	assert_int_equal(hdb_put(e->db, HDB_FS_KEY_SUPER, HDB_FS_KEY_SUPER_LEN, val, sizeof(val), false), 0);
	fs_fixture_reopen(e);
}

static void put_schema_key(struct fs_env *e, uint64_t coll, const char *raw)
{
	uint8_t k[HDB_FS_KEY_PREFIX];
	size_t kl = hdb_fs_ino_key(k, HDB_FS_TAG_SCHEMA, coll);
	assert_int_equal(hdb_put(e->db, k, kl, raw, strlen(raw), false), 0);
}

static void count_report(void *ctx, const char *what)
{
	(*(int *)ctx)++;
}

static void test_fs_tables_new_database_is_version_3(void **state)
{
	struct fs_env *e = *state;
	assert_int_equal(sb_version(e), 3);
}

static void test_fs_tables_first_schema_upgrades_an_old_superblock(void **state)
{
	struct fs_env *e = *state;
	downgrade(e, 1);
	assert_int_equal(fs_index_create(e->fs, e->coll, "name", 4), 0);
	assert_int_equal(sb_version(e), 2);
	assert_int_equal(fs_table_set(e->fs, e->coll, SCHEMA, strlen(SCHEMA)), 0);
	assert_int_equal(sb_version(e), 3);
	downgrade(e, 3);
	assert_int_equal(fs_index_create(e->fs, e->coll, "id", 2), 0);
	assert_int_equal(sb_version(e), 3);
}

static void test_fs_tables_commit_is_checked_and_survives_reopen(void **state)
{
	struct fs_env *e = *state;
	assert_int_equal(fs_fixture_put_doc(e, "1.json", "{\"id\":1,\"name\":\"a\"}"), 0);
	assert_int_equal(fs_table_set(e->fs, e->coll, SCHEMA, strlen(SCHEMA)), 0);
	fs_fixture_reopen(e);
	assert_int_equal(fs_fixture_put_doc(e, "1.json", "{\"id\":1,\"name\":2}"), -EINVAL);
	assert_int_equal(fs_fixture_put_doc(e, "2.json", "{\"id\":1,\"name\":\"b\"}"), -EINVAL);
	assert_int_equal(fs_fixture_put_doc(e, "2.json.tmp", "{\"id\":1,\"name\":2}"), 0);
	assert_int_equal(fs_node_rename(e->fs, e->coll, "2.json.tmp", e->coll, "2.json", 0), -EINVAL);
	assert_int_equal(fs_fixture_put_doc(e, "2.json", "{\"id\":2,\"name\":\"b\"}"), 0);
	assert_int_equal(fs_table_remove(e->fs, e->coll), 0);
	assert_int_equal(fs_table_remove(e->fs, e->coll), -ENOENT);
	assert_int_equal(fs_fixture_put_doc(e, "2.json", "{\"id\":1,\"name\":2}"), 0);
}

static void test_fs_tables_import_is_named_from_the_key(void **state)
{
	struct fs_env *e = *state;
	assert_int_equal(fs_table_set(e->fs, e->coll, SCHEMA, strlen(SCHEMA)), 0);
	fs_import_opts o = { .mode = 0644, .what = "test import" };
	fs_import_result res;
	const char *text = "{\"id\":-7,\"name\":\"x\"}\n{\"id\":8,\"name\":\"y\"}\n";
	assert_int_equal(fs_import(e->fs, e->coll, text, strlen(text), &o, &res), 0);
	assert_int_equal(res.created, 2);
	struct stat st;
	assert_int_equal(fs_node_lookup(e->fs, e->coll, "-7.json", &st), 0);
	assert_int_equal(fs_node_lookup(e->fs, e->coll, "8.json", &st), 0);
	const char *bad = "{\"id\":9,\"name\":\"z\"}\n{\"_id\":\"w\",\"id\":10,\"name\":\"w\"}\n";
	assert_int_equal(fs_import(e->fs, e->coll, bad, strlen(bad), &o, &res), -EINVAL);
	assert_int_equal(res.err_line, 2);
	assert_int_equal(fs_node_lookup(e->fs, e->coll, "9.json", &st), -ENOENT);
	o.format = FS_IMPORT_CSV;
	const char *csv = "name,id\nq,11\n";
	assert_int_equal(fs_import(e->fs, e->coll, csv, strlen(csv), &o, &res), 0);
	assert_int_equal(fs_node_lookup(e->fs, e->coll, "11.json", &st), 0);
	assert_int_equal(fs_import(e->fs, e->coll, "\n", 1, &o, &res), -EINVAL);
}

/* A record that does not fit is reported with the byte where it starts
 * (hybriddb import prints it), in both formats. */
static void test_fs_tables_import_error_names_the_record_offset(void **state)
{
	struct fs_env *e = *state;
	assert_int_equal(fs_table_set(e->fs, e->coll, SCHEMA, strlen(SCHEMA)), 0);
	fs_import_opts o = { .mode = 0644, .what = "test import" };
	fs_import_result res;
	const char *jsonl = "{\"id\":1,\"name\":\"a\"}\n  {\"id\":2,\"name\":3}\n";
	assert_int_equal(fs_import(e->fs, e->coll, jsonl, strlen(jsonl), &o, &res), -EINVAL);
	assert_int_equal(res.err_line, 2);
	assert_int_equal(res.err_offset, 22);
	o.format = FS_IMPORT_CSV;
	const char *csv = "id,name\n1,a\n2,\"b\nc\"\nx3,d\n";
	assert_int_equal(fs_import(e->fs, e->coll, csv, strlen(csv), &o, &res), -EINVAL);
	assert_int_equal(res.err_line, 5);
	assert_int_equal(res.err_offset, 20);
	struct stat st;
	assert_int_equal(fs_node_lookup(e->fs, e->coll, "1.json", &st), -ENOENT);
}

static void test_fs_tables_unparsable_schema_blocks_writes_until_replaced(void **state)
{
	struct fs_env *e = *state;
	assert_int_equal(fs_fixture_put_doc(e, "1.json", "{\"id\":1,\"name\":\"a\"}"), 0);
	put_schema_key(e, e->coll, "{\"columns\":7}");
	fs_fixture_reopen(e);
	assert_int_equal(fs_fixture_put_doc(e, "1.json", "{\"id\":1,\"name\":\"b\"}"), -EIO);
	int problems = 0;
	assert_int_equal(hdb_fs_check(e->db, count_report, &problems), HDB_ECORRUPT);
	assert_int_equal(problems, 1);
	assert_int_equal(fs_table_set(e->fs, e->coll, SCHEMA, strlen(SCHEMA)), 0);
	assert_int_equal(fs_fixture_put_doc(e, "1.json", "{\"id\":1,\"name\":\"b\"}"), 0);
	problems = 0;
	assert_int_equal(hdb_fs_check(e->db, count_report, &problems), 0);
}

static void test_fs_tables_check_finds_misfits_and_orphan_schemas(void **state)
{
	struct fs_env *e = *state;
	assert_int_equal(fs_fixture_put_doc(e, "1.json", "{\"id\":1,\"name\":\"a\"}"), 0);
	assert_int_equal(fs_fixture_put_doc(e, "2.json", "{\"id\":2,\"name\":5}"), 0);
	put_schema_key(e, e->coll, SCHEMA);
	put_schema_key(e, 999999, SCHEMA);
	int problems = 0;
	assert_int_equal(hdb_fs_check(e->db, count_report, &problems), HDB_ECORRUPT);
	assert_int_equal(problems, 2);
}

static void test_fs_tables_rmdir_and_replacing_rename_delete_the_schema(void **state)
{
	struct fs_env *e = *state;
	uint64_t a = fs_fixture_make(e->fs, e->coll, "a", S_IFDIR | 0755);
	uint64_t b = fs_fixture_make(e->fs, e->coll, "b", S_IFDIR | 0755);
	fs_fixture_make(e->fs, e->coll, "c", S_IFDIR | 0755);
	assert_int_equal(fs_table_set(e->fs, a, SCHEMA, strlen(SCHEMA)), 0);
	assert_int_equal(fs_table_set(e->fs, b, SCHEMA, strlen(SCHEMA)), 0);
	assert_int_equal(fs_node_unlink(e->fs, e->coll, "a", true), 0);
	assert_int_equal(fs_node_rename(e->fs, e->coll, "c", e->coll, "b", 0), 0);
	assert_false(fs_table_exists(e->fs, a));
	assert_false(fs_table_exists(e->fs, b));
	uint8_t k[HDB_FS_KEY_PREFIX];
	void *v;
	size_t vl;
	assert_int_equal(hdb_get(e->db, NULL, k, hdb_fs_ino_key(k, HDB_FS_TAG_SCHEMA, a), &v, &vl), HDB_ENOTFOUND);
	assert_int_equal(hdb_get(e->db, NULL, k, hdb_fs_ino_key(k, HDB_FS_TAG_SCHEMA, b), &v, &vl), HDB_ENOTFOUND);
	int problems = 0;
	assert_int_equal(hdb_fs_check(e->db, count_report, &problems), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(test_fs_tables_new_database_is_version_3),
		T(test_fs_tables_first_schema_upgrades_an_old_superblock),
		T(test_fs_tables_commit_is_checked_and_survives_reopen),
		T(test_fs_tables_import_is_named_from_the_key),
		T(test_fs_tables_import_error_names_the_record_offset),
		T(test_fs_tables_unparsable_schema_blocks_writes_until_replaced),
		T(test_fs_tables_check_finds_misfits_and_orphan_schemas),
		T(test_fs_tables_rmdir_and_replacing_rename_delete_the_schema),
#undef T
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
