/*
 * db_iter.c — user iterators: the merged internal iterator over MemTables
 * and tables, collapsed to the newest visible version of each user key,
 * tombstones hidden, within [lower, upper).
 */
#include "db_impl.h"

#include "errors.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

hdb_iiter *db_internal_iter(hdb_db *db, bool fill_cache)
{
	hdb_version *v = hdb_vset_current(db->vs);
	size_t cap = 2 + v->nfiles[0] + HDB_MAX_LEVELS, n = 0;
	hdb_iiter **kids = malloc(cap * sizeof(*kids));
	if (!kids)
		return NULL;
	bool oom = false;
	kids[n] = hdb_mem_iter_new(db->mem);
	oom |= !kids[n++];
	if (db->imm) {
		kids[n] = hdb_mem_iter_new(db->imm);
		oom |= !kids[n++];
	}
	for (size_t i = v->nfiles[0]; i-- > 0 && !oom;) {
		kids[n] = db_open_table_iter(db, v->files[0][i]);
		oom |= !kids[n++];
	}
	for (int level = 1; level < HDB_MAX_LEVELS && !oom; level++) {
		if (!v->nfiles[level])
			continue;
		kids[n] = hdb_level_iter_new(v, level, db_open_table_iter, db);
		oom |= !kids[n++];
	}
	if (oom) {
		for (size_t i = 0; i < n; i++)
			hdb_iiter_destroy(kids[i]);
		free(kids);
		return NULL;
	}
	hdb_iiter *m = hdb_merge_iter_new(hdb_ikey_cmp_fn, kids, n);
	free(kids);
	return m;
}

struct hdb_iter {
	hdb_db *db;
	hdb_iiter *in;        /* merged internal iterator */
	uint64_t seq;         /* read view */
	hdb_buf lower, upper; /* copies of the bounds */
	bool has_lower, has_upper;
	bool valid;
	int status;
	hdb_buf skip;         /* user key whose older versions are being skipped */
	hdb_buf seek;         /* scratch for seek keys */
};

/* Moves to the newest visible, live version of the next user key at or
 * after the internal iterator's position; with `skipping`, user keys <=
 * it->skip are passed over. */
static void find_next_user_entry(hdb_iter *it, bool skipping)
{
	hdb_iiter *in = it->in;
	for (; hdb_iiter_valid(in); hdb_iiter_next(in)) {
		hdb_slice k = hdb_iiter_key(in);
		if (k.len < HDB_TAG_SIZE) {
			it->status = hdb_corrupt("iterator", 0, "internal key shorter than its tag");
			it->valid = false;
			return;
		}
		if (hdb_ikey_seq(k.data, k.len) > it->seq)
			continue;
		hdb_slice uk = hdb_ikey_user(k.data, k.len);
		if (skipping && hdb_bytes_cmp(uk.data, uk.len, it->skip.data, it->skip.len) <= 0)
			continue;
		if (it->has_upper && hdb_bytes_cmp(uk.data, uk.len, it->upper.data, it->upper.len) >= 0)
			break;
		it->skip.len = 0;
		if (hdb_buf_append(&it->skip, uk.data, uk.len)) {
			it->status = -ENOMEM;
			break;
		}
		skipping = true;
		if (hdb_ikey_type(k.data, k.len) == HDB_TYPE_DELETE)
			continue;
		it->valid = true;
		return;
	}
	it->valid = false;
	if (!it->status)
		it->status = hdb_iiter_status(in);
}

int hdb_iter_new(hdb_db *db, const hdb_read_options *ro, hdb_iter **out)
{
	hdb_read_options dflt;
	if (!ro) {
		hdb_read_options_init(&dflt);
		ro = &dflt;
	}
	hdb_iter *it = calloc(1, sizeof(*it));
	if (!it)
		return -ENOMEM;
	it->db = db;
	int rc = 0;
	if (ro->lower) {
		it->has_lower = true;
		rc = hdb_buf_append(&it->lower, ro->lower, ro->lower_len);
	}
	if (!rc && ro->upper) {
		it->has_upper = true;
		rc = hdb_buf_append(&it->upper, ro->upper, ro->upper_len);
	}
	if (rc) {
		hdb_iter_free(it);
		return rc;
	}
	pthread_mutex_lock(&db->mu);
	it->seq = ro->snapshot ? ro->snapshot->seq : hdb_vset_last_seq(db->vs);
	it->in = db_internal_iter(db, ro->fill_cache);
	pthread_mutex_unlock(&db->mu);
	if (!it->in) {
		hdb_iter_free(it);
		return -ENOMEM;
	}
	*out = it;
	return 0;
}

void hdb_iter_free(hdb_iter *it)
{
	if (!it)
		return;
	hdb_iiter_destroy(it->in);
	hdb_buf_free(&it->lower);
	hdb_buf_free(&it->upper);
	hdb_buf_free(&it->skip);
	hdb_buf_free(&it->seek);
	free(it);
}

void hdb_iter_seek(hdb_iter *it, const void *key, size_t klen)
{
	if (it->has_lower && hdb_bytes_cmp(key, klen, it->lower.data, it->lower.len) < 0) {
		key = it->lower.data;
		klen = it->lower.len;
	}
	it->seek.len = 0;
	it->status = hdb_ikey_build(&it->seek, key, klen, it->seq, HDB_TYPE_SEEK);
	if (it->status) {
		it->valid = false;
		return;
	}
	hdb_iiter_seek(it->in, it->seek.data, it->seek.len);
	find_next_user_entry(it, false);
}

void hdb_iter_seek_first(hdb_iter *it)
{
	if (it->has_lower) {
		hdb_iter_seek(it, it->lower.data, it->lower.len);
		return;
	}
	it->status = 0;
	hdb_iiter_seek_first(it->in);
	find_next_user_entry(it, false);
}

bool hdb_iter_valid(const hdb_iter *it)
{
	return it->valid;
}

void hdb_iter_next(hdb_iter *it)
{
	if (!it->valid)
		return;
	hdb_iiter_next(it->in);
	find_next_user_entry(it, true);
}

const void *hdb_iter_key(const hdb_iter *it, size_t *klen)
{
	*klen = it->skip.len;
	return it->skip.data;
}

const void *hdb_iter_value(const hdb_iter *it, size_t *vlen)
{
	hdb_slice v = hdb_iiter_value(it->in);
	*vlen = v.len;
	return v.data;
}

int hdb_iter_status(const hdb_iter *it)
{
	return it->status;
}
