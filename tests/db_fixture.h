/*
 * db_fixture.h — the cmocka fixture of engine tests: a fresh temporary
 * directory per test, with the database path inside it, removed (and the
 * database closed) at teardown.  Also the temporary-directory helpers
 * other fixtures build on.
 */
#ifndef HDB_TEST_DB_FIXTURE_H
#define HDB_TEST_DB_FIXTURE_H

#include <stddef.h>

#include "hybriddb.h"

struct fixture {
	char dir[64];  /* temp dir, removed at teardown */
	char path[96]; /* the database directory inside it */
	hdb_db *db;    /* open database, closed at teardown */
};

/* cmocka group/test setup and teardown; *state is a struct fixture. */
int db_fixture_setup(void **state);
int db_fixture_teardown(void **state);

/* Makes a fresh directory /tmp/hdbtest.XXXXXX and puts its path in dir
 * (cap bytes, at least 20); 0, or -1 with errno set. */
int db_fixture_mkdtemp(char *dir, size_t cap);
/* Removes dir and everything below it (links are not followed); 0 or -1. */
int db_fixture_rm_tree(const char *dir);

/* Directories a test makes as it goes, removed by db_fixture_rm_tmp_dirs
 * (a cmocka teardown) even when an assertion fails half-way.  Up to 8 at a
 * time, of up to 127 characters.  db_fixture_tmp makes a fresh directory
 * base/hdbtest.XXXXXX (base NULL: /tmp) into dir and remembers it; asserts
 * that it could. */
void db_fixture_tmp(char *dir, size_t cap, const char *base);
/* Removes the tree at dir and forgets it. */
void db_fixture_rm_tmp(const char *dir);
int db_fixture_rm_tmp_dirs(void **state);

/* Appends printf-formatted text to the NUL-terminated msg (cap bytes),
 * cutting it at cap; a full msg stays as it is.  For failure reports built
 * up piece by piece. */
void db_fixture_appendf(char *msg, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
