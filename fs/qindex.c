/*
 * qindex.c — secondary indexes: definitions, maintenance, build and drop
 * (see qindex.h and fs_format.h).
 */
#include "qindex.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "json.h"
#include "qvfs.h"

/* Documents a build indexes, and entries a drop deletes, per batch. */
#define BUILD_CHUNK 1024
#define DROP_CHUNK 8192

static size_t def_key(uint8_t *k, uint64_t coll, const char *field, size_t flen)
{
	size_t n = hdb_fs_ino_key(k, HDB_FS_TAG_INDEX, coll);
	memcpy(k + n, field, flen);
	return n + flen;
}

size_t fs_ikey_prefix(uint8_t *k, uint64_t coll, const char *field, size_t flen)
{
	size_t n = hdb_fs_ino_key(k, HDB_FS_TAG_IENTRY, coll);
	memcpy(k + n, field, flen);
	k[n + flen] = 0;
	return n + flen + 1;
}

static bool valid_field(const char *field, size_t flen)
{
	return flen && flen <= HDB_FS_NAME_MAX && !memchr(field, 0, flen);
}

/* REQUIRES commit_mu or q->mu. */
static fs_qidx *find_def(fs_query *q, uint64_t coll, const char *field, size_t flen)
{
	for (fs_qidx *d = q->defs; d; d = d->next)
		if (d->coll == coll && d->flen == flen && !memcmp(d->field, field, flen))
			return d;
	return NULL;
}

static bool maintained_state(int state)
{
	return state == HDB_FS_INDEX_BUILDING || state == HDB_FS_INDEX_READY;
}

/* REQUIRES commit_mu.  Whether writes to coll must maintain an index. */
static bool maintained(fs_query *q, uint64_t coll)
{
	for (fs_qidx *d = q->defs; d; d = d->next)
		if (d->coll == coll && maintained_state(d->state))
			return true;
	return false;
}

static fs_qidx *new_def(uint64_t coll, const char *field, size_t flen, int state)
{
	fs_qidx *d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	d->field = malloc(flen + 1);
	if (!d->field) {
		free(d);
		return NULL;
	}
	memcpy(d->field, field, flen);
	d->field[flen] = 0;
	d->flen = flen;
	d->coll = coll;
	d->state = state;
	return d;
}

static void free_def(fs_qidx *d)
{
	free(d->field);
	free(d);
}

/* REQUIRES commit_mu.  Links d (under q->mu). */
static void add_def(fs_query *q, fs_qidx *d)
{
	pthread_mutex_lock(&q->mu);
	d->next = q->defs;
	q->defs = d;
	pthread_mutex_unlock(&q->mu);
}

/* REQUIRES commit_mu.  Unlinks and frees d (under q->mu). */
static void remove_def(fs_query *q, fs_qidx *d)
{
	pthread_mutex_lock(&q->mu);
	for (fs_qidx **p = &q->defs; *p; p = &(*p)->next)
		if (*p == d) {
			*p = d->next;
			break;
		}
	pthread_mutex_unlock(&q->mu);
	free_def(d);
}

static void set_state(fs_query *q, fs_qidx *d, int state)
{
	pthread_mutex_lock(&q->mu);
	d->state = state;
	pthread_mutex_unlock(&q->mu);
}

static int put_def(hdb_batch *b, const fs_qidx *d, int state, const char *cursor, size_t clen)
{
	uint8_t k[HDB_FS_KEY_PREFIX + HDB_FS_NAME_MAX], v[1 + HDB_FS_NAME_MAX];
	size_t kl = def_key(k, d->coll, d->field, d->flen);
	v[0] = (uint8_t)state;
	if (clen)
		memcpy(v + 1, cursor, clen);
	return hdb_batch_put(b, k, kl, v, 1 + clen);
}

static int del_def(hdb_batch *b, const fs_qidx *d)
{
	uint8_t k[HDB_FS_KEY_PREFIX + HDB_FS_NAME_MAX];
	return hdb_batch_delete(b, k, def_key(k, d->coll, d->field, d->flen));
}

/* ---- entries ---- */

/* The entry key of document name (content doc) in index d, into k; *kl 0
 * when the document has no entry. */
