/*
 * test_fs.c — the fs layer over a real engine, without FUSE: the key
 * schema's life cycle, transactions and counters, the document rule, and
 * crash recovery of pending creates and orphans (fs/fs_core.c, fs_node.c,
 * fs_file.c, fs_check.c).
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

#include "env.h"
#include "fs_fixture.h"
#include "fs_internal.h"
#include "hybriddb.h"
#include "keys.h"

static int setup(void **state)
{
	*state = fs_fixture_new(0);
	return *state ? 0 : -1;
}

static int teardown(void **state)
{
	return fs_fixture_free(*state);
}

static uint64_t create_doc(hdb_fs *fs, uint64_t parent, const char *name, const char *content)
{
	uint64_t ino = fs_fixture_make(fs, parent, name, S_IFREG | 0644);
	assert_int_equal(fs_fixture_put(fs, ino, true, O_WRONLY, content), 0);
	return ino;
}

static hdb_fs_super super_of(hdb_db *db)
{
	void *v;
	size_t n;
	hdb_fs_super s;
	assert_int_equal(hdb_get(db, NULL, HDB_FS_KEY_SUPER, HDB_FS_KEY_SUPER_LEN, &v, &n), 0);
	assert_int_equal(hdb_fs_super_decode(v, n, &s), 0);
	free(v);
	return s;
}

static bool has_key(hdb_db *db, const void *key, size_t klen)
{
	void *v;
	size_t n;
	int rc = hdb_get(db, NULL, key, klen, &v, &n);
	if (!rc)
		free(v);
	return rc == 0;
}

static void test_fs_new_database_has_root_and_superblock(void **state)
{
	struct fs_env *e = *state;
	struct stat st;
	assert_int_equal(fs_node_getattr(e->fs, HDB_FS_ROOT_INO, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	hdb_fs_super s = super_of(e->db);
	assert_int_equal(s.version, HDB_FS_VERSION);
	assert_int_equal(s.next_ino, HDB_FS_FIRST_INO);
	assert_int_equal(s.files + s.dirs + s.docs + s.bytes, 0);
}

static void test_fs_new_refuses_foreign_keys(void **state)
{
	struct fs_env *e = *state;
	hdb_fs *fs;
	fs_fixture_close(e);
	hdb_options o;
	hdb_options_init(&o);
	char other[80];
	snprintf(other, sizeof(other), "%s/other", e->dir);
	assert_int_equal(hdb_open(other, &o, &e->db), 0);
	assert_int_equal(hdb_put(e->db, "k", 1, "v", 1, false), 0);
	assert_int_equal(hdb_fs_new(e->db, NULL, &fs), HDB_ENOTDB);
}

static void test_fs_new_refuses_newer_format(void **state)
{
	struct fs_env *e = *state;
	hdb_fs *fs;
	hdb_fs_super s = super_of(e->db);
	uint8_t val[HDB_FS_SUPER_SIZE];
	s.version = HDB_FS_VERSION + 1;
	hdb_fs_super_encode(val, &s);
	assert_int_equal(hdb_put(e->db, HDB_FS_KEY_SUPER, HDB_FS_KEY_SUPER_LEN, val, sizeof(val), false), 0);
	assert_int_equal(hdb_fs_new(e->db, NULL, &fs), HDB_EVERSION);
}

static void test_fs_counters_follow_changes_and_survive_reopen(void **state)
{
	struct fs_env *e = *state;
	uint64_t dir = fs_fixture_make(e->fs, HDB_FS_ROOT_INO, "users", S_IFDIR | 0755);
	create_doc(e->fs, dir, "alice.json", "{\"age\":30}");
	create_doc(e->fs, dir, "notes.txt", "hello");
	fs_fixture_close(e);
	assert_int_equal(fs_fixture_open(e), 0);
	hdb_fs_super s = super_of(e->db);
	assert_int_equal(s.dirs, 1);
	assert_int_equal(s.files, 2);
	assert_int_equal(s.docs, 1);
	assert_int_equal(s.bytes, 15);
}

static void test_fs_lookup_after_reopen_finds_same_inode_and_content(void **state)
{
	struct fs_env *e = *state;
	uint64_t dir = fs_fixture_make(e->fs, HDB_FS_ROOT_INO, "c", S_IFDIR | 0755);
	uint64_t ino = create_doc(e->fs, dir, "a.json", "[1,2]");
	fs_fixture_close(e);
	assert_int_equal(fs_fixture_open(e), 0);
	struct stat st;
	assert_int_equal(fs_node_lookup(e->fs, HDB_FS_ROOT_INO, "c", &st), 0);
	assert_int_equal(st.st_ino, dir);
	assert_int_equal(fs_node_lookup(e->fs, dir, "a.json", &st), 0);
	assert_int_equal(st.st_ino, ino);
	assert_int_equal(st.st_size, 5);
	char *c = fs_fixture_content(e->fs, ino);
	assert_string_equal(c, "[1,2]");
	free(c);
}

static void test_fs_invalid_json_commit_keeps_previous_version(void **state)
{
	struct fs_env *e = *state;
	uint64_t ino = create_doc(e->fs, HDB_FS_ROOT_INO, "d.json", "{\"v\":1}");
	assert_int_equal(fs_fixture_put(e->fs, ino, false, O_WRONLY | O_TRUNC, "{\"v\":"), -EINVAL);
	char *c = fs_fixture_content(e->fs, ino);
	assert_string_equal(c, "{\"v\":1}");
	free(c);
	struct stat st;
	assert_int_equal(fs_node_getattr(e->fs, ino, &st), 0);
	assert_int_equal(st.st_size, 7);
}

static void test_fs_invalid_new_document_is_removed(void **state)
{
	struct fs_env *e = *state;
	uint64_t ino = fs_fixture_make(e->fs, HDB_FS_ROOT_INO, "new.json", S_IFREG | 0644);
	fs_fh *fh;
	assert_int_equal(fs_file_open(e->fs, ino, O_WRONLY, true, 0, &fh), 0);
	assert_int_equal(fs_file_write(e->fs, fh, 0, "nope", 4), 0);
	fs_file_release(e->fs, fh);
	struct stat st;
	assert_int_equal(fs_node_lookup(e->fs, HDB_FS_ROOT_INO, "new.json", &st), -ENOENT);
	assert_int_equal(super_of(e->db).files, 0);
}

static void test_fs_write_past_max_is_efbig_and_commits_nothing(void **state)
{
	struct fs_env *e = *state;
	uint64_t ino = create_doc(e->fs, HDB_FS_ROOT_INO, "f.txt", "old");
	fs_fh *fh;
	assert_int_equal(fs_file_open(e->fs, ino, O_WRONLY, false, 0, &fh), 0);
	assert_int_equal(fs_file_write(e->fs, fh, 0, "new", 3), 0);
	assert_int_equal(fs_file_write(e->fs, fh, e->fs->opt.max_doc_size, "x", 1), -EFBIG);
	assert_int_equal(fs_file_commit(e->fs, fh, 0), -EFBIG);
	fs_file_release(e->fs, fh);
	char *c = fs_fixture_content(e->fs, ino);
	assert_string_equal(c, "old");
	free(c);
}

static void test_fs_rmdir_of_nonempty_directory_is_enotempty(void **state)
{
	struct fs_env *e = *state;
	uint64_t dir = fs_fixture_make(e->fs, HDB_FS_ROOT_INO, "d", S_IFDIR | 0755);
	create_doc(e->fs, dir, "x.txt", "1");
	assert_int_equal(fs_node_unlink(e->fs, HDB_FS_ROOT_INO, "d", true), -ENOTEMPTY);
	assert_int_equal(fs_node_unlink(e->fs, dir, "x.txt", false), 0);
	assert_int_equal(fs_node_unlink(e->fs, HDB_FS_ROOT_INO, "d", true), 0);
	assert_int_equal(super_of(e->db).dirs, 0);
}

static void test_fs_rename_over_document_replaces_it(void **state)
{
	struct fs_env *e = *state;
	uint64_t a = create_doc(e->fs, HDB_FS_ROOT_INO, "a.json", "1");
	uint64_t b = create_doc(e->fs, HDB_FS_ROOT_INO, "b.json", "22");
	assert_int_equal(fs_node_rename(e->fs, HDB_FS_ROOT_INO, "a.json", HDB_FS_ROOT_INO, "b.json", 0), 0);
	struct stat st;
	assert_int_equal(fs_node_lookup(e->fs, HDB_FS_ROOT_INO, "b.json", &st), 0);
	assert_int_equal(st.st_ino, a);
	assert_int_equal(fs_node_lookup(e->fs, HDB_FS_ROOT_INO, "a.json", &st), -ENOENT);
	hdb_fs_super s = super_of(e->db);
	assert_int_equal(s.files, 1);
	assert_int_equal(s.docs, 1);
	assert_int_equal(s.bytes, 1);
	(void)b;
}

static void test_fs_rename_noreplace_onto_existing_is_eexist(void **state)
{
	struct fs_env *e = *state;
	create_doc(e->fs, HDB_FS_ROOT_INO, "a.json", "1");
	create_doc(e->fs, HDB_FS_ROOT_INO, "b.json", "2");
	assert_int_equal(fs_node_rename(e->fs, HDB_FS_ROOT_INO, "a.json", HDB_FS_ROOT_INO, "b.json", RENAME_NOREPLACE),
	                 -EEXIST);
}

static void test_fs_rename_of_invalid_content_to_document_name_is_einval(void **state)
{
	struct fs_env *e = *state;
	create_doc(e->fs, HDB_FS_ROOT_INO, "t.tmp", "{broken");
	assert_int_equal(fs_node_rename(e->fs, HDB_FS_ROOT_INO, "t.tmp", HDB_FS_ROOT_INO, "t.json", 0), -EINVAL);
	assert_int_equal(super_of(e->db).docs, 0);
}

static void test_fs_rename_whiteout_is_einval(void **state)
{
	struct fs_env *e = *state;
	create_doc(e->fs, HDB_FS_ROOT_INO, "a.txt", "1");
	assert_int_equal(fs_node_rename(e->fs, HDB_FS_ROOT_INO, "a.txt", HDB_FS_ROOT_INO, "b.txt", RENAME_WHITEOUT),
	                 -EINVAL);
}

static void test_fs_reserved_names_at_root_are_eperm(void **state)
{
	struct fs_env *e = *state;
	struct stat st;
	assert_int_equal(fs_node_make(e->fs, NULL, HDB_FS_ROOT_INO, ".control", S_IFREG | 0644, NULL, &st), -EPERM);
	uint64_t dir = fs_fixture_make(e->fs, HDB_FS_ROOT_INO, "c", S_IFDIR | 0755);
	assert_int_equal(fs_node_make(e->fs, NULL, dir, ".control", S_IFREG | 0644, NULL, &st), 0);
}

static void test_fs_name_over_255_is_enametoolong(void **state)
{
	struct fs_env *e = *state;
	char name[257];
	struct stat st;
	memset(name, 'n', 256);
	name[256] = 0;
	assert_int_equal(fs_node_make(e->fs, NULL, HDB_FS_ROOT_INO, name, S_IFREG | 0644, NULL, &st), -ENAMETOOLONG);
	assert_int_equal(fs_node_lookup(e->fs, HDB_FS_ROOT_INO, name, &st), -ENAMETOOLONG);
}

static void test_fs_pending_document_is_removed_by_next_mount(void **state)
{
	struct fs_env *e = *state;
	fs_fixture_make(e->fs, HDB_FS_ROOT_INO, "open.json", S_IFREG | 0644);
	assert_int_equal(super_of(e->db).docs, 1);
	fs_fixture_close(e); /* the creating open never finished: a crash */
	assert_int_equal(fs_fixture_open(e), 0);
	struct stat st;
	assert_int_equal(fs_node_lookup(e->fs, HDB_FS_ROOT_INO, "open.json", &st), -ENOENT);
	hdb_fs_super s = super_of(e->db);
	assert_int_equal(s.docs, 0);
	assert_int_equal(s.files, 0);
}

