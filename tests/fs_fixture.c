#include "fs_fixture.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "db_fixture.h"

int fs_fixture_open(struct fs_env *e)
{
	hdb_options o;
	hdb_options_init(&o);
	o.sync = HDB_SYNC_NEVER;
	if (e->memtable_size)
		o.memtable_size = e->memtable_size;
	if (hdb_open(e->dir, &o, &e->db))
		return -1;
	if (hdb_fs_new(e->db, NULL, &e->fs)) {
		hdb_close(e->db);
		e->db = NULL;
		return -1;
	}
	return 0;
}

void fs_fixture_close(struct fs_env *e)
{
	hdb_fs_free(e->fs);
	e->fs = NULL;
	assert_int_equal(hdb_close(e->db), 0);
	e->db = NULL;
}

struct fs_env *fs_fixture_new(size_t memtable_size)
{
	struct fs_env *e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->memtable_size = memtable_size;
	if (db_fixture_mkdtemp(e->dir, sizeof(e->dir)) || fs_fixture_open(e)) {
		free(e);
		return NULL;
	}
	return e;
}

struct fs_env *fs_fixture_new_coll(size_t memtable_size, const char *coll)
{
	struct fs_env *e = fs_fixture_new(memtable_size);
	if (!e)
		return NULL;
	struct stat st;
	if (fs_node_make(e->fs, NULL, HDB_FS_ROOT_INO, coll, S_IFDIR | 0755, NULL, &st)) {
		fs_fixture_free(e);
		return NULL;
	}
	e->coll_name = coll;
	e->coll = st.st_ino;
	return e;
}

void fs_fixture_reopen(struct fs_env *e)
{
	fs_fixture_close(e);
	assert_int_equal(fs_fixture_open(e), 0);
	if (!e->coll_name)
		return;
	struct stat st;
	assert_int_equal(fs_node_lookup(e->fs, HDB_FS_ROOT_INO, e->coll_name, &st), 0);
	e->coll = st.st_ino;
}

int fs_fixture_free(struct fs_env *e)
{
	if (e->db)
		fs_fixture_close(e);
	int rc = db_fixture_rm_tree(e->dir);
	free(e);
	return rc;
}

uint64_t fs_fixture_make(hdb_fs *fs, uint64_t parent, const char *name, mode_t mode)
{
	struct stat st;
	assert_int_equal(fs_node_make(fs, NULL, parent, name, mode, NULL, &st), 0);
	return st.st_ino;
}

int fs_fixture_put(hdb_fs *fs, uint64_t ino, bool created, int flags, const char *content)
{
	fs_fh *fh;
	assert_int_equal(fs_file_open(fs, ino, flags, created, 0, &fh), 0);
	assert_int_equal(fs_file_write(fs, fh, 0, content, strlen(content)), 0);
	int rc = fs_file_commit(fs, fh, 0);
	fs_file_release(fs, fh);
	return rc;
}

int fs_fixture_put_doc(struct fs_env *e, const char *name, const char *content)
{
	struct stat st;
	bool created = fs_node_lookup(e->fs, e->coll, name, &st) == -ENOENT;
	uint64_t ino = created ? fs_fixture_make(e->fs, e->coll, name, S_IFREG | 0644) : st.st_ino;
	return fs_fixture_put(e->fs, ino, created, created ? O_WRONLY : O_WRONLY | O_TRUNC, content);
}

char *fs_fixture_content(hdb_fs *fs, uint64_t ino)
{
	void *data;
	size_t len;
	assert_int_equal(fs_read_data(fs, ino, &data, &len), 0);
	char *s = malloc(len + 1);
	assert_non_null(s);
	if (len)
		memcpy(s, data, len);
	s[len] = 0;
	free(data);
	return s;
}