static int entry_key(const fs_qidx *d, const char *name, size_t nlen, const void *doc, size_t dlen, uint8_t *k,
                     size_t *kl)
{
	const uint8_t *val;
	size_t vlen;
	hdb_jval v;
	*kl = 0;
	if (!dlen || hdb_json_lookup(doc, dlen, d->field, d->flen, &val, &vlen))
		return 0;
	int rc = hdb_jval_decode(val, vlen, &v);
	if (rc)
		return rc;
	size_t pl = fs_ikey_prefix(k, d->coll, d->field, d->flen);
	size_t el = hdb_qkey_encode(&v, k + pl);
	hdb_jval_free(&v);
	if (!el)
		return 0;
	memcpy(k + pl + el, name, nlen);
	*kl = pl + el + nlen;
	return 0;
}

/* REQUIRES commit_mu.  Deletes (put false) or writes the entries of
 * document (coll, name) with content doc in every maintained index. */
static int doc_entries(fs_query *q, hdb_batch *b, uint64_t coll, const char *name, size_t nlen, const void *doc,
                       size_t dlen, bool put)
{
	if (!hdb_fs_is_doc_name(name, nlen))
		return 0;
	uint8_t k[FS_IKEY_MAX];
	for (fs_qidx *d = q->defs; d; d = d->next) {
		if (d->coll != coll || !maintained_state(d->state))
			continue;
		size_t kl;
		int rc = entry_key(d, name, nlen, doc, dlen, k, &kl);
		if (!rc && kl)
			rc = put ? hdb_batch_put(b, k, kl, "", 0) : hdb_batch_delete(b, k, kl);
		if (rc)
			return rc;
	}
	return 0;
}

int fs_index_on_commit(hdb_fs *fs, fs_txn *t, uint64_t coll, const char *name, size_t nlen, uint64_t ino,
                       const void *data, size_t len)
{
	if (!fs->q || !maintained(fs->q, coll) || !hdb_fs_is_doc_name(name, nlen))
		return 0;
	void *old;
	size_t olen;
	int rc = fs_read_data(fs, ino, &old, &olen);
	if (rc)
		return rc;
	rc = doc_entries(fs->q, t->b, coll, name, nlen, old, olen, false);
	if (!rc)
		rc = doc_entries(fs->q, t->b, coll, name, nlen, data, len, true);
	free(old);
	return rc;
}

int fs_index_on_create(hdb_fs *fs, fs_txn *t, uint64_t coll, const char *name, size_t nlen, const void *data,
                       size_t len)
{
	if (!fs->q || !maintained(fs->q, coll))
		return 0;
	return doc_entries(fs->q, t->b, coll, name, nlen, data, len, true);
}

bool fs_index_maintained(hdb_fs *fs, uint64_t coll)
{
	return fs->q && maintained(fs->q, coll);
}

int fs_index_on_unlink(hdb_fs *fs, fs_txn *t, uint64_t coll, const char *name, size_t nlen, const hdb_fs_attr *a)
{
	if (!fs->q || !S_ISREG(a->mode) || !maintained(fs->q, coll) || !hdb_fs_is_doc_name(name, nlen))
		return 0;
	void *doc;
	size_t dlen;
	int rc = fs_read_data(fs, a->ino, &doc, &dlen);
	if (!rc)
		rc = doc_entries(fs->q, t->b, coll, name, nlen, doc, dlen, false);
	free(doc);
	return rc;
}

/* The committed content of a regular file (NULL for other types). */
static int content_of(hdb_fs *fs, const hdb_fs_attr *a, void **doc, size_t *dlen)
{
	*doc = NULL;
	*dlen = 0;
	return a && S_ISREG(a->mode) ? fs_read_data(fs, a->ino, doc, dlen) : 0;
}

int fs_index_on_rename(hdb_fs *fs, fs_txn *t, uint64_t p1, const char *n1, size_t l1, const hdb_fs_attr *src,
                       uint64_t p2, const char *n2, size_t l2, const hdb_fs_attr *dst, bool exchange)
{
	fs_query *q = fs->q;
	if (!q || (!maintained(q, p1) && !maintained(q, p2)))
		return 0;
	void *sdoc, *ddoc = NULL;
	size_t slen, dlen = 0;
	int rc = content_of(fs, src, &sdoc, &slen);
	if (!rc)
		rc = content_of(fs, dst, &ddoc, &dlen);
	/* Every deletion before any insertion: an old and a new entry may be
	 * the same key (two documents with equal values trading names). */
	bool sreg = S_ISREG(src->mode), dreg = dst && S_ISREG(dst->mode);
	if (!rc && sreg)
		rc = doc_entries(q, t->b, p1, n1, l1, sdoc, slen, false);
	if (!rc && dreg)
		rc = doc_entries(q, t->b, p2, n2, l2, ddoc, dlen, false);
	if (!rc && sreg)
		rc = doc_entries(q, t->b, p2, n2, l2, sdoc, slen, true);
	if (!rc && dreg && exchange)
		rc = doc_entries(q, t->b, p1, n1, l1, ddoc, dlen, true);
	free(sdoc);
	free(ddoc);
	return rc;
}