static void test_fs_committed_document_is_no_longer_pending(void **state)
{
	struct fs_env *e = *state;
	create_doc(e->fs, HDB_FS_ROOT_INO, "done.json", "{}");
	fs_fixture_close(e);
	assert_int_equal(fs_fixture_open(e), 0);
	struct stat st;
	assert_int_equal(fs_node_lookup(e->fs, HDB_FS_ROOT_INO, "done.json", &st), 0);
}

static void test_fs_removed_file_stays_readable_then_content_goes(void **state)
{
	struct fs_env *e = *state;
	uint64_t ino = create_doc(e->fs, HDB_FS_ROOT_INO, "r.txt", "still here");
	uint8_t key[HDB_FS_KEY_PREFIX];
	size_t klen = hdb_fs_data_key(key, ino);
	assert_int_equal(fs_node_unlink(e->fs, HDB_FS_ROOT_INO, "r.txt", false), 0);
	char *c = fs_fixture_content(e->fs, ino); /* the kernel still holds the inode */
	assert_string_equal(c, "still here");
	free(c);
	hdb_itable_lock(e->fs->itab);
	bool orphan = hdb_itable_forget(e->fs->itab, ino, 1);
	hdb_itable_unlock(e->fs->itab);
	assert_true(orphan);
	fs_node_reap_orphan(e->fs, ino);
	assert_false(has_key(e->db, key, klen));
}

