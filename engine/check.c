/*
 * check.c — hdb_check: verify every checksum of a database at rest.
 *
 * The manifest is read (not rewritten) through a read-only version set,
 * which checks its records and edits; every table it lists must exist with
 * the recorded size and pass hdb_sst_check; every live WAL segment must
 * replay to its end with well-formed batches.
 */
#include "hybriddb.h"

#include "batch.h"
#include "errors.h"
#include "sst.h"
#include "table_cache.h"
#include "version.h"
#include "wal.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef void (*report_fn)(void *ctx, const char *file, uint64_t offset, const char *what);

struct check {
	report_fn report;
	void *ctx;
	unsigned problems;
};

static void problem(struct check *c, const char *file, uint64_t offset, const char *what)
{
	c->problems++;
	if (c->report)
		c->report(c->ctx, file, offset, what);
}

static void count_report(void *ctx, const char *file, uint64_t offset, const char *what)
{
	problem(ctx, file, offset, what);
}

static int wal_record_ok(void *ctx, const uint8_t *payload, size_t n)
{
	return hdb_batch_iterate(payload, n, NULL, NULL, NULL);
}

static void check_wal(struct check *c, const char *dir, uint64_t number, bool last)
{
	char path[PATH_MAX], name[64];
	if (hdb_wal_path(path, sizeof(path), dir, number))
		return;
	snprintf(name, sizeof(name), "%06" PRIu64 ".wal", number);
	hdb_wal_replay_result res;
	hdb_errdetail_clear();
	int rc = hdb_wal_replay(path, wal_record_ok, NULL, &res);
	if (rc == HDB_ECORRUPT) {
		problem(c, name, res.valid_end, "malformed batch in an intact record");
	} else if (rc) {
		problem(c, name, 0, hdb_strerror(rc));
	} else if (res.valid_end < res.file_size && !(res.torn && last)) {
		/* a torn last record is what a crash leaves, and the next open
		 * cuts it: only damage that may hold acknowledged writes counts */
		char what[160];
		snprintf(what, sizeof(what), "%s; %" PRIu64 " bytes from here on are not replayed",
		         res.tail_why ? res.tail_why : "bad record", res.file_size - res.valid_end);
		problem(c, name, res.valid_end, what);
	}
}

int hdb_check(const char *path, report_fn report, void *ctx)
{
	struct check c = { .report = report, .ctx = ctx };
	hdb_vset_options vo = { .l0_compaction_trigger = 4, .level1_max_bytes = 64u << 20,
	                        .target_file_size = 8u << 20 };
	hdb_vset *vs;
	hdb_errdetail_clear();
	int rc = hdb_vset_open(hdb_env_posix(), path, &vo, false, true, &vs);
	if (rc == HDB_ECORRUPT) {
		const char *file;
		uint64_t off;
		hdb_errdetail_where(&file, &off);
		problem(&c, file, off, hdb_errdetail());
		return HDB_ECORRUPT;
	}
	if (rc)
		return rc;

	pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	pthread_mutex_lock(&mu);
	hdb_version *v = hdb_vset_current(vs);
	for (int level = 0; level < HDB_MAX_LEVELS; level++) {
		for (size_t i = 0; i < v->nfiles[level]; i++) {
			const hdb_fmeta *f = v->files[level][i];
			char tp[PATH_MAX], name[64];
			uint64_t size;
			snprintf(name, sizeof(name), "%06" PRIu64 ".sst", f->number);
			if (hdb_table_path(tp, sizeof(tp), path, f->number))
				continue;
			if (hdb_file_size(tp, &size)) {
				problem(&c, name, 0, "table listed in the manifest is missing");
				continue;
			}
			if (size != f->size) {
				problem(&c, name, size < f->size ? size : f->size,
				        "table size differs from the manifest's record");
				continue;
			}
			int src = hdb_sst_check(tp, count_report, &c);
			if (src && src != HDB_ECORRUPT)
				problem(&c, name, 0, hdb_strerror(src));
		}
	}
	uint64_t log_number = hdb_vset_log_number(vs);
	hdb_vset_free(vs);
	pthread_mutex_unlock(&mu);
	pthread_mutex_destroy(&mu);

	char **names;
	size_t n;
	rc = hdb_list_dir(path, &names, &n);
	if (rc)
		return rc;
	uint64_t newest = 0, num;
	for (size_t i = 0; i < n; i++)
		if (hdb_parse_file_number(names[i], ".wal", &num) && num > newest)
			newest = num;
	for (size_t i = 0; i < n; i++) {
		if (hdb_parse_file_number(names[i], ".wal", &num) && num >= log_number)
			check_wal(&c, path, num, num == newest);
	}
	hdb_free_names(names, n);
	return c.problems ? HDB_ECORRUPT : 0;
}