int fs_index_on_rmdir(hdb_fs *fs, fs_txn *t, uint64_t dir)
{
	if (!fs->q)
		return 0;
	/* A dropping index keeps its key: its drop still has entries to
	 * delete, and deletes the key at the end. */
	for (fs_qidx *d = fs->q->defs; d; d = d->next) {
		if (d->coll != dir || !maintained_state(d->state))
			continue;
		int rc = del_def(t->b, d);
		if (rc)
			return rc;
	}
	return 0;
}

void fs_index_on_rmdir_done(hdb_fs *fs, uint64_t dir)
{
	if (!fs->q)
		return;
	fs_qidx *d = fs->q->defs, *next;
	for (; d; d = next) {
		next = d->next;
		if (d->coll == dir && maintained_state(d->state))
			remove_def(fs->q, d);
	}
}

/* ---- build ---- */

struct build {
	char cursor[HDB_FS_NAME_MAX + 1]; /* last entry name done */
	size_t clen;
	bool done;
	uint64_t docs;
};

/* REQUIRES commit_mu.  Adds the entries of up to BUILD_CHUNK documents of
 * d's collection after the cursor to t. */
static int build_chunk(hdb_fs *fs, fs_txn *t, fs_qidx *d, struct build *bs)
{
	uint8_t start[HDB_FS_KEY_MAX], k[FS_IKEY_MAX];
	hdb_iter *it;
	int rc = fs_dir_iter(fs->db, d->coll, FS_SCAN_NO_CACHE, &it);
	if (rc)
		return rc;
	size_t sl = hdb_fs_entry_key(start, d->coll, bs->cursor, bs->clen);
	hdb_iter_seek(it, start, sl);
	if (bs->clen && hdb_iter_valid(it)) {
		size_t cl;
		const void *ck = hdb_iter_key(it, &cl);
		if (cl == sl && !memcmp(ck, start, sl))
			hdb_iter_next(it);
	}
	size_t n = 0;
	for (; !rc && hdb_iter_valid(it) && n < BUILD_CHUNK; hdb_iter_next(it)) {
		size_t klen, vlen, nlen;
		const uint8_t *key = hdb_iter_key(it, &klen), *val = hdb_iter_value(it, &vlen), *name;
		uint64_t parent;
		hdb_fs_attr a;
		rc = hdb_fs_entry_key_decode(key, klen, &parent, &name, &nlen);
		if (!rc)
			rc = hdb_fs_attr_decode(val, vlen, &a);
		if (rc)
			break;
		memcpy(bs->cursor, name, nlen);
		bs->clen = nlen;
		if (!S_ISREG(a.mode) || !hdb_fs_is_doc_name((const char *)name, nlen))
			continue;
		void *doc;
		size_t dlen, kl;
		rc = fs_read_data(fs, a.ino, &doc, &dlen);
		if (!rc)
			rc = entry_key(d, (const char *)name, nlen, doc, dlen, k, &kl);
		if (!rc && kl)
			rc = hdb_batch_put(t->b, k, kl, "", 0);
		free(doc);
		n++;
	}
	if (!rc)
		rc = hdb_iter_status(it);
	bs->done = !rc && !hdb_iter_valid(it);
	bs->docs = n;
	hdb_iter_free(it);
	return rc;
}

/* Runs the build of (coll, field) from cursor to the end. */
static int build_run(hdb_fs *fs, uint64_t coll, const char *field, size_t flen, struct build *bs)
{
	for (;;) {
		fs_txn t;
		int rc = fs_txn_begin(fs, &t);
		if (rc)
			return rc;
		fs_qidx *d = find_def(fs->q, coll, field, flen);
		if (!d || d->state != HDB_FS_INDEX_BUILDING) {
			/* removed with its collection, or dropped meanwhile */
			fs_txn_end(fs, &t, 0, false);
			return d && d->state == HDB_FS_INDEX_READY ? 0 : -ENOENT;
		}
		rc = build_chunk(fs, &t, d, bs);
		if (!rc)
			rc = put_def(t.b, d, bs->done ? HDB_FS_INDEX_READY : HDB_FS_INDEX_BUILDING, bs->cursor,
			             bs->done ? 0 : bs->clen);
		if (!rc)
			rc = fs_txn_write(fs, &t);
		if (!rc) {
			pthread_mutex_lock(&fs->q->mu);
			d->indexed += bs->docs;
			if (bs->done)
				d->state = HDB_FS_INDEX_READY;
			pthread_mutex_unlock(&fs->q->mu);
		}
		rc = fs_txn_end(fs, &t, rc, false);
		if (rc)
			return rc;
		if (bs->done) {
			atomic_fetch_add(&fs->q->builds, 1);
			return 0;
		}
	}
}