static void test_fs_orphan_left_by_crash_is_reaped_by_next_mount(void **state)
{
	struct fs_env *e = *state;
	uint64_t ino = create_doc(e->fs, HDB_FS_ROOT_INO, "o.txt", "bytes");
	uint8_t key[HDB_FS_KEY_PREFIX];
	size_t klen = hdb_fs_data_key(key, ino);
	assert_int_equal(fs_node_unlink(e->fs, HDB_FS_ROOT_INO, "o.txt", false), 0);
	fs_fixture_close(e);
	assert_int_equal(fs_fixture_open(e), 0);
	assert_false(has_key(e->db, key, klen));
}

static unsigned reports;

static void count_report(void *ctx, const char *what)
{
	reports++;
}

/* --- a superblock that fails its checksum ------------------------------ */

/* Rewrites the database as one table and flips a byte in its block 0,
 * which holds the superblock and the content of the first file created,
 * made big here so that no entry shares the block; returns the superblock
 * as it was. */
static hdb_fs_super damage_superblock(struct fs_env *e, uint64_t big)
{
	static char content[40000];
	memset(content, ' ', sizeof(content) - 1);
	content[0] = '[';
	content[sizeof(content) - 2] = ']';
	assert_int_equal(fs_fixture_put(e->fs, big, false, O_WRONLY | O_TRUNC, content), 0);
	hdb_fs_super was = super_of(e->db);
	assert_int_equal(hdb_compact_range(e->db, NULL, 0, NULL, 0), 0);
	fs_fixture_close(e);
	char **names, path[128];
	size_t n, tables = 0;
	assert_int_equal(hdb_list_dir(e->dir, &names, &n), 0);
	for (size_t i = 0; i < n; i++) {
		size_t len = strlen(names[i]);
		if (len < 4 || strcmp(names[i] + len - 4, ".sst"))
			continue;
		snprintf(path, sizeof(path), "%s/%s", e->dir, names[i]);
		tables++;
	}
	hdb_free_names(names, n);
	assert_int_equal(tables, 1);
	int fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	uint8_t b;
	assert_int_equal(pread(fd, &b, 1, 10), 1);
	b ^= 0x5a;
	assert_int_equal(pwrite(fd, &b, 1, 10), 1);
	close(fd);
	return was;
}

