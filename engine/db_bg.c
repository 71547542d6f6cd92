/*
 * db_bg.c — the background thread: MemTable flushes, compactions, and the
 * removal of files no version needs.
 *
 * One thread does all of it, flushes first: a frozen MemTable holds up
 * writers, so a running compaction stops between keys to flush it.  Only
 * this thread (or the opener, before it starts) applies version edits.
 */
#include "db_impl.h"

#include "errors.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static hdb_sst_options sst_options(const hdb_db *db)
{
	return (hdb_sst_options){
		.block_size = db->opt.block_size,
		.restart_interval = 16,
		.compression = db->opt.compression,
		.compression_level = db->opt.compression_level,
		.bloom_bits_per_key = db->opt.bloom_bits_per_key,
	};
}

/* REQUIRES: mu held. */
static int pending_add(hdb_db *db, uint64_t number)
{
	if (db->npending == db->cappending) {
		size_t cap = db->cappending ? db->cappending * 2 : 8;
		uint64_t *p = realloc(db->pending, cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		db->pending = p;
		db->cappending = cap;
	}
	db->pending[db->npending++] = number;
	return 0;
}

/* REQUIRES: mu held. */
static void pending_remove(hdb_db *db, uint64_t number)
{
	for (size_t i = 0; i < db->npending; i++) {
		if (db->pending[i] == number) {
			db->pending[i] = db->pending[--db->npending];
			return;
		}
	}
}

static bool contains(const uint64_t *v, size_t n, uint64_t x)
{
	for (size_t i = 0; i < n; i++)
		if (v[i] == x)
			return true;
	return false;
}

void db_delete_obsolete(hdb_db *db)
{
	if (db->bg_error)
		return; /* after a failed write we may not know what is live */
	uint64_t *live;
	size_t nlive;
	if (hdb_vset_live_files(db->vs, &live, &nlive))
		return;
	char **names;
	size_t n;
	if (hdb_list_dir(db->dir, &names, &n)) {
		free(live);
		return;
	}
	uint64_t log_number = hdb_vset_log_number(db->vs);
	for (size_t i = 0; i < n; i++) {
		uint64_t num;
		char path[PATH_MAX];
		if (hdb_parse_file_number(names[i], ".sst", &num)) {
			if (contains(live, nlive, num) || contains(db->pending, db->npending, num))
				continue;
			hdb_tcache_evict(db->tables, num);
			if (!hdb_table_path(path, sizeof(path), db->dir, num))
				db->env->unlink(db->env, path);
		} else if (hdb_parse_file_number(names[i], ".wal", &num)) {
			if (num >= log_number || num == db->wal_number)
				continue;
			if (hdb_wal_path(path, sizeof(path), db->dir, num))
				continue;
			uint64_t size = 0;
			if (!hdb_file_size(path, &size) && !db->env->unlink(db->env, path)) {
				uint64_t live_bytes = atomic_load(&db->st.wal_bytes_live);
				atomic_store(&db->st.wal_bytes_live, live_bytes > size ? live_bytes - size : 0);
			}
		}
	}
	hdb_free_names(names, n);
	free(live);
}

/* Writes every entry of it to a new table `number`; *out is NULL when the
 * iterator was empty (no file is left behind). */
/* Writes the entries of it (a MemTable's, in internal-key order) to table
 * number, leaving out every version that a newer version of its key
 * hides from every reader: one at or below smallest_snapshot.  Tombstones
 * stay (they may hide older values in lower levels). */
static int build_table(hdb_db *db, hdb_iiter *it, uint64_t smallest_snapshot, uint64_t number, hdb_fmeta **out)
{
	char path[PATH_MAX];
	*out = NULL;
	int rc = hdb_table_path(path, sizeof(path), db->dir, number);
	if (rc)
		return rc;
	hdb_sst_options so = sst_options(db);
	hdb_sst_builder *b;
	rc = hdb_sst_builder_new(db->env, path, &so, &b);
	if (rc)
		return rc;
	hdb_buf smallest = { 0 }, largest = { 0 };
	uint64_t newer_seq = UINT64_MAX; /* of the last version written of the key in largest */
	for (hdb_iiter_seek_first(it); hdb_iiter_valid(it) && !rc; hdb_iiter_next(it)) {
		hdb_slice k = hdb_iiter_key(it), v = hdb_iiter_value(it);
		if (k.len < HDB_TAG_SIZE) {
			rc = hdb_corrupt("memtable", 0, "internal key shorter than its tag");
			break;
		}
		hdb_slice uk = hdb_ikey_user(k.data, k.len);
		bool same_key = largest.len && hdb_bytes_cmp(uk.data, uk.len, largest.data, largest.len - HDB_TAG_SIZE) == 0;
		if (same_key && newer_seq <= smallest_snapshot)
			continue; /* hidden from every reader by the version written */
		newer_seq = hdb_ikey_seq(k.data, k.len);
		if (!smallest.len)
			rc = hdb_buf_append(&smallest, k.data, k.len);
		if (!rc)
			rc = hdb_sst_builder_add(b, k.data, k.len, v.data, v.len);
		if (!rc) {
			largest.len = 0;
			rc = hdb_buf_append(&largest, k.data, k.len);
		}
	}
	if (!rc)
		rc = hdb_iiter_status(it);
	uint64_t size = 0;
	bool empty = hdb_sst_builder_entries(b) == 0;
	if (!rc && !empty)
		rc = hdb_sst_builder_finish(b, &size);
	hdb_sst_builder_free(b);
	if (!rc && !empty) {
		*out = hdb_fmeta_new(number, size, smallest.data, smallest.len, largest.data, largest.len);
		if (!*out)
			rc = -ENOMEM;
	}
	if (rc || empty)
		db->env->unlink(db->env, path);
	else
		atomic_fetch_add(&db->st.bytes_disk, size);
	hdb_buf_free(&smallest);
	hdb_buf_free(&largest);
	return rc;
}

int db_write_level0(hdb_db *db, hdb_mem *mem, hdb_vedit *edit)
{
	uint64_t number = hdb_vset_new_file_number(db->vs);
	int rc = pending_add(db, number);
	if (rc)
		return rc;
	uint64_t smallest_snapshot = db->snapshots.next != &db->snapshots ? db->snapshots.next->seq
	                                                                   : hdb_vset_last_seq(db->vs);
	hdb_iiter *it = hdb_mem_iter_new(mem);
	pthread_mutex_unlock(&db->mu);
	hdb_fmeta *f = NULL;
	rc = it ? build_table(db, it, smallest_snapshot, number, &f) : -ENOMEM;
	hdb_iiter_destroy(it);
	/* The manifest will name the table: its directory entry must be
	 * durable first, or a crash leaves the manifest pointing at nothing. */
	if (!rc && f)
		rc = db->env->sync_dir(db->env, db->dir);
	if (rc && f) {
		hdb_fmeta_unref(f);
		f = NULL;
	}
	pthread_mutex_lock(&db->mu);
	pending_remove(db, number);
	if (!rc && f) {
		rc = hdb_vedit_add_file(edit, 0, f);
		hdb_fmeta_unref(f);
	}
	if (!rc)
		atomic_fetch_add(&db->st.flushes, 1);
	return rc;
}

/* REQUIRES: mu held, imm set. */
static int flush_imm(hdb_db *db)
{
	hdb_vedit edit;
	hdb_vedit_init(&edit);
	hdb_mem *imm = db->imm;
	int rc = db_write_level0(db, imm, &edit);
	if (!rc) {
		/* imm's segment (and older) are now obsolete; the current one
		 * holds everything written since the switch. */
		edit.has_log_number = true;
		edit.log_number = db->wal_number;
		rc = hdb_vset_log_and_apply(db->vs, &edit, &db->mu);
	}
	hdb_vedit_free(&edit);
	if (rc) {
		db_log(db, "flush failed: %s %s", hdb_strerror(rc), hdb_errdetail());
		return rc;
	}
	db->imm = NULL;
	atomic_store(&db->has_imm, false);
	hdb_mem_unref(imm);
	db_delete_obsolete(db);
	pthread_cond_broadcast(&db->bg_done_cv);
	return 0;
}

hdb_iiter *db_open_table_iter(void *ctx, const hdb_fmeta *f)
{
	hdb_db *db = ctx;
	hdb_sst_reader *r;
	int rc = hdb_tcache_get(db->tables, f->number, &r);
	if (rc)
		return hdb_iiter_empty(rc);
	hdb_iiter *it = hdb_sst_iter_new(r, true);
	hdb_sst_unref(r);
	return it ? it : hdb_iiter_empty(-ENOMEM);
}

static hdb_iiter *compaction_input(hdb_db *db, hdb_compaction *c)
{
	size_t n = c->ninputs[0] + c->ninputs[1], k = 0;
	hdb_iiter **kids = malloc((n ? n : 1) * sizeof(*kids));
	if (!kids)
		return NULL;
	for (int w = 0; w < 2; w++) {
		for (size_t i = 0; i < c->ninputs[w]; i++) {
			hdb_sst_reader *r;
			int rc = hdb_tcache_get(db->tables, c->inputs[w][i]->number, &r);
			hdb_iiter *it = rc ? hdb_iiter_empty(rc) : hdb_sst_iter_new(r, false);
			if (!rc)
				hdb_sst_unref(r);
			if (!it) {
				for (size_t j = 0; j < k; j++)
					hdb_iiter_destroy(kids[j]);
				free(kids);
				return NULL;
			}
			kids[k++] = it;
		}
	}
	hdb_iiter *m = hdb_merge_iter_new(hdb_ikey_cmp_fn, kids, k);
	free(kids);
	return m;
}

struct output {
	hdb_sst_builder *b;
	uint64_t number;
	hdb_buf smallest, largest;
};

/* REQUIRES: mu NOT held. */
static int open_output(hdb_db *db, struct output *o)
{
	pthread_mutex_lock(&db->mu);
	o->number = hdb_vset_new_file_number(db->vs);
	int rc = pending_add(db, o->number);
	pthread_mutex_unlock(&db->mu);
	if (rc)
		return rc;
	char path[PATH_MAX];
	rc = hdb_table_path(path, sizeof(path), db->dir, o->number);
	hdb_sst_options so = sst_options(db);
	if (!rc)
		rc = hdb_sst_builder_new(db->env, path, &so, &o->b);
	o->smallest.len = o->largest.len = 0;
	return rc;
}

/* REQUIRES: mu NOT held.  Finishes o into a file recorded in files. */
static int close_output(hdb_db *db, struct output *o, hdb_fmeta ***files, size_t *nfiles)
{
	uint64_t size;
	int rc = hdb_sst_builder_finish(o->b, &size);
	hdb_sst_builder_free(o->b);
	o->b = NULL;
	if (rc)
		return rc;
	atomic_fetch_add(&db->st.bytes_disk, size);
	hdb_fmeta *f = hdb_fmeta_new(o->number, size, o->smallest.data, o->smallest.len, o->largest.data,
	                             o->largest.len);
	hdb_fmeta **v = realloc(*files, (*nfiles + 1) * sizeof(**files));
	if (!f || !v) {
		if (f)
			hdb_fmeta_unref(f);
		if (v)
			*files = v;
		return -ENOMEM;
	}
	*files = v;
	v[(*nfiles)++] = f;
	return 0;
}

static void discard_outputs(hdb_db *db, struct output *o, hdb_fmeta **files, size_t nfiles)
{
	char path[PATH_MAX];
	if (o->b) {
		hdb_sst_builder_free(o->b);
		o->b = NULL;
		if (!hdb_table_path(path, sizeof(path), db->dir, o->number))
			db->env->unlink(db->env, path);
	}
	for (size_t i = 0; i < nfiles; i++) {
		if (!hdb_table_path(path, sizeof(path), db->dir, files[i]->number))
			db->env->unlink(db->env, path);
	}
}

/* Merges the compaction's inputs into new tables at level + 1, dropping
 * versions no snapshot can see and tombstones nothing below can need.
 * REQUIRES: mu held (released while merging). */
static int compact(hdb_db *db, hdb_compaction *c)
{
	uint64_t smallest_snapshot = db->snapshots.next != &db->snapshots ? db->snapshots.next->seq
	                                                                   : hdb_vset_last_seq(db->vs);
	uint64_t read_bytes = 0;
	for (int w = 0; w < 2; w++)
		for (size_t i = 0; i < c->ninputs[w]; i++)
			read_bytes += c->inputs[w][i]->size;
	db->compacting = true;
	pthread_mutex_unlock(&db->mu);

	hdb_fmeta **files = NULL;
	size_t nfiles = 0;
	struct output o = { 0 };
	hdb_buf cur = { 0 };
	bool has_cur = false;
	uint64_t last_seq_for_key = 0, n = 0;
	int rc = 0;
	hdb_iiter *it = compaction_input(db, c);
	if (!it)
		rc = -ENOMEM;
	for (it && (hdb_iiter_seek_first(it), 0); !rc && hdb_iiter_valid(it); hdb_iiter_next(it)) {
		if (atomic_load(&db->stop_compaction)) {
			rc = -ECANCELED;
			break;
		}
		if ((++n & 255) == 0 && atomic_load(&db->has_imm)) {
			pthread_mutex_lock(&db->mu);
			if (db->imm)
				rc = flush_imm(db);
			pthread_mutex_unlock(&db->mu);
			if (rc)
				break;
		}
		hdb_slice k = hdb_iiter_key(it), v = hdb_iiter_value(it);
		if (k.len < HDB_TAG_SIZE) {
			rc = hdb_corrupt("compaction input", 0, "internal key shorter than its tag");
			break;
		}
		hdb_slice uk = hdb_ikey_user(k.data, k.len);
		bool new_key = !has_cur || hdb_bytes_cmp(uk.data, uk.len, cur.data, cur.len) != 0;
		if (new_key) {
			cur.len = 0;
			if ((rc = hdb_buf_append(&cur, uk.data, uk.len)))
				break;
			has_cur = true;
			last_seq_for_key = UINT64_MAX;
		}
		uint64_t seq = hdb_ikey_seq(k.data, k.len);
		bool drop = false;
		if (last_seq_for_key <= smallest_snapshot)
			drop = true; /* a newer version is visible to every reader */
		else if (hdb_ikey_type(k.data, k.len) == HDB_TYPE_DELETE && seq <= smallest_snapshot &&
		         hdb_compaction_is_base_level_for_key(c, uk.data, uk.len))
			drop = true; /* nothing older remains below to hide */
		last_seq_for_key = seq;
		if (drop)
			continue;

		/* Split only between user keys, so no key's versions straddle two
		 * files of one level. */
		if (o.b && new_key && hdb_sst_builder_size(o.b) >= c->max_output_size) {
			if ((rc = close_output(db, &o, &files, &nfiles)))
				break;
		}
		if (!o.b && (rc = open_output(db, &o)))
			break;
		if (!o.smallest.len && (rc = hdb_buf_append(&o.smallest, k.data, k.len)))
			break;
		if ((rc = hdb_sst_builder_add(o.b, k.data, k.len, v.data, v.len)))
			break;
		o.largest.len = 0;
		if ((rc = hdb_buf_append(&o.largest, k.data, k.len)))
			break;
	}
	if (!rc && it)
		rc = hdb_iiter_status(it);
	if (!rc && o.b)
		rc = close_output(db, &o, &files, &nfiles);
	hdb_iiter_destroy(it);
	if (!rc && nfiles)
		rc = db->env->sync_dir(db->env, db->dir); /* before the manifest names them */

	pthread_mutex_lock(&db->mu);
	db->compacting = false;
	for (size_t i = 0; i < nfiles; i++)
		rc = rc ? rc : hdb_vedit_add_file(&c->edit, c->level + 1, files[i]);
	if (rc) {
		discard_outputs(db, &o, files, nfiles);
	} else {
		/* If this fails the record may still have reached the manifest, so
		 * the outputs stay: the sticky error keeps anything from deleting
		 * them until a reopen decides from the manifest what is live. */
		rc = hdb_vset_log_and_apply(db->vs, &c->edit, &db->mu);
	}
	if (o.b || o.number)
		pending_remove(db, o.number);
	for (size_t i = 0; i < nfiles; i++) {
		pending_remove(db, files[i]->number);
		hdb_fmeta_unref(files[i]);
	}
	free(files);
	hdb_buf_free(&cur);
	hdb_buf_free(&o.smallest);
	hdb_buf_free(&o.largest);
	if (!rc) {
		atomic_fetch_add(&db->st.bytes_compacted_read, read_bytes);
		atomic_fetch_add(&db->st.compactions, 1);
	}
	return rc;
}

/* REQUIRES: mu held.  Runs c and frees it. */
static int run_compaction(hdb_db *db, hdb_compaction *c)
{
	int rc = 0;
	/* Files of a level >= 1 are disjoint, so when nothing below overlaps
	 * them they can all move down unchanged (a full compaction pushes every
	 * level to the bottom this way without rewriting it each time). */
	bool move_all = c->level > 0 && c->ninputs[1] == 0 && c->ninputs[0] > 1;
	if (move_all || hdb_compaction_is_trivial_move(c)) {
		for (size_t i = 0; i < c->ninputs[0] && !rc; i++)
			rc = hdb_vedit_add_file(&c->edit, c->level + 1, c->inputs[0][i]);
		if (!rc)
			rc = hdb_vset_log_and_apply(db->vs, &c->edit, &db->mu);
	} else {
		rc = compact(db, c);
	}
	hdb_compaction_free(c);
	if (!rc)
		db_delete_obsolete(db);
	else if (rc != -ECANCELED)
		db_log(db, "compaction failed: %s %s", hdb_strerror(rc), hdb_errdetail());
	return rc;
}

/* Without background compaction, L0 still must not grow past the stop
 * trigger: writers would wait for a compaction nobody runs. */
static bool compaction_due(hdb_db *db)
{
	hdb_version *v = hdb_vset_current(db->vs);
	if ((int)v->nfiles[0] >= db->opt.l0_stop_trigger)
		return true;
	return db->opt.background_compaction && v->compaction_score >= 1.0;
}

void db_maybe_schedule(hdb_db *db)
{
	if (db->imm || db->manual.pending || compaction_due(db))
		pthread_cond_signal(&db->bg_cv);
}

/* REQUIRES: mu held. */
static void wait_a_second(hdb_db *db)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 1;
	pthread_cond_timedwait(&db->bg_cv, &db->mu, &ts);
}