/* ---- drop ---- */

/* An iterator over every entry of index d, at the first; a sweep over a
 * whole index does not fill the block cache. */
static int index_entries(hdb_db *db, const fs_qidx *d, hdb_iter **out)
{
	uint8_t lower[FS_IKEY_MAX], upper[FS_IKEY_MAX];
	size_t pl = fs_ikey_prefix(lower, d->coll, d->field, d->flen);
	memcpy(upper, lower, pl);
	upper[pl - 1] = 1; /* the field's 0 terminator + 1 */
	hdb_read_options ro;
	hdb_read_options_init(&ro);
	ro.lower = lower;
	ro.lower_len = pl;
	ro.upper = upper;
	ro.upper_len = pl;
	ro.fill_cache = false;
	int rc = hdb_iter_new(db, &ro, out);
	if (!rc)
		hdb_iter_seek_first(*out); /* the iterator copied the bounds */
	return rc;
}

/* REQUIRES commit_mu.  Deletes up to DROP_CHUNK entries of d; *done when
 * none are left. */
static int drop_chunk(hdb_fs *fs, fs_txn *t, fs_qidx *d, bool *done)
{
	hdb_iter *it;
	int rc = index_entries(fs->db, d, &it);
	if (rc)
		return rc;
	size_t n = 0;
	for (; !rc && hdb_iter_valid(it) && n < DROP_CHUNK; hdb_iter_next(it), n++) {
		size_t kl;
		const void *k = hdb_iter_key(it, &kl);
		rc = hdb_batch_delete(t->b, k, kl);
	}
	if (!rc)
		rc = hdb_iter_status(it);
	*done = !rc && !hdb_iter_valid(it);
	hdb_iter_free(it);
	return rc;
}

static int drop_run(hdb_fs *fs, uint64_t coll, const char *field, size_t flen)
{
	for (;;) {
		fs_txn t;
		bool done = false;
		int rc = fs_txn_begin(fs, &t);
		if (rc)
			return rc;
		fs_qidx *d = find_def(fs->q, coll, field, flen);
		if (!d || d->state != HDB_FS_INDEX_DROPPING) {
			fs_txn_end(fs, &t, 0, false);
			return 0;
		}
		rc = drop_chunk(fs, &t, d, &done);
		if (!rc && done)
			rc = del_def(t.b, d);
		if (!rc)
			rc = fs_txn_write(fs, &t);
		if (!rc && done)
			remove_def(fs->q, d);
		rc = fs_txn_end(fs, &t, rc, false);
		if (rc || done)
			return rc;
	}
}

/* ---- definitions ---- */

/* Writes the definition of a new index, building. */
static int define(hdb_fs *fs, uint64_t coll, const char *field, size_t flen, bool *dropping)
{
	fs_txn t;
	*dropping = false;
	fs_qidx *nd = new_def(coll, field, flen, HDB_FS_INDEX_BUILDING);
	if (!nd)
		return -ENOMEM;
	int rc = fs_txn_begin(fs, &t);
	if (rc) {
		free_def(nd);
		return rc;
	}
	fs_qidx *d = find_def(fs->q, coll, field, flen);
	if (d) {
		*dropping = d->state == HDB_FS_INDEX_DROPPING;
		rc = *dropping ? 0 : -EEXIST;
		goto out;
	}
	if (t.sb.version < HDB_FS_VERSION_INDEXES) {
		t.sb.version = HDB_FS_VERSION_INDEXES;
		t.sb_dirty = true;
	}
	rc = put_def(t.b, nd, HDB_FS_INDEX_BUILDING, NULL, 0);
	if (!rc)
		rc = fs_txn_write(fs, &t);
	if (!rc) {
		add_def(fs->q, nd);
		nd = NULL;
	}
out:
	rc = fs_txn_end(fs, &t, rc, false);
	if (nd)
		free_def(nd);
	return rc;
}