static int open_engine(struct fs_env *e)
{
	hdb_options o;
	hdb_options_init(&o);
	o.sync = HDB_SYNC_NEVER;
	return hdb_open(e->dir, &o, &e->db);
}

/* The mount recounts the superblock from the entries and serves the rest,
 * read-write; nothing is written until a change carries the superblock. */
static void test_fs_damaged_superblock_is_recounted_from_entries(void **state)
{
	struct fs_env *e = *state;
	uint64_t big = create_doc(e->fs, HDB_FS_ROOT_INO, "big.json", "[]");
	uint64_t dir = fs_fixture_make(e->fs, HDB_FS_ROOT_INO, "users", S_IFDIR | 0755);
	uint64_t alice = create_doc(e->fs, dir, "alice.json", "{\"age\":30}");
	create_doc(e->fs, dir, "notes.txt", "hello");
	uint64_t gone = create_doc(e->fs, dir, "gone.json", "{}");
	assert_int_equal(fs_node_unlink(e->fs, dir, "gone.json", false), 0);
	fs_node_reap_orphan(e->fs, gone);
	hdb_fs_super was = damage_superblock(e, big);

	assert_int_equal(open_engine(e), 0);
	void *v;
	size_t vl;
	assert_int_equal(hdb_get(e->db, NULL, HDB_FS_KEY_SUPER, HDB_FS_KEY_SUPER_LEN, &v, &vl), HDB_ECORRUPT);
	assert_int_equal(hdb_fs_new(e->db, NULL, &e->fs), 0);
	assert_false(e->fs->opt.read_only);
	assert_int_equal(e->fs->sb.files, was.files);
	assert_int_equal(e->fs->sb.dirs, was.dirs);
	assert_int_equal(e->fs->sb.docs, was.docs);
	assert_int_equal(e->fs->sb.symlinks, was.symlinks);
	assert_int_equal(e->fs->sb.bytes, was.bytes);
	assert_true(e->fs->sb.next_ino > gone - 1 && e->fs->sb.next_ino <= was.next_ino);
	assert_int_equal(e->fs->sb.version, 1); /* no index keys: the lowest version that reads them */
	char *s = fs_fixture_content(e->fs, alice);
	assert_string_equal(s, "{\"age\":30}");
	free(s);
	assert_int_equal(fs_read_data(e->fs, big, &v, &vl), HDB_ECORRUPT); /* in the damaged block */
	/* the mount wrote nothing: the superblock is still the damaged one */
	assert_int_equal(hdb_get(e->db, NULL, HDB_FS_KEY_SUPER, HDB_FS_KEY_SUPER_LEN, &v, &vl), HDB_ECORRUPT);

	struct stat st;
	assert_int_equal(fs_node_lookup(e->fs, HDB_FS_ROOT_INO, "users", &st), 0);
	assert_int_equal(st.st_ino, dir);
	uint64_t bob = create_doc(e->fs, dir, "bob.json", "{}");
	assert_true(bob >= e->fs->sb.next_ino - 1 && bob > alice);
	hdb_fs_super now = super_of(e->db);
	assert_int_equal(now.docs, was.docs + 1);
	assert_int_equal(now.bytes, was.bytes + 2);
}

