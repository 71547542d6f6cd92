/*
 * db.c — opening, writing, reading and closing a database.
 *
 * Write path: writers queue on db->mu; the writer at the head (the leader)
 * makes room (switching to a new MemTable and WAL segment when the current
 * one is full, slowing down or waiting when L0 is deep), merges the queued
 * batches behind it into one group, and, without the mutex, appends the
 * group as one WAL record, syncs it if any member asked, and inserts it into
 * the MemTable.  Then it publishes the new last sequence and wakes the group.
 *
 * Read path: a reader takes references to the MemTables and the current
 * version under the mutex and reads without it; compaction never blocks it.
 */
#include "db_impl.h"

#include "errors.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define GROUP_MAX_BYTES (1u << 20)

void hdb_options_init(hdb_options *o)
{
	memset(o, 0, sizeof(*o));
	o->create_if_missing = true;
	o->memtable_size = 64u << 20;
	o->block_size = 16u << 10;
	o->compression = true;
	o->compression_level = 1;
	o->bloom_bits_per_key = 10;
	o->cache_size = 32u << 20;
	o->sync = HDB_SYNC_PERIODIC;
	o->sync_interval_ms = 1000;
	o->target_file_size = 8u << 20;
	o->level1_max_bytes = 64u << 20;
	o->l0_compaction_trigger = 4;
	o->l0_slowdown_trigger = 8;
	o->l0_stop_trigger = 12;
	o->background_compaction = true;
}

void hdb_read_options_init(hdb_read_options *ro)
{
	memset(ro, 0, sizeof(*ro));
	ro->fill_cache = true;
}

uint64_t db_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void db_log(hdb_db *db, const char *fmt, ...)
{
	if (!db->opt.log)
		return;
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	db->opt.log(db->opt.log_ctx, msg);
}

static void sanitize_options(hdb_options *o)
{
	if (o->memtable_size < (64u << 10))
		o->memtable_size = 64u << 10;
	if (o->block_size < 1024)
		o->block_size = 1024;
	if (o->compression_level < 1 || o->compression_level > 9)
		o->compression_level = 1;
	if (o->bloom_bits_per_key < 0)
		o->bloom_bits_per_key = 0;
	if (o->sync_interval_ms == 0)
		o->sync_interval_ms = 1000;
	if (o->target_file_size < (64u << 10))
		o->target_file_size = 64u << 10;
	if (o->level1_max_bytes < o->target_file_size)
		o->level1_max_bytes = o->target_file_size;
	if (o->l0_compaction_trigger < 1)
		o->l0_compaction_trigger = 1;
	if (o->l0_slowdown_trigger < o->l0_compaction_trigger)
		o->l0_slowdown_trigger = o->l0_compaction_trigger;
	if (o->l0_stop_trigger < o->l0_slowdown_trigger)
		o->l0_stop_trigger = o->l0_slowdown_trigger;
}

/* --- WAL -------------------------------------------------------------- */

int db_sync_wal(hdb_db *db)
{
	pthread_mutex_lock(&db->wal_mu);
	int rc = 0;
	if (db->wal && db->wal_dirty) {
		rc = hdb_wal_sync(db->wal);
		if (!rc) {
			db->wal_dirty = false;
			atomic_fetch_add(&db->st.wal_syncs, 1);
		}
	}
	pthread_mutex_unlock(&db->wal_mu);
	return rc;
}

static void *sync_main(void *arg)
{
	hdb_db *db = arg;
	pthread_mutex_lock(&db->mu);
	while (!db->shutting_down) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		uint64_t ns = (uint64_t)ts.tv_nsec + (uint64_t)db->opt.sync_interval_ms * 1000000;
		ts.tv_sec += (time_t)(ns / 1000000000);
		ts.tv_nsec = (long)(ns % 1000000000);
		pthread_cond_timedwait(&db->sync_cv, &db->mu, &ts);
		if (db->shutting_down)
			break;
		pthread_mutex_unlock(&db->mu);
		int rc = db_sync_wal(db);
		pthread_mutex_lock(&db->mu);
		if (rc && !db->bg_error) {
			db->bg_error = rc;
			db_log(db, "periodic WAL sync failed: %s", hdb_strerror(rc));
		}
	}
	pthread_mutex_unlock(&db->mu);
	return NULL;
}

/* Starts a new WAL segment and makes it current.
 * REQUIRES: mu held; the caller is the leader or the opener. */
static int new_wal_segment(hdb_db *db)
{
	uint64_t num = hdb_vset_new_file_number(db->vs);
	char path[PATH_MAX];
	int rc = hdb_wal_path(path, sizeof(path), db->dir, num);
	if (rc)
		return rc;
	hdb_wal_writer *w;
	rc = hdb_wal_writer_open(db->env, path, &w);
	if (rc)
		return rc;
	/* the segment's creation must be durable before anything in it counts */
	rc = db->env->sync_dir(db->env, db->dir);
	if (rc) {
		hdb_wal_writer_close(w);
		db->env->unlink(db->env, path);
		return rc;
	}
	pthread_mutex_lock(&db->wal_mu);
	hdb_wal_writer *old = db->wal;
	bool old_dirty = db->wal_dirty;
	db->wal = w;
	db->wal_dirty = false;
	pthread_mutex_unlock(&db->wal_mu);
	db->wal_number = num;
	if (old) {
		/* Later segments must never survive a crash that loses an earlier
		 * one's tail: sync the old segment before the new one is used. */
		if (old_dirty)
			rc = hdb_wal_sync(old);
		int crc = hdb_wal_writer_close(old);
		if (!rc)
			rc = crc;
	}
	return rc;
}