int fs_index_create(hdb_fs *fs, uint64_t coll, const char *field, size_t flen)
{
	if (!valid_field(field, flen))
		return -EINVAL;
	if (fs->opt.read_only)
		return -EROFS;
	bool dropping;
	int rc = define(fs, coll, field, flen, &dropping);
	if (!rc && dropping) {
		/* A drop of the same field is still deleting entries. */
		rc = drop_run(fs, coll, field, flen);
		if (!rc)
			rc = define(fs, coll, field, flen, &dropping);
	}
	if (rc)
		return rc;
	struct build bs = { .clen = 0 };
	return build_run(fs, coll, field, flen, &bs);
}

int fs_index_drop(hdb_fs *fs, uint64_t coll, const char *field, size_t flen)
{
	if (!valid_field(field, flen))
		return -ENOENT;
	if (fs->opt.read_only)
		return -EROFS;
	fs_txn t;
	int rc = fs_txn_begin(fs, &t);
	if (rc)
		return rc;
	fs_qidx *d = find_def(fs->q, coll, field, flen);
	if (!d || !maintained_state(d->state))
		rc = -ENOENT;
	if (!rc)
		rc = put_def(t.b, d, HDB_FS_INDEX_DROPPING, NULL, 0);
	if (!rc)
		rc = fs_txn_write(fs, &t);
	if (!rc)
		set_state(fs->q, d, HDB_FS_INDEX_DROPPING);
	rc = fs_txn_end(fs, &t, rc, false);
	return rc ? rc : drop_run(fs, coll, field, flen);
}

static bool def_in_state(hdb_fs *fs, uint64_t coll, const char *field, size_t flen, bool ready_only)
{
	pthread_mutex_lock(&fs->q->mu);
	fs_qidx *d = find_def(fs->q, coll, field, flen);
	bool yes = d && (ready_only ? d->state == HDB_FS_INDEX_READY : maintained_state(d->state));
	pthread_mutex_unlock(&fs->q->mu);
	return yes;
}

bool fs_index_ready(hdb_fs *fs, uint64_t coll, const char *field, size_t flen)
{
	return fs->q && def_in_state(fs, coll, field, flen, true);
}