/* Index keys mean format version 2 even with the superblock unreadable. */
static void test_fs_damaged_superblock_version_follows_index_keys(void **state)
{
	struct fs_env *e = *state;
	uint8_t key[HDB_FS_KEY_PREFIX + 8] = { HDB_FS_TAG_IENTRY, 0, 0, 0, 0, 0, 0, 0, 1, 'f', 0, 'v', 'n' };
	assert_int_equal(hdb_put(e->db, key, sizeof(key), "", 0, false), 0);
	uint64_t big = create_doc(e->fs, HDB_FS_ROOT_INO, "big.json", "[]");
	damage_superblock(e, big);
	assert_int_equal(open_engine(e), 0);
	assert_int_equal(hdb_fs_new(e->db, NULL, &e->fs), 0);
	assert_int_equal(e->fs->sb.version, 2);
}

/* Schema keys mean format version 3 even with the superblock unreadable. */
static void test_fs_damaged_superblock_version_follows_schema_keys(void **state)
{
	struct fs_env *e = *state;
	uint64_t dir = fs_fixture_make(e->fs, HDB_FS_ROOT_INO, "t", S_IFDIR | 0755);
	uint8_t key[HDB_FS_KEY_PREFIX] = { HDB_FS_TAG_SCHEMA };
	for (int i = 0; i < 8; i++)
		key[1 + i] = (uint8_t)(dir >> (56 - 8 * i));
	const char *schema = "{\"columns\":{\"id\":\"integer\"}}";
	assert_int_equal(hdb_put(e->db, key, sizeof(key), schema, strlen(schema), false), 0);
	uint64_t big = create_doc(e->fs, HDB_FS_ROOT_INO, "big.json", "[]");
	damage_superblock(e, big);
	assert_int_equal(open_engine(e), 0);
	assert_int_equal(hdb_fs_new(e->db, NULL, &e->fs), 0);
	assert_int_equal(e->fs->sb.version, HDB_FS_VERSION_TABLES);
}