/* --- Open and recovery ------------------------------------------------ */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

struct replay_ctx {
	hdb_db *db;
	hdb_mem **mem;
	hdb_vedit *edit;
	uint64_t max_seq;
	uint64_t prev_last;  /* last sequence of the previous record, 0: none */
	uint64_t records;    /* records replayed from the current segment */
	const char *file;
};

static int replay_op(void *ctx, uint64_t seq, enum hdb_vtype type, const uint8_t *key, size_t klen,
                     const uint8_t *val, size_t vlen)
{
	struct replay_ctx *rc = ctx;
	if (seq > rc->max_seq)
		rc->max_seq = seq;
	return hdb_mem_add(*rc->mem, seq, type, key, klen, val, vlen);
}

static int replay_record(void *ctx, const uint8_t *payload, size_t n)
{
	struct replay_ctx *rc = ctx;
	uint32_t count = 0;
	rc->records++;
	/* Sequence numbers only grow along the log; a record that goes back
	 * (a duplicated record) would insert an existing version again. */
	if (n >= HDB_BATCH_HEADER && rc->prev_last && hdb_get_u64(payload) <= rc->prev_last) {
		hdb_set_errdetail("%s record %" PRIu64 ": sequence %" PRIu64 " does not follow %" PRIu64,
		                  rc->file, rc->records, hdb_get_u64(payload), rc->prev_last);
		return HDB_ECORRUPT;
	}
	int r = hdb_batch_iterate(payload, n, replay_op, rc, &count);
	if (r)
		return r;
	if (count)
		rc->prev_last = hdb_get_u64(payload) + count - 1;
	hdb_db *db = rc->db;
	if (!db->opt.read_only && hdb_mem_usage(*rc->mem) > db->opt.memtable_size) {
		r = db_write_level0(db, *rc->mem, rc->edit);
		if (r)
			return r;
		hdb_mem_unref(*rc->mem);
		*rc->mem = hdb_mem_new();
		if (!*rc->mem)
			return -ENOMEM;
	}
	return 0;
}

/* Point-in-time recovery: replay stops at the first bad record and the
 * segment is cut there, so the database is always a prefix of what was
 * written.  A torn last record is the normal trace of a crash.  Anything
 * else (a hole, a bad tail in a segment that was synced when the next one
 * began, or damage that HDB_WAL_POINT_IN_TIME accepts) may hold records
 * after it: those bytes are kept beside the segment as NNNNNN.wal.damaged,
 * and the loss is logged with file, offset and bytes, never silent.  Under
 * HDB_WAL_STRICT, refuse_corrupt_wal has already turned damage away. */
static int drop_wal_tail(hdb_db *db, const char *path, uint64_t number, const hdb_wal_replay_result *res,
                         bool last)
{
	uint64_t lost = res->file_size - res->valid_end;
	const char *why = res->tail_why ? res->tail_why : "bad record";
	if (res->damage == HDB_WAL_TORN && last) {
		db_log(db, "WAL %06" PRIu64 ".wal: torn last record at offset %" PRIu64 " (%s), %" PRIu64
		       " bytes never acknowledged as durable; cut",
		       number, res->valid_end, why, lost);
		return db->opt.read_only ? 0 : db->env->truncate(db->env, path, res->valid_end);
	}
	db_log(db, "WAL %06" PRIu64 ".wal offset %" PRIu64 ": %s; %" PRIu64
	       " bytes from here on are not replayed and are kept in %06" PRIu64 ".wal.damaged",
	       number, res->valid_end, why, lost, number);
	if (db->opt.read_only)
		return 0;
	uint8_t *data;
	size_t n;
	int rc = hdb_read_file(path, &data, &n);
	if (rc)
		return rc;
	char name[64];
	snprintf(name, sizeof(name), "%06" PRIu64 ".wal.damaged", number);
	if (res->valid_end <= n)
		rc = hdb_env_write_atomic(db->env, db->dir, name, data + res->valid_end, n - (size_t)res->valid_end);
	free(data);
	if (!rc)
		rc = db->env->truncate(db->env, path, res->valid_end);
	return rc;
}

/* The numbers of the live WAL segments (>= min_log), oldest first, into a
 * malloc'd *out.  With vs, every .wal and .sst number found is marked used. */
static int list_wal_segments(hdb_db *db, hdb_vset *vs, uint64_t min_log, uint64_t **out, size_t *nout)
{
	char **names;
	size_t nnames;
	int rc = hdb_list_dir(db->dir, &names, &nnames);
	if (rc)
		return rc;
	uint64_t *logs = malloc((nnames ? nnames : 1) * sizeof(*logs));
	size_t nlogs = 0;
	if (!logs) {
		hdb_free_names(names, nnames);
		return -ENOMEM;
	}
	uint64_t num;
	for (size_t i = 0; i < nnames; i++) {
		if (hdb_parse_file_number(names[i], ".wal", &num)) {
			if (vs)
				hdb_vset_mark_file_number_used(vs, num);
			if (num >= min_log)
				logs[nlogs++] = num;
		} else if (vs && hdb_parse_file_number(names[i], ".sst", &num)) {
			hdb_vset_mark_file_number_used(vs, num);
		}
	}
	hdb_free_names(names, nnames);
	qsort(logs, nlogs, sizeof(*logs), cmp_u64);
	*out = logs;
	*nout = nlogs;
	return 0;
}

