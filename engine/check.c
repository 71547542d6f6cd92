/*
 * check.c — hdb_check: verify every checksum of a database at rest.
 *
 * The manifest is read (not rewritten) through a read-only version set,
 * which checks its records and edits; every table it lists must exist with
 * the recorded size and pass hdb_sst_check; every live WAL segment must
 * replay to its end with well-formed batches, or end in a torn tail of the
 * log (wal_format.h): holes and corruption are reported.
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

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static int wal_record_ok(void *ctx, const uint8_t *payload, size_t n)
{
	return hdb_batch_iterate(payload, n, NULL, NULL, NULL);
}

/* Replays every live WAL segment (numbers >= log_number) with its batches
 * checked and reports each bad tail that is not a torn tail of the log. */
static int check_wals(struct check *c, const char *dir, uint64_t log_number)
{
	char **names;
	size_t n, nlogs = 0;
	int rc = hdb_list_dir(dir, &names, &n);
	if (rc)
		return rc;
	uint64_t *logs = malloc((n ? n : 1) * sizeof(*logs)), num;
	hdb_wal_replay_result *res = calloc(n ? n : 1, sizeof(*res));
	bool *failed = calloc(n ? n : 1, sizeof(*failed));
	if (!logs || !res || !failed) {
		rc = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		if (hdb_parse_file_number(names[i], ".wal", &num) && num >= log_number)
			logs[nlogs++] = num;
	qsort(logs, nlogs, sizeof(*logs), cmp_u64);
	for (size_t i = 0; i < nlogs; i++) {
		char path[PATH_MAX], name[32];
		snprintf(name, sizeof(name), "%06" PRIu64 ".wal", logs[i]);
		int wrc = hdb_wal_path(path, sizeof(path), dir, logs[i]);
		if (!wrc) {
			hdb_errdetail_clear();
			wrc = hdb_wal_replay(path, wal_record_ok, NULL, &res[i]);
		}
		failed[i] = wrc != 0;
		if (wrc == HDB_ECORRUPT)
			problem(c, name, res[i].valid_end, "malformed batch in an intact record");
		else if (wrc)
			problem(c, name, 0, hdb_strerror(wrc));
	}
	for (size_t i = 0; i < nlogs; i++) {
		hdb_wal_damage d = hdb_wal_log_damage(res, nlogs, i);
		if (failed[i] || d == HDB_WAL_CLEAN || d == HDB_WAL_TORN)
			continue; /* a torn tail is what a crash leaves; the next open cuts it */
		char name[32], what[200];
		snprintf(name, sizeof(name), "%06" PRIu64 ".wal", logs[i]);
		snprintf(what, sizeof(what), "%s; %" PRIu64 " bytes from here on are not replayed (%s)",
		         res[i].tail_why ? res[i].tail_why : "bad record", res[i].file_size - res[i].valid_end,
		         hdb_wal_damage_name(d));
		problem(c, name, res[i].valid_end, what);
	}
out:
	free(failed);
	free(res);
	free(logs);
	hdb_free_names(names, n);
	return rc;
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

	rc = check_wals(&c, path, log_number);
	if (rc)
		return rc;
	return c.problems ? HDB_ECORRUPT : 0;
}
