/*
 * db_fixture.h — the cmocka fixture of engine tests: a fresh temporary
 * directory per test, with the database path inside it, removed (and the
 * database closed) at teardown.
 */
#ifndef HDB_TEST_DB_FIXTURE_H
#define HDB_TEST_DB_FIXTURE_H

#include "hybriddb.h"

struct fixture {
	char dir[64];  /* temp dir, removed at teardown */
	char path[96]; /* the database directory inside it */
	hdb_db *db;    /* open database, closed at teardown */
};

/* cmocka group/test setup and teardown; *state is a struct fixture. */
int db_fixture_setup(void **state);
int db_fixture_teardown(void **state);

#endif
