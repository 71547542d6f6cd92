#include "db_fixture.h"

#include <errno.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#define TMP_DIRS 8

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static char tmp_dirs[TMP_DIRS][128];
static size_t ntmp_dirs;

static int mkdtemp_in(const char *base, char *dir, size_t cap)
{
	if (snprintf(dir, cap, "%s/hdbtest.XXXXXX", base ? base : "/tmp") >= (int)cap) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return mkdtemp(dir) ? 0 : -1;
}

int db_fixture_mkdtemp(char *dir, size_t cap)
{
	return mkdtemp_in(NULL, dir, cap);
}

int db_fixture_rm_tree(const char *dir)
{
	return nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

void db_fixture_tmp(char *dir, size_t cap, const char *base)
{
	assert_int_equal(mkdtemp_in(base, dir, cap), 0);
	assert_true(ntmp_dirs < TMP_DIRS && strlen(dir) < sizeof(tmp_dirs[0]));
	strcpy(tmp_dirs[ntmp_dirs++], dir);
}

void db_fixture_rm_tmp(const char *dir)
{
	db_fixture_rm_tree(dir);
	for (size_t i = 0; i < ntmp_dirs; i++) {
		if (!strcmp(tmp_dirs[i], dir)) {
			memmove(tmp_dirs[i], tmp_dirs[ntmp_dirs - 1], sizeof(tmp_dirs[0]));
			ntmp_dirs--;
			break;
		}
	}
}

int db_fixture_rm_tmp_dirs(void **state)
{
	(void)state;
	while (ntmp_dirs)
		db_fixture_rm_tmp(tmp_dirs[ntmp_dirs - 1]);
	return 0;
}

int db_fixture_setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	if (db_fixture_mkdtemp(f->dir, sizeof(f->dir))) {
		free(f);
		return -1;
	}
	snprintf(f->path, sizeof(f->path), "%s/db", f->dir);
	*state = f;
	return 0;
}

int db_fixture_teardown(void **state)
{
	struct fixture *f = *state;
	if (f->db)
		hdb_close(f->db);
	int rc = db_fixture_rm_tree(f->dir);
	free(f);
	return rc;
}

void db_fixture_appendf(char *msg, size_t cap, const char *fmt, ...)
{
	size_t n = strlen(msg);
	if (n + 1 >= cap)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg + n, cap - n, fmt, ap);
	va_end(ap);
}