/* A key tag this version does not know: a newer format, refused. */
static void test_fs_damaged_superblock_with_unknown_keys_is_newer_format(void **state)
{
	struct fs_env *e = *state;
	assert_int_equal(hdb_put(e->db, "Zz", 2, "", 0, false), 0);
	uint64_t big = create_doc(e->fs, HDB_FS_ROOT_INO, "big.json", "[]");
	damage_superblock(e, big);
	assert_int_equal(open_engine(e), 0);
	hdb_fs *fs = NULL;
	assert_int_equal(hdb_fs_new(e->db, NULL, &fs), HDB_EVERSION);
}

static void test_fs_check_passes_on_sound_database(void **state)
{
	struct fs_env *e = *state;
	uint64_t dir = fs_fixture_make(e->fs, HDB_FS_ROOT_INO, "c", S_IFDIR | 0755);
	create_doc(e->fs, dir, "a.json", "{\"a\":1}");
	struct stat st;
	assert_int_equal(fs_node_make(e->fs, NULL, dir, "l", S_IFLNK | 0777, "a.json", &st), 0);
	reports = 0;
	assert_int_equal(hdb_fs_check(e->db, count_report, NULL), 0);
	assert_int_equal(reports, 0);
}

static void test_fs_check_reports_wrong_counter(void **state)
{
	struct fs_env *e = *state;
	create_doc(e->fs, HDB_FS_ROOT_INO, "a.json", "{}");
	hdb_fs_super s = super_of(e->db);
	uint8_t val[HDB_FS_SUPER_SIZE];
	s.files++;
	hdb_fs_super_encode(val, &s);
	assert_int_equal(hdb_put(e->db, HDB_FS_KEY_SUPER, HDB_FS_KEY_SUPER_LEN, val, sizeof(val), false), 0);
	reports = 0;
	assert_int_equal(hdb_fs_check(e->db, count_report, NULL), HDB_ECORRUPT);
	assert_int_equal(reports, 1);
}

static void test_fs_check_reports_invalid_document(void **state)
{
	struct fs_env *e = *state;
	uint64_t ino = create_doc(e->fs, HDB_FS_ROOT_INO, "a.json", "{}");
	uint8_t key[HDB_FS_KEY_PREFIX];
	assert_int_equal(hdb_put(e->db, key, hdb_fs_data_key(key, ino), "{]", 2, false), 0);
	reports = 0;
	assert_int_equal(hdb_fs_check(e->db, count_report, NULL), HDB_ECORRUPT);
	assert_int_equal(reports, 1);
}

static void test_fs_stats_json_reports_counters(void **state)
{
	struct fs_env *e = *state;
	uint64_t dir = fs_fixture_make(e->fs, HDB_FS_ROOT_INO, "c", S_IFDIR | 0755);
	create_doc(e->fs, dir, "a.json", "{}");
	char *json;
	assert_int_equal(hdb_fs_stats_json(e->fs, &json), 0);
	assert_non_null(strstr(json, "\"documents\":1,"));
	assert_non_null(strstr(json, "\"collections\":1,"));
	assert_non_null(strstr(json, "\"engine\":{"));
	free(json);
}