bool fs_index_exists(hdb_fs *fs, uint64_t coll, const char *field, size_t flen)
{
	return fs->q && def_in_state(fs, coll, field, flen, false);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int fs_index_list(hdb_fs *fs, uint64_t coll, char ***fields, size_t *n)
{
	size_t cnt = 0, i = 0;
	int rc = 0;
	pthread_mutex_lock(&fs->q->mu);
	for (fs_qidx *d = fs->q->defs; d; d = d->next)
		cnt += d->coll == coll && maintained_state(d->state);
	char **out = calloc(cnt ? cnt : 1, sizeof(*out));
	if (!out)
		rc = -ENOMEM;
	for (fs_qidx *d = fs->q->defs; !rc && d; d = d->next) {
		if (d->coll != coll || !maintained_state(d->state))
			continue;
		out[i] = strdup(d->field);
		if (!out[i++])
			rc = -ENOMEM;
	}
	pthread_mutex_unlock(&fs->q->mu);
	if (rc) {
		for (size_t k = 0; out && k < i; k++)
			free(out[k]);
		free(out);
		return rc;
	}
	qsort(out, cnt, sizeof(*out), cmp_str);
	*fields = out;
	*n = cnt;
	return 0;
}

/* ---- life cycle ---- */

/* The collection an 'I' or 'X' key names; 0 when k is too short to name one. */
static uint64_t key_coll(const uint8_t *k, size_t kl)
{
	uint64_t coll = 0;
	for (int i = 0; i < 8 && kl >= HDB_FS_KEY_PREFIX; i++)
		coll = coll << 8 | k[1 + i];
	return coll;
}

/* Adds the definition stored as (k, v) to fs_query ctx; an undecodable one
 * is dropped. */
static int load_def(void *ctx, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
	fs_query *q = ctx;
	uint64_t coll = key_coll(k, kl);
	if (kl <= HDB_FS_KEY_PREFIX || kl > HDB_FS_KEY_PREFIX + HDB_FS_NAME_MAX) {
		hdb_fs_log("ignoring a malformed index definition key of %zu bytes", kl);
		return 0;
	}
	const char *field = (const char *)k + HDB_FS_KEY_PREFIX;
	size_t flen = kl - HDB_FS_KEY_PREFIX;
	int state = vl >= 1 && v[0] <= HDB_FS_INDEX_DROPPING ? v[0] : -1;
	if (state < 0 || !valid_field(field, flen) || (state != HDB_FS_INDEX_BUILDING && vl != 1) ||
	    vl > 1 + HDB_FS_NAME_MAX) {
		hdb_fs_log("index definition %" PRIu64 "/%.*s is malformed: dropping it", coll, (int)flen, field);
		state = HDB_FS_INDEX_DROPPING;
	}
	fs_qidx *d = new_def(coll, field, flen, state);
	if (!d)
		return -ENOMEM;
	d->next = q->defs;
	q->defs = d;
	return 0;
}

static int load_defs(hdb_db *db, fs_query *q)
{
	return fs_scan_db(db, 0, HDB_FS_TAG_INDEX, load_def, q, NULL);
}

/* The cursor of a build a stop interrupted. */
static int read_cursor(hdb_fs *fs, const fs_qidx *d, struct build *bs)
{
	uint8_t k[HDB_FS_KEY_PREFIX + HDB_FS_NAME_MAX];
	void *v;
	size_t vl;
	int rc = hdb_get(fs->db, NULL, k, def_key(k, d->coll, d->field, d->flen), &v, &vl);
	if (rc)
		return rc;
	bs->clen = vl > 1 ? vl - 1 : 0;
	memcpy(bs->cursor, (uint8_t *)v + 1, bs->clen);
	free(v);
	return 0;
}

/* Finishes what a stop interrupted, one definition at a time (each run
 * takes commit_mu per chunk, so the list is walked again each time). */
static int resume(hdb_fs *fs)
{
	for (;;) {
		fs_qidx *unfinished = NULL;
		for (fs_qidx *d = fs->q->defs; d && !unfinished; d = d->next)
			if (d->state != HDB_FS_INDEX_READY)
				unfinished = d;
		if (!unfinished)
			return 0;
		uint64_t coll = unfinished->coll;
		char field[HDB_FS_NAME_MAX + 1];
		size_t flen = unfinished->flen;
		memcpy(field, unfinished->field, flen + 1);
		int rc;
		if (unfinished->state == HDB_FS_INDEX_DROPPING) {
			hdb_fs_log("finishing the drop of index %s of collection %" PRIu64, field, coll);
			rc = drop_run(fs, coll, field, flen);
		} else {
			struct build bs = { .clen = 0 };
			hdb_fs_log("resuming the build of index %s of collection %" PRIu64, field, coll);
			rc = read_cursor(fs, unfinished, &bs);
			if (!rc)
				rc = build_run(fs, coll, field, flen, &bs);
		}
		if (rc)
			return rc;
	}
}

int fs_query_new(hdb_fs *fs)
{
	fs_query *q = calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	pthread_mutex_init(&q->mu, NULL);
	fs->q = q;
	int rc = fs_qvfs_new(fs, &q->vfs);
	if (!rc)
		rc = load_defs(fs->db, q);
	/* Writers must maintain every index: without all definitions, none. */
	if (rc == HDB_ECORRUPT) {
		fs_degrade_read_only(fs, "index definitions");
		rc = 0;
	}
	if (!rc && !fs->opt.read_only)
		rc = resume(fs);
	return rc;
}

void fs_query_free(hdb_fs *fs)
{
	fs_query *q = fs->q;
	if (!q)
		return;
	fs_qvfs_free(fs, q->vfs);
	while (q->defs) {
		fs_qidx *d = q->defs;
		q->defs = d->next;
		free_def(d);
	}
	pthread_mutex_destroy(&q->mu);
	free(q);
	fs->q = NULL;
}

void fs_query_stats(hdb_fs *fs, FILE *f)
{
	fs_query *q = fs->q;
	if (!q)
		return;
	size_t ready = 0, building = 0, dropping = 0;
	fprintf(f, ",\"indexes\":{\"builds\":[");
	pthread_mutex_lock(&q->mu);
	const char *sep = "";
	for (fs_qidx *d = q->defs; d; d = d->next) {
		ready += d->state == HDB_FS_INDEX_READY;
		dropping += d->state == HDB_FS_INDEX_DROPPING;
		if (d->state != HDB_FS_INDEX_BUILDING)
			continue;
		building++;
		char esc[3 * HDB_FS_NAME_MAX + 1];
		hdb_q_escape(d->field, d->flen, esc);
		fprintf(f, "%s{\"collection_inode\":%" PRIu64 ",\"field\":\"", sep, d->coll);
		for (const char *p = esc; *p; p++)
			fprintf(f, *p == '"' || *p == '\\' ? "\\%c" : "%c", *p);
		fprintf(f, "\",\"documents_indexed\":%" PRIu64 "}", d->indexed);
		sep = ",";
	}
	pthread_mutex_unlock(&q->mu);
	fprintf(f, "],\"ready\":%zu,\"building\":%zu,\"dropping\":%zu,\"builds_finished\":%" PRIuFAST64 "}",
	        ready, building, dropping, (uint_fast64_t)atomic_load(&q->builds));
	fprintf(f, ",\"queries\":{\"indexed\":%" PRIuFAST64 ",\"scanned\":%" PRIuFAST64 ",\"exports\":%" PRIuFAST64
	           ",\"imports\":%" PRIuFAST64 ",\"imported_documents\":%" PRIuFAST64 ",\"import_errors\":%" PRIuFAST64
	           "}",
	        (uint_fast64_t)atomic_load(&q->q_indexed), (uint_fast64_t)atomic_load(&q->q_scanned),
	        (uint_fast64_t)atomic_load(&q->exports), (uint_fast64_t)atomic_load(&q->imports),
	        (uint_fast64_t)atomic_load(&q->imported), (uint_fast64_t)atomic_load(&q->import_errors));
}

/* ---- offline check ---- */

struct keylist {
	uint8_t **keys;
	size_t *lens;
	size_t n, cap;
};

static int keylist_add(struct keylist *l, const uint8_t *k, size_t kl)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 1024;
		uint8_t **keys = realloc(l->keys, cap * sizeof(*keys));
		if (!keys)
			return -ENOMEM;
		l->keys = keys;
		size_t *lens = realloc(l->lens, cap * sizeof(*lens));
		if (!lens)
			return -ENOMEM;
		l->lens = lens;
		l->cap = cap;
	}
	l->keys[l->n] = malloc(kl ? kl : 1);
	if (!l->keys[l->n])
		return -ENOMEM;
	memcpy(l->keys[l->n], k, kl);
	l->lens[l->n++] = kl;
	return 0;
}