/* HDB_ECORRUPT naming segment number's damage, which intact records follow. */
static int wal_corrupt(uint64_t number, const hdb_wal_replay_result *res)
{
	char name[32], what[256];
	snprintf(name, sizeof(name), "%06" PRIu64 ".wal", number);
	if (res->resume < res->file_size)
		snprintf(what, sizeof(what),
		         "%s, and intact records follow at offset %" PRIu64 "; not a torn tail: replaying up to "
		         "it would lose them and the %" PRIu64 " bytes from here on",
		         res->tail_why ? res->tail_why : "bad record", res->resume, res->file_size - res->valid_end);
	else
		snprintf(what, sizeof(what),
		         "%s, and later segments hold intact records; not a torn tail: replaying up to it would "
		         "lose them and the %" PRIu64 " bytes from here on",
		         res->tail_why ? res->tail_why : "bad record", res->file_size - res->valid_end);
	return hdb_corrupt(name, res->valid_end, what);
}

/* Strict WAL recovery: before anything is replayed or written, fails with
 * HDB_ECORRUPT when a live segment holds damage that intact records follow
 * (wal_format.h).  Reads the manifest read-only for the live segments, as
 * opening the version set for writing would already rewrite it. */
static int refuse_corrupt_wal(hdb_db *db, const hdb_vset_options *vo)
{
	hdb_vset *probe;
	int rc = hdb_vset_open(db->env, db->dir, vo, false, true, &probe);
	if (rc)
		return rc;
	uint64_t min_log = hdb_vset_log_number(probe);
	hdb_vset_free(probe);
	uint64_t *logs;
	size_t nlogs;
	rc = list_wal_segments(db, NULL, min_log, &logs, &nlogs);
	if (rc)
		return rc;
	hdb_wal_replay_result *res = calloc(nlogs ? nlogs : 1, sizeof(*res));
	if (!res)
		rc = -ENOMEM;
	for (size_t i = 0; i < nlogs && !rc; i++) {
		char path[PATH_MAX];
		rc = hdb_wal_path(path, sizeof(path), db->dir, logs[i]);
		if (!rc)
			rc = hdb_wal_replay(path, NULL, NULL, &res[i]);
	}
	for (size_t i = 0; i < nlogs && !rc; i++)
		if (hdb_wal_log_damage(res, nlogs, i) == HDB_WAL_CORRUPT)
			rc = wal_corrupt(logs[i], &res[i]);
	free(res);
	free(logs);
	return rc;
}

/* Replays every live WAL segment into db->mem (flushing to L0 as it fills)
 * and truncates a torn tail off the last segment.
 * REQUIRES: mu held, opener. */
static int recover_wal(hdb_db *db, hdb_vedit *edit)
{
	uint64_t *logs;
	size_t nlogs;
	int rc = list_wal_segments(db, db->vs, hdb_vset_log_number(db->vs), &logs, &nlogs);
	if (rc)
		return rc;

	struct replay_ctx ctx = { .db = db, .mem = &db->mem, .edit = edit,
	                          .max_seq = hdb_vset_last_seq(db->vs) };
	for (size_t i = 0; i < nlogs && !rc; i++) {
		char path[PATH_MAX];
		rc = hdb_wal_path(path, sizeof(path), db->dir, logs[i]);
		if (rc)
			break;
		ctx.file = path;
		ctx.records = 0;
		hdb_wal_replay_result res;
		rc = hdb_wal_replay(path, replay_record, &ctx, &res);
		if (rc) {
			if (rc == HDB_ECORRUPT)
				db_log(db, "WAL %06" PRIu64 ".wal: %s", logs[i], hdb_errdetail());
			break;
		}
		if (res.valid_end < res.file_size)
			rc = drop_wal_tail(db, path, logs[i], &res, i + 1 == nlogs);
	}
	free(logs);
	if (!rc && ctx.max_seq > hdb_vset_last_seq(db->vs))
		hdb_vset_set_last_seq(db->vs, ctx.max_seq);
	return rc;
}

/* What an interrupted create can leave before CURRENT exists: none of it
 * can hold an acknowledged write (the open never returned). */
static bool is_create_leftover(const char *dir, const char *name)
{
	size_t n = strlen(name);
	if (!strcmp(name, "LOCK") || !strncmp(name, "MANIFEST-", 9) || (n > 4 && !strcmp(name + n - 4, ".tmp")))
		return true;
	uint64_t num, size;
	char path[PATH_MAX];
	return hdb_parse_file_number(name, ".wal", &num) && snprintf(path, sizeof(path), "%s/%s", dir, name) < (int)sizeof(path) &&
	       !hdb_file_size(path, &size) && size == 0;
}

/* A directory without CURRENT is new if it is empty or holds only the
 * leftovers of an interrupted create; anything else is not ours to touch
 * (not even with a LOCK file), so this runs before locking. */