/* ---- the push of a reader's content to the kernel (fs_file_push) ---- */

/* A kernel that logs the notices it gets, each with the inode's npush at
 * that moment, and runs `during` inside its first store, while the push
 * is under way. */
struct push_kernel {
	hdb_fs *fs;
	uint64_t ino;
	void (*during)(struct push_kernel *k);
	fs_fh *reader; /* opened by `during` */
	int n;
	struct {
		char what;        /* 's' store, 'p' pages dropped, 'a' attributes */
		uint32_t npush;
		char data[32];    /* what a store stored */
	} log[8];
};

static uint32_t npush_of(hdb_fs *fs, uint64_t ino)
{
	hdb_itable_lock(fs->itab);
	hdb_inode *i = hdb_itable_get(fs->itab, ino);
	uint32_t n = i && i->x ? i->x->npush : 0;
	hdb_itable_unlock(fs->itab);
	return n;
}

static void push_log(struct push_kernel *k, char what, uint64_t ino, const void *data, size_t len)
{
	assert_int_equal(ino, k->ino);
	assert_true(k->n < (int)(sizeof(k->log) / sizeof(k->log[0])));
	k->log[k->n].what = what;
	k->log[k->n].npush = npush_of(k->fs, ino);
	assert_true(len < sizeof(k->log[k->n].data));
	memcpy(k->log[k->n].data, data, len);
	k->log[k->n].data[len] = 0;
	k->n++;
}

static int push_store(void *ctx, uint64_t ino, const void *data, size_t len)
{
	struct push_kernel *k = ctx;
	push_log(k, 's', ino, data, len);
	if (k->during && k->n == 1)
		k->during(k);
	return 0;
}

static void push_inval_inode(void *ctx, uint64_t ino, int64_t off, int64_t len)
{
	assert_int_equal(len, 0);
	push_log(ctx, off < 0 ? 'a' : 'p', ino, "", 0);
}

static void push_inval_entry(void *ctx, uint64_t parent, const char *name, size_t nlen)
{
	fail_msg("unexpected entry invalidation");
}

/* Opens ino for reading as fs_open does, the content pushed to k; the
 * handle. */
static fs_fh *push_open(struct push_kernel *k)
{
	fs_fh *fh;
	assert_int_equal(fs_file_open(k->fs, k->ino, O_RDONLY, false, 0, &fh), 0);
	assert_true(fh->cached_reader);
	fs_mark_kernel_cached(k->fs, k->ino); /* keep_cache granted */
	fs_file_push(k->fs, fh);
	return fh;
}

/* Static: the fs may still send notices to it after a failed test. */
static struct push_kernel push_kernel;

/* Document a.json at the root, {"v":1}, and a push_kernel for e->fs. */
static struct push_kernel *push_setup(struct fs_env *e)
{
	struct push_kernel *k = &push_kernel;
	*k = (struct push_kernel){ .fs = e->fs };
	k->ino = create_doc(e->fs, HDB_FS_ROOT_INO, "a.json", "{\"v\":1}");
	fs_kernel kernel = { push_store, push_inval_inode, push_inval_entry, k };
	fs_set_kernel(e->fs, &kernel);
	return k;
}

static void test_fs_push_stores_the_committed_content(void **state)
{
	struct fs_env *e = *state;
	struct push_kernel *k = push_setup(e);
	fs_fh *fh = push_open(k);
	assert_int_equal(k->n, 2);
	assert_int_equal(k->log[0].what, 's');
	assert_string_equal(k->log[0].data, "{\"v\":1}");
	assert_int_equal(k->log[0].npush, 1);
	/* The push is the access: atime moves (relatime), the kernel's copy
	 * of the attributes goes, the pages stay. */
	assert_int_equal(k->log[1].what, 'a');
	assert_int_equal(k->log[1].npush, 0);
	fs_file_release(e->fs, fh);
	fs_set_kernel(e->fs, NULL);
}

