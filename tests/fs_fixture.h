/*
 * fs_fixture.h — the fixture of fs tests over a real engine, without FUSE:
 * a fresh temporary directory holding the engine (synced never: the tests
 * do not cut power) with an hdb_fs over it, closed and removed at teardown;
 * and the steps those tests repeat, writing a file through a handle as its
 * opener would and reading back what was committed.
 *
 * Decisions: the engine's directory is the temporary directory itself; a
 * test that wants a smaller memtable (to see flushes and compactions) says
 * so at creation and keeps it across reopens.  Helpers assert (cmocka) on
 * steps that must succeed and return the result a test checks.
 *
 * Thread safety: none; one test thread.
 */
#ifndef HDB_TEST_FS_FIXTURE_H
#define HDB_TEST_FS_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "fs_internal.h"
#include "hybriddb.h"

struct fs_env {
	char dir[64];          /* temp dir and engine directory, removed at teardown */
	size_t memtable_size;  /* 0: the engine's default */
	hdb_db *db;            /* NULL while closed */
	hdb_fs *fs;            /* NULL while closed */
	const char *coll_name; /* the collection under the root a test works in, or NULL */
	uint64_t coll;         /* its inode number */
};

/* A fresh env with the engine and fs open; NULL on failure. */
struct fs_env *fs_fixture_new(size_t memtable_size);
/* fs_fixture_new with directory coll (a string that outlives e) made under
 * the root as e->coll; NULL on failure. */
struct fs_env *fs_fixture_new_coll(size_t memtable_size, const char *coll);
/* Closes what is open, removes the directory and frees e; 0 or -1. */
int fs_fixture_free(struct fs_env *e);
/* Opens the engine in e->dir and the fs over it; 0 or -1 (nothing open). */
int fs_fixture_open(struct fs_env *e);
/* Frees the fs and closes the engine, which must close cleanly. */
void fs_fixture_close(struct fs_env *e);
/* Closes and opens again, as a restart does; e->coll is looked up again. */
void fs_fixture_reopen(struct fs_env *e);

/* Makes node name under parent; its inode number. */
uint64_t fs_fixture_make(hdb_fs *fs, uint64_t parent, const char *name, mode_t mode);
/* Writes content through a handle opened with flags and closes it as its
 * opener would; the commit's result. */
int fs_fixture_put(hdb_fs *fs, uint64_t ino, bool created, int flags, const char *content);
/* Creates document name in e->coll, or replaces its content; the commit's
 * result. */
int fs_fixture_put_doc(struct fs_env *e, const char *name, const char *content);
/* The committed content of ino, NUL-terminated (caller frees). */
char *fs_fixture_content(hdb_fs *fs, uint64_t ino);

#endif