void *db_bg_main(void *arg)
{
	hdb_db *db = arg;
	pthread_mutex_lock(&db->mu);
	while (!db->shutting_down) {
		int rc = 0;
		if (db->bg_error) {
			pthread_cond_broadcast(&db->bg_done_cv);
			pthread_cond_wait(&db->bg_cv, &db->mu);
			continue;
		}
		if (db->imm) {
			rc = flush_imm(db);
		} else if (db->manual.pending) {
			hdb_compaction *c = hdb_vset_compact_range(db->vs, db->manual.level, db->manual.begin,
			                                           db->manual.blen, db->manual.end, db->manual.elen);
			rc = c ? run_compaction(db, c) : 0;
			db->manual.status = rc;
			db->manual.pending = false;
		} else if (compaction_due(db)) {
			hdb_compaction *c = hdb_vset_pick_compaction(db->vs);
			rc = c ? run_compaction(db, c) : 0;
		} else {
			pthread_cond_wait(&db->bg_cv, &db->mu);
			continue;
		}
		db->bg_runs++;
		if (rc == -ENOSPC || rc == -EDQUOT) {
			/* Not fatal: nothing was installed, and deleting data may
			 * free room.  Retry after a pause, failing writes meanwhile. */
			db->bg_nospace = rc;
			pthread_cond_broadcast(&db->bg_done_cv);
			wait_a_second(db);
			continue;
		}
		db->bg_nospace = 0;
		if (rc && rc != -ECANCELED && !db->bg_error)
			db->bg_error = rc;
		pthread_cond_broadcast(&db->bg_done_cv);
	}
	pthread_cond_broadcast(&db->bg_done_cv);
	pthread_mutex_unlock(&db->mu);
	return NULL;
}
