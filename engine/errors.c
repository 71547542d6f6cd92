#include "errors.h"

#include "hybriddb.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char errdetail[512];
static _Thread_local char errfile[256];
static _Thread_local uint64_t erroffset;

void hdb_set_errdetail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(errdetail, sizeof(errdetail), fmt, ap);
	va_end(ap);
}

int hdb_corrupt(const char *file, uint64_t offset, const char *what)
{
	hdb_set_errdetail("%s offset %" PRIu64 ": %s", file ? file : "?", offset, what);
	snprintf(errfile, sizeof(errfile), "%s", file ? file : "?");
	erroffset = offset;
	return HDB_ECORRUPT;
}

void hdb_errdetail_where(const char **file, uint64_t *offset)
{
	*file = errfile;
	*offset = erroffset;
}

void hdb_errdetail_clear(void)
{
	errdetail[0] = 0;
	errfile[0] = 0;
	erroffset = 0;
}

const char *hdb_errdetail(void)
{
	return errdetail;
}

const char *hdb_strerror(int err)
{
	switch (err) {
	case 0:
		return "success";
	case HDB_ENOTFOUND:
		return "key not found";
	case HDB_ECORRUPT:
		return "data corruption detected";
	case HDB_ELOCKED:
		return "database is locked by another process";
	case HDB_EVERSION:
		return "database written by a newer format version";
	case HDB_ENOTDB:
		return "not a hybriddb database directory";
	case HDB_ECLOSED:
		return "database stopped accepting writes after a write error";
	}
	if (err < 0 && err > -4096)
		return strerror(-err);
	return "unknown error";
}