static void keylist_free(struct keylist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->keys[i]);
	free(l->keys);
	free(l->lens);
}

static int cmp_key(const void *a, const void *b, void *ctx)
{
	const struct keylist *l = ctx;
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	size_t m = l->lens[x] < l->lens[y] ? l->lens[x] : l->lens[y];
	int r = memcmp(l->keys[x], l->keys[y], m);
	return r ? r : (l->lens[x] < l->lens[y] ? -1 : l->lens[x] > l->lens[y]);
}

struct checkctx {
	hdb_db *db;
	void (*report)(void *ctx, const char *what);
	void *ctx;
	unsigned *problems;
};

static void check_problem(struct checkctx *cc, const fs_qidx *d, const char *what, unsigned *shown)
{
	char msg[600];
	(*cc->problems)++;
	if ((*shown)++ >= 5)
		return;
	snprintf(msg, sizeof(msg), "index %s of collection %" PRIu64 ": %s", d->field, d->coll, what);
	cc->report(cc->ctx, msg);
}

/* The entries the documents of d's collection imply. */
static int expected_entries(hdb_db *db, const fs_qidx *d, struct keylist *l)
{
	uint8_t k[FS_IKEY_MAX], dk[HDB_FS_KEY_PREFIX];
	hdb_iter *it;
	int rc = fs_dir_iter(db, d->coll, FS_SCAN_NO_CACHE, &it);
	if (rc)
		return rc;
	for (hdb_iter_seek_first(it); !rc && hdb_iter_valid(it); hdb_iter_next(it)) {
		size_t klen, vlen, nlen, kl;
		const uint8_t *key = hdb_iter_key(it, &klen), *val = hdb_iter_value(it, &vlen), *name;
		uint64_t parent;
		hdb_fs_attr a;
		if (hdb_fs_entry_key_decode(key, klen, &parent, &name, &nlen) || hdb_fs_attr_decode(val, vlen, &a))
			continue; /* reported by the entry check */
		if (!S_ISREG(a.mode) || !hdb_fs_is_doc_name((const char *)name, nlen))
			continue;
		void *doc = NULL;
		size_t dlen = 0;
		rc = hdb_get(db, NULL, dk, hdb_fs_data_key(dk, a.ino), &doc, &dlen);
		if (rc == HDB_ENOTFOUND) {
			rc = 0;
			doc = NULL;
			dlen = 0;
		}
		if (!rc)
			rc = entry_key(d, (const char *)name, nlen, doc, dlen, k, &kl);
		if (!rc && kl)
			rc = keylist_add(l, k, kl);
		free(doc);
	}
	if (!rc)
		rc = hdb_iter_status(it);
	hdb_iter_free(it);
	return rc;
}

