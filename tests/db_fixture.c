#include "db_fixture.h"

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

int db_fixture_mkdtemp(char *dir, size_t cap)
{
	if (snprintf(dir, cap, "/tmp/hdbtest.XXXXXX") >= (int)cap) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return mkdtemp(dir) ? 0 : -1;
}

int db_fixture_rm_tree(const char *dir)
{
	return nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
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