static int check_not_foreign(hdb_db *db)
{
	char path[PATH_MAX], **names;
	size_t n;
	if (snprintf(path, sizeof(path), "%s/CURRENT", db->dir) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	if (!access(path, F_OK))
		return 0;
	int rc = hdb_list_dir(db->dir, &names, &n);
	if (rc)
		return rc;
	for (size_t i = 0; i < n && !rc; i++) {
		if (!is_create_leftover(db->dir, names[i])) {
			hdb_set_errdetail("%s holds files but no CURRENT", db->dir);
			rc = HDB_ENOTDB;
		}
	}
	hdb_free_names(names, n);
	return rc;
}

/* Removes an interrupted create's leftovers.  REQUIRES: the LOCK held. */
static int claim_new_dir(hdb_db *db)
{
	int rc = check_not_foreign(db);
	char **names;
	size_t n;
	if (!rc)
		rc = hdb_list_dir(db->dir, &names, &n);
	if (rc)
		return rc;
	for (size_t i = 0; i < n && !rc; i++) {
		char path[PATH_MAX];
		if (strcmp(names[i], "LOCK") &&
		    snprintf(path, sizeof(path), "%s/%s", db->dir, names[i]) < (int)sizeof(path))
			rc = db->env->unlink(db->env, path);
	}
	hdb_free_names(names, n);
	return rc;
}

static int prepare_dir(hdb_db *db)
{
	struct stat st;
	if (stat(db->dir, &st)) {
		if (errno != ENOENT || !db->opt.create_if_missing || db->opt.read_only)
			return -errno;
		int rc = db->env->mkdir(db->env, db->dir);
		if (rc && rc != -EEXIST)
			return rc;
	} else if (!S_ISDIR(st.st_mode)) {
		return -ENOTDIR;
	}
	return 0;
}

static int is_fresh(hdb_db *db, bool *fresh)
{
	char path[PATH_MAX];
	if (snprintf(path, sizeof(path), "%s/CURRENT", db->dir) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	*fresh = access(path, F_OK) != 0;
	if (*fresh && errno != ENOENT)
		return -errno;
	if (!*fresh && db->opt.error_if_exists)
		return -EEXIST;
	if (*fresh && (!db->opt.create_if_missing || db->opt.read_only)) {
		hdb_set_errdetail("%s has no CURRENT", db->dir);
		return db->opt.read_only ? HDB_ENOTDB : -ENOENT;
	}
	return *fresh ? claim_new_dir(db) : 0;
}

static void db_free(hdb_db *db)
{
	if (db->vs) {
		pthread_mutex_lock(&db->mu);
		hdb_vset_free(db->vs);
		pthread_mutex_unlock(&db->mu);
	}
	if (db->mem)
		hdb_mem_unref(db->mem);
	if (db->imm)
		hdb_mem_unref(db->imm);
	if (db->wal)
		hdb_wal_writer_close(db->wal);
	hdb_tcache_free(db->tables);
	hdb_cache_free(db->blocks);
	if (db->group)
		hdb_batch_free(db->group);
	hdb_unlock_file(db->lock_fd);
	pthread_mutex_destroy(&db->mu);
	pthread_mutex_destroy(&db->wal_mu);
	pthread_cond_destroy(&db->bg_cv);
	pthread_cond_destroy(&db->bg_done_cv);
	pthread_cond_destroy(&db->sync_cv);
	free(db->pending);
	free(db->dir);
	free(db);
}

static int open_locked(hdb_db *db)
{
	bool fresh;
	char path[PATH_MAX];
	int rc = prepare_dir(db);
	if (!rc)
		rc = check_not_foreign(db);
	if (rc)
		return rc;
	if (!db->opt.read_only) {
		if (snprintf(path, sizeof(path), "%s/LOCK", db->dir) >= (int)sizeof(path))
			return -ENAMETOOLONG;
		rc = hdb_lock_file(path, &db->lock_fd);
		if (rc) {
			if (rc == HDB_ELOCKED)
				hdb_set_errdetail("%s is in use by another process", db->dir);
			return rc;
		}
	}
	rc = is_fresh(db, &fresh);
	if (rc)
		return rc;
	hdb_vset_options vo = {
		.l0_compaction_trigger = db->opt.l0_compaction_trigger,
		.level1_max_bytes = db->opt.level1_max_bytes,
		.target_file_size = db->opt.target_file_size,
	};
	if (!fresh && db->opt.wal_recovery == HDB_WAL_STRICT) {
		rc = refuse_corrupt_wal(db, &vo);
		if (rc)
			return rc;
	}
	rc = hdb_vset_open(db->env, db->dir, &vo, fresh, db->opt.read_only, &db->vs);
	if (rc)
		return rc;
	db->mem = hdb_mem_new();
	if (!db->mem)
		return -ENOMEM;

	hdb_vedit edit;
	hdb_vedit_init(&edit);
	rc = recover_wal(db, &edit);
	if (rc || db->opt.read_only)
		goto out;
	/* Everything replayed goes to a table now, so the next open starts clean
	 * and old segments can go. */
	if (hdb_mem_entries(db->mem) > 0) {
		rc = db_write_level0(db, db->mem, &edit);
		if (rc)
			goto out;
		hdb_mem_unref(db->mem);
		db->mem = hdb_mem_new();
		if (!db->mem) {
			rc = -ENOMEM;
			goto out;
		}
	}
	rc = new_wal_segment(db);
	if (rc)
		goto out;
	edit.has_log_number = true;
	edit.log_number = db->wal_number;
	rc = hdb_vset_log_and_apply(db->vs, &edit, &db->mu);
	if (rc)
		goto out;
	db_delete_obsolete(db);
out:
	hdb_vedit_free(&edit);
	return rc;
}

int hdb_open(const char *path, const hdb_options *opt, hdb_db **out)
{
	hdb_db *db = calloc(1, sizeof(*db));
	if (!db)
		return -ENOMEM;
	if (opt)
		db->opt = *opt;
	else
		hdb_options_init(&db->opt);
	sanitize_options(&db->opt);
	db->env = db->opt.env ? db->opt.env : hdb_env_posix();
	db->lock_fd = -1;
	db->opened_ms = db_now_ms();
	db->snapshots.next = db->snapshots.prev = &db->snapshots;
	pthread_mutex_init(&db->mu, NULL);
	pthread_mutex_init(&db->wal_mu, NULL);
	pthread_cond_init(&db->bg_cv, NULL);
	pthread_cond_init(&db->bg_done_cv, NULL);
	pthread_cond_init(&db->sync_cv, NULL);
	db->dir = strdup(path);
	db->blocks = hdb_cache_new(db->opt.cache_size);
	db->group = hdb_batch_new();
	if (!db->dir || !db->blocks || !db->group) {
		db_free(db);
		return -ENOMEM;
	}
	db->tables = hdb_tcache_new(db->dir, db->blocks);
	if (!db->tables) {
		db_free(db);
		return -ENOMEM;
	}

	pthread_mutex_lock(&db->mu);
	int rc = open_locked(db);
	pthread_mutex_unlock(&db->mu);
	if (rc)
		goto fail;

	if (!db->opt.read_only) {
		rc = -pthread_create(&db->bg_thread, NULL, db_bg_main, db);
		if (rc)
			goto fail;
		db->bg_started = true;
		if (db->opt.sync == HDB_SYNC_PERIODIC) {
			rc = -pthread_create(&db->sync_thread, NULL, sync_main, db);
			if (rc)
				goto fail;
			db->sync_started = true;
		}
		pthread_mutex_lock(&db->mu);
		db_maybe_schedule(db);
		pthread_mutex_unlock(&db->mu);
	}
	*out = db;
	return 0;
fail:
	if (db->bg_started || db->sync_started)
		hdb_close(db);
	else
		db_free(db);
	return rc;
}

/* --- Writes ----------------------------------------------------------- */

/* Makes room in the MemTable for the leader's write, or switches to a new
 * one when `force` (or when full).  REQUIRES: mu held, caller is leader. */
static int make_room(hdb_db *db, bool force)
{
	bool allow_delay = !force;
	for (;;) {
		hdb_version *v = hdb_vset_current(db->vs);
		if (db->bg_error)
			return db->bg_error;
		if (allow_delay && (int)v->nfiles[0] >= db->opt.l0_slowdown_trigger) {
			/* Spread the wait for compaction over many writes rather than
			 * stopping one write for seconds. */
			atomic_fetch_add(&db->st.write_stalls, 1);
			pthread_mutex_unlock(&db->mu);
			usleep(1000);
			pthread_mutex_lock(&db->mu);
			allow_delay = false;
			continue;
		}
		if (!force && hdb_mem_usage(db->mem) <= db->opt.memtable_size)
			return 0;
		if (db->imm) {
			if (db->bg_nospace)
				return db->bg_nospace; /* the flush waits for free space */
			atomic_fetch_add(&db->st.write_stalls, 1);
			pthread_cond_wait(&db->bg_done_cv, &db->mu);
			continue;
		}
		if ((int)v->nfiles[0] >= db->opt.l0_stop_trigger) {
			if (db->bg_nospace)
				return db->bg_nospace;
			atomic_fetch_add(&db->st.write_stalls, 1);
			db_maybe_schedule(db);
			pthread_cond_wait(&db->bg_done_cv, &db->mu);
			continue;
		}
		if (force && hdb_mem_entries(db->mem) == 0)
			return 0;
		hdb_mem *fresh = hdb_mem_new();
		if (!fresh)
			return -ENOMEM;
		int rc = new_wal_segment(db);
		if (rc) {
			hdb_mem_unref(fresh);
			return rc;
		}
		db->imm = db->mem;
		atomic_store(&db->has_imm, true);
		db->mem = fresh;
		db_maybe_schedule(db);
		return 0;
	}
}

/* Merges the batches queued behind the leader into one, up to a size limit;
 * a sync write does not ride with a non-sync leader.  Returns the batch to
 * write and sets *last to the last writer included.  REQUIRES: mu held. */
static hdb_batch *build_group(hdb_db *db, struct db_writer **last)
{
	struct db_writer *lead = db->wq_head;
	hdb_batch *b = lead->batch;
	size_t size = hdb_batch_bytes(b);
	size_t max = size <= (128u << 10) ? size + (128u << 10) : GROUP_MAX_BYTES;
	*last = lead;
	for (struct db_writer *w = lead->next; w; w = w->next) {
		if (!w->batch || (w->sync && !lead->sync))
			break;
		size += hdb_batch_bytes(w->batch);
		if (size > max)
			break;
		if (b == lead->batch) {
			hdb_batch_clear(db->group);
			if (hdb_batch_append(db->group, lead->batch))
				break;
			b = db->group;
		}
		if (hdb_batch_append(b, w->batch))
			break;
		*last = w;
	}
	return b;
}

static int insert_op(void *ctx, uint64_t seq, enum hdb_vtype type, const uint8_t *key, size_t klen,
                     const uint8_t *val, size_t vlen)
{
	return hdb_mem_add(ctx, seq, type, key, klen, val, vlen);
}

static int db_write(hdb_db *db, hdb_batch *batch, bool sync)
{
	if (db->opt.read_only)
		return -EROFS;
	struct db_writer w = { .batch = batch, .sync = sync || db->opt.sync == HDB_SYNC_ALWAYS };
	pthread_cond_init(&w.cv, NULL);

	pthread_mutex_lock(&db->mu);
	if (db->wq_tail)
		db->wq_tail->next = &w;
	else
		db->wq_head = &w;
	db->wq_tail = &w;
	while (!w.done && db->wq_head != &w)
		pthread_cond_wait(&w.cv, &db->mu);
	if (w.done) {
		pthread_mutex_unlock(&db->mu);
		pthread_cond_destroy(&w.cv);
		return w.status;
	}

	int rc = make_room(db, batch == NULL);
	struct db_writer *last = &w;
	if (!rc && batch && hdb_batch_count(batch) > 0) {
		hdb_batch *group = build_group(db, &last);
		uint64_t seq = hdb_vset_last_seq(db->vs) + 1;
		hdb_batch_set_seq(group, seq);
		hdb_mem *mem = db->mem;
		pthread_mutex_unlock(&db->mu);

		rc = hdb_wal_append(db->wal, group->rep.data, group->rep.len);
		bool appended = rc == 0;
		if (!rc) {
			atomic_fetch_add(&db->st.bytes_disk, group->rep.len + 9);
			atomic_fetch_add(&db->st.wal_bytes_live, group->rep.len + 9);
			atomic_fetch_add(&db->st.bytes_user, group->rep.len);
			pthread_mutex_lock(&db->wal_mu);
			db->wal_dirty = true;
			pthread_mutex_unlock(&db->wal_mu);
			if (w.sync)
				rc = db_sync_wal(db);
		}
		if (!rc)
			rc = hdb_batch_iterate(group->rep.data, group->rep.len, insert_op, mem, NULL);

		pthread_mutex_lock(&db->mu);
		if (rc && !appended && hdb_wal_usable(db->wal)) {
			/* The disk is full and the WAL was cut back to whole records:
			 * this group fails, later writes may succeed. */
			db_log(db, "write refused: %s", hdb_strerror(rc));
		} else if (rc) {
			/* The WAL may now hold a record the MemTable lacks, or a
			 * record that is not durable though the caller asked: stop
			 * taking writes rather than acknowledge a state we can't
			 * reproduce. */
			if (!db->bg_error)
				db->bg_error = rc == -ENOSPC ? rc : HDB_ECLOSED;
			db_log(db, "write failed, database is now read-only: %s", hdb_strerror(rc));
		} else {
			hdb_vset_set_last_seq(db->vs, seq + hdb_batch_count(group) - 1);
		}
	}

	for (;;) {
		struct db_writer *r = db->wq_head;
		db->wq_head = r->next;
		if (!db->wq_head)
			db->wq_tail = NULL;
		if (r != &w) {
			r->status = rc;
			r->done = true;
			pthread_cond_signal(&r->cv);
		}
		if (r == last)
			break;
	}
	if (db->wq_head)
		pthread_cond_signal(&db->wq_head->cv);
	pthread_mutex_unlock(&db->mu);
	pthread_cond_destroy(&w.cv);
	return rc;
}

int hdb_write(hdb_db *db, hdb_batch *b, bool sync)
{
	if (!b)
		return -EINVAL;
	return db_write(db, b, sync);
}

int hdb_put(hdb_db *db, const void *key, size_t klen, const void *val, size_t vlen, bool sync)
{
	hdb_batch *b = hdb_batch_new();
	if (!b)
		return -ENOMEM;
	int rc = hdb_batch_put(b, key, klen, val, vlen);
	if (!rc)
		rc = db_write(db, b, sync);
	hdb_batch_free(b);
	return rc;
}

int hdb_delete(hdb_db *db, const void *key, size_t klen, bool sync)
{
	hdb_batch *b = hdb_batch_new();
	if (!b)
		return -ENOMEM;
	int rc = hdb_batch_delete(b, key, klen);
	if (!rc)
		rc = db_write(db, b, sync);
	hdb_batch_free(b);
	return rc;
}

int hdb_sync(hdb_db *db)
{
	if (db->opt.read_only)
		return 0;
	int rc = db_sync_wal(db);
	if (rc) {
		pthread_mutex_lock(&db->mu);
		if (!db->bg_error)
			db->bg_error = rc == -ENOSPC ? rc : HDB_ECLOSED;
		pthread_mutex_unlock(&db->mu);
	}
	return rc;
}

int hdb_flush(hdb_db *db)
{
	if (db->opt.read_only)
		return 0;
	int rc = db_write(db, NULL, false);
	if (rc)
		return rc;
	pthread_mutex_lock(&db->mu);
	uint64_t runs = db->bg_runs;
	/* Wait for the flush; when the disk is full, for one more attempt. */
	while (db->imm && !db->bg_error && (!db->bg_nospace || db->bg_runs == runs))
		pthread_cond_wait(&db->bg_done_cv, &db->mu);
	rc = db->bg_error ? db->bg_error : db->imm ? db->bg_nospace : 0;
	pthread_mutex_unlock(&db->mu);
	return rc;
}

int hdb_compact_range(hdb_db *db, const void *begin, size_t blen, const void *end, size_t elen)
{
	if (db->opt.read_only)
		return -EROFS;
	int rc = hdb_flush(db);
	if (rc)
		return rc;
	/* Compact level by level, each level's overlapping files into the next,
	 * so everything in range ends at the bottom. */
	pthread_mutex_lock(&db->mu);
	while (db->manual.pending && !db->bg_error)
		pthread_cond_wait(&db->bg_done_cv, &db->mu);
	for (int level = 0; level < HDB_MAX_LEVELS - 1 && !rc; level++) {
		hdb_compaction *c = hdb_vset_compact_range(db->vs, level, begin, begin ? blen : 0, end,
		                                           end ? elen : 0);
		if (!c)
			continue;
		hdb_compaction_free(c);
		db->manual.pending = true;
		db->manual.level = level;
		db->manual.begin = begin;
		db->manual.blen = blen;
		db->manual.end = end;
		db->manual.elen = elen;
		db->manual.status = 0;
		pthread_cond_signal(&db->bg_cv);
		while (db->manual.pending && !db->bg_error)
			pthread_cond_wait(&db->bg_done_cv, &db->mu);
		rc = db->manual.pending ? db->bg_error : db->manual.status;
		db->manual.pending = false;
	}
	pthread_mutex_unlock(&db->mu);
	return rc;
}

/* --- Reads ------------------------------------------------------------ */

const hdb_snapshot *hdb_snapshot_new(hdb_db *db)
{
	struct hdb_snapshot *s = malloc(sizeof(*s));
	if (!s)
		return NULL;
	pthread_mutex_lock(&db->mu);
	s->seq = hdb_vset_last_seq(db->vs);
	s->prev = db->snapshots.prev;
	s->next = &db->snapshots;
	s->prev->next = s;
	db->snapshots.prev = s;
	pthread_mutex_unlock(&db->mu);
	return s;
}

void hdb_snapshot_release(hdb_db *db, const hdb_snapshot *snap)
{
	if (!snap)
		return;
	struct hdb_snapshot *s = (struct hdb_snapshot *)snap;
	pthread_mutex_lock(&db->mu);
	s->prev->next = s->next;
	s->next->prev = s->prev;
	pthread_mutex_unlock(&db->mu);
	free(s);
}

uint64_t hdb_snapshot_seq(const hdb_snapshot *snap)
{
	return snap->seq;
}

static int table_get(hdb_db *db, const hdb_fmeta *f, const void *key, size_t klen, uint64_t seq,
                     void **val, size_t *vlen, bool fill_cache)
{
	hdb_sst_reader *r;
	int rc = hdb_tcache_get(db->tables, f->number, &r);
	if (rc)
		return rc;
	hdb_sst_counters c = { 0 };
	rc = hdb_sst_get(r, key, klen, seq, val, vlen, fill_cache, &c);
	hdb_sst_unref(r);
	atomic_fetch_add(&db->st.tables_probed, 1);
	if (c.bloom_negative)
		atomic_fetch_add(&db->st.bloom_useful, c.bloom_negative);
	if (c.cache_hits)
		atomic_fetch_add(&db->st.cache_hits, c.cache_hits);
	if (c.cache_misses)
		atomic_fetch_add(&db->st.cache_misses, c.cache_misses);
	return rc;
}

static bool user_key_in(const hdb_fmeta *f, const void *key, size_t klen)
{
	hdb_slice lo = hdb_ikey_user(f->smallest, f->smallest_len);
	hdb_slice hi = hdb_ikey_user(f->largest, f->largest_len);
	return hdb_bytes_cmp(key, klen, lo.data, lo.len) >= 0 && hdb_bytes_cmp(key, klen, hi.data, hi.len) <= 0;
}

static int version_get(hdb_db *db, hdb_version *v, const void *key, size_t klen, uint64_t seq, void **val,
                       size_t *vlen, bool fill_cache)
{
	for (size_t i = v->nfiles[0]; i-- > 0;) {
		const hdb_fmeta *f = v->files[0][i];
		if (!user_key_in(f, key, klen))
			continue;
		int rc = table_get(db, f, key, klen, seq, val, vlen, fill_cache);
		if (rc != HDB_LOOKUP_ABSENT)
			return rc;
	}
	hdb_buf ik = { 0 };
	int rc = hdb_ikey_build(&ik, key, klen, seq, HDB_TYPE_SEEK);
	for (int level = 1; level < HDB_MAX_LEVELS && !rc; level++) {
		size_t i = hdb_version_find_file(v, level, ik.data, ik.len);
		if (i >= v->nfiles[level] || !user_key_in(v->files[level][i], key, klen))
			continue;
		rc = table_get(db, v->files[level][i], key, klen, seq, val, vlen, fill_cache);
		if (rc != HDB_LOOKUP_ABSENT)
			break;
	}
	hdb_buf_free(&ik);
	return rc;
}

int hdb_get(hdb_db *db, const hdb_read_options *ro, const void *key, size_t klen, void **val, size_t *vlen)
{
	hdb_read_options dflt;
	if (!ro) {
		hdb_read_options_init(&dflt);
		ro = &dflt;
	}
	atomic_fetch_add(&db->st.gets, 1);
	pthread_mutex_lock(&db->mu);
	uint64_t seq = ro->snapshot ? ro->snapshot->seq : hdb_vset_last_seq(db->vs);
	hdb_mem *mem = db->mem, *imm = db->imm;
	hdb_version *v = hdb_vset_current(db->vs);
	hdb_mem_ref(mem);
	if (imm)
		hdb_mem_ref(imm);
	hdb_version_ref(v);
	pthread_mutex_unlock(&db->mu);

	int rc = hdb_mem_get(mem, key, klen, seq, val, vlen);
	if (rc == HDB_LOOKUP_ABSENT && imm)
		rc = hdb_mem_get(imm, key, klen, seq, val, vlen);
	if (rc == HDB_LOOKUP_ABSENT)
		rc = version_get(db, v, key, klen, seq, val, vlen, ro->fill_cache);

	hdb_mem_unref(mem);
	if (imm)
		hdb_mem_unref(imm);
	hdb_version_unref(v);
	if (rc == HDB_LOOKUP_FOUND)
		return 0;
	if (rc == HDB_LOOKUP_ABSENT || rc == HDB_LOOKUP_DELETED)
		return HDB_ENOTFOUND;
	return rc;
}

/* --- Stats ------------------------------------------------------------ */

int hdb_get_stats(hdb_db *db, hdb_stats *s)
{
	memset(s, 0, sizeof(*s));
	pthread_mutex_lock(&db->mu);
	hdb_version *v = hdb_vset_current(db->vs);
	s->last_sequence = hdb_vset_last_seq(db->vs);
	s->memtable_bytes = hdb_mem_usage(db->mem) + (db->imm ? hdb_mem_usage(db->imm) : 0);
	for (int l = 0; l < HDB_MAX_LEVELS; l++) {
		s->tables[l] = v->nfiles[l];
		s->level_bytes[l] = hdb_version_level_bytes(v, l);
		s->disk_bytes += s->level_bytes[l];
	}
	s->disk_bytes += hdb_vset_manifest_bytes(db->vs);
	pthread_mutex_unlock(&db->mu);
	pthread_mutex_lock(&db->wal_mu);
	s->wal_bytes = atomic_load(&db->st.wal_bytes_live);
	pthread_mutex_unlock(&db->wal_mu);
	s->disk_bytes += s->wal_bytes;
	s->compactions = atomic_load(&db->st.compactions);
	s->flushes = atomic_load(&db->st.flushes);
	s->bytes_written_user = atomic_load(&db->st.bytes_user);
	s->bytes_written_disk = atomic_load(&db->st.bytes_disk);
	s->bytes_compacted_read = atomic_load(&db->st.bytes_compacted_read);
	s->gets = atomic_load(&db->st.gets);
	s->tables_probed = atomic_load(&db->st.tables_probed);
	s->bloom_useful = atomic_load(&db->st.bloom_useful);
	hdb_cache_stats cs;
	hdb_cache_get_stats(db->blocks, &cs);
	s->cache_hits = cs.hits;
	s->cache_misses = cs.misses;
	s->cache_bytes = cs.usage;
	s->write_stalls = atomic_load(&db->st.write_stalls);
	s->wal_syncs = atomic_load(&db->st.wal_syncs);
	s->uptime_ms = db_now_ms() - db->opened_ms;
	return 0;
}

int hdb_stats_json(hdb_db *db, char **json)
{
	hdb_stats s;
	int rc = hdb_get_stats(db, &s);
	if (rc)
		return rc;
	char levels[HDB_MAX_LEVELS * 80] = "", *p = levels;
	for (int l = 0; l < HDB_MAX_LEVELS; l++)
		p += sprintf(p, "%s{\"level\":%d,\"tables\":%" PRIu64 ",\"bytes\":%" PRIu64 "}", l ? "," : "", l,
		             s.tables[l], s.level_bytes[l]);
	double wamp = s.bytes_written_user ? (double)s.bytes_written_disk / (double)s.bytes_written_user : 0;
	double ramp = s.gets ? (double)s.tables_probed / (double)s.gets : 0;
	double hit = s.cache_hits + s.cache_misses ? (double)s.cache_hits / (double)(s.cache_hits + s.cache_misses) : 0;
	char *out = NULL;
	int n = asprintf(&out,
	                 "{\"last_sequence\":%" PRIu64 ",\"memtable_bytes\":%" PRIu64 ",\"wal_bytes\":%" PRIu64
	                 ",\"levels\":[%s],\"disk_bytes\":%" PRIu64 ",\"compactions\":%" PRIu64
	                 ",\"flushes\":%" PRIu64 ",\"bytes_written_user\":%" PRIu64
	                 ",\"bytes_written_disk\":%" PRIu64 ",\"bytes_compacted_read\":%" PRIu64
	                 ",\"write_amplification\":%.3f,\"read_amplification\":%.3f,\"gets\":%" PRIu64
	                 ",\"tables_probed\":%" PRIu64 ",\"bloom_useful\":%" PRIu64 ",\"cache_hits\":%" PRIu64
	                 ",\"cache_misses\":%" PRIu64 ",\"cache_hit_ratio\":%.4f,\"cache_bytes\":%" PRIu64
	                 ",\"write_stalls\":%" PRIu64 ",\"wal_syncs\":%" PRIu64 ",\"uptime_ms\":%" PRIu64 "}",
	                 s.last_sequence, s.memtable_bytes, s.wal_bytes, levels, s.disk_bytes, s.compactions,
	                 s.flushes, s.bytes_written_user, s.bytes_written_disk, s.bytes_compacted_read, wamp, ramp,
	                 s.gets, s.tables_probed, s.bloom_useful, s.cache_hits, s.cache_misses, hit, s.cache_bytes,
	                 s.write_stalls, s.wal_syncs, s.uptime_ms);
	if (n < 0)
		return -ENOMEM;
	*json = out;
	return 0;
}

/* --- Close ------------------------------------------------------------ */

int hdb_close(hdb_db *db)
{
	if (!db)
		return 0;
	int rc = 0;
	if (db->bg_started && !db->opt.read_only) {
		/* A clean close leaves nothing to replay. */
		rc = hdb_flush(db);
		if (rc)
			db_log(db, "flush at close failed: %s", hdb_strerror(rc));
	}
	pthread_mutex_lock(&db->mu);
	db->shutting_down = true;
	atomic_store(&db->stop_compaction, true);
	pthread_cond_broadcast(&db->bg_cv);
	pthread_cond_broadcast(&db->sync_cv);
	pthread_mutex_unlock(&db->mu);
	if (db->bg_started)
		pthread_join(db->bg_thread, NULL);
	if (db->sync_started)
		pthread_join(db->sync_thread, NULL);
	int src = db_sync_wal(db);
	if (!rc)
		rc = src;
	pthread_mutex_lock(&db->wal_mu);
	if (db->wal) {
		int crc = hdb_wal_writer_close(db->wal);
		if (!rc)
			rc = crc;
		db->wal = NULL;
	}
	pthread_mutex_unlock(&db->wal_mu);
	if (!rc && db->bg_error && db->bg_error != HDB_ECLOSED)
		rc = db->bg_error;
	db_free(db);
	return rc;
}