/* While the store is under way: a new version is committed, and another
 * reader opens. */
static void commit_and_open_during_store(struct push_kernel *k)
{
	assert_int_equal(fs_fixture_put(k->fs, k->ino, false, O_WRONLY | O_TRUNC, "{\"v\":22}"), 0);
	assert_int_equal(fs_file_open(k->fs, k->ino, O_RDONLY, false, 0, &k->reader), 0);
}

/* A push that stored a version older than one committed meanwhile takes
 * its pages back before other opens may use the page cache again (npush
 * still counts it), and a reader that opened meanwhile reads without the
 * page cache, the new version. */
static void test_fs_push_overtaken_by_a_commit_takes_its_pages_back(void **state)
{
	struct fs_env *e = *state;
	struct push_kernel *k = push_setup(e);
	k->during = commit_and_open_during_store;
	fs_fh *fh = push_open(k);
	assert_int_equal(k->n, 4);
	assert_int_equal(k->log[0].what, 's');
	assert_string_equal(k->log[0].data, "{\"v\":1}");
	assert_int_equal(k->log[1].what, 'p'); /* the commit's */
	assert_int_equal(k->log[2].what, 'p'); /* the push's own */
	assert_int_equal(k->log[2].npush, 1);
	assert_int_equal(k->log[3].what, 'a'); /* atime, as above */

	assert_non_null(k->reader);
	assert_true(k->reader->uncached);
	assert_false(k->reader->cached_reader);
	void *buf;
	size_t n;
	assert_int_equal(fs_file_read(e->fs, k->reader, 0, 64, &buf, &n), 0);
	assert_int_equal(n, 8);
	assert_memory_equal(buf, "{\"v\":22}", 8);
	free(buf);
	fs_file_release(e->fs, k->reader);
	fs_file_release(e->fs, fh);

	/* Once the push is over, readers use the page cache again. */
	k->during = NULL;
	k->n = 0;
	fh = push_open(k);
	assert_int_equal(k->log[0].what, 's');
	assert_string_equal(k->log[0].data, "{\"v\":22}");
	fs_file_release(e->fs, fh);
	fs_set_kernel(e->fs, NULL);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_fs_new_database_has_root_and_superblock),
		T(test_fs_new_refuses_foreign_keys),
		T(test_fs_new_refuses_newer_format),
		T(test_fs_counters_follow_changes_and_survive_reopen),
		T(test_fs_lookup_after_reopen_finds_same_inode_and_content),
		T(test_fs_invalid_json_commit_keeps_previous_version),
		T(test_fs_invalid_new_document_is_removed),
		T(test_fs_write_past_max_is_efbig_and_commits_nothing),
		T(test_fs_rmdir_of_nonempty_directory_is_enotempty),
		T(test_fs_rename_over_document_replaces_it),
		T(test_fs_rename_noreplace_onto_existing_is_eexist),
		T(test_fs_rename_of_invalid_content_to_document_name_is_einval),
		T(test_fs_rename_whiteout_is_einval),
		T(test_fs_reserved_names_at_root_are_eperm),
		T(test_fs_name_over_255_is_enametoolong),
		T(test_fs_pending_document_is_removed_by_next_mount),
		T(test_fs_committed_document_is_no_longer_pending),
		T(test_fs_removed_file_stays_readable_then_content_goes),
		T(test_fs_orphan_left_by_crash_is_reaped_by_next_mount),
		T(test_fs_damaged_superblock_is_recounted_from_entries),
		T(test_fs_damaged_superblock_version_follows_index_keys),
		T(test_fs_damaged_superblock_version_follows_schema_keys),
		T(test_fs_damaged_superblock_with_unknown_keys_is_newer_format),
		T(test_fs_check_passes_on_sound_database),
		T(test_fs_check_reports_wrong_counter),
		T(test_fs_check_reports_invalid_document),
		T(test_fs_stats_json_reports_counters),
		T(test_fs_push_stores_the_committed_content),
		T(test_fs_push_overtaken_by_a_commit_takes_its_pages_back),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