/* Compares d's entries in the engine with the expected ones (sorted). */
static int compare_entries(struct checkctx *cc, const fs_qidx *d, const struct keylist *want, const size_t *order)
{
	hdb_iter *it;
	int rc = index_entries(cc->db, d, &it);
	if (rc)
		return rc;
	size_t w = 0;
	unsigned shown = 0, missing = 0, stale = 0;
	while (hdb_iter_valid(it) || w < want->n) {
		int c;
		size_t kl = 0;
		const uint8_t *k = hdb_iter_valid(it) ? hdb_iter_key(it, &kl) : NULL;
		if (!k)
			c = 1;
		else if (w == want->n)
			c = -1;
		else {
			size_t x = order[w], m = kl < want->lens[x] ? kl : want->lens[x];
			c = memcmp(k, want->keys[x], m);
			if (!c)
				c = kl < want->lens[x] ? -1 : kl > want->lens[x];
		}
		if (c < 0) {
			stale++;
			hdb_iter_next(it);
		} else if (c > 0) {
			missing += d->state == HDB_FS_INDEX_READY;
			w++;
		} else {
			hdb_iter_next(it);
			w++;
		}
	}
	rc = hdb_iter_status(it);
	hdb_iter_free(it);
	char what[128];
	if (stale) {
		snprintf(what, sizeof(what), "%u entr%s no document implies", stale, stale == 1 ? "y" : "ies");
		check_problem(cc, d, what, &shown);
	}
	if (missing) {
		snprintf(what, sizeof(what), "%u document value%s without an entry", missing, missing == 1 ? "" : "s");
		check_problem(cc, d, what, &shown);
	}
	return rc;
}

static int check_def(struct checkctx *cc, const fs_qidx *d)
{
	struct keylist want = { 0 };
	int rc = expected_entries(cc->db, d, &want);
	size_t *order = rc ? NULL : malloc((want.n ? want.n : 1) * sizeof(*order));
	if (!rc && !order)
		rc = -ENOMEM;
	if (!rc) {
		for (size_t i = 0; i < want.n; i++)
			order[i] = i;
		if (want.n)
			qsort_r(order, want.n, sizeof(*order), cmp_key, &want);
		rc = compare_entries(cc, d, &want, order);
	}
	free(order);
	keylist_free(&want);
	return rc;
}

/* Counts 'X' key k when it belongs to no definition of fs_query ctx. */
static int orphan_entry(void *ctx, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
	(void)v;
	(void)vl;
	const uint8_t *z = kl > HDB_FS_KEY_PREFIX ? memchr(k + HDB_FS_KEY_PREFIX, 0, kl - HDB_FS_KEY_PREFIX) : NULL;
	uint64_t coll = key_coll(k, kl);
	return !z || !find_def(ctx, coll, (const char *)k + HDB_FS_KEY_PREFIX, (size_t)(z - k) - HDB_FS_KEY_PREFIX);
}

/* Every 'X' key must belong to a definition (in any state). */
static int check_orphans(struct checkctx *cc, const fs_query *q)
{
	int orphans = 0;
	int rc = fs_scan_db(cc->db, FS_SCAN_NO_CACHE, HDB_FS_TAG_IENTRY, orphan_entry, (fs_query *)q, &orphans);
	if (orphans) {
		char msg[128];
		(*cc->problems)++;
		snprintf(msg, sizeof(msg), "%d index entr%s belong to no index definition", orphans,
		         orphans == 1 ? "y" : "ies");
		cc->report(cc->ctx, msg);
	}
	return rc;
}

int fs_index_check(hdb_db *db, bool (*is_dir)(void *ctx, uint64_t ino), void *dctx,
                   void (*report)(void *ctx, const char *what), void *ctx, unsigned *problems)
{
	fs_query q = { .defs = NULL };
	pthread_mutex_init(&q.mu, NULL);
	struct checkctx cc = { .db = db, .report = report, .ctx = ctx, .problems = problems };
	int rc = load_defs(db, &q);
	for (fs_qidx *d = q.defs; !rc && d; d = d->next) {
		unsigned shown = 0;
		/* A dropping index outlives its directory until its drop ends. */
		if (!maintained_state(d->state))
			continue;
		if (is_dir(dctx, d->coll))
			rc = check_def(&cc, d);
		else
			check_problem(&cc, d, "belongs to no directory", &shown);
	}
	if (!rc)
		rc = check_orphans(&cc, &q);
	while (q.defs) {
		fs_qidx *d = q.defs;
		q.defs = d->next;
		free_def(d);
	}
	pthread_mutex_destroy(&q.mu);
	return rc;
}
